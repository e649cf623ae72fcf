//! Blob files on local disk: `<data dir>/blobs/<tenant>/<name>`. A blob is written to a
//! temporary file, fsynced, renamed into place and the directory fsynced, so a name either
//! refers to a complete blob or to nothing. Files no row references (left by a crash between
//! rename and commit, or between commit and delete) are removed by [`BlobStore::sweep`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use callvault_crypto::digest::random_array;
use callvault_model::{ObjectId, TenantId};

/// Local blob storage.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// A blob being written.
pub struct PendingBlob {
    // Unbuffered: callers hand over whole sealed segments (with `write_pair` for a segment and
    // its tag, one system call, no copy) or their own batched output.
    file: std::fs::File,
    tmp: PathBuf,
    dir: PathBuf,
    /// The name it will get.
    pub name: String,
}

impl PendingBlob {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Appends every piece with as few vectored writes as the system takes.
    pub fn write_all_slices(&mut self, mut slices: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
        while !slices.is_empty() {
            let n = self.file.write_vectored(slices)?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            std::io::IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }

    /// Appends two pieces in one vectored write (a sealed segment and its tag).
    pub fn write_pair(&mut self, first: &[u8], second: &[u8]) -> std::io::Result<()> {
        let (mut a, mut b) = (first, second);
        while !a.is_empty() || !b.is_empty() {
            let n = self.file.write_vectored(&[std::io::IoSlice::new(a), std::io::IoSlice::new(b)])?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            let from_a = n.min(a.len());
            a = &a[from_a..];
            b = &b[n - from_a..];
        }
        Ok(())
    }

    /// Flushes, fsyncs and renames into place.
    pub fn commit(self) -> std::io::Result<String> {
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.tmp, self.dir.join(&self.name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(self.name)
    }

    /// Drops the temporary file.
    pub fn abort(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl BlobStore {
    /// Blobs under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    /// The path of a blob.
    pub fn path(&self, tenant: TenantId, name: &str) -> PathBuf {
        self.dir(tenant).join(name)
    }

    /// Starts a new blob for an object (blocking).
    pub fn create(&self, tenant: TenantId, object: ObjectId) -> std::io::Result<PendingBlob> {
        let dir = self.dir(tenant);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let tag = hex::encode(random_array::<6>());
        let name = format!("{object}.{tag}.cvb");
        let tmp = dir.join(format!(".tmp.{name}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        Ok(PendingBlob { file, tmp, dir, name })
    }

    /// Removes a blob (blocking); a missing file is fine.
    pub fn remove(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(tenant, name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes files of `tenant` older than `min_age` that `referenced` does not contain
    /// (blocking). Returns how many were removed.
    pub fn sweep(&self, tenant: TenantId, referenced: &std::collections::HashSet<String>, min_age: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(self.dir(tenant)) else { return 0 };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.strip_prefix(".tmp.").unwrap_or(&name);
            if referenced.contains(&name) || !base.ends_with(".cvb") {
                continue;
            }
            let old_enough = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= min_age);
            if old_enough && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
