//! Call security at run time: the calls being tracked (from JSON events, raw SIP posted per leg,
//! or HEP mirrored by capture agents), each with its `CallState` from the pure engine; stations
//! and their levels; who is alerted on a downgrade; durable state, changes and alerts through a
//! group-commit writer; live fan-out to server-sent-event streams; idle calls closed.
//!
//! Signalling correlation: a call is its SIP Call-ID (or the caller's call reference) within a
//! tenant. A proxy such as Kamailio forwards the same Call-ID on both sides, and `siptrace`
//! mirrors each message as received and as sent, so each hop (the unordered pair of addresses a
//! message travelled between) is a leg: the caller's side and the callee's side. The first leg's
//! party is the `From` user, later legs' the Request-URI user; a user part that matches a
//! station names the station, its user and its security level.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use callvault_model::records::Timestamp as Millis;
use callvault_model::{TenantId, UserId};
pub use callvault_policy::callsec::sip::Hop;
use callvault_policy::callsec::sip::SipLegs;
use callvault_policy::callsec::{CallState, Change, Event, EventError, Party, PartyKind, Security, StationLevel};
use callvault_signalling::classify::classify_message;
use callvault_store::calls::{CallRow, StationRow};
use callvault_store::{CallStore, Store};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

pub mod feed;
mod relay;
mod shared;

use crate::audit::{Actor, AuditEvent, Auditor};

/// Where a call's signalling came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Normalised JSON events.
    Api,
    /// Raw SIP messages posted per leg.
    Sip,
    /// HEP from a capture agent.
    Hep,
}

impl Source {
    /// From its stored name (unknown names are API feeds).
    pub fn parse(s: &str) -> Source {
        match s {
            "hep" => Source::Hep,
            "sip" => Source::Sip,
            _ => Source::Api,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Sip => "sip",
            Source::Hep => "hep",
        }
    }
}

/// A call as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallView {
    /// Id.
    pub id: uuid::Uuid,
    /// The correlation key (SIP Call-ID or the caller's reference).
    pub call_key: String,
    /// Where its signalling comes from.
    #[schema(value_type = String)]
    pub source: Source,
    /// State, legs and cause.
    pub state: CallState,
    /// First event (Unix ms).
    pub started_at: i64,
    /// Last event (Unix ms).
    pub updated_at: i64,
    /// Closed (Unix ms).
    pub ended_at: Option<i64>,
}

/// A stored change with its sequence number, as streamed.
#[derive(Debug, Clone, Serialize)]
pub struct StreamItem {
    /// Tenant.
    #[serde(skip)]
    pub tenant: TenantId,
    /// For alerts: the user alerted.
    #[serde(skip)]
    pub user: Option<UserId>,
    /// The SSE id.
    pub seq: i64,
    /// `change` or `alert`.
    pub kind: &'static str,
    /// JSON body.
    pub body: String,
}

/// Why signalling was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The event does not fit the call.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The SIP message does not parse.
    #[error("{0}")]
    Signalling(String),
    /// Too many calls are tracked.
    #[error("{0} calls are tracked already (hep_max_calls)")]
    TooManyCalls(usize),
    /// The tenant has as many calls tracked as it may.
    #[error("this tenant has {0} calls tracked already (hep_max_calls_per_tenant)")]
    TooManyCallsForTenant(usize),
    /// No such call.
    #[error("no such call")]
    NoSuchCall,
    /// The database failed.
    #[error("storage failed")]
    Store,
}

struct Tracked {
    id: uuid::Uuid,
    source: Source,
    state: CallState,
    started_at: i64,
    updated_at: i64,
    /// Its SIP legs: hops to leg ids, the suites each leg's offer listed.
    legs: SipLegs,
}

