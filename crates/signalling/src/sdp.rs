//! SDP (RFC 8866) as far as media security needs it: each media section's profile and port, its
//! SDES `a=crypto` lines (RFC 4568) and DTLS `a=fingerprint`/`a=setup` (RFC 8122, 5763), with
//! session-level attributes inherited. Borrowing, bounded, no panics.

/// Most media sections accepted.
pub const MAX_MEDIA: usize = 32;

/// Why a body is not SDP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not UTF-8 text.
    #[error("SDP is not text")]
    NotText,
    /// Does not start with `v=0`.
    #[error("SDP does not start with v=0")]
    NoVersion,
    /// A line is not `<letter>=<value>`.
    #[error("malformed SDP line {0}")]
    Line(usize),
    /// An `m=` line lacks its media, port or profile.
    #[error("malformed m= line {0}")]
    MediaLine(usize),
    /// More than [`MAX_MEDIA`] media sections.
    #[error("more than {MAX_MEDIA} media sections")]
    TooManyMedia,
}

/// One SDES crypto attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto<'a> {
    /// The tag.
    pub tag: u32,
    /// The suite as written (compare case-insensitively).
    pub suite: &'a str,
    /// Whether key parameters are present (`inline:...`). The key itself is never kept.
    pub has_key: bool,
    /// The decoded length of the master key and salt when every key parameter is well formed
    /// (`inline:` base64 with padding, optional `|lifetime` as `2^n` or decimal, optional
    /// `|MKI:length`) and all have the same length; `None` otherwise (RFC 4568 section 9.2).
    pub key_bytes: Option<usize>,
    /// A session parameter that switches protection off (RFC 4568 section 6.3:
    /// `UNENCRYPTED_SRTP`, `UNENCRYPTED_SRTCP`, `UNAUTHENTICATED_SRTP`), upper case.
    pub disables: Option<&'static str>,
}

impl Crypto<'_> {
    /// The key length and disabling parameter, for tests.
    #[cfg(test)]
    fn into_static_parts(self) -> (Option<usize>, Option<&'static str>) {
        (self.key_bytes, self.disables)
    }
}

/// Session parameters that switch SRTP protection off (RFC 4568 section 6.3).
const DISABLING: [&str; 3] = ["UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP"];

/// The decoded length of `inline:` key parameters (`key-params` separated by `;`), when each is
/// well formed and all have the same length.
fn key_bytes(params: &str) -> Option<usize> {
    let mut len = None;
    for kp in params.split(';') {
        let rest = kp.get(..7).filter(|m| m.eq_ignore_ascii_case("inline:")).map(|_| &kp[7..])?;
        let mut parts = rest.split('|');
        let n = base64_len(parts.next()?)?;
        for extra in parts {
            let lifetime = extra
                .strip_prefix("2^")
                .map_or_else(|| extra.parse::<u64>().is_ok(), |e| e.parse::<u8>().is_ok_and(|e| e <= 64));
            let mki = extra.split_once(':').is_some_and(|(v, l)| {
                v.parse::<u64>().is_ok() && l.parse::<u8>().is_ok_and(|l| (1..=128).contains(&l))
            });
            if !(lifetime || mki) {
                return None;
            }
        }
        if len.is_some_and(|l| l != n) {
            return None;
        }
        len = Some(n);
    }
    len
}

/// The decoded length of standard base64 with padding, or `None` when it is not base64.
fn base64_len(b: &str) -> Option<usize> {
    let bytes = b.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let pad = bytes.iter().rev().take_while(|c| **c == b'=').count();
    let body = &bytes[..bytes.len() - pad];
    if pad > 2 || !body.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/') {
        return None;
    }
    Some(bytes.len() / 4 * 3 - pad)
}

/// One media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection<'a> {
    /// `audio`, `video`, `application`, ...
    pub media: &'a str,
    /// 0 = rejected or disabled.
    pub port: u32,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: &'a str,
    /// SDES attributes.
    pub crypto: Vec<Crypto<'a>>,
    /// `a=fingerprint` here or at session level.
    pub fingerprint: Option<&'a str>,
    /// `a=setup` here or at session level.
    pub setup: Option<&'a str>,
    /// `sendrecv`, `sendonly`, `recvonly`, `inactive` (here, else session level, else sendrecv).
    pub direction: &'a str,
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    /// The media sections in order.
    pub media: Vec<MediaSection<'a>>,
}

