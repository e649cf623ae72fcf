//! Identity and access: brute force with an injected clock, no user enumeration by
//! timing, TOTP replay, session expiry, password changes, the last administrator, service
//! accounts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use callvault_store::CredentialOwner;
use callvault_store::prelude::*;
use common::{TestApp, backends};
use serde_json::{Value, json};

async fn try_login(app: &TestApp, tenant: &str, user: &str, password: &str) -> (StatusCode, Value) {
    app.request(
        "POST",
        "/v1/auth/login",
        None,
        Some(json!({ "tenant": tenant, "username": user, "password": password })),
    )
    .await
}

async fn failures(app: &TestApp, tenant: &str, user: &str) -> (u32, Option<i64>) {
    let mut r = app.state.store.reader().await.unwrap();
    let t = callvault_store::TenantStore::tenant_by_slug(&mut r, tenant).await.unwrap();
    let u = callvault_store::DirectoryStore::user_id_by_login(&mut r, t.id, user).await.unwrap();
    let c = r.credential(CredentialOwner::User(t.id, u)).await.unwrap();
    (c.failures, c.locked_until)
}

#[tokio::test]
async fn brute_force_delays_grow_lock_at_100_alert_and_others_unaffected() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let victim = app.user(&admin, "victim", "victim real passphrase", json!({})).await;
        app.user(&admin, "bystander", "bystander passphrase", json!({})).await;
        let so = app.user(&admin, "sec", "security officer passphrase", json!({})).await;
        app.grant(&admin, &so, "security_officer", json!({ "kind": "tenant" })).await;
        app.grant(&admin, &victim, "agent", json!({ "kind": "tenant" })).await;
        let mut observed_delays = Vec::new();
        for attempt in 0..200u32 {
            let (before, _) = failures(&app, "acme", "victim").await;
            if before > 0 && before < 100 && [1, 3, 9, 25, 99].contains(&before) {
                // Probe just inside the delay: refused without counting, same answer.
                let delay = callvault_policy::throttle::delay_ms(before);
                app.clock.advance_ms(delay - 1);
                let (s, body) = try_login(&app, "acme", "victim", "victim real passphrase").await;
                assert_eq!(s, StatusCode::UNAUTHORIZED, "even the right password waits out the delay");
                assert_eq!(body, callvault_core::identity::login_failed_body(), "one answer for every failure");
                assert_eq!(failures(&app, "acme", "victim").await.0, before, "a throttled attempt does not count");
                app.clock.advance_ms(1);
                observed_delays.push(delay);
            } else {
                app.clock.advance_ms(10_000);
            }
            let (s, _) = try_login(&app, "acme", "victim", &format!("wrong guess {attempt}")).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            let (after, locked) = failures(&app, "acme", "victim").await;
            assert_eq!(after, (attempt + 1).min(100), "attempt {attempt}");
            assert_eq!(locked.is_some(), after >= 100, "lock exactly at 100 (attempt {attempt})");
            if attempt % 25 == 0 {
                // Another user of the same tenant logs in normally throughout.
                let (s, _) = try_login(&app, "acme", "bystander", "bystander passphrase").await;
                assert_eq!(s, StatusCode::OK, "bystander at attempt {attempt}");
            }
        }
        assert_eq!(observed_delays, vec![1_000, 3_000, 5_000, 10_000, 10_000], "delays grow");
        // Locked: the right password is refused, with the same answer.
        app.clock.advance_ms(60_000);
        let (s, _) = try_login(&app, "acme", "victim", "victim real passphrase").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Security officers were alerted at the threshold and at the lock.
        app.clock.advance_ms(30_000);
        let sec = app.login_privileged(Some("acme"), "sec", "security officer passphrase").await;
        let (s, notes) = app.get("/v1/notifications", &sec).await;
        assert_eq!(s, StatusCode::OK, "{notes}");
        let kinds: Vec<&str> = notes.as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"failed_logins") && kinds.contains(&"account_locked"), "{kinds:?}");
        let text = notes.to_string();
        assert!(!text.contains("victim"), "notifications carry ids, not login names: {text}");
        // An administrator unlocks; the user logs in.
        let admin = app.login_totp(Some("acme"), "boss", "correct horse battery staple").await;
        let (s, _) = app.request("POST", &format!("/v1/users/{victim}/unlock"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, body) = try_login(&app, "acme", "victim", "victim real passphrase").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        app.cleanup().await;
    }
}

