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

use callvault_model::personal::{Category, HoldScope, LegalHold, RetentionPolicy, retention_days};
use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, LegalHoldId, ObjectId, RetentionPolicyId, ServiceId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{ObjectQuery, StoreError};
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

/// Purges, in every tenant with a policy, what has outlived its retention at the clock's now.
pub async fn purge_once(state: &Services) -> Result<PurgeReport, RetentionError> {
    let mut report = PurgeReport::default();
    let tenants = state.store.reader().await?.tenants_with_retention().await?;
    for tenant in tenants {
        purge_tenant(state, tenant, &mut report).await?;
    }
    Ok(report)
}

async fn purge_tenant(state: &Services, tenant: TenantId, report: &mut PurgeReport) -> Result<(), RetentionError> {
    let policies = state.store.reader().await?.retention_policies(tenant).await?;
    let held = held(state, tenant).await?;
    let now = state.clock.now();
    // Recordings follow the retention of their interaction (the contact records' policy of its
    // service) where that is longer than their own: the object's reference names it.
    let mut interaction_days: HashMap<String, u32> = HashMap::new();
    let mut after_interaction: Option<InteractionId> = None;
    loop {
        let page = state.store.reader().await?.interactions_page(tenant, after_interaction, 500).await?;
        let Some(last) = page.last() else { break };
        after_interaction = Some(last.id);
        for i in page {
            if let (Some(r), Some(days)) =
                (i.external_ref, retention_days(&policies, Category::ContactRecords, i.service_id))
            {
                interaction_days.insert(r, days);
            }
        }
    }
    let object_days = |o: &callvault_model::vault::StoredObject| {
        let own = retention_days(&policies, o.class.category(), o.service_id);
        let call = o.interaction.as_ref().and_then(|r| interaction_days.get(r)).copied();
        own.max(call)
    };
    let mut after: Option<ObjectId> = None;
    loop {
        let query = ObjectQuery { class: None, interaction: None, after, limit: 500 };
        let page = state.store.reader().await?.objects(tenant, &query).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page.iter().filter(|o| expired(o.recorded_at, object_days(o), now)) {
            let hold = o.service_id.is_some_and(|s| held.services.contains(&s))
                || o.interaction.as_ref().is_some_and(|i| held.references.contains(i));
            if hold {
                report.held += 1;
                continue;
            }
            let mut tx = state.store.begin().await?;
            match tx.delete_object(tenant, o.id).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
            tx.insert_tombstone(tenant, "object", &o.id.to_string(), o.class.category(), now, "retention").await?;
            let event = AuditEvent::new(Some(tenant), Actor::System, "object.purged")
                .target("object", o.id)
                .details(serde_json::json!({ "class": o.class, "recorded_at": o.recorded_at, "reason": "retention" }));
            state.auditor.record(&mut tx, now, &event).await?;
            tx.commit().await?;
            report.objects += 1;
            match state.vault.blobs.remove(tenant, &o.blob) {
                Ok(()) => report.blobs_removed += 1,
                Err(e) => {
                    tracing::warn!(object = %o.id, error = %e, "purged object's blob not removed; the sweep will")
                }
            }
        }
    }
    let mut after: Option<InteractionId> = None;
    loop {
        let page = state.store.reader().await?.interactions_page(tenant, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for i in page
            .iter()
            .filter(|i| expired(i.started_at, retention_days(&policies, Category::ContactRecords, i.service_id), now))
        {
            if held.interactions.contains(&i.id) || i.service_id.is_some_and(|s| held.services.contains(&s)) {
                report.held += 1;
                continue;
            }
            let mut tx = state.store.begin().await?;
            match tx.delete_interaction(tenant, i.id).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
            tx.insert_tombstone(tenant, "interaction", &i.id.to_string(), Category::ContactRecords, now, "retention")
                .await?;
            let event = AuditEvent::new(Some(tenant), Actor::System, "interaction.purged")
                .target("interaction", i.id)
                .details(serde_json::json!({ "started_at": i.started_at, "reason": "retention" }));
            state.auditor.record(&mut tx, now, &event).await?;
            tx.commit().await?;
            report.interactions += 1;
        }
    }
    Ok(())
}

/// Purges every `interval` until the process ends.
pub async fn run(state: Services, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        match purge_once(&state).await {
            Ok(r) if r.objects + r.interactions > 0 => {
                tracing::info!(objects = r.objects, interactions = r.interactions, "expired personal data purged");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purge failed; it runs again at the next interval"),
        }
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
