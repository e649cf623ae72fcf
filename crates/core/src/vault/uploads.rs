//! Storing content as it arrives: the caller's right to create content for the service, the
//! metadata checked against the tenant (agents and service must be its own), the body sealed
//! segment by segment and written as it comes, the expected SHA-256 compared, and the object's
//! row committed with its audit entry — or, on any failure, the blob removed and nothing stored.
//! Text content passes the card-number scanner on its way ([`super::redaction`]).
//!
//! A slow client holds a connection, never a thread: frames are gathered on the async side and
//! whole 64 KiB segments go to a blocking thread in batches of up to [`BATCH`] segments (as many
//! as have already arrived), are sealed where they lie and written with one vectored write, and
//! the thread is released. The blob is opened with the first whole segment; while the client is
//! silent the upload holds only what it sent since its last whole segment — no file, no thread.

use callvault_crypto::stream::SEGMENT_SIZE;
use callvault_model::access::{Action, Resource};
use callvault_model::personal::Consent;
use callvault_model::recording::RecordingKind;
use callvault_model::records::Timestamp;
use callvault_model::vault::{ContentClass, StoredObject};
use callvault_model::{ObjectId, ServiceId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::StoreError;
use callvault_store::prelude::*;
use futures_util::{Stream, StreamExt};

use std::sync::{Arc, OnceLock};

use super::admission::TenantFacts;
use super::group::{self, Staged};
use super::redaction::{self, Scanned};
use super::{BlobWriter, ContentError, KeyError, WrittenBlob};
use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

/// Whole segments sealed and written per blocking call at most.
pub const BATCH: usize = 8;

/// Agents named on one object at most.
pub const MAX_AGENTS: usize = 32;

/// What an upload declares about its content.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Content class.
    pub class: ContentClass,
    /// Interaction id in the contact center's own numbering.
    pub interaction: Option<String>,
    /// Service or campaign.
    pub service: Option<ServiceId>,
    /// Agents on the interaction.
    pub agents: Vec<UserId>,
    /// Reference to the customer contact (a CRM id).
    pub contact_ref: Option<String>,
    /// When it was recorded; now when absent.
    pub recorded_at: Option<Timestamp>,
    /// The customer's answer when asked to consent to recording.
    pub consent: Consent,
    /// Personal (the agents') or quality management (the service's); by default personal when
    /// agents are named, quality management otherwise.
    pub recording: Option<RecordingKind>,
    /// The media type stored and served back.
    pub content_type: String,
    /// Plaintext size in bytes, declared before the body.
    pub size: u64,
    /// Expected SHA-256 of the content (hex): the upload is refused when it differs.
    pub sha256: Option<String>,
}

/// Why content was not stored (in every case nothing of it remains).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The caller may not create content (for this service).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A declared value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The declared size is above `max_object_bytes`.
    #[error("the object is larger than {0} bytes (max_object_bytes)")]
    TooLarge(u64),
    /// The body ended early, broke off or did not match its declared size.
    #[error("{0}; nothing was stored")]
    Incomplete(String),
    /// The content's SHA-256 is not the one declared.
    #[error("the content's SHA-256 differs from the declared sha256; nothing was stored")]
    ShaMismatch,
    /// The tenant's sealing key could not be had.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing the blob failed.
    #[error(transparent)]
    Content(ContentError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The interaction the content belongs to was erased: nothing may be stored under it.
    #[error("the interaction was erased ({reason}) at {at}; nothing was stored")]
    Erased {
        /// When.
        at: callvault_model::records::Timestamp,
        /// Why (`erasure`).
        reason: String,
    },
    /// Other writers kept changing what was to be changed (try again).
    #[error("{0}")]
    Busy(String),
    /// What the upload was admitted on (from memory, [`super::admission`], or from the store)
    /// changed before its commit: nothing was stored; content kept in memory is admitted again
    /// from the store, a streamed body is to be sent again.
    #[error("the caller's access or the tenant's settings changed during the upload; nothing was stored")]
    Stale,
    /// A blocking step failed to run.
    #[error("{0}")]
    Internal(String),
}

/// The caller may upload content for one service (or none), and the tenant collects it: the
/// answer of [`admit`], which [`upload`] needs.
#[derive(Debug)]
pub struct Admitted {
    permit: Permit,
    service: Option<ServiceId>,
    /// The tenant generation the admission's reads are not older than: the commit refuses the
    /// upload when the generation moved on since ([`super::group`]).
    stamp: Option<i64>,
    /// The tenant's facts, when the admission came from memory.
    facts: Option<Arc<TenantFacts>>,
}

