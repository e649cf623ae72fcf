//! End-to-end: the real binary on a fresh directory, as the README's first command runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_callvault");

struct Server {
    child: Child,
    url: String,
    stdout: Vec<String>,
    more: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Waits for a later stdout line starting with `prefix`; returns its remainder.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line =
                self.more.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("line not printed");
            self.stdout.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fresh_dir() -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("cv-e2e-{}", std::process::id() as u128 * 1_000_000 + Instant::now().elapsed().as_nanos()));
    let d = d.with_extension(format!("{}", rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64
}

/// Starts `callvault serve` with no flags but a free port, in `dir`, and waits for its
/// "listening" line; returns the stdout lines printed until then.
// The child is waited for in `Server::drop`.
#[allow(clippy::zombie_processes)]
fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    start_until(dir, extra, env, "callvault listening on ")
}

/// Like [`start`], up to the first line starting with `marker` (whose remainder is the URL).
#[allow(clippy::zombie_processes)]
fn start_until(dir: &Path, extra: &[&str], env: &[(&str, &str)], marker: &str) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(extra).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::null());
    cmd.env("CALLVAULT_LISTEN", "127.0.0.1:0").env("XDG_CONFIG_HOME", dir.join("config"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("server did not start");
        lines.push(line.clone());
        if let Some(rest) = line.strip_prefix(marker) {
            let url = rest.split(':').take(3).collect::<Vec<_>>().join(":");
            let url = url.split_whitespace().next().unwrap_or_default().to_owned();
            return Server { child, url, stdout: lines, more: rx };
        }
    }
}

fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn http_post(url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned())
}

