//! What a SIP message says about one call leg's security: how its signalling hop is carried and,
//! when it carries SDP, how the audio is protected. An offer proposes; the answer decides what
//! was negotiated; a re-INVITE's answer decides again.

use serde::{Deserialize, Serialize};

use crate::sdp::{self, Sdp};
use crate::sip::{self, Message, StartLine};

/// How a hop's signalling is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signalling {
    /// UDP, TCP, WS or SCTP: readable on the wire.
    Plain,
    /// TLS or WSS.
    Tls,
    /// Not known (no Via, a PBX that did not say).
    Unknown,
}

/// How a leg's audio is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    /// Plain RTP.
    PlainRtp,
    /// SRTP keyed by SDES `a=crypto` with a suite that encrypts and authenticates.
    SdesSrtp,
    /// SRTP keyed by DTLS (fingerprint in the SDP).
    DtlsSrtp,
    /// SRTP with a NULL cipher or NULL authentication suite: not secure.
    NullSrtp,
    /// SDES with a session parameter that switches protection off (`UNENCRYPTED_SRTP`,
    /// `UNENCRYPTED_SRTCP`, `UNAUTHENTICATED_SRTP`, RFC 4568 section 6.3): not secure.
    SdesUnprotected,
    /// SDES without a well-formed key of the suite's length: not secure.
    SdesInvalidKey,
    /// An answer with more than one crypto line for a stream (RFC 4568 section 5.1.2 allows
    /// exactly one): malformed, not secure.
    MalformedAnswer,
    /// Not known (no answer yet, an unknown suite or keying, a PBX that did not say).
    Unknown,
}

impl Media {
    /// Whether the audio is encrypted and authenticated.
    pub fn encrypted(self) -> bool {
        matches!(self, Media::SdesSrtp | Media::DtlsSrtp)
    }

    /// Order for "the weakest of several streams".
    fn rank(self) -> u8 {
        match self {
            Media::PlainRtp
            | Media::NullSrtp
            | Media::SdesUnprotected
            | Media::SdesInvalidKey
            | Media::MalformedAnswer => 0,
            Media::Unknown => 1,
            Media::SdesSrtp | Media::DtlsSrtp => 2,
        }
    }
}

/// A description's audio protection, with the suite that decided when SDES.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaSecurity {
    /// The kind.
    pub media: Media,
    /// The SDES suite (upper case) or DTLS `setup` role, when one decided.
    pub detail: Option<String>,
}

/// SDES suites that encrypt and authenticate (RFC 4568, 6188, 7714; FreeSWITCH's `_8` GCM
/// variants and its `AES_CM_256` spelling).
const SECURE_SUITES: [&str; 14] = [
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "AES_CM_256_HMAC_SHA1_80",
    "AES_CM_256_HMAC_SHA1_32",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "AEAD_AES_128_GCM_8",
    "AEAD_AES_256_GCM_8",
    "F8_128_HMAC_SHA1_80",
    "F8_128_HMAC_SHA1_32",
];

/// The master key plus salt length of a protecting SDES suite, in bytes (RFC 4568 section 6.2,
/// RFC 6188 section 7, RFC 7714 section 12): 16 + 14 for the 128-bit AES counter and f8 suites,
/// 24 + 14 and 32 + 14 for AES-192 and AES-256, 16 + 12 and 32 + 12 for AES-GCM.
fn suite_key_bytes(suite: &str) -> Option<usize> {
    let s = suite.to_ascii_uppercase();
    let len = if s.starts_with("AEAD_AES_128_GCM") {
        28
    } else if s.starts_with("AEAD_AES_256_GCM") {
        44
    } else if s.starts_with("AES_192_CM") {
        38
    } else if s.starts_with("AES_256_CM") || s.starts_with("AES_CM_256") {
        46
    } else if s.starts_with("AES_CM_128") || s.starts_with("F8_128") {
        30
    } else {
        return None;
    };
    Some(len)
}

/// What a NULL suite leaves out: `encryption` (NULL cipher), `authentication` (NULL_AUTH), or
/// both.
pub fn null_suite_lacks(suite: &str) -> &'static str {
    let s = suite.to_ascii_uppercase();
    match (s.starts_with("NULL"), s.ends_with("NULL_AUTH")) {
        (true, true) => "encryption and authentication",
        (false, true) => "authentication",
        _ => "encryption",
    }
}