impl Tracked {
    /// The call a stored row holds (its SIP memory too, when stored; else resumed from its
    /// state); `None` when the state does not decode.
    fn from_row(row: &CallRow) -> Option<Tracked> {
        let state: CallState = serde_json::from_str(&row.state).ok()?;
        let legs = row
            .sip_memory
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_else(|| SipLegs::resumed(&state));
        Some(Tracked {
            id: row.id,
            source: Source::parse(&row.source),
            legs,
            state,
            started_at: row.started_at.0,
            updated_at: row.updated_at.0,
        })
    }

    /// The row that stores this call as of `now` (ended or not), with its SIP memory when
    /// `memory` (several nodes: the next message may reach another node).
    fn row(&self, tenant: TenantId, call_key: &str, now: i64, ended: bool, memory: bool) -> CallRow {
        CallRow {
            id: self.id,
            tenant_id: tenant,
            call_key: call_key.to_owned(),
            source: self.source.as_str().into(),
            security: security_str(self.state.security).into(),
            state: serde_json::to_string(&self.state).unwrap_or_default(),
            started_at: Millis(self.started_at),
            updated_at: Millis(now),
            ended_at: ended.then_some(Millis(now)),
            sip_memory: memory.then(|| serde_json::to_string(&self.legs).unwrap_or_default()),
        }
    }

    /// What the API shows of it.
    fn view(&self, call_key: &str, ended_at: Option<i64>) -> CallView {
        CallView {
            id: self.id,
            call_key: call_key.to_owned(),
            source: self.source,
            state: self.state.clone(),
            started_at: self.started_at,
            updated_at: self.updated_at,
            ended_at,
        }
    }
}

/// Capture agents by capture id (rows whose key digest does not decode are left out).
/// Capture agents by the SHA-256 of their key: capture ids are per tenant (two tenants may both
/// run a Kamailio with `hep_capture_id` 1), so the key alone says whose packets these are.
fn agents_of(rows: Vec<callvault_store::calls::CaptureAgentRow>) -> HashMap<[u8; 32], Agent> {
    rows.into_iter()
        .filter_map(|a| {
            let key: [u8; 32] = hex::decode(&a.key_sha256).ok()?.try_into().ok()?;
            Some((key, Agent { tenant: a.tenant_id, capture_id: a.capture_id, key_sha256: key }))
        })
        .collect()
}

/// A tenant's stations by SIP user, and its users' opt-outs.
#[derive(Default)]
struct TenantConf {
    stations: HashMap<String, StationRow>,
    optouts: HashSet<UserId>,
}

/// One durable write: the call's row, its changes, alerts per user, and an audit event per change.
struct Write {
    row: CallRow,
    changes: Vec<String>,
    alerts: Vec<(UserId, String)>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// A HEP capture agent as the listener checks it.
#[derive(Clone)]
pub struct Agent {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its capture id (unique within the tenant).
    pub capture_id: u32,
    /// SHA-256 of its key.
    pub key_sha256: [u8; 32],
}

/// All tenants' tracked calls.
pub struct Calls {
    store: Store,
    auditor: Auditor,
    calls: Mutex<HashMap<(TenantId, String), Tracked>>,
    conf: RwLock<HashMap<TenantId, Arc<TenantConf>>>,
    agents: RwLock<HashMap<[u8; 32], Agent>>,
    writer: mpsc::Sender<Write>,
    stream: broadcast::Sender<Arc<StreamItem>>,
    relay: Arc<relay::Relay>,
    bus: crate::bus::Bus,
    max_calls: usize,
    max_calls_per_tenant: usize,
}

fn poisoned<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

fn security_str(s: Security) -> &'static str {
    match s {
        Security::Secure => "secure",
        Security::NotSecure => "not_secure",
        Security::Unknown => "unknown",
    }
}

/// Parses a station level.
pub fn parse_level(s: &str) -> Option<StationLevel> {
    match s {
        "none" => Some(StationLevel::None),
        "minimal" => Some(StationLevel::Minimal),
        "end_to_edge" => Some(StationLevel::EndToEdge),
        _ => None,
    }
}

