//! Card numbers in e-mails: the text parts of a MIME message are scanned as their decoded text,
//! so a number hidden by base64 or cut by a quoted-printable soft line break is found. The
//! message is rewritten in place with the same length: base64 text is decoded, masked and
//! encoded again into the same character positions (the line breaks stay where they were), and
//! a masked quoted-printable digit becomes `*` (or `=2A` where it was encoded). Headers,
//! preambles and parts that are not base64 are scanned as they are; base64 parts that are not
//! text (images, PDFs) pass untouched.
//!
//! One pass, one line at a time: nothing but the current line (at most [`LONG_LINE`] bytes) and
//! the tail the scanner may still change is held, whatever the message's size.

use std::collections::VecDeque;

use super::Redactor;

/// A line longer than this is content, never a header or a boundary; it is passed on in pieces.
pub const LONG_LINE: usize = 8192;

/// Header bytes of one part kept to read its Content-Type and Content-Transfer-Encoding.
const HEADER_LIMIT: usize = 64 * 1024;

/// Boundaries of nested multiparts followed at most.
const MAX_DEPTH: usize = 32;

/// Redacts an e-mail (RFC 5322 / MIME) given in chunks; see the module documentation.
#[derive(Debug)]
pub struct MimeRedactor {
    line: Vec<u8>,
    /// The current line was too long and is being passed on as content.
    mid_line: bool,
    /// `--boundary` of each open multipart, innermost last.
    boundaries: Vec<Vec<u8>>,
    state: State,
    plain: Option<Redactor>,
    redactions: usize,
    parts: usize,
    malformed: Option<String>,
}

#[derive(Debug)]
enum State {
    /// Reading a header block (`block` is kept to decide what the body is).
    Headers { block: Vec<u8> },
    /// A body scanned as it is.
    Plain,
    /// A body passed untouched (base64 of a type that is not text).
    Pass,
    /// A base64 text body.
    Base64(Box<Base64>),
    /// A quoted-printable text body.
    Qp(Box<Qp>),
}

impl Default for MimeRedactor {
    fn default() -> Self {
        MimeRedactor {
            line: Vec::new(),
            mid_line: false,
            boundaries: Vec::new(),
            state: State::Headers { block: Vec::new() },
            plain: None,
            redactions: 0,
            parts: 0,
            malformed: None,
        }
    }
}

