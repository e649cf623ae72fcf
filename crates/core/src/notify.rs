//! Delivery of notifications beyond the records readable through the API: e-mail over SMTP
//! (lettre) to the configured addresses, and HMAC-SHA256-signed webhooks of the tenant.
//!
//! A webhook request carries `X-Callvault-Event`, `X-Callvault-Delivery` and
//! `X-Callvault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the
//! scheme of Stripe and GitHub: receivers recompute it and reject stale timestamps.

use std::time::Duration;

use callvault_crypto::digest::hmac_sha256;
use callvault_model::access::DefaultRole;
use callvault_model::records::{AddressKind, Notification};
use callvault_model::{NotificationId, TenantId};
use callvault_store::StoreError;
use callvault_store::prelude::*;

use crate::audit::{Actor, AuditEvent};
use crate::services::Services;
use crate::webhooks::WebhookEvent;

/// The associated data of a webhook secret wrapped by the KEK.
pub fn webhook_secret_aad(tenant: TenantId, webhook: callvault_model::WebhookId) -> Vec<u8> {
    format!("callvault:webhook-secret:{tenant}:{webhook}").into_bytes()
}

/// The signature header value of a webhook body.
pub fn signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut msg = unix_secs.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    format!("t={unix_secs},v1={}", hex::encode(hmac_sha256(secret, &msg)))
}

/// Sends an e-mail to the configured notification addresses; logs (without addresses) and
/// returns how many were accepted by the SMTP server.
pub async fn email(state: &Services, subject: &str, body: &str) -> usize {
    let mut sent = 0;
    for to in &state.config.notification_emails {
        if email_to(state, to, subject, body).await {
            sent += 1;
        }
    }
    sent
}

/// Sends one e-mail to `to`; `false` (logged without the address) when SMTP is off or fails.
pub async fn email_to(state: &Services, to: &str, subject: &str, body: &str) -> bool {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let Some(url) = &state.config.smtp_url else { return false };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
        Ok(t) => t.timeout(Some(Duration::from_secs(15))).build(),
        Err(e) => {
            tracing::warn!(error = %e, "smtp_url is not usable");
            return false;
        }
    };
    let Ok(from) = state.config.smtp_from.parse() else {
        tracing::warn!("smtp_from is not a valid address");
        return false;
    };
    let Ok(to) = to.parse() else {
        tracing::warn!("an e-mail address is not valid; skipped");
        return false;
    };
    match Message::builder().from(from).to(to).subject(subject).body(body.to_owned()) {
        Ok(m) => match transport.send(m).await {
            Ok(_) => true,
            Err(e) => {
                // The server's answer may quote the recipient: only its class is logged.
                tracing::warn!(permanent = e.is_permanent(), timeout = e.is_timeout(), "e-mail delivery failed");
                false
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the e-mail");
            false
        }
    }
}

/// Posts an event to every webhook of the tenant subscribed to it; returns how many answered 2xx.
/// Each delivery checks the URL again and connects only to the checked address (see
/// [`crate::egress`]); redirects are not followed.
pub async fn webhooks(state: &Services, tenant: TenantId, event: WebhookEvent, payload: &serde_json::Value) -> usize {
    let event = event.as_str();
    let hooks = match state.store.reader().await {
        Ok(mut r) => r.webhooks(tenant).await.unwrap_or_default(),
        Err(_) => return 0,
    };
    let mut delivered = 0;
    for hook in hooks.iter().filter(|h| h.events.is_empty() || h.events.iter().any(|e| e == event)) {
        let Ok(secret) = state.kek.unwrap(&webhook_secret_aad(tenant, hook.id), &hook.wrapped_secret) else {
            tracing::warn!(webhook = %hook.id, "webhook secret does not unwrap");
            continue;
        };
        let body = serde_json::json!({ "event": event, "tenant": tenant, "data": payload }).to_string();
        let now = state.clock.now().millis() / 1000;
        let headers = vec![
            ("content-type", "application/json".to_owned()),
            ("x-callvault-event", event.to_owned()),
            ("x-callvault-delivery", uuid::Uuid::new_v4().to_string()),
            ("x-callvault-signature", signature(secret.expose(), now, body.as_bytes())),
        ];
        match state.egress.post(&hook.url, headers, body.into_bytes()).await {
            Ok(status) if (200..300).contains(&status) => delivered += 1,
            Ok(status) => tracing::warn!(webhook = %hook.id, status, "webhook refused the event"),
            Err(why) => tracing::warn!(webhook = %hook.id, error = %why, "webhook delivery failed"),
        }
    }
    delivered
}

/// Tells a tenant's security officers about a security event, once per `subject` within
/// `quiet_ms`: a notification record (audience: security officers), a `security.alert` audit
/// entry, an e-mail to every security officer with an address, and the tenant's webhooks
/// subscribed to `security.alert`. Returns whether it told (false: told recently).
pub async fn security_alert(
    state: &Services,
    tenant: TenantId,
    kind: &str,
    subject: &str,
    message: String,
    details: serde_json::Value,
    quiet_ms: i64,
) -> Result<bool, StoreError> {
    use callvault_store::DirectoryStore;
    use callvault_store::prelude::*;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let recent =
        tx.notifications(tenant, 500).await?.iter().any(|n| {
            n.kind == kind && n.details["subject"] == subject && now.millis() - n.created_at.millis() < quiet_ms
        });
    if recent {
        return Ok(false);
    }
    let mut details = details;
    if let Some(map) = details.as_object_mut() {
        map.insert("subject".into(), subject.into());
    }
    let n = Notification {
        id: NotificationId::new(),
        tenant_id: tenant,
        kind: kind.to_owned(),
        audience: DefaultRole::SecurityOfficer.name().into(),
        message: message.clone(),
        details: details.clone(),
        created_at: now,
    };
    tx.insert_notification(&n).await?;
    let event = AuditEvent::new(Some(tenant), Actor::System, "security.alert")
        .target("notification", n.id)
        .details(serde_json::json!({ "kind": kind, "subject": subject }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    let mut r = state.store.reader().await?;
    let officers = crate::identity::holders_of(&mut r, tenant, DefaultRole::SecurityOfficer).await?;
    let mut addresses = Vec::new();
    for id in officers {
        if let Ok(user) = r.user(tenant, id).await {
            addresses.extend(
                user.addresses.iter().filter(|a| a.kind == AddressKind::Email).map(|a| a.value.expose().clone()),
            );
        }
    }
    drop(r);
    let subject_line = format!("callvault security alert: {kind}");
    for to in &addresses {
        email_to(state, to, &subject_line, &message).await;
    }
    webhooks(
        state,
        tenant,
        WebhookEvent::SecurityAlert,
        &serde_json::json!({ "kind": kind, "message": message, "details": details }),
    )
    .await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_stable_and_keyed() {
        let a = super::signature(b"k1", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a, super::signature(b"k1", 1_700_000_000, b"{}"));
        assert_ne!(a, super::signature(b"k2", 1_700_000_000, b"{}"));
        assert_ne!(a, super::signature(b"k1", 1_700_000_001, b"{}"));
    }
}
