//! Cross-tenant isolation: every route of the OpenAPI document is called with a token of
//! another tenant against tenant A's objects. The answer is 403 or 404 and never holds data of
//! tenant A, and tenant A's data is unchanged afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::{TestApp, backends};
use serde_json::{Value, json};

#[tokio::test]
async fn another_tenant_never_sees_or_changes_data() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (a_tenant, a_admin) = app.tenant(&op, "alpha").await;
        let (_, b_admin) = app.tenant(&op, "beta").await;
        // Tenant A's objects.
        let (_, team) = app.post("/v1/teams", &a_admin, json!({ "name": "Alpha Team" })).await;
        let (_, skill) = app.post("/v1/skills", &a_admin, json!({ "name": "Alpha Skill" })).await;
        let (_, department) = app.post("/v1/departments", &a_admin, json!({ "name": "Alpha Department" })).await;
        let (_, service) =
            app.post("/v1/services", &a_admin, json!({ "name": "Alpha Service", "kind": "inbound" })).await;
        let user = app.user(&a_admin, "alphauser", "alpha user passphrase", json!({ "teams": [team["id"]] })).await;
        let (_, roles) = app.get("/v1/roles", &a_admin).await;
        let agent_role =
            roles.as_array().unwrap().iter().find(|r| r["name"] == "agent").unwrap()["id"].as_str().unwrap().to_owned();
        let (_, role) =
            app.post("/v1/roles", &a_admin, json!({ "name": "Alpha Role", "privileges": ["team:read"] })).await;
        let grant = app.grant(&a_admin, &user, "agent", json!({ "kind": "tenant" })).await;
        let (s, sa) = app
            .post(
                "/v1/service-accounts",
                &a_admin,
                json!({ "name": "alpha-dialer", "role_id": agent_role, "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{sa}");
        let a_session = app.login(Some("alpha"), "alphauser", "alpha user passphrase", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // Encryption-at-rest objects of tenant A: a stored object, a ceremony, a job, a calling list
        // with a record, a webhook.
        let a_tenant_id: callvault_model::TenantId = a_tenant.parse().unwrap();
        let (object, ceremony, job) = vault_fixtures(&app, a_tenant_id).await;
        let (s, list) = app
            .post(
                "/v1/lists",
                &a_admin,
                json!({ "kind": "calling_list", "name": "Alpha List", "fields": [{ "name": "a" }] }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{list}");
        let list = list["id"].as_str().unwrap().to_owned();
        let (s, record) = app.post(&format!("/v1/lists/{list}/records"), &a_admin, json!({ "a": "alpha value" })).await;
        assert_eq!(s, StatusCode::CREATED, "{record}");
        let record = record["id"].as_str().unwrap().to_owned();
        let (s, hook) = app.post("/v1/webhooks", &a_admin, json!({ "url": "https://alpha.example.com/hook" })).await;
        assert_eq!(s, StatusCode::CREATED, "{hook}");
        let hook = hook["webhook"]["id"].as_str().unwrap().to_owned();
        // Telecom policy of tenant A: an area assigned to its team, an internal do-not-call list.
        let (s, v) = app
            .request(
                "PUT",
                "/v1/dial/areas/Alpha%20area",
                Some(&a_admin),
                Some(json!({ "name": "Alpha area", "include": ["country:44"], "except": [] })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let team_id = team["id"].as_str().unwrap().to_owned();
        let (s, v) = app
            .request(
                "PUT",
                &format!("/v1/dial/assignments/team/{team_id}"),
                Some(&a_admin),
                Some(json!({ "call": ["Alpha area"], "text": [], "inbound_block": [] })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, dnc) =
            app.post("/v1/dnc-lists", &a_admin, json!({ "name": "Alpha requests", "kind": "internal" })).await;
        assert_eq!(s, StatusCode::CREATED, "{dnc}");
        let dnc = dnc["id"].as_str().unwrap().to_owned();
        // Call security of tenant A: a station, a capture agent, a call.
        let (s, v) = app
            .request(
                "PUT",
                "/v1/stations/alpha-desk",
                Some(&a_admin),
                Some(json!({ "sip_user": "alpha-7001", "level": "end_to_edge", "user": null, "kind": "station" })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) =
            app.post("/v1/capture-agents", &a_admin, json!({ "capture_id": 4242, "name": "alpha-kamailio" })).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let party = callvault_policy::callsec::Party {
            kind: callvault_policy::callsec::PartyKind::Station,
            name: "alpha-desk".into(),
            user: None,
            level: Default::default(),
        };
        let (call, _) = app
            .state
            .calls
            .apply_events(
                a_tenant_id,
                "alpha-call-key",
                &[callvault_policy::callsec::Event::LegAdded { leg: "alpha-leg".into(), party }],
                app.state.clock.now().millis(),
                true,
            )
            .await
            .unwrap();
        let call = call.id.to_string();
        let interaction = common::fixtures::interaction(&app, a_tenant_id, None).await;
        let retention = common::fixtures::retention_policy(&app, a_tenant_id).await;
        let hold =
            common::fixtures::legal_hold(&app, a_tenant_id, service["id"].as_str().unwrap().parse().unwrap()).await;
        let dpo_request = common::fixtures::dpo_request(&app, a_tenant_id).await;
        let subject = common::fixtures::subject(&app, a_tenant_id).await;
        let secret_values: Vec<String> =
            [&team["id"], &department["id"], &skill["id"], &service["id"], &role["id"], &sa["account"]["id"]]
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .chain([
                    a_tenant.clone(),
                    user.clone(),
                    grant.clone(),
                    a_session.clone(),
                    interaction.clone(),
                    retention.clone(),
                    hold.clone(),
                    dpo_request.clone(),
                    subject.clone(),
                    object.clone(),
                    ceremony.clone(),
                    job.clone(),
                    list.clone(),
                    record.clone(),
                    hook.clone(),
                    dnc.clone(),
                    call.clone(),
                    "alpha-call-key".into(),
                    "alpha-desk".into(),
                    "alpha-kamailio".into(),
                    "Alpha area".into(),
                    "alpha value".into(),
                    "Alpha Team".into(),
                    "Alpha Department".into(),
                    "alphauser".into(),
                    "Firstalphauser".into(),
                ])
                .collect();
        let before = snapshot(&app, &a_admin).await;

        let id_for = |path: &str| -> String {
            let id = if path.starts_with("/v1/users/") {
                user.clone()
            } else if path.starts_with("/v1/teams/") {
                team["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/departments/") {
                department["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/skills/") {
                skill["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/services/") {
                service["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/roles/") {
                role["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/grants/") {
                grant.clone()
            } else if path.starts_with("/v1/service-accounts/") {
                sa["account"]["id"].as_str().unwrap().to_owned()
            } else if path.starts_with("/v1/tenants/") {
                a_tenant.clone()
            } else if path.starts_with("/v1/sessions/") {
                a_session.clone()
            } else if path.starts_with("/v1/objects/") {
                object.clone()
            } else if path.starts_with("/v1/key-ceremonies/") {
                ceremony.clone()
            } else if path.starts_with("/v1/jobs/") {
                job.clone()
            } else if path.starts_with("/v1/lists/") {
                list.clone()
            } else if path.starts_with("/v1/webhooks/") {
                hook.clone()
            } else if path.starts_with("/v1/dnc-lists/") {
                dnc.clone()
            } else if path.starts_with("/v1/dial/assignments/") {
                team_id.clone()
            } else if path.starts_with("/v1/calls/") {
                call.clone()
            } else if path.starts_with("/v1/interactions/") {
                interaction.clone()
            } else if path.starts_with("/v1/retention-policies/") {
                retention.clone()
            } else if path.starts_with("/v1/legal-holds/") {
                hold.clone()
            } else if path.starts_with("/v1/dpo-requests/") {
                dpo_request.clone()
            } else if path.starts_with("/v1/subjects/") {
                subject.clone()
            } else if path.starts_with("/v1/operators/") {
                // Provider operators: no tenant's data; a tenant's administrator is refused.
                uuid::Uuid::nil().to_string()
            } else {
                panic!("no tenant-A object for {path}: add one to this test")
            };
            path.replace("{id}", &id).replace("{record}", &record).replace("{level}", "team")
        };
        // Valid bodies, so the request reaches the tenant check instead of stopping at validation.
        let body_for = |method: &str, path: &str| -> Option<Value> {
            Some(match (method, path) {
                ("POST", "/v1/grants") => {
                    json!({ "grantee": { "kind": "user", "id": user }, "role_id": agent_role, "scope": { "kind": "tenant" } })
                }
                ("POST", "/v1/service-accounts") => {
                    json!({ "name": "b-dialer", "role_id": agent_role, "scope": { "kind": "tenant" } })
                }
                ("POST", "/v1/access/explain") => {
                    json!({ "user_id": user, "action": "read", "resource": "user" })
                }
                ("POST", "/v1/users") => {
                    json!({ "login": "bnew", "first_name": "B", "last_name": "B", "assignments": { "teams": [team["id"]] } })
                }
                ("PATCH", "/v1/users/{id}") => json!({ "first_name": "Mallory" }),
                ("PUT", "/v1/users/{id}/assignments") => json!({ "teams": [], "skills": [], "services": [] }),
                ("PUT", "/v1/users/{id}/password") => {
                    json!({ "password": "an entirely new passphrase" })
                }
                ("PATCH", "/v1/teams/{id}")
                | ("PATCH", "/v1/skills/{id}")
                | ("PATCH", "/v1/services/{id}")
                | ("PATCH", "/v1/departments/{id}") => json!({ "name": "Hijacked" }),
                ("PUT", "/v1/teams/{id}/department") => json!({ "department_id": null }),
                ("POST", "/v1/interactions/{id}/recording-state") => json!({ "state": "paused" }),
                ("POST", "/v1/interactions/{id}/messages") => json!({ "from": "customer", "text": "hello" }),
                ("PUT", "/v1/lists/{id}/service") => json!({ "service_id": null }),
                ("POST", "/v1/recording-decisions") => json!({ "direction": "inbound" }),
                ("POST", "/v1/performance") => json!({ "intervals": [{ "user_id": user,
                    "interval_start": "2026-12-01T10:15:00Z", "talk_s": 600, "hold_s": 0, "wrap_up_s": 60,
                    "available_s": 240, "break_s": 0, "other_s": 0, "handled": 3, "missed": 0 }] }),
                ("PATCH", "/v1/roles/{id}") => json!({ "description": "hijacked" }),
                ("POST", "/v1/key-ceremonies/{id}/approve") | ("POST", "/v1/key-ceremonies/{id}/share") => {
                    json!({ "password": "x", "totp": "000000" })
                }
                ("POST", "/v1/lists/{id}/records") => json!({ "a": "b value" }),
                ("POST", "/v1/dpo-requests") => json!({ "kind": "erase", "subject_id": subject }),
                ("POST", "/v1/dpo-requests/{id}/extend") => json!({ "reason": "hijacked" }),
                ("PUT", "/v1/users/{id}/collection") => json!({ "directory": false, "confirm_purge": true }),
                ("POST", "/v1/dpo-requests/{id}/archive") => json!({ "passphrase": "a hijacking passphrase" }),
                ("POST", "/v1/dnc-lists/{id}/numbers") | ("POST", "/v1/dnc-lists/{id}/numbers/remove") => {
                    json!({ "number": "+12125550100" })
                }
                ("PUT", "/v1/dial/assignments/{level}/{id}") => json!({ "call": [], "text": [], "inbound_block": [] }),
                ("POST", "/v1/teams") | ("POST", "/v1/skills") => json!({ "name": "B thing" }),
                ("POST", "/v1/services") => json!({ "name": "B service", "kind": "inbound" }),
                ("POST", "/v1/roles") => json!({ "name": "B role", "privileges": ["team:read"] }),
                ("PUT", "/v1/settings") => {
                    json!({ "session_idle_timeout_secs": 600, "session_absolute_timeout_secs": 3600, "password_min_length": 10, "failed_login_alert_threshold": 5, "redact_card_numbers": true })
                }
                ("PUT", "/v1/dial/settings") => {
                    serde_json::to_value(callvault_policy::dial::Settings::default()).unwrap()
                }
                (m, _) if m == "POST" || m == "PUT" || m == "PATCH" => json!({}),
                _ => return None,
            })
        };
        let doc = serde_json::to_value(callvault_server::api::openapi()).unwrap();
        let mut tried = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/v1/") || path.starts_with("/v1/auth/") {
                continue;
            }
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let m = method.to_uppercase();
                let concrete = if path.contains("{id}") { id_for(path) } else { path.clone() };
                let concrete = concrete
                    .replace("/v1/stations/{name}", "/v1/stations/alpha-desk")
                    .replace("{capture_id}", "4242")
                    .replace("/v1/calls/sip", "/v1/calls/sip?leg=b");
                let concrete = if concrete.ends_with("/performance") && m == "GET" {
                    format!("{concrete}?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z")
                } else {
                    concrete
                };
                let (status, body) = app.request(&m, &concrete, Some(&b_admin), body_for(&m, path)).await;
                tried += 1;
                let text = body.to_string();
                for secret in &secret_values {
                    assert!(!text.contains(secret.as_str()), "{m} {path} leaked tenant A data ({secret}): {text}");
                }
                if path.contains("{id}")
                    || (m == "POST"
                        && (path == "/v1/grants"
                            || path == "/v1/access/explain"
                            || path == "/v1/users"
                            || path == "/v1/dpo-requests"))
                {
                    assert!(
                        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                        "{m} {path} answered {status} to another tenant: {text}"
                    );
                }
            }
        }
        assert!(tried >= 35, "only {tried} routes tried");
        assert_eq!(snapshot(&app, &a_admin).await, before, "tenant A's data changed");
        app.cleanup().await;
    }
}

async fn snapshot(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for p in [
        "/v1/users",
        "/v1/teams",
        "/v1/skills",
        "/v1/services",
        "/v1/roles",
        "/v1/grants",
        "/v1/service-accounts",
        "/v1/settings",
        "/v1/lists",
        "/v1/webhooks",
        "/v1/dial/areas",
        "/v1/dial/assignments",
        "/v1/dial/settings",
        "/v1/dial/rules",
        "/v1/dnc-lists",
        "/v1/departments",
        "/v1/recording-policy",
    ] {
        v.push(app.get(p, admin).await.1);
    }
    v
}

/// A stored object (with its blob), a proposed ceremony and a paused job of `tenant`.
async fn vault_fixtures(app: &TestApp, tenant: callvault_model::TenantId) -> (String, String, String) {
    let object = common::stored_object(app, tenant, None, b"alpha value").await;
    let ceremony = common::proposed_ceremony(app, tenant).await;
    let job = common::job(app, tenant, callvault_model::vault::JobState::Paused).await;
    (object.to_string(), ceremony.to_string(), job.to_string())
}
