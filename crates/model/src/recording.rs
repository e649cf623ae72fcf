//! Recordings as the product's recording rules see them: a **personal** recording belongs to its agent (the agent's leg
//! of a call, their chat), a **quality-management** recording belongs to its service (the whole
//! interaction, recorded because the service's QM switch is on). Who may play one follows from
//! that: the agent and those whose scope covers the agent's team, or those with the listen right
//! for the service.

use serde::{Deserialize, Serialize};

use crate::records::Timestamp;

name_enum!(
    /// Whose a recording is.
    RecordingKind {
        /// The agent's: the agent, and users whose scope covers the agent's team.
        Personal = "personal",
        /// The service's: users with the listen right for the service.
        QualityManagement = "quality_management",
    }
);

/// A span of an interaction during which recording was paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PausedSpan {
    /// Paused at.
    pub from: Timestamp,
    /// Resumed at (absent while still paused).
    pub to: Option<Timestamp>,
    /// Who paused (`user:…`).
    pub paused_by: String,
    /// Who resumed (`user:…`), or `policy` when the maximum pause ran out.
    pub resumed_by: Option<String>,
}
