//! Recording decisions: whether an interaction is recorded, which recordings are made and why.
//!
//! The product's recording rules: recording is switched on and off at system and personal level; quality-management
//! recording of a service records the whole interaction; calls may be recorded only with the
//! customer's consent where the contact center says so. The policy is data ([`RecordingPolicy`]):
//!
//! 1. **System switch** off: nothing is recorded.
//! 2. **Consent**: the rule of the interaction's service, else the tenant's, for its direction.
//!    An explicit `no` from a party whose consent counts stops every recording, in any mode. In
//!    consent-only mode ([`ConsentMode::Required`]) only `yes` (or `not_required`, when the
//!    announcement system found none needed) lets recording start; `no_answer` and `unknown` stop
//!    it. Whose consent counts: the customer's, or every external party's.
//! 3. **Pause**: while an agent has paused the interaction's recording, nothing is recorded.
//! 4. **Quality management**: a service whose QM switch is on records the whole interaction as
//!    the service's recording.
//! 5. **Personal**: each agent's leg is recorded as the agent's recording when personal recording
//!    is on for them: the user's own switch, else the service's, else the tenant's.
//!
//! Every rule that took part is named in the reasons, allowing or refusing, in that order. The
//! decision is a pure function of the policy and the question; [`RecordingPolicy::normalise`]
//! sorts the per-user and per-service rules once so a decision binary-searches them and allocates
//! only its two result vectors.

use std::fmt;

use callvault_model::personal::Consent;
use callvault_model::recording::RecordingKind;
use callvault_model::records::Timestamp;
use callvault_model::{ServiceId, UserId};
use serde::{Deserialize, Serialize};

/// Longest maximum pause a policy may set (one hour), and the shortest (ten seconds).
pub const PAUSE_LIMITS: (u32, u32) = (10, 3600);

/// Per-user and per-service rules a policy may hold at most.
pub const MAX_RULES: usize = 10_000;

/// Whether consent is asked before recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Recorded unless a party whose consent counts says no (an announcement is enough).
    NotRequired,
    /// Consent-only: recorded only when every party whose consent counts said yes.
    Required,
}

/// Whose consent counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentParties {
    /// The customer's (one-party jurisdictions, the agent consenting by employment).
    Customer,
    /// Every external party's (all-party jurisdictions, conferences with third parties).
    AllParties,
}

/// A consent rule, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRule {
    /// For inbound interactions.
    pub inbound: ConsentMode,
    /// For outbound interactions (campaigns, agents' calls).
    pub outbound: ConsentMode,
    /// Whose consent counts.
    pub parties: ConsentParties,
}

impl Default for ConsentRule {
    fn default() -> Self {
        ConsentRule {
            inbound: ConsentMode::NotRequired,
            outbound: ConsentMode::NotRequired,
            parties: ConsentParties::Customer,
        }
    }
}

/// A user's personal-recording switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// The user.
    pub user_id: UserId,
    /// Whether their legs are recorded as their personal recordings.
    pub personal: bool,
}

/// A service's recording rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRule {
    /// The service or campaign.
    pub service_id: ServiceId,
    /// Quality-management recording of the whole interaction.
    #[serde(default)]
    pub quality_management: bool,
    /// Personal recording of its agents' legs (absent: the tenant's switch).
    #[serde(default)]
    pub personal: Option<bool>,
    /// Its consent rule (absent: the tenant's).
    #[serde(default)]
    pub consent: Option<ConsentRule>,
}

/// A tenant's recording policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingPolicy {
    /// The system switch: when off nothing is recorded.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Personal recording of agents' legs, unless a service or user rule says otherwise.
    #[serde(default = "yes")]
    pub personal: bool,
    /// The tenant's consent rule.
    #[serde(default)]
    pub consent: ConsentRule,
    /// Per-user switches.
    #[serde(default)]
    pub users: Vec<UserRule>,
    /// Per-service rules.
    #[serde(default)]
    pub services: Vec<ServiceRule>,
    /// The longest pause, in seconds: recording resumes by itself after it.
    #[serde(default = "default_max_pause")]
    pub max_pause_seconds: u32,
}

fn yes() -> bool {
    true
}

fn default_max_pause() -> u32 {
    300
}

impl Default for RecordingPolicy {
    fn default() -> Self {
        RecordingPolicy {
            enabled: true,
            personal: true,
            consent: ConsentRule::default(),
            users: Vec::new(),
            services: Vec::new(),
            max_pause_seconds: default_max_pause(),
        }
    }
}

/// Why a policy is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPolicy {
    /// The maximum pause is out of bounds.
    #[error("max_pause_seconds: {}..={} seconds", PAUSE_LIMITS.0, PAUSE_LIMITS.1)]
    MaxPause,
    /// Too many rules.
    #[error("users and services: at most {MAX_RULES} rules each")]
    TooMany,
    /// A user has two rules.
    #[error("users: user {0} has two rules")]
    DuplicateUser(UserId),
    /// A service has two rules.
    #[error("services: service {0} has two rules")]
    DuplicateService(ServiceId),
}

