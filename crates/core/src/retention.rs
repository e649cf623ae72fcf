//! Retention of personal data: policies per category, tenant-wide or per service or campaign,
//! within the provider's minimum and maximum (`retention_min_days`, `retention_max_days`); where
//! several apply the longest wins; data no policy covers is kept. The purge deletes what has
//! outlived its retention: an object's row, which holds its wrapped content key, goes in the
//! database transaction that audits it (from then on no copy of the content can be decrypted),
//! its blob file after the commit; an interaction's row goes with its identifiers.
//!
//! Recordings follow the retention of their interaction (its contact records' policy) when that
//! is longer than their own. User master data has no retention period: it lives as long as the
//! user account.

use callvault_model::access::{Action, Resource};
use std::collections::{HashMap, HashSet};

use callvault_model::personal::{Category, HoldScope, LegalHold, PurgeRun, RetentionPolicy, retention_days};
use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, LegalHoldId, ObjectId, PurgeRunId, RetentionPolicyId, ServiceId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{ErasedKind, ObjectQuery, StoreError, Tombstone, Tx};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AppendError, AuditEvent};
use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

const DAY_MS: i64 = 86_400_000;

/// Why a retention policy was not stored, or the purge stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The caller may not change the tenant's settings.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A policy for the same category and scope exists.
    #[error("a policy for this category and scope exists; delete it first")]
    Duplicate,
    /// No such policy in the tenant.
    #[error("no such retention policy")]
    NoSuchPolicy,
    /// No such hold in the tenant, or it is released already.
    #[error("no such legal hold in force")]
    NoSuchHold,
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new retention policy.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRetentionPolicy {
    /// The category it keeps (not `user_master`, which lives as long as the account).
    #[schema(value_type = String)]
    pub category: Category,
    /// A service or campaign; none: the whole tenant.
    #[serde(default)]
    pub service_id: Option<ServiceId>,
    /// Days kept, within the provider's minimum and maximum.
    pub days: u32,
}

/// A new legal hold.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLegalHold {
    /// Its name, shown in every refusal it causes (1 to 100 characters).
    pub name: String,
    /// Why (1 to 500 characters).
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
}

/// What one purge removed.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    /// Objects whose content key was destroyed and row deleted.
    pub objects: u64,
    /// Blob files removed after the commit.
    pub blobs_removed: u64,
    /// Interactions deleted.
    pub interactions: u64,
    /// Expired items kept because a legal hold covers them.
    pub held: u64,
    /// Milliseconds spent destroying content keys and deleting rows (the transactions).
    pub shred_ms: u64,
    /// Milliseconds spent removing blob files after the commits.
    pub blob_ms: u64,
    /// Name tombstones of deleted users removed (no content names them any more).
    pub user_tombstones: u64,
    /// Agent performance intervals deleted (reporting data past its retention).
    pub reporting_rows: u64,
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, RetentionError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?)
}

/// The tenant's policies.
pub async fn policies(state: &Services, ctx: &Ctx) -> Result<Vec<RetentionPolicy>, RetentionError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.retention_policies(permit.tenant()).await?)
}

/// Adds a policy; the provider's bounds hold.
pub async fn create(state: &Services, ctx: &Ctx, new: NewRetentionPolicy) -> Result<RetentionPolicy, RetentionError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    if new.category == Category::UserMaster {
        return Err(RetentionError::Invalid(
            "category: user master data is kept as long as the user account; delete the user instead".into(),
        ));
    }
    let (min, max) = (state.config.retention_min_days, state.config.retention_max_days);
    let days = usize::try_from(new.days).unwrap_or(usize::MAX);
    if days < min || days > max {
        return Err(RetentionError::Invalid(format!(
            "days: the provider allows {min} to {max} days (retention_min_days, retention_max_days)"
        )));
    }
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let policy = RetentionPolicy {
        id: RetentionPolicyId::new(),
        tenant_id: tenant,
        category: new.category,
        service_id: new.service_id,
        days: new.days,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    if let Some(s) = new.service_id {
        tx.service(tenant, s).await.map_err(|_| RetentionError::Invalid("service_id: no such service".into()))?;
    }
    let existing = tx.retention_policies(tenant).await?;
    if existing.iter().any(|p| p.category == policy.category && p.service_id == policy.service_id) {
        return Err(RetentionError::Duplicate);
    }
    tx.insert_retention_policy(&policy).await?;
    let event =
        ctx.event("retention.create").target("retention_policy", policy.id).origin(ctx.origin(state)).details(
            serde_json::json!({ "category": policy.category, "service": policy.service_id, "days": policy.days }),
        );
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(policy)
}

