//! Whole dial checks with arbitrary numbers, directions, contacts and instants: never a panic,
//! and a denial always carries a reason.
#![no_main]

use callvault_policy::dial::{Contact, Direction, Policy, Request, Settings};
use callvault_policy::rules::RuleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, rest) = data.split_at(9);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut parts = text.splitn(3, '\n');
    let number = parts.next().unwrap_or("");
    let zip = parts.next().map(str::to_owned);
    let state = parts.next().map(str::to_owned);
    let secs = i64::from_le_bytes(head[1..9].try_into().unwrap()) % 8_000_000_000;
    let Ok(at) = jiff::Timestamp::from_second(secs.abs()) else { return };
    let direction = [Direction::OutboundCall, Direction::OutboundText, Direction::InboundCall][usize::from(head[0] % 3)];
    let policy = Policy::new(Settings::default(), vec![], RuleSet::shipped()).unwrap();
    let contact = Contact { zip, state, consent: head[0] & 4 != 0 };
    let d = policy.decide(&Request {
        direction,
        number,
        at,
        service: None,
        assignments: &[],
        contact: &contact,
        recent_calls: &[at],
        dnc: &[],
    });
    assert!(d.allowed || d.reasons.iter().any(|r| r.denies));
});
