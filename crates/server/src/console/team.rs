//! Supervisors' and agents' live views: calls with their lock updating over server-sent events,
//! downgrade alerts as they arrive, the agent's own call view (lock and cause), and the team's
//! performance as server-rendered SVG charts (no `style` attributes: the CSP forbids them; the
//! colours come from classes in the style sheet).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Redirect, Response};
use callvault_core::calls::feed::{self, CallQuery};
use callvault_core::directory::{units, users};
use callvault_core::reporting::{self, Period, Totals};
use callvault_core::stations;
use callvault_model::access::{Action, Resource};
use callvault_model::records::{Team, Timestamp};
use callvault_model::{SecretString, TeamId, UserId};
use futures_util::Stream;
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{csrf, name_of, page, when};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// The lock's symbol and words (the words are what assistive technology reads).
fn lock_label(lock: &str) -> (&'static str, &'static str) {
    match lock {
        "closed" | "secure" => ("🔒", "secure"),
        "open" | "not_secure" => ("🔓", "not secure"),
        _ => ("⋯", "pending"),
    }
}

fn lock_badge(lock: &str, cause: &str) -> Markup {
    let (icon, words) = lock_label(lock);
    html! { span class={ "lock " (words.replace(' ', "-")) } title=(cause) { span aria-hidden="true" { (icon) } " " (words) } }
}

/// `GET /calls`: for supervisors the calls in their scope and the live changes; for everyone
/// with a station their own call and their downgrade alerts.
pub async fn calls(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let supervising = ctx.may_somewhere(Action::Read, Resource::Call);
    let mine = feed::own_calls(&state, ctx).await.unwrap_or_default();
    let alerts_on = stations::alert_settings(&state, ctx).await.map(|s| s.enabled).ok();
    let may_switch = ctx.may_somewhere(Action::Update, Resource::CallAlert);
    let team_calls = if supervising {
        Some(feed::calls(&state, ctx, &CallQuery { all: false, limit: Some(100) }).await?)
    } else {
        None
    };
    let body = html! {
        section aria-labelledby="own" {
            h2 #own { "Your call" }
            @if mine.is_empty() { p.empty { "You are not on a call." } }
            @for c in &mine {
                p.owncall {
                    "Call " code { (c.call_key) } " since " (when(c.started_at)) " "
                    @if let Some(lock) = c.lock {
                        (lock_badge(name_of(&lock).as_str(), c.cause.as_deref().unwrap_or("")))
                    }
                }
            }
            h3 { "Your downgrade alerts" }
            ol.alerts #my-alerts hx-sse:connect="/alerts/stream" hx-swap="afterbegin" aria-live="assertive" {}
            @if let Some(on) = alerts_on {
                @if may_switch {
                    form method="post" action="/alerts/settings" {
                        (csrf(&viewer))
                        input type="hidden" name="enabled" value=(if on { "false" } else { "true" });
                        button.secondary type="submit" { @if on { "Switch my alerts off" } @else { "Switch my alerts on" } }
                    }
                } @else {
                    p.hint { "Alerts: " (if on { "on" } else { "off" }) " (your role does not let you switch them off)." }
                }
            }
        }
        @if let Some(list) = &team_calls {
            section aria-labelledby="live" {
                h2 #live { "Calls in progress" }
                table {
                    thead { tr { th scope="col" { "Call" } th scope="col" { "Started" } th scope="col" { "Legs" } th scope="col" { "Security" } } }
                    tbody {
                        @if list.is_empty() { tr { td colspan="4" { "No calls in progress." } } }
                        @for c in list {
                            tr {
                                td { code { (c.call_key) } }
                                td { (when(c.started_at)) }
                                td.num { (c.state.legs.len()) }
                                td { span id={ "lock-" (c.id) } { (lock_badge(&name_of(&c.state.security), &c.state.cause.text)) } }
                            }
                        }
                    }
                }
                h2 { "Live changes" }
                p.hint { "Each change of a call's security appears here as it happens; downgrades are marked." }
                ol.changes #changes hx-sse:connect="/calls/stream" hx-swap="afterbegin" aria-live="polite" {}
            }
        }
    };
    Ok(page(&viewer, "/calls", "Calls", body))
}

