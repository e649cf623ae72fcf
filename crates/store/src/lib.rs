//! Storage for callvault: traits split by capability, and one SQL implementation that serves both
//! SQLite (the embedded default) and PostgreSQL through sqlx's `Any` driver.
//!
//! Architecture invariant: this is the only crate that knows SQL. Services open a [`Tx`] (a write
//! transaction) or a [`Reader`] and call the capability traits on it; every tenant-owned query
//! takes the tenant id and filters on it, so no call can return another tenant's rows.
//!
//! Dialect differences live only in the migration folders (`migrations/sqlite`,
//! `migrations/postgres`); the queries are written in the common subset (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`), and ids are stored as text, times as integer milliseconds.
// The traits are used with concrete types (`Tx`, `Reader`), so the futures of their async
// methods keep their `Send`-ness; the lint guards against dyn or generic use we do not make.
#![allow(async_fn_in_trait)]

mod audit;
pub mod batch;
pub mod calls;
pub mod classes;
mod closing;
mod collection;
mod dial;
mod directory;
mod dpo;
mod identity;
mod interactions;
mod migrate;
pub mod personal;
mod recording;
mod retention;
mod tenants;
mod vault;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row};
use uuid::Uuid;

pub use audit::{AuditFilter, AuditHead, AuditInsert, AuditRow, AuditStore, SignedTreeHeadRow};
pub use calls::CallStore;
pub use closing::{CLOSED_REFERENCE, ClosingStore, Held};
pub use collection::CollectionStore;
pub use dial::DialStore;
pub use directory::{DirectoryStore, NewUser, UserPatch};
pub use dpo::{DpoRequestRow, DpoStore, RecordIdentifier, Rectified};
pub use identity::{
    AccountControl, CredentialOwner, CredentialRow, CredentialStore, GrantStore, IdentityStore, NotificationStore,
    RoleStore, ServiceAccountStore, SessionRow, SessionStore, SigningKeyRow, SigningKeyStore,
};
pub use interactions::{InteractionRow, InteractionStore, OrphanReference, ResealIdentifier, SealedIdentifier};
pub use migrate::{MIGRATIONS, Migration, current_version};
pub use recording::{PauseRow, RecordingStore};
pub use retention::{ErasedKind, RetentionStore, Tombstone};
pub use tenants::{EventLoggingRow, TenantStore};
pub use vault::{
    CeremonyStore, JobStore, KeyStore, KeyUsage, ListStore, NewBlob, ObjectQuery, ObjectStore, RewrapRow, VaultStore,
    WebhookStore,
};

/// Every capability trait, for `use callvault_store::prelude::*`: a service that works across
/// domains calls methods of several traits on one transaction.
pub mod prelude {
    pub use crate::{
        AuditStore, CallStore, CeremonyStore, ClosingStore, CollectionStore, CredentialStore, DialStore,
        DirectoryStore, DpoStore, GrantStore, IdentityStore, InteractionStore, JobStore, KeyStore, ListStore,
        NotificationStore, ObjectStore, RecordingStore, RetentionStore, RoleStore, ServiceAccountStore, SessionStore,
        SigningKeyStore, TenantStore, VaultStore, WebhookStore, Writable,
    };
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one SQLite file in the data directory.
    Sqlite,
    /// PostgreSQL, selected by a `postgres://` URL.
    Postgres,
}

impl Backend {
    /// The backend a database URL selects.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config("database URL must start with sqlite: or postgres://".into()))
        }
    }

    /// Name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (in this tenant).
    #[error("not found")]
    NotFound,
    /// A uniqueness or reference constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(ConflictKind),
    /// The database schema is newer than this binary, or a migration changed after it ran.
    #[error("schema: {0}")]
    Schema(String),
    /// Bad configuration (URL).
    #[error("configuration: {0}")]
    Config(String),
    /// A stored value could not be decoded (corruption or a bug).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
}

