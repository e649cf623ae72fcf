//! Running the server: bind, TLS or loopback-only plain HTTP, background tasks, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callvault_model::SecretString;

use crate::api;
use crate::bootstrap::{self, BootstrapReport};
use crate::demo::{self, DemoLogin};
use crate::state::AppState;
use callvault_core::audit::run_sequencer;
use callvault_core::clock::{Clock, SystemClock};
use callvault_core::config::Config;

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
    /// `--demo`: replay the scripted call.
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
    let mut unseal_attempts = (Vec::new(), 0);
    let (kek, kek_shares, unsealed) = match bootstrap::open_kek_for(&config, &store).await? {
        bootstrap::KekOpening::Ready(k) => (k, None, false),
        bootstrap::KekOpening::NewShares(k, shares) => (k, Some(shares), false),
        bootstrap::KekOpening::Sealed { check, restore_to } => {
            println!(
                "callvault is SEALED on http://{addr}: custodians unseal it with `callvault unseal` (POST /v1/sys/unseal)"
            );
            tracing::warn!("sealed: waiting for custodian shares");
            let (key, attempts, dropped) =
                crate::unseal::gate(&listener, check, bootstrap::KEK_CHECK_AAD, store.clone(), limits(&config)).await?;
            unseal_attempts = (attempts, dropped);
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
        let (attempts, dropped) = unseal_attempts;
        for a in attempts {
            let mut event = callvault_core::audit::AuditEvent::new(
                None,
                callvault_core::audit::Actor::System,
                "kek.unseal_attempt",
            )
            .origin(state.auditor.origin(None, a.ip))
            .details(serde_json::json!({ "outcome": a.outcome, "at": a.at.millis() }));
            if !matches!(a.outcome, "accepted" | "unsealed") {
                event = event.denied();
            }
            state.auditor.record_now(state.clock.now(), &event).await?;
        }
        let event = callvault_core::audit::AuditEvent::new(None, callvault_core::audit::Actor::System, "kek.unsealed")
            .details(serde_json::json!({ "attempts_not_kept": dropped }));
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    if let Some(shares) = &kek_shares {
        // The first start's shares: what unseal will accept from now on.
        let mut tx = state.store.begin().await?;
        for share in shares {
            let digest = hex::encode(callvault_crypto::digest::sha256(share.expose().as_bytes()));
            callvault_store::KeyStore::insert_kek_share(
                &mut tx,
                &digest,
                "first-start",
                config.kek_threshold,
                state.clock.now(),
            )
            .await?;
        }
        tx.commit().await?;
    }
    let bootstrap = bootstrap::ensure_operator(&state, options.bootstrap_password).await?;
    let demo_logins = if options.demo { demo::seed_demo(&state).await? } else { None };
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

/// Keeps SQLite's write-ahead log short off the commits' path ([`callvault_store::Store::checkpoint`]).
async fn checkpoint_log(store: callvault_store::Store) {
    loop {
        tokio::time::sleep(callvault_store::SQLITE_CHECKPOINT_EVERY).await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "the write-ahead log was not checkpointed; the next try follows");
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
    callvault_core::vault::jobs::spawn(state.services.clone());
    tokio::spawn(callvault_core::vault::lifecycle::run(state.services.clone(), Duration::from_secs(3600)));
    if let Some(hep) = config.hep_listen {
        let bound = crate::hep::start(state.clone(), hep)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for HEP on {hep}: {e}"))?;
        println!("callvault HEP listener on udp://{} and tcp://{}", bound.udp, bound.tcp);
    }
    tokio::spawn(close_idle_calls(state.clone()));
    if state.store.backend() == callvault_store::Backend::Sqlite {
        tokio::spawn(checkpoint_log(state.store.clone()));
    }
    // What the other nodes sharing the database change (PostgreSQL; nothing on SQLite).
    tokio::spawn(callvault_core::bus::run(state.services.clone()));
    tokio::spawn(callvault_core::dpo::run(state.services.clone()));
    {
        // Content stored before interactions existed gets its interactions.
        let services = state.services.clone();
        tokio::spawn(async move {
            match callvault_core::subjects::adopt_references(&services).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(interactions = n, "interactions made for earlier content"),
                Err(e) => {
                    tracing::error!(error = %e, "earlier content's interactions were not made; next start retries")
                }
            }
        });
    }
    if config.purge_interval_secs > 0 {
        tokio::spawn(callvault_core::retention::run(
            state.services.clone(),
            Duration::from_secs(config.purge_interval_secs),
        ));
    }
    if config.scrub_interval_secs > 0 {
        tokio::spawn(callvault_core::vault::integrity::scrub(
            state.services.clone(),
            Duration::from_secs(config.scrub_interval_secs),
        ));
    }
    if demo {
        let mut r = state.store.reader().await?;
        if let Ok(t) = callvault_store::TenantStore::tenant_by_slug(&mut r, demo::DEMO_TENANT).await {
            tokio::spawn(demo::replay_calls(state.services.clone(), t.id));
        }
    }
    let app = api::app(state.clone());
    if let Some(metrics) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(metrics)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {metrics}: {e}"))?;
        println!("callvault metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(crate::listen::serve(
            listener,
            api::metrics_app(state.clone()),
            None,
            limits(&config),
            std::future::pending(),
        ));
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::listen::tls_acceptor(cert, key)?),
        _ => None,
    };
    tracing::info!(%addr, tls = tls.is_some(), blobs = %state.vault.blobs.describe(), node = %config.node(), "serving");
    let listener = tokio::net::TcpListener::from_std(listener)?;
    crate::listen::serve(listener, app, tls, limits(&config), shutdown_signal()).await?;
    state.store.close().await;
    Ok(())
}

/// The HTTP connection limits of a configuration.
pub fn limits(config: &Config) -> crate::listen::Limits {
    crate::listen::Limits {
        header_timeout: Duration::from_secs(config.http_header_timeout_secs),
        idle_timeout: Duration::from_secs(config.http_idle_timeout_secs),
        max_connections: config.http_max_connections,
        max_per_source: config.http_max_connections_per_source,
    }
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
