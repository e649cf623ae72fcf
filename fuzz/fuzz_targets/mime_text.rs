//! E-mails on their way to storage: the MIME-aware card-number scanner never panics, keeps the
//! message's length, and a message given in chunks of any size gives the same bytes and the same
//! verdict as the whole.
#![no_main]

use callvault_policy::pan::mime::MimeRedactor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, mail)) = data.split_first() else { return };
    let mut whole = Vec::new();
    let mut r = MimeRedactor::default();
    r.push(mail, &mut whole);
    let verdict = r.finish(&mut whole);
    if verdict.is_ok() {
        assert_eq!(whole.len(), mail.len(), "the message keeps its length");
    }
    let mut pieces = Vec::new();
    let mut r = MimeRedactor::default();
    for c in mail.chunks(usize::from(chunk) + 1) {
        r.push(c, &mut pieces);
    }
    assert_eq!(r.finish(&mut pieces), verdict);
    assert_eq!(pieces, whole);
});
