//! Encryption settings, data key versions, the KEK check value and issued KEK shares.

use super::*;

/// Encryption settings, data key versions, the KEK check value and issued KEK shares.
pub trait KeyStore {
    /// A tenant's encryption settings and its KEK-wrapped blind-index key.
    async fn encryption(&mut self, tenant: TenantId) -> Result<Option<(EncryptionSettings, Vec<u8>)>>;
    /// Inserts or replaces the settings; the blind-index key is kept when already present.
    async fn put_encryption(&mut self, tenant: TenantId, s: &EncryptionSettings, blind_key: &[u8]) -> Result<()>
    where
        Self: Writable;
    /// Tenants with encryption settings.
    async fn encryption_tenants(&mut self) -> Result<Vec<TenantId>>;
    /// Data key versions of a tenant, oldest first.
    async fn data_keys(&mut self, tenant: TenantId) -> Result<Vec<DataKeyVersion>>;
    /// Adds a version as the active one; the previous active version becomes decrypt-only.
    async fn insert_data_key(&mut self, tenant: TenantId, version: u32, wrapped: &[u8], now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Retires a version: its wrapped key material is destroyed.
    async fn retire_data_key(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Records that the expiry reminder of a version went out.
    async fn mark_key_reminded(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Objects and records per data key version.
    async fn key_usage(&mut self, tenant: TenantId) -> Result<Vec<(u32, KeyUsage)>>;
    /// The stored KEK check value and provider name.
    async fn kek_check(&mut self) -> Result<Option<(String, Vec<u8>)>>;
    /// Stores the KEK check value.
    async fn set_kek_check(&mut self, provider: &str, value: &[u8], now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// Records an issued KEK share by the hex SHA-256 of its text.
    async fn insert_kek_share(&mut self, digest: &str, backup: &str, threshold: u8, now: Timestamp) -> Result<()>
    where
        Self: Writable;
    /// The backup and threshold an issued share belongs to, by the hex SHA-256 of its text.
    async fn kek_share(&mut self, digest: &str) -> Result<Option<(String, u8)>>;
    /// Whether any issued share was recorded (installations from before the records have none).
    async fn kek_shares_recorded(&mut self) -> Result<bool>;
}

impl<C: Conn> KeyStore for C {
    async fn encryption(&mut self, tenant: TenantId) -> Result<Option<(EncryptionSettings, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT encrypt_new, cryptoperiod_days, reminder_days, auto_rotate_days, blind_key, updated_at \
             FROM cfg_encryption WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.conn())
        .await?;
        row.map(|row| {
            Ok((
                EncryptionSettings {
                    encrypt_new: row.try_get::<i64, _>("encrypt_new")? != 0,
                    cryptoperiod_days: u32_col(&row, "cryptoperiod_days")?,
                    reminder_days: u32_col(&row, "reminder_days")?,
                    auto_rotate_days: opt_u32_col(&row, "auto_rotate_days")?,
                    updated_at: Timestamp(row.try_get("updated_at")?),
                },
                row.try_get("blind_key")?,
            ))
        })
        .transpose()
    }

    async fn put_encryption(&mut self, tenant: TenantId, s: &EncryptionSettings, blind_key: &[u8]) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_encryption (tenant_id, encrypt_new, cryptoperiod_days, reminder_days, auto_rotate_days, \
             blind_key, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id) DO UPDATE SET encrypt_new = $2, cryptoperiod_days = $3, reminder_days = $4, \
             auto_rotate_days = $5, updated_at = $7",
        )
        .bind(tenant.to_string())
        .bind(i64::from(s.encrypt_new))
        .bind(i64::from(s.cryptoperiod_days))
        .bind(i64::from(s.reminder_days))
        .bind(s.auto_rotate_days.map(i64::from))
        .bind(blind_key.to_vec())
        .bind(s.updated_at.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn encryption_tenants(&mut self) -> Result<Vec<TenantId>> {
        let rows =
            sqlx::query("SELECT tenant_id FROM cfg_encryption ORDER BY tenant_id").fetch_all(self.conn()).await?;
        rows.iter().map(|r| Ok(TenantId(col_uuid(r, "tenant_id")?))).collect()
    }

    async fn data_keys(&mut self, tenant: TenantId) -> Result<Vec<DataKeyVersion>> {
        let rows = sqlx::query(
            "SELECT version, wrapped, state, created_at, reminded_at, retired_at FROM cfg_data_key \
             WHERE tenant_id = $1 ORDER BY version",
        )
        .bind(tenant.to_string())
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DataKeyVersion {
                    version: u32_col(row, "version")?,
                    state: enum_col(row, "state", KeyState::parse)?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    retired_at: opt_ts(row, "retired_at")?,
                    reminded_at: opt_ts(row, "reminded_at")?,
                    wrapped: row.try_get::<Option<Vec<u8>>, _>("wrapped")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn insert_data_key(&mut self, tenant: TenantId, version: u32, wrapped: &[u8], now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("UPDATE cfg_data_key SET state = 'decrypt_only' WHERE tenant_id = $1 AND state = 'active'")
            .bind(tenant.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO cfg_data_key (tenant_id, version, wrapped, state, created_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(tenant.to_string())
        .bind(i64::from(version))
        .bind(wrapped.to_vec())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn retire_data_key(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query(
            "UPDATE cfg_data_key SET state = 'retired', wrapped = NULL, retired_at = $3 \
             WHERE tenant_id = $1 AND version = $2 AND state = 'decrypt_only'",
        )
        .bind(tenant.to_string())
        .bind(i64::from(version))
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        affected(r)
    }

    async fn mark_key_reminded(&mut self, tenant: TenantId, version: u32, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        let r = sqlx::query("UPDATE cfg_data_key SET reminded_at = $3 WHERE tenant_id = $1 AND version = $2")
            .bind(tenant.to_string())
            .bind(i64::from(version))
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        affected(r)
    }

    async fn key_usage(&mut self, tenant: TenantId) -> Result<Vec<(u32, KeyUsage)>> {
        let mut out: std::collections::BTreeMap<u32, KeyUsage> = std::collections::BTreeMap::new();
        // What depends on a version: 0 objects, 1 list records, 2 subject identifiers.
        for (sql, what) in [
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM op_object WHERE tenant_id = $1 AND key_version IS NOT NULL \
                 GROUP BY key_version",
                0,
            ),
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM out_record WHERE tenant_id = $1 AND key_version IS NOT NULL \
                 GROUP BY key_version",
                1,
            ),
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM op_interaction_identifier WHERE tenant_id = $1 \
                 GROUP BY key_version",
                2,
            ),
            (
                "SELECT key_version AS v, COUNT(*) AS n FROM cfg_subject_exclusion WHERE tenant_id = $1 GROUP BY key_version",
                2,
            ),
        ] {
            for row in sqlx::query(sql).bind(tenant.to_string()).fetch_all(self.conn()).await? {
                let entry = out.entry(u32_col(&row, "v")?).or_default();
                let n = u64_col(&row, "n")?;
                match what {
                    0 => entry.objects = n,
                    1 => entry.records = n,
                    _ => entry.identifiers += n,
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn kek_check(&mut self) -> Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query("SELECT provider, check_value FROM cfg_kek_check WHERE id = 1")
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| Ok((r.try_get("provider")?, r.try_get("check_value")?))).transpose()
    }

    async fn set_kek_check(&mut self, provider: &str, value: &[u8], now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_kek_check (id, provider, check_value, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET provider = $1, check_value = $2, created_at = $3",
        )
        .bind(provider.to_owned())
        .bind(value.to_vec())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn insert_kek_share(&mut self, digest: &str, backup: &str, threshold: u8, now: Timestamp) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("INSERT INTO cfg_kek_share (digest, backup, threshold, issued_at) VALUES ($1, $2, $3, $4)")
            .bind(digest.to_owned())
            .bind(backup.to_owned())
            .bind(i64::from(threshold))
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn kek_share(&mut self, digest: &str) -> Result<Option<(String, u8)>> {
        let row = sqlx::query("SELECT backup, threshold FROM cfg_kek_share WHERE digest = $1")
            .bind(digest.to_owned())
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| {
            let threshold: i64 = r.try_get("threshold")?;
            Ok((r.try_get("backup")?, u8::try_from(threshold).unwrap_or(u8::MAX)))
        })
        .transpose()
    }

    async fn kek_shares_recorded(&mut self) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM cfg_kek_share LIMIT 1").fetch_optional(self.conn()).await?.is_some())
    }
}
