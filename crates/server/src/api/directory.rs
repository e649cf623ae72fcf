//! Teams, skills, services and campaigns.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::records::{Service, ServiceKind, Skill, Team};
use callvault_model::{ServiceId, SkillId, TeamId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::DirectoryStore;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, rename_team, delete_team))
        .routes(routes!(team_members))
        .routes(routes!(list_skills, create_skill))
        .routes(routes!(get_skill, rename_skill, delete_skill))
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, rename_service, delete_service))
}

/// A name for a new or renamed team or skill.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    /// Unique name in the tenant.
    pub name: String,
}

/// A new service or campaign.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceBody {
    /// Unique name in the tenant.
    pub name: String,
    /// Inbound service or outbound campaign.
    pub kind: ServiceKind,
}

fn team_ref(tenant: TenantId, id: &TeamId) -> ResourceRef<'_> {
    ResourceRef { teams: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Team, tenant) }
}

fn skill_ref(tenant: TenantId, id: &SkillId) -> ResourceRef<'_> {
    ResourceRef { skills: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Skill, tenant) }
}

fn service_ref(tenant: TenantId, id: &ServiceId) -> ResourceRef<'_> {
    ResourceRef { services: std::slice::from_ref(id), ..ResourceRef::tenant_wide(Resource::Service, tenant) }
}

async fn may_list(ctx: &Ctx, state: &AppState, kind: Resource) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, kind) {
        ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(kind, tenant)).await?;
    }
    Ok(tenant)
}

