//! Agent performance statistics: per agent and 15-minute interval the work-time
//! distribution (talk, hold, wrap-up, available, break, other) and the interactions handled and
//! missed, fed by the ACD in batches. Supervisors read their team members and whole teams —
//! teams in their scope, never another department's — agents read their own (the access engine
//! decides, with the agent as owner and their teams as the resource's teams). Reporting data is
//! personal data of the reporting category: refused while the tenant does not collect it, purged
//! after its retention, in each user's personal data report.

use std::collections::{BTreeMap, HashSet};

use callvault_model::access::{Action, Resource};
use callvault_model::personal::Category;
use callvault_model::records::Timestamp;
use callvault_model::reporting::{AgentInterval, INTERVAL_MS};
use callvault_model::{PrincipalId, TeamId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{RecordingStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx};
use crate::services::Services;

/// Intervals per ingest request at most.
pub const MAX_BATCH: usize = 5000;

/// Longest period one read covers (93 days).
pub const MAX_PERIOD_MS: i64 = 93 * 86_400_000;

/// Why a reporting request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ReportingError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable (the text names it: `intervals[3].talk_s: …`).
    #[error("{0}")]
    Invalid(String),
    /// No such user or team in the tenant.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A batch from the ACD.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ingest {
    /// Intervals; an agent's interval sent again replaces the earlier figures.
    pub intervals: Vec<AgentInterval>,
}

/// The period read: `[from, to)`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start (RFC 3339).
    pub from: Timestamp,
    /// End, exclusive (RFC 3339).
    pub to: Timestamp,
}

/// Totals over some intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Seconds talking.
    pub talk_s: u64,
    /// Seconds on hold.
    pub hold_s: u64,
    /// Seconds in wrap-up.
    pub wrap_up_s: u64,
    /// Seconds available.
    pub available_s: u64,
    /// Seconds on a break.
    pub break_s: u64,
    /// Seconds in other states.
    pub other_s: u64,
    /// Interactions handled.
    pub handled: u64,
    /// Interactions missed.
    pub missed: u64,
}

impl Totals {
    fn add(&mut self, i: &AgentInterval) {
        self.talk_s += u64::from(i.talk_s);
        self.hold_s += u64::from(i.hold_s);
        self.wrap_up_s += u64::from(i.wrap_up_s);
        self.available_s += u64::from(i.available_s);
        self.break_s += u64::from(i.break_s);
        self.other_s += u64::from(i.other_s);
        self.handled += u64::from(i.handled);
        self.missed += u64::from(i.missed);
    }
}

/// One day's totals (UTC days).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// The day's start (UTC midnight).
    pub day: Timestamp,
    /// Totals.
    pub totals: Totals,
}

/// One agent over a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberReport {
    /// The agent.
    pub user_id: UserId,
    /// Totals over the period.
    pub totals: Totals,
    /// Per day.
    pub days: Vec<Day>,
    /// Every interval (member views only; empty in team views).
    pub intervals: Vec<AgentInterval>,
}

/// A team over a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamReport {
    /// The team.
    pub team_id: TeamId,
    /// Totals of the whole team.
    pub totals: Totals,
    /// The team per day.
    pub days: Vec<Day>,
    /// Each member's totals and days.
    pub members: Vec<MemberReport>,
}

fn check_period(p: Period) -> Result<(), ReportingError> {
    if p.to <= p.from || p.to.0 - p.from.0 > MAX_PERIOD_MS {
        return Err(ReportingError::Invalid("from/to: from before to, at most 93 days apart".into()));
    }
    Ok(())
}

fn days(intervals: &[AgentInterval]) -> (Totals, Vec<Day>) {
    let mut total = Totals::default();
    let mut by_day: BTreeMap<i64, Totals> = BTreeMap::new();
    for i in intervals {
        total.add(i);
        by_day.entry(i.interval_start.0.div_euclid(86_400_000) * 86_400_000).or_default().add(i);
    }
    (total, by_day.into_iter().map(|(d, totals)| Day { day: Timestamp(d), totals }).collect())
}

fn member(user_id: UserId, intervals: Vec<AgentInterval>, keep_intervals: bool) -> MemberReport {
    let (totals, days) = days(&intervals);
    MemberReport { user_id, totals, days, intervals: if keep_intervals { intervals } else { Vec::new() } }
}

