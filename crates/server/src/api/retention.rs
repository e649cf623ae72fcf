//! Retention policies of personal data. The rules are in `callvault_core::retention`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::collection::{self, Collection, SetCollection, SetUserCollection};
use callvault_core::retention::{self, NewLegalHold, NewRetentionPolicy};
use callvault_model::personal::{LegalHold, PurgeRun, RetentionPolicy};
use callvault_model::{LegalHoldId, RetentionPolicyId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(delete_policy))
        .routes(routes!(list_holds, place_hold))
        .routes(routes!(release_hold))
        .routes(routes!(purge_runs))
        .routes(routes!(get_collection, set_collection))
        .routes(routes!(set_user_collection))
}

/// The tenant's retention policies.
#[utoipa::path(get, path = "/v1/retention-policies", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = [RetentionPolicy]), (status = 403, body = Problem)))]
async fn list_policies(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<RetentionPolicy>>> {
    Ok(axum::Json(retention::policies(&state, &ctx).await?))
}

/// Adds a retention policy (a category, tenant-wide or for one service; within the provider's
/// bounds; where policies overlap the longest wins).
#[utoipa::path(post, path = "/v1/retention-policies", tag = "personal data", security(("bearer" = [])),
    request_body = NewRetentionPolicy,
    responses((status = 201, body = RetentionPolicy), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_policy(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewRetentionPolicy>,
) -> ApiResult<(StatusCode, axum::Json<RetentionPolicy>)> {
    Ok((StatusCode::CREATED, axum::Json(retention::create(&state, &ctx, body).await?)))
}

/// Removes a retention policy.
#[utoipa::path(delete, path = "/v1/retention-policies/{id}", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_policy(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<RetentionPolicyId>,
) -> ApiResult<StatusCode> {
    retention::delete(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's legal holds, released ones included (data protection officers).
#[utoipa::path(get, path = "/v1/legal-holds", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = [LegalHold]), (status = 403, body = Problem)))]
async fn list_holds(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<LegalHold>>> {
    Ok(axum::Json(retention::holds(&state, &ctx).await?))
}

/// Places a legal hold on a subject, an interaction or a service: what it covers is neither
/// purged nor erased until it is released (data protection officers; audited).
#[utoipa::path(post, path = "/v1/legal-holds", tag = "personal data", security(("bearer" = [])),
    request_body = NewLegalHold,
    responses((status = 201, body = LegalHold), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn place_hold(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewLegalHold>,
) -> ApiResult<(StatusCode, axum::Json<LegalHold>)> {
    Ok((StatusCode::CREATED, axum::Json(retention::place_hold(&state, &ctx, body).await?)))
}

/// Releases a legal hold; what it covered follows its retention again.
#[utoipa::path(post, path = "/v1/legal-holds/{id}/release", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn release_hold(State(state): State<AppState>, ctx: Ctx, Path(id): Path<LegalHoldId>) -> ApiResult<StatusCode> {
    retention::release_hold(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's newest purge runs: progress while one runs (a run the process stopped in shows
/// no end until the next purge resumes it), counts and times when done.
#[utoipa::path(get, path = "/v1/retention-purges", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = [PurgeRun]), (status = 403, body = Problem)))]
async fn purge_runs(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<PurgeRun>>> {
    Ok(axum::Json(retention::purge_runs(&state, &ctx).await?))
}

/// Which optional categories of personal data the tenant collects (directory information,
/// recordings, reporting data) and which users' directory information is not collected.
#[utoipa::path(get, path = "/v1/personal-data/collection", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = Collection), (status = 403, body = Problem)))]
async fn get_collection(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Collection>> {
    Ok(axum::Json(collection::get(&state, &ctx).await?))
}

/// Switches a category on or off for the tenant (administrators; audited). Switching off while
/// data of it exists answers 409 with how much, until repeated with `confirm_purge`, which
/// purges it; a category switched off is refused at write time.
#[utoipa::path(put, path = "/v1/personal-data/collection", tag = "personal data", security(("bearer" = [])),
    request_body = SetCollection,
    responses((status = 200, body = Collection), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn set_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<SetCollection>,
) -> ApiResult<axum::Json<Collection>> {
    Ok(axum::Json(collection::set(&state, &ctx, body).await?))
}

/// Switches one user's directory information on or off (audited); switching off with addresses
/// present needs `confirm_purge`, which deletes them.
#[utoipa::path(put, path = "/v1/users/{id}/collection", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SetUserCollection,
    responses((status = 200, body = Collection), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn set_user_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<SetUserCollection>,
) -> ApiResult<axum::Json<Collection>> {
    Ok(axum::Json(collection::set_for_user(&state, &ctx, id, body).await?))
}
