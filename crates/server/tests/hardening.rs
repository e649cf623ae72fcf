//! The HTTP surface under attack and faults: metrics, webhooks (SSRF), framework errors,
//! request ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use serde_json::json;
use tower::ServiceExt;

/// `/metrics` is provider-wide: only the scraper's token opens it on the main listener.
#[tokio::test]
async fn metrics_need_the_scrapers_token() {
    let token_file = std::env::temp_dir().join(format!("cv-metrics-{}", uuid::Uuid::new_v4()));
    std::fs::write(&token_file, "scraper-token-0123456789\n").unwrap();
    let path = token_file.clone();
    let app = TestApp::with_config(Db::Sqlite, move |c| c.metrics_token_file = Some(path)).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    for (token, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("wrong-token-0123456789"), StatusCode::UNAUTHORIZED),
        (Some(admin.as_str()), StatusCode::UNAUTHORIZED),
        (Some(op.as_str()), StatusCode::UNAUTHORIZED),
        (Some("scraper-token-0123456789"), StatusCode::OK),
    ] {
        let (s, h, body) = app.raw("GET", "/metrics", token, None, "").await;
        assert_eq!(s, want, "{token:?}");
        if s == StatusCode::OK {
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains("callvault_hep_packets_total") && !text.contains("acme"), "{text}");
        } else {
            assert_eq!(h.get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
        }
    }
    std::fs::remove_file(token_file).unwrap();
    app.cleanup().await;
}

/// Webhook URLs are checked by a URL parser and by the addresses they resolve to; a tenant
/// keeps at most `webhook_max_per_tenant`.
#[tokio::test]
async fn webhooks_refuse_internal_targets_and_are_capped() {
    let app = TestApp::with_config(Db::Sqlite, |c| {
        c.webhook_max_per_tenant = 2;
        c.webhook_test_addresses.clear();
    })
    .await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/x",
        "https://127.0.0.1:6379/",
        "http://127.0.0.1:1@2130706433/x",
        "https://[::ffff:10.0.0.1]/x",
        "https://0x7f.1/x",
        "https://localhost/x",
        "https://unknown.invalid/x",
        "http://hooks.example.com/x",
    ] {
        let (s, e) = app.post("/v1/webhooks", &admin, json!({ "url": url })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {e}");
        assert!(!e["detail"].as_str().unwrap().contains(url), "the URL is not echoed");
    }
    for n in 0..2 {
        let (s, e) = app.post("/v1/webhooks", &admin, json!({ "url": format!("https://hooks.example.com/{n}") })).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
    }
    let (s, e) = app.post("/v1/webhooks", &admin, json!({ "url": "https://hooks.example.com/3" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    app.cleanup().await;
}

/// Errors the framework answers without a handler are problems too, and a 405 says so.
#[tokio::test]
async fn framework_errors_are_problems() {
    let app = TestApp::new(Db::Sqlite).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let (s, _, body) = app.raw("PATCH", "/v1/objects", Some(&admin), None, "").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (p["title"].as_str(), p["type"].as_str()),
        (Some("Method not allowed"), Some("urn:callvault:problem:method-not-allowed"))
    );
    let (s, _, body) =
        app.raw("POST", "/v1/teams", Some(&admin), Some(b"name=x".to_vec()), "application/x-www-form-urlencoded").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", String::from_utf8_lossy(&body));
    let (s, _, _) = app.raw("GET", "/v1/users/not-a-uuid", Some(&admin), None, "").await;
    assert!(s.is_client_error());
    app.cleanup().await;
}

/// A client's request id is kept only as a short token; anything else (390 KB of it, say) is
/// replaced by a generated one before it reaches a response or the audit log.
#[tokio::test]
async fn long_request_ids_never_reach_the_audit_log() {
    let app = TestApp::new(Db::Sqlite).await;
    let long = "x".repeat(390 * 1024);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/auth/login")
        .header("content-type", "application/json")
        .header("x-request-id", &long)
        .body(axum::body::Body::from(
            json!({ "tenant": "nope", "username": "ghost", "password": "whatever it is" }).to_string(),
        ))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let echoed = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert_eq!(echoed.len(), 36, "a generated id");
    let text = serde_json::to_string(&app.audit_bodies().await).unwrap();
    assert!(!text.contains(&long[..1000]), "the long id was stored");
    assert!(text.contains(&echoed), "the failed login is audited with the generated id");
    app.cleanup().await;
}

/// A webhook receiver that answers with a redirect is not followed: the body and signature go
/// to the registered address only.
#[tokio::test]
async fn webhook_redirects_are_not_followed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::new(Db::Sqlite).await;
    let op = app.operator().await;
    let (tenant, admin) = app.tenant(&op, "acme").await;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = elsewhere.local_addr().unwrap();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = elsewhere.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook.local_addr().unwrap();
    let posted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = posted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = hook.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = s.read(&mut buf).await;
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere_addr}/stolen\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    let (s, e) = app.post("/v1/webhooks", &admin, json!({ "url": format!("http://{hook_addr}/hook") })).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let delivered = callvault_core::notify::webhooks(
        &app.state,
        tenant.parse().unwrap(),
        callvault_core::webhooks::WebhookEvent::SecurityAlert,
        &json!({ "x": 1 }),
    )
    .await;
    assert_eq!(delivered, 0, "a redirect is not a delivery");
    assert_eq!(posted.load(std::sync::atomic::Ordering::SeqCst), 1);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0, "the redirect target was never contacted");
    app.cleanup().await;
}

