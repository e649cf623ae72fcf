//! A compact, immutable set of phone numbers for do-not-call registries (the US national
//! registry holds about 258.5 million numbers): under one byte per number, a look-up in one
//! memory read, no false positives.
//!
//! **Layout.** Keys (E.164 digits as an integer) minus the smallest are cut by their high bits
//! into segments of the universe holding about 8,500 keys each. A small table (4 bytes per
//! segment, ~120 KiB for the US registry, so it stays in the core's cache) gives each segment's
//! first bucket, so empty and sparse stretches of the universe (unused area codes) cost little;
//! a segment's buckets split its range into equal parts, as many as its keys need (about 133
//! keys each at registry density). Inside a segment, offsets are first mapped by a bijection of
//! `[0, 2^s)` (xor-shifts and odd multiplications; inverted for iteration): real registries are
//! clustered — some exchanges (NPA-NXX) dense, others empty — and the mapping scatters the
//! segment's ~26 exchanges over its whole range, so its buckets hold Poisson-distributed counts
//! whatever the input's shape. Every bucket has the same size — 128 bytes, two
//! cache lines — so its address follows from the key and the table with arithmetic alone, and
//! its two lines are fetched together: one dependent memory read per look-up, where an index
//! stored beside the data would need two. A bucket is a little Elias–Fano code of its keys'
//! offsets: a 12-bit header (key count, overflow flag), the offsets' high bits in unary, their
//! low `l` bits (`l = ⌊log2(range / count)⌋`) packed after. Keys a bucket cannot hold (the
//! Poisson tail) stay in order in the bucket up to what fits, and the rest go to a small
//! [`elias_fano::EliasFano`] set (of mapped keys) that only flagged buckets consult.
//!
//! No `unsafe`; files are little-endian words, so a set survives restarts without rebuilding
//! from text, and files of the earlier two-read layout (`CVDNC02`) are still read.

use std::io::{self, Read, Write};

mod elias_fano;
mod file;
mod registry;
#[cfg(test)]
mod tests;

pub use registry::{ImportError, RegistryParser};

use elias_fano::{EliasFano, read_bits};

const MAGIC: &[u8; 8] = b"CVDNC04\0";
const MAGIC_V2: &[u8; 8] = b"CVDNC02\0";

/// Words per bucket: two 64-byte cache lines (four cost ~15 ns more per look-up on the
/// benchmark VM).
const BUCKET_WORDS: usize = 16;
const BUCKET_BITS: u64 = BUCKET_WORDS as u64 * 64;
/// Bucket header: key count (11 bits) and the overflow flag.
const HEADER_BITS: u64 = 12;
const COUNT_MASK: u64 = (1 << 11) - 1;
const OVERFLOW_FLAG: u64 = 1 << 11;
/// Keys per bucket aimed at: 128 bytes / 133 keys = 0.96 bytes per key.
const KEYS_PER_BUCKET: u64 = 133;
/// Keys per segment aimed at: about 64 buckets, so rounding a segment's bucket count wastes
/// little.
const KEYS_PER_SEGMENT: u64 = KEYS_PER_BUCKET * 64;

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

/// A bijection of `[0, 2^bits)` that scatters clustered keys: xor-shift, odd multiplication,
/// xor-shift, odd multiplication, xor-shift, all modulo `2^bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mix {
    bits: u32,
    m1: u64,
    m2: u64,
}

impl Mix {
    /// Multipliers (odd, from the SplitMix64 constants).
    const M1: u64 = 0xbf58_476d_1ce4_e5b9;
    const M2: u64 = 0x94d0_49bb_1331_11eb;

    /// The mapping of `[0, 2^bits)`.
    fn new(bits: u32) -> Mix {
        Mix { bits, m1: Self::M1, m2: Self::M2 }
    }

    fn mask(&self) -> u64 {
        mask(self.bits)
    }

    fn shift(&self) -> u32 {
        self.bits.div_ceil(2)
    }

    fn apply(&self, x: u64) -> u64 {
        let (m, h) = (self.mask(), self.shift());
        let mut x = x & m;
        x ^= x >> h;
        x = x.wrapping_mul(self.m1) & m;
        x ^= x >> h;
        x = x.wrapping_mul(self.m2) & m;
        x ^ (x >> h)
    }