impl Calls {
    /// Loads open calls and capture agents, starts the writer.
    pub async fn load(
        store: Store,
        auditor: Auditor,
        bus: crate::bus::Bus,
        max_calls: usize,
        max_calls_per_tenant: usize,
    ) -> Result<Arc<Calls>, callvault_store::StoreError> {
        let mut r = store.reader().await?;
        let mut calls = HashMap::new();
        // Several nodes (PostgreSQL) keep calls in the database only.
        if store.backend() == callvault_store::Backend::Sqlite {
            for row in r.open_calls().await? {
                if let Some(t) = Tracked::from_row(&row) {
                    calls.insert((row.tenant_id, row.call_key.clone()), t);
                }
            }
        }
        let agents = agents_of(r.capture_agents().await?);
        drop(r);
        let (writer, rx) = mpsc::channel(65_536);
        let (stream, _) = broadcast::channel(4096);
        let relay = Arc::new(relay::Relay::new(stream.clone()));
        let calls = Arc::new(Calls {
            store: store.clone(),
            auditor: auditor.clone(),
            calls: Mutex::new(calls),
            conf: RwLock::default(),
            agents: RwLock::new(agents),
            writer,
            stream,
            relay: relay.clone(),
            bus: bus.clone(),
            max_calls,
            max_calls_per_tenant: max_calls_per_tenant.min(max_calls),
        });
        tokio::spawn(write_loop(store, auditor, rx, relay, bus));
        Ok(calls)
    }

