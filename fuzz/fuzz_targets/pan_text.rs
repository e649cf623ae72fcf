//! Text on its way to storage (chat, SMS, e-mail, list fields): the card-number scanner never
//! panics, keeps the length, keeps at most six and four digits of each card number, and a stream cut anywhere gives the
//! same bytes as the whole text.
#![no_main]

use callvault_policy::pan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, text)) = data.split_first() else { return };
    let mut whole = text.to_vec();
    let n = pan::redact(&mut whole);
    assert_eq!(whole.len(), text.len());
    for p in pan::find(text).pans {
        let kept = whole[p].iter().filter(|b| b.is_ascii_digit()).count();
        assert!(kept <= 10, "more than the first six and last four digits kept");
    }
    let mut r = pan::Redactor::new(4096);
    let mut out = Vec::new();
    for c in text.chunks(usize::from(chunk) + 1) {
        r.push(c, &mut out);
    }
    assert_eq!(r.finish(&mut out), n);
    assert_eq!(out, whole);
});
