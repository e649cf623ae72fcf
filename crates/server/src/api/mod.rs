//! The HTTP API: routes under `/v1`, system endpoints, middleware, and the OpenAPI document
//! generated from the handlers' annotations.
//!
//! Architecture invariant: every `/v1` handler except `POST /v1/auth/login` takes a [`Ctx`] (so
//! the caller is authenticated) and calls [`Ctx::authorize`] before it reads or writes tenant
//! data; the authorization matrix test in `tests/` checks this for every route.
//!
//! [`Ctx`]: crate::auth::Ctx
//! [`Ctx::authorize`]: crate::auth::Ctx::authorize

pub mod access;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod diagnostics;
pub mod dial;
pub mod directory;
pub mod dpo;
pub mod exports;
pub mod interactions;
pub mod keys;
pub mod lists;
pub mod objects;
pub mod operators;
pub mod recording;
pub mod retention;
pub mod tenants;
pub mod users;
pub use callvault_core::input as validate;
pub mod webhooks;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;
use callvault_core::metrics::RequestLabels;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "callvault",
        description = "Security and compliance core of a cloud contact center. Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The `/v1` routes with their OpenAPI description.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(tenants::routes())
        .merge(users::routes())
        .merge(directory::routes())
        .merge(recording::routes())
        .merge(access::routes())
        .merge(audit::routes())
        .merge(objects::routes())
        .merge(keys::routes())
        .merge(lists::routes())
        .merge(webhooks::routes())
        .merge(operators::routes())
        .merge(exports::routes())
        .merge(dial::routes())
        .merge(calls::routes())
        .merge(diagnostics::routes())
        .merge(interactions::routes())
        .merge(retention::routes())
        .merge(dpo::routes())
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_router().split_for_parts();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        doc.paths.paths.insert(path.to_owned(), system_path_item(path));
    }
    doc
}

fn system_path_item(path: &str) -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::response::ResponseBuilder;
    let summary = match path {
        "/healthz" => "Liveness: the process answers",
        "/readyz" => "Readiness: the database and the blob store answer",
        "/metrics" => "Prometheus metrics (text exposition format)",
        _ => "This OpenAPI 3.1 document",
    };
    PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new()
            .summary(Some(summary))
            .tag("system")
            .response("200", ResponseBuilder::new().description("OK").build())
            .build(),
    )
}

/// The whole application: `/v1`, system endpoints, fallbacks and middleware.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let (api, _) = api_router().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(crate::console::router(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(middleware::from_fn(sanitize_request_id))
        .with_state(state)
}

/// The separate metrics listener's application: `/metrics` only, no token (the listener's
/// address is the protection: loopback or a private scrape network).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(|State(state): State<AppState>| async move { metrics_text(&state) }))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Headers every response carries, the sealed gate's included: never sniffed, never cached.
pub async fn baseline_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The longest request id kept from a client.
const MAX_REQUEST_ID: usize = 64;

/// Whether a client's `X-Request-Id` may be kept: 1–64 of `A-Z a-z 0-9 - _ . :`.
pub fn valid_request_id(v: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&v.len())
        && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Drops a client's `X-Request-Id` that is not a short token (a generated one takes its place),
/// so that nobody writes arbitrary text into responses, logs or the permanent audit log.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let values = req.headers().get_all("x-request-id");
    let keep = values.iter().count() <= 1 && values.iter().all(|v| valid_request_id(v.as_bytes()));
    if !keep {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the blob store both answer within [`READY_WAIT`]; the reason of
/// a failure goes to the log, not to the (unauthenticated) caller.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let db = tokio::time::timeout(READY_WAIT, state.store.ping()).await;
    if !matches!(db, Ok(Ok(_))) {
        return Err(ApiError::unavailable("the database does not answer"));
    }
    match tokio::time::timeout(READY_WAIT, state.vault.blobs.check()).await {
        Ok(Ok(())) => Ok("ready"),
        Ok(Err(why)) => {
            tracing::warn!(%why, "not ready: the blob store");
            Err(ApiError::unavailable("the blob store does not answer"))
        }
        Err(_) => {
            tracing::warn!("not ready: the blob store did not answer in time");
            Err(ApiError::unavailable("the blob store does not answer"))
        }
    }
}

