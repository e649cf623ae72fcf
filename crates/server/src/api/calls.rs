//! Call security over HTTP: signalling in (normalised JSON events, raw SIP per leg), current calls
//! with their lock state and causes, a call's history, live streams of changes (per tenant) and
//! alerts (per user) as server-sent events with `Last-Event-ID` resume, each user's alert
//! switch (only where a role grants it), stations with their security levels, and HEP capture
//! agents.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use callvault_crypto::digest::sha256;
use callvault_model::access::{Action, Resource};
use callvault_model::{PrincipalId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::callsec::{Change, Event};
use callvault_store::calls::{CaptureAgentRow, StationRow};
use callvault_store::{CallStore, StoreError};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use callvault_core::calls::{CallView, Captured, Hop, Source, StreamItem, parse_level};

/// Events per request at most.
pub const MAX_EVENTS: usize = 100;
/// Items replayed from the database on a stream resume at most.
const MAX_REPLAY: u32 = 1000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls))
        .routes(routes!(get_call))
        .routes(routes!(post_events))
        .routes(routes!(post_sip))
        .routes(routes!(stream_changes))
        .routes(routes!(stream_alerts))
        .routes(routes!(get_alert_settings, put_alert_settings, patch_alert_settings))
        .routes(routes!(list_stations))
        .routes(routes!(put_station, delete_station))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(delete_agent))
}

async fn allow(state: &AppState, ctx: &Ctx, resource: Resource, action: Action) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, action, &ResourceRef::tenant_wide(resource, tenant)).await?;
    Ok(tenant)
}

/// Calls and their state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallList {
    /// Newest first.
    pub calls: Vec<CallView>,
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

fn view_of(row: &callvault_store::calls::CallRow) -> ApiResult<CallView> {
    Ok(CallView {
        id: row.id,
        call_key: row.call_key.clone(),
        source: Source::parse(&row.source),
        state: serde_json::from_str(&row.state).map_err(ApiError::internal)?,
        started_at: row.started_at.0,
        updated_at: row.updated_at.0,
        ended_at: row.ended_at.map(|t| t.0),
    })
}

/// Current calls (or recent ones with `all=true`) with lock state, legs and causes.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", security(("bearer" = [])), params(CallQuery),
    responses((status = 200, body = CallList)))]
async fn list_calls(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CallQuery>,
) -> ApiResult<axum::Json<CallList>> {
    let tenant = allow(&state, &ctx, Resource::Call, Action::Read).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let calls = if q.all {
        let rows = state.store.reader().await?.calls(tenant, false, limit).await?;
        rows.iter().map(view_of).collect::<ApiResult<Vec<_>>>()?
    } else {
        let mut v = state.calls.current(tenant);
        v.truncate(limit as usize);
        v
    };
    Ok(axum::Json(CallList { calls }))
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

/// One call and its history.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = CallHistory), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<axum::Json<CallHistory>> {
    let tenant = allow(&state, &ctx, Resource::Call, Action::Read).await?;
    let mut r = state.store.reader().await?;
    let row = r.call(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("call"),
        e => e.into(),
    })?;
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
    Ok(axum::Json(CallHistory { call: view_of(&row)?, changes }))
}

/// Events for one call, from a PBX's own feed (Asterisk, FreeSWITCH) already normalised.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEvents {
    /// The call's reference in the caller's system (e.g. a linked id or Call-ID).
    pub call: String,
    /// Applied in order, all or nothing.
    pub events: Vec<Event>,
}

/// The call after the events and the changes they caused.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// The call.
    pub call: CallView,
    /// Changes of its security (or cause).
    pub changes: Vec<Change>,
}

/// Applies normalised events; durable before the answer.
#[utoipa::path(post, path = "/v1/calls/events", tag = "calls", security(("bearer" = [])), request_body = CallEvents,
    responses((status = 200, body = Applied), (status = 422, body = Problem)))]
async fn post_events(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CallEvents>,
) -> ApiResult<axum::Json<Applied>> {
    let tenant = allow(&state, &ctx, Resource::Call, Action::Create).await?;
    if body.call.is_empty() || body.call.len() > 256 {
        return Err(ApiError::invalid("call: 1 to 256 characters"));
    }
    if body.events.is_empty() || body.events.len() > MAX_EVENTS {
        return Err(ApiError::invalid(format!("events: 1 to {MAX_EVENTS} per request, got {}", body.events.len())));
    }
    let now = state.clock.now().millis();
    let (call, changes) =
        state.calls.apply_events(tenant, &body.call, &body.events, now, true).await.map_err(ApiError::from)?;
    callvault_core::calls::notify_downgrades(&state, tenant, call.id, &changes);
    Ok(axum::Json(Applied { call, changes }))
}

