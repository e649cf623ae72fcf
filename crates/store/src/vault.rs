//! Encryption at rest: settings and data key versions, stored objects, jobs, key ceremonies,
//! calling lists and forms, webhooks, the KEK check value.

use callvault_model::personal::Consent;
use callvault_model::recording::RecordingKind;
use callvault_model::records::Timestamp;
use callvault_model::vault::{
    Ceremony, CeremonyKind, CeremonyState, ContentClass, DataKeyVersion, EncryptionSettings, FieldDef, Job, JobKind,
    JobState, KeyState, ListKind, RecordList, StoredObject, StoredRecord, Webhook,
};
use callvault_model::{
    CeremonyId, JobId, ListId, ObjectId, PrincipalId, RecordId, ServiceId, TenantId, UserId, WebhookId,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_json, col_opt_uuid, col_uuid, to_json};

mod ceremonies;
mod jobs;
mod keys;
mod lists;
mod objects;
mod webhooks;

pub use ceremonies::CeremonyStore;
pub use jobs::JobStore;
pub use keys::KeyStore;
pub use lists::ListStore;
pub use objects::ObjectStore;
pub use webhooks::WebhookStore;

/// How many objects, list records and subject identifiers depend on one data key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// Objects whose content key is wrapped under it.
    pub objects: u64,
    /// List records whose fields are sealed under it.
    pub records: u64,
    /// Subject identifiers (of interactions and of the exclusion list) sealed under it.
    pub identifiers: u64,
}

impl KeyUsage {
    /// Everything that depends on the version.
    pub fn total(&self) -> u64 {
        self.objects + self.records + self.identifiers
    }
}

/// What a rewrap needs of an object: its identity (the wrap's context), the version and wrapped
/// content key, and the blob header the wrap binds.
#[derive(Debug, Clone)]
pub struct RewrapRow {
    /// The object.
    pub id: ObjectId,
    /// Its class (part of the wrap's context).
    pub class: ContentClass,
    /// The data key version its content key is wrapped under.
    pub key_version: u32,
    /// The wrapped content key.
    pub wrapped_key: Option<Vec<u8>>,
    /// The blob header bound into the wrap.
    pub header: Vec<u8>,
}

/// The blob an object switches to.
#[derive(Debug, Clone, Copy)]
pub struct NewBlob<'a> {
    /// File name.
    pub name: &'a str,
    /// Its header bytes.
    pub header: &'a [u8],
    /// The data key version of its content key (none: plain).
    pub key_version: Option<u32>,
    /// The wrapped content key.
    pub wrapped_key: Option<&'a [u8]>,
}

/// A page of objects.
#[derive(Debug, Clone, Default)]
pub struct ObjectQuery {
    /// Only this class.
    pub class: Option<ContentClass>,
    /// Only this interaction.
    pub interaction: Option<String>,
    /// Ids after this one (ascending id order).
    pub after: Option<ObjectId>,
    /// Page size.
    pub limit: i64,
}

/// Storage of encryption at rest: every trait of this module, for a bound that needs several.
pub trait VaultStore: KeyStore + ObjectStore + JobStore + CeremonyStore + ListStore + WebhookStore {}

impl<C: KeyStore + ObjectStore + JobStore + CeremonyStore + ListStore + WebhookStore> VaultStore for C {}

fn u32_col(row: &AnyRow, col: &str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col} out of range")))
}

fn opt_u32_col(row: &AnyRow, col: &str) -> Result<Option<u32>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col} out of range")))).transpose()
}

fn u64_col(row: &AnyRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col} out of range")))
}

fn opt_ts(row: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(Timestamp))
}

fn principal_col(row: &AnyRow, col: &str) -> Result<PrincipalId> {
    let s: String = row.try_get(col)?;
    parse_principal(&s).ok_or_else(|| StoreError::Corrupt(format!("column {col} is not a principal")))
}

fn opt_principal_col(row: &AnyRow, col: &str) -> Result<Option<PrincipalId>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| parse_principal(&s).ok_or_else(|| StoreError::Corrupt(format!("column {col} is not a principal"))))
        .transpose()
}

fn parse_principal(s: &str) -> Option<PrincipalId> {
    let (kind, id) = s.split_once(':')?;
    PrincipalId::from_parts(kind, uuid::Uuid::parse_str(id).ok()?)
}

fn enum_col<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let s: String = row.try_get(col)?;
    parse(&s).ok_or_else(|| StoreError::Corrupt(format!("column {col} has an unknown value")))
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const OBJECT_COLS: &str = "id, tenant_id, class, interaction, service_id, agents, contact_ref, recorded_at, \
     consent_outcome, recording_kind, paused_spans, content_type, size, sha256, redactions, blob, header, key_version, wrapped_key, created_at";

