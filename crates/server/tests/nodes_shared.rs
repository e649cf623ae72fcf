//! Two nodes with their own state (calls, telecom policy, caches) on one PostgreSQL database,
//! in one process: what one node commits, the other sees. A downgrade alert produced on node A
//! reaches a stream on node B (the outbox rows announced on the bus) and `Last-Event-ID` replay
//! works there; a station changed on one node is used by the other at once; a Florida number's
//! fourth call is refused whichever node the check reaches, and concurrent checks on both take
//! exactly the three calls allowed; a call whose legs arrive alternately (and at the same time)
//! at the two nodes ends as it does on one node; the caps on tracked calls count both nodes'
//! calls. PostgreSQL only: SQLite serves one node. (The
//! same with two real processes: `scripts/two-nodes.py`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::sip::{SDP_SDES, bye, invite, ok};
use common::{Db, TestApp, backends, sse};
use serde_json::{Value, json};

const PW: &str = "correct horse battery staple";

/// The PostgreSQL backend, when configured (these tests need several nodes).
fn postgres() -> Option<Db> {
    let found = backends().into_iter().find(|d| *d == Db::Postgres);
    if found.is_none() {
        eprintln!("skipped: two nodes need PostgreSQL (set CALLVAULT_POSTGRES_TEST_URL)");
    }
    found
}

/// A service account with the `dialer` role; returns its token.
async fn dialer(app: &TestApp, admin: &str, name: &str) -> String {
    app.service_account(admin, name, "dialer").await
}

async fn recv(rx: &mut tokio::sync::mpsc::Receiver<(String, Value)>, within: Duration) -> Option<(String, Value)> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