/// Whether an SDES suite protects (case-insensitive); `None` when the suite is unknown.
pub fn suite_is_secure(suite: &str) -> Option<bool> {
    if SECURE_SUITES.iter().any(|s| s.eq_ignore_ascii_case(suite)) {
        Some(true)
    } else if suite.to_ascii_uppercase().contains("NULL") {
        Some(false)
    } else {
        None
    }
}

/// The audio protection one session description offers or answers; `None` when it has no
/// active audio stream.
///
/// "Secure" is a proof, not a default: an SDES stream counts as SRTP only with a protecting
/// suite, a well-formed key of that suite's length and no session parameter that switches
/// protection off; an answer must carry exactly one crypto line per stream. DTLS-SRTP needs a
/// fingerprint. Everything else is not secure or unknown, with the reason in `detail`.
pub fn media_of(sdp: &Sdp<'_>, is_answer: bool) -> Option<MediaSecurity> {
    sdp.media
        .iter()
        .filter(|m| m.media.eq_ignore_ascii_case("audio") && m.port != 0)
        .map(|m| {
            let proto = m.proto.to_ascii_uppercase();
            if proto.contains("TLS/RTP/SAVP") || proto.contains("DTLS/RTP/SAVP") {
                return match m.fingerprint {
                    Some(_) => MediaSecurity { media: Media::DtlsSrtp, detail: m.setup.map(str::to_owned) },
                    None => {
                        MediaSecurity { media: Media::Unknown, detail: Some("DTLS profile without fingerprint".into()) }
                    }
                };
            }
            if is_answer && m.crypto.len() > 1 {
                return MediaSecurity {
                    media: Media::MalformedAnswer,
                    detail: Some(format!("{} crypto lines in one answered stream", m.crypto.len())),
                };
            }
            let judged: Vec<MediaSecurity> = m.crypto.iter().map(sdes_line).collect();
            // An offer lists what it accepts, so its strongest proven line counts; an answer has
            // only the one chosen.
            if let Some(best) = judged.iter().max_by_key(|j| (j.media.rank(), j.media == Media::SdesSrtp)) {
                return best.clone();
            }
            if proto.contains("SAVP") {
                // SRTP without SDES or DTLS keying (MIKEY, ZRTP, ...): not judged.
                MediaSecurity {
                    media: Media::Unknown,
                    detail: Some(format!("{} without SDES or DTLS keying", m.proto)),
                }
            } else if proto.starts_with("RTP/AVP") {
                MediaSecurity { media: Media::PlainRtp, detail: None }
            } else {
                MediaSecurity { media: Media::Unknown, detail: Some(format!("profile {}", m.proto)) }
            }
        })
        .min_by_key(|m| m.media.rank())
}

/// What one `a=crypto` line proves.
fn sdes_line(c: &sdp::Crypto<'_>) -> MediaSecurity {
    let suite = c.suite.to_ascii_uppercase();
    match suite_is_secure(c.suite) {
        Some(false) => MediaSecurity { media: Media::NullSrtp, detail: Some(suite) },
        None => MediaSecurity { media: Media::Unknown, detail: Some(format!("unknown SDES suite {suite}")) },
        Some(true) => {
            if let Some(param) = c.disables {
                MediaSecurity { media: Media::SdesUnprotected, detail: Some(format!("{suite} {param}")) }
            } else if c.key_bytes.is_none() || c.key_bytes != suite_key_bytes(&suite) {
                MediaSecurity { media: Media::SdesInvalidKey, detail: Some(suite) }
            } else {
                MediaSecurity { media: Media::SdesSrtp, detail: Some(suite) }
            }
        }
    }
}

/// How the hop that carried `msg` was protected: only the topmost Via proves it (RFC 3261
/// section 18: the transport a request was sent on); `sips:` or `;transport=tls` in a URI says
/// how a hop should be carried, not how this one was.
pub fn signalling_of(msg: &Message<'_>) -> Signalling {
    match msg.top_via_transport() {
        Some(t) if t.eq_ignore_ascii_case("TLS") || t.eq_ignore_ascii_case("WSS") => Signalling::Tls,
        Some(_) => Signalling::Plain,
        None => Signalling::Unknown,
    }
}

