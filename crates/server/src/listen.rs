//! The HTTP(S) listener: accepts connections under limits a reverse proxy would enforce, so that
//! slow or idle clients cannot starve the server.
//!
//! - a total connection cap and a per-source-address cap (a connection over either is closed at
//!   once, before any byte is read);
//! - the TLS handshake and the request head must complete within `http_header_timeout_secs`;
//! - a connection on which nothing moves in either direction for `http_idle_timeout_secs` is
//!   closed: a half-sent request, a stalled upload body, an idle keep-alive, a client that stopped
//!   reading a download (SSE streams send keep-alive comments well within it);
//! - nothing blocks an OS thread while waiting for a client: bodies are read asynchronously.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Connection limits and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TLS handshake plus request head.
    pub header_timeout: Duration,
    /// Nothing read or written for this long closes the connection.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one source address.
    pub max_per_source: usize,
}

/// Counts open connections per source; a slot is released when its guard drops. Connections
/// that have not sent a request yet are queued oldest first: at the total cap the oldest of them
/// is closed to make room, so silent connections cannot lock real clients out.
#[derive(Default)]
struct Slots {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
    next_id: u64,
    waiting: VecDeque<(u64, Arc<AtomicBool>, Arc<Notify>)>,
}

struct Slot {
    slots: Arc<Mutex<Slots>>,
    ip: IpAddr,
    id: u64,
    /// Set by the first request on the connection.
    started: Arc<AtomicBool>,
    /// Notified when the connection is evicted.
    evicted: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.slots.lock() {
            s.total = s.total.saturating_sub(1);
            if let Some(n) = s.by_source.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    s.by_source.remove(&self.ip);
                }
            }
            let id = self.id;
            s.waiting.retain(|(i, _, _)| *i != id);
        }
    }
}

fn take_slot(slots: &Arc<Mutex<Slots>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut s = slots.lock().ok()?;
    let here = s.by_source.get(&ip).copied().unwrap_or(0);
    if here >= limits.max_per_source {
        return None;
    }
    if s.total >= limits.max_connections {
        // Close the oldest connection that has not sent a request (its slot frees when its task
        // ends); when every connection is serving requests, refuse.
        s.waiting.retain(|(_, started, _)| !started.load(Ordering::Relaxed));
        let (_, _, evicted) = s.waiting.pop_front()?;
        evicted.notify_one();
    }
    s.total += 1;
    s.by_source.insert(ip, here + 1);
    s.next_id += 1;
    let (id, started, evicted) = (s.next_id, Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
    s.waiting.push_back((id, started.clone(), evicted.clone()));
    Some(Slot { slots: slots.clone(), ip, id, started, evicted })
}

/// Serves `app` on `listener` until `shutdown` resolves; then lets open requests finish for up
/// to 10 s.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Mutex::new(Slots::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let refused = Arc::new(AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = take_slot(&slots, peer.ip(), &limits) else {
            if refused.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
                tracing::warn!("connection refused: too many open connections (in total or from one source)");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The peer address as a request extension around the whole router (layering the Router
        // itself would rebuild every route for each connection: ~200 KB apiece); the first
        // request marks the connection as started (no longer evictable).
        let started = slot.started.clone();
        let marked = tower::ServiceExt::map_request(app.clone(), move |req: axum::http::Request<_>| {
            started.store(true, Ordering::Relaxed);
            req
        });
        let service = TowerToHyperService::new(tower::Layer::layer(&axum::Extension(ConnectInfo(peer)), marked));
        // A peer has the header timeout for its first byte, then the idle timeout between bytes.
        let io = Idle::new(stream, limits.header_timeout.min(limits.idle_timeout), limits.idle_timeout);
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let evicted = slot.evicted.clone();
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .max_buf_size(256 * 1024);
            builder.http2().timer(TokioTimer::new()).max_concurrent_streams(64);
            let served = async {
                match tls {
                    Some(acceptor) => {
                        let Ok(Ok(stream)) = tokio::time::timeout(limits.header_timeout, acceptor.accept(io)).await
                        else {
                            return;
                        };
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                        let _ = watcher.watch(conn).await;
                    }
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
                        let _ = watcher.watch(conn).await;
                    }
                }
            };
            tokio::select! {
                () = served => {}
                () = evicted.notified() => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

/// A stream that fails with `TimedOut` when neither a read nor a write has made progress for
/// `limit` while one of them is waiting.
struct Idle<S> {
    inner: S,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    /// `first`: how long the peer has for its first byte; then `limit` between any progress.
    fn new(inner: S, first: Duration, limit: Duration) -> Self {
        Self { inner, limit, deadline: Box::pin(tokio::time::sleep(first)) }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.limit);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

impl<S> Idle<S> {
    /// What a write came to: progress resets the deadline; waiting past it is a timeout.
    fn written(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle")
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        self.written(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Loads a PEM certificate chain and private key into a TLS acceptor (HTTP/1.1 and h2 by ALPN).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read the TLS private key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("the TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn slots_cap_total_and_per_source() {
        let limits = Limits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_per_source: 2,
        };
        let slots = Arc::new(Mutex::new(Slots::default()));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = take_slot(&slots, a, &limits).unwrap();
        let a2 = take_slot(&slots, a, &limits).unwrap();
        assert!(take_slot(&slots, a, &limits).is_none(), "per source");
        let b1 = take_slot(&slots, b, &limits).unwrap();
        // At the total cap: the oldest connection without a request makes room.
        a1.started.store(true, Ordering::Relaxed);
        let b2 = take_slot(&slots, b, &limits).unwrap();
        assert!(b2.evicted.notified().now_or_never().is_none(), "the newcomer is not evicted");
        assert!(a2.evicted.notified().now_or_never().is_some(), "a2 (oldest silent) is evicted, not a1 (serving)");
        drop(a2);
        b1.started.store(true, Ordering::Relaxed);
        b2.started.store(true, Ordering::Relaxed);
        assert!(take_slot(&slots, "127.0.0.4".parse().unwrap(), &limits).is_none(), "all serving: refused");
        drop(a1);
        assert!(take_slot(&slots, "127.0.0.4".parse().unwrap(), &limits).is_some(), "a released slot is reused");
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_traffic_keeps_it_open() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64);
        let mut idle = Idle::new(server, Duration::from_millis(300), Duration::from_millis(300));
        let mut buf = [0u8; 8];
        client.write_all(b"ab").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 2);
        for _ in 0..3 {
            // Each wait is shorter than the limit, the three together longer.
            tokio::time::sleep(Duration::from_millis(200)).await;
            client.write_all(b"c").await.unwrap();
            assert_eq!(idle.read(&mut buf).await.unwrap(), 1, "progress resets the deadline");
        }
        let started = std::time::Instant::now();
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(250), "not before the limit");
    }

    #[tokio::test]
    async fn a_peer_that_never_speaks_gets_the_header_timeout() {
        use tokio::io::AsyncReadExt;
        let (_client, server) = tokio::io::duplex(64);
        let mut idle = Idle::new(server, Duration::from_millis(100), Duration::from_secs(30));
        let started = std::time::Instant::now();
        let err = idle.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5), "not the idle timeout");
    }
}
