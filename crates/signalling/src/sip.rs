//! SIP messages (RFC 3261) as far as call security needs them: the start line, the headers (long
//! and compact names, folded lines), the body cut to `Content-Length`. Borrowing, bounded, no
//! panics on any input.

/// Largest message accepted (SIP over UDP stays under a datagram; TCP/TLS messages are framed
/// by `Content-Length` and this bound).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most header fields accepted.
pub const MAX_HEADERS: usize = 200;

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// Larger than [`MAX_MESSAGE`].
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    /// The head (start line and headers) is not UTF-8 text ending in an empty line.
    #[error("no complete header section")]
    Incomplete,
    /// The start line is neither a request line nor a status line.
    #[error("malformed start line")]
    StartLine,
    /// A header line has no name or colon.
    #[error("malformed header line {0}")]
    Header(usize),
    /// More than [`MAX_HEADERS`] header fields.
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// `Content-Length` is not a number or exceeds the body received.
    #[error("Content-Length does not match the body")]
    ContentLength,
}

/// The first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD uri SIP/2.0`.
    Request {
        /// INVITE, ACK, BYE, ...
        method: &'a str,
        /// The Request-URI.
        uri: &'a str,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: &'a str,
    },
}

/// A parsed message borrowing its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request or status line.
    pub start: StartLine<'a>,
    headers: Vec<(&'a str, HeaderValue<'a>)>,
    /// The body, exactly `Content-Length` bytes when the header is present.
    pub body: &'a [u8],
}

/// A header value; folded values keep their line breaks out (joined on demand).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderValue<'a> {
    One(&'a str),
    Folded(String),
}

impl HeaderValue<'_> {
    fn as_str(&self) -> &str {
        match self {
            HeaderValue::One(s) => s,
            HeaderValue::Folded(s) => s,
        }
    }
}

/// Compact header names (RFC 3261 §7.3.3 and later RFCs) to their full names.
fn expand(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'm' => "Contact",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'x' => "Session-Expires",
        _ => name,
    }
}

/// Parses one message.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, SipError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(SipError::TooLarge);
    }
    let head_end = find(bytes, b"\r\n\r\n").map(|i| (i, i + 4)).or_else(|| find(bytes, b"\n\n").map(|i| (i, i + 2)));
    let Some((head_len, body_start)) = head_end else { return Err(SipError::Incomplete) };
    let head = std::str::from_utf8(&bytes[..head_len]).map_err(|_| SipError::Incomplete)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = start_line(lines.next().ok_or(SipError::StartLine)?)?;
    let mut headers: Vec<(&str, HeaderValue<'_>)> = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: continues the previous value.
            let Some((_, value)) = headers.last_mut() else { return Err(SipError::Header(i + 2)) };
            let joined = format!("{} {}", value.as_str(), line.trim());
            *value = HeaderValue::Folded(joined);
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(SipError::Header(i + 2))?;
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SipError::Header(i + 2));
        }
        if headers.len() == MAX_HEADERS {
            return Err(SipError::TooManyHeaders);
        }
        headers.push((expand(name), HeaderValue::One(value.trim())));
    }
    let rest = &bytes[body_start..];
    let mut msg = Message { start, headers, body: rest };
    if let Some(len) = msg.header("Content-Length") {
        let len: usize = len.parse().map_err(|_| SipError::ContentLength)?;
        msg.body = rest.get(..len).ok_or(SipError::ContentLength)?;
    }
    Ok(msg)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn start_line(line: &str) -> Result<StartLine<'_>, SipError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| SipError::StartLine)?;
        if !(100..700).contains(&code) {
            return Err(SipError::StartLine);
        }
        return Ok(StartLine::Response { code, reason });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SipError::StartLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) || uri.is_empty() {
        return Err(SipError::StartLine);
    }
    Ok(StartLine::Request { method, uri })
}

