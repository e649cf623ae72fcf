//! Separation of duties and dual control against the people inside a tenant, through the HTTP
//! API: each test reproduces an attack that succeeded before the rules (one administrator
//! completing a "two-person" key ceremony alone, taking over a custodian, an operator approving
//! with a puppet, privileges without a second factor, password guessing without throttle).
//! One file over 800 lines because it is one thing: the people of one tenant attacking dual
//! control, every test on the same custodians, ceremony and re-authentication helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::{Value, json};

const PW: &str = "correct horse battery staple";

fn code(app: &TestApp, tenant: Option<&str>, login: &str) -> String {
    let secret = app.totp_secret(tenant, login).unwrap();
    callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap()
}

async fn role_id(app: &TestApp, token: &str, name: &str) -> String {
    let (_, roles) = app.get("/v1/roles", token).await;
    roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn grant_api(app: &TestApp, token: &str, user: &str, role: &str) -> (StatusCode, Value) {
    let role_id = role_id(app, token, role).await;
    app.post(
        "/v1/grants",
        token,
        json!({ "grantee": { "kind": "user", "id": user }, "role_id": role_id, "scope": { "kind": "tenant" } }),
    )
    .await
}

fn problem_type(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

/// The user (an agent, so it holds the self-service privileges) logs in and sets their own
/// password, so nobody else knows it.
async fn own_password(app: &TestApp, login: &str, old: &str, new: &str) {
    let t = app.login(Some("acme"), login, old, None).await["token"].as_str().unwrap().to_owned();
    let (st, e) = app.post("/v1/auth/password", &t, json!({ "current_password": old, "new_password": new })).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
}

async fn approve_as_operator(app: &TestApp, op: &str, id: &str) -> (StatusCode, Value) {
    app.clock.advance_ms(30_000);
    app.post(
        &format!("/v1/key-ceremonies/{id}/approve"),
        op,
        json!({ "password": common::ADMIN_PASSWORD, "totp": code(app, None, "admin") }),
    )
    .await
}

/// Item 1: an administrator granted themself security_officer and data_protection_officer (201),
/// then made a second officer. Now the first step is refused with the reason, and so is every
/// path through a puppet account.
#[tokio::test]
async fn one_administrator_cannot_make_two_custodians() {
    for db in common::backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, boss) = app.tenant(&op, "acme").await;
        let (_, me) = app.get("/v1/auth/me", &boss).await;
        let boss_id = me["principal"].as_str().unwrap().split_once(':').unwrap().1.to_owned();
        // Granting themself key custody or personal data: refused, naming the conflict.
        for role in ["security_officer", "data_protection_officer", "supervisor"] {
            let (st, e) = grant_api(&app, &boss, &boss_id, role).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{role}: {e}");
            assert_eq!(problem_type(&e), "urn:callvault:problem:separation-of-duties", "{e}");
            assert!(e["detail"].as_str().unwrap().contains("identity administration"), "{e}");
        }
        // A puppet: created by the administrator, who set its password. Refused at proposal.
        let sam = app.user(&boss, "sam", PW, json!({})).await;
        assert_eq!(grant_api(&app, &boss, &sam, "agent").await.0, StatusCode::CREATED);
        let (st, e) = grant_api(&app, &boss, &sam, "security_officer").await;
        assert_eq!((st, problem_type(&e)), (StatusCode::FORBIDDEN, "urn:callvault:problem:dual-control"), "{e}");
        assert!(e["detail"].as_str().unwrap().contains("created this account"), "{e}");
        // A second administrator (whose password the first one set) proposes for sam: refused
        // until sam sets their own password.
        let ada = app.user(&boss, "ada", PW, json!({})).await;
        assert_eq!(grant_api(&app, &boss, &ada, "agent").await.0, StatusCode::CREATED);
        own_password(&app, "ada", PW, "ada picks her own long passphrase").await;
        let (st, e) = grant_api(&app, &boss, &ada, "administrator").await;
        assert_eq!(st, StatusCode::CREATED, "{e}");
        app.clock.advance_ms(30_000);
        let ada_t = app.login_privileged(Some("acme"), "ada", "ada picks her own long passphrase").await;
        let (st, e) = grant_api(&app, &ada_t, &sam, "security_officer").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("change their own password"), "{e}");
        own_password(&app, "sam", PW, "sam chooses a private passphrase").await;
        let (st, c) = grant_api(&app, &ada_t, &sam, "security_officer").await;
        assert_eq!(st, StatusCode::ACCEPTED, "{c}");
        assert_eq!(c["kind"], "appoint_custodian");
        assert_eq!(c["params"]["candidate_created_by"], format!("user:{boss_id}"), "the approver sees the creator");
        let id = c["id"].as_str().unwrap().to_owned();
        // Nobody in the tenant approves while it has fewer than two key custodians; the boss, who
        // created sam, could not anyway.
        app.clock.advance_ms(30_000);
        let boss_code = code(&app, Some("acme"), "boss");
        let (st, e) = app
            .post(&format!("/v1/key-ceremonies/{id}/approve"), &boss, json!({ "password": PW, "totp": boss_code }))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
        // A fresh operator created by admin is no approver; admin is.
        let (st, _) =
            app.post("/v1/operators", &op, json!({ "login": "op2", "password": "second operator passphrase" })).await;
        assert_eq!(st, StatusCode::CREATED);
        app.clock.advance_ms(30_000);
        let op2 = app.login_privileged(None, "op2", "second operator passphrase").await;
        let (st, e) = app
            .post(
                &format!("/v1/key-ceremonies/{id}/approve"),
                &op2,
                json!({ "password": "second operator passphrase", "totp": code(&app, None, "op2") }),
            )
            .await;
        assert_eq!((st, problem_type(&e)), (StatusCode::FORBIDDEN, "urn:callvault:problem:dual-control"), "{e}");
        let (st, done) = approve_as_operator(&app, &op, &id).await;
        assert_eq!(st, StatusCode::OK, "{done}");
        assert_eq!(done["state"], "completed");
        let (_, grants) = app.get("/v1/grants", &boss).await;
        assert!(grants.as_array().unwrap().iter().any(|g| g["grantee"]["id"] == sam.as_str()), "{grants}");
        // Removing a custodian is a ceremony too.
        let so_role = role_id(&app, &boss, "security_officer").await;
        let gid = grants
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["grantee"]["id"] == sam.as_str() && g["role_id"] == so_role.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (st, c) = app.request("DELETE", &format!("/v1/grants/{gid}"), Some(&boss), None).await;
        assert_eq!((st, c["kind"].as_str()), (StatusCode::ACCEPTED, Some("revoke_custodian")), "{c}");
        app.cleanup().await;
    }
}

