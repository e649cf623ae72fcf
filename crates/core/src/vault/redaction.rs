//! Text content on its way to storage — chat and SMS transcripts, e-mails, text attachments —
//! passes the card-number scanner ([`callvault_policy::pan`]) while it streams: every card number
//! is masked to its first six and last four digits before a byte is sealed, so no readable PAN
//! reaches a blob (PCI DSS 4.0.1 Req. 3.4.1). The text keeps its length; the object records how
//! many numbers were masked and the SHA-256 of what it stores, while the client's declared
//! SHA-256 is checked against the bytes it sent. A per-tenant setting (`redact_card_numbers`,
//! on by default) switches it off.
//!
//! E-mails (and attached messages) are read as MIME: their text parts are scanned decoded
//! (base64, quoted-printable) and rewritten in place with the same length
//! ([`callvault_policy::pan::mime`]); an e-mail whose base64 text cannot be read back is refused.

use std::sync::{Arc, OnceLock};

use callvault_model::vault::{ContentClass, StoredObject};
use callvault_policy::pan::Redactor;
use callvault_policy::pan::mime::MimeRedactor;
use futures_util::{Stream, StreamExt, stream};

/// Whether an object's content is text the scanner reads.
pub fn is_text(object: &StoredObject) -> bool {
    match object.class {
        ContentClass::Chat | ContentClass::Sms | ContentClass::Email => true,
        ContentClass::Attachment => {
            let t = object.content_type.trim().to_ascii_lowercase();
            t.starts_with("text/") || t.starts_with("message/rfc822") || t.starts_with("multipart/")
        }
        ContentClass::Voice | ContentClass::Screen => false,
    }
}

/// Whether an object's content is a MIME message: an attached message or a multipart, or an
/// e-mail stored as sent (an e-mail stored as its `text/*` body alone is text).
pub fn is_mime(object: &StoredObject) -> bool {
    let t = object.content_type.trim().to_ascii_lowercase();
    t.starts_with("message/rfc822")
        || t.starts_with("multipart/")
        || (object.class == ContentClass::Email && !t.starts_with("text/"))
}

/// The scanner of one body: plain text, or a MIME message.
#[derive(Debug)]
pub enum Scanner {
    /// Text as it stands.
    Text(Redactor),
    /// A MIME message: text parts decoded.
    Mime(Box<MimeRedactor>),
}

impl Scanner {
    /// The scanner for an object's content.
    pub fn for_object(object: &StoredObject) -> Scanner {
        if is_mime(object) { Scanner::Mime(Box::default()) } else { Scanner::Text(Redactor::default()) }
    }

    /// Takes `input`; appends to `out` every byte that is final.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Scanner::Text(r) => r.push(input, out),
            Scanner::Mime(m) => m.push(input, out),
        }
    }

    /// Ends the body: the numbers masked, or why it cannot be stored.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<usize, String> {
        match self {
            Scanner::Text(r) => Ok(r.finish(out)),
            Scanner::Mime(m) => m.finish(out),
        }
    }
}

/// What the scanner saw of a body once it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// SHA-256 (hex) of the bytes as the client sent them.
    pub received_sha256: String,
    /// Card numbers masked.
    pub redactions: u32,
    /// Why the content cannot be stored masked (an e-mail's base64 text part that is not
    /// well-formed base64).
    pub refused: Option<String>,
}

/// A frame of a body: as the client sent it, or masked.
#[derive(Debug)]
pub enum Frame<B> {
    /// Passed through untouched (content that is not scanned).
    Passed(B),
    /// Scanned and masked.
    Masked(Vec<u8>),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Frame<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Frame::Passed(b) => b.as_ref(),
            Frame::Masked(v) => v,
        }
    }
}

