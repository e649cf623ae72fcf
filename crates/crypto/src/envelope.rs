//! Envelope encryption of stored content: a tenant data key version wraps one random content key
//! per object; the content is sealed with [`crate::stream`] in 64 KiB segments.
//!
//! A blob on disk is a 24-byte header followed by the body:
//!
//! ```text
//! "CVB1" | format u8 (0 plain, 1 AES-256-GCM stream) | 3 zero bytes | plaintext length u64 BE
//!        | nonce prefix [7] | 1 zero byte
//! body: plaintext (format 0) or sealed segments (format 1)
//! ```
//!
//! The wrapped content key lives in the database row beside the data key version, so a rewrap
//! touches rows, never blobs. Every AEAD call binds the object context — tenant, object id and
//! data class — and the header bytes, so a header edit, a wrapped key or a segment moved to
//! another object, or a declared length changed on disk all fail authentication.

use crate::digest::random_array;
use crate::kek::{KekError, KeyEncryptionKey, StaticKek};
use crate::secret::SecretBytes;
use crate::stream::{MAX_OBJECT_SIZE, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, SegmentCipher, StreamError, TAG_SIZE};

const MAGIC: &[u8; 4] = b"CVB1";
/// Bytes of a blob header.
pub const HEADER_LEN: usize = 24;

/// Errors of the envelope layer; they never carry key or content bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The header is not a callvault blob header.
    #[error("blob header is malformed")]
    Header,
    /// The content key does not unwrap: wrong data key version, another object, or tampering.
    #[error("content key does not unwrap under this object's context")]
    Unwrap,
    /// A stream error.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// More or fewer bytes than declared.
    #[error("declared {declared} bytes, received {received}")]
    Length {
        /// The declared length.
        declared: u64,
        /// What arrived.
        received: u64,
    },
    /// The library failed.
    #[error("encryption failed")]
    Seal,
    /// An in-place segment does not fall on a segment boundary.
    #[error("a segment sealed in place must be exactly one segment at a segment boundary")]
    Misaligned,
}

/// What an object's ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub struct ObjectContext<'a> {
    /// Tenant id bytes.
    pub tenant: [u8; 16],
    /// Object id bytes.
    pub object: [u8; 16],
    /// Data class name (`voice`, `screen`, `chat`, ...).
    pub class: &'a str,
}

impl ObjectContext<'_> {
    fn aad(&self, label: &[u8], header: &[u8; HEADER_LEN], key_version: Option<u32>) -> Vec<u8> {
        let mut a = Vec::with_capacity(label.len() + 32 + 2 + self.class.len() + HEADER_LEN + 4);
        a.extend_from_slice(label);
        a.extend_from_slice(&self.tenant);
        a.extend_from_slice(&self.object);
        a.extend_from_slice(&(self.class.len() as u16).to_be_bytes());
        a.extend_from_slice(self.class.as_bytes());
        a.extend_from_slice(header);
        if let Some(v) = key_version {
            a.extend_from_slice(&v.to_be_bytes());
        }
        a
    }
}

/// The associated data of every segment: SHA-256 of the object context and the header. A fixed
/// 32 bytes (a multiple of the 16-byte GHASH block) keeps aws-lc on its fast AES-GCM path, which
/// a ragged AAD length slows by up to half for decryption; the digest binds the same context.
fn segment_aad(ctx: &ObjectContext<'_>, header: &BlobHeader) -> Vec<u8> {
    crate::digest::sha256(&ctx.aad(b"callvault/segment/v1", &header.encode(), None)).to_vec()
}

/// A blob header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    /// Whether the body is sealed.
    pub encrypted: bool,
    /// Plaintext bytes.
    pub plaintext_len: u64,
    /// The nonce prefix of the segments (zero for plain blobs).
    pub prefix: [u8; 7],
}

impl BlobHeader {
    /// The header of a plain blob.
    pub fn plain(plaintext_len: u64) -> Self {
        Self { encrypted: false, plaintext_len, prefix: [0; 7] }
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(MAGIC);
        h[4] = u8::from(self.encrypted);
        h[8..16].copy_from_slice(&self.plaintext_len.to_be_bytes());
        h[16..23].copy_from_slice(&self.prefix);
        h
    }

