//! A compact, immutable set of phone numbers for do-not-call registries (the US national
//! registry holds about 258.5 million numbers): under one byte per number, one look-up in a
//! few hundred nanoseconds, no false positives.
//!
//! The structure is a partitioned Elias–Fano code. Keys (E.164 digits as an integer) minus the
//! smallest key are split by their high bits into blocks of the universe holding about 128 keys
//! each. One 64-bit index entry per block holds where the block's bits start, how many keys it
//! has and its low-bit width `l`; the block is the keys' middle bits in unary (one `1` per key,
//! one `0` per bucket of `2^l` values) followed by each key's low `l` bits. A look-up reads the
//! index entry, scans the unary part to its bucket (about 200 bits) and compares low bits: two
//! or three cache lines, no false positives. No `unsafe`; the layout is written and read as
//! little-endian words, so a set survives restarts without rebuilding from text.

use std::io::{self, Read, Write};

/// Target keys per block: `block_bits` is chosen so the universe holds about this many per block.
const KEYS_PER_BLOCK_LOG2: u32 = 7;

const MAGIC: &[u8; 8] = b"CVDNC02\0";

/// Index entry layout: bit offset (36 bits), key count (21 bits), low width (6 bits).
const OFFSET_BITS: u32 = 36;
const COUNT_BITS: u32 = 21;
const MAX_BLOCK_KEYS: u64 = (1 << COUNT_BITS) - 1;

fn entry(offset: u64, n: u64, l: u32) -> u64 {
    offset | n << OFFSET_BITS | u64::from(l) << (OFFSET_BITS + COUNT_BITS)
}

fn unpack(e: u64) -> (u64, u64, u32) {
    (e & ((1 << OFFSET_BITS) - 1), (e >> OFFSET_BITS) & MAX_BLOCK_KEYS, (e >> (OFFSET_BITS + COUNT_BITS)) as u32)
}

/// Why keys cannot be built into a set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Keys must be strictly increasing.
    #[error("keys are not strictly increasing at position {0}")]
    NotSorted(u64),
    /// The keys are too clustered or too many for the layout.
    #[error("the keys are too many or too clustered for a compact set")]
    TooLarge,
}

/// A compact set of `u64` keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactSet {
    len: u64,
    min: u64,
    max: u64,
    block_bits: u32,
    /// One entry per block (see `entry`).
    index: Vec<u64>,
    data: Vec<u64>,
}

impl std::fmt::Debug for CompactSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactSet").field("len", &self.len).field("bytes", &self.heap_bytes()).finish()
    }
}

/// Appends bits to a word vector.
struct BitWriter {
    words: Vec<u64>,
    bit: u64,
}

impl BitWriter {
    fn push(&mut self, value: u64, width: u32) {
        if width == 0 {
            return;
        }
        let word = usize::try_from(self.bit / 64).unwrap_or(usize::MAX);
        let shift = (self.bit % 64) as u32;
        while self.words.len() <= word + 1 {
            self.words.push(0);
        }
        let v = if width == 64 { value } else { value & ((1u64 << width) - 1) };
        self.words[word] |= v << shift;
        if shift + width > 64 {
            self.words[word + 1] |= v >> (64 - shift);
        }
        self.bit += u64::from(width);
    }
}

/// Blocks of about 2^7 keys when keys spread evenly: bits of the span per key, plus 7.
fn block_bits_for(len: u64, span: u64) -> u32 {
    let per_key = (span / len.max(1)).max(1);
    (64 - per_key.leading_zeros() + KEYS_PER_BLOCK_LOG2).clamp(8, 63)
}

fn read_bits(words: &[u64], bit: u64, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let word = (bit / 64) as usize;
    let shift = (bit % 64) as u32;
    let lo = words.get(word).copied().unwrap_or(0) >> shift;
    let v = if shift + width > 64 { lo | (words.get(word + 1).copied().unwrap_or(0) << (64 - shift)) } else { lo };
    if width == 64 { v } else { v & ((1u64 << width) - 1) }
}

