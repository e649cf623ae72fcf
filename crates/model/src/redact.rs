//! Wrappers that keep personal data and secrets out of logs by construction.
//!
//! `Personal<T>` carries personal data (names, login ids, phone numbers, e-mail addresses). It
//! serialises transparently, because the API must return it to authorised callers, but its
//! `Debug` and `Display` print a placeholder, so `tracing` fields, `{:?}` in errors and panic
//! messages never show the value.
//!
//! `SecretString` carries passwords, tokens and TOTP codes. It zeroizes on drop, prints as `***`,
//! and cannot be serialised at all: a secret is only ever read from a request.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Personal data: transparent in JSON, redacted in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    /// Wraps a personal value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Call sites are easy to audit: grep for `expose`.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Personal<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<personal>")
    }
}

impl<T> fmt::Display for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<personal>")
    }
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

/// A secret string (password, token, one-time code): zeroized on drop, printed as `***`,
/// never serialised.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the code that hashes or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl utoipa::PartialSchema for SecretString {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}

impl utoipa::ToSchema for SecretString {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_is_transparent_in_json_and_hidden_in_debug() {
        let name = Personal::new("Ada Example".to_owned());
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Ada Example\"");
        assert_eq!(format!("{name:?} {name}"), "<personal> <personal>");
        let back: Personal<String> = serde_json::from_str("\"Bo\"").unwrap();
        assert_eq!(back.expose(), "Bo");
    }

    #[test]
    fn secrets_print_as_stars() {
        let s: SecretString = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }
}
