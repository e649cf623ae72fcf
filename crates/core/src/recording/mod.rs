//! Recording policy and decisions: the tenant's switches and consent rules as data,
//! the decision a recorder or SBC asks for before and during each call, and pauses
//! ([`pauses`]). The decision itself is [`callvault_policy::recording::decide`]; this module
//! loads the policy, asks, and audits the decisions that stop a recording.

pub mod pauses;

use callvault_model::access::{Action, Resource};
use callvault_model::{ServiceId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::recording::{
    self as rules, ConsentState, Direction, InvalidPolicy, Question, RecordingDecision, RecordingPolicy,
};
use callvault_store::prelude::*;
use callvault_store::{Conn, RecordingStore, StoreError};
use serde::Deserialize;

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx};
use crate::services::Services;

/// Agents named in one question at most.
pub const MAX_AGENTS: usize = 32;

/// Why a recording request was not served.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The policy is not acceptable.
    #[error(transparent)]
    Policy(#[from] InvalidPolicy),
    /// No such interaction in the tenant.
    #[error("no such interaction")]
    NoSuchInteraction,
    /// The interaction was erased (its retention ended, or on request).
    #[error("the interaction was erased ({reason}) at {at}")]
    Erased {
        /// When.
        at: callvault_model::records::Timestamp,
        /// Why.
        reason: String,
    },
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A question of a recorder or SBC. The tenant is the caller's, never the body's.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The interaction in the contact center's own numbering (its pauses count).
    #[serde(default)]
    pub interaction: Option<String>,
    /// Service or campaign.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Agents on the interaction.
    #[serde(default)]
    pub agents: Vec<UserId>,
    /// Direction.
    pub direction: Direction,
    /// Consent answers known so far (absent: unknown).
    #[serde(default)]
    pub consent: ConsentState,
}

/// The tenant's policy, checked (the default when none was set).
pub async fn load_policy<C: Conn>(r: &mut C, tenant: TenantId) -> Result<RecordingPolicy, StoreError> {
    match r.recording_policy(tenant).await? {
        None => Ok(RecordingPolicy::default()),
        Some(json) => serde_json::from_str::<RecordingPolicy>(&json)
            .ok()
            .and_then(|p| p.normalise().ok())
            .ok_or_else(|| StoreError::Corrupt("cfg_recording_policy: not a valid policy".into())),
    }
}

/// The tenant's recording policy.
pub async fn policy(state: &Services, ctx: &Ctx) -> Result<RecordingPolicy, RecordingError> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::RecordingPolicy, tenant)).await?;
    Ok(load_policy(&mut state.store.reader().await?, tenant).await?)
}

/// Replaces the tenant's recording policy (administrators; audited with the whole policy, which
/// names users and services by id only). Users and services must be the tenant's.
pub async fn set_policy(state: &Services, ctx: &Ctx, p: RecordingPolicy) -> Result<RecordingPolicy, RecordingError> {
    let tenant = ctx.tenant()?;
    let permit =
        ctx.authorize(state, Action::Update, &ResourceRef::tenant_wide(Resource::RecordingPolicy, tenant)).await?;
    let p = p.normalise()?;
    permit.covers(Action::Update, Resource::RecordingPolicy, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    for (i, u) in p.users.iter().enumerate() {
        tx.user(tenant, u.user_id)
            .await
            .map_err(|_| RecordingError::Invalid(format!("users[{i}].user_id: no such user in this tenant")))?;
    }
    for (i, s) in p.services.iter().enumerate() {
        tx.service(tenant, s.service_id).await.map_err(|_| {
            RecordingError::Invalid(format!("services[{i}].service_id: no such service in this tenant"))
        })?;
    }
    let json = serde_json::to_string(&p).map_err(|e| RecordingError::Invalid(e.to_string()))?;
    tx.set_recording_policy(tenant, &json, now).await?;
    let event = ctx
        .event("recording_policy.update")
        .origin(ctx.origin(state))
        .details(serde_json::to_value(&p).unwrap_or_default());
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(p)
}

/// Answers a recorder's question. A decision not to record is audited (with the reasons).
pub async fn decide(state: &Services, ctx: &Ctx, q: DecisionRequest) -> Result<RecordingDecision, RecordingError> {
    let tenant = ctx.tenant()?;
    let resource = ResourceRef::tenant_wide(Resource::RecordingDecision, tenant).with_services(q.service.as_slice());
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    if q.agents.len() > MAX_AGENTS {
        return Err(RecordingError::Invalid(format!("agents: at most {MAX_AGENTS}")));
    }
    if q.interaction.as_ref().is_some_and(|i| i.is_empty() || i.len() > 128 || i.chars().any(char::is_control)) {
        return Err(RecordingError::Invalid("interaction: 1..=128 printable characters".into()));
    }
    let now = state.clock.now();
    let (policy, paused_until) = {
        let mut r = state.store.reader().await?;
        let policy = load_policy(&mut r, tenant).await?;
        let paused_until = match &q.interaction {
            Some(reference) => match r.interaction_by_reference(tenant, reference).await? {
                Some(id) => pauses::paused_until(&r.pauses(tenant, id).await?, now),
                None => None,
            },
            None => None,
        };
        (policy, paused_until)
    };
    let decision = rules::decide(
        &policy,
        &Question { service: q.service, agents: &q.agents, direction: q.direction, consent: q.consent, paused_until },
    );
    if !decision.record {
        permit.covers(Action::Create, Resource::RecordingDecision, tenant)?;
        let event = ctx.event("recording.not_recorded").origin(ctx.origin(state)).details(serde_json::json!({
            "interaction": q.interaction, "service": q.service, "reasons": decision.reasons,
        }));
        state.auditor.record_now(now, &event).await?;
    }
    Ok(decision)
}
