use super::*;

fn redacted(s: &str) -> (String, usize) {
    let mut b = s.as_bytes().to_vec();
    let n = redact(&mut b);
    (String::from_utf8(b).unwrap(), n)
}

#[test]
fn issuer_ranges_and_lengths() {
    let d = |s: &str| s.as_bytes().to_vec();
    assert_eq!(scheme(&d("4111111111111111")), Some(Scheme::Visa));
    assert_eq!(scheme(&d("4222222222222")), Some(Scheme::Visa), "13 digits");
    assert_eq!(scheme(&d("41111111111111")), None, "Visa has no 14-digit numbers");
    assert_eq!(scheme(&d("5500000000000004")), Some(Scheme::Mastercard));
    assert_eq!(scheme(&d("2221000000000009")), Some(Scheme::Mastercard));
    assert_eq!(scheme(&d("2720990000000000")), Some(Scheme::Mastercard));
    assert_eq!(scheme(&d("2721000000000000")), None, "past the 2-series");
    assert_eq!(scheme(&d("378282246310005")), Some(Scheme::Amex));
    assert_eq!(scheme(&d("6011111111111117")), Some(Scheme::Discover));
    assert_eq!(scheme(&d("6221260000000000")), Some(Scheme::Discover), "the UnionPay co-brand range");
    assert_eq!(scheme(&d("6200000000000005")), Some(Scheme::UnionPay));
    assert_eq!(scheme(&d("3530111333300000")), Some(Scheme::Jcb));
    assert_eq!(scheme(&d("30569309025904")), Some(Scheme::Diners));
    assert_eq!(scheme(&d("2200000000000004")), Some(Scheme::Mir));
    assert_eq!(scheme(&d("1234567812345678")), None);
    assert!(luhn(b"4111111111111111") && !luhn(b"4111111111111112"));
}

#[test]
fn masks_keep_six_and_four_and_the_length() {
    assert_eq!(redacted("card 4111 1111 1111 1111 thanks"), ("card 4111 11** **** 1111 thanks".into(), 1));
    assert_eq!(redacted("pay=4111111111111111&x"), ("pay=411111******1111&x".into(), 1));
    assert_eq!(redacted("amex 3782-822463-10005."), ("amex 3782-82****-*0005.".into(), 1));
    // Expiry and CVV within 20 characters, before or after.
    assert_eq!(
        redacted("4111 1111 1111 1111 exp 12/27 cvv 123 ok"),
        ("4111 11** **** 1111 exp **/** cvv *** ok".into(), 1)
    );
    assert_eq!(redacted("12/2027 4111111111111111"), ("**/**** 411111******1111".into(), 1));
    // Further away: left alone.
    assert_eq!(
        redacted("4111111111111111 and then a long while later 123"),
        ("411111******1111 and then a long while later 123".into(), 1)
    );
    // A CVV right after the number, in the same run.
    assert_eq!(redacted("4111 1111 1111 1111 123"), ("4111 11** **** 1111 ***".into(), 1));
}

#[test]
fn what_is_not_a_card_number_is_left_alone() {
    for s in [
        "order 41111111111111111111 shipped",        // 20 digits: no card
        "call +49 151 1234 5678 or +1 212 555 0147", // phone numbers
        "4111111111111112",                          // Luhn-invalid
        "1234567812345670",                          // Luhn-valid, no scheme
        "on 2026-12-03 at 10:15, ticket 1234-5678",
        "no digits at all",
        "",
    ] {
        assert_eq!(redacted(s), (s.to_owned(), 0), "{s}");
    }
}

#[test]
fn a_stream_in_any_chunks_equals_the_whole() {
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(&format!("message {i}: hello there, nothing to see. "));
        if i % 97 == 0 {
            text.push_str("my card is 4111 1111 1111 1111 exp 12/27 cvv 123. ");
        }
    }
    let mut whole = text.clone().into_bytes();
    let n = redact(&mut whole);
    assert!(n > 40);
    for chunk in [1, 7, 100, 4096, 65536] {
        let mut r = Redactor::new(4096);
        let mut out = Vec::new();
        for c in text.as_bytes().chunks(chunk) {
            r.push(c, &mut out);
            assert!(r.pending.len() <= 4096 + chunk + 64, "bounded");
        }
        assert_eq!(r.finish(&mut out), n, "chunk {chunk}");
        assert_eq!(out, whole, "chunk {chunk}");
    }
}

#[test]
fn a_number_split_over_two_messages_is_found() {
    let first = b"sure, it is 4111 1111".to_vec();
    let mut r = Redactor::continuing(&first);
    let mut out = Vec::new();
    r.push(b" 1111 1111 thanks", &mut out);
    assert_eq!(r.finish(&mut out), 1);
    assert_eq!(String::from_utf8(out).unwrap(), "sure, it is 4111 11** **** 1111 thanks");
}

#[test]
fn an_expiry_and_cvv_after_a_masked_number_are_masked() {
    let mut t = b"card 411111******1111 exp 12/27 cvv 123, order 55512 in 2 weeks please".to_vec();
    assert_eq!(mask_beside_masked(&mut t), 2);
    assert_eq!(String::from_utf8(t).unwrap(), "card 411111******1111 exp **/** cvv ***, order 55512 in 2 weeks please");
    let mut t = b"4111 11** **** 1111 - 123".to_vec();
    assert_eq!(mask_beside_masked(&mut t), 1);
    assert!(t.ends_with(b"***"));
    // Stars that are not a masked card number leave the digits alone.
    let mut t = b"rated ***** 123 of 456".to_vec();
    assert_eq!(mask_beside_masked(&mut t), 0);
    assert_eq!(&t, b"rated ***** 123 of 456");
}
