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

use crate::state::AppState;
use callvault_core::calls::{Captured, Hop, Source};

/// UDP receive buffer asked for (bytes).
const RECV_BUFFER: usize = 8 * 1024 * 1024;

/// Most authenticated TCP connections served at once.
const MAX_TCP_CONNECTIONS: usize = 256;
/// Most TCP connections waiting for their first authenticated packet; a new one evicts the
/// oldest, so idle connections can never lock a real capture agent out.
const MAX_PENDING_TCP: usize = 64;

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
    /// TCP connections closed before they authenticated (deadline, eviction, per-source cap).
    pub tcp_refused: AtomicU64,
    /// UDP packets dropped because every worker of their Call-ID was busy (several nodes only).
    pub overloaded: AtomicU64,
}

/// Workers per node applying UDP packets when calls are kept in the database (several nodes):
/// each message is one transaction there, so messages of different calls are applied at once,
/// those of one Call-ID in order (its worker is chosen by the Call-ID's hash).
const SHARED_WORKERS: usize = 32;
/// Packets waiting per worker at most.
const SHARED_QUEUE: usize = 4096;

/// The Call-ID header's value of a SIP message (compact form `i` too), or nothing: only to pick
/// a worker, so a message without one goes to the first.
fn call_id_hint(sip: &[u8]) -> &[u8] {
    for line in sip.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            return line[colon + 1..].trim_ascii();
        }
    }
    &[]
}

/// The worker of a packet: by its Call-ID (FNV-1a), the first when it does not parse.
fn worker_of(packet: &[u8]) -> usize {
    let id = hep::parse(packet).map(|p| call_id_hint(p.payload)).unwrap_or_default();
    if id.is_empty() {
        return 0;
    }
    let h = id.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    usize::try_from(h % SHARED_WORKERS as u64).unwrap_or(0)
}

/// Applies each packet it is given, in order.
fn spawn_worker(state: AppState) -> tokio::sync::mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(SHARED_QUEUE);
    tokio::spawn(async move {
        while let Some(packet) = rx.recv().await {
            handle(&state, &packet).await;
        }
    });
    tx
}

/// TCP admission: authenticated connections up to [`MAX_TCP_CONNECTIONS`], unauthenticated
/// ones up to [`MAX_PENDING_TCP`] with the oldest evicted, at most `per_source` per address.
struct TcpGate {
    state: std::sync::Mutex<GateState>,
    per_source: usize,
}

#[derive(Default)]
struct GateState {
    next: u64,
    authenticated: usize,
    pending: std::collections::VecDeque<(u64, Arc<tokio::sync::Notify>)>,
    per_source: std::collections::HashMap<std::net::IpAddr, usize>,
}

impl TcpGate {
    /// Admits a connection from `ip`: its id and the signal that evicts it, or `None`.
    fn admit(&self, ip: std::net::IpAddr) -> Option<(u64, Arc<tokio::sync::Notify>)> {
        let mut g = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let from_ip = g.per_source.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.per_source {
            return None;
        }
        if g.pending.len() >= MAX_PENDING_TCP
            && let Some((_, oldest)) = g.pending.pop_front()
        {
            oldest.notify_one();
        }
        g.next += 1;
        let id = g.next;
        let evict = Arc::new(tokio::sync::Notify::new());
        g.pending.push_back((id, evict.clone()));
        *g.per_source.entry(ip).or_default() += 1;
        Some((id, evict))
    }

    /// Moves a connection from pending to authenticated; `false` when no room is left.
    fn authenticated(&self, id: u64) -> bool {
        let mut g = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.authenticated >= MAX_TCP_CONNECTIONS {
            return false;
        }
        g.pending.retain(|(p, _)| *p != id);
        g.authenticated += 1;
        true
    }

