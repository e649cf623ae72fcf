//! The page shell (header, navigation by what the access engine allows the viewer, main), the
//! HTML error pages, and small rendering helpers shared by the pages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_core::caller::Ctx;
use callvault_model::access::{Action, Resource};
use callvault_model::{PrincipalId, records::Timestamp};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use crate::error::ApiError;

/// One entry of the navigation: shown when the viewer may do `action` on `resource` somewhere.
struct NavItem {
    href: &'static str,
    label: &'static str,
    shown: fn(&Ctx) -> bool,
}

fn may(ctx: &Ctx, action: Action, resource: Resource) -> bool {
    ctx.may_somewhere(action, resource)
}

fn is_operator(ctx: &Ctx) -> bool {
    matches!(ctx.principal, PrincipalId::Operator(_))
}

const NAV: &[NavItem] = &[
    NavItem { href: "/tenants", label: "Tenants", shown: is_operator },
    NavItem { href: "/recordings", label: "Recordings", shown: |c| may(c, Action::Listen, Resource::Interaction) },
    NavItem {
        href: "/calls",
        label: "Calls",
        shown: |c| may(c, Action::Read, Resource::CallAlert) || may(c, Action::Read, Resource::Call),
    },
    NavItem { href: "/dial-check", label: "Dial check", shown: |c| may(c, Action::Create, Resource::DialCheck) },
    NavItem {
        href: "/team",
        label: "Team",
        shown: |c| may(c, Action::Read, Resource::Team) && may(c, Action::Read, Resource::Performance),
    },
    NavItem { href: "/users", label: "Users", shown: |c| may(c, Action::Create, Resource::User) },
    NavItem { href: "/grants", label: "Roles & grants", shown: |c| may(c, Action::Create, Resource::Grant) },
    NavItem { href: "/directory", label: "Directory", shown: |c| may(c, Action::Create, Resource::Team) },
    NavItem { href: "/areas", label: "Calling areas", shown: |c| may(c, Action::Update, Resource::DialPolicy) },
    NavItem { href: "/rules", label: "Calling rules", shown: |c| may(c, Action::Update, Resource::DialPolicy) },
    NavItem { href: "/dnc", label: "Do-not-call", shown: |c| may(c, Action::Update, Resource::DoNotCall) },
    NavItem { href: "/keys", label: "Keys", shown: |c| may(c, Action::Read, Resource::Key) },
    NavItem { href: "/subjects", label: "Personal data", shown: |c| may(c, Action::Read, Resource::PersonalData) },
    NavItem { href: "/requests", label: "Requests", shown: |c| may(c, Action::Read, Resource::PersonalData) },
    NavItem { href: "/audit", label: "Audit log", shown: |c| may(c, Action::Read, Resource::Audit) },
];

/// Each role's main page: where `/` and a fresh login go.
pub fn main_page(ctx: &Ctx) -> &'static str {
    if is_operator(ctx) {
        "/tenants"
    } else if may(ctx, Action::ManageKeys, Resource::Key) {
        "/keys"
    } else if may(ctx, Action::ErasePersonalData, Resource::PersonalData) {
        "/subjects"
    } else if may(ctx, Action::Create, Resource::User) {
        "/users"
    } else if may(ctx, Action::Read, Resource::Audit) {
        "/audit"
    } else if may(ctx, Action::Read, Resource::Call) && may(ctx, Action::Read, Resource::Team) {
        "/team"
    } else {
        "/recordings"
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx: no history cache, same-origin requests only.
            meta name="htmx-config" content=r#"{"history":false,"mode":"same-origin","extensions":"sse"}"#;
            title { (title) " — callvault" }
            link rel="stylesheet" href="/static/console.css";
            script src="/static/htmx.min.js" defer {}
            script src="/static/hx-sse.min.js" defer {}
            script src="/static/console.js" defer {}
        }
    }
}

