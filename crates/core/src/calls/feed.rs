//! Call security for its callers: signalling in (normalised events from a PBX's own feed, raw
//! SIP per leg), views out (current calls, a call's history) and live streams (a tenant's
//! changes for supervisors, a user's own alerts) that resume after the last id seen.

use std::sync::Arc;

use callvault_model::access::{Action, Resource};
use callvault_model::{PrincipalId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::callsec::{Change, Event};
use callvault_store::calls::CallRow;
use callvault_store::{CallStore, DirectoryStore, StoreError};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{CallError, CallView, Captured, Hop, Source, StreamItem, notify_downgrades};
use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

/// Events per request at most.
pub const MAX_EVENTS: usize = 100;
/// Items replayed from the database on a stream resume at most.
pub const MAX_REPLAY: u32 = 1000;

/// Why signalling was not applied or calls not shown.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A parameter is out of range.
    #[error("{0}")]
    Invalid(String),
    /// Only users receive call security alerts.
    #[error("only users receive call security alerts")]
    NotAUser,
    /// The call tracker refused.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A stored call does not decode.
    #[error("a stored call does not decode: {0}")]
    Corrupt(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which calls.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallQuery {
    /// Only calls in progress (default true).
    #[serde(default)]
    pub all: bool,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A call with every state change it went through.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallHistory {
    /// The call as last recorded.
    pub call: CallView,
    /// Its changes in order (each with the sequence number, time and cause).
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<serde_json::Value>,
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, FeedError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::Call, tenant)).await?)
}

/// Which calls a reader sees: every call of the tenant (a tenant-wide grant), or the calls of the
/// users whose teams its limited grants cover — a call is a resource of the teams of the users on
/// it, so a supervisor sees their team's agents' calls and nobody else's.
#[derive(Debug, Clone)]
pub struct CallScope {
    all: bool,
    users: std::collections::HashSet<UserId>,
}

impl CallScope {
    /// Whether a call with these users (ids as written on its legs) is visible.
    pub fn sees<'a>(&self, mut users: impl Iterator<Item = &'a str>) -> bool {
        self.all || users.any(|u| u.parse().is_ok_and(|u| self.users.contains(&UserId(u))))
    }

    fn sees_view(&self, v: &CallView) -> bool {
        self.sees(v.state.legs.iter().filter_map(|l| l.party.user.as_deref()))
    }

    /// Whether a stored or streamed change (its `users`) is visible.
    pub fn sees_body(&self, body: &str) -> bool {
        if self.all {
            return true;
        }
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let users = v["users"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        self.sees(users.iter().filter_map(|u| u.as_str()))
    }
}

/// The calls `ctx` may read; a caller who may read none is refused (audited).
pub async fn call_scope(state: &Services, ctx: &Ctx, kind: Resource) -> Result<CallScope, AccessError> {
    let tenant = ctx.tenant()?;
    let wide = ResourceRef::tenant_wide(kind, tenant);
    if ctx.decide(Action::Read, &wide).is_allowed() {
        return Ok(CallScope { all: true, users: Default::default() });
    }
    if !ctx.may_somewhere(Action::Read, kind) {
        ctx.authorize(state, Action::Read, &wide).await?;
    }
    let assignments = state.store.reader().await?.all_assignments(tenant).await?;
    let users = assignments
        .into_iter()
        .filter(|(u, a)| {
            ctx.decide(Action::Read, &wide.with_owner(PrincipalId::User(*u)).with_teams(&a.teams)).is_allowed()
        })
        .map(|(u, _)| u)
        .collect();
    Ok(CallScope { all: false, users })
}

fn view_of(row: &CallRow) -> Result<CallView, FeedError> {
    Ok(CallView {
        id: row.id,
        call_key: row.call_key.clone(),
        source: Source::parse(&row.source),
        state: serde_json::from_str(&row.state).map_err(|e| FeedError::Corrupt(e.to_string()))?,
        started_at: row.started_at.0,
        updated_at: row.updated_at.0,
        ended_at: row.ended_at.map(|t| t.0),
    })
}

