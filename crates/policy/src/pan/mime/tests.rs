use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;

/// Redacts a message given whole and in chunks of every size up to 64; all must agree.
fn redacted(mail: &str) -> (String, Result<usize, String>) {
    let mut out = Vec::new();
    let mut r = MimeRedactor::default();
    r.push(mail.as_bytes(), &mut out);
    let whole = r.finish(&mut out);
    assert_eq!(out.len(), mail.len(), "the message keeps its length");
    for chunk in 1..=64 {
        let mut r = MimeRedactor::default();
        let mut parts = Vec::new();
        for c in mail.as_bytes().chunks(chunk) {
            r.push(c, &mut parts);
        }
        assert_eq!(r.finish(&mut parts), whole, "chunk {chunk}");
        assert_eq!(parts, out, "chunk {chunk}");
    }
    (String::from_utf8(out).unwrap(), whole)
}

fn b64_lines(text: &str) -> String {
    let e = STANDARD.encode(text);
    e.as_bytes().chunks(76).map(|l| format!("{}\r\n", String::from_utf8_lossy(l))).collect()
}

fn decode_lines(b64: &str) -> String {
    let joined: String = b64.split_whitespace().collect();
    String::from_utf8(STANDARD.decode(joined).unwrap()).unwrap()
}

const TEXT: &str = "Hello,\r\nmy card is 4111 1111 1111 1111 exp 12/27, thanks!\r\nOrder 1234567890123.\r\n";
const MASKED: &str = "Hello,\r\nmy card is 4111 11** **** 1111 exp **/**, thanks!\r\nOrder 1234567890123.\r\n";

fn multipart(parts: &[(&str, &str, &str)]) -> String {
    let mut m = String::from(
        "From: a@example.com\r\nSubject: order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; \
         boundary=\"b1\"\r\n\r\nThis is a MIME message.\r\n",
    );
    for (ctype, cte, body) in parts {
        m.push_str(&format!("--b1\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}"));
    }
    m.push_str("--b1--\r\n");
    m
}

#[test]
fn a_base64_text_part_is_decoded_masked_and_encoded_in_place() {
    let body = b64_lines(TEXT);
    let (out, n) = redacted(&multipart(&[("text/plain; charset=utf-8", "base64", &body)]));
    assert_eq!(n, Ok(1));
    let start = out.find("base64\r\n\r\n").unwrap() + 10;
    let end = out.find("--b1--").unwrap();
    assert_eq!(decode_lines(&out[start..end]), MASKED);
    // The line breaks stay where they were.
    assert_eq!(
        out[start..end].lines().map(str::len).collect::<Vec<_>>(),
        body.lines().map(str::len).collect::<Vec<_>>()
    );
}

#[test]
fn base64_without_its_padding_is_read_and_kept_unpadded() {
    let text = "card 5500 0000 0000 0004 ok!";
    let body = format!("{}\r\n", STANDARD.encode(text).trim_end_matches('='));
    assert!(!body.contains('='), "this text's encoding needs padding");
    let (out, n) = redacted(&multipart(&[("text/plain", "base64", &body)]));
    assert_eq!(n, Ok(1));
    let start = out.find("base64\r\n\r\n").unwrap() + 10;
    let enc = out[start..out.find("\r\n--b1--").unwrap()].to_owned();
    let padded = format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4));
    assert_eq!(String::from_utf8(STANDARD.decode(padded).unwrap()).unwrap(), "card 5500 00** **** 0004 ok!");
}

#[test]
fn quoted_printable_soft_breaks_and_encoded_digits_do_not_hide_a_number() {
    let body = "my card is 4111 1111 =311=\r\n11 1111 thanks\r\n";
    let (out, n) = redacted(&multipart(&[("text/plain", "quoted-printable", body)]));
    assert_eq!(n, Ok(1));
    assert!(out.contains("my card is 4111 11** =2A*=\r\n** 1111 thanks\r\n"), "{out}");
}

#[test]
fn parts_that_are_not_text_pass_untouched_and_headers_are_scanned() {
    // An image whose base64 holds digits of a card number: not text, so not decoded or changed.
    let image = "NDExMTExMTExMTExMTExMQ==\r\n";
    let mail = format!(
        "Subject: card 4111111111111111\r\n{}",
        &multipart(&[("image/png", "base64", image), ("text/plain", "7bit", "paid with 3782 822463 10005\r\n")])
    );
    let (out, n) = redacted(&mail);
    assert_eq!(n, Ok(2));
    assert!(out.starts_with("Subject: card 411111******1111\r\n"), "{out}");
    assert!(out.contains(image), "{out}");
    assert!(out.contains("paid with 3782 82**** *0005"), "{out}");
}

#[test]
fn nested_multiparts_and_attached_messages_are_followed() {
    let inner = format!(
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--inner\r\nContent-Type: text/html\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>4111 1111 1111 1111</p>\r\n--inner--\r\n",
        b64_lines(TEXT)
    );
    let attached = format!(
        "From: b@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64_lines(TEXT)
    );
    let mail = format!(
        "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n{inner}--outer\r\nContent-Type: message/rfc822\r\n\r\n{attached}--outer--\r\n"
    );
    let (out, n) = redacted(&mail);
    assert_eq!(n, Ok(3));
    assert!(out.contains("<p>4111 11** **** 1111</p>"), "{out}");
    assert!(!out.contains(&b64_lines(TEXT)), "both base64 copies re-encoded: {out}");
    assert_eq!(out.matches(&b64_lines(MASKED)).count(), 2, "{out}");
}

#[test]
fn broken_base64_text_is_refused() {
    let (_, n) = redacted(&multipart(&[("text/plain", "base64", "QUJD=QUJD\r\n")]));
    assert!(n.unwrap_err().contains("part 1"));
    let (_, n) = redacted(&multipart(&[("text/plain", "base64", "QUJDR\r\n")]));
    assert!(n.is_err());
}

#[test]
fn a_message_that_is_not_mime_is_scanned_as_text() {
    let (out, n) = redacted("just a note: 4111 1111 1111 1111\nno headers here");
    assert_eq!(n, Ok(1));
    assert_eq!(out, "just a note: 4111 11** **** 1111\nno headers here");
}
