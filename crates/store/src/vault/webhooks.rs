//! A tenant's signed webhooks.

use super::*;

/// A tenant's signed webhooks.
pub trait WebhookStore {
    /// Inserts a webhook.
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()>
    where
        Self: Writable;
    /// A tenant's webhooks.
    async fn webhooks(&mut self, tenant: TenantId) -> Result<Vec<Webhook>>;
    /// Deletes a webhook.
    async fn delete_webhook(&mut self, tenant: TenantId, id: WebhookId) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> WebhookStore for C {
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_webhook (id, tenant_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(w.id.to_string())
        .bind(w.tenant_id.to_string())
        .bind(w.url.clone())
        .bind(to_json(&w.events)?)
        .bind(w.wrapped_secret.clone())
        .bind(w.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn webhooks(&mut self, tenant: TenantId) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, url, events, secret, created_at FROM cfg_webhook WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Webhook {
                    id: WebhookId(col_uuid(r, "id")?),
                    tenant_id: TenantId(col_uuid(r, "tenant_id")?),
                    url: r.try_get("url")?,
                    events: col_json(r, "events")?,
                    created_at: Timestamp(r.try_get("created_at")?),
                    wrapped_secret: r.try_get("secret")?,
                })
            })
            .collect()
    }

    async fn delete_webhook(&mut self, tenant: TenantId, id: WebhookId) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_webhook WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}
