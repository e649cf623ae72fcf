//! Tenants (contact centers) and their capabilities.

use callvault_model::TenantId;
use callvault_model::records::{Tenant, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, affected, col_json, col_uuid, to_json};

/// Tenants: created and switched by provider operators.
pub trait TenantStore {
    /// Inserts a tenant.
    async fn insert_tenant(&mut self, tenant: &Tenant) -> Result<()>
    where
        Self: Writable;
    /// One tenant by id.
    async fn tenant(&mut self, id: TenantId) -> Result<Tenant>;
    /// One tenant by its login slug.
    async fn tenant_by_slug(&mut self, slug: &str) -> Result<Tenant>;
    /// All tenants, oldest first.
    async fn tenants(&mut self) -> Result<Vec<Tenant>>;
    /// Replaces display name, capabilities and settings.
    async fn update_tenant(&mut self, tenant: &Tenant, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// The tenant's generation: a counter that triggers move on with every change to what a
    /// cached admission holds (sessions, tokens, grants, roles, scopes, collection, settings, keys,
    /// users and services going away); `None` when the tenant is gone.
    async fn tenant_generation(&mut self, id: TenantId) -> Result<Option<i64>>;
    /// Every tenant's newest event-logging window.
    async fn event_logging_windows(&mut self) -> Result<Vec<EventLoggingRow>>;
    /// Replaces a tenant's event-logging window.
    async fn put_event_logging(&mut self, row: &EventLoggingRow) -> Result<()>
    where
        Self: Writable;
}

/// A window in which a tenant's communication events are logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLoggingRow {
    /// The tenant.
    pub tenant_id: TenantId,
    /// When the window ends (Unix ms); in the past once it has ended or was switched off.
    pub until: Timestamp,
    /// Who switched it on or off (a principal, as text).
    pub enabled_by: String,
    /// Why.
    pub reason: String,
    /// When it was switched on.
    pub enabled_at: Timestamp,
}

macro_rules! select_tenant {
    ($tail:literal) => {
        concat!("SELECT id, slug, display_name, capabilities, settings, created_at FROM cfg_tenant ", $tail)
    };
}

fn tenant_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId(col_uuid(row, "id")?),
        slug: row.try_get("slug")?,
        display_name: row.try_get("display_name")?,
        capabilities: col_json(row, "capabilities")?,
        settings: col_json(row, "settings")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

impl<C: Conn> TenantStore for C {
    async fn tenant_generation(&mut self, id: TenantId) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT generation FROM cfg_generation WHERE tenant_id = $1")
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await?;
        Ok(row.map(|r| r.try_get("generation")).transpose()?)
    }

    async fn insert_tenant(&mut self, t: &Tenant) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_tenant (id, slug, display_name, capabilities, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(t.id.to_string())
        .bind(&t.slug)
        .bind(&t.display_name)
        .bind(to_json(&t.capabilities)?)
        .bind(to_json(&t.settings)?)
        .bind(t.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn tenant(&mut self, id: TenantId) -> Result<Tenant> {
        let row = sqlx::query(select_tenant!("WHERE id = $1")).bind(id.to_string()).fetch_one(self.conn()).await?;
        tenant_row(&row)
    }

    async fn tenant_by_slug(&mut self, slug: &str) -> Result<Tenant> {
        let row = sqlx::query(select_tenant!("WHERE slug = $1")).bind(slug).fetch_one(self.conn()).await?;
        tenant_row(&row)
    }

    async fn tenants(&mut self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(select_tenant!("ORDER BY created_at, id")).fetch_all(self.conn()).await?;
        rows.iter().map(tenant_row).collect()
    }

    async fn update_tenant(&mut self, t: &Tenant, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE cfg_tenant SET display_name = $2, capabilities = $3, settings = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(t.id.to_string())
        .bind(&t.display_name)
        .bind(to_json(&t.capabilities)?)
        .bind(to_json(&t.settings)?)
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn event_logging_windows(&mut self) -> Result<Vec<EventLoggingRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, until_ms, enabled_by, reason, enabled_at FROM cfg_event_logging ORDER BY tenant_id",
        )
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EventLoggingRow {
                    tenant_id: TenantId(col_uuid(row, "tenant_id")?),
                    until: Timestamp(row.try_get("until_ms")?),
                    enabled_by: row.try_get("enabled_by")?,
                    reason: row.try_get("reason")?,
                    enabled_at: Timestamp(row.try_get("enabled_at")?),
                })
            })
            .collect()
    }

    async fn put_event_logging(&mut self, w: &EventLoggingRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_event_logging (tenant_id, until_ms, enabled_by, reason, enabled_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET until_ms = $2, enabled_by = $3, \
             reason = $4, enabled_at = $5",
        )
        .bind(w.tenant_id.to_string())
        .bind(w.until.millis())
        .bind(&w.enabled_by)
        .bind(&w.reason)
        .bind(w.enabled_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl crate::batch::Batch {
    /// Runs the batch, then reads the generations of `tenants` in the same round trip, held until
    /// the transaction ends (PostgreSQL `FOR SHARE`: a change commits before it is read or waits
    /// for this transaction; SQLite has one writer) (`None`: the tenant is gone).
    pub async fn execute_holding_generations<C: Writable + ?Sized>(
        mut self,
        conn: &mut C,
        tenants: &[TenantId],
    ) -> Result<Vec<(TenantId, Option<i64>)>> {
        if tenants.is_empty() {
            self.execute(conn).await?;
            return Ok(Vec::new());
        }
        let lock = if self.engine() == crate::Backend::Postgres { " FOR SHARE" } else { "" };
        self.select_in("SELECT tenant_id, generation FROM cfg_generation WHERE tenant_id", tenants.len(), lock);
        for t in tenants {
            self.bind(t.to_string())?;
        }
        let rows = self.run(conn).await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.push((TenantId(crate::col_uuid(row, "tenant_id")?), row.try_get::<i64, _>("generation")?));
        }
        Ok(tenants.iter().map(|t| (*t, found.iter().find(|(f, _)| f == t).map(|(_, g)| *g))).collect())
    }
}
