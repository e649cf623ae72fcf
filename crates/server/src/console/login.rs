//! Signing in (password, then TOTP or another second factor when the account has or needs one),
//! first-login TOTP enrolment, and signing out (the session ended on the server, the cookie and
//! the site's data cleared in the browser).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use callvault_core::identity::{self, IdentityError, LoginRequest, own};
use callvault_model::{Personal, SecretString};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{bare, refusal};
use super::{EnrollingViewer, Viewer, session_clear_cookie, session_set_cookie};
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::state::AppState;

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    username: String,
    password: SecretString,
    #[serde(default)]
    totp: Option<SecretString>,
    #[serde(default)]
    recovery_code: Option<SecretString>,
    #[serde(default)]
    email_code: Option<SecretString>,
}

fn login_page(
    status: StatusCode,
    tenant: &str,
    username: &str,
    second_factor: bool,
    error: Option<Markup>,
) -> Response {
    bare(
        status,
        "Sign in",
        html! {
            @if let Some(e) = error { (e) }
            form.stack method="post" action="/login" autocomplete="off" {
                label for="tenant" { "Contact center" span.hint { " (empty for provider operators)" } }
                input #tenant name="tenant" type="text" value=(tenant) autocomplete="organization";
                label for="username" { "Login" }
                input #username name="username" type="text" value=(username) required autocomplete="username";
                label for="password" { "Password" }
                input #password name="password" type="password" required autocomplete="current-password";
                label for="totp" { "Authenticator code" span.hint { " (6 digits, once enrolled)" } }
                input #totp name="totp" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6"
                    autocomplete="one-time-code" autofocus[second_factor];
                details open[second_factor] {
                    summary { "Other second factors" }
                    label for="recovery_code" { "Recovery code" }
                    input #recovery_code name="recovery_code" type="text" autocomplete="off";
                    label for="email_code" { "Code sent to your confirmed e-mail address" }
                    input #email_code name="email_code" type="text" inputmode="numeric" autocomplete="one-time-code";
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /login`; someone already signed in goes to their main page.
pub async fn form(viewer: Result<Viewer, Response>) -> Response {
    if viewer.is_ok() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, "", "", false, None)
}

/// A second-factor field the user filled in (empty inputs are sent as empty strings).
fn given(s: Option<&SecretString>) -> Option<SecretString> {
    let v = s?.expose().trim();
    (!v.is_empty()).then(|| SecretString::new(v.to_owned()))
}

/// `POST /login`: a session in the cookie and the role's main page, or the form again with why.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let origin = state.auditor.origin(request_id, ip);
    let tenant = f.tenant.trim().to_owned();
    let username = f.username.trim().to_owned();
    let req = LoginRequest {
        username: Personal::new(username.clone()),
        password: f.password.clone(),
        tenant: (!tenant.is_empty()).then(|| tenant.clone()),
        totp: given(f.totp.as_ref()),
        recovery_code: given(f.recovery_code.as_ref()),
        email_code: given(f.email_code.as_ref()),
    };
    match identity::login(&state, req, origin).await {
        Ok(session) => {
            let to = if session.purpose == "full" { "/" } else { "/enrol" };
            let mut r = Redirect::to(to).into_response();
            r.headers_mut().insert(header::SET_COOKIE, session_set_cookie(&session.token));
            r
        }
        Err(IdentityError::SecondFactorRequired) => {
            let e = ApiError::from(IdentityError::SecondFactorRequired);
            login_page(StatusCode::UNAUTHORIZED, &tenant, &username, true, Some(refusal(&e)))
        }
        Err(e) => {
            let e = ApiError::from(e);
            login_page(e.status(), &tenant, &username, false, Some(refusal(&e)))
        }
    }
}

/// `POST /logout`: ends the session, removes the cookie and asks the browser to clear
/// everything it holds for the site.
pub async fn logout(State(state): State<AppState>, viewer: Result<EnrollingViewer, ApiError>) -> Response {
    if let Ok(EnrollingViewer(v)) = viewer {
        // An error here (the session already ended) changes nothing for the browser.
        let _ = own::logout(&state, &v.ctx).await;
    }
    let mut r = Redirect::to("/login").into_response();
    let h = r.headers_mut();
    h.insert(header::SET_COOKIE, session_clear_cookie());
    h.insert("clear-site-data", HeaderValue::from_static("\"cache\", \"cookies\", \"storage\""));
    r
}

/// `GET /enrol`: the first-login enrolment of an authenticator app.
pub async fn enrol_form(EnrollingViewer(v): EnrollingViewer) -> Response {
    if v.ctx.purpose == callvault_core::caller::SessionPurpose::Full {
        return Redirect::to("/").into_response();
    }
    bare(
        StatusCode::OK,
        "Set up your authenticator",
        html! {
            p { "Your role needs a second factor. Add callvault to an authenticator app (TOTP, 6 digits, 30 seconds), then confirm with its first code." }
            form method="post" action="/enrol" {
                input type="hidden" name="_csrf" value=(v.csrf);
                button type="submit" { "Show my secret key" }
            }
            (signout(&v))
        },
    )
}

fn signout(v: &Viewer) -> Markup {
    html! {
        form method="post" action="/logout" {
            input type="hidden" name="_csrf" value=(v.csrf);
            button.secondary type="submit" { "Sign out" }
        }
    }
}

/// `POST /enrol`: a new seed, shown once with the form for the first code.
pub async fn enrol_start(
    State(state): State<AppState>,
    EnrollingViewer(v): EnrollingViewer,
) -> Result<Response, ApiError> {
    let (uri, secret) = identity::begin_totp_enrollment(&state, v.ctx.principal, v.ctx.tenant).await?;
    Ok(enrol_code_page(&v, &uri, &secret, None))
}

fn enrol_code_page(v: &Viewer, uri: &str, secret: &str, error: Option<Markup>) -> Response {
    bare(
        if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK },
        "Set up your authenticator",
        html! {
            @if let Some(e) = error { (e) }
            p { "Enter this key in your authenticator app (shown only now):" }
            p { code #totp-secret { (secret) } }
            details { summary { "otpauth link" } p { code.wrap { (uri) } } }
            form.stack method="post" action="/enrol/confirm" {
                input type="hidden" name="_csrf" value=(v.csrf);
                label for="code" { "First code from the app" }
                input #code name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code";
                button type="submit" { "Confirm" }
            }
        },
    )
}

/// The enrolment confirmation form.
#[derive(Deserialize)]
pub struct CodeForm {
    code: SecretString,
}

/// `POST /enrol/confirm`: the session becomes a full one; the recovery codes are shown once.
pub async fn enrol_confirm(
    State(state): State<AppState>,
    EnrollingViewer(v): EnrollingViewer,
    Form(f): Form<CodeForm>,
) -> Result<Response, ApiError> {
    let ctx = &v.ctx;
    let enrolled = identity::confirm_totp_enrollment(&state, ctx.principal, ctx.tenant, ctx.session, &f.code).await?;
    let codes = enrolled.recovery_codes;
    let mut r = bare(
        StatusCode::OK,
        "Authenticator set up",
        html! {
            p { "Keep these recovery codes somewhere safe; each signs you in once without the app. They are shown only now." }
            ul.codes { @for c in &codes { li { code { (c) } } } }
            p { a.button href="/" { "Continue" } }
        },
    );
    // The full session replaces the enrolment session under a new cookie.
    if let Some(session) = &enrolled.session {
        r.headers_mut().insert(header::SET_COOKIE, session_set_cookie(&session.token));
    }
    Ok(r)
}
