//! Separation of duties and the appointment of custodians under dual control.
//!
//! The rules are pure (`callvault_policy::duties`); this module applies them to the store:
//! - a grant that would give one person two conflicting classes of privileges is refused with the
//!   reason ([`check_grant`]), and so is a role change that would give any holder such a pair;
//! - granting or revoking a role that carries key custody or personal data, and resetting the
//!   password or second factor of a holder of one, is a ceremony ([`propose`]) that a second
//!   person approves ([`approve`]): an existing custodian of the tenant past their cooling-off
//!   time, or — while the tenant has fewer than two key custodians — a provider operator who may
//!   approve. Nobody proposes or approves a ceremony about themself, and whoever created the
//!   candidate's account or last set its credentials cannot propose it;
//! - the provider operators who may approve provider ceremonies are a set changed the same way.

use callvault_crypto::token::new_token;
use callvault_model::access::{Action, Privilege, Resource, Scope};
use callvault_model::records::{Grant, Grantee, Timestamp};
use callvault_model::vault::{Ceremony, CeremonyKind, CeremonyState};
use callvault_model::{GrantId, OperatorId, PrincipalId, RoleId, SecretString, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::duties::{self, Appointment};
use callvault_store::prelude::*;
use callvault_store::{AccountControl, CredentialOwner, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::caller::AccessError;
use crate::caller::Ctx;
use crate::identity::{IdentityError, reauthenticate};
use crate::services::Services;

/// Whether a ceremony kind appoints, removes or resets a custodian (the kinds of this module).
pub fn is_appointment(kind: CeremonyKind) -> bool {
    matches!(
        kind,
        CeremonyKind::AppointCustodian
            | CeremonyKind::RevokeCustodian
            | CeremonyKind::ResetCustodianCredentials
            | CeremonyKind::AppointOperatorApprover
    )
}

/// Why a grant, role change, appointment or its approval was refused.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    /// One person would hold two conflicting classes of privileges.
    #[error("{0}")]
    SeparationOfDuties(duties::Conflict),
    /// Dual control refuses this person or this path (the text says why).
    #[error("{0}")]
    DualControl(String),
    /// A newly appointed custodian may approve only after the cooling-off time.
    #[error(
        "a newly appointed custodian may approve ceremonies only after the cooling-off time \
         (custodian_cooling_off_secs): from {until}"
    )]
    CoolingOff {
        /// When the approver may approve.
        until: Timestamp,
    },
    /// No such ceremony visible to the caller.
    #[error("no such ceremony")]
    NoSuchCeremony,
    /// The ceremony was decided already.
    #[error("the ceremony is {0}, not proposed")]
    NotProposed(CeremonyState),
    /// The ceremony expired before a second person approved it.
    #[error("the ceremony expired before a second person approved it; propose it again")]
    Expired,
    /// A row the ceremony names is missing or in use.
    #[error("{what}: {error}")]
    Row {
        /// What the row is (`role`, `grant`, …).
        what: &'static str,
        /// What the store said.
        error: StoreError,
    },
    /// The approver's re-authentication or a credential failed.
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
    /// A stored ceremony is inconsistent, or hashing failed.
    #[error("{0}")]
    Internal(String),
}

impl CustodyError {
    fn internal(e: impl std::fmt::Display) -> Self {
        CustodyError::Internal(e.to_string())
    }

    fn row(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |error| CustodyError::Row { what, error }
    }
}

/// The refusal of a grant or role change that would give someone a conflict.
pub fn refused(conflict: &duties::Conflict) -> CustodyError {
    CustodyError::SeparationOfDuties(*conflict)
}

fn refused_appointment(e: duties::AppointmentRefusal) -> CustodyError {
    CustodyError::DualControl(e.to_string())
}

/// Refuses a grant of `privileges` to `grantee` that, with the grantee's other grants, would
/// hold a conflict.
pub async fn check_grant<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    grantee: Grantee,
    privileges: &[Privilege],
) -> Result<(), CustodyError> {
    let held = r.grants_with_roles(tenant, grantee).await?;
    let all = held.iter().flat_map(|(_, role)| role.privileges.iter()).chain(privileges);
    match duties::conflicts_among(all) {
        Some(c) => Err(refused(c)),
        None => Ok(()),
    }
}

