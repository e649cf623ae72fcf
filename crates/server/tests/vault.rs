//! Encryption at rest through the API: streaming upload and ranged playback, bad input, dual
//! control, the rewrap / re-encrypt / decrypt-all / encrypt-all jobs, encrypted list fields.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_model::{ObjectId, TenantId};
use callvault_store::prelude::*;
use common::encrypted::{PW, Setup, approve, ceremony, code, propose, setup};
use common::{TestApp, backends, content, content_result, run_jobs, sample, untar};
use serde_json::{Value, json};

async fn upload(app: &TestApp, token: &str, class: &str, data: &[u8], extra: &str) -> (StatusCode, Value) {
    let path = format!("/v1/objects?class={class}&size={}{extra}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), "audio/wav").await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn blob_bytes(app: &TestApp, tenant: TenantId, id: &str) -> (String, Vec<u8>) {
    common::stored::bytes(app, tenant, id.parse::<ObjectId>().unwrap()).await
}

fn contains_window(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(callvault_crypto::digest::sha256(data))
}

#[tokio::test]
async fn integrity_failures_are_refused_reported_and_found() {
    use callvault_crypto::envelope::HEADER_LEN;
    use callvault_crypto::stream::SEALED_SEGMENT_SIZE;
    let app = TestApp::new(common::Db::Sqlite).await;
    let s = setup(&app).await;
    ceremony(&app, &s, "enable_encryption", json!({})).await;
    let big = sample(200_000, 3);
    let (_, o) = upload(&app, &s.recorder, "voice", &big, "&consent=true").await;
    let big_id = o["id"].as_str().unwrap().to_owned();
    let small = sample(5_000, 4);
    let (_, o) = upload(&app, &s.recorder, "voice", &small, "&consent=true").await;
    let small_id = o["id"].as_str().unwrap().to_owned();
    let (_, o) = upload(&app, &s.recorder, "voice", &sample(1000, 5), "&consent=true").await;
    let intact = o["id"].as_str().unwrap().to_owned();
    // A damaged first segment: a problem before any byte, never a 200 with a cut-off body.
    // (5,000 bytes: kept in its row.)
    common::stored::flip(&app, s.tenant, small_id.parse().unwrap(), HEADER_LEN + 100).await;
    let (st, body) = content(&app, &s.recorder, &small_id, None).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:callvault:problem:integrity", "{problem}");
    // A damaged middle segment: the first goes out, then the transfer is aborted.
    common::stored::flip(&app, s.tenant, big_id.parse().unwrap(), HEADER_LEN + SEALED_SEGMENT_SIZE + 10).await;
    let (st, body) = content_result(&app, &s.recorder, &big_id, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.is_err(), "the body must not end as if complete");
    // A range that starts in the damaged segment fails before its status line.
    let (st, _) = content(&app, &s.recorder, &big_id, Some("bytes=70000-80000")).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    // Audited every time; the security officers told once per object.
    let failures = app.audit_bodies().await.iter().filter(|e| e["action"] == "object.integrity_failed").count();
    assert_eq!(failures, 3);
    let (_, notes) = app.get("/v1/notifications", &s.so1).await;
    let told: Vec<&Value> =
        notes.as_array().unwrap().iter().filter(|n| n["kind"] == "object_integrity_failed").collect();
    assert_eq!(told.len(), 2, "{notes}");
    // Content a browser would run is served as an opaque download.
    let page = b"<html><script>alert(1)</script></html>".to_vec();
    let path = format!("/v1/objects?class=email&size={}", page.len());
    let (st, _, body) = app.raw("POST", &path, Some(&s.recorder), Some(page), "text/html").await;
    assert_eq!(st, StatusCode::CREATED);
    let html: Value = serde_json::from_slice(&body).unwrap();
    let (_, h, _) = app
        .raw("GET", &format!("/v1/objects/{}/content", html["id"].as_str().unwrap()), Some(&s.recorder), None, "")
        .await;
    assert_eq!(h.get("content-type").unwrap(), "application/octet-stream");
    assert!(h.get("content-disposition").unwrap().to_str().unwrap().starts_with("attachment"));
    // Agents and services must be of this tenant.
    for extra in [format!("&agents={}", uuid::Uuid::new_v4()), format!("&service={}", uuid::Uuid::new_v4())] {
        let (st, e) = upload(&app, &s.recorder, "voice", &sample(100, 9), &extra).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {e}");
    }
    // Verification finds both, and only them.
    let (st, report) = app.post("/v1/objects/verify", &s.recorder, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{report}");
    let mut damaged: Vec<&str> =
        report["damaged"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    damaged.sort_unstable();
    let mut want = vec![small_id.as_str(), big_id.as_str()];
    want.sort_unstable();
    assert_eq!(damaged, want, "{report}");
    assert_eq!(report["checked"], 4, "{report}");
    let (st, report) = app.post(&format!("/v1/objects/{intact}/verify"), &s.recorder, json!({})).await;
    assert_eq!((st, &report["damaged"]), (StatusCode::OK, &json!([])), "{report}");
    app.cleanup().await;
}

#[tokio::test]
async fn upload_play_ranges_and_bad_input() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let data = sample(200_000, 1);
        let (st, o) =
            upload(&app, &s.recorder, "voice", &data, &format!("&sha256={}&consent=true", sha_hex(&data))).await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        assert_eq!(o["key_version"], 1);
        assert_eq!(o["sha256"], sha_hex(&data));
        let id = o["id"].as_str().unwrap().to_owned();
        // Encrypted content is not playable from disk — the blob is ciphertext.
        let (_, blob) = blob_bytes(&app, s.tenant, &id).await;
        assert_eq!(&blob[..5], b"CVB1\x01");
        assert!(!contains_window(&blob, &data[1000..1032]), "plaintext found on disk");
        let (st, all) = content(&app, &s.recorder, &id, None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(all, data);
        let (st, part) = content(&app, &s.recorder, &id, Some("bytes=70000-140000")).await;
        assert_eq!(st, StatusCode::PARTIAL_CONTENT);
        assert_eq!(part, &data[70000..=140000]);
        let (st, tail) = content(&app, &s.recorder, &id, Some("bytes=-10")).await;
        assert_eq!((st, tail.as_slice()), (StatusCode::PARTIAL_CONTENT, &data[data.len() - 10..]));
        let (st, body) = content(&app, &s.recorder, &id, Some("bytes=200000-")).await;
        assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(String::from_utf8_lossy(&body).contains("range-not-satisfiable"));
        let (_, h, _) = app.raw("GET", &format!("/v1/objects/{id}/content"), Some(&s.recorder), None, "").await;
        assert_eq!(h.get("content-type").unwrap(), "audio/wav", "audio plays inline with its type");
        assert!(h.get("content-disposition").is_none());
        {
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .uri(format!("/v1/objects/{id}/content"))
                .header("authorization", format!("Bearer {}", s.recorder))
                .header("range", "bytes=300000-")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.headers().get("content-range").unwrap(), "bytes */200000");
        }

        let count = |app: &TestApp| {
            let dir = app.state.config.data_dir.join("blobs").join(s.tenant.to_string());
            std::fs::read_dir(dir).map_or(0, |d| d.count())
        };
        let files = count(&app);
        // Short upload: fewer bytes than declared.
        let (st, _, body) = app
            .raw("POST", "/v1/objects?class=chat&size=1000", Some(&s.recorder), Some(vec![1; 999]), "text/plain")
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("declared 1000 bytes, received 999"));
        // Longer than declared.
        let (st, _, _) =
            app.raw("POST", "/v1/objects?class=chat&size=10", Some(&s.recorder), Some(vec![1; 11]), "text/plain").await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        // Corrupt upload: the digest does not match.
        let (st, v) = upload(&app, &s.recorder, "voice", &data[..500], &format!("&sha256={}", sha_hex(&data))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        // No declared length at all.
        let (st, _, _) =
            app.raw("POST", "/v1/objects?class=chat", Some(&s.recorder), Some(vec![1; 5]), "text/plain").await;
        assert_eq!(st, StatusCode::LENGTH_REQUIRED);
        // Unknown class, bad agents, bad time.
        for q in ["class=fax&size=1", "class=chat&size=1&agents=nope", "class=chat&size=1&recorded_at=yesterday"] {
            let (st, _, _) =
                app.raw("POST", &format!("/v1/objects?{q}"), Some(&s.recorder), Some(vec![1]), "text/plain").await;
            assert!(st == StatusCode::BAD_REQUEST || st == StatusCode::UNPROCESSABLE_ENTITY, "{q}: {st}");
        }
        assert_eq!(count(&app), files, "a refused upload left a file behind");
        let (_, list) = app.get("/v1/objects", &s.recorder).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        // An agent sees nothing of others' recordings; a security officer has no interaction rights.
        let (st, _) = app.get(&format!("/v1/objects/{id}"), &s.so1).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = content(&app, &s.so1, &id, None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // Bulk export: a tar with the manifest first, then the decrypted content.
        let (st, _, tar) = app
            .raw(
                "POST",
                "/v1/exports",
                Some(&s.recorder),
                Some(json!({ "ids": [id] }).to_string().into_bytes()),
                "application/json",
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let entries = untar(&tar);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "manifest.json");
        let manifest: Value = serde_json::from_slice(&entries[0].1).unwrap();
        assert_eq!(manifest["objects"][0]["sha256"], sha_hex(&data));
        assert_eq!(entries[1].0, format!("{id}.wav"));
        assert_eq!(entries[1].1, data);
        let (st, _, _) = app
            .raw(
                "POST",
                "/v1/exports",
                Some(&s.so1),
                Some(json!({ "ids": [id] }).to_string().into_bytes()),
                "application/json",
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "export needs interaction:export");
        // Every decrypting read was audited.
        app.seal_audit().await;
        let (_, entries) = app.get("/v1/audit/entries?limit=500", &s.so1).await;
        let reads = entries.as_array().unwrap().iter().filter(|e| e["entry"]["action"] == "object.read").count();
        assert!(reads >= 3, "{reads} object.read entries");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn dual_control_cannot_be_bypassed() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        // The proposer cannot approve their own proposal.
        let (st, c) = propose(&app, &s.so1, "sec1", "enable_encryption", json!({})).await;
        assert_eq!(st, StatusCode::CREATED, "{c}");
        let id = c["id"].as_str().unwrap().to_owned();
        let (st, e) = approve(&app, &s.so1, "sec1", &id).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
        assert_eq!(e["type"], "urn:callvault:problem:dual-control");
        // A wrong password or a wrong TOTP code does not approve.
        app.clock.advance_ms(30_000);
        let (st, _) = app
            .post(
                &format!("/v1/key-ceremonies/{id}/approve"),
                &s.so2,
                json!({ "password": "wrong password!!", "totp": code(&app, "sec2") }),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = app
            .post(&format!("/v1/key-ceremonies/{id}/approve"), &s.so2, json!({ "password": PW, "totp": "000000" }))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // The administrator is no custodian.
        let (st, _) = app
            .post(&format!("/v1/key-ceremonies/{id}/approve"), &s.admin, json!({ "password": PW, "totp": "123456" }))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // Nothing happened: no key, no settings.
        let (_, keys) = app.get("/v1/keys", &s.so1).await;
        assert_eq!(keys, json!([]));
        // Expired: 15 minutes pass.
        app.clock.advance_ms(16 * 60 * 1000);
        let (st, e) = approve(&app, &s.so2, "sec2", &id).await;
        assert_eq!(st, StatusCode::GONE, "{e}");
        let (_, c) = app.get(&format!("/v1/key-ceremonies/{id}"), &s.so1).await;
        assert_eq!(c["state"], "expired");
        // Two custodians together succeed.
        let done = ceremony(&app, &s, "enable_encryption", json!({})).await;
        assert_eq!(done["result"]["new_version"], 1);
        assert!(done["approver"]["id"].as_str().is_some(), "{done}");
        // Retiring the active version, an unknown version, bad params: clear 4xx, nothing changes.
        let (st, e) = propose(&app, &s.so1, "sec1", "retire_version", json!({ "version": 1 })).await;
        assert_eq!(st, StatusCode::CONFLICT, "{e}");
        let (st, e) = propose(&app, &s.so1, "sec1", "retire_version", json!({ "version": 9 })).await;
        assert_eq!(st, StatusCode::CONFLICT, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("does not exist"));
        let (st, _) = propose(&app, &s.so1, "sec1", "change_settings", json!({ "cryptoperiod_days": 5 })).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _) = propose(&app, &s.so1, "sec1", "new_key", json!({ "x": 1 })).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // A version still protecting an object cannot be retired.
        let (st, _) = upload(&app, &s.recorder, "sms", b"hello", "").await;
        assert_eq!(st, StatusCode::CREATED);
        ceremony(&app, &s, "new_key", json!({})).await;
        let (st, e) = propose(&app, &s.so1, "sec1", "retire_version", json!({ "version": 1 })).await;
        assert_eq!(st, StatusCode::CONFLICT, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("1 objects"), "{e}");
        let (_, keys) = app.get("/v1/keys", &s.so1).await;
        assert_eq!(keys[0]["state"], "decrypt_only");
        assert_eq!(keys[0]["objects"], 1);
        assert_eq!(keys[1]["state"], "active");
        // Cancelled proposals cannot be approved.
        let (_, c) = propose(&app, &s.so1, "sec1", "stop_encrypting", json!({})).await;
        let cid = c["id"].as_str().unwrap().to_owned();
        let (st, _) = app.post(&format!("/v1/key-ceremonies/{cid}/cancel"), &s.so2, json!({})).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = approve(&app, &s.so2, "sec2", &cid).await;
        assert_eq!(st, StatusCode::CONFLICT);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn jobs_switch_every_object_and_keep_it_readable() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        // Plain objects before encryption is enabled (a tenant with encryption off).
        let mut objects = Vec::new();
        for i in 0..6u8 {
            let data = sample(1000 + usize::from(i) * 40_000, u32::from(i));
            let (st, o) = upload(&app, &s.recorder, "screen", &data, "").await;
            assert_eq!(st, StatusCode::CREATED, "{o}");
            assert!(o["key_version"].is_null());
            objects.push((o["id"].as_str().unwrap().to_owned(), data));
        }
        let check = |expected: Option<u64>| {
            let app = &app;
            let objects = &objects;
            let s = &s;
            async move {
                for (id, data) in objects {
                    let (st, got) = content(app, &s.recorder, id, None).await;
                    assert_eq!(st, StatusCode::OK);
                    assert_eq!(&got, data);
                    let (_, o) = app.get(&format!("/v1/objects/{id}"), &s.recorder).await;
                    assert_eq!(o["key_version"].as_u64(), expected, "{o}");
                }
            }
        };
        // Enabling encryption starts an encrypt-all job for the plain objects.
        let done = ceremony(&app, &s, "enable_encryption", json!({})).await;
        assert_eq!(done["result"]["jobs"].as_array().unwrap().len(), 1, "{done}");
        run_jobs(&app).await;
        check(Some(1)).await;
        let (_, jobs) = app.get("/v1/jobs", &s.so1).await;
        assert_eq!(jobs[0]["state"], "done");
        assert_eq!(jobs[0]["objects_done"], 6);
        assert_eq!(jobs[0]["objects_total"], 6);
        // A customer's identifiers and the tenant's exclusion list, sealed under v1: the key jobs
        // move them along, and no version is retired while one still depends on it.
        let (st, i) = app
            .post(
                "/v1/interactions",
                &s.recorder,
                json!({ "channel": "voice", "direction": "inbound", "identifiers": [
                    { "kind": "phone", "value": "+12125550147" }, { "kind": "email", "value": "ana@example.com" }] }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{i}");
        let exclusions = json!({ "identifiers": [{ "kind": "phone", "value": "+12125550100" }] });
        let (st, v) = app.request("PUT", "/v1/subject-exclusions", Some(&s.admin), Some(exclusions)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let identifiers = |version: u32| {
            let app = &app;
            let s = &s;
            async move {
                let (_, keys) = app.get("/v1/keys", &s.so1).await;
                let k = keys.as_array().unwrap().iter().find(|k| k["version"] == version).cloned().unwrap();
                k["identifiers"].as_u64().unwrap()
            }
        };
        assert_eq!(identifiers(1).await, 3);
        let readable = || {
            let app = &app;
            let s = &s;
            let i = &i;
            async move {
                let (st, read) = app.get(&format!("/v1/interactions/{}", i["id"].as_str().unwrap()), &s.recorder).await;
                assert_eq!(st, StatusCode::OK, "{read}");
                assert_eq!(read["identifiers"].as_array().unwrap().len(), 2, "{read}");
                let (st, list) = app.get("/v1/subject-exclusions", &s.admin).await;
                assert_eq!((st, list["identifiers"][0]["value"].as_str()), (StatusCode::OK, Some("+12125550100")));
            }
        };
        // Rotation then rewrap: content keys move to v2, blobs untouched.
        ceremony(&app, &s, "new_key", json!({})).await;
        let before = blob_bytes(&app, s.tenant, &objects[2].0).await;
        let done = ceremony(&app, &s, "rewrap", json!({})).await;
        let job_id = done["result"]["job"].as_str().unwrap().to_owned();
        // Pause and resume.
        let (st, j) = app.post(&format!("/v1/jobs/{job_id}/pause"), &s.so1, json!({})).await;
        assert_eq!((st, j["state"].as_str()), (StatusCode::OK, Some("paused")));
        assert!(!callvault_core::vault::jobs::run_once(&app.state).await.unwrap());
        let (st, _) = app.post(&format!("/v1/jobs/{job_id}/resume"), &s.so1, json!({})).await;
        assert_eq!(st, StatusCode::OK);
        run_jobs(&app).await;
        check(Some(2)).await;
        assert_eq!(blob_bytes(&app, s.tenant, &objects[2].0).await, before, "rewrap touched the blob");
        assert_eq!((identifiers(1).await, identifiers(2).await), (0, 3));
        readable().await;
        // Version 1 protects nothing now: retire it with a ceremony.
        ceremony(&app, &s, "retire_version", json!({ "version": 1 })).await;
        // Re-encrypt (revoke): fresh content keys under v3, v2 retired at the end.
        let done = ceremony(&app, &s, "reencrypt", json!({})).await;
        assert_eq!(done["result"]["new_version"], 3);
        run_jobs(&app).await;
        check(Some(3)).await;
        assert_ne!(blob_bytes(&app, s.tenant, &objects[2].0).await.0, before.0, "re-encrypt kept the blob");
        let (_, keys) = app.get("/v1/keys", &s.so1).await;
        let states: Vec<&str> = keys.as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["retired", "retired", "active"], "{keys}");
        assert_eq!(identifiers(3).await, 3);
        readable().await;
        // Decrypt all: blobs become plain, encryption of new content stops.
        ceremony(&app, &s, "decrypt_all", json!({})).await;
        run_jobs(&app).await;
        check(None).await;
        let (_, blob) = blob_bytes(&app, s.tenant, &objects[1].0).await;
        assert_eq!(&blob[..5], b"CVB1\x00");
        assert_eq!(&blob[24..], objects[1].1.as_slice());
        let (_, status) = app.get("/v1/encryption", &s.so1).await;
        assert_eq!(status["active"], false, "{status}");
        // No orphan blob files remain.
        let dir = app.state.config.data_dir.join("blobs").join(s.tenant.to_string());
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), objects.len());
        app.cleanup().await;
    }
}

#[tokio::test]
async fn encrypted_list_fields_import_search_and_refuse_bad_files() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let fields = json!([
            { "name": "name", "required": true },
            { "name": "phone", "encrypted": true, "searchable": true, "required": true },
            { "name": "card_note", "encrypted": true }
        ]);
        let (st, list) = app
            .post("/v1/lists", &s.admin, json!({ "kind": "calling_list", "name": "Winter", "fields": fields }))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{list}");
        let lid = list["id"].as_str().unwrap().to_owned();
        let csv = "name,phone,card_note\nAda,+1 555 0100,vip\nBob,+15550101,\n";
        // Encrypted fields need encryption enabled.
        let (st, _, _) =
            app.raw("POST", &format!("/v1/lists/{lid}/import"), Some(&s.admin), Some(csv.into()), "text/csv").await;
        assert_eq!(st, StatusCode::CONFLICT);
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        // Malformed files: line-numbered errors, nothing imported.
        for (bad, line, what) in [
            ("name,phone\nAda,1\nBob,2,extra\n", 3, "expected 2 fields"),
            ("name,phone,fax\nAda,1,2\n", 1, "unknown column `fax`"),
            ("name,card_note\nAda,x\n", 1, "required column `phone`"),
            ("name,phone\nAda,1\n,2\n", 3, "field `name` is required"),
            ("name,phone\n", 2, "no records"),
        ] {
            let (st, _, body) =
                app.raw("POST", &format!("/v1/lists/{lid}/import"), Some(&s.admin), Some(bad.into()), "text/csv").await;
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
            let errors = v["details"]["errors"].as_array().unwrap();
            assert!(
                errors.iter().any(|e| e["line"] == line && e["message"].as_str().unwrap().contains(what)),
                "{bad:?}: {v}"
            );
        }
        let (_, l) = app.get(&format!("/v1/lists/{lid}"), &s.admin).await;
        assert_eq!(l["records"], 0);
        let (st, _, body) =
            app.raw("POST", &format!("/v1/lists/{lid}/import"), Some(&s.admin), Some(csv.into()), "text/csv").await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        // Search an encrypted field through its blind index (normalised: spacing, case).
        let (st, found) =
            app.get(&format!("/v1/lists/{lid}/records?field=phone&equals=%2B1%20555%200100"), &s.admin).await;
        assert_eq!(st, StatusCode::OK, "{found}");
        assert_eq!(found.as_array().unwrap().len(), 1);
        assert_eq!(found[0]["fields"]["name"], "Ada");
        assert_eq!(found[0]["fields"]["card_note"], "vip");
        let (st, _) = app.get(&format!("/v1/lists/{lid}/records?field=card_note&equals=vip"), &s.admin).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // The database holds ciphertext only.
        let mut r = app.state.store.reader().await.unwrap();
        let rows = r.records(s.tenant, lid.parse().unwrap(), None, 10).await.unwrap();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            let text = serde_json::to_string(&row.sealed).unwrap();
            assert!(!text.contains("555") && !text.contains("vip"), "{text}");
            assert!(!row.plain.contains_key("phone"));
        }
        drop(r);
        // Rotation + rewrap re-seals the fields under the new version; reading still works.
        ceremony(&app, &s, "new_key", json!({})).await;
        ceremony(&app, &s, "rewrap", json!({})).await;
        run_jobs(&app).await;
        let (_, all) = app.get(&format!("/v1/lists/{lid}/records"), &s.admin).await;
        assert!(all.as_array().unwrap().iter().all(|r| r["key_version"] == 2), "{all}");
        let (_, keys) = app.get("/v1/keys", &s.so1).await;
        assert_eq!(keys[0]["records"], 0, "{keys}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn expiry_reminder_by_notification_email_and_signed_webhook() {
    let Some(smtp) = common::SmtpServer::start() else { return };
    let (hook_url, received) = common::webhook_receiver().await;
    let app = TestApp::with_config(common::Db::Sqlite, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
        c.notification_emails = vec!["key-custodians@acme.example".into()];
    })
    .await;
    let s = setup(&app).await;
    let (st, hook) =
        app.post("/v1/webhooks", &s.admin, json!({ "url": hook_url, "events": ["key.expiry_reminder"] })).await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (st, _) = app.post("/v1/webhooks", &s.admin, json!({ "url": "http://example.com/x" })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "plain http to a public host must be refused");
    let (st, rotated) =
        app.post("/v1/webhooks", &s.admin, json!({ "url": hook_url, "events": ["key.auto_rotated"] })).await;
    assert_eq!(st, StatusCode::CREATED, "{rotated}");
    ceremony(&app, &s, "enable_encryption", json!({})).await;
    let day = 24 * 3600 * 1000;
    // Day 349: nothing yet.
    app.clock.advance_ms(349 * day);
    let r = callvault_core::vault::lifecycle::check(&app.state).await.unwrap();
    assert!(r.reminded.is_empty(), "{r:?}");
    // Day 350 = 365 - 15: the reminder goes out once, by every channel.
    app.clock.advance_ms(day);
    let r = callvault_core::vault::lifecycle::check(&app.state).await.unwrap();
    assert_eq!((r.reminded.len(), r.emails, r.webhooks), (1, 1, 1), "{r:?}");
    let r = callvault_core::vault::lifecycle::check(&app.state).await.unwrap();
    assert!(r.reminded.is_empty(), "reminded twice: {r:?}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: callvault: change the data key of acme"), "{}", mails[0]);
    assert!(mails[0].contains("To: key-custodians@acme.example"));
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 1);
    let (sig, body) = &hooks[0];
    let t: i64 = sig.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    assert_eq!(sig, &callvault_core::notify::signature(secret.as_bytes(), t, body.as_bytes()));
    assert!(body.contains("\"event\":\"key.expiry_reminder\""), "{body}");
    let so1 = app.login_totp(Some("acme"), "sec1", PW).await;
    let (_, notes) = app.get("/v1/notifications", &so1).await;
    let note = notes.as_array().unwrap().iter().find(|n| n["kind"] == "key_expiry_reminder").expect("no notification");
    assert!(note["message"].as_str().unwrap().contains("reaches its 365-day cryptoperiod"), "{note}");
    // Day 366: the key list flags the active version as expired.
    app.clock.advance_ms(16 * day);
    let so1 = app.login_totp(Some("acme"), "sec1", PW).await;
    let (_, keys) = app.get("/v1/keys", &so1).await;
    assert_eq!((keys[0]["expired"].as_bool(), keys[0]["age_days"].as_i64()), (Some(true), Some(366)), "{keys}");
    // Automatic rotation set by a ceremony rotates at the next check.
    let so2 = app.login_totp(Some("acme"), "sec2", PW).await;
    let s = Setup { so1, so2, ..s };
    ceremony(&app, &s, "change_settings", json!({ "auto_rotate_days": 90 })).await;
    let r = callvault_core::vault::lifecycle::check(&app.state).await.unwrap();
    assert_eq!((r.rotated.len(), r.webhooks), (1, 1), "{r:?}");
    let (_, keys) = app.get("/v1/keys", &s.so1).await;
    assert_eq!(keys[1]["state"], "active", "{keys}");
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 2, "each subscription got its event only: {hooks:?}");
    let (sig, body) = &hooks[1];
    let t: i64 = sig.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    let secret = rotated["secret"].as_str().unwrap();
    assert_eq!(sig, &callvault_core::notify::signature(secret.as_bytes(), t, body.as_bytes()));
    assert!(body.contains("\"event\":\"key.auto_rotated\"") && body.contains("\"new_version\":2"), "{body}");
    app.cleanup().await;
}