fn cli(dir: &Path, url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("CALLVAULT_URL", url)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fresh_directory_serves_healthz_within_five_seconds() {
    let dir = fresh_dir();
    let started = Instant::now();
    let server = start(&dir, &[], &[]);
    let (status, body) = http_get(&format!("{}/healthz", server.url));
    let elapsed = started.elapsed();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    eprintln!("healthz answered {elapsed:?} after start on an empty directory");
    // The defaults of the contract: SQLite and blobs in ./callvault-data, the KEK apart, 0600.
    assert!(dir.join("callvault-data/callvault.db").exists());
    let kek = dir.join("callvault-secrets/kek");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777, 0o600);
    // A random operator password is printed once.
    assert!(server.stdout.iter().any(|l| l.starts_with("Created provider operator `admin` with password: ")));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_logins_work_and_audit_verify_names_tampering() {
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    assert!(server.stdout.iter().any(|l| l.contains("with the password from CALLVAULT_BOOTSTRAP_PASSWORD")));
    let logins: Vec<(String, String)> = server
        .stdout
        .iter()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 3 && parts[0] != "ROLE" && !l.contains(':'))
                .then(|| (parts[1].to_owned(), parts[2].to_owned()))
        })
        .collect();
    assert_eq!(logins.len(), 8, "{:?}", server.stdout);
    for (login, password) in &logins {
        let (ok, out, err) = cli(
            &dir,
            &server.url,
            &["login", "--tenant", "demo", "--username", login, "--password-stdin"],
            Some(password),
        );
        assert!(ok, "login {login}: {out} {err}");
    }
    // The last login was the auditor; the agent logs in again and sees only itself.
    let (agent, agent_pw) = logins.iter().find(|(l, _)| l == "agent").unwrap();
    let (ok, _, err) =
        cli(&dir, &server.url, &["login", "--tenant", "demo", "--username", agent, "--password-stdin"], Some(agent_pw));
    assert!(ok, "{err}");
    let (ok, out, err) = cli(&dir, &server.url, &["users", "list", "--json"], None);
    assert!(ok, "{err}");
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    let (ok, out, _) = cli(&dir, &server.url, &["whoami"], None);
    assert!(ok && out.contains("agent@tenant"), "{out}");
    // The demo content: the agent's own encrypted recording, transcripts and e-mail, played
    // through the API (the blob on disk is ciphertext).
    let (ok, out, err) = cli(&dir, &server.url, &["objects", "list", "--json"], None);
    assert!(ok, "{err}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 4, "{page}");
    assert!(items.iter().all(|o| o["key_version"] == 1));
    let voice = items.iter().find(|o| o["class"] == "voice").unwrap()["id"].as_str().unwrap().to_owned();
    let wav = dir.join("played.wav");
    let (ok, _, err) = cli(&dir, &server.url, &["objects", "get", &voice, "-o", wav.to_str().unwrap()], None);
    assert!(ok, "{err}");
    let demo: &[u8] = include_bytes!("../../server/demo/welcome-call.wav");
    assert_eq!(std::fs::read(&wav).unwrap(), demo);
    // The chat transcript's card number was masked before it was stored.
    let chat = items.iter().find(|o| o["class"] == "chat").unwrap();
    assert_eq!(chat["redactions"], 1, "{chat}");
    let txt = dir.join("chat.txt");
    let (ok, _, err) =
        cli(&dir, &server.url, &["objects", "get", chat["id"].as_str().unwrap(), "-o", txt.to_str().unwrap()], None);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&txt).unwrap();
    assert!(text.contains("my card 4111 11** **** 1111, exp **/**? That is the one I used."), "{text}");
    let blobs: Vec<_> = walk(&dir.join("callvault-data/blobs"));
    assert_eq!(blobs.len(), 4);
    for b in blobs {
        let bytes = std::fs::read(b).unwrap();
        assert!(!bytes.windows(64).any(|w| w == &demo[1000..1064]), "plaintext audio on disk");
    }
    let (ok, _, err) = cli(&dir, &server.url, &["teams", "list"], None);
    assert!(!ok && err.contains("no role grants team:read"), "{err}");
    drop(server);

    // Offline verification of the log, then tampering with the SQLite file.
    let (ok, out, err) = cli(&dir, "http://unused", &["audit", "verify"], None);
    assert!(ok, "{out} {err}");
    assert!(out.starts_with("OK: "), "{out}");
    let db = format!("sqlite:{}", dir.join("callvault-data/callvault.db").display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&db).await.unwrap();
        sqlx::raw_sql("UPDATE aud_entry SET body = replace(body, 'success', 'denied') WHERE leaf_index = 2")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let (ok, out, _) = cli(&dir, "http://unused", &["audit", "verify"], None);
    assert!(!ok, "tampering was not detected: {out}");
    assert!(out.starts_with("FAILED at entry 2"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

fn sql_count(db: &str, sql: &'static str) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(db).await.unwrap();
        sqlx::query(sql).fetch_one(&mut c).await.unwrap().try_get::<i64, _>("n").unwrap()
    })
}

/// One HTTP/1.1 request with headers; (status, response headers and body as text).
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, out.get(split + 4..).unwrap_or_default().to_vec())
}

fn demo_password(server: &Server, login: &str) -> String {
    server
        .stdout
        .iter()
        .find_map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            (p.len() == 3 && p[1] == login).then(|| p[2].to_owned())
        })
        .unwrap()
}

