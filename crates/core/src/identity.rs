//! Identity services: login with throttling and second factor, sessions, passwords, TOTP.

use callvault_crypto::password::{PasswordCheck, dummy_verify, hash_password, verify_password};
use callvault_crypto::token::new_token;
use callvault_crypto::totp::{self, TotpCheck, TotpSeed};
use callvault_model::access::DefaultRole;
use callvault_model::records::{Grantee, Notification, Timestamp};
use callvault_model::{NotificationId, PrincipalId, SecretString, SessionId, TenantId, UserId};
use callvault_policy::duties;
use callvault_policy::password::{PasswordRules, check_new_password, normalize};
use callvault_policy::throttle::{self, FailureState, Gate};
use callvault_store::prelude::*;
use callvault_store::{CredentialOwner, CredentialRow, DirectoryStore, SessionRow, StoreError, TenantStore, Tx};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEvent, Origin};
use crate::caller::{SESSION_TOKEN_PREFIX, SessionPurpose};
use crate::notify;
use crate::services::Services;

mod email;
mod enrolment;
pub mod own;
mod passwords;

pub use email::*;
pub use enrolment::*;
pub use passwords::*;

/// What went wrong in logins, sessions, second factors and passwords. Failed logins and failed
/// re-authentications have one variant each, whatever the cause (no user enumeration).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A login failed (unknown account, wrong password or code, locked, replayed code…).
    #[error("{LOGIN_FAILED}")]
    LoginFailed,
    /// The password was right; the account needs a TOTP or recovery code too.
    #[error("this account requires a TOTP code (field `totp`) or a recovery code")]
    SecondFactorRequired,
    /// Re-authentication before a sensitive operation failed, whatever the cause.
    #[error("re-authentication failed (wrong password or code, or too many recent failures: wait and try again)")]
    ReauthenticationFailed,
    /// Custodians must have TOTP enrolled to re-authenticate.
    #[error("custodians must have TOTP enrolled (POST /v1/auth/totp/enroll)")]
    TotpRequired,
    /// Service accounts have no password or second factor.
    #[error("service accounts have no password or second factor")]
    NoCredentials,
    /// No SMTP server is configured, so no code can be mailed.
    #[error("e-mail is not configured on this server (smtp_url)")]
    MailNotConfigured,
    /// The address to confirm is not one of the user's own.
    #[error("`address` must be one of your e-mail addresses in the directory")]
    NotYourAddress,
    /// A mailed one-time code is wrong or expired.
    #[error("the code is wrong or expired; ask for a new one")]
    CodeWrongOrExpired,
    /// A new password breaks a rule (the text says which).
    #[error("{0}")]
    WeakPassword(String),
    /// TOTP is enrolled already.
    #[error("TOTP is already enrolled; an administrator can reset it")]
    TotpAlreadyEnrolled,
    /// TOTP enrolment was not started.
    #[error("start enrolment first: POST /v1/auth/totp/enroll")]
    EnrolmentNotStarted,
    /// The enrolment code does not match the new seed.
    #[error("the code does not match; check the device clock and try the next code")]
    TotpMismatch,
    /// A stored secret does not unwrap or has a bad length.
    #[error("a stored {0} does not open")]
    StoredSecret(&'static str),
    /// A failure could not be audited on its own.
    #[error(transparent)]
    Audit(#[from] crate::audit::AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] callvault_store::StoreError),
    /// The access engine refused.
    #[error(transparent)]
    Access(#[from] crate::caller::AccessError),
    /// No such session (in the caller's tenant, still active).
    #[error("no such session")]
    NoSuchSession,
    /// The caller has no session (a service-account token).
    #[error("service-account tokens are revoked through /v1/service-accounts")]
    NotASession,
    /// Hashing or a blocking task failed.
    #[error("{0}")]
    Internal(String),
}

impl IdentityError {
    fn internal(e: impl std::fmt::Display) -> Self {
        IdentityError::Internal(e.to_string())
    }
}

const LOGIN_FAILED: &str = "invalid credentials, or the account is locked or needs further authentication: after \
     repeated failures a password alone no longer logs in (give the account's TOTP code, or ask an administrator to \
     unlock it, or use the code e-mailed to your confirmed address, or wait until the failures are older than \
     the step-up window)";

/// The problem document of [`login_failed`], for tests that compare answers.
pub fn login_failed_body() -> serde_json::Value {
    serde_json::json!({
        "type": "urn:callvault:problem:unauthenticated",
        "title": "Authentication required",
        "status": 401,
        "detail": LOGIN_FAILED,
    })
}

/// Normalises a login id: NFKC, then lower case.
pub fn login_key(login: &str) -> String {
    normalize(login.trim()).to_lowercase()
}

/// A login request (`POST /v1/auth/login`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login id.
    #[schema(value_type = String)]
    pub username: callvault_model::Personal<String>,
    /// Password.
    pub password: SecretString,
    /// Tenant slug; absent for provider operators.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Current TOTP code, once enrolled.
    #[serde(default)]
    pub totp: Option<SecretString>,
    /// A recovery code instead of a TOTP code.
    #[serde(default)]
    pub recovery_code: Option<SecretString>,
    /// The one-time code e-mailed to the account's confirmed address, when a password alone no
    /// longer logs in after repeated failures and the account has no TOTP.
    #[serde(default)]
    pub email_code: Option<SecretString>,
}

/// A new session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token (shown once).
    pub token: String,
    /// Session id (for listing and revoking).
    pub session_id: SessionId,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// `full`, or `enroll_totp` when the account must enrol a second factor first.
    pub purpose: String,
    /// The principal.
    pub principal: String,
}

