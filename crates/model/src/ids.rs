//! Newtype identifiers. Every identifier is a UUID (v7, so they sort by creation time) and
//! serialises as its hyphenated string form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Error returned when a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    /// Which kind of identifier was expected.
    pub kind: &'static str,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The kind of object this identifier names, as used in error messages.
            pub const KIND: &'static str = $kind;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($kind, ":{}"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId { kind: $kind })
            }
        }
    };
}

id_type!(
    /// A contact center hosted by the provider.
    TenantId, "tenant"
);
id_type!(
    /// A provider operator (not a member of any tenant).
    OperatorId, "operator"
);
id_type!(
    /// A user of one tenant.
    UserId, "user"
);
id_type!(
    /// A team of users.
    TeamId, "team"
);
id_type!(
    /// A department: a group of teams (a supervisor's scope can be a department's teams).
    DepartmentId, "department"
);
id_type!(
    /// A skill users can hold.
    SkillId, "skill"
);
id_type!(
    /// A service (inbound queue) or campaign (outbound): a "project" that access can be restricted to.
    ServiceId, "service"
);
id_type!(
    /// A role: a named set of privileges.
    RoleId, "role"
);
id_type!(
    /// A grant of a role to a user or service account, with a scope.
    GrantId, "grant"
);
id_type!(
    /// A non-human caller of the API (dialer, recorder, SBC).
    ServiceAccountId, "service account"
);
id_type!(
    /// A login session.
    SessionId, "session"
);
id_type!(
    /// A notification addressed to users of a tenant.
    NotificationId, "notification"
);
id_type!(
    /// A directory address (phone number, e-mail address) of a user.
    AddressId, "address"
);

id_type!(
    /// A stored content object: a recording, transcript, e-mail or attachment.
    ObjectId, "object"
);
id_type!(
    /// A background job (rewrap, re-encrypt, decrypt-all, encrypt-all).
    JobId, "job"
);
id_type!(
    /// A dual-control key ceremony.
    CeremonyId, "ceremony"
);
id_type!(
    /// A calling list or an activity form.
    ListId, "list"
);
id_type!(
    /// A record of a calling list or a submission of a form.
    RecordId, "record"
);
id_type!(
    /// A webhook endpoint of a tenant.
    WebhookId, "webhook"
);
id_type!(
    /// A do-not-call list (internal, or an imported registry copy).
    DncListId, "dnc_list"
);

/// The authenticated party behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum PrincipalId {
    /// A provider operator.
    Operator(OperatorId),
    /// A tenant user.
    User(UserId),
    /// A tenant service account.
    ServiceAccount(ServiceAccountId),
}

impl PrincipalId {
    /// The kind as stored in the database and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            PrincipalId::Operator(_) => "operator",
            PrincipalId::User(_) => "user",
            PrincipalId::ServiceAccount(_) => "service_account",
        }
    }

    /// The bare UUID.
    pub fn uuid(&self) -> Uuid {
        match self {
            PrincipalId::Operator(id) => id.0,
            PrincipalId::User(id) => id.0,
            PrincipalId::ServiceAccount(id) => id.0,
        }
    }

    /// Rebuilds a principal from its stored kind and UUID.
    pub fn from_parts(kind: &str, id: Uuid) -> Option<Self> {
        match kind {
            "operator" => Some(PrincipalId::Operator(OperatorId(id))),
            "user" => Some(PrincipalId::User(UserId(id))),
            "service_account" => Some(PrincipalId::ServiceAccount(ServiceAccountId(id))),
            _ => None,
        }
    }
}

impl std::str::FromStr for PrincipalId {
    type Err = InvalidId;

    /// Parses the `Display` form, `kind:uuid`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidId { kind: "principal" };
        let (kind, id) = s.split_once(':').ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        PrincipalId::from_parts(kind, id).ok_or_else(invalid)
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.uuid().hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>(), Ok(id));
        assert_eq!("nope".parse::<UserId>(), Err(InvalidId { kind: "user" }));
        assert_eq!(format!("{id:?}"), format!("user:{id}"));
        let p = PrincipalId::User(id);
        assert_eq!(PrincipalId::from_parts(p.kind(), p.uuid()), Some(p));
        assert_eq!(p.to_string().parse::<PrincipalId>(), Ok(p));
        assert!("user:nope".parse::<PrincipalId>().is_err());
    }
}
id_type!(
    /// An interaction: one call, chat, SMS or e-mail conversation with a customer.
    InteractionId, "interaction"
);
id_type!(
    /// A data subject: the person behind the identifiers seen together.
    SubjectId, "subject"
);
id_type!(
    /// A retention policy.
    RetentionPolicyId, "retention_policy"
);
id_type!(
    /// A legal hold.
    LegalHoldId, "legal_hold"
);
id_type!(
    /// A data protection officer's request (access, export, rectification, erasure).
    DpoRequestId, "dpo_request"
);
id_type!(
    /// One tenant's run of the retention purge.
    PurgeRunId, "purge_run"
);
