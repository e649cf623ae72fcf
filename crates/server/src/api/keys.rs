//! Key management (PCI DSS 3.6, 3.7): encryption state, data key versions with age and use, dual-control
//! ceremonies, and the background jobs they start.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::vault::{Ceremony, CeremonyKind, EncryptionSettings, Job, JobState, KeyState};
use callvault_model::{CeremonyId, JobId, SecretString, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use callvault_core::vault::ceremony;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(encryption_status))
        .routes(routes!(list_keys))
        .routes(routes!(list_ceremonies, propose_ceremony))
        .routes(routes!(get_ceremony))
        .routes(routes!(approve_ceremony))
        .routes(routes!(cancel_ceremony))
        .routes(routes!(pickup_share))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(pause_job))
        .routes(routes!(resume_job))
}

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn key_reader(state: &AppState, ctx: &Ctx) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::Key, tenant)).await?;
    Ok(tenant)
}

/// A data key version with its age and what depends on it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyVersionView {
    /// Version.
    pub version: u32,
    /// State.
    pub state: KeyState,
    /// Created.
    pub created_at: callvault_model::records::Timestamp,
    /// Age in whole days.
    pub age_days: i64,
    /// Older than the cryptoperiod while still active: change it (PCI DSS 3.7.4).
    pub expired: bool,
    /// Objects whose content keys it wraps.
    pub objects: u64,
    /// List records whose fields it seals.
    pub records: u64,
    /// When the expiry reminder went out.
    pub reminded_at: Option<callvault_model::records::Timestamp>,
    /// Retired at.
    pub retired_at: Option<callvault_model::records::Timestamp>,
}

/// The encryption state of the tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EncryptionStatus {
    /// Encryption was ever enabled (settings exist).
    pub configured: bool,
    /// New content is encrypted (encryption state "Active").
    pub active: bool,
    /// Settings.
    pub settings: Option<EncryptionSettings>,
    /// The active version.
    pub active_version: Option<KeyVersionView>,
    /// Where the KEK lives.
    pub kek: String,
}

async fn versions(state: &AppState, tenant: TenantId) -> ApiResult<(Option<EncryptionSettings>, Vec<KeyVersionView>)> {
    let mut r = state.store.reader().await?;
    let settings = r.encryption(tenant).await?.map(|(s, _)| s);
    let usage = r.key_usage(tenant).await?;
    let period = settings.as_ref().map_or(callvault_core::vault::DEFAULT_CRYPTOPERIOD_DAYS, |s| s.cryptoperiod_days);
    let now = state.clock.now().millis();
    let views = r
        .data_keys(tenant)
        .await?
        .into_iter()
        .map(|v| {
            let u = usage.iter().find(|(ver, _)| *ver == v.version).map(|(_, u)| *u).unwrap_or_default();
            let age_days = (now - v.created_at.millis()).max(0) / DAY_MS;
            KeyVersionView {
                version: v.version,
                state: v.state,
                created_at: v.created_at,
                age_days,
                expired: v.state == KeyState::Active && age_days >= i64::from(period),
                objects: u.objects,
                records: u.records,
                reminded_at: v.reminded_at,
                retired_at: v.retired_at,
            }
        })
        .collect();
    Ok((settings, views))
}

/// The tenant's encryption state and the age of its current key.
#[utoipa::path(get, path = "/v1/encryption", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = EncryptionStatus), (status = 403, body = Problem)))]
async fn encryption_status(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<EncryptionStatus>> {
    let tenant = key_reader(&state, &ctx).await?;
    let (settings, versions) = versions(&state, tenant).await?;
    Ok(axum::Json(EncryptionStatus {
        configured: settings.is_some(),
        active: settings.as_ref().is_some_and(|s| s.encrypt_new),
        settings,
        active_version: versions.into_iter().find(|v| v.state == KeyState::Active),
        kek: state.vault.kek().describe(),
    }))
}

/// Data key versions, oldest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [KeyVersionView]), (status = 403, body = Problem)))]
async fn list_keys(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<KeyVersionView>>> {
    let tenant = key_reader(&state, &ctx).await?;
    Ok(axum::Json(versions(&state, tenant).await?.1))
}

/// A proposal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// What to do.
    pub kind: CeremonyKind,
    /// Its parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The proposer's password (re-authentication).
    pub password: SecretString,
    /// A fresh TOTP code of the proposer.
    pub totp: SecretString,
}

/// An approval.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The approver's password.
    pub password: SecretString,
    /// A fresh TOTP code of the approver.
    pub totp: SecretString,
}

