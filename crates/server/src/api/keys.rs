//! Key management (PCI DSS 3.6, 3.7): encryption state, data key versions with age and use, dual-control
//! ceremonies, and the background jobs they start. The rules are in `callvault_core::vault`
//! (`ceremony`, `status`).

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::vault::{ceremony, status};
use callvault_model::vault::{Ceremony, CeremonyKind};
use callvault_model::{CeremonyId, JobId, SecretString};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::vault::status::{EncryptionStatus, JobView, KeyVersionView};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(encryption_status))
        .routes(routes!(list_keys))
        .routes(routes!(list_ceremonies, propose_ceremony))
        .routes(routes!(get_ceremony))
        .routes(routes!(approve_ceremony))
        .routes(routes!(cancel_ceremony))
        .routes(routes!(pickup_share))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(pause_job))
        .routes(routes!(resume_job))
}

/// A proposal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// What to do.
    pub kind: CeremonyKind,
    /// Its parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The proposer's password (re-authentication).
    pub password: SecretString,
    /// A fresh TOTP code of the proposer.
    pub totp: SecretString,
}

/// An approval.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The approver's password.
    pub password: SecretString,
    /// A fresh TOTP code of the approver.
    pub totp: SecretString,
}

/// A custodian's share of a KEK backup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    /// The share text (`cvs1-…`): shown once; keep it offline, apart from the other shares.
    pub share: String,
}

/// The tenant's encryption state and the age of its current key.
#[utoipa::path(get, path = "/v1/encryption", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = EncryptionStatus), (status = 403, body = Problem)))]
async fn encryption_status(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<EncryptionStatus>> {
    Ok(axum::Json(status::encryption(&state, &ctx).await?))
}

/// Data key versions, oldest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [KeyVersionView]), (status = 403, body = Problem)))]
async fn list_keys(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<KeyVersionView>>> {
    Ok(axum::Json(status::key_versions(&state, &ctx).await?))
}

/// Proposes a key operation; a second custodian must approve it before it expires.
#[utoipa::path(post, path = "/v1/key-ceremonies", tag = "keys", security(("bearer" = [])), request_body = ProposeBody,
    responses((status = 201, body = Ceremony), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn propose_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<ProposeBody>,
) -> ApiResult<(StatusCode, axum::Json<Ceremony>)> {
    let c = ceremony::propose(&state, &ctx, body.kind, &body.params, &body.password, &body.totp).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Ceremonies of the tenant, newest first.
#[utoipa::path(get, path = "/v1/key-ceremonies", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [Ceremony]), (status = 403, body = Problem)))]
async fn list_ceremonies(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Ceremony>>> {
    Ok(axum::Json(status::ceremonies(&state, &ctx).await?))
}

/// One ceremony.
#[utoipa::path(get, path = "/v1/key-ceremonies/{id}", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Ceremony), (status = 404, body = Problem)))]
async fn get_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
) -> ApiResult<axum::Json<Ceremony>> {
    Ok(axum::Json(status::ceremony(&state, &ctx, id).await?))
}

/// Approves a ceremony (a custodian other than the proposer) and carries it out.
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/approve", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = Ceremony), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem)))]
async fn approve_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
    Json(body): Json<ApproveBody>,
) -> ApiResult<axum::Json<Ceremony>> {
    Ok(axum::Json(ceremony::approve(&state, &ctx, id, &body.password, &body.totp).await?))
}

/// Withdraws a proposal.
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/cancel", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Ceremony), (status = 409, body = Problem)))]
async fn cancel_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
) -> ApiResult<axum::Json<Ceremony>> {
    Ok(axum::Json(ceremony::cancel(&state, &ctx, id).await?))
}

/// Picks up the caller's share of a completed `kek_backup` ceremony, once (re-authenticated).
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/share", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = ShareView), (status = 403, body = Problem), (status = 410, body = Problem)))]
async fn pickup_share(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
    Json(body): Json<ApproveBody>,
) -> ApiResult<axum::Json<ShareView>> {
    let share = ceremony::pickup_share(&state, &ctx, id, &body.password, &body.totp).await?;
    Ok(axum::Json(ShareView { share }))
}

/// Jobs of the tenant, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [JobView]), (status = 403, body = Problem)))]
async fn list_jobs(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<JobView>>> {
    Ok(axum::Json(status::jobs(&state, &ctx).await?))
}

/// One job with its progress.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
async fn get_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(status::job(&state, &ctx, id).await?))
}

/// Pauses a running job (every object stays readable).
#[utoipa::path(post, path = "/v1/jobs/{id}/pause", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 409, body = Problem)))]
async fn pause_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(status::pause_job(&state, &ctx, id).await?))
}

/// Resumes a paused job where it stopped.
#[utoipa::path(post, path = "/v1/jobs/{id}/resume", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 409, body = Problem)))]
async fn resume_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(status::resume_job(&state, &ctx, id).await?))
}
