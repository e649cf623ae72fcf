//! A tenant `acme` with two security officers, a recording system's user and encryption
//! ceremonies between them: the setting of the tests of encrypted content and personal data.

use axum::http::StatusCode;
use callvault_model::TenantId;
use serde_json::{Value, json};

use super::TestApp;

/// The password of every user made here.
pub const PW: &str = "correct horse battery staple";

pub struct Setup {
    pub tenant: TenantId,
    pub admin: String,
    /// A recording system's user: uploads and plays content (administrators may not: separation
    /// of duties keeps identity administration and content access apart).
    pub recorder: String,
    pub so1: String,
    pub so2: String,
}

pub async fn setup(app: &TestApp) -> Setup {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let op = app.operator().await;
    let (tid, admin) = app.tenant(&op, "acme").await;
    for login in ["sec1", "sec2"] {
        let id = app.user(&admin, login, PW, json!({})).await;
        app.grant(&admin, &id, "security_officer", json!({ "kind": "tenant" })).await;
    }
    let (s, role) = app
        .post(
            "/v1/roles",
            &admin,
            json!({ "name": "recording_team", "privileges": [
            "interaction:create", "interaction:read", "interaction:listen", "interaction:export"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    let rec = app.user(&admin, "rec", PW, json!({})).await;
    let (_, me) = app.get("/v1/auth/me", &admin).await;
    let boss = me["principal"].as_str().and_then(|p| p.strip_prefix("user:")).unwrap().to_owned();
    // The administrator may not hold content access (separation of duties).
    let (s, e) = app
        .post(
            "/v1/grants",
            &admin,
            json!({ "grantee": { "kind": "user", "id": boss }, "role_id": role["id"], "scope": { "kind": "tenant" } }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, g) = app
        .post(
            "/v1/grants",
            &admin,
            json!({ "grantee": { "kind": "user", "id": rec }, "role_id": role["id"], "scope": { "kind": "tenant" } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g} {me}");
    let recorder = app.login(Some("acme"), "rec", PW, None).await["token"].as_str().unwrap().to_owned();
    app.clock.advance_ms(30_000);
    let so1 = app.login_privileged(Some("acme"), "sec1", PW).await;
    app.clock.advance_ms(30_000);
    let so2 = app.login_privileged(Some("acme"), "sec2", PW).await;
    Setup { tenant: tid.parse().unwrap(), admin, recorder, so1, so2 }
}

pub fn code(app: &TestApp, login: &str) -> String {
    let secret = app.totp_secret(Some("acme"), login).unwrap();
    callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap()
}

pub async fn propose(app: &TestApp, token: &str, login: &str, kind: &str, params: Value) -> (StatusCode, Value) {
    app.clock.advance_ms(30_000);
    let c = code(app, login);
    app.post("/v1/key-ceremonies", token, json!({ "kind": kind, "params": params, "password": PW, "totp": c })).await
}

pub async fn approve(app: &TestApp, token: &str, login: &str, id: &str) -> (StatusCode, Value) {
    app.clock.advance_ms(30_000);
    let c = code(app, login);
    app.post(&format!("/v1/key-ceremonies/{id}/approve"), token, json!({ "password": PW, "totp": c })).await
}

/// sec1 proposes, sec2 approves.
pub async fn ceremony(app: &TestApp, s: &Setup, kind: &str, params: Value) -> Value {
    let (st, c) = propose(app, &s.so1, "sec1", kind, params).await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let (st, done) = approve(app, &s.so2, "sec2", c["id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "completed", "{done}");
    done
}
