//! The audit log over HTTP: entries, JSON-lines export, signed tree heads, inclusion and
//! consistency proofs (RFC 9162), and server-side verification.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use callvault_crypto::merkle;
use callvault_model::PrincipalId;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_policy::access::ResourceRef;
use callvault_store::{AuditFilter, AuditRow, AuditStore, StoreError};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{VerifyReport, verify_log};
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
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

/// An audit entry as returned.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// Leaf index in the Merkle tree.
    pub leaf_index: i64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// The entry (canonical JSON, parsed).
    #[schema(value_type = Object)]
    pub entry: serde_json::Value,
}

fn view(row: &AuditRow) -> EntryView {
    EntryView {
        leaf_index: row.leaf_index.unwrap_or(-1),
        leaf_hash: row.leaf_hash.as_deref().map(hex::encode).unwrap_or_default(),
        entry: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
    }
}

/// Which entries the caller may read: its tenant's, or for provider operators the provider-level
/// ones.
async fn filter_for(ctx: &Ctx, state: &AppState, action: Action) -> ApiResult<AuditFilter> {
    match (ctx.tenant, ctx.principal) {
        (Some(tenant), _) => {
            ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Audit, tenant)).await?;
            Ok(AuditFilter::Tenant(tenant))
        }
        (None, PrincipalId::Operator(_)) => {
            // Operators pass the engine's operator rules and see provider-level entries only.
            ctx.authorize(
                state,
                action,
                &ResourceRef::tenant_wide(Resource::Audit, callvault_model::TenantId(uuid::Uuid::nil())),
            )
            .await?;
            Ok(AuditFilter::Provider)
        }
        _ => Err(ApiError::forbidden("no audit access", None)),
    }
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// First leaf index.
    #[serde(default)]
    pub from: i64,
    /// At most this many (1–1000).
    #[serde(default = "default_limit")]
    pub limit: i64,
}

fn default_limit() -> i64 {
    100
}

/// Audit entries visible to the caller, in leaf order.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", security(("bearer" = [])), params(Page),
    responses((status = 200, body = [EntryView]), (status = 403, body = Problem)))]
async fn entries(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(page): Query<Page>,
) -> ApiResult<axum::Json<Vec<EntryView>>> {
    let filter = filter_for(&ctx, &state, Action::Read).await?;
    if !(1..=1000).contains(&page.limit) || page.from < 0 {
        return Err(ApiError::bad_request("`limit` must be 1 to 1000 and `from` not negative"));
    }
    let rows = state.store.reader().await?.audit_entries(filter, page.from, page.limit).await?;
    audit_read(&state, &ctx, "audit.read", rows.len()).await?;
    Ok(axum::Json(rows.iter().map(view).collect()))
}

async fn audit_read(state: &AppState, ctx: &Ctx, action: &'static str, count: usize) -> ApiResult<()> {
    state
        .auditor
        .record_now(
            state.clock.now(),
            &ctx.event(action).origin(ctx.origin(state)).details(serde_json::json!({ "entries": count })),
        )
        .await
        .map_err(ApiError::internal)
}

/// Every visible entry as JSON lines (`application/x-ndjson`).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = Problem)))]
async fn export(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    let filter = filter_for(&ctx, &state, Action::Read).await?;
    let mut r = state.store.reader().await?;
    let mut out = String::new();
    let mut from = 0;
    let mut count = 0;
    loop {
        let rows = r.audit_entries(filter, from, 5_000).await?;
        let Some(last) = rows.last() else { break };
        from = last.leaf_index.unwrap_or(from) + 1;
        for row in &rows {
            out.push_str(&serde_json::to_string(&view(row)).map_err(ApiError::internal)?);
            out.push('\n');
            count += 1;
        }
    }
    drop(r);
    audit_read(&state, &ctx, "audit.export", count).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}

/// A signed tree head.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TreeHeadView {
    /// Leaves covered.
    pub tree_size: i64,
    /// Signing time.
    pub timestamp: Timestamp,
    /// Merkle root (hex).
    pub root_hash: String,
    /// Ed25519 signature (hex) over `callvault-sth-v1\0 ‖ size ‖ timestamp ‖ root`.
    pub signature: String,
    /// Signing key id.
    pub key_id: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
}

/// The newest signed tree head.
#[utoipa::path(get, path = "/v1/audit/tree-head", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = TreeHeadView), (status = 404, body = Problem)))]
async fn tree_head(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<TreeHeadView>> {
    filter_for(&ctx, &state, Action::Verify).await?;
    let head = state
        .store
        .reader()
        .await?
        .latest_tree_head()
        .await?
        .ok_or_else(|| ApiError::not_found("tree head (the log is empty)"))?;
    Ok(axum::Json(TreeHeadView {
        tree_size: head.tree_size,
        timestamp: Timestamp(head.timestamp),
        root_hash: hex::encode(&head.root),
        signature: hex::encode(&head.signature),
        key_id: head.key_id,
        public_key: hex::encode(state.auditor.public_key()),
    }))
}

/// Which inclusion proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Leaf index of the entry.
    pub leaf_index: i64,
    /// Tree size (a signed tree head's); default the newest.
    #[serde(default)]
    pub tree_size: Option<i64>,
}

