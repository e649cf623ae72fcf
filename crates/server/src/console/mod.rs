//! The web console: server-rendered pages (maud) for every role, served by the same binary at
//! `/`, on the same core services as the API (a page handler parses, calls services, renders;
//! like the API's handlers it holds no transaction script).
//!
//! Nothing is kept on the client: the session is the API's own opaque session token in a
//! `__Host-` cookie (HttpOnly, Secure, SameSite=Strict) that only console routes read — `/v1`
//! reads bearer tokens only, so the API never becomes a CSRF target. Every console response
//! carries a strict CSP (`default-src 'none'`, same-origin scripts, styles, media and connect, no
//! inline script or style, `frame-ancestors 'none'`) and `Cache-Control: no-store`; unsafe
//! methods must come from the same origin (`Sec-Fetch-Site`, `Origin`) and carry the form token
//! derived from the session. Errors are HTML pages: [`guard`] turns every problem+json answer of
//! a console route into one (and a 401 into the login page).

mod admin;
mod agent;
mod areas;
mod audit;
mod directory;
mod keys;
mod layout;
mod login;
mod operator;
mod privacy;
mod team;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use callvault_core::caller::{Ctx, SESSION_TOKEN_PREFIX, SessionPurpose, authenticate};
use callvault_crypto::digest::{ct_eq, sha256};
use callvault_model::SecretString;
use futures_util::Stream;

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie. `__Host-`: only set with `Secure`, `Path=/` and no `Domain`, so no other
/// host or path can plant or read it.
pub const COOKIE: &str = "__Host-callvault";

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long one event stream stays open at most; the browser then reconnects (htmx does by
/// itself, with `Last-Event-ID`), authenticating again.
pub const STREAM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

/// How often an open event stream checks that its session is still valid (logout, revocation by
/// an administrator, expiry): a stream outlives its session by at most this.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// `events` while the viewer's session is valid (checked every [`SESSION_RECHECK`]) and for at
/// most [`STREAM_LIFETIME`].
fn while_signed_in<S: Stream + Send>(
    state: AppState,
    token: SecretString,
    events: S,
) -> impl Stream<Item = S::Item> + Send {
    let ended = async move {
        let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
        loop {
            tokio::time::sleep(SESSION_RECHECK).await;
            if tokio::time::Instant::now() >= deadline
                || authenticate(&state, Some(token.expose()), None, None).await.is_err()
            {
                return;
            }
        }
    };
    futures_util::StreamExt::take_until(events, ended)
}

/// The largest form body a console route reads (forms are small; imports go through the API).
const MAX_FORM: usize = 256 * 1024;

/// The console's routes, with [`guard`] around them.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/enrol", get(login::enrol_form).post(login::enrol_start))
        .route("/enrol/confirm", post(login::enrol_confirm))
        .route("/static/{file}", get(asset))
        .route("/recordings", get(agent::recordings))
        .route("/recordings/{id}/content", get(agent::content))
        .route("/dial-check", get(agent::dial_form).post(agent::dial_check))
        .route("/calls", get(team::calls))
        .route("/calls/stream", get(team::calls_stream))
        .route("/alerts/stream", get(team::alerts_stream))
        .route("/alerts/settings", post(team::alert_switch))
        .route("/team", get(team::performance))
        .route("/users", get(admin::users).post(admin::create_user))
        .route("/grants", get(admin::grants).post(admin::create_grant))
        .route("/rules", get(admin::rules).post(admin::save_rules))
        .route("/areas", get(areas::areas).post(areas::save))
        .route("/directory", get(directory::directory).post(directory::create_unit))
        .route("/dnc", get(directory::dnc_lists).post(directory::create_list))
        .route("/dnc/{id}/numbers", post(directory::number))
        // A registry file is as large as the registry: streamed, not held under the body limit.
        .route("/dnc/{id}/import", post(directory::import).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/keys", get(keys::keys_page))
        .route("/ceremonies", post(keys::propose))
        .route("/ceremonies/{id}/approve", post(keys::approve))
        .route("/ceremonies/{id}/share", post(operator::pickup_share))
        .route("/jobs/stream", get(keys::jobs_stream))
        .route("/subjects", get(privacy::search))
        .route("/requests", get(privacy::requests).post(privacy::create_request))
        .route("/subjects/{id}/report", get(privacy::report))
        .route("/requests/{id}/certificate", get(privacy::certificate))
        .route("/audit", get(audit::log))
        .route("/audit/verify", post(audit::verify))
        .route("/tenants", get(operator::tenants))
        .route("/tenants/{id}/encryption", post(operator::enable_encryption))
        .layer(middleware::from_fn_with_state(state, guard))
}

/// The signed-in viewer of a console page: the caller's context and the form token of the
/// session. Without a valid session cookie the request is refused with 401, which [`guard`]
/// turns into the login page.
pub struct Viewer {
    /// The caller, as the services take it.
    pub ctx: Ctx,
    /// The token every form of this session carries (`_csrf`).
    pub csrf: String,
    /// The session token itself, for the event streams that check the session is still valid.
    token: SecretString,
}

/// A viewer whose session may still be enrolment-only (the TOTP enrolment pages).
pub struct EnrollingViewer(pub Viewer);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let EnrollingViewer(v) =
            EnrollingViewer::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        if v.ctx.purpose != SessionPurpose::Full {
            // A session that must enrol a second factor first sees only the enrolment pages.
            return Err(Redirect::to("/enrol").into_response());
        }
        Ok(v)
    }
}

