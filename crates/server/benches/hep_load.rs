//! HEP listener under load, with 10,000 concurrent calls tracked, and the latency of a downgrade
//! alert from the HEP packet to a user's server-sent-event stream.
//!
//! `cargo bench -p callvault-server --bench hep_load -- [calls] [seconds] [packets_per_second]`
//! (defaults 10000, 20, 40000).
//!
//! The server runs in this process as in production — SQLite store, the demo tenant (its agent
//! on the end-to-edge station `desk-100`), the HEP listener on a UDP port, the HTTP API on a TCP
//! port — and a separate OS thread sends HEP v3 packets over loopback UDP like Kamailio's
//! `siptrace` does (each message once per hop, ~700-byte SIP with SDP). Phase 1 sets up the calls
//! (INVITE and 200 OK on both hops of each, SDES over TLS: secure). Phase 2 offers a paced load of
//! re-INVITE/200 pairs on random calls (state unchanged) while, every 150 ms, one call's callee
//! hop is answered with plain RTP (a downgrade: the agent is alerted) and restored 100 ms later
//! (an upgrade: no alert). The agent's alert stream is read over HTTP with reqwest; latency is
//! from just before the downgrade packet is sent to the alert's arrival.
//!
//! With `--two-nodes` (and `CALLVAULT_POSTGRES_TEST_URL`): two nodes in this process on one
//! PostgreSQL database (a throwaway schema), each with its own state and HEP listener; each
//! call's caller hop is mirrored to node A and its callee hop to node B, as two capture agents
//! would, so every call's legs arrive at both nodes; the agent's alerts are read from node A.
//! The setup is paced at `packets_per_second` too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callvault_core::clock::SystemClock;
use callvault_core::config::Config;
use callvault_crypto::SecretBytes;
use callvault_crypto::digest::sha256;
use callvault_crypto::kek::StaticKek;
use callvault_server::{api, bootstrap, demo, hep};
use callvault_signalling::hep::{Packet, Transport, encode};
use callvault_store::calls::CaptureAgentRow;
use callvault_store::{CallStore, Store, TenantStore};
use futures_util::StreamExt;

