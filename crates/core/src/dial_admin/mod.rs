//! Administration of telecom policy: dial settings, calling-hour rules, named calling areas and
//! their assignments to users, teams and services ([`policy`]); do-not-call lists, registry
//! imports and internal numbers ([`dnc`]). Every change is audited and then reloads what the
//! dial runtime caches, so the next check sees it.
//!
//! Numbers never travel in paths or audit entries: a number is audited as a keyed digest.

pub mod dnc;
pub mod policy;

use callvault_policy::dnc::ImportError;
use callvault_policy::rules::RuleError;
use callvault_store::StoreError;

use crate::audit::AppendError;
use crate::caller::AccessError;
use crate::dial::DialError;
use crate::input::InputError;

/// Why a dial setting, rule, area, assignment or do-not-call list was not changed.
#[derive(Debug, thiserror::Error)]
pub enum DialAdminError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The document is not acceptable (missing or unknown fields).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The calling-hour rules were refused whole; the rules in force are unchanged.
    #[error("the rules were refused ({} error(s); the rules in force are unchanged); {}", .0.len(), .0.first().map_or_else(String::new, ToString::to_string))]
    Rules(Vec<RuleError>),
    /// A registry file was refused whole; the copy in force is unchanged.
    #[error("the file was refused ({count} bad line(s); the list in force is unchanged); {}", first_line(.errors))]
    File {
        /// How many lines were bad.
        count: u64,
        /// The first of them, with line numbers.
        errors: Vec<ImportError>,
    },
    /// The area is a default or assigned.
    #[error("the area is a default or assigned; remove it there first")]
    AreaInUse,
    /// Registry lists change by import only; internal lists one number at a time.
    #[error("{0}")]
    WrongListKind(&'static str),
    /// No such user, team, service, area, list or number, or a duplicate.
    #[error("{what}: {error}")]
    Row {
        /// What kind of object.
        what: &'static str,
        /// What the store said.
        error: StoreError,
    },
    /// The body could not be read to its end.
    #[error("reading the body: {0}")]
    Body(String),
    /// Writing the registry file failed.
    #[error("the registry file could not be written: {0}")]
    Io(String),
    /// The dial runtime failed.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Encoding or a blocking task failed.
    #[error("{0}")]
    Internal(String),
}

fn first_line(errors: &[ImportError]) -> String {
    errors.first().map_or_else(String::new, |e| format!("line {}: {}", e.line, e.message))
}

fn row(what: &'static str) -> impl FnOnce(StoreError) -> DialAdminError {
    move |error| match error {
        StoreError::NotFound | StoreError::Conflict(_) => DialAdminError::Row { what, error },
        other => DialAdminError::Store(other),
    }
}

fn missing(what: &'static str) -> DialAdminError {
    DialAdminError::Row { what, error: StoreError::NotFound }
}

/// A name of an area or list: 1 to 64 printable characters.
fn check_name(name: &str) -> Result<(), DialAdminError> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(DialAdminError::Invalid("name: 1 to 64 printable characters".into()));
    }
    Ok(())
}