impl FromRequestParts<AppState> for EnrollingViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_cookie(&parts.headers).ok_or_else(|| ApiError::unauthenticated("sign in"))?;
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let ctx = authenticate(state, Some(&token), request_id, ip).await?;
        Ok(EnrollingViewer(Viewer { csrf: csrf_token(&token), ctx, token: SecretString::new(token) }))
    }
}

/// The session token of the console cookie; only session tokens count (a service account's
/// token in a cookie is ignored).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|t| t.starts_with(SESSION_TOKEN_PREFIX))
}

/// The form token of a session: a digest of the session token under its own label, so it
/// names the session without revealing its token, and changes with every login.
fn csrf_token(session_token: &str) -> String {
    let mut input = b"callvault console form token v1\0".to_vec();
    input.extend_from_slice(session_token.as_bytes());
    hex::encode(&sha256(&input)[..16])
}

/// The cookie that carries a new session.
fn session_set_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .unwrap_or_else(|_| HeaderValue::from_static("__Host-callvault=; Path=/; Secure; HttpOnly; SameSite=Strict"))
}

/// The cookie that removes the session from the browser.
fn session_clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-callvault=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether an unsafe request comes from this site: a browser's `Sec-Fetch-Site` must say
/// `same-origin`, and an `Origin` must be this host's under a scheme this server is reached by. A client that sends neither (not a
/// browser) still needs the form token.
fn same_origin(headers: &HeaderMap, schemes: &[&str]) -> Result<(), &'static str> {
    if headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() != b"same-origin") {
        return Err("the form was sent from another site (Sec-Fetch-Site), so it was refused");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin = origin.to_str().unwrap_or("null");
        let ours = origin.split_once("://").filter(|(scheme, _)| schemes.contains(scheme)).map(|(_, rest)| rest);
        if host.is_empty() || ours != Some(host) {
            return Err("the form was sent from another origin (Origin), so it was refused");
        }
    }
    Ok(())
}

/// The `_csrf` field of a URL-encoded form.
fn form_token(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == "_csrf").map(|(_, v)| v.into_owned())
}

/// Around every console route: refuses unsafe requests from elsewhere or without the session's
/// form token; sets the console's security headers; renders errors as HTML pages (a 401 sends
/// the browser to the login page).
async fn guard(axum::extract::State(state): axum::extract::State<AppState>, req: Request, next: Next) -> Response {
    let token = session_cookie(req.headers());
    let csrf = token.as_deref().map(csrf_token);
    let method = req.method().clone();
    let htmx = req.headers().contains_key("hx-request");
    // An event stream's (re)connection: a refusal must stay a refusal (htmx then backs off),
    // not a redirect it would follow and poll.
    let stream =
        req.headers().get_all(header::ACCEPT).iter().any(|v| v.to_str().is_ok_and(|a| a.contains("text/event-stream")));
    let req_path = req.uri().path().to_owned();
    let req = if method == Method::GET || method == Method::HEAD {
        req
    } else {
        match check_unsafe(req, csrf.as_deref(), origin_schemes(&state)).await {
            Ok(req) => req,
            Err(e) => return secure(layout::error_page(e, csrf.as_deref())),
        }
    };
    let response = next.run(req).await;
    let status = response.status();
    let response = if status == StatusCode::UNAUTHORIZED && req_path != "/login" && !stream {
        // Not signed in, or the session ended: to the login page (a stale cookie is removed).
        let mut r = if htmx {
            // htmx follows this header with a full navigation instead of swapping the login
            // page into a fragment.
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut().insert("hx-redirect", HeaderValue::from_static("/login"));
            r
        } else {
            Redirect::to("/login").into_response()
        };
        if token.is_some() {
            r.headers_mut().insert(header::SET_COOKIE, session_clear_cookie());
        }
        r
    } else if is_problem(&response) {
        layout::problem_page(response, csrf.as_deref()).await
    } else {
        response
    };
    secure(response)
}