fn op_code(app: &TestApp, login: &str) -> String {
    let secret = app.totp_secret(None, login).unwrap();
    callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap()
}

#[tokio::test]
async fn kek_backup_needs_two_operators_and_k_minus_one_shares_restore_nothing() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let s = setup(&app).await;
    let admin = app.login_totp(None, "admin", common::ADMIN_PASSWORD).await;
    let (st, op2) =
        app.post("/v1/operators", &admin, json!({ "login": "op2", "password": "second operator passphrase" })).await;
    assert_eq!(st, StatusCode::CREATED, "{op2}");
    app.clock.advance_ms(30_000);
    let op2 = app.login_privileged(None, "op2", "second operator passphrase").await;
    // Tenant custodians cannot back up the provider's KEK; operators cannot run tenant key operations.
    let (st, _) = propose(&app, &s.so1, "sec1", "kek_backup", json!({})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    app.clock.advance_ms(30_000);
    let (st, _) = app
        .post(
            "/v1/key-ceremonies",
            &admin,
            json!({ "kind": "new_key", "password": common::ADMIN_PASSWORD, "totp": op_code(&app, "admin") }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // A 2-of-2 backup: proposed by admin, approved by op2 (admin alone cannot).
    app.clock.advance_ms(30_000);
    let (st, c) = app
        .post(
            "/v1/key-ceremonies",
            &admin,
            json!({ "kind": "kek_backup", "password": common::ADMIN_PASSWORD, "totp": op_code(&app, "admin") }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    app.clock.advance_ms(30_000);
    let (st, e) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/approve"),
            &admin,
            json!({ "password": common::ADMIN_PASSWORD, "totp": op_code(&app, "admin") }),
        )
        .await;
    assert_eq!((st, e["type"].as_str()), (StatusCode::FORBIDDEN, Some("urn:callvault:problem:dual-control")));
    // An operator that another operator just created is no approver: one operator cannot make
    // the second custodian of a provider ceremony (this approval completed before the rule).
    let (st, e) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/approve"),
            &op2,
            json!({ "password": "second operator passphrase", "totp": op_code(&app, "op2") }),
        )
        .await;
    assert_eq!((st, e["type"].as_str()), (StatusCode::FORBIDDEN, Some("urn:callvault:problem:dual-control")), "{e}");
    // The second approver from the first start approves.
    let op2 = app.operator2().await;
    let op2_password = app.admin2_password.clone();
    app.clock.advance_ms(30_000);
    let (st, done) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/approve"),
            &op2,
            json!({ "password": op2_password, "totp": op_code(&app, "admin2") }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!((done["result"]["threshold"].as_u64(), done["result"]["shares"].as_u64()), (Some(2), Some(2)), "{done}");
    // Each custodian picks up their own share once; a tenant officer has none.
    app.clock.advance_ms(30_000);
    let (st, a) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/share"),
            &admin,
            json!({ "password": common::ADMIN_PASSWORD, "totp": op_code(&app, "admin") }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let (st, b) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/share"),
            &op2,
            json!({ "password": op2_password, "totp": op_code(&app, "admin2") }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    app.clock.advance_ms(30_000);
    let (st, _) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/share"),
            &admin,
            json!({ "password": common::ADMIN_PASSWORD, "totp": op_code(&app, "admin") }),
        )
        .await;
    assert_eq!(st, StatusCode::GONE, "a share is shown once");
    let (st, _) = app
        .post(&format!("/v1/key-ceremonies/{id}/share"), &s.so1, json!({ "password": PW, "totp": code(&app, "sec1") }))
        .await;
    assert!(st == StatusCode::NOT_FOUND || st == StatusCode::FORBIDDEN, "{st}");
    let (a, b) = (a["share"].as_str().unwrap().to_owned(), b["share"].as_str().unwrap().to_owned());
    assert_ne!(a, b);
    // Both shares rebuild the KEK (the test KEK is 32 bytes of 7); one alone restores nothing.
    assert_eq!(callvault_crypto::shamir::combine(&[&a, &b]).unwrap().expose(), &[7u8; 32]);
    assert!(callvault_crypto::shamir::combine(&[&a]).is_err());
    // Shares never appear in the audit log.
    app.seal_audit().await;
    let (_, entries) = app.get("/v1/audit/entries?limit=1000", &admin).await;
    let text = entries.to_string();
    assert!(!text.contains(&a[10..40]) && !text.contains(&b[10..40]));
    assert!(text.contains("kek.share_picked_up"));
    app.cleanup().await;
}
