//! Retention through the API and the purge with an injected clock: the provider's bounds, the
//! longest applicable policy winning, expired objects crypto-shredded (row with its wrapped key
//! deleted in the audited transaction, blob file removed after) and expired interactions
//! deleted, while what is still within its retention stays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_store::prelude::*;
use common::encrypted::setup;
use common::{TestApp, backends};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn upload(app: &TestApp, token: &str, query: &str) -> Value {
    // A recording: over 64 KiB, so it is a blob file (smaller content is kept in its row).
    let data = vec![1u8; 70_000];
    let path = format!("/v1/objects?class=voice&size={}{query}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data), "audio/wav").await;
    assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn expired_data_is_purged_and_the_longest_policy_wins() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let (st, sales) = app.post("/v1/services", &s.admin, json!({ "name": "Sales", "kind": "inbound" })).await;
        assert_eq!(st, StatusCode::CREATED, "{sales}");
        let sales = sales["id"].as_str().unwrap().to_owned();

        // The provider's bounds (1 to 3650 days by default), no retention for user master data,
        // one policy per category and scope, and only for those who manage the tenant's settings.
        for (body, status) in [
            (json!({ "category": "recordings", "days": 3651 }), 422),
            (json!({ "category": "recordings", "days": 0 }), 422),
            (json!({ "category": "user_master", "days": 30 }), 422),
            (json!({ "category": "recordings", "days": 30 }), 201),
            (json!({ "category": "recordings", "days": 45 }), 409),
            (json!({ "category": "recordings", "service_id": sales, "days": 90 }), 201),
            (json!({ "category": "contact_records", "days": 60 }), 201),
        ] {
            let (st, v) = app.post("/v1/retention-policies", &s.admin, body.clone()).await;
            assert_eq!(st.as_u16(), status, "{body}: {v}");
        }
        let (st, _) =
            app.post("/v1/retention-policies", &s.recorder, json!({ "category": "recordings", "days": 5 })).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (_, listed) = app.get("/v1/retention-policies", &s.admin).await;
        assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");

        // A recording of no service (30 days), one of Sales (90: the longest wins), an interaction (60).
        let plain = upload(&app, &s.recorder, "").await;
        let sold = upload(&app, &s.recorder, &format!("&service={sales}")).await;
        let (st, interaction) = app
            .post(
                "/v1/interactions",
                &s.recorder,
                json!({ "channel": "voice", "direction": "inbound", "external_ref": "call-9" }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{interaction}");
        // A recording of that interaction follows its 60 days, longer than the recordings' 30.
        let follows = upload(&app, &s.recorder, "&interaction=call-9").await;
        let blob = {
            let id = plain["id"].as_str().unwrap().parse().unwrap();
            let o = app.state.store.reader().await.unwrap().object(s.tenant, id).await.unwrap();
            app.state.vault.blobs.local_path(s.tenant, &o.blob).unwrap()
        };
        assert!(blob.exists());
        let purge = || async { callvault_core::retention::purge_once(&app.state).await.unwrap() };
        // Sessions expire over these months: the store tells what is left.
        let tenant = s.tenant;
        let object_left = |v: &Value| {
            let id: callvault_model::ObjectId = v["id"].as_str().unwrap().parse().unwrap();
            let app = &app;
            async move { app.state.store.reader().await.unwrap().object(tenant, id).await.is_ok() }
        };
        let interaction_id: callvault_model::InteractionId = interaction["id"].as_str().unwrap().parse().unwrap();
        let interaction_left =
            || async { app.state.store.reader().await.unwrap().interaction(tenant, interaction_id).await.is_ok() };

        // Day 29: nothing has expired.
        app.clock.advance_ms(29 * DAY);
        assert_eq!(purge().await.objects, 0);
        // Day 31: the recording of no service is gone, key and blob; the others stay.
        app.clock.advance_ms(2 * DAY);
        let r = purge().await;
        assert_eq!((r.objects, r.blobs_removed, r.interactions), (1, 1, 0), "{r:?}");
        assert!(!object_left(&plain).await, "expired: purged");
        assert!(!blob.exists(), "the blob file is removed after the commit");
        assert!(object_left(&sold).await, "Sales keeps 90 days");
        assert!(object_left(&follows).await, "the interaction's 60 days");
        assert!(interaction_left().await);
        // Its routes say it was erased (410 `erased`), not that it never existed.
        let recorder =
            app.login(Some("acme"), "rec", common::encrypted::PW, None).await["token"].as_str().unwrap().to_owned();
        let plain_path = format!("/v1/objects/{}", plain["id"].as_str().unwrap());
        for path in [plain_path.clone(), format!("{plain_path}/content")] {
            let (st, v) = app.get(&path, &recorder).await;
            assert_eq!(st, StatusCode::GONE, "{path}: {v}");
            assert_eq!(v["type"], "urn:callvault:problem:erased", "{v}");
            assert!(v["detail"].as_str().unwrap().contains("retention"), "{v}");
        }
        let (st, _) = app.get(&format!("/v1/objects/{}", uuid::Uuid::now_v7()), &recorder).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "never stored: 404");
        let audit = app.audit_bodies().await;
        let purged = audit.iter().find(|e| e["action"] == "object.purged").expect("the purge is audited");
        assert_eq!(purged["targets"][0]["id"], plain["id"], "{purged}");
        // Day 61: the interaction; day 91: the Sales recording.
        app.clock.advance_ms(30 * DAY);
        let r = purge().await;
        assert_eq!((r.objects, r.interactions), (1, 1), "{r:?}");
        assert!(!interaction_left().await);
        assert!(!object_left(&follows).await, "gone with its interaction's retention");
        let recorder =
            app.login(Some("acme"), "rec", common::encrypted::PW, None).await["token"].as_str().unwrap().to_owned();
        let (st, v) = app.get(&format!("/v1/interactions/{interaction_id}"), &recorder).await;
        assert_eq!((st, &v["type"]), (StatusCode::GONE, &json!("urn:callvault:problem:erased")), "{v}");
        assert!(object_left(&sold).await);
        app.clock.advance_ms(30 * DAY);
        assert_eq!(purge().await.objects, 1);
        assert!(!object_left(&sold).await);
        assert_eq!(purge().await.objects, 0, "a purge finds nothing twice");
        // Each purge left its run with counts; a run the process stopped in is resumed, its
        // counts going on.
        let runs = app.state.store.reader().await.unwrap().purge_runs(tenant, 20).await.unwrap();
        assert_eq!(runs.len(), 5, "{runs:?}");
        assert!(runs.iter().all(|r| r.finished_at.is_some() && r.resumed == 0), "{runs:?}");
        assert_eq!(runs.iter().map(|r| r.objects).sum::<u64>(), 3);
        assert_eq!(runs.iter().map(|r| r.interactions).sum::<u64>(), 1);
        let stopped = callvault_model::personal::PurgeRun { finished_at: None, objects: 7, ..runs[0].clone() };
        let mut tx = app.state.store.begin().await.unwrap();
        tx.save_purge_run(&stopped).await.unwrap();
        tx.commit().await.unwrap();
        purge().await;
        let runs = app.state.store.reader().await.unwrap().purge_runs(tenant, 20).await.unwrap();
        assert_eq!(runs.len(), 5, "resumed, not a new run: {runs:?}");
        let resumed = runs.iter().find(|r| r.id == stopped.id).unwrap();
        assert_eq!((resumed.resumed, resumed.objects, resumed.finished_at.is_some()), (1, 7, true), "{resumed:?}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_legal_hold_keeps_what_it_covers_until_released() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        for category in ["recordings", "contact_records"] {
            let (st, v) =
                app.post("/v1/retention-policies", &s.admin, json!({ "category": category, "days": 30 })).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        let (st, case) = app
            .post(
                "/v1/interactions",
                &s.recorder,
                json!({ "channel": "voice", "direction": "inbound", "external_ref": "case-1" }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{case}");
        let evidence = upload(&app, &s.recorder, "&interaction=case-1").await;
        let other = upload(&app, &s.recorder, "").await;
        let dpo_id = app.user(&s.admin, "dpo", common::encrypted::PW, json!({})).await;
        app.grant(&s.admin, &dpo_id, "data_protection_officer", json!({ "kind": "tenant" })).await;
        app.clock.advance_ms(30_000);
        let dpo = app.login_privileged(Some("acme"), "dpo", common::encrypted::PW).await;

        // Only a data protection officer places a hold; it needs a name, a reason and a real scope.
        let hold = json!({ "name": "Case 2026-117", "reason": "pending claim", "scope": { "kind": "interaction", "id": case["id"] } });
        let (st, _) = app.post("/v1/legal-holds", &s.recorder, hold.clone()).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, v) = app
            .post(
                "/v1/legal-holds",
                &dpo,
                json!({ "name": " ", "reason": "x", "scope": { "kind": "interaction", "id": case["id"] } }),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, v) = app
            .post(
                "/v1/legal-holds",
                &dpo,
                json!({ "name": "x", "reason": "x", "scope": { "kind": "service", "id": uuid::Uuid::now_v7() } }),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, placed) = app.post("/v1/legal-holds", &dpo, hold).await;
        assert_eq!(st, StatusCode::CREATED, "{placed}");
        assert!(app.audit_bodies().await.iter().any(|e| e["action"] == "legal_hold.place"));

        // Past its retention, the held interaction and the recording of its reference stay.
        app.clock.advance_ms(31 * DAY);
        let r = callvault_core::retention::purge_once(&app.state).await.unwrap();
        assert_eq!((r.objects, r.interactions, r.held), (1, 0, 2), "{r:?}");
        let left = |id: &Value| {
            let id: callvault_model::ObjectId = id["id"].as_str().unwrap().parse().unwrap();
            let app = &app;
            let tenant = s.tenant;
            async move { app.state.store.reader().await.unwrap().object(tenant, id).await.is_ok() }
        };
        assert!(left(&evidence).await && !left(&other).await);

        // Released, they follow their retention again.
        let dpo = app.login_totp(Some("acme"), "dpo", common::encrypted::PW).await;
        let path = format!("/v1/legal-holds/{}/release", placed["id"].as_str().unwrap());
        let (st, v) = app.post(&path, &dpo, json!({})).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
        let (st, _) = app.post(&path, &dpo, json!({})).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "released once");
        let (_, holds) = app.get("/v1/legal-holds", &dpo).await;
        assert!(holds[0]["released_at"].is_string(), "{holds}");
        let r = callvault_core::retention::purge_once(&app.state).await.unwrap();
        assert_eq!((r.objects, r.interactions, r.held), (1, 1, 0), "{r:?}");
        assert!(!left(&evidence).await);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_deleted_users_name_stays_only_while_content_names_them() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let (st, v) =
            app.post("/v1/retention-policies", &s.admin, json!({ "category": "recordings", "days": 30 })).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let agent = app.user(&s.admin, "leaver", common::encrypted::PW, json!({})).await;
        let kept = upload(&app, &s.recorder, &format!("&agents={agent}")).await;
        let (st, _) = app.request("DELETE", &format!("/v1/users/{agent}"), Some(&s.admin), None).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        // Master data and its relations are gone at once; the name alone stays for the recording.
        sqlx::any::install_default_drivers();
        let count = |sql: &'static str| {
            let (url, agent) = (app.db.url.clone(), agent.clone());
            async move {
                use sqlx::{Connection, Row};
                let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
                let n: i64 = sqlx::query(sql).bind(agent).fetch_one(&mut c).await.unwrap().try_get("n").unwrap();
                c.close().await.unwrap();
                n
            }
        };
        assert_eq!(count("SELECT COUNT(*) AS n FROM cfg_user WHERE id = $1").await, 0);
        assert_eq!(count("SELECT COUNT(*) AS n FROM dir_address WHERE user_id = $1").await, 0);
        assert_eq!(count("SELECT COUNT(*) AS n FROM op_user_tombstone WHERE user_id = $1").await, 1);
        let purge = || async { callvault_core::retention::purge_once(&app.state).await.unwrap() };
        assert_eq!(purge().await.user_tombstones, 0, "the recording still names the user");
        // Day 31: the recording is purged, and with it the last trace of the name.
        app.clock.advance_ms(31 * DAY);
        let r = purge().await;
        assert_eq!((r.objects, r.user_tombstones), (1, 1), "{r:?}");
        assert_eq!(count("SELECT COUNT(*) AS n FROM op_user_tombstone WHERE user_id = $1").await, 0);
        assert!(kept["id"].is_string());
        assert!(app.audit_bodies().await.iter().any(|e| e["action"] == "user.tombstone_removed"));
        app.cleanup().await;
    }
}
