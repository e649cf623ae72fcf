//! Key jobs (rewrap, re-encrypt, decrypt-all, encrypt-all) and their progress.

use super::*;
use crate::{Backend, Tx};

/// Key jobs (rewrap, re-encrypt, decrypt-all, encrypt-all) and their progress.
pub trait JobStore {
    /// Inserts a job.
    async fn insert_job(&mut self, job: &Job) -> Result<()>
    where
        Self: Writable;
    /// One job.
    async fn job(&mut self, tenant: TenantId, id: JobId) -> Result<Job>;
    /// A tenant's jobs, newest first.
    async fn jobs(&mut self, tenant: TenantId) -> Result<Vec<Job>>;
    /// Jobs in state `running`, oldest first, across tenants.
    async fn running_jobs(&mut self) -> Result<Vec<Job>>;
    /// Stores progress.
    async fn job_progress(&mut self, job: &Job) -> Result<()>
    where
        Self: Writable;
    /// Changes a job's state.
    async fn set_job_state(
        &mut self,
        tenant: TenantId,
        id: JobId,
        from: &[JobState],
        to: JobState,
        now: Timestamp,
    ) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> JobStore for C {
    async fn insert_job(&mut self, j: &Job) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn job_progress(&mut self, j: &Job) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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
}

impl Tx {
    /// Claims the oldest running job this node may work on: one without a lease, with an expired
    /// lease, or already leased to `node`; its lease then runs to `lease_until_ms`. On PostgreSQL
    /// the candidate row is locked with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once take
    /// different jobs instead of waiting for each other.
    pub async fn claim_job(&mut self, node: &str, now_ms: i64, lease_until_ms: i64) -> Result<Option<Job>> {
        let skip_locked = if self.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE op_job SET lease_owner = $1, lease_until = $2 WHERE id = (SELECT id FROM op_job \
             WHERE state = 'running' AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until IS NULL \
             OR lease_until <= $3) ORDER BY created_at, id LIMIT 1{skip_locked}) RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(node.to_owned())
            .bind(lease_until_ms)
            .bind(now_ms)
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(job_row).transpose()
    }

    /// Renews `node`'s lease on a job to `lease_until_ms`; `false` when the node no longer holds
    /// it (another node took the job over). Every transaction that records a job's progress
    /// starts with this, so a node that lost its lease cannot commit work.
    pub async fn hold_job_lease(
        &mut self,
        tenant: TenantId,
        id: JobId,
        node: &str,
        lease_until_ms: i64,
    ) -> Result<bool> {
        let r = sqlx::query("UPDATE op_job SET lease_until = $4 WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(node.to_owned())
            .bind(lease_until_ms)
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
