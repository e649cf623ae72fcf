//! Versioned migrations: one transaction each, the version recorded, downgrades refused.

use sqlx::{AssertSqlSafe, Row};

use crate::{Backend, Result, Store, StoreError};

/// One schema version, with its SQL for each backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Monotonic version number.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// SQL for SQLite.
    pub sqlite: &'static str,
    /// SQL for PostgreSQL.
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }

    /// A stable checksum of the SQL (FNV-1a 64), to notice a migration edited after it ran.
    pub fn checksum(&self, backend: Backend) -> String {
        format!("{:016x}", crate::fnv1a(self.sql(backend).bytes()))
    }
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "vault",
        sqlite: include_str!("../migrations/sqlite/0002_vault.sql"),
        postgres: include_str!("../migrations/postgres/0002_vault.sql"),
    },
    Migration {
        version: 3,
        name: "dial",
        sqlite: include_str!("../migrations/sqlite/0003_dial.sql"),
        postgres: include_str!("../migrations/postgres/0003_dial.sql"),
    },
    Migration {
        version: 4,
        name: "calls",
        sqlite: include_str!("../migrations/sqlite/0004_calls.sql"),
        postgres: include_str!("../migrations/postgres/0004_calls.sql"),
    },
    Migration {
        version: 5,
        name: "duties",
        sqlite: include_str!("../migrations/sqlite/0005_duties.sql"),
        postgres: include_str!("../migrations/postgres/0005_duties.sql"),
    },
    Migration {
        version: 6,
        name: "hardening",
        sqlite: include_str!("../migrations/sqlite/0006_hardening.sql"),
        postgres: include_str!("../migrations/postgres/0006_hardening.sql"),
    },
    Migration {
        version: 7,
        name: "event_logging",
        sqlite: include_str!("../migrations/sqlite/0007_event_logging.sql"),
        postgres: include_str!("../migrations/postgres/0007_event_logging.sql"),
    },
    Migration {
        version: 8,
        name: "interactions",
        sqlite: include_str!("../migrations/sqlite/0008_interactions.sql"),
        postgres: include_str!("../migrations/postgres/0008_interactions.sql"),
    },
    Migration {
        version: 9,
        name: "retention",
        sqlite: include_str!("../migrations/sqlite/0009_retention.sql"),
        postgres: include_str!("../migrations/postgres/0009_retention.sql"),
    },
    Migration {
        version: 10,
        name: "legal_holds",
        sqlite: include_str!("../migrations/sqlite/0010_legal_holds.sql"),
        postgres: include_str!("../migrations/postgres/0010_legal_holds.sql"),
    },
    Migration {
        version: 11,
        name: "tombstones",
        sqlite: include_str!("../migrations/sqlite/0011_tombstones.sql"),
        postgres: include_str!("../migrations/postgres/0011_tombstones.sql"),
    },
    Migration {
        version: 12,
        name: "dpo_requests",
        sqlite: include_str!("../migrations/sqlite/0012_dpo_requests.sql"),
        postgres: include_str!("../migrations/postgres/0012_dpo_requests.sql"),
    },
    Migration {
        version: 13,
        name: "collection",
        sqlite: include_str!("../migrations/sqlite/0013_collection.sql"),
        postgres: include_str!("../migrations/postgres/0013_collection.sql"),
    },
    Migration {
        version: 14,
        name: "subject_exclusions",
        sqlite: include_str!("../migrations/sqlite/0014_subject_exclusions.sql"),
        postgres: include_str!("../migrations/postgres/0014_subject_exclusions.sql"),
    },
    Migration {
        version: 15,
        name: "user_tombstones",
        sqlite: include_str!("../migrations/sqlite/0015_user_tombstones.sql"),
        postgres: include_str!("../migrations/postgres/0015_user_tombstones.sql"),
    },
    Migration {
        version: 16,
        name: "identifier_key_index",
        sqlite: include_str!("../migrations/sqlite/0016_identifier_key_index.sql"),
        postgres: include_str!("../migrations/postgres/0016_identifier_key_index.sql"),
    },
    Migration {
        version: 17,
        name: "object_redactions",
        sqlite: include_str!("../migrations/sqlite/0017_object_redactions.sql"),
        postgres: include_str!("../migrations/postgres/0017_object_redactions.sql"),
    },
    Migration {
        version: 18,
        name: "recording_policy",
        sqlite: include_str!("../migrations/sqlite/0018_recording_policy.sql"),
        postgres: include_str!("../migrations/postgres/0018_recording_policy.sql"),
    },
    Migration {
        version: 19,
        name: "list_service",
        sqlite: include_str!("../migrations/sqlite/0019_list_service.sql"),
        postgres: include_str!("../migrations/postgres/0019_list_service.sql"),
    },
    Migration {
        version: 20,
        name: "job_lease",
        sqlite: include_str!("../migrations/sqlite/0020_job_lease.sql"),
        postgres: include_str!("../migrations/postgres/0020_job_lease.sql"),
    },
    Migration {
        version: 21,
        name: "nodes",
        sqlite: include_str!("../migrations/sqlite/0021_nodes.sql"),
        postgres: include_str!("../migrations/postgres/0021_nodes.sql"),
    },
    Migration {
        version: 22,
        name: "object_fillfactor",
        sqlite: include_str!("../migrations/sqlite/0022_object_fillfactor.sql"),
        postgres: include_str!("../migrations/postgres/0022_object_fillfactor.sql"),
    },
    Migration {
        version: 23,
        name: "inline_content",
        sqlite: include_str!("../migrations/sqlite/0023_inline_content.sql"),
        postgres: include_str!("../migrations/postgres/0023_inline_content.sql"),
    },
    Migration {
        version: 24,
        name: "open_call_counts",
        sqlite: include_str!("../migrations/sqlite/0024_open_call_counts.sql"),
        postgres: include_str!("../migrations/postgres/0024_open_call_counts.sql"),
    },
    Migration {
        version: 25,
        name: "object_fillfactor_half",
        sqlite: include_str!("../migrations/sqlite/0025_object_fillfactor_half.sql"),
        postgres: include_str!("../migrations/postgres/0025_object_fillfactor_half.sql"),
    },
    Migration {
        version: 26,
        name: "tenant_generation",
        sqlite: include_str!("../migrations/sqlite/0026_tenant_generation.sql"),
        postgres: include_str!("../migrations/postgres/0026_tenant_generation.sql"),
    },
];

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS cv_migration (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies every pending migration of [`MIGRATIONS`].
pub(crate) async fn run(store: &Store) -> Result<()> {
    run_list(store, MIGRATIONS).await
}

/// Applies `migrations` (a parameter so tests can simulate newer binaries).
pub(crate) async fn run_list(store: &Store, migrations: &[Migration]) -> Result<()> {
    {
        let mut conn = store.write.acquire().await?;
        sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
    }
    let newest_known = migrations.last().map_or(0, |m| m.version);
    for migration in migrations {
        let mut tx = store.begin().await?;
        if store.backend() == Backend::Postgres {
            // Several nodes may start at once: the first one migrates, the others wait here.
            sqlx::query("SELECT pg_advisory_xact_lock(7403115)").execute(&mut *tx.tx).await?;
        }
        let applied =
            sqlx::query("SELECT version, checksum FROM cv_migration ORDER BY version").fetch_all(&mut *tx.tx).await?;
        let mut done = false;
        for row in &applied {
            let version: i64 = row.try_get("version")?;
            let checksum: String = row.try_get("checksum")?;
            if version > newest_known {
                return Err(StoreError::Schema(format!(
                    "the database is at schema version {version}, newer than this binary \
                     supports ({newest_known}); downgrades are refused"
                )));
            }
            if version == migration.version {
                if checksum != migration.checksum(store.backend()) {
                    return Err(StoreError::Schema(format!(
                        "migration {} ({}) changed after it was applied",
                        migration.version, migration.name
                    )));
                }
                done = true;
            }
        }
        if done {
            tx.rollback().await?;
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(migration.sql(store.backend()))).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO cv_migration (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum(store.backend()))
            .bind(now_millis())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
    }
    Ok(())
}

/// The schema version recorded in the database.
pub async fn current_version(store: &Store) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM cv_migration").fetch_one(&store.read).await?;
    Ok(row.try_get("v")?)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
