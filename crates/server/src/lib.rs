//! The callvault server: the HTTP API over the services of `callvault_core`, the HEP listener,
//! the sealed gate, the accept loop, bootstrap and the `serve` entry point.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod console;
pub mod demo;
pub mod error;
pub mod extract;
pub mod files;
pub mod hep;
pub mod listen;
pub mod logging;
pub mod serve;
pub mod state;
pub mod unseal;

pub use callvault_core::Config;
pub use state::AppState;
