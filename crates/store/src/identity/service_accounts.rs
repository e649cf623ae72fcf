//! Service accounts (dialers, recorders, SBCs) and their tokens.

use super::*;

/// Service accounts (dialers, recorders, SBCs) and their tokens.
pub trait ServiceAccountStore {
    /// Inserts a service account with the digest of its first token.
    async fn insert_service_account(&mut self, account: &ServiceAccount, token_digest: &str) -> Result<()>
    where
        Self: Writable;
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
    ) -> Result<()>
    where
        Self: Writable;
    /// Revokes the account's token.
    async fn revoke_service_account(&mut self, tenant: TenantId, id: ServiceAccountId, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Records a use.
    async fn touch_service_account(&mut self, id: ServiceAccountId, now: Timestamp) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> ServiceAccountStore for C {
    async fn insert_service_account(&mut self, a: &ServiceAccount, token_digest: &str) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn revoke_service_account(&mut self, tenant: TenantId, id: ServiceAccountId, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn touch_service_account(&mut self, id: ServiceAccountId, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("UPDATE cfg_service_account SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
