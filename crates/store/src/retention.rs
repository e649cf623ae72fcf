//! Retention policies.

use callvault_model::personal::{Category, RetentionPolicy};
use callvault_model::records::Timestamp;
use callvault_model::{RetentionPolicyId, ServiceId, TenantId};
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