    /// Subscribes to committed changes and alerts (filter by tenant and user).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StreamItem>> {
        self.stream.subscribe()
    }

    /// How many calls are tracked.
    pub fn tracked(&self) -> usize {
        self.calls.lock().unwrap_or_else(poisoned).len()
    }

    /// The capture agent with this id.
    pub fn agent(&self, key_sha256: &[u8; 32]) -> Option<Agent> {
        self.agents.read().unwrap_or_else(poisoned).get(key_sha256).cloned()
    }

    /// Reloads capture agents (after a change), here and on the other nodes.
    pub async fn reload_agents(&self) -> Result<(), callvault_store::StoreError> {
        self.reload_agents_local().await?;
        self.bus.announce(crate::bus::Message::Agents);
        Ok(())
    }

    /// Reloads capture agents on this node (another node changed them).
    pub async fn reload_agents_local(&self) -> Result<(), callvault_store::StoreError> {
        let rows = self.store.reader().await?.capture_agents().await?;
        *self.agents.write().unwrap_or_else(poisoned) = agents_of(rows);
        Ok(())
    }

    /// Forgets a tenant's stations and opt-outs (after a change), here and on the other nodes.
    pub fn invalidate(&self, tenant: TenantId) {
        self.invalidate_local(tenant);
        self.bus.announce(crate::bus::Message::Stations { tenant });
    }

    /// Forgets a tenant's stations and opt-outs on this node (another node changed them).
    pub fn invalidate_local(&self, tenant: TenantId) {
        self.conf.write().unwrap_or_else(poisoned).remove(&tenant);
    }

    /// Forgets every tenant's stations and opt-outs (after a bus gap).
    pub fn forget_all(&self) {
        self.conf.write().unwrap_or_else(poisoned).clear();
    }

    /// Streams the changes and alerts another node committed with these sequence numbers.
    pub async fn relay(
        &self,
        changes: Option<(i64, i64)>,
        alerts: Option<(i64, i64)>,
    ) -> Result<(), callvault_store::StoreError> {
        self.relay.fetch(&self.store, changes, alerts).await
    }

    /// Streams what other nodes committed while the bus could not be heard.
    pub async fn catch_up(&self) -> Result<(), callvault_store::StoreError> {
        self.relay.catch_up(&self.store).await
    }

    async fn conf(&self, tenant: TenantId) -> Result<Arc<TenantConf>, CallError> {
        if let Some(c) = self.conf.read().unwrap_or_else(poisoned).get(&tenant) {
            return Ok(c.clone());
        }
        let mut r = self.store.reader().await.map_err(|_| CallError::Store)?;
        let stations = r.stations(tenant).await.map_err(|_| CallError::Store)?;
        let optouts = r.alert_optouts(tenant).await.map_err(|_| CallError::Store)?;
        let conf = Arc::new(TenantConf {
            stations: stations.into_iter().map(|s| (s.sip_user.clone(), s)).collect(),
            optouts: optouts.into_iter().collect(),
        });
        self.conf.write().unwrap_or_else(poisoned).insert(tenant, conf.clone());
        Ok(conf)
    }

    /// The party a SIP user part names: a station when one matches, else an external party.
    fn party_of(conf: &TenantConf, user: Option<&str>, fallback: &str) -> Party {
        match user.and_then(|u| conf.stations.get(u)) {
            Some(s) => Party {
                kind: if s.kind == "softphone" { PartyKind::Softphone } else { PartyKind::Station },
                name: s.name.clone(),
                user: s.user_id.map(|u| u.to_string()),
                level: parse_level(&s.level).unwrap_or_default(),
            },
            None => {
                Party { kind: PartyKind::External, name: fallback.to_owned(), user: None, level: StationLevel::None }
            }
        }
    }

    /// Applies normalised events to a call (created on first use). Waits until durable when
    /// `durable`. Returns the call and the changes.
    pub async fn apply_events(
        &self,
        tenant: TenantId,
        call_key: &str,
        events: &[Event],
        now: i64,
        durable: bool,
    ) -> Result<(CallView, Vec<Change>), CallError> {
        let conf = self.conf(tenant).await?;
        self.run_step(tenant, call_key, durable, |calls| {
            let tracked = self.entry(calls, tenant, call_key, Source::Api, now)?;
            // All or nothing: apply to a copy; a call that these events would have created is
            // not kept when they fail.
            let mut state = tracked.state.clone();
            let mut changes = Vec::new();
            for e in events {
                match state.apply(&enrich(&conf, e)) {
                    Ok(Some(c)) => changes.push(c),
                    Ok(None) => {}
                    Err(err) => {
                        if tracked.state.legs.is_empty() {
                            calls.remove(&(tenant, call_key.to_owned()));
                        }
                        return Err(err.into());
                    }
                }
            }
            tracked.state = state;
            tracked.updated_at = now;
            let (view, changes, write) = self.finish(calls, &conf, tenant, call_key, changes, now)?;
            Ok(((view, changes), Some(write)))
        })
        .await
    }

    /// Applies one SIP message of a call. `hop` identifies the leg (HEP: the two addresses;
    /// raw SIP: the leg id the caller names). `transport` is the capture agent's view of the
    /// hop's transport, used when the message itself does not say.
    pub async fn apply_sip(
        &self,
        tenant: TenantId,
        captured: Captured<'_>,
        now: i64,
        durable: bool,
    ) -> Result<(uuid::Uuid, Vec<Change>), CallError> {
        let Captured { source, hop, message, transport_tls, correlation } = captured;
        let c = classify_message(message).map_err(|e| CallError::Signalling(e.to_string()))?;
        let conf = self.conf(tenant).await?;
        // Both sides of a B2BUA are one call when the capture agent or a header correlates
        // them; otherwise the Call-ID is the call.
        let call_key = correlation.or_else(|| c.correlation.clone()).unwrap_or_else(|| c.call_id.clone());
        self.run_step(tenant, &call_key, durable, |calls| {
            // Only an INVITE starts a call: later messages of an ended call (the 200 to its BYE)
            // and stray ones create nothing.
            let initial = c.method == "INVITE" && c.status.is_none() && c.to_tag.is_none();
            if !initial && !calls.contains_key(&(tenant, call_key.clone())) {
                return Err(CallError::NoSuchCall);
            }
            let tracked = self.entry(calls, tenant, &call_key, source, now)?;
            let events = tracked.legs.events(&tracked.state, hop, &c, transport_tls, |user, fallback| {
                Calls::party_of(&conf, user, fallback)
            });
            if events.is_empty() {
                // Nothing this message means for the call (a retransmission, a provisional
                // response): nothing to write (but the SIP memory when several nodes share it:
                // an early response kept for its INVITE).
                return Ok(((tracked.id, Vec::new()), self.memory_only(tenant, &call_key, tracked)));
            }
            let mut state = tracked.state.clone();
            let mut changes = Vec::new();
            for e in &events {
                match state.apply(e) {
                    Ok(Some(ch)) => changes.push(ch),
                    Ok(None) => {}
                    // A message for a leg this call no longer has (a retransmitted BYE): ignored.
                    Err(EventError::NoSuchLeg(_)) => {}
                    Err(e) => {
                        if tracked.state.legs.is_empty() {
                            calls.remove(&(tenant, call_key.clone()));
                        }
                        return Err(e.into());
                    }
                }
            }
            let unchanged = state == tracked.state;
            tracked.state = state;
            tracked.updated_at = now;
            if unchanged {
                // A re-INVITE that negotiated the same again: the state is what is stored.
                return Ok(((tracked.id, Vec::new()), self.memory_only(tenant, &call_key, tracked)));
            }
            let (view, changes, write) = self.finish(calls, &conf, tenant, &call_key, changes, now)?;
            Ok(((view.id, changes), Some(write)))
        })
        .await
    }

    /// Refuses a new call when `all` calls are tracked at `hep_max_calls`, or the tenant's `own`
    /// at `hep_max_calls_per_tenant`.
    fn admit(&self, all: usize, own: usize) -> Result<(), CallError> {
        if all >= self.max_calls {
            return Err(CallError::TooManyCalls(self.max_calls));
        }
        if own >= self.max_calls_per_tenant {
            return Err(CallError::TooManyCallsForTenant(self.max_calls_per_tenant));
        }
        Ok(())
    }

    fn entry<'m>(
        &self,
        calls: &'m mut HashMap<(TenantId, String), Tracked>,
        tenant: TenantId,
        call_key: &str,
        source: Source,
        now: i64,
    ) -> Result<&'m mut Tracked, CallError> {
        let key = (tenant, call_key.to_owned());
        // One node counts its calls here; nodes sharing the database count them all when the
        // new call is written (`run_step`), where this map holds one call.
        if !calls.contains_key(&key) && !self.shared() {
            // The tenant's calls are counted only when the provider holds that many in all:
            // below it no tenant can be at its cap.
            let own = if calls.len() >= self.max_calls_per_tenant {
                calls.keys().filter(|(t, _)| *t == tenant).count()
            } else {
                0
            };
            self.admit(calls.len(), own)?;
        }
        Ok(calls.entry(key).or_insert_with(|| Tracked {
            id: uuid::Uuid::now_v7(),
            source,
            state: CallState::default(),
            started_at: now,
            updated_at: now,
            legs: SipLegs::default(),
        }))
    }

    /// After events: the row to write, alerts for downgrades; a call whose legs all left ends.
    fn finish(
        &self,
        calls: &mut HashMap<(TenantId, String), Tracked>,
        conf: &TenantConf,
        tenant: TenantId,
        call_key: &str,
        changes: Vec<Change>,
        now: i64,
    ) -> Result<(CallView, Vec<Change>, Write), CallError> {
        let key = (tenant, call_key.to_owned());
        let Some(t) = calls.get(&key) else { return Err(CallError::NoSuchCall) };
        let ended =
            !t.state.legs.is_empty() && t.state.legs.iter().all(|l| l.phase == callvault_policy::callsec::Phase::Gone);
        let view = t.view(call_key, ended.then_some(now));
        let mut alerts = Vec::new();
        let mut change_bodies = Vec::new();
        for ch in &changes {
            // The users on the call (ids): supervisors' streams are filtered by them.
            let users: Vec<&str> = t.state.legs.iter().filter_map(|l| l.party.user.as_deref()).collect();
            let body = serde_json::json!({ "call_id": t.id, "call_key": call_key, "at": now, "change": ch,
                "users": users })
            .to_string();
            change_bodies.push(body);
            for user in t.state.alert_recipients(ch, |u| u.parse().is_ok_and(|u| conf.optouts.contains(&UserId(u)))) {
                let Ok(uid) = user.parse() else { continue };
                let alert = serde_json::json!({
                    "call_id": t.id,
                    "call_key": call_key,
                    "at": now,
                    "security": ch.to,
                    "cause": ch.cause,
                    "lock": StationLevel::EndToEdge.lock(ch.to),
                })
                .to_string();
                alerts.push((UserId(uid), alert));
            }
        }
        let row = t.row(tenant, call_key, now, ended, self.shared());
        if ended {
            calls.remove(&key);
        }
        Ok((view, changes, Write { row, changes: change_bodies, alerts, done: None }))
    }

    async fn send(&self, mut write: Write, durable: bool) -> Result<(), CallError> {
        if durable {
            let (done, wait) = oneshot::channel();
            write.done = Some(done);
            self.writer.send(write).await.map_err(|_| CallError::Store)?;
            wait.await.map_err(|_| CallError::Store)?.map_err(|_| CallError::Store)
        } else {
            // Mirrored signalling does not wait; the writer keeps the order per call.
            self.writer.send(write).await.map_err(|_| CallError::Store)
        }
    }

    /// Closes this node's calls without an event for `idle_ms`; returns how many.
    async fn close_idle_here(&self, now: i64, idle_ms: i64) -> usize {
        let writes: Vec<Write> = {
            let mut calls = self.calls.lock().unwrap_or_else(poisoned);
            let idle: Vec<(TenantId, String)> =
                calls.iter().filter(|(_, c)| now - c.updated_at >= idle_ms).map(|(k, _)| k.clone()).collect();
            idle.into_iter()
                .filter_map(|k| {
                    let t = calls.remove(&k)?;
                    Some(Write {
                        row: t.row(k.0, &k.1, now, true, false),
                        changes: Vec::new(),
                        alerts: Vec::new(),
                        done: None,
                    })
                })
                .collect()
        };
        let n = writes.len();
        for w in writes {
            let _ = self.writer.send(w).await;
        }
        n
    }
}

