//! Small uploads admitted from what a node remembers (the caller's session and grants, the
//! tenant's collection switches, settings and sealing key) see every change made before their
//! commit, on the node itself and on another node sharing the database: a revoked session, a
//! removed grant, collection switched off and a new key take effect at the next upload, and an
//! upload found stale at its commit is admitted again and stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_store::prelude::*;
use common::encrypted::{Setup, ceremony, setup};
use common::{Db, TestApp, backends};
use serde_json::{Value, json};

async fn upload(app: &TestApp, token: &str, text: &str) -> (StatusCode, Value) {
    let path = format!("/v1/objects?class=chat&size={}", text.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(text.as_bytes().to_vec()), "text/plain").await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The recorder's grant (the only grant of the recording team's role).
async fn recorder_grant(app: &TestApp, s: &Setup) -> (String, Value) {
    let (st, grants) = app.get("/v1/grants", &s.admin).await;
    assert_eq!(st, StatusCode::OK, "{grants}");
    let (_, roles) = app.get("/v1/roles", &s.admin).await;
    let role = roles.as_array().unwrap().iter().find(|r| r["name"] == "recording_team").unwrap()["id"].clone();
    let grant = grants.as_array().unwrap().iter().find(|g| g["role_id"] == role).unwrap().clone();
    (grant["id"].as_str().unwrap().to_owned(), grant)
}

async fn objects_created(app: &TestApp) -> usize {
    app.audit_bodies().await.iter().filter(|e| e["action"] == "object.create").count()
}

