//! Sealed start: when the KEK is not available — the `shamir` provider keeps it only in memory,
//! or the key file of the `file` provider was lost — the server starts sealed. Until custodians
//! have posted k valid shares of a KEK backup to `POST /v1/sys/unseal`, it answers every other
//! request with 503 `sealed`. The rebuilt key must unwrap the database's KEK check value, so
//! shares of another installation or a mistyped set rebuild nothing.
//!
//! A share counts only if the SHA-256 of its text was recorded when it was issued; the threshold
//! and the backup it belongs to come from that record, never from the share's own text, so a
//! forged share (whatever threshold it declares) is refused and changes nothing. Attempts are
//! rate-limited per source and in total, and every attempt is written to the audit log once the
//! server is unsealed (the audit log needs the key).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callvault_crypto::kek::{KeyEncryptionKey, StaticKek};
use callvault_crypto::secret::SecretBytes;
use callvault_crypto::shamir;
use callvault_model::records::Timestamp;
use callvault_store::Store;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// Progress of an unseal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SealStatus {
    /// Whether the server is still sealed.
    pub sealed: bool,
    /// Shares needed (known after the first share).
    pub threshold: Option<u8>,
    /// Distinct shares received so far.
    pub progress: usize,
}

/// One share typed in by a custodian.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// The share text (`cvs1-…`).
    pub share: callvault_model::SecretString,
}

/// One unseal attempt, for the audit log.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When.
    pub at: Timestamp,
    /// From where.
    pub ip: Option<IpAddr>,
    /// `accepted`, `malformed`, `unknown_share`, `other_backup`, `duplicate`, `wrong_key`,
    /// `rate_limited` or `unsealed`.
    pub outcome: &'static str,
}

/// Refused attempts per source per minute, and in total per minute (shares this installation
/// issued are never limited).
const PER_SOURCE_PER_MINUTE: usize = 10;
const TOTAL_PER_MINUTE: usize = 60;
/// Attempts kept for the audit log (the oldest are dropped beyond it, and counted).
const KEPT_ATTEMPTS: usize = 1000;

struct Gate {
    check: Vec<u8>,
    check_aad: &'static [u8],
    /// The backup and threshold of the shares accepted so far.
    backup: Option<(String, u8)>,
    shares: Vec<zeroize::Zeroizing<String>>,
    done: Option<oneshot::Sender<SecretBytes>>,
    attempts: Vec<Attempt>,
    dropped: usize,
    recent: Vec<(Instant, Option<IpAddr>)>,
}

impl Gate {
    fn note(&mut self, ip: Option<IpAddr>, outcome: &'static str) {
        if self.attempts.len() >= KEPT_ATTEMPTS {
            self.dropped += 1;
        } else {
            self.attempts.push(Attempt { at: Timestamp::from(jiff::Timestamp::now()), ip, outcome });
        }
    }

    /// Whether refused attempts from `ip` (or in total) used up the last minute's allowance.
    fn limited(&mut self, ip: Option<IpAddr>) -> bool {
        let now = Instant::now();
        self.recent.retain(|(t, _)| now.duration_since(*t) < Duration::from_secs(60));
        let from_here = self.recent.iter().filter(|(_, i)| *i == ip).count();
        from_here >= PER_SOURCE_PER_MINUTE || self.recent.len() >= TOTAL_PER_MINUTE
    }

    /// Counts a refused attempt; whether it was still within the allowance.
    fn admit(&mut self, ip: Option<IpAddr>) -> bool {
        if self.limited(ip) {
            return false;
        }
        self.recent.push((Instant::now(), ip));
        true
    }
}

#[derive(Clone)]
struct Shared {
    gate: Arc<Mutex<Gate>>,
    store: Store,
}

fn status(g: &Gate) -> SealStatus {
    SealStatus { sealed: g.done.is_some(), threshold: g.backup.as_ref().map(|b| b.1), progress: g.shares.len() }
}

async fn seal_status(State(s): State<Shared>) -> Response {
    match s.gate.lock() {
        Ok(g) => axum::Json(status(&g)).into_response(),
        Err(_) => ApiError::internal("gate poisoned").into_response(),
    }
}

fn poisoned() -> Response {
    ApiError::internal("gate poisoned").into_response()
}

