//! Encryption at rest: the keyring (data key versions unwrapped under the KEK, cached), blob
//! files, the streaming read and transform paths, background jobs and key ceremonies.
//!
//! Architecture invariant: at every instant each object row names a complete blob that decrypts
//! under the key version the row names. Transforms write a new blob, verify it against the
//! object's SHA-256, switch the row in a transaction, and only then delete the old blob.

pub mod access;
pub mod admission;
pub mod blobs;
pub mod ceremony;
pub mod content;
pub mod group;
pub mod integrity;
pub mod jobs;
pub mod lifecycle;
pub mod messages;
pub mod redaction;
pub mod status;
pub mod uploads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callvault_crypto::KeyEncryptionKey;
use callvault_crypto::digest::Sha256Stream;
use callvault_crypto::envelope::{
    BlindIndexKey, BlobHeader, DataKey, HEADER_LEN, NewObject, ObjectContext, Opener, Sealer,
};
use callvault_crypto::stream::SEGMENT_SIZE;
use callvault_model::records::Timestamp;
use callvault_model::vault::{DataKeyVersion, EncryptionSettings, KeyState, StoredObject};
use callvault_model::{JobId, TenantId};
use callvault_store::StoreError;
use callvault_store::prelude::*;

use blobs::{BlobRead, BlobStore, PendingBlob};

/// Errors of reading and transforming content. They never carry content or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The blob is missing or unreadable.
    #[error("blob i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The blob does not authenticate or does not match its row.
    #[error("blob failed verification: {0}")]
    Integrity(String),
    /// A key is unavailable.
    #[error("key: {0}")]
    Key(String),
}

impl From<callvault_crypto::envelope::EnvelopeError> for ContentError {
    fn from(e: callvault_crypto::envelope::EnvelopeError) -> Self {
        ContentError::Integrity(e.to_string())
    }
}

/// The object context every AEAD call of an object binds.
pub fn object_context(o: &StoredObject) -> ObjectContext<'static> {
    ObjectContext { tenant: *o.tenant_id.0.as_bytes(), object: *o.id.0.as_bytes(), class: o.class.as_str() }
}

/// Default cryptoperiod (PCI DSS 3.6.4 / 3.7.4; AWS KMS's default rotation): 365 days.
pub const DEFAULT_CRYPTOPERIOD_DAYS: u32 = 365;
/// Default reminder lead time before the cryptoperiod ends: 15 days.
pub const DEFAULT_REMINDER_DAYS: u32 = 15;

