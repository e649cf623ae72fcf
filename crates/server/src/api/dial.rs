//! Telecom policy endpoints: `POST /v1/dial-checks` answers whether calls and texts
//! may be placed (and inbound calls received) with every reason; the rest manages calling areas,
//! calling-hour rules, dial settings, area assignments and do-not-call lists.
//!
//! Numbers never appear in URLs (paths are logged): removal from a list is a POST with a body.
//! Denied checks are audited with the number as a keyed digest.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::dial_admin::dnc::{self, Added};
use callvault_core::dial_admin::policy;
use callvault_core::dial_checks::{self, CheckRequest};
use callvault_model::DncListId;
use callvault_model::dial::{AreaDef, DncList};
use callvault_policy::dial::{Areas, Decision, Settings};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::dial_admin::dnc::{ImportResult, NewDncList};
pub use callvault_core::dial_admin::policy::AssignmentView;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dial_checks))
        .routes(routes!(get_settings, put_settings, patch_settings))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(list_areas))
        .routes(routes!(put_area, delete_area))
        .routes(routes!(list_assignments))
        .routes(routes!(put_assignment))
        .routes(routes!(list_dnc, create_dnc))
        .routes(routes!(delete_dnc))
        .routes(routes!(import_dnc))
        .routes(routes!(add_dnc_number))
        .routes(routes!(remove_dnc_number))
}

/// One check or a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DialChecks {
    /// `{"checks": [...]}`, up to 1,000.
    Batch {
        /// The checks.
        checks: Vec<CheckRequest>,
    },
    /// A single check.
    One(CheckRequest),
}

/// The batch form, parsed directly (an untagged enum would buffer the whole body first).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    checks: Vec<CheckRequest>,
}

/// Reads a body holding one check or `{"checks": [...]}`.
fn parse_checks(headers: &axum::http::HeaderMap, body: &[u8]) -> ApiResult<Vec<CheckRequest>> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(ApiError::bad_request("expected a body with Content-Type: application/json"));
    }
    let error = |e: serde_json::Error| {
        if e.is_data() {
            ApiError::invalid(format!("invalid JSON body: {}", callvault_core::input::without_values(&e.to_string())))
        } else {
            ApiError::bad_request("the body is not valid JSON")
        }
    };
    match serde_json::from_slice::<Batch>(body) {
        Ok(b) => Ok(b.checks),
        Err(batch) => match serde_json::from_slice::<CheckRequest>(body) {
            Ok(c) => Ok(vec![c]),
            // Report the error of the form the body was meant to be.
            Err(one) => Err(error(if body.windows(8).any(|w| w == b"\"checks\"") { batch } else { one })),
        },
    }
}

/// The answers, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DialCheckResults {
    /// One decision per check.
    pub results: Vec<Decision>,
}

/// Decides calls and texts.
#[utoipa::path(post, path = "/v1/dial-checks", tag = "dial", security(("bearer" = [])), request_body = DialChecks,
    responses((status = 200, body = DialCheckResults), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn dial_checks(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<DialCheckResults>> {
    dial_checks::admit(&state, &ctx).await?;
    let checks = parse_checks(&headers, &body)?;
    let results = dial_checks::check(&state, &ctx, &checks).await?;
    Ok(axum::Json(DialCheckResults { results }))
}

/// When the imported copy was published (defaults to now).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportParams {
    /// RFC 3339 instant or `YYYY-MM-DD` (UTC midnight).
    pub refreshed_at: Option<String>,
}

/// A number for an internal list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DncNumber {
    /// The number (E.164 preferred).
    pub number: String,
}

/// Dial settings.
#[utoipa::path(get, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = Settings)))]
async fn get_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Settings>> {
    Ok(axum::Json(policy::settings(&state, &ctx).await?))
}

/// Replaces the dial settings: every field is required (422 lists the missing ones).
#[utoipa::path(put, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])), request_body = Settings,
    responses((status = 200, body = Settings), (status = 422, body = Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Settings>> {
    Ok(axum::Json(policy::replace_settings(&state, &ctx, body).await?))
}

/// Changes some dial settings (JSON merge patch, RFC 7396); the others keep their values.
#[utoipa::path(patch, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = Settings), (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Settings>> {
    Ok(axum::Json(policy::patch_settings(&state, &ctx, body).await?))
}

/// The calling-hour rules in force, as text (`data/calling-rules.txt` format).
#[utoipa::path(get, path = "/v1/dial/rules", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = String, content_type = "text/plain")))]
async fn get_rules(State(state): State<AppState>, ctx: Ctx) -> ApiResult<String> {
    Ok(policy::rules(&state, &ctx).await?)
}

/// Replaces the calling-hour rules; a file with any error is refused whole, with line numbers.
#[utoipa::path(put, path = "/v1/dial/rules", tag = "dial", security(("bearer" = [])), request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 422, body = Problem)))]
async fn put_rules(State(state): State<AppState>, ctx: Ctx, body: String) -> ApiResult<String> {
    Ok(policy::replace_rules(&state, &ctx, &body).await?)
}

/// Named calling areas.
#[utoipa::path(get, path = "/v1/dial/areas", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [AreaDef])))]
async fn list_areas(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<AreaDef>>> {
    Ok(axum::Json(policy::areas(&state, &ctx).await?))
}

/// Creates or replaces a named area.
#[utoipa::path(put, path = "/v1/dial/areas/{name}", tag = "dial", security(("bearer" = [])), params(("name" = String, Path)),
    request_body = AreaDef, responses((status = 200, body = AreaDef), (status = 422, body = Problem)))]
