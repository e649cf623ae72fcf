//! Retention policies.

use callvault_model::personal::{Category, HoldScope, LegalHold, RetentionPolicy};
use callvault_model::records::Timestamp;
use callvault_model::{LegalHoldId, RetentionPolicyId, ServiceId, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_opt_uuid, col_uuid};

/// Retention policies of tenants.
pub trait RetentionStore {
    /// A tenant's policies.
    async fn retention_policies(&mut self, tenant: TenantId) -> Result<Vec<RetentionPolicy>>;
    /// The tenants that have any policy.
    async fn tenants_with_retention(&mut self) -> Result<Vec<TenantId>>;
    /// Inserts a policy.
    async fn insert_retention_policy(&mut self, policy: &RetentionPolicy) -> Result<()>
    where
        Self: Writable;
    /// Deletes a policy.
    async fn delete_retention_policy(&mut self, tenant: TenantId, id: RetentionPolicyId) -> Result<()>
    where
        Self: Writable;
    /// Records that `kind` `id` was erased (purged or erased on request) at `at` for `reason`.
    async fn insert_tombstone(
        &mut self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        category: Category,
        at: Timestamp,
        reason: &str,
    ) -> Result<()>
    where
        Self: Writable;
    /// When and why `kind` `id` was erased, if it was.
    async fn tombstone(&mut self, tenant: TenantId, kind: &str, id: &str) -> Result<Option<(Timestamp, String)>>;
    /// A tenant's legal holds, released ones included, oldest first.
    async fn legal_holds(&mut self, tenant: TenantId) -> Result<Vec<LegalHold>>;
    /// Places a legal hold.
    async fn insert_legal_hold(&mut self, hold: &LegalHold) -> Result<()>
    where
        Self: Writable;
    /// Releases a hold that still holds.
    async fn release_legal_hold(&mut self, tenant: TenantId, id: LegalHoldId, at: Timestamp) -> Result<()>
    where
        Self: Writable;
}

fn hold_row(row: &AnyRow) -> Result<LegalHold> {
    let scope: String = row.try_get("scope")?;
    Ok(LegalHold {
        id: LegalHoldId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        name: row.try_get("name")?,
        reason: row.try_get("reason")?,
        scope: serde_json::from_str::<HoldScope>(&scope)
            .map_err(|e| StoreError::Corrupt(format!("hold scope: {e}")))?,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp(row.try_get("created_at")?),
        released_at: row.try_get::<Option<i64>, _>("released_at")?.map(Timestamp),
    })
}

fn policy_row(row: &AnyRow) -> Result<RetentionPolicy> {
    let category: String = row.try_get("category")?;
    Ok(RetentionPolicy {
        id: RetentionPolicyId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        category: Category::parse(&category).ok_or_else(|| StoreError::Corrupt("retention category".into()))?,
        service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
        days: u32::try_from(row.try_get::<i64, _>("days")?)
            .map_err(|_| StoreError::Corrupt("retention days".into()))?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

impl<C: Conn> RetentionStore for C {
    async fn retention_policies(&mut self, tenant: TenantId) -> Result<Vec<RetentionPolicy>> {
        sqlx::query(
            "SELECT id, tenant_id, category, service_id, days, created_at FROM cfg_retention_policy \
             WHERE tenant_id = $1 ORDER BY category, created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(policy_row)
        .collect()
    }

    async fn tenants_with_retention(&mut self) -> Result<Vec<TenantId>> {
        sqlx::query("SELECT DISTINCT tenant_id FROM cfg_retention_policy ORDER BY tenant_id")
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "tenant_id").map(TenantId))
            .collect()
    }

    async fn insert_retention_policy(&mut self, p: &RetentionPolicy) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_retention_policy (id, tenant_id, category, service_id, days, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.tenant_id.to_string())
        .bind(p.category.as_str())
        .bind(p.service_id.map(|s| s.to_string()))
        .bind(i64::from(p.days))
        .bind(p.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn insert_tombstone(
        &mut self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        category: Category,
        at: Timestamp,
        reason: &str,
    ) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_tombstone (tenant_id, kind, id, category, erased_at, reason) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, kind, id) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(kind)
        .bind(id)
        .bind(category.as_str())
        .bind(at.millis())
        .bind(reason)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn tombstone(&mut self, tenant: TenantId, kind: &str, id: &str) -> Result<Option<(Timestamp, String)>> {
        let row =
            sqlx::query("SELECT erased_at, reason FROM op_tombstone WHERE tenant_id = $1 AND kind = $2 AND id = $3")
                .bind(tenant.to_string())
                .bind(kind)
                .bind(id)
                .fetch_optional(self.conn())
                .await?;
        row.map(|r| Ok((Timestamp(r.try_get("erased_at")?), r.try_get("reason")?))).transpose()
    }

    async fn legal_holds(&mut self, tenant: TenantId) -> Result<Vec<LegalHold>> {
        sqlx::query(
            "SELECT id, tenant_id, name, reason, scope, created_by, created_at, released_at FROM op_legal_hold \
             WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(hold_row)
        .collect()
    }

    async fn insert_legal_hold(&mut self, h: &LegalHold) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_legal_hold (id, tenant_id, name, reason, scope, created_by, created_at, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(h.id.to_string())
        .bind(h.tenant_id.to_string())
        .bind(&h.name)
        .bind(&h.reason)
        .bind(crate::to_json(&h.scope)?)
        .bind(&h.created_by)
        .bind(h.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn release_legal_hold(&mut self, tenant: TenantId, id: LegalHoldId, at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_legal_hold SET released_at = $3 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(at.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn delete_retention_policy(&mut self, tenant: TenantId, id: RetentionPolicyId) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_retention_policy WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}
