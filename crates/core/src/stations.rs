//! What call security needs to know about a tenant's endpoints: stations and softphones with
//! their security level (which decides whether a downgrade alerts), HEP capture agents with
//! their keys (stored as SHA-256, shown once), and each user's switch for downgrade alerts
//! (honoured only where a role grants `call_alert:update`). Every change reloads what the
//! call tracker caches.

use callvault_crypto::digest::sha256;
use callvault_model::access::{Action, Resource};
use callvault_model::{PrincipalId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::calls::{CaptureAgentRow, StationRow};
use callvault_store::{CallStore, DirectoryStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::calls::parse_level;
use crate::input::{self, InputError};
use crate::services::Services;

/// Why a station, capture agent or alert switch was not changed.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The document is not acceptable (missing fields, unknown fields).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(&'static str),
    /// Only users receive call security alerts.
    #[error("only users receive call security alerts")]
    NotAUser,
    /// Another station uses the SIP user.
    #[error("sip_user: another station uses it")]
    SipUserTaken,
    /// The capture id is registered already (capture ids are unique across the installation).
    #[error("capture_id: already registered")]
    CaptureIdTaken,
    /// No such station in the tenant.
    #[error("no such station")]
    NoSuchStation,
    /// No such capture agent in the tenant.
    #[error("no such capture agent")]
    NoSuchAgent,
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's alert switch.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Whether downgrade alerts are shown (switching them off needs a role that grants it).
    pub enabled: bool,
}

/// A station or softphone.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Name (set from the path on PUT).
    #[serde(default)]
    pub name: String,
    /// The SIP user part that identifies it in signalling.
    pub sip_user: String,
    /// The user working on it (id), if any.
    #[serde(default)]
    pub user: Option<UserId>,
    /// `station` or `softphone`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// `none`, `minimal` or `end_to_edge`.
    pub level: String,
}

fn default_kind() -> String {
    "station".into()
}

/// A HEP capture agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaptureAgent {
    /// HEP capture id (chunk 12).
    pub capture_id: u32,
    /// Label.
    pub name: String,
    /// Created (Unix ms).
    pub created_at: i64,
}

/// A new capture agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// HEP capture id (1..=4294967295), unique across the installation.
    pub capture_id: u32,
    /// Label.
    pub name: String,
}

/// The agent and its key, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    /// The agent.
    pub agent: CaptureAgent,
    /// The key to configure as the agent's HEP password (Kamailio `siptrace` `auth_key`); shown
    /// only now, stored as its SHA-256.
    pub key: String,
}

fn alert_user(ctx: &Ctx) -> Result<UserId, StationError> {
    match ctx.principal {
        PrincipalId::User(u) => Ok(u),
        _ => Err(StationError::NotAUser),
    }
}

async fn own_alerts(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, StationError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?)
}

/// The caller's alert switch as it applies: an opt-out without the grant is not honoured.
pub async fn alert_settings(state: &Services, ctx: &Ctx) -> Result<AlertSettings, StationError> {
    let permit = own_alerts(state, ctx, Action::Read).await?;
    current_alerts(state, ctx, permit.tenant()).await
}

async fn current_alerts(state: &Services, ctx: &Ctx, tenant: TenantId) -> Result<AlertSettings, StationError> {
    let user = alert_user(ctx)?;
    let off = state.store.reader().await?.alert_optouts(tenant).await?.contains(&user);
    let may = ctx.decide(Action::Update, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).is_allowed();
    Ok(AlertSettings { enabled: !(off && may) })
}

/// Switches the caller's downgrade alerts with a whole document (every field required).
pub async fn replace_alert_settings(
    state: &Services,
    ctx: &Ctx,
    document: serde_json::Value,
) -> Result<AlertSettings, StationError> {
    let permit = own_alerts(state, ctx, Action::Update).await?;
    let settings: AlertSettings = input::full_document(document, &[])?;
    store_alerts(state, ctx, &permit, settings).await
}

/// Changes some of the caller's alert settings (JSON merge patch, RFC 7396).
pub async fn patch_alert_settings(
    state: &Services,
    ctx: &Ctx,
    patch: serde_json::Value,
) -> Result<AlertSettings, StationError> {
    let permit = own_alerts(state, ctx, Action::Update).await?;
    let current = current_alerts(state, ctx, permit.tenant()).await?;
    let settings: AlertSettings = input::patched_settings(&current, patch)?;
    store_alerts(state, ctx, &permit, settings).await
}

async fn store_alerts(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    settings: AlertSettings,
) -> Result<AlertSettings, StationError> {
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::CallAlert, tenant)?;
    let user = alert_user(ctx)?;
    let mut tx = state.store.begin().await?;
    tx.set_alert_optout(tenant, user, !settings.enabled).await?;
    let event = ctx
        .event(if settings.enabled { "call.alerts.enable" } else { "call.alerts.disable" })
        .target("user", user)
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(settings)
}

async fn stations_permit(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, StationError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Station, tenant)).await?)
}

