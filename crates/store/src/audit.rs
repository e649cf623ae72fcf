//! The audit log's rows: entries appended inside the transactions that make the changes they
//! record, then sequenced into Merkle-tree leaves by one sequencer at a time.

use callvault_model::TenantId;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::Writable;
use crate::batch::Batch;
use crate::{Backend, Conn, Result, StoreError, Tx, col_opt_uuid};

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Insertion order (not the leaf index).
    pub seq: i64,
    /// Leaf index, once sequenced.
    pub leaf_index: Option<i64>,
    /// Tenant, `None` for provider-level events.
    pub tenant_id: Option<TenantId>,
    /// Action name, duplicated from the body for queries.
    pub action: String,
    /// Creation time, duplicated from the body for queries.
    pub created_at: i64,
    /// The canonical JSON body that is hashed.
    pub body: String,
    /// The stored leaf hash, once sequenced.
    pub leaf_hash: Option<Vec<u8>>,
}

/// Which entries a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFilter {
    /// Every entry (verification, export by the operator of the whole log).
    All,
    /// Entries of one tenant.
    Tenant(TenantId),
    /// Provider-level entries (no tenant).
    Provider,
}

/// An entry to insert.
#[derive(Debug, Clone)]
pub struct AuditInsert<'a> {
    /// Tenant.
    pub tenant_id: Option<TenantId>,
    /// Action name.
    pub action: &'a str,
    /// Creation time.
    pub created_at: i64,
    /// Canonical JSON body.
    pub body: &'a str,
}

/// The sequencer's state: how many leaves the tree has, the last leaf hash (chained into the
/// next leaf), and the compact range of the tree's right edge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditHead {
    /// Number of leaves.
    pub tree_size: i64,
    /// Hash of the last leaf (zeros for an empty tree).
    pub last_hash: Vec<u8>,
    /// Serialised compact range.
    pub frontier: Vec<u8>,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHeadRow {
    /// Number of leaves covered.
    pub tree_size: i64,
    /// When it was signed.
    pub timestamp: i64,
    /// Merkle root.
    pub root: Vec<u8>,
    /// Which key signed.
    pub key_id: String,
    /// Ed25519 signature.
    pub signature: Vec<u8>,
}

