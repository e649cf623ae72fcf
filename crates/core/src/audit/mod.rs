//! The tamper-evident audit log.
//!
//! Every state change appends an entry inside the transaction that makes the change
//! ([`Auditor::record`]); events that change nothing else (denials, security-relevant reads) go
//! through a group-commit writer ([`Auditor::record_now`]) that batches concurrent appends into one
//! durable transaction. A sequencer ([`sequence_once`]) then gives entries their leaf index in an
//! RFC 9162 Merkle tree, chaining each leaf to the previous one, and signed tree heads are
//! produced periodically ([`sign_tree_head`]).
//!
//! Leaf input = leaf index (u64, big-endian) ‖ previous leaf hash (32 bytes) ‖ canonical JSON body.
//! Entries hold ids and keyed digests only: never secrets, never personal data in clear.

use std::net::IpAddr;
use std::sync::Arc;

use callvault_crypto::merkle::{self, CompactRange, Hash};
use callvault_crypto::sth::{AuditSigner, TreeHead, verify_tree_head};
use callvault_crypto::{KeyEncryptionKey, digest};
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, TenantId};
use callvault_store::batch::Batch;
use callvault_store::prelude::*;
use callvault_store::{AuditInsert, AuditRow, AuditStore, SignedTreeHeadRow, SigningKeyRow, Store, StoreError, Tx};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub mod log;

/// Who did it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// An authenticated principal.
    Principal(PrincipalId),
    /// Someone not (yet) authenticated, e.g. a failed login.
    Anonymous,
    /// The server itself (bootstrap, jobs).
    System,
}

/// What it was done to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    /// Kind of object.
    pub kind: &'static str,
    /// Its id (never personal data).
    pub id: String,
}

impl Target {
    /// A target.
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self { kind, id: id.to_string() }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by policy (access, credentials).
    Denied,
}

/// Where the request came from: a keyed digest of the client address (an IP address is
/// personal data) and the request id.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Origin {
    /// Request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// HMAC of the client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_digest: Option<String>,
}

/// Keyed digests of personal data before and after a change: changes to personal data are audit
/// logged without the data itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonalDataChange {
    /// Digest before (absent on create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Digest after (absent on delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One audit event, before it is serialised.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Tenant, `None` for provider-level events.
    pub tenant: Option<TenantId>,
    /// Who.
    pub actor: Actor,
    /// Stable action name, e.g. `user.create`.
    pub action: &'static str,
    /// What.
    pub targets: Vec<Target>,
    /// How it ended.
    pub outcome: Outcome,
    /// From where.
    pub origin: Origin,
    /// Personal data digests.
    pub personal_data: Option<PersonalDataChange>,
    /// Further non-personal details (ids, counts, reasons).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// A successful action with no targets yet.
    pub fn new(tenant: Option<TenantId>, actor: Actor, action: &'static str) -> Self {
        Self {
            tenant,
            actor,
            action,
            targets: Vec::new(),
            outcome: Outcome::Success,
            origin: Origin::default(),
            personal_data: None,
            details: serde_json::Value::Null,
        }
    }

    /// Adds a target.
    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.targets.push(Target::new(kind, id));
        self
    }

    /// Marks it denied.
    pub fn denied(mut self) -> Self {
        self.outcome = Outcome::Denied;
        self
    }

    /// Sets the origin.
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Sets the details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Records personal data digests.
    pub fn personal_data(mut self, change: PersonalDataChange) -> Self {
        self.personal_data = Some(change);
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    v: u8,
    ts: i64,
    tenant: Option<TenantId>,
    actor: &'a Actor,
    action: &'a str,
    targets: &'a [Target],
    outcome: Outcome,
    from: &'a Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_data: &'a Option<PersonalDataChange>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    details: &'a serde_json::Value,
}

/// Purpose names of the server keys stored wrapped in the database.
const SIGNING_PURPOSE: &str = "audit-sth";
const PSEUDONYM_PURPOSE: &str = "audit-pseudonym";

