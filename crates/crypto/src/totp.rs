//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps) and recovery codes.
//!
//! HOTP's dynamic truncation is a few lines over aws-lc-rs's HMAC; doing it here keeps one
//! cryptographic library in the tree instead of adding a second HMAC/SHA-1 stack for it.

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::digest::{ct_eq, random_array, random_bytes, sha256};

/// Step length in seconds.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;

/// A TOTP seed: 20 bytes from the CSPRNG, zeroized on drop, printed as `***`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct TotpSeed(Vec<u8>);

/// A seed of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a TOTP seed must be 16 to 64 bytes")]
pub struct BadSeed;

impl TotpSeed {
    /// A fresh 160-bit seed.
    pub fn generate() -> Self {
        Self(random_bytes(20))
    }

    /// A seed from stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadSeed> {
        if (16..=64).contains(&bytes.len()) { Ok(Self(bytes.to_vec())) } else { Err(BadSeed) }
    }

    /// A seed from its base32 form (as shown to users).
    pub fn from_base32(text: &str) -> Result<Self, BadSeed> {
        Self::from_bytes(&base32_decode(text).ok_or(BadSeed)?)
    }

    /// The bytes, for wrapping.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, no padding), for manual entry.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }
}

impl fmt::Debug for TotpSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// Valid at this step.
    Valid {
        /// The step the code belongs to.
        step: u64,
    },
    /// Valid but its step was used already: each code is usable once.
    Replayed,
    /// Wrong.
    Invalid,
}

/// The HOTP value of a counter (RFC 4226 dynamic truncation).
fn hotp(seed: &TotpSeed, counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &seed.0);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[19] & 0x0f);
    let bin = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    bin % 10u32.pow(DIGITS)
}

/// The code for a Unix time.
pub fn code_at(seed: &TotpSeed, unix_secs: u64) -> String {
    format!("{:06}", hotp(seed, unix_secs / STEP_SECS))
}

/// The current code of a base32 seed at a given time.
pub fn code_now_from_base32_at(secret: &str, unix_secs: u64) -> Result<String, BadSeed> {
    Ok(code_at(&TotpSeed::from_base32(secret)?, unix_secs))
}

/// The current code of a base32 seed (CLI convenience for demos and automation).
pub fn code_now_from_base32(secret: &str) -> Result<String, BadSeed> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    code_now_from_base32_at(secret, now)
}

/// Checks a code at `unix_secs`, accepting one step of clock skew either way, and refusing a
/// step not newer than `last_used_step`.
pub fn verify(seed: &TotpSeed, code: &str, unix_secs: u64, last_used_step: Option<u64>) -> TotpCheck {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return TotpCheck::Invalid;
    }
    let now = unix_secs / STEP_SECS;
    let mut matched = None;
    for step in [now.saturating_sub(1), now, now + 1] {
        let expected = format!("{:06}", hotp(seed, step));
        // Evaluate every candidate so timing does not depend on which one matched.
        if ct_eq(expected.as_bytes(), code.as_bytes()) && matched.is_none() {
            matched = Some(step);
        }
    }
    match matched {
        None => TotpCheck::Invalid,
        Some(step) if last_used_step.is_some_and(|last| step <= last) => TotpCheck::Replayed,
        Some(step) => TotpCheck::Valid { step },
    }
}

/// A QR-code-ready `otpauth://` URI.
pub fn otpauth_uri(seed: &TotpSeed, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(account),
        seed.to_base32()
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` recovery codes (shown once) with the digests to store: SHA-256 of the upper-cased code.
pub fn new_recovery_codes(n: usize) -> Vec<(String, [u8; 32])> {
    (0..n)
        .map(|_| {
            let raw = base32_encode(&random_array::<10>());
            let code = format!("{}-{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12], &raw[12..16]);
            let digest = sha256(code.as_bytes());
            (code, digest)
        })
        .collect()
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim().trim_end_matches('=').bytes().filter(|c| *c != b' ' && *c != b'-') {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            out.push(u8::try_from((buffer >> (bits - 8)) & 0xff).ok()?);
            bits -= 8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        let seed = TotpSeed::from_bytes(b"12345678901234567890").unwrap();
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(&seed, t), code, "t={t}");
        }
    }

    #[test]
    fn skew_replay_and_garbage() {
        let seed = TotpSeed::generate();
        let t = 1_800_000_000;
        let code = code_at(&seed, t);
        let step = t / STEP_SECS;
        assert_eq!(verify(&seed, &code, t, None), TotpCheck::Valid { step });
        assert_eq!(verify(&seed, &code, t + 30, None), TotpCheck::Valid { step });
        assert_eq!(verify(&seed, &code, t - 30, None), TotpCheck::Valid { step });
        assert_eq!(verify(&seed, &code, t + 90, None), TotpCheck::Invalid);
        assert_eq!(verify(&seed, &code, t, Some(step)), TotpCheck::Replayed);
        for bad in ["", "12345", "1234567", "abcdef"] {
            assert_eq!(verify(&seed, bad, t, None), TotpCheck::Invalid);
        }
    }

    #[test]
    fn base32_and_uri() {
        let seed = TotpSeed::generate();
        let b32 = seed.to_base32();
        assert_eq!(TotpSeed::from_base32(&b32.to_lowercase()).unwrap(), seed);
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        let uri = otpauth_uri(&seed, "callvault", "user 1");
        assert!(uri.starts_with("otpauth://totp/callvault:user%201?secret="), "{uri}");
        assert_eq!(format!("{seed:?}"), "***");
        let codes = new_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0].0.len(), 19);
        assert_eq!(codes[0].1, sha256(codes[0].0.as_bytes()));
    }
}
