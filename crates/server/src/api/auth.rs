//! Authentication endpoints: login, logout, who am I, password change, TOTP enrolment, sessions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use callvault_core::identity::own;
use callvault_model::{SecretString, SessionId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::identity::own::{SessionView, session_views};

use crate::auth::{Ctx, EnrollCtx};
use crate::error::{ApiResult, Problem};
use crate::extract::{ClientIp, Json, Path};
use crate::state::AppState;
use callvault_core::identity::{self, LoginRequest, LoginResponse};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(confirm_email))
        .routes(routes!(verify_email))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_confirm))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_other_sessions))
}

/// Logs in with username, password, tenant and, once enrolled, a TOTP code.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 403, body = Problem, description = "second factor required")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let origin = state.auditor.origin(request_id, ip);
    Ok(axum::Json(identity::login(&state, req, origin).await?))
}

/// Ends the current session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, EnrollCtx(ctx): EnrollCtx) -> ApiResult<StatusCode> {
    own::logout(&state, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// `operator:<id>`, `user:<id>` or `service_account:<id>`.
    pub principal: String,
    /// Tenant id, absent for provider operators.
    pub tenant_id: Option<String>,
    /// Session id, for human callers.
    pub session_id: Option<SessionId>,
    /// Whether the session presented a second factor.
    pub second_factor: bool,
    /// The caller's grants, as `role@scope`.
    pub grants: Vec<String>,
}

/// Who is calling.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(EnrollCtx(ctx): EnrollCtx) -> ApiResult<axum::Json<Me>> {
    let grants = ctx.subject.as_ref().map(|s| s.describe_grants()).unwrap_or_default();
    Ok(axum::Json(Me {
        principal: ctx.principal.to_string(),
        tenant_id: ctx.tenant.map(|t| t.to_string()),
        session_id: ctx.session,
        second_factor: ctx.second_factor,
        grants,
    }))
}

/// Body of a password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password (re-authentication).
    pub current_password: SecretString,
    /// The new password (NIST 800-63B rules).
    pub new_password: SecretString,
}

/// Changes the caller's own password and ends all its other sessions.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    own::change_password(&state, &ctx, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An address to confirm.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmail {
    /// One of the caller's e-mail addresses in the directory.
    #[schema(value_type = String)]
    pub address: callvault_model::Personal<String>,
}

/// A code received by e-mail.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCode {
    /// The six digits.
    pub code: SecretString,
}

/// Sends a code to one of the caller's e-mail addresses. Once confirmed with the code, it is the
/// address that receives sign-in codes after repeated failures; an administrator's later edit of
/// the directory does not change it.
#[utoipa::path(post, path = "/v1/auth/email/confirm", tag = "auth", security(("bearer" = [])), request_body = ConfirmEmail,
    responses((status = 202), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn confirm_email(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<ConfirmEmail>,
) -> ApiResult<StatusCode> {
    own::confirm_own_email(&state, &ctx, body.address.expose()).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms the address with the code it received.
#[utoipa::path(post, path = "/v1/auth/email/verify", tag = "auth", security(("bearer" = [])), request_body = EmailCode,
    responses((status = 204), (status = 422, body = Problem)))]
async fn verify_email(State(state): State<AppState>, ctx: Ctx, Json(body): Json<EmailCode>) -> ApiResult<StatusCode> {
    own::verify_own_email(&state, &ctx, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A TOTP enrolment in progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpEnrollment {
    /// `otpauth://` URI to show as a QR code.
    pub otpauth_uri: String,
    /// The seed in base32, for manual entry.
    pub secret: String,
}

/// Starts TOTP enrolment for the caller.
#[utoipa::path(post, path = "/v1/auth/totp/enroll", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrollment), (status = 409, body = Problem)))]
async fn totp_enroll(
    State(state): State<AppState>,
    EnrollCtx(ctx): EnrollCtx,
) -> ApiResult<axum::Json<TotpEnrollment>> {
    let (otpauth_uri, secret) = identity::begin_totp_enrollment(&state, ctx.principal, ctx.tenant).await?;
    Ok(axum::Json(TotpEnrollment { otpauth_uri, secret }))
}

/// A code that confirms enrolment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    /// The current 6-digit code.
    pub code: SecretString,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Each usable once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
    /// The full session that replaces the enrolment session: use its token from now on (the
    /// enrolment token is revoked).
    pub session: Option<LoginResponse>,
}

/// Confirms TOTP enrolment with a first code; returns recovery codes and the full session that
/// replaces the enrolment session (a new token: the one used here stops working).
#[utoipa::path(post, path = "/v1/auth/totp/confirm", tag = "auth", security(("bearer" = [])), request_body = TotpConfirm,
    responses((status = 200, body = RecoveryCodes), (status = 422, body = Problem)))]
async fn totp_confirm(
    State(state): State<AppState>,
    EnrollCtx(ctx): EnrollCtx,
    Json(body): Json<TotpConfirm>,
) -> ApiResult<axum::Json<RecoveryCodes>> {
    let enrolled =
        identity::confirm_totp_enrollment(&state, ctx.principal, ctx.tenant, ctx.session, &body.code).await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes: enrolled.recovery_codes, session: enrolled.session }))
}

/// The caller's sessions.
#[utoipa::path(get, path = "/v1/sessions", tag = "auth", security(("bearer" = [])), responses((status = 200, body = [SessionView])))]
async fn list_sessions(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<SessionView>>> {
    Ok(axum::Json(own::own_sessions(&state, &ctx).await?))
}

/// Revokes a session: one of the caller's, or (security officers, administrators) one of another
/// user's in the caller's scope.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "auth", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_session(State(state): State<AppState>, ctx: Ctx, Path(id): Path<SessionId>) -> ApiResult<StatusCode> {
    own::revoke_session(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions were ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// Count.
    pub revoked: u64,
}

/// Ends every other session of the caller ("log out other sessions").
#[utoipa::path(post, path = "/v1/sessions/revoke-others", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Revoked)))]
async fn revoke_other_sessions(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Revoked>> {
    Ok(axum::Json(Revoked { revoked: own::revoke_other_sessions(&state, &ctx).await? }))
}
