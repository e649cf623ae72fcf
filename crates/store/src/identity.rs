//! Identity: provider operators, credentials, roles, grants, service accounts, sessions,
//! notifications and the server's wrapped signing keys.

use callvault_model::access::{Privilege, Scope};
use callvault_model::records::{Grant, Grantee, Notification, Role, ServiceAccount, Timestamp};
use callvault_model::{
    GrantId, NotificationId, OperatorId, PrincipalId, RoleId, ServiceAccountId, SessionId, TenantId, UserId,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result, StoreError, affected, col_json, col_opt_uuid, col_uuid, to_json};

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
pub trait IdentityStore {
    /// Inserts a provider operator.
    async fn insert_operator(&mut self, id: OperatorId, login: &str, password_hash: &str, now: Timestamp)
    -> Result<()>;
    /// An operator by login.
    async fn operator_by_login(&mut self, login: &str) -> Result<OperatorId>;
    /// Number of operators.
    async fn operator_count(&mut self) -> Result<i64>;
    /// Every operator: id, login and creation time, oldest first.
    async fn operators(&mut self) -> Result<Vec<(OperatorId, String, Timestamp)>>;
    /// Inserts a user's credentials.
    async fn insert_credential(
        &mut self,
        tenant: TenantId,
        user: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<()>;
    /// Credentials of an operator or user.
    async fn credential(&mut self, owner: CredentialOwner) -> Result<CredentialRow>;
    /// Sets a new password hash (and resets failures).
    async fn set_password(&mut self, owner: CredentialOwner, password_hash: &str, now: Timestamp) -> Result<()>;
    /// Stores the throttle state after a login attempt.
    async fn set_login_state(
        &mut self,
        owner: CredentialOwner,
        failures: u32,
        last_failure_at: Option<i64>,
        locked_until: Option<i64>,
    ) -> Result<()>;
    /// Stores a wrapped TOTP seed (or clears it) and its enrolment state.
    async fn set_totp(&mut self, owner: CredentialOwner, wrapped_seed: Option<&[u8]>, enrolled: bool) -> Result<()>;
    /// Records the last TOTP step used; refuses (returns `false`) a step not newer than the stored one.
    async fn advance_totp_step(&mut self, owner: CredentialOwner, step: i64) -> Result<bool>;
    /// Records who created an account (`created`) and who set its password or second factor last
    /// (`credentials`); `None` leaves a column as it is.
    async fn record_account_control(
        &mut self,
        owner: CredentialOwner,
        created: Option<PrincipalId>,
        credentials: Option<PrincipalId>,
    ) -> Result<()>;
    /// Who created an account and who last set its credentials, where recorded.
    async fn account_control(&mut self, owner: CredentialOwner) -> Result<AccountControl>;
    /// Whether an operator may approve provider ceremonies, and since when that holds is in the
    /// ceremonies that appointed them.
    async fn operator_may_approve(&mut self, id: OperatorId) -> Result<bool>;
    /// Adds an operator to (or removes one from) the approvers of provider ceremonies.
    async fn set_operator_may_approve(&mut self, id: OperatorId, may: bool) -> Result<()>;
    /// Stores (replacing any earlier one) a one-time code of `principal` for `purpose`, as a
    /// digest, with what it confirms (`target`, e.g. an address) and its expiry.
    async fn put_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        target: Option<&str>,
        expires_at: i64,
    ) -> Result<()>;
    /// Uses a one-time code: when `digest` matches an unexpired code of `principal` for
    /// `purpose`, deletes it and returns `Some(target)`; otherwise `None`.
    async fn take_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        now: i64,
    ) -> Result<Option<Option<String>>>;
    /// The e-mail address a user confirmed themself.
    async fn confirmed_email(&mut self, tenant: TenantId, user: UserId) -> Result<Option<String>>;
    /// Records the address a user confirmed.
    async fn set_confirmed_email(&mut self, tenant: TenantId, user: UserId, address: Option<&str>) -> Result<()>;
    /// Replaces a user's recovery codes (digests only).
    async fn replace_recovery_codes(&mut self, tenant: TenantId, user: UserId, digests: &[String]) -> Result<()>;
    /// Marks a recovery code used; `false` when unknown or already used.
    async fn use_recovery_code(&mut self, tenant: TenantId, user: UserId, digest: &str, now: Timestamp)
    -> Result<bool>;

    /// Inserts a role.
    async fn insert_role(&mut self, role: &Role) -> Result<()>;
    /// All roles of a tenant.
    async fn roles(&mut self, tenant: TenantId) -> Result<Vec<Role>>;
    /// One role.
    async fn role(&mut self, tenant: TenantId, id: RoleId) -> Result<Role>;
    /// One role by name.
    async fn role_by_name(&mut self, tenant: TenantId, name: &str) -> Result<Role>;
    /// Changes a custom role.
    async fn update_role(
        &mut self,
        tenant: TenantId,
        id: RoleId,
        description: &str,
        privileges: &[Privilege],
    ) -> Result<()>;
    /// Deletes a role no grant references.
    async fn delete_role(&mut self, tenant: TenantId, id: RoleId) -> Result<()>;

    /// Inserts a grant.
    async fn insert_grant(&mut self, grant: &Grant) -> Result<()>;
    /// All grants of a tenant.
    async fn grants(&mut self, tenant: TenantId) -> Result<Vec<Grant>>;
    /// Grants held by one user or service account.
    async fn grants_of(&mut self, tenant: TenantId, grantee: Grantee) -> Result<Vec<Grant>>;
    /// Grants held by one user or service account, each with its role, in one query (every
    /// request's authentication reads them).
    async fn grants_with_roles(&mut self, tenant: TenantId, grantee: Grantee) -> Result<Vec<(Grant, Role)>>;
    /// One grant.
    async fn grant(&mut self, tenant: TenantId, id: GrantId) -> Result<Grant>;
    /// Deletes a grant.
    async fn delete_grant(&mut self, tenant: TenantId, id: GrantId) -> Result<()>;

    /// Inserts a service account with the digest of its first token.
    async fn insert_service_account(&mut self, account: &ServiceAccount, token_digest: &str) -> Result<()>;
    /// All service accounts of a tenant.
    async fn service_accounts(&mut self, tenant: TenantId) -> Result<Vec<ServiceAccount>>;
    /// One service account.
    async fn service_account(&mut self, tenant: TenantId, id: ServiceAccountId) -> Result<ServiceAccount>;
    /// The (unrevoked or revoked) account owning a token digest, in any tenant.
    async fn service_account_by_token(&mut self, token_digest: &str) -> Result<ServiceAccount>;
    /// Replaces the token.
    async fn rotate_service_account_token(
        &mut self,
        tenant: TenantId,
        id: ServiceAccountId,
        token_digest: &str,
        token_prefix: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<()>;
    /// Revokes the account's token.
    async fn revoke_service_account(&mut self, tenant: TenantId, id: ServiceAccountId, now: Timestamp) -> Result<()>;
    /// Records a use.
    async fn touch_service_account(&mut self, id: ServiceAccountId, now: Timestamp) -> Result<()>;

    /// Inserts a session.
    async fn insert_session(&mut self, session: &SessionRow) -> Result<()>;
    /// A session by token digest.
    async fn session_by_digest(&mut self, token_digest: &str) -> Result<SessionRow>;
    /// Records activity on a session.
    async fn touch_session(&mut self, token_digest: &str, now: i64) -> Result<()>;
    /// Revokes one session of a principal.
    async fn revoke_session(&mut self, principal: PrincipalId, id: SessionId, now: i64) -> Result<()>;
    /// Revokes every session of a principal, except one; returns how many.
    async fn revoke_sessions_of(&mut self, principal: PrincipalId, except: Option<SessionId>, now: i64) -> Result<u64>;
    /// Turns an enrolment-only session into a full one after a second factor was enrolled.
    async fn upgrade_session(&mut self, id: SessionId) -> Result<()>;
    /// Live and recent sessions of a principal.
    async fn sessions_of(&mut self, principal: PrincipalId) -> Result<Vec<SessionRow>>;
    /// One session by its id (not its token).
    async fn session_by_id(&mut self, id: SessionId) -> Result<SessionRow>;

    /// Inserts a notification.
    async fn insert_notification(&mut self, n: &Notification) -> Result<()>;
    /// Latest notifications of a tenant, newest first.
    async fn notifications(&mut self, tenant: TenantId, limit: i64) -> Result<Vec<Notification>>;

    /// Stores a wrapped server key.
    async fn insert_signing_key(&mut self, key: &SigningKeyRow) -> Result<()>;
    /// The newest key for a purpose.
    async fn signing_key(&mut self, purpose: &str) -> Result<Option<SigningKeyRow>>;
}

