//! In-product notifications.

use super::*;

/// In-product notifications.
pub trait NotificationStore {
    /// Inserts a notification.
    async fn insert_notification(&mut self, n: &Notification) -> Result<()>
    where
        Self: Writable;
    /// Latest notifications of a tenant, newest first.
    async fn notifications(&mut self, tenant: TenantId, limit: i64) -> Result<Vec<Notification>>;
}

impl<C: Conn> NotificationStore for C {
    async fn insert_notification(&mut self, n: &Notification) -> Result<()>
    where
        Self: Writable,
    {
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
}
