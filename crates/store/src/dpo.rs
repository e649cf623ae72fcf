//! Data protection officers' requests, the links of calling-list records to subjects, and
//! do-not-call entries kept as keyed digests after an erasure.

use callvault_model::personal::{DpoRequest, DpoRequestKind, DpoRequestState, IdentifierKind};
use callvault_model::records::Timestamp;
use callvault_model::{DncListId, DpoRequestId, ListId, RecordId, SubjectId, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_uuid};

/// A request as stored: the view plus its details (digests of the confirmed identifiers, a
/// rectification's sealed values), which are not shown.
#[derive(Debug, Clone, PartialEq)]
pub struct DpoRequestRow {
    /// The request.
    pub request: DpoRequest,
    /// Details the worker needs (JSON).
    pub details: String,
}

/// A calling-list record's field that holds a customer identifier, linked to a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordIdentifier {
    /// Record.
    pub record_id: RecordId,
    /// Its list.
    pub list_id: ListId,
    /// The field.
    pub field: String,
    /// What the field holds.
    pub kind: IdentifierKind,
    /// Keyed blind index of the normalised value (scope `subject`).
    pub blind: String,
    /// The subject.
    pub subject_id: SubjectId,
}

/// A corrected identifier: which one (kind and blind index of the old value) and its new blind
/// index and sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rectified<'a> {
    /// Kind.
    pub kind: IdentifierKind,
    /// The old value's blind index.
    pub old_blind: &'a str,
    /// The new value's blind index.
    pub new_blind: &'a str,
    /// The new value, sealed (base64).
    pub new_sealed: &'a str,
    /// The data key version it is sealed under.
    pub key_version: u32,
}