/// Refuses new privileges for a role when any holder would then hold a conflict, or when the
/// role would start carrying custody while granted (custodians are appointed by ceremony).
pub async fn check_role_change<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    role: RoleId,
    old: &[Privilege],
    new: &[Privilege],
) -> Result<(), CustodyError> {
    if let Some(c) = duties::conflicts_among(new) {
        return Err(refused(c));
    }
    let grants: Vec<Grant> = r.grants(tenant).await?.into_iter().filter(|g| g.role_id == role).collect();
    if grants.is_empty() {
        return Ok(());
    }
    if duties::is_custodial(new) && !duties::is_custodial(old) {
        return Err(CustodyError::DualControl(
            "this role is granted and the change would make its holders custodians without a ceremony; create a \
             new role and appoint each custodian (POST /v1/grants proposes the ceremony)"
                .into(),
        ));
    }
    for g in grants {
        let others = r.grants_with_roles(tenant, g.grantee).await?;
        let all = others.iter().filter(|(o, _)| o.role_id != role).flat_map(|(_, r)| r.privileges.iter()).chain(new);
        if let Some(c) = duties::conflicts_among(all) {
            return Err(refused(c));
        }
    }
    Ok(())
}

/// Whether `user` holds a custodial role in `tenant` (their credentials are reset by ceremony).
pub async fn is_custodian<C: IdentityStore>(r: &mut C, tenant: TenantId, user: UserId) -> Result<bool, CustodyError> {
    let held = r.grants_with_roles(tenant, Grantee::User(user)).await?;
    Ok(held.iter().any(|(_, role)| duties::is_custodial(&role.privileges)))
}

/// The users of a tenant who hold key custody (`key:approve_key_operation`).
pub async fn key_custodians<C: IdentityStore>(r: &mut C, tenant: TenantId) -> Result<Vec<UserId>, CustodyError> {
    let roles = r.roles(tenant).await?;
    let custody: Vec<RoleId> = roles
        .iter()
        .filter(|role| {
            role.privileges.iter().any(|p| p.resource == Resource::Key && p.action == Action::ApproveKeyOperation)
        })
        .map(|role| role.id)
        .collect();
    Ok(crate::identity::users_with_grants(r, tenant, |g| custody.contains(&g.role_id)).await?)
}

/// When `who` was last appointed by a completed ceremony (`None`: appointed at set-up).
pub async fn appointed_at<C: VaultStore>(
    r: &mut C,
    tenant: Option<TenantId>,
    who: PrincipalId,
) -> Result<Option<i64>, CustodyError> {
    let kind = if tenant.is_some() { CeremonyKind::AppointCustodian } else { CeremonyKind::AppointOperatorApprover };
    let who = who.to_string();
    Ok(r.ceremonies(tenant)
        .await?
        .into_iter()
        .filter(|c| c.kind == kind && c.state == CeremonyState::Completed && c.params["candidate"] == who.as_str())
        .filter_map(|c| c.decided_at.map(|t| t.millis()))
        .max())
}

/// Refuses an approval by a custodian still in their cooling-off time.
pub async fn check_cooling_off<C: VaultStore>(
    r: &mut C,
    state: &Services,
    tenant: Option<TenantId>,
    approver: PrincipalId,
) -> Result<(), CustodyError> {
    let since = appointed_at(r, tenant, approver).await?;
    let cooling_ms = state.config.custodian_cooling_off_secs.saturating_mul(1000);
    let now = state.clock.now().millis();
    if duties::may_approve_after_cooling_off(since, now, cooling_ms) {
        return Ok(());
    }
    let until = Timestamp(since.unwrap_or(now).saturating_add(cooling_ms));
    Err(CustodyError::CoolingOff { until })
}

