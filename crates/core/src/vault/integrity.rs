//! Integrity of stored content: verifying objects segment by segment, reporting a failure
//! (audit entry, security officers told once per object per hour), and the scrub job that
//! verifies every object in the background.

use std::time::Duration;

use callvault_model::records::Timestamp;
use callvault_model::vault::StoredObject;
use callvault_model::{ObjectId, TenantId};
use callvault_store::prelude::*;
use callvault_store::{ObjectQuery, TenantStore};

use crate::audit::{Actor, AuditEvent};
use crate::caller::Ctx;
use crate::services::Services;
use crate::vault::{ContentError, verify_blob};

/// How often the same object's failure is told to the security officers.
const TELL_EVERY_MS: i64 = 3_600_000;

/// Reads an object's whole blob, authenticating every segment and the plaintext digest.
pub async fn verify(state: &Services, o: &StoredObject) -> Result<(), ContentError> {
    let dk = match o.key_version {
        Some(v) => {
            let mut r = state.store.reader().await.map_err(|e| ContentError::Key(e.to_string()))?;
            Some(state.vault.data_key(&mut r, o.tenant_id, v).await.map_err(|e| ContentError::Key(e.to_string()))?)
        }
        None => None,
    };
    let vault = state.vault.clone();
    let object = o.clone();
    tokio::task::spawn_blocking(move || verify_blob(&vault.blobs, &object, dk.as_deref(), &object.sha256))
        .await
        .map_err(|e| ContentError::Io(std::io::Error::other(e.to_string())))?
}

/// The words for a failure, without internal detail.
pub fn reason(error: &ContentError) -> &'static str {
    match error {
        ContentError::Integrity(_) => "the stored content does not authenticate",
        ContentError::Io(_) => "the stored content is missing or unreadable",
        ContentError::Key(_) => "the content's key is unavailable",
    }
}

/// Stored content failed its check; nothing of it was sent and the security officers were told.
#[derive(Debug, thiserror::Error)]
#[error("{reason}; nothing was sent and the security officers were told")]
pub struct IntegrityFailure {
    /// The content's key was unavailable (rather than the content damaged).
    pub key_unavailable: bool,
    /// What failed, without internal detail.
    pub reason: &'static str,
}

/// Reports content that failed its check: an `object.integrity_failed` audit entry every time
/// (by the caller, or the system for the scrub), and the tenant's security officers told
/// (notification, e-mail, webhook) once per object per hour. Returns the failure for the caller.
pub async fn report(
    state: &Services,
    ctx: Option<&Ctx>,
    o: &StoredObject,
    range: (u64, u64),
    error: &ContentError,
) -> IntegrityFailure {
    tracing::error!(object = %o.id, error = %error, "content failed its integrity check");
    let reason = reason(error);
    let details = serde_json::json!({ "class": o.class, "range": [range.0, range.1], "reason": reason });
    let event = match ctx {
        Some(ctx) => ctx.event("object.integrity_failed").origin(ctx.origin(state)),
        None => AuditEvent::new(Some(o.tenant_id), Actor::System, "object.integrity_failed"),
    }
    .denied()
    .target("object", o.id)
    .details(details);
    if let Err(e) = state.auditor.record_now(state.clock.now(), &event).await {
        tracing::error!(error = %e, "cannot audit an integrity failure");
    }
    if let Err(e) = crate::notify::security_alert(
        state,
        o.tenant_id,
        "object_integrity_failed",
        &o.id.to_string(),
        format!("object {} ({}) failed its integrity check: {reason}", o.id, o.class),
        serde_json::json!({ "object": o.id, "class": o.class, "reason": reason }),
        TELL_EVERY_MS,
    )
    .await
    {
        tracing::error!(error = %e, "cannot alert the security officers");
    }
    IntegrityFailure { key_unavailable: matches!(error, ContentError::Key(_)), reason }
}

/// One damaged object found by a verification.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Damaged {
    /// The object.
    #[schema(value_type = String)]
    pub id: ObjectId,
    /// What failed.
    pub reason: String,
}

/// The result of verifying objects.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Objects whose every segment was authenticated.
    pub checked: u64,
    /// Objects that failed (each reported to the security officers).
    pub damaged: Vec<Damaged>,
}

/// Verifies every object of a tenant that `keep` accepts, in id order; each failure is
/// reported. `ctx` is the caller (`None`: the scrub job).
pub async fn verify_tenant(
    state: &Services,
    ctx: Option<&Ctx>,
    tenant: TenantId,
    keep: impl Fn(&StoredObject) -> bool,
) -> Result<VerifyReport, callvault_store::StoreError> {
    let mut found = VerifyReport::default();
    let mut after = None;
    loop {
        let page = state
            .store
            .reader()
            .await?
            .objects(tenant, &ObjectQuery { class: None, interaction: None, after, limit: 200 })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page.iter().filter(|o| keep(o)) {
            found.checked += 1;
            if let Err(e) = verify(state, o).await {
                found.damaged.push(Damaged { id: o.id, reason: reason(&e).to_owned() });
                let _ = report(state, ctx, o, (0, o.size), &e).await;
            }
        }
    }
    Ok(found)
}

/// Verifies every object of every tenant every `every`, the first pass after `every`.
pub async fn scrub(state: Services, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        // One node scrubs at a time (several nodes may share the database).
        let turn = match state.store.try_exclusive("scrub").await {
            Ok(Some(turn)) => turn,
            _ => continue,
        };
        let started = Timestamp::from(jiff::Timestamp::now());
        let tenants = match state.store.reader().await {
            Ok(mut r) => r.tenants().await.unwrap_or_default(),
            Err(_) => continue,
        };
        let (mut checked, mut damaged) = (0u64, 0usize);
        for t in tenants {
            match verify_tenant(&state, None, t.id, |_| true).await {
                Ok(r) => {
                    checked += r.checked;
                    damaged += r.damaged.len();
                }
                Err(e) => tracing::warn!(error = %e, "scrub of a tenant failed"),
            }
        }
        let event = AuditEvent::new(None, Actor::System, "object.scrub")
            .details(serde_json::json!({ "checked": checked, "damaged": damaged, "started_at": started.millis() }));
        if let Err(e) = state.auditor.record_now(state.clock.now(), &event).await {
            tracing::warn!(error = %e, "cannot audit the scrub");
        }
        turn.release().await;
    }
}
