//! A compact, immutable set of phone numbers for do-not-call registries (the US national
//! registry holds about 258.5 million numbers): under one byte per number, one look-up in a
//! few hundred nanoseconds, no false positives.
//!
//! The structure is a partitioned Elias–Fano code. Keys (E.164 digits as an integer) minus the
//! smallest key are split by their high bits into blocks of the universe holding about 256 keys
//! each. A block is a run of 64-bit words starting on a word boundary: a 32-bit count and the
//! block's low-bit width `l`, then the keys' middle bits in unary (one `1` per key, one `0` per
//! bucket of `2^l` values), then each key's low `l` bits packed. A look-up reads the block's
//! word offset from a table (one cache miss), scans the unary part to its bucket and compares
//! the low bits of the keys there (one or two adjacent cache lines). No `unsafe`; the layout is
//! written and read as little-endian words so a set survives restarts without rebuilding.

use std::io::{self, Read, Write};

/// Target keys per block: `block_bits` is chosen so the universe holds about this many per block.
const KEYS_PER_BLOCK_LOG2: u32 = 8;

const MAGIC: &[u8; 8] = b"CVDNC01\0";

/// Why keys cannot be built into a set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Keys must be strictly increasing.
    #[error("keys are not strictly increasing at position {0}")]
    NotSorted(u64),
}

