//! The access-control vocabulary: resources, actions, privileges, scopes.
//!
//! A privilege is resource × action × reach. A role is a named set of privileges. A grant gives a
//! role to a user or service account with a scope: the whole tenant, or sets of teams, skills and
//! services. The decision engine lives in `callvault-policy`; this module only names things.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{DepartmentId, ServiceId, SkillId, TeamId};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        crate::wire_names_schema!($name, [$($text),*]);

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable name used in JSON, the database and the audit log.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownName { kind: stringify!($name), name: s.chars().take(64).collect() }),
                }
            }
        }
    };
}

/// A name that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    /// The vocabulary that was searched.
    pub kind: &'static str,
    /// The offending name (truncated).
    pub name: String,
}

string_enum!(
    /// What a privilege is about.
    Resource {
        /// A contact center (provider level).
        Tenant = "tenant",
        /// Capabilities switched on per tenant (provider level).
        TenantCapabilities = "tenant_capabilities",
        /// Tenant settings such as session timeouts and alert thresholds.
        TenantSettings = "tenant_settings",
        /// A user's master data.
        User = "user",
        /// A user's directory addresses (phone numbers, e-mail addresses).
        UserAddress = "user_address",
        /// A user's credentials: password reset, unlock, TOTP reset.
        UserCredential = "user_credential",
        /// Teams.
        Team = "team",
        /// Skills.
        Skill = "skill",
        /// Services and campaigns.
        Service = "service",
        /// Roles.
        Role = "role",
        /// Grants of roles.
        Grant = "grant",
        /// Login sessions.
        Session = "session",
        /// Service accounts and their tokens.
        ServiceAccount = "service_account",
        /// The audit log.
        Audit = "audit",
        /// Notifications (security alerts, reminders).
        Notification = "notification",
        /// Interaction content: recordings, transcripts, e-mails.
        Interaction = "interaction",
        /// Data encryption keys and their lifecycle.
        Key = "key",
        /// Personal data reports and erasure.
        PersonalData = "personal_data",
        /// Calling lists and activity forms with their records (custom fields may be encrypted).
        CallingList = "calling_list",
        /// Provider operators (provider level).
        Operator = "operator",
        /// Dial policy: calling areas, calling-hour rules, dial settings and area assignments.
        DialPolicy = "dial_policy",
        /// Do-not-call lists and registry imports.
        DoNotCall = "do_not_call",
        /// Asking whether a call or text may be placed (dialers, softphones).
        DialCheck = "dial_check",
        /// Calls with their security state; `create` = feeding signalling events (PBXs, SBCs).
        Call = "call",
        /// Stations with their security levels, and HEP capture agents.
        Station = "station",
        /// A user's call security alerts; `update` = switching them off (only where granted).
        CallAlert = "call_alert",
        /// Departments: groups of teams.
        Department = "department",
        /// The tenant's recording policy (system, user and service switches, consent rules).
        RecordingPolicy = "recording_policy",
        /// Asking whether an interaction may be recorded (recorders, SBCs).
        RecordingDecision = "recording_decision",
        /// Pausing and resuming the recording of a call: `update:own` on one's own calls,
        /// `update` on the calls of the users in scope.
        RecordingState = "recording_state",
        /// Agent performance statistics (work-time distribution per interval); `create` = the ACD's
        /// feed.
        Performance = "performance",
    }
);

string_enum!(
    /// What a privilege allows doing.
    Action {
        /// Read.
        Read = "read",
        /// Create.
        Create = "create",
        /// Update.
        Update = "update",
        /// Delete.
        Delete = "delete",
        /// Listen to recordings.
        Listen = "listen",
        /// Export decrypted content.
        Export = "export",
        /// Approve a key ceremony proposed by another custodian.
        ApproveKeyOperation = "approve_key_operation",
        /// Propose key operations (key custodian).
        ManageKeys = "manage_keys",
        /// Erase personal data (DPO).
        ErasePersonalData = "erase_personal_data",
        /// Unlock a locked account or reset its second factor.
        Unlock = "unlock",
        /// Ask the access engine to explain a decision about another principal.
        Explain = "explain",
        /// Verify the audit log and read proofs.
        Verify = "verify",
    }
);

/// Whether a privilege applies to everything in the grant's scope or only to what the subject
/// owns (an agent's own profile and interactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// Everything inside the grant's scope.
    Scope,
    /// Only resources whose owner is the subject itself.
    Own,
}

/// One privilege: `resource:action` or `resource:action:own`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Privilege {
    /// What it is about.
    pub resource: Resource,
    /// What it allows.
    pub action: Action,
    /// How far it reaches.
    pub reach: Reach,
}

impl Privilege {
    /// A privilege over everything in scope.
    pub const fn scoped(resource: Resource, action: Action) -> Self {
        Self { resource, action, reach: Reach::Scope }
    }

