//! The authorization matrix: every default role × every `/v1` route × a resource in the
//! supervisor's scope, out of it, and in another tenant, against the expected table kept in
//! `authz_matrix.txt`. A route of the OpenAPI document without a row fails the test; so does any
//! answer that differs from the table.
//!
//! Regenerate the table after a deliberate policy change with
//! `CALLVAULT_MATRIX_RECORD=1 cargo test -p callvault-server --test authz_matrix`, then review
//! the diff line by line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use std::collections::BTreeMap;

use callvault_model::records::Timestamp;
use callvault_model::vault::JobState;
use callvault_model::{PrincipalId, SessionId, TenantId, UserId};
use callvault_store::SessionRow;
use callvault_store::prelude::*;
use common::{Db, TestApp};
use serde_json::{Value, json};

const ROLES: [&str; 9] = [
    "agent",
    "supervisor",
    "administrator",
    "security_officer",
    "data_protection_officer",
    "auditor",
    "dialer",
    "recorder",
    "reporting_feed",
];
const PLACES: [&str; 3] = ["in", "out", "other"];

struct World {
    admin_a: String,
    admin_b: String,
    tokens: BTreeMap<&'static str, (String, UserId)>,
    tenant_a: TenantId,
    team_in: String,
    team_out: String,
    service_in: String,
    agent_role: String,
    b_objects: BTreeMap<&'static str, String>,
    own_leaf: u64,
}

#[tokio::test]
async fn every_role_every_route_in_scope_out_of_scope_other_tenant() {
    // Every role tries every route: far more webhooks than one tenant keeps in practice.
    let app = TestApp::with_config(Db::Sqlite, |c| c.webhook_max_per_tenant = 10_000).await;
    let w = world(&app).await;
    let doc = serde_json::to_value(callvault_server::api::openapi()).unwrap();
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") || path.starts_with("/v1/auth/") {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = method.to_uppercase();
            let placed = path.contains("{id}")
                || path.contains("{capture_id}")
                || path.starts_with("/v1/stations/")
                || matches!(
                    (m.as_str(), path.as_str()),
                    ("POST", "/v1/users" | "/v1/grants" | "/v1/access/explain" | "/v1/exports")
                );
            let mut cells = Vec::new();
            for role in ROLES {
                let (token, me) = w.tokens[role].clone();
                let mut codes = Vec::new();
                for place in if placed { &PLACES[..] } else { &PLACES[..1] } {
                    let (concrete, body) = request_for(&app, &w, &m, path, place, me).await;
                    let (status, answer) = app.request(&m, &concrete, Some(&token), body).await;
                    assert!(status.as_u16() < 500, "{m} {path} as {role} ({place}): {answer}");
                    codes.push(status.as_u16().to_string());
                }
                cells.push(format!("{role}={}", codes.join("/")));
            }
            got.insert(format!("{m} {path}"), cells.join(" "));
        }
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/authz_matrix.txt");
    let rendered: String = std::iter::once(HEADER.to_owned())
        .chain(got.iter().map(|(k, v)| format!("{k:<44} {v}")))
        .map(|l| l + "\n")
        .collect();
    if std::env::var("CALLVAULT_MATRIX_RECORD").is_ok() {
        std::fs::write(&file, rendered).unwrap();
        app.cleanup().await;
        return;
    }
    let expected = std::fs::read_to_string(&file).expect("tests/authz_matrix.txt is missing");
    let expected: BTreeMap<String, String> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let key = format!("{} {}", parts.next().unwrap(), parts.next().unwrap());
            (key, parts.collect::<Vec<_>>().join(" "))
        })
        .collect();
    for (route, cells) in &got {
        let want = expected.get(route).unwrap_or_else(|| panic!("{route} has no row in tests/authz_matrix.txt"));
        assert_eq!(cells, want, "{route}: answers differ from the table");
    }
    for route in expected.keys() {
        assert!(got.contains_key(route), "{route} is in the table but not in the API");
    }
    app.cleanup().await;
}

const HEADER: &str = "# Expected HTTP status per route and default role. For routes about one object (or naming one \
in the body), three codes: object in the supervisor's scope / out of it / in another tenant.\n# Regenerate: \
CALLVAULT_MATRIX_RECORD=1 cargo test -p callvault-server --test authz_matrix, then review the diff.";

