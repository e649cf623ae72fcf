//! Recording decisions in process, on one core: `cargo bench -p callvault-policy --bench recording`.
//!
//! A tenant policy with 1,000 per-service rules (every tenth service records for quality
//! management, every seventh asks for consent) and 10,000 per-user switches; questions cycle over
//! services, agents (one or two per call), directions and consent answers, so the decisions
//! include refusals, QM recordings and personal recordings with every switch level.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark harness: a failure aborts the run")]

use std::sync::LazyLock;

use callvault_model::personal::Consent;
use callvault_model::{ServiceId, UserId};
use callvault_policy::recording::{
    ConsentMode, ConsentParties, ConsentRule, ConsentState, Direction, Question, RecordingPolicy, ServiceRule,
    UserRule, decide,
};
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};

const QUESTIONS: usize = 4096;

/// Service, agents (the first `usize` of them), direction, the customer's answer.
type Asked = (Option<ServiceId>, [UserId; 2], usize, Direction, Consent);

struct World {
    policy: RecordingPolicy,
    services: Vec<ServiceId>,
    users: Vec<UserId>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let services: Vec<ServiceId> = (0..1000).map(|_| ServiceId::new()).collect();
    let users: Vec<UserId> = (0..20_000).map(|_| UserId::new()).collect();
    let policy = RecordingPolicy {
        users: users
            .iter()
            .step_by(2)
            .enumerate()
            .map(|(i, u)| UserRule { user_id: *u, personal: i % 3 != 0 })
            .collect(),
        services: services
            .iter()
            .enumerate()
            .map(|(i, s)| ServiceRule {
                service_id: *s,
                quality_management: i % 10 == 0,
                personal: (i % 5 == 0).then_some(false),
                consent: (i % 7 == 0).then_some(ConsentRule {
                    inbound: ConsentMode::Required,
                    outbound: ConsentMode::Required,
                    parties: ConsentParties::AllParties,
                }),
            })
            .collect(),
        ..RecordingPolicy::default()
    }
    .normalise()
    .unwrap();
    World { policy, services, users }
});

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 1000, sample_size = 256)]
fn decide_one(bencher: Bencher) {
    let w = &*WORLD;
    let answers = [Consent::Yes, Consent::NotRequired, Consent::NoAnswer, Consent::Yes, Consent::No, Consent::Unknown];
    let questions: Vec<Asked> = (0..QUESTIONS)
        .map(|i| {
            let service = (i % 9 != 0).then(|| w.services[(i * 37) % w.services.len()]);
            let agents = [w.users[(i * 13) % w.users.len()], w.users[(i * 29 + 1) % w.users.len()]];
            let direction = if i % 2 == 0 { Direction::Inbound } else { Direction::Outbound };
            (service, agents, 1 + i % 2, direction, answers[i % answers.len()])
        })
        .collect();
    let mut n = 0usize;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        n = (n + 1) % QUESTIONS;
        let (service, agents, k, direction, customer) = &questions[n];
        black_box(decide(
            &w.policy,
            &Question {
                service: *service,
                agents: &agents[..*k],
                direction: *direction,
                consent: ConsentState { customer: *customer, other_parties: None },
                paused_until: None,
            },
        ))
    });
}
