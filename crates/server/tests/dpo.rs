//! Data protection officers' requests end to end, on SQLite and PostgreSQL: a subject with a
//! phone and an e-mail across three interactions, two recordings, a transcript, a calling-list
//! record and a do-not-call entry is found by either identifier, reported completely, exported
//! to an `age` archive, refused erasure while a legal hold covers one interaction (with the
//! hold's name) or while the identifier set is not confirmed, then erased: content answers 410
//! "erased", blobs are gone (a copy taken before cannot be read), the do-not-call opt-out still
//! blocks calls (kept as a keyed digest, also after a restart), and the erasure certificate
//! verifies offline while a tampered one does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_store::prelude::*;
use common::encrypted::{PW, ceremony, setup};
use common::{TestApp, backends, untar};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};

// 2026-11-23 (Monday) at noon in New York.
const NOON_NY: &str = "2026-11-23T17:00:00Z";
const PHONE: &str = "+12125550147";
const EMAIL: &str = "ana.customer@example.com";

fn ms(v: &Value) -> i64 {
    v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

async fn interaction(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, v) = app.post("/v1/interactions", token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn upload(app: &TestApp, token: &str, class: &str, reference: &str, data: &[u8]) -> String {
    let path = format!("/v1/objects?class={class}&size={}&interaction={reference}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), "application/octet-stream").await;
    assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn dialer(app: &TestApp, admin: &str) -> String {
    let (_, roles) = app.get("/v1/roles", admin).await;
    let role = roles.as_array().unwrap().iter().find(|r| r["name"] == "dialer").unwrap()["id"].clone();
    let (s, sa) = app
        .post(
            "/v1/service-accounts",
            admin,
            json!({ "name": "dialer", "role_id": role, "scope": { "kind": "tenant" } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sa}");
    sa["token"].as_str().unwrap().to_owned()
}

async fn do_not_call(app: &TestApp, dialer: &str) -> bool {
    let body = json!({ "direction": "outbound_call", "number": PHONE, "at": NOON_NY, "dry_run": true });
    let (s, v) = app.post("/v1/dial-checks", dialer, body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"][0]["reasons"].as_array().unwrap().iter().any(|r| r["denies"] == true && r["code"] == "do_not_call")
}

/// Decrypts an age file with Debian's `age` (it reads the passphrase from a terminal only).
fn age_decrypt(file: &std::path::Path, passphrase: &str) -> Option<Vec<u8>> {
    if std::process::Command::new("age").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CALLVAULT_REQUIRE_ALL_BACKENDS").is_none(),
            "the age command is required here (apt-get install -y age)"
        );
        eprintln!("SKIP: the `age` command is not installed; the archive is checked with the age crate only");
        return None;
    }
    let out = file.with_extension("tar");
    let script = format!(
        "import os, pty, sys, time\n\
         pid, fd = pty.fork()\n\
         if pid == 0:\n    os.execvp('age', ['age', '-d', '-o', {out:?}, {file:?}])\n\
         buf = b''\n\
         while b'assphrase' not in buf:\n    buf += os.read(fd, 1024)\n\
         os.write(fd, {passphrase:?}.encode() + b'\\n')\n\
         while True:\n    \
             try:\n        \
                 if not os.read(fd, 1024): break\n    \
             except OSError: break\n\
         _, status = os.waitpid(pid, 0)\n\
         sys.exit(os.waitstatus_to_exitcode(status))\n",
        out = out.display().to_string(),
        file = file.display().to_string(),
    );
    let status = std::process::Command::new("python3").arg("-c").arg(script).status().unwrap();
    assert!(status.success(), "age -d failed");
    Some(std::fs::read(&out).unwrap())
}

/// `callvault audit verify-certificate FILE --public-key KEY` accepts the certificate with the
/// log's key (no database, no server) and refuses it with another.
fn cli_verifies(file: &std::path::Path, key_hex: &str) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/callvault");
    if !bin.exists() {
        assert!(
            std::env::var_os("CALLVAULT_REQUIRE_ALL_BACKENDS").is_none(),
            "the callvault binary is required here: {}",
            bin.display()
        );
        eprintln!("SKIP: {} not built; the CLI's certificate check is not run", bin.display());
        return;
    }
    let run = |key: &str| {
        std::process::Command::new(&bin)
            .args(["audit", "verify-certificate"])
            .arg(file)
            .args(["--public-key", key])
            .env_clear()
            .output()
            .unwrap()
    };
    let ok = run(key_hex);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success() && text.starts_with("OK: erasure"), "{text} {}", String::from_utf8_lossy(&ok.stderr));
    let other = run(&"11".repeat(32));
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stdout).starts_with("INVALID"));
}

#[tokio::test]
async fn a_subject_is_found_reported_exported_and_erased_with_a_certificate() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let phone = |v: &str| json!({ "kind": "phone", "value": v });
        let email = |v: &str| json!({ "kind": "email", "value": v });

        // The customer asked not to be called: an internal do-not-call entry.
        let (st, dnc) =
            app.post("/v1/dnc-lists", &s.admin, json!({ "name": "customer requests", "kind": "internal" })).await;
        assert_eq!(st, StatusCode::CREATED, "{dnc}");
        let dnc = dnc["id"].as_str().unwrap().to_owned();
        let dialer = dialer(&app, &s.admin).await;
        let (st, v) =
            app.post(&format!("/v1/dnc-lists/{dnc}/numbers"), &dialer, json!({ "number": "+1 212 555 0147" })).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert!(do_not_call(&app, &dialer).await);

        // A calling list whose `phone` field holds the customer's identifier.
        let (st, list) = app
            .post(
                "/v1/lists",
                &s.admin,
                json!({ "kind": "calling_list", "name": "winback", "fields": [
                    { "name": "name", "encrypted": true },
                    { "name": "phone", "encrypted": true, "identifier": "phone" }] }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{list}");
        let list = list["id"].as_str().unwrap().to_owned();
        let (st, v) = app
            .post(
                &format!("/v1/lists/{list}/records"),
                &s.admin,
                json!({ "name": "Ana Customer", "phone": "(212) 555-0147" }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let (st, v) = app
            .post(
                "/v1/lists",
                &s.admin,
                json!({ "kind": "calling_list", "name": "plain", "fields": [
                { "name": "phone", "identifier": "phone" }] }),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "an identifier field is encrypted: {v}");

        // Three interactions (phone, e-mail, both), two recordings, a transcript; and someone else's.
        let i1 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "inbound",
            "external_ref": "call-1", "identifiers": [phone("+1 212 555 0147")] }),
        )
        .await;
        interaction(
            &app,
            &s.recorder,
            json!({ "channel": "email", "direction": "inbound",
            "external_ref": "mail-2", "identifiers": [email("Ana.Customer@example.com")] }),
        )
        .await;
        interaction(
            &app,
            &s.recorder,
            json!({ "channel": "chat", "direction": "inbound",
            "external_ref": "chat-3", "identifiers": [phone(PHONE), email(EMAIL)] }),
        )
        .await;
        let other = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "outbound",
            "external_ref": "call-x", "identifiers": [phone("+12125550999")] }),
        )
        .await;
        // Recordings go to blob files (over 64 KiB), the transcript is kept in its row.
        let secret = b"RECORDED-SECRET-WORDS ".repeat(3200);
        let rec1 = upload(&app, &s.recorder, "voice", "call-1", &secret).await;
        let rec2 = upload(&app, &s.recorder, "voice", "call-1", &secret).await;
        let transcript = upload(&app, &s.recorder, "chat", "chat-3", b"agent: hello\ncustomer: my number is ...").await;
        let kept = upload(&app, &s.recorder, "voice", "call-x", &secret).await;

        let dpo_id = app.user(&s.admin, "dpo", PW, json!({})).await;
        app.grant(&s.admin, &dpo_id, "data_protection_officer", json!({ "kind": "tenant" })).await;
        app.clock.advance_ms(30_000);
        let dpo = app.login_privileged(Some("acme"), "dpo", PW).await;

        // Found by either identifier, with everything linked to it.
        let (st, found) = app.get("/v1/subjects?phone=2125550147", &dpo).await;
        assert_eq!(st, StatusCode::OK, "{found}");
        assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
        let subject = found[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(subject, i1["subject_id"].as_str().unwrap());
        assert_eq!(found[0]["objects"], 3, "{found}");
        let (_, by_email) = app.get("/v1/subjects?email=ANA.CUSTOMER%40example.com", &dpo).await;
        assert_eq!(by_email[0]["id"], subject.as_str());

        // The report: every category with its items, retention deadlines and recording states.
        let (st, policy) =
            app.post("/v1/retention-policies", &s.admin, json!({ "category": "recordings", "days": 365 })).await;
        assert_eq!(st, StatusCode::CREATED, "{policy}");
        let (st, report) = app.get(&format!("/v1/subjects/{subject}/report"), &dpo).await;
        assert_eq!(st, StatusCode::OK, "{report}");
        let items = report["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "interaction").count(), 3, "{report}");
        assert_eq!(kinds.iter().filter(|k| **k == "voice").count(), 2, "{report}");
        assert_eq!(kinds.iter().filter(|k| **k == "chat").count(), 1, "{report}");
        assert_eq!(kinds.iter().filter(|k| **k == "calling_list_record").count(), 1, "{report}");
        assert_eq!(kinds.iter().filter(|k| **k == "do_not_call").count(), 1, "{report}");
        let voice = items.iter().find(|i| i["kind"] == "voice").unwrap();
        assert_eq!(voice["state"], "encrypted", "{voice}");
        assert!(voice["retention_until"].is_number() || voice["retention_until"].is_string(), "{voice}");
        let values: Vec<&str> =
            report["identifiers"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
        assert_eq!(values, [EMAIL, PHONE], "{report}");
        let (st, _, html) =
            app.raw("GET", &format!("/v1/subjects/{subject}/report?format=html"), Some(&dpo), None, "text/plain").await;
        assert_eq!(st, StatusCode::OK);
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("Personal data report") && html.contains(EMAIL) && !html.contains("<script"), "{html}");
        let (st, _) = app.get(&format!("/v1/subjects/{subject}/report"), &s.recorder).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "a subject's report is a data protection officer's");

        // An access request: accepted, due in 30 days, one open request per subject.
        let (st, access) = app.post("/v1/dpo-requests", &dpo, json!({ "kind": "access", "subject_id": subject })).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{access}");
        assert_eq!(access["state"], "open");
        let due = ms(&access["due_at"]) - ms(&access["created_at"]);
        assert_eq!(due, 30 * 86_400_000, "{access}");
        let (st, v) = app.post("/v1/dpo-requests", &dpo, json!({ "kind": "export", "subject_id": subject })).await;
        assert_eq!(st, StatusCode::CONFLICT, "one open request per subject: {v}");
        assert_eq!(callvault_core::dpo::run_once(&app.state).await.unwrap(), 1);
        let (_, done) = app.get(&format!("/v1/dpo-requests/{}", access["id"].as_str().unwrap()), &dpo).await;
        assert_eq!(done["state"], "completed", "{done}");
        assert_eq!(done["outcome"]["objects"], 3, "{done}");

        // An export: the report and the content, encrypted with age to the officer's passphrase.
        let (st, export) = app.post("/v1/dpo-requests", &dpo, json!({ "kind": "export", "subject_id": subject })).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{export}");
        let export_path = format!("/v1/dpo-requests/{}/archive", export["id"].as_str().unwrap());
        let (st, v) = app.post(&export_path, &dpo, json!({ "passphrase": "correct horse battery" })).await;
        assert_eq!(st, StatusCode::CONFLICT, "not completed yet: {v}");
        callvault_core::dpo::run_once(&app.state).await.unwrap();
        let (st, v) = app.post(&export_path, &dpo, json!({ "passphrase": "short" })).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let passphrase = "correct horse battery archive";
        let body = serde_json::to_vec(&json!({ "passphrase": passphrase })).unwrap();
        let (st, _, archive) = app.raw("POST", &export_path, Some(&dpo), Some(body), "application/json").await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&archive));
        assert!(archive.starts_with(b"age-encryption.org/v1\n-> scrypt "), "an age file with a scrypt stanza");
        assert!(!archive.windows(9).any(|w| w == b"RECORDED-"), "the archive is encrypted");
        let file = app.state.config.data_dir.join("export.tar.age");
        std::fs::write(&file, &archive).unwrap();
        if let Some(tar) = age_decrypt(&file, passphrase) {
            let entries = untar(&tar);
            let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names.len(), 5, "{names:?}");
            assert_eq!(&names[..2], ["report.json", "report.html"]);
            let report: Value = serde_json::from_slice(&entries[0].1).unwrap();
            assert_eq!(report["subject_id"], subject.as_str());
            assert!(entries.iter().any(|(n, c)| n.starts_with(&rec1) && *c == secret), "{names:?}");
        }

        // A legal hold on one interaction refuses the erasure, with the hold's name.
        let confirm = json!([phone(PHONE), email(EMAIL)]);
        let (st, hold) = app
            .post(
                "/v1/legal-holds",
                &dpo,
                json!({ "name": "Case 2026-17", "reason": "complaint", "scope": { "kind": "interaction", "id": i1["id"] } }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{hold}");
        let erase = json!({ "kind": "erase", "subject_id": subject, "confirm_identifiers": confirm });
        let (st, v) = app.post("/v1/dpo-requests", &dpo, erase.clone()).await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("Case 2026-17"), "{v}");
        let (st, _) =
            app.post(&format!("/v1/legal-holds/{}/release", hold["id"].as_str().unwrap()), &dpo, json!({})).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        // The identifier set must be confirmed whole.
        let (st, v) = app
            .post(
                "/v1/dpo-requests",
                &dpo,
                json!({ "kind": "erase", "subject_id": subject, "confirm_identifiers": [phone(PHONE)] }),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("2 identifier(s)"), "{v}");
        let (st, v) = app.post("/v1/dpo-requests", &s.admin, erase.clone()).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "erasure is a data protection officer's: {v}");

        // Copies of what is stored, taken before the erasure (as a backup would hold them).
        let mut copies = Vec::new();
        for id in [&rec1, &rec2, &transcript] {
            let id: callvault_model::ObjectId = id.parse().unwrap();
            let (name, bytes) = common::stored::bytes(&app, s.tenant, id).await;
            copies.push((id, name, bytes));
        }
        assert!(copies[2].1.ends_with(".cvi"), "the transcript is kept in its row");
        let (st, erasure) = app.post("/v1/dpo-requests", &dpo, erase).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{erasure}");
        let erasure_id = erasure["id"].as_str().unwrap().to_owned();
        let (st, extended) = app
            .post(&format!("/v1/dpo-requests/{erasure_id}/extend"), &dpo, json!({ "reason": "backups to check" }))
            .await;
        assert_eq!(st, StatusCode::OK, "{extended}");
        assert_eq!(ms(&extended["due_at"]) - ms(&erasure["due_at"]), 60 * 86_400_000, "{extended}");
        let (st, _) =
            app.post(&format!("/v1/dpo-requests/{erasure_id}/extend"), &dpo, json!({ "reason": "again" })).await;
        assert_eq!(st, StatusCode::CONFLICT, "extended once");
        callvault_core::dpo::run_once(&app.state).await.unwrap();
        let (_, done) = app.get(&format!("/v1/dpo-requests/{erasure_id}"), &dpo).await;
        assert_eq!(done["state"], "completed", "{done}");
        assert_eq!(
            (&done["outcome"]["objects"], &done["outcome"]["interactions"], &done["outcome"]["records"]),
            (&json!(3), &json!(3), &json!(1)),
            "{done}"
        );
        assert_eq!(done["outcome"]["dnc_entries_kept_as_digest"], 1, "{done}");

        // Content answers "erased"; the blobs are gone; a copy taken before cannot be read.
        let recorder = app.login(Some("acme"), "rec", PW, None).await["token"].as_str().unwrap().to_owned();
        for id in [&rec1, &rec2, &transcript] {
            let (st, v) = app.get(&format!("/v1/objects/{id}/content"), &recorder).await;
            assert_eq!(st, StatusCode::GONE, "{v}");
            assert_eq!(v["type"], "urn:callvault:problem:erased", "{v}");
        }
        let (st, v) = app.get(&format!("/v1/interactions/{}", i1["id"].as_str().unwrap()), &recorder).await;
        assert_eq!(st, StatusCode::GONE, "{v}");
        for (id, name, bytes) in &copies {
            assert!(!bytes.windows(9).any(|w| w == b"RECORDED-"), "the copy holds ciphertext only");
            if name.ends_with(".cvi") {
                let left = app.state.store.reader().await.unwrap().inline_blob(s.tenant, *id, name).await;
                assert!(left.is_err(), "content kept in a row is erased with it");
                continue;
            }
            let path = app.state.vault.blobs.local_path(s.tenant, name).unwrap();
            assert!(!path.exists(), "blob removed");
            std::fs::write(path, bytes).unwrap();
        }
        let (st, _) = app.get(&format!("/v1/objects/{rec1}/content"), &recorder).await;
        assert_eq!(st, StatusCode::GONE, "a restored blob without its content key is unreadable");
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(&app.db.url).await.unwrap();
        let rows = sqlx::query("SELECT COUNT(*) AS n FROM op_object WHERE id = $1")
            .bind(&rec1)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(rows.try_get::<i64, _>("n").unwrap(), 0, "no wrapped content key is left for it");
        let t = sqlx::query("SELECT request_id FROM op_tombstone WHERE id = $1")
            .bind(&rec1)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(t.try_get::<Option<String>, _>("request_id").unwrap().as_deref(), Some(erasure_id.as_str()));
        let n = sqlx::query("SELECT COUNT(*) AS n FROM cfg_dnc_number WHERE number = 12125550147")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n.try_get::<i64, _>("n").unwrap(), 0, "the number itself is not kept");
        c.close().await.unwrap();

        // The opt-out still blocks calls, kept as a keyed digest, also after a restart.
        assert!(do_not_call(&app, &dialer).await, "the do-not-call opt-out survives the erasure");
        let (_, nobody) = app.get("/v1/subjects?phone=2125550147", &dpo).await;
        assert_eq!(nobody, json!([]));
        let (st, _) = app.get(&format!("/v1/objects/{kept}"), &recorder).await;
        assert_eq!(st, StatusCode::OK, "someone else's recording stays");
        let (st, _) = app.get(&format!("/v1/interactions/{}", other["id"].as_str().unwrap()), &recorder).await;
        assert_eq!(st, StatusCode::OK);

        // The certificate verifies offline; a tampered one does not.
        let (st, v) = app.get(&format!("/v1/dpo-requests/{erasure_id}/certificate"), &dpo).await;
        assert_eq!(st, StatusCode::CONFLICT, "not yet under a signed tree head: {v}");
        app.seal_audit().await;
        let (st, cert) = app.get(&format!("/v1/dpo-requests/{erasure_id}/certificate"), &dpo).await;
        assert_eq!(st, StatusCode::OK, "{cert}");
        let cert: callvault_core::dpo::ErasureCertificate = serde_json::from_value(cert).unwrap();
        let key = app.state.auditor.public_key();
        let summary = callvault_core::dpo::verify_certificate(&cert, &key).unwrap();
        assert_eq!((summary.objects, summary.interactions), (3, 3), "{summary:?}");
        let erased = cert.entries.iter().position(|e| e.body.contains("\"object.erased\"")).unwrap();
        let mut tampered = cert.clone();
        tampered.entries[erased].body = tampered.entries[erased].body.replace(&rec1, &kept);
        assert!(callvault_core::dpo::verify_certificate(&tampered, &key).is_err(), "another object's id");
        let mut tampered = cert.clone();
        tampered.entries.retain(|e| !e.body.contains("\"dpo_request.completed\""));
        assert!(callvault_core::dpo::verify_certificate(&tampered, &key).is_err(), "no completion");
        let mut tampered = cert.clone();
        tampered.tree_head.tree_size += 1;
        assert!(callvault_core::dpo::verify_certificate(&tampered, &key).is_err(), "another tree");
        assert!(callvault_core::dpo::verify_certificate(&cert, &[7u8; 32]).is_err(), "another key");
        let file = app.state.config.data_dir.join("certificate.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&cert).unwrap()).unwrap();
        cli_verifies(&file, &hex::encode(key));

        // No identifier reached the audit log; the officers were told.
        let audit = serde_json::to_string(&app.audit_bodies().await).unwrap();
        assert!(
            !audit.contains("2125550147") && !audit.contains("ana.customer"),
            "an identifier reached the audit log"
        );
        let (_, notes) = app.get("/v1/notifications", &dpo).await;
        assert!(notes.as_array().unwrap().iter().any(|n| n["kind"] == "dpo_request.completed"), "{notes}");

        let app = app.restarted().await;
        assert!(do_not_call(&app, &dialer).await, "the digest is loaded at start");
        app.cleanup().await;
    }
}

