//! Retention policies of personal data. The rules are in `callvault_core::retention`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::retention::{self, NewRetentionPolicy};
use callvault_model::RetentionPolicyId;
use callvault_model::personal::RetentionPolicy;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_policies, create_policy)).routes(routes!(delete_policy))
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
