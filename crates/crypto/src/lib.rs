//! The only crate that touches key bytes: AEAD key wrapping under the KEK, KEK providers, the
//! RFC 9162 Merkle tree of the audit log, signed tree heads, password hashing, bearer tokens and
//! TOTP.
//!
//! Architecture invariant: key material lives in types that zeroize on drop and print `***`;
//! no error of this crate carries key bytes.

pub mod aead;
pub mod digest;
pub mod envelope;
pub mod kek;
pub mod merkle;
pub mod password;
pub mod pkcs11;
pub mod secret;
pub mod shamir;
pub mod sth;
pub mod stream;
pub mod token;
pub mod totp;

pub use kek::{FileKek, KekError, KeyEncryptionKey, StaticKek};
pub use secret::SecretBytes;
