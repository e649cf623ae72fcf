//! Provider operators and credentials: passwords, login state, TOTP, one-time and recovery codes, confirmed e-mail.

use super::*;

macro_rules! by_owner {
    ($owner:expr, $op:literal, $user:literal) => {
        match $owner {
            CredentialOwner::Operator(_) => $op,
            CredentialOwner::User(..) => $user,
        }
    };
}

/// Provider operators and credentials: passwords, login state, TOTP, one-time and recovery codes, confirmed e-mail.
pub trait CredentialStore {
    /// Inserts a provider operator.
    async fn insert_operator(&mut self, id: OperatorId, login: &str, password_hash: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable;
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
    ) -> Result<()>
    where
        Self: Writable;
    /// Credentials of an operator or user.
    async fn credential(&mut self, owner: CredentialOwner) -> Result<CredentialRow>;
    /// Sets a new password hash (and resets failures).
    async fn set_password(&mut self, owner: CredentialOwner, password_hash: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Stores the throttle state after a login attempt.
    async fn set_login_state(
        &mut self,
        owner: CredentialOwner,
        failures: u32,
        last_failure_at: Option<i64>,
        locked_until: Option<i64>,
    ) -> Result<()>
    where
        Self: Writable;
    /// Counts a failed login in one statement, so failures arriving together all count: an
    /// expired lock (`locked_until <= now`) starts the count again at 1; reaching `lock_at`
    /// locks until `lock_until`. Returns the failures and the lock after the update.
    async fn record_login_failure(
        &mut self,
        owner: CredentialOwner,
        now: i64,
        lock_at: u32,
        lock_until: i64,
    ) -> Result<(u32, Option<i64>)>
    where
        Self: Writable;
    /// Stores a wrapped TOTP seed (or clears it) and its enrolment state.
    async fn set_totp(&mut self, owner: CredentialOwner, wrapped_seed: Option<&[u8]>, enrolled: bool) -> Result<()>
    where
        Self: Writable;
    /// Records the last TOTP step used; refuses (returns `false`) a step not newer than the stored one.
    async fn advance_totp_step(&mut self, owner: CredentialOwner, step: i64) -> Result<bool>
    where
        Self: Writable;
    /// Records who created an account (`created`) and who set its password or second factor last
    /// (`credentials`); `None` leaves a column as it is.
    async fn record_account_control(
        &mut self,
        owner: CredentialOwner,
        created: Option<PrincipalId>,
        credentials: Option<PrincipalId>,
    ) -> Result<()>
    where
        Self: Writable;
    /// Who created an account and who last set its credentials, where recorded.
    async fn account_control(&mut self, owner: CredentialOwner) -> Result<AccountControl>;
    /// Whether an operator may approve provider ceremonies, and since when that holds is in the
    /// ceremonies that appointed them.
    async fn operator_may_approve(&mut self, id: OperatorId) -> Result<bool>;
    /// Adds an operator to (or removes one from) the approvers of provider ceremonies.
    async fn set_operator_may_approve(&mut self, id: OperatorId, may: bool) -> Result<()>
    where
        Self: Writable;
    /// Stores (replacing any earlier one) a one-time code of `principal` for `purpose`, as a
    /// digest, with what it confirms (`target`, e.g. an address) and its expiry.
    async fn put_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        target: Option<&str>,
        expires_at: i64,
    ) -> Result<()>
    where
        Self: Writable;
    /// Uses a one-time code: when `digest` matches an unexpired code of `principal` for
    /// `purpose`, deletes it and returns `Some(target)`; otherwise `None`.
    async fn take_one_time_code(
        &mut self,
        principal: PrincipalId,
        purpose: &str,
        digest: &str,
        now: i64,
    ) -> Result<Option<Option<String>>>
    where
        Self: Writable;
    /// The e-mail address a user confirmed themself.
    async fn confirmed_email(&mut self, tenant: TenantId, user: UserId) -> Result<Option<String>>;
    /// Records the address a user confirmed.
    async fn set_confirmed_email(&mut self, tenant: TenantId, user: UserId, address: Option<&str>) -> Result<()>
    where
        Self: Writable;
    /// Replaces a user's recovery codes (digests only).
    async fn replace_recovery_codes(&mut self, tenant: TenantId, user: UserId, digests: &[String]) -> Result<()>
    where
        Self: Writable;
    /// Marks a recovery code used; `false` when unknown or already used.
    async fn use_recovery_code(&mut self, tenant: TenantId, user: UserId, digest: &str, now: Timestamp) -> Result<bool>
    where
        Self: Writable;
}

impl<C: Conn> CredentialStore for C {
    async fn insert_operator(&mut self, id: OperatorId, login: &str, hash: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn insert_credential(&mut self, tenant: TenantId, user: UserId, hash: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn set_password(&mut self, owner: CredentialOwner, hash: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn record_login_failure(
        &mut self,
        owner: CredentialOwner,
        now: i64,
        lock_at: u32,
        lock_until: i64,
    ) -> Result<(u32, Option<i64>)>
    where
        Self: Writable,
    {
        // Every right-hand side reads the row as it was before this update.
        let sql = by_owner!(
            owner,
            "UPDATE cfg_operator SET \
               failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN 1 ELSE failures + 1 END, \
               locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN NULL \
                 WHEN locked_until IS NOT NULL THEN locked_until WHEN failures + 1 >= $4 THEN $5 ELSE NULL END, \
               last_failure_at = $3 \
             WHERE id = $1 AND $2 = $2 RETURNING failures, locked_until",
            "UPDATE cfg_credential SET \
               failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN 1 ELSE failures + 1 END, \
               locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN NULL \
                 WHEN locked_until IS NOT NULL THEN locked_until WHEN failures + 1 >= $4 THEN $5 ELSE NULL END, \
               last_failure_at = $3 \
             WHERE user_id = $1 AND tenant_id = $2 RETURNING failures, locked_until"
        );
        let row = sqlx::query(sql)
            .bind(owner_key(owner))
            .bind(owner_tenant(owner))
            .bind(now)
            .bind(i64::from(lock_at))
            .bind(lock_until)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        let failures: i64 = row.try_get("failures")?;
        let locked_until: Option<i64> = row.try_get("locked_until")?;
        Ok((u32::try_from(failures).unwrap_or(u32::MAX), locked_until))
    }

    async fn set_totp(&mut self, owner: CredentialOwner, seed: Option<&[u8]>, enrolled: bool) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<Option<Option<String>>>
    where
        Self: Writable,
    {
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

    async fn set_confirmed_email(&mut self, tenant: TenantId, user: UserId, address: Option<&str>) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn set_operator_may_approve(&mut self, id: OperatorId, may: bool) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("UPDATE cfg_operator SET may_approve = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(i64::from(may))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn advance_totp_step(&mut self, owner: CredentialOwner, step: i64) -> Result<bool>
    where
        Self: Writable,
    {
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

    async fn replace_recovery_codes(&mut self, tenant: TenantId, user: UserId, digests: &[String]) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn use_recovery_code(&mut self, tenant: TenantId, user: UserId, digest: &str, now: Timestamp) -> Result<bool>
    where
        Self: Writable,
    {
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
}
