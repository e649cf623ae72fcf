//! Dual control (PCI DSS 3.6.1.2, 3.7.6): every key operation is a ceremony. One
//! custodian proposes, a different custodian approves; both re-authenticate with password and
//! TOTP; the proposal expires after its lifetime (default 15 minutes). The operation runs in
//! the approval's transaction, together with its audit entries.

use callvault_crypto::envelope::{BlindIndexKey, DataKey};
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::{
    Ceremony, CeremonyKind, CeremonyState, EncryptionSettingsPatch, JobKind, JobState, KeyState,
};
use callvault_model::{CeremonyId, PrincipalId, SecretString, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{StoreError, TenantStore, Tx};
use serde::{Deserialize, Serialize};

use super::jobs::create_job;
use super::{initial_settings, next_version};
use crate::caller::AccessError;
use crate::caller::Ctx;
use crate::custody::CustodyError;
use crate::identity::{IdentityError, reauthenticate};
use crate::services::Services;

/// Why a key ceremony was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The kind or its parameters are not acceptable (the text says which).
    #[error("{0}")]
    InvalidParams(String),
    /// The tenant's keys or jobs do not allow the operation now (the text says what to do first).
    #[error("{0}")]
    Precondition(String),
    /// No such ceremony visible to the caller.
    #[error("no such ceremony")]
    NoSuchCeremony,
    /// The ceremony was decided already.
    #[error("the ceremony is {0}, not proposed")]
    NotProposed(CeremonyState),
    /// The ceremony expired before a second custodian approved it.
    #[error("the ceremony expired before a second custodian approved it; propose it again")]
    Expired,
    /// The proposer tried to approve their own proposal.
    #[error("the custodian who proposed a key operation cannot approve it; a second custodian must")]
    SameApprover,
    /// The backup has no share for the caller.
    #[error("this backup has no share for you")]
    NoShareForYou,
    /// The caller's share was picked up already (it is shown once).
    #[error("your share was already picked up; it is shown once")]
    SharePickedUp,
    /// An appointment ceremony (custodians, operator approvers) was refused.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// The re-authentication failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The access engine denied.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A refusal could not be audited.
    #[error(transparent)]
    Audit(#[from] crate::audit::AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be wrapped or unwrapped, or a stored ceremony is inconsistent.
    #[error("{0}")]
    Internal(String),
}

impl CeremonyError {
    fn internal(e: impl std::fmt::Display) -> Self {
        CeremonyError::Internal(e.to_string())
    }

    /// Whether the operation was refused for a reason the custodians can fix (its parameters or
    /// the tenant's state), as opposed to a failure inside: a refused approval is recorded as a
    /// failed ceremony.
    pub fn is_refusal(&self) -> bool {
        matches!(self, CeremonyError::InvalidParams(_) | CeremonyError::Precondition(_))
    }
}

/// Default lifetime of a proposal.
pub const DEFAULT_LIFETIME_SECS: i64 = 15 * 60;

/// Parameters of `retire_version`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetireParams {
    version: u32,
}

/// Parameters of `enable_encryption`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableParams {
    /// Revoke existing keys: existing encrypted content is re-encrypted under the new key and the
    /// old versions retired (PCI DSS 3.7.5).
    #[serde(default)]
    revoke_existing: bool,
}

/// Parameters of `kek_backup`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BackupParams {
    /// Shares needed to rebuild the KEK (default 2).
    #[serde(default = "two")]
    threshold: u8,
    /// Operator logins, one share each; empty = the proposer and the approver (2-of-2).
    #[serde(default)]
    custodians: Vec<String>,
}

impl Default for BackupParams {
    fn default() -> Self {
        Self { threshold: 2, custodians: Vec::new() }
    }
}

fn two() -> u8 {
    2
}

fn parse<T: for<'de> Deserialize<'de> + Default>(params: &serde_json::Value) -> Result<T, CeremonyError> {
    if params.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(params.clone())
        .map_err(|e| CeremonyError::InvalidParams(format!("params: {}", crate::input::without_values(&e.to_string()))))
}

