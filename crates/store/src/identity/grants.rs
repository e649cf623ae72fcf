//! Grants of roles to principals within a scope.

use super::*;

/// Grants of roles to principals within a scope.
pub trait GrantStore {
    /// Inserts a grant.
    async fn insert_grant(&mut self, grant: &Grant) -> Result<()>
    where
        Self: Writable;
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
    async fn delete_grant(&mut self, tenant: TenantId, id: GrantId) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> GrantStore for C {
    async fn insert_grant(&mut self, g: &Grant) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn delete_grant(&mut self, tenant: TenantId, id: GrantId) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_grant WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}