/// A station named in an event (by station name or SIP user) takes its user and security level
/// from the station registry, not from the feed.
fn enrich(conf: &TenantConf, e: &Event) -> Event {
    let fix = |p: &Party| -> Party {
        if !matches!(p.kind, PartyKind::Station | PartyKind::Softphone) {
            return p.clone();
        }
        let found = conf.stations.get(&p.name).or_else(|| conf.stations.values().find(|s| s.name == p.name));
        match found {
            Some(_) => Calls::party_of(conf, found.map(|s| s.sip_user.as_str()), &p.name),
            // An unregistered station shows no lock: level none, whatever the feed says.
            None => Party { level: StationLevel::None, user: None, ..p.clone() },
        }
    };
    match e {
        Event::LegAdded { leg, party } => Event::LegAdded { leg: leg.clone(), party: fix(party) },
        Event::Transfer { from, to, party } => {
            Event::Transfer { from: from.clone(), to: to.clone(), party: fix(party) }
        }
        other => other.clone(),
    }
}

/// One SIP message as captured.
#[derive(Debug, Clone)]
pub struct Captured<'a> {
    /// Where it came from.
    pub source: Source,
    /// Its leg.
    pub hop: Hop<'a>,
    /// The message.
    pub message: &'a [u8],
    /// The capture agent's view of the hop's transport (TLS or not), when it has one.
    pub transport_tls: Option<bool>,
    /// The capture agent's correlation of the call across a B2BUA (HEP chunk 17), if it sent one.
    pub correlation: Option<String>,
}

