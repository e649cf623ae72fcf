//! Pausing and resuming an interaction's recording ("when a call turns personal").
//!
//! An agent of the interaction who holds `recording_state:update:own` pauses and resumes their
//! own call; pausing someone else's needs `recording_state:update` over that agent's team. A
//! pause ends when resumed or, at the latest, after the policy's maximum pause: recording then
//! resumes by itself (`resumed_by: "policy"`). Every change is audited with who and when; the
//! spans are copied onto the objects stored for the interaction afterwards, and recording
//! decisions say "paused" while one is open.

use callvault_model::access::{Action, Resource};
use callvault_model::recording::PausedSpan;
use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, PrincipalId, ServiceId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{PauseRow, RecordingStore, StoreError, Tx};
use serde::{Deserialize, Serialize};

use super::{RecordingError, load_policy};
use crate::audit::{Actor, AuditEvent};
use crate::caller::{Ctx, Permit};
use crate::services::Services;

/// Who resumes a pause whose maximum ran out.
pub const POLICY: &str = "policy";

/// Recording or paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordingStateName)]
pub enum State {
    /// Being recorded (as far as the policy records it).
    Recording,
    /// Paused.
    Paused,
}

/// A change asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    /// `paused` or `recording`.
    pub state: State,
}

/// An interaction's recording state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingState {
    /// The interaction.
    pub interaction_id: InteractionId,
    /// Now.
    pub state: State,
    /// When the open pause began.
    pub paused_since: Option<Timestamp>,
    /// When the open pause ends by itself.
    pub resumes_at: Option<Timestamp>,
    /// Every pause so far, oldest first.
    pub spans: Vec<PausedSpan>,
}

/// Until when the recording is paused at `now`, from an interaction's pauses.
pub fn paused_until(pauses: &[PauseRow], now: Timestamp) -> Option<Timestamp> {
    pauses.iter().find(|p| p.ended_at.is_none() && p.limit_at > now).map(|p| p.limit_at)
}

fn span(p: &PauseRow, now: Timestamp) -> PausedSpan {
    let (to, resumed_by) = match (p.ended_at, &p.ended_by) {
        (Some(at), by) => (Some(at), by.clone()),
        (None, _) if p.limit_at <= now => (Some(p.limit_at), Some(POLICY.to_owned())),
        (None, _) => (None, None),
    };
    PausedSpan { from: p.started_at, to, paused_by: p.started_by.clone(), resumed_by }
}

/// Closes the pauses of an interaction whose maximum ran out (resumed by the policy at their
/// limit, each audited) and returns every pause. Runs inside the caller's transaction.
pub async fn settle(
    tx: &mut Tx,
    state: &Services,
    tenant: TenantId,
    interaction: InteractionId,
) -> Result<Vec<PauseRow>, StoreError> {
    let now = state.clock.now();
    let mut pauses = tx.pauses(tenant, interaction).await?;
    for p in pauses.iter_mut().filter(|p| p.ended_at.is_none() && p.limit_at <= now) {
        tx.end_pause(tenant, p.id, p.limit_at, POLICY).await?;
        let event = AuditEvent::new(Some(tenant), Actor::System, "recording.resumed")
            .target("interaction", interaction)
            .details(serde_json::json!({ "at": p.limit_at, "by": POLICY, "paused_at": p.started_at }));
        state.auditor.record(tx, now, &event).await?;
        p.ended_at = Some(p.limit_at);
        p.ended_by = Some(POLICY.into());
    }
    Ok(pauses)
}

/// The pauses of an interaction as spans, settled first ([`settle`]): what a recording stored
/// now carries.
pub async fn spans(
    tx: &mut Tx,
    state: &Services,
    tenant: TenantId,
    interaction: InteractionId,
) -> Result<Vec<PausedSpan>, StoreError> {
    let now = state.clock.now();
    Ok(settle(tx, state, tenant, interaction).await?.iter().map(|p| span(p, now)).collect())
}

fn view(interaction: InteractionId, pauses: &[PauseRow], now: Timestamp) -> RecordingState {
    let open = pauses.iter().find(|p| p.ended_at.is_none() && p.limit_at > now);
    RecordingState {
        interaction_id: interaction,
        state: if open.is_some() { State::Paused } else { State::Recording },
        paused_since: open.map(|p| p.started_at),
        resumes_at: open.map(|p| p.limit_at),
        spans: pauses.iter().map(|p| span(p, now)).collect(),
    }
}

