//! Which optional categories of personal data are not collected, per tenant and per user.

use callvault_model::personal::Category;
use callvault_model::records::Timestamp;
use callvault_model::{TenantId, UserId};
use sqlx::Row;

use crate::Writable;
use crate::{Conn, Result, StoreError};

/// Collection switches and the purge of directory information.
pub trait CollectionStore {
    /// What is switched off: (user, or `None` for the whole tenant; category).
    async fn collection_off(&mut self, tenant: TenantId) -> Result<Vec<(Option<UserId>, Category)>>;
    /// Switches a category on (`collected`) or off for the tenant or one user.
    async fn set_collection(
        &mut self,
        tenant: TenantId,
        user: Option<UserId>,
        category: Category,
        collected: bool,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable;
    /// Directory addresses of the tenant, or of one user.
    async fn count_addresses(&mut self, tenant: TenantId, user: Option<UserId>) -> Result<u64>;
    /// Deletes the directory addresses of the tenant, or of one user; returns how many.
    async fn delete_addresses(&mut self, tenant: TenantId, user: Option<UserId>) -> Result<u64>
    where
        Self: Writable;
}

fn user_key(user: Option<UserId>) -> String {
    user.map_or_else(String::new, |u| u.to_string())
}

impl<C: Conn> CollectionStore for C {
    async fn collection_off(&mut self, tenant: TenantId) -> Result<Vec<(Option<UserId>, Category)>> {
        let rows = sqlx::query(
            "SELECT user_id, category FROM cfg_collection_off WHERE tenant_id = $1 ORDER BY user_id, category",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|r| {
                let user: String = r.try_get("user_id")?;
                let category: String = r.try_get("category")?;
                let user = if user.is_empty() {
                    None
                } else {
                    Some(UserId(user.parse().map_err(|_| StoreError::Corrupt("cfg_collection_off: user".into()))?))
                };
                let category = Category::parse(&category)
                    .ok_or_else(|| StoreError::Corrupt("cfg_collection_off: category".into()))?;
                Ok((user, category))
            })
            .collect()
    }

    async fn set_collection(
        &mut self,
        tenant: TenantId,
        user: Option<UserId>,
        category: Category,
        collected: bool,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let q = if collected {
            sqlx::query("DELETE FROM cfg_collection_off WHERE tenant_id = $1 AND user_id = $2 AND category = $3")
        } else {
            sqlx::query(
                "INSERT INTO cfg_collection_off (tenant_id, user_id, category, since) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, user_id, category) DO NOTHING",
            )
        };
        let q = q.bind(tenant.to_string()).bind(user_key(user)).bind(category.as_str());
        let q = if collected { q } else { q.bind(at.millis()) };
        q.execute(self.conn()).await?;
        Ok(())
    }

    async fn count_addresses(&mut self, tenant: TenantId, user: Option<UserId>) -> Result<u64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM dir_address WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2)")
                .bind(tenant.to_string())
                .bind(user_key(user))
                .fetch_one(self.conn())
                .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    async fn delete_addresses(&mut self, tenant: TenantId, user: Option<UserId>) -> Result<u64>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM dir_address WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2)")
            .bind(tenant.to_string())
            .bind(user_key(user))
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }
}
