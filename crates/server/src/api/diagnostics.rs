//! Diagnostic logging of communication events: off by default, switched on by an administrator
//! for at most 24 hours, ending by itself. The rules are in `callvault_core::diagnostics`.

use axum::extract::State;
use callvault_core::diagnostics::{self, EnableEventLogging, EventLoggingStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_logging_status, enable_event_logging, disable_event_logging))
}

/// Whether the tenant's communication events are logged now, and the last window.
#[utoipa::path(get, path = "/v1/diagnostics/event-logging", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = EventLoggingStatus), (status = 403, body = Problem)))]
async fn event_logging_status(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<EventLoggingStatus>> {
    Ok(axum::Json(diagnostics::status(&state, &ctx).await?))
}

/// Logs the tenant's communication events (ids, codes and keyed pseudonyms only) for 1 to 1440
/// minutes; it ends by itself. Audited with the reason.
#[utoipa::path(put, path = "/v1/diagnostics/event-logging", tag = "tenants", security(("bearer" = [])),
    request_body = EnableEventLogging,
    responses((status = 200, body = EventLoggingStatus), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn enable_event_logging(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<EnableEventLogging>,
) -> ApiResult<axum::Json<EventLoggingStatus>> {
    Ok(axum::Json(diagnostics::enable(&state, &ctx, body).await?))
}

/// Stops logging the tenant's communication events now.
#[utoipa::path(delete, path = "/v1/diagnostics/event-logging", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = EventLoggingStatus), (status = 403, body = Problem)))]
async fn disable_event_logging(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<EventLoggingStatus>> {
    Ok(axum::Json(diagnostics::disable(&state, &ctx).await?))
}
