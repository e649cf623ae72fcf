//! Group commit of small uploads: an upload up to `small_object_max_bytes` is sealed in memory
//! and waits here with its row; the committer takes every upload waiting (up to [`GROUP`]) and
//! writes all their rows — sealed content included — and their audit entries in one transaction
//! (one commit, one fsync of the database), then answers each. Nothing is answered before its
//! row and content are durable: "acknowledged means durable" holds exactly as on the blob-store
//! path (a blob file, its fsync and a commit per upload), at a fraction of the syncs.
//!
//! While one group commits, the next gathers, so under load groups grow by themselves and a
//! lone upload waits for one commit, as before. When a group's transaction fails, each upload of
//! it is retried in a transaction of its own, so one bad row fails only its own upload.

use std::sync::OnceLock;

use callvault_model::TenantId;
use callvault_model::records::Timestamp;
use callvault_model::vault::StoredObject;
use callvault_store::batch::{Batch, Solo};
use callvault_store::prelude::*;
use callvault_store::{AuditHead, AuditInsert, Held, Tx};
use tokio::sync::{mpsc, oneshot};

use super::uploads::UploadError;
use crate::audit::{AuditEvent, body_json};
use crate::services::Services;

/// Uploads committed in one group at most.
pub const GROUP: usize = 1024;

/// Uploads waiting for a group at most; further uploads wait to enter the queue.
const QUEUE: usize = 8 * GROUP;

/// An upload whose blob is written, ready for its row.
pub(super) struct Staged {
    /// The row (its paused spans are filled in the transaction).
    pub object: StoredObject,
    /// The sealed content kept in the row (`None`: the content is in the blob store).
    pub inline: Option<Vec<u8>>,
    /// `object.create`, complete.
    pub created: AuditEvent,
    /// `interaction.create` without its target and details, recorded when the upload's
    /// reference names no interaction yet.
    pub adopted: AuditEvent,
    /// The tenant generation the upload was admitted at ([`super::admission`],
    /// [`super::uploads::admit`]): the commit refuses it when the generation moved on since.
    pub stamp: Option<i64>,
}

type Waiting = (Staged, oneshot::Sender<Result<StoredObject, UploadError>>);

/// The committer of one node (started with the first grouped upload).
#[derive(Default)]
pub struct Groups {
    queue: OnceLock<mpsc::Sender<(Services, Waiting)>>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").field("started", &self.queue.get().is_some()).finish()
    }
}

impl Groups {
    /// Commits `staged` with the next group; returns once its row is durable.
    pub(super) async fn commit(&self, state: &Services, staged: Staged) -> Result<StoredObject, UploadError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(receiver));
            sender
        });
        let stopped = || UploadError::Internal("the group committer stopped; nothing was stored".into());
        let (done, answer) = oneshot::channel();
        queue.send((state.clone(), (staged, done))).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes groups until every sender is gone (the node's services were dropped). One committer a
/// node: with several on PostgreSQL (measured with 4) groups shrank to 8 uploads and each took
/// longer, the database's processes sharing the cores with the node.
async fn run(mut queue: mpsc::Receiver<(Services, Waiting)>) {
    let mut group: Vec<(Services, Waiting)> = Vec::with_capacity(GROUP);
    let mut kept = Kept::default();
    loop {
        let received = match kept.solo.as_mut() {
            Some(solo) => tokio::select! {
                received = queue.recv_many(&mut group, GROUP) => received,
                () = solo.closing() => {
                    kept.solo = None;
                    continue;
                }
            },
            None => queue.recv_many(&mut group, GROUP).await,
        };
        if received == 0 {
            break;
        }
        let state = group[0].0.clone();
        let mut waiting: Vec<Waiting> = group.drain(..).map(|(_, w)| w).collect();
        loop {
            let mut uploads: Vec<&mut Staged> = waiting.iter_mut().map(|(s, _)| s).collect();
            let solo = uploads.iter().all(|s| s.object.interaction.is_none());
            let committed = if solo {
                commit_solo(&state, &mut kept, &mut uploads).await
            } else {
                commit_rows(&state, &mut uploads).await
            };
            match committed {
                Ok(stale) if stale.is_empty() => {
                    state.metrics.upload_groups.inc();
                    for (staged, done) in waiting {
                        let _ = done.send(Ok(staged.object));
                    }
                    break;
                }
                Ok(stale) => {
                    // Nothing was committed: the stale uploads are answered, the others go again.
                    let (refused, rest): (Vec<_>, Vec<_>) =
                        waiting.into_iter().enumerate().partition(|(i, _)| stale.contains(i));
                    for (_, (_, done)) in refused {
                        let _ = done.send(Err(UploadError::Stale));
                    }
                    waiting = rest.into_iter().map(|(_, w)| w).collect();
                    if waiting.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, uploads = waiting.len(), "a group commit failed; committing one by one");
                    for (mut staged, done) in waiting {
                        let result = commit_one(&state, &mut staged).await;
                        let _ = done.send(result.map(|()| staged.object));
                    }
                    break;
                }
            }
        }
    }
}

