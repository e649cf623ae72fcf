//! Domain records as the services and the store exchange them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::access::{Privilege, Scope};
use crate::{
    AddressId, DepartmentId, GrantId, NotificationId, Personal, PrincipalId, RoleId, ServiceAccountId, ServiceId,
    SkillId, TeamId, TenantId, UserId,
};

/// An instant, stored as milliseconds since the Unix epoch and shown as RFC 3339.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn millis(&self) -> i64 {
        self.0
    }

    /// This instant plus `ms` milliseconds.
    pub fn plus_millis(&self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

impl From<jiff::Timestamp> for Timestamp {
    fn from(t: jiff::Timestamp) -> Self {
        Timestamp(t.as_millisecond())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_jiff(), f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<jiff::Timestamp>().map(Timestamp::from).map_err(serde::de::Error::custom)
    }
}

/// Capabilities the provider switches on per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Envelope encryption of interaction content.
    #[serde(default)]
    pub encryption: bool,
    /// Outbound telecom policy: calling areas, calling hours (TCPA 47 CFR 64.1200(c)(1), state laws), do-not-call.
    #[serde(default)]
    pub outbound_policy: bool,
    /// Call security tracking (SRTP media, TLS signalling per leg) and downgrade alerts.
    #[serde(default)]
    pub call_security: bool,
}

/// Per-tenant settings of the identity layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSettings {
    /// Idle session timeout in seconds (ASVS: 30 min).
    pub session_idle_timeout_secs: u32,
    /// Absolute session lifetime in seconds (ASVS: 12 h).
    pub session_absolute_timeout_secs: u32,
    /// Minimum password length (NIST 800-63B: at least 8).
    pub password_min_length: u16,
    /// Failed logins on one account after which security officers are alerted.
    pub failed_login_alert_threshold: u32,
    /// Card numbers in text content (chat, SMS, e-mail, text attachments, list fields) are
    /// masked to their first six and last four digits before storage (PCI DSS 3.4.1).
    pub redact_card_numbers: bool,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            session_idle_timeout_secs: 30 * 60,
            session_absolute_timeout_secs: 12 * 3600,
            password_min_length: 8,
            failed_login_alert_threshold: 10,
            redact_card_numbers: true,
        }
    }
}

/// A contact center hosted by the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Short unique name used at login (`demo`).
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// Capabilities switched on by the provider.
    pub capabilities: Capabilities,
    /// Identity settings.
    pub settings: TenantSettings,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Kind of a directory address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// E-mail address.
    Email,
    /// Phone number (E.164 preferred).
    Phone,
    /// SIP URI or extension.
    Sip,
}

impl AddressKind {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AddressKind::Email => "email",
            AddressKind::Phone => "phone",
            AddressKind::Sip => "sip",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(AddressKind::Email),
            "phone" => Some(AddressKind::Phone),
            "sip" => Some(AddressKind::Sip),
            _ => None,
        }
    }
}

/// An address of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    /// Identifier.
    pub id: AddressId,
    /// Kind.
    pub kind: AddressKind,
    /// The address itself (personal data).
    #[schema(value_type = String)]
    pub value: Personal<String>,
}

/// A user's master data: names, login id and addresses, removed together when the user is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Login id (personal data).
    #[schema(value_type = String)]
    pub login: Personal<String>,
    /// First name (personal data).
    #[schema(value_type = String)]
    pub first_name: Personal<String>,
    /// Last name (personal data).
    #[schema(value_type = String)]
    pub last_name: Personal<String>,
    /// Directory addresses.
    pub addresses: Vec<Address>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A team of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    /// Identifier.
    pub id: TeamId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// The department it belongs to, if any.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A department: a group of teams. A supervisor granted a department's scope reaches every team
/// in it; a team of another department is outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Department {
    /// Identifier.
    pub id: DepartmentId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skill {
    /// Identifier.
    pub id: SkillId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Whether a service is an inbound service or an outbound campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Inbound voice, chat or e-mail service.
    Inbound,
    /// Outbound campaign.
    Campaign,
}

impl ServiceKind {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceKind::Inbound => "inbound",
            ServiceKind::Campaign => "campaign",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(ServiceKind::Inbound),
            "campaign" => Some(ServiceKind::Campaign),
            _ => None,
        }
    }
}

/// A service or campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Service {
    /// Identifier.
    pub id: ServiceId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// Inbound service or outbound campaign.
    pub kind: ServiceKind,
    /// Creation time.
    pub created_at: Timestamp,
}

/// The assignments of one user: the teams, skills and services (projects) that role grants can be
/// restricted to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Assignments {
    /// Teams the user belongs to.
    pub teams: Vec<TeamId>,
    /// Skills the user holds, with level 1..=100.
    pub skills: Vec<SkillLevel>,
    /// Services and campaigns the user works on.
    pub services: Vec<ServiceId>,
}

/// A skill held at a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    /// Skill.
    pub skill_id: SkillId,
    /// Level, 1..=100.
    pub level: u8,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Role {
    /// Identifier.
    pub id: RoleId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// What the role is for.
    pub description: String,
    /// The privileges.
    pub privileges: Vec<Privilege>,
    /// Default roles cannot be changed or deleted.
    pub builtin: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Who holds a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Grantee {
    /// A user.
    User(UserId),
    /// A service account.
    ServiceAccount(ServiceAccountId),
}

impl Grantee {
    /// As a principal.
    pub fn principal(&self) -> PrincipalId {
        match *self {
            Grantee::User(u) => PrincipalId::User(u),
            Grantee::ServiceAccount(s) => PrincipalId::ServiceAccount(s),
        }
    }
}

/// A role given to a user or service account within a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// Identifier.
    pub id: GrantId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Holder.
    pub grantee: Grantee,
    /// Role.
    pub role_id: RoleId,
    /// Where it applies.
    pub scope: Scope,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A non-human API client (dialer, recorder, SBC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceAccount {
    /// Identifier.
    pub id: ServiceAccountId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Unique name within the tenant.
    pub name: String,
    /// The first characters of the current token, to recognise it.
    pub token_prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last time its token was used.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// When its current token stops working, if it has a lifetime.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// The lifetime each new token gets (rotation starts it again), in days.
    #[serde(default)]
    pub token_lifetime_days: Option<u32>,
}

/// A notification for people of a tenant (security alerts, reminders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    /// Identifier.
    pub id: NotificationId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Stable kind, e.g. `failed_logins`.
    pub kind: String,
    /// Which role it is addressed to.
    pub audience: String,
    /// Human text (never personal data: ids only).
    pub message: String,
    /// Structured details (ids, counts).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Creation time.
    pub created_at: Timestamp,
}
