//! Reading the audit log: entries, a JSON-lines export, signed tree heads, inclusion and
//! consistency proofs (RFC 9162 2.1.3 and 2.1.4), and a full verification. A tenant sees only
//! its own tree (its entries, numbered among themselves, under a head signed for it), so no
//! tenant learns another's activity; provider operators see the provider-level entries and the
//! whole log's heads. Every read is audited.

use callvault_crypto::merkle;
use callvault_crypto::sth::{TenantTreeHead, tenant_leaf};
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::{AuditFilter, AuditRow, AuditStore, SignedTreeHeadRow, StoreError};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::{AppendError, VerifyFailure, VerifyReport, verify_log};
use crate::caller::{AccessError, Ctx};
use crate::services::Services;

/// The largest page of entries.
pub const MAX_PAGE: i64 = 1000;

/// Why the log was not read.
#[derive(Debug, thiserror::Error)]
pub enum AuditReadError {
    /// The caller may not read the log.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Service accounts have no audit access.
    #[error("no audit access")]
    NoAuditAccess,
    /// Paging out of range.
    #[error("`limit` must be 1 to {MAX_PAGE} and `from` not negative")]
    BadPage,
    /// A proof's indexes or sizes are out of range.
    #[error("{0}")]
    Invalid(String),
    /// No such entry or signed tree head.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The read could not be audited.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value is inconsistent.
    #[error("{0}")]
    Internal(&'static str),
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

/// A signed tree head: the log's (provider operators), or a tenant's own tree (tenants).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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

fn view(row: &AuditRow) -> EntryView {
    EntryView {
        leaf_index: row.leaf_index.unwrap_or(-1),
        leaf_hash: row.leaf_hash.as_deref().map(hex::encode).unwrap_or_default(),
        entry: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        body: row.body.clone(),
    }
}

/// An entry in its tenant's tree: numbered among the tenant's entries, with its tenant leaf hash
/// (the log's own index and chain would tell how busy the other tenants are).
fn tenant_view(row: &AuditRow, index: i64) -> EntryView {
    EntryView {
        leaf_index: index,
        leaf_hash: hex::encode(tenant_leaf(&row.body)),
        entry: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        body: row.body.clone(),
    }
}

/// Which entries the caller may read: its tenant's, or for provider operators the provider-level
/// ones.
async fn filter_for(state: &Services, ctx: &Ctx, action: Action) -> Result<AuditFilter, AuditReadError> {
    match (ctx.tenant, ctx.principal) {
        (Some(tenant), _) => {
            ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Audit, tenant)).await?;
            Ok(AuditFilter::Tenant(tenant))
        }
        (None, PrincipalId::Operator(_)) => {
            // Operators pass the engine's operator rules and see provider-level entries only.
            let provider = ResourceRef::tenant_wide(Resource::Audit, TenantId(uuid::Uuid::nil()));
            ctx.authorize(state, action, &provider).await?;
            Ok(AuditFilter::Provider)
        }
        _ => Err(AuditReadError::NoAuditAccess),
    }
}

async fn audit_read(state: &Services, ctx: &Ctx, count: usize) -> Result<(), AuditReadError> {
    let event = ctx.event("audit.read").origin(ctx.origin(state)).details(serde_json::json!({ "entries": count }));
    Ok(state.auditor.record_now(state.clock.now(), &event).await?)
}

/// Audit entries visible to the caller, in leaf order.
pub async fn entries(state: &Services, ctx: &Ctx, page: &Page) -> Result<Vec<EntryView>, AuditReadError> {
    let filter = filter_for(state, ctx, Action::Read).await?;
    if !(1..=MAX_PAGE).contains(&page.limit) || page.from < 0 {
        return Err(AuditReadError::BadPage);
    }
    let mut r = state.store.reader().await?;
    let views: Vec<EntryView> = match filter {
        // A tenant pages through its own entries, numbered in its own tree.
        AuditFilter::Tenant(t) => {
            let rows = r.tenant_audit_entries(t, i64::MAX, page.from, page.limit).await?;
            rows.iter().zip(page.from..).map(|(row, i)| tenant_view(row, i)).collect()
        }
        other => r.audit_entries(other, page.from, page.limit).await?.iter().map(view).collect(),
    };
    drop(r);
    audit_read(state, ctx, views.len()).await?;
    Ok(views)
}

