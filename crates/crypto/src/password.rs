//! Password hashing with argon2id (OWASP: m = 19 MiB, t = 2, p = 1). Parameters are stored in
//! the PHC string, so they can be raised later: a login with weaker stored parameters reports
//! `needs_rehash`.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::digest::random_array;

/// The parameters new hashes use: memory KiB, iterations, parallelism.
pub const CURRENT_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

/// A hash could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed")]
pub struct PasswordHashError;

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Right password; `needs_rehash` when the stored parameters are weaker than today's.
    Valid {
        /// Whether to store a new hash with current parameters.
        needs_rehash: bool,
    },
    /// Wrong password, or a malformed stored hash.
    Invalid,
}

fn hasher() -> Result<Argon2<'static>, PasswordHashError> {
    let (m, t, p) = CURRENT_PARAMS;
    let params = Params::new(m, t, p, None).map_err(|_| PasswordHashError)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a (normalised) password with a fresh 16-byte salt from the CSPRNG.
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    let salt: [u8; 16] = random_array();
    let hash = hasher()?.hash_password_with_salt(password.as_bytes(), &salt).map_err(|_| PasswordHashError)?;
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string. Never panics on malformed input.
pub fn verify_password(phc: &str, candidate: &str) -> PasswordCheck {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return PasswordCheck::Invalid;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return PasswordCheck::Invalid;
    };
    let algorithm = parsed.algorithm.as_str();
    let Ok(alg) = algorithm.parse::<Algorithm>() else {
        return PasswordCheck::Invalid;
    };
    let verifier = Argon2::new(alg, Version::V0x13, params.clone());
    if verifier.verify_password(candidate.as_bytes(), &parsed).is_err() {
        return PasswordCheck::Invalid;
    }
    let (m, t, p) = CURRENT_PARAMS;
    let needs_rehash = algorithm != "argon2id" || params.m_cost() < m || params.t_cost() < t || params.p_cost() < p;
    PasswordCheck::Valid { needs_rehash }
}

static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_password("callvault dummy password for timing").unwrap_or_default());

/// Verifies against a fixed hash, so a login for an unknown or locked account costs the same
/// time as one with a wrong password.
pub fn dummy_verify(candidate: &str) {
    let _ = verify_password(&DUMMY, candidate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(verify_password(&h, "correct horse battery staple"), PasswordCheck::Valid { needs_rehash: false });
        assert_eq!(verify_password(&h, "correct horse battery stapl"), PasswordCheck::Invalid);
        assert_ne!(h, hash_password("correct horse battery staple").unwrap(), "salts differ");
    }

    #[test]
    fn weak_params_need_rehash_and_garbage_is_invalid() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap())
            .hash_password_with_salt(b"pw-pw-pw-pw", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert_eq!(verify_password(&weak, "pw-pw-pw-pw"), PasswordCheck::Valid { needs_rehash: true });
        for garbage in ["", "$", "$argon2id$", "plain", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"] {
            assert_eq!(verify_password(garbage, "x"), PasswordCheck::Invalid);
        }
        dummy_verify("anything");
    }
}
