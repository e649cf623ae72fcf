//! The directory: users, their addresses, teams, skills, services and campaigns, and the
//! assignments between them.

use callvault_model::records::{
    Address, AddressKind, Assignments, Department, Service, ServiceKind, Skill, SkillLevel, Team, Timestamp, User,
};
use callvault_model::{AddressId, DepartmentId, Personal, ServiceId, SkillId, TeamId, TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_uuid};

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Identifier.
    pub id: UserId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Login id as typed.
    pub login: Personal<String>,
    /// Normalised login id (case-folded), unique per tenant.
    pub login_key: Personal<String>,
    /// First name.
    pub first_name: Personal<String>,
    /// Last name.
    pub last_name: Personal<String>,
    /// Addresses, in order.
    pub addresses: Vec<(AddressKind, Personal<String>)>,
    /// Creation time.
    pub now: Timestamp,
}

/// Changes to a user's master data; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New first name.
    pub first_name: Option<Personal<String>>,
    /// New last name.
    pub last_name: Option<Personal<String>>,
    /// New addresses (replacing all).
    pub addresses: Option<Vec<(AddressKind, Personal<String>)>>,
}

/// Directory reads and writes. Every method is scoped to one tenant.
pub trait DirectoryStore {
    /// Inserts a user and its addresses.
    async fn insert_user(&mut self, user: &NewUser) -> Result<()>
    where
        Self: Writable;
    /// One user with addresses.
    async fn user(&mut self, tenant: TenantId, id: UserId) -> Result<User>;
    /// The id of the user with this normalised login.
    async fn user_id_by_login(&mut self, tenant: TenantId, login_key: &str) -> Result<UserId>;
    /// All users of the tenant with their addresses, ordered by creation.
    async fn users(&mut self, tenant: TenantId) -> Result<Vec<User>>;
    /// Applies a patch.
    async fn update_user(&mut self, tenant: TenantId, id: UserId, patch: &UserPatch, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Deletes a user and, through the schema's cascades, all its master-data relations
    /// (addresses, credentials, memberships, skills, services, grants) and its sessions.
    async fn delete_user(&mut self, tenant: TenantId, id: UserId) -> Result<()>
    where
        Self: Writable;

    /// Inserts a team.
    async fn insert_team(&mut self, team: &Team) -> Result<()>
    where
        Self: Writable;
    /// All teams.
    async fn teams(&mut self, tenant: TenantId) -> Result<Vec<Team>>;
    /// One team.
    async fn team(&mut self, tenant: TenantId, id: TeamId) -> Result<Team>;
    /// Renames a team.
    async fn rename_team(&mut self, tenant: TenantId, id: TeamId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// Deletes a team (memberships go with it).
    async fn delete_team(&mut self, tenant: TenantId, id: TeamId) -> Result<()>
    where
        Self: Writable;
    /// Inserts a department.
    async fn insert_department(&mut self, department: &Department) -> Result<()>
    where
        Self: Writable;
    /// All departments.
    async fn departments(&mut self, tenant: TenantId) -> Result<Vec<Department>>;
    /// One department.
    async fn department(&mut self, tenant: TenantId, id: DepartmentId) -> Result<Department>;
    /// Renames a department.
    async fn rename_department(&mut self, tenant: TenantId, id: DepartmentId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// Deletes a department (its teams stay, in no department).
    async fn delete_department(&mut self, tenant: TenantId, id: DepartmentId) -> Result<()>
    where
        Self: Writable;
    /// Moves a team into a department, or out of any.
    async fn set_team_department(
        &mut self,
        tenant: TenantId,
        team: TeamId,
        department: Option<DepartmentId>,
    ) -> Result<()>
    where
        Self: Writable;
    /// The teams of these departments.
    async fn department_teams(&mut self, tenant: TenantId, departments: &[DepartmentId]) -> Result<Vec<TeamId>>;

    /// Inserts a skill.
    async fn insert_skill(&mut self, skill: &Skill) -> Result<()>
    where
        Self: Writable;
    /// All skills.
    async fn skills(&mut self, tenant: TenantId) -> Result<Vec<Skill>>;
    /// One skill.
    async fn skill(&mut self, tenant: TenantId, id: SkillId) -> Result<Skill>;
    /// Renames a skill.
    async fn rename_skill(&mut self, tenant: TenantId, id: SkillId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// Deletes a skill.
    async fn delete_skill(&mut self, tenant: TenantId, id: SkillId) -> Result<()>
    where
        Self: Writable;

    /// Inserts a service or campaign.
    async fn insert_service(&mut self, service: &Service) -> Result<()>
    where
        Self: Writable;
    /// All services and campaigns.
    async fn services(&mut self, tenant: TenantId) -> Result<Vec<Service>>;
    /// One service.
    async fn service(&mut self, tenant: TenantId, id: ServiceId) -> Result<Service>;
    /// Renames a service.
    async fn rename_service(&mut self, tenant: TenantId, id: ServiceId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// Deletes a service.
    async fn delete_service(&mut self, tenant: TenantId, id: ServiceId) -> Result<()>
    where
        Self: Writable;

    /// The teams, skills and services of a user.
    async fn assignments(&mut self, tenant: TenantId, user: UserId) -> Result<Assignments>;
    /// The teams a user belongs to (one query; dial checks need only these).
    async fn user_teams(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<TeamId>>;
    /// Replaces a user's assignments. Every referenced object must belong to the same tenant,
    /// else [`StoreError::NotFound`].
    async fn set_assignments(&mut self, tenant: TenantId, user: UserId, a: &Assignments) -> Result<()>
    where
        Self: Writable;
    /// The assignments of every user of the tenant.
    async fn all_assignments(&mut self, tenant: TenantId) -> Result<std::collections::HashMap<UserId, Assignments>>;
    /// The ids of a team's members.
    async fn team_members(&mut self, tenant: TenantId, team: TeamId) -> Result<Vec<UserId>>;
}

/// Which of the three named directory tables.
#[derive(Clone, Copy)]
enum Named {
    Team,
    Skill,
    Service,
    Department,
}

impl Named {
    fn insert(self) -> &'static str {
        match self {
            Named::Team => "INSERT INTO cfg_team (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)",
            Named::Skill => "INSERT INTO cfg_skill (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)",
            Named::Service => {
                "INSERT INTO cfg_service (id, tenant_id, name, created_at, kind) VALUES ($1, $2, $3, $4, $5)"
            }
            Named::Department => "INSERT INTO cfg_department (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)",
        }
    }
    fn list(self) -> &'static str {
        match self {
            Named::Team => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, COALESCE(department_id, '') AS parent FROM cfg_team \
                 WHERE tenant_id = $1 ORDER BY name"
            }
            Named::Skill => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, '' AS parent FROM cfg_skill WHERE tenant_id = $1 \
                 ORDER BY name"
            }
            Named::Service => {
                "SELECT id, tenant_id, name, created_at, kind, '' AS parent FROM cfg_service WHERE tenant_id = $1 \
                 ORDER BY name"
            }
            Named::Department => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, '' AS parent FROM cfg_department \
                 WHERE tenant_id = $1 ORDER BY name"
            }
        }
    }
    fn one(self) -> &'static str {
        match self {
            Named::Team => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, COALESCE(department_id, '') AS parent FROM cfg_team \
                 WHERE tenant_id = $1 AND id = $2"
            }
            Named::Skill => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, '' AS parent FROM cfg_skill \
                 WHERE tenant_id = $1 AND id = $2"
            }
            Named::Service => {
                "SELECT id, tenant_id, name, created_at, kind, '' AS parent FROM cfg_service \
                 WHERE tenant_id = $1 AND id = $2"
            }
            Named::Department => {
                "SELECT id, tenant_id, name, created_at, '' AS kind, '' AS parent FROM cfg_department \
                 WHERE tenant_id = $1 AND id = $2"
            }
        }
    }
    fn rename(self) -> &'static str {
        match self {
            Named::Team => "UPDATE cfg_team SET name = $3 WHERE tenant_id = $1 AND id = $2",
            Named::Skill => "UPDATE cfg_skill SET name = $3 WHERE tenant_id = $1 AND id = $2",
            Named::Service => "UPDATE cfg_service SET name = $3 WHERE tenant_id = $1 AND id = $2",
            Named::Department => "UPDATE cfg_department SET name = $3 WHERE tenant_id = $1 AND id = $2",
        }
    }
    fn delete(self) -> &'static str {
        match self {
            Named::Team => "DELETE FROM cfg_team WHERE tenant_id = $1 AND id = $2",
            Named::Skill => "DELETE FROM cfg_skill WHERE tenant_id = $1 AND id = $2",
            Named::Service => "DELETE FROM cfg_service WHERE tenant_id = $1 AND id = $2",
            Named::Department => "DELETE FROM cfg_department WHERE tenant_id = $1 AND id = $2",
        }
    }
}

