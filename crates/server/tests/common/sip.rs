//! Raw SIP messages for the call-security tests: an INVITE with its SDP, its 200 OK, a BYE.
#![allow(dead_code)]

pub const SDP_PLAIN: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\n";
pub const SDP_SDES: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";

pub fn invite(call_id: &str, via: &str, from_user: &str, sdp: &str) -> String {
    format!(
        "INVITE sip:uas@127.0.0.1:15080 SIP/2.0\r\nVia: SIP/2.0/{via} 127.0.0.1:15090;branch=z9hG4bK-1\r\nFrom: <sip:{from_user}@127.0.0.1>;tag=a1\r\nTo: <sip:uas@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

pub fn ok(call_id: &str, via: &str, sdp: &str) -> String {
    format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/{via} 127.0.0.1:15090;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:uas@127.0.0.1>;tag=b2\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

pub fn bye(call_id: &str) -> String {
    format!(
        "BYE sip:uas@127.0.0.1:15080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:15090;branch=z9hG4bK-2\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:uas@127.0.0.1>;tag=b2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
}
