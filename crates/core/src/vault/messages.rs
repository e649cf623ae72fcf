//! Chat and SMS messages appended one by one to their interaction's transcript, so that a card
//! number a customer splits over consecutive messages is caught: each new message is scanned
//! together with the end of the messages before it (joined by one space, as a reader would read
//! them), and a number found across the boundary is masked in both; an expiry date or CVV sent
//! after a number that was already masked is masked too.
//!
//! The transcript is one stored object per interaction (JSON Lines, one message per line, its id
//! derived from the interaction's, so two first messages cannot make two transcripts), sealed
//! under the tenant's active data key like any upload. An append writes the whole transcript to
//! a new blob and switches the object's row to it with a compare-and-swap on the old blob name:
//! two appends at once (on one node or several) never lose a message — the later one reads again.

use callvault_model::access::{Action, Resource};
use callvault_model::personal::Channel;
use callvault_model::recording::RecordingKind;
use callvault_model::records::Timestamp;
use callvault_model::vault::{ContentClass, StoredObject};
use callvault_model::{InteractionId, ObjectId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::pan;
use callvault_store::prelude::*;
use callvault_store::{Held, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use super::uploads::{UploadError, remove_blob};
use super::{BlobWriter, ContentError, WrittenBlob, read_plain, write_blob};
use crate::caller::Ctx;
use crate::services::Services;

/// The media type of a transcript written by this API.
pub const TRANSCRIPT_TYPE: &str = "application/x-ndjson";

/// Bytes of one message at most.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// Attempts at switching the transcript before giving up (each lost only to an append on
/// another node: appends on one node take turns).
const ATTEMPTS: usize = 16;

/// Appends to one transcript take turns on a node, so they do not race each other's
/// compare-and-swap; between nodes the compare-and-swap decides.
#[derive(Debug, Default)]
pub struct Turns(std::sync::Mutex<HashMap<ObjectId, Arc<tokio::sync::Mutex<()>>>>);

/// One append's turn at a transcript; the next waits until it is dropped.
struct Turn<'a> {
    turns: &'a Turns,
    id: ObjectId,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    async fn take(&self, id: ObjectId) -> Turn<'_> {
        let lock = self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(id).or_default().clone();
        Turn { turns: self, id, guard: Some(lock.lock_owned().await) }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.turns.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Nobody else holds or waits for it: forget it.
        if map.get(&self.id).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&self.id);
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// The customer.
    Customer,
    /// An agent of the interaction.
    Agent,
    /// The platform (a bot, an automatic notice).
    System,
}

/// A message to append.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Who wrote it.
    pub from: Sender,
    /// The agent who wrote it (one of the interaction's agents; only with `from: agent`).
    #[serde(default)]
    pub agent: Option<UserId>,
    /// The text, 1 to 32 KiB of UTF-8.
    pub text: String,
    /// When it was sent; now when absent.
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
}

/// A message as stored: one line of the transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    seq: u64,
    at: Timestamp,
    from: Sender,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<UserId>,
    text: String,
}

/// What an append stored (never the text: the sender has it, the masked copy is in the
/// transcript for those who may read it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Appended {
    /// The transcript object.
    pub object: ObjectId,
    /// The message's number in the transcript, from 1.
    pub seq: u64,
    /// Card numbers masked by this append (in this message or reaching into the ones before).
    pub redactions: u32,
    /// Whether the end of an earlier message was masked too (a number split across them, or an
    /// expiry or CVV after a number masked before).
    pub earlier_masked: bool,
    /// The transcript's size in bytes after the append.
    pub size: u64,
}

