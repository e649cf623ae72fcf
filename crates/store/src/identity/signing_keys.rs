//! The audit log's signing key, wrapped by the KEK.

use super::*;

/// The audit log's signing key, wrapped by the KEK.
pub trait SigningKeyStore {
    /// Stores a wrapped server key.
    async fn insert_signing_key(&mut self, key: &SigningKeyRow) -> Result<()>
    where
        Self: Writable;
    /// The newest key for a purpose.
    async fn signing_key(&mut self, purpose: &str) -> Result<Option<SigningKeyRow>>;
}

impl<C: Conn> SigningKeyStore for C {
    async fn insert_signing_key(&mut self, k: &SigningKeyRow) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query(
            "INSERT INTO cfg_signing_key (key_id, purpose, public_key, wrapped_secret, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(k.key_id.clone())
        .bind(k.purpose.clone())
        .bind(k.public_key.clone())
        .bind(k.wrapped_secret.clone())
        .bind(k.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn signing_key(&mut self, purpose: &str) -> Result<Option<SigningKeyRow>> {
        let row = sqlx::query(
            "SELECT key_id, purpose, public_key, wrapped_secret, created_at FROM cfg_signing_key WHERE purpose = $1 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(purpose.to_owned())
        .fetch_optional(self.conn())
        .await?;
        row.map(|row| {
            Ok(SigningKeyRow {
                key_id: row.try_get("key_id")?,
                purpose: row.try_get("purpose")?,
                public_key: row.try_get("public_key")?,
                wrapped_secret: row.try_get("wrapped_secret")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }
}
