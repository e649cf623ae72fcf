//! Guarded batches (`Batch::commit_guarded`): on PostgreSQL one statement committed on its
//! own, on SQLite a transaction of two round trips, that writes only if the tenants'
//! generations and the audit head are what its writes were prepared on, and reports what it
//! found either way. On SQLite always, on PostgreSQL when
//! `CALLVAULT_POSTGRES_TEST_URL` is set (CI sets it; otherwise a skip notice is printed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use callvault_model::TenantId;
use callvault_model::records::{Capabilities, Tenant, TenantSettings, Timestamp};
use callvault_store::batch::Batch;
use callvault_store::{AuditHead, AuditInsert, AuditStore, Conn, Store, TenantStore};
use sqlx::Row;

/// Where a test runs: a SQLite file always, and a PostgreSQL schema of its own when
/// `CALLVAULT_POSTGRES_TEST_URL` is set. Each comes with the URL to open it again.
enum Db {
    Sqlite(std::path::PathBuf),
    Postgres { base: String, schema: String },
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite:{}?mode=rwc", dir.join("t.db").display()),
            Db::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        }
    }

    async fn drop(self, store: Store) {
        store.close().await;
        match self {
            Db::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Db::Postgres { base, schema } => {
                let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
                let drop = format!("DROP SCHEMA {schema} CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut c).await.unwrap();
            }
        }
    }
}