impl CompactSet {
    /// An empty set.
    pub fn empty() -> CompactSet {
        CompactSet { len: 0, min: 0, max: 0, block_bits: 0, index: Vec::new(), data: Vec::new() }
    }

    /// Builds from strictly increasing keys.
    pub fn from_sorted(keys: &[u64]) -> Result<CompactSet, BuildError> {
        if let Some(i) = keys.windows(2).position(|w| w[1] <= w[0]) {
            return Err(BuildError::NotSorted(i as u64 + 1));
        }
        let (Some(&min), Some(&max)) = (keys.first(), keys.last()) else { return Ok(CompactSet::empty()) };
        let len = keys.len() as u64;
        // Clustered keys (a list mixing countries, say) would crowd a few blocks and make their
        // unary scans long: narrow the blocks while the fullest holds more than 1,024 keys and
        // the index stays under one byte per key.
        let mut block_bits = block_bits_for(len, max - min);
        while block_bits > 8 && ((max - min) >> (block_bits - 1)) < len / 8 {
            let fullest = keys
                .chunk_by(|a, b| (a - min) >> block_bits == (b - min) >> block_bits)
                .map(<[u64]>::len)
                .max()
                .unwrap_or(0);
            if fullest <= 1024 {
                break;
            }
            block_bits -= 1;
        }
        Self::build_with(len, min, max, block_bits, keys.iter().copied())
    }

    /// Builds from `len` strictly increasing keys between `min` and `max` (both included) without
    /// holding them in memory.
    pub fn build(len: u64, min: u64, max: u64, keys: impl IntoIterator<Item = u64>) -> Result<CompactSet, BuildError> {
        if max < min {
            return Err(BuildError::NotSorted(0));
        }
        Self::build_with(len, min, max, block_bits_for(len, max - min), keys)
    }

