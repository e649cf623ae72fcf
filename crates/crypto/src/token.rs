//! Opaque bearer tokens: 256 random bits, stored only as SHA-256 digests.

use std::fmt;

use base64::Engine;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::digest::{random_array, sha256};

/// A token's text, zeroized on drop and printed as `***`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct TokenString(String);

impl TokenString {
    /// The token, to hand to its holder once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A fresh token and the digest to store.
#[derive(Debug)]
pub struct NewToken {
    /// `prefix_` followed by 43 base64url characters.
    pub token: TokenString,
    /// SHA-256 of the token text.
    pub digest: [u8; 32],
}

/// Makes a token with a recognisable prefix (`cvs` sessions, `cvk` service accounts).
pub fn new_token(prefix: &str) -> NewToken {
    let bytes: [u8; 32] = random_array();
    let text = format!("{prefix}_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let digest = token_digest(&text);
    NewToken { token: TokenString(text), digest }
}

/// The stored form of a token.
pub fn token_digest(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_hidden() {
        let a = new_token("cvs");
        let b = new_token("cvs");
        assert!(a.token.expose().starts_with("cvs_"));
        assert_eq!(a.token.expose().len(), 4 + 43);
        assert_ne!(a.token, b.token);
        assert_eq!(a.digest, token_digest(a.token.expose()));
        assert_eq!(format!("{:?}", a.token), "***");
    }
}
