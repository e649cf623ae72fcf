//! Reading stored content: listing what the caller may see, an object's metadata, playing or
//! downloading it (a byte range: only the segments the range touches are decrypted, the first
//! one authenticated before anything is answered), verifying objects, and bulk export as a tar
//! archive with a manifest. Every read is audited; every failure of the content is reported to
//! the security officers.
//!
//! Access to an object: personal recordings through their agents and the agents' teams,
//! quality-management recordings through their service ([`super::access`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use callvault_crypto::digest::Sha256Stream;
use callvault_crypto::envelope::DataKey;
use callvault_model::ObjectId;
use callvault_model::access::{Action, Resource};
use callvault_model::vault::StoredObject;
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{ObjectQuery, StoreError};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::integrity::{self, IntegrityFailure, VerifyReport};
use super::{ContentError, KeyError, read_plain};
use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx};
use crate::services::Services;

/// The largest page of a listing.
pub const MAX_PAGE: i64 = 500;
/// The most objects in one export.
pub const MAX_EXPORT: usize = 1000;

/// Why content was not listed, read, verified or exported.
#[derive(Debug, thiserror::Error)]
pub enum ContentReadError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A parameter is out of range.
    #[error("{0}")]
    Invalid(&'static str),
    /// The requested byte range lies outside the object.
    #[error("the requested range lies outside the object ({size} bytes)")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// No such object in the tenant.
    #[error("no such object")]
    NoSuchObject,
    /// The object was erased (its retention ended, or on request); only its tombstone is left.
    #[error("the object was erased ({reason}) at {at}; its content no longer exists")]
    Erased {
        /// When.
        at: callvault_model::records::Timestamp,
        /// Why: `retention`, or the erasure request.
        reason: String,
    },
    /// The content's key is not available.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The stored content failed its check (reported).
    #[error("{}", .0.reason)]
    Integrity(IntegrityFailure),
    /// The read could not be audited.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Encoding the manifest failed.
    #[error("{0}")]
    Internal(String),
}

/// Filters of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this class.
    pub class: Option<callvault_model::vault::ContentClass>,
    /// Only this interaction.
    pub interaction: Option<String>,
    /// Ids after this one (paging).
    pub after: Option<ObjectId>,
    /// Page size (1..=500, default 100).
    pub limit: Option<i64>,
}

/// A page of objects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectPage {
    /// Objects the caller may see.
    pub items: Vec<StoredObject>,
    /// Pass as `after` for the next page.
    pub next: Option<ObjectId>,
}

/// A stream of plaintext pieces; an error aborts it (the reader sees a broken transfer, never a
/// short "complete" body).
pub type Pieces = Pin<Box<dyn Stream<Item = Result<Vec<u8>, std::io::Error>> + Send>>;

/// Content being read: the object, the range `[start, end)`, and the plaintext.
pub struct Content {
    /// The object.
    pub object: StoredObject,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Whether a range was asked for.
    pub partial: bool,
    /// The plaintext of the range.
    pub body: Pieces,
}

/// Parses a single `bytes=` range (RFC 9110 14.1.2) against an object of `size` bytes:
/// `[start, end)`. A unit other than bytes, several ranges (multipart answers are not offered)
/// or an invalid range (not numbers, or its last byte before its first) asks for the whole
/// content: RFC 9110 14.2 has a server ignore a Range it cannot use. A valid range past the end
/// is not satisfiable (416).
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ContentReadError> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    let (start, end) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 {
                return Err(ContentReadError::RangeNotSatisfiable { size });
            }
            (size.saturating_sub(n), size)
        }
        (false, true) => match num(a) {
            Some(s) => (s, size),
            None => return Ok(None),
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if e >= s => (s, e.saturating_add(1).min(size)),
            _ => return Ok(None),
        },
    };
    if start >= size || start >= end {
        return Err(ContentReadError::RangeNotSatisfiable { size });
    }
    Ok(Some((start, end)))
}

pub use super::access::{AgentTeams, authorize_object, decide_object};

async fn may_read_some(state: &Services, ctx: &Ctx) -> Result<callvault_model::TenantId, ContentReadError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, Resource::Interaction) {
        ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::Interaction, tenant)).await?;
    }
    Ok(tenant)
}

async fn load(state: &Services, ctx: &Ctx, id: ObjectId) -> Result<StoredObject, ContentReadError> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    match r.object(tenant, id).await {
        Ok(o) => Ok(o),
        Err(StoreError::NotFound) => match r.tombstone(tenant, "object", &id.to_string()).await? {
            Some((at, reason)) => Err(ContentReadError::Erased { at, reason }),
            None => Err(ContentReadError::NoSuchObject),
        },
        Err(e) => Err(e.into()),
    }
}