async fn databases() -> Vec<Db> {
    sqlx::any::install_default_drivers();
    let dir = std::env::temp_dir().join(format!("cv-guarded-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut dbs = vec![Db::Sqlite(dir)];
    match std::env::var("CALLVAULT_POSTGRES_TEST_URL") {
        Ok(base) => {
            let schema = format!("cvguard_{}", uuid::Uuid::new_v4().simple());
            let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut c).await.unwrap();
            dbs.push(Db::Postgres { base, schema });
        }
        Err(_) if std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_ok() => {
            panic!("CALLVAULT_REQUIRE_ALL_BACKENDS is set but CALLVAULT_POSTGRES_TEST_URL is not")
        }
        Err(_) => eprintln!("SKIP: guarded batches on PostgreSQL skipped: set CALLVAULT_POSTGRES_TEST_URL to run them"),
    }
    dbs
}

fn tenant(slug: &str) -> Tenant {
    Tenant {
        id: TenantId::new(),
        slug: slug.into(),
        display_name: slug.into(),
        capabilities: Capabilities::default(),
        settings: TenantSettings::default(),
        created_at: Timestamp(1_795_000_000_000),
    }
}

/// A tenant and the audit head row (made as the sequencer makes it).
async fn setup(store: &Store) -> Tenant {
    let t = tenant("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&t).await.unwrap();
    let head = tx.lock_audit_head().await.unwrap();
    // SQLite makes the head row with its first leaves; here it is made up front on both.
    let mut batch = tx.batch();
    batch.set_audit_head(&head).unwrap();
    batch.execute(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    t
}

async fn head(store: &Store) -> AuditHead {
    store.reader().await.unwrap().audit_head().await.unwrap()
}

/// A guarded batch of `n` audit entries for `tenant` following `head` (their leaf hashes are
/// stand-ins: this is about which writes are made, not about the chain's hashes).
fn entries(store: &Store, tenant: TenantId, head: &AuditHead, bodies: &[String]) -> Batch {
    let rows: Vec<(AuditInsert<'_>, i64, Vec<u8>)> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let index = head.tree_size + i64::try_from(i).unwrap();
            let e = AuditInsert { tenant_id: Some(tenant), action: "test.guarded", created_at: 1, body };
            (e, index, vec![7u8; 32])
        })
        .collect();
    let size = head.tree_size + i64::try_from(bodies.len()).unwrap();
    let next = AuditHead { tree_size: size, last_hash: vec![size as u8; 32], frontier: vec![1, 2, 3] };
    let mut batch = Batch::guarded(store.backend());
    batch.append_audit_sequenced(&rows).unwrap();
    batch.set_audit_head(&next).unwrap();
    batch
}

async fn count(store: &Store) -> i64 {
    let mut r = store.reader().await.unwrap();
    let row = sqlx::query("SELECT count(*) AS n FROM aud_entry WHERE action = 'test.guarded'")
        .fetch_one(r.conn())
        .await
        .unwrap();
    row.try_get("n").unwrap()
}

#[tokio::test]
async fn writes_only_when_generations_and_head_hold_and_says_what_it_found() {
    for db in databases().await {
        let store = Store::open(&db.url()).await.unwrap();
        let t = setup(&store).await;
        let generation = store.reader().await.unwrap().tenant_generation(t.id).await.unwrap().unwrap();
        let start = head(&store).await;
        let bodies: Vec<String> = (0..3).map(|i| format!("entry {i}")).collect();
        let mut solo = store.solo().await.unwrap();

        // The head has moved past what the leaves follow: nothing is written, the head is told.
        let stale_head = AuditHead { tree_size: start.tree_size + 5, ..start.clone() };
        let found = entries(&store, t.id, &stale_head, &bodies)
            .commit_guarded(&mut solo, &[(t.id, generation)], stale_head.tree_size)
            .await;
        let found = found.unwrap();
        assert!(!found.written);
        assert_eq!(found.head.as_ref().map(|h| h.tree_size), Some(start.tree_size));
        assert_eq!(found.generations, vec![(t.id, Some(generation))]);
        assert_eq!(count(&store).await, 0);

        // The tenant's generation moved past the uploads' stamp: nothing is written.
        let mut tx = store.begin().await.unwrap();
        tx.update_tenant(&t, Timestamp(1_795_000_000_001)).await.unwrap();
        tx.commit().await.unwrap();
        let moved = store.reader().await.unwrap().tenant_generation(t.id).await.unwrap().unwrap();
        assert!(moved > generation);
        let found = entries(&store, t.id, &start, &bodies)
            .commit_guarded(&mut solo, &[(t.id, generation)], start.tree_size)
            .await
            .unwrap();
        assert!(!found.written);
        assert_eq!(found.generations, vec![(t.id, Some(moved))]);
        assert_eq!(count(&store).await, 0);

        // A tenant that does not exist has no generation: nothing is written.
        let gone = TenantId::new();
        let found = entries(&store, t.id, &start, &bodies)
            .commit_guarded(&mut solo, &[(t.id, moved), (gone, 0)], start.tree_size)
            .await
            .unwrap();
        assert!(!found.written);
        assert_eq!(found.generations, vec![(t.id, Some(moved)), (gone, None)]);
        assert_eq!(count(&store).await, 0);

        // Both hold: the entries and the new head are written, committed without a transaction.
        let found = entries(&store, t.id, &start, &bodies)
            .commit_guarded(&mut solo, &[(t.id, moved)], start.tree_size)
            .await
            .unwrap();
        assert!(found.written);
        assert_eq!(count(&store).await, 3);
        assert_eq!(head(&store).await.tree_size, start.tree_size + 3);
        drop(solo);
        db.drop(store).await;
    }
}

/// Two writers (on PostgreSQL two nodes) commit guarded groups at once against one head: each group is written whole or
/// not at all, none twice, and the leaves end up contiguous, as one writer would leave them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_committing_at_once_leave_contiguous_leaves() {
    for db in databases().await {
        let url = db.url();
        let store = Store::open(&url).await.unwrap();
        let t = setup(&store).await;
        let generation = store.reader().await.unwrap().tenant_generation(t.id).await.unwrap().unwrap();
        let mut nodes = Vec::new();
        for node in 0..2 {
            let store = Store::open(&url).await.unwrap();
            nodes.push(tokio::spawn(async move {
                let mut solo = store.solo().await.unwrap();
                let mut seen = head(&store).await;
                let mut retries = 0;
                for group in 0..40 {
                    let bodies: Vec<String> = (0..5).map(|i| format!("node {node} group {group} entry {i}")).collect();
                    loop {
                        let found = entries(&store, t.id, &seen, &bodies)
                            .commit_guarded(&mut solo, &[(t.id, generation)], seen.tree_size)
                            .await
                            .unwrap();
                        if found.written {
                            seen.tree_size += 5;
                            break;
                        }
                        retries += 1;
                        seen = found.head.unwrap();
                    }
                }
                drop(solo);
                store.close().await;
                retries
            }));
        }
        let mut retries = 0;
        for n in nodes {
            retries += n.await.unwrap();
        }
        assert_eq!(count(&store).await, 2 * 40 * 5);
        let mut r = store.reader().await.unwrap();
        let row = sqlx::query(
            "SELECT count(DISTINCT leaf_index) AS n, min(leaf_index) AS lo, max(leaf_index) AS hi \
         FROM aud_entry WHERE action = 'test.guarded'",
        )
        .fetch_one(r.conn())
        .await
        .unwrap();
        let (n, lo, hi): (i64, i64, i64) =
            (row.try_get("n").unwrap(), row.try_get("lo").unwrap(), row.try_get("hi").unwrap());
        assert_eq!((n, hi - lo + 1), (400, 400), "leaves are unique and contiguous");
        drop(r);
        assert_eq!(head(&store).await.tree_size, hi + 1);
        eprintln!(
            "{:?}: 80 groups written, {retries} prepared again on a head the other writer moved",
            store.backend()
        );
        db.drop(store).await;
    }
}