    /// Decodes a header; any unknown format or non-zero reserved byte is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC || bytes[5..8] != [0, 0, 0] || bytes[23] != 0 {
            return Err(EnvelopeError::Header);
        }
        let encrypted = match bytes[4] {
            0 => false,
            1 => true,
            _ => return Err(EnvelopeError::Header),
        };
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[8..16]);
        let plaintext_len = u64::from_be_bytes(len);
        if plaintext_len > MAX_OBJECT_SIZE {
            return Err(EnvelopeError::Header);
        }
        let mut prefix = [0u8; 7];
        prefix.copy_from_slice(&bytes[16..23]);
        if !encrypted && prefix != [0; 7] {
            return Err(EnvelopeError::Header);
        }
        Ok(Self { encrypted, plaintext_len, prefix })
    }

    /// Segments of the body (an empty object has one empty segment).
    pub fn segments(&self) -> u64 {
        self.plaintext_len.div_ceil(SEGMENT_SIZE as u64).max(1)
    }

    /// Bytes of the body on disk.
    pub fn body_len(&self) -> u64 {
        if self.encrypted { self.plaintext_len + self.segments() * TAG_SIZE as u64 } else { self.plaintext_len }
    }

    /// Bytes of the whole blob on disk.
    pub fn blob_len(&self) -> u64 {
        HEADER_LEN as u64 + self.body_len()
    }
}

/// A version of a tenant data key (AES-256), unwrapped from the KEK.
pub struct DataKey {
    version: u32,
    key: StaticKek,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(v{}, ***)", self.version)
    }
}

/// The KEK's associated data for a data key version: tenant and version.
pub fn data_key_aad(tenant: &[u8; 16], version: u32) -> Vec<u8> {
    let mut a = b"callvault/data-key/v1".to_vec();
    a.extend_from_slice(tenant);
    a.extend_from_slice(&version.to_be_bytes());
    a
}

/// The KEK's associated data for a tenant's blind-index key.
pub fn blind_key_aad(tenant: &[u8; 16]) -> Vec<u8> {
    let mut a = b"callvault/blind-index-key/v1".to_vec();
    a.extend_from_slice(tenant);
    a
}

impl DataKey {
    /// A fresh random data key version, returned with its KEK-wrapped form.
    pub fn generate(
        kek: &dyn KeyEncryptionKey,
        tenant: &[u8; 16],
        version: u32,
    ) -> Result<(DataKey, Vec<u8>), KekError> {
        let key = SecretBytes::new(random_array::<32>().to_vec());
        let wrapped = kek.wrap(&data_key_aad(tenant, version), key.expose())?;
        Ok((DataKey { version, key: StaticKek::new(key) }, wrapped))
    }

    /// Unwraps a stored data key version.
    pub fn unwrap(
        kek: &dyn KeyEncryptionKey,
        tenant: &[u8; 16],
        version: u32,
        wrapped: &[u8],
    ) -> Result<DataKey, KekError> {
        let key = kek.unwrap(&data_key_aad(tenant, version), wrapped)?;
        if key.expose().len() != 32 {
            return Err(KekError::Unwrap);
        }
        Ok(DataKey { version, key: StaticKek::new(key) })
    }

    /// The version number.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Wraps an object's content key, bound to the object context, the header and this version.
    pub fn wrap_content_key(
        &self,
        ctx: &ObjectContext<'_>,
        header: &BlobHeader,
        content_key: &SecretBytes,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let aad = ctx.aad(b"callvault/content-key/v1", &header.encode(), Some(self.version));
        self.key.wrap(&aad, content_key.expose()).map_err(|_| EnvelopeError::Seal)
    }

    /// Unwraps an object's content key.
    pub fn unwrap_content_key(
        &self,
        ctx: &ObjectContext<'_>,
        header: &BlobHeader,
        wrapped: &[u8],
    ) -> Result<SecretBytes, EnvelopeError> {
        let aad = ctx.aad(b"callvault/content-key/v1", &header.encode(), Some(self.version));
        let key = self.key.unwrap(&aad, wrapped).map_err(|_| EnvelopeError::Unwrap)?;
        if key.expose().len() != 32 {
            return Err(EnvelopeError::Unwrap);
        }
        Ok(key)
    }

