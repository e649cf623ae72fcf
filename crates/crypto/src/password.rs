//! Password hashing with argon2id (OWASP: m = 19 MiB, t = 2, p = 1). Parameters are stored in
//! the PHC string, so they can be raised later: a login with weaker stored parameters reports
//! `needs_rehash`.

use std::sync::{Condvar, LazyLock, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::digest::{ct_eq, random_array};

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

/// Argon2 working memory, reused. Allocating 19 MiB per computation lets glibc keep freed
/// blocks in per-thread arenas, so resident memory grew with every blocking thread that ever
/// hashed (measured: 152 MiB after 8 hashes). A pool of one buffer per core bounds both the
/// memory and the concurrency of this CPU-bound work; callers beyond it wait their turn.
struct MemoryPool {
    free: Mutex<(Vec<Vec<Block>>, usize)>,
    returned: Condvar,
    max: usize,
}

static POOL: LazyLock<MemoryPool> = LazyLock::new(|| MemoryPool {
    free: Mutex::new((Vec::new(), 0)),
    returned: Condvar::new(),
    max: std::thread::available_parallelism().map_or(1, |n| n.get()),
});

impl MemoryPool {
    fn with<R>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut buffer = {
            let mut guard = self.free.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(b) = guard.0.pop() {
                    break b;
                }
                if guard.1 < self.max {
                    guard.1 += 1;
                    break Vec::new();
                }
                guard = self.returned.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        };
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::default());
        }
        let result = f(&mut buffer[..blocks]);
        // The blocks hold password-derived state: clear them before reuse.
        buffer.iter_mut().for_each(|b| *b = Block::default());
        let mut guard = self.free.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.push(buffer);
        drop(guard);
        self.returned.notify_one();
        result
    }
}

/// A parsed PHC string of argon2: `$argon2id$v=19$m=..,t=..,p=..$salt$hash` (base64, no padding).
struct Phc {
    algorithm: Algorithm,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse_phc(phc: &str) -> Option<Phc> {
    let mut parts = phc.split('$');
    if !parts.next()?.is_empty() {
        return None;
    }
    let algorithm: Algorithm = parts.next()?.parse().ok()?;
    if parts.next()? != "v=19" {
        return None;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in parts.next()?.split(',') {
        let (k, v) = kv.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        match k {
            "m" => m = Some(v),
            "t" => t = Some(v),
            "p" => p = Some(v),
            _ => return None,
        }
    }
    let salt = B64.decode(parts.next()?).ok()?;
    let hash = B64.decode(parts.next()?).ok()?;
    if parts.next().is_some() || hash.len() < 16 || hash.len() > 64 {
        return None;
    }
    let params = Params::new(m?, t?, p?, Some(hash.len())).ok()?;
    Some(Phc { algorithm, params, salt, hash })
}

fn compute(
    algorithm: Algorithm,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordHashError> {
    let argon2 = Argon2::new(algorithm, Version::V0x13, params.clone());
    POOL.with(params.block_count(), |blocks| argon2.hash_password_into_with_memory(password, salt, out, blocks))
        .map_err(|_| PasswordHashError)
}

/// Hashes a (normalised) password with a fresh 16-byte salt from the CSPRNG.
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    let salt: [u8; 16] = random_array();
    let (m, t, p) = CURRENT_PARAMS;
    let params = Params::new(m, t, p, Some(32)).map_err(|_| PasswordHashError)?;
    let mut out = [0u8; 32];
    compute(Algorithm::Argon2id, &params, password.as_bytes(), &salt, &mut out)?;
    Ok(format!("$argon2id$v=19$m={m},t={t},p={p}${}${}", B64.encode(salt), B64.encode(out)))
}

/// Checks a password against a stored PHC string. Never panics on malformed input.
pub fn verify_password(phc: &str, candidate: &str) -> PasswordCheck {
    let Some(stored) = parse_phc(phc) else { return PasswordCheck::Invalid };
    let mut out = vec![0u8; stored.hash.len()];
    if compute(stored.algorithm, &stored.params, candidate.as_bytes(), &stored.salt, &mut out).is_err()
        || !ct_eq(&out, &stored.hash)
    {
        return PasswordCheck::Invalid;
    }
    let (m, t, p) = CURRENT_PARAMS;
    let needs_rehash = stored.algorithm != Algorithm::Argon2id
        || stored.params.m_cost() < m
        || stored.params.t_cost() < t
        || stored.params.p_cost() < p;
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
    fn interoperates_with_the_argon2_reference_encoding() {
        use argon2::{PasswordHasher, PasswordVerifier};
        // A hash made by the argon2 crate's own PHC encoder verifies here, and ours there.
        let theirs =
            Argon2::default().hash_password_with_salt(b"interop pass", b"0123456789abcdef").unwrap().to_string();
        assert_eq!(verify_password(&theirs, "interop pass"), PasswordCheck::Valid { needs_rehash: false });
        let ours = hash_password("interop pass").unwrap();
        let parsed = argon2::PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"interop pass", &parsed).is_ok());
    }

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
        let params = Params::new(8 * 1024, 1, 1, Some(32)).unwrap();
        let mut out = [0u8; 32];
        compute(Algorithm::Argon2id, &params, b"pw-pw-pw-pw", b"saltsaltsaltsalt", &mut out).unwrap();
        let weak = format!("$argon2id$v=19$m=8192,t=1,p=1${}${}", B64.encode(b"saltsaltsaltsalt"), B64.encode(out));
        assert_eq!(verify_password(&weak, "pw-pw-pw-pw"), PasswordCheck::Valid { needs_rehash: true });
        for garbage in ["", "$", "$argon2id$", "plain", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"] {
            assert_eq!(verify_password(garbage, "x"), PasswordCheck::Invalid);
        }
        dummy_verify("anything");
    }
}