fn login_token(url: &str, login: &str, password: &str) -> String {
    let (status, body) = http_post(
        &format!("{url}/v1/auth/login"),
        &format!("{{\"tenant\":\"demo\",\"username\":\"{login}\",\"password\":\"{password}\"}}"),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// (resident memory in KiB, OS threads) of a process.
fn rss_and_threads(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// A fresh start leaves nothing readable by group or others in the data directory, and a
/// client's request id is kept only when it is a short token.
#[test]
fn data_directory_is_private_and_request_ids_are_short_tokens() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    let data = dir.join("callvault-data");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut files = 0;
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                files += 1;
            }
        }
    }
    assert!(files >= 6, "database, WAL, do-not-call copies and blobs: {files}");
    let long = "a".repeat(2000);
    let (status, head, _) = http("GET", &format!("{}/healthz", server.url), &[("X-Request-Id", &long)], b"");
    assert_eq!(status, 200);
    let echoed = head.lines().find_map(|l| l.strip_prefix("x-request-id: ")).unwrap().to_owned();
    assert!(echoed.len() == 36 && echoed != long, "a generated id replaces a long one: {echoed}");
    let (_, head, _) = http("GET", &format!("{}/healthz", server.url), &[("X-Request-Id", "dialer-7.call:42")], b"");
    assert!(head.contains("x-request-id: dialer-7.call:42"), "{head}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// 600 held uploads and 1,500 idle connections (from 127.0.0.2 and up) while a login and a
/// download from 127.0.0.1 keep answering within a second; memory and threads stay bounded.
#[test]
fn slow_clients_cannot_starve_the_server() {
    use tokio::io::AsyncWriteExt;
    // Every connection is a descriptor here too.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let Some(max) = limit.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit { current: Some(max), maximum: Some(max) },
        );
        if max < 5000 {
            eprintln!("SKIP: slow-client test needs 5,000 open files, the hard limit is {max}");
            return;
        }
    }
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    let url = server.url.clone();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let pid = server.child.id();
    let recorder = server
        .stdout
        .iter()
        .find_map(|l| l.trim().strip_prefix("service account `recorder` (recorder role) token: "))
        .unwrap()
        .to_owned();
    let agent = login_token(&url, "agent", &demo_password(&server, "agent"));
    let (_, _, page) = http("GET", &format!("{url}/v1/objects"), &[("Authorization", &format!("Bearer {agent}"))], b"");
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let voice = page["items"].as_array().unwrap().iter().find(|o| o["class"] == "voice").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (rss_before, threads_before) = rss_and_threads(pid);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let held = rt.block_on(async {
        let mut held = Vec::new();
        // 600 uploads that declare 10 MB, send the head and 20,000 bytes of body, then nothing.
        for i in 0..600u32 {
            let ip = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i / 200) as u8);
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((ip, 0).into()).unwrap();
            let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
            let head = format!(
                "POST /v1/objects?class=voice&size=10000000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {recorder}\r\n\
                 Content-Type: audio/wav\r\nContent-Length: 10000000\r\n\r\n"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&[0u8; 20_000]).await.unwrap();
            held.push(s);
        }
        // 1,500 connections that send half a request head, then nothing.
        for i in 0..1500u32 {
            let ip = std::net::Ipv4Addr::new(127, 0, 0, 5 + (i / 200) as u8);
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((ip, 0).into()).unwrap();
            let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
            s.write_all(b"GET /v1/auth/me HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        held
    });
    for round in 0..3 {
        let started = Instant::now();
        let token = login_token(&url, "agent2", &demo_password(&server, "agent2"));
        let login = started.elapsed();
        let started = Instant::now();
        let (status, _, audio) = http(
            "GET",
            &format!("{url}/v1/objects/{voice}/content"),
            &[("Authorization", &format!("Bearer {agent}"))],
            b"",
        );
        let download = started.elapsed();
        assert_eq!(status, 200);
        assert!(!audio.is_empty() && !token.is_empty());
        eprintln!("round {round}: login {login:?}, download of {} bytes {download:?}", audio.len());
        assert!(login < Duration::from_secs(1) && download < Duration::from_secs(1), "{login:?} {download:?}");
    }
    let (rss_after, threads_after) = rss_and_threads(pid);
    eprintln!(
        "server RSS {rss_before} KiB -> {rss_after} KiB, threads {threads_before} -> {threads_after}, with {} held connections",
        held.len()
    );
    assert!(rss_after.saturating_sub(rss_before) <= 100 * 1024, "RSS grew by more than 100 MiB");
    assert!(threads_after <= 64, "{threads_after} OS threads");
    drop(held);
    drop(rt);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A recording damaged on disk: the CLI says "integrity check failed" and keeps no partial
