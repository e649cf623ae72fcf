//! The one AES-256-GCM primitive every sealing path goes through (key wrapping under the KEK,
//! data keys, content segments, encrypted fields): 256-bit keys, 96-bit nonces, 128-bit tags
//! only. Checked against every Wycheproof AES-GCM vector (`tests/wycheproof.rs`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Nonce bytes.
pub const NONCE_LEN: usize = 12;
/// Tag bytes.
pub const TAG_LEN: usize = 16;

/// Errors of the primitive; deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    /// The key is not 32 bytes.
    #[error("AES-256-GCM keys are 32 bytes")]
    KeyLength,
    /// The nonce is not 12 bytes.
    #[error("AES-256-GCM nonces are 12 bytes")]
    NonceLength,
    /// Authentication failed (or the input is shorter than a tag).
    #[error("authentication failed")]
    Authentication,
    /// The library refused to seal (input too long).
    #[error("cannot seal")]
    Seal,
}

/// An AES-256-GCM key.
pub struct Aes256Gcm(LessSafeKey);

impl std::fmt::Debug for Aes256Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aes256Gcm(***)")
    }
}

fn nonce(n: &[u8]) -> Result<Nonce, AeadError> {
    Nonce::try_assume_unique_for_key(n).map_err(|_| AeadError::NonceLength)
}

impl Aes256Gcm {
    /// A key from exactly 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, AeadError> {
        if key.len() != 32 {
            return Err(AeadError::KeyLength);
        }
        Ok(Self(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| AeadError::KeyLength)?)))
    }

    /// Encrypts `buf` in place and appends the tag.
    pub fn seal_in_place(&self, nonce_bytes: &[u8], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), AeadError> {
        self.0.seal_in_place_append_tag(nonce(nonce_bytes)?, Aad::from(aad), buf).map_err(|_| AeadError::Seal)
    }

    /// Encrypts `buf` in place and returns the tag separately (no reallocation).
    pub fn seal_detached(&self, nonce_bytes: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN], AeadError> {
        let tag =
            self.0.seal_in_place_separate_tag(nonce(nonce_bytes)?, Aad::from(aad), buf).map_err(|_| AeadError::Seal)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `ciphertext` (with its separate `tag`) into `out` (same length).
    pub fn open_to(
        &self,
        nonce_bytes: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<(), AeadError> {
        if tag.len() != TAG_LEN || out.len() != ciphertext.len() {
            return Err(AeadError::Authentication);
        }
        self.0
            .open_separate_gather(nonce(nonce_bytes)?, Aad::from(aad), ciphertext, tag, out)
            .map_err(|_| AeadError::Authentication)
    }

    /// Decrypts `ciphertext ‖ tag` in place; returns the plaintext prefix of `buf`.
    pub fn open_in_place<'a>(
        &self,
        nonce_bytes: &[u8],
        aad: &[u8],
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], AeadError> {
        if buf.len() < TAG_LEN {
            return Err(AeadError::Authentication);
        }
        // With the tag split off, aws-lc-rs decrypts in place without the `copy_within` of the
        // whole plaintext that its combined `open_in_place` performs on every call.
        let (body, tag) = buf.split_at_mut(buf.len() - TAG_LEN);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| AeadError::Authentication)?;
        self.0
            .open_in_place_separate_tag(nonce(nonce_bytes)?, Aad::from(aad), &tag, body)
            .map_err(|_| AeadError::Authentication)
    }
}
