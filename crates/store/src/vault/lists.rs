//! Calling lists and forms, their records, sealed fields and blind indexes.

use super::*;

/// Calling lists and forms, their records, sealed fields and blind indexes.
pub trait ListStore {
    /// Inserts a list or form.
    async fn insert_list(&mut self, l: &RecordList) -> Result<()>
    where
        Self: Writable;
    /// Sets (or clears) the service or campaign a list belongs to.
    async fn set_list_service(&mut self, tenant: TenantId, id: ListId, service: Option<ServiceId>) -> Result<()>
    where
        Self: Writable;
    /// Lists or forms of a tenant.
    async fn lists(&mut self, tenant: TenantId, kind: ListKind) -> Result<Vec<RecordList>>;
    /// One list or form.
    async fn list(&mut self, tenant: TenantId, id: ListId) -> Result<RecordList>;
    /// Inserts a record with its blind-index entries.
    async fn insert_record(&mut self, tenant: TenantId, r: &StoredRecord, blind: &[(String, String)]) -> Result<()>
    where
        Self: Writable;
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
    ) -> Result<()>
    where
        Self: Writable;
}

impl<C: Conn> ListStore for C {
    async fn insert_list(&mut self, l: &RecordList) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO out_list (id, tenant_id, kind, name, fields, created_at, service_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(l.id.to_string())
        .bind(l.tenant_id.to_string())
        .bind(l.kind.as_str())
        .bind(l.name.clone())
        .bind(to_json(&l.fields)?)
        .bind(l.created_at.millis())
        .bind(l.service_id.map(|s| s.to_string()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn set_list_service(&mut self, tenant: TenantId, id: ListId, service: Option<ServiceId>) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("UPDATE out_list SET service_id = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(service.map(|s| s.to_string()))
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn lists(&mut self, tenant: TenantId, kind: ListKind) -> Result<Vec<RecordList>> {
        let rows = sqlx::query(
            "SELECT l.id, l.tenant_id, l.kind, l.name, l.fields, l.created_at, l.service_id, \
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
            "SELECT l.id, l.tenant_id, l.kind, l.name, l.fields, l.created_at, l.service_id, \
             (SELECT COUNT(*) FROM out_record r WHERE r.list_id = l.id) AS records \
             FROM out_list l WHERE l.tenant_id = $1 AND l.id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        list_row(&row)
    }

    async fn insert_record(&mut self, tenant: TenantId, r: &StoredRecord, blind: &[(String, String)]) -> Result<()>
    where
        Self: Writable,
    {
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
    ) -> Result<()>
    where
        Self: Writable,
    {
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
}
