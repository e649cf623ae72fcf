//! Pure decision engines: access control, password rules, login throttling. No I/O, no async;
//! the clock is passed in as Unix milliseconds.
//!
//! Architecture invariant: every function here is deterministic in its inputs, so decisions can
//! be explained, tested table by table, and benchmarked in isolation.
#![forbid(unsafe_code)]

pub mod access;
pub mod password;
pub mod throttle;
