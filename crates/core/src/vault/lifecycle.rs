//! Key lifecycle (PCI DSS 3.7.4): a reminder to the custodians a configurable number of
//! days (default 15) before the active data key version reaches its cryptoperiod (default 365
//! days) — as a notification readable through the API, an e-mail and a signed webhook — and the
//! optional automatic rotation (pre-approved by the `change_settings` ceremony that set it).

use std::time::Duration;

use callvault_crypto::envelope::DataKey;
use callvault_model::access::DefaultRole;
use callvault_model::records::{Notification, Timestamp};
use callvault_model::vault::KeyState;
use callvault_model::{NotificationId, TenantId};
use callvault_store::prelude::*;
use callvault_store::{TenantStore, Tx};

use super::KeyError;
use super::next_version;
use crate::audit::{Actor, AuditEvent};
use crate::services::Services;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LifecycleReport {
    /// Tenants reminded.
    pub reminded: Vec<TenantId>,
    /// Tenants whose key rotated automatically.
    pub rotated: Vec<TenantId>,
    /// E-mails accepted by the SMTP server.
    pub emails: usize,
    /// Webhook deliveries answered 2xx.
    pub webhooks: usize,
}

/// Checks every tenant once.
pub async fn check(state: &Services) -> Result<LifecycleReport, KeyError> {
    let mut report = LifecycleReport::default();
    let tenants = state.store.reader().await?.encryption_tenants().await?;
    for tenant in tenants {
        check_tenant(state, tenant, &mut report).await?;
    }
    Ok(report)
}

async fn check_tenant(state: &Services, tenant: TenantId, report: &mut LifecycleReport) -> Result<(), KeyError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let Some((settings, _)) = tx.encryption(tenant).await? else { return Ok(()) };
    let versions = tx.data_keys(tenant).await?;
    let Some(active) = versions.iter().find(|v| v.state == KeyState::Active).cloned() else { return Ok(()) };
    let age_ms = now.millis() - active.created_at.millis();
    if let Some(days) = settings.auto_rotate_days.filter(|d| age_ms >= i64::from(*d) * DAY_MS) {
        let version = next_version(&versions);
        let (_, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), version)
            .map_err(|_| KeyError::Wrap("a new data key"))?;
        tx.insert_data_key(tenant, version, &wrapped, now).await?;
        let details = serde_json::json!({ "new_version": version, "after_days": days, "previous": active.version });
        let event = AuditEvent::new(Some(tenant), Actor::System, "key.auto_rotated").details(details.clone());
        state.auditor.record(&mut tx, now, &event).await?;
        notify(&mut tx, tenant, "key_rotated", &format!(
            "data key version {} was {} days old; version {version} now encrypts new content (automatic rotation every {days} days); run a rewrap to move existing content keys",
            active.version, age_ms / DAY_MS
        ), serde_json::json!({ "new_version": version, "previous": active.version }), now).await?;
        tx.commit().await?;
        report.rotated.push(tenant);
        report.webhooks +=
            crate::notify::webhooks(state, tenant, crate::webhooks::WebhookEvent::KeyAutoRotated, &details).await;
        return Ok(());
    }
    let due_ms = active.created_at.millis() + i64::from(settings.cryptoperiod_days) * DAY_MS;
    let remind_from = due_ms - i64::from(settings.reminder_days) * DAY_MS;
    if now.millis() < remind_from || active.reminded_at.is_some() {
        return Ok(());
    }
    let due = Timestamp(due_ms);
    let slug = tx.tenant(tenant).await?.slug;
    let days_left = ((due_ms - now.millis()) as f64 / DAY_MS as f64).ceil() as i64;
    let message = if days_left > 0 {
        format!(
            "data key version {} of tenant {slug} reaches its {}-day cryptoperiod on {due} ({days_left} days); \
             two custodians should generate a new key (ceremony new_key) and rewrap",
            active.version, settings.cryptoperiod_days
        )
    } else {
        format!(
            "data key version {} of tenant {slug} is past its {}-day cryptoperiod (since {due}); it still encrypts \
             new content until two custodians generate a new key",
            active.version, settings.cryptoperiod_days
        )
    };
    let details = serde_json::json!({ "version": active.version, "due": due, "days_left": days_left });
    notify(&mut tx, tenant, "key_expiry_reminder", &message, details.clone(), now).await?;
    tx.mark_key_reminded(tenant, active.version, now).await?;
    let event = AuditEvent::new(Some(tenant), Actor::System, "key.expiry_reminder").details(details.clone());
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    report.reminded.push(tenant);
    report.emails +=
        crate::notify::email(state, &format!("callvault: change the data key of {slug} by {due}"), &message).await;
    report.webhooks +=
        crate::notify::webhooks(state, tenant, crate::webhooks::WebhookEvent::KeyExpiryReminder, &details).await;
    Ok(())
}

async fn notify(
    tx: &mut Tx,
    tenant: TenantId,
    kind: &str,
    message: &str,
    details: serde_json::Value,
    now: Timestamp,
) -> Result<(), KeyError> {
    tx.insert_notification(&Notification {
        id: NotificationId::new(),
        tenant_id: tenant,
        kind: kind.into(),
        audience: DefaultRole::SecurityOfficer.name().into(),
        message: message.into(),
        details,
        created_at: now,
    })
    .await?;
    Ok(())
}

/// Runs [`check`] at start and every `every`.
pub async fn run(state: Services, every: Duration) {
    loop {
        if let Err(e) = check(&state).await {
            tracing::warn!(error = %e, "key lifecycle check failed");
        }
        tokio::time::sleep(every).await;
    }
}