/// Objects the caller may see, a page at a time.
pub async fn list(state: &Services, ctx: &Ctx, p: ListParams) -> Result<ObjectPage, ContentReadError> {
    let tenant = may_read_some(state, ctx).await?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ContentReadError::Invalid("limit: 1..=500"));
    }
    // An id in another spelling lists what was stored under the id.
    let interaction = p.interaction.map(|i| uuid::Uuid::try_parse(&i).map_or(i, |id| id.hyphenated().to_string()));
    let query = ObjectQuery { class: p.class, interaction, after: p.after, limit };
    let mut r = state.store.reader().await?;
    let page = r.objects(tenant, &query).await?;
    let teams = AgentTeams::of(&mut r, tenant, &page).await?;
    drop(r);
    let next = (page.len() as i64 == limit).then(|| page.last().map(|o| o.id)).flatten();
    let items = page.into_iter().filter(|o| decide_object(ctx, Action::Read, o, &teams).0.is_allowed()).collect();
    Ok(ObjectPage { items, next })
}

/// One object's metadata.
pub async fn get(state: &Services, ctx: &Ctx, id: ObjectId) -> Result<StoredObject, ContentReadError> {
    let o = load(state, ctx, id).await?;
    authorize_object(state, ctx, Action::Read, &o).await?;
    Ok(o)
}

/// Plays (`download` false: `interaction:listen`) or downloads (`interaction:export`) an
/// object's content, the byte range `range` (an HTTP `Range` value) or all of it. The read is
/// audited before the first byte; a first segment that fails its check is an error here (and
/// reported), a later one aborts the stream (and is reported).
pub async fn read(
    state: &Services,
    ctx: &Ctx,
    id: ObjectId,
    download: bool,
    range: Option<&str>,
) -> Result<Content, ContentReadError> {
    let o = load(state, ctx, id).await?;
    let action = if download { Action::Export } else { Action::Listen };
    authorize_object(state, ctx, action, &o).await?;
    let range = match range {
        Some(v) => parse_range(v, o.size)?,
        None => None,
    };
    let (start, end) = range.unwrap_or((0, o.size));
    let event = ctx
        .event(if download { "object.export" } else { "object.read" })
        .target("object", o.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "class": o.class, "range": [start, end], "decrypted": o.key_version.is_some() }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    // The first segment of the range is authenticated before anything is answered: a damaged
    // start is an integrity error, never a success with a cut-off body. A blob that vanished
    // because a key job switched the object to a new blob is read again from the new one.
    let mut o = o;
    let mut attempts = 0;
    let (first, rx) = loop {
        attempts += 1;
        let (first, rx) = start_reading(state, &o, start, end).await?;
        match first {
            Some(Err(e)) => match vanished(state, ctx, &o, &e).await {
                Some(Vanished::Gone(why)) => return Err(why),
                Some(Vanished::Moved(now)) if attempts < 3 => o = *now,
                _ => {
                    return Err(ContentReadError::Integrity(
                        integrity::report(state, Some(ctx), &o, (start, end), &e).await,
                    ));
                }
            },
            Some(Ok(bytes)) => break (Some(bytes), rx),
            None => break (None, rx),
        }
    };
    let (alert_state, alert_ctx, alert_object) = (state.clone(), ctx.clone(), o.clone());
    let rest = futures_util::stream::unfold(Some((rx, alert_state, alert_ctx, alert_object)), move |st| async move {
        let (mut rx, state, ctx, o) = st?;
        match rx.recv().await? {
            Ok(bytes) => Some((Ok(bytes), Some((rx, state, ctx, o)))),
            Err(e) => {
                // Erased or switched meanwhile: the stream ends without an alarm (a client
                // resumes with a range request); anything else is damage.
                if vanished(&state, &ctx, &o, &e).await.is_none() {
                    let _ = integrity::report(&state, Some(&ctx), &o, (start, end), &e).await;
                }
                Some((Err(std::io::Error::other("content failed its integrity check")), None))
            }
        }
    });
    let body = Box::pin(futures_util::stream::iter(first.map(Ok)).chain(rest));
    Ok(Content { object: o, start, end, partial: range.is_some(), body })
}

type PieceChannel = tokio::sync::mpsc::Receiver<Result<Vec<u8>, ContentError>>;