/// file, the failure is audited and the security officers are told, and `objects verify --all`
/// names the object.
#[test]
fn damaged_content_is_refused_reported_and_found_from_the_cli() {
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    let password = demo_password(&server, "agent");
    let (ok, _, err) = cli(
        &dir,
        &server.url,
        &["login", "--tenant", "demo", "--username", "agent", "--password-stdin"],
        Some(&password),
    );
    assert!(ok, "{err}");
    let (ok, out, err) = cli(&dir, &server.url, &["objects", "list", "--json"], None);
    assert!(ok, "{err}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let voice =
        page.as_array().unwrap().iter().find(|o| o["class"] == "voice").unwrap()["id"].as_str().unwrap().to_owned();
    // The voice recording is the largest blob; damage its second segment.
    let blob = walk(&dir.join("callvault-data/blobs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = callvault_crypto::envelope::HEADER_LEN + callvault_crypto::stream::SEALED_SEGMENT_SIZE + 10;
    bytes[at] ^= 0x5a;
    std::fs::write(&blob, bytes).unwrap();
    let out_file = dir.join("played.wav");
    let (ok, _, err) = cli(&dir, &server.url, &["objects", "get", &voice, "-o", out_file.to_str().unwrap()], None);
    assert!(!ok && err.contains("integrity check failed"), "{err}");
    assert!(!out_file.exists() && !out_file.with_extension("part").exists(), "no partial file is kept");
    let (ok, out, _) = cli(&dir, &server.url, &["objects", "verify", "--all"], None);
    assert!(!ok, "damage makes verify fail: {out}");
    assert!(out.contains(&format!("DAMAGED {voice}")) && out.contains("4 object(s) checked, 1 damaged"), "{out}");
    drop(server);
    let db = format!("sqlite:{}", dir.join("callvault-data/callvault.db").display());
    let audited = sql_count(&db, "SELECT count(*) AS n FROM aud_entry WHERE action = 'object.integrity_failed'");
    assert!(audited >= 2, "the download and the verification are audited: {audited}");
    let told = sql_count(&db, "SELECT count(*) AS n FROM op_notification WHERE kind = 'object_integrity_failed'");
    assert_eq!(told, 1, "the security officers are told once per object per hour");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn public_address_without_tls_is_refused() {
    let dir = fresh_dir();
    let out = Command::new(BIN).args(["serve", "--listen", "0.0.0.0:0"]).current_dir(&dir).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing plain HTTP"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serves_https_with_certificate_files() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIP: openssl is not installed; cannot make a test certificate");
        return;
    }
    let dir = fresh_dir();
    // A test CA, and a server certificate it signs.
    let openssl =
        |args: &[&str]| Command::new("openssl").args(args).current_dir(&dir).output().unwrap().status.success();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ok = openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=callvault test CA", "-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    ok &=
        openssl(&[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "server.csr"]].concat());
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .unwrap();
    ok &= openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    assert!(ok, "openssl could not make a certificate");
    let server = start(&dir, &[], &[("CALLVAULT_TLS_CERT", "cert.pem"), ("CALLVAULT_TLS_KEY", "key.pem")]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    // The CLI trusts the test certificate explicitly and talks TLS to the server.
    let (ok, out, err) = cli(&dir, &server.url, &["whoami", "--ca-cert", "ca.pem"], None);
    assert!(!ok, "whoami without a session must fail");
    assert!(err.contains("Authentication required"), "the TLS request reached the API: {out} {err}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shamir_provider_starts_sealed_until_k_shares_rebuild_the_kek() {
    let dir = fresh_dir();
    let env = [
        ("CALLVAULT_KEK_PROVIDER", "shamir"),
        ("CALLVAULT_KEK_SHARES", "3"),
        ("CALLVAULT_KEK_THRESHOLD", "2"),
        ("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase"),
    ];
    let first = start(&dir, &[], &env);
    let shares: Vec<String> = first
        .stdout
        .iter()
        .filter_map(|l| l.trim().strip_prefix("share ").and_then(|r| r.split_once(": ")).map(|(_, s)| s.to_owned()))
        .collect();
    assert_eq!(shares.len(), 3, "{:?}", first.stdout);
    assert!(!dir.join("callvault-secrets/kek").exists(), "the shamir provider never writes the KEK");
    drop(first);
    // Second start: sealed until two custodians give their shares.
    let mut sealed = start_until(&dir, &[], &env, "callvault is SEALED on ");
    let url = sealed.url.clone();
    assert_eq!(http_get(&format!("{url}/readyz")).0, 503);
    let (status, body) = http_get(&format!("{url}/v1/tenants"));
    assert_eq!(status, 503);
    assert!(body.contains("sealed"), "{body}");
    let (status, body) = http_post(&format!("{url}/v1/sys/unseal"), &format!("{{\"share\":\"{}\"}}", shares[0]));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"progress\":1") && body.contains("\"sealed\":true"), "{body}");
    // k - 1 shares restore nothing: still sealed; the same share twice does not count.
    assert_eq!(http_get(&format!("{url}/v1/tenants")).0, 503);
    let (status, _) = http_post(&format!("{url}/v1/sys/unseal"), &format!("{{\"share\":\"{}\"}}", shares[0]));
    assert_eq!(status, 409);
    let (status, _) = http_post(&format!("{url}/v1/sys/unseal"), "{\"share\":\"cvs1-2-00000000-0102-00000000\"}");
    assert_eq!(status, 422, "a malformed share is refused");
    // A forged share, well-formed with a valid checksum, declaring threshold 255: never issued,
    // so refused, and the unseal in progress is untouched (it used to reset the threshold).
    let body = "cvs1-255-0badc0de-01aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";
    let forged = format!("{body}-{}", hex::encode(&callvault_crypto::digest::sha256(body.as_bytes())[..4]));
    let (status, answer) = http_post(&format!("{url}/v1/sys/unseal"), &format!("{{\"share\":\"{forged}\"}}"));
    assert_eq!(status, 422, "{answer}");
    assert!(answer.contains("never issued"), "{answer}");
    let (_, progress) = http_get(&format!("{url}/v1/sys/seal-status"));
    assert!(progress.contains("\"threshold\":2") && progress.contains("\"progress\":1"), "{progress}");
    let (status, body) = http_post(&format!("{url}/v1/sys/unseal"), &format!("{{\"share\":\"{}\"}}", shares[2]));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sealed\":false"), "{body}");
    let url = sealed.wait_for("callvault listening on ");
    assert_eq!(http_get(&format!("{url}/readyz")).0, 200);
    // Every attempt is in the audit log once unsealed (the forged one as denied).
    let db = format!("sqlite:{}", dir.join("callvault-data/callvault.db").display());
    let attempts = sql_count(&db, "SELECT count(*) AS n FROM aud_entry WHERE body LIKE '%kek.unseal_attempt%'");
    assert!(attempts >= 5, "{attempts} unseal attempts audited");
    let (status, body) =
        http_post(&format!("{url}/v1/auth/login"), "{\"username\":\"admin\",\"password\":\"operator e2e passphrase\"}");
    assert_eq!(status, 200, "{body}");
    drop(sealed);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pkcs11_kek_on_softhsm_serves_and_restarts() {
    let module = Path::new("/usr/lib/softhsm/libsofthsm2.so");
    let util = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("softhsm2-util")).find(|p| p.exists()));
    let Some(util) = util.filter(|_| module.exists()) else {
        assert!(std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_err(), "SoftHSM2 is required in CI");
        eprintln!("SKIP: SoftHSM2 not installed (apt-get install -y softhsm2); PKCS#11 server test not run");
        return;
    };
    let dir = fresh_dir();
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\n", dir.join("tokens").display()),
    )
    .unwrap();
    let out = Command::new(util)
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "cv-e2e", "--pin", "4321", "--so-pin", "8765"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("pin"), "4321\n").unwrap();
    let conf_s = conf.to_str().unwrap().to_owned();
    let pin = dir.join("pin").to_str().unwrap().to_owned();
    let env = [
        ("SOFTHSM2_CONF", conf_s.as_str()),
        ("CALLVAULT_KEK_PROVIDER", "pkcs11"),
        ("CALLVAULT_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
        ("CALLVAULT_PKCS11_TOKEN", "cv-e2e"),
        ("CALLVAULT_PKCS11_PIN_FILE", pin.as_str()),
        ("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase"),
    ];
    let server = start(&dir, &["--demo"], &env);
    assert_eq!(http_get(&format!("{}/readyz", server.url)).0, 200);
    assert!(!dir.join("callvault-secrets/kek").exists(), "no key file with an HSM");
    drop(server);
    // The same token key opens the same database again (the KEK check value matches).
    let server = start(&dir, &[], &env);
    let (status, body) = http_post(
        &format!("{}/v1/auth/login", server.url),
        "{\"username\":\"admin\",\"password\":\"operator e2e passphrase\"}",
    );
    assert_eq!(status, 200, "{body}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dial_checks_from_the_cli_explain_themselves() {
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    let password = server
        .stdout
        .iter()
        .find_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 3 && parts[1] == "agent2").then(|| parts[2].to_owned())
        })
        .expect("agent2's demo password");
    let (ok, _, err) = cli(
        &dir,
        &server.url,
        &["login", "--tenant", "demo", "--username", "agent2", "--password-stdin"],
        Some(&password),
    );
    assert!(ok, "{err}");
    let check =
        |number: &str, at: &str| cli(&dir, &server.url, &["dial", "check", number, "--at", at, "--dry-run"], None);
    // Monday 2026-11-23, noon in New York.
    let (ok, out, err) = check("+12125550100", "2026-11-23T17:00:00Z");
    assert!(ok && out.starts_with("ALLOWED  +12125550100"), "{out} {err}");
    assert!(out.contains("✓ within_hours") && out.contains("area US domestic"), "{out}");
    // The demo's internal do-not-call list; exit status 2.
    let (ok, out, _) = check("+12025550143", "2026-11-23T17:00:00Z");
    assert!(!ok && out.contains("✗ do_not_call") && out.contains("customer requests"), "{out}");
    // UK mobiles are excepted from the agent's UK landlines area.
    let (ok, out, _) = check("+447400123456", "2026-11-23T12:00:00Z");
    assert!(!ok && out.contains("excludes prefix:447"), "{out}");
    // 20:30 in Miami: Florida's window closes at 20:00; the next allowed instant is printed.
    let (ok, out, _) = check("+13055550100", "2026-11-24T01:30:00Z");
    assert!(!ok && out.contains("Fla. Stat. 501.616") && out.contains("next allowed: 2026-11-24T13:00:00Z"), "{out}");
    let (ok, out, _) = check("call me maybe", "2026-11-23T17:00:00Z");
    assert!(!ok && out.contains("invalid_number"), "{out}");
    drop(server);
}

