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

    /// Writes the set (little-endian words after a header; the overflow set last).
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        for v in [
            self.len,
            self.min,
            self.max,
            u64::from(self.seg_bits),
            self.mix.m1,
            self.mix.m2,
            self.segs.len() as u64,
            self.lines.lines() as u64,
        ] {
            w.write_all(&v.to_le_bytes())?;
        }
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in self.segs.chunks(8192) {
            buf.clear();
            chunk.iter().for_each(|s| buf.extend_from_slice(&s.to_le_bytes()));
            w.write_all(&buf)?;
        }
        buf.clear();
        for b in 0..self.lines.lines() / LINES_PER_BUCKET {
            if buf.len() >= 1 << 16 {
                w.write_all(&buf)?;
                buf.clear();
            }
            self.bucket(b).unwrap_or_default().iter().for_each(|o| buf.extend_from_slice(&o.to_le_bytes()));
        }
        w.write_all(&buf)?;
        self.overflow.write_to(w)
    }

    /// Reads a set written by [`CompactSet::write_to`] (or a `CVDNC02` file of the earlier
    /// layout, rebuilt in memory), checking its structure: a damaged file is an error, never a
    /// set that answers wrongly without notice (the server also keeps a digest of each file).
    pub fn read_from(r: &mut impl Read) -> io::Result<CompactSet> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a callvault number set: {m}"));
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic == MAGIC_V2 {
            let old = EliasFano::read_after_magic(r)?;
            let min = old.iter().next().unwrap_or(0);
            let max = old.iter().last().unwrap_or(0);
            return CompactSet::build(old.len(), min, max, old.iter()).map_err(|e| bad(&e.to_string()));
        }
        if &magic != MAGIC {
            return Err(bad("wrong magic"));
        }
        let mut head = [0u64; 8];
        for h in &mut head {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            *h = u64::from_le_bytes(b);
        }
        let [len, min, max, seg_bits, m1, m2, n_segs, n_lines] = head;
        if min > max || seg_bits > 63 || n_segs > 1 << 32 || n_lines > 1 << 34 || m1 & 1 == 0 || m2 & 1 == 0 {
            return Err(bad("inconsistent header"));
        }
        let s = seg_bits as u32;
        let mix = Mix { bits: s, m1, m2 };
        let expected_segs = if len == 0 { Some(0) } else { ((max - min) >> s).checked_add(2) };
        if Some(n_segs) != expected_segs || n_lines % LINES_PER_BUCKET as u64 != 0 {
            return Err(bad("segment count does not match the range"));
        }
        // Grow with what is actually read: a damaged header's counts never size an allocation.
        let mut buf = vec![0u8; 1 << 16];
        let mut segs = Vec::with_capacity(n_segs.min(1 << 14) as usize);
        let mut left = n_segs as usize;
        while left > 0 {
            let take = left.min(buf.len() / 4);
            r.read_exact(&mut buf[..take * 4])?;
            segs.extend(buf[..take * 4].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            left -= take;
        }
        let mut lines = Vec::with_capacity(n_lines.min(1 << 12) as usize);
        let mut left = n_lines as usize;
        while left > 0 {
            let take = left.min(buf.len() / 64);
            r.read_exact(&mut buf[..take * 64])?;
            lines.extend(buf[..take * 64].chunks_exact(64).map(|c| {
                let mut line = Line([0; 8]);
                for (w, b) in line.0.iter_mut().zip(c.chunks_exact(8)) {
                    *w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                }
                line
            }));
            left -= take;
        }
        let overflow = EliasFano::read_from(r)?;
        if segs.windows(2).any(|w| w[1] < w[0])
            || segs.first().is_some_and(|&f| f != 0)
            || segs.last().map_or(0, |&l| u64::from(l) * LINES_PER_BUCKET as u64) != n_lines
        {
            return Err(bad("segments out of order"));
        }
        let set = CompactSet { len, min, max, seg_bits: s, mix, segs, lines: Storage::new(lines), overflow };
        // Every bucket's count fits its range and the counts add up; `contains` never reads
        // outside a bucket whatever its bits, so this check is all a look-up relies on.
        set.check().map_err(bad)?;
        Ok(set)
    }
}