/// Proposes a key operation; a second custodian must approve it before it expires.
#[utoipa::path(post, path = "/v1/key-ceremonies", tag = "keys", security(("bearer" = [])), request_body = ProposeBody,
    responses((status = 201, body = Ceremony), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn propose_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<ProposeBody>,
) -> ApiResult<(StatusCode, axum::Json<Ceremony>)> {
    let c = ceremony::propose(&state, &ctx, body.kind, &body.params, &body.password, &body.totp).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Ceremonies of the tenant, newest first.
#[utoipa::path(get, path = "/v1/key-ceremonies", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [Ceremony]), (status = 403, body = Problem)))]
async fn list_ceremonies(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Ceremony>>> {
    let tenant = ceremony::custodian(&ctx, &state, Action::Read).await?;
    Ok(axum::Json(state.store.reader().await?.ceremonies(tenant).await?))
}

/// One ceremony.
#[utoipa::path(get, path = "/v1/key-ceremonies/{id}", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Ceremony), (status = 404, body = Problem)))]
async fn get_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
) -> ApiResult<axum::Json<Ceremony>> {
    ceremony::custodian(&ctx, &state, Action::Read).await?;
    Ok(axum::Json(ceremony::load_visible(&state, &ctx, id).await?))
}

/// Approves a ceremony (a custodian other than the proposer) and carries it out.
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/approve", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = Ceremony), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 410, body = Problem)))]
async fn approve_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
    Json(body): Json<ApproveBody>,
) -> ApiResult<axum::Json<Ceremony>> {
    Ok(axum::Json(ceremony::approve(&state, &ctx, id, &body.password, &body.totp).await?))
}

/// Withdraws a proposal.
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/cancel", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Ceremony), (status = 409, body = Problem)))]
async fn cancel_ceremony(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
) -> ApiResult<axum::Json<Ceremony>> {
    Ok(axum::Json(ceremony::cancel(&state, &ctx, id).await?))
}

/// A custodian's share of a KEK backup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    /// The share text (`cvs1-…`): shown once; keep it offline, apart from the other shares.
    pub share: String,
}

/// Picks up the caller's share of a completed `kek_backup` ceremony, once (re-authenticated).
#[utoipa::path(post, path = "/v1/key-ceremonies/{id}/share", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = ShareView), (status = 403, body = Problem), (status = 410, body = Problem)))]
async fn pickup_share(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<CeremonyId>,
    Json(body): Json<ApproveBody>,
) -> ApiResult<axum::Json<ShareView>> {
    let share = ceremony::pickup_share(&state, &ctx, id, &body.password, &body.totp).await?;
    Ok(axum::Json(ShareView { share }))
}

/// A job with its throughput and expected remaining time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Objects per second since the runner (re)started it.
    pub objects_per_sec: Option<f64>,
    /// Bytes per second since the runner (re)started it.
    pub bytes_per_sec: Option<f64>,
    /// Estimated seconds left.
    pub eta_secs: Option<f64>,
}

fn view(state: &AppState, job: Job) -> JobView {
    let rate =
        (job.state == JobState::Running).then(|| state.vault.rate(job.id, job.objects_done, job.bytes_done)).flatten();
    let eta =
        rate.and_then(|(ops, _)| (ops > 0.0).then(|| job.objects_total.saturating_sub(job.objects_done) as f64 / ops));
    JobView { objects_per_sec: rate.map(|r| r.0), bytes_per_sec: rate.map(|r| r.1), eta_secs: eta, job }
}

/// Jobs of the tenant, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = [JobView]), (status = 403, body = Problem)))]
async fn list_jobs(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<JobView>>> {
    let tenant = key_reader(&state, &ctx).await?;
    let jobs = state.store.reader().await?.jobs(tenant).await?;
    Ok(axum::Json(jobs.into_iter().map(|j| view(&state, j)).collect()))
}

/// One job with its progress.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
async fn get_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    let tenant = key_reader(&state, &ctx).await?;
    let job = state.store.reader().await?.job(tenant, id).await.map_err(|e| ApiError::from_store(e, "job"))?;
    Ok(axum::Json(view(&state, job)))
}

async fn set_state(state: &AppState, ctx: &Ctx, id: JobId, from: JobState, to: JobState) -> ApiResult<JobView> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::ManageKeys, &ResourceRef::tenant_wide(Resource::Key, tenant)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let job = tx.job(tenant, id).await.map_err(|e| ApiError::from_store(e, "job"))?;
    if job.state != from {
        return Err(ApiError::conflict(format!("the job is {}, not {from}", job.state)));
    }
    tx.set_job_state(tenant, id, &[from], to, now).await?;
    let action = if to == JobState::Paused { "job.paused" } else { "job.resumed" };
    let event = ctx.event(action).target("job", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.vault.jobs_wakeup.notify_one();
    let job = state.store.reader().await?.job(tenant, id).await?;
    Ok(view(state, job))
}

/// Pauses a running job (every object stays readable).
#[utoipa::path(post, path = "/v1/jobs/{id}/pause", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 409, body = Problem)))]
async fn pause_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(set_state(&state, &ctx, id, JobState::Running, JobState::Paused).await?))
}

/// Resumes a paused job where it stopped.
#[utoipa::path(post, path = "/v1/jobs/{id}/resume", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 409, body = Problem)))]
async fn resume_job(State(state): State<AppState>, ctx: Ctx, Path(id): Path<JobId>) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(set_state(&state, &ctx, id, JobState::Paused, JobState::Running).await?))
}
