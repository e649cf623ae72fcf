//! Encryption at rest: settings and data key versions, stored objects, jobs, key ceremonies,
//! calling lists and forms, webhooks, the KEK check value.

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

use crate::{Conn, Result, StoreError, affected, col_json, col_opt_uuid, col_uuid, to_json};

/// How many objects and list records depend on one data key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// Objects whose content key is wrapped under it.
    pub objects: u64,
    /// List records whose fields are sealed under it.
    pub records: u64,
}

impl KeyUsage {
    /// Objects and records together.
    pub fn total(&self) -> u64 {
        self.objects + self.records
    }
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

/// Storage of encryption at rest.
pub trait VaultStore {
    /// A tenant's encryption settings and its KEK-wrapped blind-index key.
    async fn encryption(&mut self, tenant: TenantId) -> Result<Option<(EncryptionSettings, Vec<u8>)>>;
    /// Inserts or replaces the settings; the blind-index key is kept when already present.
    async fn put_encryption(&mut self, tenant: TenantId, s: &EncryptionSettings, blind_key: &[u8]) -> Result<()>;
    /// Tenants with encryption settings.
    async fn encryption_tenants(&mut self) -> Result<Vec<TenantId>>;
    /// Data key versions of a tenant, oldest first.
    async fn data_keys(&mut self, tenant: TenantId) -> Result<Vec<DataKeyVersion>>;
    /// Adds a version as the active one; the previous active version becomes decrypt-only.
    async fn insert_data_key(&mut self, tenant: TenantId, version: u32, wrapped: &[u8], now: Timestamp) -> Result<()>;
    /// Retires a version: its wrapped key material is destroyed.
    async fn retire_data_key(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>;
    /// Records that the expiry reminder of a version went out.
    async fn mark_key_reminded(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>;
    /// Objects and records per data key version.
    async fn key_usage(&mut self, tenant: TenantId) -> Result<Vec<(u32, KeyUsage)>>;
    /// The stored KEK check value and provider name.
    async fn kek_check(&mut self) -> Result<Option<(String, Vec<u8>)>>;
    /// Stores the KEK check value.
    async fn set_kek_check(&mut self, provider: &str, value: &[u8], now: Timestamp) -> Result<()>;
    /// Records an issued KEK share by the hex SHA-256 of its text.
    async fn insert_kek_share(&mut self, digest: &str, backup: &str, threshold: u8, now: Timestamp) -> Result<()>;
    /// The backup and threshold an issued share belongs to, by the hex SHA-256 of its text.
    async fn kek_share(&mut self, digest: &str) -> Result<Option<(String, u8)>>;
    /// Whether any issued share was recorded (installations from before the records have none).
    async fn kek_shares_recorded(&mut self) -> Result<bool>;

    /// Inserts an object's metadata.
    async fn insert_object(&mut self, o: &StoredObject) -> Result<()>;
    /// One object.
    async fn object(&mut self, tenant: TenantId, id: ObjectId) -> Result<StoredObject>;
    /// A page of objects in id order.
    async fn objects(&mut self, tenant: TenantId, q: &ObjectQuery) -> Result<Vec<StoredObject>>;
    /// Deletes an object's row.
    async fn delete_object(&mut self, tenant: TenantId, id: ObjectId) -> Result<()>;
    /// Switches an object to a new blob (compare-and-swap on the old blob name).
    async fn swap_object_blob(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_blob: &str,
        new: NewBlob<'_>,
    ) -> Result<()>;
    /// Replaces an object's wrapped content key (compare-and-swap on the old version).
    async fn rewrap_object(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_version: u32,
        new_version: u32,
        wrapped_key: &[u8],
    ) -> Result<()>;
    /// Re-wraps many objects in few statements: each `(id, wrapped key)` moves to `new_version`
    /// when it is still on an older one (a compare-and-swap per row). Returns the rows changed.
    async fn rewrap_objects(
        &mut self,
        tenant: TenantId,
        new_version: u32,
        items: &[(ObjectId, Vec<u8>)],
    ) -> Result<u64>;
    /// The next objects a job must process, after `cursor`, in id order.
    async fn job_objects(
        &mut self,
        tenant: TenantId,
        kind: JobKind,
        target: Option<u32>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredObject>>;
    /// Objects and bytes a job will process.
    async fn job_totals(&mut self, tenant: TenantId, kind: JobKind, target: Option<u32>) -> Result<(u64, u64)>;
    /// Every blob name of the tenant (for the orphan sweep).
    async fn blob_names(&mut self, tenant: TenantId) -> Result<Vec<String>>;

    /// Inserts a job.
    async fn insert_job(&mut self, job: &Job) -> Result<()>;
    /// One job.
    async fn job(&mut self, tenant: TenantId, id: JobId) -> Result<Job>;
    /// A tenant's jobs, newest first.
    async fn jobs(&mut self, tenant: TenantId) -> Result<Vec<Job>>;
    /// Jobs in state `running`, oldest first, across tenants.
    async fn running_jobs(&mut self) -> Result<Vec<Job>>;
    /// Stores progress.
    async fn job_progress(&mut self, job: &Job) -> Result<()>;
    /// Changes a job's state.
    async fn set_job_state(
        &mut self,
        tenant: TenantId,
        id: JobId,
        from: &[JobState],
        to: JobState,
        now: Timestamp,
    ) -> Result<()>;

    /// Inserts a ceremony.
    async fn insert_ceremony(&mut self, c: &Ceremony) -> Result<()>;
    /// One ceremony.
    async fn ceremony(&mut self, id: CeremonyId) -> Result<Ceremony>;
    /// Ceremonies of a tenant (or of the provider when `None`), newest first.
    async fn ceremonies(&mut self, tenant: Option<TenantId>) -> Result<Vec<Ceremony>>;
    /// Moves a proposed ceremony to its outcome (fails when it is no longer proposed).
    async fn decide_ceremony(
        &mut self,
        id: CeremonyId,
        state: CeremonyState,
        approver: Option<PrincipalId>,
        now: Timestamp,
        result: &serde_json::Value,
    ) -> Result<()>;
    /// Stores a KEK-wrapped share for a custodian.
    async fn insert_share(&mut self, id: CeremonyId, custodian: PrincipalId, wrapped: &[u8]) -> Result<()>;
    /// Takes a custodian's share once (it is erased from the database).
    async fn take_share(&mut self, id: CeremonyId, custodian: PrincipalId, now: Timestamp) -> Result<Option<Vec<u8>>>;
    /// Custodians of a ceremony's shares and when each picked theirs up.
    async fn share_status(&mut self, id: CeremonyId) -> Result<Vec<(PrincipalId, Option<Timestamp>)>>;

    /// Inserts a list or form.
    async fn insert_list(&mut self, l: &RecordList) -> Result<()>;
    /// Lists or forms of a tenant.
    async fn lists(&mut self, tenant: TenantId, kind: ListKind) -> Result<Vec<RecordList>>;
    /// One list or form.
    async fn list(&mut self, tenant: TenantId, id: ListId) -> Result<RecordList>;
    /// Inserts a record with its blind-index entries.
    async fn insert_record(&mut self, tenant: TenantId, r: &StoredRecord, blind: &[(String, String)]) -> Result<()>;
    /// A page of records after `after`.
    async fn records(
        &mut self,
        tenant: TenantId,
        list: ListId,
        after: Option<RecordId>,
        limit: i64,
    ) -> Result<Vec<StoredRecord>>;
    /// One record.
    async fn record(&mut self, tenant: TenantId, list: ListId, id: RecordId) -> Result<StoredRecord>;
    /// Records whose blind index of `field` equals `digest`.
    async fn records_by_blind(
        &mut self,
        tenant: TenantId,
        list: ListId,
        field: &str,
        digest: &str,
    ) -> Result<Vec<StoredRecord>>;
    /// Records sealed under a version below `target`, after `cursor`.
    async fn records_to_rewrap(&mut self, tenant: TenantId, target: u32, limit: i64) -> Result<Vec<StoredRecord>>;
    /// Replaces a record's sealed fields (compare-and-swap on the version).
    async fn reseal_record(
        &mut self,
        tenant: TenantId,
        id: RecordId,
        old_version: u32,
        new_version: u32,
        sealed: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()>;

    /// Inserts a webhook.
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()>;
    /// A tenant's webhooks.
    async fn webhooks(&mut self, tenant: TenantId) -> Result<Vec<Webhook>>;
    /// Deletes a webhook.
    async fn delete_webhook(&mut self, tenant: TenantId, id: WebhookId) -> Result<()>;
}

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

const OBJECT_COLS: &str = "id, tenant_id, class, interaction, service_id, agents, contact_ref, recorded_at, consent, \
     content_type, size, sha256, blob, header, key_version, wrapped_key, created_at";

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
        consent: row.try_get::<i64, _>("consent")? != 0,
        content_type: row.try_get("content_type")?,
        size: u64_col(row, "size")?,
        sha256: row.try_get("sha256")?,
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

impl<C: Conn> VaultStore for C {
    async fn encryption(&mut self, tenant: TenantId) -> Result<Option<(EncryptionSettings, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT encrypt_new, cryptoperiod_days, reminder_days, auto_rotate_days, blind_key, updated_at \
             FROM cfg_encryption WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.conn())
        .await?;
        row.map(|row| {
            Ok((
                EncryptionSettings {
                    encrypt_new: row.try_get::<i64, _>("encrypt_new")? != 0,
                    cryptoperiod_days: u32_col(&row, "cryptoperiod_days")?,
                    reminder_days: u32_col(&row, "reminder_days")?,
                    auto_rotate_days: opt_u32_col(&row, "auto_rotate_days")?,
                    updated_at: Timestamp(row.try_get("updated_at")?),
                },
                row.try_get("blind_key")?,
            ))
        })
        .transpose()
    }

    async fn put_encryption(&mut self, tenant: TenantId, s: &EncryptionSettings, blind_key: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_encryption (tenant_id, encrypt_new, cryptoperiod_days, reminder_days, auto_rotate_days, \
             blind_key, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id) DO UPDATE SET encrypt_new = $2, cryptoperiod_days = $3, reminder_days = $4, \
             auto_rotate_days = $5, updated_at = $7",
        )
        .bind(tenant.to_string())
        .bind(i64::from(s.encrypt_new))
        .bind(i64::from(s.cryptoperiod_days))
        .bind(i64::from(s.reminder_days))
        .bind(s.auto_rotate_days.map(i64::from))
        .bind(blind_key.to_vec())
        .bind(s.updated_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn encryption_tenants(&mut self) -> Result<Vec<TenantId>> {
        let rows =
            sqlx::query("SELECT tenant_id FROM cfg_encryption ORDER BY tenant_id").fetch_all(self.conn()).await?;
        rows.iter().map(|r| Ok(TenantId(col_uuid(r, "tenant_id")?))).collect()
    }

    async fn data_keys(&mut self, tenant: TenantId) -> Result<Vec<DataKeyVersion>> {
        let rows = sqlx::query(
            "SELECT version, wrapped, state, created_at, reminded_at, retired_at FROM cfg_data_key \
             WHERE tenant_id = $1 ORDER BY version",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DataKeyVersion {
                    version: u32_col(row, "version")?,
                    state: enum_col(row, "state", KeyState::parse)?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    retired_at: opt_ts(row, "retired_at")?,
                    reminded_at: opt_ts(row, "reminded_at")?,
                    wrapped: row.try_get::<Option<Vec<u8>>, _>("wrapped")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn insert_data_key(&mut self, tenant: TenantId, version: u32, wrapped: &[u8], now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE cfg_data_key SET state = 'decrypt_only' WHERE tenant_id = $1 AND state = 'active'")
            .bind(tenant.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO cfg_data_key (tenant_id, version, wrapped, state, created_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(tenant.to_string())
        .bind(i64::from(version))
        .bind(wrapped.to_vec())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn retire_data_key(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()> {
        let r = sqlx::query(
            "UPDATE cfg_data_key SET state = 'retired', wrapped = NULL, retired_at = $3 \
             WHERE tenant_id = $1 AND version = $2 AND state = 'decrypt_only'",
        )
        .bind(tenant.to_string())
        .bind(i64::from(version))
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn mark_key_reminded(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()> {
        let r = sqlx::query("UPDATE cfg_data_key SET reminded_at = $3 WHERE tenant_id = $1 AND version = $2")
            .bind(tenant.to_string())
            .bind(i64::from(version))
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn key_usage(&mut self, tenant: TenantId) -> Result<Vec<(u32, KeyUsage)>> {
        let mut out: std::collections::BTreeMap<u32, KeyUsage> = std::collections::BTreeMap::new();
        for (sql, is_objects) in [
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM op_object WHERE tenant_id = $1 AND key_version IS NOT NULL \
                 GROUP BY key_version",
                true,
            ),
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM out_record WHERE tenant_id = $1 AND key_version IS NOT NULL \
                 GROUP BY key_version",
                false,
            ),
        ] {
            for row in sqlx::query(sql).bind(tenant.to_string()).fetch_all(self.conn()).await? {
                let entry = out.entry(u32_col(&row, "v")?).or_default();
                let n = u64_col(&row, "n")?;
                if is_objects {
                    entry.objects = n;
                } else {
                    entry.records = n;
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn kek_check(&mut self) -> Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query("SELECT provider, check_value FROM cfg_kek_check WHERE id = 1")
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| Ok((r.try_get("provider")?, r.try_get("check_value")?))).transpose()
    }

    async fn set_kek_check(&mut self, provider: &str, value: &[u8], now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_kek_check (id, provider, check_value, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET provider = $1, check_value = $2, created_at = $3",
        )
        .bind(provider.to_owned())
        .bind(value.to_vec())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn insert_kek_share(&mut self, digest: &str, backup: &str, threshold: u8, now: Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO cfg_kek_share (digest, backup, threshold, issued_at) VALUES ($1, $2, $3, $4)")
            .bind(digest.to_owned())
            .bind(backup.to_owned())
            .bind(i64::from(threshold))
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn kek_share(&mut self, digest: &str) -> Result<Option<(String, u8)>> {
        let row = sqlx::query("SELECT backup, threshold FROM cfg_kek_share WHERE digest = $1")
            .bind(digest.to_owned())
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| {
            let threshold: i64 = r.try_get("threshold")?;
            Ok((r.try_get("backup")?, u8::try_from(threshold).unwrap_or(u8::MAX)))
        })
        .transpose()
    }

    async fn kek_shares_recorded(&mut self) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM cfg_kek_share LIMIT 1").fetch_optional(self.conn()).await?.is_some())
    }

    async fn insert_object(&mut self, o: &StoredObject) -> Result<()> {
        let agents: Vec<String> = o.agents.iter().map(|a| a.to_string()).collect();
        sqlx::query(
            "INSERT INTO op_object (id, tenant_id, class, interaction, service_id, agents, contact_ref, recorded_at, \
             consent, content_type, size, sha256, blob, header, key_version, wrapped_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(o.id.to_string())
        .bind(o.tenant_id.to_string())
        .bind(o.class.as_str())
        .bind(o.interaction.clone())
        .bind(o.service_id.map(|s| s.to_string()))
        .bind(to_json(&agents)?)
        .bind(o.contact_ref.clone())
        .bind(o.recorded_at.millis())
        .bind(i64::from(o.consent))
        .bind(o.content_type.clone())
        .bind(i64_of(o.size))
        .bind(o.sha256.clone())
        .bind(o.blob.clone())
        .bind(o.header.clone())
        .bind(o.key_version.map(i64::from))
        .bind(o.wrapped_key.clone())
        .bind(o.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn object(&mut self, tenant: TenantId, id: ObjectId) -> Result<StoredObject> {
        let sql = format!("SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        object_row(&row)
    }

    async fn objects(&mut self, tenant: TenantId, q: &ObjectQuery) -> Result<Vec<StoredObject>> {
        let sql = format!(
            "SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND ($2 = '' OR class = $2) \
             AND ($3 = '' OR interaction = $3) AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(q.class.map_or("", |c| c.as_str()))
            .bind(q.interaction.clone().unwrap_or_default())
            .bind(q.after.map_or(String::new(), |a| a.to_string()))
            .bind(q.limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(object_row).collect()
    }

    async fn delete_object(&mut self, tenant: TenantId, id: ObjectId) -> Result<()> {
        let r = sqlx::query("DELETE FROM op_object WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn swap_object_blob(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_blob: &str,
        new: NewBlob<'_>,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE op_object SET blob = $4, key_version = $5, wrapped_key = $6, header = $7 \
             WHERE tenant_id = $1 AND id = $2 AND blob = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(old_blob.to_owned())
        .bind(new.name.to_owned())
        .bind(new.key_version.map(i64::from))
        .bind(new.wrapped_key.map(<[u8]>::to_vec))
        .bind(new.header.to_vec())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn rewrap_object(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_version: u32,
        new_version: u32,
        wrapped_key: &[u8],
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE op_object SET key_version = $4, wrapped_key = $5 \
             WHERE tenant_id = $1 AND id = $2 AND key_version = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(i64::from(old_version))
        .bind(i64::from(new_version))
        .bind(wrapped_key.to_vec())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn rewrap_objects(
        &mut self,
        tenant: TenantId,
        new_version: u32,
        items: &[(ObjectId, Vec<u8>)],
    ) -> Result<u64> {
        let mut changed = 0;
        for chunk in items.chunks(200) {
            let mut sql = String::from("UPDATE op_object SET key_version = $2, wrapped_key = CASE id");
            let mut ids = Vec::with_capacity(chunk.len());
            for i in 0..chunk.len() {
                sql.push_str(&format!(" WHEN ${} THEN ${}", 3 + 2 * i, 4 + 2 * i));
                ids.push(format!("${}", 3 + 2 * i));
            }
            sql.push_str(" END WHERE tenant_id = $1 AND key_version < $2 AND id IN (");
            sql.push_str(&ids.join(", "));
            sql.push(')');
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(i64::from(new_version));
            for (id, wrapped) in chunk {
                q = q.bind(id.to_string()).bind(wrapped.clone());
            }
            changed += q.execute(self.conn()).await?.rows_affected();
        }
        Ok(changed)
    }

    async fn job_objects(
        &mut self,
        tenant: TenantId,
        kind: JobKind,
        target: Option<u32>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredObject>> {
        let sql = format!(
            "SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND {} AND id > $3 ORDER BY id LIMIT $4",
            job_predicate(kind)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target.unwrap_or(0)))
            .bind(cursor.unwrap_or("").to_owned())
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(object_row).collect()
    }

    async fn job_totals(&mut self, tenant: TenantId, kind: JobKind, target: Option<u32>) -> Result<(u64, u64)> {
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS b FROM op_object WHERE tenant_id = $1 AND {}",
            job_predicate(kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target.unwrap_or(0)))
            .fetch_one(self.conn())
            .await?;
        // SUM is NUMERIC on PostgreSQL: the CAST keeps both backends on BIGINT.
        Ok((u64_col(&row, "n")?, u64_col(&row, "b")?))
    }

    async fn blob_names(&mut self, tenant: TenantId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT blob FROM op_object WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("blob")?)).collect()
    }

    async fn insert_job(&mut self, j: &Job) -> Result<()> {
        sqlx::query(
            "INSERT INTO op_job (id, tenant_id, kind, state, target_version, objects_total, objects_done, bytes_total, \
             bytes_done, failures, last_error, cursor, created_by, created_at, updated_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(j.id.to_string())
        .bind(j.tenant_id.to_string())
        .bind(j.kind.as_str())
        .bind(j.state.as_str())
        .bind(j.target_version.map(i64::from))
        .bind(i64_of(j.objects_total))
        .bind(i64_of(j.objects_done))
        .bind(i64_of(j.bytes_total))
        .bind(i64_of(j.bytes_done))
        .bind(i64_of(j.failures))
        .bind(j.last_error.clone())
        .bind(j.cursor.clone())
        .bind(j.created_by.to_string())
        .bind(j.created_at.millis())
        .bind(j.updated_at.millis())
        .bind(j.finished_at.map(|t| t.millis()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn job(&mut self, tenant: TenantId, id: JobId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLS} FROM op_job WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        job_row(&row)
    }

    async fn jobs(&mut self, tenant: TenantId) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLS} FROM op_job WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).fetch_all(self.conn()).await?;
        rows.iter().map(job_row).collect()
    }

    async fn running_jobs(&mut self) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLS} FROM op_job WHERE state = 'running' ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.conn()).await?;
        rows.iter().map(job_row).collect()
    }

    async fn job_progress(&mut self, j: &Job) -> Result<()> {
        let r = sqlx::query(
            "UPDATE op_job SET objects_done = $3, bytes_done = $4, failures = $5, last_error = $6, cursor = $7, \
             updated_at = $8, objects_total = $9, bytes_total = $10 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(j.tenant_id.to_string())
        .bind(j.id.to_string())
        .bind(i64_of(j.objects_done))
        .bind(i64_of(j.bytes_done))
        .bind(i64_of(j.failures))
        .bind(j.last_error.clone())
        .bind(j.cursor.clone())
        .bind(j.updated_at.millis())
        .bind(i64_of(j.objects_total))
        .bind(i64_of(j.bytes_total))
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn set_job_state(
        &mut self,
        tenant: TenantId,
        id: JobId,
        from: &[JobState],
        to: JobState,
        now: Timestamp,
    ) -> Result<()> {
        let job = self.job(tenant, id).await?;
        if !from.contains(&job.state) {
            return Err(StoreError::Conflict(crate::ConflictKind::Duplicate));
        }
        let finished = matches!(to, JobState::Done | JobState::Failed).then_some(now.millis());
        let r = sqlx::query(
            "UPDATE op_job SET state = $4, updated_at = $5, finished_at = COALESCE($6, finished_at) \
             WHERE tenant_id = $1 AND id = $2 AND state = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(job.state.as_str())
        .bind(to.as_str())
        .bind(now.millis())
        .bind(finished)
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn insert_ceremony(&mut self, c: &Ceremony) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_ceremony (id, tenant_id, kind, params, state, proposer, approver, created_at, expires_at, \
             decided_at, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(c.id.to_string())
        .bind(c.tenant_id.map(|t| t.to_string()))
        .bind(c.kind.as_str())
        .bind(to_json(&c.params)?)
        .bind(c.state.as_str())
        .bind(c.proposer.to_string())
        .bind(c.approver.map(|a| a.to_string()))
        .bind(c.created_at.millis())
        .bind(c.expires_at.millis())
        .bind(c.decided_at.map(|t| t.millis()))
        .bind(to_json(&c.result)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn ceremony(&mut self, id: CeremonyId) -> Result<Ceremony> {
        let sql = format!("SELECT {CEREMONY_COLS} FROM cfg_ceremony WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_one(self.conn()).await?;
        ceremony_row(&row)
    }

    async fn ceremonies(&mut self, tenant: Option<TenantId>) -> Result<Vec<Ceremony>> {
        let sql = format!(
            "SELECT {CEREMONY_COLS} FROM cfg_ceremony WHERE COALESCE(tenant_id, '') = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 500"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map_or(String::new(), |t| t.to_string()))
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(ceremony_row).collect()
    }

    async fn decide_ceremony(
        &mut self,
        id: CeremonyId,
        state: CeremonyState,
        approver: Option<PrincipalId>,
        now: Timestamp,
        result: &serde_json::Value,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE cfg_ceremony SET state = $2, approver = $3, decided_at = $4, result = $5 \
             WHERE id = $1 AND state = 'proposed'",
        )
        .bind(id.to_string())
        .bind(state.as_str())
        .bind(approver.map(|a| a.to_string()))
        .bind(now.millis())
        .bind(to_json(result)?)
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn insert_share(&mut self, id: CeremonyId, custodian: PrincipalId, wrapped: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO cfg_ceremony_share (ceremony_id, custodian, share) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(custodian.to_string())
            .bind(wrapped.to_vec())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn take_share(&mut self, id: CeremonyId, custodian: PrincipalId, now: Timestamp) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT share FROM cfg_ceremony_share WHERE ceremony_id = $1 AND custodian = $2 AND share IS NOT NULL",
        )
        .bind(id.to_string())
        .bind(custodian.to_string())
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query(
            "UPDATE cfg_ceremony_share SET share = NULL, picked_at = $3 WHERE ceremony_id = $1 AND custodian = $2",
        )
        .bind(id.to_string())
        .bind(custodian.to_string())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(Some(row.try_get("share")?))
    }

    async fn share_status(&mut self, id: CeremonyId) -> Result<Vec<(PrincipalId, Option<Timestamp>)>> {
        let rows = sqlx::query(
            "SELECT custodian, picked_at FROM cfg_ceremony_share WHERE ceremony_id = $1 ORDER BY custodian",
        )
        .bind(id.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|r| Ok((principal_col(r, "custodian")?, opt_ts(r, "picked_at")?))).collect()
    }

    async fn insert_list(&mut self, l: &RecordList) -> Result<()> {
        sqlx::query(
            "INSERT INTO out_list (id, tenant_id, kind, name, fields, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(l.id.to_string())
        .bind(l.tenant_id.to_string())
        .bind(l.kind.as_str())
        .bind(l.name.clone())
        .bind(to_json(&l.fields)?)
        .bind(l.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lists(&mut self, tenant: TenantId, kind: ListKind) -> Result<Vec<RecordList>> {
        let rows = sqlx::query(
            "SELECT l.id, l.tenant_id, l.kind, l.name, l.fields, l.created_at, \
             (SELECT COUNT(*) FROM out_record r WHERE r.list_id = l.id) AS records \
             FROM out_list l WHERE l.tenant_id = $1 AND l.kind = $2 ORDER BY l.name",
        )
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(list_row).collect()
    }

    async fn list(&mut self, tenant: TenantId, id: ListId) -> Result<RecordList> {
        let row = sqlx::query(
            "SELECT l.id, l.tenant_id, l.kind, l.name, l.fields, l.created_at, \
             (SELECT COUNT(*) FROM out_record r WHERE r.list_id = l.id) AS records \
             FROM out_list l WHERE l.tenant_id = $1 AND l.id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        list_row(&row)
    }

    async fn insert_record(&mut self, tenant: TenantId, r: &StoredRecord, blind: &[(String, String)]) -> Result<()> {
        sqlx::query(
            "INSERT INTO out_record (id, tenant_id, list_id, plain, sealed, key_version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id.to_string())
        .bind(tenant.to_string())
        .bind(r.list_id.to_string())
        .bind(to_json(&r.plain)?)
        .bind(to_json(&r.sealed)?)
        .bind(r.key_version.map(i64::from))
        .bind(r.created_at.millis())
        .execute(self.conn())
        .await?;
        for (field, digest) in blind {
            sqlx::query("INSERT INTO out_blind_index (list_id, field, digest, record_id) VALUES ($1, $2, $3, $4)")
                .bind(r.list_id.to_string())
                .bind(field.clone())
                .bind(digest.clone())
                .bind(r.id.to_string())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn records(
        &mut self,
        tenant: TenantId,
        list: ListId,
        after: Option<RecordId>,
        limit: i64,
    ) -> Result<Vec<StoredRecord>> {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM out_record WHERE tenant_id = $1 AND list_id = $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(list.to_string())
            .bind(after.map_or(String::new(), |a| a.to_string()))
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(record_row).collect()
    }

    async fn record(&mut self, tenant: TenantId, list: ListId, id: RecordId) -> Result<StoredRecord> {
        let sql = format!("SELECT {RECORD_COLS} FROM out_record WHERE tenant_id = $1 AND list_id = $2 AND id = $3");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(list.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        record_row(&row)
    }

    async fn records_by_blind(
        &mut self,
        tenant: TenantId,
        list: ListId,
        field: &str,
        digest: &str,
    ) -> Result<Vec<StoredRecord>> {
        let sql = "SELECT r.id, r.list_id, r.plain, r.sealed, r.key_version, r.created_at FROM out_blind_index b \
                   JOIN out_record r ON r.id = b.record_id \
                   WHERE r.tenant_id = $1 AND b.list_id = $2 AND b.field = $3 AND b.digest = $4 ORDER BY r.id LIMIT 1000";
        let rows = sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(list.to_string())
            .bind(field.to_owned())
            .bind(digest.to_owned())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(record_row).collect()
    }

    async fn records_to_rewrap(&mut self, tenant: TenantId, target: u32, limit: i64) -> Result<Vec<StoredRecord>> {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM out_record WHERE tenant_id = $1 AND key_version IS NOT NULL AND key_version < $2 \
             ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target))
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(record_row).collect()
    }

    async fn reseal_record(
        &mut self,
        tenant: TenantId,
        id: RecordId,
        old_version: u32,
        new_version: u32,
        sealed: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE out_record SET sealed = $4, key_version = $5 WHERE tenant_id = $1 AND id = $2 AND key_version = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(i64::from(old_version))
        .bind(to_json(sealed)?)
        .bind(i64::from(new_version))
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()> {
        sqlx::query(
            "INSERT INTO cfg_webhook (id, tenant_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(w.id.to_string())
        .bind(w.tenant_id.to_string())
        .bind(w.url.clone())
        .bind(to_json(&w.events)?)
        .bind(w.wrapped_secret.clone())
        .bind(w.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn webhooks(&mut self, tenant: TenantId) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, url, events, secret, created_at FROM cfg_webhook WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Webhook {
                    id: WebhookId(col_uuid(r, "id")?),
                    tenant_id: TenantId(col_uuid(r, "tenant_id")?),
                    url: r.try_get("url")?,
                    events: col_json(r, "events")?,
                    created_at: Timestamp(r.try_get("created_at")?),
                    wrapped_secret: r.try_get("secret")?,
                })
            })
            .collect()
    }

    async fn delete_webhook(&mut self, tenant: TenantId, id: WebhookId) -> Result<()> {
        let r = sqlx::query("DELETE FROM cfg_webhook WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}
