//! The HEP v3 listener (UDP and TCP on the same port): capture agents — Kamailio `siptrace`,
//! OpenSIPS, FreeSWITCH, Asterisk — mirror SIP here. Each packet must name a registered capture
//! agent (chunk 12) and carry its key (chunk 14, compared as SHA-256 in constant time); the
//! agent's tenant owns the call. Malformed, unauthenticated or non-SIP packets are counted and
//! dropped — never logged with their content, never creating a call. TCP streams are framed by
//! the HEP length field; a stream that breaks framing is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use callvault_crypto::digest::{ct_eq, sha256};
use callvault_signalling::hep::{self, Transport};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

use crate::calls::{Captured, Hop, Source};
use crate::state::AppState;

/// UDP receive buffer asked for (bytes).
const RECV_BUFFER: usize = 8 * 1024 * 1024;

/// Most TCP connections served at once.
const MAX_TCP_CONNECTIONS: usize = 256;

/// What the listener has seen.
#[derive(Debug, Default)]
pub struct HepStats {
    /// Packets applied to calls.
    pub accepted: AtomicU64,
    /// Packets that did not parse.
    pub malformed: AtomicU64,
    /// Packets of unknown agents or with a wrong key.
    pub unauthenticated: AtomicU64,
    /// Packets that were not SIP, or SIP that did not classify, or beyond the call limit.
    pub ignored: AtomicU64,
}

/// The bound addresses.
#[derive(Debug, Clone, Copy)]
pub struct HepListener {
    /// UDP.
    pub udp: SocketAddr,
    /// TCP.
    pub tcp: SocketAddr,
}

/// Binds UDP and TCP on `addr` (port 0: UDP picks one, TCP takes the same) and serves them.
pub async fn start(state: AppState, addr: SocketAddr) -> std::io::Result<HepListener> {
    // A large receive buffer absorbs bursts (capture agents send at call-setup peaks); the kernel
    // caps it at net.core.rmem_max.
    let socket =
        socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let udp = UdpSocket::from_std(socket.into())?;
    let udp_addr = udp.local_addr()?;
    let tcp = TcpListener::bind(udp_addr).await?;
    let tcp_addr = tcp.local_addr()?;
    let s = state.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            match udp.recv_from(&mut buf).await {
                Ok((n, _)) => handle(&s, &buf[..n]).await,
                Err(e) => {
                    tracing::warn!(error = %e, "HEP UDP receive failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_TCP_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else { continue };
            let Ok(permit) = limit.clone().try_acquire_owned() else { continue };
            let s = state.clone();
            tokio::spawn(async move {
                serve_tcp(&s, stream).await;
                drop(permit);
            });
        }
    });
    Ok(HepListener { udp: udp_addr, tcp: tcp_addr })
}

async fn serve_tcp(state: &AppState, mut stream: tokio::net::TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(65_536);
    let mut chunk = vec![0u8; 16_384];
    loop {
        // Every whole packet in the buffer.
        loop {
            match hep::frame_len(&buf) {
                None => break,
                Some(Err(_)) => {
                    state.hep_stats.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(len)) if buf.len() >= len => {
                    handle(state, &buf[..len]).await;
                    buf.drain(..len);
                }
                Some(Ok(_)) => break,
            }
        }
        match tokio::time::timeout(std::time::Duration::from_secs(300), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One packet: authenticate, then apply its SIP message.
pub async fn handle(state: &AppState, bytes: &[u8]) {
    let stats = &state.hep_stats;
    let Ok(p) = hep::parse(bytes) else {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // The key's digest finds the agent (the hash-map probe can leak timing about the digest,
    // never about the key, a random 192-bit value); the stored digest is then compared in
    // constant time and the packet's capture id must be the agent's.
    let digest = p.auth_key.map(sha256);
    let agent = digest.as_ref().and_then(|d| state.calls.agent(d));
    let authentic = match (&agent, &digest) {
        (Some(a), Some(d)) => ct_eq(d, &a.key_sha256) && p.capture_id == Some(a.capture_id),
        _ => false,
    };
    let Some(agent) = agent.filter(|_| authentic) else {
        stats.unauthenticated.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let (Some(hep::PROTO_SIP), Some(src), Some(dst)) = (p.proto_type, p.src, p.dst) else {
        stats.ignored.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let now = state.clock.now().millis();
    let tls = p.transport.map(|t| t == Transport::Tls);
    let hop = Hop::Addresses(SocketAddr::new(src.0, src.1), SocketAddr::new(dst.0, dst.1));
    let captured = Captured { source: Source::Hep, hop, message: p.payload, transport_tls: tls };
    match state.calls.apply_sip(agent.tenant, captured, now, false).await {
        Ok((call, changes)) => {
            stats.accepted.fetch_add(1, Ordering::Relaxed);
            crate::api::calls::notify_downgrades(state, agent.tenant, call, &changes);
        }
        Err(_) => {
            stats.ignored.fetch_add(1, Ordering::Relaxed);
        }
    }
}
