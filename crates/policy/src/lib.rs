//! Pure decision engines of callvault. No I/O, no async; the clock is passed in as Unix
//! milliseconds.
//!
//! - [`access`]: the authorization engine. A principal's grants compile into a [`access::Subject`]
//!   whose `decide` answers allow (naming the grant, role and how it reached the resource) or
//!   deny (with the reason); the fixed rules for provider operators; the default roles; the
//!   privileges service accounts may never hold.
//! - [`password`]: NIST SP 800-63B rules for new passwords (length in characters after NFKC, no
//!   composition rules, a 30,000-entry common-password list, context words).
//! - [`throttle`]: login throttling per account (growing delays, a lock at 100 failures until a
//!   UTC midnight, step-up to a second factor after 3 failures, alerts).
//! - [`dial`] with [`numbers`], [`areas`], [`hours`], [`rules`], [`places`], [`timezones`],
//!   [`dnc`]: the telecom policy — may this call or text be placed or received now, and why.
//! - [`pan`]: card numbers found in text (Luhn, issuer ranges) and masked to the first six and
//!   last four digits, in one pass over a stream.
//! - [`callsec`]: call security — each call's secure / not secure / unknown state from its legs,
//!   with causes, downgrade alerts and what each station level shows.
//!
//! Architecture invariant: every function here is deterministic in its inputs, so decisions can
//! be explained, tested table by table, and benchmarked in isolation.

pub mod access;
pub mod areas;
pub mod callsec;
pub mod dial;
pub mod dnc;
pub mod duties;
pub mod hours;
pub mod identifiers;
pub mod numbers;
pub mod pan;
pub mod password;
pub mod places;
pub mod recording;
pub mod rules;
pub mod throttle;
pub mod timezones;