/// The body, masked by `scanner` (passed as it is with none); `done` receives what the scanner
/// saw when the body ended whole (nothing when it broke off).
pub fn scan<B, E>(
    body: impl Stream<Item = Result<B, E>> + Unpin,
    scanner: Option<Scanner>,
    done: Arc<OnceLock<Scanned>>,
) -> impl Stream<Item = Result<Frame<B>, E>> + Unpin
where
    B: AsRef<[u8]>,
{
    let Some(scanner) = scanner else {
        return body.map(|r| r.map(Frame::Passed)).left_stream();
    };
    let state = (body, Some((scanner, callvault_crypto::digest::Sha256Stream::default())), done);
    Box::pin(stream::unfold(state, |(mut body, mut scanner, done)| async move {
        let (redactor, digest) = scanner.as_mut()?;
        match body.next().await {
            Some(Ok(bytes)) => {
                digest.update(bytes.as_ref());
                let mut out = Vec::with_capacity(bytes.as_ref().len());
                redactor.push(bytes.as_ref(), &mut out);
                Some((Ok(Frame::Masked(out)), (body, scanner, done)))
            }
            Some(Err(e)) => Some((Err(e), (body, None, done))),
            None => {
                let (redactor, digest) = scanner.take()?;
                let mut out = Vec::new();
                let (redactions, refused) = match redactor.finish(&mut out) {
                    Ok(n) => (u32::try_from(n).unwrap_or(u32::MAX), None),
                    Err(why) => (0, Some(why)),
                };
                let _ = done.set(Scanned { received_sha256: digest.finish_hex(), redactions, refused });
                Some((Ok(Frame::Masked(out)), (body, None, done)))
            }
        }
    }))
    .right_stream()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mails_are_read_as_mime_unless_stored_as_their_text_body() {
        let object = |class, content_type: &str| StoredObject {
            id: callvault_model::ObjectId::new(),
            tenant_id: callvault_model::TenantId::new(),
            class,
            interaction: None,
            service_id: None,
            agents: Vec::new(),
            contact_ref: None,
            recorded_at: callvault_model::records::Timestamp(0),
            consent: callvault_model::personal::Consent::Unknown,
            recording: callvault_model::recording::RecordingKind::QualityManagement,
            paused: Vec::new(),
            content_type: content_type.into(),
            size: 0,
            sha256: String::new(),
            redactions: 0,
            key_version: None,
            created_at: callvault_model::records::Timestamp(0),
            blob: String::new(),
            wrapped_key: None,
            header: Vec::new(),
        };
        assert!(is_mime(&object(ContentClass::Email, "message/rfc822")));
        assert!(is_mime(&object(ContentClass::Email, "application/octet-stream")));
        assert!(is_mime(&object(ContentClass::Attachment, "message/rfc822")));
        assert!(is_mime(&object(ContentClass::Attachment, "multipart/mixed; boundary=x")));
        assert!(!is_mime(&object(ContentClass::Email, "text/plain; charset=utf-8")));
        assert!(!is_mime(&object(ContentClass::Chat, "text/plain")));
    }

    #[tokio::test]
    async fn a_body_is_masked_across_frames_and_the_received_digest_kept() {
        let frames: Vec<Result<&[u8], ()>> = vec![Ok(b"my card is 4111 1111 "), Ok(b"1111 1111, thanks")];
        let done = Arc::new(OnceLock::new());
        let out: Vec<u8> = scan(stream::iter(frames), Some(Scanner::Text(Redactor::default())), done.clone())
            .map(|f| f.unwrap_or_else(|_| panic!("no error here")).as_ref().to_vec())
            .concat()
            .await;
        assert_eq!(out, b"my card is 4111 11** **** 1111, thanks");
        let seen = done.get().cloned().unwrap_or_else(|| panic!("scanned"));
        assert_eq!(seen.redactions, 1);
        let sent = b"my card is 4111 1111 1111 1111, thanks";
        assert_eq!(seen.received_sha256, hex::encode(callvault_crypto::digest::sha256(sent)));
    }
}