impl MimeRedactor {
    /// Takes `input`; appends to `out` every byte that is final.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let nl = input.iter().position(|&b| b == b'\n');
            let end = nl.map_or(input.len(), |i| i + 1);
            let (piece, rest) = input.split_at(end);
            input = rest;
            if self.mid_line {
                self.content(piece, out);
                self.mid_line = nl.is_none();
                continue;
            }
            self.line.extend_from_slice(piece);
            if nl.is_some() {
                let line = std::mem::take(&mut self.line);
                self.whole_line(&line, out);
            } else if self.line.len() > LONG_LINE {
                let line = std::mem::take(&mut self.line);
                self.content(&line, out);
                self.mid_line = true;
            }
        }
    }

    /// Ends the message: appends the rest to `out`. Returns the card numbers masked, or why the
    /// message cannot be stored masked (a base64 text part that is not well-formed base64).
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<usize, String> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.content(&line, out);
        }
        self.end_body(out);
        self.flush_plain(out);
        match self.malformed {
            Some(why) => Err(why),
            None => Ok(self.redactions),
        }
    }

    /// Card numbers masked so far.
    pub fn redactions(&self) -> usize {
        self.redactions + self.plain.as_ref().map_or(0, Redactor::redactions)
    }

    fn whole_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if let Some((depth, closing)) = self.boundary(line) {
            self.end_body(out);
            self.boundaries.truncate(depth + 1);
            if closing {
                self.boundaries.pop();
                self.state = State::Plain;
            } else {
                self.parts += 1;
                self.state = State::Headers { block: Vec::new() };
            }
            self.plain(line, out);
            return;
        }
        let State::Headers { block } = &mut self.state else {
            self.content(line, out);
            return;
        };
        if block.len() + line.len() <= HEADER_LIMIT {
            block.extend_from_slice(line);
        }
        self.plain(line, out);
        if (line == b"\n" || line == b"\r\n")
            && let State::Headers { block } = std::mem::replace(&mut self.state, State::Plain)
        {
            self.begin_body(&block, out);
        }
    }

    /// Whether `line` is a delimiter of an open multipart: (its depth, whether it closes it).
    fn boundary(&self, line: &[u8]) -> Option<(usize, bool)> {
        if !line.starts_with(b"--") {
            return None;
        }
        let t = trim_end(line);
        self.boundaries.iter().enumerate().rev().find_map(|(i, b)| {
            let rest = t.strip_prefix(b.as_slice())?;
            match rest {
                b"" => Some((i, false)),
                b"--" => Some((i, true)),
                _ => None,
            }
        })
    }

    /// Decides what the body after a header block is.
    fn begin_body(&mut self, block: &[u8], out: &mut Vec<u8>) {
        let h = Headers::parse(block);
        let text = h.media_type.is_empty() || h.media_type.starts_with("text/");
        self.state = if h.media_type.starts_with("multipart/") {
            match h.boundary {
                Some(b) if self.boundaries.len() < MAX_DEPTH => {
                    let mut delimiter = b"--".to_vec();
                    delimiter.extend_from_slice(b.as_bytes());
                    self.boundaries.push(delimiter);
                    State::Plain
                }
                _ => State::Plain,
            }
        } else if h.media_type == "message/rfc822" && h.encoding != "base64" {
            State::Headers { block: Vec::new() }
        } else if h.encoding == "base64" {
            self.flush_plain(out);
            if text { State::Base64(Box::default()) } else { State::Pass }
        } else if h.encoding == "quoted-printable" {
            self.flush_plain(out);
            State::Qp(Box::default())
        } else {
            State::Plain
        };
    }

    /// Body bytes of the current part.
    fn content(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        match &mut self.state {
            State::Pass => out.extend_from_slice(bytes),
            State::Base64(b) => b.push(bytes, out),
            State::Qp(q) => q.push(bytes, out),
            State::Headers { .. } | State::Plain => self.plain(bytes, out),
        }
    }

    /// Ends a decoded body (before a boundary or at the end).
    fn end_body(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.state, State::Plain) {
            State::Base64(b) => match b.finish(out) {
                Ok(n) => self.redactions += n,
                Err(why) => {
                    let part = self.parts;
                    self.malformed.get_or_insert_with(|| format!("part {part}: {why}"));
                }
            },
            State::Qp(q) => self.redactions += q.finish(out),
            other => self.state = other,
        }
    }

    fn plain(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.plain.get_or_insert_with(Redactor::default).push(bytes, out);
    }

    fn flush_plain(&mut self, out: &mut Vec<u8>) {
        if let Some(p) = self.plain.take() {
            self.redactions += p.finish(out);
        }
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &line[..end]
}

/// What a part's headers say about its body.
#[derive(Debug, Default)]
struct Headers {
    /// `type/subtype`, lower case; empty when absent.
    media_type: String,
    boundary: Option<String>,
    /// Content-Transfer-Encoding, lower case.
    encoding: String,
}

