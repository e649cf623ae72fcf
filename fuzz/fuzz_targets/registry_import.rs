//! Registry files (national and state do-not-call lists): the streaming parser never panics,
//! gives the same answer however the input is split, and every key it accepts is a +1 number.
#![no_main]

use callvault_policy::dnc::{CompactSet, RegistryParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else { return };
    let mut whole = RegistryParser::new(1);
    whole.feed(body);
    whole.finish();
    let mut parts = RegistryParser::new(1);
    let at = usize::from(split).min(body.len());
    parts.feed(&body[..at]);
    parts.feed(&body[at..]);
    parts.finish();
    assert_eq!(whole.keys, parts.keys);
    assert_eq!(whole.error_count, parts.error_count);
    assert!(whole.keys.iter().all(|k| (12_000_000_000..20_000_000_000).contains(k)));
    let mut keys = whole.keys;
    keys.sort_unstable();
    keys.dedup();
    let set = CompactSet::from_sorted(&keys).unwrap();
    assert!(keys.iter().all(|k| set.contains(*k)));
});