/// What the committer keeps from one group to the next ([`commit_solo`]).
#[derive(Default)]
struct Kept {
    /// Its connection (dropped after an error, and when the store starts closing).
    solo: Option<Solo>,
    /// The audit head after its last group, if nothing else has moved it since.
    head: Option<AuditHead>,
}

/// Times a group is prepared again on a head another writer moved before it goes through
/// [`commit_rows`] instead.
const SOLO_TRIES: usize = 4;

/// The rows of `uploads` (none naming an interaction) and their audit entries, with their
/// leaves taken from the head the committer last saw, as a guarded batch
/// ([`Batch::commit_guarded`]): on PostgreSQL one statement that is its own transaction (one
/// round trip where a transaction takes three, and no pass of the sequencer); on SQLite two
/// round trips where a transaction takes four. Returns the stale uploads, as [`commit_rows`].
async fn commit_solo(
    state: &Services,
    kept: &mut Kept,
    uploads: &mut [&mut Staged],
) -> Result<Vec<usize>, UploadError> {
    let bodies: Vec<String> = uploads.iter().map(|s| body_json(s.object.created_at, &s.created)).collect();
    let mut stamps: Vec<(TenantId, i64)> = Vec::new();
    for staged in uploads.iter() {
        let Some(stamp) = staged.stamp else { continue };
        match stamps.iter_mut().find(|(t, _)| *t == staged.object.tenant_id) {
            Some((_, lowest)) => *lowest = (*lowest).min(stamp),
            None => stamps.push((staged.object.tenant_id, stamp)),
        }
    }
    for _ in 0..SOLO_TRIES {
        let head = match kept.head.take() {
            Some(head) => head,
            None => state.store.reader().await?.audit_head().await?,
        };
        let (leaves, next) = crate::audit::chain(&head, bodies.iter().map(String::as_str))?;
        let entries: Vec<(AuditInsert<'_>, i64, Vec<u8>)> = uploads
            .iter()
            .zip(&bodies)
            .zip(leaves)
            .map(|((s, body), (index, hash))| {
                let e = &s.created;
                (
                    AuditInsert {
                        tenant_id: e.tenant,
                        action: e.action,
                        created_at: s.object.created_at.millis(),
                        body,
                    },
                    index,
                    hash,
                )
            })
            .collect();
        let rows: Vec<(&StoredObject, Option<&[u8]>)> =
            uploads.iter().map(|s| (&s.object, s.inline.as_deref())).collect();
        let mut batch = Batch::guarded(state.store.backend());
        batch.insert_objects(&rows)?;
        batch.append_audit_sequenced(&entries)?;
        batch.set_audit_head(&next)?;
        let solo = match &mut kept.solo {
            Some(solo) => solo,
            None => kept.solo.insert(state.store.solo().await?),
        };
        let found = match batch.commit_guarded(solo, &stamps, head.tree_size).await {
            Ok(found) => found,
            Err(e) => {
                kept.solo = None;
                return Err(e.into());
            }
        };
        if found.written {
            kept.head = Some(next);
            return Ok(Vec::new());
        }
        let stale = stale(&found.generations, uploads);
        if !stale.is_empty() {
            kept.head = found.head;
            return Ok(stale);
        }
        // No head row yet (the sequencer makes it) or another writer moved it.
        let Some(found) = found.head else { break };
        kept.head = Some(found);
    }
    commit_rows(state, uploads).await
}

/// One upload's row and audit entry in a transaction of its own.
pub(super) async fn commit_one(state: &Services, staged: &mut Staged) -> Result<(), UploadError> {
    match commit_rows(state, &mut [staged]).await? {
        stale if stale.is_empty() => Ok(()),
        _ => Err(UploadError::Stale),
    }
}

/// The rows of `uploads` and their audit entries in one transaction; or, when uploads are stale
/// (admitted at a generation their tenant has moved past since), nothing, and which ones.
pub(super) async fn commit_rows(state: &Services, uploads: &mut [&mut Staged]) -> Result<Vec<usize>, UploadError> {
    let mut tx = state.store.begin().await?;
    let (batch, unsequenced) = write_rows(state, &mut tx, uploads).await?;
    // Read with the writes, last, and held to the commit: a change to what the uploads were
    // admitted on either committed before (and is seen here) or waits for this transaction
    // (SQLite: one writer at a time; PostgreSQL: `FOR SHARE`, and every such change moves the
    // generation on).
    let mut tenants: Vec<TenantId> = Vec::new();
    for staged in uploads.iter().filter(|s| s.stamp.is_some()) {
        if !tenants.contains(&staged.object.tenant_id) {
            tenants.push(staged.object.tenant_id);
        }
    }
    let generations = batch.execute_holding_generations(&mut tx, &tenants).await?;
    let stale = stale(&generations, uploads);
    if !stale.is_empty() {
        tx.rollback().await?;
        return Ok(stale);
    }
    tx.commit().await?;
    if unsequenced {
        state.auditor.sequencer_notify().notify_one();
    }
    Ok(stale)
}

/// The uploads admitted at a generation their tenant has since moved past (or that is gone).
fn stale(generations: &[(TenantId, Option<i64>)], uploads: &[&mut Staged]) -> Vec<usize> {
    let current = |tenant| generations.iter().find(|(t, _)| *t == tenant).and_then(|(_, g)| *g);
    let mut stale = Vec::new();
    for (i, staged) in uploads.iter().enumerate() {
        let Some(stamp) = staged.stamp else { continue };
        if current(staged.object.tenant_id).is_none_or(|g| g > stamp) {
            stale.push(i);
        }
    }
    stale
}

/// Writes the rows of `uploads` and their audit entries into `tx`: each object gets the spans
/// its interaction's recording was paused so far, and an interaction when its reference names
/// none yet. Returns the batch of writes left to execute (the objects, their audit entries and,
/// on SQLite, the audit head, for one round trip) and whether audit entries are left for the
/// sequencer.
async fn write_rows(state: &Services, tx: &mut Tx, uploads: &mut [&mut Staged]) -> Result<(Batch, bool), UploadError> {
    let mut events: Vec<(Timestamp, AuditEvent)> = Vec::with_capacity(uploads.len());
    for staged in uploads.iter_mut() {
        let object = &mut staged.object;
        let Some(reference) = object.interaction.clone() else {
            events.push((object.created_at, staged.created.clone()));
            continue;
        };
        // Held until the commit: an erasure closing the reference waits for it, or closed it
        // before and the upload is refused.
        let digest = crate::retention::reference_digest(state, &reference);
        match tx.hold_reference(object.tenant_id, &reference, &digest).await? {
            Held::Closed { at, reason } => return Err(UploadError::Erased { at, reason }),
            Held::Open(Some(id)) => {
                object.paused = crate::recording::pauses::spans(tx, state, object.tenant_id, id).await?;
            }
            Held::Open(None) => {}
        }
        // Content uploaded under a reference no interaction has gets its interaction.
        let row = crate::subjects::adopted(
            object.tenant_id,
            &reference,
            object.class,
            object.service_id,
            object.consent,
            object.recorded_at,
            object.created_at,
        );
        if tx.ensure_interaction(&row).await? {
            let event = staged.adopted.clone().target("interaction", row.id).details(serde_json::json!({
                "channel": row.channel, "from_upload": object.id
            }));
            events.push((object.created_at, event));
        }
        events.push((object.created_at, staged.created.clone()));
    }
    let rows: Vec<(&StoredObject, Option<&[u8]>)> = uploads.iter().map(|s| (&s.object, s.inline.as_deref())).collect();
    let mut batch = tx.batch();
    batch.insert_objects(&rows)?;
    let bodies: Vec<String> = events.iter().map(|(at, e)| body_json(*at, e)).collect();
    let inserts: Vec<AuditInsert<'_>> = events
        .iter()
        .zip(&bodies)
        .map(|((at, e), body)| AuditInsert { tenant_id: e.tenant, action: e.action, created_at: at.millis(), body })
        .collect();
    let unsequenced = crate::audit::append_batch(tx, &mut batch, &inserts).await?;
    Ok((batch, unsequenced))
}