impl<'a> Message<'a> {
    /// The first value of a header (case-insensitive name; compact forms already expanded).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, comma-separated values split (for Via, Record-Route).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| split_commas(v.as_str()))
    }

    /// The method: the request's, or the one `CSeq` names for a response.
    pub fn method(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    /// `CSeq`: number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let (n, m) = v.split_once(char::is_whitespace)?;
        Some((n.parse().ok()?, m.trim()))
    }

    /// `Call-ID`.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").filter(|v| !v.is_empty())
    }

    /// The `tag` parameter of `From`.
    pub fn from_tag(&self) -> Option<&str> {
        self.header("From").and_then(|v| param(v, "tag"))
    }

    /// The `tag` parameter of `To`.
    pub fn to_tag(&self) -> Option<&str> {
        self.header("To").and_then(|v| param(v, "tag"))
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// Whether the body is SDP.
    pub fn has_sdp(&self) -> bool {
        !self.body.is_empty()
            && self.header("Content-Type").is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/sdp"))
    }

    /// The transport of the topmost `Via` (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`).
    pub fn top_via_transport(&self) -> Option<&str> {
        let via = self.header_values("Via").next()?;
        let proto = via.split_whitespace().next()?;
        let mut parts = proto.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some("2.0"), Some(t)) if n.eq_ignore_ascii_case("SIP") => Some(t),
            _ => None,
        }
    }

    /// The URIs that say how the hop should be protected: the Request-URI, `Contact`, `From`, `To`.
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        let request_uri = match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        };
        request_uri.into_iter().chain(["Contact", "To", "From"].into_iter().filter_map(|h| self.header(h)))
    }
}

/// Splits a header value at commas outside quotes and angle brackets.
fn split_commas(v: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.into_iter().filter(|s| !s.is_empty())
}

/// A `;name=value` parameter of a header value (outside `<...>`), case-insensitive name.
pub fn param<'v>(value: &'v str, name: &str) -> Option<&'v str> {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9\r\n\
Max-Forwards: 70\r\n\
From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sips:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sips:alice@client.atlanta.example.com;transport=tls>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 5\r\n\
\r\n\
v=0\r\nEXTRA";

    #[test]
    fn request_headers_and_body_cut_to_content_length() {
        let m = parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.start, StartLine::Request { method: "INVITE", uri: "sip:bob@biloxi.example.com" });
        assert_eq!(m.call_id(), Some("3848276298220188511@atlanta.example.com"));
        assert_eq!(m.from_tag(), Some("9fxced76sl"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.top_via_transport(), Some("TLS"));
        assert_eq!(m.body, b"v=0\r\n");
        assert!(m.has_sdp());
    }

    #[test]
    fn compact_forms_folding_and_responses() {
        let raw = "SIP/2.0 200 OK\nv: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1, SIP/2.0/TCP b.example\n\
i: abc@x\nf: <sip:a@x>;tag=1\nt: <sip:b@y>\n ;tag=2\nCSeq: 7 INVITE\nl: 0\n\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.call_id(), Some("abc@x"));
        assert_eq!(m.to_tag(), Some("2"));
        assert_eq!(m.top_via_transport(), Some("UDP"));
        assert_eq!(m.header_values("Via").count(), 2);
        assert!(m.body.is_empty());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(parse(b"INVITE sip:x SIP/2.0\r\nVia: x\r\n"), Err(SipError::Incomplete));
        assert_eq!(parse(b"HELLO\r\n\r\n"), Err(SipError::StartLine));
        assert_eq!(parse(b"SIP/2.0 99 Nope\r\n\r\n"), Err(SipError::StartLine));
        assert_eq!(parse(b"BYE sip:x SIP/2.0\r\nno colon\r\n\r\n"), Err(SipError::Header(2)));
        assert_eq!(parse(b"BYE sip:x SIP/2.0\r\nContent-Length: 9\r\n\r\nabc"), Err(SipError::ContentLength));
        assert_eq!(parse(b"BYE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n"), Err(SipError::ContentLength));
        assert_eq!(parse(&vec![b'a'; MAX_MESSAGE + 1]), Err(SipError::TooLarge));
        let many = format!("BYE sip:x SIP/2.0\r\n{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(parse(many.as_bytes()), Err(SipError::TooManyHeaders));
    }
}