/// The group-commit writer: call rows, changes, alerts and their audit entries in one
/// transaction per batch; committed changes and alerts are then streamed.
async fn write_loop(
    store: Store,
    auditor: Auditor,
    mut rx: mpsc::Receiver<Write>,
    relay: Arc<relay::Relay>,
    bus: crate::bus::Bus,
) {
    let mut batch: Vec<Write> = Vec::with_capacity(4096);
    while rx.recv_many(&mut batch, 4096).await > 0 {
        let result: Result<Vec<StreamItem>, callvault_store::StoreError> = async {
            let mut tx = store.begin().await?;
            let items = write_rows(&mut tx, &auditor, &batch).await?;
            // The other nodes stream these rows once they are committed.
            announce_items(&bus, &mut tx, &items).await?;
            tx.commit().await?;
            Ok(items)
        }
        .await;
        let outcome = match result {
            Ok(items) => {
                relay.deliver(items);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "recording call security failed");
                Err("recording call security failed".to_owned())
            }
        };
        for w in batch.drain(..) {
            if let Some(done) = w.done {
                let _ = done.send(outcome.clone());
            }
        }
    }
}

/// Tells the other nodes which change and alert rows `items` are (delivered at commit).
async fn announce_items(
    bus: &crate::bus::Bus,
    tx: &mut callvault_store::Tx,
    items: &[StreamItem],
) -> Result<(), callvault_store::StoreError> {
    let changes = relay::range(items.iter().filter(|i| i.kind == "change").map(|i| i.seq));
    let alerts = relay::range(items.iter().filter(|i| i.kind == "alert").map(|i| i.seq));
    if changes.is_some() || alerts.is_some() {
        bus.announce_in(tx, &crate::bus::Message::Calls { changes, alerts }).await?;
    }
    Ok(())
}

