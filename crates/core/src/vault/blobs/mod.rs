//! Where blobs live: local files under the data directory (the default) or an S3-compatible
//! bucket (`blob_store = "s3"`). Either way a blob name refers to a complete blob or to
//! nothing: a local blob is renamed into place after its fsync, an S3 blob becomes visible only
//! when its single PUT or its multipart upload completes. Only ciphertext (and the 24-byte blob
//! header) is handed to either. Blobs no row names — left by a crash between the write and the
//! commit, or between the commit and the delete — are removed by [`BlobStore::sweep`].
//!
//! Small content (uploads up to `small_object_max_bytes`: chat and SMS transcripts, e-mails) is
//! kept in its object's row instead (blob names ending `.cvi`), written by the transaction that
//! writes the row, so uploads committed together share one commit ([`super::group`]); reading
//! and erasing such a blob goes through the database.
//!
//! The blocking methods (`create`, `open`, `remove`, `sweep` and everything on [`PendingBlob`]
//! and [`BlobRead`]) run on blocking threads (`spawn_blocking`); the S3 backend drives its
//! requests on the runtime it was built on from there.

mod local;
mod s3;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use callvault_model::{ObjectId, TenantId};
use callvault_store::prelude::*;

pub use s3::S3Settings;

/// Blob storage: local files or an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Backend,
    inline: Option<Inline>,
}

/// Content kept in its object's row (blob names ending `.cvi`), read and erased through the
/// database from blocking threads.
#[derive(Clone)]
struct Inline {
    store: callvault_store::Store,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inline")
    }
}

/// Whether a blob name names content kept in its object's row.
pub fn is_inline(name: &str) -> bool {
    name.ends_with(".cvi")
}

/// The object a blob name belongs to (names start with the object's id).
fn object_of(name: &str) -> std::io::Result<ObjectId> {
    name.split('.')
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a blob name"))
}

fn io_error(e: callvault_store::StoreError) -> std::io::Error {
    match e {
        callvault_store::StoreError::NotFound => std::io::Error::from(std::io::ErrorKind::NotFound),
        e => std::io::Error::other(e.to_string()),
    }
}

impl Inline {
    async fn read(&self, tenant: TenantId, name: &str) -> std::io::Result<Vec<u8>> {
        let mut r = self.store.reader().await.map_err(io_error)?;
        r.inline_blob(tenant, object_of(name)?, name).await.map_err(io_error)
    }

    async fn clear(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        let mut tx = self.store.begin().await.map_err(io_error)?;
        tx.clear_inline_blob(tenant, object_of(name)?, name).await.map_err(io_error)?;
        tx.commit().await.map_err(io_error)
    }
}

/// Content read from its object's row.
struct InlineReader(Vec<u8>);

impl BlobRead for InlineReader {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn plan(&mut self, _start: u64, _end: u64) {}

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        let piece = start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(piece);
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Local(local::LocalBlobs),
    S3(s3::S3Blobs),
}

/// A blob being written; invisible under its name until [`PendingBlob::commit`].
pub struct PendingBlob {
    /// The name it will get.
    pub name: String,
    sink: Sink,
}

enum Sink {
    Local(local::LocalPending),
    S3(Box<s3::S3Pending>),
    /// Content kept in its object's row: written with the row, in its transaction.
    Inline(Vec<u8>),
}

/// A stored blob opened for reading at any offset.
pub trait BlobRead: Send {
    /// The blob's length in bytes.
    fn len(&self) -> u64;
    /// Whether the blob is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Announces that bytes `[start, end)` are read next, in order: a remote reader fetches them
    /// in large pieces and nothing outside them.
    fn plan(&mut self, start: u64, end: u64);
    /// Fills `buf` with the bytes at `offset`.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl PendingBlob {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Local(p) => p.write(bytes),
            Sink::S3(p) => p.write(bytes),
            Sink::Inline(b) => {
                b.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Appends every piece (locally with as few vectored writes as the system takes).
    pub fn write_all_slices(&mut self, slices: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Local(p) => p.write_all_slices(slices),
            Sink::S3(p) => slices.iter().try_for_each(|s| p.write(s)),
            Sink::Inline(b) => {
                slices.iter().for_each(|s| b.extend_from_slice(s));
                Ok(())
            }
        }
    }

    /// Appends two pieces (a sealed segment and its tag).
    pub fn write_pair(&mut self, first: &[u8], second: &[u8]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Local(p) => p.write_pair(first, second),
            Sink::S3(p) => p.write(first).and_then(|()| p.write(second)),
            Sink::Inline(b) => {
                b.extend_from_slice(first);
                b.extend_from_slice(second);
                Ok(())
            }
        }
    }

    /// Makes the blob durable and visible under its name; returns the name.
    pub fn commit(self) -> std::io::Result<String> {
        match self.sink {
            Sink::Local(p) => p.commit(&self.name)?,
            Sink::S3(p) => (*p).commit()?,
            Sink::Inline(_) => return Err(std::io::Error::other("content kept in its row is stored with the row")),
        }
        Ok(self.name)
    }

    /// The sealed bytes of a blob kept in its object's row, with its name: `None` for a blob
    /// of the blob store (which [`Self::commit`] makes durable).
    pub fn into_inline(self) -> Result<(String, Vec<u8>), Self> {
        match self.sink {
            Sink::Inline(bytes) => Ok((self.name, bytes)),
            sink => Err(Self { name: self.name, sink }),
        }
    }

    /// Drops what was written; nothing becomes visible.
    pub fn abort(self) {
        match self.sink {
            Sink::Local(p) => p.abort(),
            Sink::S3(p) => (*p).abort(),
            Sink::Inline(_) => {}
        }
    }
}

