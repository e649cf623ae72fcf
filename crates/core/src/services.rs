//! The services' shared state: every front end (HTTP API, HEP listener, console, CLI tools)
//! holds one [`Services`] and calls the domain modules with it.

use std::sync::Arc;

use callvault_crypto::KeyEncryptionKey;
use callvault_store::Store;

use crate::audit::Auditor;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;

/// Everything a service needs, cheap to clone: one reference count (every request clones it,
/// some more than once; cloning its parts one by one was 3 % of a server's samples under load).
#[derive(Clone)]
pub struct Services(Arc<ServiceParts>);

impl Services {
    /// The services made of `parts`.
    pub fn new(parts: ServiceParts) -> Services {
        Services(Arc::new(parts))
    }

    /// The parts to change (tests, a node's own configuration): copied first if shared.
    pub fn parts_mut(&mut self) -> &mut ServiceParts {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for Services {
    type Target = ServiceParts;

    fn deref(&self) -> &ServiceParts {
        &self.0
    }
}

/// What [`Services`] holds.
#[derive(Clone)]
pub struct ServiceParts {
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
    /// Outbound HTTP to tenant-chosen addresses (webhooks), checked against SSRF.
    pub egress: crate::egress::Egress,
    /// Which tenants log their communication events now (diagnostics; off by default).
    pub event_log: Arc<crate::diagnostics::EventLog>,
    /// Wakes the worker of data protection officers' requests.
    pub dpo_wakeup: Arc<tokio::sync::Notify>,
    /// What this node tells the other nodes sharing its database.
    pub bus: crate::bus::Bus,
}
