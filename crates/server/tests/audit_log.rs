//! The audit log: verification names the exact entry after modification, deletion or a swap;
//! inclusion and consistency proofs from the API verify and fail for each RFC 9162 failure case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_core::audit::verify_log;
use callvault_crypto::merkle::{self, Hash, ProofError};
use common::{TestApp, backends};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};

async fn conn(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.db.url).await.unwrap()
}

async fn exec(c: &mut AnyConnection, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(c).await.unwrap();
}

async fn failure_at(app: &TestApp) -> Option<i64> {
    verify_log(&app.state.store, None).await.unwrap().failure.map(|f| f.leaf_index)
}

#[tokio::test]
async fn verify_names_the_tampered_entry() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        for i in 0..12 {
            app.post("/v1/teams", &admin, json!({ "name": format!("Team {i}") })).await;
        }
        app.seal_audit().await;
        for i in 0..5 {
            app.post("/v1/skills", &admin, json!({ "name": format!("Skill {i}") })).await;
        }
        app.seal_audit().await;
        let report = verify_log(&app.state.store, None).await.unwrap();
        assert_eq!(report.failure, None, "{report:?}");
        assert!(report.entries_checked >= 20 && report.tree_heads_checked >= 2, "{report:?}");
        let mut c = conn(&app).await;

        // 1. An entry's content is modified.
        let row = sqlx::query("SELECT body FROM aud_entry WHERE leaf_index = 5").fetch_one(&mut c).await.unwrap();
        let body: String = row.try_get("body").unwrap();
        let forged = body.replace("\"success\"", "\"denied\"");
        assert_ne!(forged, body);
        sqlx::query("UPDATE aud_entry SET body = $1 WHERE leaf_index = 5").bind(forged).execute(&mut c).await.unwrap();
        assert_eq!(failure_at(&app).await, Some(5));
        sqlx::query("UPDATE aud_entry SET body = $1 WHERE leaf_index = 5").bind(body).execute(&mut c).await.unwrap();
        assert_eq!(failure_at(&app).await, None);

        // 2. An indexed column is changed without touching the body.
        exec(&mut c, "UPDATE aud_entry SET action = 'nothing.happened' WHERE leaf_index = 8".into()).await;
        assert_eq!(failure_at(&app).await, Some(8));
        let row = sqlx::query("SELECT body FROM aud_entry WHERE leaf_index = 8").fetch_one(&mut c).await.unwrap();
        let body: Value = serde_json::from_str(&row.try_get::<String, _>("body").unwrap()).unwrap();
        sqlx::query("UPDATE aud_entry SET action = $1 WHERE leaf_index = 8")
            .bind(body["action"].as_str().unwrap().to_owned())
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(failure_at(&app).await, None);

        // 3. An entry is deleted.
        let row = sqlx::query(
            "SELECT seq, tenant_id, action, created_at, body, leaf_hash FROM aud_entry WHERE leaf_index = 7",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        exec(&mut c, "DELETE FROM aud_entry WHERE leaf_index = 7".into()).await;
        assert_eq!(failure_at(&app).await, Some(7));
        sqlx::query("INSERT INTO aud_entry (seq, tenant_id, action, created_at, body, leaf_index, leaf_hash) VALUES ($1, $2, $3, $4, $5, 7, $6)")
            .bind(row.try_get::<i64, _>("seq").unwrap())
            .bind(row.try_get::<Option<String>, _>("tenant_id").unwrap())
            .bind(row.try_get::<String, _>("action").unwrap())
            .bind(row.try_get::<i64, _>("created_at").unwrap())
            .bind(row.try_get::<String, _>("body").unwrap())
            .bind(row.try_get::<Vec<u8>, _>("leaf_hash").unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(failure_at(&app).await, None);

        // 4. Two entries are swapped.
        exec(&mut c, "UPDATE aud_entry SET leaf_index = -1 WHERE leaf_index = 3".into()).await;
        exec(&mut c, "UPDATE aud_entry SET leaf_index = 3 WHERE leaf_index = 9".into()).await;
        exec(&mut c, "UPDATE aud_entry SET leaf_index = 9 WHERE leaf_index = -1".into()).await;
        assert_eq!(failure_at(&app).await, Some(3));
        exec(&mut c, "UPDATE aud_entry SET leaf_index = -1 WHERE leaf_index = 3".into()).await;
        exec(&mut c, "UPDATE aud_entry SET leaf_index = 3 WHERE leaf_index = 9".into()).await;
        exec(&mut c, "UPDATE aud_entry SET leaf_index = 9 WHERE leaf_index = -1".into()).await;
        assert_eq!(failure_at(&app).await, None);

        // 5. The last entries are cut off: the signed tree head still covers them.
        let size: i64 = sqlx::query("SELECT MAX(tree_size) AS n FROM aud_tree_head")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        exec(&mut c, format!("DELETE FROM aud_entry WHERE leaf_index = {}", size - 1)).await;
        assert_eq!(failure_at(&app).await, Some(size - 1));
        drop(c);
        app.cleanup().await;
    }
}