/// Every visible entry as JSON lines, one page of text at a time (the log is never held in
/// memory whole). The export is audited before it starts; entries sequenced while it runs are
/// included.
pub async fn export(
    state: &Services,
    ctx: &Ctx,
) -> Result<impl Stream<Item = Result<String, StoreError>> + use<>, AuditReadError> {
    const PAGE: i64 = 1_000;
    let filter = filter_for(state, ctx, Action::Read).await?;
    let event = ctx.event("audit.export").origin(ctx.origin(state)).details(serde_json::json!({ "streamed": true }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    let state = state.clone();
    Ok(futures_util::stream::try_unfold(Some(0i64), move |from| {
        let state = state.clone();
        async move {
            let Some(from) = from else { return Ok(None) };
            let mut r = state.store.reader().await?;
            let (views, next): (Vec<EntryView>, _) = match filter {
                AuditFilter::Tenant(t) => {
                    let rows = r.tenant_audit_entries(t, i64::MAX, from, PAGE).await?;
                    let next = (rows.len() as i64 == PAGE).then_some(from + PAGE);
                    (rows.iter().zip(from..).map(|(row, i)| tenant_view(row, i)).collect(), next)
                }
                other => {
                    let rows = r.audit_entries(other, from, PAGE).await?;
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
            Ok(Some((chunk, next)))
        }
    }))
}

/// The leaves of a tenant's tree: its entries below log size `below`, in order.
async fn tenant_leaves(state: &Services, tenant: TenantId, below: i64) -> Result<Vec<merkle::Hash>, AuditReadError> {
    const PAGE: i64 = 5_000;
    let mut r = state.store.reader().await?;
    let mut leaves = Vec::new();
    loop {
        let offset = i64::try_from(leaves.len()).map_err(|_| AuditReadError::Internal("tree too large"))?;
        let rows = r.tenant_audit_entries(tenant, below, offset, PAGE).await?;
        leaves.extend(rows.iter().map(|row| tenant_leaf(&row.body)));
        if (rows.len() as i64) < PAGE {
            return Ok(leaves);
        }
    }
}

/// A tenant's tree at the log's newest signed head: (head, leaves).
async fn tenant_tree(
    state: &Services,
    tenant: TenantId,
) -> Result<(SignedTreeHeadRow, Vec<merkle::Hash>), AuditReadError> {
    let head = signed_size(state, None).await?;
    let leaves = tenant_leaves(state, tenant, head.tree_size).await?;
    Ok((head, leaves))
}

async fn signed_size(state: &Services, size: Option<i64>) -> Result<SignedTreeHeadRow, AuditReadError> {
    let mut r = state.store.reader().await?;
    match size {
        Some(s) => r.tree_head(s).await.map_err(|e| match e {
            StoreError::NotFound => AuditReadError::NotFound("signed tree head of that size"),
            e => e.into(),
        }),
        None => r.latest_tree_head().await?.ok_or(AuditReadError::NotFound("tree head (the log is empty)")),
    }
}

fn hashes(raw: Vec<Vec<u8>>) -> Result<Vec<merkle::Hash>, AuditReadError> {
    raw.into_iter()
        .map(|h| h.as_slice().try_into().map_err(|_| AuditReadError::Internal("stored leaf hash has a bad length")))
        .collect()
}

fn index(i: i64) -> Result<usize, AuditReadError> {
    usize::try_from(i).map_err(|_| AuditReadError::Invalid("indexes and sizes are not negative".into()))
}

/// The newest signed tree head. A tenant gets the head of its own tree (its entries only, taken
/// at the log's newest signed head and signed for the tenant).
pub async fn tree_head(state: &Services, ctx: &Ctx) -> Result<TreeHeadView, AuditReadError> {
    let filter = filter_for(state, ctx, Action::Verify).await?;
    if let AuditFilter::Tenant(t) = filter {
        let (head, leaves) = tenant_tree(state, t).await?;
        return Ok(tenant_head_view(state, t, head.timestamp, &leaves));
    }
    let head = signed_size(state, None).await?;
    Ok(TreeHeadView {
        tree_size: head.tree_size,
        timestamp: Timestamp(head.timestamp),
        root_hash: hex::encode(&head.root),
        signature: hex::encode(&head.signature),
        key_id: head.key_id,
        public_key: hex::encode(state.auditor.public_key()),
        tenant: None,
    })
}

/// Proves that an entry is in a signed tree (a tenant's: in its own tree).
pub async fn inclusion(state: &Services, ctx: &Ctx, q: &InclusionQuery) -> Result<InclusionProof, AuditReadError> {
    let filter = filter_for(state, ctx, Action::Verify).await?;
    if let AuditFilter::Tenant(t) = filter {
        // In the tenant's own tree: indexes and sizes count the tenant's entries only.
        let (_, mut leaves) = tenant_tree(state, t).await?;
        let size = q.tree_size.unwrap_or(leaves.len() as i64);
        if size < 1 || size > leaves.len() as i64 || q.leaf_index < 0 || q.leaf_index >= size {
            return Err(AuditReadError::Invalid(
                "`leaf_index` must be below `tree_size`, at most the tenant tree's size".into(),
            ));
        }
        leaves.truncate(index(size)?);
        let at = index(q.leaf_index)?;
        let path = merkle::inclusion_proof(&leaves, at as u64).map_err(|e| AuditReadError::Invalid(e.to_string()))?;
        return Ok(InclusionProof {
            leaf_index: q.leaf_index,
            tree_size: size,
            leaf_hash: hex::encode(leaves[at]),
            audit_path: path.iter().map(hex::encode).collect(),
            root_hash: hex::encode(merkle::root(&leaves)),
        });
    }
    let head = signed_size(state, q.tree_size).await?;
    if q.leaf_index < 0 || q.leaf_index >= head.tree_size {
        return Err(AuditReadError::Invalid("`leaf_index` must be below the tree size".into()));
    }
    let mut r = state.store.reader().await?;
    let entry = r.audit_entry(q.leaf_index).await.map_err(|e| match e {
        StoreError::NotFound => AuditReadError::NotFound("audit entry"),
        e => e.into(),
    })?;
    let visible = match filter {
        AuditFilter::All => true,
        AuditFilter::Tenant(t) => entry.tenant_id == Some(t),
        AuditFilter::Provider => entry.tenant_id.is_none(),
    };
    if !visible {
        return Err(AuditReadError::NotFound("audit entry"));
    }
    let leaves = hashes(r.leaf_hashes(head.tree_size).await?)?;
    let at = index(q.leaf_index)?;
    let path = merkle::inclusion_proof(&leaves, at as u64).map_err(|e| AuditReadError::Invalid(e.to_string()))?;
    Ok(InclusionProof {
        leaf_index: q.leaf_index,
        tree_size: head.tree_size,
        leaf_hash: hex::encode(leaves.get(at).ok_or(AuditReadError::Internal("leaf outside the tree"))?),
        audit_path: path.iter().map(hex::encode).collect(),
        root_hash: hex::encode(&head.root),
    })
}

/// Proves that a newer signed tree extends an older one (a tenant's: its own tree).
pub async fn consistency(
    state: &Services,
    ctx: &Ctx,
    q: &ConsistencyQuery,
) -> Result<ConsistencyProof, AuditReadError> {
    if let AuditFilter::Tenant(t) = filter_for(state, ctx, Action::Verify).await? {
        let (_, mut leaves) = tenant_tree(state, t).await?;
        let second = q.second.unwrap_or(leaves.len() as i64);
        if q.first < 1 || q.first > second || second > leaves.len() as i64 {
            return Err(AuditReadError::Invalid("need 1 <= first <= second <= the tenant tree's size".into()));
        }
        leaves.truncate(index(second)?);
        let first_leaves = &leaves[..index(q.first)?];
        let proof =
            merkle::consistency_proof(&leaves, q.first as u64).map_err(|e| AuditReadError::Invalid(e.to_string()))?;
        return Ok(ConsistencyProof {
            first: q.first,
            second,
            first_root: hex::encode(merkle::root(first_leaves)),
            second_root: hex::encode(merkle::root(&leaves)),
            proof: proof.iter().map(hex::encode).collect(),
        });
    }
    let second = signed_size(state, q.second).await?;
    let first = signed_size(state, Some(q.first)).await?;
    if first.tree_size > second.tree_size {
        return Err(AuditReadError::Invalid("`first` must not be larger than `second`".into()));
    }
    let leaves = hashes(state.store.reader().await?.leaf_hashes(second.tree_size).await?)?;
    let proof = merkle::consistency_proof(&leaves, index(first.tree_size)? as u64)
        .map_err(|e| AuditReadError::Invalid(e.to_string()))?;
    Ok(ConsistencyProof {
        first: first.tree_size,
        second: second.tree_size,
        first_root: hex::encode(&first.root),
        second_root: hex::encode(&second.root),
        proof: proof.iter().map(hex::encode).collect(),
    })
}

/// Recomputes the whole log and checks every signed tree head. A tenant learns whether the log
/// holds and its own count, never where another tenant's entry failed.
pub async fn verify(state: &Services, ctx: &Ctx) -> Result<VerifyReport, AuditReadError> {
    let filter = filter_for(state, ctx, Action::Verify).await?;
    let mut report = verify_log(&state.store, Some(&state.auditor.public_key())).await?;
    if let AuditFilter::Tenant(t) = filter {
        let (_, leaves) = tenant_tree(state, t).await?;
        report = VerifyReport {
            entries_checked: leaves.len() as u64,
            tree_heads_checked: u64::from(report.tree_heads_checked > 0),
            unsequenced: 0,
            failure: report.failure.map(|_| VerifyFailure {
                leaf_index: -1,
                seq: None,
                reason: "the audit log failed verification; the provider's operators must investigate".into(),
            }),
        };
    }
    let event = ctx
        .event("audit.verify")
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "ok": report.failure.is_none(), "entries": report.entries_checked }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(report)
}

/// One audit entry with its proof of inclusion in a tenant's signed tree.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProvenEntry {
    /// Index among the tenant's entries.
    pub leaf_index: i64,
    /// The canonical body that was hashed.
    pub body: String,
    /// Audit path (hex), RFC 9162 2.1.3.
    pub audit_path: Vec<String>,
}

/// The tenant's newest signed tree head and inclusion proofs of its entries that `pick`
/// chooses (in log order), or `None` while one of `required` (entry actions) is not yet under a
/// signed head. No authorization here: the caller's service decided who may see the entries.
pub(crate) async fn tenant_proofs(
    state: &Services,
    tenant: TenantId,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> Result<(TreeHeadView, Vec<ProvenEntry>), AuditReadError> {
    const PAGE: i64 = 5_000;
    let head = signed_size(state, None).await?;
    let mut r = state.store.reader().await?;
    let mut leaves = Vec::new();
    let mut picked = Vec::new();
    loop {
        let offset = i64::try_from(leaves.len()).map_err(|_| AuditReadError::Internal("tree too large"))?;
        let rows = r.tenant_audit_entries(tenant, head.tree_size, offset, PAGE).await?;
        for (i, row) in rows.iter().enumerate() {
            let entry: serde_json::Value = serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null);
            if pick(&entry) {
                picked.push((offset + i as i64, row.body.clone()));
            }
            leaves.push(tenant_leaf(&row.body));
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    drop(r);
    let mut proven = Vec::with_capacity(picked.len());
    for (at, body) in picked {
        let path = merkle::inclusion_proof(&leaves, at as u64).map_err(|e| AuditReadError::Invalid(e.to_string()))?;
        proven.push(ProvenEntry { leaf_index: at, body, audit_path: path.iter().map(hex::encode).collect() });
    }
    Ok((tenant_head_view(state, tenant, head.timestamp, &leaves), proven))
}

/// A tenant's tree over `leaves`, signed for the tenant at the log head's time.
fn tenant_head_view(state: &Services, tenant: TenantId, timestamp: i64, leaves: &[merkle::Hash]) -> TreeHeadView {
    let signer = state.auditor.signer();
    let th = TenantTreeHead {
        tenant: *tenant.0.as_bytes(),
        tree_size: leaves.len() as u64,
        timestamp_ms: timestamp,
        root: merkle::root(leaves),
    };
    TreeHeadView {
        tree_size: leaves.len() as i64,
        timestamp: Timestamp(timestamp),
        root_hash: hex::encode(th.root),
        signature: hex::encode(signer.sign_tenant_tree_head(&th)),
        key_id: signer.key_id(),
        public_key: hex::encode(state.auditor.public_key()),
        tenant: Some(tenant),
    }
}
