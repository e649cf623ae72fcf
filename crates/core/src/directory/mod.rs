//! The tenant's directory and its access administration: teams, skills and services
//! ([`units`]), users with their master data, assignments and credential actions ([`users`]),
//! and roles, grants, service accounts, notifications and explanations ([`access`]).
//!
//! Every call authorizes first; every write takes the [`Permit`](crate::caller::Permit) it got
//! and appends its audit entry in the same transaction.

pub mod access;
pub mod units;
pub mod users;

use callvault_model::vault::Ceremony;
use callvault_store::{ConflictKind, StoreError};

use crate::audit::AppendError;
use crate::caller::AccessError;
use crate::custody::CustodyError;
use crate::identity::IdentityError;
use crate::input::InputError;

/// Why a directory or access-administration call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A name, login, address or document is not acceptable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The named object does not exist in the tenant, or a constraint on it refused the write.
    #[error("{what}: {error}")]
    Row {
        /// What kind of object.
        what: &'static str,
        /// What the store said.
        error: StoreError,
    },
    /// The change would leave the tenant without an administrator.
    #[error("the last administrator of a tenant cannot be {0}; make another user administrator first")]
    LastAdministrator(&'static str),
    /// The action cannot be done on one's own account.
    #[error("{0}")]
    NotOnYourself(&'static str),
    /// Default roles are fixed.
    #[error("default roles cannot be {0}")]
    DefaultRole(&'static str),
    /// The role is still granted.
    #[error("the role is still granted; delete its grants first")]
    RoleStillGranted,
    /// A service account holds the role and would gain privileges a service account may not hold.
    #[error(
        "a service account holds this role; service accounts cannot administer identities, hold key custody or \
         touch personal data"
    )]
    ServiceAccountHoldsRole,
    /// A revoked service account is never reactivated.
    #[error("the service account is revoked; a revoked account is never reactivated: create a new one")]
    ServiceAccountRevoked,
    /// Separation of duties or dual control refused.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// Passwords and second factors.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a store error on an object of kind `what`: missing rows and refused constraints name the
/// object; anything else is a store failure.
pub(crate) fn row(what: &'static str) -> impl FnOnce(StoreError) -> DirectoryError {
    move |error| match error {
        StoreError::NotFound | StoreError::Conflict(ConflictKind::Duplicate | ConflictKind::Reference) => {
            DirectoryError::Row { what, error }
        }
        other => DirectoryError::Store(other),
    }
}

/// The result of a change that may need a second person: done at once, or proposed as a
/// ceremony that another administrator approves.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Done.
    Done(T),
    /// Proposed; nothing changes until the ceremony is approved.
    Proposed(Box<Ceremony>),
}