/// Appends audit entries and holds the keys the log needs.
#[derive(Clone)]
pub struct Auditor {
    signer: Arc<AuditSigner>,
    pseudonym_key: Arc<callvault_crypto::SecretBytes>,
    writer: mpsc::Sender<Pending>,
    sequencer: Arc<tokio::sync::Notify>,
}

impl Auditor {
    /// Loads (or creates on first start) the audit signing and pseudonymisation keys, wrapped by
    /// the KEK, and starts the group-commit writer.
    pub async fn start(store: &Store, kek: &dyn KeyEncryptionKey, now: Timestamp) -> anyhow::Result<Auditor> {
        let signer = load_or_create_signer(store, kek, now).await?;
        let pseudonym_key = load_or_create_pseudonym_key(store, kek, now).await?;
        let sequencer = Arc::new(tokio::sync::Notify::new());
        let (tx, rx) = mpsc::channel(16_384);
        tokio::spawn(group_commit_writer(store.clone(), rx, sequencer.clone()));
        Ok(Auditor { signer: Arc::new(signer), pseudonym_key: Arc::new(pseudonym_key), writer: tx, sequencer })
    }

    /// The public key that verifies tree heads.
    pub fn public_key(&self) -> [u8; 32] {
        self.signer.public_key()
    }

    /// The signer, for the tree-head task.
    pub fn signer(&self) -> &AuditSigner {
        &self.signer
    }

    /// Wakes the sequencer.
    pub fn sequencer_notify(&self) -> Arc<tokio::sync::Notify> {
        self.sequencer.clone()
    }

    /// A keyed digest of personal data, so audit entries can show that something changed (and
    /// equal values compare equal) without holding the value.
    pub fn pseudonym(&self, value: &[u8]) -> String {
        hex::encode(&digest::hmac_sha256(self.pseudonym_key.expose(), value)[..16])
    }

    /// The origin of a request.
    pub fn origin(&self, request_id: Option<&str>, ip: Option<IpAddr>) -> Origin {
        Origin {
            request_id: request_id.map(str::to_owned),
            ip_digest: ip.map(|ip| self.pseudonym(ip.to_string().as_bytes())),
        }
    }

    /// Appends an entry inside `tx`; it becomes durable when `tx` commits, together with the
    /// change it records.
    pub async fn record(&self, tx: &mut Tx, now: Timestamp, event: &AuditEvent) -> Result<(), StoreError> {
        let body = body_json(now, event);
        tx.append_audit(&AuditInsert {
            tenant_id: event.tenant,
            action: event.action,
            created_at: now.millis(),
            body: &body,
        })
        .await?;
        self.sequencer.notify_one();
        Ok(())
    }

    /// Appends an entry on its own, durably, batched with concurrent appends (group commit).
    pub async fn record_now(&self, now: Timestamp, event: &AuditEvent) -> Result<(), AppendError> {
        let body = body_json(now, event);
        let (done, wait) = oneshot::channel();
        self.writer
            .send((body, event.tenant, event.action, now.millis(), done))
            .await
            .map_err(|_| AppendError::WriterStopped)?;
        wait.await.map_err(|_| AppendError::WriterStopped)?.map_err(|_| AppendError::CommitFailed)
    }
}

/// An entry could not be appended on its own ([`Auditor::record_now`]); the action it records
/// must not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The writer task is gone (the server is shutting down or it failed).
    #[error("the audit log cannot be appended: the audit writer stopped")]
    WriterStopped,
    /// The group commit holding this entry failed; nothing of the group was written.
    #[error("the audit log cannot be appended: the group commit failed")]
    CommitFailed,
}

