//! Request authentication for the HTTP front end: the bearer token, request id and client
//! address of a request become a [`Ctx`] through [`callvault_core::caller::authenticate`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use callvault_core::caller::{AccessError, authenticate};
pub use callvault_core::caller::{Ctx, Permit, SERVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, SessionPurpose};

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
    let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    authenticate(state, bearer(parts), request_id, ip).await
}
