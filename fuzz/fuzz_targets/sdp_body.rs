//! SDP bodies: parsing never panics, sections stay bounded, and the media classification of
//! whatever parses is one of the known kinds.
#![no_main]

use callvault_signalling::classify::media_of;
use callvault_signalling::sdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = sdp::parse(data) {
        assert!(s.media.len() <= sdp::MAX_MEDIA);
        assert!(s.media.iter().all(|m| m.crypto.len() <= 32));
        let _ = media_of(&s, false);
        let _ = media_of(&s, true);
    }
});