impl Headers {
    fn parse(block: &[u8]) -> Headers {
        let text = String::from_utf8_lossy(block);
        // Unfold: a line starting with white space continues the one before.
        let mut fields: Vec<String> = Vec::new();
        for line in text.lines() {
            match (line.starts_with([' ', '\t']), fields.last_mut()) {
                (true, Some(last)) => last.push_str(line),
                _ => fields.push(line.to_owned()),
            }
        }
        let mut h = Headers::default();
        for f in &fields {
            let Some((name, value)) = f.split_once(':') else { continue };
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => {
                    let mut params = value.split(';');
                    h.media_type = params.next().unwrap_or("").trim().to_ascii_lowercase();
                    for p in params {
                        if let Some((k, v)) = p.split_once('=')
                            && k.trim().eq_ignore_ascii_case("boundary")
                        {
                            let v = v.trim().trim_matches('"');
                            if !v.is_empty() && v.len() <= 200 {
                                h.boundary = Some(v.to_owned());
                            }
                        }
                    }
                }
                "content-transfer-encoding" => h.encoding = value.trim().to_ascii_lowercase(),
                _ => {}
            }
        }
        h
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn is_slot(c: u8) -> bool {
    c == b'=' || b64_value(c).is_some()
}

/// A base64 text body: decoded into a scanner, its masked output encoded again into the same
/// character positions.
#[derive(Debug, Default)]
struct Base64 {
    red: Redactor,
    /// Raw bytes not yet passed on; base64 characters (and `=`) are slots the new encoding fills.
    queue: VecDeque<u8>,
    quad: [u8; 4],
    quad_len: usize,
    /// Padding seen: the encoded text ended.
    ended: bool,
    bad: Option<&'static str>,
    /// Masked decoded bytes not yet encoded (fewer than three).
    carry: Vec<u8>,
    /// Encoded characters waiting for their slots.
    chars: VecDeque<u8>,
}

impl Base64 {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut decoded = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
        for &c in bytes {
            self.queue.push_back(c);
            if !is_slot(c) {
                continue;
            }
            if self.ended {
                self.bad.get_or_insert("base64 continues after its padding");
                continue;
            }
            self.quad[self.quad_len] = c;
            self.quad_len += 1;
            if self.quad_len == 4 {
                self.quad_len = 0;
                self.decode_quad(&mut decoded);
            }
        }
        let mut released = Vec::with_capacity(decoded.len());
        self.red.push(&decoded, &mut released);
        self.encode(&released, false);
        self.drain(out);
    }

    fn decode_quad(&mut self, decoded: &mut Vec<u8>) {
        let q = self.quad;
        let v: Vec<Option<u8>> = q.iter().map(|&c| b64_value(c)).collect();
        let (Some(a), Some(b)) = (v[0], v[1]) else {
            self.bad.get_or_insert("padding inside a group of four");
            return;
        };
        decoded.push((a << 2) | (b >> 4));
        match (v[2], v[3], q[2], q[3]) {
            (Some(c), Some(d), _, _) => {
                decoded.push((b << 4) | (c >> 2));
                decoded.push((c << 6) | d);
            }
            (Some(c), None, _, b'=') => {
                decoded.push((b << 4) | (c >> 2));
                self.ended = true;
            }
            (None, None, b'=', b'=') => self.ended = true,
            _ => {
                self.bad.get_or_insert("padding inside a group of four");
            }
        }
    }

    /// Encodes masked bytes; at the end, the last group with its padding.
    fn encode(&mut self, bytes: &[u8], last: bool) {
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() / 3 * 3;
        for g in self.carry[..whole].chunks(3) {
            let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
            for shift in [18, 12, 6, 0] {
                self.chars.push_back(B64[((n >> shift) & 63) as usize]);
            }
        }
        self.carry.drain(..whole);
        if last && !self.carry.is_empty() {
            let g = [self.carry[0], self.carry.get(1).copied().unwrap_or(0)];
            let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8);
            let keep = self.carry.len() + 1;
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                self.chars.push_back(if i < keep { B64[((n >> shift) & 63) as usize] } else { b'=' });
            }
            self.carry.clear();
        }
    }

    /// Passes on raw bytes up to the first slot that has no character yet.
    fn drain(&mut self, out: &mut Vec<u8>) {
        while let Some(&c) = self.queue.front() {
            if is_slot(c) {
                let Some(e) = self.chars.pop_front() else { break };
                out.push(e);
            } else {
                out.push(c);
            }
            self.queue.pop_front();
        }
    }

    fn finish(mut self, out: &mut Vec<u8>) -> Result<usize, &'static str> {
        // Text whose padding was left out (two or three characters of a last group) is read
        // as if padded, and encoded again without the padding.
        let mut unpadded = 0;
        match self.quad_len {
            0 => {}
            1 => {
                self.bad.get_or_insert("the base64 text ends with a single character of a group");
            }
            n => {
                unpadded = 4 - n;
                self.quad[n..].fill(b'=');
                let mut decoded = Vec::new();
                self.decode_quad(&mut decoded);
                let mut released = Vec::new();
                self.red.push(&decoded, &mut released);
                self.encode(&released, false);
            }
        }
        let mut released = Vec::new();
        let n = std::mem::take(&mut self.red).finish(&mut released);
        self.encode(&released, true);
        for _ in 0..unpadded {
            self.chars.pop_back();
        }
        self.drain(out);
        if let Some(why) = self.bad {
            // Whatever could not be re-encoded goes on masked as it stands.
            let mut rest: Vec<u8> = self.queue.into_iter().collect();
            super::redact(&mut rest);
            out.extend_from_slice(&rest);
            return Err(why);
        }
        if !self.queue.is_empty() || !self.chars.is_empty() {
            out.extend(self.queue);
            return Err("the base64 text is not in its canonical form");
        }
        Ok(n)
    }
}