/// Removes a policy (the data it covered is then kept, unless another policy covers it).
pub async fn delete(state: &Services, ctx: &Ctx, id: RetentionPolicyId) -> Result<(), RetentionError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_retention_policy(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => RetentionError::NoSuchPolicy,
        e => e.into(),
    })?;
    let event = ctx.event("retention.delete").target("retention_policy", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

async fn holds_permit(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, RetentionError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::PersonalData, tenant)).await?)
}

/// The tenant's legal holds, released ones included (data protection officers).
pub async fn holds(state: &Services, ctx: &Ctx) -> Result<Vec<LegalHold>, RetentionError> {
    let permit = holds_permit(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.legal_holds(permit.tenant()).await?)
}

fn text(field: &str, value: &str, max: usize) -> Result<String, RetentionError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(RetentionError::Invalid(format!("{field}: 1 to {max} printable characters")));
    }
    Ok(v.to_owned())
}

/// Places a legal hold (data protection officers): what it covers is neither purged nor erased
/// until it is released. What it names must exist in the tenant.
pub async fn place_hold(state: &Services, ctx: &Ctx, new: NewLegalHold) -> Result<LegalHold, RetentionError> {
    let permit = holds_permit(state, ctx, Action::ErasePersonalData).await?;
    let tenant = permit.tenant();
    let name = text("name", &new.name, 100)?;
    let reason = text("reason", &new.reason, 500)?;
    permit.covers(Action::ErasePersonalData, Resource::PersonalData, tenant)?;
    let now = state.clock.now();
    let hold = LegalHold {
        id: LegalHoldId::new(),
        tenant_id: tenant,
        name,
        reason,
        scope: new.scope,
        created_by: ctx.principal.to_string(),
        created_at: now,
        released_at: None,
    };
    let mut tx = state.store.begin().await?;
    let exists = match new.scope {
        HoldScope::Subject(s) => !tx.subject_interactions(tenant, s).await?.is_empty(),
        HoldScope::Interaction(i) => tx.interaction(tenant, i).await.is_ok(),
        HoldScope::Service(s) => tx.service(tenant, s).await.is_ok(),
    };
    if !exists {
        return Err(RetentionError::Invalid("scope: nothing with this id in the tenant".into()));
    }
    tx.insert_legal_hold(&hold).await?;
    let event = ctx
        .event("legal_hold.place")
        .target("legal_hold", hold.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "name": hold.name, "scope": hold.scope }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(hold)
}