/// The key bound as `$1` in credential statements.
fn owner_key(owner: CredentialOwner) -> String {
    match owner {
        CredentialOwner::Operator(id) => id.to_string(),
        CredentialOwner::User(_, id) => id.to_string(),
    }
}

macro_rules! by_owner {
    ($owner:expr, $op:literal, $user:literal) => {
        match $owner {
            CredentialOwner::Operator(_) => $op,
            CredentialOwner::User(..) => $user,
        }
    };
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

impl<C: Conn> IdentityStore for C {
    async fn insert_operator(&mut self, id: OperatorId, login: &str, hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_operator (id, login, password_hash, password_changed_at, created_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id.to_string())
        .bind(login.to_owned())
        .bind(hash.to_owned())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn operator_by_login(&mut self, login: &str) -> Result<OperatorId> {
        let row = sqlx::query("SELECT id FROM cfg_operator WHERE login = $1")
            .bind(login.to_owned())
            .fetch_one(self.conn())
            .await?;
        Ok(OperatorId(col_uuid(&row, "id")?))
    }

    async fn operator_count(&mut self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM cfg_operator").fetch_one(self.conn()).await?;
        Ok(row.try_get("n")?)
    }

    async fn operators(&mut self) -> Result<Vec<(OperatorId, String, Timestamp)>> {
        let rows = sqlx::query("SELECT id, login, created_at FROM cfg_operator ORDER BY created_at, id")
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|r| Ok((OperatorId(col_uuid(r, "id")?), r.try_get("login")?, Timestamp(r.try_get("created_at")?))))
            .collect()
    }

    async fn insert_credential(&mut self, tenant: TenantId, user: UserId, hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_credential (user_id, tenant_id, password_hash, password_changed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.to_string())
        .bind(tenant.to_string())
        .bind(hash.to_owned())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn credential(&mut self, owner: CredentialOwner) -> Result<CredentialRow> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "SELECT password_hash, failures, last_failure_at, locked_until, totp_seed, totp_enrolled, totp_last_step, \
             password_changed_at FROM cfg_operator WHERE id = $1 AND $2 = $2",
            "SELECT password_hash, failures, last_failure_at, locked_until, totp_seed, totp_enrolled, totp_last_step, \
             password_changed_at FROM cfg_credential WHERE user_id = $1 AND tenant_id = $2"
        );
        let row = sqlx::query(sql).bind(key).bind(owner_tenant(owner)).fetch_one(self.conn()).await?;
        let failures: i64 = row.try_get("failures")?;
        let enrolled: i64 = row.try_get("totp_enrolled")?;
        Ok(CredentialRow {
            password_hash: row.try_get("password_hash")?,
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_failure_at: row.try_get("last_failure_at")?,
            locked_until: row.try_get("locked_until")?,
            totp_seed: row.try_get("totp_seed")?,
            totp_enrolled: enrolled != 0,
            totp_last_step: row.try_get("totp_last_step")?,
            password_changed_at: row.try_get("password_changed_at")?,
        })
    }

    async fn set_password(&mut self, owner: CredentialOwner, hash: &str, now: Timestamp) -> Result<()> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "UPDATE cfg_operator SET password_hash = $3, password_changed_at = $4, failures = 0, locked_until = NULL \
             WHERE id = $1 AND $2 = $2",
            "UPDATE cfg_credential SET password_hash = $3, password_changed_at = $4, failures = 0, locked_until = NULL \
             WHERE user_id = $1 AND tenant_id = $2"
        );
        let r = sqlx::query(sql)
            .bind(key)
            .bind(owner_tenant(owner))
            .bind(hash.to_owned())
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn set_login_state(
        &mut self,
        owner: CredentialOwner,
        failures: u32,
        last_failure_at: Option<i64>,
        locked_until: Option<i64>,
    ) -> Result<()> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "UPDATE cfg_operator SET failures = $3, last_failure_at = $4, locked_until = $5 WHERE id = $1 AND $2 = $2",
            "UPDATE cfg_credential SET failures = $3, last_failure_at = $4, locked_until = $5 \
             WHERE user_id = $1 AND tenant_id = $2"
        );
        let r = sqlx::query(sql)
            .bind(key)
            .bind(owner_tenant(owner))
            .bind(i64::from(failures))
            .bind(last_failure_at)
            .bind(locked_until)
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn set_totp(&mut self, owner: CredentialOwner, seed: Option<&[u8]>, enrolled: bool) -> Result<()> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "UPDATE cfg_operator SET totp_seed = $3, totp_enrolled = $4, totp_last_step = NULL WHERE id = $1 AND $2 = $2",
            "UPDATE cfg_credential SET totp_seed = $3, totp_enrolled = $4, totp_last_step = NULL \
             WHERE user_id = $1 AND tenant_id = $2"
        );
        let r = sqlx::query(sql)
            .bind(key)
            .bind(owner_tenant(owner))
            .bind(seed.map(<[u8]>::to_vec))
            .bind(i64::from(enrolled))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn record_account_control(
        &mut self,
        owner: CredentialOwner,
        created: Option<PrincipalId>,
        credentials: Option<PrincipalId>,
    ) -> Result<()> {
        let key = owner_key(owner);
        let (created_sql, credentials_sql) = match owner {
            CredentialOwner::Operator(_) => (
                "UPDATE cfg_operator SET created_by = $3 WHERE id = $1 AND $2 = $2",
                "UPDATE cfg_operator SET credentials_set_by = $3 WHERE id = $1 AND $2 = $2",
            ),
            CredentialOwner::User(..) => (
                "UPDATE cfg_user SET created_by = $3 WHERE id = $1 AND tenant_id = $2",
                "UPDATE cfg_credential SET credentials_set_by = $3 WHERE user_id = $1 AND tenant_id = $2",
            ),
        };
        for (sql, by) in [(created_sql, created), (credentials_sql, credentials)] {
            let Some(by) = by else { continue };
            let r = sqlx::query(sql)
                .bind(key.clone())
                .bind(owner_tenant(owner))
                .bind(by.to_string())
                .execute(self.conn())
                .await?;
            affected(r)?;
        }
        Ok(())
    }

    async fn account_control(&mut self, owner: CredentialOwner) -> Result<AccountControl> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "SELECT created_by, credentials_set_by FROM cfg_operator WHERE id = $1 AND $2 = $2",
            "SELECT u.created_by, c.credentials_set_by FROM cfg_user u \
             LEFT JOIN cfg_credential c ON c.user_id = u.id WHERE u.id = $1 AND u.tenant_id = $2"
        );
        let row = sqlx::query(sql).bind(key).bind(owner_tenant(owner)).fetch_one(self.conn()).await?;
        let parse = |col: &str| -> Result<Option<PrincipalId>> {
            let v: Option<String> = row.try_get(col)?;
            Ok(v.and_then(|s| s.parse().ok()))
        };
        Ok(AccountControl { created_by: parse("created_by")?, credentials_set_by: parse("credentials_set_by")? })
    }

    async fn put_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        target: Option<&str>,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO op_one_time_code (principal, purpose, digest, target, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (principal, purpose) DO UPDATE SET digest = $3, target = $4, expires_at = $5",
        )
        .bind(principal.to_string())
        .bind(purpose.to_owned())
        .bind(digest.to_owned())
        .bind(target.map(str::to_owned))
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn take_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        now: i64,
    ) -> Result<Option<Option<String>>> {
        let row = sqlx::query(
            "SELECT digest, target, expires_at FROM op_one_time_code WHERE principal = $1 AND purpose = $2",
        )
        .bind(principal.to_string())
        .bind(purpose.to_owned())
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("digest")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        // Digests of random codes: equal length, compared without early exit.
        let same = stored.len() == digest.len()
            && stored.bytes().zip(digest.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same || now >= expires_at {
            return Ok(None);
        }
        sqlx::query("DELETE FROM op_one_time_code WHERE principal = $1 AND purpose = $2")
            .bind(principal.to_string())
            .bind(purpose.to_owned())
            .execute(self.conn())
            .await?;
        Ok(Some(row.try_get("target")?))
    }

    async fn confirmed_email(&mut self, tenant: TenantId, user: UserId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT confirmed_email FROM cfg_credential WHERE user_id = $1 AND tenant_id = $2")
            .bind(user.to_string())
            .bind(tenant.to_string())
            .fetch_optional(self.conn())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("confirmed_email")?,
            None => None,
        })
    }

    async fn set_confirmed_email(&mut self, tenant: TenantId, user: UserId, address: Option<&str>) -> Result<()> {
        let r = sqlx::query("UPDATE cfg_credential SET confirmed_email = $3 WHERE user_id = $1 AND tenant_id = $2")
            .bind(user.to_string())
            .bind(tenant.to_string())
            .bind(address.map(str::to_owned))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn operator_may_approve(&mut self, id: OperatorId) -> Result<bool> {
        let row = sqlx::query("SELECT may_approve FROM cfg_operator WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        let v: i64 = row.try_get("may_approve")?;
        Ok(v != 0)
    }

    async fn set_operator_may_approve(&mut self, id: OperatorId, may: bool) -> Result<()> {
        let r = sqlx::query("UPDATE cfg_operator SET may_approve = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(i64::from(may))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn advance_totp_step(&mut self, owner: CredentialOwner, step: i64) -> Result<bool> {
        let key = owner_key(owner);
        let sql = by_owner!(
            owner,
            "UPDATE cfg_operator SET totp_last_step = $3 WHERE id = $1 AND $2 = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $3)",
            "UPDATE cfg_credential SET totp_last_step = $3 WHERE user_id = $1 AND tenant_id = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $3)"
        );
        let r = sqlx::query(sql).bind(key).bind(owner_tenant(owner)).bind(step).execute(self.conn()).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&mut self, tenant: TenantId, user: UserId, digests: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM cfg_recovery_code WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(self.conn())
            .await?;
        for d in digests {
            sqlx::query("INSERT INTO cfg_recovery_code (user_id, tenant_id, digest) VALUES ($1, $2, $3)")
                .bind(user.to_string())
                .bind(tenant.to_string())
                .bind(d.clone())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn use_recovery_code(
        &mut self,
        tenant: TenantId,
        user: UserId,
        digest: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE cfg_recovery_code SET used_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND digest = $3 AND used_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(digest.to_owned())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_role(&mut self, r: &Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_role (id, tenant_id, name, description, privileges, builtin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.name.clone())
        .bind(r.description.clone())
        .bind(to_json(&r.privileges)?)
        .bind(i64::from(r.builtin))
        .bind(r.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn roles(&mut self, tenant: TenantId) -> Result<Vec<Role>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, description, privileges, builtin, created_at FROM cfg_role \
             WHERE tenant_id = $1 ORDER BY builtin DESC, name",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(role_row).collect()
    }

    async fn role(&mut self, tenant: TenantId, id: RoleId) -> Result<Role> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, description, privileges, builtin, created_at FROM cfg_role \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        role_row(&row)
    }

    async fn role_by_name(&mut self, tenant: TenantId, name: &str) -> Result<Role> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, description, privileges, builtin, created_at FROM cfg_role \
             WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant.to_string())
        .bind(name.to_owned())
        .fetch_one(self.conn())
        .await?;
        role_row(&row)
    }

    async fn update_role(
        &mut self,
        tenant: TenantId,
        id: RoleId,
        description: &str,
        privileges: &[Privilege],
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE cfg_role SET description = $3, privileges = $4 WHERE tenant_id = $1 AND id = $2 AND builtin = 0",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(description.to_owned())
        .bind(to_json(&privileges)?)
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn delete_role(&mut self, tenant: TenantId, id: RoleId) -> Result<()> {
        let r = sqlx::query("DELETE FROM cfg_role WHERE tenant_id = $1 AND id = $2 AND builtin = 0")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn insert_grant(&mut self, g: &Grant) -> Result<()> {
        let (user, sa) = match g.grantee {
            Grantee::User(u) => (Some(u.to_string()), None),
            Grantee::ServiceAccount(s) => (None, Some(s.to_string())),
        };
        // The role and the grantee must be in the grant's tenant; the SELECT makes a foreign id
        // insert nothing.
        let r = sqlx::query(
            "INSERT INTO cfg_grant (id, tenant_id, user_id, service_account_id, role_id, scope, created_at) \
             SELECT $1, $2, $3, $4, r.id, $6, $7 FROM cfg_role r WHERE r.tenant_id = $2 AND r.id = $5 \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM cfg_user u WHERE u.tenant_id = $2 AND u.id = $3)) \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM cfg_service_account s WHERE s.tenant_id = $2 AND s.id = $4))",
        )
        .bind(g.id.to_string())
        .bind(g.tenant_id.to_string())
        .bind(user)
        .bind(sa)
        .bind(g.role_id.to_string())
        .bind(to_json(&g.scope)?)
        .bind(g.created_at.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn grants(&mut self, tenant: TenantId) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, user_id, service_account_id, role_id, scope, created_at FROM cfg_grant \
             WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(grant_row).collect()
    }

    async fn grants_of(&mut self, tenant: TenantId, grantee: Grantee) -> Result<Vec<Grant>> {
        let sql = match grantee {
            Grantee::User(_) => {
                "SELECT id, tenant_id, user_id, service_account_id, role_id, scope, created_at FROM cfg_grant \
                 WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id"
            }
            Grantee::ServiceAccount(_) => {
                "SELECT id, tenant_id, user_id, service_account_id, role_id, scope, created_at FROM cfg_grant \
                 WHERE tenant_id = $1 AND service_account_id = $2 ORDER BY created_at, id"
            }
        };
        let rows = sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(grantee.principal().uuid().to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(grant_row).collect()
    }

    async fn grants_with_roles(&mut self, tenant: TenantId, grantee: Grantee) -> Result<Vec<(Grant, Role)>> {
        let sql = match grantee {
            Grantee::User(_) => {
                "SELECT g.id, g.tenant_id, g.user_id, g.service_account_id, g.role_id, g.scope, g.created_at, \
                 r.name AS role_name, r.description AS role_description, r.privileges AS role_privileges, \
                 r.builtin AS role_builtin, r.created_at AS role_created_at \
                 FROM cfg_grant g JOIN cfg_role r ON r.tenant_id = g.tenant_id AND r.id = g.role_id \
                 WHERE g.tenant_id = $1 AND g.user_id = $2 ORDER BY g.created_at, g.id"
            }
            Grantee::ServiceAccount(_) => {
                "SELECT g.id, g.tenant_id, g.user_id, g.service_account_id, g.role_id, g.scope, g.created_at, \
                 r.name AS role_name, r.description AS role_description, r.privileges AS role_privileges, \
                 r.builtin AS role_builtin, r.created_at AS role_created_at \
                 FROM cfg_grant g JOIN cfg_role r ON r.tenant_id = g.tenant_id AND r.id = g.role_id \
                 WHERE g.tenant_id = $1 AND g.service_account_id = $2 ORDER BY g.created_at, g.id"
            }
        };
        let rows = sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(grantee.principal().uuid().to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|row| {
                let grant = grant_row(row)?;
                let builtin: i64 = row.try_get("role_builtin")?;
                let role = Role {
                    id: grant.role_id,
                    tenant_id: grant.tenant_id,
                    name: row.try_get("role_name")?,
                    description: row.try_get("role_description")?,
                    privileges: col_json(row, "role_privileges")?,
                    builtin: builtin != 0,
                    created_at: Timestamp(row.try_get("role_created_at")?),
                };
                Ok((grant, role))
            })
            .collect()
    }

    async fn grant(&mut self, tenant: TenantId, id: GrantId) -> Result<Grant> {
        let row = sqlx::query(
            "SELECT id, tenant_id, user_id, service_account_id, role_id, scope, created_at FROM cfg_grant \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        grant_row(&row)
    }

    async fn delete_grant(&mut self, tenant: TenantId, id: GrantId) -> Result<()> {
        let r = sqlx::query("DELETE FROM cfg_grant WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn insert_service_account(&mut self, a: &ServiceAccount, token_digest: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_service_account (id, tenant_id, name, token_digest, token_prefix, created_at, \
             expires_at, token_lifetime_days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.to_string())
        .bind(a.tenant_id.to_string())
        .bind(a.name.clone())
        .bind(token_digest.to_owned())
        .bind(a.token_prefix.clone())
        .bind(a.created_at.millis())
        .bind(a.expires_at.map(|t| t.millis()))
        .bind(a.token_lifetime_days.map(i64::from))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn service_accounts(&mut self, tenant: TenantId) -> Result<Vec<ServiceAccount>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, token_prefix, created_at, last_used_at, revoked_at, expires_at, \
             token_lifetime_days FROM cfg_service_account \
             WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(service_account_row).collect()
    }

    async fn service_account(&mut self, tenant: TenantId, id: ServiceAccountId) -> Result<ServiceAccount> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, token_prefix, created_at, last_used_at, revoked_at, expires_at, \
             token_lifetime_days FROM cfg_service_account \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        service_account_row(&row)
    }

    async fn service_account_by_token(&mut self, token_digest: &str) -> Result<ServiceAccount> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, token_prefix, created_at, last_used_at, revoked_at, expires_at, \
             token_lifetime_days FROM cfg_service_account \
             WHERE token_digest = $1",
        )
        .bind(token_digest.to_owned())
        .fetch_one(self.conn())
        .await?;
        service_account_row(&row)
    }

    async fn rotate_service_account_token(
        &mut self,
        tenant: TenantId,
        id: ServiceAccountId,
        token_digest: &str,
        token_prefix: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<()> {
        // A revoked account is never reactivated: rotation touches active accounts only.
        let r = sqlx::query(
            "UPDATE cfg_service_account SET token_digest = $3, token_prefix = $4, expires_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(token_digest.to_owned())
        .bind(token_prefix.to_owned())
        .bind(expires_at.map(|t| t.millis()))
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn revoke_service_account(&mut self, tenant: TenantId, id: ServiceAccountId, now: Timestamp) -> Result<()> {
        let r = sqlx::query(
            "UPDATE cfg_service_account SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn touch_service_account(&mut self, id: ServiceAccountId, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE cfg_service_account SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_session(&mut self, s: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO op_session (token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, \
             created_at, last_seen_at, idle_timeout_ms, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
        )
        .bind(s.token_digest.clone())
        .bind(s.id.to_string())
        .bind(s.tenant_id.map(|t| t.to_string()))
        .bind(s.principal.kind())
        .bind(s.principal.uuid().to_string())
        .bind(s.purpose.clone())
        .bind(i64::from(s.second_factor))
        .bind(s.created_at)
        .bind(s.idle_timeout_ms)
        .bind(s.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn session_by_digest(&mut self, token_digest: &str) -> Result<SessionRow> {
        let row = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE token_digest = $1",
        )
        .bind(token_digest.to_owned())
        .fetch_one(self.conn())
        .await?;
        session_row(&row)
    }

    async fn touch_session(&mut self, token_digest: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE op_session SET last_seen_at = $2 WHERE token_digest = $1 AND last_seen_at < $2")
            .bind(token_digest.to_owned())
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn revoke_session(&mut self, principal: PrincipalId, id: SessionId, now: i64) -> Result<()> {
        let r = sqlx::query(
            "UPDATE op_session SET revoked_at = $3 WHERE principal_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(principal.uuid().to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn revoke_sessions_of(&mut self, principal: PrincipalId, except: Option<SessionId>, now: i64) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE op_session SET revoked_at = $3 WHERE principal_id = $1 AND revoked_at IS NULL \
             AND ($2 IS NULL OR id <> $2)",
        )
        .bind(principal.uuid().to_string())
        .bind(except.map(|s| s.to_string()))
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(r.rows_affected())
    }

    async fn upgrade_session(&mut self, id: SessionId) -> Result<()> {
        let r = sqlx::query(
            "UPDATE op_session SET purpose = 'full', second_factor = 1 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn sessions_of(&mut self, principal: PrincipalId) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE principal_id = $1 \
             ORDER BY created_at DESC",
        )
        .bind(principal.uuid().to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(session_row).collect()
    }

    async fn session_by_id(&mut self, id: SessionId) -> Result<SessionRow> {
        let row = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        session_row(&row)
    }

    async fn insert_notification(&mut self, n: &Notification) -> Result<()> {
        sqlx::query(
            "INSERT INTO op_notification (id, tenant_id, kind, audience, message, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(n.id.to_string())
        .bind(n.tenant_id.to_string())
        .bind(n.kind.clone())
        .bind(n.audience.clone())
        .bind(n.message.clone())
        .bind(to_json(&n.details)?)
        .bind(n.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn notifications(&mut self, tenant: TenantId, limit: i64) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, audience, message, details, created_at FROM op_notification \
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(notification_row).collect()
    }

    async fn insert_signing_key(&mut self, k: &SigningKeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_signing_key (key_id, purpose, public_key, wrapped_secret, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(k.key_id.clone())
        .bind(k.purpose.clone())
        .bind(k.public_key.clone())
        .bind(k.wrapped_secret.clone())
        .bind(k.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn signing_key(&mut self, purpose: &str) -> Result<Option<SigningKeyRow>> {
        let row = sqlx::query(
            "SELECT key_id, purpose, public_key, wrapped_secret, created_at FROM cfg_signing_key WHERE purpose = $1 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(purpose.to_owned())
        .fetch_optional(self.conn())
        .await?;
        row.map(|row| {
            Ok(SigningKeyRow {
                key_id: row.try_get("key_id")?,
                purpose: row.try_get("purpose")?,
                public_key: row.try_get("public_key")?,
                wrapped_secret: row.try_get("wrapped_secret")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }
}

/// The tenant bound as `$2` in credential statements; operators have none, so their statements
/// compare `$2` with itself.
fn owner_tenant(owner: CredentialOwner) -> String {
    match owner {
        CredentialOwner::Operator(_) => String::new(),
        CredentialOwner::User(t, _) => t.to_string(),
    }
}
