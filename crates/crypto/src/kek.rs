//! Key-encryption keys. The default keeps the KEK in a file outside the data directory (PCI DSS
//! 3.6.1: KEKs stored separately from the data keys they protect); PKCS#11 and Shamir-sealed
//! providers implement the same trait.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::aead::Aes256Gcm;

use crate::digest::random_array;
use crate::secret::SecretBytes;

const MAGIC: &[u8; 4] = b"CVK1";

/// Errors of KEK providers. They never carry key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The KEK file cannot be read or created.
    #[error("key-encryption key file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Wrapped data is corrupt, was made with another key, or the context does not match.
    #[error("cannot unwrap: wrong key, wrong context or corrupted data")]
    Unwrap,
    /// The cryptographic library failed.
    #[error("key wrapping failed")]
    Wrap,
}

/// A key-encryption key: wraps and unwraps other keys, binding them to a context (AAD).
pub trait KeyEncryptionKey: Send + Sync {
    /// Where the key lives, for logs (never key bytes).
    fn describe(&self) -> String;
    /// Encrypts `plaintext` bound to `aad`.
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError>;
    /// Decrypts what [`KeyEncryptionKey::wrap`] produced with the same `aad`.
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KekError>;
    /// The key bytes for a split-knowledge backup (Shamir shares), when the provider holds the
    /// key in memory; `None` for keys that never leave their device (HSM).
    fn export_for_backup(&self) -> Option<SecretBytes> {
        None
    }
}

/// A KEK held in memory (tests, and the base of the file provider).
pub struct StaticKek {
    key: SecretBytes,
    label: String,
}

impl StaticKek {
    /// A KEK from 32 bytes.
    pub fn new(key: SecretBytes) -> Self {
        Self { key, label: "memory".into() }
    }
}

impl KeyEncryptionKey for StaticKek {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let key = Aes256Gcm::new(self.key.expose()).map_err(|_| KekError::Wrap)?;
        let nonce: [u8; 12] = random_array();
        let mut buf = plaintext.to_vec();
        key.seal_in_place(&nonce, aad, &mut buf).map_err(|_| KekError::Wrap)?;
        let mut out = Vec::with_capacity(4 + 12 + buf.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KekError> {
        if wrapped.len() < 4 + 12 + 16 || &wrapped[..4] != MAGIC {
            return Err(KekError::Unwrap);
        }
        let key = Aes256Gcm::new(self.key.expose()).map_err(|_| KekError::Unwrap)?;
        let mut buf = wrapped[16..].to_vec();
        let plain = key.open_in_place(&wrapped[4..16], aad, &mut buf).map_err(|_| KekError::Unwrap)?;
        let out = SecretBytes::new(plain.to_vec());
        zeroize::Zeroize::zeroize(&mut buf);
        Ok(out)
    }

    fn export_for_backup(&self) -> Option<SecretBytes> {
        Some(SecretBytes::new(self.key.expose().to_vec()))
    }
}

/// A KEK kept in a file of 32 random bytes, mode 0600, outside the data directory.
pub struct FileKek {
    inner: StaticKek,
}

impl FileKek {
    /// Writes a KEK rebuilt from backup shares to `path` (atomically, mode 0600); refuses to
    /// overwrite an existing file.
    pub fn restore(path: &Path, key: &SecretBytes) -> Result<FileKek, KekError> {
        let err = |message: String| KekError::File { path: path.to_owned(), message };
        if key.expose().len() != 32 {
            return Err(err("a KEK is 32 bytes".into()));
        }
        if path.exists() {
            return Err(err("exists already; refusing to overwrite it".into()));
        }
        write_new_secret_file(path, key.expose()).map_err(|e| err(e.to_string()))?;
        Ok(Self::from_bytes(key.expose().to_vec(), path))
    }

    /// Loads the KEK file, or creates it (atomically, mode 0600) when absent. Returns whether
    /// it was created.
    pub fn load_or_create(path: &Path) -> Result<(FileKek, bool), KekError> {
        let err = |message: String| KekError::File { path: path.to_owned(), message };
        match std::fs::metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        return Err(err("readable by group or others; run chmod 600 on it".into()));
                    }
                }
                if meta.len() != 32 {
                    return Err(err(format!("must hold exactly 32 bytes, found {}", meta.len())));
                }
                let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
                Ok((Self::from_bytes(bytes, path), false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_array::<32>().to_vec();
                write_new_secret_file(path, &bytes).map_err(|e| err(e.to_string()))?;
                Ok((Self::from_bytes(bytes, path), true))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn from_bytes(bytes: Vec<u8>, path: &Path) -> FileKek {
        FileKek { inner: StaticKek { key: SecretBytes::new(bytes), label: format!("file:{}", path.display()) } }
    }
}

impl KeyEncryptionKey for FileKek {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        self.inner.wrap(aad, plaintext)
    }
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KekError> {
        self.inner.unwrap(aad, wrapped)
    }
    fn export_for_backup(&self) -> Option<SecretBytes> {
        self.inner.export_for_backup()
    }
}

/// Writes a new secret file atomically: a temporary file in the same directory with mode 0600,
/// fsync, rename, fsync of the directory. Parent directories are created with mode 0700.
fn write_new_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let tmp = dir.join(format!(".kek.{}.tmp", hex::encode(random_array::<8>())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("cv-kek-{}", hex::encode(random_array::<8>())));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn file_kek_is_created_once_and_reloads() {
        let dir = temp_dir();
        let path = dir.join("secrets").join("kek");
        let (a, created) = FileKek::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let wrapped = a.wrap(b"ctx", b"data key").unwrap();
        let (b, created) = FileKek::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(b.unwrap(b"ctx", &wrapped).unwrap().expose(), b"data key");
        assert!(matches!(b.unwrap(b"other", &wrapped), Err(KekError::Unwrap)));
        let mut tampered = wrapped.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(b.unwrap(b"ctx", &tampered), Err(KekError::Unwrap)));
        assert!(matches!(b.unwrap(b"ctx", &wrapped[..10]), Err(KekError::Unwrap)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn open_permissions_and_bad_length_are_refused() {
        let dir = temp_dir();
        let path = dir.join("kek");
        std::fs::write(&path, [1u8; 32]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = FileKek::load_or_create(&path).err().unwrap().to_string();
            assert!(e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        FileKek::load_or_create(&path).unwrap();
        std::fs::write(&path, [1u8; 31]).unwrap();
        assert!(FileKek::load_or_create(&path).err().unwrap().to_string().contains("32 bytes"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn another_key_cannot_unwrap() {
        let a = StaticKek::new(SecretBytes::new(vec![1; 32]));
        let b = StaticKek::new(SecretBytes::new(vec![2; 32]));
        let w = a.wrap(b"x", b"secret").unwrap();
        assert!(b.unwrap(b"x", &w).is_err());
        assert!(!format!("{}", b.unwrap(b"x", &w).err().unwrap()).contains("secret"));
    }
}
