//! Recording policy, recording decisions, pauses, and agent performance statistics. The rules
//! are in `callvault_core::recording` and `callvault_core::reporting`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::recording::pauses::{self, RecordingState, SetState};
use callvault_core::recording::{self, DecisionRequest};
use callvault_core::reporting::{self, Ingest, MemberReport, Period, TeamReport};
use callvault_model::{InteractionId, TeamId, UserId};
use callvault_policy::recording::{RecordingDecision, RecordingPolicy};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(decide))
        .routes(routes!(get_recording_state, set_recording_state))
        .routes(routes!(ingest_performance))
        .routes(routes!(user_performance))
        .routes(routes!(team_performance))
}

/// The tenant's recording policy (the defaults when none was set).
#[utoipa::path(get, path = "/v1/recording-policy", tag = "recording", security(("bearer" = [])),
    responses((status = 200, body = RecordingPolicy), (status = 403, body = Problem)))]
async fn get_policy(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<RecordingPolicy>> {
    Ok(axum::Json(recording::policy(&state, &ctx).await?))
}

/// Replaces the tenant's recording policy: system, user and service switches, consent rules,
/// maximum pause (administrators; audited).
#[utoipa::path(put, path = "/v1/recording-policy", tag = "recording", security(("bearer" = [])),
    request_body = RecordingPolicy,
    responses((status = 200, body = RecordingPolicy), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_policy(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<RecordingPolicy>,
) -> ApiResult<axum::Json<RecordingPolicy>> {
    Ok(axum::Json(recording::set_policy(&state, &ctx, body).await?))
}

/// Whether an interaction is recorded, which recordings are made, and every rule that took part
/// (recorders and SBCs, before and during each call). The tenant is the caller's.
#[utoipa::path(post, path = "/v1/recording-decisions", tag = "recording", security(("bearer" = [])),
    request_body = DecisionRequest,
    responses((status = 200, body = RecordingDecision), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<DecisionRequest>,
) -> ApiResult<axum::Json<RecordingDecision>> {
    Ok(axum::Json(recording::decide(&state, &ctx, body).await?))
}

/// Whether an interaction is being recorded or paused, with every pause so far.
#[utoipa::path(get, path = "/v1/interactions/{id}/recording-state", tag = "recording", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RecordingState), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_recording_state(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<InteractionId>,
) -> ApiResult<axum::Json<RecordingState>> {
    Ok(axum::Json(pauses::get(&state, &ctx, id).await?))
}

/// Pauses or resumes an interaction's recording (one's own call with
/// `recording_state:update:own`; others' with `recording_state:update` over their team). A pause
/// ends by itself after the policy's maximum. Audited.
#[utoipa::path(post, path = "/v1/interactions/{id}/recording-state", tag = "recording", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SetState,
    responses((status = 200, body = RecordingState), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_recording_state(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<InteractionId>,
    Json(body): Json<SetState>,
) -> ApiResult<axum::Json<RecordingState>> {
    Ok(axum::Json(pauses::set(&state, &ctx, id, body).await?))
}

/// How many intervals were stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ingested {
    /// Intervals stored (an agent's interval sent again replaces the earlier one).
    pub stored: usize,
}

/// Agent performance statistics from the ACD, in batches of up to 5,000 15-minute intervals.
#[utoipa::path(post, path = "/v1/performance", tag = "reporting", security(("bearer" = [])), request_body = Ingest,
    responses((status = 201, body = Ingested), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn ingest_performance(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<Ingest>,
) -> ApiResult<(StatusCode, axum::Json<Ingested>)> {
    let stored = reporting::ingest(&state, &ctx, body).await?;
    Ok((StatusCode::CREATED, axum::Json(Ingested { stored })))
}

/// One agent's statistics over a period (the agent, or supervisors whose scope covers the
/// agent's team).
#[utoipa::path(get, path = "/v1/users/{id}/performance", tag = "reporting", security(("bearer" = [])),
    params(("id" = String, Path), Period),
    responses((status = 200, body = MemberReport), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn user_performance(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Query(p): Query<Period>,
) -> ApiResult<axum::Json<MemberReport>> {
    Ok(axum::Json(reporting::for_member(&state, &ctx, id, p).await?))
}

/// A team's statistics over a period, per day and per member (supervisors whose scope covers
/// the team).
#[utoipa::path(get, path = "/v1/teams/{id}/performance", tag = "reporting", security(("bearer" = [])),
    params(("id" = String, Path), Period),
    responses((status = 200, body = TeamReport), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn team_performance(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TeamId>,
    Query(p): Query<Period>,
) -> ApiResult<axum::Json<TeamReport>> {
    Ok(axum::Json(reporting::for_team(&state, &ctx, id, p).await?))
}
