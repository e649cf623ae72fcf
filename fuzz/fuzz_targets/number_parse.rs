//! Phone numbers from the network: parsing never panics, and what parses is well formed.
#![no_main]

use callvault_policy::numbers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for region in [None, Some("US"), Some("GB")] {
        if let Ok(n) = numbers::parse(s, region) {
            assert!(n.e164.starts_with('+') && n.e164.len() <= 16, "{}", n.e164);
            assert!(n.digits().bytes().all(|b| b.is_ascii_digit()));
            // Parsing the canonical form again gives the same number.
            assert_eq!(numbers::parse(&n.e164, None).as_ref(), Ok(&n));
        }
    }
    let _ = s.parse::<callvault_policy::areas::AreaMatch>();
});
