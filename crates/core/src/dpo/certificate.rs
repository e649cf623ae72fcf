//! The certificate of a completed erasure, and its offline check.

use callvault_crypto::merkle;
use callvault_crypto::sth::{TenantTreeHead, tenant_leaf, verify_tenant_tree_head};
use callvault_model::personal::{DpoRequestKind, DpoRequestState};
use callvault_model::records::Timestamp;
use callvault_model::{DpoRequestId, SubjectId, TenantId};
use serde::{Deserialize, Serialize};

use super::{DpoError, load, read_permit};
use crate::audit::log::{AuditReadError, ProvenEntry, TreeHeadView, tenant_proofs};
use crate::caller::Ctx;
use crate::services::Services;

/// A proof of erasure: the tenant's signed tree head and inclusion proofs of the erasure's
/// audit entries. Checked offline by [`verify_certificate`] with the log's public key.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureCertificate {
    /// `callvault-erasure-certificate-v1`.
    pub format: String,
    /// The request.
    pub request_id: DpoRequestId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The subject erased.
    pub subject_id: SubjectId,
    /// When the erasure completed.
    pub completed_at: Option<Timestamp>,
    /// What was erased (counts).
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
    /// The tenant's signed tree head the entries are proven in.
    pub tree_head: TreeHeadView,
    /// The erasure's audit entries (pseudonyms and ids only) with their inclusion proofs.
    pub entries: Vec<ProvenEntry>,
}

/// The format name of erasure certificates.
pub const CERTIFICATE_FORMAT: &str = "callvault-erasure-certificate-v1";

/// The certificate of a completed erasure; `NotReady` until its audit entries are under a
/// signed tree head (seconds after completion).
pub async fn certificate(state: &Services, ctx: &Ctx, id: DpoRequestId) -> Result<ErasureCertificate, DpoError> {
    let tenant = read_permit(state, ctx).await?;
    let row = load(state, tenant, id).await?;
    let req = row.request;
    if req.kind != DpoRequestKind::Erase || req.state != DpoRequestState::Completed {
        return Err(DpoError::NotReady("only a completed erasure has a certificate"));
    }
    let wanted = id.to_string();
    const NOT_YET: &str =
        "the erasure's audit entries are not under a signed tree head yet; ask again in a few seconds";
    let (tree_head, entries) =
        match tenant_proofs(state, tenant, |e| e["details"]["request"].as_str() == Some(&wanted)).await {
            Ok(found) => found,
            // No tree head was signed yet.
            Err(AuditReadError::NotFound(_)) => return Err(DpoError::NotReady(NOT_YET)),
            Err(e) => return Err(e.into()),
        };
    let complete = entries.iter().any(|e| e.body.contains("\"dpo_request.completed\""));
    if !complete {
        return Err(DpoError::NotReady(NOT_YET));
    }
    let event = ctx.event("dpo_request.certificate").target("dpo_request", id).origin(ctx.origin(state));
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(ErasureCertificate {
        format: CERTIFICATE_FORMAT.into(),
        request_id: id,
        tenant_id: tenant,
        subject_id: req.subject_id,
        completed_at: req.completed_at,
        outcome: req.outcome,
        tree_head,
        entries,
    })
}

/// What a verified certificate proves.
#[derive(Debug, Serialize)]
pub struct CertificateSummary {
    /// Entries proven.
    pub entries: usize,
    /// Objects whose erasure is proven.
    pub objects: usize,
    /// Interactions whose erasure is proven.
    pub interactions: usize,
    /// The tree size they are proven in.
    pub tree_size: i64,
}

/// Checks a certificate offline: the tree head's signature under `public_key` (the log's
/// Ed25519 key), every entry's inclusion in that head, that every entry belongs to the request
/// and tenant, and that the completion entry is among them.
pub fn verify_certificate(c: &ErasureCertificate, public_key: &[u8]) -> Result<CertificateSummary, String> {
    if c.format != CERTIFICATE_FORMAT {
        return Err(format!("format: expected {CERTIFICATE_FORMAT}"));
    }
    let hash = |h: &str, what: &str| -> Result<merkle::Hash, String> {
        hex::decode(h).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| format!("{what}: not a 32-byte hex hash"))
    };
    let th = &c.tree_head;
    if th.tenant != Some(c.tenant_id) {
        return Err("tree_head: not the tenant's tree".into());
    }
    let size = u64::try_from(th.tree_size).map_err(|_| "tree_head.tree_size: negative".to_owned())?;
    let root = hash(&th.root_hash, "tree_head.root_hash")?;
    let head = TenantTreeHead {
        tenant: *c.tenant_id.0.as_bytes(),
        tree_size: size,
        timestamp_ms: th.timestamp.millis(),
        root,
    };
    let sig = hex::decode(&th.signature).map_err(|_| "tree_head.signature: not hex".to_owned())?;
    verify_tenant_tree_head(public_key, &head, &sig)
        .map_err(|_| "the tree head's signature does not verify with this public key".to_owned())?;
    let (mut objects, mut interactions, mut completed) = (0, 0, false);
    for (n, e) in c.entries.iter().enumerate() {
        let path = e.audit_path.iter().map(|p| hash(p, "audit_path")).collect::<Result<Vec<_>, _>>()?;
        let index = u64::try_from(e.leaf_index).map_err(|_| format!("entry {n}: negative leaf index"))?;
        merkle::verify_inclusion(index, size, &tenant_leaf(&e.body), &path, &root)
            .map_err(|err| format!("entry {n} (leaf {index}) is not in the signed tree: {err}"))?;
        let body: serde_json::Value =
            serde_json::from_str(&e.body).map_err(|_| format!("entry {n}: body is not JSON"))?;
        if body["details"]["request"].as_str() != Some(&c.request_id.to_string()) {
            return Err(format!("entry {n} is not about request {}", c.request_id));
        }
        if body["tenant"].as_str() != Some(&c.tenant_id.to_string()) {
            return Err(format!("entry {n} is not the tenant's"));
        }
        let targets = body["targets"].as_array().map_or(0, Vec::len);
        match body["action"].as_str() {
            Some("object.erased") => objects += targets,
            Some("interaction.erased") => interactions += targets,
            Some("dpo_request.completed") => completed = true,
            _ => {}
        }
    }
    if !completed {
        return Err("the certificate holds no completion entry".into());
    }
    Ok(CertificateSummary { entries: c.entries.len(), objects, interactions, tree_size: th.tree_size })
}