/// Checks a proposal's parameters; returns them normalised.
fn validate(kind: CeremonyKind, params: &serde_json::Value) -> Result<serde_json::Value, CeremonyError> {
    let empty = || {
        if params.is_null() || params.as_object().is_some_and(|o| o.is_empty()) {
            Ok(serde_json::json!({}))
        } else {
            Err(CeremonyError::InvalidParams(format!("{kind} takes no parameters")))
        }
    };
    match kind {
        CeremonyKind::EnableEncryption => {
            let p: EnableParams = parse(params)?;
            Ok(serde_json::json!({ "revoke_existing": p.revoke_existing }))
        }
        CeremonyKind::ChangeSettings => {
            let p: EncryptionSettingsPatch = parse(params)?;
            if p.cryptoperiod_days.is_some_and(|d| !(30..=3650).contains(&d)) {
                return Err(CeremonyError::InvalidParams("cryptoperiod_days must be 30..=3650".into()));
            }
            if p.reminder_days.is_some_and(|d| !(1..=90).contains(&d)) {
                return Err(CeremonyError::InvalidParams("reminder_days must be 1..=90".into()));
            }
            if p.auto_rotate_days.is_some_and(|d| d > 3650) {
                return Err(CeremonyError::InvalidParams("auto_rotate_days must be 0 (off) ..=3650".into()));
            }
            if p == EncryptionSettingsPatch::default() {
                return Err(CeremonyError::InvalidParams("change_settings needs at least one setting".into()));
            }
            serde_json::to_value(p).map_err(CeremonyError::internal)
        }
        CeremonyKind::RetireVersion => {
            let p: RetireParams = parse(params)?;
            if p.version == 0 {
                return Err(CeremonyError::InvalidParams("retire_version needs params.version".into()));
            }
            Ok(serde_json::json!({ "version": p.version }))
        }
        CeremonyKind::KekBackup => {
            let p: BackupParams = parse(params)?;
            let n = if p.custodians.is_empty() { 2 } else { p.custodians.len() };
            if n > usize::from(callvault_crypto::shamir::MAX_SHARES) || n < 2 {
                return Err(CeremonyError::InvalidParams(
                    "custodians: 2..=9 operator logins (or none for the two participants)".into(),
                ));
            }
            if p.threshold < 2 || usize::from(p.threshold) > n {
                return Err(CeremonyError::InvalidParams(format!("threshold must be 2..={n}")));
            }
            serde_json::to_value(p).map_err(CeremonyError::internal)
        }
        CeremonyKind::StopEncrypting
        | CeremonyKind::NewKey
        | CeremonyKind::Rewrap
        | CeremonyKind::Reencrypt
        | CeremonyKind::DecryptAll => empty(),
        CeremonyKind::AppointCustodian | CeremonyKind::RevokeCustodian => Err(CeremonyError::InvalidParams(format!(
            "{kind} is proposed by granting or removing the role: POST /v1/grants, DELETE /v1/grants/{{id}}"
        ))),
        CeremonyKind::ResetCustodianCredentials => Err(CeremonyError::InvalidParams(
            "a custodian's credentials are reset with PUT /v1/users/{id}/password or DELETE /v1/users/{id}/totp".into(),
        )),
        CeremonyKind::AppointOperatorApprover => Err(CeremonyError::InvalidParams(
            "appoint_operator_approver is proposed with POST /v1/operators/{id}/approver".into(),
        )),
    }
}

/// The caller's key scope: its tenant, or `None` for provider operators (custodians of the KEK).
pub async fn custodian(ctx: &Ctx, state: &Services, action: Action) -> Result<Option<TenantId>, CeremonyError> {
    let tenant = ctx.tenant;
    let scope = tenant.unwrap_or(TenantId(uuid::Uuid::nil()));
    ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Key, scope)).await?;
    Ok(tenant)
}

fn kind_fits(tenant: Option<TenantId>, kind: CeremonyKind) -> Result<(), CeremonyError> {
    match (tenant.is_some(), kind == CeremonyKind::KekBackup) {
        (false, true) | (true, false) => Ok(()),
        (false, false) => Err(CeremonyError::InvalidParams(
            "provider operators run kek_backup; tenant key operations belong to the tenant's custodians".into(),
        )),
        (true, true) => Err(CeremonyError::InvalidParams("kek_backup is a provider ceremony of two operators".into())),
    }
}