async fn world(app: &TestApp) -> World {
    let op = app.operator().await;
    let (tenant_a, admin_a) = app.tenant(&op, "alpha").await;
    let (tenant_b, admin_b) = app.tenant(&op, "beta").await;
    let team_in = app.post("/v1/teams", &admin_a, json!({ "name": "In" })).await.1["id"].as_str().unwrap().to_owned();
    let team_out = app.post("/v1/teams", &admin_a, json!({ "name": "Out" })).await.1["id"].as_str().unwrap().to_owned();
    let service_in = app.post("/v1/services", &admin_a, json!({ "name": "InSvc", "kind": "inbound" })).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, roles) = app.get("/v1/roles", &admin_a).await;
    let agent_role =
        roles.as_array().unwrap().iter().find(|r| r["name"] == "agent").unwrap()["id"].as_str().unwrap().to_owned();
    let mut tokens = BTreeMap::new();
    for role in ROLES {
        let login = format!("u{}", role.replace('_', ""));
        let password = format!("{role} matrix passphrase");
        let id = app.user(&admin_a, &login, &password, json!({ "teams": [team_in] })).await;
        let scope = if role == "supervisor" {
            json!({ "kind": "limited", "teams": [team_in], "services": [service_in] })
        } else {
            json!({ "kind": "tenant" })
        };
        app.grant(&admin_a, &id, role, scope).await;
        app.clock.advance_ms(30_000);
        let token = app.login_privileged(Some("alpha"), &login, &password).await;
        tokens.insert(role, (token, id.parse().unwrap()));
    }
    // Tenant B's objects.
    let mut b_objects = BTreeMap::new();
    let b_user = app.user(&admin_b, "buser", "beta user passphrase", json!({})).await;
    b_objects.insert("user", b_user.clone());
    for (kind, path, body) in [
        ("team", "/v1/teams", json!({ "name": "B" })),
        ("skill", "/v1/skills", json!({ "name": "B" })),
        ("service", "/v1/services", json!({ "name": "B", "kind": "inbound" })),
        ("role", "/v1/roles", json!({ "name": "B", "privileges": ["team:read"] })),
        ("department", "/v1/departments", json!({ "name": "B" })),
    ] {
        b_objects.insert(kind, app.post(path, &admin_b, body).await.1["id"].as_str().unwrap().to_owned());
    }
    let b_grant = app.grant(&admin_b, &b_user, "agent", json!({ "kind": "tenant" })).await;
    b_objects.insert("grant", b_grant);
    let (_, b_roles) = app.get("/v1/roles", &admin_b).await;
    let b_agent = b_roles.as_array().unwrap().iter().find(|r| r["name"] == "agent").unwrap()["id"].clone();
    let sa = app
        .post(
            "/v1/service-accounts",
            &admin_b,
            json!({ "name": "b", "role_id": b_agent, "scope": { "kind": "tenant" } }),
        )
        .await
        .1;
    b_objects.insert("service_account", sa["account"]["id"].as_str().unwrap().to_owned());
    b_objects.insert("tenant", tenant_b.clone());
    let b_session =
        app.login(Some("beta"), "buser", "beta user passphrase", None).await["session_id"].as_str().unwrap().to_owned();
    b_objects.insert("session", b_session);
    app.seal_audit().await;
    let tenant_a: TenantId = tenant_a.parse().unwrap();
    app.post("/v1/teams", &admin_a, json!({ "name": "Later" })).await;
    app.seal_audit().await;
    World {
        admin_a,
        admin_b,
        tokens,
        tenant_a,
        team_in,
        team_out,
        service_in,
        agent_role,
        b_objects,
        // Tenant callers number entries in their own tree: 0 is the tenant's first.
        own_leaf: 0,
    }
}