/// A full page for a signed-in viewer.
pub fn page(viewer: &Viewer, here: &str, title: &str, body: Markup) -> Response {
    let ctx = &viewer.ctx;
    let who = match ctx.principal {
        PrincipalId::Operator(_) => "provider operator".to_owned(),
        // `role@scope` → the role, marked when its scope is limited.
        _ => ctx
            .subject
            .as_ref()
            .map(|s| {
                let roles: Vec<String> = s
                    .describe_grants()
                    .iter()
                    .map(|g| match g.split_once('@') {
                        Some((role, scope)) if scope != "tenant" => format!("{} (limited)", role.replace('_', " ")),
                        Some((role, _)) => role.replace('_', " "),
                        None => g.replace('_', " "),
                    })
                    .collect();
                roles.join(", ")
            })
            .unwrap_or_default(),
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "callvault" }
                    nav aria-label="Main" {
                        ul {
                            @for item in NAV.iter().filter(|i| (i.shown)(ctx)) {
                                li {
                                    @if item.href == here {
                                        a href=(item.href) aria-current="page" { (item.label) }
                                    } @else {
                                        a href=(item.href) { (item.label) }
                                    }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        span.who { (who) }
                        button type="submit" { "Sign out" }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// A page without navigation (login, enrolment, errors without a session).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main {
                    p.brand { "callvault" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(status, markup)
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

/// An error as an HTML page: status, title, what happened, and for a denial the reason the
/// access engine gave.
pub fn error_page(e: ApiError, csrf: Option<&str>) -> Response {
    let status = e.status();
    let reason = e.extra().and_then(|x| x.get("reason")).and_then(|r| r.as_str()).map(str::to_owned);
    render_error(status, e.title(), e.detail(), reason.as_deref(), csrf)
}

fn render_error(status: StatusCode, title: &str, detail: &str, reason: Option<&str>, csrf: Option<&str>) -> Response {
    bare(
        status,
        title,
        html! {
            p.problem role="alert" { (detail) }
            @if let Some(r) = reason { p { "Reason: " code { (r) } } }
            p { "Status " (status.as_u16()) ". " a href="/" { "Back to the console" } }
            @if let Some(t) = csrf {
                form method="post" action="/logout" {
                    input type="hidden" name="_csrf" value=(t);
                    button type="submit" { "Sign out" }
                }
            }
        },
    )
}

/// A problem+json answer of a console route, rendered as an HTML page.
pub async fn problem_page(response: Response, csrf: Option<&str>) -> Response {
    let status = response.status();
    let retry = response.headers().get(header::RETRY_AFTER).cloned();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let title = v["title"].as_str().unwrap_or("Error");
    let detail = v["detail"].as_str().unwrap_or("the request failed");
    let reason = v["details"]["reason"].as_str().or_else(|| v["reason"].as_str());
    let mut r = render_error(status, title, detail, reason, csrf);
    if let Some(retry) = retry {
        r.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    r
}

/// A timestamp (milliseconds) as UTC date and minute.
pub fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| "—".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// A timestamp as UTC date and minute.
pub fn at(t: Timestamp) -> String {
    when(t.0)
}

/// A flash message after a form (status role so screen readers announce it).
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// A refusal or error explained next to a form.
pub fn refusal(e: &ApiError) -> Markup {
    let reason = e.extra().and_then(|x| x.get("reason")).and_then(|r| r.as_str());
    html! {
        div.problem role="alert" {
            strong { (e.title()) } ": " (e.detail())
            @if let Some(r) = reason { " (" code { (r) } ")" }
        }
    }
}

/// The hidden form token.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="_csrf" value=(viewer.csrf); }
}

/// The name a unit enum serialises to (`active`, `new_key`, `not_secure`…), for display.
pub fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A refusal with the line-numbered errors it carries (rules text, registry files), at most 20.
pub fn refusal_with_lines(e: &ApiError) -> Markup {
    let lines: Vec<String> = e
        .extra()
        .and_then(|x| x.get("errors"))
        .and_then(|x| x.as_array())
        .map(|a| a.iter().take(20).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect())
        .unwrap_or_default();
    html! {
        (refusal(e))
        @if !lines.is_empty() { ul.errors { @for line in &lines { li { (line) } } } }
    }
}
