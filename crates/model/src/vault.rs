//! Records of encryption at rest: data key versions, stored objects, jobs, key ceremonies,
//! calling lists and forms, webhooks.

use serde::{Deserialize, Serialize};

use crate::records::Timestamp;
use crate::{CeremonyId, JobId, ListId, ObjectId, PrincipalId, RecordId, ServiceId, TenantId, UserId, WebhookId};

name_enum!(
    /// The classes of stored content: recordings, transcripts, e-mails and attachments.
    ContentClass {
        /// Voice recording.
        Voice = "voice",
        /// Screen recording.
        Screen = "screen",
        /// Chat transcript.
        Chat = "chat",
        /// SMS transcript.
        Sms = "sms",
        /// E-mail body.
        Email = "email",
        /// E-mail attachment.
        Attachment = "attachment",
    }
);

name_enum!(
    /// The life-cycle state of a data key version.
    KeyState {
        /// Encrypts new content (exactly one per tenant while encryption is on).
        Active = "active",
        /// Only decrypts: replaced by a newer version.
        DecryptOnly = "decrypt_only",
        /// No object depends on it any more; its key material is destroyed.
        Retired = "retired",
    }
);

name_enum!(
    /// Background jobs that apply changes to the encryption settings.
    JobKind {
        /// Content keys re-wrapped under the newest data key version; content untouched.
        Rewrap = "rewrap",
        /// Content re-encrypted under fresh content keys and the newest version (revoke).
        Reencrypt = "reencrypt",
        /// Every object decrypted to plain storage.
        DecryptAll = "decrypt_all",
        /// Every plain object encrypted under the active version.
        EncryptAll = "encrypt_all",
    }
);

name_enum!(
    /// Where a job stands.
    JobState {
        /// Working (or waiting for a worker after a restart).
        Running = "running",
        /// Paused by a custodian.
        Paused = "paused",
        /// Finished.
        Done = "done",
        /// Stopped on an error it cannot get past.
        Failed = "failed",
    }
);

name_enum!(
    /// Operations that need two custodians (dual control).
    CeremonyKind {
        /// Switch encryption on: the first (or a new) data key version, encrypt new content and
        /// encrypt existing plain content.
        EnableEncryption = "enable_encryption",
        /// Stop encrypting new content (existing content stays encrypted).
        StopEncrypting = "stop_encrypting",
        /// Generate a new data key version ("change key now").
        NewKey = "new_key",
        /// Re-wrap every content key under the newest version.
        Rewrap = "rewrap",
        /// Re-encrypt every object under a new version, then retire the old versions (revoke).
        Reencrypt = "reencrypt",
        /// Decrypt everything and stop encrypting.
        DecryptAll = "decrypt_all",
        /// Change cryptoperiod, reminder lead time or automatic rotation.
        ChangeSettings = "change_settings",
        /// Retire a data key version no object depends on.
        RetireVersion = "retire_version",
        /// Back up the KEK as Shamir shares (provider level).
        KekBackup = "kek_backup",
        /// Grant a role that carries key custody or personal data (a custodian appointment).
        AppointCustodian = "appoint_custodian",
        /// Remove such a grant.
        RevokeCustodian = "revoke_custodian",
        /// Reset a custodian's password or second factor.
        ResetCustodianCredentials = "reset_custodian_credentials",
        /// Add a provider operator to the approvers of provider ceremonies.
        AppointOperatorApprover = "appoint_operator_approver",
    }
);

name_enum!(
    /// Where a ceremony stands.
    CeremonyState {
        /// Waiting for a second custodian.
        Proposed = "proposed",
        /// Approved and carried out.
        Completed = "completed",
        /// Withdrawn by a custodian.
        Cancelled = "cancelled",
        /// Its lifetime ended before approval.
        Expired = "expired",
        /// Approved, but carrying it out failed (nothing changed).
        Failed = "failed",
    }
);

/// A tenant's encryption settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EncryptionSettings {
    /// New content is encrypted.
    pub encrypt_new: bool,
    /// Days a data key version may encrypt before it should be replaced (default 365).
    pub cryptoperiod_days: u32,
    /// Days before the end of the cryptoperiod when custodians are reminded (default 15).
    pub reminder_days: u32,
    /// Rotate automatically after this many days (off when absent).
    pub auto_rotate_days: Option<u32>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Settings a `change_settings` ceremony may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettingsPatch {
    /// New cryptoperiod in days (30..=3650).
    pub cryptoperiod_days: Option<u32>,
    /// New reminder lead time in days (1..=90).
    pub reminder_days: Option<u32>,
    /// Automatic rotation period in days (1..=3650), or 0 to switch it off.
    pub auto_rotate_days: Option<u32>,
}

/// A version of a tenant's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataKeyVersion {
    /// Version number, from 1.
    pub version: u32,
    /// State.
    pub state: KeyState,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it was retired.
    pub retired_at: Option<Timestamp>,
    /// When the expiry reminder was sent.
    pub reminded_at: Option<Timestamp>,
    /// The key wrapped by the KEK (never serialised).
    #[serde(skip)]
    pub wrapped: Vec<u8>,
}