fn h(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hs(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

#[tokio::test]
async fn proofs_verify_and_fail_for_each_rfc9162_case() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        // Verifying the log (tree heads, proofs) is the auditor's: whoever writes is not their own auditor.
        let officer = app.user(&admin, "sec", "security officer passphrase", json!({})).await;
        app.grant(&admin, &officer, "auditor", json!({ "kind": "tenant" })).await;
        app.clock.advance_ms(30_000);
        let sec = app.login_privileged(Some("acme"), "sec", "security officer passphrase").await;
        for i in 0..6 {
            app.post("/v1/teams", &admin, json!({ "name": format!("T{i}") })).await;
        }
        app.seal_audit().await;
        let (_, first_head) = app.get("/v1/audit/tree-head", &sec).await;
        for i in 0..9 {
            app.post("/v1/skills", &admin, json!({ "name": format!("S{i}") })).await;
        }
        app.clock.advance_ms(1_000);
        app.seal_audit().await;
        let (s, head) = app.get("/v1/audit/tree-head", &sec).await;
        assert_eq!(s, StatusCode::OK, "{head}");
        let size = head["tree_size"].as_u64().unwrap();
        let root = h(&head["root_hash"]);
        // A tenant's head is of its own tree (its entries only), signed in the tenant domain with
        // the published key.
        let tenant: uuid::Uuid = head["tenant"].as_str().unwrap().parse().unwrap();
        let th = callvault_crypto::sth::TenantTreeHead {
            tenant: *tenant.as_bytes(),
            tree_size: size,
            timestamp_ms: app.clock_ms_of(&head["timestamp"]),
            root,
        };
        let pk = hex::decode(head["public_key"].as_str().unwrap()).unwrap();
        let sig = hex::decode(head["signature"].as_str().unwrap()).unwrap();
        callvault_crypto::sth::verify_tenant_tree_head(&pk, &th, &sig).unwrap();
        // Another tenant's activity changes nothing in it.
        let (_, other) = app.tenant(&op, "other").await;
        for i in 0..5 {
            app.post("/v1/teams", &other, json!({ "name": format!("O{i}") })).await;
        }
        app.clock.advance_ms(1_000);
        app.seal_audit().await;
        let (_, again) = app.get("/v1/audit/tree-head", &sec).await;
        assert_eq!((&again["tree_size"], &again["root_hash"]), (&head["tree_size"], &head["root_hash"]), "{again}");

        // Inclusion of one of this tenant's entries.
        let (_, entries) = app.get("/v1/audit/entries?limit=1000", &sec).await;
        let idx =
            entries.as_array().unwrap().iter().map(|e| e["leaf_index"].as_u64().unwrap()).rfind(|i| *i < size).unwrap();
        let (s, p) = app.get(&format!("/v1/audit/proofs/inclusion?leaf_index={idx}"), &sec).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let leaf = h(&p["leaf_hash"]);
        let path = hs(&p["audit_path"]);
        merkle::verify_inclusion(idx, size, &leaf, &path, &root).unwrap();
        // The leaf is bound to the entry's body, which the tenant can recompute.
        let body = entries.as_array().unwrap().iter().find(|e| e["leaf_index"] == idx).unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(leaf, callvault_crypto::sth::tenant_leaf(&body), "{body}");
        let mut wrong = root;
        wrong[0] ^= 1;
        assert_eq!(merkle::verify_inclusion(idx, size, &leaf, &path, &wrong), Err(ProofError::RootMismatch));
        assert_eq!(merkle::verify_inclusion(size, size, &leaf, &path, &root), Err(ProofError::IndexBeyondSize));
        let mut longer = path.clone();
        longer.push(root);
        assert_eq!(merkle::verify_inclusion(idx, size, &leaf, &longer, &root), Err(ProofError::WrongProofSize));
        assert_eq!(
            merkle::verify_inclusion(idx, size, &leaf, &path[..path.len() - 1], &root),
            Err(ProofError::WrongProofSize)
        );
        let (s, _) = app.get(&format!("/v1/audit/proofs/inclusion?leaf_index={size}"), &sec).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "index beyond the tree size is refused by the API too");

        // Consistency between the two signed tree heads.
        let first = first_head["tree_size"].as_u64().unwrap();
        let (s, c) = app.get(&format!("/v1/audit/proofs/consistency?first={first}&second={size}"), &sec).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        let proof = hs(&c["proof"]);
        let r1 = h(&c["first_root"]);
        assert_eq!(r1, h(&first_head["root_hash"]));
        merkle::verify_consistency(first, size, &r1, &root, &proof).unwrap();
        assert_eq!(merkle::verify_consistency(first, size, &r1, &wrong, &proof), Err(ProofError::RootMismatch));
        assert_eq!(merkle::verify_consistency(size, first, &root, &r1, &proof), Err(ProofError::NewerTreeSmaller));
        let mut longer = proof.clone();
        longer.push(r1);
        assert_eq!(merkle::verify_consistency(first, size, &r1, &root, &longer), Err(ProofError::WrongProofSize));
        let (s, _) = app.get(&format!("/v1/audit/proofs/consistency?first={size}&second={first}"), &sec).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a newer tree smaller than the older is refused");

        // Indexes count this tenant's entries only (entry 0 is its first); tenant admins hold no
        // verify privilege.
        let (s, p0) = app.get("/v1/audit/proofs/inclusion?leaf_index=0", &sec).await;
        assert_eq!(s, StatusCode::OK, "{p0}");
        let (s, _) = app.get("/v1/audit/tree-head", &admin).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The export is JSON lines of this tenant only.
        let (s, headers, bytes) = app.raw("GET", "/v1/audit/export", Some(&sec), None, "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/x-ndjson");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.lines().count() >= 15);
        assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
        app.cleanup().await;
    }
}

trait ClockOf {
    fn clock_ms_of(&self, v: &Value) -> i64;
}

impl ClockOf for TestApp {
    fn clock_ms_of(&self, v: &Value) -> i64 {
        v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }
}
