//! Provider operators: the people who run the platform and are the custodians of the KEK
//! (a KEK backup is a dual-control ceremony of two operators). The rules are in
//! `callvault_core::operators`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::operators;
use callvault_model::OperatorId;
use callvault_model::vault::Ceremony;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::operators::{CreateOperator, OperatorView};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_operators, create_operator)).routes(routes!(propose_approver))
}

/// Lists provider operators.
#[utoipa::path(get, path = "/v1/operators", tag = "operators", security(("bearer" = [])),
    responses((status = 200, body = [OperatorView]), (status = 403, body = Problem)))]
async fn list_operators(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<OperatorView>>> {
    Ok(axum::Json(operators::list(&state, &ctx).await?))
}

/// Creates a provider operator.
#[utoipa::path(post, path = "/v1/operators", tag = "operators", security(("bearer" = [])), request_body = CreateOperator,
    responses((status = 201, body = OperatorView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_operator(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateOperator>,
) -> ApiResult<(StatusCode, axum::Json<OperatorView>)> {
    Ok((StatusCode::CREATED, axum::Json(operators::create(&state, &ctx, body).await?)))
}

/// Proposes adding an operator to the approvers of provider ceremonies (KEK backups, tenants'
/// first custodians). A second approving operator approves it with
/// `POST /v1/key-ceremonies/{id}/approve`; a new operator approves nothing until then.
#[utoipa::path(post, path = "/v1/operators/{id}/approver", tag = "operators", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = Ceremony), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn propose_approver(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<OperatorId>,
) -> ApiResult<(StatusCode, axum::Json<Ceremony>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(operators::propose_approver(&state, &ctx, id).await?)))
}
