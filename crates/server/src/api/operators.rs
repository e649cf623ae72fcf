//! Provider operators: the people who run the platform and are the custodians of the KEK
//! (a KEK backup is a dual-control ceremony of two operators).

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::Ceremony;
use callvault_model::{OperatorId, PrincipalId, SecretString, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;
use callvault_core::identity;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_operators, create_operator)).routes(routes!(propose_approver))
}

async fn allow(ctx: &Ctx, state: &AppState, action: Action) -> ApiResult<()> {
    let resource = ResourceRef::tenant_wide(Resource::Operator, TenantId(uuid::Uuid::nil()));
    ctx.authorize(state, action, &resource).await?;
    Ok(())
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
    let existing = state.store.reader().await?.operators().await?;
    let (login, _) = validate::new_login(&body.login, existing.iter().map(|(_, l, _)| l.as_str()), true)?;
    let hash = identity::new_password_hash(&body.password, &Default::default(), &[&login]).await?;
    let id = OperatorId::new();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.insert_operator(id, &login, &hash, now).await.map_err(|e| ApiError::from_store(e, "operator"))?;
    let owner = callvault_store::CredentialOwner::Operator(id);
    tx.record_account_control(owner, Some(ctx.principal), Some(ctx.principal)).await?;
    let event = ctx.event("operator.create").target("operator", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(OperatorView { id, login, created_at: now })))
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
    crate::extract::Path(id): crate::extract::Path<OperatorId>,
) -> ApiResult<(StatusCode, axum::Json<Ceremony>)> {
    allow(&ctx, &state, Action::Create).await?;
    let PrincipalId::Operator(me) = ctx.principal else {
        return Err(ApiError::forbidden("only provider operators appoint operators", None));
    };
    callvault_core::custody::operator_may_approve(&state, me).await?;
    let mut r = state.store.reader().await?;
    if !r.operators().await?.iter().any(|(o, _, _)| *o == id) {
        return Err(ApiError::not_found("operator"));
    }
    if r.operator_may_approve(id).await? {
        return Err(ApiError::conflict("this operator may already approve"));
    }
    drop(r);
    let subject = callvault_core::custody::Subject::Operator { operator_id: id };
    let c = callvault_core::custody::propose(&state, &ctx, PrincipalId::Operator(id), subject).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(c)))
}