/// Why a data key or the blind-index key is not available.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The tenant has no such data key version.
    #[error("data key version {0} does not exist")]
    NoSuchVersion(u32),
    /// The version was retired; nothing can be opened under it any more.
    #[error("data key version {0} is retired")]
    Retired(u32),
    /// A new key could not be wrapped under the KEK (its provider failed).
    #[error("cannot wrap {0} under the KEK")]
    Wrap(&'static str),
    /// A stored key does not unwrap under the KEK (a wrong KEK or a damaged row).
    #[error("{0} does not unwrap under the KEK")]
    Unwrap(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Unwrapped data keys, cached per tenant and version; the KEK stays with its provider.
pub struct Vault {
    kek: Arc<dyn KeyEncryptionKey>,
    keys: Mutex<HashMap<(TenantId, u32), Arc<DataKey>>>,
    /// Blob files.
    pub blobs: BlobStore,
    /// Wakes the job runner.
    pub jobs_wakeup: tokio::sync::Notify,
    rates: Mutex<HashMap<JobId, RateWindow>>,
    /// Appends to one transcript take turns on this node.
    pub appends: messages::Turns,
    /// Small uploads committed in groups on this node.
    pub groups: group::Groups,
    /// What small uploads are admitted on, remembered on this node.
    pub admissions: admission::Admissions,
}

/// Throughput of a running job since the runner (re)started it.
#[derive(Debug, Clone, Copy)]
pub struct RateWindow {
    started: std::time::Instant,
    objects_at_start: u64,
    bytes_at_start: u64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("blobs", &self.blobs).finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over the KEK and a blob root.
    pub fn new(kek: Arc<dyn KeyEncryptionKey>, blobs: BlobStore) -> Self {
        Self {
            kek,
            keys: Mutex::new(HashMap::new()),
            blobs,
            jobs_wakeup: tokio::sync::Notify::new(),
            rates: Mutex::new(HashMap::new()),
            appends: messages::Turns::default(),
            groups: group::Groups::default(),
            admissions: admission::Admissions::default(),
        }
    }

    /// The KEK.
    pub fn kek(&self) -> &dyn KeyEncryptionKey {
        self.kek.as_ref()
    }

    /// A data key version, unwrapped once and cached.
    pub async fn data_key<C: VaultStore>(
        &self,
        r: &mut C,
        tenant: TenantId,
        version: u32,
    ) -> Result<Arc<DataKey>, KeyError> {
        if let Some(k) = self.keys.lock().unwrap_or_else(PoisonError::into_inner).get(&(tenant, version)) {
            return Ok(k.clone());
        }
        let versions = r.data_keys(tenant).await?;
        let Some(v) = versions.iter().find(|v| v.version == version) else {
            return Err(KeyError::NoSuchVersion(version));
        };
        if v.state == KeyState::Retired {
            return Err(KeyError::Retired(version));
        }
        let dk = DataKey::unwrap(self.kek(), tenant.0.as_bytes(), version, &v.wrapped)
            .map_err(|_| KeyError::Unwrap(format!("data key version {version}")))?;
        let dk = Arc::new(dk);
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).insert((tenant, version), dk.clone());
        Ok(dk)
    }

    /// Drops a cached version (after retirement).
    pub fn forget(&self, tenant: TenantId, version: u32) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.remove(&(tenant, version));
        }
    }

    /// The key new content is sealed under, when the tenant encrypts new content.
    pub async fn sealing_key<C: VaultStore>(
        &self,
        r: &mut C,
        tenant: TenantId,
    ) -> Result<Option<Arc<DataKey>>, KeyError> {
        let Some((settings, _)) = r.encryption(tenant).await? else { return Ok(None) };
        if !settings.encrypt_new {
            return Ok(None);
        }
        let versions = r.data_keys(tenant).await?;
        let Some(active) = versions.iter().find(|v| v.state == KeyState::Active) else { return Ok(None) };
        Ok(Some(self.data_key(r, tenant, active.version).await?))
    }

    /// The tenant's blind-index key.
    pub async fn blind_key<C: VaultStore>(
        &self,
        r: &mut C,
        tenant: TenantId,
    ) -> Result<Option<BlindIndexKey>, KeyError> {
        let Some((_, wrapped)) = r.encryption(tenant).await? else { return Ok(None) };
        BlindIndexKey::unwrap(self.kek(), tenant.0.as_bytes(), &wrapped)
            .map(Some)
            .map_err(|_| KeyError::Unwrap("the blind-index key".into()))
    }

    /// Remembers where a job's throughput window starts.
    pub fn rate_start(&self, job: JobId, objects: u64, bytes: u64) {
        if let Ok(mut r) = self.rates.lock() {
            r.insert(
                job,
                RateWindow { started: std::time::Instant::now(), objects_at_start: objects, bytes_at_start: bytes },
            );
        }
    }

    /// Objects/s and bytes/s of a job since its window started.
    pub fn rate(&self, job: JobId, objects: u64, bytes: u64) -> Option<(f64, f64)> {
        let w = *self.rates.lock().ok()?.get(&job)?;
        let secs = w.started.elapsed().as_secs_f64().max(1e-3);
        Some((
            objects.saturating_sub(w.objects_at_start) as f64 / secs,
            bytes.saturating_sub(w.bytes_at_start) as f64 / secs,
        ))
    }
}

/// Settings of a tenant that has just switched encryption on.
pub fn initial_settings(now: Timestamp) -> EncryptionSettings {
    EncryptionSettings {
        encrypt_new: true,
        cryptoperiod_days: DEFAULT_CRYPTOPERIOD_DAYS,
        reminder_days: DEFAULT_REMINDER_DAYS,
        auto_rotate_days: None,
        updated_at: now,
    }
}