/// The user part of a SIP URI, inside `<...>` when there are brackets.
pub fn uri_user(v: &str) -> Option<&str> {
    let inner = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let rest = inner.split_once(':').map(|(_, r)| r)?;
    let user = rest.split_once('@')?.0;
    let user = user.split(';').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

/// What a message means for its leg (serialisable: a call's SIP memory is stored with it when
/// several nodes track calls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classified {
    /// Call-ID.
    pub call_id: String,
    /// Request method or, for a response, the method of its CSeq (upper case).
    pub method: String,
    /// Response status, when a response.
    pub status: Option<u16>,
    /// `From` tag.
    pub from_tag: Option<String>,
    /// `To` tag (present once the dialog is established).
    pub to_tag: Option<String>,
    /// The Request-URI's user part (the party a request is for), when a request.
    pub request_user: Option<String>,
    /// The `From` URI's user part.
    pub from_user: Option<String>,
    /// The hop's signalling.
    pub signalling: Signalling,
    /// The SDP's audio protection, when the message carries SDP with audio.
    pub media: Option<MediaSecurity>,
    /// Whether the SDP puts every active audio stream on hold (`sendonly` or `inactive`), when
    /// it has audio.
    pub audio_on_hold: Option<bool>,
    /// The SDES suites an offer lists for its audio streams (upper case), so the answer's choice
    /// can be checked against them; empty for answers.
    pub offered_suites: Vec<String>,
    /// The call's correlation across a B2BUA (an SBC that changes the Call-ID): `X-CID`, else the
    /// `icid-value` of `P-Charging-Vector` (RFC 7315 section 4.6), when present and sane.
    pub correlation: Option<String>,
    /// Whether the SDP is an offer (in a request other than ACK, or in a 18x/2xx to an
    /// INVITE that had none — the latter is not knowable from one message, so a response's SDP
    /// is taken as the answer) or an answer.
    pub sdp_is_offer: bool,
}

/// Why a message cannot be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// Not SIP.
    #[error(transparent)]
    Sip(#[from] sip::SipError),
    /// The SDP body does not parse.
    #[error(transparent)]
    Sdp(#[from] sdp::SdpError),
    /// No Call-ID or CSeq.
    #[error("no Call-ID or CSeq")]
    NoDialog,
    /// A header every SIP message carries (RFC 3261 section 8.1.1) is missing.
    #[error("no {0} header")]
    MissingHeader(&'static str),
    /// `CSeq` is not a number and a method, or its method is not the request's.
    #[error("CSeq is malformed or names another method than the request")]
    BadCSeq,
    /// A header holds bytes SIP does not allow there (NUL or other control characters).
    #[error("a header holds control characters")]
    BadHeaderBytes,
    /// The Call-ID is longer than any real one.
    #[error("Call-ID longer than {MAX_CALL_ID} characters")]
    CallIdTooLong,
}

/// The longest Call-ID accepted (real ones are a few dozen characters).
pub const MAX_CALL_ID: usize = 256;

/// Strict framing: Via, From, To, Call-ID and CSeq present (RFC 3261 section 8.1.1), a CSeq of a
/// number and the request's own method, no control characters in the header section, a Call-ID
/// of sane length.
fn check_framing(bytes: &[u8], msg: &Message<'_>) -> Result<(), ClassifyError> {
    let head_end =
        bytes.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| bytes.windows(2).position(|w| w == b"\n\n"));
    let head = &bytes[..head_end.unwrap_or(bytes.len())];
    if head.iter().any(|b| (*b < 0x20 && !matches!(b, b'\r' | b'\n' | b'\t')) || *b == 0x7f) {
        return Err(ClassifyError::BadHeaderBytes);
    }
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if msg.header(name).is_none_or(|v| v.trim().is_empty()) {
            return Err(ClassifyError::MissingHeader(name));
        }
    }
    if msg.call_id().is_some_and(|c| c.chars().count() > MAX_CALL_ID) {
        return Err(ClassifyError::CallIdTooLong);
    }
    let (_, cseq_method) = msg.cseq().ok_or(ClassifyError::BadCSeq)?;
    let method_ok = !cseq_method.is_empty() && cseq_method.bytes().all(|b| b.is_ascii_alphabetic());
    let same = match msg.start {
        StartLine::Request { method, .. } => method.eq_ignore_ascii_case(cseq_method),
        StartLine::Response { .. } => true,
    };
    if !method_ok || !same {
        return Err(ClassifyError::BadCSeq);
    }
    Ok(())
}

