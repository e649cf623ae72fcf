//! Card-number scanning throughput on one core: `cargo bench -p callvault-policy --bench pan`.
//!
//! 8 MiB of chat-like text (short messages with times, order numbers, phone numbers and amounts;
//! one message in 200 carries a card number with expiry and CVV) scanned and masked by
//! `pan::redact` and by the streaming `pan::Redactor` in 64 KiB chunks; beside them the plain
//! approach: a `regex` for 13–19 digits with optional single separators, then Luhn and the issuer
//! ranges on each match (what a hand-written scanner usually is).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark harness: a failure aborts the run")]

use std::sync::LazyLock;

use callvault_policy::pan;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

const SIZE: usize = 8 << 20;

static TEXT: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut s = String::with_capacity(SIZE + 256);
    let mut i = 0u64;
    let words = ["hello", "thanks", "sure", "let me check", "your order", "is on its way", "can you", "confirm"];
    while s.len() < SIZE {
        i += 1;
        let w = |k: u64| words[((i * 7 + k) % words.len() as u64) as usize];
        match i % 200 {
            0 => s.push_str("my card is 4111 1111 1111 1111, exp 12/27, cvv 123\n"),
            17 => s.push_str(&format!("call me at +1 212 555 {:04}\n", i % 10_000)),
            _ => s.push_str(&format!(
                "[10:{:02}] {} {}, order {} for ${}.{:02} {}\n",
                i % 60,
                w(1),
                w(2),
                1_000_000 + i,
                i % 500,
                i % 100,
                w(3)
            )),
        }
    }
    s.into_bytes()
});

fn main() {
    divan::main();
}

#[divan::bench]
fn callvault_redact(bencher: Bencher) {
    bencher.counter(BytesCount::new(TEXT.len())).with_inputs(|| TEXT.clone()).bench_local_values(|mut t| {
        black_box(pan::redact(&mut t));
        t
    });
}

#[divan::bench]
fn callvault_stream_64k(bencher: Bencher) {
    bencher.counter(BytesCount::new(TEXT.len())).bench_local(|| {
        let mut r = pan::Redactor::default();
        let mut out = Vec::with_capacity(TEXT.len());
        for c in TEXT.chunks(64 << 10) {
            r.push(c, &mut out);
        }
        black_box(r.finish(&mut out));
        out
    });
}

static PLAIN: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"\d(?:[ -]?\d){12,18}").unwrap());

#[divan::bench]
fn regex_and_luhn(bencher: Bencher) {
    bencher.counter(BytesCount::new(TEXT.len())).with_inputs(|| TEXT.clone()).bench_local_values(|mut t| {
        let spans: Vec<_> = PLAIN
            .find_iter(&t)
            .filter(|m| {
                let d: Vec<u8> = m.as_bytes().iter().copied().filter(u8::is_ascii_digit).collect();
                pan::luhn(&d) && pan::scheme(&d).is_some()
            })
            .map(|m| m.range())
            .collect();
        for r in &spans {
            for b in &mut t[r.start + 6..r.end - 4] {
                if b.is_ascii_digit() {
                    *b = b'*';
                }
            }
        }
        black_box(spans.len());
        t
    });
}