    /// A privilege over the subject's own resources only.
    pub const fn own(resource: Resource, action: Action) -> Self {
        Self { resource, action, reach: Reach::Own }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reach {
            Reach::Scope => write!(f, "{}:{}", self.resource, self.action),
            Reach::Own => write!(f, "{}:{}:own", self.resource, self.action),
        }
    }
}

/// A privilege string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPrivilege {
    /// Not of the form `resource:action[:own]`.
    #[error("privilege must look like `resource:action` or `resource:action:own`")]
    Shape,
    /// Unknown resource or action.
    #[error(transparent)]
    Name(#[from] UnknownName),
}

impl FromStr for Privilege {
    type Err = InvalidPrivilege;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let (Some(r), Some(a)) = (parts.next(), parts.next()) else {
            return Err(InvalidPrivilege::Shape);
        };
        let reach = match parts.next() {
            None => Reach::Scope,
            Some("own") => Reach::Own,
            Some(_) => return Err(InvalidPrivilege::Shape),
        };
        if parts.next().is_some() {
            return Err(InvalidPrivilege::Shape);
        }
        Ok(Privilege { resource: r.parse()?, action: a.parse()?, reach })
    }
}

impl Serialize for Privilege {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Privilege {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Privilege {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`resource:action` or `resource:action:own`"))
            .examples([serde_json::json!("user:read:own")])
            .into()
    }
}

impl utoipa::ToSchema for Privilege {}

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// The whole tenant.
    Tenant,
    /// Only resources attached to at least one of these teams, skills or services.
    Limited {
        /// Teams in scope.
        #[serde(default)]
        teams: Vec<TeamId>,
        /// Skills in scope.
        #[serde(default)]
        skills: Vec<SkillId>,
        /// Services and campaigns in scope.
        #[serde(default)]
        services: Vec<ServiceId>,
        /// Departments in scope: stands for every team of the department at the time of each
        /// decision (a team moved to another department leaves the scope).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        departments: Vec<DepartmentId>,
    },
}

/// The default roles every tenant starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultRole {
    /// Own interactions and profile.
    Agent,
    /// Own teams' users and interactions; listen on own services.
    Supervisor,
    /// Runs the contact center's configuration.
    Administrator,
    /// Key custodian and audit.
    SecurityOfficer,
    /// Personal data reports and erasure.
    DataProtectionOfficer,
    /// Read-only, audit.
    Auditor,
    /// A dialer, SBC or softphone asking before every call (service accounts).
    Dialer,
    /// A recording system (service accounts): stores content and contact records, asks for
    /// recording decisions and reports pauses; reads nothing back.
    Recorder,
    /// The ACD's reporting feed (service accounts): agent performance statistics in.
    ReportingFeed,
}

impl DefaultRole {
    /// Every default role.
    pub const ALL: &'static [DefaultRole] = &[
        DefaultRole::Agent,
        DefaultRole::Supervisor,
        DefaultRole::Administrator,
        DefaultRole::SecurityOfficer,
        DefaultRole::DataProtectionOfficer,
        DefaultRole::Auditor,
        DefaultRole::Dialer,
        DefaultRole::Recorder,
        DefaultRole::ReportingFeed,
    ];

    /// The role's name inside a tenant.
    pub fn name(&self) -> &'static str {
        match self {
            DefaultRole::Agent => "agent",
            DefaultRole::Supervisor => "supervisor",
            DefaultRole::Administrator => "administrator",
            DefaultRole::SecurityOfficer => "security_officer",
            DefaultRole::DataProtectionOfficer => "data_protection_officer",
            DefaultRole::Auditor => "auditor",
            DefaultRole::Dialer => "dialer",
            DefaultRole::Recorder => "recorder",
            DefaultRole::ReportingFeed => "reporting_feed",
        }
    }

    /// Looks a default role up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// Roles of systems (service accounts), not people: they carry no self-service privileges.
    pub fn is_for_systems(&self) -> bool {
        matches!(self, DefaultRole::Dialer | DefaultRole::Recorder | DefaultRole::ReportingFeed)
    }

    /// Privileged roles must use a second factor.
    pub fn is_privileged(&self) -> bool {
        matches!(self, DefaultRole::Administrator | DefaultRole::SecurityOfficer | DefaultRole::DataProtectionOfficer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_parse_and_print() {
        for text in ["user:read", "interaction:listen:own", "key:approve_key_operation"] {
            let p: Privilege = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        assert!("user".parse::<Privilege>().is_err());
        assert!("user:fly".parse::<Privilege>().is_err());
        assert!("user:read:all".parse::<Privilege>().is_err());
        assert!("user:read:own:x".parse::<Privilege>().is_err());
    }

    #[test]
    fn scope_json_shape() {
        let s: Scope = serde_json::from_str(r#"{"kind":"limited","teams":[]}"#).unwrap();
        assert_eq!(s, Scope::Limited { teams: vec![], skills: vec![], services: vec![], departments: vec![] });
        assert!(serde_json::from_str::<Scope>(r#"{"kind":"limited","bogus":1}"#).is_err());
    }
}
