//! Prometheus metrics.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template (never the raw path, which may hold ids).
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub latency: Histogram,
    /// Logins by outcome.
    pub logins: Family<Vec<(String, String)>, Counter>,
    /// Objects stored.
    pub objects_stored: Counter,
    /// Transactions that committed a group of small uploads (kept in their rows).
    pub upload_groups: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("callvault");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]);
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let logins = Family::<Vec<(String, String)>, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let objects_stored = Counter::default();
        registry.register("objects_stored", "Content objects stored", objects_stored.clone());
        let upload_groups = Counter::default();
        registry.register(
            "upload_groups",
            "Transactions that committed a group of small uploads",
            upload_groups.clone(),
        );
        Self { registry: Arc::new(registry), requests, latency, logins, objects_stored, upload_groups }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a login outcome.
    pub fn login(&self, outcome: &str) {
        self.logins.get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())]).inc();
    }
}
