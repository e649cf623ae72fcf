//! The audit log over HTTP: entries, JSON-lines export, signed tree heads, inclusion and
//! consistency proofs (RFC 9162), and server-side verification. The rules are in
//! `callvault_core::audit::log`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use callvault_core::audit::VerifyReport;
use callvault_core::audit::log;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::audit::log::{
    ConsistencyProof, ConsistencyQuery, EntryView, InclusionProof, InclusionQuery, Page, TreeHeadView,
};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(entries))
        .routes(routes!(export))
        .routes(routes!(tree_head))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(verify))
}

/// Audit entries visible to the caller, in leaf order.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", security(("bearer" = [])), params(Page),
    responses((status = 200, body = [EntryView]), (status = 403, body = Problem)))]
async fn entries(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(page): Query<Page>,
) -> ApiResult<axum::Json<Vec<EntryView>>> {
    Ok(axum::Json(log::entries(&state, &ctx, &page).await?))
}

/// Every visible entry as JSON lines (`application/x-ndjson`), streamed page by page (the log
/// is never held in memory whole). The export is audited before it starts; entries sequenced
/// while it runs are included.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = Problem)))]
async fn export(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    let pages = log::export(&state, &ctx).await?;
    let body = axum::body::Body::from_stream(futures_util::TryStreamExt::map_err(pages, |e| {
        tracing::error!(error = %e, "audit export failed midway");
        std::io::Error::other("audit export failed")
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// The newest signed tree head. A tenant gets the head of its own tree (its entries only, taken
/// at the log's newest signed head), so no tenant learns another's activity.
#[utoipa::path(get, path = "/v1/audit/tree-head", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = TreeHeadView), (status = 404, body = Problem)))]
async fn tree_head(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<TreeHeadView>> {
    Ok(axum::Json(log::tree_head(&state, &ctx).await?))
}

/// Proves that an entry is in a signed tree.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn inclusion(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<axum::Json<InclusionProof>> {
    Ok(axum::Json(log::inclusion(&state, &ctx, &q).await?))
}

/// Proves that a newer signed tree extends an older one.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn consistency(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<axum::Json<ConsistencyProof>> {
    Ok(axum::Json(log::consistency(&state, &ctx, &q).await?))
}

/// Recomputes the whole log and checks every signed tree head.
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = Problem)))]
async fn verify(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<VerifyReport>> {
    Ok(axum::Json(log::verify(&state, &ctx).await?))
}
