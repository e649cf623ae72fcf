//! What security officers see of the keyring and act on between ceremonies: the tenant's
//! encryption state, each data key version with its age against the cryptoperiod (PCI DSS
//! 3.6.4, NIST SP 800-57) and what depends on it, the ceremonies, and the background jobs with
//! their progress, which they may pause and resume.

use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::{Ceremony, EncryptionSettings, Job, JobState, KeyState};
use callvault_model::{JobId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::StoreError;
use callvault_store::prelude::*;
use serde::Serialize;

use super::DEFAULT_CRYPTOPERIOD_DAYS;
use super::ceremony::{self, CeremonyError};
use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Why a key status was not shown or a job not paused or resumed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// No such job in the tenant.
    #[error("no such job")]
    NoSuchJob,
    /// The job is not in the state the change starts from.
    #[error("the job is {now}, not {expected}")]
    JobState {
        /// Its state.
        now: JobState,
        /// The state the change needs.
        expected: JobState,
    },
    /// Listing ceremonies.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A data key version with its age and what depends on it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyVersionView {
    /// Version.
    pub version: u32,
    /// State.
    pub state: KeyState,
    /// Created.
    pub created_at: Timestamp,
    /// Age in whole days.
    pub age_days: i64,
    /// Older than the cryptoperiod while still active: change it (PCI DSS 3.7.4).
    pub expired: bool,
    /// Objects whose content keys it wraps.
    pub objects: u64,
    /// List records whose fields it seals.
    pub records: u64,
    /// Subject identifiers (interactions' and the exclusion list's) it seals.
    pub identifiers: u64,
    /// When the expiry reminder went out.
    pub reminded_at: Option<Timestamp>,
    /// Retired at.
    pub retired_at: Option<Timestamp>,
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

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, StatusError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Key, tenant)).await?)
}

async fn versions(
    state: &Services,
    tenant: TenantId,
) -> Result<(Option<EncryptionSettings>, Vec<KeyVersionView>), StatusError> {
    let mut r = state.store.reader().await?;
    let settings = r.encryption(tenant).await?.map(|(s, _)| s);
    let usage = r.key_usage(tenant).await?;
    let period = settings.as_ref().map_or(DEFAULT_CRYPTOPERIOD_DAYS, |s| s.cryptoperiod_days);
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
                identifiers: u.identifiers,
                reminded_at: v.reminded_at,
                retired_at: v.retired_at,
            }
        })
        .collect();
    Ok((settings, views))
}

/// The tenant's encryption state and the age of its current key.
pub async fn encryption(state: &Services, ctx: &Ctx) -> Result<EncryptionStatus, StatusError> {
    let permit = allow(state, ctx, Action::Read).await?;
    let (settings, versions) = versions(state, permit.tenant()).await?;
    Ok(EncryptionStatus {
        configured: settings.is_some(),
        active: settings.as_ref().is_some_and(|s| s.encrypt_new),
        settings,
        active_version: versions.into_iter().find(|v| v.state == KeyState::Active),
        kek: state.vault.kek().describe(),
    })
}

/// Data key versions, oldest first.
pub async fn key_versions(state: &Services, ctx: &Ctx) -> Result<Vec<KeyVersionView>, StatusError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(versions(state, permit.tenant()).await?.1)
}

/// The ceremonies of the caller's tenant (or, for provider operators, the provider's), newest
/// first.
pub async fn ceremonies(state: &Services, ctx: &Ctx) -> Result<Vec<Ceremony>, StatusError> {
    let tenant = ceremony::custodian(ctx, state, Action::Read).await?;
    Ok(state.store.reader().await?.ceremonies(tenant).await?)
}

/// One ceremony the caller may see.
pub async fn ceremony(state: &Services, ctx: &Ctx, id: callvault_model::CeremonyId) -> Result<Ceremony, StatusError> {
    ceremony::custodian(ctx, state, Action::Read).await?;
    Ok(ceremony::load_visible(state, ctx, id).await?)
}

fn view(state: &Services, job: Job) -> JobView {
    let rate =
        (job.state == JobState::Running).then(|| state.vault.rate(job.id, job.objects_done, job.bytes_done)).flatten();
    let eta =
        rate.and_then(|(ops, _)| (ops > 0.0).then(|| job.objects_total.saturating_sub(job.objects_done) as f64 / ops));
    JobView { objects_per_sec: rate.map(|r| r.0), bytes_per_sec: rate.map(|r| r.1), eta_secs: eta, job }
}

fn no_such_job(e: StoreError) -> StatusError {
    match e {
        StoreError::NotFound => StatusError::NoSuchJob,
        e => StatusError::Store(e),
    }
}

/// Jobs of the tenant, newest first.
pub async fn jobs(state: &Services, ctx: &Ctx) -> Result<Vec<JobView>, StatusError> {
    let permit = allow(state, ctx, Action::Read).await?;
    let jobs = state.store.reader().await?.jobs(permit.tenant()).await?;
    Ok(jobs.into_iter().map(|j| view(state, j)).collect())
}

/// One job with its progress.
pub async fn job(state: &Services, ctx: &Ctx, id: JobId) -> Result<JobView, StatusError> {
    let permit = allow(state, ctx, Action::Read).await?;
    let job = state.store.reader().await?.job(permit.tenant(), id).await.map_err(no_such_job)?;
    Ok(view(state, job))
}

/// Pauses a running job (every object stays readable).
pub async fn pause_job(state: &Services, ctx: &Ctx, id: JobId) -> Result<JobView, StatusError> {
    set_state(state, ctx, id, JobState::Running, JobState::Paused).await
}

/// Resumes a paused job where it stopped.
pub async fn resume_job(state: &Services, ctx: &Ctx, id: JobId) -> Result<JobView, StatusError> {
    set_state(state, ctx, id, JobState::Paused, JobState::Running).await
}

async fn set_state(
    state: &Services,
    ctx: &Ctx,
    id: JobId,
    from: JobState,
    to: JobState,
) -> Result<JobView, StatusError> {
    let permit = allow(state, ctx, Action::ManageKeys).await?;
    let tenant = permit.tenant();
    permit.covers(Action::ManageKeys, Resource::Key, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let job = tx.job(tenant, id).await.map_err(no_such_job)?;
    if job.state != from {
        return Err(StatusError::JobState { now: job.state, expected: from });
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