/// The canonical JSON body of an event.
pub fn body_json(now: Timestamp, e: &AuditEvent) -> String {
    let body = Body {
        v: 1,
        ts: now.millis(),
        tenant: e.tenant,
        actor: &e.actor,
        action: e.action,
        targets: &e.targets,
        outcome: e.outcome,
        from: &e.origin,
        personal_data: &e.personal_data,
        details: &e.details,
    };
    // Serialising plain structs, strings and `serde_json::Value` cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

type Pending = (String, Option<TenantId>, &'static str, i64, oneshot::Sender<Result<(), ()>>);

async fn group_commit_writer(store: Store, mut rx: mpsc::Receiver<Pending>, sequencer: Arc<tokio::sync::Notify>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(1024);
    while rx.recv_many(&mut batch, 4096).await > 0 {
        let result = write_batch(&store, &batch).await;
        let result = result.map_err(|e| {
            tracing::error!(error = %e, entries = batch.len(), "audit group commit failed");
        });
        for (_, _, _, _, done) in batch.drain(..) {
            let _ = done.send(result);
        }
        sequencer.notify_one();
    }
}

async fn write_batch(store: &Store, batch: &[Pending]) -> Result<(), StoreError> {
    let inserts: Vec<AuditInsert<'_>> = batch
        .iter()
        .map(|(body, tenant, action, ts, _)| AuditInsert { tenant_id: *tenant, action, created_at: *ts, body })
        .collect();
    let mut tx = store.begin().await?;
    tx.append_audit_batch(&inserts).await?;
    tx.commit().await
}

/// The leaf input of entry `index`.
pub fn leaf_input(index: u64, prev: &[u8], body: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(8 + 32 + body.len());
    input.extend_from_slice(&index.to_be_bytes());
    input.extend_from_slice(prev);
    input.extend_from_slice(body.as_bytes());
    input
}

/// Sequences up to `limit` waiting entries into the tree. Returns how many.
pub async fn sequence_once(store: &Store, limit: i64) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    let head = tx.lock_audit_head().await?;
    let rows = tx.unsequenced_audit(limit).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let (chained, next) = chain(&head, rows.iter().map(|r| r.body.as_str()))?;
    let leaves: Vec<(i64, i64, Vec<u8>)> =
        rows.iter().zip(chained).map(|(row, (index, hash))| (row.seq, index, hash)).collect();
    tx.assign_audit_leaves(&leaves).await?;
    tx.set_audit_head(&next).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// A leaf's index and chained hash.
type Leaf = (i64, Vec<u8>);

/// The leaves that follow `head` for entries of `bodies` (index and chained hash each), and the
/// head after them.
pub(crate) fn chain<'a>(
    head: &callvault_store::AuditHead,
    bodies: impl Iterator<Item = &'a str>,
) -> Result<(Vec<Leaf>, callvault_store::AuditHead), StoreError> {
    let mut range = if head.frontier.is_empty() {
        CompactRange::new()
    } else {
        CompactRange::from_bytes(&head.frontier).map_err(|_| StoreError::Corrupt("audit frontier".into()))?
    };
    let mut prev: Hash =
        head.last_hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit last hash".into()))?;
    let mut index = head.tree_size;
    let mut leaves = Vec::new();
    for body in bodies {
        let index_u = u64::try_from(index).map_err(|_| StoreError::Corrupt("audit size".into()))?;
        let hash = merkle::leaf_hash(&leaf_input(index_u, &prev, body));
        range.push(hash);
        leaves.push((index, hash.to_vec()));
        prev = hash;
        index += 1;
    }
    let next = callvault_store::AuditHead { tree_size: index, last_hash: prev.to_vec(), frontier: range.to_bytes() };
    Ok((leaves, next))
}

/// Appends `entries` in `tx` with their leaves taken at once, on SQLite: its one writer holds
/// the head, so a group commit sequences its own entries in its transaction rather than leave
/// them to a pass of the sequencer (a second transaction and sync; measured, BENCHMARKS.md).
/// On PostgreSQL entries are appended for the sequencer, which one node runs. The writes go to
/// `batch`, to be executed in `tx`. Returns whether entries were left for the sequencer (to be
/// woken once `tx` commits).
pub async fn append_batch(tx: &mut Tx, batch: &mut Batch, entries: &[AuditInsert<'_>]) -> Result<bool, StoreError> {
    if tx.backend() != callvault_store::Backend::Sqlite {
        batch.append_audit(entries)?;
        return Ok(true);
    }
    let head = tx.lock_audit_head().await?;
    let (leaves, next) = chain(&head, entries.iter().map(|e| e.body))?;
    let rows: Vec<(AuditInsert<'_>, i64, Vec<u8>)> =
        entries.iter().zip(leaves).map(|(e, (index, hash))| (e.clone(), index, hash)).collect();
    batch.append_audit_sequenced(&rows)?;
    batch.set_audit_head(&next)?;
    Ok(false)
}

/// Signs a tree head for the current tree if it grew since the last one. Returns the new size.
pub async fn sign_tree_head(store: &Store, signer: &AuditSigner, now: Timestamp) -> Result<Option<i64>, StoreError> {
    let mut tx = store.begin().await?;
    let head = tx.lock_audit_head().await?;
    let latest = tx.latest_tree_head().await?;
    if head.tree_size == 0 || latest.as_ref().is_some_and(|l| l.tree_size >= head.tree_size) {
        tx.rollback().await?;
        return Ok(None);
    }
    let range = CompactRange::from_bytes(&head.frontier).map_err(|_| StoreError::Corrupt("audit frontier".into()))?;
    let th = TreeHead {
        tree_size: u64::try_from(head.tree_size).map_err(|_| StoreError::Corrupt("audit size".into()))?,
        timestamp_ms: now.millis(),
        root: range.root(),
    };
    let signature = signer.sign_tree_head(&th);
    tx.insert_tree_head(&SignedTreeHeadRow {
        tree_size: head.tree_size,
        timestamp: now.millis(),
        root: th.root.to_vec(),
        key_id: signer.key_id(),
        signature: signature.to_vec(),
    })
    .await?;
    tx.commit().await?;
    Ok(Some(head.tree_size))
}

/// The pause after a sequencing pass that was not full, before the next.
const SEQUENCE_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// Entries sequenced in one pass at most.
const SEQUENCE_BATCH: i64 = 10_000;

/// Runs the sequencer and the tree-head signer until the process ends.
pub async fn run_sequencer(
    store: Store,
    auditor: Auditor,
    clock: Arc<dyn crate::clock::Clock>,
    sth_interval: std::time::Duration,
) {
    let notify = auditor.sequencer_notify();
    let mut last_sth = std::time::Instant::now();
    loop {
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        loop {
            match sequence_once(&store, SEQUENCE_BATCH).await {
                Ok(0) => break,
                // A full pass: more is waiting.
                Ok(n) if n >= SEQUENCE_BATCH as usize => {}
                // At most one pass per SEQUENCE_PAUSE under load: a pass then takes what many
                // commits appended, in one transaction (each holds the write lock and syncs once).
                Ok(_) => tokio::time::sleep(SEQUENCE_PAUSE).await,
                Err(e) => {
                    tracing::error!(error = %e, "audit sequencing failed");
                    break;
                }
            }
        }
        if last_sth.elapsed() >= sth_interval {
            last_sth = std::time::Instant::now();
            if let Err(e) = sign_tree_head(&store, auditor.signer(), clock.now()).await {
                tracing::error!(error = %e, "signing the audit tree head failed");
            }
        }
    }
}

async fn load_or_create_signer(
    store: &Store,
    kek: &dyn KeyEncryptionKey,
    now: Timestamp,
) -> anyhow::Result<AuditSigner> {
    let mut r = store.reader().await?;
    if let Some(row) = r.signing_key(SIGNING_PURPOSE).await? {
        let aad = key_aad(SIGNING_PURPOSE, &row.key_id);
        let pkcs8 = kek.unwrap(aad.as_bytes(), &row.wrapped_secret).map_err(|_| {
            anyhow::anyhow!("cannot unwrap the audit signing key: is this the KEK this database was created with?")
        })?;
        return Ok(AuditSigner::from_pkcs8(pkcs8.expose())?);
    }
    let (signer, pkcs8) = AuditSigner::generate()?;
    let key_id = signer.key_id();
    let wrapped = kek.wrap(key_aad(SIGNING_PURPOSE, &key_id).as_bytes(), pkcs8.expose())?;
    let mut tx = store.begin().await?;
    tx.insert_signing_key(&SigningKeyRow {
        key_id,
        purpose: SIGNING_PURPOSE.into(),
        public_key: Some(signer.public_key().to_vec()),
        wrapped_secret: wrapped,
        created_at: now.millis(),
    })
    .await?;
    tx.commit().await?;
    Ok(signer)
}

async fn load_or_create_pseudonym_key(
    store: &Store,
    kek: &dyn KeyEncryptionKey,
    now: Timestamp,
) -> anyhow::Result<callvault_crypto::SecretBytes> {
    let mut r = store.reader().await?;
    if let Some(row) = r.signing_key(PSEUDONYM_PURPOSE).await? {
        let aad = key_aad(PSEUDONYM_PURPOSE, &row.key_id);
        return kek
            .unwrap(aad.as_bytes(), &row.wrapped_secret)
            .map_err(|_| anyhow::anyhow!("cannot unwrap the audit pseudonymisation key"));
    }
    let key = callvault_crypto::SecretBytes::new(digest::random_bytes(32));
    let key_id = uuid::Uuid::new_v4().to_string();
    let wrapped = kek.wrap(key_aad(PSEUDONYM_PURPOSE, &key_id).as_bytes(), key.expose())?;
    let mut tx = store.begin().await?;
    tx.insert_signing_key(&SigningKeyRow {
        key_id,
        purpose: PSEUDONYM_PURPOSE.into(),
        public_key: None,
        wrapped_secret: wrapped,
        created_at: now.millis(),
    })
    .await?;
    tx.commit().await?;
    Ok(key)
}

fn key_aad(purpose: &str, key_id: &str) -> String {
    format!("callvault:server-key:{purpose}:{key_id}")
}

/// The first problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyFailure {
    /// Leaf index of the first bad entry (or the tree size a bad tree head claims).
    pub leaf_index: i64,
    /// Insertion sequence number of the row, when there is one.
    pub seq: Option<i64>,
    /// What is wrong.
    pub reason: String,
}

/// Result of [`verify_log`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries recomputed.
    pub entries_checked: u64,
    /// Signed tree heads checked.
    pub tree_heads_checked: u64,
    /// Entries appended but not yet sequenced (not an error).
    pub unsequenced: i64,
    /// The first problem, if any.
    pub failure: Option<VerifyFailure>,
}

/// Recomputes every leaf hash from the stored bodies, checks the chain, the duplicated columns,
/// the sequencer head, and every signed tree head's root and signature. Stops at the first bad
/// entry and names it.
pub async fn verify_log(store: &Store, public_key: Option<&[u8]>) -> Result<VerifyReport, StoreError> {
    let mut r = store.reader().await?;
    let heads = r.tree_heads().await?;
    let public_key: Option<Vec<u8>> = match public_key {
        Some(k) => Some(k.to_vec()),
        None => r.signing_key(SIGNING_PURPOSE).await?.and_then(|k| k.public_key),
    };
    let mut report = VerifyReport {
        entries_checked: 0,
        tree_heads_checked: 0,
        unsequenced: r.unsequenced_audit_count().await?,
        failure: None,
    };
    let fail = |report: &mut VerifyReport, leaf_index: i64, seq: Option<i64>, reason: String| {
        report.failure = Some(VerifyFailure { leaf_index, seq, reason });
    };
    let mut heads_iter = heads.iter().peekable();
    let mut range = CompactRange::new();
    let mut prev: Hash = [0; 32];
    let mut expected: i64 = 0;
    // Tree heads of size 0 never exist; check heads as the walk reaches their size.
    let check_heads = |range: &CompactRange,
                       size: i64,
                       heads_iter: &mut std::iter::Peekable<std::slice::Iter<'_, SignedTreeHeadRow>>,
                       report: &mut VerifyReport|
     -> Option<VerifyFailure> {
        while let Some(h) = heads_iter.peek() {
            if h.tree_size != size {
                break;
            }
            let h = heads_iter.next()?;
            report.tree_heads_checked += 1;
            let root = range.root();
            if h.root != root {
                return Some(VerifyFailure {
                    leaf_index: size - 1,
                    seq: None,
                    reason: format!("signed tree head of size {size} does not match the recomputed root"),
                });
            }
            if let Some(pk) = &public_key {
                let th = TreeHead { tree_size: u64::try_from(size).unwrap_or(0), timestamp_ms: h.timestamp, root };
                if verify_tree_head(pk, &th, &h.signature).is_err() {
                    return Some(VerifyFailure {
                        leaf_index: size - 1,
                        seq: None,
                        reason: format!("signature of the tree head of size {size} is invalid"),
                    });
                }
            }
        }
        None
    };
    loop {
        let rows = r.audit_entries(callvault_store::AuditFilter::All, expected, 5_000).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let hash = match check_row(row, expected, &prev) {
                Ok(hash) => hash,
                Err(reason) => {
                    fail(&mut report, expected, Some(row.seq), reason);
                    return Ok(report);
                }
            };
            range.push(hash);
            prev = hash;
            expected += 1;
            report.entries_checked += 1;
            if let Some(f) = check_heads(&range, expected, &mut heads_iter, &mut report) {
                report.failure = Some(f);
                return Ok(report);
            }
        }
    }
    if let Some(h) = heads_iter.next() {
        fail(
            &mut report,
            expected,
            None,
            format!(
                "entry {expected} is missing: a signed tree head covers {} entries but the log ends at {expected}",
                h.tree_size
            ),
        );
        return Ok(report);
    }
    let head = r.audit_head().await?;
    if head.tree_size != expected {
        fail(
            &mut report,
            expected,
            None,
            format!(
                "entry {expected} is missing: the sequencer recorded {} entries but the log has {expected}",
                head.tree_size
            ),
        );
    }
    Ok(report)
}

