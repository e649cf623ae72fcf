//! Test harness: an in-process app on a throwaway SQLite file or PostgreSQL schema, with a
//! manual clock and a throwaway KEK, driven with `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

pub mod capture;
pub mod encrypted;
pub mod fixtures;
pub mod s3;
pub mod schema;
pub mod sip;
pub mod stored;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use callvault_core::clock::ManualClock;
use callvault_core::config::Config;
use callvault_crypto::SecretBytes;
use callvault_crypto::kek::StaticKek;
use callvault_model::records::Timestamp;
use callvault_server::{AppState, bootstrap};
use callvault_store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The backends to run: SQLite always; PostgreSQL when `CALLVAULT_POSTGRES_TEST_URL` is set
/// (otherwise a skip notice, or a failure when `CALLVAULT_REQUIRE_ALL_BACKENDS` is set, as in CI).
pub fn backends() -> Vec<Db> {
    let mut v = vec![Db::Sqlite];
    if std::env::var("CALLVAULT_POSTGRES_TEST_URL").is_ok() {
        v.push(Db::Postgres);
    } else if std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_ok() {
        panic!("CALLVAULT_REQUIRE_ALL_BACKENDS is set but CALLVAULT_POSTGRES_TEST_URL is not");
    } else {
        eprintln!(
            "SKIP: PostgreSQL run skipped: set CALLVAULT_POSTGRES_TEST_URL=postgres://postgres@127.0.0.1:5432/test to run it"
        );
    }
    v
}

/// A throwaway database.
pub struct TestDb {
    pub url: String,
    pub db: Db,
    dir: Option<std::path::PathBuf>,
    schema: Option<String>,
}

impl TestDb {
    pub async fn new(db: Db) -> TestDb {
        match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(format!("callvault-test-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite:{}?mode=rwc", dir.join("test.db").display());
                TestDb { url, db, dir: Some(dir), schema: None }
            }
            Db::Postgres => {
                let base = std::env::var("CALLVAULT_POSTGRES_TEST_URL").unwrap();
                let schema = format!("cvtest_{}", uuid::Uuid::new_v4().simple());
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDb { url, db, dir: None, schema: Some(schema) }
            }
        }
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }

    /// Drops the schema or removes the files.
    pub async fn cleanup(self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(schema) = &self.schema {
            let base = std::env::var("CALLVAULT_POSTGRES_TEST_URL").unwrap();
            if let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// An app under test.
pub struct TestApp {
    pub state: AppState,
    pub clock: ManualClock,
    pub db: TestDb,
    pub router: axum::Router,
    /// The generated password of the second bootstrap operator `admin2`.
    pub admin2_password: String,
    totp_secrets: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Tests never touch DNS or the network: `*.example.com` resolves to a public address that is
/// never connected to (a delivery there fails at once); only the loopback test addresses are
/// really posted to.
struct ExampleResolver;

impl callvault_core::egress::Resolve for ExampleResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        _port: u16,
    ) -> futures_util::future::BoxFuture<'a, std::io::Result<Vec<std::net::IpAddr>>> {
        let found = (host == "example.com" || host.ends_with(".example.com"))
            .then(|| vec![std::net::IpAddr::from([93, 184, 215, 14])]);
        Box::pin(async move { found.ok_or_else(|| std::io::Error::other("no such name in tests")) })
    }
}

struct LoopbackOnly;

impl callvault_core::egress::Transport for LoopbackOnly {
    fn post(&self, post: callvault_core::egress::Post) -> futures_util::future::BoxFuture<'_, Result<u16, String>> {
        if post.addrs.iter().all(|a| a.ip().is_loopback()) {
            callvault_core::egress::Transport::post(&callvault_core::egress::HttpTransport, post)
        } else {
            Box::pin(async { Err("tests reach no public address".to_owned()) })
        }
    }
}