/// Where a raw SIP message belongs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SipQuery {
    /// The leg it travelled on (your id for the hop, e.g. the channel name).
    pub leg: String,
    /// The hop's transport was TLS (when the message's own Via does not say).
    #[serde(default)]
    pub tls: Option<bool>,
}

/// The changes one SIP message caused.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SipApplied {
    /// The call's id.
    pub call_id: uuid::Uuid,
    /// Changes.
    pub changes: Vec<Change>,
}

/// Applies one raw SIP message (body `message/sip`); its Call-ID names the call.
#[utoipa::path(post, path = "/v1/calls/sip", tag = "calls", security(("bearer" = [])), params(SipQuery),
    request_body(content = String, content_type = "message/sip"),
    responses((status = 200, body = SipApplied), (status = 422, body = Problem)))]
async fn post_sip(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SipQuery>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<SipApplied>> {
    let tenant = allow(&state, &ctx, Resource::Call, Action::Create).await?;
    if q.leg.is_empty() || q.leg.len() > 128 {
        return Err(ApiError::invalid("leg: 1 to 128 characters"));
    }
    let now = state.clock.now().millis();
    let (call_id, changes) = state
        .calls
        .apply_sip(
            tenant,
            Captured {
                source: Source::Sip,
                hop: Hop::Leg(&q.leg),
                message: &body,
                transport_tls: q.tls,
                correlation: None,
            },
            now,
            true,
        )
        .await
        .map_err(ApiError::from)?;
    callvault_core::calls::notify_downgrades(&state, tenant, call_id, &changes);
    Ok(axum::Json(SipApplied { call_id, changes }))
}

fn last_event_id(headers: &HeaderMap) -> i64 {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// A stream: stored items after `last` first, then live ones (the subscription is taken before
/// the replay query, so nothing committed in between is lost; duplicates are skipped by id).
fn sse(
    backlog: Vec<(i64, String)>,
    live: tokio::sync::broadcast::Receiver<Arc<StreamItem>>,
    last: i64,
    keep: impl Fn(&StreamItem) -> bool + Send + 'static,
    name: &'static str,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = backlog.last().map_or(last, |(s, _)| *s);
    let replay = futures_util::stream::iter(
        backlog.into_iter().map(move |(seq, body)| Ok(SseEvent::default().id(seq.to_string()).event(name).data(body))),
    );
    let live = futures_util::stream::unfold((live, last), move |(mut rx, mut last)| async move {
        loop {
            match rx.recv().await {
                Ok(item) if item.seq > last && item.kind == name => {
                    last = item.seq;
                    return Some((item, (rx, last)));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let live = futures_util::StreamExt::filter_map(live, move |item| {
        let out =
            keep(&item).then(|| Ok(SseEvent::default().id(item.seq.to_string()).event(name).data(item.body.clone())));
        std::future::ready(out)
    });
    Sse::new(futures_util::StreamExt::chain(replay, live)).keep_alive(KeepAlive::default())
}

/// Live changes of every call of the tenant (supervisors' view), resumable with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/calls/stream", tag = "calls", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of `change` events")))]
async fn stream_changes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let tenant = allow(&state, &ctx, Resource::Call, Action::Read).await?;
    let last = last_event_id(&headers);
    let live = state.calls.subscribe();
    let backlog = if last > 0 {
        state.store.reader().await?.call_changes_after(tenant, last, MAX_REPLAY).await?
    } else {
        Vec::new()
    };
    let backlog = backlog.into_iter().map(|c| (c.seq, c.body)).collect();
    Ok(sse(backlog, live, last, move |i| i.tenant == tenant && i.user.is_none(), "change"))
}

fn me(ctx: &Ctx) -> ApiResult<UserId> {
    match ctx.principal {
        PrincipalId::User(u) => Ok(u),
        _ => Err(ApiError::invalid("only users receive call security alerts")),
    }
}

/// The caller's call security alerts (downgrades of calls on their end-to-edge station), resumable
/// with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/calls/alerts/stream", tag = "calls", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of `alert` events")))]
async fn stream_alerts(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    let user = me(&ctx)?;
    let last = last_event_id(&headers);
    let live = state.calls.subscribe();
    let backlog = if last > 0 {
        state.store.reader().await?.call_alerts_after(tenant, user, last, MAX_REPLAY).await?
    } else {
        Vec::new()
    };
    let backlog = backlog.into_iter().map(|c| (c.seq, c.body)).collect();
    Ok(sse(backlog, live, last, move |i| i.tenant == tenant && i.user == Some(user), "alert"))
}

/// A user's alert switch.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Whether downgrade alerts are shown (switching them off needs a role that grants it).
    pub enabled: bool,
}

/// The caller's alert switch.
#[utoipa::path(get, path = "/v1/calls/alerts/settings", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = AlertSettings)))]
async fn get_alert_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<AlertSettings>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    Ok(axum::Json(alert_settings(&state, &ctx, tenant).await?))
}

async fn alert_settings(state: &AppState, ctx: &Ctx, tenant: TenantId) -> ApiResult<AlertSettings> {
    let user = me(ctx)?;
    let off = state.store.reader().await?.alert_optouts(tenant).await?.contains(&user);
    // An opt-out without the grant is not honoured: report what applies.
    let may = ctx.decide(Action::Update, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).is_allowed();
    Ok(AlertSettings { enabled: !(off && may) })
}

/// Switches the caller's downgrade alerts off or on (only where a role grants `call_alert:update`);
/// every field is required (422 lists the missing ones).
#[utoipa::path(put, path = "/v1/calls/alerts/settings", tag = "calls", security(("bearer" = [])), request_body = AlertSettings,
    responses((status = 200, body = AlertSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_alert_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<AlertSettings>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Update, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    let body: AlertSettings = super::validate::full_document(body, &[])?;
    store_alert_settings(&state, &ctx, tenant, body).await
}

/// Changes some of the caller's alert settings (JSON merge patch, RFC 7396).
#[utoipa::path(patch, path = "/v1/calls/alerts/settings", tag = "calls", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = AlertSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn patch_alert_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<AlertSettings>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Update, &ResourceRef::owned(Resource::CallAlert, tenant, ctx.principal)).await?;
    let current = alert_settings(&state, &ctx, tenant).await?;
    let body: AlertSettings = super::validate::patched_settings(&current, body)?;
    store_alert_settings(&state, &ctx, tenant, body).await
}

async fn store_alert_settings(
    state: &AppState,
    ctx: &Ctx,
    tenant: TenantId,
    body: AlertSettings,
) -> ApiResult<axum::Json<AlertSettings>> {
    let user = me(ctx)?;
    let mut tx = state.store.begin().await?;
    tx.set_alert_optout(tenant, user, !body.enabled).await?;
    let event = ctx
        .event(if body.enabled { "call.alerts.enable" } else { "call.alerts.disable" })
        .target("user", user)
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(axum::Json(body))
}

/// A station or softphone.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Name (set from the path on PUT).
    #[serde(default)]
    pub name: String,
    /// The SIP user part that identifies it in signalling.
    pub sip_user: String,
    /// The user working on it (id), if any.
    #[serde(default)]
    pub user: Option<UserId>,
    /// `station` or `softphone`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// `none`, `minimal` or `end_to_edge`.
    pub level: String,
}

fn default_kind() -> String {
    "station".into()
}

/// Stations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationList {
    /// By name.
    pub stations: Vec<Station>,
}

/// Stations and their security levels.
#[utoipa::path(get, path = "/v1/stations", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = StationList)))]
async fn list_stations(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<StationList>> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Read).await?;
    let rows = state.store.reader().await?.stations(tenant).await?;
    let stations = rows
        .into_iter()
        .map(|s| Station { name: s.name, sip_user: s.sip_user, user: s.user_id, kind: s.kind, level: s.level })
        .collect();
    Ok(axum::Json(StationList { stations }))
}

/// Creates or replaces a station.
#[utoipa::path(put, path = "/v1/stations/{name}", tag = "calls", security(("bearer" = [])), request_body = Station,
    params(("name" = String, Path)), responses((status = 200, body = Station), (status = 422, body = Problem)))]
