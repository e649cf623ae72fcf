//! Audit log throughput: durable appends through the group-commit writer on SQLite and
//! PostgreSQL, sequencing into the Merkle tree, and verification of the whole log.
//!
//! `cargo bench -p callvault-server --bench audit_throughput -- [ENTRIES] [CONCURRENCY]`
//! PostgreSQL runs when CALLVAULT_POSTGRES_TEST_URL is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

mod common;

use std::time::Instant;

use callvault_core::audit::{Actor, AuditEvent, Auditor, leaf_input, sequence_once, verify_log};
use callvault_crypto::SecretBytes;
use callvault_crypto::kek::StaticKek;
use callvault_crypto::merkle::{self, CompactRange};
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, TenantId, UserId};
use callvault_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let entries: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(512);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "entries={entries} concurrency={concurrency} cores={}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!("cv-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let urls = common::database_urls(&rt, &dir);
    for (name, url) in urls {
        rt.block_on(run(name, &url, entries, concurrency));
    }
    verify_compute(entries.max(1_000_000));
    let _ = std::fs::remove_dir_all(dir);
}

async fn run(name: &str, url: &str, entries: usize, concurrency: usize) {
    let store = Store::open(url).await.unwrap();
    let kek = StaticKek::new(SecretBytes::new(vec![1; 32]));
    let auditor = Auditor::start(&store, &kek, Timestamp(0)).await.unwrap();
    let tenant = TenantId::new();
    let per_task = entries / concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let auditor = auditor.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::Principal(PrincipalId::User(UserId::new()));
            for i in 0..per_task {
                let event = AuditEvent::new(Some(tenant), actor, "user.read")
                    .target("user", UserId::new())
                    .details(serde_json::json!({ "i": i }));
                auditor.record_now(Timestamp(1_795_000_000_000 + i as i64), &event).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let appended = per_task * concurrency;
    let append_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut sequenced = 0;
    loop {
        let n = sequence_once(&store, 10_000).await.unwrap();
        if n == 0 {
            break;
        }
        sequenced += n;
    }
    let seq_secs = started.elapsed().as_secs_f64();
    callvault_core::audit::sign_tree_head(&store, auditor.signer(), Timestamp(1)).await.unwrap();
    let started = Instant::now();
    let report = verify_log(&store, None).await.unwrap();
    let verify_secs = started.elapsed().as_secs_f64();
    assert!(report.failure.is_none());
    println!(
        "{name:<8} durable append (group commit): {:>9.0} entries/s | sequencing: {:>9.0} entries/s | verify from database: {:>9.0} entries/s ({} entries)",
        appended as f64 / append_secs,
        sequenced as f64 / seq_secs,
        report.entries_checked as f64 / verify_secs,
        report.entries_checked
    );
    store.close().await;
}

/// Verification arithmetic alone: recompute chained leaf hashes from bodies and the root.
fn verify_compute(n: usize) {
    let bodies: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"v":1,"ts":{},"tenant":"01a2...","actor":{{"kind":"principal","id":{{"kind":"user","id":"01a203f3-e117-763e-bf18-c1ec9fa4a2c1"}}}},"action":"user.read","targets":[{{"kind":"user","id":"01a203f3-e117-763e-bf18-{i:012}"}}],"outcome":"success","from":{{}}}}"#, 1_795_000_000_000u64 + i as u64))
        .collect();
    let avg = bodies.iter().map(String::len).sum::<usize>() / n;
    let started = Instant::now();
    let mut range = CompactRange::new();
    let mut prev = [0u8; 32];
    let mut buf = Vec::with_capacity(512);
    for (i, b) in bodies.iter().enumerate() {
        buf.clear();
        buf.extend_from_slice(&leaf_input(i as u64, &prev, b));
        let h = merkle::leaf_hash(&buf);
        range.push(h);
        prev = h;
    }
    let root = range.root();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verify (hashing and tree only, {avg}-byte entries): {:.0} entries/s over {n} entries (root {})",
        n as f64 / secs,
        hex::encode(&root[..4])
    );
}
