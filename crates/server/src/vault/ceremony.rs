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
use callvault_store::{IdentityStore, TenantStore, Tx, VaultStore};
use serde::{Deserialize, Serialize};

use super::jobs::create_job;
use super::{initial_settings, next_version};
use crate::auth::Ctx;
use crate::error::ApiError;
use crate::identity::reauthenticate;
use crate::state::AppState;

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

fn parse<T: for<'de> Deserialize<'de> + Default>(params: &serde_json::Value) -> Result<T, ApiError> {
    if params.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(params.clone()).map_err(|e| ApiError::invalid(format!("params: {e}")))
}

/// Checks a proposal's parameters; returns them normalised.
fn validate(kind: CeremonyKind, params: &serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let empty = || {
        if params.is_null() || params.as_object().is_some_and(|o| o.is_empty()) {
            Ok(serde_json::json!({}))
        } else {
            Err(ApiError::invalid(format!("{kind} takes no parameters")))
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
                return Err(ApiError::invalid("cryptoperiod_days must be 30..=3650"));
            }
            if p.reminder_days.is_some_and(|d| !(1..=90).contains(&d)) {
                return Err(ApiError::invalid("reminder_days must be 1..=90"));
            }
            if p.auto_rotate_days.is_some_and(|d| d > 3650) {
                return Err(ApiError::invalid("auto_rotate_days must be 0 (off) ..=3650"));
            }
            if p == EncryptionSettingsPatch::default() {
                return Err(ApiError::invalid("change_settings needs at least one setting"));
            }
            serde_json::to_value(p).map_err(ApiError::internal)
        }
        CeremonyKind::RetireVersion => {
            let p: RetireParams = parse(params)?;
            if p.version == 0 {
                return Err(ApiError::invalid("retire_version needs params.version"));
            }
            Ok(serde_json::json!({ "version": p.version }))
        }
        CeremonyKind::KekBackup => {
            let p: BackupParams = parse(params)?;
            let n = if p.custodians.is_empty() { 2 } else { p.custodians.len() };
            if n > usize::from(callvault_crypto::shamir::MAX_SHARES) || n < 2 {
                return Err(ApiError::invalid("custodians: 2..=9 operator logins (or none for the two participants)"));
            }
            if p.threshold < 2 || usize::from(p.threshold) > n {
                return Err(ApiError::invalid(format!("threshold must be 2..={n}")));
            }
            serde_json::to_value(p).map_err(ApiError::internal)
        }
        CeremonyKind::StopEncrypting
        | CeremonyKind::NewKey
        | CeremonyKind::Rewrap
        | CeremonyKind::Reencrypt
        | CeremonyKind::DecryptAll => empty(),
        CeremonyKind::AppointCustodian | CeremonyKind::RevokeCustodian => Err(ApiError::invalid(format!(
            "{kind} is proposed by granting or removing the role: POST /v1/grants, DELETE /v1/grants/{{id}}"
        ))),
        CeremonyKind::ResetCustodianCredentials => Err(ApiError::invalid(
            "a custodian's credentials are reset with PUT /v1/users/{id}/password or DELETE /v1/users/{id}/totp",
        )),
        CeremonyKind::AppointOperatorApprover => {
            Err(ApiError::invalid("appoint_operator_approver is proposed with POST /v1/operators/{id}/approver"))
        }
    }
}

/// The caller's key scope: its tenant, or `None` for provider operators (custodians of the KEK).
pub async fn custodian(ctx: &Ctx, state: &AppState, action: Action) -> Result<Option<TenantId>, ApiError> {
    let tenant = ctx.tenant;
    let scope = tenant.unwrap_or(TenantId(uuid::Uuid::nil()));
    ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Key, scope)).await?;
    Ok(tenant)
}

fn kind_fits(tenant: Option<TenantId>, kind: CeremonyKind) -> Result<(), ApiError> {
    match (tenant.is_some(), kind == CeremonyKind::KekBackup) {
        (false, true) | (true, false) => Ok(()),
        (false, false) => Err(ApiError::invalid(
            "provider operators run kek_backup; tenant key operations belong to the tenant's custodians",
        )),
        (true, true) => Err(ApiError::invalid("kek_backup is a provider ceremony of two operators")),
    }
}

fn share_aad(ceremony: CeremonyId, custodian: PrincipalId) -> Vec<u8> {
    format!("callvault:kek-share:{ceremony}:{custodian}").into_bytes()
}