/// What an appointment ceremony is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "subject", rename_all = "snake_case")]
pub enum Subject {
    /// Grant a custodial role.
    Grant {
        /// The holder.
        grantee: Grantee,
        /// The role.
        role_id: RoleId,
        /// Its name, for the approver.
        role_name: String,
        /// Where it applies.
        scope: Scope,
    },
    /// Remove a custodial grant.
    Revoke {
        /// The grant.
        grant_id: GrantId,
        /// Its role's name.
        role_name: String,
    },
    /// Reset a custodian's credentials.
    Reset {
        /// Whose.
        user_id: UserId,
        /// `password` (a temporary password is shown once to the approver) or `totp`.
        what: ResetWhat,
    },
    /// Add an operator to the approvers.
    Operator {
        /// The operator.
        operator_id: OperatorId,
    },
}

/// Which credential a reset replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetWhat {
    /// The password: a temporary one, shown once to the approver.
    Password,
    /// The second factor: removed, so the holder enrols again.
    Totp,
}

impl Subject {
    fn kind(&self) -> CeremonyKind {
        match self {
            Subject::Grant { .. } => CeremonyKind::AppointCustodian,
            Subject::Revoke { .. } => CeremonyKind::RevokeCustodian,
            Subject::Reset { .. } => CeremonyKind::ResetCustodianCredentials,
            Subject::Operator { .. } => CeremonyKind::AppointOperatorApprover,
        }
    }
}

fn owner_of(tenant: Option<TenantId>, candidate: PrincipalId) -> Result<CredentialOwner, CustodyError> {
    Ok(crate::identity::credential_owner(candidate, tenant)?)
}

/// Proposes an appointment, revocation or reset about `candidate`. The proposal records who
/// created the candidate and who last set their credentials, so the approver sees them.
pub async fn propose(
    state: &Services,
    ctx: &Ctx,
    candidate: PrincipalId,
    subject: Subject,
) -> Result<Ceremony, CustodyError> {
    let tenant = ctx.tenant;
    let mut tx = state.store.begin().await?;
    let control = tx.account_control(owner_of(tenant, candidate)?).await.unwrap_or_default();
    let appointment = appointment(ctx.principal, candidate, control);
    if appoints(&subject) {
        duties::check_proposal(&appointment).map_err(refused_appointment)?;
    } else if ctx.principal == candidate {
        return Err(refused_appointment(duties::AppointmentRefusal::AboutThemself));
    }
    let now = state.clock.now();
    let kind = subject.kind();
    let mut params = serde_json::to_value(&subject).map_err(CustodyError::internal)?;
    params["candidate"] = serde_json::json!(candidate.to_string());
    params["candidate_created_by"] = serde_json::json!(control.created_by.map(|p| p.to_string()));
    params["credentials_last_set_by"] = serde_json::json!(control.credentials_set_by.map(|p| p.to_string()));
    if let Some(t) = tenant {
        let custodians = key_custodians(&mut tx, t).await?;
        params["approved_by"] = serde_json::json!(if custodians.len() < 2 {
            "a provider operator (the tenant has fewer than two key custodians)"
        } else {
            "another key custodian of the tenant"
        });
    }
    let c = crate::vault::ceremony::proposal(state, ctx, tenant, kind, params, now);
    tx.insert_ceremony(&c).await?;
    let event = ctx
        .event("custody.ceremony_proposed")
        .target("ceremony", c.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "kind": kind, "params": &c.params }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(c)
}

/// Whether a ceremony gives someone custody (the sock-puppet rules apply), rather than taking it
/// away or resetting credentials (where only "never about oneself" and "two people" apply).
fn appoints(subject: &Subject) -> bool {
    matches!(subject, Subject::Grant { .. } | Subject::Operator { .. })
}

fn appointment(proposer: PrincipalId, candidate: PrincipalId, control: AccountControl) -> Appointment {
    Appointment {
        proposer,
        candidate,
        candidate_created_by: control.created_by,
        credentials_last_set_by: control.credentials_set_by,
    }
}

fn principal_param(c: &Ceremony, key: &str) -> Option<PrincipalId> {
    c.params[key].as_str().and_then(|s| s.parse().ok())
}

