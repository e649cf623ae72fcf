//! Teams, skills, services and campaigns.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::directory::units;
use callvault_model::records::{Department, Service, ServiceKind, Skill, Team};
use callvault_model::{DepartmentId, ServiceId, SkillId, TeamId, UserId};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, rename_team, delete_team))
        .routes(routes!(team_members))
        .routes(routes!(set_team_department))
        .routes(routes!(list_departments, create_department))
        .routes(routes!(get_department, rename_department, delete_department))
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

/// Teams the caller may read.
#[utoipa::path(get, path = "/v1/teams", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Team]), (status = 403, body = Problem)))]
async fn list_teams(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Team>>> {
    Ok(axum::Json(units::list::<Team>(&state, &ctx).await?))
}

/// Creates a team.
#[utoipa::path(post, path = "/v1/teams", tag = "directory", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Team), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_team(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<(StatusCode, axum::Json<Team>)> {
    Ok((StatusCode::CREATED, axum::Json(units::create_team(&state, &ctx, &body.name).await?)))
}

/// One team.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
async fn get_team(State(state): State<AppState>, ctx: Ctx, Path(id): Path<TeamId>) -> ApiResult<axum::Json<Team>> {
    Ok(axum::Json(units::get::<Team>(&state, &ctx, id).await?))
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
    Ok(axum::Json(units::rename::<Team>(&state, &ctx, id, &body.name).await?))
}

/// Deletes a team (its memberships go with it).
#[utoipa::path(delete, path = "/v1/teams/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_team(State(state): State<AppState>, ctx: Ctx, Path(id): Path<TeamId>) -> ApiResult<StatusCode> {
    units::delete::<Team>(&state, &ctx, id).await?;
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
    Ok(axum::Json(units::team_members(&state, &ctx, id).await?))
}

/// Skills the caller may read.
#[utoipa::path(get, path = "/v1/skills", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Skill]), (status = 403, body = Problem)))]
async fn list_skills(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Skill>>> {
    Ok(axum::Json(units::list::<Skill>(&state, &ctx).await?))
}

/// Creates a skill.
#[utoipa::path(post, path = "/v1/skills", tag = "directory", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Skill), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_skill(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<(StatusCode, axum::Json<Skill>)> {
    Ok((StatusCode::CREATED, axum::Json(units::create_skill(&state, &ctx, &body.name).await?)))
}

/// One skill.
#[utoipa::path(get, path = "/v1/skills/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Skill), (status = 404, body = Problem)))]
async fn get_skill(State(state): State<AppState>, ctx: Ctx, Path(id): Path<SkillId>) -> ApiResult<axum::Json<Skill>> {
    Ok(axum::Json(units::get::<Skill>(&state, &ctx, id).await?))
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
    Ok(axum::Json(units::rename::<Skill>(&state, &ctx, id, &body.name).await?))
}

/// Deletes a skill.
#[utoipa::path(delete, path = "/v1/skills/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_skill(State(state): State<AppState>, ctx: Ctx, Path(id): Path<SkillId>) -> ApiResult<StatusCode> {
    units::delete::<Skill>(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Services and campaigns the caller may read.
#[utoipa::path(get, path = "/v1/services", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Service]), (status = 403, body = Problem)))]
async fn list_services(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Service>>> {
    Ok(axum::Json(units::list::<Service>(&state, &ctx).await?))
}

/// Creates a service or campaign.
#[utoipa::path(post, path = "/v1/services", tag = "directory", security(("bearer" = [])), request_body = CreateServiceBody,
    responses((status = 201, body = Service), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateServiceBody>,
) -> ApiResult<(StatusCode, axum::Json<Service>)> {
    Ok((StatusCode::CREATED, axum::Json(units::create_service(&state, &ctx, &body.name, body.kind).await?)))
}

/// One service.
#[utoipa::path(get, path = "/v1/services/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Service), (status = 404, body = Problem)))]
async fn get_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceId>,
) -> ApiResult<axum::Json<Service>> {
    Ok(axum::Json(units::get::<Service>(&state, &ctx, id).await?))
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
    Ok(axum::Json(units::rename::<Service>(&state, &ctx, id, &body.name).await?))
}

/// Deletes a service.
#[utoipa::path(delete, path = "/v1/services/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_service(State(state): State<AppState>, ctx: Ctx, Path(id): Path<ServiceId>) -> ApiResult<StatusCode> {
    units::delete::<Service>(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The department a team moves into (`null`: out of any).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamDepartmentBody {
    /// The department, or null.
    pub department_id: Option<DepartmentId>,
}

/// Moves a team into a department or out of any.
#[utoipa::path(put, path = "/v1/teams/{id}/department", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = TeamDepartmentBody, responses((status = 200, body = Team), (status = 404, body = Problem)))]
async fn set_team_department(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TeamId>,
    Json(body): Json<TeamDepartmentBody>,
) -> ApiResult<axum::Json<Team>> {
    Ok(axum::Json(units::set_team_department(&state, &ctx, id, body.department_id).await?))
}

/// Departments the caller may read.
#[utoipa::path(get, path = "/v1/departments", tag = "directory", security(("bearer" = [])), responses((status = 200, body = [Department]), (status = 403, body = Problem)))]
async fn list_departments(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Department>>> {
    Ok(axum::Json(units::list::<Department>(&state, &ctx).await?))
}

/// Creates a department.
#[utoipa::path(post, path = "/v1/departments", tag = "directory", security(("bearer" = [])), request_body = NameBody,
    responses((status = 201, body = Department), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_department(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<(StatusCode, axum::Json<Department>)> {
    Ok((StatusCode::CREATED, axum::Json(units::create_department(&state, &ctx, &body.name).await?)))
}

/// One department.
#[utoipa::path(get, path = "/v1/departments/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Department), (status = 404, body = Problem)))]
async fn get_department(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DepartmentId>,
) -> ApiResult<axum::Json<Department>> {
    Ok(axum::Json(units::get::<Department>(&state, &ctx, id).await?))
}

/// Renames a department.
#[utoipa::path(patch, path = "/v1/departments/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)), request_body = NameBody,
    responses((status = 200, body = Department), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rename_department(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DepartmentId>,
    Json(body): Json<NameBody>,
) -> ApiResult<axum::Json<Department>> {
    Ok(axum::Json(units::rename::<Department>(&state, &ctx, id, &body.name).await?))
}

/// Deletes a department (its teams stay, in no department).
#[utoipa::path(delete, path = "/v1/departments/{id}", tag = "directory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_department(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DepartmentId>,
) -> ApiResult<StatusCode> {
    units::delete::<Department>(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