/// The transcript's object id for an interaction: the same on every node and every attempt.
pub fn transcript_id(interaction: InteractionId) -> ObjectId {
    let mut input = b"callvault transcript ".to_vec();
    input.extend_from_slice(interaction.0.as_bytes());
    let digest = callvault_crypto::digest::sha256(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ObjectId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// Appends a message to the transcript of a chat or SMS interaction (the caller must be allowed
/// to create content for its service). Audited as `object.append` with the counts only.
pub async fn append(state: &Services, ctx: &Ctx, id: InteractionId, msg: NewMessage) -> Result<Appended, UploadError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Create, Resource::Interaction) {
        // Refused before the interaction is looked up: the caller learns nothing of it.
        ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(Resource::Interaction, tenant)).await?;
    }
    let (row, agents, _) = {
        let mut r = state.store.reader().await?;
        match r.interaction(tenant, id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => {
                return Err(match r.tombstone(tenant, "interaction", &id.to_string()).await? {
                    Some((at, reason)) => UploadError::Erased { at, reason },
                    None => StoreError::NotFound.into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    };
    let resource =
        ResourceRef { services: row.service_id.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) };
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    let class = match row.channel {
        Channel::Chat => ContentClass::Chat,
        Channel::Sms => ContentClass::Sms,
        other => {
            return Err(UploadError::Invalid(format!(
                "the interaction is a {} interaction; messages belong to chat and SMS interactions",
                other.as_str()
            )));
        }
    };
    if !crate::collection::collected(state, tenant, None, class.category()).await? {
        return Err(UploadError::Invalid(
            "the tenant does not collect recordings and transcripts (GET /v1/personal-data/collection); nothing was \
             stored"
                .into(),
        ));
    }
    validate(&msg, &agents)?;
    let reference = row.external_ref.clone().unwrap_or_else(|| row.id.to_string());
    let _turn = state.vault.appends.take(transcript_id(id)).await;
    let line = Line {
        seq: 0,
        at: msg.sent_at.unwrap_or_else(|| state.clock.now()),
        from: msg.from,
        agent: msg.agent,
        text: msg.text,
    };
    for _ in 0..ATTEMPTS {
        let (existing, source_dk, target_dk, redact) = {
            let mut r = state.store.reader().await?;
            let existing = match r.object(tenant, transcript_id(id)).await {
                Ok(o) => Some(o),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            };
            let source_dk = match existing.as_ref().and_then(|o| o.key_version) {
                Some(v) => Some(state.vault.data_key(&mut r, tenant, v).await?),
                None => None,
            };
            let redact = r.tenant(tenant).await?.settings.redact_card_numbers;
            (existing, source_dk, state.vault.sealing_key(&mut r, tenant).await?, redact)
        };
        let now = state.clock.now();
        let mut object = match &existing {
            Some(o) => o.clone(),
            None => StoredObject {
                id: transcript_id(id),
                tenant_id: tenant,
                class,
                interaction: Some(reference.clone()),
                service_id: row.service_id,
                recording: if agents.is_empty() { RecordingKind::QualityManagement } else { RecordingKind::Personal },
                agents: agents.clone(),
                contact_ref: None,
                recorded_at: line.at,
                consent: row.consent,
                paused: Vec::new(),
                content_type: TRANSCRIPT_TYPE.into(),
                size: 0,
                sha256: String::new(),
                redactions: 0,
                key_version: None,
                created_at: now,
                blob: String::new(),
                wrapped_key: None,
                header: Vec::new(),
            },
        };
        if object.content_type != TRANSCRIPT_TYPE {
            return Err(UploadError::Invalid("the interaction's transcript object was not written by this API".into()));
        }
        let vault = state.vault.clone();
        let (max, new_line) = (state.config.max_object_bytes, line.clone());
        let inline_max = state.config.small_object_max_bytes;
        let old = existing.clone();
        let built =
            tokio::task::spawn_blocking(move || -> Result<(StoredObject, Outcome, WrittenBlob), UploadError> {
                let mut lines = match &old {
                    Some(o) => read_lines(&vault.blobs, o, source_dk.as_deref())?,
                    None => Vec::new(),
                };
                let outcome = add(&mut lines, new_line, redact);
                let mut body = Vec::new();
                for l in &lines {
                    serde_json::to_writer(&mut body, l).map_err(|e| UploadError::Internal(e.to_string()))?;
                    body.push(b'\n');
                }
                if body.len() as u64 > max {
                    return Err(UploadError::TooLarge(max));
                }
                object.size = body.len() as u64;
                object.key_version = target_dk.as_ref().map(|d| d.version());
                // A transcript up to `small_object_max_bytes` is kept in its row: the append is
                // one commit, no file and no fsync of its own.
                let written = if body.len() as u64 <= inline_max {
                    let mut w = BlobWriter::start_inline(&vault.blobs, &object, target_dk.as_deref())
                        .map_err(UploadError::Content)?;
                    w.write(&mut body).and_then(|()| w.finish())
                } else {
                    write_blob(&vault.blobs, &object, target_dk.as_deref(), &mut |sink| sink(&mut body))
                }
                .map_err(UploadError::Content)?;
                object.redactions = object.redactions.saturating_add(outcome.redactions);
                Ok((object, outcome, written))
            })
            .await
            .map_err(|e| UploadError::Internal(e.to_string()))?;
        let (mut object, outcome, written) = match built {
            // The transcript read was switched or erased meanwhile: the next attempt reads what
            // is there now (and an erased interaction refuses it at the commit).
            Err(UploadError::Content(_)) if moved(state, existing.as_ref()).await? => continue,
            other => other?,
        };
        object.sha256 = written.sha256;
        object.wrapped_key = written.wrapped_key;
        object.header = written.header;
        let old_blob = std::mem::replace(&mut object.blob, written.name.clone());
        let content = (&object, written.inline.as_deref());
        match commit(state, ctx, &permit, content, existing.as_ref().map(|_| old_blob.as_str()), id, &outcome).await {
            Ok(()) => {
                if existing.is_some() {
                    remove_blob(state, tenant, old_blob).await;
                }
                state.metrics.objects_stored.inc();
                return Ok(Appended {
                    object: object.id,
                    seq: outcome.seq,
                    redactions: outcome.redactions,
                    earlier_masked: outcome.earlier_masked,
                    size: object.size,
                });
            }
            Err(Lost) => {
                remove_blob(state, tenant, written.name).await;
            }
            Err(Failed(e)) => {
                remove_blob(state, tenant, written.name).await;
                return Err(e);
            }
        }
    }
    Err(UploadError::Busy("the transcript changed under every attempt to append; send the message again".into()))
}

/// Whether the transcript `read` is no longer the one stored (switched by another append, or
/// erased).
async fn moved(state: &Services, read: Option<&StoredObject>) -> Result<bool, UploadError> {
    let Some(read) = read else { return Ok(false) };
    match state.store.reader().await?.object(read.tenant_id, read.id).await {
        Ok(now) => Ok(now.blob != read.blob),
        Err(StoreError::NotFound) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

fn validate(msg: &NewMessage, agents: &[UserId]) -> Result<(), UploadError> {
    if msg.text.is_empty() || msg.text.len() > MAX_MESSAGE_BYTES {
        return Err(UploadError::Invalid(format!("text: 1 to {MAX_MESSAGE_BYTES} bytes")));
    }
    match (msg.from, msg.agent) {
        (Sender::Agent, Some(a)) if agents.contains(&a) => Ok(()),
        (Sender::Agent, Some(_)) => Err(UploadError::Invalid("agent: not an agent of this interaction".into())),
        (Sender::Agent, None) => Err(UploadError::Invalid("agent: required with from: agent".into())),
        (_, Some(_)) => Err(UploadError::Invalid("agent: only with from: agent".into())),
        (_, None) => Ok(()),
    }
}

/// What adding a message did.
#[derive(Debug, Default)]
struct Outcome {
    seq: u64,
    redactions: u32,
    earlier_masked: bool,
}

/// Why a commit did not happen.
enum CommitError {
    /// Another append switched the transcript first.
    Lost,
    Failed(UploadError),
}
use CommitError::{Failed, Lost};

macro_rules! failed_from {
    ($($t:ty),*) => {$(
        impl From<$t> for CommitError {
            fn from(e: $t) -> Self {
                Failed(e.into())
            }
        }
    )*};
}
failed_from!(StoreError, crate::caller::AccessError, crate::audit::AppendError);

/// Reads a transcript's lines (blocking).
fn read_lines(
    blobs: &super::BlobStore,
    o: &StoredObject,
    dk: Option<&super::DataKey>,
) -> Result<Vec<Line>, UploadError> {
    let mut plain = Vec::with_capacity(usize::try_from(o.size).unwrap_or(0));
    read_plain(blobs, o, dk, 0, o.size, &mut |piece: &mut [u8]| -> Result<(), ContentError> {
        plain.extend_from_slice(piece);
        Ok(())
    })
    .map_err(UploadError::Content)?;
    plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|_| UploadError::Invalid("the interaction's transcript was not written by this API".into()))
        })
        .collect()
}

/// Appends `line` to `lines`, scanning it with the end of the ones before when `redact`.
fn add(lines: &mut Vec<Line>, mut line: Line, redact: bool) -> Outcome {
    line.seq = lines.last().map_or(1, |l| l.seq + 1);
    let seq = line.seq;
    lines.push(line);
    if !redact {
        return Outcome { seq, ..Outcome::default() };
    }
    let (redactions, earlier_masked) = scan_tail(lines);
    Outcome { seq, redactions: u32::try_from(redactions).unwrap_or(u32::MAX), earlier_masked }
}

/// Reads the last message with the end of the ones before it ([`pan::conversation`]) and writes
/// the masked texts back. Returns the PANs masked and whether an earlier message changed.
fn scan_tail(lines: &mut [Line]) -> (usize, bool) {
    // The window reaches back at most one message per byte of it.
    let from = lines.len().saturating_sub(pan::conversation::TAIL + 1);
    let recent = &mut lines[from..];
    let mut texts: Vec<Vec<u8>> = recent.iter_mut().map(|l| std::mem::take(&mut l.text).into_bytes()).collect();
    let outcome = pan::conversation::redact_conversation(&mut texts);
    for (line, text) in recent.iter_mut().zip(texts) {
        // Masking only turns ASCII digits into `*`: the text stays UTF-8.
        line.text = String::from_utf8(text).unwrap_or_default();
    }
    outcome
}

/// The transcript's row (inserted, or switched from `old_blob`) and its audit entry, in one
/// transaction.
async fn commit(
    state: &Services,
    ctx: &Ctx,
    permit: &crate::caller::Permit,
    (object, inline): (&StoredObject, Option<&[u8]>),
    old_blob: Option<&str>,
    interaction: InteractionId,
    outcome: &Outcome,
) -> Result<(), CommitError> {
    permit.covers(Action::Create, Resource::Interaction, object.tenant_id)?;
    let mut tx = state.store.begin().await?;
    // Held until the commit: an erasure closing the interaction waits for this append, or closed
    // it before and the append is refused (the transcript is not written again).
    let own = interaction.to_string();
    let digests: Vec<String> = [object.interaction.as_deref(), Some(own.as_str())]
        .into_iter()
        .flatten()
        .map(|r| crate::retention::reference_digest(state, r))
        .collect();
    let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
    if let Held::Closed { at, reason } = tx.hold_interaction(object.tenant_id, interaction, &digests).await? {
        return Err(Failed(UploadError::Erased { at, reason }));
    }
    match old_blob {
        Some(old) => match tx.replace_object_content(old, object, inline).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(Lost),
            Err(e) => return Err(e.into()),
        },
        None => {
            match tx.insert_objects(&[(object, inline)]).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Err(Lost),
                Err(e) => return Err(e.into()),
            }
            if let Some(reference) = &object.interaction {
                tx.give_interaction_reference(object.tenant_id, interaction, reference).await?;
            }
        }
    }
    let event =
        ctx.event("object.append").target("object", object.id).origin(ctx.origin(state)).details(serde_json::json!({
            "interaction": interaction,
            "seq": outcome.seq,
            "size": object.size,
            "redactions": outcome.redactions,
            "earlier_masked": outcome.earlier_masked,
            "key_version": object.key_version,
        }));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests;
