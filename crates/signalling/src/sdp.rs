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
                            let has_key =
                                f.next().is_some_and(|k| k.len() > 7 && k[..7].eq_ignore_ascii_case("inline:"));
                            m.crypto.push(Crypto { tag, suite, has_key });
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
                Crypto { tag: 1, suite: "aes_cm_128_hmac_sha1_80", has_key: true },
                Crypto { tag: 2, suite: "NULL_HMAC_SHA1_32", has_key: false }
            ]
        );
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