/// Releases a legal hold; what it covered follows its retention again.
pub async fn release_hold(state: &Services, ctx: &Ctx, id: LegalHoldId) -> Result<(), RetentionError> {
    let permit = holds_permit(state, ctx, Action::ErasePersonalData).await?;
    let tenant = permit.tenant();
    permit.covers(Action::ErasePersonalData, Resource::PersonalData, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.release_legal_hold(tenant, id, now).await.map_err(|e| match e {
        StoreError::NotFound => RetentionError::NoSuchHold,
        e => e.into(),
    })?;
    let event = ctx.event("legal_hold.release").target("legal_hold", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// What the holds in force cover: services, interactions, and the references objects are
/// uploaded under.
#[derive(Default)]
struct Held {
    services: HashSet<ServiceId>,
    interactions: HashSet<InteractionId>,
    references: HashSet<String>,
}

async fn held(state: &Services, tenant: TenantId) -> Result<Held, RetentionError> {
    let mut r = state.store.reader().await?;
    let mut held = Held::default();
    for hold in r.legal_holds(tenant).await?.into_iter().filter(|h| h.released_at.is_none()) {
        let rows = match hold.scope {
            HoldScope::Service(s) => {
                held.services.insert(s);
                Vec::new()
            }
            HoldScope::Interaction(i) => match r.interaction(tenant, i).await {
                Ok((row, _, _)) => vec![row],
                Err(StoreError::NotFound) => Vec::new(),
                Err(e) => return Err(e.into()),
            },
            HoldScope::Subject(s) => r.subject_interactions(tenant, s).await?,
        };
        for row in rows {
            held.interactions.insert(row.id);
            held.references.extend(row.external_ref);
        }
    }
    Ok(held)
}

/// Whether data recorded at `recorded` under `days` of retention has expired at `now`.
fn expired(recorded: Timestamp, days: Option<u32>, now: Timestamp) -> bool {
    days.is_some_and(|d| now.millis() >= recorded.millis().saturating_add(i64::from(d) * DAY_MS))
}

/// Something the purge or an erasure removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Gone {
    /// An object: its row holds the wrapped content key (its blob goes after the commit).
    Object(ObjectId, Category),
    /// A calling-list record.
    Record(callvault_model::RecordId),
    /// An interaction with its identifiers.
    Interaction(InteractionId),
}

impl Gone {
    fn kind(self) -> ErasedKind {
        match self {
            Gone::Object(..) => ErasedKind::Object,
            Gone::Record(_) => ErasedKind::Record,
            Gone::Interaction(_) => ErasedKind::Interaction,
        }
    }

    fn category(self) -> Category {
        match self {
            Gone::Object(_, category) => category,
            Gone::Record(_) => Category::CallingLists,
            Gone::Interaction(_) => Category::ContactRecords,
        }
    }

    fn id(self) -> String {
        match self {
            Gone::Object(id, _) => id.to_string(),
            Gone::Record(id) => id.to_string(),
            Gone::Interaction(id) => id.to_string(),
        }
    }
}

/// The keyed digest an erasure closes a reference by (see `callvault_store::ClosingStore`): a
/// reference is whatever a recorder sends, so it is not kept in clear after the erasure.
pub(crate) fn reference_digest(state: &Services, reference: &str) -> String {
    state.auditor.pseudonym(format!("interaction reference {reference}").as_bytes())
}

/// Items per transaction of the purge and of an erasure.
pub const BATCH: usize = 500;

/// Deletes `items` in one transaction, each with its tombstone, and records `event` naming every
/// item deleted as its targets; returns those deleted (an item gone already is skipped).
/// `reason` is `retention`, `erasure` or `collection_off`.
pub(crate) async fn remove(
    state: &Services,
    tenant: TenantId,
    items: &[Gone],
    reason: &str,
    request: Option<&str>,
    event: AuditEvent,
) -> Result<Vec<Gone>, StoreError> {
    let mut tx = state.store.begin().await?;
    let done = remove_in(state, &mut tx, tenant, items, reason, request, event).await?;
    if !done.is_empty() {
        tx.commit().await?;
    }
    Ok(done)
}

/// [`remove`] inside the caller's transaction: set-based deletes, one per kind and category, so
/// the cost is a few statements a batch, not two a row.
async fn remove_in(
    state: &Services,
    tx: &mut Tx,
    tenant: TenantId,
    items: &[Gone],
    reason: &str,
    request: Option<&str>,
    mut event: AuditEvent,
) -> Result<Vec<Gone>, StoreError> {
    let at = state.clock.now();
    let mut groups: Vec<(ErasedKind, Category, Vec<Gone>)> = Vec::new();
    for gone in items {
        let (kind, category) = (gone.kind(), gone.category());
        match groups.iter_mut().find(|(k, c, _)| *k == kind && *c == category) {
            Some((_, _, group)) => group.push(*gone),
            None => groups.push((kind, category, vec![*gone])),
        }
    }
    let mut done = Vec::with_capacity(items.len());
    for (kind, category, group) in groups {
        let ids: Vec<String> = group.iter().map(|g| g.id()).collect();
        let tombstone = Tombstone { kind, category, at, reason, request };
        let deleted: HashSet<String> = tx.erase(tenant, &tombstone, &ids).await?.into_iter().collect();
        for (gone, id) in group.into_iter().zip(ids) {
            if deleted.contains(&id) {
                event = event.target(kind.as_str(), id);
                done.push(gone);
            }
        }
    }
    if done.is_empty() {
        return Ok(done);
    }
    state.auditor.record(tx, at, &event).await?;
    Ok(done)
}

/// Purges, in every tenant with a policy, what has outlived its retention at the clock's now.
pub async fn purge_once(state: &Services) -> Result<PurgeReport, RetentionError> {
    let mut report = PurgeReport::default();
    let tenants = state.store.reader().await?.tenants_with_retention().await?;
    if !tenants.is_empty() {
        let mut tx = state.store.begin().await?;
        tx.refresh_purge_statistics().await?;
        tx.commit().await?;
    }
    for tenant in tenants {
        // A run the process stopped in goes on (its counts with it); otherwise a new one.
        let open = state.store.reader().await?.open_purge_run(tenant).await?;
        let mut run = match open {
            Some(mut run) => {
                run.resumed += 1;
                tracing::info!(run = %run.id, "resuming a purge the process stopped in");
                run
            }
            None => PurgeRun {
                id: PurgeRunId::new(),
                tenant_id: tenant,
                started_at: state.clock.now(),
                finished_at: None,
                resumed: 0,
                objects: 0,
                blobs_removed: 0,
                interactions: 0,
                held: 0,
                shred_ms: 0,
                blob_ms: 0,
            },
        };
        let mut mine = PurgeReport::default();
        save_run(state, &mut run, &mine).await?;
        purge_tenant(state, &mut run, &mut mine).await?;
        run.finished_at = Some(state.clock.now());
        save_run(state, &mut run, &mine).await?;
        report.objects += mine.objects;
        report.blobs_removed += mine.blobs_removed;
        report.interactions += mine.interactions;
        report.held += mine.held;
        report.shred_ms += mine.shred_ms;
        report.blob_ms += mine.blob_ms;
        report.reporting_rows += mine.reporting_rows;
    }
    // Deleted users' names go once no stored content names them.
    let stale = state.store.reader().await?.stale_user_tombstones().await?;
    for (tenant, user) in stale {
        let now = state.clock.now();
        let mut tx = state.store.begin().await?;
        tx.delete_user_tombstone(tenant, user).await?;
        let event = AuditEvent::new(Some(tenant), Actor::System, "user.tombstone_removed").target("user", user);
        state.auditor.record(&mut tx, now, &event).await?;
        tx.commit().await?;
        report.user_tombstones += 1;
    }
    Ok(report)
}

/// A run's progress: its counts when it (re)started plus this pass's.
fn progress(run: &PurgeRun, pass: &PurgeReport) -> PurgeRun {
    PurgeRun {
        objects: run.objects + pass.objects,
        blobs_removed: run.blobs_removed + pass.blobs_removed,
        interactions: run.interactions + pass.interactions,
        held: run.held + pass.held,
        shred_ms: run.shred_ms + pass.shred_ms,
        blob_ms: run.blob_ms + pass.blob_ms,
        ..run.clone()
    }
}

/// Writes a run's progress in a transaction of its own (at its start and its end).
async fn save_run(state: &Services, run: &mut PurgeRun, pass: &PurgeReport) -> Result<(), StoreError> {
    let saved = progress(run, pass);
    let mut tx = state.store.begin().await?;
    tx.save_purge_run(&saved).await?;
    tx.commit().await?;
    if run.finished_at.is_some() {
        *run = saved;
    }
    Ok(())
}

/// Deletes one batch of the purge and saves the run's progress in the same transaction, so a
/// batch costs one commit and a crash never counts a batch that did not happen.
async fn purge_batch(
    state: &Services,
    run: &PurgeRun,
    report: &mut PurgeReport,
    batch: &[Gone],
    event: AuditEvent,
) -> Result<Vec<Gone>, StoreError> {
    let shred = std::time::Instant::now();
    let mut tx = state.store.begin().await?;
    let done = remove_in(state, &mut tx, run.tenant_id, batch, "retention", None, event).await?;
    for gone in &done {
        match gone {
            Gone::Object(..) => report.objects += 1,
            Gone::Interaction(_) => report.interactions += 1,
            Gone::Record(_) => {}
        }
    }
    report.shred_ms += shred.elapsed().as_millis() as u64;
    tx.save_purge_run(&progress(run, report)).await?;
    tx.commit().await?;
    Ok(done)
}

/// The tenant's newest purge runs with their progress (administrators).
pub async fn purge_runs(state: &Services, ctx: &Ctx) -> Result<Vec<PurgeRun>, RetentionError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.purge_runs(permit.tenant(), 20).await?)
}

