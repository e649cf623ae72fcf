//! Storage of call security: stations and their security levels, HEP capture agents, users'
//! alert opt-outs, calls with their current state, every state change, and alerts (whose
//! sequence numbers are the server-sent events' ids, so a client resumes with `Last-Event-ID`).

use callvault_model::records::Timestamp;
use callvault_model::{TenantId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_uuid};

/// A station or softphone and its security level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRow {
    /// Name (unique per tenant).
    pub name: String,
    /// The SIP user part that identifies it in signalling (unique per tenant).
    pub sip_user: String,
    /// The user working on it.
    pub user_id: Option<UserId>,
    /// `station` or `softphone`.
    pub kind: String,
    /// `none`, `minimal`, `end_to_edge`.
    pub level: String,
}

/// A HEP capture agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureAgentRow {
    /// HEP capture id (chunk 12), unique within its tenant.
    pub capture_id: u32,
    /// The tenant whose calls it captures.
    pub tenant_id: TenantId,
    /// Label.
    pub name: String,
    /// SHA-256 (hex) of its authentication key (chunk 14).
    pub key_sha256: String,
    /// Created.
    pub created_at: Timestamp,
}

/// A call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// Id.
    pub id: uuid::Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The key that correlates its signalling (the caller's call reference or the SIP Call-ID).
    pub call_key: String,
    /// `api`, `sip` or `hep`.
    pub source: String,
    /// `secure`, `not_secure`, `unknown`.
    pub security: String,
    /// The full state (JSON).
    pub state: String,
    /// First event.
    pub started_at: Timestamp,
    /// Last event.
    pub updated_at: Timestamp,
    /// Closed (hang-up of the last leg, or idle).
    pub ended_at: Option<Timestamp>,
    /// Its SIP memory (JSON), kept when several nodes track calls; `None` leaves it unchanged.
    pub sip_memory: Option<String>,
}

/// A stored change or alert: sequence number, call, time, JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEventRow {
    /// Sequence (the SSE id).
    pub seq: i64,
    /// Call.
    pub call_id: uuid::Uuid,
    /// When.
    pub at: Timestamp,
    /// JSON.
    pub body: String,
}