/// The newest version number plus one.
pub fn next_version(versions: &[DataKeyVersion]) -> u32 {
    versions.iter().map(|v| v.version).max().unwrap_or(0) + 1
}

/// Opens an object's blob and checks its header against its row.
fn open_blob(blobs: &BlobStore, o: &StoredObject) -> Result<(Box<dyn BlobRead>, BlobHeader), ContentError> {
    let mut h = [0u8; HEADER_LEN];
    let reader = blobs.open(o.tenant_id, &o.blob, &mut h)?;
    let header = BlobHeader::decode(&h)?;
    if !o.header.is_empty() && o.header != h {
        return Err(ContentError::Integrity("blob header differs from the one recorded with its key".into()));
    }
    if header.plaintext_len != o.size || reader.len() != header.blob_len() {
        return Err(ContentError::Integrity("blob length does not match its header or row".into()));
    }
    if header.encrypted != o.key_version.is_some() {
        return Err(ContentError::Integrity("blob format does not match its row".into()));
    }
    Ok((reader, header))
}

/// Reads plaintext bytes `[start, end)` of an object (blocking), fetching and decrypting only
/// the segments the range touches, and hands them to `sink` one piece at a time.
pub fn read_plain(
    blobs: &BlobStore,
    o: &StoredObject,
    dk: Option<&DataKey>,
    start: u64,
    end: u64,
    sink: &mut Sink<'_>,
) -> Result<(), ContentError> {
    let (mut blob, header) = open_blob(blobs, o)?;
    if start >= end {
        return Ok(());
    }
    if !header.encrypted {
        let mut at = HEADER_LEN as u64 + start;
        blob.plan(at, HEADER_LEN as u64 + end);
        let mut buf = vec![0u8; SEGMENT_SIZE];
        let mut left = end - start;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            blob.read_exact_at(at, &mut buf[..n])?;
            sink(&mut buf[..n])?;
            left -= n as u64;
            at += n as u64;
        }
        return Ok(());
    }
    let (Some(dk), Some(wrapped)) = (dk, o.wrapped_key.as_deref()) else {
        return Err(ContentError::Key("no data key for an encrypted object".into()));
    };
    let opener = Opener::new(dk, &object_context(o), &header, wrapped)?;
    let seg = SEGMENT_SIZE as u64;
    let (first, last) = (start / seg, (end - 1) / seg);
    let mut buf = vec![0u8; callvault_crypto::stream::SEALED_SEGMENT_SIZE];
    let (last_at, last_len) = opener.segment_location(last);
    blob.plan(opener.segment_location(first).0, last_at + last_len as u64);
    for i in first..=last {
        let (at, len) = opener.segment_location(i);
        blob.read_exact_at(at, &mut buf[..len])?;
        let plain = opener.open_segment(i, &mut buf[..len])?;
        let seg_start = i * seg;
        let from = usize::try_from(start.saturating_sub(seg_start)).unwrap_or(0);
        let to = usize::try_from((end - seg_start).min(plain.len() as u64)).unwrap_or(plain.len());
        sink(&mut plain[from..to])?;
    }
    Ok(())
}

/// Receives plaintext pieces.
pub type Sink<'a> = dyn FnMut(&mut [u8]) -> Result<(), ContentError> + 'a;
/// Produces plaintext pieces into a sink.
pub type Source<'a> = dyn FnMut(&mut Sink<'_>) -> Result<(), ContentError> + 'a;

/// A blob just written.
#[derive(Debug)]
pub struct WrittenBlob {
    /// File name.
    pub name: String,
    /// The content key wrapped by the target version (encrypted blobs).
    pub wrapped_key: Option<Vec<u8>>,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// The blob's header bytes.
    pub header: Vec<u8>,
    /// The sealed bytes, for content kept in its object's row.
    pub inline: Option<Vec<u8>>,
}