fn last_event_id(headers: &HeaderMap) -> i64 {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Items as unnamed server-sent events carrying HTML fragments (htmx swaps them in), each with
/// its id for `Last-Event-ID`.
fn fragments(
    state: AppState,
    token: SecretString,
    items: impl Stream<Item = (i64, String)> + Send + 'static,
    render: fn(&serde_json::Value) -> Markup,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = futures_util::StreamExt::map(items, move |(seq, body)| {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(SseEvent::default().id(seq.to_string()).data(render(&v).into_string()))
    });
    let events = super::while_signed_in(state, token, events);
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn change_item(v: &serde_json::Value) -> Markup {
    let c = &v["change"];
    let downgrade = c["downgrade"].as_bool().unwrap_or(false);
    let to = c["to"].as_str().unwrap_or("unknown");
    let cause = c["cause"]["text"].as_str().unwrap_or("");
    html! {
        li class=(if downgrade { "downgrade" } else { "change" }) {
            @if downgrade { strong { "Downgrade " } }
            time { (when(v["at"].as_i64().unwrap_or(0))) } " · call " code { (v["call_key"].as_str().unwrap_or("")) } " "
            (lock_badge(to, cause)) " — " (cause)
        }
        // The call's row in the table above takes the new lock too (out of band).
        @if let Some(id) = v["call_id"].as_str() {
            span id={ "lock-" (id) } hx-swap-oob="true" { (lock_badge(to, cause)) }
        }
    }
}

fn alert_item(v: &serde_json::Value) -> Markup {
    let cause = v["cause"]["text"].as_str().unwrap_or("");
    html! {
        li.downgrade role="alert" {
            strong { "Your call is no longer secure. " }
            time { (when(v["at"].as_i64().unwrap_or(0))) } " · call " code { (v["call_key"].as_str().unwrap_or("")) } " "
            (lock_badge(v["lock"].as_str().unwrap_or("open"), cause)) " — " (cause)
            @if let Some(leg) = v["cause"]["leg"].as_str() { " (leg " (leg) ")" }
        }
    }
}

/// `GET /calls/stream`: changes of the calls in the viewer's scope, as list items.
pub async fn calls_stream(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let items = feed::changes(&state, &viewer.ctx, last_event_id(&headers)).await?;
    Ok(fragments(state, viewer.token.clone(), items, change_item))
}

/// `GET /alerts/stream`: the viewer's own downgrade alerts.
pub async fn alerts_stream(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let items = feed::alerts(&state, &viewer.ctx, last_event_id(&headers)).await?;
    Ok(fragments(state, viewer.token.clone(), items, alert_item))
}

/// The alert switch.
#[derive(Deserialize)]
pub struct AlertSwitch {
    enabled: bool,
}

/// `POST /alerts/settings`: the viewer's own alert switch, where a role allows it.
pub async fn alert_switch(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<AlertSwitch>,
) -> Result<Redirect, ApiError> {
    stations::replace_alert_settings(&state, &viewer.ctx, serde_json::json!({ "enabled": f.enabled })).await?;
    Ok(Redirect::to("/calls"))
}

/// Which team and how many days.
#[derive(Deserialize)]
pub struct TeamQuery {
    team: Option<TeamId>,
    days: Option<u8>,
}

const DAY_MS: i64 = 86_400_000;

/// `GET /team`: a team's work-time distribution per member and per day, as SVG charts with the
/// same figures in a table.
pub async fn performance(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<TeamQuery>,
) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let teams: Vec<Team> = units::list::<Team>(&state, ctx).await?;
    let days = i64::from(q.days.unwrap_or(7).clamp(1, 93));
    let now = state.clock.now().millis();
    let to = Timestamp((now / DAY_MS + 1) * DAY_MS);
    let period = Period { from: Timestamp(to.0 - days * DAY_MS), to };
    // The team asked for, else the first the viewer may read the performance of.
    let mut report = None;
    for t in teams.iter().filter(|t| q.team.is_none_or(|id| id == t.id)) {
        match reporting::for_team(&state, ctx, t.id, period).await {
            Ok(r) => {
                report = Some((t, r));
                break;
            }
            Err(e) if q.team.is_some() => return Err(e.into()),
            Err(_) => {}
        }
    }
    let names: HashMap<UserId, String> = users::list(&state, ctx)
        .await
        .map(|list| {
            list.into_iter().map(|u| (u.id, format!("{} {}", u.first_name.expose(), u.last_name.expose()))).collect()
        })
        .unwrap_or_default();
    let body = html! {
        form.inline method="get" action="/team" {
            label for="team" { "Team" }
            select #team name="team" {
                @for t in &teams { option value=(t.id) selected[report.as_ref().is_some_and(|(r, _)| r.id == t.id)] { (t.name) } }
            }
            label for="days" { "Days" }
            input #days name="days" type="number" min="1" max="93" value=(days);
            button type="submit" { "Show" }
        }
        @match &report {
            None => p.empty { "No team whose performance you may read." },
            Some((team, r)) => {
                p { "Team " strong { (team.name) } ", " (when(period.from.0)) " to " (when(period.to.0)) ": "
                    (r.totals.handled) " handled, " (r.totals.missed) " missed." }
                h2 #per-member { "Work time per member" }
                (legend())
                (bar_chart("per-member", &r.members.iter().map(|m| (names.get(&m.user_id).cloned().unwrap_or_else(|| m.user_id.to_string()), m.totals)).collect::<Vec<_>>()))
                h2 #per-day { "Work time per day" }
                (bar_chart("per-day", &r.days.iter().map(|d| (when(d.day.0).chars().take(10).collect::<String>(), d.totals)).collect::<Vec<_>>()))
                h2 { "Figures" }
                table.figures {
                    thead { tr { th scope="col" { "Member" } @for (_, label) in PARTS { th scope="col" { (label) " (h)" } } th scope="col" { "Handled" } th scope="col" { "Missed" } } }
                    tbody {
                        @for m in &r.members {
                            tr {
                                th scope="row" { (names.get(&m.user_id).cloned().unwrap_or_else(|| m.user_id.to_string())) }
                                @for (i, _) in PARTS.iter().enumerate() { td.num { (hours(part(&m.totals, i))) } }
                                td.num { (m.totals.handled) } td.num { (m.totals.missed) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "/team", "Team performance", body))
}

/// The parts of work time, with their class (colour) and label.
const PARTS: [(&str, &str); 6] = [
    ("talk", "Talk"),
    ("hold", "Hold"),
    ("wrap", "Wrap-up"),
    ("avail", "Available"),
    ("brk", "Break"),
    ("other", "Other"),
];

fn part(t: &Totals, i: usize) -> u64 {
    [t.talk_s, t.hold_s, t.wrap_up_s, t.available_s, t.break_s, t.other_s].get(i).copied().unwrap_or(0)
}

fn hours(s: u64) -> String {
    format!("{:.1}", s as f64 / 3600.0)
}

fn legend() -> Markup {
    html! {
        ul.legend aria-hidden="true" {
            @for (class, label) in PARTS { li { svg width="12" height="12" { rect class=(class) width="12" height="12" {} } " " (label) } }
        }
    }
}

/// One coloured segment of a bar.
struct Segment {
    class: &'static str,
    name: &'static str,
    x: f64,
    width: f64,
    secs: u64,
}

/// Horizontal stacked bars, one per row, scaled to the longest; each segment has a `<title>`.
fn bar_chart(id: &str, rows: &[(String, Totals)]) -> Markup {
    const W: f64 = 640.0;
    const LABEL: f64 = 150.0;
    const ROW: usize = 26;
    let total = |t: &Totals| (0..PARTS.len()).map(|i| part(t, i)).sum::<u64>();
    let max = rows.iter().map(|(_, t)| total(t)).max().unwrap_or(0).max(1);
    let height = rows.len() * ROW + 4;
    let scale = (W - LABEL - 60.0) / max as f64;
    let bars: Vec<(usize, &str, Vec<Segment>, f64, u64)> = rows
        .iter()
        .enumerate()
        .map(|(n, (label, t))| {
            let mut x = LABEL;
            let mut segments = Vec::new();
            for (i, (class, name)) in PARTS.iter().enumerate() {
                let secs = part(t, i);
                let width = secs as f64 * scale;
                if width > 0.0 {
                    segments.push(Segment { class, name, x, width, secs });
                }
                x += width;
            }
            (n * ROW + 2, label.as_str(), segments, x, total(t))
        })
        .collect();
    html! {
        svg.chart role="img" aria-labelledby={ (id) "-title" } viewBox={ "0 0 " (W) " " (height) } width="100%" {
            title id={ (id) "-title" } { "Work time per row: talk, hold, wrap-up, available, break and other, in hours" }
            @for (y, label, segments, end, sum) in &bars {
                text.label x="0" y=(y + 16) { (label) }
                @for s in segments {
                    rect class=(s.class) x=(format!("{:.1}", s.x)) y=(y) width=(format!("{:.1}", s.width)) height="20" {
                        title { (label) ": " (s.name) " " (hours(s.secs)) " h" }
                    }
                }
                text.value x=(format!("{:.1}", end + 4.0)) y=(y + 16) { (hours(*sum)) " h" }
            }
        }
    }
}