    fn invert(&self, y: u64) -> u64 {
        let (m, h) = (self.mask(), self.shift());
        // x ^ (x >> h) with 2h ≥ bits is undone by applying it once more.
        let unshift = |y: u64| y ^ (y >> h);
        let inverse = |a: u64| {
            // Newton's iteration for the inverse of an odd number modulo 2^64.
            let mut inv = a;
            for _ in 0..5 {
                inv = inv.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(inv)));
            }
            inv
        };
        let mut x = unshift(y & m);
        x = x.wrapping_mul(inverse(self.m2)) & m;
        x = unshift(x);
        x = x.wrapping_mul(inverse(self.m1)) & m;
        unshift(x)
    }
}

/// One cache line.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
struct Line([u64; 8]);

const LINES_PER_BUCKET: usize = BUCKET_WORDS / 8;

/// Where the buckets live: on the heap while small; above 2 MiB in an anonymous mapping the
/// kernel is asked to back with transparent huge pages (`MADV_HUGEPAGE`), so a look-up's one
/// memory read does not also miss the TLB and walk the page tables (measured: a dependent read
/// over 256 MiB costs ~235 ns with 4 KiB pages, ~172 ns with 2 MiB pages on the benchmark VM).
enum Storage {
    Heap(Vec<Line>),
    Mapped(memmap2::MmapMut),
}

impl Storage {
    const MAP_FROM: usize = 2 << 20;

    fn new(lines: Vec<Line>) -> Storage {
        let bytes = lines.len() * 64;
        if bytes < Self::MAP_FROM {
            let mut lines = lines;
            lines.shrink_to_fit();
            return Storage::Heap(lines);
        }
        let Ok(mut map) = memmap2::MmapMut::map_anon(bytes) else { return Storage::Heap(lines) };
        // Advice only: where huge pages are off or refused the set works the same, slower.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        for (dst, line) in map.chunks_exact_mut(64).zip(&lines) {
            for (d, w) in dst.chunks_exact_mut(8).zip(line.0) {
                d.copy_from_slice(&w.to_le_bytes());
            }
        }
        Storage::Mapped(map)
    }

    fn lines(&self) -> usize {
        match self {
            Storage::Heap(l) => l.len(),
            Storage::Mapped(m) => m.len() / 64,
        }
    }

    /// Bucket `b`'s words. Both lines are loaded here, independently, so their cache
    /// misses overlap.
    fn bucket(&self, b: usize) -> Option<[u64; BUCKET_WORDS]> {
        let mut words = [0u64; BUCKET_WORDS];
        match self {
            Storage::Heap(lines) => {
                let lines = lines.get(b * LINES_PER_BUCKET..(b + 1) * LINES_PER_BUCKET)?;
                for (chunk, line) in words.chunks_exact_mut(8).zip(lines) {
                    chunk.copy_from_slice(&line.0);
                }
            }
            Storage::Mapped(m) => {
                let bytes = m.get(b * BUCKET_WORDS * 8..(b + 1) * BUCKET_WORDS * 8)?;
                for (w, c) in words.iter_mut().zip(bytes.chunks_exact(8)) {
                    *w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                }
            }
        }
        Some(words)
    }
}

/// A compact set of `u64` keys.
pub struct CompactSet {
    len: u64,
    min: u64,
    max: u64,
    /// Segments are `2^seg_bits` values of the universe wide.
    seg_bits: u32,
    /// Maps offsets in a segment (`seg_bits` wide).
    mix: Mix,
    /// First bucket of each segment, and the bucket count after the last.
    segs: Vec<u32>,
    lines: Storage,
    overflow: EliasFano,
}

impl PartialEq for CompactSet {
    fn eq(&self, other: &CompactSet) -> bool {
        let buckets = self.lines.lines() / LINES_PER_BUCKET;
        (self.len, self.min, self.max, self.seg_bits, self.mix)
            == (other.len, other.min, other.max, other.seg_bits, other.mix)
            && self.segs == other.segs
            && self.overflow == other.overflow
            && self.lines.lines() == other.lines.lines()
            && (0..buckets).all(|b| self.lines.bucket(b) == other.lines.bucket(b))
    }
}

impl Eq for CompactSet {}

impl std::fmt::Debug for CompactSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactSet")
            .field("len", &self.len)
            .field("bytes", &self.heap_bytes())
            .field("overflow", &self.overflow.len())
            .finish()
    }
}