    /// Seals a short value (an encrypted field) bound to `aad`: `nonce ‖ ciphertext ‖ tag`
    /// behind the 4-byte magic of the key-wrap format.
    pub fn seal_value(&self, aad: &[u8], value: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        self.key.wrap(aad, value).map_err(|_| EnvelopeError::Seal)
    }

    /// Opens a value sealed by [`DataKey::seal_value`].
    pub fn open_value(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, EnvelopeError> {
        self.key.unwrap(aad, sealed).map_err(|_| EnvelopeError::Unwrap)
    }
}

/// A keyed blind index: HMAC-SHA-256 of a normalised value under a per-tenant key that survives
/// data key rotation, so equality search works without decrypting.
pub struct BlindIndexKey(SecretBytes);

impl BlindIndexKey {
    /// A fresh key and its KEK-wrapped form.
    pub fn generate(kek: &dyn KeyEncryptionKey, tenant: &[u8; 16]) -> Result<(Self, Vec<u8>), KekError> {
        let key = SecretBytes::new(random_array::<32>().to_vec());
        let wrapped = kek.wrap(&blind_key_aad(tenant), key.expose())?;
        Ok((Self(key), wrapped))
    }

    /// Unwraps a stored key.
    pub fn unwrap(kek: &dyn KeyEncryptionKey, tenant: &[u8; 16], wrapped: &[u8]) -> Result<Self, KekError> {
        Ok(Self(kek.unwrap(&blind_key_aad(tenant), wrapped)?))
    }

    /// The index of `value` in `field` of `scope` (a list or form id): 16 bytes, hex.
    pub fn index(&self, scope: &[u8], field: &str, value: &str) -> String {
        let mut msg = Vec::with_capacity(scope.len() + field.len() + value.len() + 4);
        msg.extend_from_slice(&(scope.len() as u16).to_be_bytes());
        msg.extend_from_slice(scope);
        msg.extend_from_slice(&(field.len() as u16).to_be_bytes());
        msg.extend_from_slice(field.as_bytes());
        msg.extend_from_slice(value.as_bytes());
        let tag = crate::digest::hmac_sha256(self.0.expose(), &msg);
        hex::encode(&tag[..16])
    }
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(***)")
    }
}

/// Encrypts one object as a stream: the declared plaintext length is fixed up front (it is part
/// of the authenticated header), input arrives in pieces of any size, sealed output leaves one
/// segment at a time.
pub struct Sealer {
    cipher: SegmentCipher,
    aad: Vec<u8>,
    header: BlobHeader,
    counter: u64,
    received: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

/// A new sealed object: the header to write first and the wrapped content key to store.
pub struct NewObject {
    /// Encodes to the first [`HEADER_LEN`] bytes of the blob.
    pub header: BlobHeader,
    /// The content key wrapped by the data key version.
    pub wrapped_key: Vec<u8>,
    /// The sealer for the body.
    pub sealer: Sealer,
}

impl Sealer {
    /// Starts an object of `declared_len` plaintext bytes under a fresh content key.
    pub fn start(dk: &DataKey, ctx: &ObjectContext<'_>, declared_len: u64) -> Result<NewObject, EnvelopeError> {
        if declared_len > MAX_OBJECT_SIZE {
            return Err(StreamError::TooLarge.into());
        }
        let content_key = SecretBytes::new(random_array::<32>().to_vec());
        let cipher = SegmentCipher::new(&content_key)?;
        let header = BlobHeader { encrypted: true, plaintext_len: declared_len, prefix: cipher.prefix() };
        let wrapped_key = dk.wrap_content_key(ctx, &header, &content_key)?;
        let aad = segment_aad(ctx, &header);
        // The buffer grows only for pieces that are not whole segments (the last one, unaligned
        // writes): uploads that hand over whole segments hold no copy of their own.
        let sealer = Sealer { cipher, aad, header, counter: 0, received: 0, buf: Vec::new() };
        Ok(NewObject { header, wrapped_key, sealer })
    }