/// A compact set of `u64` keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactSet {
    len: u64,
    min: u64,
    max: u64,
    block_bits: u32,
    /// Word offset of each block in `data`, plus one past the end.
    offsets: Vec<u32>,
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

    fn align(&mut self) {
        self.bit = self.bit.div_ceil(64) * 64;
        let words = usize::try_from(self.bit / 64).unwrap_or(usize::MAX);
        self.words.resize(words, 0);
    }
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
        CompactSet { len: 0, min: 0, max: 0, block_bits: 0, offsets: vec![0], data: Vec::new() }
    }

    /// Builds from strictly increasing keys.
    pub fn from_sorted(keys: &[u64]) -> Result<CompactSet, BuildError> {
        if let Some(i) = keys.windows(2).position(|w| w[1] <= w[0]) {
            return Err(BuildError::NotSorted(i as u64 + 1));
        }
        let (Some(&min), Some(&max)) = (keys.first(), keys.last()) else { return Ok(CompactSet::empty()) };
        Self::build(keys.len() as u64, min, max, keys.iter().copied())
    }

    /// Builds from `len` strictly increasing keys between `min` and `max` (both included) without
    /// holding them in memory.
    pub fn build(len: u64, min: u64, max: u64, keys: impl IntoIterator<Item = u64>) -> Result<CompactSet, BuildError> {
        if len == 0 {
            return Ok(CompactSet::empty());
        }
        if max < min {
            return Err(BuildError::NotSorted(0));
        }
        let span = max - min;
        // Blocks of about 2^8 keys: bits of the span per key, plus 8.
        let per_key = (span / len).max(1);
        let block_bits = (64 - per_key.leading_zeros() + KEYS_PER_BLOCK_LOG2).clamp(8, 63);
        let blocks = usize::try_from((span >> block_bits) + 1).unwrap_or(usize::MAX);
        let mut offsets = Vec::with_capacity(blocks + 1);
        let mut w = BitWriter { words: Vec::with_capacity(usize::try_from(len / 8).unwrap_or(0)), bit: 0 };
        let mut block_keys: Vec<u64> = Vec::with_capacity(1024);
        let mut current = 0u64;
        let mut prev: Option<u64> = None;
        let mut count = 0u64;
        let flush = |block_keys: &mut Vec<u64>, offsets: &mut Vec<u32>, w: &mut BitWriter| {
            offsets.push(u32::try_from(w.bit / 64).unwrap_or(u32::MAX));
            if block_keys.is_empty() {
                return;
            }
            let n = block_keys.len() as u64;
            let l = {
                let ratio = (1u64 << block_bits) / n;
                if ratio <= 1 { 0 } else { 63 - ratio.leading_zeros() }
            };
            w.push(n, 32);
            w.push(u64::from(l), 32);
            let mut bucket = 0u64;
            for &k in block_keys.iter() {
                let h = k >> l;
                while bucket < h {
                    w.push(0, 1);
                    bucket += 1;
                }
                w.push(1, 1);
            }
            // Every bucket's zero, then one more: the unary part has a fixed length and a scan
            // never runs into the low bits.
            while bucket <= (1u64 << block_bits) >> l {
                w.push(0, 1);
                bucket += 1;
            }
            for &k in block_keys.iter() {
                w.push(k, l);
            }
            w.align();
            block_keys.clear();
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
                flush(&mut block_keys, &mut offsets, &mut w);
                current += 1;
            }
            block_keys.push(rel & ((1u64 << block_bits) - 1));
        }
        if count != len {
            return Err(BuildError::NotSorted(count));
        }
        while offsets.len() < blocks {
            flush(&mut block_keys, &mut offsets, &mut w);
        }
        offsets.push(u32::try_from(w.bit / 64).unwrap_or(u32::MAX));
        w.words.shrink_to_fit();
        Ok(CompactSet { len, min, max, block_bits, offsets, data: w.words })
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
        self.offsets.len() * 4 + self.data.len() * 8
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: u64) -> bool {
        if self.len == 0 || key < self.min || key > self.max {
            return false;
        }
        let rel = key - self.min;
        let block = (rel >> self.block_bits) as usize;
        let (Some(&start), Some(&end)) = (self.offsets.get(block), self.offsets.get(block + 1)) else { return false };
        if start == end {
            return false;
        }
        let words = &self.data[start as usize..end as usize];
        let n = words[0] & 0xffff_ffff;
        let l = (words[0] >> 32) as u32;
        let inner = rel & ((1u64 << self.block_bits) - 1);
        let bucket = inner >> l;
        let low = if l == 0 { 0 } else { inner & ((1u64 << l) - 1) };
        // Find the start of `bucket` in the unary part (bit 64 on): skip `bucket` zeros.
        let mut zeros_left = bucket;
        let mut ones_before = 0u64;
        let mut bit = 64u64;
        let mut wi = 1usize;
        let mut word = words.get(wi).copied().unwrap_or(0);
        loop {
            let zeros_here = u64::from((!word).count_ones());
            if zeros_left <= zeros_here || wi >= words.len() {
                break;
            }
            zeros_left -= zeros_here;
            ones_before += u64::from(word.count_ones());
            bit += 64;
            wi += 1;
            word = words.get(wi).copied().unwrap_or(0);
        }
        // Within this word: the bucket starts just after its `zeros_left`-th zero.
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
        let mut p = bit + u64::from(pos);
        let low_base = 64 + n + ((1u64 << self.block_bits) >> l) + 1;
        let mut index = ones_before;
        while index < n && read_bits(words, p, 1) == 1 {
            let v = read_bits(words, low_base + index * u64::from(l), l);
            if v == low {
                return true;
            }
            if v > low {
                return false;
            }
            index += 1;
            p += 1;
        }
        false
    }

    /// Every key, in order (for exports and tests).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.offsets.len().saturating_sub(1)).flat_map(move |b| {
            let (start, end) = (self.offsets[b] as usize, self.offsets[b + 1] as usize);
            let words = &self.data[start..end];
            let (n, l) = words.first().map_or((0, 0), |w| (w & 0xffff_ffff, (w >> 32) as u32));
            let low_base = 64 + n + ((1u64 << self.block_bits) >> l) + 1;
            let base = self.min + ((b as u64) << self.block_bits);
            let mut bucket = 0u64;
            let mut p = 64u64;
            (0..n).map(move |i| {
                while read_bits(words, p, 1) == 0 {
                    bucket += 1;
                    p += 1;
                }
                p += 1;
                base + (bucket << l | read_bits(words, low_base + i * u64::from(l), l))
            })
        })
    }

    /// Writes the set (little-endian words after a header).
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        for v in [
            self.len,
            self.min,
            self.max,
            u64::from(self.block_bits),
            self.offsets.len() as u64,
            self.data.len() as u64,
        ] {
            w.write_all(&v.to_le_bytes())?;
        }
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in self.offsets.chunks(8192) {
            buf.clear();
            chunk.iter().for_each(|o| buf.extend_from_slice(&o.to_le_bytes()));
            w.write_all(&buf)?;
        }
        for chunk in self.data.chunks(8192) {
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
        let [len, min, max, block_bits, n_offsets, n_data] = head;
        if min > max || block_bits > 63 || n_offsets == 0 || n_offsets > (1 << 40) || n_data > (1 << 40) {
            return Err(bad("inconsistent header"));
        }
        let block_bits = block_bits as u32;
        if len > 0 && ((max - min) >> block_bits) + 2 != n_offsets {
            return Err(bad("block count does not match the range"));
        }
        let mut offsets = Vec::with_capacity(n_offsets as usize);
        let mut buf = vec![0u8; 1 << 16];
        let mut left = n_offsets as usize;
        while left > 0 {
            let take = left.min(buf.len() / 4);
            r.read_exact(&mut buf[..take * 4])?;
            offsets.extend(buf[..take * 4].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            left -= take;
        }
        let mut data = Vec::with_capacity(n_data as usize);
        let mut left = n_data as usize;
        while left > 0 {
            let take = left.min(buf.len() / 8);
            r.read_exact(&mut buf[..take * 8])?;
            data.extend(buf[..take * 8].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))));
            left -= take;
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.last().is_some_and(|&e| e as usize != data.len()) {
            return Err(bad("block offsets out of order"));
        }
        // Each block's count must fit its words; the counts must add up.
        let mut total = 0u64;
        for w in offsets.windows(2) {
            if w[0] == w[1] {
                continue;
            }
            let head = data[w[0] as usize];
            let (n, l) = (head & 0xffff_ffff, head >> 32);
            let bits = 64 + n + ((1u64 << block_bits) >> l.min(63)) + 1 + n * l;
            if l > u64::from(block_bits) || bits > u64::from(w[1] - w[0]) * 64 {
                return Err(bad("a block is larger than its words"));
            }
            total += n;
        }
        if total != len {
            return Err(bad("the block counts do not add up"));
        }
        Ok(CompactSet { len, min, max, block_bits, offsets, data })
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
    }
}