async fn purge_tenant(state: &Services, run: &mut PurgeRun, report: &mut PurgeReport) -> Result<(), RetentionError> {
    let tenant = run.tenant_id;
    let batch = i64::try_from(state.config.purge_batch).unwrap_or(500);
    let policies = state.store.reader().await?.retention_policies(tenant).await?;
    let held = held(state, tenant).await?;
    let now = state.clock.now();
    // Recordings follow the retention of their interaction (the contact records' policy of its
    // service) where that is longer than their own: the object's reference names it. Looked up
    // per page, for the references on it, and only when a contact-records policy exists.
    let follows_interaction = policies.iter().any(|p| p.category == Category::ContactRecords);
    let mut after: Option<ObjectId> = None;
    loop {
        let query = ObjectQuery { class: None, interaction: None, after, limit: batch };
        let page = state.store.reader().await?.objects(tenant, &query).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let mut interaction_days: HashMap<String, u32> = HashMap::new();
        if follows_interaction {
            let refs: HashSet<String> = page.iter().filter_map(|o| o.interaction.clone()).collect();
            let refs: Vec<String> = refs.into_iter().collect();
            for (r, service) in state.store.reader().await?.services_by_reference(tenant, &refs).await? {
                if let Some(days) = retention_days(&policies, Category::ContactRecords, service) {
                    interaction_days.insert(r, days);
                }
            }
        }
        let object_days = |o: &callvault_model::vault::StoredObject| {
            let own = retention_days(&policies, o.class.category(), o.service_id);
            let call = o.interaction.as_ref().and_then(|r| interaction_days.get(r)).copied();
            own.max(call)
        };
        let mut batch = Vec::new();
        let mut blobs = HashMap::new();
        for o in page.iter().filter(|o| expired(o.recorded_at, object_days(o), now)) {
            let hold = o.service_id.is_some_and(|s| held.services.contains(&s))
                || o.interaction.as_ref().is_some_and(|i| held.references.contains(i));
            if hold {
                report.held += 1;
                continue;
            }
            batch.push(Gone::Object(o.id, o.class.category()));
            blobs.insert(o.id, o.blob.clone());
        }
        if batch.is_empty() {
            continue;
        }
        let event = AuditEvent::new(Some(tenant), Actor::System, "object.purged")
            .details(serde_json::json!({ "reason": "retention", "count": batch.len() }));
        let done = purge_batch(state, run, report, &batch, event).await?;
        let unlink = std::time::Instant::now();
        for gone in done {
            let Gone::Object(id, _) = gone else { continue };
            let removed = match blobs.get(&id) {
                Some(b) => state.vault.blobs.delete(tenant, b).await.is_ok(),
                None => false,
            };
            if removed {
                report.blobs_removed += 1;
            } else {
                tracing::warn!(object = %id, "purged object's blob not removed; the sweep will");
            }
        }
        report.blob_ms += unlink.elapsed().as_millis() as u64;
    }
    let mut after: Option<InteractionId> = None;
    loop {
        let page = state.store.reader().await?.interactions_page(tenant, after, batch).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let mut batch = Vec::new();
        for i in page
            .iter()
            .filter(|i| expired(i.started_at, retention_days(&policies, Category::ContactRecords, i.service_id), now))
        {
            if held.interactions.contains(&i.id) || i.service_id.is_some_and(|s| held.services.contains(&s)) {
                report.held += 1;
                continue;
            }
            batch.push(Gone::Interaction(i.id));
        }
        if batch.is_empty() {
            continue;
        }
        let event = AuditEvent::new(Some(tenant), Actor::System, "interaction.purged")
            .details(serde_json::json!({ "reason": "retention", "count": batch.len() }));
        purge_batch(state, run, report, &batch, event).await?;
    }
    // Reporting data: per-agent statistics past the reporting category's retention.
    if let Some(days) = retention_days(&policies, Category::Reporting, None) {
        let cutoff = Timestamp(now.0.saturating_sub(i64::from(days) * 86_400_000));
        let mut tx = state.store.begin().await?;
        let n = tx.delete_performance_before(tenant, cutoff).await?;
        if n > 0 {
            let event = AuditEvent::new(Some(tenant), Actor::System, "performance.purged")
                .details(serde_json::json!({ "reason": "retention", "count": n, "before": cutoff }));
            state.auditor.record(&mut tx, now, &event).await?;
            tx.commit().await?;
            report.reporting_rows += n;
        } else {
            tx.rollback().await?;
        }
    }
    Ok(())
}