impl RecordingPolicy {
    /// Checks the policy and sorts its rules for [`decide`].
    pub fn normalise(mut self) -> Result<RecordingPolicy, InvalidPolicy> {
        if !(PAUSE_LIMITS.0..=PAUSE_LIMITS.1).contains(&self.max_pause_seconds) {
            return Err(InvalidPolicy::MaxPause);
        }
        if self.users.len() > MAX_RULES || self.services.len() > MAX_RULES {
            return Err(InvalidPolicy::TooMany);
        }
        self.users.sort_by_key(|u| u.user_id);
        if let Some(w) = self.users.windows(2).find(|w| w[0].user_id == w[1].user_id) {
            return Err(InvalidPolicy::DuplicateUser(w[0].user_id));
        }
        self.services.sort_by_key(|s| s.service_id);
        if let Some(w) = self.services.windows(2).find(|w| w[0].service_id == w[1].service_id) {
            return Err(InvalidPolicy::DuplicateService(w[0].service_id));
        }
        Ok(self)
    }

    /// The rule of a service (rules sorted by [`RecordingPolicy::normalise`]).
    pub fn service(&self, id: ServiceId) -> Option<&ServiceRule> {
        self.services.binary_search_by_key(&id, |s| s.service_id).ok().map(|i| &self.services[i])
    }

    fn user(&self, id: UserId) -> Option<&UserRule> {
        self.users.binary_search_by_key(&id, |u| u.user_id).ok().map(|i| &self.users[i])
    }
}

/// The direction of the interaction asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordingDirection)]
pub enum Direction {
    /// The customer called or wrote.
    Inbound,
    /// The contact center called or wrote.
    Outbound,
}

/// The consent answers known so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentState {
    /// The customer's answer.
    #[schema(value_type = String)]
    pub customer: Consent,
    /// Other external parties' (a conference), when there are any: the least favourable answer.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub other_parties: Option<Consent>,
}

impl Default for ConsentState {
    fn default() -> Self {
        ConsentState { customer: Consent::Unknown, other_parties: None }
    }
}

/// The question.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// Service or campaign.
    pub service: Option<ServiceId>,
    /// The agents on the interaction.
    pub agents: &'a [UserId],
    /// Direction.
    pub direction: Direction,
    /// Consent answers.
    pub consent: ConsentState,
    /// Until when the interaction's recording is paused, if it is.
    pub paused_until: Option<Timestamp>,
}

/// One recording to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PlannedRecording)]
pub struct Recording {
    /// Personal (the agent's leg) or quality management (the whole interaction).
    #[schema(value_type = String)]
    pub kind: RecordingKind,
    /// The agent, for a personal recording.
    pub agent: Option<UserId>,
    /// The service, for a quality-management recording.
    pub service: Option<ServiceId>,
}

/// A rule that took part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[schema(as = RecordingReason)]
pub enum Reason {
    /// The system switch is off.
    SystemOff,
    /// A party whose consent counts said no.
    ConsentRefused {
        /// `customer` or `other_parties`.
        party: Party,
    },
    /// Consent-only mode, and a party whose consent counts gave no usable answer.
    ConsentMissing {
        /// `customer` or `other_parties`.
        party: Party,
        /// The answer (`no_answer` or `unknown`).
        #[schema(value_type = String)]
        answer: Consent,
    },
    /// Consent allows recording.
    ConsentGiven {
        /// The mode that applied.
        mode: ConsentMode,
        /// Whether the rule was the service's (else the tenant's).
        service_rule: bool,
    },
    /// The interaction's recording is paused.
    Paused {
        /// When it resumes by itself.
        until: Timestamp,
    },
    /// The service records the whole interaction for quality management.
    QualityManagementOn {
        /// The service.
        service_id: ServiceId,
    },
    /// The service does not record for quality management.
    QualityManagementOff {
        /// The service.
        service_id: ServiceId,
    },
    /// An agent's leg is recorded as their personal recording.
    PersonalOn {
        /// The agent.
        user_id: UserId,
        /// Which switch decided: `user`, `service` or `tenant`.
        switch: Switch,
    },
    /// An agent's leg is not recorded.
    PersonalOff {
        /// The agent.
        user_id: UserId,
        /// Which switch decided.
        switch: Switch,
    },
    /// No recording is switched on for this interaction.
    NothingSwitchedOn,
}

/// A party to consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ConsentParty)]
pub enum Party {
    /// The customer.
    Customer,
    /// Other external parties.
    OtherParties,
}

