//! Storage of the telecom policy: a tenant's dial settings and rules text, named calling areas,
//! area assignments, do-not-call lists (internal numbers; registry copies live in files whose
//! digest is kept here) and the outbound call attempts that calls-per-24-hours limits count.

use callvault_model::dial::{AreaDef, DncList, DncListKind};
use callvault_model::records::Timestamp;
use callvault_model::{DncListId, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Writable;
use crate::{Conn, Result, StoreError, affected, col_json, col_uuid, to_json};

/// Storage of the telecom policy.
pub trait DialStore {
    /// A tenant's dial settings (JSON) and rules text, if set.
    async fn dial_config(&mut self, tenant: TenantId) -> Result<Option<(String, String)>>;
    /// Replaces a tenant's dial settings and rules.
    async fn put_dial_config(&mut self, tenant: TenantId, settings: &str, rules: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// A tenant's named areas.
    async fn dial_areas(&mut self, tenant: TenantId) -> Result<Vec<AreaDef>>;
    /// Inserts or replaces an area.
    async fn put_dial_area(&mut self, tenant: TenantId, area: &AreaDef) -> Result<()>
    where
        Self: Writable;
    /// Deletes an area.
    async fn delete_dial_area(&mut self, tenant: TenantId, name: &str) -> Result<()>
    where
        Self: Writable;
    /// A tenant's assignments: (level, subject id, areas JSON).
    async fn dial_assignments(&mut self, tenant: TenantId) -> Result<Vec<(String, String, String)>>;
    /// Inserts or replaces an assignment; an empty `areas` JSON object removes it.
    async fn put_dial_assignment(&mut self, tenant: TenantId, level: &str, subject: &str, areas: &str) -> Result<()>
    where
        Self: Writable;
    /// Do-not-call lists of a tenant, or of every tenant.
    async fn dnc_lists(&mut self, tenant: Option<TenantId>) -> Result<Vec<DncList>>;
    /// Inserts a list.
    async fn insert_dnc_list(&mut self, list: &DncList) -> Result<()>
    where
        Self: Writable;
    /// Records a finished registry import.
    async fn update_dnc_import(
        &mut self,
        id: DncListId,
        entries: u64,
        refreshed_at: Timestamp,
        sha256: &str,
    ) -> Result<()>
    where
        Self: Writable;
    /// Deletes a list (and its numbers).
    async fn delete_dnc_list(&mut self, tenant: TenantId, id: DncListId) -> Result<()>
    where
        Self: Writable;
    /// An internal list's numbers (E.164 digits).
    async fn dnc_numbers(&mut self, list: DncListId) -> Result<Vec<u64>>;
    /// Adds a number; false when it was already there.
    async fn insert_dnc_number(&mut self, list: DncListId, number: u64, now: Timestamp) -> Result<bool>
    where
        Self: Writable;
    /// Removes a number.
    async fn delete_dnc_number(&mut self, list: DncListId, number: u64) -> Result<()>
    where
        Self: Writable;
    /// Records outbound call attempts (keyed digests of the numbers).
    async fn insert_dial_attempts(&mut self, tenant: TenantId, attempts: &[(String, Timestamp)]) -> Result<()>
    where
        Self: Writable;
    /// Attempts at or after `since`: (tenant, digest, at).
    async fn dial_attempts_since(&mut self, since: Timestamp) -> Result<Vec<(TenantId, String, Timestamp)>>;
    /// Forgets attempts before `before`.
    async fn prune_dial_attempts(&mut self, before: Timestamp) -> Result<u64>
    where
        Self: Writable;
    /// One number's attempts at or after `since`.
    async fn dial_attempts_of(&mut self, tenant: TenantId, digest: &str, since: Timestamp) -> Result<Vec<Timestamp>>;
}

fn dnc_list(r: &AnyRow) -> Result<DncList> {
    let kind: String = r.try_get("kind")?;
    let cc: Option<i64> = r.try_get("country_code")?;
    let entries: i64 = r.try_get("entries")?;
    Ok(DncList {
        id: DncListId(col_uuid(r, "id")?),
        tenant_id: TenantId(col_uuid(r, "tenant_id")?),
        name: r.try_get("name")?,
        kind: DncListKind::from_name(&kind).ok_or_else(|| StoreError::Corrupt(format!("dnc list kind {kind}")))?,
        country_code: cc
            .map(|c| u16::try_from(c).map_err(|_| StoreError::Corrupt("country code".into())))
            .transpose()?,
        entries: u64::try_from(entries).map_err(|_| StoreError::Corrupt("entries".into()))?,
        refreshed_at: r.try_get::<Option<i64>, _>("refreshed_at")?.map(Timestamp),
        file_sha256: r.try_get("file_sha256")?,
        created_at: Timestamp(r.try_get("created_at")?),
    })
}

fn number_col(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt("number out of range".into()))
}

impl<C: Conn> DialStore for C {
    async fn dial_config(&mut self, tenant: TenantId) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT settings, rules FROM cfg_dial WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| Ok((r.try_get("settings")?, r.try_get("rules")?))).transpose()
    }

    async fn put_dial_config(&mut self, tenant: TenantId, settings: &str, rules: &str, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_dial (tenant_id, settings, rules, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = $2, rules = $3, updated_at = $4",
        )
        .bind(tenant.to_string())
        .bind(settings.to_owned())
        .bind(rules.to_owned())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn dial_areas(&mut self, tenant: TenantId) -> Result<Vec<AreaDef>> {
        let rows = sqlx::query("SELECT def FROM cfg_dial_area WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| col_json(r, "def")).collect()
    }

    async fn put_dial_area(&mut self, tenant: TenantId, area: &AreaDef) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_dial_area (tenant_id, name, def) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET def = $3",
        )
        .bind(tenant.to_string())
        .bind(area.name.clone())
        .bind(to_json(area)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn delete_dial_area(&mut self, tenant: TenantId, name: &str) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_dial_area WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name.to_owned())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn dial_assignments(&mut self, tenant: TenantId) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT level, subject_id, areas FROM cfg_dial_assignment WHERE tenant_id = $1 ORDER BY level, subject_id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("level")?, r.try_get("subject_id")?, r.try_get("areas")?))).collect()
    }

    async fn put_dial_assignment(&mut self, tenant: TenantId, level: &str, subject: &str, areas: &str) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM cfg_dial_assignment WHERE tenant_id = $1 AND level = $2 AND subject_id = $3")
            .bind(tenant.to_string())
            .bind(level.to_owned())
            .bind(subject.to_owned())
            .execute(self.conn())
            .await?;
        if areas != "{}" {
            sqlx::query(
                "INSERT INTO cfg_dial_assignment (tenant_id, level, subject_id, areas) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.to_string())
            .bind(level.to_owned())
            .bind(subject.to_owned())
            .bind(areas.to_owned())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn dnc_lists(&mut self, tenant: Option<TenantId>) -> Result<Vec<DncList>> {
        const COLS: &str = "id, tenant_id, name, kind, country_code, entries, refreshed_at, file_sha256, created_at";
        let rows = match tenant {
            Some(t) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLS} FROM cfg_dnc_list WHERE tenant_id = $1 ORDER BY name"
                )))
                .bind(t.to_string())
                .fetch_all(self.conn())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM cfg_dnc_list ORDER BY tenant_id, name")))
                    .fetch_all(self.conn())
                    .await?
            }
        };
        rows.iter().map(dnc_list).collect()
    }

    async fn insert_dnc_list(&mut self, l: &DncList) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_dnc_list (id, tenant_id, name, kind, country_code, entries, refreshed_at, file_sha256, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(l.id.to_string())
        .bind(l.tenant_id.to_string())
        .bind(l.name.clone())
        .bind(l.kind.as_str())
        .bind(l.country_code.map(i64::from))
        .bind(number_col(l.entries)?)
        .bind(l.refreshed_at.map(|t| t.millis()))
        .bind(l.file_sha256.clone())
        .bind(l.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn update_dnc_import(
        &mut self,
        id: DncListId,
        entries: u64,
        refreshed_at: Timestamp,
        sha256: &str,
    ) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("UPDATE cfg_dnc_list SET entries = $2, refreshed_at = $3, file_sha256 = $4 WHERE id = $1")
            .bind(id.to_string())
            .bind(number_col(entries)?)
            .bind(refreshed_at.millis())
            .bind(sha256.to_owned())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn delete_dnc_list(&mut self, tenant: TenantId, id: DncListId) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("DELETE FROM cfg_dnc_number WHERE list_id = $1").bind(id.to_string()).execute(self.conn()).await?;
        let r = sqlx::query("DELETE FROM cfg_dnc_list WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn dnc_numbers(&mut self, list: DncListId) -> Result<Vec<u64>> {
        let rows = sqlx::query("SELECT number FROM cfg_dnc_number WHERE list_id = $1 ORDER BY number")
            .bind(list.to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("number")?;
                u64::try_from(n).map_err(|_| StoreError::Corrupt("dnc number".into()))
            })
            .collect()
    }

    async fn insert_dnc_number(&mut self, list: DncListId, number: u64, now: Timestamp) -> Result<bool>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "INSERT INTO cfg_dnc_number (list_id, number, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (list_id, number) DO NOTHING",
        )
        .bind(list.to_string())
        .bind(number_col(number)?)
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        sqlx::query("UPDATE cfg_dnc_list SET entries = (SELECT COUNT(*) FROM cfg_dnc_number WHERE list_id = $1), refreshed_at = $2 WHERE id = $1")
            .bind(list.to_string())
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_dnc_number(&mut self, list: DncListId, number: u64) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("DELETE FROM cfg_dnc_number WHERE list_id = $1 AND number = $2")
            .bind(list.to_string())
            .bind(number_col(number)?)
            .execute(self.conn())
            .await?;
        affected(r)?;
        sqlx::query(
            "UPDATE cfg_dnc_list SET entries = (SELECT COUNT(*) FROM cfg_dnc_number WHERE list_id = $1) WHERE id = $1",
        )
        .bind(list.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn insert_dial_attempts(&mut self, tenant: TenantId, attempts: &[(String, Timestamp)]) -> Result<()>
    where
        Self: Writable,
    {
        // Small chunks: the SQLite driver looks bound parameters up by name, quadratic in their count.
        for chunk in attempts.chunks(40) {
            let mut sql = String::from("INSERT INTO op_dial_attempt (tenant_id, digest, at) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (digest, at) in chunk {
                q = q.bind(tenant.to_string()).bind(digest.clone()).bind(at.millis());
            }
            q.execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn dial_attempts_since(&mut self, since: Timestamp) -> Result<Vec<(TenantId, String, Timestamp)>> {
        let rows = sqlx::query("SELECT tenant_id, digest, at FROM op_dial_attempt WHERE at >= $1")
            .bind(since.millis())
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|r| Ok((TenantId(col_uuid(r, "tenant_id")?), r.try_get("digest")?, Timestamp(r.try_get("at")?))))
            .collect()
    }

    async fn prune_dial_attempts(&mut self, before: Timestamp) -> Result<u64>
    where
        Self: Writable,
    {
        let r =
            sqlx::query("DELETE FROM op_dial_attempt WHERE at < $1").bind(before.millis()).execute(self.conn()).await?;
        Ok(r.rows_affected())
    }

    async fn dial_attempts_of(&mut self, tenant: TenantId, digest: &str, since: Timestamp) -> Result<Vec<Timestamp>> {
        let rows = sqlx::query("SELECT at FROM op_dial_attempt WHERE tenant_id = $1 AND digest = $2 AND at >= $3")
            .bind(tenant.to_string())
            .bind(digest.to_owned())
            .bind(since.millis())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| Ok(Timestamp(r.try_get("at")?))).collect()
    }
}

impl crate::Tx {
    /// Waits for the right to count a number's calls, held until this transaction ends (several
    /// nodes count in the database; PostgreSQL advisory lock per tenant and number; SQLite's
    /// write transaction already excludes every other writer).
    pub async fn lock_dial_number(&mut self, tenant: TenantId, digest: &str) -> Result<()> {
        self.advisory_lock(&format!("dial:{tenant}:{digest}")).await
    }
}