/// Writes call rows, changes, alerts and their audit entries in `tx`; returns what to stream
/// once it commits.
async fn write_rows(
    tx: &mut callvault_store::Tx,
    auditor: &Auditor,
    batch: &[Write],
) -> Result<Vec<StreamItem>, callvault_store::StoreError> {
    let mut items = Vec::new();
    // A call written several times in one batch: its last row is written once, where the
    // call first appears (before any of its changes, which reference it).
    let mut last_row: HashMap<uuid::Uuid, usize> = HashMap::new();
    for (i, w) in batch.iter().enumerate() {
        last_row.insert(w.row.id, i);
    }
    for w in batch {
        if let Some(last) = last_row.remove(&w.row.id) {
            tx.upsert_call(&batch[last].row).await?;
        }
        for body in &w.changes {
            let seq = tx.insert_call_change(w.row.tenant_id, w.row.id, w.row.updated_at, body).await?;
            items.push(StreamItem { tenant: w.row.tenant_id, user: None, seq, kind: "change", body: body.clone() });
            let details: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            let event = AuditEvent::new(Some(w.row.tenant_id), Actor::System, "call.security.changed")
                .target("call", w.row.id)
                .details(details["change"].clone());
            auditor.record(tx, w.row.updated_at, &event).await?;
        }
        for (user, body) in &w.alerts {
            let seq = tx.insert_call_alert(w.row.tenant_id, *user, w.row.id, w.row.updated_at, body).await?;
            items.push(StreamItem {
                tenant: w.row.tenant_id,
                user: Some(*user),
                seq,
                kind: "alert",
                body: body.clone(),
            });
            let event = AuditEvent::new(Some(w.row.tenant_id), Actor::System, "call.security.alert")
                .target("call", w.row.id)
                .target("user", user);
            auditor.record(tx, w.row.updated_at, &event).await?;
        }
    }
    Ok(items)
}

/// Alerts users and webhooks about downgrades (webhooks in the background).
pub fn notify_downgrades(state: &crate::Services, tenant: TenantId, call: uuid::Uuid, changes: &[Change]) {
    for ch in changes.iter().filter(|c| c.downgrade) {
        let payload = serde_json::json!({ "call_id": call, "from": ch.from, "to": ch.to, "cause": ch.cause });
        let s = state.clone();
        tokio::spawn(async move {
            crate::notify::webhooks(&s, tenant, crate::webhooks::WebhookEvent::CallSecurityDowngraded, &payload).await;
        });
    }
}
