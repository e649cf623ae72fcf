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
    let unauthenticated = || AccessError::Unauthenticated("a valid bearer token is required");
    let token = token.ok_or_else(unauthenticated)?;
    if token.len() > 200 {
        return Err(unauthenticated());
    }
    let digest = hex::encode(token_digest(token));
    let now = state.clock.now();
    let mut reader = state.store.reader().await?;
    if token.starts_with(&format!("{SERVICE_TOKEN_PREFIX}_")) {
        let account = match reader.service_account_by_token(&digest).await {
            Ok(a) if a.revoked_at.is_none() && a.expires_at.is_none_or(|t| now.millis() < t.millis()) => a,
            Ok(_) | Err(StoreError::NotFound) => return Err(unauthenticated()),
            Err(e) => return Err(e.into()),
        };
        let subject =
            load_subject(&mut reader, account.tenant_id, PrincipalId::ServiceAccount(account.id), false).await?;
        drop(reader);
        alert_conflicts(state, &subject).await?;
        if account.last_used_at.is_none_or(|last| now.millis() - last.0 >= TOUCH_EVERY_MS) {
            touch_service_account(state, account.id, now).await;
        }
        return Ok(Ctx {
            principal: PrincipalId::ServiceAccount(account.id),
            tenant: Some(account.tenant_id),
            session: None,
            purpose: SessionPurpose::Full,
            second_factor: false,
            subject: Some(Arc::new(subject)),
            request_id,
            ip,
        });
    }
    let session = match reader.session_by_digest(&digest).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(unauthenticated()),
        Err(e) => return Err(e.into()),
    };
    let t = now.millis();
    if session.revoked_at.is_some() || t >= session.expires_at || t - session.last_seen_at >= session.idle_timeout_ms {
        return Err(AccessError::Unauthenticated("the session has expired or was revoked; log in again"));
    }
    let purpose = if session.purpose == SessionPurpose::EnrollTotp.as_str() {
        SessionPurpose::EnrollTotp
    } else {
        SessionPurpose::Full
    };
    let subject = match (session.tenant_id, session.principal) {
        (Some(tenant), principal) => {
            Some(Arc::new(load_subject(&mut reader, tenant, principal, session.second_factor).await?))
        }
        (None, _) => None,
    };
    drop(reader);
    if let Some(subject) = &subject {
        alert_conflicts(state, subject).await?;
    }
    // Touching the session is a write (a commit): recorded at most once a minute, so a client
    // sending many requests does not wait for a commit on each (the idle timeout is minutes).
    if t - session.last_seen_at >= TOUCH_EVERY_MS {
        let mut tx = state.store.begin().await?;
        tx.touch_session(&digest, t).await?;
        tx.commit().await?;
    }
    Ok(Ctx {
        principal: session.principal,
        tenant: session.tenant_id,
        session: Some(session.id),
        purpose,
        second_factor: session.second_factor,
        subject,
        request_id,
        ip,
    })
}

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
