//! References closed by an erasure. Content names its interaction by a reference; an erasure
//! closes the references of the interactions it erases before it lists what they hold, so that
//! nothing written under them afterwards survives it: uploads and appends hold the reference for
//! their transaction and find it closed, or finish before the erasure lists.

use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, TenantId};
use sqlx::Row;

use crate::Writable;
use crate::{Conn, Result, StoreError, col_uuid};

/// The tombstone kind of a closed reference (its id is the reference's keyed digest: a
/// reference may be anything a recorder sends, so it is not kept in clear).
pub const CLOSED_REFERENCE: &str = "reference";

/// What a writer holding a reference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Content may be written under it; the interaction that has it, if any, is held until the
    /// transaction ends.
    Open(Option<InteractionId>),
    /// An erasure closed it.
    Closed {
        /// When.
        at: Timestamp,
        /// Why (`erasure`).
        reason: String,
    },
}

/// Closing references against writers.
pub trait ClosingStore {
    /// Closes the references `digests` of the interactions `interactions` (ids): the rows are
    /// locked first (PostgreSQL `FOR UPDATE`: it waits for the writers holding them and makes
    /// later ones wait until this transaction ends; SQLite has one writer), then each digest
    /// gets a tombstone of kind [`CLOSED_REFERENCE`].
    async fn close_references(
        &mut self,
        tenant: TenantId,
        interactions: &[String],
        digests: &[String],
        at: Timestamp,
        request: Option<&str>,
    ) -> Result<()>
    where
        Self: Writable;
    /// Holds the interaction that has `reference`, if any, until the transaction ends
    /// (PostgreSQL `FOR KEY SHARE`) and tells whether the reference (`digest`) was closed.
    async fn hold_reference(&mut self, tenant: TenantId, reference: &str, digest: &str) -> Result<Held>
    where
        Self: Writable;
    /// Holds the interaction `id` until the transaction ends and tells whether one of its
    /// references (`digests`) was closed; `NotFound` when it does not exist and was not erased.
    async fn hold_interaction(&mut self, tenant: TenantId, id: InteractionId, digests: &[&str]) -> Result<Held>
    where
        Self: Writable;
}

fn postgres<C: Conn>(c: &mut C) -> bool {
    c.conn().backend_name() == "PostgreSQL"
}

async fn closed<C: Conn>(c: &mut C, tenant: TenantId, kind: &str, id: &str) -> Result<Option<Held>> {
    let row = sqlx::query("SELECT erased_at, reason FROM op_tombstone WHERE tenant_id = $1 AND kind = $2 AND id = $3")
        .bind(tenant.to_string())
        .bind(kind.to_owned())
        .bind(id.to_owned())
        .fetch_optional(c.conn())
        .await?;
    row.map(|r| Ok(Held::Closed { at: Timestamp(r.try_get("erased_at")?), reason: r.try_get("reason")? })).transpose()
}

/// The interaction whose `column` is `value`, held until the transaction ends (PostgreSQL
/// `FOR KEY SHARE`, which an erasure's `FOR UPDATE` waits for).
async fn hold_row<C: Conn>(
    c: &mut C,
    tenant: TenantId,
    column: &'static str,
    value: String,
) -> Result<Option<InteractionId>> {
    let lock = if postgres(c) { " FOR KEY SHARE" } else { "" };
    let sql = format!("SELECT id FROM op_interaction WHERE tenant_id = $1 AND {column} = $2{lock}");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(value).fetch_optional(c.conn()).await?;
    row.map(|r| col_uuid(&r, "id").map(InteractionId)).transpose()
}

impl<C: Conn> ClosingStore for C {
    async fn close_references(
        &mut self,
        tenant: TenantId,
        interactions: &[String],
        digests: &[String],
        at: Timestamp,
        request: Option<&str>,
    ) -> Result<()>
    where
        Self: Writable,
    {
        if postgres(self) {
            // One at a time in id order: erasures closing overlapping sets cannot deadlock.
            let mut ids: Vec<&String> = interactions.iter().collect();
            ids.sort();
            for id in ids {
                sqlx::query("SELECT id FROM op_interaction WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                    .bind(tenant.to_string())
                    .bind(id.as_str())
                    .fetch_optional(self.conn())
                    .await?;
            }
        }
        for digest in digests {
            sqlx::query(
                "INSERT INTO op_tombstone (tenant_id, kind, id, category, erased_at, reason, request_id) \
                 VALUES ($1, $2, $3, 'contact_records', $4, 'erasure', $5) ON CONFLICT (tenant_id, kind, id) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(CLOSED_REFERENCE)
            .bind(digest.as_str())
            .bind(at.millis())
            .bind(request)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn hold_reference(&mut self, tenant: TenantId, reference: &str, digest: &str) -> Result<Held>
    where
        Self: Writable,
    {
        let mut id = hold_row(self, tenant, "external_ref", reference.to_owned()).await?;
        // Content may name its interaction by id (stored in canonical form): that row is held
        // too, or an erasure closing it could list the interaction's content before this commits.
        if id.is_none() && uuid::Uuid::try_parse(reference).is_ok_and(|u| u.hyphenated().to_string() == reference) {
            id = hold_row(self, tenant, "id", reference.to_owned()).await?;
        }
        // Read after the lock: an erasure that closed the reference meanwhile has committed.
        if let Some(held) = closed(self, tenant, CLOSED_REFERENCE, digest).await? {
            return Ok(held);
        }
        Ok(Held::Open(id))
    }

    async fn hold_interaction(&mut self, tenant: TenantId, id: InteractionId, digests: &[&str]) -> Result<Held>
    where
        Self: Writable,
    {
        if hold_row(self, tenant, "id", id.to_string()).await?.is_none() {
            return match closed(self, tenant, "interaction", &id.to_string()).await? {
                Some(held) => Ok(held),
                None => Err(StoreError::NotFound),
            };
        }
        for digest in digests {
            if let Some(held) = closed(self, tenant, CLOSED_REFERENCE, digest).await? {
                return Ok(held);
            }
        }
        Ok(Held::Open(Some(id)))
    }
}
