//! Parsers for signalling that arrives from the network — SIP messages, their SDP bodies and the
//! HEP v3 packets that capture agents (Kamailio `siptrace`, OpenSIPS, FreeSWITCH, Asterisk)
//! mirror them in — and the classifier that turns a message into a call leg's media and
//! signalling security. Every parser takes untrusted bytes: bounded sizes, no panics, no
//! allocation proportional to attacker-chosen lengths beyond the input itself; all are fuzzed
//! (`fuzz/`).

pub mod classify;
pub mod hep;
pub mod sdp;
pub mod sip;

pub use classify::{Media, MediaSecurity, Signalling, classify_message};