/// Whether the caller may upload content for `service` (or none), asked before the request
/// is read: a caller who may not upload learns nothing more (the denial is audited). The
/// tenant's generation is read before the collection switch and the settings the upload reads,
/// so that a switch-off or a new key committed before the upload's commit refuses it
/// ([`UploadError::Stale`]) rather than let it be stored behind a purge.
pub async fn admit(state: &Services, ctx: &Ctx, service: Option<ServiceId>) -> Result<Admitted, UploadError> {
    let tenant = ctx.tenant()?;
    let resource =
        ResourceRef { services: service.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) };
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    let stamp = state.store.reader().await?.tenant_generation(tenant).await?;
    recordings_collected(state, tenant).await?;
    Ok(Admitted { permit, service, stamp: Some(stamp.unwrap_or(i64::MIN)), facts: None })
}

/// The caller of `token` admitted to upload small content for `service` (or none) from what
/// this node remembers ([`super::admission`]), stamped for the commit: `None` when anything is
/// not simply allowed, and then the request goes the way of [`admit`] (which reads everything,
/// audits a denial and says why). Content admitted so is to be [`upload`]ed from memory and
/// sent again through [`admit`] when the upload answers [`UploadError::Stale`].
pub async fn admit_cached(
    state: &Services,
    token: Option<&str>,
    request_id: Option<String>,
    ip: Option<std::net::IpAddr>,
    service: Option<ServiceId>,
) -> Option<(Ctx, Admitted)> {
    let (ctx, caller_generation) = state.vault.admissions.caller(state, token, request_id, ip).await?;
    if ctx.purpose != crate::caller::SessionPurpose::Full {
        return None;
    }
    let tenant = ctx.tenant?;
    let resource =
        ResourceRef { services: service.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) };
    let permit = ctx.allowed(Action::Create, &resource)?;
    let facts = state.vault.admissions.tenant(state, tenant).await?;
    if !facts.collects(callvault_model::personal::Category::Recordings) {
        return None;
    }
    let stamp = caller_generation.min(facts.generation());
    Some((ctx, Admitted { permit, service, stamp: Some(stamp), facts: Some(facts) }))
}

/// Refuses content while the tenant has switched the collection of recordings off.
async fn recordings_collected(state: &Services, tenant: callvault_model::TenantId) -> Result<(), UploadError> {
    if crate::collection::collected(state, tenant, None, callvault_model::personal::Category::Recordings).await? {
        Ok(())
    } else {
        Err(UploadError::Invalid(
            "the tenant does not collect recordings (GET /v1/personal-data/collection); nothing was stored".into(),
        ))
    }
}

/// Stores content for `ctx`, [`admit`]ted for `meta.service`, from `body`, a stream of byte
/// frames.
pub async fn upload<B, E>(
    state: &Services,
    ctx: &Ctx,
    admitted: Admitted,
    meta: NewUpload,
    body: impl Stream<Item = Result<B, E>> + Unpin,
) -> Result<StoredObject, UploadError>
where
    B: AsRef<[u8]>,
{
    let tenant = ctx.tenant()?;
    if admitted.service != meta.service {
        return Err(UploadError::Invalid("service: not the one the upload was admitted for".into()));
    }
    let Admitted { permit, stamp, facts, .. } = admitted;
    let (mut object, expected_sha) = draft(state, &permit, meta)?;
    let (dk, redact) = match &facts {
        Some(facts) => {
            for agent in &object.agents {
                if !facts.has_user(state, tenant, *agent).await? {
                    return Err(not_a_user());
                }
            }
            if let Some(service) = object.service_id
                && !facts.has_service(state, tenant, service).await?
            {
                return Err(no_such_service());
            }
            (facts.sealing_key(), redaction::is_text(&object) && facts.redacts_card_numbers())
        }
        None => {
            let mut r = state.store.reader().await?;
            let redact = redaction::is_text(&object) && r.tenant(tenant).await?.settings.redact_card_numbers;
            // The agents and the service must exist in this tenant: an id from another tenant
            // or an unknown one would give the object owners (and listeners) it does not have.
            for agent in &object.agents {
                r.user(tenant, *agent).await.map_err(|_| not_a_user())?;
            }
            if let Some(service) = object.service_id {
                r.service(tenant, service).await.map_err(|_| no_such_service())?;
            }
            (state.vault.sealing_key(&mut r, tenant).await?, redact)
        }
    };
    object.key_version = dk.as_ref().map(|d| d.version());
    // Small content is kept in its row and committed with the uploads of the moment.
    let grouped = object.size <= state.config.small_object_max_bytes;
    if facts.is_some() && !grouped {
        // Only small content is admitted from memory; this is to be admitted from the store.
        return Err(UploadError::Stale);
    }
    let open = {
        let (vault, meta, dk) = (state.vault.clone(), object.clone(), dk.clone());
        move || {
            if grouped {
                BlobWriter::start_inline(&vault.blobs, &meta, dk.as_deref())
            } else {
                BlobWriter::start(&vault.blobs, &meta, dk.as_deref())
            }
        }
    };
    let scanned = Arc::new(OnceLock::new());
    let body = redaction::scan(body, redact.then(|| redaction::Scanner::for_object(&object)), scanned.clone());
    let WrittenBlob { name: blob, wrapped_key, sha256, header, inline } = match write_body(open, body, grouped).await? {
        Ok(w) => w,
        Err(ContentError::Integrity(msg)) => return Err(UploadError::Incomplete(msg)),
        Err(e) => return Err(UploadError::Content(e)),
    };
    // The client's digest is of what it sent; the object's of what is stored (masked text).
    let received = match scanned.get() {
        Some(Scanned { refused: Some(why), .. }) => {
            remove_blob(state, tenant, blob).await;
            return Err(UploadError::Invalid(format!(
                "the e-mail cannot be stored with its card numbers masked: {why}; nothing was stored"
            )));
        }
        Some(s) => {
            object.redactions = s.redactions;
            s.received_sha256.clone()
        }
        None => sha256.clone(),
    };
    if expected_sha.is_some_and(|e| e != received) {
        remove_blob(state, tenant, blob).await;
        return Err(UploadError::ShaMismatch);
    }
    object.sha256 = sha256;
    object.blob = blob.clone();
    object.wrapped_key = wrapped_key;
    object.header = header;
    permit.covers(Action::Create, Resource::Interaction, object.tenant_id)?;
    let created =
        ctx.event("object.create").target("object", object.id).origin(ctx.origin(state)).details(
            serde_json::json!({ "class": object.class, "size": object.size, "key_version": object.key_version }),
        );
    let adopted = ctx.event("interaction.create").origin(ctx.origin(state));
    let mut staged = Staged { object, inline, created, adopted, stamp };
    let stored = if grouped {
        state.vault.groups.commit(state, staged).await
    } else {
        group::commit_one(state, &mut staged).await.map(|()| staged.object)
    };
    match stored {
        Ok(object) => {
            state.metrics.objects_stored.inc();
            Ok(object)
        }
        Err(e) => {
            if let (UploadError::Stale, Some(stamp)) = (&e, stamp) {
                state.vault.admissions.forget(tenant, stamp.saturating_add(1));
            }
            remove_blob(state, tenant, blob).await;
            Err(e)
        }
    }
}