#[tokio::test]
async fn changes_take_effect_at_the_next_small_upload() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let mut created = 0;
        for i in 0..3 {
            let (st, o) = upload(&app, &s.recorder, &format!("customer {i}: hello")).await;
            assert_eq!((st, &o["key_version"]), (StatusCode::CREATED, &json!(1)), "{o}");
            created += 1;
        }
        let tenant = s.tenant;
        let generation =
            || async { app.state.store.reader().await.unwrap().tenant_generation(tenant).await.unwrap().unwrap() };
        let before = generation().await;

        // A new key version: the next upload is sealed under it, not the one remembered.
        ceremony(&app, &s, "new_key", json!({})).await;
        assert!(generation().await > before, "a new key version moves the generation on");
        let (st, o) = upload(&app, &s.recorder, "customer: after the rotation").await;
        assert_eq!((st, &o["key_version"]), (StatusCode::CREATED, &json!(2)), "{o}");
        created += 1;

        // Recordings no longer collected: refused, and collected again: stored.
        let collection = |on: bool| {
            let body = json!({ "category": "recordings", "collected": on, "confirm_purge": true });
            app.request("PUT", "/v1/personal-data/collection", Some(&s.admin), Some(body))
        };
        let (st, v) = collection(false).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, v) = upload(&app, &s.recorder, "customer: while switched off").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("does not collect recordings"), "{v}");
        assert_eq!(collection(true).await.0, StatusCode::OK);
        let (st, o) = upload(&app, &s.recorder, "customer: switched on again").await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        created += 1;

        // The grant removed: denied (and audited as a denial); granted again: allowed at once,
        // a denial is never remembered.
        let (grant_id, grant) = recorder_grant(&app, &s).await;
        let (st, _) = app.request("DELETE", &format!("/v1/grants/{grant_id}"), Some(&s.admin), None).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, v) = upload(&app, &s.recorder, "customer: without a grant").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let denials = app.audit_bodies().await.iter().filter(|e| e["action"] == "access.denied").count();
        assert!(denials >= 1, "the denial is audited");
        let body = json!({ "grantee": grant["grantee"], "role_id": grant["role_id"], "scope": { "kind": "tenant" } });
        let (st, g) = app.post("/v1/grants", &s.admin, body).await;
        assert_eq!(st, StatusCode::CREATED, "{g}");
        let (st, o) = upload(&app, &s.recorder, "customer: granted again").await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        created += 1;

        // An agent named on uploads, then deleted: refused as an agent once it is gone.
        let agent = app.user(&s.admin, "agent7", common::encrypted::PW, json!({})).await;
        let named = |text: &'static str| {
            let path = format!("/v1/objects?class=chat&size={}&agents={agent}", text.len());
            let token = s.recorder.clone();
            let app = &app;
            async move { app.raw("POST", &path, Some(&token), Some(text.as_bytes().to_vec()), "text/plain").await }
        };
        assert_eq!(named("customer: to agent 7").await.0, StatusCode::CREATED);
        created += 1;
        let (st, _) = app.request("DELETE", &format!("/v1/users/{agent}"), Some(&s.admin), None).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _, body) = named("customer: agent 7 left").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{}", String::from_utf8_lossy(&body));

        // Logged out: the token no longer works, though the node remembered it as valid.
        let (st, o) = upload(&app, &s.recorder, "customer: before the logout").await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        created += 1;
        assert_eq!(app.post("/v1/auth/logout", &s.recorder, json!({})).await.0, StatusCode::NO_CONTENT);
        let (st, v) = upload(&app, &s.recorder, "customer: after the logout").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");

        // Each upload answered 201 was stored once, with one audit entry.
        app.seal_audit().await;
        assert_eq!(objects_created(&app).await, created);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn uploads_racing_a_logout_are_stored_once_or_refused() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let (st, _) = upload(&app, &s.recorder, "customer: first").await;
        assert_eq!(st, StatusCode::CREATED);
        let sends = (0..60u32).map(|i| {
            let (app, token) = (&app, s.recorder.clone());
            async move {
                if i == 30 {
                    let st = app.post("/v1/auth/logout", &token, json!({})).await.0;
                    assert_eq!(st, StatusCode::NO_CONTENT);
                    return None;
                }
                Some(upload(app, &token, &format!("customer {i}: where is my parcel?")).await)
            }
        });
        let answers: Vec<(StatusCode, Value)> =
            futures_util::future::join_all(sends).await.into_iter().flatten().collect();
        let stored = answers.iter().filter(|(st, _)| *st == StatusCode::CREATED).count();
        for (st, v) in &answers {
            assert!([StatusCode::CREATED, StatusCode::UNAUTHORIZED].contains(st), "{st} {v}");
        }
        // After the logout committed, nothing more is stored.
        let (st, _) = upload(&app, &s.recorder, "customer: late").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        app.seal_audit().await;
        assert_eq!(objects_created(&app).await, stored + 1, "every 201 stored once, nothing else");
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_another_node_takes_effect_at_the_next_small_upload() {
    if !backends().contains(&Db::Postgres) {
        eprintln!("skipped: two nodes need PostgreSQL (set CALLVAULT_POSTGRES_TEST_URL)");
        return;
    }
    let a = TestApp::new(Db::Postgres).await;
    let s = setup(&a).await;
    let b = a.second_node("b").await;
    // Node A remembers the recorder and the tenant.
    for i in 0..3 {
        let (st, o) = upload(&a, &s.recorder, &format!("customer {i}: hello")).await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
    }
    // Node B removes the grant: node A denies.
    let (grant_id, grant) = recorder_grant(&b, &s).await;
    let (st, _) = b.request("DELETE", &format!("/v1/grants/{grant_id}"), Some(&s.admin), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = upload(&a, &s.recorder, "customer: without a grant").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let body = json!({ "grantee": grant["grantee"], "role_id": grant["role_id"], "scope": { "kind": "tenant" } });
    assert_eq!(b.post("/v1/grants", &s.admin, body).await.0, StatusCode::CREATED);
    let (st, o) = upload(&a, &s.recorder, "customer: granted again").await;
    assert_eq!(st, StatusCode::CREATED, "{o}");
    // Node B logs the recorder out: node A refuses the token.
    assert_eq!(b.post("/v1/auth/logout", &s.recorder, json!({})).await.0, StatusCode::NO_CONTENT);
    let (st, v) = upload(&a, &s.recorder, "customer: after the logout").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    a.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_recordings_off_leaves_none_of_the_uploads_racing_it() {
    for db in backends() {
        let app = std::sync::Arc::new(TestApp::new(db).await);
        let s = setup(&app).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Small uploads (admitted from memory) and large ones (admitted from the store, streamed).
        let senders: Vec<_> = (0..6u32)
            .map(|w| {
                let (app, token, stop) = (app.clone(), s.recorder.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut i = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let text = if w % 3 == 0 {
                            format!("customer {w}/{i}: a long complaint ").repeat(2_500)
                        } else {
                            format!("customer {w}/{i}: hello")
                        };
                        answers.push(upload(&app, &token, &text).await.0);
                        i += 1;
                    }
                    answers
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let body = json!({ "category": "recordings", "collected": false, "confirm_purge": true });
        let (st, v) = app.request("PUT", "/v1/personal-data/collection", Some(&s.admin), Some(body)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut created = 0;
        for sender in senders {
            for st in sender.await.unwrap() {
                assert!(
                    [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY, StatusCode::CONFLICT].contains(&st),
                    "{st}"
                );
                created += usize::from(st == StatusCode::CREATED);
            }
        }
        assert!(created > 0, "uploads were stored before the switch");
        let left = app.state.store.reader().await.unwrap().blob_names(s.tenant).await.unwrap();
        assert!(
            left.is_empty(),
            "{} recordings left after the switch-off with purge ({created} stored before)",
            left.len()
        );
        std::sync::Arc::into_inner(app).unwrap().cleanup().await;
    }
}