async fn put_station(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Station>> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Update).await?;
    let mut body: Station = super::validate::full_document(body, &["name"])?;
    body.name = name;
    let ok = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
    if !ok(&body.name) || !ok(&body.sip_user) {
        return Err(ApiError::invalid("name and sip_user: 1 to 64 visible ASCII characters"));
    }
    if parse_level(&body.level).is_none() {
        return Err(ApiError::invalid("level: none, minimal or end_to_edge"));
    }
    if body.kind != "station" && body.kind != "softphone" {
        return Err(ApiError::invalid("kind: station or softphone"));
    }
    let mut tx = state.store.begin().await?;
    if let Some(u) = body.user {
        callvault_store::DirectoryStore::user(&mut tx, tenant, u)
            .await
            .map_err(|_| ApiError::invalid("user: no such user in the tenant"))?;
    }
    let row = StationRow {
        name: body.name.clone(),
        sip_user: body.sip_user.clone(),
        user_id: body.user,
        kind: body.kind.clone(),
        level: body.level.clone(),
    };
    tx.put_station(tenant, &row).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict("sip_user: another station uses it"),
        e => e.into(),
    })?;
    let event = ctx
        .event("station.put")
        .target("station", &body.name)
        .details(serde_json::json!({ "level": body.level, "kind": body.kind }))
        .origin(ctx.origin(&state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(axum::Json(body))
}

/// Deletes a station.
#[utoipa::path(delete, path = "/v1/stations/{name}", tag = "calls", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_station(State(state): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Delete).await?;
    let mut tx = state.store.begin().await?;
    tx.delete_station(tenant, &name).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("station"),
        e => e.into(),
    })?;
    let event = ctx.event("station.delete").target("station", &name).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.invalidate(tenant);
    Ok(StatusCode::NO_CONTENT)
}

