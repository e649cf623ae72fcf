//! Teams, skills, and services or campaigns: named units of a tenant that users are assigned to
//! and that scopes and resources refer to. The three share one life cycle (create, read, rename,
//! delete, each audited); [`Unit`] says where they differ.

use callvault_model::access::{Action, Resource};
use callvault_model::records::{Department, Service, ServiceKind, Skill, Team, Timestamp};
use callvault_model::{DepartmentId, ServiceId, SkillId, TeamId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::{DirectoryStore, StoreError, Tx};

use super::{DirectoryError, row};
use crate::caller::{Ctx, Permit};
use crate::input;
use crate::services::Services;

/// A named unit of the directory.
#[allow(async_fn_in_trait, reason = "implemented here for three concrete types only; their futures are Send")]
pub trait Unit: Sized {
    /// Its id.
    type Id: Copy + std::fmt::Display + Send + Sync;
    /// Its resource kind for the access engine.
    const KIND: Resource;
    /// Its name in messages and audit targets.
    const WHAT: &'static str;
    /// Audit actions of create, rename and delete.
    const EVENTS: [&'static str; 3];
    /// Whether a new name is checked against look-alikes of existing names (confusable
    /// characters, case), not only against exact duplicates.
    const LOOKALIKES: bool;
    /// The id.
    fn id(&self) -> Self::Id;
    /// The name.
    fn name(&self) -> &str;
    /// The unit as a resource for the access engine.
    fn resource(tenant: TenantId, id: &Self::Id) -> ResourceRef<'_>;
    /// All of a tenant's.
    async fn all<S: DirectoryStore>(s: &mut S, tenant: TenantId) -> Result<Vec<Self>, StoreError>;
    /// One.
    async fn one<S: DirectoryStore>(s: &mut S, tenant: TenantId, id: Self::Id) -> Result<Self, StoreError>;
    /// Inserts.
    async fn insert(tx: &mut Tx, unit: &Self) -> Result<(), StoreError>;
    /// Renames.
    async fn rename(tx: &mut Tx, tenant: TenantId, id: Self::Id, name: &str) -> Result<(), StoreError>;
    /// Deletes (its assignments go with it).
    async fn delete(tx: &mut Tx, tenant: TenantId, id: Self::Id) -> Result<(), StoreError>;
}

impl Unit for Team {
    type Id = TeamId;
    const KIND: Resource = Resource::Team;
    const WHAT: &'static str = "team";
    const EVENTS: [&'static str; 3] = ["team.create", "team.update", "team.delete"];
    const LOOKALIKES: bool = true;
    fn id(&self) -> TeamId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn resource(tenant: TenantId, id: &TeamId) -> ResourceRef<'_> {
        ResourceRef { teams: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Team, tenant) }
    }
    async fn all<S: DirectoryStore>(s: &mut S, tenant: TenantId) -> Result<Vec<Self>, StoreError> {
        s.teams(tenant).await
    }
    async fn one<S: DirectoryStore>(s: &mut S, tenant: TenantId, id: TeamId) -> Result<Self, StoreError> {
        s.team(tenant, id).await
    }
    async fn insert(tx: &mut Tx, unit: &Self) -> Result<(), StoreError> {
        tx.insert_team(unit).await
    }
    async fn rename(tx: &mut Tx, tenant: TenantId, id: TeamId, name: &str) -> Result<(), StoreError> {
        tx.rename_team(tenant, id, name).await
    }
    async fn delete(tx: &mut Tx, tenant: TenantId, id: TeamId) -> Result<(), StoreError> {
        tx.delete_team(tenant, id).await
    }
}

impl Unit for Skill {
    type Id = SkillId;
    const KIND: Resource = Resource::Skill;
    const WHAT: &'static str = "skill";
    const EVENTS: [&'static str; 3] = ["skill.create", "skill.update", "skill.delete"];
    const LOOKALIKES: bool = false;
    fn id(&self) -> SkillId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn resource(tenant: TenantId, id: &SkillId) -> ResourceRef<'_> {
        ResourceRef { skills: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Skill, tenant) }
    }
    async fn all<S: DirectoryStore>(s: &mut S, tenant: TenantId) -> Result<Vec<Self>, StoreError> {
        s.skills(tenant).await
    }
    async fn one<S: DirectoryStore>(s: &mut S, tenant: TenantId, id: SkillId) -> Result<Self, StoreError> {
        s.skill(tenant, id).await
    }
    async fn insert(tx: &mut Tx, unit: &Self) -> Result<(), StoreError> {
        tx.insert_skill(unit).await
    }
    async fn rename(tx: &mut Tx, tenant: TenantId, id: SkillId, name: &str) -> Result<(), StoreError> {
        tx.rename_skill(tenant, id, name).await
    }
    async fn delete(tx: &mut Tx, tenant: TenantId, id: SkillId) -> Result<(), StoreError> {
        tx.delete_skill(tenant, id).await
    }
}

