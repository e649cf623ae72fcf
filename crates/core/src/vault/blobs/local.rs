//! Blob files on local disk: `<root>/<tenant>/<name>`. A blob is written to a temporary file,
//! fsynced, renamed into place and the directory fsynced.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use callvault_model::TenantId;

use super::BlobRead;

/// Local blob files.
#[derive(Debug, Clone)]
pub(super) struct LocalBlobs {
    root: PathBuf,
}

/// A blob file being written.
pub(super) struct LocalPending {
    // Unbuffered: callers hand over whole sealed segments (with `write_pair` for a segment and
    // its tag, one system call, no copy) or their own batched output.
    file: std::fs::File,
    tmp: PathBuf,
    dir: PathBuf,
}

impl LocalPending {
    pub(super) fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }

    pub(super) fn write_all_slices(&mut self, mut slices: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
        while !slices.is_empty() {
            let n = self.file.write_vectored(slices)?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            std::io::IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }

    pub(super) fn write_pair(&mut self, first: &[u8], second: &[u8]) -> std::io::Result<()> {
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

    /// Fsyncs, renames into place and fsyncs the directory.
    pub(super) fn commit(self, name: &str) -> std::io::Result<()> {
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.tmp, self.dir.join(name))?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    pub(super) fn abort(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// An open blob file, read with positioned reads.
struct LocalReader {
    file: std::fs::File,
    len: u64,
}

impl BlobRead for LocalReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn plan(&mut self, _start: u64, _end: u64) {}

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

impl LocalBlobs {
    pub(super) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    pub(super) fn path(&self, tenant: TenantId, name: &str) -> PathBuf {
        self.dir(tenant).join(name)
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn create(&self, tenant: TenantId, name: &str) -> std::io::Result<LocalPending> {
        let dir = self.dir(tenant);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let tmp = dir.join(format!(".tmp.{name}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        Ok(LocalPending { file, tmp, dir })
    }

    pub(super) fn open(&self, tenant: TenantId, name: &str, head: &mut [u8]) -> std::io::Result<Box<dyn BlobRead>> {
        let file = std::fs::File::open(self.path(tenant, name))?;
        let len = file.metadata()?.len();
        std::os::unix::fs::FileExt::read_exact_at(&file, head, 0)?;
        Ok(Box::new(LocalReader { file, len }))
    }

    pub(super) fn remove(&self, tenant: TenantId, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(tenant, name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub(super) fn sweep(&self, tenant: TenantId, referenced: &HashSet<String>, min_age: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(self.dir(tenant)) else { return 0 };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.strip_prefix(".tmp.").unwrap_or(&name);
            if referenced.contains(&name) || !super::is_blob_name(base) {
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

    pub(super) fn check(&self) -> Result<(), String> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err("the blob directory is not a directory".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("the blob directory cannot be read: {e}")),
        }
    }
}
