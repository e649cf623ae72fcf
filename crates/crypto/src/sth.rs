//! Signed tree heads of the audit log (Ed25519).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair};

use crate::digest::sha256;
use crate::merkle::Hash;
use crate::secret::SecretBytes;

/// A tree head to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub tree_size: u64,
    /// Signing time, ms since the epoch.
    pub timestamp_ms: i64,
    /// Merkle root.
    pub root: Hash,
}

impl TreeHead {
    /// The signed bytes: `callvault-sth-v1\0 ‖ size (u64 BE) ‖ timestamp (i64 BE) ‖ root`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + 8 + 8 + 32);
        out.extend_from_slice(b"callvault-sth-v1\0");
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.root);
        out
    }
}

/// One tenant's view of the audit log: a Merkle tree over that tenant's entries alone, so a
/// tenant can verify its entries without learning how many other tenants' entries the log holds.
/// Leaves are [`tenant_leaf`] of each entry's canonical body, in log order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantTreeHead {
    /// The tenant (UUID bytes).
    pub tenant: [u8; 16],
    /// Number of the tenant's entries.
    pub tree_size: u64,
    /// The time of the log's signed tree head this view was taken at, ms since the epoch.
    pub timestamp_ms: i64,
    /// Merkle root.
    pub root: Hash,
}

impl TenantTreeHead {
    /// The signed bytes: `callvault-tenant-sth-v1\0 ‖ tenant (16) ‖ size (u64 BE) ‖ timestamp (i64
    /// BE) ‖ root` — a different domain from the log's own heads.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 16 + 8 + 8 + 32);
        out.extend_from_slice(b"callvault-tenant-sth-v1\0");
        out.extend_from_slice(&self.tenant);
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.root);
        out
    }
}

/// The leaf of an entry in its tenant's tree: RFC 9162 leaf hash of the canonical body.
pub fn tenant_leaf(body: &str) -> Hash {
    crate::merkle::leaf_hash(body.as_bytes())
}

/// Verifies a tenant tree head's signature with the log's public key.
pub fn verify_tenant_tree_head(public_key: &[u8], head: &TenantTreeHead, sig: &[u8]) -> Result<(), SignatureError> {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(&head.signing_bytes(), sig)
        .map_err(|_| SignatureError::BadSignature)
}

/// Key errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key could not be generated or parsed.
    #[error("invalid signing key")]
    BadKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// The audit log's signing key.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// A new key, with its PKCS#8 document to store (wrapped).
    pub fn generate() -> Result<(AuditSigner, SecretBytes), SignatureError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| SignatureError::BadKey)?;
        let secret = SecretBytes::new(doc.as_ref().to_vec());
        let signer = Self::from_pkcs8(secret.expose())?;
        Ok((signer, secret))
    }

    /// Loads a key from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<AuditSigner, SignatureError> {
        Ed25519KeyPair::from_pkcs8(pkcs8).map(|pair| AuditSigner { pair }).map_err(|_| SignatureError::BadKey)
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Hex of the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        hex::encode(&sha256(&self.public_key())[..8])
    }

    /// Signs a tenant's tree head.
    pub fn sign_tenant_tree_head(&self, head: &TenantTreeHead) -> [u8; 64] {
        let sig = self.pair.sign(&head.signing_bytes());
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }

    /// Signs a tree head.
    pub fn sign_tree_head(&self, head: &TreeHead) -> [u8; 64] {
        let sig = self.pair.sign(&head.signing_bytes());
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }
}

/// Verifies a tree head's signature with a public key.
pub fn verify_tree_head(public_key: &[u8], head: &TreeHead, sig: &[u8]) -> Result<(), SignatureError> {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(&head.signing_bytes(), sig)
        .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_heads_are_their_own_domain() {
        let (signer, _) = AuditSigner::generate().unwrap();
        let head = TenantTreeHead { tenant: [3; 16], tree_size: 2, timestamp_ms: 5, root: [1; 32] };
        let sig = signer.sign_tenant_tree_head(&head);
        verify_tenant_tree_head(&signer.public_key(), &head, &sig).unwrap();
        let other = TenantTreeHead { tenant: [4; 16], ..head };
        assert!(verify_tenant_tree_head(&signer.public_key(), &other, &sig).is_err(), "bound to the tenant");
        let global = TreeHead { tree_size: 2, timestamp_ms: 5, root: [1; 32] };
        assert!(verify_tree_head(&signer.public_key(), &global, &sig).is_err(), "not a log head");
    }

    #[test]
    fn sign_and_verify_and_detect_changes() {
        let (signer, pkcs8) = AuditSigner::generate().unwrap();
        let again = AuditSigner::from_pkcs8(pkcs8.expose()).unwrap();
        assert_eq!(signer.public_key(), again.public_key());
        let head = TreeHead { tree_size: 42, timestamp_ms: 1_700_000_000_000, root: [9; 32] };
        let sig = signer.sign_tree_head(&head);
        let pk = signer.public_key();
        verify_tree_head(&pk, &head, &sig).unwrap();
        for changed in [
            TreeHead { tree_size: 43, ..head },
            TreeHead { timestamp_ms: 1, ..head },
            TreeHead { root: [8; 32], ..head },
        ] {
            assert_eq!(verify_tree_head(&pk, &changed, &sig), Err(SignatureError::BadSignature));
        }
        let mut bad = sig;
        bad[10] ^= 1;
        assert_eq!(verify_tree_head(&pk, &head, &bad), Err(SignatureError::BadSignature));
        assert_eq!(format!("{pkcs8:?}"), "***");
    }
}