impl BlobStore {
    /// Local files under `root` (`<root>/<tenant>/<name>`).
    pub fn local(root: PathBuf) -> Self {
        Self { backend: Backend::Local(local::LocalBlobs::new(root)), inline: None }
    }

    /// An S3-compatible bucket; requests run on the current Tokio runtime.
    pub fn s3(settings: &S3Settings) -> Result<Self, String> {
        Ok(Self { backend: Backend::S3(s3::S3Blobs::new(settings)?), inline: None })
    }

    /// Lets the store read and erase content kept in its object's row (small uploads) through
    /// `store`, from blocking threads of the current Tokio runtime.
    pub fn with_database(mut self, store: callvault_store::Store) -> Self {
        self.inline = tokio::runtime::Handle::try_current().ok().map(|runtime| Inline { store, runtime });
        self
    }

    /// Starts content to be kept in its object's row: sealed in memory, stored by the
    /// transaction that writes the row ([`PendingBlob::into_inline`]).
    pub fn create_inline(&self, object: ObjectId) -> PendingBlob {
        let name = format!("{object}.{}.cvi", hex::encode(callvault_crypto::digest::random_array::<6>()));
        PendingBlob { name, sink: Sink::Inline(Vec::new()) }
    }

    fn inline(&self) -> std::io::Result<&Inline> {
        self.inline.as_ref().ok_or_else(|| std::io::Error::other("content kept in rows needs the database"))
    }

    /// Where blobs go, for logs and the status page (no credentials).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(l) => format!("local files under {}", l.root().display()),
            Backend::S3(s) => s.describe(),
        }
    }

    /// Whether blobs are kept on this node's disk.
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local(_))
    }

    /// Starts a new blob of `blob_len` bytes (the length sets the S3 part size) for an object.
    pub fn create(&self, tenant: TenantId, object: ObjectId, blob_len: u64) -> std::io::Result<PendingBlob> {
        let name = format!("{object}.{}.cvb", hex::encode(callvault_crypto::digest::random_array::<6>()));
        let sink = match &self.backend {
            Backend::Local(l) => Sink::Local(l.create(tenant, &name)?),
            Backend::S3(s) => Sink::S3(Box::new(s.create(tenant, &name, blob_len))),
        };
        Ok(PendingBlob { name, sink })
    }

    /// Opens a blob, filling `head` with its first bytes (one request on S3).
    pub fn open(&self, tenant: TenantId, name: &str, head: &mut [u8]) -> std::io::Result<Box<dyn BlobRead>> {
        if is_inline(name) {
            let inline = self.inline()?;
            let mut reader = InlineReader(inline.runtime.block_on(inline.read(tenant, name))?);
            reader.read_exact_at(0, head)?;
            return Ok(Box::new(reader));
        }
        match &self.backend {
            Backend::Local(l) => l.open(tenant, name, head),
            Backend::S3(s) => s.open(tenant, name, head),
        }
    }

    /// Removes a blob (blocking); a missing blob is fine.
    pub fn remove(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        if is_inline(name) {
            let inline = self.inline()?;
            return inline.runtime.block_on(inline.clear(tenant, name));
        }
        match &self.backend {
            Backend::Local(l) => l.remove(tenant, name),
            Backend::S3(s) => s.remove(tenant, name),
        }
    }

    /// Removes a blob from async code; a missing blob is fine.
    pub async fn delete(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        if is_inline(name) {
            return self.inline()?.clear(tenant, name).await;
        }
        match &self.backend {
            Backend::Local(l) => l.remove(tenant, name),
            Backend::S3(s) => s.delete(tenant, name).await,
        }
    }

    /// Removes blobs of `tenant` older than `min_age` that `referenced` does not contain
    /// (blocking). Returns how many were removed.
    pub fn sweep(&self, tenant: TenantId, referenced: &HashSet<String>, min_age: Duration) -> usize {
        match &self.backend {
            Backend::Local(l) => l.sweep(tenant, referenced, min_age),
            Backend::S3(s) => s.sweep(tenant, referenced, min_age),
        }
    }

    /// Whether the store answers (readiness): the local root is a directory, the bucket answers
    /// a request with this node's credentials.
    pub async fn check(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Local(l) => l.check(),
            Backend::S3(s) => s.check().await,
        }
    }

    /// Copies the file at `path` to the bucket as the tenant's file `name`, for the other nodes
    /// (a do-not-call registry copy, named by its SHA-256); nothing with local files, which one
    /// node uses.
    pub async fn put_file(&self, tenant: TenantId, name: &str, path: &Path) -> std::io::Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s) => s.put_file(tenant, name, path).await,
        }
    }

    /// Fetches the tenant's file `name` from the bucket into `dest`; false when there is none
    /// (always with local files).
    pub async fn get_file(&self, tenant: TenantId, name: &str, dest: &Path) -> std::io::Result<bool> {
        match &self.backend {
            Backend::Local(_) => Ok(false),
            Backend::S3(s) => s.get_file(tenant, name, dest).await,
        }
    }

    /// Deletes the tenant's file `name` from the bucket; a missing file is fine.
    pub async fn delete_file(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s) => s.delete_file(tenant, name).await,
        }
    }

    /// The file of a blob when blobs are local files (tests and benchmarks look at them).
    pub fn local_path(&self, tenant: TenantId, name: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(l) => Some(l.path(tenant, name)),
            Backend::S3(_) => None,
        }
    }
}

fn is_blob_name(name: &str) -> bool {
    name.ends_with(".cvb")
}
