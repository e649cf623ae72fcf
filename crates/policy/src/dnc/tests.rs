//! The set, its file format and the registry parser against samples, crafted files and NANP
//! data.

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