/// Which constraint refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// A unique name or key already exists.
    Duplicate,
    /// The write references a row that does not exist, or deletes one still referenced.
    Reference,
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConflictKind::Duplicate => "already exists",
            ConflictKind::Reference => "referenced object missing or still in use",
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(ConflictKind::Duplicate),
                sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::Conflict(ConflictKind::Reference),
                _ => StoreError::Database(e),
            },
            _ => StoreError::Database(e),
        }
    }
}

/// Result of the storage layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection to the database: a pool for writes and one for reads.
///
/// SQLite allows one writer at a time, so its write pool holds a single connection; this turns
/// lock contention into an orderly queue and lets every write transaction start without
/// `SQLITE_BUSY` upgrades. PostgreSQL uses one pool for both.
#[derive(Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    /// SQLite: one write transaction at a time in this process, taken before a write
    /// connection ([`Store::begin`]). The write pool has three connections: one the group
    /// committer keeps ([`batch::Solo`]), and two so that a transaction never waits for the
    /// previous one's connection to come back (sqlx returns a connection on a task of its own,
    /// after a round trip to check it); the gate keeps them from meeting on SQLite's lock,
    /// where a writer would sleep in the busy handler.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    backend: Backend,
    /// The URL, for the bus listener's own connection (never printed: it may hold a password).
    url: std::sync::Arc<str>,
    /// The bus channel: one per database schema, so installations (and tests) sharing a
    /// PostgreSQL database in different schemas never hear each other.
    channel: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// Opens the database at `url` and applies pending migrations. A schema newer than this
    /// binary is refused (no downgrades).
    pub async fn open(url: &str) -> Result<Store> {
        let store = Self::connect(url).await?;
        migrate::run(&store).await?;
        Ok(store)
    }

    /// Opens without migrating (used by tests of the migrator and by read-only tools).
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Config(e.to_string()))?;
        let (write, read) = match backend {
            Backend::Sqlite => {
                let write = sqlite_pool(3).connect_with(options.clone()).await?;
                let read = sqlite_pool(4).connect_with(options).await?;
                (write, read)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let channel = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => {
                let schema: String = sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&write).await?;
                format!("callvault_{:016x}", fnv1a(schema.bytes()))
            }
        };
        Ok(Store { write, read, gate: Default::default(), backend, url: url.into(), channel: channel.into() })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        let (tx, gate) = match self.backend {
            // IMMEDIATE takes the write lock up front, so a transaction never fails half-way on
            // a lock upgrade.
            Backend::Sqlite => {
                let gate = self.gate.clone().lock_owned().await;
                (self.write.begin_with("BEGIN IMMEDIATE").await?, Some(gate))
            }
            Backend::Postgres => (self.write.begin().await?, None),
        };
        Ok(Tx { tx, _gate: gate, backend: self.backend, channel: self.channel.clone() })
    }

    /// Copies what the write-ahead log holds into the database file, without waiting for any
    /// reader or writer (SQLite; nothing on PostgreSQL, whose server does it). Writers leave
    /// this to a background task ([`SQLITE_CHECKPOINT_EVERY`]) so that a commit is not made to
    /// wait for it; they checkpoint themselves only when the log grows past
    /// 10,000 pages (`wal_autocheckpoint`, 10 times SQLite's default, about 40 MB), which it
    /// reaches only if the background checkpoint falls behind.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.read).await?;
        }
        Ok(())
    }

    /// A connection for reads outside any write transaction.
    pub async fn reader(&self) -> Result<Reader> {
        Ok(Reader { conn: self.read.acquire().await?, backend: self.backend })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Takes the right to do, on this node alone, work that several nodes sharing the database
    /// must not do at once (the retention purge, the scrub): `None` while another node holds it.
    /// On PostgreSQL it is a transaction-scoped advisory lock on a transaction of its own, held
    /// until the guard is dropped (also when the node dies: the connection ends); on SQLite,
    /// which one node uses, it is always granted.
    pub async fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Exclusive { held: None }));
        }
        let mut tx = self.write.begin().await?;
        let key = exclusive_key(name);
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(key).fetch_one(&mut *tx).await?;
        if got {
            Ok(Some(Exclusive { held: Some(tx) }))
        } else {
            tx.rollback().await?;
            Ok(None)
        }
    }

    /// Sends `payload` to every node's [`Listener`] now (outside any transaction: for news of a
    /// change already committed). Nothing on SQLite, which one node uses.
    pub async fn notify(&self, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            let mut conn = self.write.acquire().await?;
            notify_on(&mut conn, &self.channel, payload).await?;
        }
        Ok(())
    }

    /// A listener of the nodes' bus: `None` on SQLite (one node, nothing to hear).
    pub async fn listen(&self) -> Result<Option<Listener>> {
        if self.backend == Backend::Sqlite {
            return Ok(None);
        }
        let mut inner = sqlx::postgres::PgListener::connect(&self.url).await?;
        inner.listen(&self.channel).await?;
        Ok(Some(Listener { inner }))
    }

    /// Makes what was deleted unrecoverable from the database's files. On SQLite
    /// `secure_delete` zeroes a deleted row, but a page split earlier may have left a copy of
    /// the row in the unused part of another page, and the write-ahead log holds pages as they
    /// were: `VACUUM` rebuilds every page from the live rows, then the log is checkpointed and
    /// truncated to zero bytes. `false` when readers kept the log from being truncated (the next
    /// checkpoint does it). It takes the writer for as long as the rebuild lasts (seconds per
    /// hundred megabytes). On PostgreSQL nothing here: its write-ahead log and dead row versions
    /// are the server's (VACUUM and WAL recycling).
    pub async fn wipe_deleted(&self) -> Result<bool> {
        if self.backend == Backend::Postgres {
            return Ok(true);
        }
        let _gate = self.gate.lock().await;
        let mut conn = self.write.acquire().await?;
        sqlx::raw_sql("VACUUM").execute(&mut *conn).await?;
        for _ in 0..3 {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
            if row.try_get::<i64, _>(0)? == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Closes all connections.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// How often a node checkpoints its SQLite write-ahead log ([`Store::checkpoint`]).
pub const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        // A connection to a local file does not go stale: no ping before each use (a round
        // trip to the connection's thread before every transaction).
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // `secure_delete`: a deleted row's bytes (a wrapped content key, sealed content
                // kept in the row) are overwritten with zeros, not left in free pages.
                sqlx::raw_sql(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; \
                     PRAGMA wal_autocheckpoint = 10000;",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
}

/// The right to do work no other node does at the same time ([`Store::try_exclusive`]). Give it
/// back with [`Exclusive::release`]; dropped, it is released once its connection is next used
/// or closed.
pub struct Exclusive {
    held: Option<sqlx::Transaction<'static, Any>>,
}

impl Exclusive {
    /// Releases the lock at once (ends its transaction).
    pub async fn release(mut self) {
        if let Some(tx) = self.held.take() {
            let _ = tx.rollback().await;
        }
    }
}

/// The advisory lock key of a name.
fn exclusive_key(name: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(b"callvault:".iter().chain(name.as_bytes()).copied()).to_ne_bytes())
}

/// FNV-1a 64 (migration checksums, advisory lock keys: stable, not secret).
pub(crate) fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The longest payload the bus carries (PostgreSQL refuses notifications of 8,000 bytes or more).
pub const BUS_PAYLOAD_MAX: usize = 7_900;

async fn notify_on(conn: &mut AnyConnection, channel: &str, payload: &str) -> Result<()> {
    if payload.len() > BUS_PAYLOAD_MAX {
        return Err(StoreError::Config(format!("a bus message of {} bytes is over {BUS_PAYLOAD_MAX}", payload.len())));
    }
    // pg_notify returns void, which the Any driver cannot decode: count the one row instead.
    sqlx::query("SELECT count(*) AS n FROM (SELECT pg_notify($1, $2)) AS sent")
        .bind(channel.to_owned())
        .bind(payload.to_owned())
        .execute(conn)
        .await?;
    Ok(())
}

/// What a [`Listener`] heard.
#[derive(Debug)]
pub enum Heard {
    /// A message another node (or this one) sent.
    Message(String),
    /// The connection was lost and is being made again: messages sent meanwhile are lost, so
    /// whatever they would have refreshed must be refreshed from the database.
    Gap,
}

/// Hears the nodes' bus (PostgreSQL LISTEN on its own connection).
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

impl Listener {
    /// The next message, or a gap; an error while the database cannot be reached.
    pub async fn recv(&mut self) -> Result<Heard> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => Heard::Message(n.payload().to_owned()),
            None => Heard::Gap,
        })
    }
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    /// Released after `tx` (fields drop in order), which has then rolled back if it had to.
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    backend: Backend,
    channel: std::sync::Arc<str>,
}