impl Unit for Service {
    type Id = ServiceId;
    const KIND: Resource = Resource::Service;
    const WHAT: &'static str = "service";
    const EVENTS: [&'static str; 3] = ["service.create", "service.update", "service.delete"];
    const LOOKALIKES: bool = true;
    fn id(&self) -> ServiceId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn resource(tenant: TenantId, id: &ServiceId) -> ResourceRef<'_> {
        ResourceRef { services: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Service, tenant) }
    }
    async fn all<S: DirectoryStore>(s: &mut S, tenant: TenantId) -> Result<Vec<Self>, StoreError> {
        s.services(tenant).await
    }
    async fn one<S: DirectoryStore>(s: &mut S, tenant: TenantId, id: ServiceId) -> Result<Self, StoreError> {
        s.service(tenant, id).await
    }
    async fn insert(tx: &mut Tx, unit: &Self) -> Result<(), StoreError> {
        tx.insert_service(unit).await
    }
    async fn rename(tx: &mut Tx, tenant: TenantId, id: ServiceId, name: &str) -> Result<(), StoreError> {
        tx.rename_service(tenant, id, name).await
    }
    async fn delete(tx: &mut Tx, tenant: TenantId, id: ServiceId) -> Result<(), StoreError> {
        tx.delete_service(tenant, id).await
    }
}

impl Unit for Department {
    type Id = DepartmentId;
    const KIND: Resource = Resource::Department;
    const WHAT: &'static str = "department";
    const EVENTS: [&'static str; 3] = ["department.create", "department.update", "department.delete"];
    const LOOKALIKES: bool = true;
    fn id(&self) -> DepartmentId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// Departments are configuration of the whole tenant: only tenant-wide grants reach them (a
    /// supervisor granted a department reaches its teams, not the department itself).
    fn resource(tenant: TenantId, _: &DepartmentId) -> ResourceRef<'_> {
        ResourceRef::tenant_wide(Resource::Department, tenant)
    }
    async fn all<S: DirectoryStore>(s: &mut S, tenant: TenantId) -> Result<Vec<Self>, StoreError> {
        s.departments(tenant).await
    }
    async fn one<S: DirectoryStore>(s: &mut S, tenant: TenantId, id: DepartmentId) -> Result<Self, StoreError> {
        s.department(tenant, id).await
    }
    async fn insert(tx: &mut Tx, unit: &Self) -> Result<(), StoreError> {
        tx.insert_department(unit).await
    }
    async fn rename(tx: &mut Tx, tenant: TenantId, id: DepartmentId, name: &str) -> Result<(), StoreError> {
        tx.rename_department(tenant, id, name).await
    }
    async fn delete(tx: &mut Tx, tenant: TenantId, id: DepartmentId) -> Result<(), StoreError> {
        tx.delete_department(tenant, id).await
    }
}

/// The tenant of a caller who may list `kind` somewhere (or tenant-wide, which is audited when
/// denied).
pub(crate) async fn may_list(state: &Services, ctx: &Ctx, kind: Resource) -> Result<TenantId, DirectoryError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, kind) {
        ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(kind, tenant)).await?;
    }
    Ok(tenant)
}

/// The units of a kind the caller may read.
pub async fn list<U: Unit>(state: &Services, ctx: &Ctx) -> Result<Vec<U>, DirectoryError> {
    let tenant = may_list(state, ctx, U::KIND).await?;
    let all = U::all(&mut state.store.reader().await?, tenant).await?;
    Ok(all.into_iter().filter(|u| ctx.decide(Action::Read, &U::resource(tenant, &u.id())).is_allowed()).collect())
}

/// One unit the caller may do `action` on (404 before 403: ids are not secret in a tenant).
async fn allowed<U: Unit>(
    state: &Services,
    ctx: &Ctx,
    id: U::Id,
    action: Action,
) -> Result<(U, Permit), DirectoryError> {
    let tenant = ctx.tenant()?;
    let unit = U::one(&mut state.store.reader().await?, tenant, id).await.map_err(row(U::WHAT))?;
    let permit = ctx.authorize(state, action, &U::resource(tenant, &id)).await?;
    Ok((unit, permit))
}

/// One unit.
pub async fn get<U: Unit>(state: &Services, ctx: &Ctx, id: U::Id) -> Result<U, DirectoryError> {
    Ok(allowed::<U>(state, ctx, id, Action::Read).await?.0)
}

