//! Personal data and secrets never reach a log line: the API is driven with debug logging on,
//! through successes and failures, and the captured log is searched for every personal value
//! and secret of the fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use common::TestApp;
use common::capture::Capture;
use serde_json::json;

#[tokio::test]
async fn no_personal_data_or_secret_in_debug_logs() {
    let capture = Capture::default();
    callvault_server::logging::init_with_writer(callvault_core::config::LogFormat::Json, "debug", capture.clone());
    for db in common::backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (_, admin) = app.tenant(&op, "acme").await;
        let personal = [
            ("zelda.personal", "Zeldaria", "Quortleby", "zelda.q@example.com", "+15555550177"),
            ("omar.personal", "Omarindo", "Vexhallow", "omar.v@example.com", "+15555550188"),
        ];
        let mut secrets: Vec<String> =
            vec![common::ADMIN_PASSWORD.into(), "correct horse battery staple".into(), op.clone(), admin.clone()];
        for (login, first, last, email, phone) in personal {
            let password = format!("{login} secret passphrase");
            let (s, u) = app
                .post(
                    "/v1/users",
                    &admin,
                    json!({
                        "login": login, "first_name": first, "last_name": last, "password": password,
                        "addresses": [{ "kind": "email", "value": email }, { "kind": "phone", "value": phone }]
                    }),
                )
                .await;
            assert_eq!(s, 201, "{u}");
            let id = u["id"].as_str().unwrap();
            app.grant(&admin, id, "agent", json!({ "kind": "tenant" })).await;
            // A successful login, a wrong password, an unknown user, a throttled attempt.
            app.clock.advance_ms(10_000);
            let token = app.login(Some("acme"), login, &password, None).await["token"].as_str().unwrap().to_owned();
            secrets.push(password.clone());
            secrets.push(token.clone());
            app.request(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({ "tenant": "acme", "username": login, "password": "wrong-password-value" })),
            )
            .await;
            app.request("POST", "/v1/auth/login", None, Some(json!({ "tenant": "acme", "username": format!("{login}.ghost"), "password": "ghost-password-value" }))).await;
            app.request(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({ "tenant": "acme", "username": login, "password": "throttled-password-value" })),
            )
            .await;
            // Reads, a denied access, a change, bad input carrying personal data.
            app.get("/v1/users", &token).await;
            app.get("/v1/teams", &token).await;
            app.request(
                "PATCH",
                &format!("/v1/users/{id}"),
                Some(&token),
                Some(json!({ "last_name": format!("{last}-Changed") })),
            )
            .await;
            app.post("/v1/users", &admin, json!({ "login": login, "first_name": first, "last_name": last })).await;
            app.post("/v1/users", &admin, json!({ "login": "x", "first_name": first, "last_name": last, "addresses": [{ "kind": "phone", "value": format!("{phone}x") }] })).await;
            app.post("/v1/auth/password", &token, json!({ "current_password": password, "new_password": "password" }))
                .await;
            let (_, _, _) = app.raw("GET", &format!("/v1/users?q={email}"), Some(&token), None, "").await;
            app.request("DELETE", &format!("/v1/users/{id}"), Some(&admin), None).await;
        }
        app.seal_audit().await;
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(log.lines().count() > 20, "debug logging captured too little:\n{log}");
        assert!(
            log.contains("/v1/users/{id}") && log.contains("\"level\":\"DEBUG\""),
            "request lines at debug level are captured"
        );
        let mut forbidden: Vec<String> = secrets;
        for (login, first, last, email, phone) in personal {
            forbidden.extend(
                [
                    login,
                    first,
                    last,
                    email,
                    phone,
                    "wrong-password-value",
                    "ghost-password-value",
                    "throttled-password-value",
                ]
                .map(str::to_owned),
            );
            forbidden.push(format!("{login}.ghost"));
        }
        for value in &forbidden {
            assert!(!log.contains(value.as_str()), "the log contains `{value}`");
        }
        // Audit entries hold no personal data in clear either.
        let mut r = app.state.store.reader().await.unwrap();
        let entries = callvault_store::AuditStore::audit_entries(&mut r, callvault_store::AuditFilter::All, 0, 100_000)
            .await
            .unwrap();
        assert!(entries.len() > 20);
        for e in &entries {
            for value in &forbidden {
                assert!(!e.body.contains(value.as_str()), "audit entry {:?} contains `{value}`", e.leaf_index);
            }
        }
        drop(r);
        app.cleanup().await;
    }
}