/// Current calls (or, with `all`, recent ones from the store), newest first.
pub async fn calls(state: &Services, ctx: &Ctx, q: &CallQuery) -> Result<Vec<CallView>, FeedError> {
    let tenant = ctx.tenant()?;
    let scope = call_scope(state, ctx, Resource::Call).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut v = if q.all {
        // A limited reader's calls are found among a longer stretch of the newest ones.
        let fetch = if scope.all { limit } else { (limit * 10).min(10_000) };
        let rows = state.store.reader().await?.calls(tenant, false, fetch).await?;
        rows.iter().map(view_of).collect::<Result<Vec<_>, _>>()?
    } else {
        state.calls.current(tenant).await?
    };
    v.retain(|c| scope.sees_view(c));
    v.truncate(limit as usize);
    Ok(v)
}

/// One call and its history.
pub async fn history(state: &Services, ctx: &Ctx, id: uuid::Uuid) -> Result<CallHistory, FeedError> {
    let tenant = ctx.tenant()?;
    let scope = call_scope(state, ctx, Resource::Call).await?;
    let mut r = state.store.reader().await?;
    let row = r.call(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => FeedError::Call(CallError::NoSuchCall),
        e => e.into(),
    })?;
    let view = view_of(&row)?;
    if !scope.sees_view(&view) {
        drop(r);
        // Refused through the engine, so the denial is audited with its reason.
        ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::Call, tenant)).await?;
    }
    let mut r = state.store.reader().await?;
    let changes = r
        .call_changes(tenant, id)
        .await?
        .into_iter()
        .map(|c| {
            let mut v: serde_json::Value = serde_json::from_str(&c.body).unwrap_or_default();
            v["seq"] = c.seq.into();
            v
        })
        .collect();
    Ok(CallHistory { call: view, changes })
}

/// Applies normalised events to the call `call` (the reference in the caller's system), in
/// order, all or nothing; durable before it returns. Downgrades alert.
pub async fn apply_events(
    state: &Services,
    ctx: &Ctx,
    call: &str,
    events: &[Event],
) -> Result<(CallView, Vec<Change>), FeedError> {
    let permit = allow(state, ctx, Action::Create).await?;
    if call.is_empty() || call.len() > 256 {
        return Err(FeedError::Invalid("call: 1 to 256 characters".into()));
    }
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(FeedError::Invalid(format!("events: 1 to {MAX_EVENTS} per request, got {}", events.len())));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Create, Resource::Call, tenant)?;
    let now = state.clock.now().millis();
    let (view, changes) = state.calls.apply_events(tenant, call, events, now, true).await?;
    notify_downgrades(state, tenant, view.id, &changes);
    crate::diagnostics::call_applied(state, tenant, view.id, "events", &changes);
    Ok((view, changes))
}

/// Applies one raw SIP message seen on leg `leg` (`tls`: the hop's transport was TLS, when the
/// message's own Via does not say); its Call-ID names the call. Downgrades alert.
pub async fn apply_sip(
    state: &Services,
    ctx: &Ctx,
    leg: &str,
    tls: Option<bool>,
    message: &[u8],
) -> Result<(uuid::Uuid, Vec<Change>), FeedError> {
    let permit = allow(state, ctx, Action::Create).await?;
    if leg.is_empty() || leg.len() > 128 {
        return Err(FeedError::Invalid("leg: 1 to 128 characters".into()));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Create, Resource::Call, tenant)?;
    let now = state.clock.now().millis();
    let captured = Captured { source: Source::Sip, hop: Hop::Leg(leg), message, transport_tls: tls, correlation: None };
    let (call_id, changes) = state.calls.apply_sip(tenant, captured, now, true).await?;
    notify_downgrades(state, tenant, call_id, &changes);
    crate::diagnostics::call_applied(state, tenant, call_id, "sip", &changes);
    Ok((call_id, changes))
}