/// Parses and classifies one SIP message.
pub fn classify_message(bytes: &[u8]) -> Result<Classified, ClassifyError> {
    let msg = sip::parse(bytes)?;
    let call_id = msg.call_id().ok_or(ClassifyError::NoDialog)?.to_owned();
    let method = msg.method().ok_or(ClassifyError::NoDialog)?.to_ascii_uppercase();
    check_framing(bytes, &msg)?;
    let sdp_is_offer = matches!(msg.start, StartLine::Request { method, .. } if !method.eq_ignore_ascii_case("ACK"));
    let (media, audio_on_hold, offered_suites) = if msg.has_sdp() {
        let s = sdp::parse(msg.body)?;
        let audio: Vec<_> = s.media.iter().filter(|m| m.media.eq_ignore_ascii_case("audio") && m.port != 0).collect();
        let hold = (!audio.is_empty()).then(|| audio.iter().all(|m| matches!(m.direction, "sendonly" | "inactive")));
        let offered = if sdp_is_offer {
            audio.iter().flat_map(|m| m.crypto.iter().map(|c| c.suite.to_ascii_uppercase())).collect()
        } else {
            Vec::new()
        };
        (media_of(&s, !sdp_is_offer), hold, offered)
    } else {
        (None, None, Vec::new())
    };
    Ok(Classified {
        call_id,
        method,
        status: msg.status(),
        from_tag: msg.from_tag().map(str::to_owned),
        to_tag: msg.to_tag().map(str::to_owned),
        request_user: match msg.start {
            StartLine::Request { uri, .. } => uri_user(uri).map(str::to_owned),
            StartLine::Response { .. } => None,
        },
        from_user: msg.header("From").and_then(uri_user).map(str::to_owned),
        signalling: signalling_of(&msg),
        correlation: correlation_of(&msg),
        offered_suites,
        media,
        sdp_is_offer,
        audio_on_hold,
    })
}

/// The B2BUA correlation a message carries: `X-CID`, else `P-Charging-Vector`'s `icid-value`.
pub fn correlation_of(msg: &Message<'_>) -> Option<String> {
    let icid = || {
        msg.header("P-Charging-Vector")?.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("icid-value").then(|| v.trim().trim_matches('"'))
        })
    };
    let value = msg.header("X-CID").map(str::trim).or_else(icid)?;
    sane_correlation(value).map(str::to_owned)
}