async fn unseal(
    State(s): State<Shared>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> Response {
    let ip = peer.map(|axum::Extension(ConnectInfo(a))| a.ip());
    // Refused attempts are limited per source and in total; a share this installation issued is
    // never limited, so forged attempts cannot keep the custodians out.
    let refuse = |outcome: &'static str, answer: ApiError| -> Response {
        let Ok(mut g) = s.gate.lock() else { return poisoned() };
        g.note(ip, outcome);
        if g.admit(ip) {
            answer.into_response()
        } else {
            ApiError::too_many("too many refused unseal attempts; wait a minute", 60).into_response()
        }
    };
    let Ok(req) = serde_json::from_slice::<UnsealRequest>(&body) else {
        return refuse("malformed", ApiError::bad_request("body: {\"share\": \"cvs1-…\"}"));
    };
    let text = zeroize::Zeroizing::new(req.share.expose().trim().to_owned());
    if let Err(e) = shamir::check(&text) {
        return refuse("malformed", ApiError::invalid(e.to_string()));
    }
    let digest = hex::encode(callvault_crypto::digest::sha256(text.as_bytes()));
    let record = match s.store.reader().await {
        Ok(mut r) => match r.kek_share(&digest).await {
            // An installation from before shares were recorded: the share's own threshold, as
            // then (a new kek_backup ceremony records its shares).
            Ok(None) if !r.kek_shares_recorded().await.unwrap_or(true) => {
                tracing::warn!(
                    "unseal: no issued share is recorded (an older installation); run a kek_backup ceremony"
                );
                Ok(shamir::check(&text).ok().map(|k| ("unrecorded".to_owned(), k)))
            }
            other => other,
        },
        Err(e) => Err(e),
    };
    let record = match record {
        Ok(Some(record)) => record,
        Ok(None) => {
            return refuse(
                "unknown_share",
                ApiError::invalid("this share was never issued by this installation; nothing changed"),
            );
        }
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let Ok(mut g) = s.gate.lock() else { return poisoned() };
    if g.done.is_none() {
        return axum::Json(status(&g)).into_response();
    }
    if g.backup.as_ref().is_some_and(|(b, _)| *b != record.0) {
        g.note(ip, "other_backup");
        return ApiError::invalid(
            "this share belongs to another backup than the shares given so far; nothing changed \
             (to use that backup, restart the server and give only its shares)",
        )
        .into_response();
    }
    if g.shares.iter().any(|s| s.as_str() == text.as_str()) {
        g.note(ip, "duplicate");
        return ApiError::conflict("this share was already given").into_response();
    }
    let k = record.1;
    g.backup = Some(record);
    g.shares.push(text);
    g.note(ip, "accepted");
    if g.shares.len() < usize::from(k) {
        tracing::info!(progress = g.shares.len(), threshold = k, "unseal share accepted");
        return axum::Json(status(&g)).into_response();
    }
    let texts: Vec<&str> = g.shares.iter().map(|s| s.as_str()).collect();
    let rebuilt = shamir::combine(&texts);
    let verified = rebuilt.ok().filter(|key| {
        key.expose().len() == 32
            && StaticKek::new(SecretBytes::new(key.expose().to_vec())).unwrap(g.check_aad, &g.check).is_ok()
    });
    match verified {
        Some(key) => {
            if let Some(done) = g.done.take() {
                let _ = done.send(key);
            }
            g.note(ip, "unsealed");
            tracing::warn!("unsealed: the key-encryption key was rebuilt from custodian shares");
            axum::Json(SealStatus { sealed: false, threshold: Some(k), progress: g.shares.len() }).into_response()
        }
        None => {
            // Recorded shares of one backup that rebuild another key: a backup of a key this
            // database no longer uses. Start again.
            g.shares.clear();
            g.backup = None;
            g.note(ip, "wrong_key");
            ApiError::invalid(
                "the shares do not rebuild this installation's key-encryption key; all shares were discarded, start again",
            )
            .into_response()
        }
    }
}

async fn sealed() -> Response {
    ApiError::unavailable("sealed: custodians must unseal the server with their key shares (POST /v1/sys/unseal)")
        .into_response()
}

/// Serves the sealed gate on `listener` until k recorded shares rebuild the KEK; returns it
/// with the attempts made (for the audit log) and how many attempts were not kept.
pub async fn gate(
    listener: &std::net::TcpListener,
    check: Vec<u8>,
    check_aad: &'static [u8],
    store: Store,
    limits: crate::listen::Limits,
) -> anyhow::Result<(StaticKek, Vec<Attempt>, usize)> {
    let (tx, rx) = oneshot::channel();
    let gate = Arc::new(Mutex::new(Gate {
        check,
        check_aad,
        backup: None,
        shares: Vec::new(),
        done: Some(tx),
        attempts: Vec::new(),
        dropped: 0,
        recent: Vec::new(),
    }));
    let shared = Shared { gate: gate.clone(), store };
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "sealed" }))
        .route("/readyz", get(sealed))
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/unseal", post(unseal))
        .fallback(sealed)
        .method_not_allowed_fallback(|| async { ApiError::from_status(axum::http::StatusCode::METHOD_NOT_ALLOWED) })
        .layer(axum::middleware::from_fn(crate::api::baseline_headers))
        .with_state(shared);
    let tokio_listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let (key_tx, key_rx) = oneshot::channel::<SecretBytes>();
    crate::listen::serve(tokio_listener, app, None, limits, async move {
        if let Ok(key) = rx.await {
            let _ = key_tx.send(key);
        }
    })
    .await?;
    let key = key_rx.await.map_err(|_| anyhow::anyhow!("the unseal gate stopped without a key"))?;
    let (attempts, dropped) = match gate.lock() {
        Ok(mut g) => (std::mem::take(&mut g.attempts), g.dropped),
        Err(_) => (Vec::new(), 0),
    };
    Ok((StaticKek::new(key), attempts, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate {
            check: Vec::new(),
            check_aad: b"",
            backup: None,
            shares: Vec::new(),
            done: None,
            attempts: Vec::new(),
            dropped: 0,
            recent: Vec::new(),
        }
    }

    #[test]
    fn attempts_are_limited_per_source_and_in_total() {
        let mut g = gate();
        let a: Option<IpAddr> = Some("127.0.0.2".parse().unwrap());
        for _ in 0..PER_SOURCE_PER_MINUTE {
            assert!(g.admit(a));
        }
        assert!(!g.admit(a), "the 11th attempt from one source within a minute");
        let mut admitted = PER_SOURCE_PER_MINUTE;
        for i in 0..100u8 {
            if g.admit(Some(IpAddr::from([10, 0, 0, i]))) {
                admitted += 1;
            }
        }
        assert_eq!(admitted, TOTAL_PER_MINUTE, "in total");
    }

    #[test]
    fn attempts_kept_for_the_audit_log_are_bounded() {
        let mut g = gate();
        for _ in 0..KEPT_ATTEMPTS + 5 {
            g.note(None, "malformed");
        }
        assert_eq!((g.attempts.len(), g.dropped), (KEPT_ATTEMPTS, 5));
    }
}
