//! Users: master data, directory addresses, assignments, and the administrator's credential
//! actions (reset password, unlock, reset second factor). The rules are in
//! `callvault_core::directory::users`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callvault_core::directory::{Outcome, users};
use callvault_model::SecretString;
use callvault_model::UserId;
use callvault_model::records::{Assignments, User};
use callvault_model::vault::Ceremony;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::directory::users::{AddressInput, CreateUser, UpdateUser};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(get_assignments, set_assignments))
        .routes(routes!(reset_password))
        .routes(routes!(unlock_user))
        .routes(routes!(reset_totp))
        .routes(routes!(user_sessions, end_user_sessions))
}

/// 204 when done, 202 with the ceremony when a second person must approve.
pub(super) fn done_or_proposed(outcome: Outcome<()>) -> Response {
    match outcome {
        Outcome::Done(()) => StatusCode::NO_CONTENT.into_response(),
        Outcome::Proposed(c) => (StatusCode::ACCEPTED, axum::Json(c)).into_response(),
    }
}

/// A password set by an administrator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password.
    pub password: SecretString,
}

/// Users the caller may read.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), responses((status = 200, body = [User]), (status = 403, body = Problem)))]
async fn list_users(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<User>>> {
    Ok(axum::Json(users::list(&state, &ctx).await?))
}

/// Creates a user.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    Ok((StatusCode::CREATED, axum::Json(users::create(&state, &ctx, body).await?)))
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(users::get(&state, &ctx, id).await?))
}

/// Changes a user's names or addresses.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(users::update(&state, &ctx, id, body).await?))
}

/// Deletes a user and all its master-data relations at once. The last administrator of a
/// tenant cannot be deleted.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<StatusCode> {
    users::delete(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's teams, skills and services.
#[utoipa::path(get, path = "/v1/users/{id}/assignments", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Assignments), (status = 404, body = Problem)))]
async fn get_assignments(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<Assignments>> {
    Ok(axum::Json(users::assignments(&state, &ctx, id).await?))
}

/// Replaces a user's teams, skills and services. The caller must be allowed to update the user
/// both where it is now and where it goes.
#[utoipa::path(put, path = "/v1/users/{id}/assignments", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = Assignments,
    responses((status = 200, body = Assignments), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_assignments(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Assignments>> {
    Ok(axum::Json(users::set_assignments(&state, &ctx, id, body).await?))
}

/// Sets a user's password (administrators); ends all the user's sessions. A custodian's
/// password is reset only under dual control: the answer is 202 with a ceremony, and on approval
/// a temporary password is shown once to the approver (the body's password is not used).
#[utoipa::path(put, path = "/v1/users/{id}/password", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = ResetPassword,
    responses((status = 204), (status = 202, body = Ceremony), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<ResetPassword>,
) -> ApiResult<Response> {
    Ok(done_or_proposed(users::reset_password(&state, &ctx, id, &body.password).await?))
}

/// Unlocks a user locked by failed logins (administrators, security officers).
#[utoipa::path(post, path = "/v1/users/{id}/unlock", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unlock_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<StatusCode> {
    users::unlock(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's second factor so it can enrol again (lost device). A custodian's second
/// factor is reset only under dual control: the answer is 202 with a ceremony.
#[utoipa::path(delete, path = "/v1/users/{id}/totp", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 202, body = Ceremony), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn reset_totp(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<Response> {
    Ok(done_or_proposed(users::reset_totp(&state, &ctx, id).await?))
}

/// A user's sessions (security officers, administrators: users in their scope).
#[utoipa::path(get, path = "/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [super::auth::SessionView]), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn user_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<Vec<super::auth::SessionView>>> {
    let sessions = users::sessions(&state, &ctx, id).await?;
    Ok(axum::Json(super::auth::session_views(sessions, ctx.session, state.clock.now().millis())))
}

/// Ends every session of a user (security officers, administrators: users in their scope).
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = super::auth::Revoked), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn end_user_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<super::auth::Revoked>> {
    Ok(axum::Json(super::auth::Revoked { revoked: users::end_sessions(&state, &ctx, id).await? }))
}