async fn check(app: &TestApp, token: &str, number: &str) -> Value {
    let (s, v) = app.post("/v1/dial-checks", token, json!({ "direction": "outbound_call", "number": number })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"][0].clone()
}

async fn post_sip(app: &TestApp, token: &str, leg: &str, msg: String) {
    let path = format!("/v1/calls/sip?leg={leg}");
    let (s, _, body) = app.raw("POST", &path, Some(token), Some(msg.into_bytes()), "message/sip").await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_stations_cross_nodes() {
    let Some(db) = postgres() else { return };
    let a = TestApp::new(db).await;
    let op = a.operator().await;
    let (_, admin) = a.tenant(&op, "acme").await;
    let ana = a.user(&admin, "ana", PW, json!({})).await;
    a.grant(&admin, &ana, "agent", json!({ "kind": "tenant" })).await;
    let station = |level: &str| json!({ "sip_user": "1012", "user": ana, "level": level, "kind": "station" });
    let (s, v) = a.request("PUT", "/v1/stations/desk-12", Some(&admin), Some(station("end_to_edge"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let pbx = dialer(&a, &admin, "pbx").await;
    let b = a.second_node("node-b").await;
    let ana_t = b.login(Some("acme"), "ana", PW, None).await["token"].as_str().unwrap().to_owned();
    let mut alerts = sse(&b.router, "/v1/calls/alerts/stream", &ana_t, None).await;
    let events = |call: &str, events: Value| json!({ "call": call, "events": events });
    let downgrade = json!([
        { "type": "transfer", "from": "b", "to": "c", "party": { "kind": "trunk", "name": "carrier-udp" } },
        { "type": "answer", "leg": "c", "media": { "media": "plain_rtp", "detail": null }, "signalling": "plain" },
    ]);
    let mut latencies = Vec::new();
    let mut first_id = None;
    for i in 0..40 {
        let call = format!("call-{i}");
        let (s, v) = a
            .post(
                "/v1/calls/events",
                &pbx,
                events(
                    &call,
                    json!([
                        { "type": "leg_added", "leg": "a", "party": { "kind": "station", "name": "desk-12" } },
                        { "type": "leg_added", "leg": "b", "party": { "kind": "gateway", "name": "srtp-gw" } },
                        { "type": "answer", "leg": "a", "media": { "media": "sdes_srtp", "detail": "AES_CM_128_HMAC_SHA1_80" }, "signalling": "tls" },
                        { "type": "answer", "leg": "b", "media": { "media": "sdes_srtp", "detail": "AES_CM_128_HMAC_SHA1_80" }, "signalling": "tls" },
                    ]),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let sent = Instant::now();
        let (s, v) = a.post("/v1/calls/events", &pbx, events(&call, downgrade.clone())).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let call_id = v["call"]["id"].as_str().unwrap().to_owned();
        let (id, alert) =
            recv(&mut alerts, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("{call}: no alert on node B"));
        latencies.push(sent.elapsed());
        assert_eq!(alert["call_id"], call_id.as_str(), "{alert}");
        assert_eq!(alert["lock"], "open");
        first_id.get_or_insert(id);
    }
    latencies.sort();
    println!(
        "40 downgrades on node A alerted on node B: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    assert!(percentile(&latencies, 0.99) < Duration::from_secs(1), "{latencies:?}");
    // Every alert once: nothing more arrives.
    assert!(recv(&mut alerts, Duration::from_millis(500)).await.is_none(), "an alert streamed twice");
    // Replay on node B after the first alert: the other 39, in order.
    let mut replay = sse(&b.router, "/v1/calls/alerts/stream", &ana_t, first_id.as_deref()).await;
    let mut replayed = 0;
    while recv(&mut replay, Duration::from_millis(500)).await.is_some() {
        replayed += 1;
    }
    assert_eq!(replayed, 39);

    // Node A has ana's station cached; node B makes it minimal: node A alerts no more.
    let (s, v) = b.request("PUT", "/v1/stations/desk-12", Some(&admin), Some(station("minimal"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, v) = a
        .post(
            "/v1/calls/events",
            &pbx,
            events(
                "after",
                json!([
                    { "type": "leg_added", "leg": "a", "party": { "kind": "station", "name": "desk-12" } },
                    { "type": "answer", "leg": "a", "media": { "media": "plain_rtp", "detail": null }, "signalling": "plain" },
                ]),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["call"]["state"]["legs"][0]["party"]["level"], "minimal", "node A used its stale station: {v}");
    drop(b);
    a.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_florida_numbers_fourth_call_is_refused_on_either_node() {
    let Some(db) = postgres() else { return };
    let a = TestApp::new(db).await;
    let op = a.operator().await;
    let (_, admin) = a.tenant(&op, "acme").await;
    let dialer_t = dialer(&a, &admin, "predictive").await;
    let b = a.second_node("node-b").await;
    let ask = async |app: &TestApp, number: &str| check(app, &dialer_t, number).await;
    // Node B compiles the shipped rules first; node A replaces them (no calling hours, so the
    // test does not depend on the hour): node B must use the new ones.
    ask(&b, "+13055550100").await;
    let (s, _, body) = a
        .raw(
            "PUT",
            "/v1/dial/rules",
            Some(&admin),
            Some(b"US-FL limit 3 per 24h -- Fla. Stat. 501.616\n".to_vec()),
            "text/plain",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut allowed = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        let d = ask(node, "+13055550111").await;
        allowed.push(d["allowed"] == true);
        if d["allowed"] == false {
            let codes: Vec<&str> = d["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["denies"] == true)
                .filter_map(|r| r["code"].as_str())
                .collect();
            assert_eq!(codes, ["call_limit"], "{d}");
        }
    }
    assert_eq!(allowed, [true, true, true, false, false, false], "calls alternating A, B, A, B, A, B");
    // Twenty checks of another number at once, ten per node: exactly three are allowed.
    let mut racing = Vec::new();
    for i in 0..20 {
        racing.push(check(if i % 2 == 0 { &a } else { &b }, &dialer_t, "+13055550122"));
    }
    // The clock moves while they run, as real clocks do: a check that read it later may count
    // its call before one that read it earlier.
    let clock = a.clock.clone();
    let ticking = tokio::spawn(async move {
        loop {
            clock.advance_ms(1);
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    let results = futures_util::future::join_all(racing).await;
    ticking.abort();
    let taken = results.iter().filter(|d| d["allowed"] == true).count();
    println!("20 concurrent checks of one Florida number on two nodes: {taken} allowed");
    assert_eq!(taken, 3);
    drop(b);
    a.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_legs_on_two_nodes_end_as_on_one() {
    let Some(db) = postgres() else { return };
    let a = TestApp::new(db).await;
    let op = a.operator().await;
    let (_, admin) = a.tenant(&op, "acme").await;
    let sbc = dialer(&a, &admin, "sbc").await;
    let b = a.second_node("node-b").await;
    let post = async |app: &TestApp, leg: &str, msg: String| post_sip(app, &sbc, leg, msg).await;
    // Two legs (an SBC's two sides); the caller's side offers only the 32-bit tag and the answer
    // picks the 80-bit one (not offered: proves nothing), the other side is secure; a hold and
    // its release; both sides hang up.
    let offer_32 = SDP_SDES.replace("HMAC_SHA1_80", "HMAC_SHA1_32");
    let held = SDP_SDES.replace("RTP/SAVP 0\r\n", "RTP/SAVP 0\r\na=sendonly\r\n");
    let script = |call: &str| {
        vec![
            ("uac", invite(call, "TLS", "a", &offer_32)),
            ("uas", invite(call, "TLS", "a", SDP_SDES)),
            ("uas", ok(call, "TLS", SDP_SDES)),
            ("uac", ok(call, "TLS", SDP_SDES)),
            ("uas", invite(call, "TLS", "a", &held)),
            ("uas", invite(call, "TLS", "a", SDP_SDES)),
            ("uas", bye(call)),
        ]
    };
    for (leg, msg) in script("one-node") {
        post(&a, leg, msg).await;
    }
    for (i, (leg, msg)) in script("two-nodes").into_iter().enumerate() {
        post(if i % 2 == 0 { &a } else { &b }, leg, msg).await;
    }
    let (_, v) = b.get("/v1/calls?all=true", &admin).await;
    let find = |key: &str| v["calls"].as_array().unwrap().iter().find(|c| c["call_key"] == key).unwrap().clone();
    let (one, two) = (find("one-node"), find("two-nodes"));
    assert_eq!(one["state"], two["state"], "one node: {one}\ntwo nodes: {two}");
    assert_eq!(one["ended_at"].is_null(), two["ended_at"].is_null());
    assert_ne!(one["state"]["security"], "secure", "{one}");
    // The first INVITEs of both sides at the same time on the two nodes: one call, two legs.
    for i in 0..20 {
        let call = format!("race-{i}");
        tokio::join!(
            post_sip(&a, &sbc, "uac", invite(&call, "TLS", "a", SDP_SDES)),
            post_sip(&b, &sbc, "uas", invite(&call, "TLS", "a", SDP_SDES))
        );
    }
    let (_, v) = a.get("/v1/calls?limit=1000", &admin).await;
    let races: Vec<&Value> = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["call_key"].as_str().unwrap().starts_with("race-"))
        .collect();
    assert_eq!(races.len(), 20, "{v}");
    assert!(races.iter().all(|c| c["state"]["legs"].as_array().unwrap().len() == 2), "{v}");
    drop(b);
    a.cleanup().await;
}

/// A registry copy imported on node A is in the bucket under its SHA-256; node B, which has its
/// own data directory, fetches it from there and checks against it; a replaced copy leaves the
/// bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_copy_imported_on_one_node_is_used_on_the_other() {
    let Some(db) = postgres() else { return };
    let Some(mut s3) = common::s3::S3Server::start("callvault-dnc") else { return };
    let a = TestApp::with_config(db, |c| s3.configure(c, "nodes")).await;
    let op = a.operator().await;
    let (tenant, admin) = a.tenant(&op, "acme").await;
    let dialer_t = dialer(&a, &admin, "predictive").await;
    let b = a.second_node("node-b").await;
    let (s, reg) =
        a.post("/v1/dnc-lists", &admin, json!({ "name": "US national", "kind": "registry", "country_code": 1 })).await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    let reg = reg["id"].as_str().unwrap().to_owned();
    let import = async |text: &str| {
        let path = format!("/v1/dnc-lists/{reg}/import?refreshed_at=2026-11-15");
        let (s, _, body) = a.raw("PUT", &path, Some(&admin), Some(text.as_bytes().to_vec()), "text/plain").await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<Value>(&body).unwrap()["list"]["file_sha256"].as_str().unwrap().to_owned()
    };
    let first = import("+12125550122\n+12125550133\n").await;
    let keys = s3.keys(&format!("nodes/{tenant}/files/"));
    assert_eq!(keys, [format!("nodes/{tenant}/files/dnc-{first}.cvdnc")]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Noon in New York, within the copy's safe-harbor age.
    let dry =
        |n: &str| json!({ "direction": "outbound_call", "number": n, "at": "2026-11-23T17:00:00Z", "dry_run": true });
    for (node, name) in [(&a, "A"), (&b, "B")] {
        let (_, v) = node.post("/v1/dial-checks", &dialer_t, dry("+12125550122")).await;
        let d = &v["results"][0];
        assert_eq!(d["allowed"], false, "node {name}: {d}");
        assert_eq!(d["reasons"][0]["code"], "do_not_call", "node {name}: {d}");
    }
    // A new copy replaces the old one everywhere, and the old one leaves the bucket.
    let second = import("+12125550144\n").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, v) = b.post("/v1/dial-checks", &dialer_t, dry("+12125550144")).await;
    assert_eq!(v["results"][0]["allowed"], false, "{v}");
    let (_, v) = b.post("/v1/dial-checks", &dialer_t, dry("+12125550122")).await;
    assert_eq!(v["results"][0]["allowed"], true, "{v}");
    assert_eq!(s3.keys(&format!("nodes/{tenant}/files/")), [format!("nodes/{tenant}/files/dnc-{second}.cvdnc")]);
    drop(b);
    a.cleanup().await;
    s3.stop();
}

/// `hep_max_calls_per_tenant` and `hep_max_calls` count every node's calls: a tenant's fourth
/// call is refused whichever node it reaches, the provider's sixth too, calls opened at the same
/// time on both nodes never pass a cap, and an ended call frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_caps_count_both_nodes_calls() {
    let Some(db) = postgres() else { return };
    let a = TestApp::with_config(db, |c| {
        c.hep_max_calls = 5;
        c.hep_max_calls_per_tenant = 3;
    })
    .await;
    let op = a.operator().await;
    let (_, acme) = a.tenant(&op, "acme").await;
    let (_, beta) = a.tenant(&op, "beta").await;
    let (pbx_a, pbx_b) = (dialer(&a, &acme, "pbx").await, dialer(&a, &beta, "pbx").await);
    let b = a.second_node("node-b").await;
    let add = json!([{ "type": "leg_added", "leg": "a", "party": { "kind": "gateway", "name": "gw" } }]);
    let open = async |app: &TestApp, token: &str, call: &str| {
        app.post("/v1/calls/events", token, json!({ "call": call, "events": add })).await
    };
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        let (s, v) = open(node, &pbx_a, &format!("a{i}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for node in [&a, &b] {
        let (s, v) = open(node, &pbx_a, "a3").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("hep_max_calls_per_tenant"), "{v}");
    }
    // An event of a call already tracked is not a new call.
    let (s, v) = open(&b, &pbx_a, "a0").await;
    assert_ne!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // Two calls of the other tenant at the same time on both nodes fill the provider's five.
    let (x, y) = tokio::join!(open(&a, &pbx_b, "b0"), open(&b, &pbx_b, "b1"));
    assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK), "{x:?} {y:?}");
    for node in [&a, &b] {
        let (s, v) = open(node, &pbx_b, "b2").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("hep_max_calls"), "{v}");
    }
    // One call ends on B: its place is free on A.
    let left = json!({ "call": "a1", "events": [{ "type": "leg_left", "leg": "a" }] });
    let (s, v) = b.post("/v1/calls/events", &pbx_a, left).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = open(&a, &pbx_b, "b2").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Twenty new calls at once, ten per node, with no place left: none gets in.
    let mut taken = 0;
    for i in 0..10 {
        let (ka, kb) = (format!("r{i}a"), format!("r{i}b"));
        let (x, y) = tokio::join!(open(&a, &pbx_b, &ka), open(&b, &pbx_b, &kb));
        taken += [x.0, y.0].iter().filter(|s| **s == StatusCode::OK).count();
    }
    assert_eq!(taken, 0, "no call passes a full cap");
    drop(b);
    a.cleanup().await;
}