/// Stores a batch from the ACD (`performance:create`; the reporting feed). Every interval starts
/// on a 15-minute boundary, its states add up to at most 900 seconds, its agent is a user of the
/// tenant; one bad interval refuses the batch, naming it. Audited with the count only.
pub async fn ingest(state: &Services, ctx: &Ctx, batch: Ingest) -> Result<usize, ReportingError> {
    let tenant = ctx.tenant()?;
    let permit = ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(Resource::Performance, tenant)).await?;
    if batch.intervals.is_empty() || batch.intervals.len() > MAX_BATCH {
        return Err(ReportingError::Invalid(format!("intervals: 1..={MAX_BATCH}")));
    }
    if !crate::collection::collected(state, tenant, None, Category::Reporting).await? {
        return Err(ReportingError::Invalid(
            "the tenant does not collect reporting data (GET /v1/personal-data/collection); nothing was stored".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (n, i) in batch.intervals.iter().enumerate() {
        if i.interval_start.0.rem_euclid(INTERVAL_MS) != 0 {
            return Err(ReportingError::Invalid(format!(
                "intervals[{n}].interval_start: a multiple of 15 minutes (…:00, :15, :30, :45)"
            )));
        }
        if i.total_s() > 900 || i.handled > 10_000 || i.missed > 10_000 {
            return Err(ReportingError::Invalid(format!(
                "intervals[{n}]: the states of one 15-minute interval add up to at most 900 seconds"
            )));
        }
        if !seen.insert((i.user_id, i.interval_start)) {
            return Err(ReportingError::Invalid(format!("intervals[{n}]: the same agent and interval twice")));
        }
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let users: HashSet<UserId> = batch.intervals.iter().map(|i| i.user_id).collect();
    for u in &users {
        if tx.user(tenant, *u).await.is_err() {
            let n = batch.intervals.iter().position(|i| i.user_id == *u).unwrap_or(0);
            return Err(ReportingError::Invalid(format!("intervals[{n}].user_id: no such user in this tenant")));
        }
    }
    permit.covers(Action::Create, Resource::Performance, tenant)?;
    tx.upsert_performance(tenant, &batch.intervals, now).await?;
    let event = ctx.event("performance.ingest").origin(ctx.origin(state)).details(serde_json::json!({
        "intervals": batch.intervals.len(), "agents": users.len(),
    }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(batch.intervals.len())
}

/// One agent's statistics: the agent themself, or whoever's scope covers one of their teams.
pub async fn for_member(state: &Services, ctx: &Ctx, user: UserId, p: Period) -> Result<MemberReport, ReportingError> {
    let tenant = ctx.tenant()?;
    check_period(p)?;
    let mut r = state.store.reader().await?;
    r.user(tenant, user).await.map_err(|e| match e {
        StoreError::NotFound => ReportingError::NotFound("user"),
        e => e.into(),
    })?;
    let teams = r.user_teams(tenant, user).await?;
    drop(r);
    let resource = ResourceRef::owned(Resource::Performance, tenant, PrincipalId::User(user)).with_teams(&teams);
    ctx.authorize(state, Action::Read, &resource).await?;
    let rows = state.store.reader().await?.performance(tenant, &[user], p.from, p.to).await?;
    Ok(member(user, rows, true))
}

/// A team's statistics, whole and per member, for whoever's scope covers the team.
pub async fn for_team(state: &Services, ctx: &Ctx, team: TeamId, p: Period) -> Result<TeamReport, ReportingError> {
    let tenant = ctx.tenant()?;
    check_period(p)?;
    let mut r = state.store.reader().await?;
    r.team(tenant, team).await.map_err(|e| match e {
        StoreError::NotFound => ReportingError::NotFound("team"),
        e => e.into(),
    })?;
    drop(r);
    let teams = [team];
    let resource = ResourceRef::tenant_wide(Resource::Performance, tenant).with_teams(&teams);
    ctx.authorize(state, Action::Read, &resource).await?;
    let mut r = state.store.reader().await?;
    let members = r.team_members(tenant, team).await?;
    let rows = r.performance(tenant, &members, p.from, p.to).await?;
    let (totals, days) = days(&rows);
    let mut reports = Vec::with_capacity(members.len());
    for m in members {
        let mine: Vec<AgentInterval> = rows.iter().filter(|i| i.user_id == m).copied().collect();
        reports.push(member(m, mine, false));
    }
    Ok(TeamReport { team_id: team, totals, days, members: reports })
}

/// Every interval of one user (their personal data report).
pub async fn of_user(state: &Services, tenant: TenantId, user: UserId) -> Result<Vec<AgentInterval>, StoreError> {
    state.store.reader().await?.performance(tenant, &[user], Timestamp(i64::MIN), Timestamp(i64::MAX)).await
}
