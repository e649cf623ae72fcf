//! The telecom policy through the API: dial checks for users and a dialer service
//! account, areas and assignments, rules replaced whole or not at all, do-not-call lists
//! (internal additions, registry imports with line-numbered errors, safe-harbor age, a restart
//! that keeps the copy without rebuilding it), calls per 24 hours, and denied checks audited
//! with the number as a digest only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::{TestApp, backends};
use serde_json::{Value, json};

const PW: &str = "correct horse battery staple";

// 2026-11-23 (Monday) at noon in New York.
const NOON_NY: &str = "2026-11-23T17:00:00Z";

async fn check(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, v) = app.post("/v1/dial-checks", token, body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"][0].clone()
}

fn codes(d: &Value) -> Vec<String> {
    d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["denies"] == true)
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn put_text(app: &TestApp, path: &str, token: &str, text: &str) -> (StatusCode, Value) {
    let (s, _, body) = app.raw("PUT", path, Some(token), Some(text.as_bytes().to_vec()), "text/plain").await;
    (s, serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())))
}

#[tokio::test]
async fn dial_checks_areas_rules_lists_and_limits() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (tenant, admin) = app.tenant(&op, "acme").await;
        let agent_id = app.user(&admin, "ana", PW, json!({})).await;
        app.grant(&admin, &agent_id, "agent", json!({ "kind": "tenant" })).await;
        let agent = app.login(Some("acme"), "ana", PW, None).await["token"].as_str().unwrap().to_owned();
        let auditor_id = app.user(&admin, "audrey", PW, json!({})).await;
        app.grant(&admin, &auditor_id, "auditor", json!({ "kind": "tenant" })).await;

        // A dialer service account.
        let (_, roles) = app.get("/v1/roles", &admin).await;
        let dialer_role = roles.as_array().unwrap().iter().find(|r| r["name"] == "dialer").unwrap()["id"].clone();
        let (s, sa) = app
            .post(
                "/v1/service-accounts",
                &admin,
                json!({ "name": "predictive-dialer", "role_id": dialer_role, "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{sa}");
        let dialer = sa["token"].as_str().unwrap().to_owned();

        // The tenant default is domestic: New York yes, London no, on behalf of the agent.
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+12125550100", "user": "ana", "at": NOON_NY, "dry_run": true })).await;
        assert_eq!(d["allowed"], true, "{d}");
        let d = check(
            &app,
            &dialer,
            json!({ "direction": "outbound_call", "number": "+442079460000", "user": "ana", "at": NOON_NY }),
        )
        .await;
        assert_eq!(codes(&d), ["outside_area"], "{d}");
        // Agents ask for themselves; auditors may not ask.
        let d = check(
            &app,
            &agent,
            json!({ "direction": "outbound_call", "number": "+12125550100", "at": NOON_NY, "dry_run": true }),
        )
        .await;
        assert_eq!(d["allowed"], true);
        let auditor = app.login(Some("acme"), "audrey", PW, None).await["token"].as_str().unwrap().to_owned();
        let (s, _) = app
            .post("/v1/dial-checks", &auditor, json!({ "direction": "outbound_call", "number": "+12125550100" }))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Areas and assignments: the agent may call UK landlines but not +447.
        let (s, v) = app
            .request("PUT", "/v1/dial/areas/UK%20landlines", Some(&admin), Some(json!({ "name": "UK landlines", "include": ["country:44"], "except": ["prefix:447", "prefix:449"] })))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = app
            .request(
                "PUT",
                "/v1/dial/areas/bad",
                Some(&admin),
                Some(json!({ "name": "bad", "include": ["planet:3"], "except": [] })),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, v) = app
            .request(
                "PUT",
                &format!("/v1/dial/assignments/user/{agent_id}"),
                Some(&admin),
                Some(json!({ "call": ["UK landlines"], "text": [], "inbound_block": [] })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _) = app
            .request(
                "PUT",
                &format!("/v1/dial/assignments/user/{agent_id}"),
                Some(&admin),
                Some(json!({ "call": ["Atlantis"], "text": [], "inbound_block": [] })),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let batch = json!({ "checks": [
            { "direction": "outbound_call", "number": "+442079460000", "user": "ana", "at": "2026-11-23T12:00:00Z", "dry_run": true },
            { "direction": "outbound_call", "number": "+447400123456", "user": "ana", "at": "2026-11-23T12:00:00Z" },
            { "direction": "outbound_call", "number": "not a number", "user": "ana" },
        ]});
        let (s, v) = app.post("/v1/dial-checks", &dialer, batch).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let r = v["results"].as_array().unwrap();
        assert_eq!(
            (r[0]["allowed"].clone(), codes(&r[1]), codes(&r[2])),
            (json!(true), vec!["outside_area".to_owned()], vec!["invalid_number".to_owned()])
        );
        let (s, _) = app.request("DELETE", "/v1/dial/areas/UK%20landlines", Some(&admin), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "an assigned area cannot be deleted");
        // Batches: 1..=1000.
        let too_many: Vec<Value> =
            (0..1001).map(|_| json!({ "direction": "outbound_call", "number": "+12125550100" })).collect();
        let (s, v) = app.post("/v1/dial-checks", &dialer, json!({ "checks": too_many })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, _) = app.post("/v1/dial-checks", &dialer, json!({ "checks": [] })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

        // Rules: a bad file is refused whole with line numbers; the rules in force stay.
        let (_, before) = put_text(&app, "/v1/dial/rules", &admin, "").await; // empty: no rules at all is valid
        let _ = before;
        let (s, v) = put_text(
            &app,
            "/v1/dial/rules",
            &admin,
            "US hours mon-sun 08:00-21:00\nUS-NY hours mon-fri 25:00-20:00\nUS-NY frob\n",
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let lines: Vec<i64> =
            v["details"]["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, [2, 3]);
        let (s, _, text) = app.raw("GET", "/v1/dial/rules", Some(&admin), None, "").await;
        assert_eq!((s, text.len()), (StatusCode::OK, 0), "the empty rules stayed in force");
        let (s, _) = put_text(
            &app,
            "/v1/dial/rules",
            &admin,
            "US hours mon-sun 08:00-21:00\nUS-NY hours mon-sun 10:00-12:00 -- a strict campaign state\n",
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let d = check(
            &app,
            &dialer,
            json!({ "direction": "outbound_call", "number": "+12125550100", "at": NOON_NY, "dry_run": true }),
        )
        .await;
        assert_eq!(codes(&d), ["outside_hours"]);
        assert_eq!(d["next_allowed"], "2026-11-24T15:00:00Z");
        let (s, _) = put_text(&app, "/v1/dial/rules", &admin, callvault_policy::rules::SHIPPED).await;
        assert_eq!(s, StatusCode::OK);

        // An internal list: a customer asks not to be called.
        let (s, internal) =
            app.post("/v1/dnc-lists", &admin, json!({ "name": "customer requests", "kind": "internal" })).await;
        assert_eq!(s, StatusCode::CREATED, "{internal}");
        let internal = internal["id"].as_str().unwrap().to_owned();
        let (s, _) = app
            .post(&format!("/v1/dnc-lists/{internal}/numbers"), &agent, json!({ "number": "+1 212 555 0199" }))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) =
            app.post(&format!("/v1/dnc-lists/{internal}/numbers"), &agent, json!({ "number": "garbage" })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+12125550199", "at": NOON_NY, "contact": { "consent": true } })).await;
        assert_eq!(codes(&d), ["do_not_call"], "the internal list wins over consent");
        let (s, _) = app
            .post(&format!("/v1/dnc-lists/{internal}/numbers/remove"), &agent, json!({ "number": "+12125550199" }))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "agents add, administrators remove");
        let (s, _) = app
            .post(&format!("/v1/dnc-lists/{internal}/numbers/remove"), &admin, json!({ "number": "+12125550199" }))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let d = check(
            &app,
            &dialer,
            json!({ "direction": "outbound_call", "number": "+12125550199", "at": NOON_NY, "dry_run": true }),
        )
        .await;
        assert_eq!(d["allowed"], true);

        // A registry copy: a bad file changes nothing; a good one is in force at once.
        let (s, reg) = app
            .post("/v1/dnc-lists", &admin, json!({ "name": "US national", "kind": "registry", "country_code": 1 }))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let reg = reg["id"].as_str().unwrap().to_owned();
        // Created but never imported: it denies with its own reason, not as "refreshed 1970".
        let d = check(
            &app,
            &dialer,
            json!({ "direction": "outbound_call", "number": "+12125550199", "at": NOON_NY, "dry_run": true }),
        )
        .await;
        assert_eq!(codes(&d), ["registry_not_imported"], "{d}");
        assert!(!d.to_string().contains("1970"), "{d}");
        // Junk around a number is refused, not dug through.
        for junk in ["abc+12125550100", "+12125550100\u{1F4DE}"] {
            let d = check(
                &app,
                &dialer,
                json!({ "direction": "outbound_call", "number": junk, "at": NOON_NY, "dry_run": true }),
            )
            .await;
            assert_eq!(d["allowed"], false, "{junk}: {d}");
        }
        let good = "phone\n+12125550122\n2125550133\n212,5550144\n";
        let (s, v) = put_text(&app, &format!("/v1/dnc-lists/{reg}/import?refreshed_at=2026-11-15"), &admin, good).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["distinct"], 3);
        let (s, v) =
            put_text(&app, &format!("/v1/dnc-lists/{reg}/import"), &admin, "+12125550155\nhello\n+44207946000\n").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let lines: Vec<i64> =
            v["details"]["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, [2, 3]);
        for (n, listed) in [("+12125550122", true), ("+12125550144", true), ("+12125550155", false)] {
            let d = check(
                &app,
                &dialer,
                json!({ "direction": "outbound_call", "number": n, "at": NOON_NY, "dry_run": true }),
            )
            .await;
            assert_eq!(d["allowed"], !listed, "{n}: {d}");
        }
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+12125550122", "at": NOON_NY, "dry_run": true, "contact": { "consent": true } })).await;
        assert_eq!(d["allowed"], true, "consent overrides a registry");
        // 46 days later the copy is stale: every outbound check to +1 denies (safe harbor).
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+12125550100", "at": "2026-12-31T17:00:00Z", "dry_run": true })).await;
        assert_eq!(codes(&d), ["stale_registry"], "{d}");

        // Calls per 24 hours (Florida: 3); allowed calls count unless dry_run. Counted calls
        // happen at the server's time, so the clock moves to each call.
        let to = |app: &TestApp, instant: &str| {
            let target = instant.parse::<jiff::Timestamp>().unwrap().as_millisecond();
            let now = callvault_core::clock::Clock::now(&app.clock).millis();
            app.clock.advance_ms(target - now);
        };
        for i in 0..3 {
            let at = format!("2026-11-23T{}:00:00Z", 14 + i);
            to(&app, &at);
            let d =
                check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+13055550100", "at": at })).await;
            assert_eq!(d["allowed"], true, "call {i}: {d}");
        }
        // A counted check far from the server's clock is refused, in either direction (it could
        // otherwise step outside the window it is counted in, or prune the calls before it).
        for at in ["2026-11-25T17:00:00Z", "2026-11-21T17:00:00Z"] {
            let (s, e) = app
                .post(
                    "/v1/dial-checks",
                    &dialer,
                    json!({ "direction": "outbound_call", "number": "+13055550100", "at": at }),
                )
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            assert!(e["detail"].as_str().unwrap().contains("server's clock"), "{e}");
        }
        to(&app, NOON_NY);
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+13055550100", "at": NOON_NY }))
            .await;
        assert_eq!(codes(&d), ["call_limit"], "{d}");
        assert_eq!(d["next_allowed"], "2026-11-24T14:00:00Z");
        // Without `at` the server's time counts: the 5th call is denied too.
        let d = check(&app, &dialer, json!({ "direction": "outbound_call", "number": "+13055550100" })).await;
        assert_eq!(codes(&d), ["call_limit"], "{d}");
        let admin = app.login_totp(Some("acme"), "boss", PW).await;

        // A restart keeps the registry copy (from its file) and the attempts.
        let again = app.restarted().await;
        let d = check(
            &again,
            &dialer,
            json!({ "direction": "outbound_call", "number": "+12125550133", "at": NOON_NY, "dry_run": true }),
        )
        .await;
        assert_eq!(codes(&d), ["do_not_call"], "after a restart: {d}");
        let d =
            check(&again, &dialer, json!({ "direction": "outbound_call", "number": "+13055550100", "at": NOON_NY }))
                .await;
        assert_eq!(codes(&d), ["call_limit"], "after a restart: {d}");

        // Denied checks are audited with a digest of the number, never the number.
        again.seal_audit().await;
        let (s, log) = again.get("/v1/audit/entries?limit=1000", &admin).await;
        assert_eq!(s, StatusCode::OK, "{log}");
        assert!(log.to_string().contains("dial.check.denied"));
        assert!(log.to_string().matches("number_digest").count() >= 8, "{log}");
        let text = log.to_string();
        assert!(text.contains("number_digest") && text.contains("call_limit"), "{text}");
        for n in ["2125550122", "3055550100", "447400123456", "2125550199"] {
            assert!(!text.contains(n), "the audit log holds {n} in clear");
        }
        let _ = tenant;
        again.cleanup().await;
    }
}

/// An agent checks for themself only; naming another user needs a privilege over that user
/// (dialers, supervisors of the user's team), and a caller who may not name users gets the same
/// 403 whether the login exists or not.
#[tokio::test]
async fn who_may_check_for_whom() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    for login in ["ana", "ben"] {
        let id = app.user(&admin, login, PW, json!({})).await;
        app.grant(&admin, &id, "agent", json!({ "kind": "tenant" })).await;
    }
    let ana = app.login(Some("acme"), "ana", PW, None).await["token"].as_str().unwrap().to_owned();
    let (_, roles) = app.get("/v1/roles", &admin).await;
    let dialer_role = roles.as_array().unwrap().iter().find(|r| r["name"] == "dialer").unwrap()["id"].clone();
    let (_, sa) = app
        .post(
            "/v1/service-accounts",
            &admin,
            json!({ "name": "d", "role_id": dialer_role, "scope": { "kind": "tenant" } }),
        )
        .await;
    let dialer = sa["token"].as_str().unwrap().to_owned();
    let ask = |token: String, user: Option<&'static str>| {
        let app = &app;
        async move {
            let mut c = json!({ "direction": "outbound_call", "number": "+12125550100", "dry_run": true });
            if let Some(u) = user {
                c["user"] = json!(u);
            }
            app.post("/v1/dial-checks", &token, c).await
        }
    };
    assert_eq!(ask(ana.clone(), None).await.0, StatusCode::OK, "oneself");
    assert_eq!(ask(ana.clone(), Some("ana")).await.0, StatusCode::OK, "oneself by login");
    let (s1, known) = ask(ana.clone(), Some("ben")).await;
    let (s2, unknown) = ask(ana.clone(), Some("nobody-here")).await;
    assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN), "{known} {unknown}");
    assert_eq!(known["detail"], unknown["detail"], "no login enumeration");
    assert_eq!(known["details"], unknown["details"]);
    assert_eq!(ask(dialer.clone(), Some("ben")).await.0, StatusCode::OK, "a dialer names any agent");
    assert_eq!(ask(dialer, Some("nobody-here")).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    app.cleanup().await;
}

/// `PUT` with some fields used to reset the others to their defaults (anonymous blocking off).
/// PUT now needs every field; PATCH changes only what it names.
#[tokio::test]
async fn settings_put_is_whole_and_patch_is_partial() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let (_, current) = app.get("/v1/dial/settings", &admin).await;
    let mut all = current.clone();
    all["block_anonymous_inbound"] = json!(true);
    all["inbound_block"] = json!(["prefix:1900"]);
    let (s, v) = app.request("PUT", "/v1/dial/settings", Some(&admin), Some(all)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, e) = app.request("PUT", "/v1/dial/settings", Some(&admin), Some(json!({ "margin_minutes": 0 }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["details"]["missing"].as_array().unwrap().iter().any(|m| m == "block_anonymous_inbound"), "{e}");
    let (s, v) = app.request("PATCH", "/v1/dial/settings", Some(&admin), Some(json!({ "margin_minutes": 0 }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["margin_minutes"].as_u64(), v["block_anonymous_inbound"].as_bool()), (Some(0), Some(true)), "{v}");
    assert_eq!(v["inbound_block"], json!(["prefix:1900"]));
    let (s, _) = app.request("PATCH", "/v1/dial/settings", Some(&admin), Some(json!({ "no_such": 1 }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The tenant settings follow the same rule.
    let (s, e) = app.request("PUT", "/v1/settings", Some(&admin), Some(json!({ "password_min_length": 12 }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, v) = app.request("PATCH", "/v1/settings", Some(&admin), Some(json!({ "password_min_length": 12 }))).await;
    assert_eq!((s, v["password_min_length"].as_u64()), (StatusCode::OK, Some(12)), "{v}");
    assert_eq!(v["failed_login_alert_threshold"], 10, "others keep their values");
    // Every other PUT that replaces a document: a body that leaves a field out is refused and
    // names it, instead of resetting it (a station's user, an area's exceptions, an agent's skills).
    let (s, team) = app.post("/v1/teams", &admin, json!({ "name": "Sales" })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let uid = app.user(&admin, "pat", "a long enough passphrase", json!({ "teams": [team["id"]] })).await;
    for (path, partial, missing) in [
        ("/v1/stations/desk-1".to_owned(), json!({ "sip_user": "1001", "level": "none" }), vec!["kind", "user"]),
        ("/v1/dial/areas/UK".to_owned(), json!({ "name": "UK", "include": ["country:44"] }), vec!["except"]),
        (format!("/v1/dial/assignments/user/{uid}"), json!({ "call": [] }), vec!["inbound_block", "text"]),
        (format!("/v1/users/{uid}/assignments"), json!({ "teams": [] }), vec!["services", "skills"]),
    ] {
        let (s, e) = app.request("PUT", &path, Some(&admin), Some(partial)).await;
        let mut named: Vec<&str> = e["details"]["missing"]
            .as_array()
            .map(|m| m.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        named.sort_unstable();
        assert_eq!((s, named), (StatusCode::UNPROCESSABLE_ENTITY, missing), "{path}: {e}");
    }
    let (s, a) = app.get(&format!("/v1/users/{uid}/assignments"), &admin).await;
    assert_eq!((s, &a["teams"]), (StatusCode::OK, &json!([team["id"]])), "nothing was reset: {a}");
    app.cleanup().await;
}