/// One decoded byte of a quoted-printable body and where it came from.
#[derive(Debug, Clone, Copy)]
enum QpItem {
    /// Raw bytes that decode to nothing (a soft line break).
    Pass(u8),
    /// A byte as it stands.
    Literal(u8),
    /// `=XX`, and the byte it decodes to.
    Encoded([u8; 3], u8),
}

/// A quoted-printable text body: scanned decoded; masked digits written back where they were.
#[derive(Debug, Default)]
struct Qp {
    red: Redactor,
    items: VecDeque<QpItem>,
    /// An `=` (and what followed) at the end of the last piece, waiting for its next bytes.
    tail: Vec<u8>,
    released: VecDeque<u8>,
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl Qp {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut raw = std::mem::take(&mut self.tail);
        raw.extend_from_slice(bytes);
        let mut decoded = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let c = raw[i];
            if c != b'=' {
                self.items.push_back(QpItem::Literal(c));
                decoded.push(c);
                i += 1;
                continue;
            }
            let (a, b) = (raw.get(i + 1).copied(), raw.get(i + 2).copied());
            match (a, b) {
                (Some(x), Some(y)) if hex_value(x).is_some() && hex_value(y).is_some() => {
                    let v = hex_value(x).unwrap_or(0) * 16 + hex_value(y).unwrap_or(0);
                    self.items.push_back(QpItem::Encoded([c, x, y], v));
                    decoded.push(v);
                    i += 3;
                }
                (Some(b'\n'), _) => {
                    self.items.extend([QpItem::Pass(c), QpItem::Pass(b'\n')]);
                    i += 2;
                }
                (Some(b'\r'), Some(b'\n')) => {
                    self.items.extend([QpItem::Pass(c), QpItem::Pass(b'\r'), QpItem::Pass(b'\n')]);
                    i += 3;
                }
                // Not complete yet: wait for the next piece.
                (None, _) | (Some(b'\r'), None) => {
                    self.tail = raw[i..].to_vec();
                    break;
                }
                (Some(x), None) if hex_value(x).is_some() => {
                    self.tail = raw[i..].to_vec();
                    break;
                }
                // A stray `=` stands for itself, as decoders read it.
                _ => {
                    self.items.push_back(QpItem::Literal(c));
                    decoded.push(c);
                    i += 1;
                }
            }
        }
        let mut released = Vec::new();
        self.red.push(&decoded, &mut released);
        self.released.extend(released);
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        while let Some(&item) = self.items.front() {
            match item {
                QpItem::Pass(c) => out.push(c),
                QpItem::Literal(c) => {
                    let Some(m) = self.released.pop_front() else { break };
                    debug_assert!(m == c || m == b'*');
                    out.push(m);
                }
                QpItem::Encoded(raw, v) => {
                    let Some(m) = self.released.pop_front() else { break };
                    if m == v {
                        out.extend_from_slice(&raw);
                    } else {
                        out.extend_from_slice(format!("={m:02X}").as_bytes());
                    }
                }
            }
            self.items.pop_front();
        }
    }

    fn finish(mut self, out: &mut Vec<u8>) -> usize {
        for c in std::mem::take(&mut self.tail) {
            self.items.push_back(QpItem::Literal(c));
            let mut released = Vec::new();
            self.red.push(&[c], &mut released);
            self.released.extend(released);
        }
        let mut released = Vec::new();
        let n = std::mem::take(&mut self.red).finish(&mut released);
        self.released.extend(released);
        self.drain(out);
        n
    }
}

#[cfg(test)]
mod tests;
