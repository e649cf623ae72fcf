//! A group of writes made only if what they were prepared on still holds: the tenants'
//! generations and the audit head.
//!
//! A group commit in a transaction costs three round trips on PostgreSQL (`BEGIN`, its writes,
//! `COMMIT`) and four on SQLite (the head read too), and on PostgreSQL its audit entries a pass
//! of the sequencer (another transaction that rewrites every entry to give it its leaf). Here
//! the writes carry their entries' leaves, computed from the head the committer last saw.
//!
//! - On PostgreSQL they go in one statement, its own transaction, whose guard reads the
//!   tenants' generations `FOR SHARE` (a change to what the uploads were admitted on either
//!   committed before and is seen, or waits for this statement) and locks the audit head
//!   `FOR UPDATE` (another writer of leaves, the sequencer or another node, either moved it
//!   before and the writes are not made, or waits).
//! - On SQLite, whose writers take turns, the guard is read with `BEGIN IMMEDIATE` and the
//!   writes go with `COMMIT`, or the transaction is rolled back: two round trips.
//!
//! The writes are made only if every generation is at most what its uploads were admitted at
//! and the head is the one the leaves follow; what was found is returned, so that the caller
//! answers the stale uploads and prepares the others again on the head found.

use callvault_model::TenantId;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Arguments, Row};

use super::Batch;
use crate::{AuditHead, Backend, Result, Store, StoreError};

