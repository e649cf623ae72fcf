//! Request authentication for the HTTP front end: the bearer token, request id and client
//! address of a request become a [`Ctx`] through [`callvault_core::caller::authenticate`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use callvault_core::caller::{AccessError, authenticate};
pub use callvault_core::caller::{Ctx, Permit, SERVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, SessionPurpose};
use callvault_model::SecretString;

use crate::error::ApiError;
use crate::state::AppState;

/// A context that also accepts enrolment-only sessions (TOTP enrolment endpoints).
pub struct EnrollCtx(pub Ctx);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = from_parts(parts, state).await?;
        if ctx.purpose != SessionPurpose::Full {
            return Err(AccessError::EnrolmentRequired.into());
        }
        Ok(ctx)
    }
}

impl FromRequestParts<AppState> for EnrollCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(EnrollCtx(from_parts(parts, state).await?))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

async fn from_parts(parts: &Parts, state: &AppState) -> Result<Ctx, AccessError> {
    let presented = Presented::of(parts);
    authenticate(state, presented.token(), presented.request_id.clone(), presented.ip).await
}

/// What a request presents to be authenticated, not yet checked: for a service that may answer
/// from what the node remembers ([`callvault_core::vault::uploads::admit_cached`]) before it
/// authenticates the usual way ([`Presented::ctx`]).
pub struct Presented {
    token: Option<SecretString>,
    /// The request id, for the audit log.
    pub request_id: Option<String>,
    /// The client's address, for the audit log.
    pub ip: Option<IpAddr>,
}

impl Presented {
    fn of(parts: &Parts) -> Self {
        Presented {
            token: bearer(parts).map(|t| SecretString::new(t.to_owned())),
            request_id: parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
            ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        }
    }

    /// The bearer token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_ref().map(SecretString::expose)
    }

    /// The caller, authenticated from the store, with a session good for everything (as the
    /// [`Ctx`] extractor).
    pub async fn ctx(&self, state: &AppState) -> Result<Ctx, ApiError> {
        let ctx = authenticate(state, self.token(), self.request_id.clone(), self.ip).await?;
        if ctx.purpose != SessionPurpose::Full {
            return Err(AccessError::EnrolmentRequired.into());
        }
        Ok(ctx)
    }
}

impl FromRequestParts<AppState> for Presented {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Presented::of(parts))
    }
}