struct Account {
    owner: CredentialOwner,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    credential: CredentialRow,
    privileged: bool,
    last_admin: bool,
    alert_threshold: u32,
    idle_ms: i64,
    absolute_ms: i64,
}

/// Logs in. Every failure path costs one password verification and answers [`login_failed`].
pub async fn login(state: &Services, req: LoginRequest, origin: Origin) -> Result<LoginResponse, IdentityError> {
    let now = state.clock.now();
    let key = login_key(req.username.expose());
    let password = normalize(req.password.expose());
    let account = resolve_account(state, req.tenant.as_deref(), &key).await?;
    let Some(account) = account else {
        burn_verify(password).await;
        audit_login_failure(state, None, Actor::Anonymous, origin, "unknown_account", now).await?;
        state.metrics.login("failure");
        return Err(IdentityError::LoginFailed);
    };
    let failure_state = FailureState {
        failures: account.credential.failures,
        last_failure_ms: account.credential.last_failure_at,
        locked_until_ms: account.credential.locked_until,
    };
    let divisor = state.config.danger_test_login_delay_divisor;
    let gate = effective_gate(&failure_state, now, account.last_admin, divisor);
    if gate != Gate::Open {
        burn_verify(password).await;
        let reason = if matches!(gate, Gate::Locked { .. }) { "locked" } else { "throttled" };
        audit_login_failure(state, account.tenant, Actor::Principal(account.principal), origin, reason, now).await?;
        state.metrics.login(reason);
        return Err(IdentityError::LoginFailed);
    }
    let hash = account.credential.password_hash.clone();
    let check = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(IdentityError::internal)?;
    let needs_rehash = match check {
        PasswordCheck::Valid { needs_rehash } => needs_rehash,
        PasswordCheck::Invalid => {
            record_failure(state, &account, &failure_state, now, origin, "wrong_password").await?;
            return Err(IdentityError::LoginFailed);
        }
    };
    // The password is right. After repeated recent failures a password alone is not enough
    // (step-up): an enrolled second factor is demanded below anyway; an account without one
    // answers like any failure and names the way out (administrator unlock, or the window).
    let recent = duties::recent_failures(
        account.credential.failures,
        account.credential.last_failure_at,
        now.millis(),
        state.config.step_up_window_secs.saturating_mul(1000),
    );
    let confirmed_email = match (account.owner, state.config.smtp_url.is_some()) {
        (CredentialOwner::User(t, u), true) => state.store.reader().await?.confirmed_email(t, u).await?,
        _ => None,
    };
    match duties::step_up(
        recent,
        state.config.step_up_after_failures,
        account.credential.totp_enrolled,
        confirmed_email.is_some(),
    ) {
        duties::StepUp::None | duties::StepUp::Totp => {}
        duties::StepUp::NoFactor => {
            audit_login_failure(
                state,
                account.tenant,
                Actor::Principal(account.principal),
                origin,
                "step_up_required",
                now,
            )
            .await?;
            state.metrics.login("step_up");
            return Err(IdentityError::LoginFailed);
        }
        duties::StepUp::EmailCode => {
            let given = req.email_code.as_ref().map(|c| code_digest(c.expose()));
            let used = match &given {
                Some(d) => {
                    let mut tx = state.store.begin().await?;
                    let used = tx.take_one_time_code(account.principal, LOGIN_CODE, d, now.millis()).await?;
                    tx.commit().await?;
                    used.is_some()
                }
                None => false,
            };
            if !used {
                if given.is_some() {
                    record_failure(state, &account, &failure_state, now, origin, "wrong_email_code").await?;
                } else {
                    audit_login_failure(
                        state,
                        account.tenant,
                        Actor::Principal(account.principal),
                        origin,
                        "step_up_email_sent",
                        now,
                    )
                    .await?;
                    if let Some(address) = confirmed_email {
                        send_code(state, account.principal, LOGIN_CODE, None, address, now).await?;
                    }
                }
                state.metrics.login("step_up");
                return Err(IdentityError::LoginFailed);
            }
        }
    }
    let mut second_factor = false;
    if account.credential.totp_enrolled {
        match check_second_factor(state, &account, req.totp.as_ref(), req.recovery_code.as_ref(), now).await? {
            SecondFactor::Ok => second_factor = true,
            SecondFactor::Missing => {
                return Err(IdentityError::SecondFactorRequired);
            }
            SecondFactor::Replayed => {
                replayed_code(state, &account, now, origin.clone()).await?;
                record_failure(state, &account, &failure_state, now, origin, "totp_replayed").await?;
                return Err(IdentityError::LoginFailed);
            }
            SecondFactor::Wrong => {
                record_failure(state, &account, &failure_state, now, origin, "wrong_second_factor").await?;
                return Err(IdentityError::LoginFailed);
            }
        }
    }
    let purpose = if account.privileged && !account.credential.totp_enrolled {
        SessionPurpose::EnrollTotp
    } else {
        SessionPurpose::Full
    };
    let token = new_token(SESSION_TOKEN_PREFIX);
    let session = SessionRow {
        token_digest: hex::encode(token.digest),
        id: SessionId::new(),
        tenant_id: account.tenant,
        principal: account.principal,
        purpose: purpose.as_str().into(),
        second_factor,
        created_at: now.millis(),
        last_seen_at: now.millis(),
        idle_timeout_ms: account.idle_ms,
        expires_at: now.millis() + account.absolute_ms,
        revoked_at: None,
    };
    let new_hash = if needs_rehash {
        let pw = normalize(req.password.expose());
        Some(
            tokio::task::spawn_blocking(move || hash_password(&pw))
                .await
                .map_err(IdentityError::internal)?
                .map_err(IdentityError::internal)?,
        )
    } else {
        None
    };
    let mut tx = state.store.begin().await?;
    tx.set_login_state(account.owner, 0, None, None).await?;
    if let Some(h) = &new_hash {
        tx.set_password(account.owner, h, Timestamp(account.credential.password_changed_at)).await?;
    }
    tx.insert_session(&session).await?;
    let event = AuditEvent::new(account.tenant, Actor::Principal(account.principal), "auth.login")
        .target("session", session.id)
        .origin(origin)
        .details(serde_json::json!({ "second_factor": second_factor, "purpose": purpose.as_str() }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.metrics.login("success");
    Ok(LoginResponse {
        token: token.token.expose().to_owned(),
        session_id: session.id,
        expires_at: Timestamp(session.expires_at),
        purpose: purpose.as_str().into(),
        principal: account.principal.to_string(),
    })
}

/// The throttle gate, except that the last administrator of a tenant is never hard-locked by
/// others' guesses: it stays on a 60 s delay instead (still under ASVS's 100 failures per hour).
fn effective_gate(state: &FailureState, now: Timestamp, last_admin: bool, divisor: u32) -> Gate {
    match throttle::gate_scaled(state, now.millis(), divisor) {
        Gate::Locked { .. } if last_admin => {
            let retry_at = state.last_failure_ms.unwrap_or(0) + 60_000;
            if now.millis() < retry_at { Gate::Delayed { retry_at_ms: retry_at } } else { Gate::Open }
        }
        other => other,
    }
}

async fn burn_verify(password: impl AsRef<str> + Send + 'static) {
    let _ = tokio::task::spawn_blocking(move || dummy_verify(password.as_ref())).await;
}

async fn resolve_account(state: &Services, tenant: Option<&str>, key: &str) -> Result<Option<Account>, IdentityError> {
    let mut r = state.store.reader().await?;
    match tenant {
        None => {
            let id = match r.operator_by_login(key).await {
                Ok(id) => id,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let credential = r.credential(CredentialOwner::Operator(id)).await?;
            let defaults = callvault_model::records::TenantSettings::default();
            Ok(Some(Account {
                owner: CredentialOwner::Operator(id),
                principal: PrincipalId::Operator(id),
                tenant: None,
                credential,
                privileged: true,
                last_admin: r.operator_count().await? <= 1,
                alert_threshold: defaults.failed_login_alert_threshold,
                idle_ms: i64::from(defaults.session_idle_timeout_secs) * 1000,
                absolute_ms: i64::from(defaults.session_absolute_timeout_secs) * 1000,
            }))
        }
        Some(slug) => {
            let tenant = match r.tenant_by_slug(slug).await {
                Ok(t) => t,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let user = match r.user_id_by_login(tenant.id, key).await {
                Ok(u) => u,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let owner = CredentialOwner::User(tenant.id, user);
            let credential = match r.credential(owner).await {
                Ok(c) => c,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let privileged = is_privileged_user(&mut r, tenant.id, user).await?;
            let last_admin = is_last_admin(&mut r, tenant.id, user).await?;
            Ok(Some(Account {
                owner,
                principal: PrincipalId::User(user),
                tenant: Some(tenant.id),
                credential,
                privileged,
                last_admin,
                alert_threshold: tenant.settings.failed_login_alert_threshold,
                idle_ms: i64::from(tenant.settings.session_idle_timeout_secs) * 1000,
                absolute_ms: i64::from(tenant.settings.session_absolute_timeout_secs) * 1000,
            }))
        }
    }
}

/// Whether a user holds a role that requires a second factor: a privileged default role, or any
/// role that `duties::requires_second_factor` names (the same rule the access check applies to
/// sessions, so a user who must enrol is never let in with privileges that would not count).
pub async fn is_privileged_user<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, callvault_store::StoreError> {
    let grants = r.grants_with_roles(tenant, Grantee::User(user)).await?;
    Ok(grants.iter().any(|(_, role)| {
        DefaultRole::from_name(&role.name).is_some_and(|d| role.builtin && d.is_privileged())
            || duties::requires_second_factor(&role.privileges)
    }))
}

/// Whether `user` is the only holder of the tenant-wide administrator role.
pub async fn is_last_admin<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, callvault_store::StoreError> {
    let admins = administrators(r, tenant).await?;
    Ok(admins.len() == 1 && admins[0] == user)
}

/// Users holding the built-in administrator role over the whole tenant.
pub async fn administrators<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
) -> Result<Vec<UserId>, callvault_store::StoreError> {
    holders_of(r, tenant, DefaultRole::Administrator).await
}

/// Users holding a built-in role over the whole tenant.
pub async fn holders_of<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    builtin: DefaultRole,
) -> Result<Vec<UserId>, callvault_store::StoreError> {
    let role = match r.role_by_name(tenant, builtin.name()).await {
        Ok(role) => role,
        Err(StoreError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    users_with_grants(r, tenant, |g| g.role_id == role.id && g.scope == callvault_model::access::Scope::Tenant).await
}

/// The users (not service accounts) holding a grant that `keep` accepts, sorted, once each.
pub async fn users_with_grants<C: IdentityStore>(
    r: &mut C,
    tenant: TenantId,
    keep: impl Fn(&callvault_model::records::Grant) -> bool,
) -> Result<Vec<UserId>, callvault_store::StoreError> {
    let mut users: Vec<UserId> = r
        .grants(tenant)
        .await?
        .into_iter()
        .filter(|g| keep(g))
        .filter_map(|g| match g.grantee {
            Grantee::User(u) => Some(u),
            Grantee::ServiceAccount(_) => None,
        })
        .collect();
    users.sort();
    users.dedup();
    Ok(users)
}

enum SecondFactor {
    Ok,
    Missing,
    Wrong,
    Replayed,
}

async fn check_second_factor(
    state: &Services,
    account: &Account,
    code: Option<&SecretString>,
    recovery: Option<&SecretString>,
    now: Timestamp,
) -> Result<SecondFactor, IdentityError> {
    if let Some(code) = code {
        let Some(wrapped) = &account.credential.totp_seed else {
            return Ok(SecondFactor::Wrong);
        };
        let seed = unwrap_totp_seed(state, account.principal, wrapped)?;
        let last = account.credential.totp_last_step.and_then(|s| u64::try_from(s).ok());
        let secs = u64::try_from(now.millis() / 1000).unwrap_or(0);
        return match totp::verify(&seed, code.expose(), secs, last) {
            TotpCheck::Valid { step } => {
                let mut tx = state.store.begin().await?;
                let fresh = tx.advance_totp_step(account.owner, i64::try_from(step).unwrap_or(i64::MAX)).await?;
                tx.commit().await?;
                Ok(if fresh { SecondFactor::Ok } else { SecondFactor::Replayed })
            }
            TotpCheck::Replayed => Ok(SecondFactor::Replayed),
            TotpCheck::Invalid => Ok(SecondFactor::Wrong),
        };
    }
    if let (Some(code), CredentialOwner::User(tenant, user)) = (recovery, account.owner) {
        let digest = hex::encode(callvault_crypto::digest::sha256(code.expose().trim().to_uppercase().as_bytes()));
        let mut tx = state.store.begin().await?;
        let used = tx.use_recovery_code(tenant, user, &digest, now).await?;
        if used {
            let event = AuditEvent::new(Some(tenant), Actor::Principal(account.principal), "auth.recovery_code_used")
                .target("user", user);
            state.auditor.record(&mut tx, now, &event).await?;
        }
        tx.commit().await?;
        return Ok(if used { SecondFactor::Ok } else { SecondFactor::Wrong });
    }
    Ok(SecondFactor::Missing)
}

fn totp_aad(principal: PrincipalId) -> String {
    format!("callvault:totp-seed:{principal}")
}

fn unwrap_totp_seed(state: &Services, principal: PrincipalId, wrapped: &[u8]) -> Result<TotpSeed, IdentityError> {
    let bytes = state
        .kek
        .unwrap(totp_aad(principal).as_bytes(), wrapped)
        .map_err(|_| IdentityError::StoredSecret("TOTP seed"))?;
    TotpSeed::from_bytes(bytes.expose()).map_err(|_| IdentityError::StoredSecret("TOTP seed"))
}

/// Whose failure is recorded, and where alerts go.
struct FailureTarget {
    owner: CredentialOwner,
    principal: PrincipalId,
    tenant: Option<TenantId>,
    alert_threshold: u32,
}

async fn record_failure(
    state: &Services,
    account: &Account,
    before: &FailureState,
    now: Timestamp,
    origin: Origin,
    reason: &'static str,
) -> Result<(), IdentityError> {
    let target = FailureTarget {
        owner: account.owner,
        principal: account.principal,
        tenant: account.tenant,
        alert_threshold: account.alert_threshold,
    };
    record_failure_of(state, &target, before, now, origin, "auth.login", reason).await
}

async fn record_failure_of(
    state: &Services,
    account: &FailureTarget,
    before: &FailureState,
    now: Timestamp,
    origin: Origin,
    action: &'static str,
    reason: &'static str,
) -> Result<(), IdentityError> {
    // Counted by the database in one statement (`throttle::record_failure` is the rule it
    // applies): failures arriving together, on one node or several, all count.
    let mut tx = state.store.begin().await?;
    let (failures, locked_until_ms) = tx
        .record_login_failure(account.owner, now.millis(), throttle::LOCK_AT, throttle::lock_until(now.millis()))
        .await?;
    let after = FailureState { failures, last_failure_ms: Some(now.millis()), locked_until_ms };
    let before = FailureState { failures: failures.saturating_sub(1), ..*before };
    let event = AuditEvent::new(account.tenant, Actor::Principal(account.principal), action)
        .denied()
        .origin(origin)
        .details(serde_json::json!({ "reason": reason, "failures": after.failures }));
    state.auditor.record(&mut tx, now, &event).await?;
    if let Some(tenant) = account.tenant
        && throttle::should_alert(before.failures, after.failures, account.alert_threshold)
    {
        let locked = after.locked_until_ms.is_some();
        let n = Notification {
            id: NotificationId::new(),
            tenant_id: tenant,
            kind: if locked { "account_locked".into() } else { "failed_logins".into() },
            audience: DefaultRole::SecurityOfficer.name().into(),
            message: format!(
                "{} consecutive failed logins on account {}{}",
                after.failures,
                account.principal,
                if locked { "; the account is locked" } else { "" }
            ),
            details: serde_json::json!({ "principal": account.principal.to_string(), "failures": after.failures, "locked": locked }),
            created_at: now,
        };
        tx.insert_notification(&n).await?;
        let alert = AuditEvent::new(Some(tenant), Actor::System, "security.alert")
                .target("notification", n.id)
                .details(serde_json::json!({ "kind": n.kind, "principal": account.principal.to_string(), "failures": after.failures }));
        state.auditor.record(&mut tx, now, &alert).await?;
    }
    tx.commit().await?;
    state.metrics.login("failure");
    Ok(())
}

async fn replayed_code(
    state: &Services,
    account: &Account,
    now: Timestamp,
    origin: Origin,
) -> Result<(), IdentityError> {
    let mut tx = state.store.begin().await?;
    if let Some(tenant) = account.tenant {
        let n = Notification {
            id: NotificationId::new(),
            tenant_id: tenant,
            kind: "totp_replayed".into(),
            audience: format!("principal:{}", account.principal),
            message: "a one-time code of your account was used twice; if that was not you, change your password".into(),
            details: serde_json::json!({ "principal": account.principal.to_string() }),
            created_at: now,
        };
        tx.insert_notification(&n).await?;
    }
    let event = AuditEvent::new(account.tenant, Actor::Principal(account.principal), "auth.totp_replayed")
        .denied()
        .origin(origin);
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_login_failure(
    state: &Services,
    tenant: Option<TenantId>,
    actor: Actor,
    origin: Origin,
    reason: &str,
    now: Timestamp,
) -> Result<(), IdentityError> {
    let event = AuditEvent::new(tenant, actor, "auth.login")
        .denied()
        .origin(origin)
        .details(serde_json::json!({ "reason": reason }));
    Ok(state.auditor.record_now(now, &event).await?)
}