/// Storage of call security.
pub trait CallStore {
    /// A tenant's stations.
    async fn stations(&mut self, tenant: TenantId) -> Result<Vec<StationRow>>;
    /// Inserts or replaces a station (by name).
    async fn put_station(&mut self, tenant: TenantId, s: &StationRow) -> Result<()>
    where
        Self: Writable;
    /// Deletes a station.
    async fn delete_station(&mut self, tenant: TenantId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// Every capture agent (the HEP listener serves all tenants).
    async fn capture_agents(&mut self) -> Result<Vec<CaptureAgentRow>>;
    /// Adds a capture agent; [`StoreError::Conflict`] when its capture id is taken.
    async fn insert_capture_agent(&mut self, a: &CaptureAgentRow) -> Result<()>
    where
        Self: Writable;
    /// Removes a capture agent of the tenant.
    async fn delete_capture_agent(&mut self, tenant: TenantId, capture_id: u32) -> Result<()>
    where
        Self: Writable;
    /// Users of the tenant who switched call security alerts off.
    async fn alert_optouts(&mut self, tenant: TenantId) -> Result<Vec<UserId>>;
    /// Switches a user's alerts off (`true`) or on.
    async fn set_alert_optout(&mut self, tenant: TenantId, user: UserId, off: bool) -> Result<()>
    where
        Self: Writable;
    /// Inserts or updates a call.
    async fn upsert_call(&mut self, c: &CallRow) -> Result<()>
    where
        Self: Writable;
    /// Calls not ended, of every tenant (loaded at start).
    async fn open_calls(&mut self) -> Result<Vec<CallRow>>;
    /// A tenant's calls, newest first.
    async fn calls(&mut self, tenant: TenantId, open_only: bool, limit: u32) -> Result<Vec<CallRow>>;
    /// One call.
    async fn call(&mut self, tenant: TenantId, id: uuid::Uuid) -> Result<CallRow>;
    /// Records a change of a call's state; returns its sequence number.
    async fn insert_call_change(
        &mut self,
        tenant: TenantId,
        call: uuid::Uuid,
        at: Timestamp,
        body: &str,
    ) -> Result<i64>
    where
        Self: Writable;
    /// A call's changes in order.
    async fn call_changes(&mut self, tenant: TenantId, call: uuid::Uuid) -> Result<Vec<CallEventRow>>;
    /// A tenant's changes after `seq` (stream resume).
    async fn call_changes_after(&mut self, tenant: TenantId, seq: i64, limit: u32) -> Result<Vec<CallEventRow>>;
    /// Records an alert for a user; returns its sequence number.
    async fn insert_call_alert(
        &mut self,
        tenant: TenantId,
        user: UserId,
        call: uuid::Uuid,
        at: Timestamp,
        body: &str,
    ) -> Result<i64>
    where
        Self: Writable;
    /// A user's alerts after `seq` (stream resume).
    async fn call_alerts_after(
        &mut self,
        tenant: TenantId,
        user: UserId,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<CallEventRow>>;
    /// The open call with this key, if any.
    async fn open_call(&mut self, tenant: TenantId, call_key: &str) -> Result<Option<CallRow>>;
    /// Calls not ended (of every tenant, of `tenant`), counted by nodes sharing PostgreSQL: the
    /// counts' rows stay locked until the transaction ends, so nodes admitting new calls at
    /// once take turns and no cap is passed. `(0, 0)` on SQLite (one node counts in memory).
    async fn lock_open_call_counts(&mut self, tenant: TenantId) -> Result<(u64, u64)>
    where
        Self: Writable;
    /// Every tenant's changes with `from <= seq <= to` (the nodes' bus announces ranges).
    async fn call_changes_between(&mut self, from: i64, to: i64) -> Result<Vec<(TenantId, CallEventRow)>>;
    /// Every tenant's alerts with `from <= seq <= to`, with the user alerted.
    async fn call_alerts_between(&mut self, from: i64, to: i64) -> Result<Vec<(TenantId, UserId, CallEventRow)>>;
}

fn call_row(r: &AnyRow) -> Result<CallRow> {
    let ended: Option<i64> = r.try_get("ended_at")?;
    Ok(CallRow {
        id: col_uuid(r, "id")?,
        tenant_id: TenantId(col_uuid(r, "tenant_id")?),
        call_key: r.try_get("call_key")?,
        source: r.try_get("source")?,
        security: r.try_get("security")?,
        state: r.try_get("state")?,
        started_at: Timestamp(r.try_get("started_at")?),
        updated_at: Timestamp(r.try_get("updated_at")?),
        ended_at: ended.map(Timestamp),
        sip_memory: r.try_get("sip_memory")?,
    })
}

fn event_row(r: &AnyRow, body: &str) -> Result<CallEventRow> {
    Ok(CallEventRow {
        seq: r.try_get("seq")?,
        call_id: col_uuid(r, "call_id")?,
        at: Timestamp(r.try_get("at")?),
        body: r.try_get(body)?,
    })
}

macro_rules! call_columns {
    () => {
        "id, tenant_id, call_key, source, security, state, started_at, updated_at, ended_at, sip_memory"
    };
}

impl<C: Conn> CallStore for C {
    async fn stations(&mut self, tenant: TenantId) -> Result<Vec<StationRow>> {
        sqlx::query("SELECT name, sip_user, user_id, kind, level FROM cfg_station WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| {
                let user: Option<String> = r.try_get("user_id")?;
                Ok(StationRow {
                    name: r.try_get("name")?,
                    sip_user: r.try_get("sip_user")?,
                    user_id: match user {
                        Some(u) => Some(UserId(u.parse().map_err(|_| StoreError::Corrupt("station user id".into()))?)),
                        None => None,
                    },
                    kind: r.try_get("kind")?,
                    level: r.try_get("level")?,
                })
            })
            .collect()
    }

    async fn put_station(&mut self, tenant: TenantId, s: &StationRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM cfg_station WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(s.name.clone())
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO cfg_station (tenant_id, name, sip_user, user_id, kind, level) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.to_string())
        .bind(s.name.clone())
        .bind(s.sip_user.clone())
        .bind(s.user_id.map(|u| u.to_string()))
        .bind(s.kind.clone())
        .bind(s.level.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn delete_station(&mut self, tenant: TenantId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_station WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name.to_owned())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn capture_agents(&mut self) -> Result<Vec<CaptureAgentRow>> {
        sqlx::query(
            "SELECT capture_id, tenant_id, name, key_sha256, created_at FROM cfg_capture_agent ORDER BY capture_id",
        )
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| {
            let id: i64 = r.try_get("capture_id")?;
            Ok(CaptureAgentRow {
                capture_id: u32::try_from(id).map_err(|_| StoreError::Corrupt("capture id".into()))?,
                tenant_id: TenantId(col_uuid(r, "tenant_id")?),
                name: r.try_get("name")?,
                key_sha256: r.try_get("key_sha256")?,
                created_at: Timestamp(r.try_get("created_at")?),
            })
        })
        .collect()
    }

    async fn insert_capture_agent(&mut self, a: &CaptureAgentRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_capture_agent (capture_id, tenant_id, name, key_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(i64::from(a.capture_id))
        .bind(a.tenant_id.to_string())
        .bind(a.name.clone())
        .bind(a.key_sha256.clone())
        .bind(a.created_at.0)
        .execute(self.conn())
        .await
        ?;
        Ok(())
    }

    async fn delete_capture_agent(&mut self, tenant: TenantId, capture_id: u32) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_capture_agent WHERE tenant_id = $1 AND capture_id = $2")
            .bind(tenant.to_string())
            .bind(i64::from(capture_id))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn alert_optouts(&mut self, tenant: TenantId) -> Result<Vec<UserId>> {
        sqlx::query("SELECT user_id FROM cfg_call_alert_optout WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(|r| col_uuid(r, "user_id").map(UserId))
            .collect()
    }

    async fn set_alert_optout(&mut self, tenant: TenantId, user: UserId, off: bool) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM cfg_call_alert_optout WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(self.conn())
            .await?;
        if off {
            sqlx::query("INSERT INTO cfg_call_alert_optout (tenant_id, user_id) VALUES ($1, $2)")
                .bind(tenant.to_string())
                .bind(user.to_string())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn upsert_call(&mut self, c: &CallRow) -> Result<()>
    where
        Self: Writable,
    {
        let updated = sqlx::query(
            "UPDATE op_call SET security = $2, state = $3, updated_at = $4, ended_at = $5, \
                 sip_memory = COALESCE($6, sip_memory) WHERE id = $1",
        )
        .bind(c.id.to_string())
        .bind(c.security.clone())
        .bind(c.state.clone())
        .bind(c.updated_at.0)
        .bind(c.ended_at.map(|t| t.0))
        .bind(c.sip_memory.clone())
        .execute(self.conn())
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(concat!(
                "INSERT INTO op_call (",
                call_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(c.id.to_string())
            .bind(c.tenant_id.to_string())
            .bind(c.call_key.clone())
            .bind(c.source.clone())
            .bind(c.security.clone())
            .bind(c.state.clone())
            .bind(c.started_at.0)
            .bind(c.updated_at.0)
            .bind(c.ended_at.map(|t| t.0))
            .bind(c.sip_memory.clone())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn open_calls(&mut self) -> Result<Vec<CallRow>> {
        sqlx::query(concat!("SELECT ", call_columns!(), " FROM op_call WHERE ended_at IS NULL"))
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(call_row)
            .collect()
    }

    async fn calls(&mut self, tenant: TenantId, open_only: bool, limit: u32) -> Result<Vec<CallRow>> {
        let sql = if open_only {
            concat!(
                "SELECT ",
                call_columns!(),
                " FROM op_call WHERE tenant_id = $1 AND ended_at IS NULL ORDER BY started_at DESC, id LIMIT $2"
            )
        } else {
            concat!(
                "SELECT ",
                call_columns!(),
                " FROM op_call WHERE tenant_id = $1 ORDER BY started_at DESC, id LIMIT $2"
            )
        };
        sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.conn())
            .await?
            .iter()
            .map(call_row)
            .collect()
    }

    async fn call(&mut self, tenant: TenantId, id: uuid::Uuid) -> Result<CallRow> {
        let row = sqlx::query(concat!("SELECT ", call_columns!(), " FROM op_call WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        call_row(&row)
    }

    async fn insert_call_change(&mut self, tenant: TenantId, call: uuid::Uuid, at: Timestamp, body: &str) -> Result<i64>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "INSERT INTO op_call_change (call_id, tenant_id, at, change) VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(call.to_string())
        .bind(tenant.to_string())
        .bind(at.0)
        .bind(body.to_owned())
        .fetch_one(self.conn())
        .await?;
        Ok(r.try_get("seq")?)
    }

    async fn call_changes(&mut self, tenant: TenantId, call: uuid::Uuid) -> Result<Vec<CallEventRow>> {
        sqlx::query(
            "SELECT seq, call_id, at, change FROM op_call_change WHERE tenant_id = $1 AND call_id = $2 ORDER BY seq",
        )
        .bind(tenant.to_string())
        .bind(call.to_string())
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| event_row(r, "change"))
        .collect()
    }

    async fn call_changes_after(&mut self, tenant: TenantId, seq: i64, limit: u32) -> Result<Vec<CallEventRow>> {
        sqlx::query(
            "SELECT seq, call_id, at, change FROM op_call_change WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| event_row(r, "change"))
        .collect()
    }

    async fn insert_call_alert(
        &mut self,
        tenant: TenantId,
        user: UserId,
        call: uuid::Uuid,
        at: Timestamp,
        body: &str,
    ) -> Result<i64>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "INSERT INTO op_call_alert (tenant_id, user_id, call_id, at, alert) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(call.to_string())
        .bind(at.0)
        .bind(body.to_owned())
        .fetch_one(self.conn())
        .await?;
        Ok(r.try_get("seq")?)
    }

    async fn call_alerts_after(
        &mut self,
        tenant: TenantId,
        user: UserId,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<CallEventRow>> {
        sqlx::query(
            "SELECT seq, call_id, at, alert FROM op_call_alert WHERE tenant_id = $1 AND user_id = $2 AND seq > $3 \
             ORDER BY seq LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| event_row(r, "alert"))
        .collect()
    }

    async fn call_changes_between(&mut self, from: i64, to: i64) -> Result<Vec<(TenantId, CallEventRow)>> {
        sqlx::query(
            "SELECT seq, tenant_id, call_id, at, change FROM op_call_change WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| Ok((TenantId(col_uuid(r, "tenant_id")?), event_row(r, "change")?)))
        .collect()
    }

    async fn call_alerts_between(&mut self, from: i64, to: i64) -> Result<Vec<(TenantId, UserId, CallEventRow)>> {
        sqlx::query(
            "SELECT seq, tenant_id, user_id, call_id, at, alert FROM op_call_alert WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?
        .iter()
        .map(|r| Ok((TenantId(col_uuid(r, "tenant_id")?), UserId(col_uuid(r, "user_id")?), event_row(r, "alert")?)))
        .collect()
    }

    async fn lock_open_call_counts(&mut self, tenant: TenantId) -> Result<(u64, u64)>
    where
        Self: Writable,
    {
        if self.conn().backend_name() != "PostgreSQL" {
            return Ok((0, 0));
        }
        // The provider's row ('') first, as the counting trigger updates them.
        let rows = sqlx::query(
            "SELECT tenant_id, open FROM op_call_open WHERE tenant_id IN ('', $1) ORDER BY tenant_id FOR UPDATE",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        let (mut all, mut own) = (0u64, 0u64);
        for row in &rows {
            let n = u64::try_from(row.try_get::<i64, _>("open")?).unwrap_or(0);
            if row.try_get::<String, _>("tenant_id")?.is_empty() {
                all = n;
            } else {
                own = n;
            }
        }
        Ok((all, own))
    }

    async fn open_call(&mut self, tenant: TenantId, call_key: &str) -> Result<Option<CallRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            call_columns!(),
            " FROM op_call WHERE tenant_id = $1 AND call_key = $2 AND ended_at IS NULL"
        ))
        .bind(tenant.to_string())
        .bind(call_key.to_owned())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(call_row).transpose()
    }
}

impl crate::Tx {
    /// Waits for the right to change the call with this key, held until this transaction ends:
    /// nodes that receive legs of one call take turns (PostgreSQL advisory lock on the tenant
    /// and key, which also covers a call not created yet; SQLite's write transaction already
    /// excludes every other writer).
    pub async fn lock_call_key(&mut self, tenant: TenantId, call_key: &str) -> Result<()> {
        self.advisory_lock(&format!("call:{tenant}:{call_key}")).await
    }
}