/// Purges every `interval` until the process ends.
pub async fn run(state: Services, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        // One node purges at a time (several nodes may share the database).
        let turn = match state.store.try_exclusive("retention-purge").await {
            Ok(Some(turn)) => turn,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "purge skipped: the database did not answer");
                continue;
            }
        };
        match purge_once(&state).await {
            Ok(r) if r.objects + r.interactions > 0 => {
                tracing::info!(objects = r.objects, interactions = r.interactions, "expired personal data purged");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purge failed; it runs again at the next interval"),
        }
        turn.release().await;
    }
}

#[cfg(test)]
mod tests {
    use callvault_model::personal::{Category, RetentionPolicy, retention_days};
    use callvault_model::records::Timestamp;
    use callvault_model::{RetentionPolicyId, ServiceId, TenantId};

    fn policy(category: Category, service: Option<ServiceId>, days: u32) -> RetentionPolicy {
        RetentionPolicy {
            id: RetentionPolicyId::new(),
            tenant_id: TenantId::new(),
            category,
            service_id: service,
            days,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn the_longest_applicable_policy_wins() {
        let sales = ServiceId::new();
        let support = ServiceId::new();
        let policies = [
            policy(Category::Recordings, None, 30),
            policy(Category::Recordings, Some(sales), 90),
            policy(Category::Recordings, Some(support), 10),
            policy(Category::ContactRecords, None, 365),
        ];
        assert_eq!(retention_days(&policies, Category::Recordings, None), Some(30));
        assert_eq!(retention_days(&policies, Category::Recordings, Some(sales)), Some(90));
        assert_eq!(retention_days(&policies, Category::Recordings, Some(support)), Some(30), "tenant-wide is longer");
        assert_eq!(retention_days(&policies, Category::ContactRecords, Some(sales)), Some(365));
        assert_eq!(retention_days(&policies, Category::CallingLists, None), None, "no policy: kept");
        assert!(super::expired(Timestamp(0), Some(1), Timestamp(86_400_000)));
        assert!(!super::expired(Timestamp(0), Some(1), Timestamp(86_399_999)));
        assert!(!super::expired(Timestamp(0), None, Timestamp(i64::MAX)));
    }
}
