//! An erasure against content that keeps arriving, on SQLite and PostgreSQL: uploaders (small
//! content kept in rows and recordings in blob files) and a chat's message appends run under the
//! subject's references while the erasure runs. Nothing written under an erased interaction may
//! survive it: every upload and append answered 201 is erased with the rest, and whatever comes
//! after the erasure closed the references is refused 410 "erased". On SQLite, what was erased
//! leaves no copy in the database file or its write-ahead log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use std::cell::Cell;

use axum::http::StatusCode;
use common::encrypted::{PW, ceremony, setup};
use common::{Db, TestApp, backends};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};

const PHONE: &str = "+12125550147";

async fn upload(app: &TestApp, token: &str, reference: &str, data: &[u8]) -> (StatusCode, Value) {
    let class = if data.len() > 65_536 { "voice" } else { "chat" };
    let path = format!("/v1/objects?class={class}&size={}&interaction={reference}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), "application/octet-stream").await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn append(app: &TestApp, token: &str, chat: &str, text: &str) -> (StatusCode, Value) {
    app.post(&format!("/v1/interactions/{chat}/messages"), token, json!({ "from": "customer", "text": text })).await
}

/// An interaction of the customer (`PHONE`) under `reference`.
async fn interaction(app: &TestApp, token: &str, channel: &str, reference: &str) -> Value {
    let ids = json!([{ "kind": "phone", "value": PHONE }]);
    let body = json!({ "channel": channel, "direction": "inbound", "external_ref": reference, "identifiers": ids });
    let (st, v) = app.post("/v1/interactions", token, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v
}

/// A data protection officer's token and an erasure request of `subject` (the customer).
async fn request_erasure(app: &TestApp, s: &common::encrypted::Setup, subject: &str) -> (String, Value) {
    let dpo_id = app.user(&s.admin, "dpo", PW, json!({})).await;
    app.grant(&s.admin, &dpo_id, "data_protection_officer", json!({ "kind": "tenant" })).await;
    app.clock.advance_ms(30_000);
    let dpo = app.login_privileged(Some("acme"), "dpo", PW).await;
    let confirm = json!([{ "kind": "phone", "value": PHONE }]);
    let erase = json!({ "kind": "erase", "subject_id": subject, "confirm_identifiers": confirm });
    let (st, erasure) = app.post("/v1/dpo-requests", &dpo, erase).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{erasure}");
    (dpo, erasure)
}

async fn count(app: &TestApp, sql: &'static str, bind: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut c = AnyConnection::connect(&app.db.url).await.unwrap();
    let n = sqlx::query(sql).bind(bind.to_owned()).fetch_one(&mut c).await.unwrap().try_get::<i64, _>("n").unwrap();
    c.close().await.unwrap();
    n
}

/// A subject with a chat (`chat-1`) and a call (`call-1`), erased while four uploaders and an
/// appender keep writing under its references.
#[tokio::test]
async fn content_arriving_during_an_erasure_is_erased_or_refused() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let chat = interaction(&app, &s.recorder, "chat", "chat-1").await;
        let chat_id = chat["id"].as_str().unwrap().to_owned();
        let call = interaction(&app, &s.recorder, "voice", "call-1").await;
        let subject = chat["subject_id"].as_str().unwrap().to_owned();
        for i in 0..20 {
            assert_eq!(upload(&app, &s.recorder, "chat-1", format!("before {i}").as_bytes()).await.0, 201);
        }
        // Content may name its interaction by id as well as by its external reference.
        let by_id = upload(&app, &s.recorder, &chat_id, b"named by the interaction's id").await;
        assert_eq!(by_id.0, StatusCode::CREATED, "{}", by_id.1);
        // Another spelling of the id is the id.
        let (st, v) = upload(&app, &s.recorder, &chat_id.to_uppercase().replace('-', ""), b"by its id, spelt so").await;
        assert_eq!((st, v["interaction"].as_str()), (StatusCode::CREATED, Some(chat_id.as_str())), "{v}");
        assert_eq!(append(&app, &s.recorder, &chat_id, "hello").await.0, StatusCode::CREATED);

        let (dpo, erasure) = request_erasure(&app, &s, &subject).await;

        // Writers run until the erasure has finished, then each writes once more.
        let done = Cell::new(false);
        let recording = b"RECORDED-WORDS ".repeat(5_000);
        let writer = |n: usize| {
            let (done, recording, recorder, chat_id) = (&done, &recording, &s.recorder, &chat_id);
            let app = &app;
            async move {
                let (mut accepted, mut last) = (0u32, StatusCode::OK);
                for i in 0.. {
                    let finished = done.get();
                    let (st, v) = match n {
                        0 => append(app, recorder, chat_id, &format!("message {i}")).await,
                        1 => upload(app, recorder, "call-1", recording).await,
                        2 => upload(app, recorder, chat_id, format!("by id {i}").as_bytes()).await,
                        _ => upload(app, recorder, "chat-1", format!("writer {n} item {i}").as_bytes()).await,
                    };
                    if st == StatusCode::CREATED {
                        accepted += 1;
                    } else {
                        assert_eq!(st, StatusCode::GONE, "writer {n}: {v}");
                        assert_eq!(v["type"], "urn:callvault:problem:erased", "{v}");
                    }
                    last = st;
                    if finished || st == StatusCode::GONE {
                        break;
                    }
                }
                (accepted, last)
            }
        };
        let erasing = async {
            // Let the writers start first.
            tokio::task::yield_now().await;
            let ran = callvault_core::dpo::run_once(&app.state).await.unwrap();
            done.set(true);
            ran
        };
        let (ran, w0, w1, w2, w3, w4) = tokio::join!(erasing, writer(0), writer(1), writer(2), writer(3), writer(4));
        assert_eq!(ran, 1);
        let (_, outcome) = app.get(&format!("/v1/dpo-requests/{}", erasure["id"].as_str().unwrap()), &dpo).await;
        assert_eq!(outcome["state"], "completed", "{outcome}");
        for (n, (accepted, last)) in [w0, w1, w2, w3, w4].into_iter().enumerate() {
            assert_eq!(last, StatusCode::GONE, "writer {n} (accepted {accepted}) was refused in the end");
        }

        // Nothing written under the erased references is left: no row, no file, no transcript.
        for reference in ["chat-1", "call-1", chat_id.as_str()] {
            let left = count(&app, "SELECT COUNT(*) AS n FROM op_object WHERE interaction = $1", reference).await;
            assert_eq!(left, 0, "{db:?}: objects left under {reference} after {outcome}");
        }
        let transcript = callvault_core::vault::messages::transcript_id(chat_id.parse().unwrap());
        let left = count(&app, "SELECT COUNT(*) AS n FROM op_object WHERE id = $1", &transcript.to_string()).await;
        assert_eq!(left, 0, "the transcript is not re-created after its erasure");
        let files = std::fs::read_dir(app.state.config.data_dir.join("blobs").join(s.tenant.to_string()))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(files, 0, "no blob file is left");
        let stored = common::stored::all(&app, s.tenant).await;
        assert!(stored.is_empty(), "no content is left in rows: {} items", stored.len());

        // Afterwards too: the erased references and the erased interaction stay closed.
        let (st, v) = upload(&app, &s.recorder, "chat-1", b"late").await;
        assert_eq!((st, &v["type"]), (StatusCode::GONE, &json!("urn:callvault:problem:erased")), "{v}");
        let (st, v) = append(&app, &s.recorder, &chat_id, "late").await;
        assert_eq!((st, &v["type"]), (StatusCode::GONE, &json!("urn:callvault:problem:erased")), "{v}");
        let (st, v) = app.get(&format!("/v1/interactions/{}", call["id"].as_str().unwrap()), &s.recorder).await;
        assert_eq!(st, StatusCode::GONE, "{v}");
        let (st, v) = app.get(&format!("/v1/interactions/{chat_id}/recording-state"), &s.recorder).await;
        assert_eq!(st, StatusCode::GONE, "{v}");
        for spelling in [chat_id.clone(), chat_id.to_uppercase(), format!("{{{chat_id}}}")] {
            let (st, v) = upload(&app, &s.recorder, &spelling, b"late").await;
            assert_eq!(st, StatusCode::GONE, "{spelling}: {v}");
        }
        // The erased reference does not start a new interaction either.
        let again = json!({ "channel": "chat", "direction": "inbound", "external_ref": "chat-1" });
        let (st, v) = app.post("/v1/interactions", &s.recorder, again).await;
        assert_eq!((st, &v["type"]), (StatusCode::GONE, &json!("urn:callvault:problem:erased")), "{v}");
        // Another reference is not affected.
        assert_eq!(upload(&app, &s.recorder, "chat-2", b"someone else").await.0, StatusCode::CREATED);
        app.cleanup().await;
    }
}

