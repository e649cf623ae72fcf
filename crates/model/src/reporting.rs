//! Reporting data: agents' work-time distribution per 15-minute interval, fed by the ACD. Personal
//! data of the reporting category: kept for the tenant's reporting retention, in each user's
//! personal data report.

use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::records::Timestamp;

/// Length of a reporting interval, in milliseconds (15 minutes).
pub const INTERVAL_MS: i64 = 15 * 60 * 1000;

/// One agent's statistics for one 15-minute interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInterval {
    /// The agent.
    pub user_id: UserId,
    /// Start of the interval (a multiple of 15 minutes).
    pub interval_start: Timestamp,
    /// Seconds talking.
    pub talk_s: u32,
    /// Seconds with a customer on hold.
    pub hold_s: u32,
    /// Seconds in wrap-up.
    pub wrap_up_s: u32,
    /// Seconds available, waiting for work.
    pub available_s: u32,
    /// Seconds on a break.
    pub break_s: u32,
    /// Seconds in other states (training, meetings, logged in but not ready).
    pub other_s: u32,
    /// Interactions handled.
    pub handled: u32,
    /// Interactions offered and missed.
    pub missed: u32,
}

impl AgentInterval {
    /// Seconds accounted for in all states.
    pub fn total_s(&self) -> u64 {
        [self.talk_s, self.hold_s, self.wrap_up_s, self.available_s, self.break_s, self.other_s]
            .iter()
            .map(|s| u64::from(*s))
            .sum()
    }
}