/// A value the API refuses is not repeated in the problem (a card number or phone number sent
/// in the wrong field would reach every client log that prints problems); an upload's
/// references may not be the customer's identifiers, its agents are distinct, its recording
/// time plausible; an invalid Range is ignored (RFC 9110 14.2), not an error.
#[tokio::test]
async fn refused_values_are_not_echoed_and_declarations_are_checked() {
    let app = TestApp::new(Db::Sqlite).await;
    let s = common::encrypted::setup(&app).await;
    let card = "4111 1111 1111 1111";
    let (st, v) = app.post("/v1/lists", &s.admin, json!({ "kind": card, "name": "x", "fields": [] })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("unknown variant"), "{v}");
    let (st, v) =
        app.post("/v1/lists", &s.admin, json!({ "kind": "calling_list", "name": 4111111111111111_u64 })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = app.get("/v1/objects?class=4111111111111111", &s.recorder).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = app.get("/v1/objects?limit=%2B1%20212%20555%200147", &s.recorder).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = app.post("/v1/lists", &s.admin, json!({ "kind": "calling_list", "+12125550147": 1 })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = app.post("/v1/lists", &s.admin, json!({ "kind": "calling_list", "nmae": "x" })).await;
    assert!(v["detail"].as_str().unwrap().contains("`nmae`"), "a misspelt field is named: {st} {v}");
    let audit = serde_json::to_string(&app.audit_bodies().await).unwrap();
    let mut problems = String::new();
    for (path, body) in [
        ("/v1/lists", json!({ "kind": card })),
        ("/v1/lists", json!({ "kind": "calling_list", "name": 4111111111111111_u64 })),
        ("/v1/lists", json!({ "kind": "calling_list", "+12125550147": 1 })),
    ] {
        problems.push_str(&app.post(path, &s.admin, body).await.1.to_string());
    }
    for path in ["/v1/objects?class=4111111111111111", "/v1/objects?limit=%2B1%20212%20555%200147"] {
        problems.push_str(&app.get(path, &s.recorder).await.1.to_string());
    }
    for value in ["4111", "2125550147"] {
        assert!(!problems.contains(value), "{value} echoed: {problems}");
        assert!(!audit.contains(value), "{value} reached the audit log");
    }

    let upload = |query: &str| {
        let path = format!("/v1/objects?class=chat&size=5&{query}");
        let token = s.recorder.clone();
        let app = &app;
        async move {
            let (st, _, body) = app.raw("POST", &path, Some(&token), Some(b"hello".to_vec()), "text/plain").await;
            (st, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        }
    };
    for (query, why) in [
        ("contact_ref=%2B1%20212%20555%200147", "a phone number"),
        ("contact_ref=ana.customer%40example.com", "an e-mail address"),
        ("contact_ref=4111-1111-1111-1111", "a card number"),
        ("interaction=%2B12125550147", "a phone number"),
    ] {
        let (st, v) = upload(query).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains(why) && !detail.contains("555") && !detail.contains("ana."), "{v}");
    }
    let (_, me) = app.get("/v1/auth/me", &s.recorder).await;
    let agent = me["principal"].as_str().unwrap().strip_prefix("user:").unwrap().to_owned();
    let (st, v) = upload(&format!("agents={agent},{agent}")).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("named twice"), "{v}");
    for at in ["9999-12-31T00:00:00Z", "1970-01-01T00:00:00Z"] {
        let (st, v) = upload(&format!("recorded_at={at}")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{at}: {v}");
    }
    // Nested objects refuse unknown keys too (an identifier, a call's party).
    let extra = json!({ "channel": "chat", "direction": "inbound",
        "identifiers": [{ "kind": "phone", "value": "+12125550147", "note": "ana@example.com" }] });
    let (st, v) = app.post("/v1/interactions", &s.recorder, extra).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(!v.to_string().contains("ana@"), "{v}");
    let pbx = app.service_account(&s.admin, "pbx", "dialer").await;
    let party = json!({ "kind": "gateway", "name": "gw", "+12125550147": true });
    let events = json!({ "call": "c1", "events": [{ "type": "leg_added", "leg": "a", "party": party }] });
    let (st, v) = app.post("/v1/calls/events", &pbx, events).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(!v.to_string().contains("2125550147"), "{v}");
    let (st, v) = upload("contact_ref=CRM-100234567&interaction=call-20261123-0001").await;
    assert_eq!(st, StatusCode::CREATED, "a contact center's own references: {v}");
    let id = v["id"].as_str().unwrap();

    let content = format!("/v1/objects/{id}/content");
    let range = |r: &'static str| {
        let req = axum::http::Request::get(&content)
            .header("authorization", format!("Bearer {}", s.recorder))
            .header("range", r)
            .body(axum::body::Body::empty())
            .unwrap();
        app.router.clone().oneshot(req)
    };
    for (r, want) in
        [("bytes=5-2", StatusCode::OK), ("bytes=x-1", StatusCode::OK), ("bytes=1-2", StatusCode::PARTIAL_CONTENT)]
    {
        let res = range(r).await.unwrap();
        assert_eq!(res.status(), want, "{r}");
    }
    let res = range("bytes=9-").await.unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    app.cleanup().await;
}