/// Audit log storage.
pub trait AuditStore {
    /// Appends one unsequenced entry.
    async fn append_audit(&mut self, entry: &AuditInsert<'_>) -> Result<()>
    where
        Self: Writable;
    /// Appends many unsequenced entries with few statements (group commit).
    async fn append_audit_batch(&mut self, entries: &[AuditInsert<'_>]) -> Result<()>
    where
        Self: Writable;
    /// Entries not yet sequenced, in insertion order.
    async fn unsequenced_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>>;
    /// Number of entries not yet sequenced.
    async fn unsequenced_audit_count(&mut self) -> Result<i64>;
    /// Sequenced entries with `from <= leaf_index`, in leaf order, optionally of one tenant.
    async fn audit_entries(&mut self, filter: AuditFilter, from: i64, limit: i64) -> Result<Vec<AuditRow>>;
    /// One sequenced entry by leaf index.
    async fn audit_entry(&mut self, leaf_index: i64) -> Result<AuditRow>;
    /// A tenant's sequenced entries below `below` (a log size), in log order, from its
    /// `offset`-th (0-based, counting only the tenant's entries).
    async fn tenant_audit_entries(
        &mut self,
        tenant: TenantId,
        below: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>>;
    /// Stored leaf hashes for leaf indexes `0..size`.
    async fn leaf_hashes(&mut self, size: i64) -> Result<Vec<Vec<u8>>>;
    /// Every signed tree head, oldest first.
    async fn tree_heads(&mut self) -> Result<Vec<SignedTreeHeadRow>>;
    /// The newest signed tree head.
    async fn latest_tree_head(&mut self) -> Result<Option<SignedTreeHeadRow>>;
    /// A tree head of exactly this size.
    async fn tree_head(&mut self, size: i64) -> Result<SignedTreeHeadRow>;
    /// Reads the sequencer head without locking.
    async fn audit_head(&mut self) -> Result<AuditHead>;
}

fn audit_row(row: &AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        leaf_index: row.try_get("leaf_index")?,
        tenant_id: col_opt_uuid(row, "tenant_id")?.map(TenantId),
        action: row.try_get("action")?,
        created_at: row.try_get("created_at")?,
        body: row.try_get("body")?,
        leaf_hash: row.try_get("leaf_hash")?,
    })
}

fn sth_row(row: &AnyRow) -> Result<SignedTreeHeadRow> {
    Ok(SignedTreeHeadRow {
        tree_size: row.try_get("tree_size")?,
        timestamp: row.try_get("timestamp")?,
        root: row.try_get("root")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

/// Rows per multi-row statement at most (a power of two): well under SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 256;

/// `(…),(…)` for `rows` rows of `columns` placeholders: numbered (`$1,…`) on PostgreSQL, and
/// anonymous (`?`, bound in order) on SQLite, where sqlx looks a numbered placeholder up by a
/// linear scan of the statement's names, so that a statement's cost would grow with the square
/// of its values (7 % of a server's time in `sqlite3_bind_parameter_name`, BENCHMARKS.md).
pub(crate) fn values_list(engine: Backend, rows: usize, columns: usize) -> String {
    values_list_from(engine, rows, columns, 1)
}

/// [`values_list`] whose first numbered placeholder is `$first` (a statement with values before).
pub(crate) fn values_list_from(engine: Backend, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push(',');
            }
            match engine {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(first + r * columns + c).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// `items` cut into batches of at most `max` (a power of two), each a power of two long, so
/// that a batched statement comes in few shapes and stays in the statement cache.
pub(crate) fn batches<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = max.min(1 << rest.len().ilog2());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        Some(batch)
    })
}

impl<C: Conn> AuditStore for C {
    async fn append_audit(&mut self, e: &AuditInsert<'_>) -> Result<()>
    where
        Self: Writable,
    {
        sqlx::query("INSERT INTO aud_entry (tenant_id, action, created_at, body) VALUES ($1, $2, $3, $4)")
            .bind(e.tenant_id.map(|t| t.to_string()))
            .bind(e.action.to_owned())
            .bind(e.created_at)
            .bind(e.body.to_owned())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn append_audit_batch(&mut self, entries: &[AuditInsert<'_>]) -> Result<()>
    where
        Self: Writable,
    {
        let mut batch = Batch::new(self.engine());
        batch.append_audit(entries)?;
        batch.execute(self).await
    }

    async fn unsequenced_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry \
             WHERE leaf_index IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn unsequenced_audit_count(&mut self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM aud_entry WHERE leaf_index IS NULL").fetch_one(self.conn()).await?;
        Ok(row.try_get("n")?)
    }

    async fn audit_entries(&mut self, filter: AuditFilter, from: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = match filter {
            AuditFilter::All => {
                sqlx::query(
                    "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry \
                     WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
                )
                .bind(from)
                .bind(limit)
                .fetch_all(self.conn())
                .await?
            }
            AuditFilter::Provider => {
                sqlx::query(
                    "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry \
                     WHERE tenant_id IS NULL AND leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
                )
                .bind(from)
                .bind(limit)
                .fetch_all(self.conn())
                .await?
            }
            AuditFilter::Tenant(t) => {
                sqlx::query(
                    "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry \
                     WHERE tenant_id = $3 AND leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
                )
                .bind(from)
                .bind(limit)
                .bind(t.to_string())
                .fetch_all(self.conn())
                .await?
            }
        };
        rows.iter().map(audit_row).collect()
    }

    async fn tenant_audit_entries(
        &mut self,
        tenant: TenantId,
        below: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry \
             WHERE tenant_id = $1 AND leaf_index IS NOT NULL AND leaf_index < $2 ORDER BY leaf_index LIMIT $3 OFFSET $4",
        )
        .bind(tenant.to_string())
        .bind(below)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_entry(&mut self, leaf_index: i64) -> Result<AuditRow> {
        let row = sqlx::query(
            "SELECT seq, leaf_index, tenant_id, action, created_at, body, leaf_hash FROM aud_entry WHERE leaf_index = $1",
        )
        .bind(leaf_index)
        .fetch_one(self.conn())
        .await?;
        audit_row(&row)
    }

    async fn leaf_hashes(&mut self, size: i64) -> Result<Vec<Vec<u8>>> {
        let rows = sqlx::query("SELECT leaf_index, leaf_hash FROM aud_entry WHERE leaf_index < $1 ORDER BY leaf_index")
            .bind(size)
            .fetch_all(self.conn())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let index: i64 = row.try_get("leaf_index")?;
            if usize::try_from(index).ok() != Some(i) {
                return Err(StoreError::Corrupt(format!("audit leaf {i} is missing")));
            }
            out.push(row.try_get("leaf_hash")?);
        }
        if i64::try_from(out.len()).ok() != Some(size) {
            return Err(StoreError::Corrupt(format!("audit leaf {} is missing", out.len())));
        }
        Ok(out)
    }

    async fn tree_heads(&mut self) -> Result<Vec<SignedTreeHeadRow>> {
        let rows =
            sqlx::query("SELECT tree_size, timestamp, root, key_id, signature FROM aud_tree_head ORDER BY tree_size")
                .fetch_all(self.conn())
                .await?;
        rows.iter().map(sth_row).collect()
    }

    async fn latest_tree_head(&mut self) -> Result<Option<SignedTreeHeadRow>> {
        let row = sqlx::query(
            "SELECT tree_size, timestamp, root, key_id, signature FROM aud_tree_head ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(sth_row).transpose()
    }

    async fn tree_head(&mut self, size: i64) -> Result<SignedTreeHeadRow> {
        let row =
            sqlx::query("SELECT tree_size, timestamp, root, key_id, signature FROM aud_tree_head WHERE tree_size = $1")
                .bind(size)
                .fetch_one(self.conn())
                .await?;
        sth_row(&row)
    }

    async fn audit_head(&mut self) -> Result<AuditHead> {
        let row = sqlx::query("SELECT tree_size, last_hash, frontier FROM aud_head WHERE id = 1")
            .fetch_optional(self.conn())
            .await?;
        match row {
            None => Ok(AuditHead { tree_size: 0, last_hash: vec![0; 32], frontier: Vec::new() }),
            Some(row) => Ok(AuditHead {
                tree_size: row.try_get("tree_size")?,
                last_hash: row.try_get("last_hash")?,
                frontier: row.try_get("frontier")?,
            }),
        }
    }
}

impl Tx {
    /// Reads the sequencer head and, on PostgreSQL, locks it until the transaction ends so that
    /// only one node sequences at a time. (SQLite's single writer already serialises.)
    pub async fn lock_audit_head(&mut self) -> Result<AuditHead> {
        if self.backend() == Backend::Postgres {
            sqlx::query(
                "INSERT INTO aud_head (id, tree_size, last_hash, frontier) VALUES (1, 0, $1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(vec![0u8; 32])
            .bind(Vec::<u8>::new())
            .execute(self.conn())
            .await?;
            sqlx::query("SELECT tree_size FROM aud_head WHERE id = 1 FOR UPDATE").execute(self.conn()).await?;
        }
        self.audit_head().await
    }

    /// Gives leaf indexes and hashes to sequenced entries: `(seq, leaf_index, leaf_hash)`.
    pub async fn assign_audit_leaves(&mut self, leaves: &[(i64, i64, Vec<u8>)]) -> Result<()> {
        match self.backend() {
            // Measured on SQLite (BENCHMARKS.md): `UPDATE … FROM (VALUES …)` sequenced about
            // 1,000 entries/s and one statement per row about 17,000.
            Backend::Sqlite => {
                for chunk in batches(leaves, CHUNK) {
                    // One statement per chunk: `CASE seq WHEN … THEN …` keyed by the primary key,
                    // with anonymous placeholders bound in the order they appear.
                    let whens = " WHEN ? THEN ?".repeat(chunk.len());
                    let seqs = vec!["?"; chunk.len()].join(",");
                    let sql = format!(
                        "UPDATE aud_entry SET leaf_index = CASE seq{whens} END, leaf_hash = CASE seq{whens} END \
                         WHERE seq IN ({seqs}) AND leaf_index IS NULL"
                    );
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for (seq, index, _) in chunk {
                        q = q.bind(*seq).bind(*index);
                    }
                    for (seq, _, hash) in chunk {
                        q = q.bind(*seq).bind(hash.clone());
                    }
                    for (seq, _, _) in chunk {
                        q = q.bind(*seq);
                    }
                    let r = q.execute(self.conn()).await?;
                    if usize::try_from(r.rows_affected()).ok() != Some(chunk.len()) {
                        return Err(StoreError::Corrupt("audit entries sequenced twice".into()));
                    }
                }
            }
            Backend::Postgres => {
                for chunk in batches(leaves, CHUNK) {
                    // Only placeholders are formatted into the statement; every value is bound.
                    let sql = format!(
                        "UPDATE aud_entry SET leaf_index = v.column2, leaf_hash = v.column3 FROM (VALUES {}) AS v \
                         WHERE aud_entry.seq = v.column1 AND aud_entry.leaf_index IS NULL",
                        values_list(Backend::Postgres, chunk.len(), 3)
                    );
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for (seq, index, hash) in chunk {
                        q = q.bind(*seq).bind(*index).bind(hash.clone());
                    }
                    let r = q.execute(self.conn()).await?;
                    if usize::try_from(r.rows_affected()).ok() != Some(chunk.len()) {
                        return Err(StoreError::Corrupt("audit entries sequenced twice".into()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Stores the new sequencer head.
    pub async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()> {
        let mut batch = Batch::new(self.engine());
        batch.set_audit_head(head)?;
        batch.execute(self).await
    }

    /// Stores a signed tree head.
    pub async fn insert_tree_head(&mut self, sth: &SignedTreeHeadRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO aud_tree_head (tree_size, timestamp, root, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(sth.tree_size)
        .bind(sth.timestamp)
        .bind(sth.root.clone())
        .bind(sth.key_id.clone())
        .bind(sth.signature.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Batch {
    /// Adds audit entries for the sequencer.
    pub fn append_audit(&mut self, entries: &[AuditInsert<'_>]) -> Result<()> {
        for chunk in entries.chunks(CHUNK) {
            self.insert("INSERT INTO aud_entry (tenant_id, action, created_at, body)", chunk.len(), 4, "");
            for e in chunk {
                self.bind(e.tenant_id.map(|t| t.to_string()))?;
                self.bind(e.action.to_owned())?;
                self.bind(e.created_at)?;
                self.bind(e.body.to_owned())?;
            }
        }
        Ok(())
    }

    /// Adds entries with their leaves already taken: `(entry, leaf_index, leaf_hash)` (a writer
    /// that sequences its own entries, holding the head; see `assign_audit_leaves` for the
    /// usual way).
    pub fn append_audit_sequenced(&mut self, entries: &[(AuditInsert<'_>, i64, Vec<u8>)]) -> Result<()> {
        for chunk in entries.chunks(CHUNK) {
            self.insert(
                "INSERT INTO aud_entry (tenant_id, action, created_at, body, leaf_index, leaf_hash)",
                chunk.len(),
                6,
                "",
            );
            for (e, index, hash) in chunk {
                self.bind(e.tenant_id.map(|t| t.to_string()))?;
                self.bind(e.action.to_owned())?;
                self.bind(e.created_at)?;
                self.bind(e.body.to_owned())?;
                self.bind(*index)?;
                self.bind(hash.clone())?;
            }
        }
        Ok(())
    }

    /// Adds the new sequencer head.
    pub fn set_audit_head(&mut self, head: &AuditHead) -> Result<()> {
        self.insert(
            "INSERT INTO aud_head (id, tree_size, last_hash, frontier)",
            1,
            4,
            " ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, last_hash = excluded.last_hash, \
             frontier = excluded.frontier",
        );
        self.bind(1_i64)?;
        self.bind(head.tree_size)?;
        self.bind(head.last_hash.clone())?;
        self.bind(head.frontier.clone())
    }
}