/// How long readiness waits for each dependency.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `/metrics` on the main listener: only with the scraper's bearer token (`metrics_token_file`);
/// the counts are provider-wide, so no tenant session opens them.
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let Some(expected) = state.metrics_token.as_ref() else {
        return ApiError::not_found("route").into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !callvault_crypto::digest::ct_eq(given.as_bytes(), expected.expose().as_bytes()) {
        let mut e =
            ApiError::unauthenticated("metrics need the scraper's bearer token (metrics_token_file)").into_response();
        e.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        return e;
    }
    metrics_text(&state)
}

fn metrics_text(state: &AppState) -> Response {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut text = state.metrics.encode();
    // The HEP listener's counters and the calls tracked, before the exposition's end marker.
    if let Some(stripped) = text.strip_suffix("# EOF\n") {
        text = stripped.to_owned();
    }
    let h = &state.hep_stats;
    let _ = write!(
        text,
        "# HELP callvault_hep_packets HEP packets received by outcome.\n# TYPE callvault_hep_packets counter\n\
         callvault_hep_packets_total{{outcome=\"accepted\"}} {}\ncallvault_hep_packets_total{{outcome=\"malformed\"}} {}\n\
         callvault_hep_packets_total{{outcome=\"unauthenticated\"}} {}\ncallvault_hep_packets_total{{outcome=\"ignored\"}} {}\n\
         callvault_hep_packets_total{{outcome=\"overloaded\"}} {}\n\
         # HELP callvault_hep_tcp_refused HEP TCP connections closed before they authenticated.\n\
         # TYPE callvault_hep_tcp_refused counter\ncallvault_hep_tcp_refused_total {}\n\
         # HELP callvault_calls_tracked Calls in progress tracked for call security.\n# TYPE callvault_calls_tracked gauge\n\
         callvault_calls_tracked {}\n# EOF\n",
        h.accepted.load(Relaxed),
        h.malformed.load(Relaxed),
        h.unauthenticated.load(Relaxed),
        h.ignored.load(Relaxed),
        h.overloaded.load(Relaxed),
        h.tcp_refused.load(Relaxed),
        state.calls.tracked()
    );
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

async fn openapi_json() -> Response {
    match openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// An unknown route: a problem under `/v1`, the console's HTML page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if is_console_path(&uri) {
        return crate::console::error_response(ApiError::not_found("page"));
    }
    ApiError::not_found("route").into_response()
}

/// Whether a path belongs to the console (everything but `/v1` and the system endpoints).
fn is_console_path(uri: &axum::http::Uri) -> bool {
    let p = uri.path();
    !(p == "/v1" || p.starts_with("/v1/") || ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&p))
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    let e = ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED);
    if is_console_path(&uri) { crate::console::error_response(e) } else { e.into_response() }
}

/// Counts and logs requests by route template (never the raw path or query, which may carry
/// ids or personal data); turns every error the framework answers in plain text (413, 415, 405,
/// a path or query that does not parse) into problem+json; and sets the headers every response
/// carries: `nosniff`, `Cache-Control: no-store` unless the handler chose (tokens, personal data
/// and content must never sit in a cache), HSTS when serving TLS.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A fixed set of labels: a client's invented methods must not grow the metrics without end.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    // Problems and the console's HTML error pages are answers already; only the framework's
    // plain-text rejections are turned into problems.
    let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/problem+json") || v.as_bytes().starts_with(b"text/html")
    });
    let mut response = if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        ApiError::too_large(state.config.max_body_bytes).into_response()
    } else if (response.status().is_client_error() || response.status().is_server_error()) && !is_problem {
        ApiError::from_status(response.status()).into_response()
    } else {
        response
    };
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.tls_cert.is_some() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    state.metrics.latency.observe(elapsed.as_secs_f64());
    tracing::debug!(%method, %route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

#[cfg(test)]
mod tests {
    /// Handlers parse, call one core service and render: no handler opens a transaction, reads
    /// the store, writes the audit log or asks the access engine itself (the health check's
    /// database ping is the one store call).
    #[test]
    fn handlers_hold_no_transaction_scripts() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
        let mut offences = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let script = [".begin()", ".reader()", "auditor.record", ".authorize(", "tx.commit"];
                if script.iter().any(|s| line.contains(s)) {
                    offences.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(offences.is_empty(), "business logic in handlers:\n{}", offences.join("\n"));
    }
}
