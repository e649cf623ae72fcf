//! The audit log over HTTP: entries, JSON-lines export, signed tree heads, inclusion and
//! consistency proofs (RFC 9162), and server-side verification.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use callvault_crypto::merkle;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::{AuditFilter, AuditRow, AuditStore, StoreError};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;
use callvault_core::audit::{VerifyReport, verify_log};

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
    /// The canonical JSON text exactly as hashed (a tenant's leaf is its RFC 9162 leaf hash).
    pub body: String,
}

fn view(row: &AuditRow) -> EntryView {
    EntryView {
        leaf_index: row.leaf_index.unwrap_or(-1),
        leaf_hash: row.leaf_hash.as_deref().map(hex::encode).unwrap_or_default(),
        entry: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        body: row.body.clone(),
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
    let views = match filter {
        // A tenant pages through its own entries, numbered in its own tree.
        AuditFilter::Tenant(t) => {
            let rows = state.store.reader().await?.tenant_audit_entries(t, i64::MAX, page.from, page.limit).await?;
            rows.iter().enumerate().map(|(i, row)| tenant_view(row, page.from + i as i64)).collect::<Vec<_>>()
        }
        other => {
            state.store.reader().await?.audit_entries(other, page.from, page.limit).await?.iter().map(view).collect()
        }
    };
    audit_read(&state, &ctx, "audit.read", views.len()).await?;
    Ok(axum::Json(views))
}

/// An entry in its tenant's tree: numbered among the tenant's entries, with its tenant leaf hash
/// (the log's own index and chain would tell how busy the other tenants are).
fn tenant_view(row: &AuditRow, index: i64) -> EntryView {
    EntryView {
        leaf_index: index,
        leaf_hash: hex::encode(callvault_crypto::sth::tenant_leaf(&row.body)),
        entry: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        body: row.body.clone(),
    }
}

/// The leaves of a tenant's tree: its entries below log size `below`, in order.
async fn tenant_leaves(state: &AppState, tenant: TenantId, below: i64) -> ApiResult<Vec<merkle::Hash>> {
    const PAGE: i64 = 5_000;
    let mut r = state.store.reader().await?;
    let mut leaves = Vec::new();
    loop {
        let offset = i64::try_from(leaves.len()).map_err(ApiError::internal)?;
        let rows = r.tenant_audit_entries(tenant, below, offset, PAGE).await?;
        leaves.extend(rows.iter().map(|row| callvault_crypto::sth::tenant_leaf(&row.body)));
        if (rows.len() as i64) < PAGE {
            return Ok(leaves);
        }
    }
}

/// A tenant's tree at the log's newest signed head: (head, leaves).
async fn tenant_tree(
    state: &AppState,
    tenant: TenantId,
) -> ApiResult<(callvault_store::SignedTreeHeadRow, Vec<merkle::Hash>)> {
    let head = signed_size(state, None).await?;
    let leaves = tenant_leaves(state, tenant, head.tree_size).await?;
    Ok((head, leaves))
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

/// Every visible entry as JSON lines (`application/x-ndjson`), streamed page by page (the log
/// is never held in memory whole). The export is audited before it starts; entries sequenced
/// while it runs are included.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = Problem)))]
async fn export(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    let filter = filter_for(&ctx, &state, Action::Read).await?;
    let event = ctx.event("audit.export").origin(ctx.origin(&state)).details(serde_json::json!({ "streamed": true }));
    state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
    const PAGE: i64 = 1_000;
    let pages = futures_util::stream::try_unfold(Some(0i64), move |from| {
        let state = state.clone();
        async move {
            let Some(from) = from else { return Ok(None) };
            let (views, next) = match filter {
                AuditFilter::Tenant(t) => {
                    let rows = state.store.reader().await?.tenant_audit_entries(t, i64::MAX, from, PAGE).await?;
                    let next = (rows.len() as i64 == PAGE).then_some(from + PAGE);
                    (
                        rows.iter().enumerate().map(|(i, row)| tenant_view(row, from + i as i64)).collect::<Vec<_>>(),
                        next,
                    )
                }
                other => {
                    let rows = state.store.reader().await?.audit_entries(other, from, PAGE).await?;
                    let next = (rows.len() as i64 == PAGE)
                        .then(|| rows.last().and_then(|l| l.leaf_index).map(|i| i + 1))
                        .flatten();
                    (rows.iter().map(view).collect(), next)
                }
            };
            if views.is_empty() {
                return Ok(None);
            }
            let mut chunk = String::with_capacity(views.len() * 512);
            for v in &views {
                chunk.push_str(&serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))?);
                chunk.push('\n');
            }
            Ok::<_, StoreError>(Some((axum::body::Bytes::from(chunk), next)))
        }
    });
    let body = axum::body::Body::from_stream(futures_util::TryStreamExt::map_err(pages, |e| {
        tracing::error!(error = %e, "audit export failed midway");
        std::io::Error::other("audit export failed")
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// A signed tree head: the log's (provider operators), or a tenant's own tree (tenants).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TreeHeadView {
    /// Leaves covered.
    pub tree_size: i64,
    /// Signing time (for a tenant's tree: the time of the log head it was taken at).
    pub timestamp: Timestamp,
    /// Merkle root (hex).
    pub root_hash: String,
    /// Ed25519 signature (hex): the log's over `callvault-sth-v1\0 ‖ size ‖ timestamp ‖ root`; a
    /// tenant's over `callvault-tenant-sth-v1\0 ‖ tenant ‖ size ‖ timestamp ‖ root`.
    pub signature: String,
    /// Signing key id.
    pub key_id: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// The tenant whose tree this is (absent: the whole log).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub tenant: Option<TenantId>,
}

/// The newest signed tree head. A tenant gets the head of its own tree (its entries only, taken
/// at the log's newest signed head), so no tenant learns another's activity.
#[utoipa::path(get, path = "/v1/audit/tree-head", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = TreeHeadView), (status = 404, body = Problem)))]
async fn tree_head(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<TreeHeadView>> {
    let filter = filter_for(&ctx, &state, Action::Verify).await?;
    let signer = state.auditor.signer();
    if let AuditFilter::Tenant(t) = filter {
        let (head, leaves) = tenant_tree(&state, t).await?;
        let th = callvault_crypto::sth::TenantTreeHead {
            tenant: *t.0.as_bytes(),
            tree_size: leaves.len() as u64,
            timestamp_ms: head.timestamp,
            root: merkle::root(&leaves),
        };
        return Ok(axum::Json(TreeHeadView {
            tree_size: leaves.len() as i64,
            timestamp: Timestamp(head.timestamp),
            root_hash: hex::encode(th.root),
            signature: hex::encode(signer.sign_tenant_tree_head(&th)),
            key_id: signer.key_id(),
            public_key: hex::encode(state.auditor.public_key()),
            tenant: Some(t),
        }));
    }
    let head = signed_size(&state, None).await?;
    Ok(axum::Json(TreeHeadView {
        tree_size: head.tree_size,
        timestamp: Timestamp(head.timestamp),
        root_hash: hex::encode(&head.root),
        signature: hex::encode(&head.signature),
        key_id: head.key_id,
        public_key: hex::encode(state.auditor.public_key()),
        tenant: None,
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
    if let AuditFilter::Tenant(t) = filter {
        // In the tenant's own tree: indexes and sizes count the tenant's entries only.
        let (_, mut leaves) = tenant_tree(&state, t).await?;
        let size = q.tree_size.unwrap_or(leaves.len() as i64);
        if size < 1 || size > leaves.len() as i64 || q.leaf_index < 0 || q.leaf_index >= size {
            return Err(ApiError::invalid("`leaf_index` must be below `tree_size`, at most the tenant tree's size"));
        }
        leaves.truncate(usize::try_from(size).map_err(ApiError::internal)?);
        let index = usize::try_from(q.leaf_index).map_err(ApiError::internal)?;
        let path = merkle::inclusion_proof(&leaves, index as u64).map_err(|e| ApiError::invalid(e.to_string()))?;
        return Ok(axum::Json(InclusionProof {
            leaf_index: q.leaf_index,
            tree_size: size,
            leaf_hash: hex::encode(leaves[index]),
            audit_path: path.iter().map(hex::encode).collect(),
            root_hash: hex::encode(merkle::root(&leaves)),
        }));
    }
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
    if let AuditFilter::Tenant(t) = filter_for(&ctx, &state, Action::Verify).await? {
        let (_, mut leaves) = tenant_tree(&state, t).await?;
        let second = q.second.unwrap_or(leaves.len() as i64);
        if q.first < 1 || q.first > second || second > leaves.len() as i64 {
            return Err(ApiError::invalid("need 1 <= first <= second <= the tenant tree's size"));
        }
        leaves.truncate(usize::try_from(second).map_err(ApiError::internal)?);
        let first_leaves = &leaves[..usize::try_from(q.first).map_err(ApiError::internal)?];
        let proof = merkle::consistency_proof(&leaves, q.first as u64).map_err(|e| ApiError::invalid(e.to_string()))?;
        return Ok(axum::Json(ConsistencyProof {
            first: q.first,
            second,
            first_root: hex::encode(merkle::root(first_leaves)),
            second_root: hex::encode(merkle::root(&leaves)),
            proof: proof.iter().map(hex::encode).collect(),
        }));
    }
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
    let filter = filter_for(&ctx, &state, Action::Verify).await?;
    let mut report = verify_log(&state.store, Some(&state.auditor.public_key())).await?;
    if let AuditFilter::Tenant(t) = filter {
        // The whole log is recomputed; a tenant learns whether it holds, and its own count.
        let (_, leaves) = tenant_tree(&state, t).await?;
        report = VerifyReport {
            entries_checked: leaves.len() as u64,
            tree_heads_checked: u64::from(report.tree_heads_checked > 0),
            unsequenced: 0,
            failure: report.failure.map(|_| callvault_core::audit::VerifyFailure {
                leaf_index: -1,
                seq: None,
                reason: "the audit log failed verification; the provider's operators must investigate".into(),
            }),
        };
    }
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
