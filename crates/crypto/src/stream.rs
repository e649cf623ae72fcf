//! The streaming content format's AEAD core (the STREAM construction, as in age): AES-256-GCM
//! over 64 KiB segments, each sealed with nonce = 7-byte random per-object prefix ‖ 32-bit
//! big-endian segment counter ‖ last-segment flag byte, and the caller's associated data (which
//! binds tenant, object and data class). Truncation, reordering and splicing between objects
//! all fail authentication. Nothing is held whole in memory: segments are sealed and opened one
//! at a time, and a byte range opens only the segments it touches.
//!
//! The counter is 32 bits, so an object has at most 2^32 segments (256 TiB): [`MAX_OBJECT_SIZE`]
//! is enforced before a counter could wrap.

use crate::aead::Aes256Gcm;

use crate::digest::random_array;
use crate::secret::SecretBytes;

/// Plaintext bytes per segment.
pub const SEGMENT_SIZE: usize = 64 * 1024;
/// AES-GCM tag bytes per segment.
pub const TAG_SIZE: usize = 16;
/// Ciphertext bytes of a full segment.
pub const SEALED_SEGMENT_SIZE: usize = SEGMENT_SIZE + TAG_SIZE;
/// The largest object: 2^32 segments.
pub const MAX_OBJECT_SIZE: u64 = (1u64 << 32) * SEGMENT_SIZE as u64;

/// Errors of the stream layer. They never carry key or plaintext bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A segment failed authentication: tampered, reordered, truncated or from another object.
    #[error("segment {0} failed authentication")]
    Authentication(u64),
    /// The object ends without a final segment.
    #[error("the object is truncated: no final segment")]
    Truncated,
    /// Data after the final segment.
    #[error("data after the final segment")]
    TrailingData,
    /// More than [`MAX_OBJECT_SIZE`] bytes.
    #[error("object larger than the maximum of 2^32 segments")]
    TooLarge,
    /// A key of the wrong length.
    #[error("content keys are 32 bytes")]
    BadKey,
    /// A requested range lies outside the object.
    #[error("range outside the object")]
    BadRange,
}

/// A content key with its object's nonce prefix.
pub struct SegmentCipher {
    key: Aes256Gcm,
    prefix: [u8; 7],
}

impl std::fmt::Debug for SegmentCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentCipher(***)")
    }
}

impl SegmentCipher {
    /// A cipher for a new object: the caller stores `prefix()` in the object's header.
    pub fn new(content_key: &SecretBytes) -> Result<Self, StreamError> {
        Self::with_prefix(content_key, random_array())
    }

    /// A cipher for an existing object.
    pub fn with_prefix(content_key: &SecretBytes, prefix: [u8; 7]) -> Result<Self, StreamError> {
        let key = Aes256Gcm::new(content_key.expose()).map_err(|_| StreamError::BadKey)?;
        Ok(Self { key, prefix })
    }

    /// The nonce prefix.
    pub fn prefix(&self) -> [u8; 7] {
        self.prefix
    }

    fn nonce(&self, counter: u64, last: bool) -> Result<[u8; 12], StreamError> {
        let counter = u32::try_from(counter).map_err(|_| StreamError::TooLarge)?;
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.prefix);
        n[7..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        Ok(n)
    }

    /// Seals segment `counter` in place (appending the tag). Only the last segment may be
    /// shorter than [`SEGMENT_SIZE`]; an empty object is one empty last segment.
    pub fn seal(&self, counter: u64, last: bool, aad: &[u8], segment: &mut Vec<u8>) -> Result<(), StreamError> {
        debug_assert!(segment.len() <= SEGMENT_SIZE && (last || segment.len() == SEGMENT_SIZE));
        self.key
            .seal_in_place(&self.nonce(counter, last)?, aad, segment)
            .map_err(|_| StreamError::Authentication(counter))
    }

