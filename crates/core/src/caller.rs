//! The authenticated caller and the access check every service call goes through.
//!
//! Architecture invariant: a front end gets a [`Ctx`] only for a valid, unexpired, unrevoked
//! session or service-account token ([`authenticate`]), and a service method that changes state
//! takes a [`Permit`], which only [`Ctx::authorize`] creates, after the pure access engine
//! allowed the action. `Permit`'s field is private, so a write without a decision does not
//! compile:
//!
//! ```compile_fail
//! use callvault_core::caller::Permit;
//! use callvault_policy::access::Decision;
//! use callvault_model::TenantId;
//! use callvault_model::access::{Action, Resource};
//! fn forge(decision: Decision, tenant: TenantId) -> Permit {
//!     Permit { decision, action: Action::Create, resource: Resource::DialCheck, tenant }
//! }
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use callvault_crypto::token::token_digest;
use callvault_model::access::{Action, Resource, Scope};
use callvault_model::records::{Grantee, Timestamp};
use callvault_model::{PrincipalId, ServiceAccountId, SessionId, TenantId, UserId};
use callvault_policy::access::{Decision, DenyReason, GrantInput, ResourceRef, Subject, decide_operator};
use callvault_store::prelude::*;
use callvault_store::{Reader, StoreError};

use crate::audit::{Actor, AuditEvent, Origin};
use crate::services::Services;

/// Why a caller was not let through.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No valid credentials; the text never says which part was wrong.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The session's purpose is only TOTP enrolment.
    #[error("this account must enrol TOTP before using the API: POST /v1/auth/totp/enroll")]
    EnrolmentRequired,
    /// The access engine denied; the decision says why (it was audited).
    #[error("{}", .0.explain())]
    Denied(Decision),
    /// Provider operators see tenants, not their data.
    #[error("provider operators see tenants, not their data")]
    OperatorNoTenantData,
    /// Only users (not service accounts or operators) can do this.
    #[error("only users can do this")]
    NotAUser,
    /// The denial could not be audited.
    #[error(transparent)]
    Audit(#[from] crate::audit::AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A service was handed a permit for another action, resource kind or tenant.
    #[error("a permit for another action was presented for {action} on {resource}")]
    WrongPermit {
        /// The action the service needed.
        action: Action,
        /// The resource kind it needed.
        resource: Resource,
    },
    /// A stored record is inconsistent.
    #[error("{0}")]
    Internal(String),
}

/// Prefix of session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "cvs";
/// Prefix of service-account tokens.
pub const SERVICE_TOKEN_PREFIX: &str = "cvk";

/// What a session may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPurpose {
    /// Everything the principal's roles allow.
    Full,
    /// Only enrolling TOTP (a privileged account that has not enrolled yet).
    EnrollTotp,
}