/// Whether `ctx` may see (and so approve) ceremony `c`: the tenant's own custodians, or provider
/// operators for provider ceremonies and for tenant appointments they are to approve.
pub async fn visible_to(state: &Services, ctx: &Ctx, c: &Ceremony) -> Result<bool, CustodyError> {
    Ok(match (ctx.tenant, c.tenant_id) {
        (Some(mine), Some(theirs)) => mine == theirs,
        (None, None) => true,
        (None, Some(tenant)) => {
            is_appointment(c.kind) && key_custodians(&mut state.store.reader().await?, tenant).await?.len() < 2
        }
        (Some(_), None) => false,
    })
}

/// Approves and carries out an appointment ceremony. Returns the ceremony; a password reset adds
/// `temporary_password` to the returned result only (it is stored nowhere in clear).
pub async fn approve(
    state: &Services,
    ctx: &Ctx,
    c: Ceremony,
    password: &SecretString,
    totp: &SecretString,
) -> Result<Ceremony, CustodyError> {
    let subject: Subject = serde_json::from_value(c.params.clone()).map_err(CustodyError::internal)?;
    let candidate =
        principal_param(&c, "candidate").ok_or_else(|| CustodyError::Internal("ceremony without candidate".into()))?;
    let deny = |detail: &str| CustodyError::DualControl(detail.to_owned());
    // Who may approve.
    match (c.tenant_id, ctx.principal) {
        (Some(tenant), PrincipalId::User(_)) if ctx.tenant == Some(tenant) => {
            let custodians = key_custodians(&mut state.store.reader().await?, tenant).await?;
            if custodians.len() < 2 {
                return Err(deny(
                    "the tenant has fewer than two key custodians: a provider operator approves its custodian \
                     appointments",
                ));
            }
            ctx.authorize(state, Action::ApproveKeyOperation, &ResourceRef::tenant_wide(Resource::Key, tenant)).await?;
        }
        (Some(tenant), PrincipalId::Operator(op)) => {
            if key_custodians(&mut state.store.reader().await?, tenant).await?.len() >= 2 {
                return Err(CustodyError::NoSuchCeremony);
            }
            operator_may_approve(state, op).await?;
        }
        (None, PrincipalId::Operator(op)) => operator_may_approve(state, op).await?,
        _ => return Err(CustodyError::NoSuchCeremony),
    }
    if c.state != CeremonyState::Proposed {
        return Err(CustodyError::NotProposed(c.state));
    }
    let control = AccountControl {
        created_by: principal_param(&c, "candidate_created_by"),
        credentials_set_by: principal_param(&c, "credentials_last_set_by"),
    };
    let check = if appoints(&subject) {
        duties::check_appointment(&appointment(c.proposer, candidate, control), ctx.principal)
    } else if ctx.principal == candidate {
        Err(duties::AppointmentRefusal::AboutThemself)
    } else if ctx.principal == c.proposer {
        Err(duties::AppointmentRefusal::SameApprover)
    } else {
        Ok(())
    };
    if let Err(e) = check {
        let event = ctx.event("custody.ceremony_approve").denied().target("ceremony", c.id).origin(ctx.origin(state));
        state.auditor.record_now(state.clock.now(), &event).await.map_err(CustodyError::internal)?;
        return Err(refused_appointment(e));
    }
    check_cooling_off(
        &mut state.store.reader().await?,
        state,
        c.tenant_id.filter(|_| ctx.tenant.is_some()),
        ctx.principal,
    )
    .await?;
    if state.clock.now().millis() > c.expires_at.millis() {
        return Err(CustodyError::Expired);
    }
    reauthenticate(state, ctx.principal, ctx.tenant, password, totp).await?;
    let now = state.clock.now();
    if now.millis() > c.expires_at.millis() {
        return Err(CustodyError::Expired);
    }
    let mut tx = state.store.begin().await?;
    let (result, secret) = execute(&mut tx, &c, &subject, candidate, ctx.principal, now).await?;
    tx.decide_ceremony(c.id, CeremonyState::Completed, Some(ctx.principal), now, &result).await?;
    let event =
        ctx.event("custody.ceremony_approved").target("ceremony", c.id).origin(ctx.origin(state)).details(
            serde_json::json!({ "kind": c.kind, "proposer": c.proposer, "params": &c.params, "result": &result }),
        );
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    let mut done = state.store.reader().await?.ceremony(c.id).await?;
    if let Some(secret) = secret {
        done.result["temporary_password"] = serde_json::json!(secret.expose());
    }
    Ok(done)
}

