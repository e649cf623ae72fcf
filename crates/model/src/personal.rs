//! Personal data: the categories every piece of person-related data belongs to. Each category is
//! controlled separately (collected or not, its own retention); only user master data is
//! mandatory. The categories are those of the product's data-protection chapter, plus calling
//! lists, whose records name the customers a campaign calls.

use serde::{Deserialize, Serialize};

use crate::vault::ContentClass;

name_enum!(
    /// A category of personal data.
    Category {
        /// Who a user is: names, login, credentials, assignments, sessions. Mandatory; removed
        /// with the user account (a name tombstone stays until the user's other data is gone).
        UserMaster = "user_master",
        /// Directory information: a user's phone numbers and e-mail addresses for finding the
        /// right person, and the stations they work at. Optional, per tenant and per user.
        Directory = "directory",
        /// Reporting data: per-person statistics such as work-time distribution.
        Reporting = "reporting",
        /// Recordings of communication: voice and screen recordings, chat and SMS transcripts,
        /// e-mails and their attachments. Optional; follows the retention of its interaction.
        Recordings = "recordings",
        /// Contact data records: the addresses (phone number, e-mail, IP address) that identify
        /// the person on the other end of an interaction, and what happened to it.
        ContactRecords = "contact_records",
        /// Calling lists and activity forms: the customers a campaign calls, with their fields.
        CallingLists = "calling_lists",
    }
);

impl Category {
    /// Whether a tenant (or a user, for directory information) may switch the category off.
    pub fn optional(self) -> bool {
        self != Category::UserMaster
    }
}

impl ContentClass {
    /// The channel an interaction of content of this class took place on.
    pub fn channel(self) -> Channel {
        match self {
            ContentClass::Voice | ContentClass::Screen => Channel::Voice,
            ContentClass::Chat => Channel::Chat,
            ContentClass::Sms => Channel::Sms,
            ContentClass::Email | ContentClass::Attachment => Channel::Email,
        }
    }

    /// The category content of this class belongs to.
    pub fn category(self) -> Category {
        match self {
            ContentClass::Voice
            | ContentClass::Screen
            | ContentClass::Chat
            | ContentClass::Sms
            | ContentClass::Email
            | ContentClass::Attachment => Category::Recordings,
        }
    }
}

name_enum!(
    /// How an interaction took place.
    Channel {
        /// A phone call.
        Voice = "voice",
        /// A web chat.
        Chat = "chat",
        /// Text messages.
        Sms = "sms",
        /// E-mail.
        Email = "email",
    }
);

name_enum!(
    /// Who started an interaction.
    InteractionDirection {
        /// The customer.
        Inbound = "inbound",
        /// The contact center (a campaign, an agent).
        Outbound = "outbound",
        /// Not known: an interaction made for content uploaded under a reference no interaction
        /// had.
        Unknown = "unknown",
    }
);

name_enum!(
    /// The customer's answer when asked to consent to recording.
    Consent {
        /// Consented.
        Yes = "yes",
        /// Refused.
        No = "no",
        /// Not asked: the service records without consent.
        NotRequired = "not_required",
        /// Asked, no answer (timeout).
        NoAnswer = "no_answer",
        /// Not known.
        Unknown = "unknown",
    }
);

name_enum!(
    /// A kind of identifier of a customer.
    IdentifierKind {
        /// A phone number, stored in E.164.
        Phone = "phone",
        /// An e-mail address, stored in lower case.
        Email = "email",
        /// An IP address.
        Ip = "ip",
        /// A person's name, stored lower case with single spaces. Names are not unique: a name
        /// never links identifiers into a subject, it is only found.
        Name = "name",
    }
);

/// An identifier of a customer, in clear (only in memory; stored sealed with a blind index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// Kind.
    #[schema(value_type = String)]
    pub kind: IdentifierKind,
    /// Value.
    #[schema(value_type = String)]
    pub value: crate::Personal<String>,
}

/// The operative record of a call, chat, SMS or e-mail conversation (a contact data record).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Interaction {
    /// Id.
    pub id: crate::InteractionId,
    /// Tenant.
    pub tenant_id: crate::TenantId,
    /// Channel.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// Direction.
    #[schema(value_type = String)]
    pub direction: InteractionDirection,
    /// The contact center's own reference (a call id, chat id); objects uploaded with it as their
    /// `interaction` belong to it.
    pub external_ref: Option<String>,
    /// Service or campaign.
    pub service_id: Option<crate::ServiceId>,
    /// Agents on it.
    pub agents: Vec<crate::UserId>,
    /// Consent to recording.
    #[schema(value_type = String)]
    pub consent: Consent,
    /// Start.
    pub started_at: crate::records::Timestamp,
    /// End.
    pub ended_at: Option<crate::records::Timestamp>,
    /// The customer's identifiers (returned in clear only where the caller may read them).
    pub identifiers: Vec<Identifier>,
    /// The subject its identifiers link to.
    pub subject_id: Option<crate::SubjectId>,
    /// Created.
    pub created_at: crate::records::Timestamp,
}