fn not_a_user() -> UploadError {
    UploadError::Invalid("agents: every agent must be a user of this tenant".into())
}

fn no_such_service() -> UploadError {
    UploadError::Invalid("service: no such service in this tenant".into())
}

/// How far ahead of the server's clock `recorded_at` may be (a recorder's clock or zone off).
const RECORDED_AHEAD_MS: i64 = 86_400_000;

/// 1990-01-01T00:00:00Z: no recording stored here is older.
const EARLIEST_RECORDING_MS: i64 = 631_152_000_000;

/// The object's row as declared, before its content is written, and the SHA-256 expected.
fn draft(state: &Services, permit: &Permit, meta: NewUpload) -> Result<(StoredObject, Option<String>), UploadError> {
    if meta.size > state.config.max_object_bytes {
        return Err(UploadError::TooLarge(state.config.max_object_bytes));
    }
    if meta.agents.len() > MAX_AGENTS {
        return Err(UploadError::Invalid(format!("agents: at most {MAX_AGENTS}")));
    }
    if meta.agents.iter().enumerate().any(|(i, a)| meta.agents[..i].contains(a)) {
        return Err(UploadError::Invalid("agents: an agent is named twice".into()));
    }
    let now = state.clock.now();
    if let Some(at) = meta.recorded_at {
        // Retention counts from it: a date ahead would keep content past its retention.
        if at.millis() > now.millis().saturating_add(RECORDED_AHEAD_MS) {
            return Err(UploadError::Invalid(
                "recorded_at: more than a day ahead of the server's clock; give when it was recorded".into(),
            ));
        }
        if at.millis() < EARLIEST_RECORDING_MS {
            return Err(UploadError::Invalid("recorded_at: before 1990-01-01".into()));
        }
    }
    let sha256 = match meta.sha256 {
        Some(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => Some(s.to_ascii_lowercase()),
        Some(_) => return Err(UploadError::Invalid("sha256: 64 hex digits".into())),
        None => None,
    };
    let recording = match (meta.recording, meta.agents.is_empty()) {
        (Some(RecordingKind::Personal), true) => {
            return Err(UploadError::Invalid(
                "recording: a personal recording belongs to its agents; name them (agents=…) or store it as \
                 quality_management"
                    .into(),
            ));
        }
        (Some(RecordingKind::QualityManagement), _) if meta.service.is_none() => {
            return Err(UploadError::Invalid(
                "recording: a quality-management recording belongs to its service; name it (service=…)".into(),
            ));
        }
        (Some(kind), _) => kind,
        (None, false) => RecordingKind::Personal,
        (None, true) => RecordingKind::QualityManagement,
    };
    let object = StoredObject {
        id: ObjectId::new(),
        tenant_id: permit.tenant(),
        class: meta.class,
        interaction: short_text("interaction", meta.interaction, 256)?,
        service_id: meta.service,
        agents: meta.agents,
        contact_ref: short_text("contact_ref", meta.contact_ref, 128)?,
        recorded_at: meta.recorded_at.unwrap_or(now),
        consent: meta.consent,
        recording,
        paused: Vec::new(),
        content_type: meta.content_type,
        size: meta.size,
        sha256: String::new(),
        redactions: 0,
        key_version: None,
        created_at: now,
        blob: String::new(),
        wrapped_key: None,
        header: Vec::new(),
    };
    Ok((object, sha256))
}

/// A reference given by the contact center ([`crate::input::reference`]).
fn short_text(name: &str, v: Option<String>, max: usize) -> Result<Option<String>, UploadError> {
    v.map(|s| crate::input::reference(name, &s, max).map_err(|e| UploadError::Invalid(e.to_string()))).transpose()
}

/// Runs a short blocking step (sealing and writing segments, a file sync) off the async threads,
/// or here when it only seals small content in memory.
async fn run<T: Send + 'static>(here: bool, f: impl FnOnce() -> T + Send + 'static) -> Result<T, UploadError> {
    if here {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f).await.map_err(|e| UploadError::Internal(e.to_string()))
}

