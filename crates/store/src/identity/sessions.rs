//! Sessions by token digest.

use super::*;

/// Sessions by token digest.
pub trait SessionStore {
    /// Inserts a session.
    async fn insert_session(&mut self, session: &SessionRow) -> Result<()>
    where
        Self: Writable;
    /// A session by token digest.
    async fn session_by_digest(&mut self, token_digest: &str) -> Result<SessionRow>;
    /// Records activity on a session.
    async fn touch_session(&mut self, token_digest: &str, now: i64) -> Result<()>
    where
        Self: Writable;
    /// Revokes one session of a principal.
    async fn revoke_session(&mut self, principal: PrincipalId, id: SessionId, now: i64) -> Result<()>
    where
        Self: Writable;
    /// Revokes every session of a principal, except one; returns how many.
    async fn revoke_sessions_of(&mut self, principal: PrincipalId, except: Option<SessionId>, now: i64) -> Result<u64>
    where
        Self: Writable;
    /// Live and recent sessions of a principal.
    async fn sessions_of(&mut self, principal: PrincipalId) -> Result<Vec<SessionRow>>;
    /// One session by its id (not its token).
    async fn session_by_id(&mut self, id: SessionId) -> Result<SessionRow>;
}

impl<C: Conn> SessionStore for C {
    async fn insert_session(&mut self, s: &SessionRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO op_session (token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, \
             created_at, last_seen_at, idle_timeout_ms, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
        )
        .bind(s.token_digest.clone())
        .bind(s.id.to_string())
        .bind(s.tenant_id.map(|t| t.to_string()))
        .bind(s.principal.kind())
        .bind(s.principal.uuid().to_string())
        .bind(s.purpose.clone())
        .bind(i64::from(s.second_factor))
        .bind(s.created_at)
        .bind(s.idle_timeout_ms)
        .bind(s.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn session_by_digest(&mut self, token_digest: &str) -> Result<SessionRow> {
        let row = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE token_digest = $1",
        )
        .bind(token_digest.to_owned())
        .fetch_one(self.conn())
        .await?;
        session_row(&row)
    }

    async fn touch_session(&mut self, token_digest: &str, now: i64) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("UPDATE op_session SET last_seen_at = $2 WHERE token_digest = $1 AND last_seen_at < $2")
            .bind(token_digest.to_owned())
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn revoke_session(&mut self, principal: PrincipalId, id: SessionId, now: i64) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_session SET revoked_at = $3 WHERE principal_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(principal.uuid().to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn revoke_sessions_of(&mut self, principal: PrincipalId, except: Option<SessionId>, now: i64) -> Result<u64>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_session SET revoked_at = $3 WHERE principal_id = $1 AND revoked_at IS NULL \
             AND ($2 IS NULL OR id <> $2)",
        )
        .bind(principal.uuid().to_string())
        .bind(except.map(|s| s.to_string()))
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(r.rows_affected())
    }

    async fn sessions_of(&mut self, principal: PrincipalId) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE principal_id = $1 \
             ORDER BY created_at DESC",
        )
        .bind(principal.uuid().to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(session_row).collect()
    }

    async fn session_by_id(&mut self, id: SessionId) -> Result<SessionRow> {
        let row = sqlx::query(
            "SELECT token_digest, id, tenant_id, principal_kind, principal_id, purpose, second_factor, created_at, \
             last_seen_at, idle_timeout_ms, expires_at, revoked_at FROM op_session WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        session_row(&row)
    }
}
