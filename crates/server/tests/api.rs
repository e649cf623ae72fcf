//! In-process API tests (tier 2), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::{TestApp, backends};
use serde_json::{Value, json};

#[tokio::test]
async fn operator_bootstrap_tenant_and_directory_flow() {
    for db in backends() {
        let app = TestApp::new(db).await;
        // The operator must enrol TOTP first: the first token is good only for that.
        let first = app.login(None, "admin", common::ADMIN_PASSWORD, None).await;
        assert_eq!(first["purpose"], "enroll_totp");
        let (s, p) = app.get("/v1/tenants", first["token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(p["type"], "urn:callvault:problem:totp-enrollment-required");
        let op = app.operator().await;
        let (tenant_id, admin) = app.tenant(&op, "acme").await;
        let (s, list) = app.get("/v1/tenants", &op).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1);
        // Operators see tenants, not their data.
        let (s, _) = app.get("/v1/users", &op).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The tenant administrator runs the directory.
        let (s, team) = app.post("/v1/teams", &admin, json!({ "name": "Sales" })).await;
        assert_eq!(s, StatusCode::CREATED, "{team}");
        let (s, skill) = app.post("/v1/skills", &admin, json!({ "name": "French" })).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, svc) = app.post("/v1/services", &admin, json!({ "name": "Renewals", "kind": "campaign" })).await;
        assert_eq!(s, StatusCode::CREATED);
        let uid = app
            .user(&admin, "zoe", "a long enough passphrase", json!({ "teams": [team["id"]], "skills": [{ "skill_id": skill["id"], "level": 70 }], "services": [svc["id"]] }))
            .await;
        let (s, a) = app.get(&format!("/v1/users/{uid}/assignments"), &admin).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(a["teams"][0], team["id"]);
        let (s, members) = app.get(&format!("/v1/teams/{}/members", team["id"].as_str().unwrap()), &admin).await;
        assert_eq!((s, members), (StatusCode::OK, json!([uid])));
        // Capabilities are switched by the operator.
        let (s, t) = app
            .request(
                "PATCH",
                &format!("/v1/tenants/{tenant_id}"),
                Some(&op),
                Some(
                    json!({ "capabilities": { "encryption": true, "outbound_policy": true, "call_security": false } }),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert_eq!(t["capabilities"]["outbound_policy"], true);
        let (s, _) = app
            .request("PATCH", &format!("/v1/tenants/{tenant_id}"), Some(&admin), Some(json!({ "display_name": "x" })))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "tenant admins cannot switch capabilities");
        // Deleting a user removes its master-data relations.
        let (s, _) = app.request("DELETE", &format!("/v1/users/{uid}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, members) = app.get(&format!("/v1/teams/{}/members", team["id"].as_str().unwrap()), &admin).await;
        assert_eq!((s, members), (StatusCode::OK, json!([])));
        // Health, readiness and the OpenAPI document; metrics are not served to anybody without
        // the scraper's token (none is configured here).
        for path in ["/healthz", "/readyz", "/openapi.json"] {
            let (s, _, _) = app.raw("GET", path, None, None, "").await;
            assert_eq!(s, StatusCode::OK, "{path}");
        }
        let (s, _, _) = app.raw("GET", "/metrics", Some(&admin), None, "").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "a tenant administrator does not see provider-wide metrics");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let doc = serde_json::to_value(callvault_server::api::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/v1/auth/login", "/v1/users/{id}", "/v1/audit/proofs/inclusion", "/healthz", "/metrics"] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert!(paths.len() >= 30, "{} paths", paths.len());
}

#[tokio::test]
async fn problem_json_for_bad_input_and_nothing_half_written() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        app.post("/v1/teams", &admin, json!({ "name": "Sales" })).await;
        app.seal_audit().await;
        let before = snapshot(&app, &admin).await;
        let cases: Vec<(&str, &str, Option<Vec<u8>>, StatusCode)> = vec![
            ("POST", "/v1/teams", Some(b"{\"name\": ".to_vec()), StatusCode::BAD_REQUEST),
            ("POST", "/v1/teams", Some(b"{\"name\": \"x\", \"colour\": \"red\"}".to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("POST", "/v1/teams", Some(b"{}".to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("POST", "/v1/teams", Some(format!("{{\"name\": \"{}\"}}", "x".repeat(100_000)).into_bytes()), StatusCode::PAYLOAD_TOO_LARGE),
            ("POST", "/v1/teams", Some(b"{\"name\": \"Sales\"}".to_vec()), StatusCode::CONFLICT),
            ("POST", "/v1/teams", Some(b"{\"name\": \"\"}".to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("GET", "/v1/teams/not-a-uuid", None, StatusCode::NOT_FOUND),
            ("DELETE", "/v1/users/00000000-0000-0000-0000-000000000000", None, StatusCode::NOT_FOUND),
            ("POST", "/v1/users", Some(br#"{"login":"x y","first_name":"A","last_name":"B"}"#.to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("POST", "/v1/users", Some(br#"{"login":"ok","first_name":"A","last_name":"B","password":"password"}"#.to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("POST", "/v1/users", Some(br#"{"login":"ok","first_name":"A","last_name":"B","addresses":[{"kind":"phone","value":"12"}]}"#.to_vec()), StatusCode::UNPROCESSABLE_ENTITY),
            ("POST", "/v1/users", Some(br#"{"login":"ok2","first_name":"A","last_name":"B","assignments":{"teams":["00000000-0000-0000-0000-000000000001"]}}"#.to_vec()), StatusCode::NOT_FOUND),
            ("GET", "/v1/nowhere", None, StatusCode::NOT_FOUND),
            ("PUT", "/v1/teams", None, StatusCode::METHOD_NOT_ALLOWED),
            ("GET", "/v1/audit/entries?limit=5000", None, StatusCode::BAD_REQUEST),
        ];
        for (method, path, body, want) in cases {
            let (s, headers, bytes) = app.raw(method, path, Some(&admin), body, "application/json").await;
            assert_eq!(s, want, "{method} {path}: {}", String::from_utf8_lossy(&bytes));
            assert_eq!(headers.get("content-type").unwrap(), "application/problem+json", "{method} {path}");
            let p: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(p["type"].as_str().unwrap().starts_with("urn:callvault:problem:"));
            assert_eq!(p["status"], want.as_u16());
        }
        // A body without a JSON content type: 415, as RFC 9110 says.
        let (s, _, _) =
            app.raw("POST", "/v1/teams", Some(&admin), Some(b"{\"name\":\"y\"}".to_vec()), "text/plain").await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(snapshot(&app, &admin).await, before, "a refused request changed data");
        app.cleanup().await;
    }
}

/// Users, teams, skills, services, roles and grants as the admin sees them.
async fn snapshot(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for p in ["/v1/users", "/v1/teams", "/v1/skills", "/v1/services", "/v1/roles", "/v1/grants", "/v1/service-accounts"]
    {
        v.push(app.get(p, admin).await.1);
    }
    v
}
