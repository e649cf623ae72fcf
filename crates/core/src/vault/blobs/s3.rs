//! Blobs in an S3-compatible bucket through `object_store`: `<prefix>/<tenant>/<name>`.
//!
//! A blob smaller than one part is stored with one PUT; a larger one streams as a multipart
//! upload whose parts (8 MiB or more, so that the largest object fits S3's 10,000 parts) are
//! sent while the next is filled, at most [`PARTS_IN_FLIGHT`] at once, and becomes visible
//! only when the upload completes. Reads fetch only the byte ranges asked for, in pieces of
//! at most [`READ_PIECE`], the next piece requested while the current one is decrypted.
//! Credentials come from the standard `AWS_*` variables (or the instance's role) and never
//! appear in a message.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use callvault_model::TenantId;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::BlobRead;

/// Smallest part of a multipart upload (S3's minimum is 5 MiB).
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 4;
/// S3's limit on parts per upload, with room to spare.
const MAX_PARTS: u64 = 9_000;
/// Largest range fetched by one read request.
const READ_PIECE: u64 = 8 * 1024 * 1024;
/// What opening a blob fetches: the header and the first sealed segment, so that a chat
/// transcript or an e-mail is read with one request.
const OPEN_FETCH: u64 = 64 * 1024 + 64;

/// Where the bucket is.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL of an S3-compatible server (`None`: AWS).
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// Access key id; `None`: the `AWS_*` environment or the instance's role.
    pub access_key_id: Option<String>,
    /// The secret access key going with `access_key_id`.
    pub secret_access_key: Option<callvault_crypto::SecretBytes>,
}

#[derive(Debug, Clone)]
pub(super) struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    handle: Handle,
}

fn io_error(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, "blob not found"),
        other => std::io::Error::other(other.to_string()),
    }
}

