//! Persisted number sets read back from disk: a damaged file is an error or a set that answers
//! without panicking, never a crash; sets built from arbitrary sorted keys contain exactly them.
#![no_main]

use callvault_policy::dnc::CompactSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = CompactSet::read_from(&mut &data[..]) {
        for probe in [0, 1, 12_085_550_100, u64::MAX] {
            let _ = set.contains(probe);
        }
        let _ = set.iter().take(1000).count();
    }
    let mut keys: Vec<u64> = data.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    keys.sort_unstable();
    keys.dedup();
    if let Ok(set) = CompactSet::from_sorted(&keys) {
        assert!(keys.iter().all(|k| set.contains(*k)));
        assert!(set.iter().eq(keys.iter().copied()));
        let mut bytes = Vec::new();
        set.write_to(&mut bytes).unwrap();
        assert_eq!(CompactSet::read_from(&mut bytes.as_slice()).unwrap(), set);
    }
});