const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// Parses a body.
pub fn parse(body: &[u8]) -> Result<Sdp<'_>, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut lines =
        text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate().filter(|(_, l)| !l.is_empty());
    match lines.next() {
        Some((_, l)) if l.trim_end() == "v=0" => {}
        _ => return Err(SdpError::NoVersion),
    }
    let mut session_fp = None;
    let mut session_setup = None;
    let mut session_dir = None;
    let mut media: Vec<MediaSection<'_>> = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let (kind, value) = match line.as_bytes() {
            [k, b'=', ..] if k.is_ascii_alphabetic() => (*k, &line[2..]),
            _ => return Err(SdpError::Line(n)),
        };
        match kind {
            b'm' => {
                if media.len() == MAX_MEDIA {
                    return Err(SdpError::TooManyMedia);
                }
                let mut f = value.split_whitespace();
                let (Some(m), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
                    return Err(SdpError::MediaLine(n));
                };
                // `port/count` is allowed.
                let port: u32 = port.split('/').next().and_then(|p| p.parse().ok()).ok_or(SdpError::MediaLine(n))?;
                media.push(MediaSection {
                    media: m,
                    port,
                    proto,
                    crypto: Vec::new(),
                    fingerprint: None,
                    setup: None,
                    direction: "",
                });
            }
            b'a' => {
                let (name, val) = value.split_once(':').unwrap_or((value, ""));
                let current = media.last_mut();
                match (name.to_ascii_lowercase().as_str(), current) {
                    ("crypto", Some(m)) => {
                        let mut f = val.split_whitespace();
                        if let (Some(tag), Some(suite)) = (f.next().and_then(|t| t.parse().ok()), f.next())
                            && m.crypto.len() < 32
                        {
                            let params = f.next();
                            let has_key = params.is_some_and(|k| {
                                k.len() > 7 && k.get(..7).is_some_and(|m| m.eq_ignore_ascii_case("inline:"))
                            });
                            let key_bytes = params.and_then(key_bytes);
                            let disables =
                                f.find_map(|p| DISABLING.iter().find(|d| d.eq_ignore_ascii_case(p)).copied());
                            m.crypto.push(Crypto { tag, suite, has_key, key_bytes, disables });
                        }
                    }
                    ("fingerprint", Some(m)) => m.fingerprint = Some(val.trim()),
                    ("fingerprint", None) => session_fp = Some(val.trim()),
                    ("setup", Some(m)) => m.setup = Some(val.trim()),
                    ("setup", None) => session_setup = Some(val.trim()),
                    (d, Some(m)) if DIRECTIONS.contains(&d) => m.direction = DIRECTIONS[dir_index(d)],
                    (d, None) if DIRECTIONS.contains(&d) => session_dir = Some(DIRECTIONS[dir_index(d)]),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for m in &mut media {
        m.fingerprint = m.fingerprint.or(session_fp);
        m.setup = m.setup.or(session_setup);
        if m.direction.is_empty() {
            m.direction = session_dir.unwrap_or("sendrecv");
        }
    }
    Ok(Sdp { media })
}

fn dir_index(d: &str) -> usize {
    DIRECTIONS.iter().position(|x| *x == d).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_inherit_session_attributes() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
a=fingerprint:sha-256 AB:CD\r\na=sendonly\r\n\
m=audio 49170 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\n\
m=video 0 RTP/AVP 96\r\na=inactive\r\n";
        let s = parse(sdp.as_bytes()).unwrap();
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].proto, "UDP/TLS/RTP/SAVPF");
        assert_eq!(s.media[0].fingerprint, Some("sha-256 AB:CD"));
        assert_eq!(s.media[0].setup, Some("actpass"));
        assert_eq!(s.media[0].direction, "sendonly");
        assert_eq!((s.media[1].port, s.media[1].direction), (0, "inactive"));
    }

    #[test]
    fn crypto_lines_keep_suite_not_key() {
        let sdp = "v=0\nm=audio 4000 RTP/SAVP 0\na=crypto:1 aes_cm_128_hmac_sha1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\na=crypto:2 NULL_HMAC_SHA1_32\n";
        let s = parse(sdp.as_bytes()).unwrap();
        assert_eq!(
            s.media[0].crypto,
            vec![
                Crypto { tag: 1, suite: "aes_cm_128_hmac_sha1_80", has_key: true, key_bytes: Some(30), disables: None },
                Crypto { tag: 2, suite: "NULL_HMAC_SHA1_32", has_key: false, key_bytes: None, disables: None }
            ]
        );
    }

    #[test]
    fn key_parameters_and_disabling_session_parameters() {
        let key30 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let key46 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ==";
        let case = |line: String| {
            let sdp = format!("v=0\nm=audio 4000 RTP/SAVP 0\n{line}\n");
            let s = parse(sdp.as_bytes()).unwrap();
            s.media[0].crypto[0].into_static_parts()
        };
        for (line, bytes, disables) in [
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30}"), Some(30), None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|2^31|1:4"), Some(30), None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|1048576"), Some(30), None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30};inline:{key30}|2^20|2:4"), Some(30), None),
            (format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{key46}"), Some(46), None),
            (
                format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30} UNENCRYPTED_SRTP"),
                Some(30),
                Some("UNENCRYPTED_SRTP"),
            ),
            (
                format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30} KDR=1 unauthenticated_srtp"),
                Some(30),
                Some("UNAUTHENTICATED_SRTP"),
            ),
            (
                format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30} UNENCRYPTED_SRTCP"),
                Some(30),
                Some("UNENCRYPTED_SRTCP"),
            ),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80".to_owned(), None, None),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:".to_owned(), None, None),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:not*base64!".to_owned(), None, None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30}|2^x"), None, None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key30};inline:{key46}"), None, None),
            (format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 key:{key30}"), None, None),
            // A multi-byte character across the seventh byte (found by the sdp_body fuzzer).
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline\u{e9}xyz".to_owned(), None, None),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline\u{1F512}".to_owned(), None, None),
        ] {
            assert_eq!(case(line.clone()), (bytes, disables), "{line}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse(b"x=1\n"), Err(SdpError::NoVersion));
        assert_eq!(parse(b"v=0\nbad line\n"), Err(SdpError::Line(2)));
        assert_eq!(parse(b"v=0\nm=audio\n"), Err(SdpError::MediaLine(2)));
        assert_eq!(parse(b"v=0\nm=audio x RTP/AVP 0\n"), Err(SdpError::MediaLine(2)));
        assert_eq!(parse(&[0xff, 0xfe]), Err(SdpError::NotText));
        let many = format!("v=0\n{}", "m=audio 1 RTP/AVP 0\n".repeat(MAX_MEDIA + 1));
        assert_eq!(parse(many.as_bytes()), Err(SdpError::TooManyMedia));
    }
}