/// An inclusion proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionProof {
    /// Leaf index.
    pub leaf_index: i64,
    /// Tree size.
    pub tree_size: i64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// Audit path (hex), RFC 9162 2.1.3.
    pub audit_path: Vec<String>,
    /// Root of the tree of that size (hex), as signed.
    pub root_hash: String,
}

async fn signed_size(state: &AppState, size: Option<i64>) -> ApiResult<callvault_store::SignedTreeHeadRow> {
    let mut r = state.store.reader().await?;
    match size {
        Some(s) => r.tree_head(s).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("signed tree head of that size"),
            e => e.into(),
        }),
        None => r.latest_tree_head().await?.ok_or_else(|| ApiError::not_found("tree head (the log is empty)")),
    }
}

fn hashes(raw: Vec<Vec<u8>>) -> ApiResult<Vec<merkle::Hash>> {
    raw.into_iter()
        .map(|h| h.as_slice().try_into().map_err(|_| ApiError::internal("stored leaf hash has a bad length")))
        .collect()
}

/// Proves that an entry is in a signed tree.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn inclusion(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<axum::Json<InclusionProof>> {
    let filter = filter_for(&ctx, &state, Action::Verify).await?;
    let head = signed_size(&state, q.tree_size).await?;
    if q.leaf_index < 0 || q.leaf_index >= head.tree_size {
        return Err(ApiError::invalid("`leaf_index` must be below the tree size"));
    }
    let mut r = state.store.reader().await?;
    let entry = r.audit_entry(q.leaf_index).await.map_err(|e| ApiError::from_store(e, "audit entry"))?;
    let visible = match filter {
        AuditFilter::All => true,
        AuditFilter::Tenant(t) => entry.tenant_id == Some(t),
        AuditFilter::Provider => entry.tenant_id.is_none(),
    };
    if !visible {
        return Err(ApiError::not_found("audit entry"));
    }
    let leaves = hashes(r.leaf_hashes(head.tree_size).await?)?;
    let index = u64::try_from(q.leaf_index).map_err(ApiError::internal)?;
    let path = merkle::inclusion_proof(&leaves, index).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(axum::Json(InclusionProof {
        leaf_index: q.leaf_index,
        tree_size: head.tree_size,
        leaf_hash: hex::encode(leaves[usize::try_from(index).map_err(ApiError::internal)?]),
        audit_path: path.iter().map(hex::encode).collect(),
        root_hash: hex::encode(&head.root),
    }))
}

/// Which consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the older signed tree.
    pub first: i64,
    /// Size of the newer signed tree; default the newest.
    #[serde(default)]
    pub second: Option<i64>,
}

/// A consistency proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    /// Older size.
    pub first: i64,
    /// Newer size.
    pub second: i64,
    /// Older root (hex).
    pub first_root: String,
    /// Newer root (hex).
    pub second_root: String,
    /// Proof (hex), RFC 9162 2.1.4.
    pub proof: Vec<String>,
}

/// Proves that a newer signed tree extends an older one.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn consistency(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<axum::Json<ConsistencyProof>> {
    filter_for(&ctx, &state, Action::Verify).await?;
    let second = signed_size(&state, q.second).await?;
    let first = signed_size(&state, Some(q.first)).await?;
    if first.tree_size > second.tree_size {
        return Err(ApiError::invalid("`first` must not be larger than `second`"));
    }
    let leaves = hashes(state.store.reader().await?.leaf_hashes(second.tree_size).await?)?;
    let proof = merkle::consistency_proof(&leaves, u64::try_from(first.tree_size).map_err(ApiError::internal)?)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(axum::Json(ConsistencyProof {
        first: first.tree_size,
        second: second.tree_size,
        first_root: hex::encode(&first.root),
        second_root: hex::encode(&second.root),
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

/// Recomputes the whole log and checks every signed tree head.
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = Problem)))]
async fn verify(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<VerifyReport>> {
    filter_for(&ctx, &state, Action::Verify).await?;
    let report = verify_log(&state.store, Some(&state.auditor.public_key())).await?;
    state
        .auditor
        .record_now(
            state.clock.now(),
            &ctx.event("audit.verify")
                .origin(ctx.origin(&state))
                .details(serde_json::json!({ "ok": report.failure.is_none(), "entries": report.entries_checked })),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(report))
}