/// A HEP capture agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaptureAgent {
    /// HEP capture id (chunk 12).
    pub capture_id: u32,
    /// Label.
    pub name: String,
    /// Created (Unix ms).
    pub created_at: i64,
}

/// Capture agents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    /// By capture id.
    pub agents: Vec<CaptureAgent>,
}

/// A new capture agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// HEP capture id (1..=4294967295), unique across the installation.
    pub capture_id: u32,
    /// Label.
    pub name: String,
}

/// The agent and its key, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    /// The agent.
    pub agent: CaptureAgent,
    /// The key to configure as the agent's HEP password (Kamailio `siptrace` `auth_key`); shown
    /// only now, stored as its SHA-256.
    pub key: String,
}

/// The tenant's capture agents.
#[utoipa::path(get, path = "/v1/capture-agents", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = AgentList)))]
async fn list_agents(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<AgentList>> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Read).await?;
    let agents = state
        .store
        .reader()
        .await?
        .capture_agents()
        .await?
        .into_iter()
        .filter(|a| a.tenant_id == tenant)
        .map(|a| CaptureAgent { capture_id: a.capture_id, name: a.name, created_at: a.created_at.0 })
        .collect();
    Ok(axum::Json(AgentList { agents }))
}

/// Registers a capture agent and returns its key once.
#[utoipa::path(post, path = "/v1/capture-agents", tag = "calls", security(("bearer" = [])), request_body = NewAgent,
    responses((status = 201, body = CreatedAgent), (status = 409, body = Problem)))]
async fn create_agent(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewAgent>,
) -> ApiResult<(StatusCode, axum::Json<CreatedAgent>)> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Create).await?;
    if body.capture_id == 0 || body.name.is_empty() || body.name.len() > 64 {
        return Err(ApiError::invalid("capture_id: 1 or more; name: 1 to 64 characters"));
    }
    let key = hex::encode(callvault_crypto::digest::random_bytes(24));
    let now = state.clock.now();
    let row = CaptureAgentRow {
        capture_id: body.capture_id,
        tenant_id: tenant,
        name: body.name.clone(),
        key_sha256: hex::encode(sha256(key.as_bytes())),
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_capture_agent(&row).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict("capture_id: already registered"),
        e => e.into(),
    })?;
    let event = ctx.event("capture_agent.create").target("capture_agent", body.capture_id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.calls.reload_agents().await?;
    let agent = CaptureAgent { capture_id: body.capture_id, name: body.name, created_at: now.0 };
    Ok((StatusCode::CREATED, axum::Json(CreatedAgent { agent, key })))
}

/// Removes a capture agent (its packets are refused from now on).
#[utoipa::path(delete, path = "/v1/capture-agents/{capture_id}", tag = "calls", security(("bearer" = [])),
    params(("capture_id" = u32, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_agent(State(state): State<AppState>, ctx: Ctx, Path(id): Path<u32>) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::Station, Action::Delete).await?;
    let mut tx = state.store.begin().await?;
    tx.delete_capture_agent(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("capture agent"),
        e => e.into(),
    })?;
    let event = ctx.event("capture_agent.delete").target("capture_agent", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    state.calls.reload_agents().await?;
    Ok(StatusCode::NO_CONTENT)
}