/// Writes an object's content to a new blob under `target` (or plain when `None`), from a
/// source that yields plaintext pieces (blocking).
pub fn write_blob(
    blobs: &BlobStore,
    o: &StoredObject,
    target: Option<&DataKey>,
    fill: &mut Source<'_>,
) -> Result<WrittenBlob, ContentError> {
    let mut writer = BlobWriter::start(blobs, o, target)?;
    match fill(&mut |piece: &mut [u8]| writer.write(piece)) {
        Ok(()) => writer.finish(),
        Err(e) => {
            writer.abort();
            Err(e)
        }
    }
}

/// A blob being written piece by piece; each call blocks only for its own piece (sealing and
/// writing it), never while waiting for the next one, so an upload does not hold a thread while
/// its client is slow. Dropped without `finish`, the partial blob is removed.
pub struct BlobWriter {
    pending: Option<PendingBlob>,
    sha: Sha256Stream,
    header: Vec<u8>,
    mode: WriteMode,
}

enum WriteMode {
    Sealed { sealer: Box<Sealer>, out: Vec<u8>, wrapped: Vec<u8> },
    Plain { written: u64, size: u64 },
}

impl BlobWriter {
    /// Creates the blob file and writes its header (blocking).
    pub fn start(blobs: &BlobStore, o: &StoredObject, target: Option<&DataKey>) -> Result<Self, ContentError> {
        // A bound on the blob's length (header, segment tags): it only sizes remote parts.
        let blob_len = o.size.saturating_add(o.size / 1024).saturating_add(4096);
        Self::begin(blobs.create(o.tenant_id, o.id, blob_len)?, o, target)
    }

    /// Starts content to be kept in its object's row (small uploads): sealed in memory.
    pub fn start_inline(blobs: &BlobStore, o: &StoredObject, target: Option<&DataKey>) -> Result<Self, ContentError> {
        Self::begin(blobs.create_inline(o.id), o, target)
    }

    fn begin(mut pending: PendingBlob, o: &StoredObject, target: Option<&DataKey>) -> Result<Self, ContentError> {
        let (header, mode) = match target {
            Some(dk) => {
                let NewObject { header, wrapped_key, sealer } = Sealer::start(dk, &object_context(o), o.size)?;
                // Grows only for unaligned pieces (uploads hand over whole segments).
                let out = Vec::new();
                (header.encode().to_vec(), WriteMode::Sealed { sealer: Box::new(sealer), out, wrapped: wrapped_key })
            }
            None => (BlobHeader::plain(o.size).encode().to_vec(), WriteMode::Plain { written: 0, size: o.size }),
        };
        if let Err(e) = pending.write(&header) {
            pending.abort();
            return Err(e.into());
        }
        Ok(Self { pending: Some(pending), sha: Sha256Stream::default(), header, mode })
    }

    fn file(&mut self) -> Result<&mut PendingBlob, ContentError> {
        self.pending.as_mut().ok_or_else(|| ContentError::Integrity("the blob was already finished".into()))
    }

    /// Adds plaintext (blocking: seals and writes it).
    pub fn write(&mut self, piece: &mut [u8]) -> Result<(), ContentError> {
        self.sha.update(piece);
        let Self { pending, mode, .. } = self;
        let file = pending.as_mut().ok_or_else(|| ContentError::Integrity("the blob was already finished".into()))?;
        match mode {
            WriteMode::Sealed { sealer, out, .. } => {
                if sealer.aligned_for(piece.len()) {
                    // Whole segments (from a blob being transformed, or an aligned upload
                    // buffer) are sealed where they lie: no copy.
                    let tag = sealer.seal_segment_in_place(piece)?;
                    file.write_pair(piece, &tag)?;
                } else {
                    sealer.update(piece, out)?;
                    file.write(out)?;
                    out.clear();
                }
            }
            WriteMode::Plain { written, size } => {
                *written += piece.len() as u64;
                if *written > *size {
                    return Err(ContentError::Integrity("more bytes than declared".into()));
                }
                file.write(piece)?;
            }
        }
        Ok(())
    }