impl Tx {
    /// Commits every write made through this transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back explicitly.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The backend (for the rare statement whose form must differ, e.g. row locks).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// An empty batch of writes for this transaction ([`batch::Batch::execute`]).
    pub fn batch(&self) -> batch::Batch {
        batch::Batch::new(self.backend)
    }

    /// Waits for the advisory lock named `name`, held until this transaction ends (PostgreSQL;
    /// nothing on SQLite, whose write transaction already excludes every other writer).
    pub(crate) async fn advisory_lock(&mut self, name: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            // The lock returns void, which the Any driver cannot decode: count the one row.
            sqlx::query("SELECT count(*) AS n FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(exclusive_key(name))
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Sends `payload` to every node's [`Listener`] when this transaction commits (not at all
    /// if it rolls back). Nothing on SQLite.
    pub async fn notify(&mut self, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            notify_on(&mut self.tx, &self.channel, payload).await?;
        }
        Ok(())
    }
}

/// A pooled connection for reads.
pub struct Reader {
    conn: PoolConnection<Any>,
    backend: Backend,
}

/// Anything the capability traits can run statements on.
pub trait Conn: Send {
    /// The underlying connection.
    fn conn(&mut self) -> &mut AnyConnection;
    /// Its engine (for the rare statement whose form must differ).
    fn engine(&self) -> Backend;
}

impl Conn for Tx {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    fn engine(&self) -> Backend {
        self.backend
    }
}

impl Conn for Reader {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    fn engine(&self) -> Backend {
        self.backend
    }
}

/// A connection that may write: only a [`Tx`]. Every method of the capability traits that
/// changes a row is bounded by `Self: Writable`, so a [`Reader`] has the reads and none of the
/// writes, and a write outside a transaction does not compile:
///
/// ```compile_fail
/// use callvault_model::records::{Tenant, Timestamp};
/// use callvault_store::{Store, TenantStore};
/// async fn update_through_a_reader(store: &Store, tenant: &Tenant) {
///     let mut reader = store.reader().await.unwrap();
///     let _ = reader.update_tenant(tenant, Timestamp(0)).await;
/// }
/// ```
///
/// The same call on a transaction compiles:
///
/// ```
/// use callvault_model::records::{Tenant, Timestamp};
/// use callvault_store::{Store, TenantStore};
/// async fn update_in_a_transaction(store: &Store, tenant: &Tenant) {
///     let mut tx = store.begin().await.unwrap();
///     let _ = tx.update_tenant(tenant, Timestamp(0)).await;
/// }
/// ```
pub trait Writable: Conn {}

impl Writable for Tx {}

// ---- row decoding helpers shared by the entity modules ----

pub(crate) fn col_uuid(row: &sqlx::any::AnyRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(format!("column {col} is not a uuid")))
}

pub(crate) fn col_opt_uuid(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<Uuid>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(format!("column {col} is not a uuid")))).transpose()
}

pub(crate) fn col_json<T: serde::de::DeserializeOwned>(row: &sqlx::any::AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|_| StoreError::Corrupt(format!("column {col} is not valid json")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode json: {e}")))
}

/// Maps "zero rows affected" to [`StoreError::NotFound`].
pub(crate) fn affected(result: sqlx::any::AnyQueryResult) -> Result<()> {
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
