//! Interactions and data subjects through the API: customer identifiers stored only sealed with
//! a blind index, identifiers seen together linked into one subject (merging subjects found
//! apart), and a data protection officer finding the subject by any of its identifiers in any
//! common form, with its interactions and stored objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::encrypted::{PW, ceremony, setup};
use common::{TestApp, backends};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};

async fn interaction(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, v) = app.post("/v1/interactions", token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

#[tokio::test]
async fn identifiers_seen_together_link_into_one_subject_found_by_any_of_them() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let phone = |v: &str| json!({ "kind": "phone", "value": v });
        let email = |v: &str| json!({ "kind": "email", "value": v });

        // Without encryption a tenant stores no customer identifiers (an interaction without
        // them is fine).
        let (st, v) = app
            .post(
                "/v1/interactions",
                &s.recorder,
                json!({ "channel": "voice", "direction": "inbound", "identifiers": [phone("+12125550147")] }),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        interaction(&app, &s.recorder, json!({ "channel": "voice", "direction": "outbound" })).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;

        // A phone alone, an e-mail alone (two subjects), then both together: one subject, the older.
        let i1 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "inbound", "external_ref": "call-1",
            "consent": "yes", "identifiers": [phone("+1 (212) 555-0147")] }),
        )
        .await;
        let i3 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "email", "direction": "inbound", "external_ref": "mail-3",
            "identifiers": [email("ana.customer@example.com")] }),
        )
        .await;
        assert_ne!(i1["subject_id"], i3["subject_id"]);
        let i2 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "chat", "direction": "inbound", "external_ref": "chat-2",
            "identifiers": [phone("2125550147"), email("Ana.Customer@Example.COM")] }),
        )
        .await;
        assert_eq!(i2["subject_id"], i1["subject_id"], "the older subject absorbs the other");
        assert_eq!(i2["identifiers"][0]["value"], "+12125550147", "stored normalised: {i2}");
        let other = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "outbound",
            "identifiers": [phone("+12125550999")] }),
        )
        .await;
        assert_ne!(other["subject_id"], i1["subject_id"]);
        let (st, i3_now) = app.get(&format!("/v1/interactions/{}", i3["id"].as_str().unwrap()), &s.recorder).await;
        assert_eq!(st, StatusCode::OK, "{i3_now}");
        assert_eq!(i3_now["subject_id"], i1["subject_id"], "merged: {i3_now}");
        assert_eq!(i3_now["identifiers"][0]["value"], "ana.customer@example.com");

        // Bad input is refused with the reason; a reference is unique in the tenant.
        for (body, status) in [
            (json!({ "channel": "voice", "direction": "inbound", "identifiers": [phone("not a number")] }), 422),
            (json!({ "channel": "voice", "direction": "inbound", "identifiers": [email("nobody")] }), 422),
            (
                json!({ "channel": "voice", "direction": "inbound", "identifiers": [{ "kind": "ip", "value": "10.0.0.300" }] }),
                422,
            ),
            (json!({ "channel": "voice", "direction": "inbound", "external_ref": "call-1" }), 409),
            (json!({ "channel": "fax", "direction": "inbound" }), 422),
        ] {
            let (st, v) = app.post("/v1/interactions", &s.recorder, body.clone()).await;
            assert_eq!(st.as_u16(), status, "{body}: {v}");
        }

        // A recording of call-1.
        let data = vec![7u8; 4096];
        let (st, _, body) = app
            .raw(
                "POST",
                &format!("/v1/objects?class=voice&size={}&interaction=call-1", data.len()),
                Some(&s.recorder),
                Some(data),
                "audio/wav",
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));

        // The data protection officer finds the subject by either identifier, in any common form.
        let dpo_id = app.user(&s.admin, "dpo", PW, json!({})).await;
        app.grant(&s.admin, &dpo_id, "data_protection_officer", json!({ "kind": "tenant" })).await;
        app.clock.advance_ms(30_000);
        let dpo = app.login_privileged(Some("acme"), "dpo", PW).await;
        let (st, found) = app.get("/v1/subjects?phone=%2B1%20212-555-0147", &dpo).await;
        assert_eq!(st, StatusCode::OK, "{found}");
        let subjects = found.as_array().unwrap();
        assert_eq!(subjects.len(), 1, "{found}");
        let subject = &subjects[0];
        assert_eq!(subject["id"], i1["subject_id"]);
        let values: Vec<&str> =
            subject["identifiers"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
        assert_eq!(values, ["ana.customer@example.com", "+12125550147"], "{subject}");
        assert_eq!(subject["interactions"].as_array().unwrap().len(), 3, "{subject}");
        assert_eq!(subject["objects"], 1, "{subject}");
        let (_, by_email) = app.get("/v1/subjects?email=ANA.customer%40example.com", &dpo).await;
        assert_eq!(by_email[0]["id"], i1["subject_id"], "{by_email}");
        let (_, nobody) = app.get("/v1/subjects?phone=%2B12125550100", &dpo).await;
        assert_eq!(nobody, json!([]));
        let (st, v) = app.get("/v1/subjects?phone=%2B12125550147&email=a%40b.c", &dpo).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, _) = app.get("/v1/subjects?phone=%2B12125550147", &s.recorder).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "searching subjects is a data protection officer's");

        // The tenant's own switchboard links nobody: two customers calling from it stay apart,
        // and it is unlinked from the subject it had joined.
        let switchboard = "+12125550100";
        let (st, v) = app
            .request(
                "PUT",
                "/v1/subject-exclusions",
                Some(&s.admin),
                Some(json!({ "identifiers": [phone("(212) 555-0100")] })),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["identifiers"][0]["value"], switchboard, "{v}");
        let (st, _) =
            app.request("PUT", "/v1/subject-exclusions", Some(&s.recorder), Some(json!({ "identifiers": [] }))).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let a = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "inbound",
            "identifiers": [phone(switchboard), email("a@example.org")] }),
        )
        .await;
        let b = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "voice", "direction": "inbound",
            "identifiers": [phone(switchboard), email("b@example.org")] }),
        )
        .await;
        assert_ne!(a["subject_id"], b["subject_id"], "not merged through the switchboard");
        let (_, nobody) = app.get("/v1/subjects?phone=%2B12125550100", &dpo).await;
        assert_eq!(nobody, json!([]), "the switchboard is nobody");
        let (_, list) = app.get("/v1/subject-exclusions", &s.admin).await;
        assert_eq!(list["identifiers"].as_array().unwrap().len(), 1, "{list}");

        // A withheld caller id is no number: the contact record is kept, it links nobody (two
        // anonymous callers with their own e-mail addresses stay two people), and nothing of it
        // is stored as an identifier.
        let mut anonymous = Vec::new();
        for (withheld, mail) in [("anonymous", "c@example.org"), ("sip:Restricted@sbc.example.net", "d@example.org")] {
            let i = interaction(
                &app,
                &s.recorder,
                json!({ "channel": "voice", "direction": "inbound", "identifiers": [phone(withheld), email(mail)] }),
            )
            .await;
            let values: Vec<&str> =
                i["identifiers"].as_array().unwrap().iter().map(|x| x["value"].as_str().unwrap()).collect();
            assert_eq!(values, [mail], "{i}");
            anonymous.push(i["subject_id"].clone());
        }
        assert_ne!(anonymous[0], anonymous[1], "not merged through a withheld number");
        let body = json!({ "channel": "voice", "direction": "inbound", "identifiers": [phone("not a number")] });
        let (st, v) = app.post("/v1/interactions", &s.recorder, body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "a malformed number is still refused: {v}");

        // Names are found, never linked: two people of one name stay two subjects.
        let name = |v: &str| json!({ "kind": "name", "value": v });
        let n1 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "chat", "direction": "inbound",
            "identifiers": [name("Carla  Mendes"), phone("+12125550181")] }),
        )
        .await;
        let n2 = interaction(
            &app,
            &s.recorder,
            json!({ "channel": "chat", "direction": "inbound",
            "identifiers": [name("carla mendes")] }),
        )
        .await;
        assert_ne!(n1["subject_id"], n2["subject_id"], "{n1} {n2}");
        assert!(n2["subject_id"].is_string(), "a name alone is a subject: {n2}");
        let (st, named) = app.get("/v1/subjects?name=CARLA%20MENDES", &dpo).await;
        assert_eq!(st, StatusCode::OK, "{named}");
        assert_eq!(named.as_array().unwrap().len(), 2, "{named}");

        // Stored sealed: no identifier is readable in the database, nor in the audit log.
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(&app.db.url).await.unwrap();
        for row in sqlx::query("SELECT sealed, blind FROM op_interaction_identifier").fetch_all(&mut c).await.unwrap() {
            let sealed: String = row.try_get("sealed").unwrap();
            let blind: String = row.try_get("blind").unwrap();
            for text in [sealed, blind] {
                assert!(!text.contains("2125550147") && !text.contains("ana.customer"), "{text}");
            }
        }
        c.close().await.unwrap();
        let audit = serde_json::to_string(&app.audit_bodies().await).unwrap();
        assert!(
            !audit.contains("2125550147") && !audit.contains("ana.customer"),
            "an identifier reached the audit log"
        );
        assert!(app.audit_bodies().await.iter().any(|e| e["action"] == "subject.search"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn content_under_an_unknown_reference_gets_its_interaction() {
    use callvault_store::prelude::*;
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let has_interaction = |reference: &'static str| {
            let app = &app;
            async move {
                let page =
                    app.state.store.reader().await.unwrap().interactions_page(s.tenant, None, 100).await.unwrap();
                page.into_iter().find(|i| i.external_ref.as_deref() == Some(reference))
            }
        };
        // An upload naming a reference no interaction has makes one, in the upload's transaction.
        let data = vec![5u8; 512];
        let path = format!("/v1/objects?class=chat&size={}&interaction=new-ref&consent=true", data.len());
        let (st, _, body) = app.raw("POST", &path, Some(&s.recorder), Some(data), "text/plain").await;
        assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        let made = has_interaction("new-ref").await.expect("made with the upload");
        assert_eq!((made.channel.as_str(), made.direction.as_str(), made.consent.as_str()), ("chat", "unknown", "yes"));
        // Content stored before interactions existed is adopted at start, once.
        let id = common::stored_object(&app, s.tenant, None, b"legacy").await;
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(&app.db.url).await.unwrap();
        sqlx::query("UPDATE op_object SET interaction = 'legacy-1' WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        assert!(has_interaction("legacy-1").await.is_none());
        assert_eq!(callvault_core::subjects::adopt_references(&app.state).await.unwrap(), 1);
        assert_eq!(has_interaction("legacy-1").await.expect("adopted").channel.as_str(), "voice");
        assert_eq!(callvault_core::subjects::adopt_references(&app.state).await.unwrap(), 0, "once");
        app.cleanup().await;
    }
}