/// `serve --demo` replays a scripted call that is transferred to a non-secure party;
/// the CLI shows its lock and history, and the demo agent's alert stream carries the downgrade.
#[test]
fn demo_call_is_downgraded_and_the_cli_shows_why() {
    let dir = fresh_dir();
    let server = start(&dir, &["--demo"], &[("CALLVAULT_BOOTSTRAP_PASSWORD", "operator e2e passphrase")]);
    let password = |who: &str| {
        server
            .stdout
            .iter()
            .find_map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts.len() == 3 && parts[1] == who).then(|| parts[2].to_owned())
            })
            .unwrap_or_else(|| panic!("{who}'s demo password"))
    };
    let (ok, _, err) = cli(
        &dir,
        &server.url,
        &["login", "--tenant", "demo", "--username", "auditor", "--password-stdin"],
        Some(&password("auditor")),
    );
    assert!(ok, "{err}");
    // The script: secure at 5 s, transferred to an unencrypted trunk at 15 s, hung up at 25 s.
    let mut id = None;
    for _ in 0..60 {
        let (ok, out, err) = cli(&dir, &server.url, &["calls", "list", "--all", "--json"], None);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if let Some(c) = v["calls"].as_array().unwrap().iter().find(|c| c["state"]["security"] == "not_secure") {
            id = Some(c["id"].as_str().unwrap().to_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let id = id.expect("the demo call is downgraded within 30 s");
    let (ok, out, err) = cli(&dir, &server.url, &["calls", "show", &id], None);
    assert!(ok, "{err}");
    assert!(out.contains("OPEN") && out.contains("pstn-carrier (udp)") && out.contains("(ALERT)"), "{out}");
    assert!(out.contains("secure → not_secure") || out.contains("unknown → not_secure"), "{out}");
    let (ok, out, _) = cli(&dir, &server.url, &["calls", "list"], None);
    assert!(ok, "{out}");
    drop(server);
}