    /// Seals a segment that already sits at the end of `out` (from `start`), appending its tag:
    /// the zero-copy path for full segments taken straight from the input.
    pub fn seal_tail(
        &self,
        counter: u64,
        last: bool,
        aad: &[u8],
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), StreamError> {
        let tag = self
            .key
            .seal_detached(&self.nonce(counter, last)?, aad, &mut out[start..])
            .map_err(|_| StreamError::Authentication(counter))?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Seals a segment in place and returns its tag (zero copy: the caller writes the segment,
    /// then the tag).
    pub fn seal_detached(
        &self,
        counter: u64,
        last: bool,
        aad: &[u8],
        segment: &mut [u8],
    ) -> Result<[u8; TAG_SIZE], StreamError> {
        self.key
            .seal_detached(&self.nonce(counter, last)?, aad, segment)
            .map_err(|_| StreamError::Authentication(counter))
    }

    /// Opens segment `counter` in place; returns the plaintext length.
    pub fn open(&self, counter: u64, last: bool, aad: &[u8], sealed: &mut [u8]) -> Result<usize, StreamError> {
        self.key
            .open_in_place(&self.nonce(counter, last)?, aad, sealed)
            .map(|p| p.len())
            .map_err(|_| StreamError::Authentication(counter))
    }
}

/// Seals a whole object held in memory (tests and small payloads); streaming callers use
/// [`SegmentCipher::seal`] segment by segment.
pub fn seal_all(cipher: &SegmentCipher, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
    if plaintext.len() as u64 > MAX_OBJECT_SIZE {
        return Err(StreamError::TooLarge);
    }
    let segments = plaintext.len().div_ceil(SEGMENT_SIZE).max(1);
    let mut out = Vec::with_capacity(plaintext.len() + segments * TAG_SIZE);
    let mut buf = Vec::with_capacity(SEALED_SEGMENT_SIZE);
    for i in 0..segments {
        let chunk = &plaintext[i * SEGMENT_SIZE..((i + 1) * SEGMENT_SIZE).min(plaintext.len())];
        buf.clear();
        buf.extend_from_slice(chunk);
        cipher.seal(i as u64, i + 1 == segments, aad, &mut buf)?;
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

/// Opens a whole sealed object. The segment count follows from the length; the final segment
/// must carry the last flag, so a truncation at a segment boundary fails too.
pub fn open_all(cipher: &SegmentCipher, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StreamError> {
    let mut out = Vec::with_capacity(sealed.len());
    let segments = sealed.len().div_ceil(SEALED_SEGMENT_SIZE).max(1);
    for i in 0..segments {
        let chunk = &sealed[i * SEALED_SEGMENT_SIZE..((i + 1) * SEALED_SEGMENT_SIZE).min(sealed.len())];
        if chunk.len() < TAG_SIZE {
            return Err(StreamError::Truncated);
        }
        let mut buf = chunk.to_vec();
        let last = i + 1 == segments;
        match cipher.open(i as u64, last, aad, &mut buf) {
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A full-size final chunk that is not marked last means segments are missing.
            Err(_)
                if last
                    && chunk.len() == SEALED_SEGMENT_SIZE
                    && cipher.open(i as u64, false, aad, &mut chunk.to_vec()).is_ok() =>
            {
                return Err(StreamError::Truncated);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The sealed segments a plaintext byte range `[start, end)` touches, for an object of
/// `plaintext_len` bytes: `(first segment, last segment)`.
pub fn segments_for_range(plaintext_len: u64, start: u64, end: u64) -> Result<(u64, u64), StreamError> {
    if start >= end || end > plaintext_len {
        return Err(StreamError::BadRange);
    }
    let seg = SEGMENT_SIZE as u64;
    Ok((start / seg, (end - 1) / seg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> SegmentCipher {
        SegmentCipher::new(&SecretBytes::new(random_array::<32>().to_vec())).unwrap()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_segment_boundaries() {
        let c = cipher();
        for n in [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 3 * SEGMENT_SIZE + 7] {
            let p = data(n);
            let s = seal_all(&c, b"tenant|object|voice", &p).unwrap();
            assert_eq!(s.len(), n + n.div_ceil(SEGMENT_SIZE).max(1) * TAG_SIZE);
            assert_eq!(open_all(&c, b"tenant|object|voice", &s).unwrap(), p, "n={n}");
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let c = cipher();
        let p = data(300);
        let s = seal_all(&c, b"aad", &p).unwrap();
        for i in 0..s.len() * 8 {
            let mut t = s.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert!(open_all(&c, b"aad", &t).is_err(), "flip of bit {i} went unnoticed");
        }
    }

    #[test]
    fn truncation_reordering_splicing_and_context_are_detected() {
        let c = cipher();
        let p = data(3 * SEGMENT_SIZE + 100);
        let s = seal_all(&c, b"object-a", &p).unwrap();
        // Truncated at a segment boundary: the new final segment is not marked last.
        assert_eq!(open_all(&c, b"object-a", &s[..2 * SEALED_SEGMENT_SIZE]), Err(StreamError::Truncated));
        // Truncated inside a segment.
        assert!(open_all(&c, b"object-a", &s[..s.len() - 5]).is_err());
        // Two segments swapped.
        let mut r = s.clone();
        let (a, b) = r.split_at_mut(SEALED_SEGMENT_SIZE);
        a.swap_with_slice(&mut b[..SEALED_SEGMENT_SIZE]);
        assert_eq!(open_all(&c, b"object-a", &r), Err(StreamError::Authentication(0)));
        // A segment of another object under the same key (same position) is refused: other AAD.
        let other = seal_all(&c, b"object-b", &p).unwrap();
        let mut spliced = s.clone();
        spliced[SEALED_SEGMENT_SIZE..2 * SEALED_SEGMENT_SIZE]
            .copy_from_slice(&other[SEALED_SEGMENT_SIZE..2 * SEALED_SEGMENT_SIZE]);
        assert_eq!(open_all(&c, b"object-a", &spliced), Err(StreamError::Authentication(1)));
        // The whole object under another context.
        assert!(open_all(&c, b"object-b", &s).is_err());
        // Another object's prefix (a different nonce stream) fails too.
        let key = SecretBytes::new(vec![5; 32]);
        let c1 = SegmentCipher::new(&key).unwrap();
        let c2 = SegmentCipher::new(&key).unwrap();
        assert!(open_all(&c2, b"x", &seal_all(&c1, b"x", &p).unwrap()).is_err());
    }

    #[test]
    fn ranges_touch_only_their_segments() {
        let seg = SEGMENT_SIZE as u64;
        assert_eq!(segments_for_range(10 * seg, 0, 1), Ok((0, 0)));
        assert_eq!(segments_for_range(10 * seg, seg - 1, seg + 1), Ok((0, 1)));
        assert_eq!(segments_for_range(10 * seg, 5 * seg, 6 * seg), Ok((5, 5)));
        assert_eq!(segments_for_range(10, 5, 11), Err(StreamError::BadRange));
        assert_eq!(segments_for_range(10, 5, 5), Err(StreamError::BadRange));
        assert_eq!(MAX_OBJECT_SIZE, 1 << 48);
        let c = cipher();
        let mut buf = vec![0u8; 10];
        assert_eq!(c.seal(1 << 32, true, b"", &mut buf), Err(StreamError::TooLarge));
    }
}
