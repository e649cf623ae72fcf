//! Blobs on an S3-compatible server (moto): uploads stream as multipart, reads and ranges fetch
//! only what they need, only ciphertext reaches the bucket, the key jobs switch objects and
//! delete what they replace, the orphan sweep works on the bucket, and readiness follows the
//! bucket. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use std::collections::HashSet;

use axum::http::StatusCode;
use callvault_model::ObjectId;
use callvault_store::prelude::*;
use common::encrypted::{ceremony, setup};
use common::s3::S3Server;
use common::{TestApp, backends, content, run_jobs, sample};
use serde_json::{Value, json};

fn sha_hex(data: &[u8]) -> String {
    hex::encode(callvault_crypto::digest::sha256(data))
}

async fn upload(app: &TestApp, token: &str, data: &[u8]) -> Value {
    let path = format!("/v1/objects?class=voice&size={}&consent=true&sha256={}", data.len(), sha_hex(data));
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), "audio/wav").await;
    let o: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(st, StatusCode::CREATED, "{o}");
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_s3_stream_read_ranges_and_follow_the_key_jobs() {
    let Some(mut s3) = S3Server::start("callvault-blobs") else { return };
    for db in backends() {
        let prefix = format!("node-{}", uuid::Uuid::new_v4().simple());
        let app = TestApp::with_config(db, |c| s3.configure(c, &prefix)).await;
        assert!(!app.state.vault.blobs.is_local());
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        // 20 MiB + 1 byte: a multipart upload of three parts (8, 8, 4 MiB); 200 kB: one PUT.
        let big = sample(20 * 1024 * 1024 + 1, 1);
        let small = sample(200_000, 2);
        let big_o = upload(&app, &s.recorder, &big).await;
        let small_o = upload(&app, &s.recorder, &small).await;
        let (big_id, small_id) = (big_o["id"].as_str().unwrap().to_owned(), small_o["id"].as_str().unwrap().to_owned());
        let tenant_prefix = format!("{prefix}/{}/", s.tenant);
        let keys = s3.keys(&tenant_prefix);
        assert_eq!(keys.len(), 2, "{keys:?}");
        // Only ciphertext reached the bucket.
        for key in &keys {
            let stored = s3.object(key).await;
            assert_eq!(&stored[..5], b"CVB1\x01", "{key}");
            assert!(
                !stored.windows(32).any(|w| w == &big[4096..4128] || w == &small[4096..4128]),
                "plaintext in {key}"
            );
        }
        // Whole reads and ranges, one crossing a part boundary and a segment boundary.
        assert_eq!(content(&app, &s.recorder, &big_id, None).await, (StatusCode::OK, big.clone()));
        assert_eq!(content(&app, &s.recorder, &small_id, None).await, (StatusCode::OK, small.clone()));
        let at = 8 * 1024 * 1024 - 300;
        let (st, part) = content(&app, &s.recorder, &big_id, Some(&format!("bytes={at}-{}", at + 70_000))).await;
        assert_eq!((st, part.as_slice()), (StatusCode::PARTIAL_CONTENT, &big[at..=at + 70_000]));
        let (st, tail) = content(&app, &s.recorder, &big_id, Some("bytes=-10")).await;
        assert_eq!((st, tail.as_slice()), (StatusCode::PARTIAL_CONTENT, &big[big.len() - 10..]));
        let (st, part) = content(&app, &s.recorder, &small_id, Some("bytes=70000-140000")).await;
        assert_eq!((st, part.as_slice()), (StatusCode::PARTIAL_CONTENT, &small[70000..=140000]));

        // Rotation and rewrap (rows only), then re-encryption (new blobs, old ones deleted).
        ceremony(&app, &s, "new_key", json!({})).await;
        ceremony(&app, &s, "rewrap", json!({})).await;
        run_jobs(&app).await;
        assert_eq!(s3.keys(&tenant_prefix), keys, "a rewrap leaves the blobs as they are");
        ceremony(&app, &s, "reencrypt", json!({})).await;
        run_jobs(&app).await;
        let after = s3.keys(&tenant_prefix);
        assert_eq!(after.len(), 2, "the replaced blobs are deleted: {after:?}");
        assert!(after.iter().all(|k| !keys.contains(k)), "re-encryption writes new blobs");
        assert_eq!(content(&app, &s.recorder, &big_id, None).await, (StatusCode::OK, big.clone()));
        let (_, o) = app.get(&format!("/v1/objects/{small_id}"), &s.recorder).await;
        assert_eq!(o["key_version"], 3, "{o}");
        // Every object authenticates end to end (the scrub's check).
        for id in [&big_id, &small_id] {
            let o = app
                .state
                .store
                .reader()
                .await
                .unwrap()
                .object(s.tenant, id.parse::<ObjectId>().unwrap())
                .await
                .unwrap();
            callvault_core::vault::integrity::verify(&app.state, &o).await.unwrap();
        }

        // An orphan (a crash between the upload and the commit) is swept; named blobs are kept.
        let orphan = format!("{tenant_prefix}{}.0123456789ab.cvb", ObjectId::new());
        s3.put(&orphan, b"CVB1 partial").await;
        let names: HashSet<String> =
            app.state.store.reader().await.unwrap().blob_names(s.tenant).await.unwrap().into_iter().collect();
        let vault = app.state.vault.clone();
        let tenant = s.tenant;
        let removed = tokio::task::spawn_blocking(move || vault.blobs.sweep(tenant, &names, std::time::Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(s3.keys(&tenant_prefix), after);

        let (st, _, _) = app.raw("GET", "/readyz", None, None, "").await;
        assert_eq!(st, StatusCode::OK);
        app.cleanup().await;
    }
    // Readiness follows the bucket: with the S3 server gone, /readyz answers 503.
    let app = TestApp::with_config(backends()[0], |c| s3.configure(c, "gone")).await;
    s3.stop();
    let (st, body) = app.request("GET", "/readyz", None, None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("blob store"), "{body}");
    app.cleanup().await;
}