impl CompactSet {
    /// Every bucket decodes to exactly its count of keys inside its range, the last segment's
    /// keys do not pass `max`, every overflow key belongs to a flagged bucket beyond its last
    /// kept key, and the counts add up: `contains` and `iter` then agree with `len`.
    fn check(&self) -> Result<(), &'static str> {
        let s = self.seg_bits;
        let last_seg = self.segs.len().saturating_sub(2);
        let key_of = |seg: usize, mapped: u64| {
            self.min.checked_add(((seg as u64) << s) | self.mix.invert(mapped)).filter(|&k| k <= self.max)
        };
        let mut total = self.overflow.len();
        let mut offsets = Vec::with_capacity(2 * KEYS_PER_BUCKET as usize);
        for (seg, w) in self.segs.windows(2).enumerate() {
            let (first, nb) = (u64::from(w[0]), u64::from(w[1] - w[0]));
            if nb > 1u64 << s.min(40) {
                return Err("a segment has more buckets than values");
            }
            for j in 0..nb {
                let lo = bucket_start(j, nb, s);
                let hi = if j + 1 == nb { 1u64 << s } else { bucket_start(j + 1, nb, s) };
                let words = self.bucket((first + j) as usize).ok_or("a bucket is missing")?;
                if !decode_bucket_into(&words, hi - lo, &mut offsets) {
                    return Err("a bucket does not decode");
                }
                if seg == last_seg && offsets.iter().any(|&o| key_of(seg, lo + o).is_none()) {
                    return Err("a key lies beyond the largest");
                }
                total += offsets.len() as u64;
            }
        }
        if total != self.len {
            return Err("the buckets do not add up");
        }
        for k in self.overflow.iter() {
            let seg = usize::try_from(k >> s).map_err(|_| "an overflow key is out of range")?;
            let mapped = k & mask(s);
            let (Some(&first), Some(&next)) = (self.segs.get(seg), self.segs.get(seg + 1)) else {
                return Err("an overflow key is out of range");
            };
            let nb = u64::from(next - first);
            if nb == 0 || key_of(seg, mapped).is_none() {
                return Err("an overflow key has no bucket");
            }
            let j = bucket_of(mapped, nb, s);
            let lo = bucket_start(j, nb, s);
            let hi = if j + 1 == nb { 1u64 << s } else { bucket_start(j + 1, nb, s) };
            let words = self.bucket((u64::from(first) + j) as usize).ok_or("a bucket is missing")?;
            if words[0] & OVERFLOW_FLAG == 0
                || !decode_bucket_into(&words, hi - lo, &mut offsets)
                || offsets.last().is_some_and(|&o| o >= mapped - lo)
            {
                return Err("an overflow key does not match its bucket");
            }
        }
        Ok(())
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
        assert!(set.overflow_len() <= keys.len() as u64 / 100, "{:?}", set);
        assert!(set.heap_bytes() as f64 / keys.len() as f64 <= 3.0);
        assert!(keys.iter().step_by(7).all(|&k| set.contains(k)));
        assert!(set.contains(442_079_460_000) && !set.contains(442_079_460_001));
    }

    #[test]
    fn random_keys_at_registry_density_fit_their_buckets() {
        // Keys drawn independently (counts per bucket vary as Poisson, more than evenly spaced
        // keys do): under one byte per number, and few keys left for the overflow set.
        let mut s = 11;
        let mut keys: Vec<u64> = (0..1_040_000).map(|_| 12_000_000_000 + splitmix(&mut s) % 31_000_000).collect();
        keys.sort_unstable();
        keys.dedup();
        let set = CompactSet::from_sorted(&keys).unwrap();
        let per = set.heap_bytes() as f64 / keys.len() as f64;
        assert!(per <= 1.0, "{per} bytes per number");
        // The Poisson tail overflows a few buckets: those keys are found in the overflow set.
        assert!(set.overflow_len() > 0 && set.overflow_len() < keys.len() as u64 / 200, "{set:?}");
        assert!(keys.iter().all(|&k| set.contains(k)));
        let members: std::collections::HashSet<u64> = keys.iter().copied().collect();
        for probe in (11_999_999_990..12_031_000_010).step_by(7) {
            assert_eq!(set.contains(probe), members.contains(&probe), "{probe}");
        }
        assert!(set.iter().eq(keys.iter().copied()));
    }

    #[test]
    fn dense_runs_get_their_own_buckets_and_answer_exactly() {
        // A sparse sample with a run of 20,000 consecutive numbers inside: the run's segment
        // gets as many buckets as its keys need, and the mapping spreads the run over them.
        let mut keys = nanp_sample(100_000, 9);
        keys.extend(15_550_000_000..15_550_020_000);
        keys.sort_unstable();
        keys.dedup();
        let set = CompactSet::from_sorted(&keys).unwrap();
        assert!(set.overflow_len() < keys.len() as u64 / 100, "{set:?}");
        let members: std::collections::HashSet<u64> = keys.iter().copied().collect();
        for probe in 15_549_990_000..15_550_030_000 {
            assert_eq!(set.contains(probe), members.contains(&probe), "{probe}");
        }
        for &k in keys.iter().step_by(3) {
            assert!(set.contains(k));
            assert_eq!(set.contains(k + 1), members.contains(&(k + 1)));
        }
        assert!(set.iter().eq(keys.iter().copied()));
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        assert_eq!(CompactSet::read_from(&mut bytes.as_slice()).unwrap(), set);
    }

    #[test]
    fn files_of_the_two_read_layout_are_still_read() {
        let keys = nanp_sample(50_000, 4);
        let mut bytes = Vec::new();
        EliasFano::from_sorted(&keys).unwrap().write_to(&mut bytes).unwrap();
        assert_eq!(&bytes[..8], MAGIC_V2);
        let set = CompactSet::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(set, CompactSet::from_sorted(&keys).unwrap());
        assert!(keys.iter().all(|&k| set.contains(k)));
    }

    #[test]
    fn large_sets_live_in_a_mapping_and_answer_the_same() {
        let keys = nanp_sample(3_000_000, 12);
        let set = CompactSet::from_sorted(&keys).unwrap();
        assert!(matches!(set.lines, Storage::Mapped(_)), "{set:?}");
        assert!(keys.iter().step_by(5).all(|&k| set.contains(k)));
        assert!(!set.contains(keys[0] + 1) || keys[1] == keys[0] + 1);
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        let back = CompactSet::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(back, set);
        assert!(back.iter().eq(keys.iter().copied()));
    }

    #[test]
    fn low_width_is_the_floor_of_log2_of_the_ratio() {
        for range in (1..3000u64).chain([1 << 40, u64::MAX / 3, u64::MAX]) {
            for count in [1u64, 2, 3, 7, 64, 133, 1000, 2047] {
                let q = range / count;
                let expected = if q <= 1 { 0 } else { 63 - q.leading_zeros() };
                assert_eq!(low_width(range, count), expected, "{range} / {count}");
            }
        }
    }

    #[test]
    fn keys_clustered_by_exchange_fit_their_buckets() {
        // Half the exchanges empty, the others up to four times the mean density: without the
        // mapping, a segment's buckets over dense exchanges overflow.
        let mut s = 21;
        let mut keys = Vec::new();
        for exchange in 0..4_000u64 {
            if splitmix(&mut s).is_multiple_of(2) {
                continue;
            }
            let density = splitmix(&mut s) % 1_000;
            for i in 0..10_000u64 {
                if splitmix(&mut s) % 7_750 < density {
                    keys.push(12_000_000_000 + exchange * 10_000 + i);
                }
            }
        }
        let set = CompactSet::from_sorted(&keys).unwrap();
        let per = set.heap_bytes() as f64 / keys.len() as f64;
        assert!(per <= 1.0, "{per} bytes per number, {set:?}");
        assert!(set.overflow_len() < keys.len() as u64 / 100, "{set:?}");
        let members: std::collections::HashSet<u64> = keys.iter().copied().collect();
        for probe in (12_000_000_000..12_040_000_000).step_by(997) {
            assert_eq!(set.contains(probe), members.contains(&probe), "{probe}");
        }
        assert!(keys.iter().all(|&k| set.contains(k)));
        assert!(set.iter().eq(keys.iter().copied()));
    }

    #[test]
    fn the_key_mapping_is_a_bijection_and_inverts() {
        for bits in 0..=12 {
            let mix = Mix::new(bits);
            let mut seen = vec![false; 1 << bits];
            for x in 0..1u64 << bits {
                let y = mix.apply(x);
                assert!(!seen[y as usize], "bits {bits}: {x} collides");
                seen[y as usize] = true;
                assert_eq!(mix.invert(y), x);
            }
        }
        let mut state = 1;
        for bits in [13, 18, 33, 40, 63] {
            let mix = Mix::new(bits);
            for _ in 0..10_000 {
                let x = splitmix(&mut state) & mask(bits);
                let y = mix.apply(x);
                assert!(y <= mask(bits));
                assert_eq!(mix.invert(y), x, "bits {bits}");
            }
        }
        // An exchange's consecutive numbers land all over an 18-bit segment.
        let mix = Mix::new(18);
        let spread: std::collections::HashSet<u64> = (0..1000u64).map(|i| mix.apply(70_000 + i) >> 8).collect();
        assert!(spread.len() > 600, "{}", spread.len());
    }

    #[test]
    fn select_finds_every_set_bit() {
        for x in [0u64, 1, u64::MAX, 0x8000_0000_0000_0001, 0xdead_beef_0bad_f00d, 0xff00_0000_0000_0000] {
            let mut expected = (0..64).filter(|i| x >> i & 1 == 1);
            for k in 0..x.count_ones() {
                assert_eq!(Some(select1(x, k)), expected.next());
            }
            assert_eq!(select1(x, x.count_ones()), 64);
            assert_eq!(select1(x, 64), 64);
        }
        let mut state = 5;
        for _ in 0..10_000 {
            let x = splitmix(&mut state) & splitmix(&mut state);
            let positions: Vec<u32> = (0..64).filter(|i| x >> i & 1 == 1).collect();
            for (k, &p) in positions.iter().enumerate() {
                assert_eq!(select1(x, k as u32), p, "{x:#x} {k}");
            }
        }
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

    /// A hand-made `CVDNC04` file: header, segment table, buckets, an empty overflow set.
    fn raw_file(len: u64, min: u64, max: u64, seg_bits: u64, segs: &[u32], buckets: &[[u64; BUCKET_WORDS]]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let header =
            [len, min, max, seg_bits, Mix::M1, Mix::M2, segs.len() as u64, (buckets.len() * LINES_PER_BUCKET) as u64];
        header.iter().for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
        segs.iter().for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
        buckets.iter().flatten().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
        EliasFano::empty().write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn crafted_files_are_refused_not_answered_wrongly() {
        // Found in review: a range of the whole u64 space with one-value segments overflowed the
        // segment count.
        assert!(CompactSet::read_from(&mut raw_file(1, 0, u64::MAX, 0, &[], &[]).as_slice()).is_err());
        // A bucket whose key maps back beyond `max` (iteration would overflow).
        let min = u64::MAX - 15;
        let beyond = encode_bucket(&[Mix::new(5).apply(20)], 32, false);
        assert!(CompactSet::read_from(&mut raw_file(1, min, u64::MAX, 5, &[0, 1], &[beyond]).as_slice()).is_err());
        let inside = encode_bucket(&[Mix::new(5).apply(7)], 32, false);
        let set = CompactSet::read_from(&mut raw_file(1, min, u64::MAX, 5, &[0, 1], &[inside]).as_slice()).unwrap();
        assert!(set.contains(min + 7) && !set.contains(min + 8));
        assert_eq!(set.iter().collect::<Vec<_>>(), [min + 7]);
        // A bucket counting a key its unary part does not hold.
        let mut hollow = [0u64; BUCKET_WORDS];
        hollow[0] = 1;
        assert!(CompactSet::read_from(&mut raw_file(1, min, u64::MAX, 5, &[0, 1], &[hollow]).as_slice()).is_err());
        // An overflow key whose bucket is not flagged.
        let mut keys = nanp_sample(2_000, 3);
        keys.dedup();
        let set = CompactSet::from_sorted(&keys).unwrap();
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        let overflow_at = bytes.len() - {
            let mut tail = Vec::new();
            set.overflow.write_to(&mut tail).unwrap();
            tail.len()
        };
        let mut stray = bytes[..overflow_at].to_vec();
        EliasFano::from_sorted(&[3]).unwrap().write_to(&mut stray).unwrap();
        stray[8..16].copy_from_slice(&(keys.len() as u64 + 1).to_le_bytes());
        assert!(CompactSet::read_from(&mut stray.as_slice()).is_err());
        // A two-read-layout file whose unary part holds fewer keys than its count: refused, where
        // iterating it would never end.
        let mut old = MAGIC_V2.to_vec();
        for h in [1u64, 0, 0, 8, 1, 5] {
            old.extend_from_slice(&h.to_le_bytes());
        }
        old.extend_from_slice(&(1u64 << 36).to_le_bytes());
        old.extend_from_slice(&[0u8; 40]);
        assert!(CompactSet::read_from(&mut old.as_slice()).is_err());
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