/// Requests, record links and do-not-call digests. Every method is scoped to one tenant, except
/// the worker's [`Self::pending_dpo_requests`].
pub trait DpoStore {
    /// Inserts a request; `Conflict` when the subject has an open request.
    async fn insert_dpo_request(&mut self, row: &DpoRequestRow) -> Result<()>
    where
        Self: Writable;
    /// One request.
    async fn dpo_request(&mut self, tenant: TenantId, id: DpoRequestId) -> Result<DpoRequestRow>;
    /// A tenant's requests, newest first.
    async fn dpo_requests(&mut self, tenant: TenantId) -> Result<Vec<DpoRequestRow>>;
    /// Open and running requests of every tenant, oldest first.
    async fn pending_dpo_requests(&mut self) -> Result<Vec<DpoRequestRow>>;
    /// Moves a request to `state` with its outcome; a final state frees the subject for a new
    /// request and sets `completed_at`.
    async fn set_dpo_state(
        &mut self,
        tenant: TenantId,
        id: DpoRequestId,
        state: DpoRequestState,
        outcome: &serde_json::Value,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable;
    /// Extends an open request once: its new due date and the reason.
    async fn extend_dpo_request(
        &mut self,
        tenant: TenantId,
        id: DpoRequestId,
        due: Timestamp,
        reason: &str,
    ) -> Result<()>
    where
        Self: Writable;
    /// Links a record's identifier fields to subjects.
    async fn insert_record_identifiers(&mut self, tenant: TenantId, links: &[RecordIdentifier]) -> Result<()>
    where
        Self: Writable;
    /// A subject's record links.
    async fn subject_records(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<RecordIdentifier>>;
    /// Removes a subject's identifier links (after its erasure nothing links to it).
    async fn unlink_subject(&mut self, tenant: TenantId, subject: SubjectId) -> Result<()>
    where
        Self: Writable;
    /// The tenant's internal lists that hold `number`.
    async fn internal_lists_with(&mut self, tenant: TenantId, number: u64) -> Result<Vec<DncListId>>;
    /// Replaces `number` on an internal list by its keyed digest (an erased customer's opt-out).
    async fn digest_dnc_number(&mut self, list: DncListId, number: u64, digest: &str, at: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// The digests on an internal list.
    async fn dnc_digests(&mut self, list: DncListId) -> Result<Vec<String>>;
    /// Replaces one identifier of a subject on its interactions by its corrected value (new blind
    /// index, sealed value); returns how many interactions changed.
    async fn rectify_identifier(&mut self, tenant: TenantId, subject: SubjectId, fix: &Rectified<'_>) -> Result<u64>
    where
        Self: Writable;
    /// The subject a blind index is linked to.
    async fn subject_of_blind(
        &mut self,
        tenant: TenantId,
        kind: IdentifierKind,
        blind: &str,
    ) -> Result<Option<SubjectId>>;
}

macro_rules! select_request {
    ($tail:literal) => {
        concat!(
            "SELECT id, tenant_id, subject_id, kind, state, details, outcome, requested_by, created_at, due_at, \
             extended_reason, completed_at FROM op_dpo_request ",
            $tail
        )
    };
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("op_dpo_request: {what}"))
}

fn request_row(row: &AnyRow) -> Result<DpoRequestRow> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(DpoRequestRow {
        request: DpoRequest {
            id: DpoRequestId(col_uuid(row, "id")?),
            tenant_id: TenantId(col_uuid(row, "tenant_id")?),
            subject_id: SubjectId(col_uuid(row, "subject_id")?),
            kind: DpoRequestKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            state: DpoRequestState::parse(&state).ok_or_else(|| corrupt("state"))?,
            requested_by: row.try_get("requested_by")?,
            created_at: Timestamp(row.try_get("created_at")?),
            due_at: Timestamp(row.try_get("due_at")?),
            extended_reason: row.try_get("extended_reason")?,
            completed_at: row.try_get::<Option<i64>, _>("completed_at")?.map(Timestamp),
            outcome: match outcome {
                Some(o) => serde_json::from_str(&o).map_err(|_| corrupt("outcome"))?,
                None => serde_json::json!({}),
            },
        },
        details: row.try_get("details")?,
    })
}

fn record_identifier(row: &AnyRow) -> Result<RecordIdentifier> {
    let kind: String = row.try_get("kind")?;
    Ok(RecordIdentifier {
        record_id: RecordId(col_uuid(row, "record_id")?),
        list_id: ListId(col_uuid(row, "list_id")?),
        field: row.try_get("field")?,
        kind: IdentifierKind::parse(&kind).ok_or_else(|| StoreError::Corrupt("op_record_identifier: kind".into()))?,
        blind: row.try_get("blind")?,
        subject_id: SubjectId(col_uuid(row, "subject_id")?),
    })
}

impl<C: Conn> DpoStore for C {
    async fn insert_dpo_request(&mut self, row: &DpoRequestRow) -> Result<()>
    where
        Self: Writable,
    {
        let r = &row.request;
        sqlx::query(
            "INSERT INTO op_dpo_request (id, tenant_id, subject_id, kind, state, open_subject, details, outcome, \
             requested_by, created_at, due_at, extended_reason, completed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10, NULL, NULL)",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.subject_id.to_string())
        .bind(r.kind.as_str())
        .bind(r.state.as_str())
        .bind(r.state.is_open().then(|| r.subject_id.to_string()))
        .bind(&row.details)
        .bind(&r.requested_by)
        .bind(r.created_at.millis())
        .bind(r.due_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn dpo_request(&mut self, tenant: TenantId, id: DpoRequestId) -> Result<DpoRequestRow> {
        let row = sqlx::query(select_request!("WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        request_row(&row)
    }

    async fn dpo_requests(&mut self, tenant: TenantId) -> Result<Vec<DpoRequestRow>> {
        sqlx::query(select_request!("WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"))
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(request_row)
            .collect()
    }

    async fn pending_dpo_requests(&mut self) -> Result<Vec<DpoRequestRow>> {
        sqlx::query(select_request!("WHERE state IN ('open', 'running') ORDER BY created_at, id"))
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(request_row)
            .collect()
    }

    async fn set_dpo_state(
        &mut self,
        tenant: TenantId,
        id: DpoRequestId,
        state: DpoRequestState,
        outcome: &serde_json::Value,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_dpo_request SET state = $1, outcome = $2, \
             open_subject = CASE WHEN $3 = 1 THEN open_subject ELSE NULL END, \
             completed_at = CASE WHEN $3 = 1 THEN NULL ELSE $4 END WHERE tenant_id = $5 AND id = $6",
        )
        .bind(state.as_str())
        .bind(outcome.to_string())
        .bind(i64::from(state.is_open()))
        .bind(at.millis())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn extend_dpo_request(
        &mut self,
        tenant: TenantId,
        id: DpoRequestId,
        due: Timestamp,
        reason: &str,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_dpo_request SET due_at = $1, extended_reason = $2 \
             WHERE tenant_id = $3 AND id = $4 AND extended_reason IS NULL AND state IN ('open', 'running')",
        )
        .bind(due.millis())
        .bind(reason)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn insert_record_identifiers(&mut self, tenant: TenantId, links: &[RecordIdentifier]) -> Result<()>
    where
        Self: Writable,
    {
        for l in links {
            sqlx::query(
                "INSERT INTO op_record_identifier (record_id, tenant_id, list_id, field, kind, blind, subject_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(l.record_id.to_string())
            .bind(tenant.to_string())
            .bind(l.list_id.to_string())
            .bind(&l.field)
            .bind(l.kind.as_str())
            .bind(&l.blind)
            .bind(l.subject_id.to_string())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn subject_records(&mut self, tenant: TenantId, subject: SubjectId) -> Result<Vec<RecordIdentifier>> {
        sqlx::query(
            "SELECT record_id, list_id, field, kind, blind, subject_id FROM op_record_identifier \
             WHERE tenant_id = $1 AND subject_id = $2 ORDER BY record_id, field",
        )
        .bind(tenant.to_string())
        .bind(subject.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(record_identifier)
        .collect()
    }

    async fn unlink_subject(&mut self, tenant: TenantId, subject: SubjectId) -> Result<()>
    where
        Self: Writable,
    {
        for sql in [
            "DELETE FROM op_subject_identifier WHERE tenant_id = $1 AND subject_id = $2",
            "DELETE FROM op_record_identifier WHERE tenant_id = $1 AND subject_id = $2",
        ] {
            sqlx::query(sql).bind(tenant.to_string()).bind(subject.to_string()).execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn internal_lists_with(&mut self, tenant: TenantId, number: u64) -> Result<Vec<DncListId>> {
        let number = i64::try_from(number).map_err(|_| StoreError::Corrupt("number out of range".into()))?;
        sqlx::query(
            "SELECT n.list_id FROM cfg_dnc_number n JOIN cfg_dnc_list l ON l.id = n.list_id \
             WHERE l.tenant_id = $1 AND n.number = $2 ORDER BY n.list_id",
        )
        .bind(tenant.to_string())
        .bind(number)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| col_uuid(r, "list_id").map(DncListId))
        .collect()
    }

    async fn digest_dnc_number(&mut self, list: DncListId, number: u64, digest: &str, at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let number = i64::try_from(number).map_err(|_| StoreError::Corrupt("number out of range".into()))?;
        sqlx::query(
            "INSERT INTO cfg_dnc_digest (list_id, digest, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (list_id, digest) DO NOTHING",
        )
        .bind(list.to_string())
        .bind(digest)
        .bind(at.millis())
        .execute(self.conn())
        .await?;
        sqlx::query("DELETE FROM cfg_dnc_number WHERE list_id = $1 AND number = $2")
            .bind(list.to_string())
            .bind(number)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "UPDATE cfg_dnc_list SET entries = (SELECT COUNT(*) FROM cfg_dnc_number WHERE list_id = $1) + \
             (SELECT COUNT(*) FROM cfg_dnc_digest WHERE list_id = $1) WHERE id = $1",
        )
        .bind(list.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn dnc_digests(&mut self, list: DncListId) -> Result<Vec<String>> {
        sqlx::query("SELECT digest FROM cfg_dnc_digest WHERE list_id = $1 ORDER BY digest")
            .bind(list.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| Ok(r.try_get("digest")?))
            .collect()
    }

    async fn rectify_identifier(&mut self, tenant: TenantId, subject: SubjectId, fix: &Rectified<'_>) -> Result<u64>
    where
        Self: Writable,
    {
        let Rectified { kind, old_blind, new_blind, new_sealed, key_version } = *fix;
        let changed = sqlx::query(
            "UPDATE op_interaction_identifier SET blind = $1, sealed = $2, key_version = $3 \
             WHERE tenant_id = $4 AND kind = $5 AND blind = $6 AND interaction_id IN \
             (SELECT id FROM op_interaction WHERE tenant_id = $4 AND subject_id = $7)",
        )
        .bind(new_blind)
        .bind(new_sealed)
        .bind(i64::from(key_version))
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(old_blind)
        .bind(subject.to_string())
        .execute(self.conn())
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM op_subject_identifier WHERE tenant_id = $1 AND kind = $2 AND blind = $3")
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(old_blind)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO op_subject_identifier (tenant_id, kind, blind, subject_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, kind, blind) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(new_blind)
        .bind(subject.to_string())
        .execute(self.conn())
        .await?;
        Ok(changed)
    }

    async fn subject_of_blind(
        &mut self,
        tenant: TenantId,
        kind: IdentifierKind,
        blind: &str,
    ) -> Result<Option<SubjectId>> {
        let row = sqlx::query(
            "SELECT subject_id FROM op_subject_identifier WHERE tenant_id = $1 AND kind = $2 AND blind = $3",
        )
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(blind)
        .fetch_optional(self.conn())
        .await?;
        row.map(|r| col_uuid(&r, "subject_id").map(SubjectId)).transpose()
    }
}
