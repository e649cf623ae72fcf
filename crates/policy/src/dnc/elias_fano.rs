//! The partitioned Elias–Fano code that was callvault's number set until the one-read layout
//! (`CVDNC02` files): keys minus the smallest split by their high bits into blocks of the
//! universe holding about 128 keys each; one 64-bit index entry per block holds where the
//! block's bits start, how many keys it has and its low-bit width `l`; the block is the keys'
//! middle bits in unary followed by each key's low `l` bits. A look-up reads the index entry and
//! then the block: two dependent memory reads. It now holds the few keys that overflow the
//! fixed-size buckets of [`super::CompactSet`], and reads `CVDNC02` files written before.

use std::io::{self, Read, Write};

use super::BuildError;

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

/// A compact set of `u64` keys.
#[derive(Clone, PartialEq, Eq)]
pub struct EliasFano {
    len: u64,
    min: u64,
    max: u64,
    block_bits: u32,
    /// One entry per block (see `entry`).
    index: Vec<u64>,
    data: Vec<u64>,
}

impl std::fmt::Debug for EliasFano {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EliasFano").field("len", &self.len).field("bytes", &self.heap_bytes()).finish()
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

pub(super) fn read_bits(words: &[u64], bit: u64, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let word = (bit / 64) as usize;
    let shift = (bit % 64) as u32;
    let lo = words.get(word).copied().unwrap_or(0) >> shift;
    let v = if shift + width > 64 { lo | (words.get(word + 1).copied().unwrap_or(0) << (64 - shift)) } else { lo };
    if width == 64 { v } else { v & ((1u64 << width) - 1) }
}

impl EliasFano {
    /// An empty set.
    pub fn empty() -> EliasFano {
        EliasFano { len: 0, min: 0, max: 0, block_bits: 0, index: Vec::new(), data: Vec::new() }
    }

    /// Builds from strictly increasing keys.
    pub fn from_sorted(keys: &[u64]) -> Result<EliasFano, BuildError> {
        if let Some(i) = keys.windows(2).position(|w| w[1] <= w[0]) {
            return Err(BuildError::NotSorted(i as u64 + 1));
        }
        let (Some(&min), Some(&max)) = (keys.first(), keys.last()) else { return Ok(EliasFano::empty()) };
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
        Self::build_with(min, max, block_bits, keys)
    }

    /// Writes the blocks of `keys`, strictly increasing from `min` to `max` (checked by
    /// [`EliasFano::from_sorted`]).
    fn build_with(min: u64, max: u64, block_bits: u32, keys: &[u64]) -> Result<EliasFano, BuildError> {
        let len = keys.len() as u64;
        let span = max - min;
        let blocks = (span >> block_bits) + 1;
        if blocks > 1 << 32 {
            return Err(BuildError::TooLarge);
        }
        let mut index = Vec::with_capacity(usize::try_from(blocks).unwrap_or(0));
        let mut w = BitWriter { words: Vec::with_capacity(usize::try_from(len / 8).unwrap_or(0)), bit: 0 };
        let mut block_keys: Vec<u64> = Vec::with_capacity(1024);
        let mut current = 0u64;
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
        for &key in keys {
            let rel = key - min;
            let block = rel >> block_bits;
            while current < block {
                flush(&mut block_keys, &mut index, &mut w)?;
                current += 1;
            }
            block_keys.push(rel & ((1u64 << block_bits) - 1));
        }
        while (index.len() as u64) < blocks {
            flush(&mut block_keys, &mut index, &mut w)?;
        }
        w.words.shrink_to_fit();
        Ok(EliasFano { len, min, max, block_bits, index, data: w.words })
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.len
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

    /// Reads a set written by [`EliasFano::write_to`], checking its structure (a damaged file is
    /// an error, never a set that answers wrongly without notice; the server also keeps a digest
    /// of each file).
    pub fn read_from(r: &mut impl Read) -> io::Result<EliasFano> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a callvault number set: {m}"));
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("wrong magic"));
        }
        Self::read_after_magic(r)
    }

    /// Reads the rest of a set whose magic has been read.
    pub fn read_after_magic(r: &mut impl Read) -> io::Result<EliasFano> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a callvault number set: {m}"));
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
        if (len == 0 && n_index != 0) || (len > 0 && ((max - min) >> block_bits).checked_add(1) != Some(n_index)) {
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
                next = off.saturating_add(n).saturating_add((1u64 << block_bits) >> l).saturating_add(n * u64::from(l));
            }
            total += n;
        }
        if total != len || next.div_ceil(64) > data.len() as u64 {
            return Err(bad("the blocks do not add up"));
        }
        let set = EliasFano { len, min, max, block_bits, index, data };
        if !set.decodes_cleanly() {
            return Err(bad("a block does not decode"));
        }
        Ok(set)
    }

    /// Every block holds its count of keys in its unary part, each key inside the block and
    /// between `min` and `max`, all strictly increasing: `iter` then ends and never overflows.
    fn decodes_cleanly(&self) -> bool {
        let mut prev: Option<u64> = None;
        for (b, &e) in self.index.iter().enumerate() {
            let (off, n, l) = unpack(e);
            if n == 0 {
                continue;
            }
            let buckets = (1u64 << self.block_bits) >> l;
            let low_base = off + n + buckets;
            let Some(base) = ((b as u64) << self.block_bits).checked_add(self.min) else { return false };
            let (mut bucket, mut p) = (0u64, off);
            for i in 0..n {
                while p < low_base && read_bits(&self.data, p, 1) == 0 {
                    bucket += 1;
                    p += 1;
                }
                if p >= low_base || bucket >= buckets {
                    return false;
                }
                p += 1;
                let Some(v) = base.checked_add(bucket << l | read_bits(&self.data, low_base + i * u64::from(l), l))
                else {
                    return false;
                };
                if v > self.max || prev.is_some_and(|q| v <= q) {
                    return false;
                }
                prev = Some(v);
            }
        }
        true
    }
}