    /// Adds input; `out` receives every segment completed by it (at most one segment is held).
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        let declared = self.header.plaintext_len;
        if self.received + input.len() as u64 > declared {
            return Err(EnvelopeError::Length { declared, received: self.received + input.len() as u64 });
        }
        self.received += input.len() as u64;
        // Whole segments straight from the input: copied once into `out` and sealed there.
        while self.buf.is_empty() && input.len() >= SEGMENT_SIZE && self.counter + 1 < self.header.segments() {
            let start = out.len();
            out.extend_from_slice(&input[..SEGMENT_SIZE]);
            self.cipher.seal_tail(self.counter, false, &self.aad, out, start)?;
            self.counter += 1;
            input = &input[SEGMENT_SIZE..];
        }
        while !input.is_empty() {
            let take = (SEGMENT_SIZE - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            let is_last = self.counter + 1 == self.header.segments();
            if self.buf.len() == SEGMENT_SIZE && !is_last {
                self.flush(false, out)?;
            }
        }
        Ok(())
    }

    /// Whether a piece of `len` bytes is exactly the next segment, so it can be sealed in place.
    pub fn aligned_for(&self, len: usize) -> bool {
        let segments = self.header.segments();
        let is_last = self.counter + 1 == segments;
        self.buf.is_empty()
            && self.counter < segments
            && if is_last {
                self.received + len as u64 == self.header.plaintext_len && len > 0
            } else {
                len == SEGMENT_SIZE
            }
    }

    /// Seals the next segment in place (zero copy) and returns its tag; the caller writes the
    /// segment, then the tag. Only for pieces where [`Sealer::aligned_for`] holds.
    pub fn seal_segment_in_place(&mut self, segment: &mut [u8]) -> Result<[u8; TAG_SIZE], EnvelopeError> {
        if !self.aligned_for(segment.len()) {
            return Err(EnvelopeError::Misaligned);
        }
        let last = self.counter + 1 == self.header.segments();
        let tag = self.cipher.seal_detached(self.counter, last, &self.aad, segment)?;
        self.counter += 1;
        self.received += segment.len() as u64;
        Ok(tag)
    }

    fn flush(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.cipher.seal(self.counter, last, &self.aad, &mut self.buf)?;
        out.extend_from_slice(&self.buf);
        self.buf.clear();
        self.counter += 1;
        Ok(())
    }

    /// Seals the final segment; fails when fewer bytes than declared arrived.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        if self.received != self.header.plaintext_len {
            return Err(EnvelopeError::Length { declared: self.header.plaintext_len, received: self.received });
        }
        if self.counter == self.header.segments() {
            // The final segment was sealed in place already.
            return Ok(());
        }
        self.flush(true, out)
    }
}

/// Decrypts the segments of one object.
pub struct Opener {
    cipher: SegmentCipher,
    aad: Vec<u8>,
    header: BlobHeader,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener(***)")
    }
}

impl Opener {
    /// Opens an object given its header and wrapped content key.
    pub fn new(
        dk: &DataKey,
        ctx: &ObjectContext<'_>,
        header: &BlobHeader,
        wrapped_key: &[u8],
    ) -> Result<Opener, EnvelopeError> {
        if !header.encrypted {
            return Err(EnvelopeError::Header);
        }
        let content_key = dk.unwrap_content_key(ctx, header, wrapped_key)?;
        let cipher = SegmentCipher::with_prefix(&content_key, header.prefix)?;
        Ok(Opener { cipher, aad: segment_aad(ctx, header), header: *header })
    }

    /// The header.
    pub fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// Where segment `index` starts in the blob, and its sealed length.
    pub fn segment_location(&self, index: u64) -> (u64, usize) {
        let segs = self.header.segments();
        let start = HEADER_LEN as u64 + index * SEALED_SEGMENT_SIZE as u64;
        let len = if index + 1 == segs {
            (self.header.plaintext_len - index * SEGMENT_SIZE as u64) as usize + TAG_SIZE
        } else {
            SEALED_SEGMENT_SIZE
        };
        (start, len)
    }