impl S3Blobs {
    pub(super) fn new(settings: &S3Settings) -> Result<Self, String> {
        if settings.bucket.is_empty() {
            return Err("s3_bucket is required with blob_store = \"s3\"".into());
        }
        let handle = Handle::try_current().map_err(|_| "the S3 blob store needs a Tokio runtime".to_owned())?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&settings.bucket).with_region(&settings.region);
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            let secret =
                std::str::from_utf8(secret.expose()).map_err(|_| "the S3 secret access key is not UTF-8".to_owned())?;
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| format!("the S3 blob store cannot be configured: {e}"))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.trim_matches('/').to_owned(),
            handle,
        })
    }

    pub(super) fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn dir(&self, tenant: TenantId) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(tenant.to_string())
        } else {
            ObjectPath::from(format!("{}/{tenant}", self.prefix))
        }
    }

    fn path(&self, tenant: TenantId, name: &str) -> ObjectPath {
        self.dir(tenant).join(name)
    }

    /// A tenant's file every node needs (a do-not-call registry copy), by its content's name.
    fn file_path(&self, tenant: TenantId, name: &str) -> ObjectPath {
        self.dir(tenant).join("files").join(name)
    }

    /// Uploads the file at `path` as the tenant's file `name` (multipart in 8 MiB parts).
    pub(super) async fn put_file(&self, tenant: TenantId, name: &str, path: &std::path::Path) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::open(path).await?;
        let capacity = usize::try_from(PART_SIZE).unwrap_or(8 << 20);
        let mut upload = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            self.file_path(tenant, name),
            capacity,
        );
        if let Err(e) = tokio::io::copy(&mut file, &mut upload).await {
            let _ = upload.abort().await;
            return Err(e);
        }
        upload.shutdown().await
    }

    /// Downloads the tenant's file `name` into `dest` (a temporary file synced, then renamed
    /// into place); false when the bucket has no such file.
    pub(super) async fn get_file(&self, tenant: TenantId, name: &str, dest: &std::path::Path) -> std::io::Result<bool> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let result = match self.store.get(&self.file_path(tenant, name)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(io_error(e)),
        };
        let tmp = dest.with_extension(format!("{}.tmp", hex::encode(callvault_crypto::digest::random_array::<6>())));
        let copied = async {
            let mut out = tokio::fs::File::create(&tmp).await?;
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(io_error)?).await?;
            }
            out.sync_all().await?;
            tokio::fs::rename(&tmp, dest).await
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        copied.map(|()| true)
    }

    /// Deletes the tenant's file `name`; a missing file is fine.
    pub(super) async fn delete_file(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        match self.store.delete(&self.file_path(tenant, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    pub(super) fn create(&self, tenant: TenantId, name: &str, blob_len: u64) -> S3Pending {
        let part_size = PART_SIZE.max(blob_len.div_ceil(MAX_PARTS).next_multiple_of(1024 * 1024));
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX);
        S3Pending {
            store: self.store.clone(),
            path: self.path(tenant, name),
            handle: self.handle.clone(),
            part_size,
            left: blob_len,
            buf: Vec::new(),
            upload: None,
            in_flight: VecDeque::new(),
        }
    }

    pub(super) fn open(&self, tenant: TenantId, name: &str, head: &mut [u8]) -> std::io::Result<Box<dyn BlobRead>> {
        let path = self.path(tenant, name);
        let want = OPEN_FETCH.max(head.len() as u64);
        let options = GetOptions { range: Some(GetRange::Bounded(0..want)), ..GetOptions::default() };
        let (len, first) = self
            .handle
            .block_on(async {
                let result = self.store.get_opts(&path, options).await?;
                let len = result.meta.size;
                Ok::<_, object_store::Error>((len, result.bytes().await?))
            })
            .map_err(io_error)?;
        if first.len() < head.len() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        head.copy_from_slice(&first[..head.len()]);
        Ok(Box::new(S3Reader {
            store: self.store.clone(),
            path,
            handle: self.handle.clone(),
            len,
            piece: first,
            piece_start: 0,
            plan_end: 0,
            ahead: None,
        }))
    }

    pub(super) fn remove(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        self.handle.block_on(self.delete(tenant, name))
    }

    pub(super) async fn delete(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        match self.store.delete(&self.path(tenant, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    pub(super) fn sweep(&self, tenant: TenantId, referenced: &HashSet<String>, min_age: Duration) -> usize {
        let dir = self.dir(tenant);
        let listed: Result<Vec<object_store::ObjectMeta>, _> =
            self.handle.block_on(self.store.list(Some(&dir)).try_collect());
        let Ok(listed) = listed else { return 0 };
        let now = jiff::Timestamp::now().as_second();
        let min_age = i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX);
        let mut removed = 0;
        for meta in listed {
            let Some(name) = meta.location.filename().map(str::to_owned) else { continue };
            let age = now.saturating_sub(meta.last_modified.timestamp());
            if referenced.contains(&name) || !super::is_blob_name(&name) || age < min_age {
                continue;
            }
            if self.handle.block_on(self.store.delete(&meta.location)).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    pub(super) async fn check(&self) -> Result<(), String> {
        // A HEAD of a name that is never written: "not found" proves the bucket answers and the
        // credentials are accepted.
        match self.store.head(&self.dir_probe()).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("the S3 blob store does not answer: {e}")),
        }
    }

    fn dir_probe(&self) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(".callvault-ready")
        } else {
            ObjectPath::from(format!("{}/.callvault-ready", self.prefix))
        }
    }
}

/// A blob being uploaded.
pub(super) struct S3Pending {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    handle: Handle,
    part_size: usize,
    /// Bytes still expected (a bound): a small blob's buffer is no larger than the blob.
    left: u64,
    buf: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    in_flight: VecDeque<JoinHandle<object_store::Result<()>>>,
}

impl S3Pending {
    pub(super) fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            if self.buf.capacity() == 0 {
                let expected = usize::try_from(self.left).unwrap_or(usize::MAX).max(bytes.len());
                self.buf.reserve_exact(self.part_size.min(expected));
            }
            let take = (self.part_size - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            self.left = self.left.saturating_sub(take as u64);
            bytes = &bytes[take..];
            if self.buf.len() == self.part_size {
                self.send_part()?;
            }
        }
        Ok(())
    }

    /// Starts sending the buffered part; waits while too many are in flight.
    fn send_part(&mut self) -> std::io::Result<()> {
        let part = std::mem::take(&mut self.buf);
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => self.upload.insert(self.handle.block_on(self.store.put_multipart(&self.path)).map_err(io_error)?),
        };
        let sending = upload.put_part(PutPayload::from(part));
        self.in_flight.push_back(self.handle.spawn(sending));
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    fn wait_oldest(&mut self) -> std::io::Result<()> {
        let Some(oldest) = self.in_flight.pop_front() else { return Ok(()) };
        self.handle.block_on(oldest).map_err(|e| std::io::Error::other(e.to_string()))?.map_err(io_error)
    }

    /// Completes the upload; the blob is durable and visible when this returns.
    pub(super) fn commit(mut self) -> std::io::Result<()> {
        let result = self.finish();
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if self.upload.is_none() {
            let body = PutPayload::from(std::mem::take(&mut self.buf));
            return self.handle.block_on(self.store.put(&self.path, body)).map(drop).map_err(io_error);
        }
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        let Some(upload) = self.upload.as_mut() else { return Ok(()) };
        self.handle.block_on(upload.complete()).map(drop).map_err(io_error)
    }

    /// Stops the upload; its parts are discarded (best effort: a bucket lifecycle rule that
    /// aborts incomplete multipart uploads catches what a crash leaves).
    pub(super) fn abort(mut self) {
        for part in self.in_flight.drain(..) {
            part.abort();
        }
        if let Some(mut upload) = self.upload.take() {
            let _ = self.handle.block_on(upload.abort());
        }
    }
}