/// Teams the caller may read.
#[utoipa::path(get, path = "/v1/teams", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Team]), (status = 403, body = Problem)))]
async fn list_teams(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Team>>> {
    let tenant = may_list(&ctx, &state, Resource::Team).await?;
    let teams = state.store.reader().await?.teams(tenant).await?;
    Ok(axum::Json(
        teams.into_iter().filter(|t| ctx.decide(Action::Read, &team_ref(tenant, &t.id)).is_allowed()).collect(),
    ))
}

/// Creates a team.
#[utoipa::path(post, path = "/v1/teams", tag = "directory", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Team), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_team(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<(StatusCode, axum::Json<Team>)> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Team, tenant)).await?;
    let now = state.clock.now();
    let (name, key) = validate::identifier_name("name", &body.name)?;
    let existing = state.store.reader().await?.teams(tenant).await?;
    validate::distinct_identifier("name", &key, existing.iter().map(|t| t.name.as_str()), true)?;
    let team = Team { id: TeamId::new(), tenant_id: tenant, name, created_at: now };
    let mut tx = state.store.begin().await?;
    tx.insert_team(&team).await.map_err(|e| ApiError::from_store(e, "team"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("team.create").target("team", team.id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(team)))
}

/// One team.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
async fn get_team(State(state): State<AppState>, ctx: Ctx, Path(id): Path<TeamId>) -> ApiResult<axum::Json<Team>> {
    let tenant = ctx.tenant()?;
    let team = state.store.reader().await?.team(tenant, id).await.map_err(|e| ApiError::from_store(e, "team"))?;
    ctx.authorize(&state, Action::Read, &team_ref(tenant, &id)).await?;
    Ok(axum::Json(team))
}

/// Renames a team.
#[utoipa::path(patch, path = "/v1/teams/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)), request_body = NameBody,
    responses((status = 200, body = Team), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rename_team(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TeamId>,
    Json(body): Json<NameBody>,
) -> ApiResult<axum::Json<Team>> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.team(tenant, id).await.map_err(|e| ApiError::from_store(e, "team"))?;
    ctx.authorize(&state, Action::Update, &team_ref(tenant, &id)).await?;
    let name = validate::name("name", &body.name)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.rename_team(tenant, id, &name).await.map_err(|e| ApiError::from_store(e, "team"))?;
    let team = tx.team(tenant, id).await?;
    state.auditor.record(&mut tx, now, &ctx.event("team.update").target("team", id).origin(ctx.origin(&state))).await?;
    tx.commit().await?;
    Ok(axum::Json(team))
}

/// Deletes a team (its memberships go with it).
#[utoipa::path(delete, path = "/v1/teams/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_team(State(state): State<AppState>, ctx: Ctx, Path(id): Path<TeamId>) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.team(tenant, id).await.map_err(|e| ApiError::from_store(e, "team"))?;
    ctx.authorize(&state, Action::Delete, &team_ref(tenant, &id)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_team(tenant, id).await.map_err(|e| ApiError::from_store(e, "team"))?;
    state.auditor.record(&mut tx, now, &ctx.event("team.delete").target("team", id).origin(ctx.origin(&state))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ids of a team's members.
#[utoipa::path(get, path = "/v1/teams/{id}/members", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [String]), (status = 404, body = Problem)))]
async fn team_members(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TeamId>,
) -> ApiResult<axum::Json<Vec<UserId>>> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    r.team(tenant, id).await.map_err(|e| ApiError::from_store(e, "team"))?;
    ctx.authorize(&state, Action::Read, &team_ref(tenant, &id)).await?;
    Ok(axum::Json(r.team_members(tenant, id).await?))
}

/// Skills the caller may read.
#[utoipa::path(get, path = "/v1/skills", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Skill]), (status = 403, body = Problem)))]
async fn list_skills(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Skill>>> {
    let tenant = may_list(&ctx, &state, Resource::Skill).await?;
    let skills = state.store.reader().await?.skills(tenant).await?;
    Ok(axum::Json(
        skills.into_iter().filter(|s| ctx.decide(Action::Read, &skill_ref(tenant, &s.id)).is_allowed()).collect(),
    ))
}

/// Creates a skill.
#[utoipa::path(post, path = "/v1/skills", tag = "directory", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Skill), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_skill(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<(StatusCode, axum::Json<Skill>)> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Skill, tenant)).await?;
    let now = state.clock.now();
    let skill =
        Skill { id: SkillId::new(), tenant_id: tenant, name: validate::name("name", &body.name)?, created_at: now };
    let mut tx = state.store.begin().await?;
    tx.insert_skill(&skill).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("skill.create").target("skill", skill.id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(skill)))
}

/// One skill.
#[utoipa::path(get, path = "/v1/skills/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Skill), (status = 404, body = Problem)))]
async fn get_skill(State(state): State<AppState>, ctx: Ctx, Path(id): Path<SkillId>) -> ApiResult<axum::Json<Skill>> {
    let tenant = ctx.tenant()?;
    let skill = state.store.reader().await?.skill(tenant, id).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    ctx.authorize(&state, Action::Read, &skill_ref(tenant, &id)).await?;
    Ok(axum::Json(skill))
}

/// Renames a skill.
#[utoipa::path(patch, path = "/v1/skills/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)), request_body = NameBody,
    responses((status = 200, body = Skill), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rename_skill(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<SkillId>,
    Json(body): Json<NameBody>,
) -> ApiResult<axum::Json<Skill>> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.skill(tenant, id).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    ctx.authorize(&state, Action::Update, &skill_ref(tenant, &id)).await?;
    let name = validate::name("name", &body.name)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.rename_skill(tenant, id, &name).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    let skill = tx.skill(tenant, id).await?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("skill.update").target("skill", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(axum::Json(skill))
}

/// Deletes a skill.
#[utoipa::path(delete, path = "/v1/skills/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_skill(State(state): State<AppState>, ctx: Ctx, Path(id): Path<SkillId>) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.skill(tenant, id).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    ctx.authorize(&state, Action::Delete, &skill_ref(tenant, &id)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_skill(tenant, id).await.map_err(|e| ApiError::from_store(e, "skill"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("skill.delete").target("skill", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Services and campaigns the caller may read.
#[utoipa::path(get, path = "/v1/services", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Service]), (status = 403, body = Problem)))]
async fn list_services(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Service>>> {
    let tenant = may_list(&ctx, &state, Resource::Service).await?;
    let services = state.store.reader().await?.services(tenant).await?;
    Ok(axum::Json(
        services.into_iter().filter(|s| ctx.decide(Action::Read, &service_ref(tenant, &s.id)).is_allowed()).collect(),
    ))
}

/// Creates a service or campaign.
#[utoipa::path(post, path = "/v1/services", tag = "directory", security(("bearer" = [])), request_body = CreateServiceBody,
    responses((status = 201, body = Service), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateServiceBody>,
) -> ApiResult<(StatusCode, axum::Json<Service>)> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Service, tenant)).await?;
    let now = state.clock.now();
    let (name, key) = validate::identifier_name("name", &body.name)?;
    let existing = state.store.reader().await?.services(tenant).await?;
    validate::distinct_identifier("name", &key, existing.iter().map(|t| t.name.as_str()), true)?;
    let service = Service { id: ServiceId::new(), tenant_id: tenant, name, kind: body.kind, created_at: now };
    let mut tx = state.store.begin().await?;
    tx.insert_service(&service).await.map_err(|e| ApiError::from_store(e, "service"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("service.create").target("service", service.id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(service)))
}

/// One service.
#[utoipa::path(get, path = "/v1/services/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Service), (status = 404, body = Problem)))]
async fn get_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceId>,
) -> ApiResult<axum::Json<Service>> {
    let tenant = ctx.tenant()?;
    let service =
        state.store.reader().await?.service(tenant, id).await.map_err(|e| ApiError::from_store(e, "service"))?;
    ctx.authorize(&state, Action::Read, &service_ref(tenant, &id)).await?;
    Ok(axum::Json(service))
}

/// Renames a service.
#[utoipa::path(patch, path = "/v1/services/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)), request_body = NameBody,
    responses((status = 200, body = Service), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rename_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceId>,
    Json(body): Json<NameBody>,
) -> ApiResult<axum::Json<Service>> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.service(tenant, id).await.map_err(|e| ApiError::from_store(e, "service"))?;
    ctx.authorize(&state, Action::Update, &service_ref(tenant, &id)).await?;
    let name = validate::name("name", &body.name)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.rename_service(tenant, id, &name).await.map_err(|e| ApiError::from_store(e, "service"))?;
    let service = tx.service(tenant, id).await?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("service.update").target("service", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(axum::Json(service))
}

/// Deletes a service.
#[utoipa::path(delete, path = "/v1/services/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_service(State(state): State<AppState>, ctx: Ctx, Path(id): Path<ServiceId>) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.service(tenant, id).await.map_err(|e| ApiError::from_store(e, "service"))?;
    ctx.authorize(&state, Action::Delete, &service_ref(tenant, &id)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_service(tenant, id).await.map_err(|e| ApiError::from_store(e, "service"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("service.delete").target("service", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