/// `⌊log2(range / count)⌋`, the low-bit width of a bucket's keys.
fn low_width(range: u64, count: u64) -> u32 {
    // The largest l with count·2^l ≤ range, without a division.
    let count = count.max(1);
    if range < 2 * count {
        return 0;
    }
    let l = count.leading_zeros() - range.leading_zeros();
    if count << l > range { l - 1 } else { l }
}

/// Where a bucket's low bits start (the unary part has room for every high value).
fn low_base(range: u64, count: u64, l: u32) -> u64 {
    HEADER_BITS + count + ((range - 1) >> l) + 1
}

/// Whether `count` keys spread over `range` values fit one bucket.
fn fits(range: u64, count: u64) -> bool {
    if count == 0 {
        return true;
    }
    if count > COUNT_MASK || range < count {
        return false;
    }
    let l = low_width(range, count);
    low_base(range, count, l).saturating_add(count * u64::from(l)) <= BUCKET_BITS
}

/// The first offset of bucket `j` of `nb` in a segment `2^s` wide: `⌈j·2^s / nb⌉`.
fn bucket_start(j: u64, nb: u64, s: u32) -> u64 {
    if s < 32 { (j << s).div_ceil(nb) } else { (u128::from(j) << s).div_ceil(u128::from(nb)) as u64 }
}

/// The bucket of offset `o` in a segment `2^s` wide with `nb` buckets: `⌊o·nb / 2^s⌋`.
fn bucket_of(o: u64, nb: u64, s: u32) -> u64 {
    if s < 32 && nb < 1 << 32 { (o * nb) >> s } else { ((u128::from(o) * u128::from(nb)) >> s) as u64 }
}

/// Segment width: about [`KEYS_PER_SEGMENT`] keys each when keys spread evenly.
fn seg_bits_for(len: u64, span: u64) -> u32 {
    let segments = (len / KEYS_PER_SEGMENT).max(1);
    let width = (span / segments).saturating_add(1);
    (64 - (width - 1).leading_zeros()).min(63)
}

/// How many buckets a segment `2^s` wide with `k` keys gets: about [`KEYS_PER_BUCKET`] each,
/// more where keys are sparse (wider low bits), so a bucket has room for its mean count plus some
/// standard deviations of a Poisson count.
fn buckets_for(k: u64, s: u32) -> u64 {
    if k == 0 {
        return 0;
    }
    let width = 1u128 << s;
    let most = (k as u128).min(width) as u64;
    let mut nb = ((k + KEYS_PER_BUCKET / 2) / KEYS_PER_BUCKET).clamp(1, most);
    loop {
        let range = (width / u128::from(nb)).min(u128::from(u64::MAX)) as u64;
        // Room above the mean for 1.25 standard deviations of a Poisson count at registry
        // density, where the bucket size is set by memory (≤ 1 byte per key); sparser keys cost
        // more than a byte each anyway and get two.
        let mean = k.div_ceil(nb);
        let sigma = mean.isqrt();
        let expected = mean + if mean >= 120 { (5 * sigma).div_ceil(4) } else { 2 * sigma } + 1;
        if nb >= most || fits(range, expected) {
            return nb;
        }
        nb = (nb + nb / 64 + 1).min(most);
    }
}