/// Authorizes `action` on the recording state of an interaction with these agents: through one
/// of them (their own call, or their team), or its service.
async fn authorize(
    state: &Services,
    ctx: &Ctx,
    action: Action,
    tenant: TenantId,
    (agents, service): &(Vec<UserId>, Option<ServiceId>),
) -> Result<Permit, RecordingError> {
    let base = ResourceRef::tenant_wide(Resource::RecordingState, tenant).with_services(service.as_slice());
    let mut teams = Vec::with_capacity(agents.len());
    {
        let mut r = state.store.reader().await?;
        for a in agents {
            teams.push(r.user_teams(tenant, *a).await?);
        }
    }
    // The caller's own leg first: pausing one's own call is the common case.
    let mut order: Vec<usize> = (0..agents.len()).collect();
    order.sort_by_key(|&i| PrincipalId::User(agents[i]) != ctx.principal);
    for &i in &order {
        let r = base.with_owner(PrincipalId::User(agents[i])).with_teams(&teams[i]);
        if ctx.decide(action, &r).is_allowed() {
            return Ok(ctx.authorize(state, action, &r).await?);
        }
    }
    let r = match order.first() {
        Some(&i) => base.with_owner(PrincipalId::User(agents[i])).with_teams(&teams[i]),
        None => base,
    };
    Ok(ctx.authorize(state, action, &r).await?)
}

/// The agents and service of an interaction.
async fn parties(
    state: &Services,
    tenant: TenantId,
    id: InteractionId,
) -> Result<(Vec<UserId>, Option<ServiceId>), RecordingError> {
    let mut r = state.store.reader().await?;
    match r.interaction(tenant, id).await {
        Ok((row, agents, _)) => Ok((agents, row.service_id)),
        Err(StoreError::NotFound) => match r.tombstone(tenant, "interaction", &id.to_string()).await? {
            Some((at, reason)) => Err(RecordingError::Erased { at, reason }),
            None => Err(RecordingError::NoSuchInteraction),
        },
        Err(e) => Err(e.into()),
    }
}

/// An interaction's recording state.
pub async fn get(state: &Services, ctx: &Ctx, id: InteractionId) -> Result<RecordingState, RecordingError> {
    let tenant = ctx.tenant()?;
    let parties = parties(state, tenant, id).await?;
    authorize(state, ctx, Action::Read, tenant, &parties).await?;
    let pauses = state.store.reader().await?.pauses(tenant, id).await?;
    Ok(view(id, &pauses, state.clock.now()))
}

/// Pauses or resumes an interaction's recording. Asking for the state it is in changes nothing
/// (and is not audited again). A pause past its maximum is closed as resumed by the policy first.
pub async fn set(
    state: &Services,
    ctx: &Ctx,
    id: InteractionId,
    s: SetState,
) -> Result<RecordingState, RecordingError> {
    let tenant = ctx.tenant()?;
    let parties = parties(state, tenant, id).await?;
    let permit = authorize(state, ctx, Action::Update, tenant, &parties).await?;
    permit.covers(Action::Update, Resource::RecordingState, tenant)?;
    let now = state.clock.now();
    let by = ctx.principal.to_string();
    let mut tx = state.store.begin().await?;
    let policy = load_policy(&mut tx, tenant).await?;
    let mut pauses = settle(&mut tx, state, tenant, id).await?;
    let open = pauses.iter().position(|p| p.ended_at.is_none());
    let action = match (s.state, open) {
        (State::Paused, None) => {
            let p = PauseRow {
                id: uuid::Uuid::now_v7(),
                tenant_id: tenant,
                interaction_id: id,
                started_at: now,
                started_by: by.clone(),
                limit_at: callvault_policy::recording::pause_limit(&policy, now),
                ended_at: None,
                ended_by: None,
            };
            tx.insert_pause(&p).await?;
            let details = serde_json::json!({ "at": now, "resumes_at": p.limit_at });
            pauses.push(p);
            Some(("recording.paused", details))
        }
        (State::Recording, Some(i)) => {
            let p = &mut pauses[i];
            tx.end_pause(tenant, p.id, now, &by).await?;
            p.ended_at = Some(now);
            p.ended_by = Some(by.clone());
            Some(("recording.resumed", serde_json::json!({ "at": now, "paused_at": p.started_at })))
        }
        _ => None,
    };
    if let Some((what, details)) = action {
        let event = ctx.event(what).target("interaction", id).origin(ctx.origin(state)).details(details);
        state.auditor.record(&mut tx, now, &event).await?;
    }
    tx.commit().await?;
    Ok(view(id, &pauses, now))
}
