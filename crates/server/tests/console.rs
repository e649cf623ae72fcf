//! The web console through the real router: the session cookie and where it is accepted, the
//! security headers of every console page, form tokens and same-origin checks on unsafe
//! methods, HTML error pages, and each role's pages answering with what the access engine
//! allows. The browser flows (Playwright + Chromium) are in `tests/browser/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{ADMIN_PASSWORD, Db, TestApp, backends};
use serde_json::json;
use tower::ServiceExt;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// A browser-like request to the console: the cookie, a form body, extra headers.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ACCEPT, "text/html");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("__Host-callvault={c}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = if headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
        String::new()
    } else {
        String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).into_owned()
    };
    // Every console answer: the CSP, never framed, never sniffed, never cached (static files
    // excepted), and an error is an HTML page.
    if !path.starts_with("/static/") {
        assert_eq!(
            headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()),
            Some(CSP),
            "{method} {path}"
        );
        assert_eq!(headers.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{method} {path}");
        assert_eq!(headers.get(header::CACHE_CONTROL).map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{method} {path}");
        assert_eq!(headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"same-origin"[..]), "{method} {path}");
    }
    assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]), "{method} {path}");
    if status.is_client_error() || status.is_server_error() {
        assert!(
            headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")),
            "{method} {path} answered {status} without an HTML page: {body}"
        );
    }
    assert!(!status.is_server_error(), "{method} {path}: {status} {body}");
    Answer { status, headers, body }
}

fn location(a: &Answer) -> &str {
    a.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The session token of a login answer's cookie, checking its attributes.
fn session_of(a: &Answer) -> String {
    let cookie = a.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).expect("a cookie");
    let (pair, attrs) = cookie.split_once(';').unwrap();
    assert_eq!(attrs.trim(), "Path=/; Secure; HttpOnly; SameSite=Strict", "{cookie}");
    pair.strip_prefix("__Host-callvault=").unwrap().to_owned()
}

/// The form token on a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a form token") + 20;
    page[at..].split('"').next().unwrap().to_owned()
}