/// Refuses (403) a provider operator who is not among the approvers of provider ceremonies.
pub async fn operator_may_approve(state: &Services, op: OperatorId) -> Result<(), CustodyError> {
    if state.store.reader().await?.operator_may_approve(op).await? {
        Ok(())
    } else {
        Err(CustodyError::DualControl(
            "this operator is not among the operators who may approve ceremonies; two of them appoint new \
             approvers (appoint_operator_approver)"
                .into(),
        ))
    }
}

async fn execute(
    tx: &mut Tx,
    c: &Ceremony,
    subject: &Subject,
    candidate: PrincipalId,
    approver: PrincipalId,
    now: Timestamp,
) -> Result<(serde_json::Value, Option<SecretString>), CustodyError> {
    let tenant = c.tenant_id;
    match subject {
        Subject::Grant { grantee, role_id, scope, .. } => {
            let tenant = tenant.ok_or_else(|| CustodyError::Internal("tenant ceremony without tenant".into()))?;
            let role = tx.role(tenant, *role_id).await.map_err(CustodyError::row("role"))?;
            check_grant(tx, tenant, *grantee, &role.privileges).await?;
            let grant = Grant {
                id: GrantId::new(),
                tenant_id: tenant,
                grantee: *grantee,
                role_id: role.id,
                scope: scope.clone(),
                created_at: now,
            };
            tx.insert_grant(&grant).await.map_err(CustodyError::row("grantee"))?;
            // Sessions opened before the appointment carry none of its weight: the holder logs
            // in again (with the second factor the role requires).
            let revoked = tx.revoke_sessions_of(candidate, None, now.millis()).await?;
            Ok((serde_json::json!({ "grant_id": grant.id, "sessions_revoked": revoked }), None))
        }
        Subject::Revoke { grant_id, .. } => {
            let tenant = tenant.ok_or_else(|| CustodyError::Internal("tenant ceremony without tenant".into()))?;
            tx.delete_grant(tenant, *grant_id).await.map_err(CustodyError::row("grant"))?;
            Ok((serde_json::json!({ "grant_id": grant_id }), None))
        }
        Subject::Reset { user_id, what } => {
            let tenant = tenant.ok_or_else(|| CustodyError::Internal("tenant ceremony without tenant".into()))?;
            let owner = CredentialOwner::User(tenant, *user_id);
            let secret = match what {
                ResetWhat::Totp => {
                    tx.set_totp(owner, None, false).await.map_err(CustodyError::row("credential"))?;
                    tx.replace_recovery_codes(tenant, *user_id, &[]).await?;
                    None
                }
                ResetWhat::Password => {
                    let temporary = SecretString::new(new_token("tmp").token.expose().to_owned());
                    let normalized = callvault_policy::password::normalize(temporary.expose());
                    let hash =
                        tokio::task::spawn_blocking(move || callvault_crypto::password::hash_password(&normalized))
                            .await
                            .map_err(CustodyError::internal)?
                            .map_err(CustodyError::internal)?;
                    tx.set_password(owner, &hash, now).await.map_err(CustodyError::row("credential"))?;
                    Some(temporary)
                }
            };
            tx.record_account_control(owner, None, Some(approver)).await?;
            let revoked = tx.revoke_sessions_of(PrincipalId::User(*user_id), None, now.millis()).await?;
            Ok((serde_json::json!({ "reset": what, "sessions_revoked": revoked }), secret))
        }
        Subject::Operator { operator_id } => {
            tx.set_operator_may_approve(*operator_id, true).await.map_err(CustodyError::row("operator"))?;
            Ok((serde_json::json!({ "operator_id": operator_id, "may_approve": true }), None))
        }
    }
}