    /// Adds whole segments of plaintext (blocking): each is sealed where it lies and all go to
    /// the file in one vectored write with their tags — no copy, one system call per batch.
    /// Segments the sealer cannot take whole (the object's last) go through [`Self::write`].
    pub fn write_segments(&mut self, batch: &mut [u8]) -> Result<(), ContentError> {
        let sealed_len = {
            let Self { pending, mode, sha, .. } = self;
            let WriteMode::Sealed { sealer, .. } = mode else {
                return self.write(batch);
            };
            let file =
                pending.as_mut().ok_or_else(|| ContentError::Integrity("the blob was already finished".into()))?;
            let mut tags = Vec::with_capacity(batch.len() / SEGMENT_SIZE);
            let mut sealed_len = 0;
            for chunk in batch.chunks_exact_mut(SEGMENT_SIZE) {
                if !sealer.aligned_for(chunk.len()) {
                    break;
                }
                sha.update(chunk);
                tags.push(sealer.seal_segment_in_place(chunk)?);
                sealed_len += chunk.len();
            }
            let mut slices: Vec<std::io::IoSlice<'_>> = batch[..sealed_len]
                .chunks(SEGMENT_SIZE)
                .zip(&tags)
                .flat_map(|(segment, tag)| [std::io::IoSlice::new(segment), std::io::IoSlice::new(tag)])
                .collect();
            file.write_all_slices(&mut slices)?;
            sealed_len
        };
        if sealed_len < batch.len() {
            self.write(&mut batch[sealed_len..])?;
        }
        Ok(())
    }

    /// Completes the blob (blocking): a blob-store blob is durable when this returns; content
    /// started with [`Self::start_inline`] comes back sealed in [`WrittenBlob::inline`], for the
    /// transaction that writes its row. On error nothing is left behind.
    pub fn finish(mut self) -> Result<WrittenBlob, ContentError> {
        let mode = std::mem::replace(&mut self.mode, WriteMode::Plain { written: 0, size: 0 });
        let result = match mode {
            WriteMode::Sealed { sealer, mut out, wrapped } => {
                let tail = sealer.finish(&mut out).map_err(ContentError::from);
                tail.and_then(|()| self.file()?.write(&out).map_err(ContentError::from)).map(|()| Some(wrapped))
            }
            WriteMode::Plain { written, size } if written != size => {
                Err(ContentError::Integrity(format!("declared {size} bytes, received {written}")))
            }
            WriteMode::Plain { .. } => Ok(None),
        };
        let pending = self.pending.take();
        match (result, pending) {
            (Ok(wrapped_key), Some(pending)) => {
                let (name, inline) = match pending.into_inline() {
                    Ok((name, bytes)) => (name, Some(bytes)),
                    Err(pending) => (pending.commit()?, None),
                };
                let sha256 = std::mem::take(&mut self.sha).finish_hex();
                Ok(WrittenBlob { name, wrapped_key, sha256, header: std::mem::take(&mut self.header), inline })
            }
            (Err(e), pending) => {
                if let Some(p) = pending {
                    p.abort();
                }
                Err(e)
            }
            (Ok(_), None) => Err(ContentError::Integrity("the blob was already finished".into())),
        }
    }

    /// Removes the partial blob.
    pub fn abort(mut self) {
        if let Some(p) = self.pending.take() {
            p.abort();
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.abort();
        }
    }
}

/// Re-reads a blob fully and checks its plaintext digest (blocking).
pub fn verify_blob(
    blobs: &BlobStore,
    o: &StoredObject,
    dk: Option<&DataKey>,
    expected_sha256: &str,
) -> Result<(), ContentError> {
    let mut sha = Sha256Stream::default();
    read_plain(blobs, o, dk, 0, o.size, &mut |p: &mut [u8]| {
        sha.update(p);
        Ok(())
    })?;
    if sha.finish_hex() != expected_sha256 {
        return Err(ContentError::Integrity("content digest differs from the stored SHA-256".into()));
    }
    Ok(())
}