/// A blob read by ranges.
struct S3Reader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    handle: Handle,
    len: u64,
    piece: Bytes,
    piece_start: u64,
    plan_end: u64,
    /// The next piece, requested before it is needed.
    ahead: Option<(u64, JoinHandle<object_store::Result<Bytes>>)>,
}

impl S3Reader {
    fn request(&self, start: u64, end: u64) -> JoinHandle<object_store::Result<Bytes>> {
        let (store, path) = (self.store.clone(), self.path.clone());
        self.handle.spawn(async move { store.get_range(&path, start..end).await })
    }

    /// Makes `piece` hold the bytes at `pos` (at least `want` of them, or up to the end).
    fn fetch(&mut self, pos: u64, want: u64) -> std::io::Result<()> {
        let end = if pos < self.plan_end { self.plan_end.min(pos + READ_PIECE) } else { pos };
        let end = end.max(pos + want).min(self.len);
        let pending = match self.ahead.take() {
            Some((start, pending)) if start == pos => pending,
            Some((_, stale)) => {
                stale.abort();
                self.request(pos, end)
            }
            None => self.request(pos, end),
        };
        let piece =
            self.handle.block_on(pending).map_err(|e| std::io::Error::other(e.to_string()))?.map_err(io_error)?;
        if piece.is_empty() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        let piece_end = pos + piece.len() as u64;
        (self.piece, self.piece_start) = (piece, pos);
        if piece_end < self.plan_end {
            let next_end = self.plan_end.min(piece_end + READ_PIECE);
            self.ahead = Some((piece_end, self.request(piece_end, next_end)));
        }
        Ok(())
    }
}

impl BlobRead for S3Reader {
    fn len(&self) -> u64 {
        self.len
    }

    fn plan(&mut self, start: u64, end: u64) {
        self.plan_end = end.min(self.len);
        if let Some((_, stale)) = self.ahead.take() {
            stale.abort();
        }
        // Request the first piece the plan needs now (or the one after what `open` fetched).
        let piece_end = self.piece_start + self.piece.len() as u64;
        let from = if (self.piece_start..piece_end).contains(&start) { piece_end } else { start };
        if from < self.plan_end {
            let to = self.plan_end.min(from + READ_PIECE);
            self.ahead = Some((from, self.request(from, to)));
        }
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let pos = offset + filled as u64;
            if pos >= self.len {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            let piece_end = self.piece_start + self.piece.len() as u64;
            if pos < self.piece_start || pos >= piece_end {
                self.fetch(pos, (buf.len() - filled) as u64)?;
                continue;
            }
            let at = usize::try_from(pos - self.piece_start).unwrap_or(usize::MAX);
            let n = (self.piece.len() - at).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&self.piece[at..at + n]);
            filled += n;
        }
        Ok(())
    }
}

impl Drop for S3Reader {
    fn drop(&mut self) {
        if let Some((_, pending)) = self.ahead.take() {
            pending.abort();
        }
    }
}
