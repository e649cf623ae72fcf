//! Roles and their privileges.

use super::*;

/// Roles and their privileges.
pub trait RoleStore {
    /// Inserts a role.
    async fn insert_role(&mut self, role: &Role) -> Result<()>
    where
        Self: Writable;
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
    ) -> Result<()>
    where
        Self: Writable;
    /// Brings a built-in role to the current table of its default role (at start-up, after an
    /// upgrade changed the table).
    async fn update_builtin_role(
        &mut self,
        tenant: TenantId,
        id: RoleId,
        description: &str,
        privileges: &[Privilege],
    ) -> Result<()>
    where
        Self: Writable;
    /// Deletes a role no grant references.
    async fn delete_role(&mut self, tenant: TenantId, id: RoleId) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> RoleStore for C {
    async fn insert_role(&mut self, r: &Role) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
        set_role(self, tenant, id, description, privileges, false).await
    }

    async fn update_builtin_role(
        &mut self,
        tenant: TenantId,
        id: RoleId,
        description: &str,
        privileges: &[Privilege],
    ) -> Result<()>
    where
        Self: Writable,
    {
        set_role(self, tenant, id, description, privileges, true).await
    }

    async fn delete_role(&mut self, tenant: TenantId, id: RoleId) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_role WHERE tenant_id = $1 AND id = $2 AND builtin = 0")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}

/// Changes a role's description and privileges, if it is built-in (`builtin`) or custom (not).
async fn set_role<C: Conn>(
    c: &mut C,
    tenant: TenantId,
    id: RoleId,
    description: &str,
    privileges: &[Privilege],
    builtin: bool,
) -> Result<()> {
    let r = sqlx::query(
        "UPDATE cfg_role SET description = $3, privileges = $4 WHERE tenant_id = $1 AND id = $2 AND builtin = $5",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(description.to_owned())
    .bind(to_json(&privileges)?)
    .bind(i64::from(builtin))
    .execute(c.conn())
    .await?;
    affected(r)
}
