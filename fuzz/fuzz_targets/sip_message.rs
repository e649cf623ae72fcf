//! SIP messages from the network (raw SIP over the API, HEP payloads): parsing and classifying
//! never panic; what parses has a body no longer than the input and a well-formed answer.
#![no_main]

use callvault_signalling::{classify_message, sip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sip::parse(data) {
        assert!(m.body.len() <= data.len());
        let _ = (m.call_id(), m.cseq(), m.from_tag(), m.to_tag(), m.top_via_transport(), m.has_sdp());
        let _ = m.header_values("Via").count();
    }
    if let Ok(c) = classify_message(data) {
        assert!(!c.call_id.is_empty());
        assert!(c.call_id.chars().count() <= callvault_signalling::classify::MAX_CALL_ID);
        assert!(c.status.is_none_or(|s| (100..700).contains(&s)));
        // Strict framing: whatever classifies has the headers every SIP message carries and a
        // header section without control bytes.
        let m = sip::parse(data).expect("classified, so parsed");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            assert!(m.header(name).is_some(), "{name}");
        }
        // Secure media is only ever SDES with a key or DTLS with a fingerprint.
        if let Some(media) = &c.media {
            assert!(!media.media.encrypted() || media.detail.is_some());
        }
    }
});