/// A login of the unknown user `nobody<i>` and one of `known`, both with `password`, each
/// timed, back to back in alternating order: a load that drifts (other tests on the same cores)
/// hits both sides of a pair alike.
async fn timed_pair(
    app: &TestApp,
    i: usize,
    password: &str,
) -> (((StatusCode, Value), std::time::Duration), ((StatusCode, Value), std::time::Duration)) {
    let unknown = async || {
        let t = std::time::Instant::now();
        let r = try_login(app, "acme", &format!("nobody{i}"), password).await;
        (r, t.elapsed())
    };
    let known = async || {
        let t = std::time::Instant::now();
        let r = try_login(app, "acme", "known", password).await;
        (r, t.elapsed())
    };
    if i.is_multiple_of(2) {
        let u = unknown().await;
        (u, known().await)
    } else {
        let k = known().await;
        (unknown().await, k)
    }
}

/// The median of the per-pair ratios `a[i] / b[i]` (pairs measured back to back).
fn median_ratio(a: &[std::time::Duration], b: &[std::time::Duration]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a.as_secs_f64() / b.as_secs_f64()).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    app.user(&admin, "known", "known user passphrase", json!({})).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut bodies = std::collections::HashSet::new();
    for i in 0..50 {
        // Space the attempts so the throttle never delays the known account.
        app.clock.advance_ms(20_000);
        let (((s1, b1), du), ((s2, b2), dw)) = timed_pair(&app, i, "some password here").await;
        unknown.push(du);
        wrong.push(dw);
        assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
        bodies.insert(b1.to_string());
        bodies.insert(b2.to_string());
        // Keep the known account below the lock.
        if i % 20 == 19 {
            app.request(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({ "tenant": "acme", "username": "known", "password": "known user passphrase" })),
            )
            .await;
        }
    }
    assert_eq!(bodies.len(), 1, "one body for every failure: {bodies:?}");
    let ratio = median_ratio(&unknown, &wrong);
    unknown.sort();
    wrong.sort();
    let (mu, mw) = (unknown[25].as_secs_f64(), wrong[25].as_secs_f64());
    eprintln!(
        "median login time: unknown user {:.1} ms, wrong password {:.1} ms (median ratio of pairs {ratio:.3})",
        mu * 1e3,
        mw * 1e3
    );
    assert!((0.9..=1.1).contains(&ratio), "timing differs by more than 10 %: {ratio}");
    // After repeated failures the right password alone is refused (step-up, no second factor):
    // same body, same timing as an unknown login.
    let mut stepped = Vec::new();
    let mut unknown2 = Vec::new();
    for i in 0..50 {
        // Past the throttle's delay (10 s) but within the step-up window (15 minutes in all).
        app.clock.advance_ms(11_000);
        let (((s1, b1), du), ((s2, b2), ds)) = timed_pair(&app, i, "known user passphrase").await;
        unknown2.push(du);
        stepped.push(ds);
        assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED), "{b2}");
        assert_eq!(b1, b2);
    }
    let ratio = median_ratio(&unknown2, &stepped);
    unknown2.sort();
    stepped.sort();
    let (mu, ms) = (unknown2[25].as_secs_f64(), stepped[25].as_secs_f64());
    eprintln!(
        "median login time: unknown user {:.1} ms, right password under step-up {:.1} ms (median ratio of pairs \
         {ratio:.3})",
        mu * 1e3,
        ms * 1e3
    );
    assert!((0.9..=1.1).contains(&ratio), "step-up timing differs by more than 10 %: {ratio}");
    app.cleanup().await;
}

#[tokio::test]
async fn totp_replay_is_refused_logged_and_notified() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, _admin) = app.tenant(&op, "acme").await;
        let secret = app.totp_secret(Some("acme"), "boss").unwrap();
        app.clock.advance_ms(60_000);
        let code = callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap();
        let body =
            json!({ "tenant": "acme", "username": "boss", "password": "correct horse battery staple", "totp": code });
        let (s, first) = app.request("POST", "/v1/auth/login", None, Some(body.clone())).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        app.clock.advance_ms(2_000);
        let (s, _) = app.request("POST", "/v1/auth/login", None, Some(body)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a code is usable once");
        // Without a code: the second factor is demanded (after the throttle delay of the failure).
        app.clock.advance_ms(10_000);
        let (s, p) = try_login(&app, "acme", "boss", "correct horse battery staple").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(p["type"], "urn:callvault:problem:second-factor-required");
        let token = first["token"].as_str().unwrap();
        let (_, notes) = app.get("/v1/notifications", token).await;
        assert!(notes.as_array().unwrap().iter().any(|n| n["kind"] == "totp_replayed"), "{notes}");
        app.seal_audit().await;
        let (_, entries) = app.get("/v1/audit/entries?limit=1000", token).await;
        assert!(entries.as_array().unwrap().iter().any(|e| e["entry"]["action"] == "auth.totp_replayed"));
        app.cleanup().await;
    }
}

