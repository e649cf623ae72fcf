//! Split knowledge for the KEK (PCI DSS 3.6.1.2, 3.7.6): Shamir k-of-n shares over GF(256)
//! (the `blahaj` crate). Fewer than k shares carry no information about the key — unlike the
//! "two halves" of a key simply split in two, which 3.7.6's applicability note rejects.
//!
//! A share travels as text: `cvs1-<k>-<set>-<hex>-<check>`, where `set` is 4 random bytes naming
//! the backup the share belongs to (shares of different backups cannot be mixed by accident) and
//! `check` is the first 4 bytes of SHA-256 over the rest (a typo is caught before recovery).

use blahaj::{Share, Sharks};

use crate::digest::{random_array, sha256};
use crate::secret::SecretBytes;

/// The largest number of shares and threshold accepted.
pub const MAX_SHARES: u8 = 9;

/// Errors of share handling; they never carry share bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// k and n out of range.
    #[error("threshold must be 2..=n and shares at most {MAX_SHARES}, got {k}-of-{n}")]
    Parameters {
        /// Threshold.
        k: u8,
        /// Shares.
        n: u8,
    },
    /// Text that is not a share, or a share with a typo.
    #[error("not a valid share (format or checksum)")]
    Malformed,
    /// Shares of different backups or thresholds.
    #[error("shares belong to different backups")]
    Mixed,
    /// The same share twice.
    #[error("the same share was given twice")]
    Duplicate,
    /// Not enough distinct shares.
    #[error("{have} of {need} shares given")]
    NotEnough {
        /// Distinct shares given.
        have: usize,
        /// Threshold.
        need: u8,
    },
}

/// One share in text form (zeroized on drop, prints `***`).
pub struct ShareText(SecretBytes);

impl ShareText {
    /// The text to show to its custodian, once.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(self.0.expose()).unwrap_or_default()
    }
}

impl std::fmt::Debug for ShareText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareText(***)")
    }
}

/// Splits `secret` into `n` shares, any `k` of which rebuild it.
pub fn split(secret: &SecretBytes, k: u8, n: u8) -> Result<Vec<ShareText>, ShareError> {
    if k < 2 || k > n || n > MAX_SHARES {
        return Err(ShareError::Parameters { k, n });
    }
    let set: [u8; 4] = random_array();
    let shares: Vec<Share> = Sharks(k).dealer(secret.expose()).take(usize::from(n)).collect();
    Ok(shares
        .iter()
        .map(|s| {
            let bytes = zeroize::Zeroizing::new(Vec::<u8>::from(s));
            let body = zeroize::Zeroizing::new(format!("cvs1-{k}-{}-{}", hex::encode(set), hex::encode(&*bytes)));
            let check = hex::encode(&sha256(body.as_bytes())[..4]);
            ShareText(SecretBytes::new(format!("{}-{check}", &*body).into_bytes()))
        })
        .collect())
}

struct Parsed {
    k: u8,
    set: String,
    share: Share,
}

fn parse(text: &str) -> Result<Parsed, ShareError> {
    let text = text.trim();
    let (body, check) = text.rsplit_once('-').ok_or(ShareError::Malformed)?;
    if !crate::digest::ct_eq(hex::encode(&sha256(body.as_bytes())[..4]).as_bytes(), check.as_bytes()) {
        return Err(ShareError::Malformed);
    }
    let mut parts = body.split('-');
    let (Some("cvs1"), Some(k), Some(set), Some(hexed), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ShareError::Malformed);
    };
    let k: u8 = k.parse().map_err(|_| ShareError::Malformed)?;
    let bytes = zeroize::Zeroizing::new(hex::decode(hexed).map_err(|_| ShareError::Malformed)?);
    if set.len() != 8 || bytes.len() < 2 || bytes[0] == 0 {
        return Err(ShareError::Malformed);
    }
    let share = Share::try_from(bytes.as_slice()).map_err(|_| ShareError::Malformed)?;
    Ok(Parsed { k, set: set.to_owned(), share })
}

/// Checks one share's format and checksum without needing the others; returns the threshold.
pub fn check(text: &str) -> Result<u8, ShareError> {
    parse(text).map(|p| p.k)
}

