//! Retention policies.

use callvault_model::personal::{Category, HoldScope, LegalHold, PurgeRun, RetentionPolicy};
use callvault_model::records::Timestamp;
use callvault_model::{LegalHoldId, PurgeRunId, RetentionPolicyId, ServiceId, TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_opt_uuid, col_uuid};

/// The kind of row an erasure deletes, and so the table it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErasedKind {
    /// A content object (its row holds the wrapped content key).
    Object,
    /// A calling-list record (its blind-index entries and subject links go by the foreign keys'
    /// cascade).
    Record,
    /// An interaction with its agents and identifiers (by the cascade; the subject links of
    /// identifiers seen nowhere else stay until the subject is erased).
    Interaction,
}

impl ErasedKind {
    /// The name tombstones and audit entries use.
    pub fn as_str(self) -> &'static str {
        match self {
            ErasedKind::Object => "object",
            ErasedKind::Record => "record",
            ErasedKind::Interaction => "interaction",
        }
    }

    fn table(self) -> &'static str {
        match self {
            ErasedKind::Object => "op_object",
            ErasedKind::Record => "out_record",
            ErasedKind::Interaction => "op_interaction",
        }
    }
}

/// What is left of erased data: its kind, category, time and reason, and the request that
/// erased it (no personal data); the ids are given beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone<'a> {
    /// What was erased.
    pub kind: ErasedKind,
    /// Its category.
    pub category: Category,
    /// When it was erased.
    pub at: Timestamp,
    /// `retention`, `erasure` or `collection_off`.
    pub reason: &'a str,
    /// The data protection request that erased it.
    pub request: Option<&'a str>,
}

/// Ids per statement of a set-based erasure (well under both engines' bound-parameter limits).
const ERASE_CHUNK: usize = 500;