/// Starts reading `[start, end)` of an object on a blocking thread; returns the first piece (or
/// the error that came instead, or `None` for an empty range) and the channel of the rest.
async fn start_reading(
    state: &Services,
    o: &StoredObject,
    start: u64,
    end: u64,
) -> Result<(Option<Result<Vec<u8>, ContentError>>, PieceChannel), ContentReadError> {
    let dk = match o.key_version {
        Some(v) => Some(state.vault.data_key(&mut state.store.reader().await?, o.tenant_id, v).await?),
        None => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, ContentError>>(4);
    let vault = state.vault.clone();
    let object = o.clone();
    tokio::task::spawn_blocking(move || {
        let mut client_gone = false;
        let result = read_plain(&vault.blobs, &object, dk.as_deref(), start, end, &mut |piece: &mut [u8]| {
            tx.blocking_send(Ok(piece.to_vec())).map_err(|_| {
                client_gone = true;
                ContentError::Io(std::io::Error::other("client went away"))
            })
        });
        if let Err(e) = result
            && !client_gone
        {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok((rx.recv().await, rx))
}

/// Why a blob could not be found although its row had named it.
enum Vanished {
    /// The object was erased meanwhile: the caller gets what a fresh read gets (410 or 404).
    Gone(ContentReadError),
    /// A key job switched the object to a new blob meanwhile.
    Moved(Box<StoredObject>),
}

/// Tells a blob that vanished under a reader (not damage) from one that is missing.
async fn vanished(state: &Services, ctx: &Ctx, o: &StoredObject, e: &ContentError) -> Option<Vanished> {
    let ContentError::Io(io) = e else { return None };
    if io.kind() != std::io::ErrorKind::NotFound {
        return None;
    }
    match load(state, ctx, o.id).await {
        Err(gone @ (ContentReadError::Erased { .. } | ContentReadError::NoSuchObject)) => Some(Vanished::Gone(gone)),
        Ok(now) if now.blob != o.blob => Some(Vanished::Moved(Box::new(now))),
        _ => None,
    }
}

async fn audit_verify(state: &Services, ctx: &Ctx, report: &VerifyReport) -> Result<(), ContentReadError> {
    let event = ctx
        .event("object.verify")
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "checked": report.checked, "damaged": report.damaged.len() }));
    Ok(state.auditor.record_now(state.clock.now(), &event).await?)
}

/// Authenticates every segment of one object and its plaintext digest; a failure is reported
/// to the security officers and listed.
pub async fn verify_one(state: &Services, ctx: &Ctx, id: ObjectId) -> Result<VerifyReport, ContentReadError> {
    let o = load(state, ctx, id).await?;
    authorize_object(state, ctx, Action::Read, &o).await?;
    let mut report = VerifyReport { checked: 1, damaged: Vec::new() };
    if let Err(e) = integrity::verify(state, &o).await {
        let reason = integrity::reason(&e).to_owned();
        let _ = integrity::report(state, Some(ctx), &o, (0, o.size), &e).await;
        report.damaged.push(integrity::Damaged { id: o.id, reason });
    }
    audit_verify(state, ctx, &report).await?;
    Ok(report)
}

/// Authenticates every object the caller may read; damaged ones are listed and reported.
pub async fn verify_all(state: &Services, ctx: &Ctx) -> Result<VerifyReport, ContentReadError> {
    let tenant = may_read_some(state, ctx).await?;
    let teams = AgentTeams::whole_tenant(&mut state.store.reader().await?, tenant).await?;
    let report = integrity::verify_tenant(state, Some(ctx), tenant, |o| {
        decide_object(ctx, Action::Read, o, &teams).0.is_allowed()
    })
    .await?;
    audit_verify(state, ctx, &report).await?;
    Ok(report)
}

/// One tar header (ustar; sizes of 8 GiB and more in base-256).
pub fn tar_header(name: &str, size: u64, mtime_secs: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000600\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 8 * 1024 * 1024 * 1024 {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(format!("{:011o}\0", mtime_secs.min(0o77777777777)).as_bytes());
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..273].copy_from_slice(b"callvault"[..8].as_ref());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn extension(o: &StoredObject) -> &'static str {
    let ct = o.content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "message/rfc822" => "eml",
        "application/json" => "json",
        "application/pdf" => "pdf",
        t if t.starts_with("text/") => "txt",
        _ => "bin",
    }
}

