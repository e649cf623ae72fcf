//! Shared state of the running server: the services and what only the network front ends use.

use std::sync::Arc;

use callvault_core::Services;

/// Everything a handler needs, cheap to clone. Dereferences to [`Services`], which the domain
/// modules take.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub services: Services,
    /// What the HEP listener has seen.
    pub hep_stats: Arc<crate::hep::HepStats>,
    /// The scraper's bearer token for `/metrics` on the main listener, if configured.
    pub metrics_token: Option<Arc<callvault_model::SecretString>>,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
