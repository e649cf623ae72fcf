//! Vocabulary shared by every callvault crate: identifiers, domain records, the access-control
//! vocabulary, and wrappers that keep personal data and secrets out of logs.
//!
//! Architecture invariant: this crate does no I/O and holds no key material.
#![forbid(unsafe_code)]

pub mod access;
pub mod dial;
pub mod ids;
pub mod records;
pub mod redact;
pub mod vault;

pub use ids::*;
pub use redact::{Personal, SecretString};
