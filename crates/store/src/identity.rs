//! Identity: provider operators, credentials, roles, grants, service accounts, sessions,
//! notifications and the server's wrapped signing keys.

use callvault_model::access::{Privilege, Scope};
use callvault_model::records::{Grant, Grantee, Notification, Role, ServiceAccount, Timestamp};
use callvault_model::{
    GrantId, NotificationId, OperatorId, PrincipalId, RoleId, ServiceAccountId, SessionId, TenantId, UserId,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result, StoreError, Writable, affected, col_json, col_opt_uuid, col_uuid, to_json};

mod credentials;
mod grants;
mod notifications;
mod roles;
mod service_accounts;
mod sessions;
mod signing_keys;

pub use credentials::CredentialStore;
pub use grants::GrantStore;
pub use notifications::NotificationStore;
pub use roles::RoleStore;
pub use service_accounts::ServiceAccountStore;
pub use sessions::SessionStore;
pub use signing_keys::SigningKeyStore;

/// Whose credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialOwner {
    /// A provider operator.
    Operator(OperatorId),
    /// A user of a tenant.
    User(TenantId, UserId),
}

/// Stored credential state of an operator or user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    /// PHC string of the password hash.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failures: u32,
    /// Time of the last failure.
    pub last_failure_at: Option<i64>,
    /// Locked until this time.
    pub locked_until: Option<i64>,
    /// TOTP seed wrapped by the KEK.
    pub totp_seed: Option<Vec<u8>>,
    /// Whether TOTP enrolment was confirmed with a valid code.
    pub totp_enrolled: bool,
    /// The last TOTP step used (each code is usable once).
    pub totp_last_step: Option<i64>,
    /// When the password was last set.
    pub password_changed_at: i64,
}

/// A stored session. The token itself is never stored, only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Hex SHA-256 of the bearer token.
    pub token_digest: String,
    /// Public identifier (for listing and revoking).
    pub id: SessionId,
    /// Tenant, `None` for provider operators.
    pub tenant_id: Option<TenantId>,
    /// Who.
    pub principal: PrincipalId,
    /// `full` or `enroll_totp`.
    pub purpose: String,
    /// Whether the login presented a second factor.
    pub second_factor: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last use.
    pub last_seen_at: i64,
    /// Idle timeout.
    pub idle_timeout_ms: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// A server key stored wrapped by the KEK (audit signing key, pseudonymisation key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Key id.
    pub key_id: String,
    /// What it is for.
    pub purpose: String,
    /// Public half, if any.
    pub public_key: Option<Vec<u8>>,
    /// The secret, wrapped.
    pub wrapped_secret: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
}

/// Who controls an account: its creator and whoever set its password or second factor last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountControl {
    /// Who created the account (`None` for accounts from before the record, or the bootstrap).
    pub created_by: Option<PrincipalId>,
    /// Who last set the password or second factor.
    pub credentials_set_by: Option<PrincipalId>,
}

/// Identity reads and writes.
pub trait IdentityStore:
    CredentialStore + RoleStore + GrantStore + ServiceAccountStore + SessionStore + NotificationStore + SigningKeyStore
{
}

impl<
    C: CredentialStore + RoleStore + GrantStore + ServiceAccountStore + SessionStore + NotificationStore + SigningKeyStore,
> IdentityStore for C
{
}

/// The key bound as `$1` in credential statements.
fn owner_key(owner: CredentialOwner) -> String {
    match owner {
        CredentialOwner::Operator(id) => id.to_string(),
        CredentialOwner::User(_, id) => id.to_string(),
    }
}

fn role_row(row: &AnyRow) -> Result<Role> {
    let builtin: i64 = row.try_get("builtin")?;
    Ok(Role {
        id: RoleId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        privileges: col_json(row, "privileges")?,
        builtin: builtin != 0,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn grant_row(row: &AnyRow) -> Result<Grant> {
    let grantee = match (col_opt_uuid(row, "user_id")?, col_opt_uuid(row, "service_account_id")?) {
        (Some(u), None) => Grantee::User(UserId(u)),
        (None, Some(s)) => Grantee::ServiceAccount(ServiceAccountId(s)),
        _ => {
            return Err(StoreError::Corrupt("grant without exactly one grantee".into()));
        }
    };
    let scope: Scope = col_json(row, "scope")?;
    Ok(Grant {
        id: GrantId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        grantee,
        role_id: RoleId(col_uuid(row, "role_id")?),
        scope,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn service_account_row(row: &AnyRow) -> Result<ServiceAccount> {
    let last: Option<i64> = row.try_get("last_used_at")?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    Ok(ServiceAccount {
        id: ServiceAccountId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        name: row.try_get("name")?,
        token_prefix: row.try_get("token_prefix")?,
        created_at: Timestamp(row.try_get("created_at")?),
        last_used_at: last.map(Timestamp),
        revoked_at: revoked.map(Timestamp),
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(Timestamp),
        token_lifetime_days: row
            .try_get::<Option<i64>, _>("token_lifetime_days")?
            .map(|d| u32::try_from(d).map_err(|_| StoreError::Corrupt("token_lifetime_days".into())))
            .transpose()?,
    })
}

fn session_row(row: &AnyRow) -> Result<SessionRow> {
    let kind: String = row.try_get("principal_kind")?;
    let principal = PrincipalId::from_parts(&kind, col_uuid(row, "principal_id")?)
        .ok_or_else(|| StoreError::Corrupt("session principal kind".into()))?;
    let second: i64 = row.try_get("second_factor")?;
    Ok(SessionRow {
        token_digest: row.try_get("token_digest")?,
        id: SessionId(col_uuid(row, "id")?),
        tenant_id: col_opt_uuid(row, "tenant_id")?.map(TenantId),
        principal,
        purpose: row.try_get("purpose")?,
        second_factor: second != 0,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        idle_timeout_ms: row.try_get("idle_timeout_ms")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn notification_row(row: &AnyRow) -> Result<Notification> {
    Ok(Notification {
        id: NotificationId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        kind: row.try_get("kind")?,
        audience: row.try_get("audience")?,
        message: row.try_get("message")?,
        details: col_json(row, "details")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

/// The tenant bound as `$2` in credential statements; operators have none, so their statements
/// compare `$2` with itself.
fn owner_tenant(owner: CredentialOwner) -> String {
    match owner {
        CredentialOwner::Operator(_) => String::new(),
        CredentialOwner::User(t, _) => t.to_string(),
    }
}
