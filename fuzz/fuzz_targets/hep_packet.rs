//! HEP v3 packets from the network: decoding never panics; a decoded packet re-encodes to one
//! that decodes to the same fields (chunk order and unknown chunks aside).
#![no_main]

use callvault_signalling::hep;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(len)) = hep::frame_len(data) {
        assert!(len >= 6);
    }
    if let Ok(p) = hep::parse(data) {
        assert!(p.payload.len() <= data.len());
        let again = hep::encode(&p);
        // Packets near the 64 KiB length limit may not fit once re-encoded with every chunk.
        if again.len() < 65_000 {
            let q = hep::parse(&again).expect("re-encoded packet decodes");
            assert_eq!((q.src, q.dst, q.capture_id, q.auth_key, q.payload), (p.src, p.dst, p.capture_id, p.auth_key, p.payload));
        }
    }
});