fn share_aad(ceremony: CeremonyId, custodian: PrincipalId) -> Vec<u8> {
    format!("callvault:kek-share:{ceremony}:{custodian}").into_bytes()
}

/// A new proposal by the caller, expiring after `ceremony_lifetime_secs`.
pub(crate) fn proposal(
    state: &Services,
    ctx: &Ctx,
    tenant: Option<TenantId>,
    kind: CeremonyKind,
    params: serde_json::Value,
    now: Timestamp,
) -> Ceremony {
    Ceremony {
        id: CeremonyId::new(),
        tenant_id: tenant,
        kind,
        params,
        state: CeremonyState::Proposed,
        proposer: ctx.principal,
        approver: None,
        created_at: now,
        expires_at: now.plus_millis(state.config.ceremony_lifetime_secs.saturating_mul(1000)),
        decided_at: None,
        result: serde_json::json!({}),
    }
}

/// Proposes a key operation.
pub async fn propose(
    state: &Services,
    ctx: &Ctx,
    kind: CeremonyKind,
    params: &serde_json::Value,
    password: &SecretString,
    totp: &SecretString,
) -> Result<Ceremony, CeremonyError> {
    let tenant = custodian(ctx, state, Action::ManageKeys).await?;
    kind_fits(tenant, kind)?;
    let params = validate(kind, params)?;
    match tenant {
        Some(tenant) => {
            // Fail early on what approval would refuse anyway.
            let mut r = state.store.reader().await?;
            preconditions(&mut r, tenant, kind, &params).await?;
        }
        None => {
            backup_supported(state)?;
            if let PrincipalId::Operator(op) = ctx.principal {
                crate::custody::operator_may_approve(state, op).await?;
            }
        }
    }
    reauthenticate(state, ctx.principal, ctx.tenant, password, totp).await?;
    let now = state.clock.now();
    let c = proposal(state, ctx, tenant, kind, params, now);
    let mut tx = state.store.begin().await?;
    tx.insert_ceremony(&c).await?;
    let event = ctx
        .event("key.ceremony_proposed")
        .target("ceremony", c.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "kind": kind, "params": &c.params, "expires_at": c.expires_at }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(c)
}

fn backup_supported(state: &Services) -> Result<(), CeremonyError> {
    if state.vault.kek().export_for_backup().is_none() {
        return Err(CeremonyError::Precondition(format!(
            "the KEK ({}) never leaves its HSM; back it up with the HSM's own key backup",
            state.vault.kek().describe()
        )));
    }
    Ok(())
}

/// A ceremony of the caller's scope.
pub async fn load(state: &Services, tenant: Option<TenantId>, id: CeremonyId) -> Result<Ceremony, CeremonyError> {
    let c = state.store.reader().await?.ceremony(id).await.map_err(|e| match e {
        StoreError::NotFound => CeremonyError::NoSuchCeremony,
        e => e.into(),
    })?;
    if c.tenant_id != tenant {
        return Err(CeremonyError::NoSuchCeremony);
    }
    Ok(c)
}

/// A ceremony the caller may see: its own tenant's or provider's, or a tenant's custodian
/// appointment that a provider operator is to approve.
pub async fn load_visible(state: &Services, ctx: &Ctx, id: CeremonyId) -> Result<Ceremony, CeremonyError> {
    let c = state.store.reader().await?.ceremony(id).await.map_err(|e| match e {
        StoreError::NotFound => CeremonyError::NoSuchCeremony,
        e => e.into(),
    })?;
    if crate::custody::visible_to(state, ctx, &c).await? { Ok(c) } else { Err(CeremonyError::NoSuchCeremony) }
}

async fn expire_if_due(state: &Services, c: &Ceremony, now: Timestamp) -> Result<(), CeremonyError> {
    if now.millis() <= c.expires_at.millis() {
        return Ok(());
    }
    let mut tx = state.store.begin().await?;
    tx.decide_ceremony(c.id, CeremonyState::Expired, None, now, &serde_json::json!({})).await?;
    let event = crate::audit::AuditEvent::new(c.tenant_id, crate::audit::Actor::System, "key.ceremony_expired")
        .target("ceremony", c.id);
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Err(CeremonyError::Expired)
}