/// Writes the body into a new blob opened by `open` with the first whole segment: durable when
/// this returns, or sealed in memory for its row ([`BlobWriter::start_inline`]; `in_memory`:
/// small content, sealed where it is rather than on a blocking thread).
async fn write_body<B: AsRef<[u8]>, E>(
    open: impl FnOnce() -> Result<BlobWriter, ContentError> + Send + 'static,
    mut stream: impl Stream<Item = Result<B, E>> + Unpin,
    in_memory: bool,
) -> Result<Result<WrittenBlob, ContentError>, UploadError> {
    let interrupted = || ContentError::Integrity("the upload was interrupted".into());
    let mut open = Some(open);
    let mut writer: Option<BlobWriter> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut failure = None;
    let mut ended = false;
    while !ended {
        // Wait for one frame, then take every frame that is already there, up to a batch.
        match stream.next().await {
            Some(Ok(bytes)) => pending.extend_from_slice(bytes.as_ref()),
            Some(Err(_)) => {
                failure = Some(interrupted());
                break;
            }
            None => ended = true,
        }
        while !ended && pending.len() < BATCH * SEGMENT_SIZE {
            match futures_util::FutureExt::now_or_never(stream.next()) {
                Some(Some(Ok(bytes))) => pending.extend_from_slice(bytes.as_ref()),
                Some(Some(Err(_))) => {
                    failure = Some(interrupted());
                    break;
                }
                Some(None) => ended = true,
                None => break,
            }
        }
        if failure.is_some() {
            break;
        }
        let whole = pending.len() - pending.len() % SEGMENT_SIZE;
        if whole == 0 || ended {
            continue;
        }
        let rest = pending.split_off(whole);
        let (current, start) = (writer.take(), open.take());
        let (w, written) = run(in_memory, move || {
            let mut batch = pending;
            let mut w = match (current, start) {
                (Some(w), _) => w,
                (None, Some(start)) => match start() {
                    Ok(w) => w,
                    Err(e) => return (None, Err(e)),
                },
                (None, None) => return (None, Err(ContentError::Integrity("the blob could not be opened".into()))),
            };
            let r = w.write_segments(&mut batch);
            (Some(w), r)
        })
        .await?;
        writer = w;
        pending = rest;
        if let Err(e) = written {
            failure = Some(e);
            break;
        }
    }
    let mut segment = pending;
    match failure {
        Some(e) => {
            if let Some(w) = writer {
                run(in_memory, move || w.abort()).await?;
            }
            Ok(Err(e))
        }
        None => {
            run(in_memory, move || {
                let mut w = match (writer, open) {
                    (Some(w), _) => w,
                    (None, Some(start)) => start()?,
                    (None, None) => return Err(ContentError::Integrity("the blob could not be opened".into())),
                };
                if !segment.is_empty() {
                    w.write(&mut segment)?;
                }
                w.finish()
            })
            .await
        }
    }
}

/// Removes a blob that no row will name (compensation of a failed write; best effort, the
/// orphan sweep removes what this misses).
pub(super) async fn remove_blob(state: &Services, tenant: callvault_model::TenantId, name: String) {
    let _ = state.vault.blobs.delete(tenant, &name).await;
}
