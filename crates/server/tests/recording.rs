//! Recordings as the product's recording rules have them, through the real API on SQLite and PostgreSQL: who may play a
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

fn interval(user: &str, start: &str, talk: u32, brk: u32, handled: u32) -> Value {
    json!({ "user_id": user, "interval_start": start, "talk_s": talk, "hold_s": 30, "wrap_up_s": 60,
        "available_s": 900 - talk - brk - 90, "break_s": brk, "other_s": 0, "handled": handled, "missed": 1 })
}

#[tokio::test]
async fn performance_is_ingested_and_read_within_scope() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        let feed = service_account(&app, &w.admin, "acd", "reporting_feed").await;
        let (sam, sue) = (&w.sales_agent.0, &w.support_agent.0);
        let batch = json!({ "intervals": [
            interval(sam, "2026-12-01T09:00:00Z", 600, 0, 4),
            interval(sam, "2026-12-01T09:15:00Z", 300, 200, 2),
            interval(sam, "2026-12-02T09:00:00Z", 500, 0, 3),
            interval(sue, "2026-12-01T09:00:00Z", 700, 0, 5),
        ] });
        let (s, v) = app.post("/v1/performance", &feed, batch.clone()).await;
        assert_eq!((s, v["stored"].as_u64()), (StatusCode::CREATED, Some(4)), "{v}");
        // Sent again with a correction: replaced, not added.
        let (s, _) = app
            .post("/v1/performance", &feed, json!({ "intervals": [interval(sam, "2026-12-01T09:00:00Z", 650, 0, 5)] }))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        // Bad input names the interval; nothing of the batch is stored.
        for (bad, needle) in [
            (interval(sam, "2026-12-01T09:07:00Z", 100, 0, 1), "intervals[1].interval_start"),
            (interval(sam, "2026-12-01T10:00:00Z", 100, 0, 1), "same agent and interval"),
            (
                json!({ "user_id": sam, "interval_start": "2026-12-01T11:00:00Z", "talk_s": 901, "hold_s": 0,
                "wrap_up_s": 0, "available_s": 0, "break_s": 0, "other_s": 0, "handled": 0, "missed": 0 }),
                "900 seconds",
            ),
        ] {
            let first = interval(sam, "2026-12-01T10:00:00Z", 100, 0, 1);
            let (s, e) = app.post("/v1/performance", &feed, json!({ "intervals": [first, bad] })).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            assert!(e["detail"].as_str().unwrap().contains(needle), "{e}");
        }
        let (s, _) = app.post("/v1/performance", &w.admin, batch.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "administrators do not feed statistics");
        let period = "from=2026-12-01T00:00:00Z&to=2026-12-03T00:00:00Z";
        // Sam reads his own: three intervals over two days.
        let (s, me) = app.get(&format!("/v1/users/{sam}/performance?{period}"), &w.sales_agent.1).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!(me["intervals"].as_array().unwrap().len(), 3, "{me}");
        assert_eq!(me["totals"]["talk_s"], 650 + 300 + 500);
        assert_eq!(me["totals"]["handled"], 5 + 2 + 3);
        assert_eq!(me["days"].as_array().unwrap().len(), 2);
        assert_eq!(me["days"][0]["totals"]["break_s"], 200);
        // Not Sue's.
        let (s, _) = app.get(&format!("/v1/users/{sue}/performance?{period}"), &w.sales_agent.1).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Nora (North) reads Sam and the Sales team, not Sue or the Support team (South).
        let (s, _) = app.get(&format!("/v1/users/{sam}/performance?{period}"), &w.north_supervisor).await;
        assert_eq!(s, StatusCode::OK);
        let (s, team) = app.get(&format!("/v1/teams/{}/performance?{period}", w.sales_team), &w.north_supervisor).await;
        assert_eq!(s, StatusCode::OK, "{team}");
        assert_eq!(team["totals"]["talk_s"], 1450);
        assert_eq!(team["members"].as_array().unwrap().len(), 1);
        assert_eq!(team["members"][0]["user_id"], json!(sam));
        assert_eq!(team["days"].as_array().unwrap().len(), 2);
        for path in [
            format!("/v1/users/{sue}/performance?{period}"),
            format!("/v1/teams/{}/performance?{period}", w.support_team),
        ] {
            let (s, e) = app.get(&path, &w.north_supervisor).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "another department's team: {e}");
        }
        let (s, team) =
            app.get(&format!("/v1/teams/{}/performance?{period}", w.support_team), &w.south_supervisor).await;
        assert_eq!((s, team["totals"]["talk_s"].as_u64()), (StatusCode::OK, Some(700)));
        // A period of more than 93 days is refused.
        let (s, _) = app
            .get(
                &format!("/v1/users/{sam}/performance?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z"),
                &w.sales_agent.1,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // In Sam's personal data report, one item per day, with the reporting retention.
        let (s, p) = app.post("/v1/retention-policies", &w.admin, json!({ "category": "reporting", "days": 30 })).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let (s, report) = app.get(&format!("/v1/users/{sam}/personal-data-report"), &w.admin).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        let items: Vec<&Value> =
            report["items"].as_array().unwrap().iter().filter(|i| i["category"] == "reporting").collect();
        assert_eq!(items.len(), 2, "{report}");
        assert!(items[0]["retention_until"].as_str().unwrap().starts_with("2026-12-31"), "{report}");
        // Retention: 30 days after the first day, its intervals are purged, the second day's stay.
        let later: jiff::Timestamp = "2026-12-31T12:00:00Z".parse().unwrap();
        app.clock.set(callvault_model::records::Timestamp::from(later));
        let r = callvault_core::retention::purge_once(&app.state).await.unwrap();
        assert_eq!(r.reporting_rows, 3, "{r:?}");
        // A month later: new sessions.
        let sam_token = app.login(Some("acme"), "sam", PW, None).await["token"].as_str().unwrap().to_owned();
        let admin = app.login_totp(Some("acme"), "boss", PW).await;
        let (_, me) = app.get(&format!("/v1/users/{sam}/performance?{period}"), &sam_token).await;
        assert_eq!(me["intervals"].as_array().unwrap().len(), 1);
        // Switching reporting off purges the rest, after confirmation.
        let off = json!({ "category": "reporting", "collected": false });
        let (s, e) = put(&app, "/v1/personal-data/collection", &admin, off.clone()).await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        let mut confirmed = off;
        confirmed["confirm_purge"] = json!(true);
        let (s, _) = put(&app, "/v1/personal-data/collection", &admin, confirmed).await;
        assert_eq!(s, StatusCode::OK);
        let (_, me) = app.get(&format!("/v1/users/{sam}/performance?{period}"), &sam_token).await;
        assert_eq!(me["intervals"].as_array().unwrap().len(), 0);
        let (s, e) = app.post("/v1/performance", &feed, batch).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "not collected: {e}");
        app.cleanup().await;
    }
}

