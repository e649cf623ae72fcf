//! The card-number scanner on generated corpora: a valid number from every issuer range of every
//! scheme, written ten ways (spaces, dashes, split over two messages, inside words and URLs, with
//! expiry and CVV) — none kept readable; and 1,000,000 digit runs that are not card numbers
//! (Luhn-invalid or outside every range, order ids, phone numbers, dates) — none changed.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests: a failed step fails the test")]

use callvault_policy::pan;

/// splitmix64: a reproducible generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// The Luhn check digit that completes `body`.
fn check_digit(body: &str) -> char {
    for d in b'0'..=b'9' {
        let mut s = body.as_bytes().to_vec();
        s.push(d);
        if pan::luhn(&s) {
            return char::from(d);
        }
    }
    unreachable!()
}

fn card(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let body = format!("{prefix}{}", rng.digits(len - prefix.len() - 1));
    let c = check_digit(&body);
    format!("{body}{c}")
}

/// One prefix and length from every issuer range the scanner knows (both ends of each range).
const RANGES: &[(&str, usize)] = &[
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("622126", 16),
    ("622925", 19),
    ("644", 16),
    ("649", 16),
    ("65", 19),
    ("3528", 16),
    ("3589", 19),
    ("300", 14),
    ("305", 16),
    ("3095", 14),
    ("36", 14),
    ("38", 16),
    ("39", 19),
    ("62", 16),
    ("62", 19),
    ("2200", 16),
    ("2204", 19),
];

fn grouped(pan: &str, sep: &str, size: usize) -> String {
    pan.as_bytes().chunks(size).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(sep)
}

/// Redacts `messages` as consecutive messages of one conversation, each continuing the last's tail.
/// The messages appended one by one as the messages API does, then read back joined.
fn conversation(messages: &[String]) -> String {
    let mut stored: Vec<Vec<u8>> = Vec::new();
    for m in messages {
        stored.push(m.as_bytes().to_vec());
        pan::conversation::redact_conversation(&mut stored);
    }
    String::from_utf8(stored.concat()).unwrap()
}

#[test]
fn every_scheme_in_ten_formats_is_masked() {
    let mut rng = Rng(17);
    let mut checked = 0;
    for &(prefix, len) in RANGES {
        let pan = card(&mut rng, prefix, len);
        assert!(pan::scheme(pan.as_bytes()).is_some(), "{pan}");
        let formats: Vec<Vec<String>> = vec![
            vec![format!("my card is {pan} thanks")],
            vec![format!("card: {}.", grouped(&pan, " ", 4))],
            vec![format!("card: {}!", grouped(&pan, "-", 4))],
            vec![format!("it is {} ok", grouped(&pan, " ", 1))],
            vec![format!("xx{pan}yy")],
            vec![format!("https://pay.example.com/checkout?pan={pan}&amount=12.50")],
            vec![format!("{{\"pan\":\"{}\",\"exp\":\"09/28\",\"cvv\":\"{}\"}}", grouped(&pan, " ", 4), rng.digits(3))],
            vec![format!("{} exp 12/27 cvv {}", grouped(&pan, " ", 4), rng.digits(3))],
            vec![format!("ok the number is {}", &pan[..8]), format!("{} and that's it", &pan[8..])],
            vec![format!("first half {}", grouped(&pan[..8], " ", 4)), format!(" {}", grouped(&pan[8..], " ", 4))],
        ];
        for messages in formats {
            let before = messages.concat();
            let after = conversation(&messages);
            assert_eq!(after.len(), before.len(), "{before}");
            // Where the card's digits were, at most the first six and the last four are left.
            let at: Vec<usize> =
                before.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(|(i, _)| i).collect();
            let digits: String = at.iter().map(|&i| char::from(before.as_bytes()[i])).collect();
            let first = digits.find(&pan).unwrap();
            let kept = at[first..first + len].iter().filter(|&&i| after.as_bytes()[i].is_ascii_digit()).count();
            assert!(kept <= 10, "{kept} digits kept: {before} -> {after}");
            checked += 1;
        }
    }
    assert_eq!(checked, RANGES.len() * 10);
}

#[test]
fn a_million_runs_that_are_not_card_numbers_are_left_alone() {
    let mut rng = Rng(2026);
    let mut text = String::with_capacity(40_000_000);
    let mut count = 0;
    while count < 1_000_000 {
        let item = match rng.below(6) {
            // Order ids: 13–19 digits, Luhn-invalid.
            0 => loop {
                let len = 13 + rng.below(7) as usize;
                let s = format!("{}{}", 1 + rng.below(9), rng.digits(len - 1));
                if !pan::luhn(s.as_bytes()) {
                    break s;
                }
            },
            // Luhn-valid, outside every range (or a length the range does not have).
            1 => {
                let first = ["0", "1", "7", "8", "9"][rng.below(5) as usize];
                let len = 13 + rng.below(7) as usize;
                card(&mut rng, first, len)
            }
            2 => {
                let len = [14, 15, 17, 18][rng.below(4) as usize];
                card(&mut rng, "4", len)
            }
            // Phone numbers, international and national.
            3 => format!("+{} {} {} {}", 1 + rng.below(98), rng.digits(3), rng.digits(4), rng.digits(4)),
            4 => format!("({}) {}-{}", rng.digits(3), rng.digits(3), rng.digits(4)),
            // Dates and times.
            _ => format!(
                "{}-{:02}-{:02} {:02}:{:02}",
                2000 + rng.below(40),
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60)
            ),
        };
        text.push_str("order ");
        text.push_str(&item);
        text.push_str(" is noted.\n");
        count += 1;
    }
    let mut bytes = text.clone().into_bytes();
    let found = pan::find(&bytes);
    assert!(found.pans.is_empty(), "false positives: {:?}", &found.pans[..found.pans.len().min(5)]);
    assert_eq!(pan::redact(&mut bytes), 0);
    assert!(bytes == text.as_bytes(), "text changed");
}