async fn ann_login(app: &TestApp) -> String {
    try_login(app, "acme", "ann", "ann first passphrase").await.1["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sessions_expire_and_password_change_ends_the_others() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let ann = app.user(&admin, "ann", "ann first passphrase", json!({})).await;
        app.grant(&admin, &ann, "agent", json!({ "kind": "tenant" })).await;
        // Idle timeout 30 min.
        let t = ann_login(&app).await;
        app.clock.advance_ms(29 * 60_000);
        assert_eq!(app.get("/v1/auth/me", &t).await.0, StatusCode::OK);
        app.clock.advance_ms(30 * 60_000);
        assert_eq!(app.get("/v1/auth/me", &t).await.0, StatusCode::UNAUTHORIZED);
        // Absolute timeout 12 h, even when active.
        let t = ann_login(&app).await;
        for _ in 0..35 {
            app.clock.advance_ms(20 * 60_000);
            assert_eq!(app.get("/v1/auth/me", &t).await.0, StatusCode::OK);
        }
        app.clock.advance_ms(61 * 60_000 - 35 * 20 * 60_000 + 12 * 3_600_000 - 60 * 60_000);
        assert_eq!(app.get("/v1/auth/me", &t).await.0, StatusCode::UNAUTHORIZED);
        // Logout revokes.
        let t = ann_login(&app).await;
        assert_eq!(app.post("/v1/auth/logout", &t, json!({})).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/v1/auth/me", &t).await.0, StatusCode::UNAUTHORIZED);
        // A password change ends every other session.
        let a = ann_login(&app).await;
        app.clock.advance_ms(2_000);
        let b = ann_login(&app).await;
        let (s, sessions) = app.get("/v1/sessions", &b).await;
        assert_eq!(s, StatusCode::OK);
        assert!(sessions.as_array().unwrap().iter().filter(|s| s["active"] == true).count() >= 2);
        let (s, p) = app
            .post(
                "/v1/auth/password",
                &b,
                json!({ "current_password": "wrong", "new_password": "ann second passphrase" }),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        // A wrong current password counts like a failed login: the next check waits out the delay.
        app.clock.advance_ms(2_000);
        let (s, p) = app
            .post(
                "/v1/auth/password",
                &b,
                json!({ "current_password": "ann first passphrase", "new_password": "password1" }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (s, p) = app
            .post(
                "/v1/auth/password",
                &b,
                json!({ "current_password": "ann first passphrase", "new_password": "ann second passphrase" }),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{p}");
        assert_eq!(app.get("/v1/auth/me", &a).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/v1/auth/me", &b).await.0, StatusCode::OK);
        assert_eq!(try_login(&app, "acme", "ann", "ann first passphrase").await.0, StatusCode::UNAUTHORIZED);
        app.clock.advance_ms(2_000);
        assert_eq!(try_login(&app, "acme", "ann", "ann second passphrase").await.0, StatusCode::OK);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_last_administrator_cannot_be_removed_or_locked_out() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let (_, me) = app.get("/v1/auth/me", &admin).await;
        let boss = me["principal"].as_str().unwrap().strip_prefix("user:").unwrap().to_owned();
        let (_, grants) = app.get("/v1/grants", &admin).await;
        let boss_grant = grants.as_array().unwrap()[0]["id"].as_str().unwrap().to_owned();
        let (s, p) = app.request("DELETE", &format!("/v1/users/{boss}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "{p}");
        let (s, p) = app.request("DELETE", &format!("/v1/grants/{boss_grant}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "{p}");
        // Others' guesses never hard-lock the last administrator.
        for i in 0..110 {
            app.clock.advance_ms(61_000);
            try_login(&app, "acme", "boss", &format!("guess {i}")).await;
        }
        app.clock.advance_ms(61_000);
        let secret = app.totp_secret(Some("acme"), "boss").unwrap();
        let code = callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap();
        let (s, body) = app
            .request("POST", "/v1/auth/login", None, Some(json!({ "tenant": "acme", "username": "boss", "password": "correct horse battery staple", "totp": code })))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let admin = body["token"].as_str().unwrap().to_owned();
        // With a second administrator, the first can go.
        let second = app.user(&admin, "deputy", "deputy admin passphrase", json!({})).await;
        app.grant(&admin, &second, "administrator", json!({ "kind": "tenant" })).await;
        let (s, _) = app.request("DELETE", &format!("/v1/grants/{boss_grant}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn service_accounts_rotate_revoke_and_never_hold_custodian_privileges() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let (_, roles) = app.get("/v1/roles", &admin).await;
        let role = |name: &str| roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].clone();
        let (s, p) = app
            .post(
                "/v1/service-accounts",
                &admin,
                json!({ "name": "bad", "role_id": role("security_officer"), "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (s, p) = app
            .post(
                "/v1/service-accounts",
                &admin,
                json!({ "name": "bad", "role_id": role("data_protection_officer"), "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (s, sa) = app
            .post(
                "/v1/service-accounts",
                &admin,
                json!({ "name": "dialer", "role_id": role("auditor"), "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{sa}");
        let token = sa["token"].as_str().unwrap().to_owned();
        let id = sa["account"]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/v1/teams", &token).await.0, StatusCode::OK);
        assert_eq!(app.post("/v1/teams", &token, json!({ "name": "x" })).await.0, StatusCode::FORBIDDEN);
        let (_, listed) = app.get(&format!("/v1/service-accounts/{id}"), &admin).await;
        assert!(listed["last_used_at"].is_string(), "{listed}");
        let (s, rotated) = app.post(&format!("/v1/service-accounts/{id}/rotate"), &admin, json!({})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(app.get("/v1/teams", &token).await.0, StatusCode::UNAUTHORIZED);
        let new_token = rotated["token"].as_str().unwrap();
        assert_eq!(app.get("/v1/teams", new_token).await.0, StatusCode::OK);
        assert_eq!(
            app.post(&format!("/v1/service-accounts/{id}/revoke"), &admin, json!({})).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(app.get("/v1/teams", new_token).await.0, StatusCode::UNAUTHORIZED);
        app.cleanup().await;
    }
}

/// Failed logins arriving together are all counted: the counter is incremented in the database,
/// not read, incremented in memory and written back (which let concurrent failures overwrite
/// each other, so a brute force spread over parallel requests or several nodes counted less).
#[tokio::test]
async fn concurrent_failed_logins_are_all_counted() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (tenant, admin) = app.tenant(&op, "acme").await;
        let user = app.user(&admin, "target", "the right long passphrase", json!({})).await;
        let attempts = 24;
        let wrong = |i: usize| {
            let body = json!({ "tenant": "acme", "username": "target", "password": format!("wrong guess {i}") });
            let app = &app;
            async move { app.request("POST", "/v1/auth/login", None, Some(body)).await.0 }
        };
        let statuses = futures_util::future::join_all((0..attempts).map(wrong)).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
        let owner = CredentialOwner::User(tenant.parse().unwrap(), user.parse().unwrap());
        let cred = app.state.store.reader().await.unwrap().credential(owner).await.unwrap();
        // Attempts that read the state after earlier failures committed meet the growing delay
        // and are refused as `throttled` without counting (by design); every attempt that got to
        // the password check and failed it must count.
        let wrong_passwords = app
            .audit_bodies()
            .await
            .iter()
            .filter(|e| e["action"] == "auth.login" && e["details"]["reason"] == "wrong_password")
            .count();
        assert!(wrong_passwords >= 2, "the attempts did not overlap ({wrong_passwords} reached the password check)");
        assert_eq!(cred.failures as usize, wrong_passwords, "every concurrent failure counts (of {attempts} attempts)");
        app.cleanup().await;
    }
}

/// Enrolling the second factor does not turn the enrolment-only token into a full session: the
/// confirmation revokes it and answers a new full session (new token, the same absolute end),
/// so a token seen before the second factor never gains its privileges (OWASP: a new session id
/// at every change of privilege level).
#[tokio::test]
async fn enrolling_replaces_the_enrolment_session() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, boss) = app.tenant(&op, "acme").await;
    let pw = "correct horse battery staple";
    let sec = app.user(&boss, "sec9", pw, json!({})).await;
    app.grant(&boss, &sec, "security_officer", json!({ "kind": "tenant" })).await;
    let first = app.login(Some("acme"), "sec9", pw, None).await;
    assert_eq!(first["purpose"], "enroll_totp", "{first}");
    let enrolment = first["token"].as_str().unwrap().to_owned();
    let (s, e) = app.post("/v1/auth/totp/enroll", &enrolment, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap();
    let code = callvault_crypto::totp::code_now_from_base32_at(secret, app.now_secs()).unwrap();
    let (s, done) = app.post("/v1/auth/totp/confirm", &enrolment, json!({ "code": code })).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    let full = done["session"]["token"].as_str().unwrap();
    assert_ne!(full, enrolment);
    assert_eq!(done["session"]["purpose"], "full");
    assert_eq!(done["session"]["expires_at"], first["expires_at"], "enrolling does not extend the session");
    let (s, v) = app.get("/v1/auth/me", &enrolment).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the enrolment token is revoked: {v}");
    let (s, v) = app.get("/v1/sessions", &enrolment).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, me) = app.get("/v1/auth/me", full).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let (s, v) = app.get("/v1/sessions", full).await;
    assert_eq!(s, StatusCode::OK, "the new session is a full one: {v}");
    let active: Vec<&Value> = v.as_array().unwrap().iter().filter(|s| s["active"] == true).collect();
    assert_eq!(active.len(), 1, "only the new session is active: {v}");
    app.cleanup().await;
}
