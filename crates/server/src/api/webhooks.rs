//! Webhook endpoints of a tenant (the rules are in `callvault_core::webhooks`): events POSTed as
//! JSON and signed with HMAC-SHA256 under a per-webhook secret shown once at creation.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::webhooks::{self, CreatedWebhook, NewWebhook};
use callvault_model::WebhookId;
use callvault_model::vault::Webhook;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_webhooks, create_webhook)).routes(routes!(delete_webhook))
}

/// Registers a webhook.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 422, body = Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewWebhook>,
) -> ApiResult<(StatusCode, axum::Json<CreatedWebhook>)> {
    Ok((StatusCode::CREATED, axum::Json(webhooks::create(&state, &ctx, body).await?)))
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = [Webhook]), (status = 403, body = Problem)))]
async fn list_webhooks(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Webhook>>> {
    Ok(axum::Json(webhooks::list(&state, &ctx).await?))
}

/// Removes a webhook.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_webhook(State(state): State<AppState>, ctx: Ctx, Path(id): Path<WebhookId>) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
