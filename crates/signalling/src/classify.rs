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
            Media::PlainRtp | Media::NullSrtp => 0,
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
pub fn media_of(sdp: &Sdp<'_>) -> Option<MediaSecurity> {
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
            let suites: Vec<(&str, Option<bool>)> =
                m.crypto.iter().map(|c| (c.suite, suite_is_secure(c.suite))).collect();
            // An answer carries one crypto line; an offer lists what it accepts. The strongest
            // usable one counts for an offer; an answer has only the one chosen.
            if let Some((s, _)) = suites.iter().find(|(_, ok)| *ok == Some(true)) {
                return MediaSecurity { media: Media::SdesSrtp, detail: Some(s.to_ascii_uppercase()) };
            }
            if let Some((s, _)) = suites.iter().find(|(_, ok)| *ok == Some(false)) {
                return MediaSecurity { media: Media::NullSrtp, detail: Some(s.to_ascii_uppercase()) };
            }
            if !suites.is_empty() {
                return MediaSecurity { media: Media::Unknown, detail: Some("unknown SDES suite".into()) };
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

/// How the hop that carried `msg` was protected: the topmost Via's transport; without a usable
/// Via, a `sips:` or `;transport=tls` URI.
pub fn signalling_of(msg: &Message<'_>) -> Signalling {
    if let Some(t) = msg.top_via_transport() {
        return if t.eq_ignore_ascii_case("TLS") || t.eq_ignore_ascii_case("WSS") {
            Signalling::Tls
        } else {
            Signalling::Plain
        };
    }
    let tls = msg.uris().any(|u| {
        let u = u.trim_start_matches(|c: char| c != '<' && c != 's' && c != 'S').trim_start_matches('<');
        u.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("sips:")) || u.to_ascii_lowercase().contains(";transport=tls")
    });
    if tls { Signalling::Tls } else { Signalling::Unknown }
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

/// What a message means for its leg.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Parses and classifies one SIP message.
pub fn classify_message(bytes: &[u8]) -> Result<Classified, ClassifyError> {
    let msg = sip::parse(bytes)?;
    let call_id = msg.call_id().ok_or(ClassifyError::NoDialog)?.to_owned();
    let method = msg.method().ok_or(ClassifyError::NoDialog)?.to_ascii_uppercase();
    let (media, audio_on_hold) = if msg.has_sdp() {
        let s = sdp::parse(msg.body)?;
        let audio: Vec<_> = s.media.iter().filter(|m| m.media.eq_ignore_ascii_case("audio") && m.port != 0).collect();
        let hold = (!audio.is_empty()).then(|| audio.iter().all(|m| matches!(m.direction, "sendonly" | "inactive")));
        (media_of(&s), hold)
    } else {
        (None, None)
    };
    let sdp_is_offer = matches!(msg.start, StartLine::Request { method, .. } if !method.eq_ignore_ascii_case("ACK"));
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
        media,
        sdp_is_offer,
        audio_on_hold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp_media(body: &str) -> Option<MediaSecurity> {
        media_of(&sdp::parse(body.as_bytes()).unwrap())
    }

    fn kind(body: &str) -> Media {
        sdp_media(body).map_or(Media::Unknown, |m| m.media)
    }

    const HEAD: &str = "v=0\r\no=- 3 3 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n";

    #[test]
    fn every_sdes_suite_and_the_null_ones() {
        for suite in SECURE_SUITES {
            let body = format!(
                "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 {suite} inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n"
            );
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
        let unknown = format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 SEED_CTR_128_HMAC_SHA1_80 inline:x\r\n");
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
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\nm=audio 4002 RTP/AVP 0\r\n"
        );
        assert_eq!(kind(&mixed), Media::PlainRtp);
        let rejected = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\nm=audio 0 RTP/AVP 0\r\nm=video 5000 RTP/AVP 96\r\n"
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
        // Without a Via, the URIs tell.
        let no_via = "BYE sips:bob@example.com SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(classify_message(no_via.as_bytes()).unwrap().signalling, Signalling::Tls);
        let tp = "BYE sip:bob@example.com;transport=TLS SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n";
        assert_eq!(classify_message(tp.as_bytes()).unwrap().signalling, Signalling::Tls);
        let plain = "BYE sip:bob@example.com SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n";
        assert_eq!(classify_message(plain.as_bytes()).unwrap().signalling, Signalling::Unknown);
    }

    #[test]
    fn responses_answer_and_bad_input_is_an_error() {
        let body = format!("{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:x\r\n");
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
        let bad_sdp = invite("UDP", "sip:b@x", "v=1\r\n");
        assert!(matches!(classify_message(bad_sdp.as_bytes()), Err(ClassifyError::Sdp(_))));
    }
}