/// Approves and carries out a ceremony (a second custodian).
pub async fn approve(
    state: &Services,
    ctx: &Ctx,
    id: CeremonyId,
    password: &SecretString,
    totp: &SecretString,
) -> Result<Ceremony, CeremonyError> {
    let tenant = custodian(ctx, state, Action::ApproveKeyOperation).await?;
    let visible = load_visible(state, ctx, id).await?;
    if crate::custody::is_appointment(visible.kind) {
        if visible.state == CeremonyState::Proposed {
            expire_if_due(state, &visible, state.clock.now()).await?;
        }
        return Ok(crate::custody::approve(state, ctx, visible, password, totp).await?);
    }
    let c = load(state, tenant, id).await?;
    if c.state != CeremonyState::Proposed {
        return Err(CeremonyError::NotProposed(c.state));
    }
    expire_if_due(state, &c, state.clock.now()).await?;
    if let PrincipalId::Operator(op) = ctx.principal {
        crate::custody::operator_may_approve(state, op).await?;
    }
    crate::custody::check_cooling_off(&mut state.store.reader().await?, state, tenant, ctx.principal).await?;
    if c.proposer == ctx.principal {
        let event = ctx.event("key.ceremony_approve").denied().target("ceremony", c.id).origin(ctx.origin(state));
        state.auditor.record_now(state.clock.now(), &event).await.map_err(CeremonyError::internal)?;
        return Err(CeremonyError::SameApprover);
    }
    reauthenticate(state, ctx.principal, ctx.tenant, password, totp).await?;
    let now = state.clock.now();
    // Re-check expiry after re-authentication (argon2 takes time).
    expire_if_due(state, &c, now).await?;
    let mut tx = state.store.begin().await?;
    let executed = match tenant {
        Some(_) => execute(state, &mut tx, &c, now).await,
        None => execute_backup(state, &mut tx, &c, ctx.principal).await,
    };
    let (outcome, result) = match executed {
        Ok(result) => (CeremonyState::Completed, result),
        Err(e) if e.is_refusal() => {
            drop(tx);
            // Record the failed approval on its own; nothing of the operation happened.
            let mut tx = state.store.begin().await?;
            let result = serde_json::json!({ "error": e.to_string() });
            tx.decide_ceremony(c.id, CeremonyState::Failed, Some(ctx.principal), now, &result).await?;
            let event = ctx
                .event("key.ceremony_failed")
                .target("ceremony", c.id)
                .origin(ctx.origin(state))
                .details(serde_json::json!({ "kind": c.kind, "reason": e.to_string() }));
            state.auditor.record(&mut tx, now, &event).await?;
            tx.commit().await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    tx.decide_ceremony(c.id, outcome, Some(ctx.principal), now, &result).await?;
    let event =
        ctx.event("key.ceremony_approved").target("ceremony", c.id).origin(ctx.origin(state)).details(
            serde_json::json!({ "kind": c.kind, "proposer": c.proposer, "params": &c.params, "result": &result }),
        );
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.vault.jobs_wakeup.notify_one();
    load(state, tenant, id).await
}

/// Withdraws a proposal (any custodian of the tenant).
pub async fn cancel(state: &Services, ctx: &Ctx, id: CeremonyId) -> Result<Ceremony, CeremonyError> {
    let tenant = custodian(ctx, state, Action::ManageKeys).await?;
    let c = load(state, tenant, id).await?;
    if c.state != CeremonyState::Proposed {
        return Err(CeremonyError::NotProposed(c.state));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.decide_ceremony(c.id, CeremonyState::Cancelled, None, now, &serde_json::json!({ "by": ctx.principal })).await?;
    let event = ctx.event("key.ceremony_cancelled").target("ceremony", c.id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    load(state, tenant, id).await
}

/// What must hold for a ceremony to run.
async fn preconditions<C: VaultStore + TenantStore>(
    r: &mut C,
    tenant: TenantId,
    kind: CeremonyKind,
    params: &serde_json::Value,
) -> Result<(), CeremonyError> {
    let settings = r.encryption(tenant).await?;
    let versions = r.data_keys(tenant).await?;
    let has_active = versions.iter().any(|v| v.state == KeyState::Active);
    match kind {
        CeremonyKind::EnableEncryption => {
            if !r.tenant(tenant).await?.capabilities.encryption {
                return Err(CeremonyError::Precondition(
                    "the provider has not switched on the encryption capability for this tenant".into(),
                ));
            }
        }
        CeremonyKind::NewKey | CeremonyKind::Rewrap | CeremonyKind::Reencrypt => {
            if !has_active {
                return Err(CeremonyError::Precondition(
                    "encryption was never enabled: run enable_encryption first".into(),
                ));
            }
        }
        CeremonyKind::StopEncrypting | CeremonyKind::DecryptAll | CeremonyKind::ChangeSettings => {
            if settings.is_none() {
                return Err(CeremonyError::Precondition("encryption was never enabled for this tenant".into()));
            }
        }
        CeremonyKind::RetireVersion => {
            let version = params["version"].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            let Some(v) = versions.iter().find(|v| v.version == version) else {
                return Err(CeremonyError::Precondition(format!("data key version {version} does not exist")));
            };
            match v.state {
                KeyState::Active => {
                    return Err(CeremonyError::Precondition(format!(
                        "version {version} is the active key; generate a new key first"
                    )));
                }
                KeyState::Retired => {
                    return Err(CeremonyError::Precondition(format!("version {version} is already retired")));
                }
                KeyState::DecryptOnly => {}
            }
            let usage = r.key_usage(tenant).await?;
            if let Some((_, u)) = usage.iter().find(|(ver, _)| *ver == version).filter(|(_, u)| u.total() > 0) {
                return Err(CeremonyError::Precondition(format!(
                    "version {version} still protects {} objects, {} records and {} identifiers; rewrap or \
                     re-encrypt them first",
                    u.objects, u.records, u.identifiers
                )));
            }
        }
        CeremonyKind::KekBackup
        | CeremonyKind::AppointCustodian
        | CeremonyKind::RevokeCustodian
        | CeremonyKind::ResetCustodianCredentials
        | CeremonyKind::AppointOperatorApprover => {}
    }
    if matches!(
        kind,
        CeremonyKind::Rewrap | CeremonyKind::Reencrypt | CeremonyKind::DecryptAll | CeremonyKind::EnableEncryption
    ) {
        // One content job at a time per tenant.
        if let Some(j) = r_jobs_running(r, tenant).await? {
            return Err(CeremonyError::Precondition(format!(
                "job {j} is still running or paused; let it finish first"
            )));
        }
    }
    Ok(())
}

async fn r_jobs_running<C: VaultStore>(r: &mut C, tenant: TenantId) -> Result<Option<String>, CeremonyError> {
    Ok(r.jobs(tenant)
        .await?
        .into_iter()
        .find(|j| matches!(j.state, JobState::Running | JobState::Paused))
        .map(|j| j.id.to_string()))
}

async fn new_version(state: &Services, tx: &mut Tx, tenant: TenantId, now: Timestamp) -> Result<u32, CeremonyError> {
    let versions = tx.data_keys(tenant).await?;
    let version = next_version(&versions);
    let (_, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), version)
        .map_err(|_| CeremonyError::Internal("cannot wrap a new data key".into()))?;
    tx.insert_data_key(tenant, version, &wrapped, now).await?;
    Ok(version)
}

/// Carries out an approved ceremony inside `tx`; returns its result.
async fn execute(
    state: &Services,
    tx: &mut Tx,
    c: &Ceremony,
    now: Timestamp,
) -> Result<serde_json::Value, CeremonyError> {
    let tenant = c.tenant_id.ok_or_else(|| CeremonyError::Internal("tenant ceremony without a tenant".into()))?;
    preconditions(tx, tenant, c.kind, &c.params).await?;
    let by = c.proposer;
    Ok(match c.kind {
        CeremonyKind::EnableEncryption => {
            let revoke = c.params["revoke_existing"].as_bool().unwrap_or(false);
            let blind = match tx.encryption(tenant).await? {
                Some((_, blind)) => blind,
                None => {
                    BlindIndexKey::generate(state.vault.kek(), tenant.0.as_bytes())
                        .map_err(|_| CeremonyError::Internal("cannot wrap the blind-index key".into()))?
                        .1
                }
            };
            let mut settings = tx.encryption(tenant).await?.map_or_else(|| initial_settings(now), |(s, _)| s);
            settings.encrypt_new = true;
            settings.updated_at = now;
            tx.put_encryption(tenant, &settings, &blind).await?;
            let has_active = tx.data_keys(tenant).await?.iter().any(|v| v.state == KeyState::Active);
            // A new key when none is active or when existing keys are revoked; otherwise the
            // current key simply starts encrypting again.
            let version = if revoke || !has_active { Some(new_version(state, tx, tenant, now).await?) } else { None };
            let active =
                tx.data_keys(tenant).await?.into_iter().find(|v| v.state == KeyState::Active).map(|v| v.version);
            let mut jobs = Vec::new();
            if tx.job_totals(tenant, JobKind::EncryptAll, active).await?.0 > 0 {
                // Plain objects get encrypted; a re-encrypt job (revoke) follows after it.
                jobs.push(create_job(tx, tenant, JobKind::EncryptAll, active, by, now).await?.id);
            } else if revoke && tx.job_totals(tenant, JobKind::Reencrypt, version).await?.0 > 0 {
                jobs.push(create_job(tx, tenant, JobKind::Reencrypt, version, by, now).await?.id);
            }
            serde_json::json!({ "new_version": version, "jobs": jobs })
        }
        CeremonyKind::StopEncrypting => {
            let (mut s, blind) = tx
                .encryption(tenant)
                .await?
                .ok_or_else(|| CeremonyError::Precondition("encryption was never enabled for this tenant".into()))?;
            s.encrypt_new = false;
            s.updated_at = now;
            tx.put_encryption(tenant, &s, &blind).await?;
            serde_json::json!({ "encrypt_new": false })
        }
        CeremonyKind::NewKey => serde_json::json!({ "new_version": new_version(state, tx, tenant, now).await? }),
        CeremonyKind::Rewrap => {
            let active =
                tx.data_keys(tenant).await?.into_iter().find(|v| v.state == KeyState::Active).map(|v| v.version);
            let job = create_job(tx, tenant, JobKind::Rewrap, active, by, now).await?;
            serde_json::json!({ "job": job.id, "target_version": active })
        }
        CeremonyKind::Reencrypt => {
            let version = new_version(state, tx, tenant, now).await?;
            let job = create_job(tx, tenant, JobKind::Reencrypt, Some(version), by, now).await?;
            serde_json::json!({ "job": job.id, "new_version": version })
        }
        CeremonyKind::DecryptAll => {
            let (mut s, blind) = tx
                .encryption(tenant)
                .await?
                .ok_or_else(|| CeremonyError::Precondition("encryption was never enabled for this tenant".into()))?;
            s.encrypt_new = false;
            s.updated_at = now;
            tx.put_encryption(tenant, &s, &blind).await?;
            let job = create_job(tx, tenant, JobKind::DecryptAll, None, by, now).await?;
            serde_json::json!({ "job": job.id, "encrypt_new": false })
        }
        CeremonyKind::ChangeSettings => {
            let patch: EncryptionSettingsPatch =
                serde_json::from_value(c.params.clone()).map_err(CeremonyError::internal)?;
            let (mut s, blind) = tx
                .encryption(tenant)
                .await?
                .ok_or_else(|| CeremonyError::Precondition("encryption was never enabled for this tenant".into()))?;
            if let Some(d) = patch.cryptoperiod_days {
                s.cryptoperiod_days = d;
            }
            if let Some(d) = patch.reminder_days {
                s.reminder_days = d;
            }
            if let Some(d) = patch.auto_rotate_days {
                s.auto_rotate_days = (d > 0).then_some(d);
            }
            s.updated_at = now;
            tx.put_encryption(tenant, &s, &blind).await?;
            serde_json::to_value(&s).map_err(CeremonyError::internal)?
        }
        CeremonyKind::RetireVersion => {
            let version = c.params["version"].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            tx.retire_data_key(tenant, version, now).await?;
            state.vault.forget(tenant, version);
            serde_json::json!({ "retired_version": version })
        }
        CeremonyKind::KekBackup => {
            return Err(CeremonyError::InvalidParams("kek_backup is a provider ceremony".into()));
        }
        CeremonyKind::AppointCustodian
        | CeremonyKind::RevokeCustodian
        | CeremonyKind::ResetCustodianCredentials
        | CeremonyKind::AppointOperatorApprover => {
            return Err(CeremonyError::Internal("an appointment ceremony reached the key-operation path".into()));
        }
    })
}

/// Splits the KEK into Shamir shares, one per custodian, each kept KEK-wrapped until its
/// custodian picks it up once.
async fn execute_backup(
    state: &Services,
    tx: &mut Tx,
    c: &Ceremony,
    approver: PrincipalId,
) -> Result<serde_json::Value, CeremonyError> {
    backup_supported(state)?;
    let p: BackupParams = serde_json::from_value(c.params.clone()).map_err(CeremonyError::internal)?;
    let mut custodians = Vec::new();
    if p.custodians.is_empty() {
        custodians.extend([c.proposer, approver]);
    } else {
        for login in &p.custodians {
            let id = tx.operator_by_login(login).await.map_err(|_| {
                CeremonyError::InvalidParams(format!(
                    "custodians: no operator `{}`",
                    login.chars().take(64).collect::<String>()
                ))
            })?;
            custodians.push(PrincipalId::Operator(id));
        }
    }
    let mut distinct = custodians.clone();
    distinct.sort_by_key(|p| p.to_string());
    distinct.dedup();
    if distinct.len() != custodians.len() {
        return Err(CeremonyError::InvalidParams("custodians: each operator once".into()));
    }
    let n = u8::try_from(custodians.len()).map_err(|_| CeremonyError::InvalidParams("too many custodians".into()))?;
    let key = state
        .vault
        .kek()
        .export_for_backup()
        .ok_or_else(|| CeremonyError::Precondition("the KEK cannot be exported".into()))?;
    let shares = callvault_crypto::shamir::split(&key, p.threshold, n)
        .map_err(|e| CeremonyError::InvalidParams(e.to_string()))?;
    for (custodian, share) in custodians.iter().zip(&shares) {
        let wrapped = state
            .vault
            .kek()
            .wrap(&share_aad(c.id, *custodian), share.expose().as_bytes())
            .map_err(|_| CeremonyError::Internal("cannot wrap a share".into()))?;
        tx.insert_share(c.id, *custodian, &wrapped).await?;
        // What unseal will accept: the share's digest, this backup, its threshold.
        let digest = hex::encode(callvault_crypto::digest::sha256(share.expose().as_bytes()));
        tx.insert_kek_share(&digest, &c.id.to_string(), p.threshold, state.clock.now()).await?;
    }
    Ok(serde_json::json!({
        "threshold": p.threshold,
        "shares": n,
        "custodians": custodians,
        "pickup": format!("POST /v1/key-ceremonies/{}/share (each custodian once, with password and TOTP)", c.id),
    }))
}

/// Hands a custodian their share of a completed KEK backup, once.
pub async fn pickup_share(
    state: &Services,
    ctx: &Ctx,
    id: CeremonyId,
    password: &SecretString,
    totp: &SecretString,
) -> Result<String, CeremonyError> {
    let tenant = custodian(ctx, state, Action::ManageKeys).await?;
    let c = load(state, tenant, id).await?;
    if c.kind != CeremonyKind::KekBackup || c.state != CeremonyState::Completed {
        return Err(CeremonyError::Precondition("only a completed kek_backup ceremony has shares".into()));
    }
    let status = state.store.reader().await?.share_status(id).await?;
    match status.iter().find(|(p, _)| *p == ctx.principal) {
        None => {
            return Err(CeremonyError::NoShareForYou);
        }
        Some((_, Some(_))) => return Err(CeremonyError::SharePickedUp),
        Some((_, None)) => {}
    }
    reauthenticate(state, ctx.principal, ctx.tenant, password, totp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let wrapped = tx.take_share(id, ctx.principal, now).await?.ok_or_else(|| CeremonyError::SharePickedUp)?;
    let share = state
        .vault
        .kek()
        .unwrap(&share_aad(id, ctx.principal), &wrapped)
        .map_err(|_| CeremonyError::Internal("a share does not unwrap".into()))?;
    let event = ctx.event("kek.share_picked_up").target("ceremony", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    String::from_utf8(share.expose().to_vec()).map_err(|_| CeremonyError::Internal("a share is not text".into()))
}
