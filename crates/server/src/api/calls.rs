//! Call security over HTTP: signalling in (normalised JSON events, raw SIP per leg), current calls
//! with their lock state and causes, a call's history, live streams of changes (per tenant) and
//! alerts (per user) as server-sent events with `Last-Event-ID` resume, each user's alert
//! switch (only where a role grants it), stations with their security levels, and HEP capture
//! agents. The rules are in `callvault_core::calls::feed` and `callvault_core::stations`.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use callvault_core::calls::CallView;
use callvault_core::calls::feed;
use callvault_core::stations;
use callvault_policy::callsec::{Change, Event};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::calls::feed::{CallHistory, CallQuery, MAX_EVENTS};
pub use callvault_core::stations::{AlertSettings, CaptureAgent, CreatedAgent, NewAgent, Station};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

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

/// Calls and their state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallList {
    /// Newest first.
    pub calls: Vec<CallView>,
}

/// Current calls (or recent ones with `all=true`) with lock state, legs and causes.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", security(("bearer" = [])), params(CallQuery),
    responses((status = 200, body = CallList)))]
async fn list_calls(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CallQuery>,
) -> ApiResult<axum::Json<CallList>> {
    Ok(axum::Json(CallList { calls: feed::calls(&state, &ctx, &q).await? }))
}

/// One call and its history.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = CallHistory), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<axum::Json<CallHistory>> {
    Ok(axum::Json(feed::history(&state, &ctx, id).await?))
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
    let (call, changes) = feed::apply_events(&state, &ctx, &body.call, &body.events).await?;
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
    let (call_id, changes) = feed::apply_sip(&state, &ctx, &q.leg, q.tls, &body).await?;
    Ok(axum::Json(SipApplied { call_id, changes }))
}

fn last_event_id(headers: &HeaderMap) -> i64 {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Items as server-sent events named `name`, each with its id for `Last-Event-ID`.
fn sse(
    items: impl Stream<Item = (i64, String)> + Send + 'static,
    name: &'static str,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = futures_util::StreamExt::map(items, move |(seq, body)| {
        Ok(SseEvent::default().id(seq.to_string()).event(name).data(body))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Live changes of every call of the tenant (supervisors' view), resumable with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/calls/stream", tag = "calls", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of `change` events")))]
async fn stream_changes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    Ok(sse(feed::changes(&state, &ctx, last_event_id(&headers)).await?, "change"))
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
    Ok(sse(feed::alerts(&state, &ctx, last_event_id(&headers)).await?, "alert"))
}

/// Stations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationList {
    /// By name.
    pub stations: Vec<Station>,
}

/// Capture agents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    /// By capture id.
    pub agents: Vec<CaptureAgent>,
}

/// The caller's alert switch.
#[utoipa::path(get, path = "/v1/calls/alerts/settings", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = AlertSettings)))]
async fn get_alert_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<AlertSettings>> {
    Ok(axum::Json(stations::alert_settings(&state, &ctx).await?))
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
    Ok(axum::Json(stations::replace_alert_settings(&state, &ctx, body).await?))
}

/// Changes some of the caller's alert settings (JSON merge patch, RFC 7396).
#[utoipa::path(patch, path = "/v1/calls/alerts/settings", tag = "calls", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = AlertSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn patch_alert_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<AlertSettings>> {
    Ok(axum::Json(stations::patch_alert_settings(&state, &ctx, body).await?))
}

/// Stations and their security levels.
#[utoipa::path(get, path = "/v1/stations", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = StationList)))]
async fn list_stations(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<StationList>> {
    Ok(axum::Json(StationList { stations: stations::stations(&state, &ctx).await? }))
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
    Ok(axum::Json(stations::put_station(&state, &ctx, name, body).await?))
}

/// Deletes a station.
#[utoipa::path(delete, path = "/v1/stations/{name}", tag = "calls", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_station(State(state): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult<StatusCode> {
    stations::delete_station(&state, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's capture agents.
#[utoipa::path(get, path = "/v1/capture-agents", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = AgentList)))]
async fn list_agents(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<AgentList>> {
    Ok(axum::Json(AgentList { agents: stations::capture_agents(&state, &ctx).await? }))
}

/// Registers a capture agent and returns its key once.
#[utoipa::path(post, path = "/v1/capture-agents", tag = "calls", security(("bearer" = [])), request_body = NewAgent,
    responses((status = 201, body = CreatedAgent), (status = 409, body = Problem)))]
async fn create_agent(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewAgent>,
) -> ApiResult<(StatusCode, axum::Json<CreatedAgent>)> {
    Ok((StatusCode::CREATED, axum::Json(stations::create_capture_agent(&state, &ctx, body).await?)))
}

/// Removes a capture agent (its packets are refused from now on).
#[utoipa::path(delete, path = "/v1/capture-agents/{capture_id}", tag = "calls", security(("bearer" = [])),
    params(("capture_id" = u32, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_agent(State(state): State<AppState>, ctx: Ctx, Path(id): Path<u32>) -> ApiResult<StatusCode> {
    stations::delete_capture_agent(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