/// Finds the `k`-th (0-based) set bit of `x`; 64 when there is none. Broadword: byte counts and
/// their prefix sums in one multiplication, the byte found by comparing all eight at once, then
/// at most seven steps inside the byte (no `popcnt` in the baseline x86-64 target).
fn select1(x: u64, k: u32) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut c = x - ((x >> 1) & 0x5555_5555_5555_5555);
    c = (c & 0x3333_3333_3333_3333) + ((c >> 2) & 0x3333_3333_3333_3333);
    c = (c + (c >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // Byte i of `prefix`: set bits in bytes 0..=i (at most 64, so no byte overflows).
    let prefix = c.wrapping_mul(ONES);
    let k = u64::from(k.min(64));
    // High bit of byte i set where prefix_i <= k; their number is the byte holding the k-th bit.
    let at_most = (((k * ONES) | HIGHS) - prefix) & HIGHS;
    let byte = ((at_most >> 7).wrapping_mul(ONES) >> 56) as u32;
    if byte >= 8 {
        return 64;
    }
    let before = if byte == 0 { 0 } else { (prefix >> (8 * (byte - 1))) & 0xff };
    let mut b = (x >> (8 * byte)) & 0xff;
    for _ in 0..k - before {
        b &= b - 1;
    }
    8 * byte + b.trailing_zeros()
}

/// Sets `width` bits at `bit` in a bucket.
fn put_bits(words: &mut [u64; BUCKET_WORDS], bit: u64, value: u64, width: u32) {
    if width == 0 {
        return;
    }
    let w = (bit / 64) as usize;
    let shift = (bit % 64) as u32;
    let v = if width == 64 { value } else { value & ((1u64 << width) - 1) };
    words[w] |= v << shift;
    if shift + width > 64 {
        words[w + 1] |= v >> (64 - shift);
    }
}

/// Encodes strictly increasing offsets below `range` (they fit: see [`fits`]).
fn encode_bucket(offsets: &[u64], range: u64, overflowed: bool) -> [u64; BUCKET_WORDS] {
    let mut words = [0u64; BUCKET_WORDS];
    let c = offsets.len() as u64;
    words[0] = c | if overflowed { OVERFLOW_FLAG } else { 0 };
    if c == 0 {
        return words;
    }
    let l = low_width(range, c);
    let base = low_base(range, c, l);
    let mut p = HEADER_BITS;
    let mut high = 0;
    for (i, &o) in offsets.iter().enumerate() {
        p += (o >> l) - high;
        high = o >> l;
        put_bits(&mut words, p, 1, 1);
        p += 1;
        put_bits(&mut words, base + i as u64 * u64::from(l), o, l);
    }
    words
}

/// Decodes a bucket's offsets (for iteration and checks); `None` if the bucket is damaged.
fn decode_bucket(words: &[u64; BUCKET_WORDS], range: u64) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    decode_bucket_into(words, range, &mut out).then_some(out)
}

/// Decodes a bucket's offsets into `out` (cleared first): exactly its count of keys, strictly
/// increasing, below `range`; `false` if the bucket is damaged.
fn decode_bucket_into(words: &[u64; BUCKET_WORDS], range: u64, out: &mut Vec<u64>) -> bool {
    out.clear();
    let c = words[0] & COUNT_MASK;
    if c == 0 {
        return true;
    }
    if !fits(range, c) {
        return false;
    }
    let l = low_width(range, c);
    let base = low_base(range, c, l);
    let highest = (range - 1) >> l;
    // The set bits of the unary part, word by word: the i-th one at position p has high bits
    // p − 12 − i (the zeros before it).
    let mut word = words[0] & !((1u64 << HEADER_BITS) - 1);
    let mut wi = 0usize;
    loop {
        while word != 0 {
            let p = wi as u64 * 64 + u64::from(word.trailing_zeros());
            let i = out.len() as u64;
            if p >= base {
                return false;
            }
            let high = p - HEADER_BITS - i;
            if high > highest {
                return false;
            }
            let o = high << l | read_bits(words, base + i * u64::from(l), l);
            if o >= range || out.last().is_some_and(|&last| o <= last) {
                return false;
            }
            out.push(o);
            if out.len() as u64 == c {
                return true;
            }
            word &= word - 1;
        }
        wi += 1;
        if wi >= BUCKET_WORDS || wi as u64 * 64 >= base {
            return false;
        }
        word = words[wi];
    }
}

