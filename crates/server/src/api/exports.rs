//! Bulk export (content leaves decrypted): a tar archive streamed as it is built — a
//! `manifest.json` with every object's id, class, size and SHA-256 first, then each object's
//! decrypted content. Every object needs `interaction:export`; the export is audited with the ids.
//! The rules are in `callvault_core::vault::content::export`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use callvault_core::vault::content;
use callvault_model::ObjectId;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// What to export.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Object ids (1..=1000).
    pub ids: Vec<ObjectId>,
}

/// Exports objects as a tar archive, decrypted, with a manifest of ids and SHA-256 digests.
#[utoipa::path(post, path = "/v1/exports", tag = "objects", security(("bearer" = [])), request_body = ExportRequest,
    responses((status = 200, description = "application/x-tar"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn export(State(state): State<AppState>, ctx: Ctx, Json(req): Json<ExportRequest>) -> ApiResult<Response> {
    let pieces = content::export(&state, &ctx, &req.ids).await?;
    let mut response = Body::from_stream(pieces.map(|piece| piece.map(Bytes::from))).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"callvault-export.tar\""));
    Ok(response)
}