    /// Opens segment `index` in place, returning its plaintext.
    pub fn open_segment<'b>(&self, index: u64, sealed: &'b mut [u8]) -> Result<&'b mut [u8], EnvelopeError> {
        let segs = self.header.segments();
        if index >= segs {
            return Err(StreamError::BadRange.into());
        }
        if sealed.len() != self.segment_location(index).1 {
            return Err(StreamError::Truncated.into());
        }
        let n = self.cipher.open(index, index + 1 == segs, &self.aad, sealed)?;
        Ok(&mut sealed[..n])
    }
}

/// Seals a whole object held in memory: returns the blob bytes and the wrapped content key.
pub fn seal_blob(dk: &DataKey, ctx: &ObjectContext<'_>, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
    let NewObject { header, wrapped_key, mut sealer } = Sealer::start(dk, ctx, plaintext.len() as u64)?;
    let mut out = Vec::with_capacity(header.blob_len() as usize);
    out.extend_from_slice(&header.encode());
    sealer.update(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    Ok((out, wrapped_key))
}

/// Opens a whole blob held in memory (plain or sealed; `wrapped_key` is needed for sealed ones).
pub fn open_blob(
    dk: Option<&DataKey>,
    ctx: &ObjectContext<'_>,
    blob: &[u8],
    wrapped_key: Option<&[u8]>,
) -> Result<Vec<u8>, EnvelopeError> {
    let header = BlobHeader::decode(blob)?;
    if blob.len() as u64 != header.blob_len() {
        return Err(if (blob.len() as u64) < header.blob_len() {
            StreamError::Truncated.into()
        } else {
            StreamError::TrailingData.into()
        });
    }
    if !header.encrypted {
        return Ok(blob[HEADER_LEN..].to_vec());
    }
    let (Some(dk), Some(wrapped)) = (dk, wrapped_key) else { return Err(EnvelopeError::Unwrap) };
    let opener = Opener::new(dk, ctx, &header, wrapped)?;
    let mut out = Vec::with_capacity(header.plaintext_len as usize);
    for i in 0..header.segments() {
        let (start, len) = opener.segment_location(i);
        let mut seg = blob[start as usize..start as usize + len].to_vec();
        out.extend_from_slice(opener.open_segment(i, &mut seg)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> StaticKek {
        StaticKek::new(SecretBytes::new(vec![7; 32]))
    }

    fn ctx(object: u8) -> ObjectContext<'static> {
        ObjectContext { tenant: [1; 16], object: [object; 16], class: "voice" }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 253) as u8).collect()
    }

    #[test]
    fn streaming_in_odd_pieces_equals_one_shot() {
        let (dk, _) = DataKey::generate(&kek(), &[1; 16], 1).unwrap();
        for n in [0, 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE, 2 * SEGMENT_SIZE + 333] {
            let p = data(n);
            let NewObject { header, wrapped_key, mut sealer } = Sealer::start(&dk, &ctx(2), n as u64).unwrap();
            let mut blob = header.encode().to_vec();
            for piece in p.chunks(1000) {
                let mut out = Vec::new();
                sealer.update(piece, &mut out).unwrap();
                assert!(out.len() <= SEALED_SEGMENT_SIZE);
                blob.extend_from_slice(&out);
            }
            sealer.finish(&mut blob).unwrap();
            assert_eq!(blob.len() as u64, header.blob_len());
            assert_eq!(open_blob(Some(&dk), &ctx(2), &blob, Some(&wrapped_key)).unwrap(), p, "n={n}");
        }
    }

    #[test]
    fn in_place_segments_equal_the_copying_path_and_mix_with_it() {
        let (dk, _) = DataKey::generate(&kek(), &[1; 16], 1).unwrap();
        for n in [1, SEGMENT_SIZE, 3 * SEGMENT_SIZE, 3 * SEGMENT_SIZE + 10] {
            let p = data(n);
            let NewObject { header, wrapped_key, mut sealer } = Sealer::start(&dk, &ctx(3), n as u64).unwrap();
            let mut blob = header.encode().to_vec();
            let mut work = p.clone();
            let mut at = 0;
            let mut segment = 0;
            while at < n {
                let end = (at + SEGMENT_SIZE).min(n);
                if segment == 1 {
                    // One segment through the copying path, to show the two mix.
                    let mut out = Vec::new();
                    sealer.update(&work[at..end], &mut out).unwrap();
                    blob.extend_from_slice(&out);
                } else {
                    assert!(sealer.aligned_for(end - at));
                    let tag = sealer.seal_segment_in_place(&mut work[at..end]).unwrap();
                    blob.extend_from_slice(&work[at..end]);
                    blob.extend_from_slice(&tag);
                }
                at = end;
                segment += 1;
            }
            let mut out = Vec::new();
            sealer.finish(&mut out).unwrap();
            blob.extend_from_slice(&out);
            assert_eq!(open_blob(Some(&dk), &ctx(3), &blob, Some(&wrapped_key)).unwrap(), p, "n={n}");
        }
        let mut s = Sealer::start(&dk, &ctx(3), 10).unwrap().sealer;
        assert_eq!(s.seal_segment_in_place(&mut [0u8; 5]), Err(EnvelopeError::Misaligned));
    }

    #[test]
    fn wrong_declared_length_is_refused() {
        let (dk, _) = DataKey::generate(&kek(), &[1; 16], 1).unwrap();
        let mut s = Sealer::start(&dk, &ctx(2), 10).unwrap().sealer;
        let mut out = Vec::new();
        assert!(matches!(s.update(&[0; 11], &mut out), Err(EnvelopeError::Length { declared: 10, received: 11 })));
        s.update(&[0; 9], &mut out).unwrap();
        assert!(matches!(s.finish(&mut out), Err(EnvelopeError::Length { declared: 10, received: 9 })));
    }

    /// Every bit of a small stored object — header, wrapped content key, segment, tag — flipped
    /// one at a time: each flip is detected.
    #[test]
    fn every_bit_flip_of_a_stored_object_is_detected() {
        let (dk, _) = DataKey::generate(&kek(), &[1; 16], 3).unwrap();
        let p = data(200);
        let (blob, wrapped) = seal_blob(&dk, &ctx(9), &p).unwrap();
        assert_eq!(open_blob(Some(&dk), &ctx(9), &blob, Some(&wrapped)).unwrap(), p);
        for bit in 0..blob.len() * 8 {
            let mut t = blob.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            assert!(open_blob(Some(&dk), &ctx(9), &t, Some(&wrapped)).is_err(), "blob bit {bit}");
        }
        for bit in 0..wrapped.len() * 8 {
            let mut w = wrapped.clone();
            w[bit / 8] ^= 1 << (bit % 8);
            assert!(open_blob(Some(&dk), &ctx(9), &blob, Some(&w)).is_err(), "wrapped-key bit {bit}");
        }
    }

    #[test]
    fn moved_keys_segments_and_versions_fail() {
        let kek = kek();
        let (dk, wrapped_dk) = DataKey::generate(&kek, &[1; 16], 1).unwrap();
        let p = data(3 * SEGMENT_SIZE + 5);
        let (a, ka) = seal_blob(&dk, &ctx(1), &p).unwrap();
        let (b, kb) = seal_blob(&dk, &ctx(2), &p).unwrap();
        // Wrapped key of object 2 used for object 1.
        assert_eq!(open_blob(Some(&dk), &ctx(1), &a, Some(&kb)), Err(EnvelopeError::Unwrap));
        // Another class.
        let voice_as_chat = ObjectContext { class: "chat", ..ctx(1) };
        assert!(open_blob(Some(&dk), &voice_as_chat, &a, Some(&ka)).is_err());
        // Splice segment 1 of object 2 into object 1 (after re-keying is impossible: keys differ).
        let mut spliced = a.clone();
        let s = HEADER_LEN + SEALED_SEGMENT_SIZE;
        spliced[s..s + SEALED_SEGMENT_SIZE].copy_from_slice(&b[s..s + SEALED_SEGMENT_SIZE]);
        assert!(open_blob(Some(&dk), &ctx(1), &spliced, Some(&ka)).is_err());
        // Reordered segments.
        let mut r = a.clone();
        let (x, y) = r[HEADER_LEN..].split_at_mut(SEALED_SEGMENT_SIZE);
        x.swap_with_slice(&mut y[..SEALED_SEGMENT_SIZE]);
        assert!(open_blob(Some(&dk), &ctx(1), &r, Some(&ka)).is_err());
        // Truncation at a segment boundary and inside one; trailing bytes.
        assert!(open_blob(Some(&dk), &ctx(1), &a[..HEADER_LEN + 2 * SEALED_SEGMENT_SIZE], Some(&ka)).is_err());
        assert!(open_blob(Some(&dk), &ctx(1), &a[..a.len() - 1], Some(&ka)).is_err());
        let mut longer = a.clone();
        longer.push(0);
        assert!(open_blob(Some(&dk), &ctx(1), &longer, Some(&ka)).is_err());
        // A truncated header rewritten to match the shorter body still fails (length is in the AAD).
        let mut h = BlobHeader::decode(&a).unwrap();
        h.plaintext_len = 2 * SEGMENT_SIZE as u64;
        let mut cut = h.encode().to_vec();
        cut.extend_from_slice(&a[HEADER_LEN..HEADER_LEN + 2 * SEALED_SEGMENT_SIZE]);
        assert!(open_blob(Some(&dk), &ctx(1), &cut, Some(&ka)).is_err());
        // The data key of another version or tenant does not unwrap.
        assert!(DataKey::unwrap(&kek, &[1; 16], 2, &wrapped_dk).is_err());
        assert!(DataKey::unwrap(&kek, &[2; 16], 1, &wrapped_dk).is_err());
        let again = DataKey::unwrap(&kek, &[1; 16], 1, &wrapped_dk).unwrap();
        assert_eq!(open_blob(Some(&again), &ctx(1), &a, Some(&ka)).unwrap(), p);
        let (other_version, _) = DataKey::generate(&kek, &[1; 16], 2).unwrap();
        assert!(open_blob(Some(&other_version), &ctx(1), &a, Some(&ka)).is_err());
    }

    #[test]
    fn single_segments_open_for_ranges_and_plain_blobs_share_the_layout() {
        let (dk, _) = DataKey::generate(&kek(), &[1; 16], 1).unwrap();
        let p = data(5 * SEGMENT_SIZE + 17);
        let (blob, wrapped) = seal_blob(&dk, &ctx(4), &p).unwrap();
        let header = BlobHeader::decode(&blob).unwrap();
        let opener = Opener::new(&dk, &ctx(4), &header, &wrapped).unwrap();
        for i in [5, 2, 0] {
            let (start, len) = opener.segment_location(i);
            let mut seg = blob[start as usize..start as usize + len].to_vec();
            let plain = opener.open_segment(i, &mut seg).unwrap();
            let from = i as usize * SEGMENT_SIZE;
            assert_eq!(plain, &p[from..(from + SEGMENT_SIZE).min(p.len())]);
        }
        let mut plain_blob = BlobHeader::plain(3).encode().to_vec();
        plain_blob.extend_from_slice(b"abc");
        assert_eq!(open_blob(None, &ctx(4), &plain_blob, None).unwrap(), b"abc");
        assert_eq!(BlobHeader::decode(b"CVB2xxxxxxxxxxxxxxxxxxxxxxx"), Err(EnvelopeError::Header));
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let kek = kek();
        let (k, w) = BlindIndexKey::generate(&kek, &[1; 16]).unwrap();
        let k2 = BlindIndexKey::unwrap(&kek, &[1; 16], &w).unwrap();
        assert_eq!(k.index(b"list", "phone", "+15551234567"), k2.index(b"list", "phone", "+15551234567"));
        assert_ne!(k.index(b"list", "phone", "+15551234567"), k.index(b"list", "phone", "+15551234568"));
        assert_ne!(k.index(b"list", "phone", "x"), k.index(b"list", "mobile", "x"));
        let (other, _) = BlindIndexKey::generate(&kek, &[1; 16]).unwrap();
        assert_ne!(k.index(b"l", "f", "v"), other.index(b"l", "f", "v"));
        assert_eq!(format!("{k:?}"), "BlindIndexKey(***)");
    }
}
