//! Interactions (contact data records) and data subjects. The rules are in
//! `callvault_core::subjects`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::subjects;
use callvault_core::vault::messages::{self, Appended, NewMessage};
use callvault_model::InteractionId;
use callvault_model::personal::Interaction;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::subjects::{Exclusions, NewInteraction, Subject, SubjectQuery};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_interaction))
        .routes(routes!(get_interaction))
        .routes(routes!(append_message))
        .routes(routes!(search_subjects))
        .routes(routes!(get_exclusions, set_exclusions))
}

/// Stores an interaction; its customer identifiers are sealed, indexed and linked to a subject.
#[utoipa::path(post, path = "/v1/interactions", tag = "personal data", security(("bearer" = [])),
    request_body = NewInteraction,
    responses((status = 201, body = Interaction), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_interaction(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewInteraction>,
) -> ApiResult<(StatusCode, axum::Json<Interaction>)> {
    Ok((StatusCode::CREATED, axum::Json(subjects::create(&state, &ctx, body).await?)))
}

/// One interaction with its identifiers (an audited decrypting read).
#[utoipa::path(get, path = "/v1/interactions/{id}", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Interaction), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_interaction(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<InteractionId>,
) -> ApiResult<axum::Json<Interaction>> {
    Ok(axum::Json(subjects::get(&state, &ctx, id).await?))
}

/// Appends a chat or SMS message to its interaction's transcript (one object per interaction,
/// read back through `/v1/objects/{id}/content`). Card numbers are masked before storage, also
/// when split over consecutive messages; the answer counts them and never repeats the text.
#[utoipa::path(post, path = "/v1/interactions/{id}/messages", tag = "objects", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewMessage,
    responses((status = 201, body = Appended), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn append_message(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<InteractionId>,
    Json(body): Json<NewMessage>,
) -> ApiResult<(StatusCode, axum::Json<Appended>)> {
    Ok((StatusCode::CREATED, axum::Json(messages::append(&state, &ctx, id, body).await?)))
}

/// The subjects an identifier belongs to, with every linked identifier, their interactions and
/// stored objects (data protection officers; audited).
#[utoipa::path(get, path = "/v1/subjects", tag = "personal data", security(("bearer" = [])), params(SubjectQuery),
    responses((status = 200, body = [Subject]), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn search_subjects(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SubjectQuery>,
) -> ApiResult<axum::Json<Vec<Subject>>> {
    Ok(axum::Json(subjects::search(&state, &ctx, &q).await?))
}

/// Identifiers that never link a subject: the tenant's own numbers, switchboards, shared
/// addresses (administrators).
#[utoipa::path(get, path = "/v1/subject-exclusions", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = Exclusions), (status = 403, body = Problem)))]
async fn get_exclusions(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Exclusions>> {
    Ok(axum::Json(subjects::exclusions(&state, &ctx).await?))
}

/// Replaces the exclusion list (audited): its identifiers are unlinked from subjects and never
/// linked again.
#[utoipa::path(put, path = "/v1/subject-exclusions", tag = "personal data", security(("bearer" = [])),
    request_body = Exclusions,
    responses((status = 200, body = Exclusions), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn set_exclusions(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<Exclusions>,
) -> ApiResult<axum::Json<Exclusions>> {
    Ok(axum::Json(subjects::set_exclusions(&state, &ctx, body).await?))
}