/// The fields of a body that are duplicated into indexed columns.
#[derive(serde::Deserialize)]
struct BodyHead<'a> {
    ts: i64,
    #[serde(borrow)]
    tenant: Option<&'a str>,
    #[serde(borrow)]
    action: &'a str,
}

/// Checks one stored entry against its position and predecessor; returns its leaf hash.
fn check_row(row: &AuditRow, expected: i64, prev: &Hash) -> Result<Hash, String> {
    if row.leaf_index != Some(expected) {
        return Err(format!("entry {expected} is missing (next stored entry has index {:?})", row.leaf_index));
    }
    let index = u64::try_from(expected).map_err(|_| "negative leaf index".to_owned())?;
    let hash = merkle::leaf_hash(&leaf_input(index, prev, &row.body));
    if row.leaf_hash.as_deref() != Some(&hash[..]) {
        return Err(format!("entry {expected} was modified, moved or reordered: its hash does not match its content"));
    }
    let head =
        serde_json::from_str::<BodyHead<'_>>(&row.body).map_err(|_| format!("entry {expected} is not valid JSON"))?;
    if head.tenant != row.tenant_id.map(|t| t.to_string()).as_deref()
        || head.action != row.action
        || head.ts != row.created_at
    {
        return Err(format!("entry {expected} was modified: its indexed columns disagree with its content"));
    }
    Ok(hash)
}
