//! Content objects: metadata, blob names and wrapped content keys.

use super::*;

/// Content objects: metadata, blob names and wrapped content keys.
pub trait ObjectStore {
    /// Inserts an object's metadata.
    async fn insert_object(&mut self, o: &StoredObject) -> Result<()>
    where
        Self: Writable;
    /// Inserts many objects' metadata with few statements (group commit of uploads), each with
    /// its sealed content when it is kept in the row (small content).
    async fn insert_objects(&mut self, objects: &[(&StoredObject, Option<&[u8]>)]) -> Result<()>
    where
        Self: Writable;
    /// The content kept in an object's row under blob name `blob`.
    async fn inline_blob(&mut self, tenant: TenantId, id: ObjectId, blob: &str) -> Result<Vec<u8>>;
    /// Drops the content kept in an object's row under blob name `blob` (erasure, or content
    /// that moved); nothing when the row has none.
    async fn clear_inline_blob(&mut self, tenant: TenantId, id: ObjectId, blob: &str) -> Result<()>
    where
        Self: Writable;
    /// One object.
    async fn object(&mut self, tenant: TenantId, id: ObjectId) -> Result<StoredObject>;
    /// A page of objects in id order.
    async fn objects(&mut self, tenant: TenantId, q: &ObjectQuery) -> Result<Vec<StoredObject>>;
    /// Switches an object to a new blob (compare-and-swap on the old blob name).
    async fn swap_object_blob(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_blob: &str,
        new: NewBlob<'_>,
    ) -> Result<()>
    where
        Self: Writable;
    /// Switches an object to new content: its blob, key, size, digest and redaction count, and
    /// the content kept in the row (`None` for content in the blob store) (compare-and-swap on
    /// the old blob name; `NotFound` when it changed meanwhile).
    async fn replace_object_content(&mut self, old_blob: &str, new: &StoredObject, inline: Option<&[u8]>) -> Result<()>
    where
        Self: Writable;
    /// Replaces an object's wrapped content key (compare-and-swap on the old version).
    async fn rewrap_object(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_version: u32,
        new_version: u32,
        wrapped_key: &[u8],
    ) -> Result<()>
    where
        Self: Writable;
    /// Re-wraps many objects in few statements: each `(id, wrapped key)` moves to `new_version`
    /// when it is still on an older one (a compare-and-swap per row). Returns the rows changed.
    async fn rewrap_objects(
        &mut self,
        tenant: TenantId,
        new_version: u32,
        items: &[(ObjectId, Vec<u8>)],
    ) -> Result<u64>
    where
        Self: Writable;
    /// The next objects a job must process, after `cursor`, in id order.
    async fn job_objects(
        &mut self,
        tenant: TenantId,
        kind: JobKind,
        target: Option<u32>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredObject>>;
    /// The next objects a rewrap to `target` must process, after `cursor`, in id order: only the
    /// columns the rewrap reads.
    async fn rewrap_rows(
        &mut self,
        tenant: TenantId,
        target: u32,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RewrapRow>>;
    /// Objects and bytes a job will process.
    async fn job_totals(&mut self, tenant: TenantId, kind: JobKind, target: Option<u32>) -> Result<(u64, u64)>;
    /// Every blob name of the tenant (for the orphan sweep).
    async fn blob_names(&mut self, tenant: TenantId) -> Result<Vec<String>>;
}

impl<C: Conn> ObjectStore for C {
    async fn insert_object(&mut self, o: &StoredObject) -> Result<()>
    where
        Self: Writable,
    {
        self.insert_objects(&[(o, None)]).await
    }

    async fn insert_objects(&mut self, objects: &[(&StoredObject, Option<&[u8]>)]) -> Result<()>
    where
        Self: Writable,
    {
        let mut batch = crate::batch::Batch::new(self.engine());
        batch.insert_objects(objects)?;
        batch.execute(self).await
    }

    async fn inline_blob(&mut self, tenant: TenantId, id: ObjectId, blob: &str) -> Result<Vec<u8>> {
        let row = sqlx::query(
            "SELECT inline_blob FROM op_object WHERE tenant_id = $1 AND id = $2 AND blob = $3 AND inline_blob IS NOT NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(blob.to_owned())
        .fetch_optional(self.conn())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("inline_blob")?)
    }

    async fn clear_inline_blob(&mut self, tenant: TenantId, id: ObjectId, blob: &str) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "UPDATE op_object SET inline_blob = NULL WHERE tenant_id = $1 AND id = $2 AND blob = $3 \
             AND inline_blob IS NOT NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(blob.to_owned())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn object(&mut self, tenant: TenantId, id: ObjectId) -> Result<StoredObject> {
        let sql = format!("SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_one(self.conn())
            .await?;
        object_row(&row)
    }

    async fn objects(&mut self, tenant: TenantId, q: &ObjectQuery) -> Result<Vec<StoredObject>> {
        // Only the filters given are written into the statement: an `($n = '' OR col = $n)`
        // filter makes PostgreSQL's generic plan expect one row and sort the whole tenant for
        // every page (quadratic over a purge of a million objects).
        let mut sql = format!("SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND id > $2");
        let mut n = 3;
        if q.class.is_some() {
            sql.push_str(&format!(" AND class = ${n}"));
            n += 1;
        }
        if q.interaction.is_some() {
            sql.push_str(&format!(" AND interaction = ${n}"));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(q.after.map_or(String::new(), |a| a.to_string()));
        if let Some(class) = q.class {
            query = query.bind(class.as_str());
        }
        if let Some(interaction) = &q.interaction {
            query = query.bind(interaction.clone());
        }
        let rows = query.bind(q.limit).fetch_all(self.conn()).await?;
        rows.iter().map(object_row).collect()
    }

    async fn swap_object_blob(&mut self, tenant: TenantId, id: ObjectId, old_blob: &str, new: NewBlob<'_>) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_object SET blob = $4, key_version = $5, wrapped_key = $6, header = $7, inline_blob = NULL \
             WHERE tenant_id = $1 AND id = $2 AND blob = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(old_blob.to_owned())
        .bind(new.name.to_owned())
        .bind(new.key_version.map(i64::from))
        .bind(new.wrapped_key.map(<[u8]>::to_vec))
        .bind(new.header.to_vec())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn replace_object_content(&mut self, old_blob: &str, new: &StoredObject, inline: Option<&[u8]>) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_object SET blob = $4, key_version = $5, wrapped_key = $6, header = $7, size = $8, sha256 = $9, \
             redactions = $10, inline_blob = $11 WHERE tenant_id = $1 AND id = $2 AND blob = $3",
        )
        .bind(new.tenant_id.to_string())
        .bind(new.id.to_string())
        .bind(old_blob.to_owned())
        .bind(new.blob.clone())
        .bind(new.key_version.map(i64::from))
        .bind(new.wrapped_key.clone())
        .bind(new.header.clone())
        .bind(i64_of(new.size))
        .bind(new.sha256.clone())
        .bind(i64::from(new.redactions))
        .bind(inline.map(<[u8]>::to_vec))
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn rewrap_object(
        &mut self,
        tenant: TenantId,
        id: ObjectId,
        old_version: u32,
        new_version: u32,
        wrapped_key: &[u8],
    ) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE op_object SET key_version = $4, wrapped_key = $5 \
             WHERE tenant_id = $1 AND id = $2 AND key_version = $3",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(i64::from(old_version))
        .bind(i64::from(new_version))
        .bind(wrapped_key.to_vec())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn rewrap_objects(&mut self, tenant: TenantId, new_version: u32, items: &[(ObjectId, Vec<u8>)]) -> Result<u64>
    where
        Self: Writable,
    {
        if self.engine() == crate::Backend::Postgres {
            // One statement per batch: ids and wrapped keys as two arrays (PostgreSQL array
            // literals of UUIDs and hex strings, so the Any driver binds two texts), joined by
            // UNNEST; the same compare-and-swap on the version.
            let ids = format!("{{{}}}", items.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join(","));
            let keys = format!("{{{}}}", items.iter().map(|(_, w)| hex::encode(w)).collect::<Vec<_>>().join(","));
            let r = sqlx::query(
                "UPDATE op_object AS o SET key_version = $2, wrapped_key = decode(v.w, 'hex') \
                 FROM unnest($3::text::text[], $4::text::text[]) AS v(id, w) \
                 WHERE o.tenant_id = $1 AND o.key_version < $2 AND o.id = v.id",
            )
            .bind(tenant.to_string())
            .bind(i64::from(new_version))
            .bind(ids)
            .bind(keys)
            .execute(self.conn())
            .await?;
            return Ok(r.rows_affected());
        }
        let mut changed = 0;
        for chunk in items.chunks(200) {
            let mut sql = String::from("UPDATE op_object SET key_version = $2, wrapped_key = CASE id");
            let mut ids = Vec::with_capacity(chunk.len());
            for i in 0..chunk.len() {
                sql.push_str(&format!(" WHEN ${} THEN ${}", 3 + 2 * i, 4 + 2 * i));
                ids.push(format!("${}", 3 + 2 * i));
            }
            sql.push_str(" END WHERE tenant_id = $1 AND key_version < $2 AND id IN (");
            sql.push_str(&ids.join(", "));
            sql.push(')');
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(i64::from(new_version));
            for (id, wrapped) in chunk {
                q = q.bind(id.to_string()).bind(wrapped.clone());
            }
            changed += q.execute(self.conn()).await?.rows_affected();
        }
        Ok(changed)
    }

    async fn job_objects(
        &mut self,
        tenant: TenantId,
        kind: JobKind,
        target: Option<u32>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredObject>> {
        let sql = format!(
            "SELECT {OBJECT_COLS} FROM op_object WHERE tenant_id = $1 AND {} AND id > $3 ORDER BY id LIMIT $4",
            job_predicate(kind)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target.unwrap_or(0)))
            .bind(cursor.unwrap_or("").to_owned())
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(object_row).collect()
    }

    async fn rewrap_rows(
        &mut self,
        tenant: TenantId,
        target: u32,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RewrapRow>> {
        let sql = format!(
            "SELECT id, class, key_version, wrapped_key, header FROM op_object WHERE tenant_id = $1 AND {} AND id > $3 \
             ORDER BY id LIMIT $4",
            job_predicate(JobKind::Rewrap)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target))
            .bind(cursor.unwrap_or("").to_owned())
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RewrapRow {
                    id: ObjectId(col_uuid(row, "id")?),
                    class: enum_col(row, "class", ContentClass::parse)?,
                    key_version: opt_u32_col(row, "key_version")?
                        .ok_or_else(|| StoreError::Corrupt("a rewrap candidate without a key version".into()))?,
                    wrapped_key: row.try_get("wrapped_key")?,
                    header: row.try_get("header")?,
                })
            })
            .collect()
    }

