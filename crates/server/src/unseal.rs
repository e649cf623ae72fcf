//! Sealed start: when the KEK is not available — the `shamir` provider keeps it only in memory,
//! or the key file of the `file` provider was lost — the server starts sealed. Until custodians
//! have posted k valid shares of a KEK backup to `POST /v1/sys/unseal`, it answers every other
//! request with 503 `sealed`. The rebuilt key must unwrap the database's KEK check value, so
//! shares of another installation or a mistyped set rebuild nothing.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callvault_crypto::kek::{KeyEncryptionKey, StaticKek};
use callvault_crypto::secret::SecretBytes;
use callvault_crypto::shamir;
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

struct Gate {
    check: Vec<u8>,
    check_aad: &'static [u8],
    shares: Vec<zeroize::Zeroizing<String>>,
    threshold: Option<u8>,
    done: Option<oneshot::Sender<SecretBytes>>,
}

type Shared = Arc<Mutex<Gate>>;

fn status(g: &Gate) -> SealStatus {
    SealStatus { sealed: g.done.is_some(), threshold: g.threshold, progress: g.shares.len() }
}

async fn seal_status(State(g): State<Shared>) -> Response {
    match g.lock() {
        Ok(g) => axum::Json(status(&g)).into_response(),
        Err(_) => ApiError::internal("gate poisoned").into_response(),
    }
}

async fn unseal(State(g): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<UnsealRequest>(&body) else {
        return ApiError::bad_request("body: {\"share\": \"cvs1-…\"}").into_response();
    };
    let mut g = match g.lock() {
        Ok(g) => g,
        Err(_) => return ApiError::internal("gate poisoned").into_response(),
    };
    if g.done.is_none() {
        return axum::Json(status(&g)).into_response();
    }
    let text = req.share.expose().trim().to_owned();
    let k = match shamir::check(&text) {
        Ok(k) => k,
        Err(e) => return ApiError::invalid(e.to_string()).into_response(),
    };
    if g.threshold.is_some_and(|t| t != k) {
        return ApiError::invalid("this share belongs to a backup with another threshold").into_response();
    }
    if g.shares.iter().any(|s| s.as_str() == text) {
        return ApiError::conflict("this share was already given").into_response();
    }
    g.threshold = Some(k);
    g.shares.push(zeroize::Zeroizing::new(text));
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
            tracing::warn!("unsealed: the key-encryption key was rebuilt from custodian shares");
            axum::Json(SealStatus { sealed: false, threshold: Some(k), progress: g.shares.len() }).into_response()
        }
        None => {
            g.shares.clear();
            g.threshold = None;
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

/// Serves the sealed gate on `listener` until k valid shares rebuild the KEK; returns it.
pub async fn gate(
    listener: &std::net::TcpListener,
    check: Vec<u8>,
    check_aad: &'static [u8],
) -> anyhow::Result<StaticKek> {
    let (tx, rx) = oneshot::channel();
    let shared: Shared =
        Arc::new(Mutex::new(Gate { check, check_aad, shares: Vec::new(), threshold: None, done: Some(tx) }));
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "sealed" }))
        .route("/readyz", get(sealed))
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/unseal", post(unseal))
        .fallback(sealed)
        .with_state(shared);
    let tokio_listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let (key_tx, key_rx) = oneshot::channel::<SecretBytes>();
    let server = axum::serve(tokio_listener, app).with_graceful_shutdown(async move {
        if let Ok(key) = rx.await {
            let _ = key_tx.send(key);
        }
    });
    server.await?;
    let key = key_rx.await.map_err(|_| anyhow::anyhow!("the unseal gate stopped without a key"))?;
    Ok(StaticKek::new(key))
}
