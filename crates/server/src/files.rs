//! Files on disk: the data directory holds names, e-mail addresses, numbers, webhook URLs and
//! password hashes, so nobody but the server's own user may read any of it.
//!
//! At start the process umask becomes 077 (every file and directory the server, SQLite or a
//! library creates is 0600 / 0700 from its creation), the open-file limit is raised to the hard
//! limit (every HTTP connection holds a descriptor), and the data directory is checked: a
//! directory or file readable by group or others is fixed to 0700 / 0600, and the fix is logged.

use std::path::Path;

/// Sets the umask to 077 and raises the soft open-file limit to the hard one.
pub fn harden_process() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let Some(max) = limit.maximum
        && limit.current.is_some_and(|c| c < max)
    {
        let raised = rustix::process::Rlimit { current: Some(max), maximum: Some(max) };
        if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
}

/// What [`secure_data_dir`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fixed {
    /// Paths whose mode was tightened.
    pub paths: Vec<std::path::PathBuf>,
}

/// Creates the data directory 0700 if absent; tightens it and everything in it, blobs included,
/// to 0700 for directories and 0600 for files (one `lstat` per file at start). Symbolic links are
/// not followed.
pub fn secure_data_dir(dir: &Path) -> std::io::Result<Fixed> {
    let mut fixed = Fixed::default();
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.recursive(true).create(dir)?;
    }
    tighten(dir, &mut fixed)?;
    for path in &fixed.paths {
        tracing::warn!(path = %path.display(), "was readable by group or others; its mode is now owner-only");
    }
    Ok(fixed)
}

fn tighten(path: &Path, fixed: &mut Fixed) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let want = if meta.is_dir() { 0o700 } else { 0o600 };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & want))?;
        fixed.paths.push(path.to_owned());
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            tighten(&entry?.path(), fixed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_readable_data_dir_is_tightened_and_reported() {
        let root = std::env::temp_dir().join(format!("cv-files-{}", uuid::Uuid::new_v4()));
        let dir = root.join("data");
        std::fs::create_dir_all(dir.join("dnc")).unwrap();
        std::fs::create_dir_all(dir.join("blobs/t1")).unwrap();
        std::fs::write(dir.join("callvault.db"), b"x").unwrap();
        std::fs::write(dir.join("dnc/a.cvdnc"), b"x").unwrap();
        std::fs::write(dir.join("blobs/t1/o.cvb"), b"x").unwrap();
        std::fs::set_permissions(dir.join("blobs/t1/o.cvb"), std::fs::Permissions::from_mode(0o666)).unwrap();
        for (p, m) in [(&dir, 0o755), (&dir.join("dnc"), 0o755), (&dir.join("blobs/t1"), 0o755)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        for p in [dir.join("callvault.db"), dir.join("dnc/a.cvdnc")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let fixed = secure_data_dir(&dir).unwrap();
        assert_eq!(fixed.paths.len(), 7, "{fixed:?}");
        assert_eq!(mode(&dir.join("blobs/t1/o.cvb")), 0o600);
        assert_eq!(mode(&dir.join("blobs")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("dnc")), 0o700);
        assert_eq!(mode(&dir.join("blobs/t1")), 0o700);
        assert_eq!(mode(&dir.join("callvault.db")), 0o600);
        assert_eq!(mode(&dir.join("dnc/a.cvdnc")), 0o600);
        assert_eq!(secure_data_dir(&dir).unwrap(), Fixed::default(), "nothing left to fix");
        std::fs::remove_dir_all(root).unwrap();
    }
}