/// The level of a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordingSwitch)]
pub enum Switch {
    /// The user's own.
    User,
    /// The service's.
    Service,
    /// The tenant's.
    Tenant,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let party = |p: &Party| match p {
            Party::Customer => "the customer",
            Party::OtherParties => "another party",
        };
        match self {
            Reason::SystemOff => f.write_str("recording is switched off for the whole contact center"),
            Reason::ConsentRefused { party: p } => write!(f, "{} refused consent to recording", party(p)),
            Reason::ConsentMissing { party: p, answer } => {
                write!(f, "consent is required and {} gave none ({answer})", party(p))
            }
            Reason::ConsentGiven { mode: ConsentMode::Required, .. } => f.write_str("consent was given"),
            Reason::ConsentGiven { mode: ConsentMode::NotRequired, .. } => {
                f.write_str("consent is not required and nobody refused")
            }
            Reason::Paused { until } => write!(f, "recording is paused until {until}"),
            Reason::QualityManagementOn { service_id } => {
                write!(f, "service {service_id} records whole interactions for quality management")
            }
            Reason::QualityManagementOff { service_id } => {
                write!(f, "service {service_id} does not record for quality management")
            }
            Reason::PersonalOn { user_id, switch } => {
                write!(f, "personal recording of agent {user_id} is on ({switch:?} switch)")
            }
            Reason::PersonalOff { user_id, switch } => {
                write!(f, "personal recording of agent {user_id} is off ({switch:?} switch)")
            }
            Reason::NothingSwitchedOn => f.write_str("no recording is switched on for this interaction"),
        }
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordingDecision {
    /// Whether anything is recorded.
    pub record: bool,
    /// The recordings to make.
    pub recordings: Vec<Recording>,
    /// Every rule that took part, in the order applied.
    pub reasons: Vec<Reason>,
}

/// Decides. `policy` must have passed [`RecordingPolicy::normalise`].
pub fn decide(policy: &RecordingPolicy, q: &Question<'_>) -> RecordingDecision {
    let mut reasons = Vec::with_capacity(2 + q.agents.len());
    let refuse = |reasons| RecordingDecision { record: false, recordings: Vec::new(), reasons };
    if !policy.enabled {
        reasons.push(Reason::SystemOff);
        return refuse(reasons);
    }
    let service = q.service.and_then(|s| policy.service(s));
    let rule = service.and_then(|s| s.consent);
    let (rule, service_rule) = match rule {
        Some(r) => (r, true),
        None => (policy.consent, false),
    };
    let mode = match q.direction {
        Direction::Inbound => rule.inbound,
        Direction::Outbound => rule.outbound,
    };
    let mut counted = [(Party::Customer, Some(q.consent.customer)), (Party::OtherParties, None)];
    if rule.parties == ConsentParties::AllParties {
        counted[1].1 = q.consent.other_parties;
    }
    for (party, answer) in counted {
        let Some(answer) = answer else { continue };
        let refusal = match (answer, mode) {
            (Consent::No, _) => Some(Reason::ConsentRefused { party }),
            (Consent::NoAnswer | Consent::Unknown, ConsentMode::Required) => {
                Some(Reason::ConsentMissing { party, answer })
            }
            _ => None,
        };
        if let Some(r) = refusal {
            reasons.push(r);
            return refuse(reasons);
        }
    }
    reasons.push(Reason::ConsentGiven { mode, service_rule });
    if let Some(until) = q.paused_until {
        reasons.push(Reason::Paused { until });
        return refuse(reasons);
    }
    let mut recordings = Vec::with_capacity(1 + q.agents.len());
    if let Some(service_id) = q.service {
        if service.is_some_and(|s| s.quality_management) {
            recordings.push(Recording {
                kind: RecordingKind::QualityManagement,
                agent: None,
                service: Some(service_id),
            });
            reasons.push(Reason::QualityManagementOn { service_id });
        } else {
            reasons.push(Reason::QualityManagementOff { service_id });
        }
    }
    for &user_id in q.agents {
        let (on, switch) = match (policy.user(user_id), service.and_then(|s| s.personal)) {
            (Some(u), _) => (u.personal, Switch::User),
            (None, Some(p)) => (p, Switch::Service),
            (None, None) => (policy.personal, Switch::Tenant),
        };
        if on {
            recordings.push(Recording { kind: RecordingKind::Personal, agent: Some(user_id), service: q.service });
            reasons.push(Reason::PersonalOn { user_id, switch });
        } else {
            reasons.push(Reason::PersonalOff { user_id, switch });
        }
    }
    if recordings.is_empty() {
        reasons.push(Reason::NothingSwitchedOn);
    }
    RecordingDecision { record: !recordings.is_empty(), recordings, reasons }
}

/// When a pause that began at `started` ends by itself under `policy`.
pub fn pause_limit(policy: &RecordingPolicy, started: Timestamp) -> Timestamp {
    Timestamp(started.0.saturating_add(i64::from(policy.max_pause_seconds) * 1000))
}

#[cfg(test)]
mod tests;