/// A correlation value usable as a call key: 1 to 256 printable ASCII characters.
pub fn sane_correlation(v: &str) -> Option<&str> {
    (!v.is_empty() && v.len() <= MAX_CALL_ID && v.bytes().all(|b| b.is_ascii_graphic())).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp_media(body: &str) -> Option<MediaSecurity> {
        media_of(&sdp::parse(body.as_bytes()).unwrap(), true)
    }

    fn kind(body: &str) -> Media {
        sdp_media(body).map_or(Media::Unknown, |m| m.media)
    }

    const HEAD: &str = "v=0\r\no=- 3 3 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n";

    #[test]
    fn every_sdes_suite_and_the_null_ones() {
        for suite in SECURE_SUITES {
            let key = zero_key(suite_key_bytes(suite).unwrap());
            let body = format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 {suite} inline:{key}|2^20|1:32\r\n");
            assert_eq!(kind(&body), Media::SdesSrtp, "{suite}");
            let lower = body.replace(suite, &suite.to_ascii_lowercase());
            assert_eq!(sdp_media(&lower).unwrap().detail.as_deref(), Some(suite), "mixed case {suite}");
        }
        for suite in ["NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_32", "AES_CM_128_NULL_AUTH", "aes_cm_128_null_auth"] {
            let body = format!(
                "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 {suite} inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"
            );
            assert_eq!(kind(&body), Media::NullSrtp, "{suite}");
        }
        let unknown = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 SEED_CTR_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
        );
        assert_eq!(kind(&unknown), Media::Unknown);
    }

    #[test]
    fn profiles_dtls_plain_and_avp_with_crypto() {
        assert_eq!(kind(&format!("{HEAD}m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n")), Media::PlainRtp);
        assert_eq!(kind(&format!("{HEAD}m=audio 4000 RTP/AVPF 0\r\n")), Media::PlainRtp);
        let dtls = format!(
            "{HEAD}a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:A3:1C:7E:3D:A8:34:3B:20:20:9A:9A\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\n"
        );
        assert_eq!(sdp_media(&dtls), Some(MediaSecurity { media: Media::DtlsSrtp, detail: Some("actpass".into()) }));
        assert_eq!(kind(&format!("{HEAD}m=audio 9 UDP/TLS/RTP/SAVP 0\r\n")), Media::Unknown);
        // RFC 4568 best-effort SRTP: RTP/AVP carrying a=crypto; what the answer holds decides.
        let avp_crypto = format!(
            "{HEAD}m=audio 4000 RTP/AVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"
        );
        assert_eq!(kind(&avp_crypto), Media::SdesSrtp);
        assert_eq!(kind(&format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\n")), Media::Unknown);
        // The weakest active audio stream counts; rejected streams (port 0) and video do not.
        let mixed = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\nm=audio 4002 RTP/AVP 0\r\n"
        );
        assert_eq!(kind(&mixed), Media::PlainRtp);
        let rejected = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\nm=audio 0 RTP/AVP 0\r\nm=video 5000 RTP/AVP 96\r\n"
        );
        assert_eq!(kind(&rejected), Media::SdesSrtp);
        assert_eq!(sdp_media(&format!("{HEAD}m=video 5000 RTP/AVP 96\r\n")), None);
    }

    fn invite(via: &str, uri: &str, body: &str) -> String {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/{via} 192.0.2.10:5060;branch=z9hG4bK776\r\nFrom: <sip:a@example.com>;tag=1928\r\nTo: <{uri}>\r\nCall-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn signalling_over_udp_tcp_tls_wss_and_uris() {
        let body = format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n");
        for (via, expect) in [
            ("UDP", Signalling::Plain),
            ("TCP", Signalling::Plain),
            ("TLS", Signalling::Tls),
            ("WSS", Signalling::Tls),
            ("WS", Signalling::Plain),
            ("tls", Signalling::Tls),
        ] {
            let m = invite(via, "sip:bob@example.com", &body);
            let c = classify_message(m.as_bytes()).unwrap();
            assert_eq!(c.signalling, expect, "{via}");
            assert_eq!((c.call_id.as_str(), c.method.as_str(), c.sdp_is_offer), ("a84b4c76e66710", "INVITE", true));
            assert_eq!((c.request_user.as_deref(), c.from_user.as_deref()), (Some("bob"), Some("a")));
            assert_eq!(c.media.unwrap().media, Media::PlainRtp);
        }
        // Only the topmost Via proves the hop: a message without Via is refused, whatever its
        // URIs say (`sips:`, `;transport=tls` say how a hop should be carried, not how it was).
        let no_via = "BYE sips:bob@example.com SIP/2.0\r\nFrom: <sips:a@x>;tag=1\r\nTo: <sips:bob@example.com>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(classify_message(no_via.as_bytes()), Err(ClassifyError::MissingHeader("Via"))));
        let tls_uri_udp_via = invite("UDP", "sip:bob@example.com;transport=TLS", &body);
        assert_eq!(classify_message(tls_uri_udp_via.as_bytes()).unwrap().signalling, Signalling::Plain);
    }

    #[test]
    fn responses_answer_and_bad_input_is_an_error() {
        let body = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
        );
        let ok = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK776\r\nFrom: <sip:a@x>;tag=1928\r\nTo: <sip:b@y>;tag=a6c85cf\r\nCall-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let c = classify_message(ok.as_bytes()).unwrap();
        assert_eq!((c.status, c.method.as_str(), c.sdp_is_offer), (Some(200), "INVITE", false));
        assert_eq!(c.to_tag.as_deref(), Some("a6c85cf"));
        assert_eq!(c.media.unwrap().media, Media::SdesSrtp);
        assert_eq!(c.audio_on_hold, Some(false));
        let held = invite("UDP", "sip:b@x", &format!("{HEAD}m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"));
        assert_eq!(classify_message(held.as_bytes()).unwrap().audio_on_hold, Some(true));
        assert!(matches!(classify_message(b"BYE sip:x SIP/2.0\r\nCSeq: 1 BYE\r\n\r\n"), Err(ClassifyError::NoDialog)));
        let _ = ok;
        let bad_sdp = invite("UDP", "sip:b@x", "v=1\r\n");
        assert!(matches!(classify_message(bad_sdp.as_bytes()), Err(ClassifyError::Sdp(_))));
    }

    const KEY30: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    /// Base64 of `n` zero bytes (a well-formed key of that length).
    fn zero_key(n: usize) -> String {
        let full = "AAAA".repeat(n / 3);
        match n % 3 {
            1 => full + "AA==",
            2 => full + "AAA=",
            _ => full,
        }
    }

    /// Answers over a TLS hop, offer secure: every way an answer can fail to prove protection.
    #[test]
    fn secure_only_with_proof() {
        let stream = |lines: &str| format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\n{lines}");
        let table: Vec<(String, Media)> = vec![
            (stream(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\n")), Media::SdesSrtp),
            (
                stream(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTP\r\n")),
                Media::SdesUnprotected,
            ),
            (
                stream(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTCP\r\n")),
                Media::SdesUnprotected,
            ),
            (
                stream(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNAUTHENTICATED_SRTP\r\n")),
                Media::SdesUnprotected,
            ),
            (stream("a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n"), Media::SdesInvalidKey),
            (stream("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n"), Media::SdesInvalidKey),
            (stream(&format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY30}\r\n")), Media::SdesInvalidKey),
            (stream(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^zz\r\n")), Media::SdesInvalidKey),
            (
                stream(&format!(
                    "a=crypto:1 NULL_HMAC_SHA1_80 inline:{KEY30}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\n"
                )),
                Media::MalformedAnswer,
            ),
            (
                stream(&format!(
                    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}\r\n"
                )),
                Media::MalformedAnswer,
            ),
        ];
        for (body, want) in &table {
            let ok = format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let c = classify_message(ok.as_bytes()).unwrap();
            assert_eq!(c.media.as_ref().map(|m| m.media), Some(*want), "{body}");
            assert_eq!(c.signalling, Signalling::Tls);
            assert_eq!(c.media.unwrap().media.encrypted(), *want == Media::SdesSrtp);
        }
        // An offer may list several lines: the strongest proven one counts.
        let offer = invite(
            "TLS",
            "sip:b@x",
            &stream(&format!(
                "a=crypto:1 NULL_HMAC_SHA1_80 inline:{KEY30}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\n"
            )),
        );
        assert_eq!(classify_message(offer.as_bytes()).unwrap().media.unwrap().media, Media::SdesSrtp);
    }

    /// Malformed messages are refused, never classified.
    #[test]
    fn strict_framing() {
        let good = "BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        assert!(classify_message(good.as_bytes()).is_ok());
        let long_id = "x".repeat(20_000);
        let cases: Vec<(String, &str)> = vec![
            (good.replace("CSeq: 2 BYE\r\n", ""), "no CSeq"),
            (good.replace("CSeq: 2 BYE", "CSeq: two BYE"), "unparsable CSeq"),
            (good.replace("CSeq: 2 BYE", "CSeq: 2 INVITE"), "CSeq method not the request's"),
            (good.replace("CSeq: 2 BYE", "CSeq: 2"), "CSeq without method"),
            (good.replace("Call-ID: c1", "Call-ID: c\u{0}1"), "NUL in a header"),
            (good.replace("Call-ID: c1", "Call-ID: c\u{7}1"), "BEL in a header"),
            (good.replace("Call-ID: c1", &format!("Call-ID: {long_id}")), "20 KB Call-ID"),
            (good.replace("From: <sip:a@x>;tag=1\r\n", ""), "no From"),
            (good.replace("To: <sip:b@x>;tag=2\r\n", ""), "no To"),
            (good.replace("Via: SIP/2.0/TLS h;branch=z9hG4bK1\r\n", ""), "no Via"),
        ];
        for (msg, what) in cases {
            assert!(classify_message(msg.as_bytes()).is_err(), "{what} must be refused");
        }
        // A body is SDP only when Content-Type says so.
        let body = format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n");
        let json = invite("TLS", "sip:b@x", &body).replace("application/sdp", "application/json");
        assert_eq!(classify_message(json.as_bytes()).unwrap().media, None);
    }

    #[test]
    fn null_suites_say_what_they_lack() {
        assert_eq!(null_suite_lacks("NULL_HMAC_SHA1_80"), "encryption");
        assert_eq!(null_suite_lacks("AES_CM_128_NULL_AUTH"), "authentication");
        assert_eq!(null_suite_lacks("NULL_NULL_AUTH"), "encryption and authentication");
    }

    /// Every combination of hop, header set, answer or offer and up to two crypto lines of every
    /// kind: a message classifies as secure (encrypted audio over TLS) only when the proof holds —
    /// a TLS Via, all required headers, and for an answer exactly one line with a protecting
    /// suite, a key of the suite's length and no disabling session parameter (an offer: at least
    /// one such line).
    #[test]
    fn secure_only_when_the_proof_holds_exhaustive() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum Line {
            Valid,
            Disabled,
            NoKey,
            BadKey,
            WrongLength,
            Null,
            UnknownSuite,
        }
        const LINES: [Line; 7] =
            [Line::Valid, Line::Disabled, Line::NoKey, Line::BadKey, Line::WrongLength, Line::Null, Line::UnknownSuite];
        let text = |l: Line, tag: usize| match l {
            Line::Valid => format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20\r\n"),
            Line::Disabled => format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTP\r\n"),
            Line::NoKey => format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80\r\n"),
            Line::BadKey => format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:%%%%\r\n"),
            Line::WrongLength => format!("a=crypto:{tag} AES_256_CM_HMAC_SHA1_80 inline:{KEY30}\r\n"),
            Line::Null => format!("a=crypto:{tag} NULL_HMAC_SHA1_80 inline:{KEY30}\r\n"),
            Line::UnknownSuite => format!("a=crypto:{tag} SEED_CTR_128_HMAC_SHA1_80 inline:{KEY30}\r\n"),
        };
        let mut line_sets: Vec<Vec<Line>> = vec![vec![]];
        for a in LINES {
            line_sets.push(vec![a]);
            for b in LINES {
                line_sets.push(vec![a, b]);
            }
        }
        let headers = ["Via", "From", "To", "Call-ID", "CSeq"];
        let mut cases = 0;
        let mut secure = 0;
        for via in ["TLS", "UDP", "WSS"] {
            for missing in std::iter::once(None).chain(headers.iter().map(Some)) {
                for is_answer in [false, true] {
                    for lines in &line_sets {
                        let mut sdp = format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\n");
                        for (i, l) in lines.iter().enumerate() {
                            sdp.push_str(&text(*l, i + 1));
                        }
                        let start = if is_answer { "SIP/2.0 200 OK" } else { "INVITE sips:b@x SIP/2.0" };
                        let all = [
                            ("Via", format!("SIP/2.0/{via} h;branch=z9hG4bK1")),
                            ("From", "<sips:a@x>;tag=1".to_owned()),
                            ("To", "<sips:b@x>".to_owned()),
                            ("Call-ID", "p1".to_owned()),
                            ("CSeq", "1 INVITE".to_owned()),
                        ];
                        let mut msg = format!("{start}\r\n");
                        for (name, value) in &all {
                            if missing != Some(name) {
                                msg.push_str(&format!("{name}: {value}\r\n"));
                            }
                        }
                        msg.push_str(&format!(
                            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                            sdp.len()
                        ));
                        cases += 1;
                        let got = classify_message(msg.as_bytes());
                        let is_secure = got.as_ref().is_ok_and(|c| {
                            c.signalling == Signalling::Tls && c.media.as_ref().is_some_and(|m| m.media.encrypted())
                        });
                        let proof = via != "UDP"
                            && missing.is_none()
                            && if is_answer { lines.as_slice() == [Line::Valid] } else { lines.contains(&Line::Valid) };
                        assert_eq!(is_secure, proof, "{via} missing {missing:?} answer {is_answer} {lines:?}");
                        if missing.is_some() {
                            assert!(got.is_err(), "missing {missing:?} must be refused");
                        }
                        secure += usize::from(is_secure);
                    }
                }
            }
        }
        assert_eq!(cases, 3 * 6 * 2 * 57);
        assert!(secure > 0);
    }

    #[test]
    fn b2bua_correlation_headers() {
        let base = "BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n";
        let with = |h: &str| format!("{base}{h}\r\nContent-Length: 0\r\n\r\n");
        let corr = |h: &str| classify_message(with(h).as_bytes()).unwrap().correlation;
        assert_eq!(corr("X-CID: abc-1"), Some("abc-1".into()));
        assert_eq!(
            corr("P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=\";orig-ioi=ex.com"),
            Some("AyretyU0dm+6O2IrT5tAFrbHLso=".into())
        );
        assert_eq!(corr("X-Other: 1"), None);
        assert_eq!(corr(&format!("X-CID: {}", "z".repeat(300))), None, "not a sane key");
    }
}