/// A new team.
pub async fn create_team(state: &Services, ctx: &Ctx, name: &str) -> Result<Team, DirectoryError> {
    create(state, ctx, name, |tenant_id, name, created_at| Team {
        id: TeamId::new(),
        tenant_id,
        name,
        department_id: None,
        created_at,
    })
    .await
}

/// A new department.
pub async fn create_department(state: &Services, ctx: &Ctx, name: &str) -> Result<Department, DirectoryError> {
    create(state, ctx, name, |tenant_id, name, created_at| Department {
        id: DepartmentId::new(),
        tenant_id,
        name,
        created_at,
    })
    .await
}

/// Moves a team into a department (or out of any, with `None`): supervisors granted the
/// department reach the team from the next request on. Needs `team:update` on the team.
pub async fn set_team_department(
    state: &Services,
    ctx: &Ctx,
    id: TeamId,
    department: Option<DepartmentId>,
) -> Result<Team, DirectoryError> {
    let (_, permit) = allowed::<Team>(state, ctx, id, Action::Update).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::Team, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if let Some(d) = department {
        tx.department(tenant, d).await.map_err(row("department"))?;
    }
    tx.set_team_department(tenant, id, department).await.map_err(row("team"))?;
    let team = tx.team(tenant, id).await?;
    let event = ctx
        .event("team.department")
        .target("team", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "department_id": department }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(team)
}

/// A new skill.
pub async fn create_skill(state: &Services, ctx: &Ctx, name: &str) -> Result<Skill, DirectoryError> {
    create(state, ctx, name, |tenant_id, name, created_at| Skill { id: SkillId::new(), tenant_id, name, created_at })
        .await
}

/// A new inbound service or outbound campaign.
pub async fn create_service(
    state: &Services,
    ctx: &Ctx,
    name: &str,
    kind: ServiceKind,
) -> Result<Service, DirectoryError> {
    create(state, ctx, name, |tenant_id, name, created_at| Service {
        id: ServiceId::new(),
        tenant_id,
        name,
        kind,
        created_at,
    })
    .await
}

async fn create<U: Unit>(
    state: &Services,
    ctx: &Ctx,
    name: &str,
    build: impl FnOnce(TenantId, String, Timestamp) -> U,
) -> Result<U, DirectoryError> {
    let tenant = ctx.tenant()?;
    let permit = ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(U::KIND, tenant)).await?;
    let name = if U::LOOKALIKES {
        let (name, key) = input::identifier_name("name", name)?;
        let existing = U::all(&mut state.store.reader().await?, tenant).await?;
        input::distinct_identifier("name", &key, existing.iter().map(|u| u.name()), true)?;
        name
    } else {
        input::name("name", name)?
    };
    let now = state.clock.now();
    let unit = build(tenant, name, now);
    permit.covers(Action::Create, U::KIND, tenant)?;
    let mut tx = state.store.begin().await?;
    U::insert(&mut tx, &unit).await.map_err(row(U::WHAT))?;
    let event = ctx.event(U::EVENTS[0]).target(U::WHAT, unit.id()).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(unit)
}

/// Renames a unit.
pub async fn rename<U: Unit>(state: &Services, ctx: &Ctx, id: U::Id, name: &str) -> Result<U, DirectoryError> {
    let (_, permit) = allowed::<U>(state, ctx, id, Action::Update).await?;
    let tenant = permit.tenant();
    let name = input::name("name", name)?;
    permit.covers(Action::Update, U::KIND, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    U::rename(&mut tx, tenant, id, &name).await.map_err(row(U::WHAT))?;
    let unit = U::one(&mut tx, tenant, id).await?;
    state.auditor.record(&mut tx, now, &ctx.event(U::EVENTS[1]).target(U::WHAT, id).origin(ctx.origin(state))).await?;
    tx.commit().await?;
    Ok(unit)
}

/// Deletes a unit; its assignments go with it.
pub async fn delete<U: Unit>(state: &Services, ctx: &Ctx, id: U::Id) -> Result<(), DirectoryError> {
    let (_, permit) = allowed::<U>(state, ctx, id, Action::Delete).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Delete, U::KIND, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    U::delete(&mut tx, tenant, id).await.map_err(row(U::WHAT))?;
    state.auditor.record(&mut tx, now, &ctx.event(U::EVENTS[2]).target(U::WHAT, id).origin(ctx.origin(state))).await?;
    tx.commit().await?;
    Ok(())
}

/// Ids of a team's members.
pub async fn team_members(state: &Services, ctx: &Ctx, id: TeamId) -> Result<Vec<UserId>, DirectoryError> {
    let (_, permit) = allowed::<Team>(state, ctx, id, Action::Read).await?;
    Ok(state.store.reader().await?.team_members(permit.tenant(), id).await?)
}