/// Exports objects as a tar archive, decrypted, built as it streams: `manifest.json` (every
/// object's id, class, size and SHA-256) first, then each object's content, each checked
/// against its SHA-256. Every object needs `interaction:export`; the export is audited with the
/// ids before it starts.
pub async fn export(state: &Services, ctx: &Ctx, ids: &[ObjectId]) -> Result<Pieces, ContentReadError> {
    let tenant = ctx.tenant()?;
    if ids.is_empty() || ids.len() > MAX_EXPORT {
        return Err(ContentReadError::Invalid("ids: 1..=1000 object ids"));
    }
    let mut objects = Vec::with_capacity(ids.len());
    for id in ids {
        objects.push(load(state, ctx, *id).await?);
    }
    for o in &objects {
        authorize_object(state, ctx, Action::Export, o).await?;
    }
    let mut keys: HashMap<u32, Arc<DataKey>> = HashMap::new();
    {
        let mut r = state.store.reader().await?;
        for v in objects.iter().filter_map(|o| o.key_version) {
            if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(v) {
                e.insert(state.vault.data_key(&mut r, tenant, v).await?);
            }
        }
    }
    let event = ctx.event("object.export_bulk").origin(ctx.origin(state)).details(serde_json::json!({
        "objects": objects.iter().map(|o| o.id).collect::<Vec<_>>(),
        "bytes": objects.iter().map(|o| o.size).sum::<u64>(),
    }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "exported_at": state.clock.now(),
        "objects": objects.iter().map(|o| serde_json::json!({
            "id": o.id, "file": file_name(o), "class": o.class, "size": o.size,
            "sha256": o.sha256, "content_type": o.content_type, "interaction": o.interaction,
            "recorded_at": o.recorded_at, "consent": o.consent,
        })).collect::<Vec<_>>(),
    }))
    .map_err(|e| ContentReadError::Internal(e.to_string()))?;
    let mtime = u64::try_from(state.clock.now().millis() / 1000).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let vault = state.vault.clone();
    tokio::task::spawn_blocking(move || {
        let mut send = |b: Vec<u8>| {
            tx.blocking_send(Ok(b)).map_err(|_| ContentError::Io(std::io::Error::other("client went away")))
        };
        let files = [("manifest.json".to_owned(), manifest)];
        if let Err(e) = write_tar(&vault, &files, &objects, &keys, mtime, &mut send) {
            tracing::error!(error = %e, "export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other("export stopped")));
        }
    });
    Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })))
}

/// The name of an object's file in an archive.
pub fn file_name(o: &StoredObject) -> String {
    format!("{}.{}", o.id, extension(o))
}

/// Writes a tar archive (blocking): `files` first, then each object's content decrypted, each
/// checked against its SHA-256 as it streams.
pub(crate) fn write_tar(
    vault: &super::Vault,
    files: &[(String, Vec<u8>)],
    objects: &[StoredObject],
    keys: &HashMap<u32, Arc<DataKey>>,
    mtime: u64,
    send: &mut dyn FnMut(Vec<u8>) -> Result<(), ContentError>,
) -> Result<(), ContentError> {
    let pad = |n: u64| vec![0u8; ((512 - n % 512) % 512) as usize];
    for (name, bytes) in files {
        send(tar_header(name, bytes.len() as u64, mtime).to_vec())?;
        send(bytes.clone())?;
        send(pad(bytes.len() as u64))?;
    }
    for o in objects {
        send(tar_header(&file_name(o), o.size, mtime).to_vec())?;
        let dk = o.key_version.and_then(|v| keys.get(&v)).map(|k| k.as_ref());
        let mut sha = Sha256Stream::default();
        read_plain(&vault.blobs, o, dk, 0, o.size, &mut |piece: &mut [u8]| {
            sha.update(piece);
            send(piece.to_vec())
        })?;
        if sha.finish_hex() != o.sha256 {
            return Err(ContentError::Integrity(format!("object {} does not match its SHA-256", o.id)));
        }
        send(pad(o.size))?;
    }
    send(vec![0u8; 1024])
}

#[cfg(test)]
mod tests {
    use super::{ContentReadError, parse_range, tar_header};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some((95, 100)));
        assert!(matches!(parse_range("bytes=100-", 100), Err(ContentReadError::RangeNotSatisfiable { size: 100 })));
        assert!(matches!(parse_range("bytes=-0", 100), Err(ContentReadError::RangeNotSatisfiable { .. })));
        assert_eq!(parse_range("bytes=5-1", 100).ok(), Some(None), "last before first: ignored");
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None, "an unknown unit is ignored");
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None, "several ranges: the whole content");
        assert_eq!(parse_range("bytes=x-1", 100).ok(), Some(None), "not numbers: ignored");
        assert_eq!(parse_range("bytes=-", 100).ok(), Some(None));
    }

    #[test]
    fn tar_header_checksum_and_sizes() {
        let h = tar_header("a.txt", 5, 0);
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&h[124..136], b"00000000005\0");
        let big = tar_header("b", 9 * 1024 * 1024 * 1024, 0);
        assert_eq!(big[124], 0x80);
        assert_eq!(u64::from_be_bytes(big[128..136].try_into().unwrap()), 9 * 1024 * 1024 * 1024);
    }
}
