//! Calling lists and activity forms with encrypted custom fields. The rules are in
//! `callvault_core::lists::records`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::lists::records;
use callvault_model::vault::{ListKind, RecordList};
use callvault_model::{ListId, RecordId, ServiceId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::lists::records::{CreateList, RecordQuery, RecordView};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lists, create_list))
        .routes(routes!(get_list))
        .routes(routes!(set_list_service))
        .routes(routes!(import_csv))
        .routes(routes!(list_records, add_record))
        .routes(routes!(get_record))
}

/// Filter of lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KindParam {
    /// Calling lists (default) or forms.
    pub kind: Option<ListKind>,
}

/// The outcome of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Records stored.
    pub imported: u64,
}

/// Lists calling lists or forms.
#[utoipa::path(get, path = "/v1/lists", tag = "lists", security(("bearer" = [])), params(KindParam),
    responses((status = 200, body = [RecordList]), (status = 403, body = Problem)))]
async fn list_lists(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<KindParam>,
) -> ApiResult<axum::Json<Vec<RecordList>>> {
    Ok(axum::Json(records::lists(&state, &ctx, p.kind.unwrap_or(ListKind::CallingList)).await?))
}

/// Creates a calling list or form.
#[utoipa::path(post, path = "/v1/lists", tag = "lists", security(("bearer" = [])), request_body = CreateList,
    responses((status = 201, body = RecordList), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateList>,
) -> ApiResult<(StatusCode, axum::Json<RecordList>)> {
    Ok((StatusCode::CREATED, axum::Json(records::create(&state, &ctx, body).await?)))
}

/// One list or form.
#[utoipa::path(get, path = "/v1/lists/{id}", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RecordList), (status = 404, body = Problem)))]
async fn get_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
) -> ApiResult<axum::Json<RecordList>> {
    Ok(axum::Json(records::list(&state, &ctx, id).await?))
}

/// The service or campaign a list belongs to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListService {
    /// The service (`null`: none; then only tenant-wide grants reach the list).
    pub service_id: Option<ServiceId>,
}

/// Puts a list into a service or campaign: the agents assigned to it read its records (audited).
#[utoipa::path(put, path = "/v1/lists/{id}/service", tag = "lists", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ListService,
    responses((status = 200, body = RecordList), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_list_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    Json(body): Json<ListService>,
) -> ApiResult<axum::Json<RecordList>> {
    Ok(axum::Json(records::set_service(&state, &ctx, id, body.service_id).await?))
}

/// Imports records from CSV (header row = field names). All or nothing: any error refuses the
/// whole file with every error and its line number.
#[utoipa::path(post, path = "/v1/lists/{id}/import", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = Problem)))]
async fn import_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    body: Bytes,
) -> ApiResult<axum::Json<ImportReport>> {
    Ok(axum::Json(ImportReport { imported: records::import_csv(&state, &ctx, id, &body).await? }))
}

/// Adds one record (or form submission) from a JSON object of field values.
#[utoipa::path(post, path = "/v1/lists/{id}/records", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = RecordView), (status = 422, body = Problem)))]
async fn add_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    Json(values): Json<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<RecordView>)> {
    Ok((StatusCode::CREATED, axum::Json(records::add_record(&state, &ctx, id, values).await?)))
}

/// Records with their fields decrypted (an audited decrypting read). `field` + `equals` search
/// encrypted fields through their blind index, without decrypting anything else.
#[utoipa::path(get, path = "/v1/lists/{id}/records", tag = "lists", security(("bearer" = [])),
    params(("id" = String, Path), RecordQuery),
    responses((status = 200, body = [RecordView]), (status = 422, body = Problem)))]
async fn list_records(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<axum::Json<Vec<RecordView>>> {
    Ok(axum::Json(records::records(&state, &ctx, id, &q).await?))
}

/// One record, decrypted (audited).
#[utoipa::path(get, path = "/v1/lists/{id}/records/{record}", tag = "lists", security(("bearer" = [])),
    params(("id" = String, Path), ("record" = String, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = Problem)))]
async fn get_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, record)): Path<(ListId, RecordId)>,
) -> ApiResult<axum::Json<RecordView>> {
    Ok(axum::Json(records::record(&state, &ctx, id, record).await?))
}