/// Item 2: an administrator reset a custodian's password and TOTP and logged in as them; a
/// security officer reset another officer's TOTP. Now each is a ceremony a second person approves,
/// never the one it is about, and the new password goes to the approver only.
#[tokio::test]
async fn custodian_credentials_are_reset_under_dual_control() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let sec1 = app.user(&boss, "sec1", PW, json!({})).await;
    let sec2 = app.user(&boss, "sec2", PW, json!({})).await;
    app.grant(&boss, &sec1, "security_officer", json!({ "kind": "tenant" })).await;
    app.grant(&boss, &sec2, "security_officer", json!({ "kind": "tenant" })).await;
    app.clock.advance_ms(30_000);
    let so1 = app.login_privileged(Some("acme"), "sec1", PW).await;
    app.clock.advance_ms(30_000);
    let so2 = app.login_privileged(Some("acme"), "sec2", PW).await;
    let (st, c) =
        app.request("PUT", &format!("/v1/users/{sec1}/password"), Some(&boss), Some(json!({ "password": "x" }))).await;
    assert_eq!((st, c["kind"].as_str()), (StatusCode::ACCEPTED, Some("reset_custodian_credentials")), "{c}");
    let reset = c["id"].as_str().unwrap().to_owned();
    // The officer it is about cannot approve it.
    app.clock.advance_ms(30_000);
    let (st, e) = app
        .post(
            &format!("/v1/key-ceremonies/{reset}/approve"),
            &so1,
            json!({ "password": PW, "totp": code(&app, Some("acme"), "sec1") }),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    // The old password still works: nothing was reset.
    app.login(Some("acme"), "sec1", PW, Some(code(&app, Some("acme"), "sec1"))).await;
    // The other officer approves; the temporary password is shown to them once.
    app.clock.advance_ms(30_000);
    let (st, done) = app
        .post(
            &format!("/v1/key-ceremonies/{reset}/approve"),
            &so2,
            json!({ "password": PW, "totp": code(&app, Some("acme"), "sec2") }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    let temporary = done["result"]["temporary_password"].as_str().unwrap().to_owned();
    let (_, stored) = app.get(&format!("/v1/key-ceremonies/{reset}"), &so2).await;
    assert!(stored["result"]["temporary_password"].is_null(), "never stored: {stored}");
    assert!(!stored.to_string().contains(&temporary));
    // An officer resetting another officer's TOTP proposes a ceremony instead.
    let (st, c) = app.request("DELETE", &format!("/v1/users/{sec1}/totp"), Some(&so2), None).await;
    assert_eq!((st, c["kind"].as_str()), (StatusCode::ACCEPTED, Some("reset_custodian_credentials")), "{c}");
    let (st, c) = app.request("DELETE", &format!("/v1/users/{sec2}/totp"), Some(&boss), None).await;
    assert_eq!((st, c["kind"].as_str()), (StatusCode::ACCEPTED, Some("reset_custodian_credentials")), "{c}");
    app.cleanup().await;
}

/// A custodian appointed by ceremony approves nothing during the cooling-off time.
#[tokio::test]
async fn newly_appointed_custodians_wait_out_the_cooling_off() {
    let app = TestApp::with_config(common::Db::Sqlite, |c| c.custodian_cooling_off_secs = 24 * 3600).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let ada = app.user(&boss, "ada", PW, json!({})).await;
    assert_eq!(grant_api(&app, &boss, &ada, "agent").await.0, StatusCode::CREATED);
    own_password(&app, "ada", PW, "ada picks her own long passphrase").await;
    assert_eq!(grant_api(&app, &boss, &ada, "administrator").await.0, StatusCode::CREATED);
    app.clock.advance_ms(30_000);
    let ada_t = app.login_privileged(Some("acme"), "ada", "ada picks her own long passphrase").await;
    let mut officers = Vec::new();
    for login in ["sec1", "sec2"] {
        let id = app.user(&boss, login, PW, json!({})).await;
        assert_eq!(grant_api(&app, &boss, &id, "agent").await.0, StatusCode::CREATED);
        own_password(&app, login, PW, &format!("{login} has a private passphrase")).await;
        let (st, c) = grant_api(&app, &ada_t, &id, "security_officer").await;
        assert_eq!(st, StatusCode::ACCEPTED, "{c}");
        let (st, done) = approve_as_operator(&app, &op, c["id"].as_str().unwrap()).await;
        assert_eq!(st, StatusCode::OK, "{done}");
        app.clock.advance_ms(30_000);
        let pw = format!("{login} has a private passphrase");
        officers.push((login, pw.clone(), app.login_privileged(Some("acme"), login, &pw).await));
    }
    let (l1, pw1, t1) = &officers[0];
    let (l2, pw2, t2) = &officers[1];
    app.clock.advance_ms(30_000);
    let (st, c) = app
        .post(
            "/v1/key-ceremonies",
            t1,
            json!({ "kind": "enable_encryption", "password": pw1, "totp": code(&app, Some("acme"), l1) }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    app.clock.advance_ms(30_000);
    let (st, e) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/approve"),
            t2,
            json!({ "password": pw2, "totp": code(&app, Some("acme"), l2) }),
        )
        .await;
    assert_eq!((st, problem_type(&e)), (StatusCode::FORBIDDEN, "urn:callvault:problem:cooling-off"), "{e}");
    app.cleanup().await;
}

/// Item 4: a session opened without a second factor that is then granted administrator created
/// users; a service account held administrator. Now neither counts.
#[tokio::test]
async fn privilege_follows_the_second_factor() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let max = app.user(&boss, "max", PW, json!({})).await;
    let t = app.login(Some("acme"), "max", PW, None).await["token"].as_str().unwrap().to_owned();
    assert_eq!(grant_api(&app, &boss, &max, "administrator").await.0, StatusCode::CREATED);
    let (st, e) = app
        .post("/v1/users", &t, json!({ "login": "puppet", "first_name": "P", "last_name": "Q", "addresses": [] }))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a password-only session gains nothing: {e}");
    // Service accounts hold no identity administration at all.
    let admin_role = role_id(&app, &boss, "administrator").await;
    let (st, e) = app
        .post(
            "/v1/service-accounts",
            &boss,
            json!({ "name": "bot", "role_id": admin_role, "scope": { "kind": "tenant" } }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // A revoked service account is never reactivated by rotation (item 10).
    let dialer = role_id(&app, &boss, "dialer").await;
    let (st, sa) = app
        .post(
            "/v1/service-accounts",
            &boss,
            json!({ "name": "dialer-1", "role_id": dialer, "scope": { "kind": "tenant" } }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sa}");
    let sa_id = sa["account"]["id"].as_str().unwrap().to_owned();
    let (st, _) = app.post(&format!("/v1/service-accounts/{sa_id}/revoke"), &boss, json!({})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, e) = app.post(&format!("/v1/service-accounts/{sa_id}/rotate"), &boss, json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    // Tokens may carry a lifetime; rotation starts it again.
    let (st, sa) = app
        .post(
            "/v1/service-accounts",
            &boss,
            json!({ "name": "dialer-2", "role_id": dialer, "scope": { "kind": "tenant" }, "token_lifetime_days": 1 }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sa}");
    let token = sa["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/dial/settings", &token).await.0, StatusCode::OK);
    app.clock.advance_ms(86_400_000);
    assert_eq!(app.get("/v1/dial/settings", &token).await.0, StatusCode::UNAUTHORIZED, "expired");
    app.cleanup().await;
}

/// Item 10: a security officer's session-delete right could not end another user's session.
#[tokio::test]
async fn security_officers_end_other_users_sessions() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let agent = app.user(&boss, "agent7", PW, json!({})).await;
    assert_eq!(grant_api(&app, &boss, &agent, "agent").await.0, StatusCode::CREATED);
    let a1 = app.login(Some("acme"), "agent7", PW, None).await;
    let a2 = app.login(Some("acme"), "agent7", PW, None).await;
    let sec = app.user(&boss, "sec1", PW, json!({})).await;
    app.grant(&boss, &sec, "security_officer", json!({ "kind": "tenant" })).await;
    app.clock.advance_ms(30_000);
    let so = app.login_privileged(Some("acme"), "sec1", PW).await;
    let (st, list) = app.get(&format!("/v1/users/{agent}/sessions"), &so).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().iter().filter(|s| s["active"] == true).count(), 2, "{list}");
    let sid = a1["session_id"].as_str().unwrap();
    let (st, e) = app.request("DELETE", &format!("/v1/sessions/{sid}"), Some(&so), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    assert_eq!(app.get("/v1/auth/me", a1["token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
    let (st, r) = app.request("DELETE", &format!("/v1/users/{agent}/sessions"), Some(&so), None).await;
    assert_eq!((st, r["revoked"].as_u64()), (StatusCode::OK, Some(1)), "{r}");
    assert_eq!(app.get("/v1/auth/me", a2["token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
    // An agent cannot end someone else's session.
    let b = app.login(Some("acme"), "agent7", PW, None).await;
    let sessions = app.get("/v1/sessions", &so).await.1;
    let active = sessions.as_array().unwrap().iter().find(|s| s["active"] == true).unwrap();
    let so_session = active["id"].as_str().unwrap().to_owned();
    let (st, _) =
        app.request("DELETE", &format!("/v1/sessions/{so_session}"), Some(b["token"].as_str().unwrap()), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    app.cleanup().await;
}

/// Item 5: after three wrong passwords the right password alone gave a full session. Now it does
/// not, until an administrator unlocks or the window passes; old typos age out.
#[tokio::test]
async fn step_up_after_repeated_failures() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let lee = app.user(&boss, "lee", PW, json!({})).await;
    let attempt = |pw: &'static str| {
        let app = &app;
        async move {
            app.clock.advance_ms(4_000);
            let body = json!({ "tenant": "acme", "username": "lee", "password": pw });
            app.request("POST", "/v1/auth/login", None, Some(body)).await
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong guess number").await.0, StatusCode::UNAUTHORIZED);
    }
    let (st, e) = attempt(PW).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a password alone no longer logs in: {e}");
    assert!(e["detail"].as_str().unwrap().contains("administrator"), "names the way out: {e}");
    // An administrator's unlock opens it again.
    let (st, _) = app.post(&format!("/v1/users/{lee}/unlock"), &boss, json!({})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(attempt(PW).await.0, StatusCode::OK);
    // Failures older than the window (15 minutes) do not count.
    for _ in 0..3 {
        assert_eq!(attempt("wrong guess number").await.0, StatusCode::UNAUTHORIZED);
    }
    app.clock.advance_ms(15 * 60_000);
    assert_eq!(attempt(PW).await.0, StatusCode::OK);
    // An account with TOTP: after failures the code is what completes the login.
    let sec = app.user(&boss, "sec1", PW, json!({})).await;
    app.grant(&boss, &sec, "security_officer", json!({ "kind": "tenant" })).await;
    app.clock.advance_ms(30_000);
    app.login_privileged(Some("acme"), "sec1", PW).await;
    let try_sec = |pw: &'static str, totp: Option<String>| {
        let app = &app;
        async move {
            app.clock.advance_ms(4_000);
            let mut body = json!({ "tenant": "acme", "username": "sec1", "password": pw });
            if let Some(t) = totp {
                body["totp"] = json!(t);
            }
            app.request("POST", "/v1/auth/login", None, Some(body)).await
        }
    };
    for _ in 0..3 {
        assert_eq!(try_sec("wrong guess number", None).await.0, StatusCode::UNAUTHORIZED);
    }
    let (st, e) = try_sec(PW, None).await;
    assert_eq!((st, problem_type(&e)), (StatusCode::FORBIDDEN, "urn:callvault:problem:second-factor-required"), "{e}");
    app.clock.advance_ms(30_000);
    let (st, e) = try_sec(PW, Some(code(&app, Some("acme"), "sec1"))).await;
    assert_eq!(st, StatusCode::OK, "{e}");
    app.cleanup().await;
}

/// Item 6: `current_password` could be guessed 40 times in 2 s, and ceremony re-authentication
/// said which factor was wrong. Now guesses count, are throttled and alert; one answer for all.
#[tokio::test]
async fn reauthentication_is_throttled_and_says_nothing_specific() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    app.user(&boss, "kim", PW, json!({})).await;
    let t = app.login(Some("acme"), "kim", PW, None).await["token"].as_str().unwrap().to_owned();
    let change = |current: &'static str| {
        let (app, t) = (&app, t.clone());
        async move {
            app.post(
                "/v1/auth/password",
                &t,
                json!({ "current_password": current, "new_password": "kim new passphrase here" }),
            )
            .await
        }
    };
    let (st, first) = change("wrong guess number").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Immediately after a failure even the right password is refused (throttle), with the same answer.
    let (st, right) = change(PW).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(first["detail"], right["detail"]);
    // Ceremony re-authentication: a wrong password and a wrong code answer alike.
    let sec = app.user(&boss, "sec1", PW, json!({})).await;
    app.grant(&boss, &sec, "security_officer", json!({ "kind": "tenant" })).await;
    app.clock.advance_ms(30_000);
    let so = app.login_privileged(Some("acme"), "sec1", PW).await;
    app.clock.advance_ms(30_000);
    let (_, a) = app
        .post(
            "/v1/key-ceremonies",
            &so,
            json!({ "kind": "enable_encryption", "password": "wrong guess number", "totp": "000000" }),
        )
        .await;
    app.clock.advance_ms(30_000);
    let (_, b) = app
        .post("/v1/key-ceremonies", &so, json!({ "kind": "enable_encryption", "password": PW, "totp": "000000" }))
        .await;
    assert_eq!((a["type"].as_str(), a["detail"].as_str()), (b["type"].as_str(), b["detail"].as_str()), "{a} {b}");
    app.cleanup().await;
}

/// Item 8: `agent` with U+200B, U+00AD, U+2060 or U+200D, and `аgent` with a Cyrillic `а`, were
/// accepted next to `agent`. Now they are refused with 409; the existing login is named only to
/// callers who may see users.
#[tokio::test]
async fn look_alike_logins_are_refused() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    app.user(&boss, "agent", PW, json!({})).await;
    let create = |token: String, login: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/v1/users",
                &token,
                json!({ "login": login, "first_name": "L", "last_name": "A", "addresses": [] }),
            )
            .await
        }
    };
    for login in
        ["agent\u{200B}", "agent\u{00AD}", "ag\u{2060}ent", "agent\u{200D}", "\u{0430}gent", "AGENT", "ａｇｅｎｔ"]
    {
        let (st, e) = create(boss.clone(), login).await;
        assert_eq!(st, StatusCode::CONFLICT, "{login:?}: {e}");
        assert!(e["detail"].as_str().unwrap().contains("`agent`"), "an administrator sees which: {e}");
    }
    // Malformed but like nothing existing: 422 with the reason.
    let (st, e) = create(boss.clone(), "new\u{200B}comer").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // A caller who may create users but not see them is not told which login it resembles.
    let (st, role) = app.post("/v1/roles", &boss, json!({ "name": "hiring", "privileges": ["user:create"] })).await;
    assert_eq!(st, StatusCode::CREATED, "{role}");
    let hr = app.user(&boss, "hr", PW, json!({})).await;
    assert_eq!(grant_api(&app, &boss, &hr, "hiring").await.0, StatusCode::CREATED);
    app.clock.advance_ms(30_000);
    let hr_t = app.login_privileged(Some("acme"), "hr", PW).await;
    let (st, e) = create(hr_t, "\u{0430}gent").await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(!e["detail"].as_str().unwrap().contains("`agent`"), "{e}");
    // Team, role and service names are identifiers too.
    let (st, _) = app.post("/v1/teams", &boss, json!({ "name": "Sales" })).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, e) = app.post("/v1/teams", &boss, json!({ "name": "Sa\u{200B}les" })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (st, e) = app.post("/v1/teams", &boss, json!({ "name": "SALES" })).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    let (st, e) = app.post("/v1/roles", &boss, json!({ "name": "hir\u{0456}ng", "privileges": ["team:read"] })).await;
    assert!(st == StatusCode::CONFLICT || st == StatusCode::UNPROCESSABLE_ENTITY, "{st} {e}");
    app.cleanup().await;
}

fn mailed_code(mail: &str) -> String {
    // Quoted-printable bodies break long lines with `=` at the end.
    let mail = mail.replace("=\r\n", "").replace("=\n", "");
    mail.split(" is ")
        .skip(1)
        .map(|rest| rest.chars().take(6).collect::<String>())
        .find(|c| c.len() == 6 && c.chars().all(|d| d.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {mail}"))
}

async fn wait_mails(smtp: &common::SmtpServer, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let m = smtp.messages();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("expected {n} mails, got {:?}", smtp.messages());
}

/// Step-up by e-mail (NIST SP 800-63B 5.2.2, further authentication after failures): an account without TOTP whose user
/// confirmed an address gets a one-time code there after repeated failures; an administrator's
/// later edit of the address does not redirect the codes. Through a real SMTP server (aiosmtpd).
#[tokio::test]
async fn step_up_by_a_code_mailed_to_the_confirmed_address() {
    let Some(smtp) = common::SmtpServer::start() else { return };
    let port = smtp.port;
    let app = TestApp::with_config(common::Db::Sqlite, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.smtp_from = "callvault@acme.example.com".into();
    })
    .await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let (st, u) = app
        .post(
            "/v1/users",
            &boss,
            json!({ "login": "lee", "first_name": "Lee", "last_name": "Ng", "password": PW,
                "addresses": [{ "kind": "email", "value": "lee@acme.example.com" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let lee = u["id"].as_str().unwrap().to_owned();
    assert_eq!(grant_api(&app, &boss, &lee, "agent").await.0, StatusCode::CREATED);
    let t = app.login(Some("acme"), "lee", PW, None).await["token"].as_str().unwrap().to_owned();
    let (st, e) = app.post("/v1/auth/email/confirm", &t, json!({ "address": "someone@else.example.com" })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "only one's own address: {e}");
    let (st, _) = app.post("/v1/auth/email/confirm", &t, json!({ "address": "lee@acme.example.com" })).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let mails = wait_mails(&smtp, 1).await;
    let (st, e) = app.post("/v1/auth/email/verify", &t, json!({ "code": mailed_code(&mails[0]) })).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    // The administrator points the directory at another mailbox: codes still go to Lee's.
    let (st, e) = app
        .request(
            "PATCH",
            &format!("/v1/users/{lee}"),
            Some(&boss),
            Some(json!({ "addresses": [{ "kind": "email", "value": "intruder@evil.example.com" }] })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    let login = |password: &'static str, code: Option<String>| {
        let app = &app;
        async move {
            app.clock.advance_ms(4_000);
            let mut body = json!({ "tenant": "acme", "username": "lee", "password": password });
            if let Some(c) = code {
                body["email_code"] = json!(c);
            }
            app.request("POST", "/v1/auth/login", None, Some(body)).await
        }
    };
    for _ in 0..3 {
        assert_eq!(login("wrong guess number", None).await.0, StatusCode::UNAUTHORIZED);
    }
    let (st, e) = login(PW, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{e}");
    let mails = wait_mails(&smtp, 2).await;
    let mail = mails.iter().find(|m| m.contains("sign-in code")).expect("a sign-in mail");
    assert!(mail.contains("lee@acme.example.com") && !mail.contains("intruder"), "{mail}");
    let code = mailed_code(mail);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(login(PW, Some(wrong.into())).await.0, StatusCode::UNAUTHORIZED);
    let (st, v) = login(PW, Some(code.clone())).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(login(PW, None).await.0, StatusCode::OK, "a success clears the failures");
    app.cleanup().await;
}

/// Item 7: `Summer2026`, `Winter2026!`, `Autumn2025` were accepted, and a user could take their
/// own login id as password on the self-service path. Every path now refuses the same set with
/// the same reason: a tenant's first administrator, a new operator, an administrator's create
/// and reset, and the user's own change.
#[tokio::test]
async fn passwords_are_checked_on_every_path() {
    use callvault_policy::password::{PasswordRules, check_new_password};
    let refused = [
        "Summer2026",
        "Winter2026!",
        "Autumn2025",
        "january2024",
        "Fall-2023!",
        "Dec2025!!",
        "2026Spring",
        "asdfghjkl;",
        "zxcvbnm,./",
        "!QAZ2wsx#EDC",
        "ytrewq!!",
        "mnbvcxz123",
        "aaaaaaaaa",
        "111111111",
        "abcabcabc",
        "ab12ab12ab12",
        "abcdefghi",
        "987654321",
        "stuvwxyz",
        "qwertyuiop",
        "password",
        "iloveyou",
        "P@ssw0rd2026",
        "Password123!",
        "letmein2026",
        "mustang1967",
        "dragonfly22",
        "blue house",
        "passwordpassword",
        "callvault123!",
        "short",
    ];
    let accepted = [
        "tangerine submarine lighthouse",
        "violet-kettle-orbit-97-plum",
        "marble osprey fjord cinnamon",
        "walrus tundra saxophone",
        "pickle nebula trombone",
        "maple drift canyon echo",
        "Sprinkle7Cobalt&Harbor",
        "seven purple giraffes dance",
        "quiet lantern over basalt",
        "orchid compass yodel ferry",
    ];
    assert!(refused.len() >= 30 && accepted.len() >= 10);
    let reason = |pw: &str| check_new_password(pw, &PasswordRules::default(), &[]).unwrap_err().to_string();
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let user = app.user(&boss, "ada.lovelace", PW, json!({})).await;
    assert_eq!(grant_api(&app, &boss, &user, "agent").await.0, StatusCode::CREATED);
    let me = app.login(Some("acme"), "ada.lovelace", PW, None).await["token"].as_str().unwrap().to_owned();
    let tenant_body = |pw: &str| {
        json!({ "slug": "beta", "display_name": "Beta", "capabilities": {}, "administrator": {
            "login": "bo", "first_name": "Bo", "last_name": "Bee", "password": pw, "addresses": [] } })
    };
    let user_body = |pw: &str, login: &str| {
        json!({ "login": login, "first_name": "Grace", "last_name": "Hopper", "password": pw,
            "addresses": [{ "kind": "email", "value": "grace.hopper@example.com" }] })
    };
    for pw in refused {
        let want = reason(pw);
        let answers = [
            app.post("/v1/tenants", &op, tenant_body(pw)).await,
            app.post("/v1/operators", &op, json!({ "login": "op-x", "password": pw })).await,
            app.post("/v1/users", &boss, user_body(pw, "grace")).await,
            app.request("PUT", &format!("/v1/users/{user}/password"), Some(&boss), Some(json!({ "password": pw })))
                .await,
            app.post("/v1/auth/password", &me, json!({ "current_password": PW, "new_password": pw })).await,
        ];
        for (path, (st, e)) in ["tenant", "operator", "create", "reset", "self"].iter().zip(answers) {
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{path} {pw}: {e}");
            assert_eq!(e["detail"].as_str(), Some(want.as_str()), "{path} {pw}");
            // (`password` itself is a word of the reason texts.)
            assert!(pw == "password" || !e.to_string().contains(pw), "{path} {pw}: the reason never echoes it");
        }
    }
    // The user's own login id, names and e-mail are refused on the self-service path too.
    for pw in ["ada.lovelace", "Ada.Lovelace2026", "lovelace-ada-88", "acme center 2026"] {
        let (st, e) = app.post("/v1/auth/password", &me, json!({ "current_password": PW, "new_password": pw })).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{pw}: {e}");
    }
    let mut current = PW.to_owned();
    for (i, pw) in accepted.iter().enumerate() {
        let (st, e) = app.post("/v1/users", &boss, user_body(pw, &format!("grace{i}"))).await;
        assert_eq!(st, StatusCode::CREATED, "create {pw}: {e}");
        let (st, e) = app
            .request("PUT", &format!("/v1/users/{user}/password"), Some(&boss), Some(json!({ "password": pw })))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "reset {pw}: {e}");
        current = pw.to_string();
        let t = app.login(Some("acme"), "ada.lovelace", &current, None).await["token"].as_str().unwrap().to_owned();
        let next = format!("{pw} again");
        let (st, e) =
            app.post("/v1/auth/password", &t, json!({ "current_password": current, "new_password": next })).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "self {next}: {e}");
    }
    let (st, e) = app.post("/v1/operators", &op, json!({ "login": "op-y", "password": accepted[0] })).await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    let (st, e) = app.post("/v1/tenants", &op, tenant_body(accepted[1])).await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    assert!(current.ends_with("ferry"));
    app.cleanup().await;
}

/// The new ceremony kinds in the authorization table: who may propose an appointment, approve
/// it, reset a custodian's password or second factor, and remove a custodian (tenant with two
/// key custodians, so another custodian approves).
#[tokio::test]
async fn ceremony_kinds_by_role() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    // Fixtures: two key custodians, a DPO, a second administrator (who creates nobody), the
    // candidate, and one user of every other role.
    let mut tokens: Vec<(&str, String)> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (login, role) in [
        ("so1", "security_officer"),
        ("so2", "security_officer"),
        ("dpo", "data_protection_officer"),
        ("ada", "administrator"),
        ("cand", "agent"),
        ("agt", "agent"),
        ("sup", "supervisor"),
        ("aud", "auditor"),
        ("dia", "dialer"),
    ] {
        let id = app.user(&boss, login, PW, json!({})).await;
        if role == "administrator" {
            assert_eq!(grant_api(&app, &boss, &id, "agent").await.0, StatusCode::CREATED);
            own_password(&app, login, PW, "ada picks her own long passphrase").await;
        }
        if login == "cand" {
            assert_eq!(grant_api(&app, &boss, &id, "agent").await.0, StatusCode::CREATED);
            own_password(&app, login, PW, "cand has a private passphrase").await;
        } else {
            app.grant(&boss, &id, role, json!({ "kind": "tenant" })).await;
        }
        ids.insert(login, id);
    }
    for (login, role) in [
        ("agt", "agent"),
        ("sup", "supervisor"),
        ("ada", "administrator"),
        ("so1", "security_officer"),
        ("dpo", "data_protection_officer"),
        ("aud", "auditor"),
        ("dia", "dialer"),
    ] {
        app.clock.advance_ms(30_000);
        let pw = if login == "ada" { "ada picks her own long passphrase" } else { PW };
        tokens.push((role, app.login_privileged(Some("acme"), login, pw).await));
    }
    let so_role = role_id(&app, &boss, "security_officer").await;
    let (so2, cand) = (ids["so2"].clone(), ids["cand"].clone());
    let so2_grant = app
        .get("/v1/grants", &boss)
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grantee"]["id"] == so2.as_str() && g["role_id"] == so_role.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut table = Vec::new();
    // A: propose an appointment.
    let mut appointment = None;
    for (role, t) in &tokens {
        let body =
            json!({ "grantee": { "kind": "user", "id": cand }, "role_id": so_role, "scope": { "kind": "tenant" } });
        let (st, c) = app.post("/v1/grants", t, body).await;
        if st == StatusCode::ACCEPTED {
            appointment = Some(c["id"].as_str().unwrap().to_owned());
        }
        table.push((*role, "propose appoint_custodian", st.as_u16()));
    }
    let appointment = appointment.expect("an administrator proposes");
    // B: approve it (the security officer last: a completed ceremony cannot be approved again).
    let mut order: Vec<&(&str, String)> = tokens.iter().filter(|(r, _)| *r != "security_officer").collect();
    order.extend(tokens.iter().filter(|(r, _)| *r == "security_officer"));
    for (role, t) in order {
        app.clock.advance_ms(30_000);
        let totp = if *role == "security_officer" { code(&app, Some("acme"), "so1") } else { "000000".into() };
        let (st, e) = app
            .post(&format!("/v1/key-ceremonies/{appointment}/approve"), t, json!({ "password": PW, "totp": totp }))
            .await;
        table.push((*role, "approve appoint_custodian", st.as_u16()));
        let _ = e;
    }
    // C, D, E: reset a custodian's password or second factor, remove a custodian.
    for (role, t) in &tokens {
        let (st, _) =
            app.request("PUT", &format!("/v1/users/{so2}/password"), Some(t), Some(json!({ "password": "x" }))).await;
        table.push((*role, "reset password of a custodian", st.as_u16()));
        let (st, _) = app.request("DELETE", &format!("/v1/users/{so2}/totp"), Some(t), None).await;
        table.push((*role, "reset TOTP of a custodian", st.as_u16()));
        let (st, _) = app.request("DELETE", &format!("/v1/grants/{so2_grant}"), Some(t), None).await;
        table.push((*role, "revoke_custodian", st.as_u16()));
    }
    let got: String = table.iter().map(|(r, op, st)| format!("{r:<24} {op:<32} {st}\n")).collect();
    let mut expected = String::new();
    for role in
        ["agent", "supervisor", "administrator", "security_officer", "data_protection_officer", "auditor", "dialer"]
    {
        let a = if role == "administrator" { 202 } else { 403 };
        expected.push_str(&format!("{role:<24} {:<32} {a}\n", "propose appoint_custodian"));
    }
    for role in
        ["agent", "supervisor", "administrator", "data_protection_officer", "auditor", "dialer", "security_officer"]
    {
        let b = if role == "security_officer" { 200 } else { 403 };
        expected.push_str(&format!("{role:<24} {:<32} {b}\n", "approve appoint_custodian"));
    }
    for role in
        ["agent", "supervisor", "administrator", "security_officer", "data_protection_officer", "auditor", "dialer"]
    {
        let admin = role == "administrator";
        let c = if admin { 202 } else { 403 };
        let d = if admin || role == "security_officer" { 202 } else { 403 };
        expected.push_str(&format!("{role:<24} {:<32} {c}\n", "reset password of a custodian"));
        expected.push_str(&format!("{role:<24} {:<32} {d}\n", "reset TOTP of a custodian"));
        expected.push_str(&format!("{role:<24} {:<32} {c}\n", "revoke_custodian"));
    }
    assert_eq!(got, expected);
    app.cleanup().await;
}

/// Item 3: operator `admin` created `op2`, which approved a KEK backup. New operators approve
/// nothing until two approving operators appoint them, and the creator cannot propose them.
#[tokio::test]
async fn operators_join_the_approvers_under_dual_control() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let admin = app.operator().await;
    let admin2 = app.operator2().await;
    let (st, v) =
        app.post("/v1/operators", &admin, json!({ "login": "op3", "password": "third operator passphrase" })).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let op3_id = v["id"].as_str().unwrap().to_owned();
    // The creator may not propose; the others may only once op3 set its own password.
    let (st, e) = app.post(&format!("/v1/operators/{op3_id}/approver"), &admin, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, e) = app.post(&format!("/v1/operators/{op3_id}/approver"), &admin2, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("change their own password"), "{e}");
    app.clock.advance_ms(30_000);
    let op3 = app.login_privileged(None, "op3", "third operator passphrase").await;
    let (st, e) = app
        .post(
            "/v1/auth/password",
            &op3,
            json!({ "current_password": "third operator passphrase", "new_password": "op3 keeps a private passphrase" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    let (st, c) = app.post(&format!("/v1/operators/{op3_id}/approver"), &admin2, json!({})).await;
    assert_eq!((st, c["kind"].as_str()), (StatusCode::ACCEPTED, Some("appoint_operator_approver")), "{c}");
    assert_eq!(c["params"]["candidate_created_by"].as_str().map(|s| s.starts_with("operator:")), Some(true), "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    // op3 cannot approve its own appointment, nor admin2 its own proposal; admin (shown that it
    // created op3) can.
    app.clock.advance_ms(30_000);
    let op3_code = code(&app, None, "op3");
    let (st, _) = app
        .post(
            &format!("/v1/key-ceremonies/{id}/approve"),
            &op3,
            json!({ "password": "op3 keeps a private passphrase", "totp": op3_code }),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let a2_code = code(&app, None, "admin2");
    let a2_password = app.admin2_password.clone();
    let (st, _) = app
        .post(&format!("/v1/key-ceremonies/{id}/approve"), &admin2, json!({ "password": a2_password, "totp": a2_code }))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, done) = approve_as_operator(&app, &admin, &id).await;
    assert_eq!((st, done["state"].as_str()), (StatusCode::OK, Some("completed")), "{done}");
    // op3 now proposes a KEK backup like any approver.
    app.clock.advance_ms(30_000);
    let (st, c) = app
        .post(
            "/v1/key-ceremonies",
            &op3,
            json!({ "kind": "kek_backup", "password": "op3 keeps a private passphrase", "totp": code(&app, None, "op3") }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    app.cleanup().await;
}

/// A conflict smuggled into the database behind the API (an old database, a direct write): the
/// person gets neither class, every decision says why, and the security officers are told.
#[tokio::test]
async fn a_smuggled_conflict_denies_both_classes_and_alerts() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let sec = app.user(&boss, "sec1", PW, json!({})).await;
    app.grant(&boss, &sec, "security_officer", json!({ "kind": "tenant" })).await;
    let boss_id = me_id(&app, &boss).await;
    // `grant` writes custodial roles straight to the store: exactly the smuggling path.
    app.grant(&boss, &boss_id, "security_officer", json!({ "kind": "tenant" })).await;
    let (st, e) = app
        .post("/v1/users", &boss, json!({ "login": "x", "first_name": "X", "last_name": "Y", "addresses": [] }))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["details"]["reason"], "separation_of_duties", "{e}");
    let (st, e) = app.get("/v1/keys", &boss).await;
    assert_eq!(st, StatusCode::OK, "reading keys is no custody: {e}");
    let (st, e) = app.post("/v1/teams", &boss, json!({ "name": "Still fine" })).await;
    assert_eq!(st, StatusCode::CREATED, "other privileges stay: {e}");
    app.clock.advance_ms(30_000);
    let so = app.login_privileged(Some("acme"), "sec1", PW).await;
    let (_, notes) = app.get("/v1/notifications", &so).await;
    let alerts: Vec<_> = notes.as_array().unwrap().iter().filter(|n| n["kind"] == "separation_of_duties").collect();
    assert_eq!(alerts.len(), 1, "told once: {notes}");
    app.cleanup().await;
}

async fn me_id(app: &TestApp, token: &str) -> String {
    app.get("/v1/auth/me", token).await.1["principal"].as_str().unwrap().split_once(':').unwrap().1.to_owned()
}