/// A fresh object of tenant A inside or outside the supervisor's scope, or tenant B's object.
async fn object(app: &TestApp, w: &World, kind: &'static str, place: &str, me: UserId, fresh: bool) -> String {
    if place == "other"
        && !matches!(
            kind,
            "object"
                | "ceremony"
                | "job"
                | "list"
                | "webhook"
                | "dnc_list"
                | "call"
                | "interaction"
                | "retention_policy"
                | "legal_hold"
                | "dpo_request"
                | "subject"
                | "operator"
        )
    {
        return w.b_objects.get(kind).cloned().unwrap_or_else(|| panic!("no tenant-B {kind}"));
    }
    let team = if place == "in" { &w.team_in } else { &w.team_out };
    let n = uuid::Uuid::new_v4().simple().to_string();
    let a = &w.admin_a;
    match kind {
        "user" => {
            let (s, u) = app.post("/v1/users", a, json!({ "login": format!("x{n}"), "first_name": "X", "last_name": "Y", "assignments": { "teams": [team] } })).await;
            u["id"].as_str().unwrap_or_else(|| panic!("{s} {u}")).to_owned()
        }
        "team" if place == "in" && !fresh => w.team_in.clone(),
        "team" => app.post("/v1/teams", a, json!({ "name": n })).await.1["id"].as_str().unwrap().to_owned(),
        "skill" => app.post("/v1/skills", a, json!({ "name": n })).await.1["id"].as_str().unwrap().to_owned(),
        "department" => app.post("/v1/departments", a, json!({ "name": n })).await.1["id"].as_str().unwrap().to_owned(),
        "service" if place == "in" && !fresh => w.service_in.clone(),
        "service" => app.post("/v1/services", a, json!({ "name": n, "kind": "inbound" })).await.1["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        "role" => app.post("/v1/roles", a, json!({ "name": n, "privileges": ["team:read"] })).await.1["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        "grant" => {
            let u = Box::pin(object(app, w, "user", place, me, fresh)).await;
            app.grant(a, &u, "agent", json!({ "kind": "tenant" })).await
        }
        "service_account" => app
            .post(
                "/v1/service-accounts",
                a,
                json!({ "name": n, "role_id": w.agent_role, "scope": { "kind": "tenant" } }),
            )
            .await
            .1["account"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        "tenant" => w.tenant_a.to_string(),
        "session" => {
            // A spare session: the caller's own (in) or another user's (out).
            let owner = if place == "in" {
                me
            } else {
                Box::pin(object(app, w, "user", place, me, fresh)).await.parse().unwrap()
            };
            let id = SessionId::new();
            let mut tx = app.state.store.begin().await.unwrap();
            tx.insert_session(&SessionRow {
                token_digest: uuid::Uuid::new_v4().to_string(),
                id,
                tenant_id: Some(w.tenant_a),
                principal: PrincipalId::User(owner),
                purpose: "full".into(),
                second_factor: false,
                created_at: Timestamp(common::T0).millis(),
                last_seen_at: i64::MAX / 2,
                idle_timeout_ms: 1_800_000,
                expires_at: i64::MAX / 2,
                revoked_at: None,
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            id.to_string()
        }
        "object" => {
            let service = (place == "in").then(|| w.service_in.parse().unwrap());
            common::stored_object(app, tenant_of(w, place), service, b"hello").await.to_string()
        }
        "ceremony" => common::proposed_ceremony(app, tenant_of(w, place)).await.to_string(),
        "job" => common::job(app, tenant_of(w, place), JobState::Running).await.to_string(),
        "list" => {
            let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
            let (s, l) = app
                .post(
                    "/v1/lists",
                    admin,
                    json!({ "kind": "calling_list", "name": n, "fields": [{ "name": "a" }],
                            "service_id": (place == "in").then(|| w.service_in.clone()) }),
                )
                .await;
            l["id"].as_str().unwrap_or_else(|| panic!("{s} {l}")).to_owned()
        }
        "webhook" => {
            let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
            let (s, h) = app.post("/v1/webhooks", admin, json!({ "url": "https://hooks.example.com/cv" })).await;
            h["webhook"]["id"].as_str().unwrap_or_else(|| panic!("{s} {h}")).to_owned()
        }
        "dnc_list" => {
            let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
            let (s, l) = app.post("/v1/dnc-lists", admin, json!({ "name": n, "kind": "internal" })).await;
            l["id"].as_str().unwrap_or_else(|| panic!("{s} {l}")).to_owned()
        }
        "call" => {
            let party = callvault_policy::callsec::Party {
                kind: callvault_policy::callsec::PartyKind::Gateway,
                name: "gw".into(),
                user: None,
                level: Default::default(),
            };
            let events = [callvault_policy::callsec::Event::LegAdded { leg: "a".into(), party }];
            let (view, _) = app
                .state
                .calls
                .apply_events(tenant_of(w, place), &n, &events, app.state.clock.now().millis(), true)
                .await
                .unwrap();
            view.id.to_string()
        }
        "interaction" => {
            let service = (place == "in").then(|| w.service_in.parse().unwrap());
            common::fixtures::interaction(app, tenant_of(w, place), service).await
        }
        "legal_hold" => common::fixtures::legal_hold(app, tenant_of(w, place), callvault_model::ServiceId::new()).await,
        "retention_policy" => common::fixtures::retention_policy(app, tenant_of(w, place)).await,
        "dpo_request" => common::fixtures::dpo_request(app, tenant_of(w, place)).await,
        "subject" => common::fixtures::subject(app, tenant_of(w, place)).await,
        // Provider operators are no tenant data: any id, every tenant role is refused first.
        "operator" => uuid::Uuid::nil().to_string(),
        other => panic!("no fixture for {other}"),
    }
}

fn tenant_of(w: &World, place: &str) -> TenantId {
    if place == "other" { w.b_objects["tenant"].parse().unwrap() } else { w.tenant_a }
}

async fn request_for(
    app: &TestApp,
    w: &World,
    m: &str,
    path: &str,
    place: &str,
    me: UserId,
) -> (String, Option<Value>) {
    let kind = match path.split('/').nth(2).unwrap_or("") {
        "users" => "user",
        "teams" => "team",
        "skills" => "skill",
        "departments" => "department",
        "services" => "service",
        "roles" => "role",
        "grants" => "grant",
        "service-accounts" => "service_account",
        "sessions" => "session",
        "tenants" => "tenant",
        "objects" => "object",
        "key-ceremonies" => "ceremony",
        "jobs" => "job",
        "lists" => "list",
        "webhooks" => "webhook",
        "dnc-lists" => "dnc_list",
        "calls" => "call",
        "interactions" => "interaction",
        "retention-policies" => "retention_policy",
        "legal-holds" => "legal_hold",
        "dpo-requests" => "dpo_request",
        "subjects" => "subject",
        "operators" => "operator",
        "dial" if path.contains("assignments") => "team",
        _ => "",
    };
    let id = if path.contains("{id}") { Some(object(app, w, kind, place, me, m != "GET").await) } else { None };
    let concrete = match &id {
        Some(id) => path.replace("{id}", id),
        None => path.to_owned(),
    };
    let concrete = if path.contains("{record}") {
        let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
        let list = id.clone().unwrap_or_default();
        let (s, r) = app.post(&format!("/v1/lists/{list}/records"), admin, json!({ "a": "x" })).await;
        concrete.replace("{record}", r["id"].as_str().unwrap_or_else(|| panic!("{s} {r}")))
    } else {
        concrete
    };
    let area = uuid::Uuid::new_v4().simple().to_string();
    let concrete = if path.starts_with("/v1/stations/") {
        // A station of the place's tenant.
        let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
        let (s, st) = app
            .request(
                "PUT",
                &format!("/v1/stations/{area}"),
                Some(admin),
                Some(json!({ "sip_user": area, "level": "minimal", "user": null, "kind": "station" })),
            )
            .await;
        assert_eq!(s, axum::http::StatusCode::OK, "{st}");
        concrete.replace("{name}", &area)
    } else if path.contains("{capture_id}") {
        let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
        let id = u32::from_str_radix(&area[..7], 16).unwrap() + 1;
        let (s, ag) = app.post("/v1/capture-agents", admin, json!({ "capture_id": id, "name": "m" })).await;
        assert_eq!(s, axum::http::StatusCode::CREATED, "{ag}");
        concrete.replace("{capture_id}", &id.to_string())
    } else if path.contains("{name}") {
        let admin = if place == "other" { &w.admin_b } else { &w.admin_a };
        let (s, a) = app
            .request(
                "PUT",
                &format!("/v1/dial/areas/{area}"),
                Some(admin),
                Some(json!({ "name": area, "include": ["country:44"], "except": [] })),
            )
            .await;
        assert_eq!(s, axum::http::StatusCode::OK, "{a}");
        concrete.replace("{name}", &area)
    } else {
        concrete.replace("{level}", "team")
    };
    let concrete = match path {
        "/v1/audit/proofs/inclusion" => format!("{path}?leaf_index={}", w.own_leaf),
        "/v1/audit/proofs/consistency" => format!("{path}?first=1"),
        "/v1/objects" if m == "POST" => format!("{path}?class=voice&size=2"),
        "/v1/calls/sip" => format!("{path}?leg=a"),
        p if p.ends_with("/performance") && m == "GET" => {
            format!("{concrete}?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z")
        }
        _ => concrete,
    };
    let n = uuid::Uuid::new_v4().simple().to_string();
    let team = if place == "in" { json!(w.team_in) } else { json!(w.team_out) };
    let body = match (m, path) {
        ("POST", "/v1/users") => {
            let team = if place == "other" { json!(w.b_objects["team"]) } else { team };
            Some(
                json!({ "login": format!("n{n}"), "first_name": "N", "last_name": "M", "assignments": { "teams": [team] } }),
            )
        }
        ("POST", "/v1/grants") => {
            let user = object(app, w, "user", place, me, true).await;
            Some(
                json!({ "grantee": { "kind": "user", "id": user }, "role_id": w.agent_role, "scope": { "kind": "tenant" } }),
            )
        }
        ("POST", "/v1/access/explain") => {
            let user = object(app, w, "user", place, me, true).await;
            Some(json!({ "user_id": user, "action": "read", "resource": "user" }))
        }
        ("POST", "/v1/tenants") => Some(
            json!({ "slug": format!("t{}", &n[..12]), "display_name": "T", "administrator": { "login": "a", "first_name": "A", "last_name": "B", "password": "tenant admin passphrase" } }),
        ),
        ("PATCH", "/v1/tenants/{id}") => Some(json!({ "display_name": "Renamed" })),
        ("PATCH", "/v1/users/{id}") => Some(json!({ "last_name": "Changed" })),
        ("PUT", "/v1/users/{id}/assignments") => Some(json!({ "teams": [team], "skills": [], "services": [] })),
        ("PUT", "/v1/users/{id}/password") => Some(json!({ "password": "a brand new passphrase" })),
        ("PATCH", "/v1/teams/{id}") | ("PATCH", "/v1/skills/{id}") | ("PATCH", "/v1/services/{id}") => {
            Some(json!({ "name": format!("r{n}") }))
        }
        ("POST", "/v1/teams") | ("POST", "/v1/skills") | ("POST", "/v1/departments") => Some(json!({ "name": n })),
        ("PATCH", "/v1/departments/{id}") => Some(json!({ "name": format!("r{n}") })),
        ("PUT", "/v1/teams/{id}/department") => Some(json!({ "department_id": null })),
        ("POST", "/v1/recording-decisions") => Some(json!({ "direction": "inbound", "agents": [me] })),
        ("POST", "/v1/interactions/{id}/recording-state") => Some(json!({ "state": "paused" })),
        ("POST", "/v1/interactions/{id}/messages") => Some(json!({ "from": "customer", "text": "hello" })),
        ("PUT", "/v1/lists/{id}/service") => Some(json!({ "service_id": null })),
        ("POST", "/v1/performance") => Some(json!({ "intervals": [{ "user_id": me,
            "interval_start": "2026-12-01T10:15:00Z", "talk_s": 600, "hold_s": 0, "wrap_up_s": 60, "available_s": 240,
            "break_s": 0, "other_s": 0, "handled": 3, "missed": 0 }] })),
        ("POST", "/v1/services") => Some(json!({ "name": n, "kind": "campaign" })),
        ("POST", "/v1/roles") => Some(json!({ "name": n, "privileges": ["team:read"] })),
        ("PATCH", "/v1/roles/{id}") => Some(json!({ "description": "changed" })),
        ("POST", "/v1/key-ceremonies") => Some(json!({ "kind": "new_key", "password": "x", "totp": "000000" })),
        ("POST", "/v1/key-ceremonies/{id}/approve") | ("POST", "/v1/key-ceremonies/{id}/share") => {
            Some(json!({ "password": "x", "totp": "000000" }))
        }
        ("POST", "/v1/operators") => {
            Some(json!({ "login": format!("o{}", &n[..8]), "password": "operator matrix passphrase" }))
        }
        ("POST", "/v1/lists") => Some(json!({ "kind": "calling_list", "name": n, "fields": [{ "name": "a" }] })),
        ("POST", "/v1/lists/{id}/records") => Some(json!({ "a": "y" })),
        ("POST", "/v1/webhooks") => Some(json!({ "url": "https://hooks.example.com/new" })),
        ("POST", "/v1/dial-checks") => {
            Some(json!({ "direction": "outbound_call", "number": "+12125550100", "dry_run": true }))
        }
        ("PUT", "/v1/dial/areas/{name}") => Some(json!({ "name": area, "include": ["country:44"], "except": [] })),
        ("PUT", "/v1/stations/{name}") => {
            Some(json!({ "sip_user": n, "level": "end_to_edge", "user": null, "kind": "station" }))
        }
        ("POST", "/v1/capture-agents") => {
            Some(json!({ "capture_id": u32::from_str_radix(&n[..7], 16).unwrap() + 1, "name": "m" }))
        }
        ("POST", "/v1/calls/events") => Some(
            json!({ "call": n, "events": [{ "type": "leg_added", "leg": "a", "party": { "kind": "gateway", "name": "g" } }] }),
        ),
        ("PUT", "/v1/calls/alerts/settings") | ("PATCH", "/v1/calls/alerts/settings") => {
            Some(json!({ "enabled": true }))
        }
        ("PUT", "/v1/dial/assignments/{level}/{id}") => Some(json!({ "call": [], "text": [], "inbound_block": [] })),
        ("POST", "/v1/dnc-lists") => Some(json!({ "name": n, "kind": "internal" })),
        ("POST", "/v1/dnc-lists/{id}/numbers") | ("POST", "/v1/dnc-lists/{id}/numbers/remove") => {
            Some(json!({ "number": "+12125550100" }))
        }
        ("POST", "/v1/exports") => {
            let o = object(app, w, "object", place, me, true).await;
            Some(json!({ "ids": [o] }))
        }
        ("POST", "/v1/service-accounts") => {
            Some(json!({ "name": n, "role_id": w.agent_role, "scope": { "kind": "tenant" } }))
        }
        ("PUT", "/v1/settings") => Some(
            json!({ "session_idle_timeout_secs": 1800, "session_absolute_timeout_secs": 43200, "password_min_length": 8, "failed_login_alert_threshold": 10, "redact_card_numbers": true }),
        ),
        ("POST", "/v1/legal-holds") => {
            Some(json!({ "name": "m", "reason": "m", "scope": { "kind": "service", "id": w.service_in } }))
        }
        ("POST", "/v1/retention-policies") => Some(json!({ "category": "recordings", "days": 30 })),
        ("POST", "/v1/dpo-requests") => {
            let subject = object(app, w, "subject", place, me, true).await;
            Some(json!({ "kind": "access", "subject_id": subject }))
        }
        ("POST", "/v1/dpo-requests/{id}/extend") => Some(json!({ "reason": "matrix" })),
        ("PUT", "/v1/subject-exclusions") => Some(json!({ "identifiers": [] })),
        ("PUT", "/v1/personal-data/collection") => Some(json!({ "category": "reporting", "collected": true })),
        ("PUT", "/v1/users/{id}/collection") => Some(json!({ "directory": true })),
        ("POST", "/v1/dpo-requests/{id}/archive") => Some(json!({ "passphrase": "matrix passphrase" })),
        ("POST", "/v1/interactions") => Some(json!({ "channel": "voice", "direction": "inbound" })),
        ("PUT", "/v1/diagnostics/event-logging") => Some(json!({ "minutes": 10, "reason": "authorization matrix" })),
        ("PUT", "/v1/dial/settings") => {
            Some(serde_json::to_value(callvault_policy::dial::Settings::default()).unwrap())
        }
        (m, _) if m != "GET" && m != "DELETE" => Some(json!({})),
        _ => None,
    };
    let _ = &w.admin_b;
    (concrete, body)
}