fn test_egress(loopback: &[std::net::IpAddr]) -> callvault_core::egress::Egress {
    callvault_core::egress::Egress::with(Arc::new(ExampleResolver), Arc::new(LoopbackOnly), loopback)
}

/// `n` bytes of deterministic noise (xorshift), different for each seed.
pub fn sample(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An object's content (a `Range` value optional), the body read to its end.
pub async fn content(app: &TestApp, token: &str, id: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let (st, body) = content_result(app, token, id, range).await;
    (st, body.expect("the body ends cleanly"))
}

/// Like [`content`], but a body that breaks off is an `Err`.
pub async fn content_result(
    app: &TestApp,
    token: &str,
    id: &str,
    range: Option<&str>,
) -> (StatusCode, Result<Vec<u8>, String>) {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .uri(format!("/v1/objects/{id}/content"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = app.router.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let st = resp.status();
    (st, axum::body::to_bytes(resp.into_body(), usize::MAX).await.map(|b| b.to_vec()).map_err(|e| e.to_string()))
}

/// Runs the key jobs until none has work left.
pub async fn run_jobs(app: &TestApp) {
    for _ in 0..10_000 {
        if !callvault_core::vault::jobs::run_once(&app.state).await.unwrap() {
            return;
        }
    }
    panic!("jobs did not finish");
}

pub const ADMIN_PASSWORD: &str = "operator-bootstrap-passphrase";
pub const T0: i64 = 1_795_000_000_000;

impl TestApp {
    pub async fn new(db: Db) -> TestApp {
        Self::with_config(db, |_| {}).await
    }

    /// A test app whose configuration `adjust` changes first (SMTP, limits, …).
    pub async fn with_config(db: Db, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::new(db).await;
        let store = db.store().await;
        let clock = ManualClock::new(Timestamp(T0));
        let kek = Arc::new(StaticKek::new(SecretBytes::new(vec![7u8; 32])));
        let data_dir = std::env::temp_dir().join(format!("cv-test-{}", uuid::Uuid::new_v4().simple()));
        // Custodians are fixtures in most tests; the cooling-off test sets its own time.
        let mut config = Config {
            max_body_bytes: 64 * 1024,
            data_dir,
            custodian_cooling_off_secs: 0,
            webhook_test_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Config::default()
        };
        adjust(&mut config);
        let mut state = bootstrap::state_with(store, kek, config, Arc::new(clock.clone())).await.unwrap();
        state.services.parts_mut().egress = test_egress(&state.config.webhook_test_addresses);
        let report = bootstrap::ensure_operator(&state, Some(ADMIN_PASSWORD.into())).await.unwrap();
        let admin2_password = report.second_operator_password.unwrap().expose().to_owned();
        let router = callvault_server::api::app(state.clone());
        TestApp { state, clock, db, router, admin2_password, totp_secrets: Default::default() }
    }

    /// The same database, data directory, KEK and clock with freshly built state: a restart.
    #[allow(dead_code)]
    pub async fn restarted(self) -> TestApp {
        let mut state = bootstrap::state_with(
            self.db.store().await,
            self.state.kek.clone(),
            (*self.state.config).clone(),
            Arc::new(self.clock.clone()),
        )
        .await
        .unwrap();
        state.services.parts_mut().egress = test_egress(&state.config.webhook_test_addresses);
        let router = callvault_server::api::app(state.clone());
        TestApp { state, router, ..self }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, bytes) =
            self.raw(method, path, token, body.map(|b| b.to_string().into_bytes()), "application/json").await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, content_type).body(Body::from(b)).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        // Every response of every route, in every test: never sniffed, never cached unless the
        // handler chose, and an error is always a problem.
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{method} {path}"
        );
        assert!(headers.contains_key(header::CACHE_CONTROL), "{method} {path}: no Cache-Control");
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
                Some(&b"application/problem+json"[..]),
                "{method} {path} answered {status} without a problem"
            );
        }
        // A server-sent event stream never ends: its status and headers are the answer.
        if headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
            return (status, headers, Vec::new());
        }
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
        schema::check(
            method,
            path,
            status.as_u16(),
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            &bytes,
        );
        (status, headers, bytes)
    }

    /// A tenant-wide service account with the built-in role `role` (a PBX feed, an SBC, a
    /// dialer: `dialer`); returns its token.
    #[allow(dead_code)]
    pub async fn service_account(&self, admin: &str, name: &str, role: &str) -> String {
        let (_, roles) = self.get("/v1/roles", admin).await;
        let role = roles.as_array().unwrap().iter().find(|r| r["name"] == role).unwrap()["id"].clone();
        let (s, sa) = self
            .post(
                "/v1/service-accounts",
                admin,
                json!({ "name": name, "role_id": role, "scope": { "kind": "tenant" } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{sa}");
        sa["token"].as_str().unwrap().to_owned()
    }

    /// Another node on this app's PostgreSQL database: its own state (calls, telecom policy,
    /// caches, bus) and router, the same KEK, configuration and clock; both nodes hear the bus
    /// from now on (call once per app).
    #[allow(dead_code)]
    pub async fn second_node(&self, name: &str) -> TestApp {
        // Its own data directory, as on another machine (the bucket, when configured, is shared).
        let config = Config {
            node_id: name.into(),
            data_dir: self.state.config.data_dir.join(name),
            ..(*self.state.config).clone()
        };
        let mut state =
            bootstrap::state_with(self.db.store().await, self.state.kek.clone(), config, Arc::new(self.clock.clone()))
                .await
                .unwrap();
        state.services.parts_mut().egress = test_egress(&state.config.webhook_test_addresses);
        tokio::spawn(callvault_core::bus::run(state.services.clone()));
        tokio::spawn(callvault_core::bus::run(self.state.services.clone()));
        // Both listeners are connected before anything is announced.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let router = callvault_server::api::app(state.clone());
        // The same database, not owned: the first node's cleanup drops it.
        let db = TestDb { url: self.db.url.clone(), db: self.db.db, dir: None, schema: None };
        TestApp {
            state,
            clock: self.clock.clone(),
            db,
            router,
            admin2_password: self.admin2_password.clone(),
            totp_secrets: std::sync::Mutex::new(self.totp_secrets.lock().unwrap().clone()),
        }
    }

    /// Every audit entry's body so far (sequenced first), oldest first.
    #[allow(dead_code)]
    pub async fn audit_bodies(&self) -> Vec<Value> {
        use callvault_store::AuditStore;
        callvault_core::audit::sequence_once(&self.state.store, 1_000_000).await.unwrap();
        let rows = self
            .state
            .store
            .reader()
            .await
            .unwrap()
            .audit_entries(callvault_store::AuditFilter::All, 0, 1_000_000)
            .await
            .unwrap();
        rows.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect()
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request("POST", path, Some(token), Some(body)).await
    }

    /// Logs in; panics unless it succeeds.
    pub async fn login(&self, tenant: Option<&str>, username: &str, password: &str, totp: Option<String>) -> Value {
        let mut body = json!({ "username": username, "password": password });
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        if let Some(t) = totp {
            body["totp"] = json!(t);
        }
        let (status, v) = self.request("POST", "/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "login of {username} failed: {v}");
        v
    }

    /// Logs in as a privileged principal, enrolling TOTP on first use; returns a full token.
    pub async fn login_privileged(&self, tenant: Option<&str>, username: &str, password: &str) -> String {
        let v = self.login(tenant, username, password, None).await;
        let mut token = v["token"].as_str().unwrap().to_owned();
        if v["purpose"] == "enroll_totp" {
            let (s, e) = self.post("/v1/auth/totp/enroll", &token, json!({})).await;
            assert_eq!(s, StatusCode::OK, "{e}");
            let secret = e["secret"].as_str().unwrap().to_owned();
            let code = callvault_crypto::totp::code_now_from_base32_at(&secret, self.now_secs()).unwrap();
            let (s, r) = self.post("/v1/auth/totp/confirm", &token, json!({ "code": code })).await;
            assert_eq!(s, StatusCode::OK, "{r}");
            // The enrolment session is replaced by a full one under a new token.
            let (s, _) = self.get("/v1/auth/me", &token).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "the enrolment token is revoked");
            token = r["session"]["token"].as_str().unwrap().to_owned();
            assert_eq!(r["session"]["purpose"], "full", "{r}");
            self.secrets().lock().unwrap().insert(format!("{tenant:?}/{username}"), secret);
        }
        token
    }

    /// Logs in again a principal enrolled by `login_privileged`, with a fresh TOTP code.
    pub async fn login_totp(&self, tenant: Option<&str>, username: &str, password: &str) -> String {
        self.clock.advance_ms(30_000);
        let secret = self.totp_secret(tenant, username).expect("not enrolled by login_privileged");
        let code = callvault_crypto::totp::code_now_from_base32_at(&secret, self.now_secs()).unwrap();
        self.login(tenant, username, password, Some(code)).await["token"].as_str().unwrap().to_owned()
    }

    fn secrets(&self) -> &std::sync::Mutex<std::collections::HashMap<String, String>> {
        &self.totp_secrets
    }

    /// The TOTP secret enrolled for a login by `login_privileged`.
    pub fn totp_secret(&self, tenant: Option<&str>, username: &str) -> Option<String> {
        self.secrets().lock().unwrap().get(&format!("{tenant:?}/{username}")).cloned()
    }

    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.clock.now_millis() / 1000).unwrap()
    }

    /// The operator's full token.
    pub async fn operator(&self) -> String {
        self.login_privileged(None, "admin", ADMIN_PASSWORD).await
    }

    /// Creates a tenant with first administrator `boss`; returns (tenant id, admin token).
    pub async fn tenant(&self, op: &str, slug: &str) -> (String, String) {
        let (s, t) = self
            .post("/v1/tenants", op, json!({
                "slug": slug, "display_name": format!("{slug} center"),
                "capabilities": { "encryption": true },
                "administrator": { "login": "boss", "first_name": "Bea", "last_name": "Boss", "password": "correct horse battery staple",
                    "addresses": [{ "kind": "email", "value": format!("boss@{slug}.example.com") }] }
            }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        // Each tenant's admin gets its own TOTP enrolment; advance past the step used.
        self.clock.advance_ms(30_000);
        let token = self.login_privileged(Some(slug), "boss", "correct horse battery staple").await;
        (t["id"].as_str().unwrap().to_owned(), token)
    }

    /// Creates a user with a password and returns its id.
    pub async fn user(&self, admin: &str, login: &str, password: &str, assignments: Value) -> String {
        let (s, u) = self
            .post(
                "/v1/users",
                admin,
                json!({
                    "login": login, "first_name": format!("First{login}"), "last_name": format!("Last{login}"),
                    "addresses": [{ "kind": "phone", "value": "+15555550123" }],
                    "password": password, "assignments": assignments
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        u["id"].as_str().unwrap().to_owned()
    }

    /// The second bootstrap operator's full token.
    #[allow(dead_code)]
    pub async fn operator2(&self) -> String {
        self.clock.advance_ms(30_000);
        let pw = self.admin2_password.clone();
        self.login_privileged(None, callvault_server::bootstrap::SECOND_OPERATOR, &pw).await
    }

    /// Grants a role (by name) to a user with a scope. A custodial role (key custody, personal
    /// data) is a fixture written to the store directly, as if appointed when the tenant was set
    /// up: the appointment ceremony itself is tested in `tests/duties.rs`.
    pub async fn grant(&self, admin: &str, user: &str, role: &str, scope: Value) -> String {
        let (_, roles) = self.get("/v1/roles", admin).await;
        let role_v = roles.as_array().unwrap().iter().find(|r| r["name"] == role).unwrap().clone();
        let role_id = role_v["id"].as_str().unwrap().to_owned();
        let privileges: Vec<callvault_model::access::Privilege> =
            serde_json::from_value(role_v["privileges"].clone()).unwrap();
        if callvault_policy::duties::is_custodial(&privileges) {
            use callvault_store::prelude::*;
            let (_, me) = self.get("/v1/auth/me", admin).await;
            let tenant: callvault_model::TenantId = me["tenant_id"].as_str().unwrap().parse().unwrap();
            let grant = callvault_model::records::Grant {
                id: callvault_model::GrantId::new(),
                tenant_id: tenant,
                grantee: callvault_model::records::Grantee::User(user.parse().unwrap()),
                role_id: role_id.parse().unwrap(),
                scope: serde_json::from_value(scope).unwrap(),
                created_at: callvault_core::clock::Clock::now(&self.clock),
            };
            let mut tx = self.state.store.begin().await.unwrap();
            tx.insert_grant(&grant).await.unwrap();
            tx.commit().await.unwrap();
            return grant.id.to_string();
        }
        let (s, g) = self
            .post(
                "/v1/grants",
                admin,
                json!({ "grantee": { "kind": "user", "id": user }, "role_id": role_id, "scope": scope }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        g["id"].as_str().unwrap().to_owned()
    }

    /// Sequences pending audit entries and signs a tree head.
    pub async fn seal_audit(&self) {
        while callvault_core::audit::sequence_once(&self.state.store, 10_000).await.unwrap() > 0 {}
        callvault_core::audit::sign_tree_head(&self.state.store, self.state.auditor.signer(), self.state.clock.now())
            .await
            .unwrap();
    }

    pub async fn cleanup(self) {
        let _ = std::fs::remove_dir_all(&self.state.config.data_dir);
        self.state.store.close().await;
        self.db.cleanup().await;
    }
}

trait NowMillis {
    fn now_millis(&self) -> i64;
}

impl NowMillis for ManualClock {
    fn now_millis(&self) -> i64 {
        use callvault_core::clock::Clock;
        self.now().millis()
    }
}

/// Stores a plain object of `tenant` with its blob file (fixtures that need no upload rights).
pub async fn stored_object(
    app: &TestApp,
    tenant: callvault_model::TenantId,
    service: Option<callvault_model::ServiceId>,
    content: &[u8],
) -> callvault_model::ObjectId {
    use callvault_model::vault::{ContentClass, StoredObject};
    use callvault_store::prelude::*;
    let mut o = StoredObject {
        id: callvault_model::ObjectId::new(),
        tenant_id: tenant,
        class: ContentClass::Voice,
        interaction: None,
        service_id: service,
        agents: vec![],
        contact_ref: None,
        recorded_at: Timestamp(T0),
        consent: callvault_model::personal::Consent::Yes,
        recording: callvault_model::recording::RecordingKind::QualityManagement,
        paused: Vec::new(),
        content_type: "audio/wav".into(),
        size: content.len() as u64,
        sha256: String::new(),
        redactions: 0,
        key_version: None,
        created_at: Timestamp(T0),
        blob: String::new(),
        wrapped_key: None,
        header: vec![],
    };
    let w =
        callvault_core::vault::write_blob(&app.state.vault.blobs, &o, None, &mut |sink| sink(&mut content.to_vec()))
            .unwrap();
    o.blob = w.name;
    o.sha256 = w.sha256;
    o.header = w.header;
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_object(&o).await.unwrap();
    tx.commit().await.unwrap();
    o.id
}

/// A `new_key` ceremony of `tenant`, proposed by a stranger, that never expires.
pub async fn proposed_ceremony(app: &TestApp, tenant: callvault_model::TenantId) -> callvault_model::CeremonyId {
    use callvault_model::vault::{Ceremony, CeremonyKind, CeremonyState};
    use callvault_store::prelude::*;
    let c = Ceremony {
        id: callvault_model::CeremonyId::new(),
        tenant_id: Some(tenant),
        kind: CeremonyKind::NewKey,
        params: json!({}),
        state: CeremonyState::Proposed,
        proposer: callvault_model::PrincipalId::User(callvault_model::UserId::new()),
        approver: None,
        created_at: Timestamp(T0),
        expires_at: Timestamp(i64::MAX / 2),
        decided_at: None,
        result: json!({}),
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_ceremony(&c).await.unwrap();
    tx.commit().await.unwrap();
    c.id
}

/// An empty rewrap job of `tenant` in `state`.
pub async fn job(
    app: &TestApp,
    tenant: callvault_model::TenantId,
    state: callvault_model::vault::JobState,
) -> callvault_model::JobId {
    use callvault_model::vault::{Job, JobKind};
    use callvault_store::prelude::*;
    let j = Job {
        id: callvault_model::JobId::new(),
        tenant_id: tenant,
        kind: JobKind::Rewrap,
        state,
        target_version: Some(1),
        objects_total: 0,
        objects_done: 0,
        bytes_total: 0,
        bytes_done: 0,
        failures: 0,
        last_error: None,
        created_by: callvault_model::PrincipalId::User(callvault_model::UserId::new()),
        created_at: Timestamp(T0),
        updated_at: Timestamp(T0),
        finished_at: None,
        cursor: None,
    };
    let mut tx = app.state.store.begin().await.unwrap();
    tx.insert_job(&j).await.unwrap();
    tx.commit().await.unwrap();
    j.id
}

/// A real SMTP server (Python's aiosmtpd) writing received mail to a Maildir, or `None` with a
/// skip notice when aiosmtpd is not installed (CI installs it and requires it).
#[allow(dead_code)]
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    maildir: std::path::PathBuf,
}

impl SmtpServer {
    #[allow(dead_code)]
    pub fn start() -> Option<SmtpServer> {
        let available =
            std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_err(),
                "aiosmtpd is required (pip install aiosmtpd)"
            );
            eprintln!("SKIP: aiosmtpd not installed (pip install aiosmtpd); SMTP test not run");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = std::env::temp_dir().join(format!("cv-mail-{}", uuid::Uuid::new_v4().simple()));
        let mut child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(SmtpServer { child, port, maildir });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start");
    }

    #[allow(dead_code)]
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Reads a ustar archive: (name, content) of each entry.
pub fn untar(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
        let h = &tar[at..at + 512];
        let name = String::from_utf8(h[..100].iter().take_while(|&&b| b != 0).copied().collect()).unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
        out.push((name, tar[at + 512..at + 512 + size].to_vec()));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// What a webhook receiver got: (signature header, body) per delivery.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A webhook receiver on a loopback port: its URL and what it receives.
pub async fn webhook_receiver() -> (String, Received) {
    let received: Received = Default::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let r = r.clone();
            async move {
                let sig = headers.get("x-callvault-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                r.lock().unwrap().push((sig, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Opens a server-sent event stream on `router` and returns a receiver of (id, data) pairs.
#[allow(dead_code)]
pub async fn sse(
    router: &axum::Router,
    path: &str,
    token: &str,
    last: Option<&str>,
) -> tokio::sync::mpsc::Receiver<(String, Value)> {
    use futures_util::StreamExt;
    let mut req = Request::builder().method("GET").uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(l) = last {
        req = req.header("last-event-id", l);
    }
    let resp = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let id = frame.lines().find_map(|l| l.strip_prefix("id:")).map(|s| s.trim().to_owned());
                let data = frame.lines().find_map(|l| l.strip_prefix("data:")).map(|s| s.trim().to_owned());
                if let (Some(id), Some(data)) = (id, data)
                    && tx.send((id, serde_json::from_str(&data).unwrap_or(Value::Null))).await.is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}