impl SessionPurpose {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionPurpose::Full => "full",
            SessionPurpose::EnrollTotp => "enroll_totp",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Ctx {
    /// Who.
    pub principal: PrincipalId,
    /// Their tenant; `None` for provider operators.
    pub tenant: Option<TenantId>,
    /// The session, for human callers.
    pub session: Option<SessionId>,
    /// What the session is good for.
    pub purpose: SessionPurpose,
    /// Whether the login presented a second factor.
    pub second_factor: bool,
    /// The compiled grants (tenant principals only).
    pub subject: Option<Arc<Subject>>,
    /// Request id, for the audit log.
    pub request_id: Option<String>,
    /// Client address, for the audit log (digested there).
    pub ip: Option<IpAddr>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("principal", &self.principal).field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

/// Proof that the access engine allowed an action on a kind of resource in a tenant. Only
/// [`Ctx::authorize`] makes one (its fields are private to this module); a service method that
/// changes state takes one and starts with [`Permit::covers`].
#[derive(Debug)]
pub struct Permit {
    decision: Decision,
    action: Action,
    resource: Resource,
    tenant: TenantId,
}

impl Permit {
    /// The decision, for the audit log.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The tenant the permit is for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Whether this permit allows `action` on a `resource` of `tenant`; a service given the
    /// wrong permit refuses (a defect of the caller, never a way around the check).
    pub fn covers(&self, action: Action, resource: Resource, tenant: TenantId) -> Result<(), AccessError> {
        if self.action == action && self.resource == resource && self.tenant == tenant {
            Ok(())
        } else {
            Err(AccessError::WrongPermit { action, resource })
        }
    }
}

impl Ctx {
    /// The caller's tenant, or 403 for provider operators (who see tenants, not their data).
    pub fn tenant(&self) -> Result<TenantId, AccessError> {
        self.tenant.ok_or(AccessError::OperatorNoTenantData)
    }

    /// The acting user, or 403 for other principals.
    pub fn user(&self) -> Result<UserId, AccessError> {
        match self.principal {
            PrincipalId::User(u) => Ok(u),
            _ => Err(AccessError::NotAUser),
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor::Principal(self.principal)
    }

    /// The audit origin.
    pub fn origin(&self, state: &Services) -> Origin {
        state.auditor.origin(self.request_id.as_deref(), self.ip)
    }

    /// An audit event by this caller in its tenant.
    pub fn event(&self, action: &'static str) -> AuditEvent {
        AuditEvent::new(self.tenant, self.actor(), action)
    }

    /// Asks the access engine; a denial is audited and answered with 403 and the reason.
    pub async fn authorize(
        &self,
        state: &Services,
        action: Action,
        resource: &ResourceRef<'_>,
    ) -> Result<Permit, AccessError> {
        let decision = self.decide(action, resource);
        if decision.is_allowed() {
            return Ok(Permit { decision, action, resource: resource.kind, tenant: resource.tenant });
        }
        let event = self.event("access.denied").denied().origin(self.origin(state)).details(serde_json::json!({
            "resource": resource.kind.as_str(),
            "action": action.as_str(),
            "decision": &decision,
        }));
        state.auditor.record_now(state.clock.now(), &event).await?;
        Err(AccessError::Denied(decision))
    }

    /// A permit when the access engine allows, without auditing anything (a denial is asked
    /// again through [`Ctx::authorize`], which audits it).
    pub(crate) fn allowed(&self, action: Action, resource: &ResourceRef<'_>) -> Option<Permit> {
        let decision = self.decide(action, resource);
        decision.is_allowed().then_some(Permit { decision, action, resource: resource.kind, tenant: resource.tenant })
    }

    /// The decision without side effects.
    pub fn decide(&self, action: Action, resource: &ResourceRef<'_>) -> Decision {
        match (&self.subject, self.principal) {
            (Some(subject), _) => subject.decide(action, resource),
            (None, PrincipalId::Operator(_)) => decide_operator(action, resource.kind),
            (None, _) => Decision::Deny(DenyReason::NoPrivilege { resource: resource.kind, action }),
        }
    }

    /// Whether the caller may do `action` on resources of `kind` somewhere (for listings, which
    /// then filter item by item).
    pub fn may_somewhere(&self, action: Action, kind: Resource) -> bool {
        match (&self.subject, self.principal) {
            (Some(subject), _) => subject.has_privilege(kind, action),
            (None, PrincipalId::Operator(_)) => decide_operator(action, kind).is_allowed(),
            _ => false,
        }
    }
}

/// Authenticates a bearer token (a session or service-account token) presented with a request
/// whose id and client address go to the audit log.
pub async fn authenticate(
    state: &Services,
    token: Option<&str>,
    request_id: Option<String>,
    ip: Option<IpAddr>,
) -> Result<Ctx, AccessError> {
    let digest = presented_digest(token)?;
    let now = state.clock.now();
    let mut reader = state.store.reader().await?;
    let mut known = Known::read(&mut reader, &digest, now).await?;
    drop(reader);
    known.settle(state, now).await?;
    Ok(known.ctx(request_id, ip))
}

/// The digest a token is stored under, or why it cannot be one.
pub(crate) fn presented_digest(token: Option<&str>) -> Result<String, AccessError> {
    let unauthenticated = || AccessError::Unauthenticated("a valid bearer token is required");
    let token = token.ok_or_else(unauthenticated)?;
    if token.len() > 200 {
        return Err(unauthenticated());
    }
    Ok(hex::encode(token_digest(token)))
}

/// What a valid token names, as read from the store: enough to check it again at a later instant
/// ([`Known::check`]) and to make the caller's [`Ctx`].
#[derive(Clone)]
pub(crate) struct Known {
    digest: String,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    session: Option<SessionId>,
    purpose: SessionPurpose,
    second_factor: bool,
    subject: Option<Arc<Subject>>,
    /// Absolute end (Unix ms), if any.
    expires_at: Option<i64>,
    /// Sessions: the idle timeout (ms).
    idle_timeout_ms: Option<i64>,
    /// Last use written (Unix ms; `None`: a service account never used).
    last_seen_at: Option<i64>,
}

impl Known {
    /// Reads the session or service account behind `digest` and the principal's grants;
    /// refuses a token that is unknown, revoked or expired at `now`.
    pub(crate) async fn read(reader: &mut Reader, digest: &str, now: Timestamp) -> Result<Self, AccessError> {
        let unauthenticated = || AccessError::Unauthenticated("a valid bearer token is required");
        let service_account = match reader.service_account_by_token(digest).await {
            Ok(a) => Some(a),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let known = if let Some(account) = service_account {
            if account.revoked_at.is_some() {
                return Err(unauthenticated());
            }
            Known {
                digest: digest.to_owned(),
                principal: PrincipalId::ServiceAccount(account.id),
                tenant: Some(account.tenant_id),
                session: None,
                purpose: SessionPurpose::Full,
                second_factor: false,
                subject: None,
                expires_at: account.expires_at.map(|t| t.millis()),
                idle_timeout_ms: None,
                last_seen_at: account.last_used_at.map(|t| t.millis()),
            }
        } else {
            let session = match reader.session_by_digest(digest).await {
                Ok(s) if s.revoked_at.is_none() => s,
                Ok(_) => return Err(AccessError::Unauthenticated(EXPIRED)),
                Err(StoreError::NotFound) => return Err(unauthenticated()),
                Err(e) => return Err(e.into()),
            };
            Known {
                digest: digest.to_owned(),
                principal: session.principal,
                tenant: session.tenant_id,
                session: Some(session.id),
                purpose: if session.purpose == SessionPurpose::EnrollTotp.as_str() {
                    SessionPurpose::EnrollTotp
                } else {
                    SessionPurpose::Full
                },
                second_factor: session.second_factor,
                subject: None,
                expires_at: Some(session.expires_at),
                idle_timeout_ms: Some(session.idle_timeout_ms),
                last_seen_at: Some(session.last_seen_at),
            }
        };
        known.check(now)?;
        let subject = match known.tenant {
            Some(tenant) => Some(Arc::new(load_subject(reader, tenant, known.principal, known.second_factor).await?)),
            None => None,
        };
        Ok(Known { subject, ..known })
    }

    /// The tenant of the principal (`None`: a provider operator).
    pub(crate) fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    /// Refuses the token when it expired by `now` (absolute end, or idle since its last use).
    pub(crate) fn check(&self, now: Timestamp) -> Result<(), AccessError> {
        let t = now.millis();
        let expired = self.expires_at.is_some_and(|end| t >= end)
            || self.idle_timeout_ms.zip(self.last_seen_at).is_some_and(|(idle, seen)| t - seen >= idle);
        match (expired, self.session) {
            (false, _) => Ok(()),
            (true, Some(_)) => Err(AccessError::Unauthenticated(EXPIRED)),
            (true, None) => Err(AccessError::Unauthenticated("a valid bearer token is required")),
        }
    }

    /// What follows a read: the security officers told of conflicting grants, and the last
    /// use written when due.
    pub(crate) async fn settle(&mut self, state: &Services, now: Timestamp) -> Result<(), AccessError> {
        if let Some(subject) = &self.subject {
            alert_conflicts(state, subject).await?;
        }
        self.touch(state, now).await.map(|_| ())
    }

    /// Writes the last use when the one written is a minute old or more. A session's touch is
    /// a commit, recorded at most once a minute, so a client sending many requests does not
    /// wait for a commit on each (the idle timeout is minutes); a service account's is best
    /// effort. Whether it was due.
    pub(crate) async fn touch(&mut self, state: &Services, now: Timestamp) -> Result<bool, AccessError> {
        let t = now.millis();
        if self.last_seen_at.is_some_and(|last| t - last < TOUCH_EVERY_MS) {
            return Ok(false);
        }
        match self.principal {
            PrincipalId::ServiceAccount(id) => touch_service_account(state, id, now).await,
            _ => {
                let mut tx = state.store.begin().await?;
                tx.touch_session(&self.digest, t).await?;
                tx.commit().await?;
            }
        }
        self.last_seen_at = Some(t);
        Ok(true)
    }

    /// The caller's context for one request.
    pub(crate) fn ctx(&self, request_id: Option<String>, ip: Option<IpAddr>) -> Ctx {
        Ctx {
            principal: self.principal,
            tenant: self.tenant,
            session: self.session,
            purpose: self.purpose,
            second_factor: self.second_factor,
            subject: self.subject.clone(),
            request_id,
            ip,
        }
    }
}

/// The answer to an expired or revoked session.
const EXPIRED: &str = "the session has expired or was revoked; log in again";

/// A principal whose grants hold a separation-of-duties conflict (a database from before the
/// rule, or a change behind the API) is denied both classes by the access engine; the security
/// officers are told once.
async fn alert_conflicts(state: &Services, subject: &Subject) -> Result<(), AccessError> {
    if subject.conflicts().is_empty() {
        return Ok(());
    }
    let tenant = subject.tenant();
    let principal = subject.principal().to_string();
    let mut tx = state.store.begin().await?;
    let known = tx
        .notifications(tenant, 500)
        .await?
        .iter()
        .any(|n| n.kind == "separation_of_duties" && n.details["principal"] == principal.as_str());
    if known {
        return Ok(());
    }
    let classes: Vec<&str> = subject.conflicts().iter().map(|c| c.as_str()).collect();
    let now = state.clock.now();
    let n = callvault_model::records::Notification {
        id: callvault_model::NotificationId::new(),
        tenant_id: tenant,
        kind: "separation_of_duties".into(),
        audience: callvault_model::access::DefaultRole::SecurityOfficer.name().into(),
        message: format!(
            "{principal} holds conflicting privileges ({}); both are denied until a grant is removed",
            classes.join(", ")
        ),
        details: serde_json::json!({ "principal": principal, "classes": classes }),
        created_at: now,
    };
    tx.insert_notification(&n).await?;
    let event = AuditEvent::new(Some(tenant), Actor::System, "security.alert")
        .target("notification", n.id)
        .details(serde_json::json!({ "kind": n.kind, "principal": principal, "classes": classes }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// How often a session's or service account's last use is written (milliseconds).
const TOUCH_EVERY_MS: i64 = 60_000;

async fn touch_service_account(state: &Services, id: ServiceAccountId, now: Timestamp) {
    let result = async {
        let mut tx = state.store.begin().await?;
        tx.touch_service_account(id, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record service account use");
    }
}

/// Loads and compiles the grants of a tenant principal. Without a second factor in the session
/// (`second_factor` false, always for service accounts), grants of roles that require one count
/// for nothing: privilege follows the second factor, so a session opened with a password alone
/// gains nothing when such a role is granted later.
pub async fn load_subject(
    reader: &mut Reader,
    tenant: TenantId,
    principal: PrincipalId,
    second_factor: bool,
) -> Result<Subject, AccessError> {
    let grantee = match principal {
        PrincipalId::User(u) => Grantee::User(u),
        PrincipalId::ServiceAccount(s) => Grantee::ServiceAccount(s),
        PrincipalId::Operator(_) => {
            return Err(AccessError::Internal("operator session with a tenant".into()));
        }
    };
    let service_account = matches!(principal, PrincipalId::ServiceAccount(_));
    let mut inputs = Vec::new();
    for (g, role) in reader.grants_with_roles(tenant, grantee).await? {
        if !second_factor && callvault_policy::duties::requires_second_factor(&role.privileges) {
            continue;
        }
        // A role that gained what service accounts may not hold behind the API (an old
        // database) counts for nothing on a service account.
        if service_account && callvault_policy::duties::check_service_account_privileges(&role.privileges).is_err() {
            continue;
        }
        let scope = match g.scope {
            Scope::Limited { mut teams, skills, services, departments } if !departments.is_empty() => {
                teams.extend(reader.department_teams(tenant, &departments).await?);
                Scope::Limited { teams, skills, services, departments: Vec::new() }
            }
            scope => scope,
        };
        inputs.push(GrantInput {
            grant_id: g.id,
            role_id: role.id,
            role_name: role.name,
            privileges: role.privileges,
            scope,
        });
    }
    Ok(Subject::compile(tenant, principal, inputs))
}
