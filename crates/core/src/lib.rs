//! The services of callvault between the front ends (HTTP API, HEP listener, console, CLI) and
//! the store: identity and sessions, the caller and its access check, audit, the vault
//! (keyring, content and uploads, jobs, ceremonies, lifecycle, integrity), separation of
//! duties, calling lists, telecom policy at run time, call security at run time, and
//! notifications.
//!
//! Architecture invariant: no HTTP here. No web framework, middleware or HTTP protocol type in
//! the public API and no error carries an HTTP status; every module returns its own error enum
//! whose variants say what happened, and the front end decides how to answer
//! (`callvault_server::error` maps every variant to a problem).

pub mod audit;
pub mod bus;
pub mod caller;
pub mod calls;
pub mod clock;
pub mod collection;
pub mod config;
pub mod custody;
pub mod diagnostics;
pub mod dial;
pub mod dial_admin;
pub mod dial_checks;
pub mod directory;
pub mod dpo;
pub mod egress;
pub mod identity;
pub mod input;
pub mod lists;
pub mod metrics;
pub mod notify;
pub mod operators;
pub mod recording;
pub mod reporting;
pub mod retention;
pub mod services;
pub mod stations;
pub mod subjects;
pub mod tenants;
pub mod vault;
pub mod webhooks;

pub use config::Config;
pub use services::Services;