    fn build_with(
        len: u64,
        min: u64,
        max: u64,
        block_bits: u32,
        keys: impl IntoIterator<Item = u64>,
    ) -> Result<CompactSet, BuildError> {
        if len == 0 {
            return Ok(CompactSet::empty());
        }
        if max < min {
            return Err(BuildError::NotSorted(0));
        }
        let span = max - min;
        let blocks = (span >> block_bits) + 1;
        if blocks > 1 << 32 {
            return Err(BuildError::TooLarge);
        }
        let mut index = Vec::with_capacity(usize::try_from(blocks).unwrap_or(0));
        let mut w = BitWriter { words: Vec::with_capacity(usize::try_from(len / 8).unwrap_or(0)), bit: 0 };
        let mut block_keys: Vec<u64> = Vec::with_capacity(1024);
        let mut current = 0u64;
        let mut prev: Option<u64> = None;
        let mut count = 0u64;
        let flush = |block_keys: &mut Vec<u64>, index: &mut Vec<u64>, w: &mut BitWriter| -> Result<(), BuildError> {
            let n = block_keys.len() as u64;
            if n > MAX_BLOCK_KEYS || w.bit >= 1 << OFFSET_BITS {
                return Err(BuildError::TooLarge);
            }
            let l = {
                let ratio = (1u64 << block_bits) / n.max(1);
                if ratio <= 1 { 0 } else { 63 - ratio.leading_zeros() }
            };
            index.push(entry(w.bit, n, l));
            if n == 0 {
                return Ok(());
            }
            let mut bucket = 0u64;
            for &k in block_keys.iter() {
                let h = k >> l;
                while bucket < h {
                    w.push(0, 1);
                    bucket += 1;
                }
                w.push(1, 1);
            }
            // Every bucket's zero: the unary part has a fixed length (n + buckets).
            while bucket < (1u64 << block_bits) >> l {
                w.push(0, 1);
                bucket += 1;
            }
            for &k in block_keys.iter() {
                w.push(k, l);
            }
            block_keys.clear();
            Ok(())
        };
        for key in keys {
            if prev.is_some_and(|p| key <= p) || key < min || key > max {
                return Err(BuildError::NotSorted(count));
            }
            prev = Some(key);
            count += 1;
            let rel = key - min;
            let block = rel >> block_bits;
            while current < block {
                flush(&mut block_keys, &mut index, &mut w)?;
                current += 1;
            }
            block_keys.push(rel & ((1u64 << block_bits) - 1));
        }
        if count != len {
            return Err(BuildError::NotSorted(count));
        }
        while (index.len() as u64) < blocks {
            flush(&mut block_keys, &mut index, &mut w)?;
        }
        w.words.shrink_to_fit();
        Ok(CompactSet { len, min, max, block_bits, index, data: w.words })
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the set holds.
    pub fn heap_bytes(&self) -> usize {
        self.index.len() * 8 + self.data.len() * 8
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: u64) -> bool {
        if self.len == 0 || key < self.min || key > self.max {
            return false;
        }
        let rel = key - self.min;
        let Some(&e) = self.index.get((rel >> self.block_bits) as usize) else { return false };
        let (off, n, l) = unpack(e);
        if n == 0 {
            return false;
        }
        let data = &self.data;
        let buckets = (1u64 << self.block_bits) >> l;
        let low_base = off + n + buckets;
        let inner = rel & ((1u64 << self.block_bits) - 1);
        // Where the key's unary bit and low bits probably are (keys spread evenly): touch both
        // cache lines now so their misses overlap instead of following each other.
        let guess = ((u128::from(n) * u128::from(inner)) >> self.block_bits) as u64;
        std::hint::black_box((
            data.get(((off + (inner >> l) + guess) / 64) as usize).copied(),
            data.get(((low_base + guess * u64::from(l)) / 64) as usize).copied(),
        ));
        let bucket = inner >> l;
        let low = if l == 0 { 0 } else { inner & ((1u64 << l) - 1) };
        // The bucket starts after its `bucket`-th zero in the unary part.
        let mut zeros_left = bucket;
        let mut p = off;
        let mut ones_before = 0u64;
        loop {
            let word = read_bits(data, p, 64);
            let zeros_here = u64::from(word.count_zeros());
            if zeros_left <= zeros_here {
                let pos = if zeros_left == 0 {
                    0
                } else {
                    let mut inv = !word;
                    for _ in 1..zeros_left {
                        inv &= inv - 1;
                    }
                    inv.trailing_zeros() + 1
                };
                let below = if pos >= 64 { word } else { word & ((1u64 << pos) - 1) };
                ones_before += u64::from(below.count_ones());
                p += u64::from(pos);
                break;
            }
            zeros_left -= zeros_here;
            ones_before += u64::from(word.count_ones());
            p += 64;
            if p >= low_base {
                return false;
            }
        }
        // The bucket's keys: consecutive ones from `p`, their low bits in order.
        let mut index = ones_before;
        let mut run = read_bits(data, p, 64);
        let mut run_left = 64u32;
        while index < n {
            if run_left == 0 {
                p += 64;
                run = read_bits(data, p, 64);
                run_left = 64;
            }
            if run & 1 == 0 {
                return false;
            }
            let v = read_bits(data, low_base + index * u64::from(l), l);
            if v >= low {
                return v == low;
            }
            index += 1;
            run >>= 1;
            run_left -= 1;
        }
        false
    }

    /// Every key, in order (for exports and tests).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.index.len()).flat_map(move |b| {
            let (off, n, l) = unpack(self.index[b]);
            let low_base = off + n + ((1u64 << self.block_bits) >> l);
            let base = self.min + ((b as u64) << self.block_bits);
            let mut bucket = 0u64;
            let mut p = off;
            (0..n).map(move |i| {
                while read_bits(&self.data, p, 1) == 0 {
                    bucket += 1;
                    p += 1;
                }
                p += 1;
                base + (bucket << l | read_bits(&self.data, low_base + i * u64::from(l), l))
            })
        })
    }

    /// Writes the set (little-endian words after a header).
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        for v in
            [self.len, self.min, self.max, u64::from(self.block_bits), self.index.len() as u64, self.data.len() as u64]
        {
            w.write_all(&v.to_le_bytes())?;
        }
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in self.index.chunks(8192).chain(self.data.chunks(8192)) {
            buf.clear();
            chunk.iter().for_each(|o| buf.extend_from_slice(&o.to_le_bytes()));
            w.write_all(&buf)?;
        }
        Ok(())
    }

    /// Reads a set written by [`CompactSet::write_to`], checking its structure (a damaged file is
    /// an error, never a set that answers wrongly without notice; the server also keeps a digest
    /// of each file).
    pub fn read_from(r: &mut impl Read) -> io::Result<CompactSet> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a callvault number set: {m}"));
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("wrong magic"));
        }
        let mut head = [0u64; 6];
        for h in &mut head {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            *h = u64::from_le_bytes(b);
        }
        let [len, min, max, block_bits, n_index, n_data] = head;
        if min > max || block_bits > 63 || n_index > (1 << 32) || n_data > (1 << 36) {
            return Err(bad("inconsistent header"));
        }
        let block_bits = block_bits as u32;
        if (len == 0 && n_index != 0) || (len > 0 && ((max - min) >> block_bits) + 1 != n_index) {
            return Err(bad("block count does not match the range"));
        }
        let read_words = |r: &mut dyn Read, count: u64| -> io::Result<Vec<u64>> {
            // Grow with what is actually read: a damaged header's counts never size an allocation.
            let mut out = Vec::with_capacity(usize::try_from(count.min(1 << 16)).unwrap_or(0));
            let mut buf = vec![0u8; 1 << 16];
            let mut left = usize::try_from(count).unwrap_or(0);
            while left > 0 {
                let take = left.min(buf.len() / 8);
                r.read_exact(&mut buf[..take * 8])?;
                out.extend(
                    buf[..take * 8]
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
                );
                left -= take;
            }
            Ok(out)
        };
        let index = read_words(r, n_index)?;
        let data = read_words(r, n_data)?;
        // Blocks in order, inside the data, and their counts adding up: a damaged file is an
        // error, never a set that answers wrongly.
        let mut total = 0u64;
        let mut next = 0u64;
        for &e in &index {
            let (off, n, l) = unpack(e);
            if l > block_bits || off != next {
                return Err(bad("a block is out of place"));
            }
            if n > 0 {
                next = off + n + ((1u64 << block_bits) >> l) + n * u64::from(l);
            }
            total += n;
        }
        if total != len || next.div_ceil(64) > data.len() as u64 {
            return Err(bad("the blocks do not add up"));
        }
        Ok(CompactSet { len, min, max, block_bits, index, data })
    }
}

