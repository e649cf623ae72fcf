//! Recording policy and pauses, and agent performance statistics.

use callvault_model::records::Timestamp;
use callvault_model::reporting::AgentInterval as PerformanceRow;
use callvault_model::{InteractionId, TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_uuid};

/// One pause of an interaction's recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseRow {
    /// Id (UUID).
    pub id: uuid::Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Interaction.
    pub interaction_id: InteractionId,
    /// Paused at.
    pub started_at: Timestamp,
    /// Who paused (`user:…`).
    pub started_by: String,
    /// When it ends by itself (the policy's maximum pause).
    pub limit_at: Timestamp,
    /// Resumed at.
    pub ended_at: Option<Timestamp>,
    /// Who resumed (`user:…`, or `policy`).
    pub ended_by: Option<String>,
}

/// Recording policy and pauses, performance statistics.
pub trait RecordingStore {
    /// The tenant's recording policy (JSON), if one was set.
    async fn recording_policy(&mut self, tenant: TenantId) -> Result<Option<String>>;
    /// Sets the tenant's recording policy (JSON).
    async fn set_recording_policy(&mut self, tenant: TenantId, policy: &str, at: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Gives an interaction without an external reference this one (objects find their
    /// interaction by it); does nothing when it has one.
    async fn give_interaction_reference(&mut self, tenant: TenantId, id: InteractionId, reference: &str) -> Result<()>
    where
        Self: Writable;
    /// The interaction with this external reference, if any.
    async fn interaction_by_reference(&mut self, tenant: TenantId, reference: &str) -> Result<Option<InteractionId>>;
    /// The pauses of an interaction, oldest first.
    async fn pauses(&mut self, tenant: TenantId, interaction: InteractionId) -> Result<Vec<PauseRow>>;
    /// Inserts a pause.
    async fn insert_pause(&mut self, pause: &PauseRow) -> Result<()>
    where
        Self: Writable;
    /// Ends an open pause; `NotFound` when it had already ended.
    async fn end_pause(&mut self, tenant: TenantId, id: uuid::Uuid, at: Timestamp, by: &str) -> Result<()>
    where
        Self: Writable;
    /// Stores statistics, replacing those of the same agent and interval.
    async fn upsert_performance(&mut self, tenant: TenantId, rows: &[PerformanceRow], at: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Statistics of these agents in `[from, to)`, by agent and interval.
    async fn performance(
        &mut self,
        tenant: TenantId,
        users: &[UserId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PerformanceRow>>;
    /// How many intervals the tenant holds.
    async fn count_performance(&mut self, tenant: TenantId) -> Result<u64>;
    /// Deletes statistics of intervals before `before`; returns how many rows.
    async fn delete_performance_before(&mut self, tenant: TenantId, before: Timestamp) -> Result<u64>
    where
        Self: Writable;
}

fn pause_row(row: &AnyRow) -> Result<PauseRow> {
    Ok(PauseRow {
        id: col_uuid(row, "id")?,
        tenant_id: TenantId(col_uuid(row, "tenant_id")?),
        interaction_id: InteractionId(col_uuid(row, "interaction_id")?),
        started_at: Timestamp(row.try_get("started_at")?),
        started_by: row.try_get("started_by")?,
        limit_at: Timestamp(row.try_get("limit_at")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
        ended_by: row.try_get("ended_by")?,
    })
}

fn u32_col(row: &AnyRow, col: &str) -> Result<u32> {
    u32::try_from(row.try_get::<i64, _>(col)?).map_err(|_| StoreError::Corrupt(format!("op_performance: {col}")))
}

fn performance_row(row: &AnyRow) -> Result<PerformanceRow> {
    Ok(PerformanceRow {
        user_id: UserId(col_uuid(row, "user_id")?),
        interval_start: Timestamp(row.try_get("interval_start")?),
        talk_s: u32_col(row, "talk_s")?,
        hold_s: u32_col(row, "hold_s")?,
        wrap_up_s: u32_col(row, "wrap_up_s")?,
        available_s: u32_col(row, "available_s")?,
        break_s: u32_col(row, "break_s")?,
        other_s: u32_col(row, "other_s")?,
        handled: u32_col(row, "handled")?,
        missed: u32_col(row, "missed")?,
    })
}

impl<C: Conn> RecordingStore for C {
    async fn recording_policy(&mut self, tenant: TenantId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT policy FROM cfg_recording_policy WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.conn())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("policy")?),
            None => None,
        })
    }

    async fn set_recording_policy(&mut self, tenant: TenantId, policy: &str, at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_recording_policy (tenant_id, policy, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(policy.to_owned())
        .bind(at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn give_interaction_reference(&mut self, tenant: TenantId, id: InteractionId, reference: &str) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "UPDATE op_interaction SET external_ref = $3 WHERE tenant_id = $1 AND id = $2 AND external_ref IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(reference.to_owned())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn interaction_by_reference(&mut self, tenant: TenantId, reference: &str) -> Result<Option<InteractionId>> {
        let row = sqlx::query("SELECT id FROM op_interaction WHERE tenant_id = $1 AND external_ref = $2")
            .bind(tenant.to_string())
            .bind(reference.to_owned())
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| col_uuid(&r, "id").map(InteractionId)).transpose()
    }

    async fn pauses(&mut self, tenant: TenantId, interaction: InteractionId) -> Result<Vec<PauseRow>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, interaction_id, started_at, started_by, limit_at, ended_at, ended_by \
             FROM op_recording_pause WHERE tenant_id = $1 AND interaction_id = $2 ORDER BY started_at, id",
        )
        .bind(tenant.to_string())
        .bind(interaction.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(pause_row).collect()
    }

    async fn insert_pause(&mut self, p: &PauseRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_recording_pause (id, tenant_id, interaction_id, started_at, started_by, limit_at, \
             ended_at, ended_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(p.id.to_string())
        .bind(p.tenant_id.to_string())
        .bind(p.interaction_id.to_string())
        .bind(p.started_at.millis())
        .bind(p.started_by.clone())
        .bind(p.limit_at.millis())
        .bind(p.ended_at.map(|t| t.millis()))
        .bind(p.ended_by.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn end_pause(&mut self, tenant: TenantId, id: uuid::Uuid, at: Timestamp, by: &str) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_recording_pause SET ended_at = $3, ended_by = $4 \
             WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(at.millis())
        .bind(by.to_owned())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn upsert_performance(&mut self, tenant: TenantId, rows: &[PerformanceRow], at: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        for r in rows {
            sqlx::query(
                "INSERT INTO op_performance (tenant_id, user_id, interval_start, talk_s, hold_s, wrap_up_s, \
                 available_s, break_s, other_s, handled, missed, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (tenant_id, user_id, interval_start) DO UPDATE SET talk_s = excluded.talk_s, \
                 hold_s = excluded.hold_s, wrap_up_s = excluded.wrap_up_s, available_s = excluded.available_s, \
                 break_s = excluded.break_s, other_s = excluded.other_s, handled = excluded.handled, \
                 missed = excluded.missed, received_at = excluded.received_at",
            )
            .bind(tenant.to_string())
            .bind(r.user_id.to_string())
            .bind(r.interval_start.millis())
            .bind(i64::from(r.talk_s))
            .bind(i64::from(r.hold_s))
            .bind(i64::from(r.wrap_up_s))
            .bind(i64::from(r.available_s))
            .bind(i64::from(r.break_s))
            .bind(i64::from(r.other_s))
            .bind(i64::from(r.handled))
            .bind(i64::from(r.missed))
            .bind(at.millis())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn performance(
        &mut self,
        tenant: TenantId,
        users: &[UserId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PerformanceRow>> {
        let mut out = Vec::new();
        for u in users {
            let rows = sqlx::query(
                "SELECT user_id, interval_start, talk_s, hold_s, wrap_up_s, available_s, break_s, other_s, handled, \
                 missed FROM op_performance WHERE tenant_id = $1 AND user_id = $2 AND interval_start >= $3 \
                 AND interval_start < $4 ORDER BY interval_start",
            )
            .bind(tenant.to_string())
            .bind(u.to_string())
            .bind(from.millis())
            .bind(to.millis())
            .fetch_all(self.conn())
            .await?;
            for row in &rows {
                out.push(performance_row(row)?);
            }
        }
        Ok(out)
    }

    async fn count_performance(&mut self, tenant: TenantId) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM op_performance WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_one(self.conn())
            .await?;
        u64::try_from(row.try_get::<i64, _>("n")?).map_err(|_| StoreError::Corrupt("count".into()))
    }

    async fn delete_performance_before(&mut self, tenant: TenantId, before: Timestamp) -> Result<u64>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM op_performance WHERE tenant_id = $1 AND interval_start < $2")
            .bind(tenant.to_string())
            .bind(before.millis())
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }
}
