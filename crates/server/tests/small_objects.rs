//! Small content (chat and SMS transcripts, e-mails up to `small_object_max_bytes`) kept sealed
//! in its object's row and committed in groups: read back whole and by range, tampering found,
//! concurrent uploads each durable with their own audit entry while sharing commits, a failed
//! row failing only its own upload, and the one-fsync path when the setting is 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_model::ObjectId;
use callvault_store::prelude::*;
use common::encrypted::{ceremony, setup};
use common::{TestApp, backends, content, sample};
use serde_json::{Value, json};

async fn upload(app: &TestApp, token: &str, class: &str, data: &[u8]) -> (StatusCode, Value) {
    let path = format!("/v1/objects?class={class}&size={}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), "text/plain").await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn id(o: &Value) -> ObjectId {
    o["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn small_content_is_sealed_in_its_row_and_read_back() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let chat = b"agent: thank you for calling\ncustomer: my parcel did not arrive\n".repeat(16);
        let (st, small) = upload(&app, &s.recorder, "chat", &chat).await;
        assert_eq!(st, StatusCode::CREATED, "{small}");
        assert_eq!(small["key_version"], 1, "{small}");
        let recording = sample(70_000, 7);
        let (st, big) = upload(&app, &s.recorder, "voice", &recording).await;
        assert_eq!(st, StatusCode::CREATED, "{big}");

        // The chat is in its row, sealed; the recording is a blob file.
        let (name, stored) = common::stored::bytes(&app, s.tenant, id(&small)).await;
        assert!(name.ends_with(".cvi"), "{name}");
        assert!(!stored.windows(8).any(|w| w == b"customer"), "sealed in the row");
        let dir = app.state.config.data_dir.join("blobs").join(s.tenant.to_string());
        let files: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| d.map(|f| f.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert_eq!(files.len(), 1, "only the recording has a file: {files:?}");
        assert!(common::stored::bytes(&app, s.tenant, id(&big)).await.0.ends_with(".cvb"));

        // Read whole and by range, like any content.
        let small_id = small["id"].as_str().unwrap();
        let (st, body) = content(&app, &s.recorder, small_id, None).await;
        assert_eq!((st, body.as_slice()), (StatusCode::OK, chat.as_slice()));
        let (st, part) = content(&app, &s.recorder, small_id, Some("bytes=7-31")).await;
        assert_eq!((st, part.as_slice()), (StatusCode::PARTIAL_CONTENT, &chat[7..32]));

        // A damaged row is found like a damaged file: a problem, never the wrong bytes.
        common::stored::flip(&app, s.tenant, id(&small), 200).await;
        let (st, body) = content(&app, &s.recorder, small_id, None).await;
        assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "urn:callvault:problem:integrity", "{problem}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn concurrent_small_uploads_share_commits_each_durable_and_audited() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let groups_before = app.state.metrics.upload_groups.get();
        let sends = (0..200u32).map(|i| {
            let (app, token) = (&app, s.recorder.clone());
            async move {
                let text = format!("customer {i}: where is my order? ").repeat(30);
                let (st, o) = upload(app, &token, "sms", text.as_bytes()).await;
                (st, o, text)
            }
        });
        let done = futures_util::future::join_all(sends).await;
        let mut ids = Vec::new();
        for (st, o, text) in &done {
            assert_eq!(*st, StatusCode::CREATED, "{o}");
            // Answered means stored: its row and content are there now.
            let (_, body) = content(&app, &s.recorder, o["id"].as_str().unwrap(), None).await;
            assert_eq!(body, text.as_bytes());
            ids.push(o["id"].as_str().unwrap().to_owned());
        }
        let groups = app.state.metrics.upload_groups.get() - groups_before;
        assert!((1..200).contains(&groups), "200 uploads in {groups} commits: some must have shared one");
        // Each upload has its own audit entry, naming it.
        let audited: Vec<String> = app
            .audit_bodies()
            .await
            .iter()
            .filter(|e| e["action"] == "object.create")
            .map(|e| e["targets"][0]["id"].as_str().unwrap().to_owned())
            .collect();
        for id in &ids {
            assert_eq!(audited.iter().filter(|a| *a == id).count(), 1, "{id} audited once");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_row_that_fails_fails_only_its_own_upload() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let s = setup(&app).await;
    // Uploads under an interaction reference adopt an interaction; a trigger makes the
    // adoption of one reference fail, as a constraint would.
    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_bad AFTER INSERT ON op_object WHEN NEW.interaction = 'bad' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let sends = (0..40u32).map(|i| {
        let (app, token) = (&app, s.recorder.clone());
        async move {
            let reference = if i == 17 { "bad".to_owned() } else { format!("chat-{i}") };
            let path = format!("/v1/objects?class=chat&size=5&interaction={reference}");
            let (st, _, _) = app.raw("POST", &path, Some(&token), Some(b"hello".to_vec()), "text/plain").await;
            (i, st)
        }
    });
    for (i, st) in futures_util::future::join_all(sends).await {
        let want = if i == 17 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::CREATED };
        assert_eq!(st, want, "upload {i}");
    }
    let stored = app.state.store.reader().await.unwrap().blob_names(s.tenant).await.unwrap();
    assert_eq!(stored.len(), 39, "every upload but the refused one");
    app.cleanup().await;
}

#[tokio::test]
async fn with_the_setting_at_zero_every_upload_gets_a_blob_file() {
    let app = TestApp::with_config(common::Db::Sqlite, |c| c.small_object_max_bytes = 0).await;
    let s = setup(&app).await;
    let (st, o) = upload(&app, &s.recorder, "chat", b"hello").await;
    assert_eq!(st, StatusCode::CREATED, "{o}");
    let (name, bytes) = common::stored::bytes(&app, s.tenant, id(&o)).await;
    assert!(name.ends_with(".cvb"), "{name}");
    assert_eq!(&bytes[24..], b"hello", "a plain tenant's blob holds the content after its header");
    app.cleanup().await;
}

#[tokio::test]
async fn a_transcript_stays_in_its_row_until_it_outgrows_it() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let s = setup(&app).await;
    ceremony(&app, &s, "enable_encryption", json!({})).await;
    let (st, chat) =
        app.post("/v1/interactions", &s.recorder, json!({ "channel": "sms", "direction": "inbound" })).await;
    assert_eq!(st, StatusCode::CREATED, "{chat}");
    let path = format!("/v1/interactions/{}/messages", chat["id"].as_str().unwrap());
    let mut names = Vec::new();
    let mut object = None;
    for i in 0..3 {
        let text = format!("message {i} ").repeat(2_500);
        let (st, sent) = app.post(&path, &s.recorder, json!({ "from": "customer", "text": text })).await;
        assert_eq!(st, StatusCode::CREATED, "{sent}");
        let id: ObjectId = sent["object"].as_str().unwrap().parse().unwrap();
        names.push(common::stored::bytes(&app, s.tenant, id).await.0);
        object = Some(id);
    }
    // About 25 KB, 50 KB: in the row; 75 KB: a blob file, and the row's copy is gone.
    assert!(names[0].ends_with(".cvi") && names[1].ends_with(".cvi"), "{names:?}");
    assert!(names[2].ends_with(".cvb"), "{names:?}");
    let object = object.unwrap();
    let mut r = app.state.store.reader().await.unwrap();
    assert!(r.inline_blob(s.tenant, object, &names[1]).await.is_err(), "the row kept its old content");
    drop(r);
    let (st, body) = content(&app, &s.recorder, &object.to_string(), None).await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> =
        body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[2]["text"].as_str().unwrap().starts_with("message 2 "));
    app.cleanup().await;
}
