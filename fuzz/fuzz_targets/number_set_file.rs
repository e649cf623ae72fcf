//! Persisted number sets read back from disk: a damaged file is an error or a set that answers
//! without panicking, never a crash; sets built from arbitrary sorted keys contain exactly them.
#![no_main]

use callvault_policy::dnc::CompactSet;
use libfuzzer_sys::fuzz_target;

fn probe_all(set: &CompactSet, extra: &[u64]) {
    for &probe in [0, 1, 12_085_550_100, u64::MAX].iter().chain(extra) {
        let _ = set.contains(probe);
        let _ = set.contains(probe.wrapping_add(1));
    }
    let _ = set.iter().take(1000).count();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = CompactSet::read_from(&mut &data[..]) {
        probe_all(&set, &[]);
    }
    let mut keys: Vec<u64> = data.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    // Half the inputs as NANP-like numbers close together, so buckets fill and overflow.
    if data.first().is_some_and(|b| b & 1 == 1) {
        for k in keys.iter_mut() {
            *k = 12_000_000_000 + *k % 2_000_000;
        }
    }
    keys.sort_unstable();
    keys.dedup();
    if let Ok(set) = CompactSet::from_sorted(&keys) {
        assert!(keys.iter().all(|k| set.contains(*k)));
        assert!(set.iter().eq(keys.iter().copied()));
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        assert_eq!(CompactSet::read_from(&mut bytes.as_slice()).unwrap(), set);
        // A valid file damaged at places the input chooses: refused, or a set that answers.
        for pair in data.chunks_exact(3).take(8) {
            let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % bytes.len();
            bytes[at] ^= pair[2] | 1;
        }
        if let Ok(damaged) = CompactSet::read_from(&mut bytes.as_slice()) {
            probe_all(&damaged, &keys[..keys.len().min(64)]);
        }
    }
});