/// The tenant's stations by name.
/// The tenant's stations by name: all of them for tenant-wide readers, those of the users in
/// scope for a limited grant (a station is a resource of its user's teams).
pub async fn stations(state: &Services, ctx: &Ctx) -> Result<Vec<Station>, StationError> {
    let tenant = ctx.tenant()?;
    let scope = crate::calls::feed::call_scope(state, ctx, Resource::Station).await?;
    let rows = state.store.reader().await?.stations(tenant).await?;
    Ok(rows
        .into_iter()
        .filter(|s| scope.sees(s.user_id.map(|u| u.to_string()).as_deref().into_iter()))
        .map(|s| Station { name: s.name, sip_user: s.sip_user, user: s.user_id, kind: s.kind, level: s.level })
        .collect())
}

/// Creates or replaces the station `name` with a whole document.
pub async fn put_station(
    state: &Services,
    ctx: &Ctx,
    name: String,
    document: serde_json::Value,
) -> Result<Station, StationError> {
    let permit = stations_permit(state, ctx, Action::Update).await?;
    let mut station: Station = input::full_document(document, &["name"])?;
    station.name = name;
    let ok = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
    if !ok(&station.name) || !ok(&station.sip_user) {
        return Err(StationError::Invalid("name and sip_user: 1 to 64 visible ASCII characters"));
    }
    if parse_level(&station.level).is_none() {
        return Err(StationError::Invalid("level: none, minimal or end_to_edge"));
    }
    if station.kind != "station" && station.kind != "softphone" {
        return Err(StationError::Invalid("kind: station or softphone"));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::Station, tenant)?;
    let mut tx = state.store.begin().await?;
    if let Some(u) = station.user
        && DirectoryStore::user(&mut tx, tenant, u).await.is_err()
    {
        return Err(StationError::Invalid("user: no such user in the tenant"));
    }
    let row = StationRow {
        name: station.name.clone(),
        sip_user: station.sip_user.clone(),
        user_id: station.user,
        kind: station.kind.clone(),
        level: station.level.clone(),
    };
    tx.put_station(tenant, &row).await.map_err(|e| match e {
        StoreError::Conflict(_) => StationError::SipUserTaken,
        e => e.into(),
    })?;
    let event = ctx
        .event("station.put")
        .target("station", &station.name)
        .details(serde_json::json!({ "level": station.level, "kind": station.kind }))
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(station)
}

/// Deletes a station.
pub async fn delete_station(state: &Services, ctx: &Ctx, name: &str) -> Result<(), StationError> {
    let permit = stations_permit(state, ctx, Action::Delete).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Delete, Resource::Station, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.delete_station(tenant, name).await.map_err(|e| match e {
        StoreError::NotFound => StationError::NoSuchStation,
        e => e.into(),
    })?;
    let event = ctx.event("station.delete").target("station", name).origin(ctx.origin(state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(())
}

/// The tenant's capture agents by capture id.
pub async fn capture_agents(state: &Services, ctx: &Ctx) -> Result<Vec<CaptureAgent>, StationError> {
    let permit = stations_permit(state, ctx, Action::Read).await?;
    let tenant = permit.tenant();
    Ok(state
        .store
        .reader()
        .await?
        .capture_agents()
        .await?
        .into_iter()
        .filter(|a| a.tenant_id == tenant)
        .map(|a| CaptureAgent { capture_id: a.capture_id, name: a.name, created_at: a.created_at.0 })
        .collect())
}

/// Registers a capture agent and returns its key once.
pub async fn create_capture_agent(state: &Services, ctx: &Ctx, new: NewAgent) -> Result<CreatedAgent, StationError> {
    let permit = stations_permit(state, ctx, Action::Create).await?;
    if new.capture_id == 0 || new.name.is_empty() || new.name.len() > 64 {
        return Err(StationError::Invalid("capture_id: 1 or more; name: 1 to 64 characters"));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Create, Resource::Station, tenant)?;
    let key = hex::encode(callvault_crypto::digest::random_bytes(24));
    let now = state.clock.now();
    let row = CaptureAgentRow {
        capture_id: new.capture_id,
        tenant_id: tenant,
        name: new.name.clone(),
        key_sha256: hex::encode(sha256(key.as_bytes())),
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_capture_agent(&row).await.map_err(|e| match e {
        StoreError::Conflict(_) => StationError::CaptureIdTaken,
        e => e.into(),
    })?;
    let event = ctx.event("capture_agent.create").target("capture_agent", new.capture_id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.calls.reload_agents().await?;
    Ok(CreatedAgent { agent: CaptureAgent { capture_id: new.capture_id, name: new.name, created_at: now.0 }, key })
}

/// Removes a capture agent; its packets are refused from now on.
pub async fn delete_capture_agent(state: &Services, ctx: &Ctx, capture_id: u32) -> Result<(), StationError> {
    let permit = stations_permit(state, ctx, Action::Delete).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Delete, Resource::Station, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.delete_capture_agent(tenant, capture_id).await.map_err(|e| match e {
        StoreError::NotFound => StationError::NoSuchAgent,
        e => e.into(),
    })?;
    let event = ctx.event("capture_agent.delete").target("capture_agent", capture_id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.reload_agents().await?;
    Ok(())
}