    fn release(&self, id: u64, ip: std::net::IpAddr, was_authenticated: bool) {
        let mut g = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if was_authenticated {
            g.authenticated = g.authenticated.saturating_sub(1);
        } else {
            g.pending.retain(|(p, _)| *p != id);
        }
        if let Some(n) = g.per_source.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                g.per_source.remove(&ip);
            }
        }
    }
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
        // One node applies packets in memory, one after the other; several nodes apply each in
        // a database transaction, many at once.
        let workers: Vec<_> = if s.calls.in_database() {
            (0..SHARED_WORKERS).map(|_| spawn_worker(s.clone())).collect()
        } else {
            Vec::new()
        };
        loop {
            match udp.recv_from(&mut buf).await {
                Ok((n, _)) if workers.is_empty() => {
                    handle(&s, &buf[..n]).await;
                }
                Ok((n, _)) => {
                    let packet = &buf[..n];
                    if workers[worker_of(packet)].try_send(packet.to_vec()).is_err() {
                        s.hep_stats.overloaded.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HEP UDP receive failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    let gate = Arc::new(TcpGate {
        state: std::sync::Mutex::new(GateState::default()),
        per_source: state.config.hep_tcp_per_source,
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = tcp.accept().await else { continue };
            let Some((id, evict)) = gate.admit(peer.ip()) else {
                state.hep_stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (s, g) = (state.clone(), gate.clone());
            tokio::spawn(async move {
                let authenticated = serve_tcp(&s, stream, &g, id, &evict).await;
                g.release(id, peer.ip(), authenticated);
            });
        }
    });
    Ok(HepListener { udp: udp_addr, tcp: tcp_addr })
}

/// Serves one TCP connection: it must send an authenticated packet within `hep_tcp_auth_secs`
/// of connecting (or be evicted by newer connections while it has not), then may stay silent at
/// most `hep_tcp_idle_secs`. Returns whether it authenticated.
async fn serve_tcp(
    state: &AppState,
    mut stream: tokio::net::TcpStream,
    gate: &TcpGate,
    id: u64,
    evict: &tokio::sync::Notify,
) -> bool {
    let mut buf: Vec<u8> = Vec::with_capacity(65_536);
    let mut chunk = vec![0u8; 16_384];
    let auth_deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(state.config.hep_tcp_auth_secs);
    let idle = std::time::Duration::from_secs(state.config.hep_tcp_idle_secs);
    let mut authenticated = false;
    loop {
        // Every whole packet in the buffer.
        loop {
            match hep::frame_len(&buf) {
                None => break,
                Some(Err(_)) => {
                    state.hep_stats.malformed.fetch_add(1, Ordering::Relaxed);
                    return authenticated;
                }
                Some(Ok(len)) if buf.len() >= len => {
                    let ok = handle(state, &buf[..len]).await;
                    buf.drain(..len);
                    if ok && !authenticated {
                        if !gate.authenticated(id) {
                            state.hep_stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                        authenticated = true;
                    }
                }
                Some(Ok(_)) => break,
            }
        }
        let read = async {
            if authenticated {
                tokio::time::timeout(idle, stream.read(&mut chunk)).await
            } else {
                tokio::select! {
                    r = tokio::time::timeout_at(auth_deadline, stream.read(&mut chunk)) => r,
                    () = evict.notified() => Ok(Ok(0)),
                }
            }
        };
        match read.await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => {
                if !authenticated {
                    state.hep_stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                }
                return authenticated;
            }
        }
    }
}

/// One packet: authenticate, then apply its SIP message. Returns whether it came from a
/// registered capture agent with its key.
pub async fn handle(state: &AppState, bytes: &[u8]) -> bool {
    let stats = &state.hep_stats;
    let Ok(p) = hep::parse(bytes) else {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return false;
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
        return false;
    };
    let (Some(hep::PROTO_SIP), Some(src), Some(dst)) = (p.proto_type, p.src, p.dst) else {
        stats.ignored.fetch_add(1, Ordering::Relaxed);
        return true;
    };
    let now = state.clock.now().millis();
    let tls = p.transport.map(|t| t == Transport::Tls);
    let hop = Hop::Addresses(SocketAddr::new(src.0, src.1), SocketAddr::new(dst.0, dst.1));
    let correlation = p
        .correlation_id
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(callvault_signalling::classify::sane_correlation)
        .map(str::to_owned);
    let captured = Captured { source: Source::Hep, hop, message: p.payload, transport_tls: tls, correlation };
    match state.calls.apply_sip(agent.tenant, captured, now, false).await {
        Ok((call, changes)) => {
            stats.accepted.fetch_add(1, Ordering::Relaxed);
            callvault_core::calls::notify_downgrades(state, agent.tenant, call, &changes);
            callvault_core::diagnostics::call_applied(state, agent.tenant, call, "hep", &changes);
        }
        Err(callvault_core::calls::CallError::Signalling(_)) => {
            // Malformed SIP inside an authentic packet: counted as malformed, never a call.
            stats.malformed.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            stats.ignored.fetch_add(1, Ordering::Relaxed);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_id_picks_the_worker() {
        let m = b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\ni: abc@host \r\n\r\nCall-ID: body";
        assert_eq!(call_id_hint(m), b"abc@host");
        assert_eq!(call_id_hint(b"SIP/2.0 200 OK\r\nCALL-ID:x\r\n\r\n"), b"x");
        assert_eq!(call_id_hint(b"garbage"), b"");
        assert_eq!(call_id_hint(b"A\r\nCall-ID\r\n\r\n"), b"");
        assert_eq!(worker_of(b"not hep"), 0);
    }
}