/// A connection that runs only guarded batches ([`Batch::commit_guarded`]), each a transaction
/// of its own, so that no other write escapes a transaction.
pub struct Solo {
    conn: PoolConnection<Any>,
    closing: sqlx::pool::CloseEvent,
    /// SQLite: the store's write gate, taken for each batch ([`Store::begin`]).
    gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl Store {
    /// A connection for [`Batch::commit_guarded`]: a committer keeps it across groups, which
    /// saves taking one from the pool for each.
    pub async fn solo(&self) -> Result<Solo> {
        let gate = (self.backend == Backend::Sqlite).then(|| self.gate.clone());
        Ok(Solo { conn: self.write.acquire().await?, closing: self.write.close_event(), gate })
    }
}

impl Solo {
    /// Resolves once the store starts closing: the holder must then drop this connection, as
    /// closing waits for every connection to come back.
    pub async fn closing(&mut self) {
        (&mut self.closing).await;
    }
}

/// What the guard of a batch found ([`Batch::commit_guarded`]).
#[derive(Debug)]
pub struct Guarded {
    /// Whether the writes were made.
    pub written: bool,
    /// The audit head as found, before the writes (`None`: there is no head row yet).
    pub head: Option<AuditHead>,
    /// The generations of the tenants asked about (`None`: the tenant is gone).
    pub generations: Vec<(TenantId, Option<i64>)>,
}

impl Batch {
    /// Makes the writes of this guarded batch ([`Batch::guarded`]) in a transaction of their
    /// own (on PostgreSQL one statement) if and only if (1) each tenant of `stamps` has a generation at most its stamp
    /// (the lowest generation its uploads were admitted at) and (2) the audit head holds
    /// `tree_size` leaves. Returns what was found either way.
    pub async fn commit_guarded(self, solo: &mut Solo, stamps: &[(TenantId, i64)], tree_size: i64) -> Result<Guarded> {
        let Batch { engine, guarded, mut sends } = self;
        let Some((statements, mut args)) = sends.pop() else {
            return Err(StoreError::Corrupt("an empty guarded batch".into()));
        };
        if !guarded || !sends.is_empty() {
            return Err(StoreError::Corrupt("a guarded batch must be guarded and fit one statement".into()));
        }
        if engine == Backend::Sqlite {
            return sqlite(solo, statements, args, stamps, tree_size).await;
        }
        let mut next = args.len() + 1;
        let mut placeholder = || {
            next += 1;
            format!("${}", next - 1)
        };
        let (tenants, pairs) = if stamps.is_empty() {
            ("SELECT NULL::text AS tenant_id, NULL::bigint AS generation WHERE false".to_owned(), "TRUE".to_owned())
        } else {
            let listed: Vec<String> = stamps.iter().map(|_| placeholder()).collect();
            let pairs: Vec<String> =
                stamps.iter().map(|_| format!("({}, {}::bigint)", placeholder(), placeholder())).collect();
            (
                format!(
                    "SELECT tenant_id, generation FROM cfg_generation WHERE tenant_id IN ({}) FOR SHARE",
                    listed.join(",")
                ),
                format!(
                    "(SELECT count(*) FROM g JOIN (VALUES {}) s(t, m) ON g.tenant_id = s.t AND g.generation <= s.m) = {}",
                    pairs.join(","),
                    placeholder()
                ),
            )
        };
        let size = placeholder();
        let mut parts = vec![
            format!("g AS ({tenants})"),
            "h AS (SELECT tree_size, last_hash, frontier FROM aud_head WHERE id = 1 FOR UPDATE)".to_owned(),
            format!("ok AS (SELECT {pairs} AND (SELECT tree_size FROM h) = {size} AS ok)"),
        ];
        parts.extend(statements.into_iter().enumerate().map(|(i, s)| format!("w{i} AS ({s})")));
        let sql = format!(
            "WITH {} SELECT ok.ok, h.tree_size, h.last_hash, h.frontier, g.tenant_id, g.generation \
             FROM ok LEFT JOIN h ON true LEFT JOIN g ON true",
            parts.join(", ")
        );
        let bind_err = |e: sqlx::error::BoxDynError| StoreError::Corrupt(format!("a value that cannot be bound: {e}"));
        for (t, _) in stamps {
            args.add(t.to_string()).map_err(bind_err)?;
        }
        for (t, m) in stamps {
            args.add(t.to_string()).map_err(bind_err)?;
            args.add(*m).map_err(bind_err)?;
        }
        if !stamps.is_empty() {
            args.add(i64::try_from(stamps.len()).unwrap_or(i64::MAX)).map_err(bind_err)?;
        }
        args.add(tree_size).map_err(bind_err)?;
        let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(&mut *solo.conn).await?;
        let written = match rows.first() {
            Some(first) => first.try_get::<Option<bool>, _>("ok")?.unwrap_or(false),
            None => false,
        };
        found(&rows, stamps, written)
    }
}

/// SQLite, whose writers take turns (the store's gate, then `BEGIN IMMEDIATE`): the guard is
/// read in the round trip that begins the transaction, and the writes go with the `COMMIT`; two
/// round trips where [`Store::begin`], reads, writes and commit take four. When the guard does
/// not hold, the transaction is rolled back with nothing written.
async fn sqlite(
    solo: &mut Solo,
    statements: Vec<String>,
    args: sqlx::any::AnyArguments,
    stamps: &[(TenantId, i64)],
    tree_size: i64,
) -> Result<Guarded> {
    let Some(gate) = solo.gate.clone() else {
        return Err(StoreError::Config("a SQLite batch on a connection without the store's gate".into()));
    };
    let _turn = gate.lock().await;
    let listed = if stamps.is_empty() {
        "0".to_owned()
    } else {
        format!("g.tenant_id IN ({})", vec!["?"; stamps.len()].join(","))
    };
    let read = format!(
        "BEGIN IMMEDIATE; SELECT h.tree_size, h.last_hash, h.frontier, g.tenant_id, g.generation \
         FROM (SELECT 1) one LEFT JOIN aud_head h ON h.id = 1 LEFT JOIN cfg_generation g ON {listed}"
    );
    let mut query = sqlx::query(AssertSqlSafe(read));
    for (t, _) in stamps {
        query = query.bind(t.to_string());
    }
    let outcome = async {
        let rows = query.fetch_all(&mut *solo.conn).await?;
        let mut guarded = found(&rows, stamps, false)?;
        let holds = guarded.head.as_ref().is_some_and(|h| h.tree_size == tree_size)
            && stamps.iter().zip(&guarded.generations).all(|((_, stamp), (_, g))| g.is_some_and(|g| g <= *stamp));
        if holds {
            let mut script = statements.join(";\n");
            script.push_str(";\nCOMMIT");
            sqlx::query_with(AssertSqlSafe(script), args).execute(&mut *solo.conn).await?;
            guarded.written = true;
        } else {
            sqlx::query("ROLLBACK").execute(&mut *solo.conn).await?;
        }
        Ok(guarded)
    }
    .await;
    if outcome.is_err() {
        // Whatever failed, the transaction may still be open: the connection is not reused.
        let _ = sqlx::query("ROLLBACK").execute(&mut *solo.conn).await;
        solo.conn.close_on_drop();
    }
    outcome
}

/// Reads the rows of the guard's `SELECT` (one per tenant found, at least one).
fn found(rows: &[AnyRow], stamps: &[(TenantId, i64)], written: bool) -> Result<Guarded> {
    let Some(first) = rows.first() else {
        return Err(StoreError::Corrupt("a guarded batch returned nothing".into()));
    };
    let head = match first.try_get::<Option<i64>, _>("tree_size")? {
        Some(tree_size) => {
            Some(AuditHead { tree_size, last_hash: first.try_get("last_hash")?, frontier: first.try_get("frontier")? })
        }
        None => None,
    };
    let mut seen = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(t) = crate::col_opt_uuid(row, "tenant_id")? {
            seen.push((TenantId(t), row.try_get::<i64, _>("generation")?));
        }
    }
    let generations = stamps.iter().map(|(t, _)| (*t, seen.iter().find(|(s, _)| s == t).map(|(_, g)| *g))).collect();
    Ok(Guarded { written, head, generations })
}