/// The schemes a browser reaches this server by: https when it serves TLS; http on its plain
/// listener, and https too when a TLS-terminating proxy stands in front of a public plain one.
fn origin_schemes(state: &AppState) -> &'static [&'static str] {
    match (state.config.tls_cert.is_some(), state.config.danger_allow_plain_http_on_public_address) {
        (true, _) => &["https"],
        (false, true) => &["https", "http"],
        (false, false) => &["http"],
    }
}

async fn check_unsafe(req: Request, csrf: Option<&str>, schemes: &[&str]) -> Result<Request, ApiError> {
    same_origin(req.headers(), schemes).map_err(|why| ApiError::forbidden(why, None))?;
    // Signing in acts with no session (a browser may still hold another one): the same-origin
    // check above is its protection.
    if req.uri().path() == "/login" {
        return Ok(req);
    }
    let Some(expected) = csrf else {
        // No session (a stale page after logout lands here): to the login page.
        return Err(ApiError::unauthenticated("sign in"));
    };
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().len() >= 19 && v.as_bytes()[..19].eq_ignore_ascii_case(b"multipart/form-data"));
    if multipart {
        // Only the registry import takes a file; it reads and checks the token field before the
        // file, so the body passes unread. Anywhere else a multipart body is refused.
        let path = req.uri().path();
        return if path.starts_with("/dnc/") && path.ends_with("/import") {
            Ok(req)
        } else {
            Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail("forms here are URL-encoded"))
        };
    }
    let header_token = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| ApiError::too_large(MAX_FORM))?;
    let given = header_token.or_else(|| form_token(&bytes)).unwrap_or_default();
    if !ct_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::forbidden(
            "the form is out of date or did not come from this console (missing or wrong form token); reload the page and try again",
            None,
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn is_problem(r: &Response) -> bool {
    r.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// The console's security headers on a response.
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with `no-referrer` Chromium sends `Origin: null` on the
    // console's own form posts, which the same-origin check must then refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Only the static files choose their own caching; everything else (event streams included,
    // which axum marks `no-cache`) is never stored.
    let static_file = h.get(header::CACHE_CONTROL).is_some_and(|v| v.as_bytes().starts_with(b"private, max-age"));
    if !static_file {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An error outside `/v1` and outside the console's routes (an unknown page, a method a page
/// does not take) as the console's HTML page with its headers.
pub fn error_response(e: ApiError) -> Response {
    secure(layout::error_page(e, None))
}

/// The landing page: each role's main page.
async fn home(viewer: Viewer) -> Redirect {
    Redirect::to(layout::main_page(&viewer.ctx))
}

/// The vendored scripts and the style sheet (no build step, no CDN). They hold no personal data,
/// so the browser may keep them for an hour.
async fn asset(crate::extract::Path(file): crate::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &'static str) = match file.as_str() {
        "htmx.min.js" => (include_bytes!("../../console/htmx.min.js"), "text/javascript; charset=utf-8"),
        "hx-sse.min.js" => (include_bytes!("../../console/hx-sse.min.js"), "text/javascript; charset=utf-8"),
        "console.js" => (include_bytes!("../../console/console.js"), "text/javascript; charset=utf-8"),
        "console.css" => (include_bytes!("../../console/console.css"), "text/css; charset=utf-8"),
        _ => return ApiError::not_found("file").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "private, max-age=3600")], Body::from(body)).into_response()
}

#[cfg(test)]
mod tests;
