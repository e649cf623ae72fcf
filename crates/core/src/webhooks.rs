//! A tenant's webhooks: events (key expiry reminders, automatic rotations, security alerts, call
//! security downgrades, completed data protection requests)
//! POSTed as JSON and signed with HMAC-SHA256 under a per-webhook secret shown once at creation.
//! Registering one is changing the tenant's settings: the URL must pass the egress check (public
//! addresses only), the events must be known, and a tenant has at most `webhook_max_per_tenant`.

use callvault_model::access::{Action, Resource};
use callvault_model::vault::Webhook;
use callvault_model::{TenantId, WebhookId};
use callvault_policy::access::ResourceRef;
use callvault_store::StoreError;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::notify::webhook_secret_aad;
use crate::services::Services;

/// An event a webhook receives. Delivery takes this type, so every event delivered is one a
/// webhook can subscribe to, and every event offered is delivered somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A data key nears or passed its cryptoperiod.
    KeyExpiryReminder,
    /// Automatic rotation generated a new data key version.
    KeyAutoRotated,
    /// A security alert (brute force, a locked account, a refused privileged action).
    SecurityAlert,
    /// A call's media or signalling lost its protection.
    CallSecurityDowngraded,
    /// A data protection request was completed or refused.
    DpoRequestCompleted,
}

impl WebhookEvent {
    /// Every event, in the order the API lists them.
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::KeyExpiryReminder,
        WebhookEvent::KeyAutoRotated,
        WebhookEvent::SecurityAlert,
        WebhookEvent::CallSecurityDowngraded,
        WebhookEvent::DpoRequestCompleted,
    ];

    /// The name subscriptions and payloads use.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::KeyExpiryReminder => "key.expiry_reminder",
            WebhookEvent::KeyAutoRotated => "key.auto_rotated",
            WebhookEvent::SecurityAlert => "security.alert",
            WebhookEvent::CallSecurityDowngraded => "call.security.downgraded",
            WebhookEvent::DpoRequestCompleted => "dpo_request.completed",
        }
    }

    /// The event of a name, if it is one.
    pub fn parse(name: &str) -> Option<WebhookEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// A new webhook.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
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

/// Why a webhook was not registered, listed or removed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The caller may not manage the tenant's settings.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The URL or an event is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The tenant has as many webhooks as allowed.
    #[error("the tenant has {0} webhooks, the most allowed (webhook_max_per_tenant); remove one first")]
    TooMany(usize),
    /// No such webhook in the tenant.
    #[error("no such webhook")]
    NoSuchWebhook,
    /// The secret could not be wrapped under the KEK.
    #[error("the webhook secret could not be wrapped: {0}")]
    Wrap(String),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, WebhookError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?)
}

/// The tenant's webhooks.
pub async fn list(state: &Services, ctx: &Ctx) -> Result<Vec<Webhook>, WebhookError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.webhooks(permit.tenant()).await?)
}

/// Registers a webhook; its secret is returned once.
pub async fn create(state: &Services, ctx: &Ctx, new: NewWebhook) -> Result<CreatedWebhook, WebhookError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    state.egress.check(&new.url).await.map_err(|why| WebhookError::Invalid(format!("url: {why}")))?;
    let count = state.store.reader().await?.webhooks(tenant).await?.len();
    if count >= state.config.webhook_max_per_tenant {
        return Err(WebhookError::TooMany(count));
    }
    if let Some(e) = new.events.iter().find(|e| WebhookEvent::parse(e).is_none()) {
        let known: Vec<&str> = WebhookEvent::ALL.iter().map(|e| e.as_str()).collect();
        return Err(WebhookError::Invalid(format!(
            "unknown event `{}`; known: {}",
            e.chars().take(64).collect::<String>(),
            known.join(", ")
        )));
    }
    let id = WebhookId::new();
    let secret = hex::encode(callvault_crypto::digest::random_array::<32>());
    let wrapped = state
        .kek
        .wrap(&webhook_secret_aad(tenant, id), secret.as_bytes())
        .map_err(|e| WebhookError::Wrap(e.to_string()))?;
    let now = state.clock.now();
    let webhook =
        Webhook { id, tenant_id: tenant, url: new.url, events: new.events, created_at: now, wrapped_secret: wrapped };
    insert(state, ctx, &permit, &webhook).await?;
    Ok(CreatedWebhook { webhook, secret })
}

async fn insert(state: &Services, ctx: &Ctx, permit: &Permit, webhook: &Webhook) -> Result<(), WebhookError> {
    permit.covers(Action::Update, Resource::TenantSettings, webhook.tenant_id)?;
    let mut tx = state.store.begin().await?;
    tx.insert_webhook(webhook).await?;
    let event = ctx.event("webhook.create").target("webhook", webhook.id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, webhook.created_at, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a webhook.
pub async fn delete(state: &Services, ctx: &Ctx, id: WebhookId) -> Result<(), WebhookError> {
    let permit = allow(state, ctx, Action::Update).await?;
    remove(state, ctx, &permit, permit.tenant(), id).await
}

async fn remove(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    tenant: TenantId,
    id: WebhookId,
) -> Result<(), WebhookError> {
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_webhook(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => WebhookError::NoSuchWebhook,
        e => WebhookError::Store(e),
    })?;
    let event = ctx.event("webhook.delete").target("webhook", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}
