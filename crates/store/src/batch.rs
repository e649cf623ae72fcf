//! Several writes sent in one round trip. A group commit writes its objects, their audit
//! entries and (on SQLite) the audit head: statement by statement that was a dozen round trips
//! to the connection's thread or server, each a wake-up of two threads, for one group.
//!
//! - On SQLite the statements go as one script: sqlx prepares them one after the other and binds
//!   each statement's anonymous placeholders (`?`) from the arguments in order.
//! - On PostgreSQL, whose extended protocol takes one statement at a time, they go as one
//!   statement of data-modifying `WITH` parts, placeholders numbered across it. Its parts see
//!   one snapshot, so a batch holds only writes that do not read each other's rows.
//!
//! Values are always bound; only placeholders are formatted into the text.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, AssertSqlSafe, Encode, Type};

use crate::{Backend, Result, StoreError, Writable};

mod guarded;
pub use guarded::{Guarded, Solo};

/// Values one PostgreSQL statement may bind at most (its protocol counts them in 16 bits).
const PG_MAX_VALUES: usize = 65_535;

/// Writes to send together ([`Batch::execute`]).
pub struct Batch {
    engine: Backend,
    /// Whether each insert is made only if the guard holds ([`Batch::guarded`]).
    guarded: bool,
    /// What goes in one round trip each: statements and their values.
    sends: Vec<(Vec<String>, AnyArguments)>,
}

impl Batch {
    /// An empty batch for `engine`.
    pub fn new(engine: Backend) -> Batch {
        Batch { engine, guarded: false, sends: Vec::new() }
    }

    /// An empty batch whose writes are made only if a guard holds: see
    /// [`Batch::commit_guarded`], the only way to run it.
    pub fn guarded(engine: Backend) -> Batch {
        Batch { engine, guarded: true, sends: Vec::new() }
    }

    /// The engine the batch is for.
    pub fn engine(&self) -> Backend {
        self.engine
    }

    /// Starts a statement that will bind `values` values: it goes with the statements before
    /// unless PostgreSQL's limit of values per statement would be passed.
    fn open(&mut self, values: usize) -> &mut (Vec<String>, AnyArguments) {
        let fits = match self.sends.last() {
            None => false,
            Some(_) if self.engine == Backend::Sqlite => true,
            Some((_, args)) => args.len() + values <= PG_MAX_VALUES,
        };
        if !fits {
            self.sends.push((Vec::new(), AnyArguments::default()));
        }
        let last = self.sends.len() - 1;
        &mut self.sends[last]
    }

    /// Adds `{head} VALUES (…),(…)`: `rows` rows of `columns` placeholders, followed by `tail`
    /// (e.g. an `ON CONFLICT` clause). Bind the values next, row by row, with [`Batch::bind`].
    pub(crate) fn insert(&mut self, head: &str, rows: usize, columns: usize, tail: &str) {
        let (engine, guarded) = (self.engine, self.guarded);
        let (statements, args) = self.open(rows * columns);
        let values = crate::audit::values_list_from(engine, rows, columns, args.len() + 1);
        if guarded && engine == Backend::Postgres {
            statements.push(format!("{head} SELECT * FROM (VALUES {values}) v WHERE (SELECT ok FROM ok){tail}"));
        } else {
            statements.push(format!("{head} VALUES {values}{tail}"));
        }
    }

    /// Binds the next value of the last statement added.
    pub(crate) fn bind<'t, T: Encode<'t, Any> + Type<Any>>(&mut self, value: T) -> Result<()> {
        let Some((_, args)) = self.sends.last_mut() else {
            return Err(StoreError::Corrupt("a value bound before its statement".into()));
        };
        args.add(value).map_err(|e| StoreError::Corrupt(format!("a value that cannot be bound: {e}")))
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Runs every statement on `conn`, in order: one round trip for all of them (more only past
    /// PostgreSQL's values limit).
    pub async fn execute<C: Writable + ?Sized>(self, conn: &mut C) -> Result<()> {
        self.run(conn).await.map(drop)
    }

    /// Adds, last, a statement that returns rows (`{head}` followed by `IN (…)` of `values`
    /// placeholders and `tail`); [`Batch::run`] returns them. Bind its values next.
    pub(crate) fn select_in(&mut self, head: &str, values: usize, tail: &str) {
        let engine = self.engine;
        let (statements, args) = self.open(values);
        let list = crate::audit::values_list_from(engine, 1, values, args.len() + 1);
        statements.push(format!("{head} IN {list}{tail}"));
    }

    /// Runs every statement; returns the rows of the last round trip (those of a statement
    /// added by [`Batch::select_in`]).
    pub(crate) async fn run<C: Writable + ?Sized>(self, conn: &mut C) -> Result<Vec<AnyRow>> {
        if self.guarded {
            return Err(StoreError::Corrupt("a guarded batch runs only on its own (Batch::commit_guarded)".into()));
        }
        let mut rows = Vec::new();
        for (statements, args) in self.sends {
            let sql = match self.engine {
                Backend::Sqlite => statements.join(";\n"),
                Backend::Postgres => with_parts(statements),
            };
            rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(conn.conn()).await?;
        }
        Ok(rows)
    }
}

/// `WITH w1 AS (s1), w2 AS (s2) sN`: the statements as one (PostgreSQL).
fn with_parts(mut statements: Vec<String>) -> String {
    let Some(last) = statements.pop() else { return String::new() };
    if statements.is_empty() {
        return last;
    }
    let parts: Vec<String> = statements.iter().enumerate().map(|(i, s)| format!("w{i} AS ({s})")).collect();
    format!("WITH {} {last}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_statements_become_one_with_placeholders_numbered_across_it() -> Result<()> {
        let mut b = Batch::new(Backend::Postgres);
        b.insert("INSERT INTO a (x, y)", 2, 2, "");
        for v in 0..4_i64 {
            b.bind(v)?;
        }
        b.insert("INSERT INTO b (z)", 1, 1, " ON CONFLICT DO NOTHING");
        b.bind(9_i64)?;
        assert_eq!(b.sends.len(), 1);
        let Some((statements, args)) = b.sends.pop() else { return Err(StoreError::NotFound) };
        assert_eq!(args.len(), 5);
        assert_eq!(
            with_parts(statements),
            "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1,$2),($3,$4)) INSERT INTO b (z) VALUES ($5) ON CONFLICT DO NOTHING"
        );
        Ok(())
    }

    #[test]
    fn sqlite_statements_become_one_script_of_anonymous_placeholders() {
        let mut b = Batch::new(Backend::Sqlite);
        b.insert("INSERT INTO a (x)", 2, 1, "");
        b.insert("INSERT INTO b (z)", 1, 1, "");
        let (statements, _) = &b.sends[0];
        assert_eq!(statements.join(";\n"), "INSERT INTO a (x) VALUES (?),(?);\nINSERT INTO b (z) VALUES (?)");
    }

    #[test]
    fn past_postgres_values_limit_a_second_round_trip_starts() -> Result<()> {
        let mut b = Batch::new(Backend::Postgres);
        b.insert("INSERT INTO a (x)", 40_000, 1, "");
        for _ in 0..40_000 {
            b.bind(1_i64)?;
        }
        b.insert("INSERT INTO a (x)", 40_000, 1, "");
        assert_eq!(b.sends.len(), 2);
        assert!(b.sends[1].0[0].starts_with("INSERT INTO a (x) VALUES ($1)"));
        Ok(())
    }

    #[test]
    fn a_value_before_any_statement_is_an_error() {
        assert!(Batch::new(Backend::Sqlite).bind(1_i64).is_err());
    }
}
