//! The background job runner that applies encryption settings: rewrap, re-encrypt, decrypt-all,
//! encrypt-all. Each job selects what still needs work by a predicate (so a restart simply
//! continues), processes objects in id order after its cursor, and records progress in the same
//! transaction that switches each object.

use std::collections::HashSet;
use std::time::Duration;

use callvault_crypto::envelope::{BlobHeader, ObjectContext};
use callvault_model::records::Timestamp;
use callvault_model::vault::{Job, JobKind, JobState, KeyState, StoredObject};
use callvault_store::RewrapRow;
use callvault_store::prelude::*;

use super::{ContentError, read_plain, verify_blob, write_blob};
use crate::audit::{Actor, AuditEvent};
use crate::services::Services;

/// Why a step of a key job failed (the runner retries; per-object failures are counted in the
/// job instead).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A data key version is not available.
    #[error(transparent)]
    Key(#[from] super::KeyError),
    /// An encrypted field could not be re-sealed.
    #[error(transparent)]
    Field(#[from] crate::lists::ListError),
    /// A subject identifier could not be re-sealed.
    #[error(transparent)]
    Identifier(#[from] crate::subjects::SubjectError),
    /// The job row is inconsistent (no target version).
    #[error("{0}")]
    Inconsistent(&'static str),
    /// A blob file could not be removed, or a blocking task failed.
    #[error("{0}")]
    Io(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] callvault_store::StoreError),
    /// Another node took the job over (this node's lease had expired): this node's step was
    /// rolled back and the other continues from the job's cursor.
    #[error("another node took the job over")]
    LeaseLost,
}

impl JobError {
    fn io(e: impl std::fmt::Display) -> Self {
        JobError::Io(e.to_string())
    }
}

/// Objects per rewrap transaction.
pub const REWRAP_BATCH: i64 = 2000;
/// Rewrap batches per job step (between claims of the job).
const REWRAP_BATCHES_PER_STEP: usize = 8;
/// Objects per round of content transforms.
pub const TRANSFORM_BATCH: i64 = 16;
/// Unreferenced blob files younger than this are left alone by the sweep (an upload may be
/// between its rename and its commit).
pub const SWEEP_MIN_AGE: Duration = Duration::from_secs(600);

/// Runs jobs until the process ends.
pub async fn run_jobs(state: Services) {
    loop {
        match run_once(&state).await {
            Ok(true) => tokio::task::yield_now().await,
            Ok(false) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), state.vault.jobs_wakeup.notified()).await;
            }
            Err(JobError::LeaseLost) => {
                tracing::info!("a job this node was running was taken over by another node");
            }
            Err(e) => {
                tracing::warn!(error = %e, "job runner step failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Does one step of the oldest running job this node may claim (see [`claim`]). Returns whether
/// there was work.
pub async fn run_once(state: &Services) -> Result<bool, JobError> {
    let Some(job) = claim(state).await? else { return Ok(false) };
    let beat = tokio::spawn(heartbeat(state.clone(), job.clone()));
    let result = step(state, job).await;
    beat.abort();
    result.map(|()| true)
}

/// Claims a job for this node: the oldest running one without a live lease of another node
/// (several nodes share one database; each job runs on one node at a time, and a node that dies
/// is replaced within `job_lease_secs`, resuming at the job's cursor).
async fn claim(state: &Services) -> Result<Option<Job>, JobError> {
    let mut tx = state.store.begin().await?;
    let job = tx.claim_job(&state.config.node(), state.clock.now().millis(), lease_until(state)).await?;
    tx.commit().await?;
    Ok(job)
}

fn lease_ms(state: &Services) -> i64 {
    i64::try_from(state.config.job_lease_secs.saturating_mul(1000)).unwrap_or(30_000)
}

fn lease_until(state: &Services) -> i64 {
    state.clock.now().millis().saturating_add(lease_ms(state))
}

/// Renews this node's lease every third of its length while a step runs (a large object's
/// transform can outlast a lease); stops when the lease is lost.
async fn heartbeat(state: Services, job: Job) {
    let every = Duration::from_millis(u64::try_from(lease_ms(&state) / 3).unwrap_or(10_000));
    let node = state.config.node();
    loop {
        tokio::time::sleep(every).await;
        let Ok(mut tx) = state.store.begin().await else { continue };
        match tx.hold_job_lease(job.tenant_id, job.id, &node, lease_until(&state)).await {
            Ok(true) => {
                let _ = tx.commit().await;
            }
            _ => {
                let _ = tx.rollback().await;
                return;
            }
        }
    }
}

/// A write transaction that first renews this node's lease on `job`: a node that lost the job
/// to another commits nothing.
async fn fenced(state: &Services, job: &Job) -> Result<callvault_store::Tx, JobError> {
    let mut tx = state.store.begin().await?;
    if !tx.hold_job_lease(job.tenant_id, job.id, &state.config.node(), lease_until(state)).await? {
        tx.rollback().await?;
        return Err(JobError::LeaseLost);
    }
    Ok(tx)
}

/// One step of a claimed job.
async fn step(state: &Services, mut job: Job) -> Result<(), JobError> {
    if state.vault.rate(job.id, job.objects_done, job.bytes_done).is_none() {
        state.vault.rate_start(job.id, job.objects_done, job.bytes_done);
        sweep(state, &job).await?;
    }
    if job.kind == JobKind::Rewrap {
        let target = job.target_version.ok_or_else(|| JobError::Inconsistent("rewrap without a target version"))?;
        let tenant = job.tenant_id;
        let read = |cursor: Option<String>| async move {
            let mut r = state.store.reader().await?;
            Ok::<_, JobError>(r.rewrap_rows(tenant, target, cursor.as_deref(), REWRAP_BATCH).await?)
        };
        let mut rows = read(job.cursor.clone()).await?;
        if !rows.is_empty() {
            // Pipelined: the next batch is read while this one is written (the next lies after
            // this one's last id, which the write does not touch); each batch commits its own
            // progress, so a kill loses at most the batch in flight.
            for _ in 0..REWRAP_BATCHES_PER_STEP {
                let next_cursor = rows.last().map(|o| o.id.to_string());
                let (written, next) = tokio::join!(rewrap_batch(state, &mut job, target, &rows), read(next_cursor));
                written?;
                rows = next?;
                if rows.is_empty() {
                    break;
                }
            }
            return Ok(());
        }
    }
    let objects = if job.kind == JobKind::Rewrap {
        Vec::new()
    } else {
        state
            .store
            .reader()
            .await?
            .job_objects(job.tenant_id, job.kind, job.target_version, job.cursor.as_deref(), TRANSFORM_BATCH)
            .await?
    };
    if objects.is_empty() {
        if matches!(job.kind, JobKind::Rewrap | JobKind::Reencrypt)
            && (reseal_records(state, &job).await? || reseal_identifiers(state, &job).await?)
        {
            return Ok(());
        }
        finish(state, &job).await?;
        return Ok(());
    }
    for o in &objects {
        if !still_running(state, &job).await? {
            break;
        }
        transform_one(state, &mut job, o).await?;
    }
    Ok(())
}

async fn still_running(state: &Services, job: &Job) -> Result<bool, JobError> {
    Ok(state.store.reader().await?.job(job.tenant_id, job.id).await?.state == JobState::Running)
}

async fn sweep(state: &Services, job: &Job) -> Result<(), JobError> {
    let names: HashSet<String> = state.store.reader().await?.blob_names(job.tenant_id).await?.into_iter().collect();
    let vault = state.vault.clone();
    let tenant = job.tenant_id;
    let removed = tokio::task::spawn_blocking(move || vault.blobs.sweep(tenant, &names, SWEEP_MIN_AGE))
        .await
        .map_err(JobError::io)?;
    if removed > 0 {
        tracing::info!(removed, "removed unreferenced blob files");
    }
    Ok(())
}

fn content_err(e: ContentError) -> String {
    e.to_string()
}

/// Rewrap: content keys re-wrapped under the target version; blobs untouched except for
/// reading each 24-byte header (the header is bound into the wrap).
async fn rewrap_batch(state: &Services, job: &mut Job, target: u32, objects: &[RewrapRow]) -> Result<(), JobError> {
    let mut r = state.store.reader().await?;
    let new_dk = state.vault.data_key(&mut r, job.tenant_id, target).await?;
    let mut updates = Vec::with_capacity(objects.len());
    let mut failures = Vec::new();
    for o in objects {
        let old = o.key_version;
        let old_dk = state.vault.data_key(&mut r, job.tenant_id, old).await?;
        let result = (|| {
            // The header recorded with the key: no blob is read.
            let header = BlobHeader::decode(&o.header)?;
            let ctx = ObjectContext {
                tenant: *job.tenant_id.0.as_bytes(),
                object: *o.id.0.as_bytes(),
                class: o.class.as_str(),
            };
            let wrapped = o.wrapped_key.as_deref().ok_or_else(|| ContentError::Key("no wrapped key".into()))?;
            let ck = old_dk.unwrap_content_key(&ctx, &header, wrapped)?;
            Ok::<_, ContentError>(new_dk.wrap_content_key(&ctx, &header, &ck)?)
        })();
        match result {
            Ok(w) => updates.push((o, old, w)),
            Err(e) => failures.push((o, content_err(e))),
        }
    }
    drop(r);
    let now = state.clock.now();
    let mut tx = fenced(state, job).await?;
    let items: Vec<(callvault_model::ObjectId, Vec<u8>)> = updates.into_iter().map(|(o, _, w)| (o.id, w)).collect();
    tx.rewrap_objects(job.tenant_id, target, &items).await?;
    job.objects_done += items.len() as u64;
    for (_, e) in &failures {
        job.failures += 1;
        job.objects_done += 1;
        job.last_error = Some(e.clone());
    }
    job.cursor = objects.last().map(|o| o.id.to_string());
    job.updated_at = now;
    tx.job_progress(job).await?;
    tx.commit().await?;
    Ok(())
}

/// Re-encrypt, decrypt-all, encrypt-all: a new blob is written and verified, the row switched
/// in a transaction (with the job's progress), then the old blob deleted.
async fn transform_one(state: &Services, job: &mut Job, o: &StoredObject) -> Result<(), JobError> {
    let mut r = state.store.reader().await?;
    let source_dk = match o.key_version {
        Some(v) => Some(state.vault.data_key(&mut r, o.tenant_id, v).await?),
        None => None,
    };
    let target_dk = match (job.kind, job.target_version) {
        (JobKind::DecryptAll, _) => None,
        (_, Some(v)) => Some(state.vault.data_key(&mut r, o.tenant_id, v).await?),
        (_, None) => return Err(JobError::Inconsistent("job without a target version")),
    };
    drop(r);
    let vault = state.vault.clone();
    let object = o.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let written = write_blob(&vault.blobs, &object, target_dk.as_deref(), &mut |sink| {
            read_plain(&vault.blobs, &object, source_dk.as_deref(), 0, object.size, sink)
        })?;
        let mut new_row = object.clone();
        new_row.key_version = target_dk.as_ref().map(|d| d.version());
        new_row.wrapped_key = written.wrapped_key.clone();
        new_row.header = written.header.clone();
        new_row.blob = written.name.clone();
        let verified = if written.sha256 == object.sha256 {
            verify_blob(&vault.blobs, &new_row, target_dk.as_deref(), &object.sha256)
        } else {
            Err(ContentError::Integrity("content digest differs from the stored SHA-256".into()))
        };
        if let Err(e) = verified {
            let _ = vault.blobs.remove(object.tenant_id, &written.name);
            return Err(e);
        }
        Ok((written, new_row.key_version))
    })
    .await
    .map_err(JobError::io)?;
    let now = state.clock.now();
    let mut tx = fenced(state, job).await?;
    job.cursor = Some(o.id.to_string());
    job.objects_done += 1;
    job.updated_at = now;
    let old_blob = match outcome {
        Ok((w, version)) => {
            match tx
                .swap_object_blob(
                    o.tenant_id,
                    o.id,
                    &o.blob,
                    callvault_store::NewBlob {
                        name: &w.name,
                        header: &w.header,
                        key_version: version,
                        wrapped_key: w.wrapped_key.as_deref(),
                    },
                )
                .await
            {
                Ok(()) => {
                    job.bytes_done += o.size;
                    Some(o.blob.clone())
                }
                // Deleted or changed meanwhile: drop the new blob, keep going.
                Err(_) => {
                    let _ = state.vault.blobs.delete(o.tenant_id, &w.name).await;
                    None
                }
            }
        }
        Err(e) => {
            job.failures += 1;
            job.last_error = Some(content_err(e));
            None
        }
    };
    tx.job_progress(job).await?;
    tx.commit().await?;
    if let Some(old) = old_blob {
        state.vault.blobs.delete(o.tenant_id, &old).await.map_err(JobError::io)?;
    }
    Ok(())
}

/// Re-seals encrypted list and form fields under the target version. Returns whether any
/// record was processed.
async fn reseal_records(state: &Services, job: &Job) -> Result<bool, JobError> {
    let Some(target) = job.target_version else { return Ok(false) };
    let mut r = state.store.reader().await?;
    let records = r.records_to_rewrap(job.tenant_id, target, 500).await?;
    if records.is_empty() {
        return Ok(false);
    }
    let new_dk = state.vault.data_key(&mut r, job.tenant_id, target).await?;
    let mut resealed = Vec::with_capacity(records.len());
    for rec in &records {
        let Some(old) = rec.key_version else { continue };
        let old_dk = state.vault.data_key(&mut r, job.tenant_id, old).await?;
        let sealed = crate::lists::reseal_fields(job.tenant_id, rec, &old_dk, &new_dk)?;
        resealed.push((rec.id, old, sealed));
    }
    drop(r);
    let mut tx = fenced(state, job).await?;
    for (id, old, sealed) in &resealed {
        tx.reseal_record(job.tenant_id, *id, *old, target, sealed).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Re-seals subject identifiers (of interactions and of the exclusion list) under the target
/// version, 500 a transaction. Returns whether any was processed.
async fn reseal_identifiers(state: &Services, job: &Job) -> Result<bool, JobError> {
    let Some(target) = job.target_version else { return Ok(false) };
    let mut r = state.store.reader().await?;
    let stale = r.identifiers_to_reseal(job.tenant_id, target, 500).await?;
    if stale.is_empty() {
        return Ok(false);
    }
    let new_dk = state.vault.data_key(&mut r, job.tenant_id, target).await?;
    let mut resealed = Vec::with_capacity(stale.len());
    for s in &stale {
        let old_dk = state.vault.data_key(&mut r, job.tenant_id, s.identifier.key_version).await?;
        resealed.push(crate::subjects::reseal(job.tenant_id, &s.identifier, &old_dk, &new_dk)?);
    }
    drop(r);
    let mut tx = fenced(state, job).await?;
    for (s, sealed) in stale.iter().zip(&resealed) {
        tx.reseal_identifier(job.tenant_id, s, target, sealed).await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn finish(state: &Services, job: &Job) -> Result<(), JobError> {
    let now = state.clock.now();
    let mut tx = fenced(state, job).await?;
    let mut retired = Vec::new();
    if job.kind == JobKind::Reencrypt {
        // Revoke: every version older than the target that nothing depends on any more is retired.
        let usage = tx.key_usage(job.tenant_id).await?;
        for v in tx.data_keys(job.tenant_id).await? {
            let used = usage.iter().find(|(ver, _)| *ver == v.version).map_or(0, |(_, u)| u.total());
            if Some(v.version) < job.target_version && v.state == KeyState::DecryptOnly && used == 0 {
                tx.retire_data_key(job.tenant_id, v.version, now).await?;
                retired.push(v.version);
            }
        }
    }
    tx.set_job_state(job.tenant_id, job.id, &[JobState::Running], JobState::Done, now).await?;
    let event = AuditEvent::new(Some(job.tenant_id), Actor::System, "job.finished").target("job", job.id).details(
        serde_json::json!({
            "kind": job.kind, "objects_done": job.objects_done, "bytes_done": job.bytes_done,
            "failures": job.failures, "retired_versions": retired, "node": state.config.node(),
        }),
    );
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    for v in retired {
        state.vault.forget(job.tenant_id, v);
    }
    Ok(())
}

/// Starts a job inside a ceremony's transaction; the caller wakes the runner after commit.
pub async fn create_job(
    tx: &mut callvault_store::Tx,
    tenant: callvault_model::TenantId,
    kind: JobKind,
    target_version: Option<u32>,
    created_by: callvault_model::PrincipalId,
    now: Timestamp,
) -> Result<Job, callvault_store::StoreError> {
    let (objects_total, bytes_total) = tx.job_totals(tenant, kind, target_version).await?;
    let job = Job {
        id: callvault_model::JobId::new(),
        tenant_id: tenant,
        kind,
        state: JobState::Running,
        target_version,
        objects_total,
        objects_done: 0,
        bytes_total,
        bytes_done: 0,
        failures: 0,
        last_error: None,
        created_by,
        created_at: now,
        updated_at: now,
        finished_at: None,
        cursor: None,
    };
    tx.insert_job(&job).await?;
    Ok(job)
}

/// Spawns the runner.
pub fn spawn(state: Services) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_jobs(state))
}