/// A database from before the recorder and reporting-feed roles existed (and with the agent role's
/// old privileges) gets the current built-in roles at start, each change audited; a custom role
/// that already has a new built-in name keeps it.
#[tokio::test]
async fn built_in_roles_follow_the_table_after_an_upgrade() {
    use sqlx::Connection;
    for db in backends() {
        let app = TestApp::new(db).await;
        let op = app.operator().await;
        let (tenant, admin) = app.tenant(&op, "acme").await;
        let (_, other_admin) = app.tenant(&op, "beta").await;
        {
            sqlx::any::install_default_drivers();
            let mut c = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
            for sql in [
                format!("DELETE FROM cfg_role WHERE tenant_id = '{tenant}' AND name IN ('recorder', 'reporting_feed')"),
                format!(
                    "UPDATE cfg_role SET privileges = '[\"user:read:own\"]' WHERE tenant_id = '{tenant}' AND name = 'agent'"
                ),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
            }
        }
        // Beta made a custom role called "reporting_feed" before the built-in one existed.
        let (_, roles) = app.get("/v1/roles", &other_admin).await;
        let feed = roles.as_array().unwrap().iter().find(|r| r["name"] == "reporting_feed").unwrap()["id"].clone();
        {
            let mut c = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
            let sql = format!(
                "UPDATE cfg_role SET builtin = 0, privileges = '[\"team:read\"]' WHERE id = '{}'",
                feed.as_str().unwrap()
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
        }
        let app = app.restarted().await;
        let (_, roles) = app.get("/v1/roles", &admin).await;
        let roles = roles.as_array().unwrap();
        let role = |name: &str| roles.iter().find(|r| r["name"] == name).cloned();
        let want = |r: callvault_model::access::DefaultRole| {
            serde_json::to_value(callvault_policy::access::default_role_privileges(r)).unwrap()
        };
        use callvault_model::access::DefaultRole;
        assert_eq!(role("recorder").unwrap()["privileges"], want(DefaultRole::Recorder));
        assert_eq!(role("recorder").unwrap()["builtin"], true);
        assert_eq!(role("reporting_feed").unwrap()["privileges"], want(DefaultRole::ReportingFeed));
        assert_eq!(role("agent").unwrap()["privileges"], want(DefaultRole::Agent));
        let (_, beta_roles) = app.get("/v1/roles", &other_admin).await;
        let kept = beta_roles.as_array().unwrap().iter().find(|r| r["name"] == "reporting_feed").unwrap().clone();
        assert_eq!((kept["builtin"].as_bool(), kept["privileges"].clone()), (Some(false), json!(["team:read"])));
        app.seal_audit().await;
        let syncs: Vec<Value> =
            app.audit_bodies().await.into_iter().filter(|e| e["action"] == "role.builtin_sync").collect();
        assert_eq!(syncs.len(), 3, "{syncs:?}");
        // A second start changes nothing.
        let app = app.restarted().await;
        app.seal_audit().await;
        let again = app.audit_bodies().await.into_iter().filter(|e| e["action"] == "role.builtin_sync").count();
        assert_eq!(again, 3);
        app.cleanup().await;
    }
}

/// Supervision follows the same scope: a call is a resource of the teams of the users on it, so a
/// supervisor with a limited grant sees their department's agents' calls and stations, and is
/// refused another department's call.
#[tokio::test]
async fn supervisors_see_the_calls_of_their_teams() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        let (_, me) = app.get("/v1/auth/me", &w.north_supervisor).await;
        let tenant: callvault_model::TenantId = me["tenant_id"].as_str().unwrap().parse().unwrap();
        let mut ids = Vec::new();
        for (key, user, station) in
            [("call-sam", &w.sales_agent.0, "desk-sam"), ("call-sue", &w.support_agent.0, "desk-sue")]
        {
            let party = callvault_policy::callsec::Party {
                kind: callvault_policy::callsec::PartyKind::Station,
                name: station.into(),
                user: Some(user.clone()),
                level: Default::default(),
            };
            let (s, st) = put(
                &app,
                &format!("/v1/stations/{station}"),
                &w.admin,
                json!({ "sip_user": station, "level": "end_to_edge", "user": user, "kind": "station" }),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{st}");
            let events = [callvault_policy::callsec::Event::LegAdded { leg: "a".into(), party }];
            let (view, _) =
                app.state.calls.apply_events(tenant, key, &events, app.state.clock.now().millis(), true).await.unwrap();
            assert!(view.state.legs[0].party.user.is_some(), "{view:?}");
            ids.push(view.id.to_string());
        }
        let keys = |v: &Value, field: &str| -> Vec<String> {
            let mut k: Vec<String> =
                v.as_array().unwrap().iter().map(|c| c[field].as_str().unwrap().to_owned()).collect();
            k.sort();
            k
        };
        for (token, call, desk, other) in [
            (&w.north_supervisor, "call-sam", "desk-sam", &ids[1]),
            (&w.south_supervisor, "call-sue", "desk-sue", &ids[0]),
        ] {
            let (s, calls) = app.get("/v1/calls", token).await;
            assert_eq!(s, StatusCode::OK, "{calls}");
            assert_eq!(keys(&calls["calls"], "call_key"), vec![call.to_owned()]);
            let (s, calls) = app.get("/v1/calls?all=true", token).await;
            assert_eq!(s, StatusCode::OK);
            assert!(keys(&calls["calls"], "call_key").iter().all(|k| k == call), "{calls}");
            let (s, stations) = app.get("/v1/stations", token).await;
            assert_eq!(s, StatusCode::OK, "{stations}");
            assert_eq!(keys(&stations["stations"], "name"), vec![desk.to_owned()]);
            let (s, _) = app.get(&format!("/v1/calls/{other}"), token).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "another department's call");
        }
        let (s, _) = app.get(&format!("/v1/calls/{}", ids[0]), &w.north_supervisor).await;
        assert_eq!(s, StatusCode::OK);
        // Agents still see no one's calls list.
        let (s, _) = app.get("/v1/calls", &w.sales_agent.1).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn agents_read_the_calling_lists_of_their_services_only() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let w = world(&app).await;
        let list = |name: &str, service: Option<&str>| {
            json!({ "kind": "calling_list", "name": name, "fields": [{ "name": "name" }, { "name": "notes" }],
                    "service_id": service })
        };
        let renewal = named(&app, &w.admin, "/v1/lists", list("renewals", Some(&w.campaign))).await;
        let other = named(&app, &w.admin, "/v1/lists", list("prospects", None)).await;
        for l in [&renewal, &other] {
            let (s, r) = app
                .post(&format!("/v1/lists/{l}/records"), &w.admin, json!({ "name": "Ada", "notes": "call after 5" }))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
        }
        let (sam, sam_token) = &w.sales_agent;
        let records = |l: &str| format!("/v1/lists/{l}/records");

        // Not assigned to the campaign: nothing of the lists.
        let (s, e) = app.get(&records(&renewal), sam_token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (s, v) = app.get("/v1/lists", sam_token).await;
        assert_eq!((s, v), (StatusCode::OK, json!([])), "an agent's listing holds the lists of their services");

        // Assigned: the campaign's list and its records, read only; not the other list.
        let assignments = json!({ "teams": [w.sales_team], "skills": [], "services": [w.campaign] });
        let (s, v) = put(&app, &format!("/v1/users/{sam}/assignments"), &w.admin, assignments).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = app.get(&records(&renewal), sam_token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v[0]["fields"]["name"], "Ada", "{v}");
        let (s, v) = app.get("/v1/lists", sam_token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<&str> = v.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["renewals"]);
        let (s, e) = app.get(&records(&other), sam_token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (s, e) = app.post(&records(&renewal), sam_token, json!({ "name": "Bob" })).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "agents do not add or change customer details: {e}");
        let (s, e) = app.get(&records(&renewal), &w.support_agent.1).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "another service's agent: {e}");

        // The list moves to another service: the campaign's agents no longer read it (audited).
        let (s, v) =
            put(&app, &format!("/v1/lists/{renewal}/service"), &w.admin, json!({ "service_id": w.inbound })).await;
        assert_eq!((s, v["service_id"].as_str()), (StatusCode::OK, Some(w.inbound.as_str())), "{v}");
        let (s, e) = app.get(&records(&renewal), sam_token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (s, e) = put(&app, &format!("/v1/lists/{renewal}/service"), &w.admin, json!({ "service_id": sam })).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "no such service: {e}");
        assert!(app.audit_bodies().await.iter().any(|b| b["action"] == "list.service"));
        app.cleanup().await;
    }
}