impl CompactSet {
    /// An empty set.
    pub fn empty() -> CompactSet {
        CompactSet {
            len: 0,
            min: 0,
            max: 0,
            seg_bits: 0,
            mix: Mix::new(0),
            segs: Vec::new(),
            lines: Storage::Heap(Vec::new()),
            overflow: EliasFano::empty(),
        }
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
    /// holding them all in memory (one segment's keys at a time).
    pub fn build(len: u64, min: u64, max: u64, keys: impl IntoIterator<Item = u64>) -> Result<CompactSet, BuildError> {
        if len == 0 {
            return match keys.into_iter().next() {
                None => Ok(CompactSet::empty()),
                Some(_) => Err(BuildError::NotSorted(0)),
            };
        }
        if max < min {
            return Err(BuildError::NotSorted(0));
        }
        let span = max - min;
        let s = seg_bits_for(len, span);
        let nseg = (span >> s) + 1;
        if nseg >= u64::from(u32::MAX) {
            return Err(BuildError::TooLarge);
        }
        let mut b = Builder {
            s,
            mix: Mix::new(s),
            segs: Vec::with_capacity(nseg as usize + 1),
            lines: Vec::with_capacity(
                usize::try_from(len / KEYS_PER_BUCKET * 9 / 8 * LINES_PER_BUCKET as u64).unwrap_or(0),
            ),
            overflow: Vec::new(),
            seg_keys: Vec::with_capacity(2 * KEYS_PER_SEGMENT as usize),
        };
        let mut current = 0u64;
        let mut prev: Option<u64> = None;
        let mut count = 0u64;
        for key in keys {
            if prev.is_some_and(|p| key <= p) || key < min || key > max {
                return Err(BuildError::NotSorted(count));
            }
            prev = Some(key);
            count += 1;
            let rel = key - min;
            while current < rel >> s {
                b.flush(current)?;
                current += 1;
            }
            b.seg_keys.push(rel & mask(s));
        }
        if count != len {
            return Err(BuildError::NotSorted(count));
        }
        while current < nseg {
            b.flush(current)?;
            current += 1;
        }
        let buckets = b.lines.len() / LINES_PER_BUCKET;
        b.segs.push(u32::try_from(buckets).map_err(|_| BuildError::TooLarge)?);
        Ok(CompactSet {
            len,
            min,
            max,
            seg_bits: s,
            mix: b.mix,
            segs: b.segs,
            lines: Storage::new(b.lines),
            overflow: EliasFano::from_sorted(&b.overflow)?,
        })
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys that did not fit their bucket (looked up in a second, small set).
    pub fn overflow_len(&self) -> u64 {
        self.overflow.len()
    }

    /// Bytes of memory the set holds.
    pub fn heap_bytes(&self) -> usize {
        self.segs.len() * 4 + self.lines.lines() * 64 + self.overflow.heap_bytes()
    }

    /// The bucket holding `rel` (key minus the smallest): its words' index, the mapped offset in
    /// its range, and the range's width; `None` for an empty segment.
    fn locate(&self, rel: u64) -> Option<(usize, u64, u64)> {
        let seg = usize::try_from(rel >> self.seg_bits).ok()?;
        let first = u64::from(*self.segs.get(seg)?);
        let nb = u64::from(*self.segs.get(seg + 1)?).checked_sub(first).filter(|&n| n > 0)?;
        let o = self.mix.apply(rel & mask(self.seg_bits));
        let j = bucket_of(o, nb, self.seg_bits);
        let lo = bucket_start(j, nb, self.seg_bits);
        let hi = if j + 1 == nb { 1u64 << self.seg_bits } else { bucket_start(j + 1, nb, self.seg_bits) };
        Some((usize::try_from(first + j).ok()?, o - lo, hi - lo))
    }

    fn bucket(&self, b: usize) -> Option<[u64; BUCKET_WORDS]> {
        self.lines.bucket(b)
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: u64) -> bool {
        if self.len == 0 || key < self.min || key > self.max {
            return false;
        }
        let rel = key - self.min;
        let Some((b, off, range)) = self.locate(rel) else { return false };
        let Some(words) = self.bucket(b) else { return false };
        let header = words[0];
        let c = header & COUNT_MASK;
        match bucket_holds(&words, off, range, c) {
            Some(found) => found,
            None => {
                header & OVERFLOW_FLAG != 0
                    && self.overflow.contains(rel & !mask(self.seg_bits) | self.mix.apply(rel & mask(self.seg_bits)))
            }
        }
    }

    /// Every key, in order (for exports and tests: each segment's keys are collected, mapped
    /// back and sorted).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let s = self.seg_bits;
        let mut overflow = self.overflow.iter().peekable();
        self.segs.windows(2).enumerate().flat_map(move |(seg, w)| {
            let (first, nb) = (u64::from(w[0]), u64::from(w[1].saturating_sub(w[0])));
            let seg_base = (seg as u64) << s;
            let mut keys = Vec::new();
            for j in 0..nb {
                let lo = bucket_start(j, nb, s);
                let hi = if j + 1 == nb { 1u64 << s } else { bucket_start(j + 1, nb, s) };
                let offsets = self
                    .bucket((first + j) as usize)
                    .and_then(|words| decode_bucket(&words, hi - lo))
                    .unwrap_or_default();
                keys.extend(offsets.into_iter().map(|o| lo + o));
            }
            while let Some(o) = overflow.next_if(|&k| k >> s == seg as u64) {
                keys.push(o & mask(s));
            }
            for k in keys.iter_mut() {
                *k = self.min + (seg_base | self.mix.invert(*k));
            }
            keys.sort_unstable();
            keys
        })
    }
}

fn mask(s: u32) -> u64 {
    if s >= 64 { u64::MAX } else { (1u64 << s) - 1 }
}

/// Whether a bucket of `c` keys over `range` values holds offset `off`.
/// `Some(found)` when the answer is in the bucket; `None` when `off` lies beyond every key the
/// bucket holds (where an overflowing bucket's other keys are).
fn bucket_holds(words: &[u64; BUCKET_WORDS], off: u64, range: u64, c: u64) -> Option<bool> {
    if c == 0 || off >= range {
        return None;
    }
    let l = low_width(range, c);
    let base = low_base(range, c, l);
    let high = off >> l;
    let low = off & mask(l);
    // The keys with this high value start after the `high`-th zero of the unary part; the
    // header's bits count as ones here.
    let mut zeros_left = high;
    let mut wi = 0usize;
    let mut word = words[0] | ((1 << HEADER_BITS) - 1);
    loop {
        let zeros = u64::from(word.count_zeros());
        if zeros_left <= zeros {
            break;
        }
        zeros_left -= zeros;
        wi += 1;
        if wi as u64 * 64 >= base {
            return None;
        }
        word = words[wi];
    }
    let mut p =
        if high == 0 { HEADER_BITS } else { wi as u64 * 64 + u64::from(select1(!word, (zeros_left - 1) as u32)) + 1 };
    let mut index = (p - high).checked_sub(HEADER_BITS)?;
    while index < c && p < base {
        if read_bits(words, p, 1) == 0 {
            // Keys with higher high bits follow: `off` would be here.
            return Some(false);
        }
        let v = read_bits(words, base + index * u64::from(l), l);
        if v >= low {
            return Some(v == low);
        }
        index += 1;
        p += 1;
    }
    None
}

struct Builder {
    s: u32,
    mix: Mix,
    segs: Vec<u32>,
    lines: Vec<Line>,
    overflow: Vec<u64>,
    /// The current segment's keys, as offsets in the segment.
    seg_keys: Vec<u64>,
}

impl Builder {
    fn flush(&mut self, seg: u64) -> Result<(), BuildError> {
        let s = self.s;
        let buckets = self.lines.len() / LINES_PER_BUCKET;
        self.segs.push(u32::try_from(buckets).map_err(|_| BuildError::TooLarge)?);
        let mut keys = std::mem::take(&mut self.seg_keys);
        for k in keys.iter_mut() {
            *k = self.mix.apply(*k);
        }
        keys.sort_unstable();
        let nb = buckets_for(keys.len() as u64, s);
        if buckets as u64 + nb >= u64::from(u32::MAX) {
            return Err(BuildError::TooLarge);
        }
        let mut rest = &keys[..];
        let mut offsets = Vec::with_capacity(2 * KEYS_PER_BUCKET as usize);
        for j in 0..nb {
            let lo = bucket_start(j, nb, s);
            let hi = if j + 1 == nb { None } else { Some(bucket_start(j + 1, nb, s)) };
            let take = hi.map_or(rest.len(), |hi| rest.partition_point(|&o| o < hi));
            let range = hi.unwrap_or(1u64 << s) - lo;
            let (mine, next) = rest.split_at(take);
            rest = next;
            let mut keep = mine.len();
            while !fits(range, keep as u64) {
                keep -= 1;
            }
            offsets.clear();
            offsets.extend(mine[..keep].iter().map(|&o| o - lo));
            let words = encode_bucket(&offsets, range, keep < mine.len());
            let base = seg << s;
            self.overflow.extend(mine[keep..].iter().map(|&o| base + o));
            self.lines.extend(words.chunks_exact(8).map(|c| Line([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])));
        }
        self.seg_keys = keys;
        self.seg_keys.clear();
        Ok(())
    }
}