const KEY: &str = "hep-bench-capture-key";
const SDES: &str = "m=audio 16000 RTP/SAVP 0 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const PLAIN: &str =
    "m=audio 16000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn sip(call: usize, request: bool, cseq: u32, via: &str, media: &str) -> String {
    let body = format!("v=0\r\no=- 4711 {cseq} IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n{media}");
    let start = if request { "INVITE sip:uas@10.0.0.9:5060 SIP/2.0".to_owned() } else { "SIP/2.0 200 OK".to_owned() };
    let to_tag = if request && cseq == 1 { String::new() } else { ";tag=uas-77".to_owned() };
    format!(
        "{start}\r\nVia: SIP/2.0/{via} 10.0.0.5:5061;branch=z9hG4bK-{call}-{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:100@10.0.0.5>;tag=uac-{call}\r\nTo: <sip:uas@10.0.0.9>{to_tag}\r\nCall-ID: bench-{call}@10.0.0.5\r\nCSeq: {cseq} INVITE\r\nContact: <sip:100@10.0.0.5:5061;transport=tls>\r\nUser-Agent: hep-bench\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Hop A: caller ↔ proxy; hop B: proxy ↔ callee. Each call has its own caller port.
fn packet(call: usize, hop_b: bool, from_proxy: bool, payload: &str) -> Vec<u8> {
    let caller: SocketAddr = format!("10.1.{}.{}:{}", call / 250 % 250, call % 250, 5061).parse().unwrap();
    let proxy: SocketAddr = "10.0.0.1:5061".parse().unwrap();
    let callee: SocketAddr = format!("10.2.{}.{}:5060", call / 250 % 250, call % 250).parse().unwrap();
    let (a, b) = if hop_b { (proxy, callee) } else { (caller, proxy) };
    let (src, dst) = if from_proxy == hop_b { (a, b) } else { (b, a) };
    encode(&Packet {
        src: Some((src.ip(), src.port())),
        dst: Some((dst.ip(), dst.port())),
        transport: Some(Transport::Tls),
        time: Some((1_795_000_000, 0)),
        proto_type: Some(1),
        capture_id: Some(2001),
        auth_key: Some(KEY.as_bytes()),
        correlation_id: None,
        payload: payload.as_bytes(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let two_nodes = std::env::args().any(|a| a == "--two-nodes");
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let calls: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let pps: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run(calls, secs, pps, two_nodes));
}

/// A throwaway schema in the PostgreSQL test database: its URL and its name.
async fn postgres_schema() -> (String, String) {
    let base = std::env::var("CALLVAULT_POSTGRES_TEST_URL").expect("--two-nodes needs CALLVAULT_POSTGRES_TEST_URL");
    let schema = format!("cvbench_{}", std::process::id());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}options=-c%20search_path%3D{schema}"), schema)
}

async fn drop_schema(schema: &str) {
    let base = std::env::var("CALLVAULT_POSTGRES_TEST_URL").unwrap();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut conn).await.unwrap();
}

async fn run(calls: usize, secs: u64, pps: u64, two_nodes: bool) {
    if let Ok(filter) = std::env::var("CALLVAULT_LOG_LEVEL") {
        callvault_server::logging::init(callvault_core::config::LogFormat::Text, &filter);
    }
    println!(
        "hep bench: {calls} calls, {secs} s at {pps} packets/s offered; {} cores; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if two_nodes { "two nodes on PostgreSQL" } else { "one node on SQLite" }
    );
    let dir = std::env::temp_dir().join(format!("cv-hep-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, schema) = if two_nodes {
        let (url, schema) = postgres_schema().await;
        (url, Some(schema))
    } else {
        (format!("sqlite:{}?mode=rwc", dir.join("bench.db").display()), None)
    };
    let store = Store::open(&url).await.unwrap();
    let config =
        Config { data_dir: dir.clone(), hep_max_calls: calls + 1000, node_id: "node-a".into(), ..Config::default() };
    let kek = Arc::new(StaticKek::new(SecretBytes::new(vec![7u8; 32])));
    let state = bootstrap::state_with(store, kek.clone(), config.clone(), Arc::new(SystemClock)).await.unwrap();
    bootstrap::ensure_operator(&state, Some("hep bench operator passphrase".into())).await.unwrap();
    let logins = demo::seed_demo(&state).await.unwrap().unwrap();
    let agent = logins.iter().find(|l| l.login == "agent").unwrap();
    let tenant = state.store.reader().await.unwrap().tenant_by_slug(demo::DEMO_TENANT).await.unwrap().id;
    let mut tx = state.store.begin().await.unwrap();
    tx.insert_capture_agent(&CaptureAgentRow {
        capture_id: 2001,
        tenant_id: tenant,
        name: "bench".into(),
        key_sha256: hex::encode(sha256(KEY.as_bytes())),
        created_at: state.clock.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    state.calls.reload_agents().await.unwrap();
    let hep_addr = hep::start(state.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap().udp;
    // Node B: its own state and listener on the same database; both hear the bus.
    let node_b = if two_nodes {
        let config = Config { data_dir: dir.join("b"), node_id: "node-b".into(), ..config.clone() };
        let b =
            bootstrap::state_with(Store::open(&url).await.unwrap(), kek, config, Arc::new(SystemClock)).await.unwrap();
        b.calls.reload_agents().await.unwrap();
        tokio::spawn(callvault_core::bus::run(state.services.clone()));
        tokio::spawn(callvault_core::bus::run(b.services.clone()));
        let addr = hep::start(b.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap().udp;
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some((b, addr))
    } else {
        None
    };
    // Where each hop is mirrored: the caller's hop to node A, the callee's to node B (or A).
    let hops = [hep_addr, node_b.as_ref().map_or(hep_addr, |(_, a)| *a)];
    let to = move |hop_b: bool| hops[usize::from(hop_b)];
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let app = api::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(http, app).await });

    // The agent's alert stream over HTTP.
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("http://{http_addr}/v1/auth/login"))
        .json(&serde_json::json!({ "tenant": "demo", "username": "agent", "password": agent.password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let resp =
        client.get(format!("http://{http_addr}/v1/calls/alerts/stream")).bearer_auth(&token).send().await.unwrap();
    assert!(resp.status().is_success());
    {
        let (sent_at, latencies) = (sent_at.clone(), latencies.clone());
        tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
                    let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap_or_default();
                    let key = v["call_key"].as_str().unwrap_or("").to_owned();
                    if let Some(t) = sent_at.lock().unwrap().remove(&key) {
                        latencies.lock().unwrap().push((now - t).as_secs_f64() * 1000.0);
                    }
                }
            }
        });
    }

    let accepted = || {
        state.hep_stats.accepted.load(Ordering::Relaxed)
            + node_b.as_ref().map_or(0, |(b, _)| b.hep_stats.accepted.load(Ordering::Relaxed))
    };
    let tracked = async || match node_b {
        Some(_) => state.store.reader().await.unwrap().open_calls().await.unwrap().len(),
        None => state.calls.tracked(),
    };
    let setup_pps = if two_nodes { pps as f64 } else { 20_000.0 };
    // Phase 1: the calls.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = Instant::now();
    let setup = std::thread::spawn({
        let sock = sock.try_clone().unwrap();
        move || {
            let t0 = Instant::now();
            for c in 0..calls {
                for p in [
                    (false, packet(c, false, false, &sip(c, true, 1, "TLS", SDES))),
                    (true, packet(c, true, true, &sip(c, true, 1, "TLS", SDES))),
                    (true, packet(c, true, false, &sip(c, false, 1, "TLS", SDES))),
                    (false, packet(c, false, true, &sip(c, false, 1, "TLS", SDES))),
                ] {
                    sock.send_to(&p.1, to(p.0)).unwrap();
                }
                // Paced at 20,000 packets/s (5,000 call set-ups per second; two nodes: the load's rate).
                let due = Duration::from_secs_f64((c + 1) as f64 * 4.0 / setup_pps);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    });
    setup.join().unwrap();
    // Until every packet is handled (or the count stops moving: lost packets).
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = accepted();
        if now >= (calls * 4) as u64 || now == last {
            break;
        }
        last = now;
    }
    let setup_secs = t.elapsed().as_secs_f64();
    println!(
        "setup: {} calls tracked from {} packets sent ({} accepted) in {:.1} s",
        tracked().await,
        calls * 4,
        accepted(),
        setup_secs
    );

    // Phase 2: paced load and downgrades.
    let stop = Arc::new(AtomicBool::new(false));
    let before = accepted();
    let t = Instant::now();
    let load = std::thread::spawn({
        let sock = sock.try_clone().unwrap();
        let stop = stop.clone();
        move || {
            let mut sent = 0u64;
            let mut seed = 88172645463325252u64;
            let started = Instant::now();
            let mut cseq = 2u32;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let c = (seed % calls as u64) as usize;
                    cseq += 1;
                    // With two nodes, re-INVITEs alternate between the hops (so between the nodes).
                    let hop_b = two_nodes && cseq.is_multiple_of(2);
                    let _ = sock.send_to(&packet(c, hop_b, hop_b, &sip(c, true, cseq, "TLS", SDES)), to(hop_b));
                    let _ = sock.send_to(&packet(c, hop_b, !hop_b, &sip(c, false, cseq, "TLS", SDES)), to(hop_b));
                    sent += 2;
                }
                let due = Duration::from_secs_f64(sent as f64 / pps as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            sent
        }
    });
    let mut n = 0usize;
    while t.elapsed() < Duration::from_secs(secs) {
        let c = (n * 7919) % calls;
        n += 1;
        let key = format!("bench-{c}@10.0.0.5");
        sent_at.lock().unwrap().insert(key, Instant::now());
        sock.send_to(&packet(c, true, false, &sip(c, false, 1000 + n as u32, "TLS", PLAIN)), to(true)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        sock.send_to(&packet(c, true, false, &sip(c, false, 2000 + n as u32, "TLS", SDES)), to(true)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let sent = load.join().unwrap();
    let elapsed = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = accepted() - before;
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let offered = (sent + 2 * n as u64) as f64 / elapsed;
    println!(
        "load: {:.0} packets/s offered, {:.0} packets/s accepted ({:.2} % lost) with {} calls tracked",
        offered,
        got as f64 / elapsed,
        100.0 * (1.0 - got as f64 / (sent + 2 * n as u64) as f64),
        tracked().await
    );
    println!(
        "alerts: {} of {} downgrades alerted; latency HEP packet → SSE client p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        n,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or(f64::NAN)
    );
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .unwrap_or_default();
    for (name, st) in std::iter::once(("node A", &state)).chain(node_b.as_ref().map(|(b, _)| ("node B", b))) {
        let h = &st.hep_stats;
        println!(
            "{name}: accepted {}, ignored {}, malformed {}, overloaded {}",
            h.accepted.load(Ordering::Relaxed),
            h.ignored.load(Ordering::Relaxed),
            h.malformed.load(Ordering::Relaxed),
            h.overloaded.load(Ordering::Relaxed)
        );
    }
    println!("process peak RSS (server and load generator): {rss}");
    std::fs::remove_dir_all(&dir).ok();
    if let Some(schema) = schema {
        drop_schema(&schema).await;
    }
}
