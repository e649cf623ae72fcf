//! Unseal shares arrive from anybody who can reach a sealed server: checking and combining them
//! never panics, and what checks has a threshold within the accepted range.
#![no_main]

use callvault_crypto::shamir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(k) = shamir::check(s) {
        assert!(k >= 1, "threshold {k}");
    }
    // Several shares at once: split the input on newlines.
    let parts: Vec<&str> = s.lines().take(12).collect();
    let _ = shamir::combine(&parts);
});
