//! SQLite's writers in one process: write transactions queue at the store's gate (two writer
//! connections, one transaction at a time), a transaction dropped without commit rolls back
//! without holding up the next, and `Store::checkpoint` copies the write-ahead log into the
//! database file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use callvault_store::{AuditInsert, AuditStore, Store};

fn temp_db() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("cv-writer-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.join("t.db").display());
    (dir, url)
}

fn entry(body: &str) -> AuditInsert<'_> {
    AuditInsert { tenant_id: None, action: "test.write", created_at: 1, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_write_transactions_queue_and_all_land() {
    let (dir, url) = temp_db();
    let store = Store::open(&url).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..25 {
                let body = format!("writer {w} entry {i}");
                let mut tx = store.begin().await.unwrap();
                tx.append_audit(&entry(&body)).await.unwrap();
                if i % 5 == 4 {
                    // Dropped without commit: rolled back, and the next writer is not held up.
                    drop(tx);
                } else {
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    for w in writers {
        tokio::time::timeout(std::time::Duration::from_secs(60), w).await.expect("writers finish").unwrap();
    }
    let mut r = store.reader().await.unwrap();
    // 8 writers × 25 transactions, one in five rolled back.
    assert_eq!(r.unsequenced_audit_count().await.unwrap(), 8 * 20);
    drop(r);
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_checkpoint_leaves_the_rows_in_the_database_file() {
    let (dir, url) = temp_db();
    let store = Store::open(&url).await.unwrap();
    let bodies: Vec<String> = (0..500).map(|i| format!("entry {i} {}", "x".repeat(200))).collect();
    let mut tx = store.begin().await.unwrap();
    let entries: Vec<AuditInsert<'_>> = bodies.iter().map(|b| entry(b)).collect();
    tx.append_audit_batch(&entries).await.unwrap();
    tx.commit().await.unwrap();
    store.checkpoint().await.unwrap();
    // The database file alone, without its write-ahead log, holds every row.
    let copy = dir.join("copy.db");
    std::fs::copy(dir.join("t.db"), &copy).unwrap();
    let alone = Store::connect(&format!("sqlite:{}", copy.display())).await.unwrap();
    let mut r = alone.reader().await.unwrap();
    assert_eq!(r.unsequenced_audit_count().await.unwrap(), 500);
    drop(r);
    alone.close().await;
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