/// One line of a registry file that could not be read.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportError {
    /// 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Streaming parser of registry files: one number per line (`+12085550100`, `12085550100`,
/// `2085550100`), or CSV whose first field is the number, or the FTC's `area code,number` pairs;
/// a header line and `#` comments are skipped. Numbers are checked for shape (country code,
/// length, NANP area code and exchange), not looked up one by one in libphonenumber.
pub struct RegistryParser {
    country_code: u16,
    line: u64,
    partial: Vec<u8>,
    skipping: bool,
    /// Keys read so far.
    pub keys: Vec<u64>,
    /// Errors (at most 100 kept).
    pub errors: Vec<ImportError>,
    /// Errors in all.
    pub error_count: u64,
}

impl RegistryParser {
    /// A parser for a registry of one country calling code.
    pub fn new(country_code: u16) -> Self {
        RegistryParser {
            country_code,
            line: 0,
            partial: Vec::new(),
            skipping: false,
            keys: Vec::new(),
            errors: Vec::new(),
            error_count: 0,
        }
    }

    /// Feeds bytes.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.skipping {
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.skipping = false;
                    chunk = &chunk[i + 1..];
                }
                None => return,
            }
        }
        if !self.partial.is_empty() {
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&chunk[..i]);
                    self.line(&line);
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(chunk);
                    self.guard_partial();
                    return;
                }
            }
        }
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.line(&rest[..i]);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        self.guard_partial();
    }

    fn guard_partial(&mut self) {
        if self.partial.len() > 256 {
            self.line += 1;
            self.error("line longer than 256 bytes".into());
            self.partial.clear();
            self.skipping = true;
        }
    }

    /// Ends the input.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
    }

    fn error(&mut self, message: String) {
        self.error_count += 1;
        if self.errors.len() < 100 {
            self.errors.push(ImportError { line: self.line, message });
        }
    }

    fn line(&mut self, raw: &[u8]) {
        self.line += 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            self.error("not UTF-8".into());
            return;
        };
        let text = text.trim().trim_start_matches('\u{feff}');
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let mut fields = text.split(',').map(|f| f.trim().trim_matches('"'));
        let first = fields.next().unwrap_or("");
        let second = fields.next();
        let digits: String = match second {
            Some(b) if first.len() == 3 && b.len() == 7 && self.country_code == 1 => format!("{first}{b}"),
            _ => first.to_owned(),
        };
        let digits = digits.strip_prefix('+').unwrap_or(&digits);
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
            if self.line == 1 {
                return; // a header
            }
            self.error(format!("`{}` is not a phone number", first.chars().take(32).collect::<String>()));
            return;
        }
        let cc = self.country_code.to_string();
        let full = if self.country_code == 1 && digits.len() == 10 { format!("1{digits}") } else { digits.to_owned() };
        let ok = if self.country_code == 1 {
            let b = full.as_bytes();
            full.len() == 11 && b[0] == b'1' && b[1] >= b'2' && b[4] >= b'2'
        } else {
            full.starts_with(&cc) && (cc.len() + 4..=15).contains(&full.len())
        };
        if !ok {
            self.error(format!("not a +{cc} number (E.164: country code and national number)"));
            return;
        }
        match full.parse::<u64>() {
            Ok(k) => self.keys.push(k),
            Err(_) => self.error("not a number".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator (SplitMix64) for test data.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn nanp_sample(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        let mut v: Vec<u64> = (0..n).map(|_| 12_000_000_000 + splitmix(&mut s) % 8_000_000_000).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn members_and_non_members_over_a_nanp_sample() {
        let keys = nanp_sample(200_000, 7);
        let set = CompactSet::from_sorted(&keys).unwrap();
        assert_eq!(set.len(), keys.len() as u64);
        for &k in &keys {
            assert!(set.contains(k), "{k}");
        }
        let members: std::collections::HashSet<u64> = keys.iter().copied().collect();
        let mut s = 99;
        for _ in 0..200_000 {
            let probe = 11_999_999_000 + splitmix(&mut s) % 8_000_002_000;
            assert_eq!(set.contains(probe), members.contains(&probe), "{probe}");
        }
        // Neighbours of members, the extremes, and beyond them.
        for &k in keys.iter().step_by(97) {
            assert_eq!(set.contains(k + 1), members.contains(&(k + 1)));
            assert_eq!(set.contains(k - 1), members.contains(&(k - 1)));
        }
        assert!(!set.contains(0) && !set.contains(u64::MAX) && !set.contains(keys[0] - 1));
        assert!(set.iter().eq(keys.iter().copied()));
    }

    #[test]
    fn dense_sparse_tiny_and_empty_sets() {
        for keys in [
            (1_000..3_000u64).collect::<Vec<_>>(),        // every value
            vec![12_085_550_100],                         // one
            vec![0, u64::MAX / 2, u64::MAX - 1],          // a huge universe
            (0..5_000u64).map(|i| i * i * 977).collect(), // growing gaps
            vec![],
        ] {
            let set = CompactSet::from_sorted(&keys).unwrap();
            for &k in &keys {
                assert!(set.contains(k), "{k}");
            }
            assert!(set.iter().eq(keys.iter().copied()));
            assert!(!set.contains(7) || keys.contains(&7));
            let mut bytes = Vec::new();
            set.write_to(&mut bytes).unwrap();
            assert_eq!(CompactSet::read_from(&mut bytes.as_slice()).unwrap(), set);
        }
    }

    #[test]
    fn under_one_byte_per_number_at_registry_density() {
        // 258.5 M numbers over 8·10^9 NANP values is one in 31; the same density in miniature.
        let mut s = 3;
        let mut spread: Vec<u64> = (0..1_050_000).map(|_| 12_000_000_000 + splitmix(&mut s) % 31_000_000).collect();
        spread.sort_unstable();
        spread.dedup();
        spread.truncate(1_000_000);
        let set = CompactSet::from_sorted(&spread).unwrap();
        let per = set.heap_bytes() as f64 / spread.len() as f64;
        assert!(per <= 1.0, "{per} bytes per number");
        assert!(spread.iter().step_by(13).all(|&k| set.contains(k)));
    }

    #[test]
    fn clustered_keys_get_narrower_blocks() {
        // A million NANP numbers and one UK number: the universe is 50 times wider than NANP.
        let mut keys = nanp_sample(1_000_000, 5);
        keys.push(442_079_460_000);
        let set = CompactSet::from_sorted(&keys).unwrap();
        assert!(set.block_bits <= 22, "{}", set.block_bits);
        assert!(set.heap_bytes() as f64 / keys.len() as f64 <= 3.0);
        assert!(keys.iter().step_by(7).all(|&k| set.contains(k)));
        assert!(set.contains(442_079_460_000) && !set.contains(442_079_460_001));
    }

    #[test]
    fn unsorted_input_and_damaged_files_are_refused() {
        assert_eq!(CompactSet::from_sorted(&[3, 2]), Err(BuildError::NotSorted(1)));
        assert_eq!(CompactSet::from_sorted(&[3, 3]), Err(BuildError::NotSorted(1)));
        assert!(CompactSet::build(3, 1, 5, [1, 2]).is_err());
        let set = CompactSet::from_sorted(&nanp_sample(10_000, 1)).unwrap();
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        assert!(CompactSet::read_from(&mut &bytes[..bytes.len() - 1]).is_err(), "truncated");
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(CompactSet::read_from(&mut wrong.as_slice()).is_err(), "magic");
        let mut wrong = bytes.clone();
        wrong[8] ^= 1; // the count
        assert!(CompactSet::read_from(&mut wrong.as_slice()).is_err(), "count");
        // Found by the number_set_file fuzzer: a header claiming ~3 × 10⁹ data words on a 73-byte
        // file must fail at the end of the input, not try to allocate 25 GB first.
        let mut huge = MAGIC.to_vec();
        for word in [0u64, 0, 0, 0, 0, 0xbf00_0000_0000_0000 >> 8] {
            huge.extend_from_slice(&word.to_le_bytes());
        }
        huge.extend_from_slice(b"\x09\xff\x00\x08\x80^^^^^^^^^\x00\xff\x00\xff");
        assert!(CompactSet::read_from(&mut huge.as_slice()).is_err(), "huge counts");
        let n_data = 3_000_000_000u64;
        let mut claims = MAGIC.to_vec();
        for word in [0u64, 0, 0, 0, 0, n_data] {
            claims.extend_from_slice(&word.to_le_bytes());
        }
        assert!(CompactSet::read_from(&mut claims.as_slice()).is_err(), "claims more data than there is");
    }

    #[test]
    fn registry_files_in_every_shape_and_their_errors() {
        let mut p = RegistryParser::new(1);
        for chunk in [&b"phone\n+12085550100\n2085550101\r\n1208555"[..], b"0102\n208,5550103\n\n# note\n"] {
            p.feed(chunk);
        }
        p.feed(b"12085550100\n0855501\n+442079460000\n1105550100\nx\n2085550104");
        p.finish();
        assert_eq!(p.keys, [12085550100, 12085550101, 12085550102, 12085550103, 12085550100, 12085550104]);
        let lines: Vec<u64> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [9, 10, 11, 12]);
        let mut uk = RegistryParser::new(44);
        uk.feed(b"+442079460000\n447400123456\n12085550100\n");
        uk.finish();
        assert_eq!((uk.keys.len(), uk.error_count), (2, 1));
        let mut long = RegistryParser::new(1);
        long.feed(&[b'1'; 300]);
        long.feed(&[b'1'; 300]);
        long.feed(b"1\n12085550100\n");
        long.finish();
        assert_eq!((long.keys.len(), long.error_count, long.errors[0].line), (1, 1, 1));
    }
}
