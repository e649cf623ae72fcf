//! Provider operators: the people who run the platform and are the custodians of the KEK
//! (a KEK backup is a dual-control ceremony of two operators).

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::{OperatorId, SecretString, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::IdentityStore;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::identity;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_operators, create_operator))
}

async fn allow(ctx: &Ctx, state: &AppState, action: Action) -> ApiResult<()> {
    let resource = ResourceRef::tenant_wide(Resource::Operator, TenantId(uuid::Uuid::nil()));
    ctx.authorize(state, action, &resource).await.map(|_| ())
}

/// A provider operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorView {
    /// Identifier.
    pub id: OperatorId,
    /// Login.
    pub login: String,
    /// Created.
    pub created_at: Timestamp,
}

/// A new operator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperator {
    /// Login.
    pub login: String,
    /// Initial password (NIST 800-63B rules); TOTP enrolment follows at first login.
    pub password: SecretString,
}

/// Lists provider operators.
#[utoipa::path(get, path = "/v1/operators", tag = "operators", security(("bearer" = [])),
    responses((status = 200, body = [OperatorView]), (status = 403, body = Problem)))]
async fn list_operators(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<OperatorView>>> {
    allow(&ctx, &state, Action::Read).await?;
    let ops = state.store.reader().await?.operators().await?;
    Ok(axum::Json(ops.into_iter().map(|(id, login, created_at)| OperatorView { id, login, created_at }).collect()))
}

/// Creates a provider operator.
#[utoipa::path(post, path = "/v1/operators", tag = "operators", security(("bearer" = [])), request_body = CreateOperator,
    responses((status = 201, body = OperatorView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_operator(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateOperator>,
) -> ApiResult<(StatusCode, axum::Json<OperatorView>)> {
    allow(&ctx, &state, Action::Create).await?;
    let login = validate::login(&body.login)?;
    let hash = identity::new_password_hash(&body.password, &Default::default(), &[&login]).await?;
    let id = OperatorId::new();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.insert_operator(id, &login, &hash, now).await.map_err(|e| ApiError::from_store(e, "operator"))?;
    let event = ctx.event("operator.create").target("operator", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(OperatorView { id, login, created_at: now })))
}
