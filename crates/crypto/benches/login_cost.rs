//! Login cost: argon2id (m = 19 MiB, t = 2, p = 1) verifications per second on one core, and
//! with every core busy. `cargo bench -p callvault-crypto --bench login_cost -- [N]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::time::Instant;

use callvault_crypto::password::{PasswordCheck, hash_password, verify_password};

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(40);
    let hash = hash_password("correct horse battery staple").unwrap();
    assert_eq!(verify_password(&hash, "correct horse battery staple"), PasswordCheck::Valid { needs_rehash: false });
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verify_password(&hash, "correct horse battery staple"));
    }
    let one = n as f64 / started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                for _ in 0..n {
                    std::hint::black_box(verify_password(&hash, "correct horse battery staple"));
                }
            });
        }
    });
    let all = (n * cores) as f64 / started.elapsed().as_secs_f64();
    println!(
        "argon2id m=19456 t=2 p=1 verify: {one:.1}/s on one core ({:.1} ms each); {all:.1}/s on {cores} cores ({:.1}/s per core)",
        1000.0 / one,
        all / cores as f64
    );
}
