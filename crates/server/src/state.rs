//! Shared state of the running server.

use std::sync::Arc;

use callvault_crypto::KeyEncryptionKey;
use callvault_store::Store;

use crate::audit::Auditor;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
    /// The key-encryption key.
    pub kek: Arc<dyn KeyEncryptionKey>,
    /// The audit log.
    pub auditor: Auditor,
    /// Configuration.
    pub config: Arc<Config>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Encryption at rest: keyring, blobs, jobs.
    pub vault: Arc<crate::vault::Vault>,
    /// Telecom policy: compiled tenant policies, do-not-call lists, recent call attempts.
    pub dial: Arc<crate::dial::Dial>,
    /// Call security: tracked calls, stations, capture agents, streams.
    pub calls: Arc<crate::calls::Calls>,
    /// What the HEP listener has seen.
    pub hep_stats: Arc<crate::hep::HepStats>,
    /// The scraper's bearer token for `/metrics` on the main listener, if configured.
    pub metrics_token: Option<Arc<callvault_model::SecretString>>,
    /// Outbound HTTP to tenant-chosen addresses (webhooks), checked against SSRF.
    pub egress: crate::egress::Egress,
}