/// A new proposal by the caller, expiring after `ceremony_lifetime_secs`.
pub(crate) fn proposal(
    state: &AppState,
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
    state: &AppState,
    ctx: &Ctx,
    kind: CeremonyKind,
    params: &serde_json::Value,
    password: &SecretString,
    totp: &SecretString,
) -> Result<Ceremony, ApiError> {
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

fn backup_supported(state: &AppState) -> Result<(), ApiError> {
    if state.vault.kek().export_for_backup().is_none() {
        return Err(ApiError::conflict(format!(
            "the KEK ({}) never leaves its HSM; back it up with the HSM's own key backup",
            state.vault.kek().describe()
        )));
    }
    Ok(())
}

/// A ceremony of the caller's scope.
pub async fn load(state: &AppState, tenant: Option<TenantId>, id: CeremonyId) -> Result<Ceremony, ApiError> {
    let c = state.store.reader().await?.ceremony(id).await.map_err(|e| ApiError::from_store(e, "ceremony"))?;
    if c.tenant_id != tenant {
        return Err(ApiError::not_found("ceremony"));
    }
    Ok(c)
}

/// A ceremony the caller may see: its own tenant's or provider's, or a tenant's custodian
/// appointment that a provider operator is to approve.
pub async fn load_visible(state: &AppState, ctx: &Ctx, id: CeremonyId) -> Result<Ceremony, ApiError> {
    let c = state.store.reader().await?.ceremony(id).await.map_err(|e| ApiError::from_store(e, "ceremony"))?;
    if crate::custody::visible_to(state, ctx, &c).await? { Ok(c) } else { Err(ApiError::not_found("ceremony")) }
}

async fn expire_if_due(state: &AppState, c: &Ceremony, now: Timestamp) -> Result<(), ApiError> {
    if now.millis() <= c.expires_at.millis() {
        return Ok(());
    }
    let mut tx = state.store.begin().await?;
    tx.decide_ceremony(c.id, CeremonyState::Expired, None, now, &serde_json::json!({})).await?;
    let event = crate::audit::AuditEvent::new(c.tenant_id, crate::audit::Actor::System, "key.ceremony_expired")
        .target("ceremony", c.id);
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Err(ApiError::gone("the ceremony expired before a second custodian approved it; propose it again"))
}

/// Approves and carries out a ceremony (a second custodian).
pub async fn approve(
    state: &AppState,
    ctx: &Ctx,
    id: CeremonyId,
    password: &SecretString,
    totp: &SecretString,
) -> Result<Ceremony, ApiError> {
    let tenant = custodian(ctx, state, Action::ApproveKeyOperation).await?;
    let visible = load_visible(state, ctx, id).await?;
    if crate::custody::is_appointment(visible.kind) {
        if visible.state == CeremonyState::Proposed {
            expire_if_due(state, &visible, state.clock.now()).await?;
        }
        return crate::custody::approve(state, ctx, visible, password, totp).await;
    }
    let c = load(state, tenant, id).await?;
    if c.state != CeremonyState::Proposed {
        return Err(ApiError::conflict(format!("the ceremony is {}, not proposed", c.state)));
    }
    expire_if_due(state, &c, state.clock.now()).await?;
    if let PrincipalId::Operator(op) = ctx.principal {
        crate::custody::operator_may_approve(state, op).await?;
    }
    crate::custody::check_cooling_off(&mut state.store.reader().await?, state, tenant, ctx.principal).await?;
    if c.proposer == ctx.principal {
        let event = ctx.event("key.ceremony_approve").denied().target("ceremony", c.id).origin(ctx.origin(state));
        state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
        return Err(ApiError::forbidden_kind(
            "dual-control",
            "Dual control",
            "the custodian who proposed a key operation cannot approve it; a second custodian must",
        ));
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
        Err(e) if e.status().is_client_error() => {
            drop(tx);
            // Record the failed approval on its own; nothing of the operation happened.
            let mut tx = state.store.begin().await?;
            let result = serde_json::json!({ "error": e.detail() });
            tx.decide_ceremony(c.id, CeremonyState::Failed, Some(ctx.principal), now, &result).await?;
            let event = ctx
                .event("key.ceremony_failed")
                .target("ceremony", c.id)
                .origin(ctx.origin(state))
                .details(serde_json::json!({ "kind": c.kind, "reason": e.detail() }));
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
pub async fn cancel(state: &AppState, ctx: &Ctx, id: CeremonyId) -> Result<Ceremony, ApiError> {
    let tenant = custodian(ctx, state, Action::ManageKeys).await?;
    let c = load(state, tenant, id).await?;
    if c.state != CeremonyState::Proposed {
        return Err(ApiError::conflict(format!("the ceremony is {}, not proposed", c.state)));
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
) -> Result<(), ApiError> {
    let settings = r.encryption(tenant).await?;
    let versions = r.data_keys(tenant).await?;
    let has_active = versions.iter().any(|v| v.state == KeyState::Active);
    match kind {
        CeremonyKind::EnableEncryption => {
            if !r.tenant(tenant).await?.capabilities.encryption {
                return Err(ApiError::conflict(
                    "the provider has not switched on the encryption capability for this tenant",
                ));
            }
        }
        CeremonyKind::NewKey | CeremonyKind::Rewrap | CeremonyKind::Reencrypt => {
            if !has_active {
                return Err(ApiError::conflict("encryption was never enabled: run enable_encryption first"));
            }
        }
        CeremonyKind::StopEncrypting | CeremonyKind::DecryptAll | CeremonyKind::ChangeSettings => {
            if settings.is_none() {
                return Err(ApiError::conflict("encryption was never enabled for this tenant"));
            }
        }
        CeremonyKind::RetireVersion => {
            let version = params["version"].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            let Some(v) = versions.iter().find(|v| v.version == version) else {
                return Err(ApiError::conflict(format!("data key version {version} does not exist")));
            };
            match v.state {
                KeyState::Active => {
                    return Err(ApiError::conflict(format!(
                        "version {version} is the active key; generate a new key first"
                    )));
                }
                KeyState::Retired => return Err(ApiError::conflict(format!("version {version} is already retired"))),
                KeyState::DecryptOnly => {}
            }
            let usage = r.key_usage(tenant).await?;
            if let Some((_, u)) = usage.iter().find(|(ver, _)| *ver == version).filter(|(_, u)| u.total() > 0) {
                return Err(ApiError::conflict(format!(
                    "version {version} still protects {} objects and {} records; rewrap or re-encrypt them first",
                    u.objects, u.records
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
            return Err(ApiError::conflict(format!("job {j} is still running or paused; let it finish first")));
        }
    }
    Ok(())
}

async fn r_jobs_running<C: VaultStore>(r: &mut C, tenant: TenantId) -> Result<Option<String>, ApiError> {
    Ok(r.jobs(tenant)
        .await?
        .into_iter()
        .find(|j| matches!(j.state, JobState::Running | JobState::Paused))
        .map(|j| j.id.to_string()))
}

async fn new_version(state: &AppState, tx: &mut Tx, tenant: TenantId, now: Timestamp) -> Result<u32, ApiError> {
    let versions = tx.data_keys(tenant).await?;
    let version = next_version(&versions);
    let (_, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), version)
        .map_err(|_| ApiError::internal("cannot wrap a new data key"))?;
    tx.insert_data_key(tenant, version, &wrapped, now).await?;
    Ok(version)
}

/// Carries out an approved ceremony inside `tx`; returns its result.
async fn execute(state: &AppState, tx: &mut Tx, c: &Ceremony, now: Timestamp) -> Result<serde_json::Value, ApiError> {
    let tenant = c.tenant_id.ok_or_else(|| ApiError::internal("tenant ceremony without a tenant"))?;
    preconditions(tx, tenant, c.kind, &c.params).await?;
    let by = c.proposer;
    Ok(match c.kind {
        CeremonyKind::EnableEncryption => {
            let revoke = c.params["revoke_existing"].as_bool().unwrap_or(false);
            let blind = match tx.encryption(tenant).await? {
                Some((_, blind)) => blind,
                None => {
                    BlindIndexKey::generate(state.vault.kek(), tenant.0.as_bytes())
                        .map_err(|_| ApiError::internal("cannot wrap the blind-index key"))?
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
            let (mut s, blind) = tx.encryption(tenant).await?.ok_or_else(|| ApiError::conflict("not enabled"))?;
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
            let (mut s, blind) = tx.encryption(tenant).await?.ok_or_else(|| ApiError::conflict("not enabled"))?;
            s.encrypt_new = false;
            s.updated_at = now;
            tx.put_encryption(tenant, &s, &blind).await?;
            let job = create_job(tx, tenant, JobKind::DecryptAll, None, by, now).await?;
            serde_json::json!({ "job": job.id, "encrypt_new": false })
        }
        CeremonyKind::ChangeSettings => {
            let patch: EncryptionSettingsPatch =
                serde_json::from_value(c.params.clone()).map_err(ApiError::internal)?;
            let (mut s, blind) = tx.encryption(tenant).await?.ok_or_else(|| ApiError::conflict("not enabled"))?;
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
            serde_json::to_value(&s).map_err(ApiError::internal)?
        }
        CeremonyKind::RetireVersion => {
            let version = c.params["version"].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            tx.retire_data_key(tenant, version, now).await?;
            state.vault.forget(tenant, version);
            serde_json::json!({ "retired_version": version })
        }
        CeremonyKind::KekBackup => return Err(ApiError::invalid("kek_backup is a provider ceremony")),
        CeremonyKind::AppointCustodian
        | CeremonyKind::RevokeCustodian
        | CeremonyKind::ResetCustodianCredentials
        | CeremonyKind::AppointOperatorApprover => {
            return Err(ApiError::internal("an appointment ceremony reached the key-operation path"));
        }
    })
}

/// Splits the KEK into Shamir shares, one per custodian, each kept KEK-wrapped until its
/// custodian picks it up once.
async fn execute_backup(
    state: &AppState,
    tx: &mut Tx,
    c: &Ceremony,
    approver: PrincipalId,
) -> Result<serde_json::Value, ApiError> {
    backup_supported(state)?;
    let p: BackupParams = serde_json::from_value(c.params.clone()).map_err(ApiError::internal)?;
    let mut custodians = Vec::new();
    if p.custodians.is_empty() {
        custodians.extend([c.proposer, approver]);
    } else {
        for login in &p.custodians {
            let id = tx.operator_by_login(login).await.map_err(|_| {
                ApiError::invalid(format!("custodians: no operator `{}`", login.chars().take(64).collect::<String>()))
            })?;
            custodians.push(PrincipalId::Operator(id));
        }
    }
    let mut distinct = custodians.clone();
    distinct.sort_by_key(|p| p.to_string());
    distinct.dedup();
    if distinct.len() != custodians.len() {
        return Err(ApiError::invalid("custodians: each operator once"));
    }
    let n = u8::try_from(custodians.len()).map_err(|_| ApiError::invalid("too many custodians"))?;
    let key = state.vault.kek().export_for_backup().ok_or_else(|| ApiError::conflict("the KEK cannot be exported"))?;
    let shares = callvault_crypto::shamir::split(&key, p.threshold, n).map_err(|e| ApiError::invalid(e.to_string()))?;
    for (custodian, share) in custodians.iter().zip(&shares) {
        let wrapped = state
            .vault
            .kek()
            .wrap(&share_aad(c.id, *custodian), share.expose().as_bytes())
            .map_err(|_| ApiError::internal("cannot wrap a share"))?;
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
    state: &AppState,
    ctx: &Ctx,
    id: CeremonyId,
    password: &SecretString,
    totp: &SecretString,
) -> Result<String, ApiError> {
    let tenant = custodian(ctx, state, Action::ManageKeys).await?;
    let c = load(state, tenant, id).await?;
    if c.kind != CeremonyKind::KekBackup || c.state != CeremonyState::Completed {
        return Err(ApiError::conflict("only a completed kek_backup ceremony has shares"));
    }
    let status = state.store.reader().await?.share_status(id).await?;
    match status.iter().find(|(p, _)| *p == ctx.principal) {
        None => {
            return Err(ApiError::forbidden_kind(
                "not-a-custodian",
                "Not a custodian",
                "this backup has no share for you",
            ));
        }
        Some((_, Some(_))) => return Err(ApiError::gone("your share was already picked up; it is shown once")),
        Some((_, None)) => {}
    }
    reauthenticate(state, ctx.principal, ctx.tenant, password, totp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let wrapped = tx
        .take_share(id, ctx.principal, now)
        .await?
        .ok_or_else(|| ApiError::gone("your share was already picked up; it is shown once"))?;
    let share = state
        .vault
        .kek()
        .unwrap(&share_aad(id, ctx.principal), &wrapped)
        .map_err(|_| ApiError::internal("a share does not unwrap"))?;
    let event = ctx.event("kek.share_picked_up").target("ceremony", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    String::from_utf8(share.expose().to_vec()).map_err(|_| ApiError::internal("a share is not text"))
}
