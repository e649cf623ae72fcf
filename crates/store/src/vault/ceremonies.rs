//! Dual-control ceremonies and the custodians' wrapped shares.

use super::*;

/// Dual-control ceremonies and the custodians' wrapped shares.
pub trait CeremonyStore {
    /// Inserts a ceremony.
    async fn insert_ceremony(&mut self, c: &Ceremony) -> Result<()>
    where
        Self: Writable;
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
    ) -> Result<()>
    where
        Self: Writable;
    /// Stores a KEK-wrapped share for a custodian.
    async fn insert_share(&mut self, id: CeremonyId, custodian: PrincipalId, wrapped: &[u8]) -> Result<()>
    where
        Self: Writable;
    /// Takes a custodian's share once (it is erased from the database).
    async fn take_share(&mut self, id: CeremonyId, custodian: PrincipalId, now: Timestamp) -> Result<Option<Vec<u8>>>
    where
        Self: Writable;
    /// Custodians of a ceremony's shares and when each picked theirs up.
    async fn share_status(&mut self, id: CeremonyId) -> Result<Vec<(PrincipalId, Option<Timestamp>)>>;
}

impl<C: Conn> CeremonyStore for C {
    async fn insert_ceremony(&mut self, c: &Ceremony) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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

    async fn insert_share(&mut self, id: CeremonyId, custodian: PrincipalId, wrapped: &[u8]) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("INSERT INTO cfg_ceremony_share (ceremony_id, custodian, share) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(custodian.to_string())
            .bind(wrapped.to_vec())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn take_share(&mut self, id: CeremonyId, custodian: PrincipalId, now: Timestamp) -> Result<Option<Vec<u8>>>
    where
        Self: Writable,
    {
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
}