/// Metadata of a stored object (a recording, transcript, e-mail body or attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredObject {
    /// Identifier.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Content class.
    pub class: ContentClass,
    /// The interaction (call, chat, e-mail thread) it belongs to.
    pub interaction: Option<String>,
    /// Service or campaign.
    pub service_id: Option<ServiceId>,
    /// The agents on the interaction.
    pub agents: Vec<UserId>,
    /// A reference to the customer contact (an id in the CRM, never a number or name).
    pub contact_ref: Option<String>,
    /// When it was recorded or received.
    pub recorded_at: Timestamp,
    /// The customer's answer when asked to consent to recording.
    #[schema(value_type = String)]
    pub consent: crate::personal::Consent,
    /// Personal (the agents') or quality management (the service's): decides who may play it.
    #[schema(value_type = String)]
    pub recording: crate::recording::RecordingKind,
    /// Spans during which recording was paused, for playback and reports.
    #[serde(default)]
    pub paused: Vec<crate::recording::PausedSpan>,
    /// MIME type.
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext as stored (text: after card numbers were masked), hex.
    pub sha256: String,
    /// Card numbers masked in the text before it was stored (the count, never the numbers).
    #[serde(default)]
    pub redactions: u32,
    /// The data key version its content key is wrapped under; absent when stored plain.
    pub key_version: Option<u32>,
    /// Stored time.
    pub created_at: Timestamp,
    /// Blob file name (internal).
    #[serde(skip)]
    pub blob: String,
    /// Wrapped content key (internal).
    #[serde(skip)]
    pub wrapped_key: Option<Vec<u8>>,
    /// The blob's 24-byte header, kept beside the wrapped key so a rewrap never reads blobs
    /// (internal; reads check it against the blob's own header).
    #[serde(skip)]
    pub header: Vec<u8>,
}

/// A background job with its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Identifier.
    pub id: JobId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: JobKind,
    /// State.
    pub state: JobState,
    /// The data key version content ends up under (absent for decrypt-all).
    pub target_version: Option<u32>,
    /// Objects to process when the job started.
    pub objects_total: u64,
    /// Objects processed.
    pub objects_done: u64,
    /// Content bytes to process.
    pub bytes_total: u64,
    /// Content bytes processed.
    pub bytes_done: u64,
    /// Objects that could not be processed (left as they were, still readable).
    pub failures: u64,
    /// The last error, without personal data.
    pub last_error: Option<String>,
    /// Who started it (the ceremony's proposer).
    #[schema(value_type = Object)]
    pub created_by: PrincipalId,
    /// Start.
    pub created_at: Timestamp,
    /// Last progress.
    pub updated_at: Timestamp,
    /// End.
    pub finished_at: Option<Timestamp>,
    /// The last object id processed (internal: jobs resume after it).
    #[serde(skip)]
    pub cursor: Option<String>,
}

/// A dual-control key ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ceremony {
    /// Identifier.
    pub id: CeremonyId,
    /// Tenant (absent for provider ceremonies such as KEK backup).
    pub tenant_id: Option<TenantId>,
    /// What it does.
    pub kind: CeremonyKind,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// State.
    pub state: CeremonyState,
    /// The custodian who proposed it.
    #[schema(value_type = Object)]
    pub proposer: PrincipalId,
    /// The custodian who approved it.
    #[schema(value_type = Option<Object>)]
    pub approver: Option<PrincipalId>,
    /// Proposed at.
    pub created_at: Timestamp,
    /// It must be approved before this instant.
    pub expires_at: Timestamp,
    /// Approved, cancelled or failed at.
    pub decided_at: Option<Timestamp>,
    /// What it produced (job id, key version, share pickup status).
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

name_enum!(
    /// Calling lists and activity forms share one record engine.
    ListKind {
        /// An outbound calling list.
        CallingList = "calling_list",
        /// An activity form filled in during interactions.
        Form = "form",
    }
);

/// A custom field of a list or form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Field name (a CSV column header).
    pub name: String,
    /// Stored encrypted under the tenant data key (an "encrypted" field).
    #[serde(default)]
    pub encrypted: bool,
    /// Keep a keyed blind index for equality search without decryption (encrypted fields only).
    #[serde(default)]
    pub searchable: bool,
    /// A value is required.
    #[serde(default)]
    pub required: bool,
    /// The field holds a customer's identifier (`phone` or `email`): the record links to that
    /// customer's data subject, so a data protection officer finds, reports and erases it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub identifier: Option<crate::personal::IdentifierKind>,
}

/// A calling list or form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordList {
    /// Identifier.
    pub id: ListId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: ListKind,
    /// Name, unique per tenant and kind.
    pub name: String,
    /// Fields.
    pub fields: Vec<FieldDef>,
    /// The service or campaign it belongs to: the agents assigned to it read its records.
    pub service_id: Option<ServiceId>,
    /// Records.
    pub records: u64,
    /// Created.
    pub created_at: Timestamp,
}

/// A stored record: plain fields in clear, encrypted ones sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Identifier.
    pub id: RecordId,
    /// Its list.
    pub list_id: ListId,
    /// Plain fields.
    pub plain: serde_json::Map<String, serde_json::Value>,
    /// Sealed fields, base64 of the AEAD value.
    pub sealed: serde_json::Map<String, serde_json::Value>,
    /// The data key version of the sealed fields.
    pub key_version: Option<u32>,
    /// Created.
    pub created_at: Timestamp,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    /// Identifier.
    pub id: WebhookId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// Event kinds delivered (`key.expiry_reminder`, ...); empty = all.
    pub events: Vec<String>,
    /// Created.
    pub created_at: Timestamp,
    /// The signing secret wrapped by the KEK (internal).
    #[serde(skip)]
    pub wrapped_secret: Vec<u8>,
}