struct NamedRow {
    id: uuid::Uuid,
    tenant_id: TenantId,
    name: String,
    kind: String,
    /// A team's department id, or empty.
    parent: String,
    created_at: Timestamp,
}

fn named_row(row: &AnyRow) -> Result<NamedRow> {
    Ok(NamedRow {
        id: col_uuid(row, "id")?,
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        parent: row.try_get("parent")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

impl TryFrom<NamedRow> for Team {
    type Error = StoreError;
    fn try_from(r: NamedRow) -> Result<Self> {
        let department_id = match r.parent.as_str() {
            "" => None,
            p => Some(DepartmentId(p.parse().map_err(|_| StoreError::Corrupt("team department".into()))?)),
        };
        Ok(Team { id: TeamId(r.id), tenant_id: r.tenant_id, name: r.name, department_id, created_at: r.created_at })
    }
}

impl From<NamedRow> for Department {
    fn from(r: NamedRow) -> Self {
        Department { id: DepartmentId(r.id), tenant_id: r.tenant_id, name: r.name, created_at: r.created_at }
    }
}

impl From<NamedRow> for Skill {
    fn from(r: NamedRow) -> Self {
        Skill { id: SkillId(r.id), tenant_id: r.tenant_id, name: r.name, created_at: r.created_at }
    }
}

impl TryFrom<NamedRow> for Service {
    type Error = StoreError;
    fn try_from(r: NamedRow) -> Result<Self> {
        let kind = ServiceKind::parse(&r.kind).ok_or_else(|| StoreError::Corrupt("service kind".into()))?;
        Ok(Service { id: ServiceId(r.id), tenant_id: r.tenant_id, name: r.name, kind, created_at: r.created_at })
    }
}

async fn insert_named<C: Conn>(
    c: &mut C,
    which: Named,
    id: uuid::Uuid,
    tenant: TenantId,
    name: &str,
    now: Timestamp,
    kind: Option<&str>,
) -> Result<()> {
    let mut q = sqlx::query(which.insert())
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(name.to_owned())
        .bind(now.millis());
    if let Some(kind) = kind {
        q = q.bind(kind.to_owned());
    }
    q.execute(c.conn()).await?;
    Ok(())
}

async fn list_named<C: Conn>(c: &mut C, which: Named, tenant: TenantId) -> Result<Vec<NamedRow>> {
    let rows = sqlx::query(which.list()).bind(tenant.to_string()).fetch_all(c.conn()).await?;
    rows.iter().map(named_row).collect()
}

async fn one_named<C: Conn>(c: &mut C, which: Named, tenant: TenantId, id: uuid::Uuid) -> Result<NamedRow> {
    let row = sqlx::query(which.one()).bind(tenant.to_string()).bind(id.to_string()).fetch_one(c.conn()).await?;
    named_row(&row)
}

async fn rename_named<C: Conn>(c: &mut C, which: Named, tenant: TenantId, id: uuid::Uuid, name: &str) -> Result<()> {
    let r = sqlx::query(which.rename())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(name.to_owned())
        .execute(c.conn())
        .await?;
    affected(r)
}

async fn delete_named<C: Conn>(c: &mut C, which: Named, tenant: TenantId, id: uuid::Uuid) -> Result<()> {
    let r = sqlx::query(which.delete()).bind(tenant.to_string()).bind(id.to_string()).execute(c.conn()).await?;
    affected(r)
}

async fn insert_addresses<C: Conn>(
    c: &mut C,
    tenant: TenantId,
    user: UserId,
    addresses: &[(AddressKind, Personal<String>)],
) -> Result<()> {
    for (position, (kind, value)) in addresses.iter().enumerate() {
        sqlx::query(
            "INSERT INTO dir_address (id, tenant_id, user_id, kind, value, position) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(AddressId::new().to_string())
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(kind.as_str())
        .bind(value.expose().clone())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(c.conn())
        .await?;
    }
    Ok(())
}

fn user_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: UserId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        login: Personal::new(row.try_get("login")?),
        first_name: Personal::new(row.try_get("first_name")?),
        last_name: Personal::new(row.try_get("last_name")?),
        addresses: Vec::new(),
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
    })
}

fn address_row(row: &AnyRow) -> Result<(UserId, Address)> {
    let kind: String = row.try_get("kind")?;
    Ok((
        UserId(col_uuid(row, "user_id")?),
        Address {
            id: AddressId(col_uuid(row, "id")?),
            kind: AddressKind::parse(&kind).ok_or_else(|| StoreError::Corrupt("address kind".into()))?,
            value: Personal::new(row.try_get("value")?),
        },
    ))
}

impl<C: Conn> DirectoryStore for C {
    async fn insert_user(&mut self, u: &NewUser) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_user (id, tenant_id, login, login_key, first_name, last_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(u.id.to_string())
        .bind(u.tenant_id.to_string())
        .bind(u.login.expose().clone())
        .bind(u.login_key.expose().clone())
        .bind(u.first_name.expose().clone())
        .bind(u.last_name.expose().clone())
        .bind(u.now.millis())
        .execute(self.conn())
        .await?;
        insert_addresses(self, u.tenant_id, u.id, &u.addresses).await
    }

    async fn user(&mut self, tenant: TenantId, id: UserId) -> Result<User> {
        let row = sqlx::query(
            "SELECT id, tenant_id, login, first_name, last_name, created_at, updated_at FROM cfg_user \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        let mut user = user_row(&row)?;
        let rows = sqlx::query(
            "SELECT id, user_id, kind, value FROM dir_address WHERE tenant_id = $1 AND user_id = $2 ORDER BY position",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(self.conn())
        .await?;
        for row in &rows {
            user.addresses.push(address_row(row)?.1);
        }
        Ok(user)
    }

    async fn user_id_by_login(&mut self, tenant: TenantId, login_key: &str) -> Result<UserId> {
        let row = sqlx::query("SELECT id FROM cfg_user WHERE tenant_id = $1 AND login_key = $2")
            .bind(tenant.to_string())
            .bind(login_key.to_owned())
            .fetch_one(self.conn())
            .await?;
        Ok(UserId(col_uuid(&row, "id")?))
    }

    async fn users(&mut self, tenant: TenantId) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, login, first_name, last_name, created_at, updated_at FROM cfg_user \
             WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        let mut users = rows.iter().map(user_row).collect::<Result<Vec<_>>>()?;
        let index: std::collections::HashMap<UserId, usize> =
            users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        let rows =
            sqlx::query("SELECT id, user_id, kind, value FROM dir_address WHERE tenant_id = $1 ORDER BY position")
                .bind(tenant.to_string())
                .fetch_all(self.conn())
                .await?;
        for row in &rows {
            let (user, address) = address_row(row)?;
            if let Some(&i) = index.get(&user) {
                users[i].addresses.push(address);
            }
        }
        Ok(users)
    }

    async fn update_user(&mut self, tenant: TenantId, id: UserId, p: &UserPatch, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE cfg_user SET first_name = COALESCE($3, first_name), last_name = COALESCE($4, last_name), \
             updated_at = $5 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(p.first_name.as_ref().map(|n| n.expose().clone()))
        .bind(p.last_name.as_ref().map(|n| n.expose().clone()))
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        affected(r)?;
        if let Some(addresses) = &p.addresses {
            sqlx::query("DELETE FROM dir_address WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(self.conn())
                .await?;
            insert_addresses(self, tenant, id, addresses).await?;
        }
        Ok(())
    }

    async fn delete_user(&mut self, tenant: TenantId, id: UserId) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM op_session WHERE tenant_id = $1 AND principal_kind = 'user' AND principal_id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        let r = sqlx::query("DELETE FROM cfg_user WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn insert_team(&mut self, t: &Team) -> Result<()>
    where
        Self: Writable,
    {
        insert_named(self, Named::Team, t.id.0, t.tenant_id, &t.name, t.created_at, None).await?;
        // A team may be created inside a department.
        match t.department_id {
            Some(d) => self.set_team_department(t.tenant_id, t.id, Some(d)).await,
            None => Ok(()),
        }
    }
    async fn teams(&mut self, tenant: TenantId) -> Result<Vec<Team>> {
        list_named(self, Named::Team, tenant).await?.into_iter().map(Team::try_from).collect()
    }
    async fn team(&mut self, tenant: TenantId, id: TeamId) -> Result<Team> {
        one_named(self, Named::Team, tenant, id.0).await.and_then(Team::try_from)
    }
    async fn insert_department(&mut self, d: &Department) -> Result<()>
    where
        Self: Writable,
    {
        insert_named(self, Named::Department, d.id.0, d.tenant_id, &d.name, d.created_at, None).await
    }
    async fn departments(&mut self, tenant: TenantId) -> Result<Vec<Department>> {
        Ok(list_named(self, Named::Department, tenant).await?.into_iter().map(Department::from).collect())
    }
    async fn department(&mut self, tenant: TenantId, id: DepartmentId) -> Result<Department> {
        one_named(self, Named::Department, tenant, id.0).await.map(Department::from)
    }
    async fn rename_department(&mut self, tenant: TenantId, id: DepartmentId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        rename_named(self, Named::Department, tenant, id.0, name).await
    }
    async fn delete_department(&mut self, tenant: TenantId, id: DepartmentId) -> Result<()>
    where
        Self: Writable,
    {
        delete_named(self, Named::Department, tenant, id.0).await
    }
    async fn set_team_department(
        &mut self,
        tenant: TenantId,
        team: TeamId,
        department: Option<DepartmentId>,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("UPDATE cfg_team SET department_id = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(team.to_string())
            .bind(department.map(|d| d.to_string()))
            .execute(self.conn())
            .await?;
        affected(r)
    }
    async fn department_teams(&mut self, tenant: TenantId, departments: &[DepartmentId]) -> Result<Vec<TeamId>> {
        let mut out = Vec::new();
        for d in departments {
            let rows = sqlx::query("SELECT id FROM cfg_team WHERE tenant_id = $1 AND department_id = $2 ORDER BY id")
                .bind(tenant.to_string())
                .bind(d.to_string())
                .fetch_all(self.conn())
                .await?;
            for row in &rows {
                out.push(TeamId(col_uuid(row, "id")?));
            }
        }
        Ok(out)
    }
    async fn rename_team(&mut self, tenant: TenantId, id: TeamId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        rename_named(self, Named::Team, tenant, id.0, name).await
    }
    async fn delete_team(&mut self, tenant: TenantId, id: TeamId) -> Result<()>
    where
        Self: Writable,
    {
        delete_named(self, Named::Team, tenant, id.0).await
    }

    async fn insert_skill(&mut self, s: &Skill) -> Result<()>
    where
        Self: Writable,
    {
        insert_named(self, Named::Skill, s.id.0, s.tenant_id, &s.name, s.created_at, None).await
    }
    async fn skills(&mut self, tenant: TenantId) -> Result<Vec<Skill>> {
        Ok(list_named(self, Named::Skill, tenant).await?.into_iter().map(Skill::from).collect())
    }
    async fn skill(&mut self, tenant: TenantId, id: SkillId) -> Result<Skill> {
        one_named(self, Named::Skill, tenant, id.0).await.map(Skill::from)
    }
    async fn rename_skill(&mut self, tenant: TenantId, id: SkillId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        rename_named(self, Named::Skill, tenant, id.0, name).await
    }
    async fn delete_skill(&mut self, tenant: TenantId, id: SkillId) -> Result<()>
    where
        Self: Writable,
    {
        delete_named(self, Named::Skill, tenant, id.0).await
    }

    async fn insert_service(&mut self, s: &Service) -> Result<()>
    where
        Self: Writable,
    {
        insert_named(self, Named::Service, s.id.0, s.tenant_id, &s.name, s.created_at, Some(s.kind.as_str())).await
    }
    async fn services(&mut self, tenant: TenantId) -> Result<Vec<Service>> {
        list_named(self, Named::Service, tenant).await?.into_iter().map(Service::try_from).collect()
    }
    async fn service(&mut self, tenant: TenantId, id: ServiceId) -> Result<Service> {
        Service::try_from(one_named(self, Named::Service, tenant, id.0).await?)
    }
    async fn rename_service(&mut self, tenant: TenantId, id: ServiceId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        rename_named(self, Named::Service, tenant, id.0, name).await
    }
    async fn delete_service(&mut self, tenant: TenantId, id: ServiceId) -> Result<()>
    where
        Self: Writable,
    {
        delete_named(self, Named::Service, tenant, id.0).await
    }

    async fn user_teams(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<TeamId>> {
        sqlx::query("SELECT team_id FROM cfg_team_member WHERE tenant_id = $1 AND user_id = $2 ORDER BY team_id")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "team_id").map(TeamId))
            .collect()
    }

    async fn assignments(&mut self, tenant: TenantId, user: UserId) -> Result<Assignments> {
        let t = tenant.to_string();
        let u = user.to_string();
        let teams = self.user_teams(tenant, user).await?;
        let skills = sqlx::query(
            "SELECT skill_id, level FROM cfg_user_skill WHERE tenant_id = $1 AND user_id = $2 ORDER BY skill_id",
        )
        .bind(t.clone())
        .bind(u.clone())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| {
            let level: i64 = r.try_get("level")?;
            Ok(SkillLevel {
                skill_id: SkillId(col_uuid(r, "skill_id")?),
                level: u8::try_from(level).map_err(|_| StoreError::Corrupt("skill level".into()))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let services = sqlx::query(
            "SELECT service_id FROM cfg_user_service WHERE tenant_id = $1 AND user_id = $2 ORDER BY service_id",
        )
        .bind(t)
        .bind(u)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| col_uuid(r, "service_id").map(ServiceId))
        .collect::<Result<Vec<_>>>()?;
        Ok(Assignments { teams, skills, services })
    }

    async fn set_assignments(&mut self, tenant: TenantId, user: UserId, a: &Assignments) -> Result<()>
    where
        Self: Writable,
    {
        let t = tenant.to_string();
        let u = user.to_string();
        // The user must exist in this tenant.
        sqlx::query("SELECT id FROM cfg_user WHERE tenant_id = $1 AND id = $2")
            .bind(t.clone())
            .bind(u.clone())
            .fetch_one(self.conn())
            .await?;
        for table in ["cfg_team_member", "cfg_user_skill", "cfg_user_service"] {
            let sql = match table {
                "cfg_team_member" => "DELETE FROM cfg_team_member WHERE tenant_id = $1 AND user_id = $2",
                "cfg_user_skill" => "DELETE FROM cfg_user_skill WHERE tenant_id = $1 AND user_id = $2",
                _ => "DELETE FROM cfg_user_service WHERE tenant_id = $1 AND user_id = $2",
            };
            sqlx::query(sql).bind(t.clone()).bind(u.clone()).execute(self.conn()).await?;
        }
        // Each insert selects the referenced row inside the same tenant, so a foreign id inserts
        // nothing and is reported as not found.
        for team in &a.teams {
            let r = sqlx::query(
                "INSERT INTO cfg_team_member (tenant_id, team_id, user_id) \
                 SELECT $1, id, $3 FROM cfg_team WHERE tenant_id = $1 AND id = $2",
            )
            .bind(t.clone())
            .bind(team.to_string())
            .bind(u.clone())
            .execute(self.conn())
            .await?;
            affected(r)?;
        }
        for skill in &a.skills {
            let r = sqlx::query(
                "INSERT INTO cfg_user_skill (tenant_id, skill_id, user_id, level) \
                 SELECT $1, id, $3, $4 FROM cfg_skill WHERE tenant_id = $1 AND id = $2",
            )
            .bind(t.clone())
            .bind(skill.skill_id.to_string())
            .bind(u.clone())
            .bind(i64::from(skill.level))
            .execute(self.conn())
            .await?;
            affected(r)?;
        }
        for service in &a.services {
            let r = sqlx::query(
                "INSERT INTO cfg_user_service (tenant_id, service_id, user_id) \
                 SELECT $1, id, $3 FROM cfg_service WHERE tenant_id = $1 AND id = $2",
            )
            .bind(t.clone())
            .bind(service.to_string())
            .bind(u.clone())
            .execute(self.conn())
            .await?;
            affected(r)?;
        }
        Ok(())
    }

    async fn all_assignments(&mut self, tenant: TenantId) -> Result<std::collections::HashMap<UserId, Assignments>> {
        let t = tenant.to_string();
        let mut out: std::collections::HashMap<UserId, Assignments> = std::collections::HashMap::new();
        for row in sqlx::query("SELECT user_id, team_id FROM cfg_team_member WHERE tenant_id = $1 ORDER BY team_id")
            .bind(t.clone())
            .fetch_all(self.conn())
            .await?
        {
            out.entry(UserId(col_uuid(&row, "user_id")?)).or_default().teams.push(TeamId(col_uuid(&row, "team_id")?));
        }
        for row in
            sqlx::query("SELECT user_id, skill_id, level FROM cfg_user_skill WHERE tenant_id = $1 ORDER BY skill_id")
                .bind(t.clone())
                .fetch_all(self.conn())
                .await?
        {
            let level: i64 = row.try_get("level")?;
            out.entry(UserId(col_uuid(&row, "user_id")?)).or_default().skills.push(SkillLevel {
                skill_id: SkillId(col_uuid(&row, "skill_id")?),
                level: u8::try_from(level).map_err(|_| StoreError::Corrupt("skill level".into()))?,
            });
        }
        for row in
            sqlx::query("SELECT user_id, service_id FROM cfg_user_service WHERE tenant_id = $1 ORDER BY service_id")
                .bind(t)
                .fetch_all(self.conn())
                .await?
        {
            out.entry(UserId(col_uuid(&row, "user_id")?))
                .or_default()
                .services
                .push(ServiceId(col_uuid(&row, "service_id")?));
        }
        Ok(out)
    }

    async fn team_members(&mut self, tenant: TenantId, team: TeamId) -> Result<Vec<UserId>> {
        sqlx::query("SELECT user_id FROM cfg_team_member WHERE tenant_id = $1 AND team_id = $2 ORDER BY user_id")
            .bind(tenant.to_string())
            .bind(team.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "user_id").map(UserId))
            .collect()
    }
}