/// A rectification, and the completion told to the officer who filed it: a notification, an
/// e-mail through a real SMTP server (aiosmtpd) and a signed `dpo_request.completed` webhook.
#[tokio::test]
async fn an_identifier_is_rectified_and_the_officer_told() {
    let Some(smtp) = common::SmtpServer::start() else { return };
    for db in backends() {
        let (hook_url, received) = common::webhook_receiver().await;
        let app = TestApp::with_config(db, |c| {
            c.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
            c.smtp_from = "callvault@acme.example.com".into();
        })
        .await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let (st, hook) =
            app.post("/v1/webhooks", &s.admin, json!({ "url": hook_url, "events": ["dpo_request.completed"] })).await;
        assert_eq!(st, StatusCode::CREATED, "{hook}");
        let secret = hook["secret"].as_str().unwrap().to_owned();
        let i = interaction(&app, &s.recorder, json!({ "channel": "email", "direction": "inbound",
            "identifiers": [{ "kind": "email", "value": "ana.custmer@example.com" }, { "kind": "phone", "value": PHONE }] }))
        .await;
        let (st, u) = app
            .post(
                "/v1/users",
                &s.admin,
                json!({ "login": "dpo", "first_name": "Dana", "last_name": "Officer", "password": PW,
                    "addresses": [{ "kind": "email", "value": "dpo@acme.example.com" }], "assignments": {} }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{u}");
        let dpo_id = u["id"].as_str().unwrap().to_owned();
        app.grant(&s.admin, &dpo_id, "data_protection_officer", json!({ "kind": "tenant" })).await;
        app.clock.advance_ms(30_000);
        let dpo = app.login_privileged(Some("acme"), "dpo", PW).await;
        let subject = i["subject_id"].as_str().unwrap();
        let fix = |value: &str, new_value: &str| {
            json!({ "kind": "rectify", "subject_id": subject,
                "rectify": { "kind": "email", "value": value, "new_value": new_value } })
        };
        let (st, v) = app.post("/v1/dpo-requests", &dpo, fix("someone@example.com", EMAIL)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "not the subject's: {v}");
        let (st, v) = app.post("/v1/dpo-requests", &dpo, fix("ana.custmer@example.com", EMAIL)).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        callvault_core::dpo::run_once(&app.state).await.unwrap();
        let (_, done) = app.get(&format!("/v1/dpo-requests/{}", v["id"].as_str().unwrap()), &dpo).await;
        assert_eq!(done["state"], "completed", "{done}");
        let (_, found) = app.get("/v1/subjects?email=ana.customer%40example.com", &dpo).await;
        assert_eq!(found[0]["id"], subject, "{found}");
        let (_, old) = app.get("/v1/subjects?email=ana.custmer%40example.com", &dpo).await;
        assert_eq!(old, json!([]));
        let (_, read) = app.get(&format!("/v1/interactions/{}", i["id"].as_str().unwrap()), &s.recorder).await;
        assert!(read["identifiers"].as_array().unwrap().iter().any(|x| x["value"] == EMAIL), "{read}");

        // The officer was told three ways; none of them names the subject's identifiers.
        let request = v["id"].as_str().unwrap();
        let (_, notes) = app.get("/v1/notifications", &dpo).await;
        assert!(notes.as_array().unwrap().iter().any(|n| n["kind"] == "dpo_request.completed"), "{notes}");
        let mail = wait_for(|| smtp.messages().into_iter().find(|m| m.contains(request))).await;
        assert!(mail.contains("To: dpo@acme.example.com"), "{mail}");
        assert!(mail.contains("Subject: callvault: data protection request completed"), "{mail}");
        let (sig, body) =
            wait_for(|| received.lock().unwrap().iter().find(|(_, b)| b.contains(request)).cloned()).await;
        let t: i64 = sig.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(sig, callvault_core::notify::signature(secret.as_bytes(), t, body.as_bytes()));
        let hook: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(hook["event"], "dpo_request.completed", "{hook}");
        for told in [&mail, &body] {
            assert!(!told.contains("custmer") && !told.contains("2125550147"), "an identifier was sent: {told}");
        }
        app.cleanup().await;
    }
}

/// Polls `f` until it returns something (deliveries run beside the request), for at most 10 s.
async fn wait_for<T>(f: impl Fn() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing arrived in 10 s");
}