/// Retention policies of tenants.
pub trait RetentionStore {
    /// Keeps a deleted user's name while content still names the user.
    async fn insert_user_tombstone(
        &mut self,
        tenant: TenantId,
        user: UserId,
        first: &str,
        last: &str,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable;
    /// Users whose name tombstone no stored object names as an agent any more: (tenant, user).
    async fn stale_user_tombstones(&mut self) -> Result<Vec<(TenantId, UserId)>>;
    /// Removes a user's name tombstone.
    async fn delete_user_tombstone(&mut self, tenant: TenantId, user: UserId) -> Result<()>
    where
        Self: Writable;
    /// The tenant's purge run that has not finished (the process stopped in it), if any.
    async fn open_purge_run(&mut self, tenant: TenantId) -> Result<Option<PurgeRun>>;
    /// Inserts or updates a purge run.
    async fn save_purge_run(&mut self, run: &PurgeRun) -> Result<()>
    where
        Self: Writable;
    /// Refreshes the planner's statistics of the tables a purge pages through (PostgreSQL's
    /// `ANALYZE`, a sample of each; nothing on SQLite), so a purge after a bulk load is not
    /// planned from the statistics of an empty table.
    async fn refresh_purge_statistics(&mut self) -> Result<()>
    where
        Self: Writable;
    /// The tenant's newest purge runs.
    async fn purge_runs(&mut self, tenant: TenantId, limit: i64) -> Result<Vec<PurgeRun>>;
    /// A tenant's policies.
    async fn retention_policies(&mut self, tenant: TenantId) -> Result<Vec<RetentionPolicy>>;
    /// The tenants that have any policy.
    async fn tenants_with_retention(&mut self) -> Result<Vec<TenantId>>;
    /// Inserts a policy.
    async fn insert_retention_policy(&mut self, policy: &RetentionPolicy) -> Result<()>
    where
        Self: Writable;
    /// Deletes a policy.
    async fn delete_retention_policy(&mut self, tenant: TenantId, id: RetentionPolicyId) -> Result<()>
    where
        Self: Writable;
    /// Deletes the rows `ids` of `t.kind` set-wise and writes a tombstone for each row deleted;
    /// returns the ids deleted (an id gone already is skipped).
    async fn erase(&mut self, tenant: TenantId, t: &Tombstone<'_>, ids: &[String]) -> Result<Vec<String>>
    where
        Self: Writable;
    /// When and why `kind` `id` was erased, if it was.
    async fn tombstone(&mut self, tenant: TenantId, kind: &str, id: &str) -> Result<Option<(Timestamp, String)>>;
    /// A tenant's legal holds, released ones included, oldest first.
    async fn legal_holds(&mut self, tenant: TenantId) -> Result<Vec<LegalHold>>;
    /// Places a legal hold.
    async fn insert_legal_hold(&mut self, hold: &LegalHold) -> Result<()>
    where
        Self: Writable;
    /// Releases a hold that still holds.
    async fn release_legal_hold(&mut self, tenant: TenantId, id: LegalHoldId, at: Timestamp) -> Result<()>
    where
        Self: Writable;
}

macro_rules! select_run {
    ($tail:literal) => {
        concat!(
            "SELECT id, tenant_id, started_at, finished_at, resumed, objects, blobs_removed, interactions, held, \
             shred_ms, blob_ms FROM op_purge_run ",
            $tail
        )
    };
}

fn run_row(row: &AnyRow) -> Result<PurgeRun> {
    let n = |col: &str| -> Result<u64> {
        u64::try_from(row.try_get::<i64, _>(col)?).map_err(|_| StoreError::Corrupt(format!("op_purge_run: {col}")))
    };
    Ok(PurgeRun {
        id: PurgeRunId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        started_at: Timestamp(row.try_get("started_at")?),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(Timestamp),
        resumed: u32::try_from(n("resumed")?).unwrap_or(u32::MAX),
        objects: n("objects")?,
        blobs_removed: n("blobs_removed")?,
        interactions: n("interactions")?,
        held: n("held")?,
        shred_ms: n("shred_ms")?,
        blob_ms: n("blob_ms")?,
    })
}

fn hold_row(row: &AnyRow) -> Result<LegalHold> {
    let scope: String = row.try_get("scope")?;
    Ok(LegalHold {
        id: LegalHoldId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        name: row.try_get("name")?,
        reason: row.try_get("reason")?,
        scope: serde_json::from_str::<HoldScope>(&scope)
            .map_err(|e| StoreError::Corrupt(format!("hold scope: {e}")))?,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp(row.try_get("created_at")?),
        released_at: row.try_get::<Option<i64>, _>("released_at")?.map(Timestamp),
    })
}

fn policy_row(row: &AnyRow) -> Result<RetentionPolicy> {
    let category: String = row.try_get("category")?;
    Ok(RetentionPolicy {
        id: RetentionPolicyId(col_uuid(row, "id")?),
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        category: Category::parse(&category).ok_or_else(|| StoreError::Corrupt("retention category".into()))?,
        service_id: col_opt_uuid(row, "service_id")?.map(ServiceId),
        days: u32::try_from(row.try_get::<i64, _>("days")?)
            .map_err(|_| StoreError::Corrupt("retention days".into()))?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

impl<C: Conn> RetentionStore for C {
    async fn insert_user_tombstone(
        &mut self,
        tenant: TenantId,
        user: UserId,
        first: &str,
        last: &str,
        at: Timestamp,
    ) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_user_tombstone (tenant_id, user_id, first_name, last_name, deleted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(first)
        .bind(last)
        .bind(at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn stale_user_tombstones(&mut self) -> Result<Vec<(TenantId, UserId)>> {
        // Objects keep their agents as a JSON list of ids.
        sqlx::query(
            "SELECT t.tenant_id, t.user_id FROM op_user_tombstone t WHERE NOT EXISTS \
             (SELECT 1 FROM op_object o WHERE o.tenant_id = t.tenant_id AND o.agents LIKE '%' || t.user_id || '%') \
             ORDER BY t.tenant_id, t.user_id",
        )
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| Ok((TenantId(col_uuid(r, "tenant_id")?), UserId(col_uuid(r, "user_id")?))))
        .collect()
    }

    async fn delete_user_tombstone(&mut self, tenant: TenantId, user: UserId) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM op_user_tombstone WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn open_purge_run(&mut self, tenant: TenantId) -> Result<Option<PurgeRun>> {
        let row = sqlx::query(select_run!("WHERE tenant_id = $1 AND finished_at IS NULL ORDER BY started_at DESC"))
            .bind(tenant.to_string())
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(run_row).transpose()
    }

    async fn save_purge_run(&mut self, r: &PurgeRun) -> Result<()>
    where
        Self: Writable,
    {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO op_purge_run (id, tenant_id, started_at, finished_at, resumed, objects, blobs_removed, \
             interactions, held, shred_ms, blob_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, resumed = excluded.resumed, \
             objects = excluded.objects, blobs_removed = excluded.blobs_removed, \
             interactions = excluded.interactions, held = excluded.held, shred_ms = excluded.shred_ms, \
             blob_ms = excluded.blob_ms",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.started_at.millis())
        .bind(r.finished_at.map(|t| t.millis()))
        .bind(i64::from(r.resumed))
        .bind(n(r.objects))
        .bind(n(r.blobs_removed))
        .bind(n(r.interactions))
        .bind(n(r.held))
        .bind(n(r.shred_ms))
        .bind(n(r.blob_ms))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn purge_runs(&mut self, tenant: TenantId, limit: i64) -> Result<Vec<PurgeRun>> {
        sqlx::query(select_run!("WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"))
            .bind(tenant.to_string())
            .bind(limit)
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(run_row)
            .collect()
    }

    async fn retention_policies(&mut self, tenant: TenantId) -> Result<Vec<RetentionPolicy>> {
        sqlx::query(
            "SELECT id, tenant_id, category, service_id, days, created_at FROM cfg_retention_policy \
             WHERE tenant_id = $1 ORDER BY category, created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(policy_row)
        .collect()
    }

    async fn tenants_with_retention(&mut self) -> Result<Vec<TenantId>> {
        sqlx::query("SELECT DISTINCT tenant_id FROM cfg_retention_policy ORDER BY tenant_id")
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "tenant_id").map(TenantId))
            .collect()
    }

    async fn insert_retention_policy(&mut self, p: &RetentionPolicy) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_retention_policy (id, tenant_id, category, service_id, days, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.tenant_id.to_string())
        .bind(p.category.as_str())
        .bind(p.service_id.map(|s| s.to_string()))
        .bind(i64::from(p.days))
        .bind(p.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn refresh_purge_statistics(&mut self) -> Result<()>
    where
        Self: Writable,
    {
        if self.conn().backend_name() == "PostgreSQL" {
            sqlx::raw_sql("ANALYZE op_object, op_interaction").execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn erase(&mut self, tenant: TenantId, t: &Tombstone<'_>, ids: &[String]) -> Result<Vec<String>>
    where
        Self: Writable,
    {
        if self.conn().backend_name() == "PostgreSQL" {
            // Planned with the ids in hand: PostgreSQL's cached generic plan of a 500-id `IN`
            // list read every row of the tenant per statement (seconds each at a million rows).
            sqlx::raw_sql("SET LOCAL plan_cache_mode = force_custom_plan").execute(self.conn()).await?;
        }
        let mut deleted = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ERASE_CHUNK) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
            let sql = format!("DELETE FROM {} WHERE tenant_id = $1 AND id IN ({list}) RETURNING id", t.kind.table());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            let gone = q.fetch_all(self.conn()).await?;
            let gone = gone.iter().map(|r| r.try_get::<String, _>("id")).collect::<std::result::Result<Vec<_>, _>>()?;
            if gone.is_empty() {
                continue;
            }
            // One multi-row insert: the fixed columns once, each row's id as its own parameter.
            let rows = (0..gone.len()).map(|i| format!("($1, $2, ${}, $3, $4, $5, $6)", i + 7)).collect::<Vec<_>>();
            let sql = format!(
                "INSERT INTO op_tombstone (tenant_id, kind, id, category, erased_at, reason, request_id) VALUES {} \
                 ON CONFLICT (tenant_id, kind, id) DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.to_string())
                .bind(t.kind.as_str())
                .bind(t.category.as_str())
                .bind(t.at.millis())
                .bind(t.reason)
                .bind(t.request);
            for id in &gone {
                q = q.bind(id.as_str());
            }
            q.execute(self.conn()).await?;
            deleted.extend(gone);
        }
        Ok(deleted)
    }

    async fn tombstone(&mut self, tenant: TenantId, kind: &str, id: &str) -> Result<Option<(Timestamp, String)>> {
        let row =
            sqlx::query("SELECT erased_at, reason FROM op_tombstone WHERE tenant_id = $1 AND kind = $2 AND id = $3")
                .bind(tenant.to_string())
                .bind(kind)
                .bind(id)
                .fetch_optional(self.conn())
                .await?;
        row.map(|r| Ok((Timestamp(r.try_get("erased_at")?), r.try_get("reason")?))).transpose()
    }

    async fn legal_holds(&mut self, tenant: TenantId) -> Result<Vec<LegalHold>> {
        sqlx::query(
            "SELECT id, tenant_id, name, reason, scope, created_by, created_at, released_at FROM op_legal_hold \
             WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(hold_row)
        .collect()
    }

    async fn insert_legal_hold(&mut self, h: &LegalHold) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_legal_hold (id, tenant_id, name, reason, scope, created_by, created_at, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(h.id.to_string())
        .bind(h.tenant_id.to_string())
        .bind(&h.name)
        .bind(&h.reason)
        .bind(crate::to_json(&h.scope)?)
        .bind(&h.created_by)
        .bind(h.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn release_legal_hold(&mut self, tenant: TenantId, id: LegalHoldId, at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_legal_hold SET released_at = $3 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(at.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn delete_retention_policy(&mut self, tenant: TenantId, id: RetentionPolicyId) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_retention_policy WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }
}
