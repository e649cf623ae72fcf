//! The callvault server: HTTP API, services that orchestrate policy, crypto and store, and
//! background jobs (audit sequencing and tree-head signing).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod calls;
pub mod clock;
pub mod config;
pub mod custody;
pub mod dial;
pub mod egress;
pub mod error;
pub mod extract;
pub mod files;
pub mod hep;
pub mod identity;
pub mod listen;
pub mod lists;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod serve;
pub mod state;
pub mod unseal;
pub mod vault;

pub use config::Config;
pub use state::AppState;