/// How long personal data of a category is kept, tenant-wide or for one service or campaign.
/// Where several policies apply, the longest wins; data no policy covers is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    /// Id.
    pub id: crate::RetentionPolicyId,
    /// Tenant.
    pub tenant_id: crate::TenantId,
    /// The category it keeps.
    #[schema(value_type = String)]
    pub category: Category,
    /// The service or campaign it is for; none: the whole tenant.
    pub service_id: Option<crate::ServiceId>,
    /// Days kept, counted from when the data was recorded (an interaction: its start).
    pub days: u32,
    /// Created.
    pub created_at: crate::records::Timestamp,
}

/// The days `category` data of `service` is kept under `policies`: the longest of the
/// tenant-wide policy and the service's own; `None` when no policy covers it (kept).
pub fn retention_days(
    policies: &[RetentionPolicy],
    category: Category,
    service: Option<crate::ServiceId>,
) -> Option<u32> {
    policies
        .iter()
        .filter(|p| p.category == category && (p.service_id.is_none() || p.service_id == service))
        .map(|p| p.days)
        .max()
}

/// What a legal hold covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum HoldScope {
    /// A data subject: every interaction linked to it and their objects.
    Subject(crate::SubjectId),
    /// One interaction and the objects uploaded with its reference.
    Interaction(crate::InteractionId),
    /// A service or campaign: its interactions and objects.
    Service(crate::ServiceId),
}

/// A legal hold: what it covers is neither purged nor erased until it is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LegalHold {
    /// Id.
    pub id: crate::LegalHoldId,
    /// Tenant.
    pub tenant_id: crate::TenantId,
    /// Its name, shown in every refusal it causes.
    pub name: String,
    /// Why (a case, a claim).
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
    /// Who placed it (a principal, as text).
    pub created_by: String,
    /// Placed.
    pub created_at: crate::records::Timestamp,
    /// Released; `None` while it holds.
    pub released_at: Option<crate::records::Timestamp>,
}

name_enum!(
    /// What a data protection officer asks for on behalf of a data subject.
    DpoRequestKind {
        /// The personal data report of the subject (GDPR Art. 15).
        Access = "access",
        /// The report plus the subject's decrypted content, in an archive encrypted to a
        /// passphrase (Art. 20).
        Export = "export",
        /// Correction of an identifier (Art. 16).
        Rectify = "rectify",
        /// Erasure by crypto-shredding (Art. 17).
        Erase = "erase",
    }
);

name_enum!(
    /// Where a request stands.
    DpoRequestState {
        /// Accepted, waiting for the worker.
        Open = "open",
        /// Being carried out (resumes after a restart).
        Running = "running",
        /// Done.
        Completed = "completed",
        /// Not carried out, for the reason in its outcome (a legal hold placed after it was
        /// accepted, say).
        Refused = "refused",
    }
);

impl DpoRequestState {
    /// Whether the request still counts as the subject's one open request.
    pub fn is_open(self) -> bool {
        matches!(self, DpoRequestState::Open | DpoRequestState::Running)
    }
}

/// GDPR Art. 12(3): a request is answered within one month…
pub const DPO_DUE_DAYS: i64 = 30;
/// …extendable once by two further months, with a reason.
pub const DPO_EXTENSION_DAYS: i64 = 60;

/// A data protection officer's request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DpoRequest {
    /// Id.
    pub id: crate::DpoRequestId,
    /// Tenant.
    pub tenant_id: crate::TenantId,
    /// The subject it is about.
    pub subject_id: crate::SubjectId,
    /// What is asked.
    #[schema(value_type = String)]
    pub kind: DpoRequestKind,
    /// Where it stands.
    #[schema(value_type = String)]
    pub state: DpoRequestState,
    /// Who asked (a principal, as text).
    pub requested_by: String,
    /// Accepted.
    pub created_at: crate::records::Timestamp,
    /// Due (30 days after it was accepted, 90 when extended).
    pub due_at: crate::records::Timestamp,
    /// Why it was extended, once.
    pub extended_reason: Option<String>,
    /// Completed or refused.
    pub completed_at: Option<crate::records::Timestamp>,
    /// What was done (counts, the refusal's reason); no personal values.
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
}

/// One tenant's run of the retention purge: its progress while it runs, what it did when done. A
/// run the process stopped in (a crash, a restart) is resumed by the next purge, its counts
/// going on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PurgeRun {
    /// Id.
    pub id: crate::PurgeRunId,
    /// Tenant.
    pub tenant_id: crate::TenantId,
    /// Started.
    pub started_at: crate::records::Timestamp,
    /// Finished; `None` while it runs (or until a stopped run is resumed).
    pub finished_at: Option<crate::records::Timestamp>,
    /// How many times it was resumed after the process stopped.
    pub resumed: u32,
    /// Objects whose content key was destroyed and row deleted.
    pub objects: u64,
    /// Blob files removed after the commits.
    pub blobs_removed: u64,
    /// Interactions deleted.
    pub interactions: u64,
    /// Expired items kept because a legal hold covers them.
    pub held: u64,
    /// Milliseconds spent destroying keys and deleting rows.
    pub shred_ms: u64,
    /// Milliseconds spent removing blob files.
    pub blob_ms: u64,
}
