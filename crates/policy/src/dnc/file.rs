//! The file format of a [`CompactSet`]: little-endian words after a header (`CVDNC04`), the
//! overflow set last; files of the earlier two-read layout (`CVDNC02`) are rebuilt in memory.
//! Reading checks every bucket, so a damaged or crafted file is refused instead of answering
//! wrongly.

use super::*;

impl CompactSet {
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
    pub(super) fn check(&self) -> Result<(), &'static str> {
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
