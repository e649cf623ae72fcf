//! Dial checks per second on one core, parsing included: `cargo bench -p callvault-policy --bench dial`.
//!
//! 4,096 outbound call checks of distinct synthetic NANP numbers (valid US numbers spread over
//! the area codes, a few Canadian, toll-free and UK numbers among them) at varied instants, with
//! the shipped rules, a domestic default area and a do-not-call registry of 1 M numbers in a
//! `CompactSet`. Each iteration is one full `Policy::decide`:
//! parse and classify, areas, risk, places and zones, hours with the next allowed instant when
//! denied, limits, lists, and the explained `Decision`. Beside it, the same numbers through the
//! `phonenumber` crate alone (parse, `is_valid`, `number_type`), the peer for the parsing part.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::sync::{Arc, LazyLock};

use callvault_policy::dial::{Assignment, Contact, Direction, DncKind, DncList, Policy, Request, Settings};
use callvault_policy::dnc::CompactSet;
use callvault_policy::numbers::{self, Number};
use callvault_policy::rules::RuleSet;
use divan::black_box;
use jiff::Timestamp;

const REFRESHED: Timestamp = Timestamp::constant(1_795_132_800, 0); // 2026-11-20

struct Registry(CompactSet);

impl DncList for Registry {
    fn name(&self) -> &str {
        "US national registry"
    }
    fn kind(&self) -> DncKind {
        DncKind::Registry
    }
    fn country_code(&self) -> Option<u16> {
        Some(1)
    }
    fn refreshed_at(&self) -> Option<Timestamp> {
        Some(REFRESHED)
    }
    fn contains(&self, n: &Number) -> bool {
        n.digits().parse().is_ok_and(|k| self.0.contains(k))
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct World {
    policy: Policy,
    lists: Vec<Arc<dyn DncList>>,
    numbers: Vec<String>,
    instants: Vec<Timestamp>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let policy = Policy::new(Settings::default(), vec![], RuleSet::shipped()).unwrap();
    let mut s = 42;
    let mut numbers = Vec::new();
    while numbers.len() < 4096 {
        let n = match numbers.len() % 64 {
            0 => "+18005550199".to_owned(),
            1 => "+14165550123".to_owned(),
            2 => "+442079460000".to_owned(),
            _ => format!("+1{}", 2_000_000_000 + splitmix(&mut s) % 8_000_000_000),
        };
        if numbers::parse(&n, None).is_ok() {
            numbers.push(n);
        }
    }
    let mut registry: Vec<u64> = (0..1_000_000).map(|_| 12_000_000_000 + splitmix(&mut s) % 8_000_000_000).collect();
    registry
        .extend(numbers.iter().step_by(10).filter(|n| n.starts_with("+1")).filter_map(|n| n[1..].parse::<u64>().ok()));
    registry.sort_unstable();
    registry.dedup();
    let lists: Vec<Arc<dyn DncList>> = vec![Arc::new(Registry(CompactSet::from_sorted(&registry).unwrap()))];
    // Instants over a week: most inside calling hours, some outside (denials compute the next
    // allowed instant).
    let base: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
    let instants = (0..4096).map(|i| base + jiff::SignedDuration::from_mins((i * 149) % (7 * 24 * 60))).collect();
    World { policy, lists, numbers, instants }
});

fn main() {
    LazyLock::force(&WORLD);
    numbers::Classifier::shipped().warm();
    divan::main();
}

#[divan::bench]
fn parse_only(b: divan::Bencher) {
    let w = &*WORLD;
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) & 4095;
        black_box(numbers::parse(black_box(&w.numbers[i]), None).is_ok())
    });
}

/// One full outbound call check per iteration, over the 4,096 numbers, at `at(i)`.
fn bench_checks(b: divan::Bencher, at: impl Fn(usize) -> Timestamp) {
    let w = &*WORLD;
    let contact = Contact::default();
    let assignments: Vec<Assignment> = Vec::new();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) & 4095;
        let d = w.policy.decide(&Request {
            direction: Direction::OutboundCall,
            number: black_box(&w.numbers[i]),
            at: at(i),
            service: None,
            assignments: &assignments,
            contact: &contact,
            recent_calls: &[],
            dnc: &w.lists,
        });
        black_box(d.allowed)
    });
}

#[divan::bench]
fn outbound_call_check(b: divan::Bencher) {
    bench_checks(b, |i| WORLD.instants[i]);
}

#[divan::bench]
fn outbound_call_check_in_hours(b: divan::Bencher) {
    let at: Timestamp = "2026-11-23T19:00:00Z".parse().unwrap();
    bench_checks(b, move |_| at);
}

#[divan::bench]
fn registry_lookup(b: divan::Bencher) {
    let w = &*WORLD;
    let parsed: Vec<Number> = w.numbers.iter().map(|n| numbers::parse(n, None).unwrap()).collect();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) & 4095;
        black_box(w.lists[0].contains(black_box(&parsed[i])))
    });
}

/// The peer for parsing and classifying: the `phonenumber` crate itself (parse, validity, type).
#[divan::bench]
fn phonenumber_crate_parse_valid_type(b: divan::Bencher) {
    let w = &*WORLD;
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) & 4095;
        let n = phonenumber::parse(None, black_box(&w.numbers[i])).ok();
        black_box(n.map(|n| (n.is_valid(), n.number_type(&phonenumber::metadata::DATABASE))))
    });
}