fn object_row(row: &AnyRow) -> Result<StoredObject> {
    let agents: Vec<String> = col_json(row, "agents")?;
    let agents = agents
        .iter()
        .map(|a| a.parse::<UserId>().map_err(|_| StoreError::Corrupt("agents".into())))
        .collect::<Result<Vec<_>>>()?;
    Ok(StoredObject {
        id: ObjectId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        class: enum_col(row, "class", ContentClass::parse)?,
        interaction: row.try_get("interaction")?,
        service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
        agents,
        contact_ref: row.try_get("contact_ref")?,
        recorded_at: Timestamp(row.try_get("recorded_at")?),
        consent: enum_col(row, "consent_outcome", Consent::parse)?,
        recording: enum_col(row, "recording_kind", RecordingKind::parse)?,
        paused: col_json(row, "paused_spans")?,
        content_type: row.try_get("content_type")?,
        size: u64_col(row, "size")?,
        sha256: row.try_get("sha256")?,
        redactions: u32::try_from(row.try_get::<i64, _>("redactions")?)
            .map_err(|_| StoreError::Corrupt("op_object: redactions".into()))?,
        blob: row.try_get("blob")?,
        header: row.try_get("header")?,
        key_version: opt_u32_col(row, "key_version")?,
        wrapped_key: row.try_get("wrapped_key")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

const JOB_COLS: &str = "id, tenant_id, kind, state, target_version, objects_total, objects_done, bytes_total, \
     bytes_done, failures, last_error, cursor, created_by, created_at, updated_at, finished_at";

fn job_row(row: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: JobId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        kind: enum_col(row, "kind", JobKind::parse)?,
        state: enum_col(row, "state", JobState::parse)?,
        target_version: opt_u32_col(row, "target_version")?,
        objects_total: u64_col(row, "objects_total")?,
        objects_done: u64_col(row, "objects_done")?,
        bytes_total: u64_col(row, "bytes_total")?,
        bytes_done: u64_col(row, "bytes_done")?,
        failures: u64_col(row, "failures")?,
        last_error: row.try_get("last_error")?,
        cursor: row.try_get("cursor")?,
        created_by: principal_col(row, "created_by")?,
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
        finished_at: opt_ts(row, "finished_at")?,
    })
}

const CEREMONY_COLS: &str =
    "id, tenant_id, kind, params, state, proposer, approver, created_at, expires_at, decided_at, result";

fn ceremony_row(row: &AnyRow) -> Result<Ceremony> {
    Ok(Ceremony {
        id: CeremonyId(col_uuid(row, "id")?),
        tenant_id: col_opt_uuid(row, "tenant_id")?.map(TenantId),
        kind: enum_col(row, "kind", CeremonyKind::parse)?,
        params: col_json(row, "params")?,
        state: enum_col(row, "state", CeremonyState::parse)?,
        proposer: principal_col(row, "proposer")?,
        approver: opt_principal_col(row, "approver")?,
        created_at: Timestamp(row.try_get("created_at")?),
        expires_at: Timestamp(row.try_get("expires_at")?),
        decided_at: opt_ts(row, "decided_at")?,
        result: col_json(row, "result")?,
    })
}

const RECORD_COLS: &str = "id, list_id, plain, sealed, key_version, created_at";

fn record_row(row: &AnyRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        id: RecordId(col_uuid(row, "id")?),
        list_id: ListId(col_uuid(row, "list_id")?),
        plain: col_json(row, "plain")?,
        sealed: col_json(row, "sealed")?,
        key_version: opt_u32_col(row, "key_version")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn list_row(row: &AnyRow) -> Result<RecordList> {
    let fields: Vec<FieldDef> = col_json(row, "fields")?;
    Ok(RecordList {
        id: ListId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        kind: enum_col(row, "kind", ListKind::parse)?,
        name: row.try_get("name")?,
        fields,
        service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
        records: u64_col(row, "records")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

/// The selection predicate of each job kind; every kind is idempotent on its predicate, so a
/// restarted job simply continues with what still matches.
fn job_predicate(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Rewrap | JobKind::Reencrypt => "key_version IS NOT NULL AND key_version < $2",
        JobKind::DecryptAll => "key_version IS NOT NULL AND $2 = $2",
        JobKind::EncryptAll => "key_version IS NULL AND $2 = $2",
    }
}
