//! Roles, grants, service accounts, notifications, and `POST /v1/access/explain`. The rules are
//! in `callvault_core::directory::access`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callvault_core::directory::{Outcome, access};
use callvault_model::records::{Grant, Notification, Role, ServiceAccount};
use callvault_model::vault::Ceremony;
use callvault_model::{GrantId, RoleId, ServiceAccountId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::directory::access::{
    CreateGrant, CreateRole, CreateServiceAccount, ExplainRequest, ServiceAccountWithToken, UpdateRole,
};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_grants, create_grant))
        .routes(routes!(delete_grant))
        .routes(routes!(list_service_accounts, create_service_account))
        .routes(routes!(get_service_account))
        .routes(routes!(rotate_service_account))
        .routes(routes!(revoke_service_account))
        .routes(routes!(list_notifications))
        .routes(routes!(explain))
}

/// Roles of the caller's tenant.
#[utoipa::path(get, path = "/v1/roles", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Role]), (status = 403, body = Problem)))]
async fn list_roles(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Role>>> {
    Ok(axum::Json(access::roles(&state, &ctx).await?))
}

/// Creates a custom role.
#[utoipa::path(post, path = "/v1/roles", tag = "access", security(("bearer" = [])), request_body = CreateRole,
    responses((status = 201, body = Role), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateRole>,
) -> ApiResult<(StatusCode, axum::Json<Role>)> {
    Ok((StatusCode::CREATED, axum::Json(access::create_role(&state, &ctx, body).await?)))
}

/// One role.
#[utoipa::path(get, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Role), (status = 404, body = Problem)))]
async fn get_role(State(state): State<AppState>, ctx: Ctx, Path(id): Path<RoleId>) -> ApiResult<axum::Json<Role>> {
    Ok(axum::Json(access::role(&state, &ctx, id).await?))
}

/// Changes a custom role (default roles cannot change).
#[utoipa::path(patch, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)), request_body = UpdateRole,
    responses((status = 200, body = Role), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<RoleId>,
    Json(body): Json<UpdateRole>,
) -> ApiResult<axum::Json<Role>> {
    Ok(axum::Json(access::update_role(&state, &ctx, id, body).await?))
}

/// Deletes a custom role that no grant uses.
#[utoipa::path(delete, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_role(State(state): State<AppState>, ctx: Ctx, Path(id): Path<RoleId>) -> ApiResult<StatusCode> {
    access::delete_role(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants of the caller's tenant.
#[utoipa::path(get, path = "/v1/grants", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Grant]), (status = 403, body = Problem)))]
async fn list_grants(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Grant>>> {
    Ok(axum::Json(access::grants(&state, &ctx).await?))
}

/// Grants a role. A role that carries key custody or personal data appoints a custodian: the
/// answer is 202 with a ceremony that a second person approves
/// (`POST /v1/key-ceremonies/{id}/approve`). A grant that would give one person two conflicting
/// classes of privileges (separation of duties) is refused with 403 and the conflict.
#[utoipa::path(post, path = "/v1/grants", tag = "access", security(("bearer" = [])), request_body = CreateGrant,
    responses((status = 201, body = Grant), (status = 202, body = Ceremony), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_grant(State(state): State<AppState>, ctx: Ctx, Json(body): Json<CreateGrant>) -> ApiResult<Response> {
    Ok(match access::create_grant(&state, &ctx, body).await? {
        Outcome::Done(grant) => (StatusCode::CREATED, axum::Json(grant)).into_response(),
        Outcome::Proposed(c) => (StatusCode::ACCEPTED, axum::Json(c)).into_response(),
    })
}

/// Removes a grant. The last administrator of a tenant cannot be demoted. Removing a custodial
/// grant is a ceremony (202) that a second person approves.
#[utoipa::path(delete, path = "/v1/grants/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 202, body = Ceremony), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_grant(State(state): State<AppState>, ctx: Ctx, Path(id): Path<GrantId>) -> ApiResult<Response> {
    Ok(super::users::done_or_proposed(access::delete_grant(&state, &ctx, id).await?))
}

/// Service accounts of the caller's tenant.
#[utoipa::path(get, path = "/v1/service-accounts", tag = "access", security(("bearer" = [])), responses((status = 200, body = [ServiceAccount]), (status = 403, body = Problem)))]
async fn list_service_accounts(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<ServiceAccount>>> {
    Ok(axum::Json(access::service_accounts(&state, &ctx).await?))
}

/// Creates a service account bound to one role and scope; returns its token once.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "access", security(("bearer" = [])), request_body = CreateServiceAccount,
    responses((status = 201, body = ServiceAccountWithToken), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateServiceAccount>,
) -> ApiResult<(StatusCode, axum::Json<ServiceAccountWithToken>)> {
    Ok((StatusCode::CREATED, axum::Json(access::create_service_account(&state, &ctx, body).await?)))
}

/// One service account.
#[utoipa::path(get, path = "/v1/service-accounts/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccount), (status = 404, body = Problem)))]
async fn get_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<axum::Json<ServiceAccount>> {
    Ok(axum::Json(access::service_account(&state, &ctx, id).await?))
}

/// Issues a new token for a service account; the old one stops working at once.
#[utoipa::path(post, path = "/v1/service-accounts/{id}/rotate", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccountWithToken), (status = 404, body = Problem)))]
async fn rotate_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<axum::Json<ServiceAccountWithToken>> {
    Ok(axum::Json(access::rotate_service_account(&state, &ctx, id).await?))
}

/// Revokes a service account's token.
#[utoipa::path(post, path = "/v1/service-accounts/{id}/revoke", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<StatusCode> {
    access::revoke_service_account(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Notifications of the caller's tenant addressed to the caller's roles or to the caller.
#[utoipa::path(get, path = "/v1/notifications", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Notification]), (status = 403, body = Problem)))]
async fn list_notifications(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Notification>>> {
    Ok(axum::Json(access::notifications(&state, &ctx).await?))
}

/// "May user X do Y on Z, and why?" (administrators).
#[utoipa::path(post, path = "/v1/access/explain", tag = "access", security(("bearer" = [])), request_body = ExplainRequest,
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn explain(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<ExplainRequest>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let decision = access::explain(&state, &ctx, &body).await?;
    Ok(axum::Json(serde_json::json!({
        "allowed": decision.is_allowed(),
        "explanation": decision.explain(),
        "decision": decision,
    })))
}