/// Rebuilds the secret from at least k distinct shares of one backup. The caller must confirm the
/// result (a KEK check value): shares from a tampered set rebuild a wrong secret.
pub fn combine<S: AsRef<str>>(texts: &[S]) -> Result<SecretBytes, ShareError> {
    let parsed: Vec<Parsed> = texts.iter().map(|t| parse(t.as_ref())).collect::<Result<_, _>>()?;
    let Some(first) = parsed.first() else { return Err(ShareError::NotEnough { have: 0, need: 2 }) };
    let k = first.k;
    if parsed.iter().any(|p| p.k != first.k || p.set != first.set || p.share.y.len() != first.share.y.len()) {
        return Err(ShareError::Mixed);
    }
    let mut xs: Vec<u8> = parsed.iter().map(|p| p.share.x.0).collect();
    xs.sort_unstable();
    if xs.windows(2).any(|w| w[0] == w[1]) {
        return Err(ShareError::Duplicate);
    }
    if xs.len() < usize::from(k) {
        return Err(ShareError::NotEnough { have: xs.len(), need: k });
    }
    let shares: Vec<Share> = parsed.into_iter().map(|p| p.share).collect();
    let secret = Sharks(k).recover(&shares).map_err(|_| ShareError::NotEnough { have: xs.len(), need: k })?;
    Ok(SecretBytes::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretBytes {
        SecretBytes::new(random_array::<32>().to_vec())
    }

    #[test]
    fn any_k_of_n_rebuild_and_fewer_do_not() {
        for (k, n) in [(2u8, 2u8), (2, 3), (3, 5), (5, 9)] {
            let secret = key();
            let shares = split(&secret, k, n).unwrap();
            assert_eq!(shares.len(), usize::from(n));
            let texts: Vec<&str> = shares.iter().map(|s| s.expose()).collect();
            // Every window of k consecutive shares (cyclic) rebuilds the key.
            for start in 0..usize::from(n) {
                let pick: Vec<&str> = (0..usize::from(k)).map(|i| texts[(start + i) % usize::from(n)]).collect();
                assert_eq!(combine(&pick).unwrap().expose(), secret.expose(), "{k}-of-{n} from {start}");
            }
            // k - 1 shares are refused...
            let few = &texts[..usize::from(k) - 1];
            assert_eq!(combine(few).err(), Some(ShareError::NotEnough { have: usize::from(k) - 1, need: k }));
            // ...and interpolating them anyway as if the threshold were k - 1 yields a wrong key:
            // k - 1 shares carry no information about the secret.
            if k > 2 {
                let parsed: Vec<Share> = few.iter().map(|t| parse(t).unwrap().share).collect();
                let guess = Sharks(k - 1).recover(&parsed).unwrap();
                assert_ne!(guess, secret.expose());
            }
        }
    }

    #[test]
    fn typos_mixes_and_duplicates_are_refused() {
        let a = split(&key(), 2, 3).unwrap();
        let b = split(&key(), 2, 3).unwrap();
        let mut typo = a[0].expose().to_owned();
        let i = typo.len() - 12;
        let c = if &typo[i..i + 1] == "a" { "b" } else { "a" };
        typo.replace_range(i..i + 1, c);
        assert_eq!(combine(&[typo.as_str(), a[1].expose()]).err(), Some(ShareError::Malformed));
        assert_eq!(combine(&[a[0].expose(), b[1].expose()]).err(), Some(ShareError::Mixed));
        assert_eq!(combine(&[a[0].expose(), a[0].expose()]).err(), Some(ShareError::Duplicate));
        assert_eq!(split(&key(), 1, 3).err(), Some(ShareError::Parameters { k: 1, n: 3 }));
        assert_eq!(split(&key(), 4, 3).err(), Some(ShareError::Parameters { k: 4, n: 3 }));
        assert_eq!(split(&key(), 5, 10).err(), Some(ShareError::Parameters { k: 5, n: 10 }));
        assert_eq!(check(a[2].expose()), Ok(2));
        assert_eq!(format!("{:?}", a[0]), "ShareText(***)");
        assert_eq!(combine(&["  ".to_string()]).err(), Some(ShareError::Malformed));
    }
}