    async fn job_totals(&mut self, tenant: TenantId, kind: JobKind, target: Option<u32>) -> Result<(u64, u64)> {
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS b FROM op_object WHERE tenant_id = $1 AND {}",
            job_predicate(kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(i64::from(target.unwrap_or(0)))
            .fetch_one(self.conn())
            .await?;
        // SUM is NUMERIC on PostgreSQL: the CAST keeps both backends on BIGINT.
        Ok((u64_col(&row, "n")?, u64_col(&row, "b")?))
    }

    async fn blob_names(&mut self, tenant: TenantId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT blob FROM op_object WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("blob")?)).collect()
    }
}

impl crate::batch::Batch {
    /// Adds objects' metadata, each with its sealed content when it is kept in the row (small
    /// content): 22 values a row, in statements of up to 256 rows (SQLite allows 32,766 values).
    pub fn insert_objects(&mut self, objects: &[(&StoredObject, Option<&[u8]>)]) -> Result<()> {
        for chunk in objects.chunks(256) {
            self.insert(
                "INSERT INTO op_object (id, tenant_id, class, interaction, service_id, agents, contact_ref, \
                 recorded_at, consent, content_type, size, sha256, blob, header, key_version, wrapped_key, \
                 created_at, redactions, consent_outcome, recording_kind, paused_spans, inline_blob)",
                chunk.len(),
                22,
                "",
            );
            for &(o, inline) in chunk {
                let agents: Vec<String> = o.agents.iter().map(|a| a.to_string()).collect();
                self.bind(o.id.to_string())?;
                self.bind(o.tenant_id.to_string())?;
                self.bind(o.class.as_str())?;
                self.bind(o.interaction.clone())?;
                self.bind(o.service_id.map(|s| s.to_string()))?;
                self.bind(to_json(&agents)?)?;
                self.bind(o.contact_ref.clone())?;
                self.bind(o.recorded_at.millis())?;
                self.bind(i64::from(o.consent == Consent::Yes))?;
                self.bind(o.content_type.clone())?;
                self.bind(i64_of(o.size))?;
                self.bind(o.sha256.clone())?;
                self.bind(o.blob.clone())?;
                self.bind(o.header.clone())?;
                self.bind(o.key_version.map(i64::from))?;
                self.bind(o.wrapped_key.clone())?;
                self.bind(o.created_at.millis())?;
                self.bind(i64::from(o.redactions))?;
                self.bind(o.consent.as_str())?;
                self.bind(o.recording.as_str())?;
                self.bind(to_json(&o.paused)?)?;
                self.bind(inline.map(<[u8]>::to_vec))?;
            }
        }
        Ok(())
    }
}