/// On SQLite an erased row's wrapped content key and its sealed content leave no copy behind,
/// neither in the database's pages (free, or the unused part of a page a split rebuilt) nor in
/// its write-ahead log: also not the earlier versions of a transcript rewritten by forty appends
/// while others' content arrived.
#[tokio::test]
async fn an_erasure_leaves_no_copy_in_the_sqlite_files() {
    let app = TestApp::new(Db::Sqlite).await;
    let s = setup(&app).await;
    ceremony(&app, &s, "enable_encryption", json!({})).await;
    let chat = interaction(&app, &s.recorder, "chat", "chat-1").await;
    let (st, v) = upload(&app, &s.recorder, "chat-1", b"customer: my card is ...").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id: callvault_model::ObjectId = v["id"].as_str().unwrap().parse().unwrap();
    // Every version of the chat's transcript (appends rewrite its row, which grows and moves
    // between pages while others' rows arrive): its wrapped key and sealed content each time.
    let chat_id = chat["id"].as_str().unwrap().to_owned();
    let transcript = callvault_core::vault::messages::transcript_id(chat_id.parse().unwrap()).to_string();
    let mut needles: Vec<Vec<u8>> = Vec::new();
    let mut c = AnyConnection::connect(&app.db.url).await.unwrap();
    for round in 0..40 {
        let text = format!("message {round}: {}", "words of the customer ".repeat(20));
        assert_eq!(append(&app, &s.recorder, &chat_id, &text).await.0, StatusCode::CREATED);
        for i in 0..5 {
            let other = format!("another customer {round} {i} {}", "x".repeat(round * 7));
            let (st, v) = upload(&app, &s.recorder, &format!("other-{round}-{i}"), other.as_bytes()).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        for object in [transcript.clone(), id.to_string()] {
            let row = sqlx::query("SELECT wrapped_key, inline_blob FROM op_object WHERE id = $1")
                .bind(object)
                .fetch_one(&mut c)
                .await
                .unwrap();
            let wrapped: Vec<u8> = row.try_get("wrapped_key").unwrap();
            let sealed: Vec<u8> = row.try_get("inline_blob").unwrap();
            needles.push(wrapped[..32].to_vec());
            needles.push(sealed[sealed.len() - 32..].to_vec());
        }
    }
    c.close().await.unwrap();

    request_erasure(&app, &s, chat["subject_id"].as_str().unwrap()).await;
    assert_eq!(callvault_core::dpo::run_once(&app.state).await.unwrap(), 1);

    let db = app.db.url.trim_start_matches("sqlite:").split('?').next().unwrap().to_owned();
    for file in [db.clone(), format!("{db}-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let left = needles.iter().filter(|n| bytes.windows(32).any(|w| w == &n[..])).count();
        assert_eq!(left, 0, "{left} of {} erased wrapped keys and contents are still in {file}", needles.len());
    }
    app.cleanup().await;
}
