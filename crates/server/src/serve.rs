//! Running the server: bind, TLS or loopback-only plain HTTP, background tasks, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callvault_model::SecretString;

use crate::api;
use crate::audit::run_sequencer;
use crate::bootstrap::{self, BootstrapReport, DemoLogin};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::state::AppState;

/// What `serve` needs besides the configuration.
pub struct ServeOptions {
    /// Seed the demo tenant.
    pub demo: bool,
    /// `CALLVAULT_BOOTSTRAP_PASSWORD`.
    pub bootstrap_password: Option<SecretString>,
}

/// Prepared server: state opened, bootstrap done, listener bound.
pub struct Prepared {
    /// Shared state.
    pub state: AppState,
    /// Bound address.
    pub addr: SocketAddr,
    /// What the bootstrap did.
    pub bootstrap: BootstrapReport,
    /// Demo logins, when seeded now.
    pub demo_logins: Option<Vec<DemoLogin>>,
    /// KEK shares of a first `shamir` start, to hand to custodians once.
    pub kek_shares: Option<Vec<callvault_crypto::shamir::ShareText>>,
    /// `--demo`: replay the scripted call (issue 6).
    pub demo: bool,
    listener: std::net::TcpListener,
}

/// Opens everything and binds the listener, without serving yet.
pub async fn prepare(config: Config, options: ServeOptions) -> anyhow::Result<Prepared> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = bootstrap::open_store(&config).await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (kek, kek_shares, unsealed) = match bootstrap::open_kek_for(&config, &store).await? {
        bootstrap::KekOpening::Ready(k) => (k, None, false),
        bootstrap::KekOpening::NewShares(k, shares) => (k, Some(shares), false),
        bootstrap::KekOpening::Sealed { check, restore_to } => {
            println!(
                "callvault is SEALED on http://{addr}: custodians unseal it with `callvault unseal` (POST /v1/sys/unseal)"
            );
            tracing::warn!("sealed: waiting for custodian shares");
            let key = crate::unseal::gate(&listener, check, bootstrap::KEK_CHECK_AAD).await?;
            let kek: Arc<dyn callvault_crypto::KeyEncryptionKey> = match restore_to {
                Some(path) => {
                    let bytes = callvault_crypto::KeyEncryptionKey::export_for_backup(&key)
                        .ok_or_else(|| anyhow::anyhow!("rebuilt key unavailable"))?;
                    let restored = callvault_crypto::kek::FileKek::restore(&path, &bytes)?;
                    tracing::warn!(path = %path.display(), "restored the key-encryption key file from custodian shares");
                    Arc::new(restored)
                }
                None => Arc::new(key),
            };
            (kek, None, true)
        }
    };
    bootstrap::check_kek(&store, kek.as_ref(), clock.now()).await?;
    let state = bootstrap::state_with(store, kek, config.clone(), clock).await?;
    if unsealed {
        let event = crate::audit::AuditEvent::new(None, crate::audit::Actor::System, "kek.unsealed");
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    let bootstrap = bootstrap::ensure_operator(&state, options.bootstrap_password).await?;
    let demo_logins = if options.demo { bootstrap::seed_demo(&state).await? } else { None };
    Ok(Prepared { state, addr, bootstrap, demo_logins, kek_shares, demo: options.demo, listener })
}

/// Closes calls without signalling for `call_idle_secs`, checking every 30 s.
async fn close_idle_calls(state: AppState) {
    let idle_ms = i64::try_from(state.config.call_idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let closed = state.calls.close_idle(state.clock.now().millis(), idle_ms).await;
        if closed > 0 {
            tracing::info!(closed, "idle calls closed");
        }
    }
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(prepared: Prepared) -> anyhow::Result<()> {
    let demo = prepared.demo;
    let Prepared { state, addr, listener, .. } = prepared;
    let config = state.config.clone();
    tokio::spawn(run_sequencer(
        state.store.clone(),
        state.auditor.clone(),
        state.clock.clone(),
        Duration::from_secs(config.audit_tree_head_interval_secs.max(1)),
    ));
    crate::vault::jobs::spawn(state.clone());
    tokio::spawn(crate::vault::lifecycle::run(state.clone(), Duration::from_secs(3600)));
    if let Some(hep) = config.hep_listen {
        let bound = crate::hep::start(state.clone(), hep)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for HEP on {hep}: {e}"))?;
        println!("callvault HEP listener on udp://{} and tcp://{}", bound.udp, bound.tcp);
    }
    tokio::spawn(close_idle_calls(state.clone()));
    if demo {
        let mut r = state.store.reader().await?;
        if let Ok(t) = callvault_store::TenantStore::tenant_by_slug(&mut r, bootstrap::DEMO_TENANT).await {
            tokio::spawn(crate::calls::demo_replay(state.clone(), t.id));
        }
    }
    let app = api::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| anyhow::anyhow!("cannot load TLS certificate or key: {e}"))?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                h.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            tracing::info!(%addr, "serving HTTPS");
            axum_server::from_tcp_rustls(listener, tls)?.handle(handle).serve(app).await?;
        }
        _ => {
            tracing::info!(%addr, "serving HTTP");
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
        }
    }
    state.store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
