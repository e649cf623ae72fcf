//! Recordings as seed 002 has them, through the real API on SQLite and PostgreSQL: who may play a
//! personal recording (its agent, supervisors of the agent's team or department) and a
//! quality-management one (listeners of its service); administrators never; the built-in
//! `recorder` role uploads and nothing else; recording decisions from the tenant's policy;
//! pauses with their maximum on the injected clock, audited, carried into the stored object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::{TestApp, backends};
use serde_json::{Value, json};

const PW: &str = "correct horse battery staple";

async fn named(app: &TestApp, admin: &str, path: &str, body: Value) -> String {
    let (s, v) = app.post(path, admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "{path}: {v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.request("PUT", path, Some(token), Some(body)).await
}

/// A service account with a built-in role; returns its token.
async fn service_account(app: &TestApp, admin: &str, name: &str, role: &str) -> String {
    let (_, roles) = app.get("/v1/roles", admin).await;
    let role = roles.as_array().unwrap().iter().find(|r| r["name"] == role).unwrap()["id"].clone();
    let (s, sa) = app
        .post("/v1/service-accounts", admin, json!({ "name": name, "role_id": role, "scope": { "kind": "tenant" } }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sa}");
    sa["token"].as_str().unwrap().to_owned()
}

async fn upload(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let data = b"RIFF....WAVEfmt fake audio".to_vec();
    let path = format!("/v1/objects?class=voice&size={}&{query}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data), "audio/wav").await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn play(app: &TestApp, token: &str, id: &str) -> StatusCode {
    app.raw("GET", &format!("/v1/objects/{id}/content"), Some(token), None, "").await.0
}

struct World {
    admin: String,
    recorder: String,
    sales_agent: (String, String),
    support_agent: (String, String),
    north_supervisor: String,
    south_supervisor: String,
    inbound: String,
    campaign: String,
    sales_team: String,
    support_team: String,
}

/// Departments North (team Sales) and South (team Support); an agent in each team; a supervisor
/// of each department, the North one also holding the Inbound service; a recorder.
async fn world(app: &TestApp) -> World {
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let north = named(app, &admin, "/v1/departments", json!({ "name": "North" })).await;
    let south = named(app, &admin, "/v1/departments", json!({ "name": "South" })).await;
    let sales_team = named(app, &admin, "/v1/teams", json!({ "name": "Sales" })).await;
    let support_team = named(app, &admin, "/v1/teams", json!({ "name": "Support" })).await;
    for (team, dept) in [(&sales_team, &north), (&support_team, &south)] {
        let (s, t) = put(app, &format!("/v1/teams/{team}/department"), &admin, json!({ "department_id": dept })).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert_eq!(t["department_id"], json!(dept));
    }
    let inbound = named(app, &admin, "/v1/services", json!({ "name": "Inbound", "kind": "inbound" })).await;
    let campaign = named(app, &admin, "/v1/services", json!({ "name": "Renewal", "kind": "campaign" })).await;
    let sales_id = app.user(&admin, "sam", PW, json!({ "teams": [sales_team] })).await;
    let support_id = app.user(&admin, "sue", PW, json!({ "teams": [support_team] })).await;
    for id in [&sales_id, &support_id] {
        app.grant(&admin, id, "agent", json!({ "kind": "tenant" })).await;
    }
    let n = app.user(&admin, "nora", PW, json!({})).await;
    app.grant(&admin, &n, "supervisor", json!({ "kind": "limited", "departments": [north], "services": [inbound] }))
        .await;
    let s = app.user(&admin, "stan", PW, json!({})).await;
    app.grant(&admin, &s, "supervisor", json!({ "kind": "limited", "departments": [south] })).await;
    let recorder = service_account(app, &admin, "recorder-1", "recorder").await;
    let login = |l: &'static str| async move {
        app.login(Some("acme"), l, PW, None).await["token"].as_str().unwrap().to_owned()
    };
    World {
        recorder,
        sales_agent: (sales_id, login("sam").await),
        support_agent: (support_id, login("sue").await),
        north_supervisor: login("nora").await,
        south_supervisor: login("stan").await,
        admin,
        inbound,
        campaign,
        sales_team,
        support_team,
    }
}

#[tokio::test]
async fn who_may_play_a_recording() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        // Personal recordings: the Sales agent's without a service, the Support agent's in Inbound.
        let (s, sales_rec) = upload(&app, &w.recorder, &format!("agents={}", w.sales_agent.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{sales_rec}");
        assert_eq!(sales_rec["recording"], "personal");
        let (s, support_rec) =
            upload(&app, &w.recorder, &format!("agents={}&service={}&consent=yes", w.support_agent.0, w.inbound)).await;
        assert_eq!(s, StatusCode::CREATED, "{support_rec}");
        assert_eq!(support_rec["consent"], "yes");
        // Quality-management recordings of the two services (the Sales agent on the first).
        let (s, qm_inbound) = upload(
            &app,
            &w.recorder,
            &format!("agents={}&service={}&recording=quality_management", w.sales_agent.0, w.inbound),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{qm_inbound}");
        assert_eq!(qm_inbound["recording"], "quality_management");
        let (s, qm_campaign) = upload(&app, &w.recorder, &format!("service={}", w.campaign)).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(qm_campaign["recording"], "quality_management", "no agents: the service's");
        let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
        let (sales_rec, support_rec, qm_inbound, qm_campaign) =
            (id(&sales_rec), id(&support_rec), id(&qm_inbound), id(&qm_campaign));

        // (who, recording, expected)
        let cases = [
            ("own personal", &w.sales_agent.1, &sales_rec, StatusCode::OK),
            ("another agent's", &w.sales_agent.1, &support_rec, StatusCode::FORBIDDEN),
            (
                "QM of a service one works in: the service's, not the agent's",
                &w.sales_agent.1,
                &qm_inbound,
                StatusCode::FORBIDDEN,
            ),
            ("supervisor of the agent's department, no service on it", &w.north_supervisor, &sales_rec, StatusCode::OK),
            (
                "supervisor holding the service, agent of another department",
                &w.north_supervisor,
                &support_rec,
                StatusCode::FORBIDDEN,
            ),
            ("QM by the service listen right", &w.north_supervisor, &qm_inbound, StatusCode::OK),
            ("QM of a service out of scope", &w.north_supervisor, &qm_campaign, StatusCode::FORBIDDEN),
            ("other department's supervisor", &w.south_supervisor, &sales_rec, StatusCode::FORBIDDEN),
            ("own department's agent", &w.south_supervisor, &support_rec, StatusCode::OK),
            ("administrator never: personal", &w.admin, &sales_rec, StatusCode::FORBIDDEN),
            ("administrator never: QM", &w.admin, &qm_inbound, StatusCode::FORBIDDEN),
            ("recorder never reads back", &w.recorder, &sales_rec, StatusCode::FORBIDDEN),
        ];
        for (name, token, object, want) in cases {
            assert_eq!(play(&app, token, object).await, want, "{name}");
        }
        // The listing shows the same.
        let (s, page) = app.get("/v1/objects", &w.north_supervisor).await;
        assert_eq!(s, StatusCode::OK);
        let mut seen: Vec<String> = page["items"].as_array().unwrap().iter().map(id).collect();
        seen.sort();
        let mut want = vec![sales_rec.clone(), qm_inbound.clone()];
        want.sort();
        assert_eq!(seen, want);
        // Moving the Support team into North brings its agent into Nora's scope at once.
        let (_, depts) = app.get("/v1/departments", &w.admin).await;
        let north = depts.as_array().unwrap().iter().find(|d| d["name"] == "North").unwrap()["id"].clone();
        let (s, _) =
            put(&app, &format!("/v1/teams/{}/department", w.support_team), &w.admin, json!({ "department_id": north }))
                .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(play(&app, &w.north_supervisor, &support_rec).await, StatusCode::OK);
        assert_eq!(play(&app, &w.south_supervisor, &support_rec).await, StatusCode::FORBIDDEN);
        let _ = &w.sales_team;
        app.cleanup().await;
    }
}

#[tokio::test]
async fn listening_never_comes_with_administration() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        let (s, role) =
            app.post("/v1/roles", &w.admin, json!({ "name": "listener", "privileges": ["interaction:listen"] })).await;
        assert_eq!(s, StatusCode::CREATED, "{role}");
        // Not to the administrator: separation of duties.
        let (_, me) = app.get("/v1/auth/me", &w.admin).await;
        let boss = me["principal"].as_str().unwrap().strip_prefix("user:").unwrap().to_owned();
        let (s, e) = app
            .post(
                "/v1/grants",
                &w.admin,
                json!({ "grantee": { "kind": "user", "id": boss }, "role_id": role["id"],
                "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        // Not through a service account the administrator holds the token of.
        let (s, e) = app
            .post(
                "/v1/service-accounts",
                &w.admin,
                json!({ "name": "puppet", "role_id": role["id"],
                "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("interaction:listen"), "{e}");
        // Nor by giving the listen privilege to a role a service account already holds.
        let (s, feed) =
            app.post("/v1/roles", &w.admin, json!({ "name": "feed", "privileges": ["interaction:create"] })).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app
            .post(
                "/v1/service-accounts",
                &w.admin,
                json!({ "name": "feed-1", "role_id": feed["id"],
                "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = app
            .request(
                "PATCH",
                &format!("/v1/roles/{}", feed["id"].as_str().unwrap()),
                Some(&w.admin),
                Some(json!({ "privileges": ["interaction:create", "interaction:export"] })),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        // The recorder uploads content and contact records, and nothing else.
        let (s, _) = upload(&app, &w.recorder, &format!("agents={}", w.sales_agent.0)).await;
        assert_eq!(s, StatusCode::CREATED);
        for path in ["/v1/objects", "/v1/users", "/v1/teams", "/v1/roles", "/v1/audit/entries", "/v1/keys"] {
            let (s, _) = app.get(path, &w.recorder).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "recorder: GET {path}");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn decisions_follow_the_policy_and_pauses() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        let (s, p) = app.get("/v1/recording-policy", &w.admin).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(p["enabled"], true);
        // Inbound records for quality management and asks for consent; Sam's personal recording off.
        let policy = json!({
            "personal": true,
            "users": [{ "user_id": w.support_agent.0, "personal": false }],
            "services": [{ "service_id": w.inbound, "quality_management": true,
                "consent": { "inbound": "required", "outbound": "required", "parties": "customer" } }],
            "max_pause_seconds": 120,
        });
        let (s, p) = put(&app, "/v1/recording-policy", &w.admin, policy).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let (s, e) = put(&app, "/v1/recording-policy", &w.admin, json!({ "max_pause_seconds": 1 })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (s, e) = put(&app, "/v1/recording-policy", &w.recorder, json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");

        let ask = |consent: &str| {
            json!({ "interaction": "call-7", "service": w.inbound, "agents": [w.sales_agent.0, w.support_agent.0],
                "direction": "inbound", "consent": { "customer": consent } })
        };
        let (s, d) = app.post("/v1/recording-decisions", &w.recorder, ask("no_answer")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["record"], false);
        assert_eq!(d["reasons"][0]["rule"], "consent_missing", "{d}");
        let (_, d) = app.post("/v1/recording-decisions", &w.recorder, ask("yes")).await;
        assert_eq!(d["record"], true, "{d}");
        let kinds: Vec<(String, Value)> = d["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["kind"].as_str().unwrap().to_owned(), r["agent"].clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![("quality_management".into(), Value::Null), ("personal".into(), json!(w.sales_agent.0))]
        );
        // The tenant comes from the token: a body naming a tenant is refused.
        let mut bad = ask("yes");
        bad["tenant"] = json!("00000000-0000-0000-0000-000000000000");
        let (s, _) = app.post("/v1/recording-decisions", &w.recorder, bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Agents and administrators do not ask.
        let (s, _) = app.post("/v1/recording-decisions", &w.sales_agent.1, ask("yes")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // The call: an interaction with both agents. Sam may pause his own call only with the
        // privilege; Nora (supervisor) may not pause others without `recording_state:update`.
        let (s, call) = app
            .post(
                "/v1/interactions",
                &w.recorder,
                json!({ "channel": "voice", "direction": "inbound",
                "external_ref": "call-7", "service_id": w.inbound, "agents": [w.sales_agent.0, w.support_agent.0],
                "consent": "yes", "started_at": "2026-12-03T10:00:00Z", "identifiers": [] }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{call}");
        let call = call["id"].as_str().unwrap().to_owned();
        let state_path = format!("/v1/interactions/{call}/recording-state");
        let (s, _) = app.post(&state_path, &w.sales_agent.1, json!({ "state": "paused" })).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "pausing needs a right");
        let (s, pauser) = app
            .post("/v1/roles", &w.admin, json!({ "name": "may_pause", "privileges": ["recording_state:update:own"] }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{pauser}");
        app.grant(&w.admin, &w.sales_agent.0, "may_pause", json!({ "kind": "tenant" })).await;
        let sam = app.login(Some("acme"), "sam", PW, None).await["token"].as_str().unwrap().to_owned();
        let (s, st) = app.post(&state_path, &sam, json!({ "state": "paused" })).await;
        assert_eq!(s, StatusCode::OK, "{st}");
        assert_eq!(st["state"], "paused");
        let (_, d) = app.post("/v1/recording-decisions", &w.recorder, ask("yes")).await;
        assert_eq!(d["record"], false, "{d}");
        assert_eq!(d["reasons"].as_array().unwrap().last().unwrap()["rule"], "paused");
        let (s, _) = app.post(&state_path, &w.north_supervisor, json!({ "state": "recording" })).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "resuming another's call needs its own right");
        // Sue is on the call but holds no pause right; she may read the state of her own call.
        let (s, st) = app.get(&state_path, &w.support_agent.1).await;
        assert_eq!((s, st["state"].as_str()), (StatusCode::OK, Some("paused")));
        // Resumed by Sam after 30 s; paused again and left: the policy resumes it after 120 s.
        app.clock.advance_ms(30_000);
        let (_, st) = app.post(&state_path, &sam, json!({ "state": "recording" })).await;
        assert_eq!(st["state"], "recording");
        app.clock.advance_ms(10_000);
        let (_, st) = app.post(&state_path, &sam, json!({ "state": "paused" })).await;
        assert_eq!(st["state"], "paused");
        app.clock.advance_ms(119_000);
        let (_, st) = app.get(&state_path, &sam).await;
        assert_eq!(st["state"], "paused", "{st}");
        app.clock.advance_ms(1_000);
        let (_, st) = app.get(&state_path, &sam).await;
        assert_eq!(st["state"], "recording", "the maximum pause ran out: {st}");
        let spans = st["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0]["resumed_by"], json!(format!("user:{}", w.sales_agent.0)));
        assert_eq!(spans[1]["resumed_by"], "policy");
        let (_, d) = app.post("/v1/recording-decisions", &w.recorder, ask("yes")).await;
        assert_eq!(d["record"], true, "recording again: {d}");
        // The recording stored for the call carries the paused spans.
        let (s, o) = upload(
            &app,
            &w.recorder,
            &format!("interaction=call-7&service={}&recording=quality_management&consent=yes", w.inbound),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(o["paused"].as_array().unwrap().len(), 2, "{o}");
        let (_, meta) = app.get(&format!("/v1/objects/{}", o["id"].as_str().unwrap()), &w.north_supervisor).await;
        assert_eq!(meta["paused"][1]["resumed_by"], "policy", "{meta}");
        // Every change audited with who and when.
        app.seal_audit().await;
        let actions: Vec<String> =
            app.audit_bodies().await.iter().filter_map(|e| e["action"].as_str().map(str::to_owned)).collect();
        for a in ["recording_policy.update", "recording.not_recorded", "recording.paused", "recording.resumed"] {
            assert!(actions.iter().any(|x| x == a), "{a} audited");
        }
        assert_eq!(actions.iter().filter(|a| *a == "recording.paused").count(), 2);
        assert_eq!(actions.iter().filter(|a| *a == "recording.resumed").count(), 2);
        app.cleanup().await;
    }
}
