//! Data protection officers' requests and the personal data report of a subject. The rules are
//! in `callvault_core::dpo`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_core::dpo::{
    self, ArchiveRequest, ErasureCertificate, Extension, NewDpoRequest, SubjectReport, UserReport,
};
use callvault_model::personal::DpoRequest;
use callvault_model::{DpoRequestId, SubjectId, UserId};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(extend))
        .routes(routes!(archive))
        .routes(routes!(certificate))
        .routes(routes!(report))
        .routes(routes!(user_report))
}

/// The tenant's requests, newest first (data protection officers).
#[utoipa::path(get, path = "/v1/dpo-requests", tag = "personal data", security(("bearer" = [])),
    responses((status = 200, body = [DpoRequest]), (status = 403, body = Problem)))]
async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<DpoRequest>>> {
    Ok(axum::Json(dpo::list(&state, &ctx).await?))
}

/// Files a request about a subject (access, export, rectify, erase): accepted at once, carried
/// out by a worker, due in 30 days; one open request per subject. An erasure names every
/// identifier of the subject as the officer confirmed it, and is refused while a legal hold
/// covers the subject's data.
#[utoipa::path(post, path = "/v1/dpo-requests", tag = "personal data", security(("bearer" = [])),
    request_body = NewDpoRequest,
    responses((status = 202, body = DpoRequest), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewDpoRequest>,
) -> ApiResult<(StatusCode, axum::Json<DpoRequest>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(dpo::create(&state, &ctx, body).await?)))
}

/// One request with its state and outcome.
#[utoipa::path(get, path = "/v1/dpo-requests/{id}", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DpoRequest), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DpoRequestId>,
) -> ApiResult<axum::Json<DpoRequest>> {
    Ok(axum::Json(dpo::get(&state, &ctx, id).await?))
}

/// Extends an open request once by 60 days, with a reason.
#[utoipa::path(post, path = "/v1/dpo-requests/{id}/extend", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Extension,
    responses((status = 200, body = DpoRequest), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn extend(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DpoRequestId>,
    Json(body): Json<Extension>,
) -> ApiResult<axum::Json<DpoRequest>> {
    Ok(axum::Json(dpo::extend(&state, &ctx, id, body).await?))
}

/// The archive of a completed export: the report and the subject's decrypted content as a tar
/// file encrypted with `age` to the passphrase given (scrypt); never stored.
#[utoipa::path(post, path = "/v1/dpo-requests/{id}/archive", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ArchiveRequest,
    responses((status = 200, description = "application/octet-stream (age)"), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn archive(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DpoRequestId>,
    Json(body): Json<ArchiveRequest>,
) -> ApiResult<Response> {
    let pieces = dpo::archive(&state, &ctx, id, body).await?;
    let mut response = Body::from_stream(pieces.map(|piece| piece.map(Bytes::from))).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let name = format!("attachment; filename=\"callvault-subject-export-{id}.tar.age\"");
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The certificate of a completed erasure: the tenant's signed tree head and inclusion proofs
/// of the erasure's audit entries (check it offline with `callvault audit verify-certificate`).
#[utoipa::path(get, path = "/v1/dpo-requests/{id}/certificate", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ErasureCertificate), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn certificate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DpoRequestId>,
) -> ApiResult<axum::Json<ErasureCertificate>> {
    Ok(axum::Json(dpo::certificate(&state, &ctx, id).await?))
}

/// The report's format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportFormat {
    /// `json` (default) or `html` (a printable page).
    #[serde(default)]
    pub format: Option<String>,
}

/// The personal data report of a subject: every category with its items, dates, retention
/// deadlines, holds and the state of recordings (data protection officers; audited).
#[utoipa::path(get, path = "/v1/subjects/{id}/report", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path), ReportFormat),
    responses((status = 200, body = SubjectReport), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn report(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<SubjectId>,
    Query(q): Query<ReportFormat>,
) -> ApiResult<Response> {
    let html = q.html()?;
    let rep = dpo::report(&state, &ctx, id).await?;
    Ok(render(html, || dpo::report_html(&rep), &rep))
}

impl ReportFormat {
    fn html(&self) -> ApiResult<bool> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("html") => Ok(true),
            Some(_) => Err(crate::error::ApiError::invalid("format: json or html")),
        }
    }
}

/// A report as JSON or HTML, never cached.
fn render<T: serde::Serialize>(html: bool, page: impl FnOnce() -> String, rep: &T) -> Response {
    let mut response =
        if html { axum::response::Html(page()).into_response() } else { axum::Json(rep).into_response() };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The personal data report of a user: master data, assignments, roles, sessions, directory
/// information, and the contact records and recordings of the user as an agent, with retention
/// deadlines (administrators, and users about themselves; audited).
#[utoipa::path(get, path = "/v1/users/{id}/personal-data-report", tag = "personal data", security(("bearer" = [])),
    params(("id" = String, Path), ReportFormat),
    responses((status = 200, body = UserReport), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn user_report(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Query(q): Query<ReportFormat>,
) -> ApiResult<Response> {
    let html = q.html()?;
    let rep = dpo::user_report(&state, &ctx, id).await?;
    Ok(render(html, || dpo::user_report_html(&rep), &rep))
}