async fn put_area(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<AreaDef>> {
    Ok(axum::Json(policy::put_area(&state, &ctx, &name, body).await?))
}

/// Deletes a named area (refused while it is a default or assigned).
#[utoipa::path(delete, path = "/v1/dial/areas/{name}", tag = "dial", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_area(State(state): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult<StatusCode> {
    policy::delete_area(&state, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Area assignments of users, teams and services.
#[utoipa::path(get, path = "/v1/dial/assignments", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [AssignmentView])))]
async fn list_assignments(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<AssignmentView>>> {
    Ok(axum::Json(policy::assignments(&state, &ctx).await?))
}

/// Assigns areas to a user, team or service (empty lists remove the assignment).
#[utoipa::path(put, path = "/v1/dial/assignments/{level}/{id}", tag = "dial", security(("bearer" = [])),
    params(("level" = String, Path), ("id" = String, Path)), request_body = Areas,
    responses((status = 200, body = Areas), (status = 422, body = Problem)))]
async fn put_assignment(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((level, id)): Path<(String, uuid::Uuid)>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Areas>> {
    Ok(axum::Json(policy::put_assignment(&state, &ctx, &level, id, body).await?))
}

/// Do-not-call lists.
#[utoipa::path(get, path = "/v1/dnc-lists", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [DncList])))]
async fn list_dnc(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<DncList>>> {
    Ok(axum::Json(dnc::lists(&state, &ctx).await?))
}

/// Creates a list.
#[utoipa::path(post, path = "/v1/dnc-lists", tag = "dial", security(("bearer" = [])), request_body = NewDncList,
    responses((status = 201, body = DncList), (status = 409, body = Problem)))]
async fn create_dnc(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewDncList>,
) -> ApiResult<(StatusCode, axum::Json<DncList>)> {
    Ok((StatusCode::CREATED, axum::Json(dnc::create(&state, &ctx, body).await?)))
}

/// Deletes a list.
#[utoipa::path(delete, path = "/v1/dnc-lists/{id}", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_dnc(State(state): State<AppState>, ctx: Ctx, Path(id): Path<DncListId>) -> ApiResult<StatusCode> {
    dnc::delete(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a registry copy with a file (one number per line, CSV, or the FTC's area code and
/// number pairs). Any bad line refuses the whole file, with line numbers; the copy in force
/// stays until the new one is stored and committed.
#[utoipa::path(put, path = "/v1/dnc-lists/{id}/import", tag = "dial", security(("bearer" = [])), params(("id" = String, Path), ImportParams),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = ImportResult), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn import_dnc(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Query(params): Query<ImportParams>,
    body: Body,
) -> ApiResult<axum::Json<ImportResult>> {
    let body = body.into_data_stream();
    Ok(axum::Json(dnc::import(&state, &ctx, id, params.refreshed_at.as_deref(), body).await?))
}

/// Adds a number to an internal list (a customer asked not to be called).
#[utoipa::path(post, path = "/v1/dnc-lists/{id}/numbers", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DncNumber, responses((status = 201), (status = 200), (status = 422, body = Problem)))]
async fn add_dnc_number(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Json(body): Json<DncNumber>,
) -> ApiResult<StatusCode> {
    Ok(match dnc::add_number(&state, &ctx, id, &body.number).await? {
        Added::New => StatusCode::CREATED,
        Added::Already => StatusCode::OK,
    })
}

/// Removes a number from an internal list (the number travels in the body, never in the URL).
#[utoipa::path(post, path = "/v1/dnc-lists/{id}/numbers/remove", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DncNumber, responses((status = 204), (status = 404, body = Problem)))]
async fn remove_dnc_number(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Json(body): Json<DncNumber>,
) -> ApiResult<StatusCode> {
    dnc::remove_number(&state, &ctx, id, &body.number).await?;
    Ok(StatusCode::NO_CONTENT)
}
