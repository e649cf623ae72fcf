//! Webhook endpoints of a tenant: events (key expiry reminders, automatic rotations) POSTed as
//! JSON and signed with HMAC-SHA256 under a per-webhook secret shown once at creation.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::vault::Webhook;
use callvault_model::{TenantId, WebhookId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use callvault_core::notify::webhook_secret_aad;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_webhooks, create_webhook)).routes(routes!(delete_webhook))
}

/// Events a webhook can subscribe to.
pub const EVENTS: &[&str] = &["key.expiry_reminder", "key.auto_rotated", "security.alert"];

async fn allow(state: &AppState, ctx: &Ctx, action: Action) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?;
    Ok(tenant)
}

/// A new webhook.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://…` to a public address: names that resolve to loopback, private, link-local,
    /// unique-local, CGNAT or metadata addresses are refused, and so are user names in the URL.
    pub url: String,
    /// Events to deliver; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
}

/// A created webhook with its signing secret (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The HMAC-SHA256 signing secret, hex. Store it now: it is never shown again.
    pub secret: String,
}

/// Registers a webhook.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 422, body = Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<(StatusCode, axum::Json<CreatedWebhook>)> {
    let tenant = allow(&state, &ctx, Action::Update).await?;
    state.egress.check(&body.url).await.map_err(|why| ApiError::invalid(format!("url: {why}")))?;
    let count = state.store.reader().await?.webhooks(tenant).await?.len();
    if count >= state.config.webhook_max_per_tenant {
        return Err(ApiError::conflict(format!(
            "the tenant has {count} webhooks, the most allowed (webhook_max_per_tenant); remove one first"
        )));
    }
    if let Some(e) = body.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown event `{}`; known: {}",
            e.chars().take(64).collect::<String>(),
            EVENTS.join(", ")
        )));
    }
    let id = WebhookId::new();
    let secret = hex::encode(callvault_crypto::digest::random_array::<32>());
    let wrapped = state.kek.wrap(&webhook_secret_aad(tenant, id), secret.as_bytes()).map_err(ApiError::internal)?;
    let now = state.clock.now();
    let webhook =
        Webhook { id, tenant_id: tenant, url: body.url, events: body.events, created_at: now, wrapped_secret: wrapped };
    let mut tx = state.store.begin().await?;
    tx.insert_webhook(&webhook).await?;
    let event = ctx.event("webhook.create").target("webhook", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedWebhook { webhook, secret })))
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = [Webhook]), (status = 403, body = Problem)))]
async fn list_webhooks(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Webhook>>> {
    let tenant = allow(&state, &ctx, Action::Read).await?;
    Ok(axum::Json(state.store.reader().await?.webhooks(tenant).await?))
}

/// Removes a webhook.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_webhook(State(state): State<AppState>, ctx: Ctx, Path(id): Path<WebhookId>) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Action::Update).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_webhook(tenant, id).await.map_err(|e| ApiError::from_store(e, "webhook"))?;
    let event = ctx.event("webhook.delete").target("webhook", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
