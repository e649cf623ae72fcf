//! Diagnostic logging of communication events: off by default, switched on by an administrator
//! for a limited time (audited), ending by itself, and even then free of personal values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::capture::Capture;
use common::{TestApp, backends};
use serde_json::{Value, json};

/// Event log lines written so far.
fn event_lines(capture: &Capture) -> Vec<String> {
    capture.text().lines().filter(|l| l.contains("callvault::events")).map(str::to_owned).collect()
}

/// A service account with the `dialer` role (a PBX feed and a dialer); returns its token.
async fn dialer(app: &TestApp, admin: &str) -> String {
    let (_, roles) = app.get("/v1/roles", admin).await;
    let role = roles.as_array().unwrap().iter().find(|r| r["name"] == "dialer").unwrap()["id"].clone();
    let (s, sa) = app
        .post("/v1/service-accounts", admin, json!({ "name": "pbx", "role_id": role, "scope": { "kind": "tenant" } }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sa}");
    sa["token"].as_str().unwrap().to_owned()
}

const NUMBER: &str = "+12125550147";

/// A call event and a dial check, as a PBX and a dialer would send them.
async fn communicate(app: &TestApp, pbx: &str, call: &str) {
    let events = json!({ "call": call, "events": [
        { "type": "leg_added", "leg": "a", "party": { "kind": "gateway", "name": "gw-1" } },
    ]});
    let (s, v) = app.post("/v1/calls/events", pbx, events).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = app
        .post("/v1/dial-checks", pbx, json!({ "direction": "outbound_call", "number": NUMBER, "dry_run": true }))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn put(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.request("PUT", "/v1/diagnostics/event-logging", Some(token), Some(body)).await
}

#[tokio::test]
async fn event_logging_is_off_by_default_and_ends_by_itself() {
    let capture = Capture::default();
    callvault_server::logging::init_with_writer(callvault_core::config::LogFormat::Json, "info", capture.clone());
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let pbx = dialer(&app, &admin).await;
        let before = event_lines(&capture).len();

        // Off by default: communication leaves no event line.
        communicate(&app, &pbx, "diag-1").await;
        assert_eq!(event_lines(&capture).len(), before, "event logging must be off by default");
        let (s, v) = app.get("/v1/diagnostics/event-logging", &admin).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["enabled"], false);

        // Only those who may change the tenant's settings switch it, within 24 hours, with a reason.
        let (s, _) = put(&app, &pbx, json!({ "minutes": 10, "reason": "one-way audio on trunk 3" })).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        for bad in [
            json!({ "minutes": 0, "reason": "x" }),
            json!({ "minutes": 1441, "reason": "x" }),
            json!({ "minutes": 10, "reason": " " }),
        ] {
            let (s, v) = put(&app, &admin, bad.clone()).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        }

        // On for ten minutes: audited with the reason; events are logged with pseudonyms only.
        let (s, v) = put(&app, &admin, json!({ "minutes": 10, "reason": "one-way audio on trunk 3" })).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["enabled"], true);
        let audit = app.audit_bodies().await;
        let on = audit.iter().find(|e| e["action"] == "diagnostics.event_logging.on").expect("the switch is audited");
        assert_eq!(on["details"]["reason"], "one-way audio on trunk 3");
        communicate(&app, &pbx, "diag-2").await;
        let lines = event_lines(&capture);
        let new = &lines[before..];
        assert!(new.iter().any(|l| l.contains("call event applied") && l.contains("events")), "{new:?}");
        let check = new.iter().find(|l| l.contains("dial check decided")).expect("the dial check is logged");
        assert!(check.contains("number_digest"), "{check}");
        for l in new {
            assert!(!l.contains(&NUMBER[1..]) && !l.contains("5550147"), "a number reached the event log: {l}");
        }

        // Eleven minutes later it has ended by itself.
        app.clock.advance_ms(11 * 60_000);
        let (_, v) = app.get("/v1/diagnostics/event-logging", &admin).await;
        assert_eq!(v["enabled"], false, "{v}");
        assert_eq!(v["reason"], "one-way audio on trunk 3");
        let count = event_lines(&capture).len();
        communicate(&app, &pbx, "diag-3").await;
        assert_eq!(event_lines(&capture).len(), count, "event logging must end by itself");

        // Switched off early: off at once, audited.
        let (s, _) = put(&app, &admin, json!({ "minutes": 60, "reason": "again" })).await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = app.request("DELETE", "/v1/diagnostics/event-logging", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["enabled"], false);
        let count = event_lines(&capture).len();
        communicate(&app, &pbx, "diag-4").await;
        assert_eq!(event_lines(&capture).len(), count);
        assert!(app.audit_bodies().await.iter().any(|e| e["action"] == "diagnostics.event_logging.off"));

        // A restart keeps the window: switched on, restarted, still on.
        let (s, _) = put(&app, &admin, json!({ "minutes": 30, "reason": "restart check" })).await;
        assert_eq!(s, StatusCode::OK);
        let app = app.restarted().await;
        let (_, v) = app.get("/v1/diagnostics/event-logging", &admin).await;
        assert_eq!(v["enabled"], true, "{v}");
        app.cleanup().await;
    }
}
