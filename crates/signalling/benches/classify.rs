//! SIP + SDP messages classified per second on one core: `cargo bench -p callvault-signalling`.
//! Real-shaped INVITEs and 200 OKs (plain RTP, SDES, DTLS-SRTP; UDP and TLS), each parsed from
//! bytes (SIP head, SDP body) and classified; and the same wrapped in HEP v3 as the listener
//! receives them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use callvault_signalling::hep::{self, Packet, Transport};
use callvault_signalling::{classify_message, sdp};
use divan::black_box;

fn main() {
    divan::main();
}

fn messages() -> Vec<Vec<u8>> {
    let bodies = [
        "m=audio 16100 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        "m=audio 16100 RTP/SAVP 0 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\na=rtpmap:0 PCMU/8000\r\n",
        "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:A3:1C:7E:3D:A8:34:3B:20:20:9A:9A\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\na=rtcp-mux\r\n",
    ];
    let mut out = Vec::new();
    for (i, media) in bodies.iter().enumerate() {
        for via in ["UDP", "TLS"] {
            let body = format!(
                "v=0\r\no=- 53655765 2353687637 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n{media}"
            );
            out.push(format!(
                "INVITE sip:uas@10.0.0.9:5060 SIP/2.0\r\nVia: SIP/2.0/{via} 10.0.0.5:5060;branch=z9hG4bK-{i}-1;rport\r\nMax-Forwards: 70\r\nFrom: sipp <sip:sipp@10.0.0.5:5060>;tag={i}SIPpTag001\r\nTo: uas <sip:uas@10.0.0.9:5060>\r\nCall-ID: {i}-17423@10.0.0.5\r\nCSeq: 1 INVITE\r\nContact: <sip:sipp@10.0.0.5:5060>\r\nUser-Agent: bench\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ).into_bytes());
            out.push(format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/{via} 10.0.0.5:5060;branch=z9hG4bK-{i}-1;rport=5060\r\nRecord-Route: <sip:10.0.0.1;lr>\r\nFrom: sipp <sip:sipp@10.0.0.5:5060>;tag={i}SIPpTag001\r\nTo: uas <sip:uas@10.0.0.9:5060>;tag=77SIPpTag01\r\nCall-ID: {i}-17423@10.0.0.5\r\nCSeq: 1 INVITE\r\nContact: <sip:uas@10.0.0.9:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ).into_bytes());
        }
    }
    out
}

#[divan::bench]
fn sip_and_sdp_classified(bencher: divan::Bencher) {
    let msgs = messages();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % msgs.len();
        black_box(classify_message(black_box(&msgs[i])).map(|c| c.media.map(|m| m.media)).ok())
    });
}

#[divan::bench]
fn hep_packet_decoded_and_classified(bencher: divan::Bencher) {
    let packets: Vec<Vec<u8>> = messages()
        .iter()
        .map(|m| {
            hep::encode(&Packet {
                src: Some(("10.0.0.5".parse().unwrap(), 5060)),
                dst: Some(("10.0.0.1".parse().unwrap(), 5060)),
                transport: Some(Transport::Udp),
                time: Some((1_795_132_800, 0)),
                proto_type: Some(hep::PROTO_SIP),
                capture_id: Some(2001),
                auth_key: Some(b"capture-agent-key"),
                correlation_id: None,
                payload: m,
            })
        })
        .collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % packets.len();
        let p = hep::parse(black_box(&packets[i])).ok()?;
        black_box(classify_message(p.payload).ok().map(|c| c.signalling))
    });
}

#[divan::bench]
fn sdp_only(bencher: divan::Bencher) {
    let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 16100 RTP/SAVP 0 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
    bencher.bench_local(|| black_box(sdp::parse(black_box(body)).map(|s| s.media.len()).ok()));
}