/// Stored items after `last` first, then live ones (the subscription is taken before the
/// replay query, so nothing committed in between is lost; duplicates are skipped by id), as
/// (id, JSON body).
fn resume(
    backlog: Vec<(i64, String)>,
    live: broadcast::Receiver<Arc<StreamItem>>,
    last: i64,
    keep: impl Fn(&StreamItem) -> bool + Send + 'static,
    name: &'static str,
) -> impl Stream<Item = (i64, String)> + Send {
    let last = backlog.last().map_or(last, |(s, _)| *s);
    let replay = futures_util::stream::iter(backlog);
    let live = futures_util::stream::unfold((live, last), move |(mut rx, mut last)| async move {
        loop {
            match rx.recv().await {
                Ok(item) if item.seq > last && item.kind == name => {
                    last = item.seq;
                    return Some((item, (rx, last)));
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let live = futures_util::StreamExt::filter_map(live, move |item| {
        std::future::ready(keep(&item).then(|| (item.seq, item.body.clone())))
    });
    futures_util::StreamExt::chain(replay, live)
}

/// Live changes of every call of the tenant (supervisors' view) after id `last` (0: live only).
pub async fn changes(
    state: &Services,
    ctx: &Ctx,
    last: i64,
) -> Result<impl Stream<Item = (i64, String)> + Send + use<>, FeedError> {
    let tenant = ctx.tenant()?;
    let scope = call_scope(state, ctx, Resource::Call).await?;
    let live = state.calls.subscribe();
    let backlog = if last > 0 {
        state.store.reader().await?.call_changes_after(tenant, last, MAX_REPLAY).await?
    } else {
        Vec::new()
    };
    let backlog = backlog.into_iter().filter(|c| scope.sees_body(&c.body)).map(|c| (c.seq, c.body)).collect();
    Ok(resume(
        backlog,
        live,
        last,
        move |i| i.tenant == tenant && i.user.is_none() && scope.sees_body(&i.body),
        "change",
    ))
}

fn alert_user(ctx: &Ctx) -> Result<UserId, FeedError> {
    match ctx.principal {
        PrincipalId::User(u) => Ok(u),
        _ => Err(FeedError::NotAUser),
    }
}

/// The caller's call security alerts (downgrades of calls on their end-to-edge station) after
/// id `last` (0: live only).
pub async fn alerts(
    state: &Services,
    ctx: &Ctx,
    last: i64,
) -> Result<impl Stream<Item = (i64, String)> + Send + use<>, FeedError> {
    let tenant: TenantId = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    let user = alert_user(ctx)?;
    let live = state.calls.subscribe();
    let backlog = if last > 0 {
        state.store.reader().await?.call_alerts_after(tenant, user, last, MAX_REPLAY).await?
    } else {
        Vec::new()
    };
    let backlog = backlog.into_iter().map(|c| (c.seq, c.body)).collect();
    Ok(resume(backlog, live, last, move |i| i.tenant == tenant && i.user == Some(user), "alert"))
}

/// A call the caller is on, as their own call view shows it: the lock of their
/// station — `None` on stations below end-to-edge, which show no icon — and the cause of the
/// call's current state for the tooltip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OwnCall {
    /// The call.
    pub call_id: uuid::Uuid,
    /// Call-ID or the feed's reference.
    pub call_key: String,
    /// The icon: closed, open or pending; absent on none and minimal stations.
    pub lock: Option<callvault_policy::callsec::Lock>,
    /// Why the call is in its state (shown only with a lock).
    pub cause: Option<String>,
    /// When it started (ms).
    pub started_at: i64,
}

/// The calls in progress the caller is a party of, with what their station shows.
pub async fn own_calls(state: &Services, ctx: &Ctx) -> Result<Vec<OwnCall>, FeedError> {
    let tenant: TenantId = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    let user = alert_user(ctx)?.to_string();
    let mut out = Vec::new();
    for call in state.calls.current(tenant).await? {
        let Some(leg) = call.state.legs.iter().find(|l| l.party.user.as_deref() == Some(user.as_str())) else {
            continue;
        };
        let lock =
            Some(leg.party.level.lock(call.state.security)).filter(|l| *l != callvault_policy::callsec::Lock::Hidden);
        let cause = lock.map(|_| call.state.cause.text.clone());
        out.push(OwnCall { call_id: call.id, call_key: call.call_key, lock, cause, started_at: call.started_at });
    }
    Ok(out)
}