async fn console_login(app: &TestApp, tenant: &str, login: &str, password: &str, totp: Option<String>) -> String {
    let form = format!(
        "tenant={tenant}&username={login}&password={}&totp={}",
        password.replace(' ', "+"),
        totp.unwrap_or_default()
    );
    let a = send(
        app,
        "POST",
        "/login",
        None,
        Some(&form),
        &[("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(location(&a), "/");
    session_of(&a)
}

#[tokio::test]
async fn the_session_cookie_opens_the_console_and_nothing_else() {
    for db in backends() {
        run_cookie(db).await;
    }
}

async fn run_cookie(db: Db) {
    let app = TestApp::new(db).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let agent_id = app.user(&admin, "alice", "alice's own long passphrase", json!({})).await;
    app.grant(&admin, &agent_id, "agent", json!({ "kind": "tenant" })).await;

    // Not signed in: every page sends the browser to the login page.
    let a = send(&app, "GET", "/", None, None, &[]).await;
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, "/login"));
    let a = send(&app, "GET", "/recordings", None, None, &[]).await;
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, "/login"));
    let a = send(&app, "GET", "/login", None, None, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<form") && a.body.contains("name=\"totp\""), "{}", a.body);
    assert!(!a.body.contains("style="), "no inline style");
    assert!(!a.body.contains("<script>"), "no inline script");

    // A wrong password: the form again with the reason, as HTML. (Another account: after a
    // failure a password alone no longer opens alice's.)
    let a = send(&app, "POST", "/login", None, Some("tenant=acme&username=mallory&password=wrong"), &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("invalid credentials") && a.headers.get(header::SET_COOKIE).is_none());

    let session = console_login(&app, "acme", "alice", "alice's own long passphrase", None).await;
    let home = send(&app, "GET", "/", Some(&session), None, &[]).await;
    assert_eq!((home.status, location(&home)), (StatusCode::SEE_OTHER, "/recordings"));
    // Signed in, the login page sends to the main page; signing in again (as someone else, from
    // a browser still holding this session) needs no form token of the old session.
    let again = send(&app, "GET", "/login", Some(&session), None, &[]).await;
    assert_eq!((again.status, location(&again)), (StatusCode::SEE_OTHER, "/"));
    let relog = send(&app, "POST", "/login", Some(&session), Some("tenant=acme&username=nobody&password=x"), &[]).await;
    assert_eq!(relog.status, StatusCode::UNAUTHORIZED, "the login form answered, not the form-token check");
    let page = send(&app, "GET", "/recordings", Some(&session), None, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("href=\"/dial-check\""), "the agent's navigation");
    assert!(
        !page.body.contains("href=\"/users\"") && !page.body.contains("href=\"/keys\""),
        "nothing the agent may not use"
    );

    // The API never reads the cookie: a cookie-only request is unauthenticated.
    let api = Request::builder()
        .uri("/v1/auth/me")
        .header(header::COOKIE, format!("__Host-callvault={session}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.router.clone().oneshot(api).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // …and the console never reads a bearer token.
    let bearer = send(&app, "GET", "/recordings", None, None, &[("authorization", &format!("Bearer {session}"))]).await;
    assert_eq!((bearer.status, location(&bearer)), (StatusCode::SEE_OTHER, "/login"));

    // Unsafe methods: the form token, and the same origin.
    let token = csrf_of(&page.body);
    let form = "number=%2B13055550100&direction=outbound_call";
    let no_token = send(&app, "POST", "/dial-check", Some(&session), Some(form), &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("form token"), "{}", no_token.body);
    let with_token = format!("{form}&_csrf={token}");
    for (name, value) in [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site"), ("origin", "null")] {
        let a = send(&app, "POST", "/dial-check", Some(&session), Some(&with_token), &[(name, value)]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{name}: {value}");
    }
    let ok = send(&app, "POST", "/dial-check", Some(&session), Some(&with_token), &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("Allowed") || ok.body.contains("Not allowed"), "{}", ok.body);

    // Unknown pages are HTML pages too.
    let missing = send(&app, "GET", "/no-such-page", Some(&session), None, &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // An open event stream of the session, never cached.
    let stream_req = Request::builder()
        .uri("/alerts/stream")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ACCEPT, "text/html, text/event-stream")
        .header(header::COOKIE, format!("__Host-callvault={session}"))
        .body(Body::empty())
        .unwrap();
    let stream = app.router.clone().oneshot(stream_req).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers().get(header::CACHE_CONTROL).map(|v| v.as_bytes()), Some(&b"no-store"[..]));
    let open_stream = stream.into_body();

    // Logout: the session ends, the cookie goes, the site's data is cleared.
    let out = send(&app, "POST", "/logout", Some(&session), Some(&format!("_csrf={token}")), &[]).await;
    assert_eq!((out.status, location(&out)), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(
        out.headers.get("clear-site-data").and_then(|v| v.to_str().ok()),
        Some("\"cache\", \"cookies\", \"storage\"")
    );
    assert!(out.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("Max-Age=0")));
    let after = send(&app, "GET", "/recordings", Some(&session), None, &[]).await;
    assert_eq!((after.status, location(&after)), (StatusCode::SEE_OTHER, "/login"));
    // …and the stream opened before ends by itself within seconds (it rechecks its session).
    let ended =
        tokio::time::timeout(std::time::Duration::from_secs(10), axum::body::to_bytes(open_stream, usize::MAX)).await;
    assert!(ended.is_ok(), "the event stream outlived its session");
    // A stream's reconnection without a session is refused, not redirected.
    let again = send(&app, "GET", "/alerts/stream", Some(&session), None, &[("accept", "text/event-stream")]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    app.cleanup().await;
}

#[tokio::test]
async fn every_page_of_every_role_answers_with_what_its_grants_allow() {
    for db in backends() {
        run_pages(db).await;
    }
}

async fn run_pages(db: Db) {
    let app = TestApp::new(db).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let pages = [
        "/recordings",
        "/calls",
        "/dial-check",
        "/team",
        "/users",
        "/grants",
        "/rules",
        "/keys",
        "/subjects",
        "/requests",
        "/audit",
        "/tenants",
        "/enrol",
        "/directory",
        "/areas",
        "/dnc",
        "/static/htmx.min.js",
        "/static/console.css",
    ];
    let mut seen = Vec::new();
    for (role, main) in [
        ("agent", "/recordings"),
        ("supervisor", "/team"),
        ("auditor", "/audit"),
        ("data_protection_officer", "/subjects"),
        ("security_officer", "/keys"),
    ] {
        let login = format!("u-{}", role.replace('_', "-"));
        let id = app.user(&admin, &login, "a long enough passphrase", json!({})).await;
        app.grant(&admin, &id, role, json!({ "kind": "tenant" })).await;
        let token = app.login_privileged(Some("acme"), &login, "a long enough passphrase").await;
        drop(token);
        let totp = app.totp_secret(Some("acme"), &login).map(|secret| {
            app.clock.advance_ms(30_000);
            callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap()
        });
        let session = console_login(&app, "acme", &login, "a long enough passphrase", totp).await;
        let home = send(&app, "GET", "/", Some(&session), None, &[]).await;
        assert_eq!(location(&home), main, "{role}'s main page");
        for p in pages {
            let a = send(&app, "GET", p, Some(&session), None, &[]).await;
            seen.push(format!("{role} {p} {}", a.status.as_u16()));
            if p == main {
                assert_eq!(a.status, StatusCode::OK, "{role} {p}: {}", a.body);
            }
        }
    }
    // The administrator: users and grants; the separation-of-duty refusal explained on the page.
    let session = console_login(&app, "acme", "boss", "correct horse battery staple", {
        app.clock.advance_ms(30_000);
        Some(
            callvault_crypto::totp::code_now_from_base32_at(
                &app.totp_secret(Some("acme"), "boss").unwrap(),
                app.now_secs(),
            )
            .unwrap(),
        )
    })
    .await;
    let users = send(&app, "GET", "/users", Some(&session), None, &[]).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    let token = csrf_of(&users.body);
    let made = send(
        &app,
        "POST",
        "/users",
        Some(&session),
        Some(&format!("_csrf={token}&login=newbie&first_name=New&last_name=Bie&password=a+fine+first+passphrase")),
        &[],
    )
    .await;
    assert!(made.body.contains("User newbie created"), "{}", made.body);
    let grants = send(&app, "GET", "/grants", Some(&session), None, &[]).await;
    let (_, roles) = app.get("/v1/roles", &admin).await;
    let role = |name: &str| {
        roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
    };
    let (_, people) = app.get("/v1/users", &admin).await;
    let auditor = people.as_array().unwrap().iter().find(|u| u["login"] == "u-auditor").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = send(
        &app,
        "POST",
        "/grants",
        Some(&session),
        Some(&format!("_csrf={}&user={auditor}&role={}", csrf_of(&grants.body), role("administrator"))),
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("class=\"problem\""), "a refusal explained: {}", refused.body);
    // Provider operators see tenants; tenants' people never do.
    let op_totp = {
        app.clock.advance_ms(30_000);
        callvault_crypto::totp::code_now_from_base32_at(&app.totp_secret(None, "admin").unwrap(), app.now_secs())
            .unwrap()
    };
    let form = format!("username=admin&password={}&totp={op_totp}", ADMIN_PASSWORD);
    let a = send(&app, "POST", "/login", None, Some(&form), &[]).await;
    let op_session = session_of(&a);
    let tenants = send(&app, "GET", "/tenants", Some(&op_session), None, &[]).await;
    assert!(tenants.body.contains("acme"), "{}", tenants.body);
    assert!(seen.iter().any(|s| s == "agent /tenants 403"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "agent /keys 403"), "{seen:?}");
    app.cleanup().await;
}

/// Enrolling in the console: the enrolment-only session sees only `/enrol`; the confirmation
/// sets a new session cookie (a full session) and the old cookie stops working.
#[tokio::test]
async fn enrolling_in_the_console_replaces_the_session_cookie() {
    let app = TestApp::new(Db::Sqlite).await;
    let op = app.operator().await;
    let (_, admin) = app.tenant(&op, "acme").await;
    let pw = "a long enough passphrase";
    let id = app.user(&admin, "sec2", pw, json!({})).await;
    app.grant(&admin, &id, "security_officer", json!({ "kind": "tenant" })).await;
    let same = [("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")];
    let login = format!("tenant=acme&username=sec2&password={}&totp=", pw.replace(' ', "+"));
    let a = send(&app, "POST", "/login", None, Some(&login), &same).await;
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, "/enrol"), "{}", a.body);
    let enrolling = session_of(&a);
    let home = send(&app, "GET", "/keys", Some(&enrolling), None, &[]).await;
    assert_eq!(location(&home), "/enrol", "an enrolment session sees only the enrolment pages");
    let form = send(&app, "GET", "/enrol", Some(&enrolling), None, &[]).await;
    let csrf = csrf_of(&form.body);
    let started = send(&app, "POST", "/enrol", Some(&enrolling), Some(&format!("_csrf={csrf}")), &same).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let at = started.body.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = started.body[at..].split('<').next().unwrap().to_owned();
    let code = callvault_crypto::totp::code_now_from_base32_at(&secret, app.now_secs()).unwrap();
    let csrf = csrf_of(&started.body);
    let done =
        send(&app, "POST", "/enrol/confirm", Some(&enrolling), Some(&format!("_csrf={csrf}&code={code}")), &same).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let full = session_of(&done);
    assert_ne!(full, enrolling);
    let keys = send(&app, "GET", "/keys", Some(&full), None, &[]).await;
    assert_eq!(keys.status, StatusCode::OK, "the new cookie is a full session: {}", keys.body);
    let old = send(&app, "GET", "/enrol", Some(&enrolling), None, &[]).await;
    assert_ne!(old.status, StatusCode::OK, "the enrolment cookie no longer works");
    app.cleanup().await;
}
