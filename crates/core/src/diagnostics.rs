//! Diagnostic logging of individual communication events (calls applied, dial checks decided).
//! Off by default: a tenant's administrator switches it on for problem solving, for at most
//! [`MAX_WINDOW_MINUTES`], and it ends by itself when the window closes; switching it on or off is
//! audited. Even while it is on, an event line names ids, codes and keyed pseudonyms (the audit
//! log's), never a number, address or name.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use callvault_model::TenantId;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{EventLoggingRow, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

/// The longest window, in minutes (24 hours).
pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;
/// The target of event log lines (`RUST_LOG=callvault::events=info` shows nothing more).
pub const TARGET: &str = "callvault::events";

/// Why event logging was not shown or switched.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    /// The caller may not change the tenant's settings.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The window or reason is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to log communication events for a while.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableEventLogging {
    /// For how long, 1 to 1440 minutes.
    pub minutes: u32,
    /// Why (the problem being solved), 1 to 500 characters; audited.
    pub reason: String,
}

/// Whether a tenant's communication events are logged now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventLoggingStatus {
    /// Logged now.
    pub enabled: bool,
    /// When the current or last window ends or ended.
    pub until: Option<Timestamp>,
    /// Who opened that window.
    pub enabled_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// The windows in force, per tenant, as the services consult them on every event.
#[derive(Debug, Default)]
pub struct EventLog {
    until: RwLock<HashMap<TenantId, i64>>,
}

impl EventLog {
    /// Loads every tenant's window.
    pub async fn load(store: &Store) -> Result<EventLog, StoreError> {
        let rows = store.reader().await?.event_logging_windows().await?;
        Ok(EventLog { until: RwLock::new(rows.into_iter().map(|r| (r.tenant_id, r.until.millis())).collect()) })
    }

    /// Whether `tenant`'s communication events are logged at `now` (Unix ms).
    pub fn is_on(&self, tenant: TenantId, now: i64) -> bool {
        self.until.read().unwrap_or_else(PoisonError::into_inner).get(&tenant).is_some_and(|until| now < *until)
    }

    fn set(&self, tenant: TenantId, until: i64) {
        self.until.write().unwrap_or_else(PoisonError::into_inner).insert(tenant, until);
    }
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, DiagnosticsError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?)
}

/// Whether the caller's tenant logs its communication events now, and the last window.
pub async fn status(state: &Services, ctx: &Ctx) -> Result<EventLoggingStatus, DiagnosticsError> {
    let tenant = allow(state, ctx, Action::Read).await?.tenant();
    let rows = state.store.reader().await?.event_logging_windows().await?;
    let row = rows.into_iter().find(|r| r.tenant_id == tenant);
    let now = state.clock.now().millis();
    Ok(EventLoggingStatus {
        enabled: state.event_log.is_on(tenant, now),
        until: row.as_ref().map(|r| r.until),
        enabled_by: row.as_ref().map(|r| r.enabled_by.clone()),
        reason: row.map(|r| r.reason),
    })
}

/// Switches event logging on for `minutes`; it ends by itself then.
pub async fn enable(
    state: &Services,
    ctx: &Ctx,
    request: EnableEventLogging,
) -> Result<EventLoggingStatus, DiagnosticsError> {
    let permit = allow(state, ctx, Action::Update).await?;
    if !(1..=MAX_WINDOW_MINUTES).contains(&request.minutes) {
        return Err(DiagnosticsError::Invalid(format!(
            "minutes: 1 to {MAX_WINDOW_MINUTES} (event logging is for problem solving and ends by itself)"
        )));
    }
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(DiagnosticsError::Invalid("reason: 1 to 500 printable characters".into()));
    }
    let now = state.clock.now();
    let until = now.plus_millis(i64::from(request.minutes) * 60_000);
    store_window(state, ctx, &permit, until, reason, "diagnostics.event_logging.on").await?;
    status(state, ctx).await
}

/// Switches event logging off now.
pub async fn disable(state: &Services, ctx: &Ctx) -> Result<EventLoggingStatus, DiagnosticsError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let now = state.clock.now();
    store_window(state, ctx, &permit, now, "switched off", "diagnostics.event_logging.off").await?;
    status(state, ctx).await
}

async fn store_window(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    until: Timestamp,
    reason: &str,
    action: &'static str,
) -> Result<(), DiagnosticsError> {
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let row = EventLoggingRow {
        tenant_id: tenant,
        until,
        enabled_by: ctx.principal.to_string(),
        reason: reason.to_owned(),
        enabled_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.put_event_logging(&row).await?;
    let event = ctx
        .event(action)
        .target("tenant", tenant)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "until": until.millis(), "reason": reason }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.event_log.set(tenant, until.millis());
    Ok(())
}

/// Logs the changes one signalling message or event batch made to a call, when the tenant's
/// event logging is on: ids, the source, and each change's security and cause code.
pub fn call_applied(
    state: &Services,
    tenant: TenantId,
    call: uuid::Uuid,
    source: &'static str,
    changes: &[callvault_policy::callsec::Change],
) {
    if !state.event_log.is_on(tenant, state.clock.now().millis()) {
        return;
    }
    let changes: Vec<String> = changes.iter().map(|c| format!("{:?}->{:?} {:?}", c.from, c.to, c.cause.code)).collect();
    tracing::info!(target: TARGET, %tenant, %call, source, changes = ?changes, "call event applied");
}

/// Logs a dial check's outcome, when the tenant's event logging is on: the direction, whether
/// it was allowed, the reason codes, and the number as the audit log's keyed pseudonym.
pub fn dial_checked(
    state: &Services,
    tenant: TenantId,
    direction: callvault_policy::dial::Direction,
    number: &str,
    decision: &callvault_policy::dial::Decision,
) {
    if !state.event_log.is_on(tenant, state.clock.now().millis()) {
        return;
    }
    let digest = state.auditor.pseudonym(number.as_bytes());
    let codes: Vec<_> = decision.reasons.iter().map(|r| r.code).collect();
    tracing::info!(
        target: TARGET, %tenant, ?direction, number_digest = %digest, allowed = decision.allowed,
        codes = ?codes, "dial check decided"
    );
}
