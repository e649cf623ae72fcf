//! The dial-check protocol: for each question, find whose calling areas apply (the caller, or
//! the user it names if it may), decide with the tenant's compiled policy, count an allowed call
//! under a calls-per-24-hours limit under the lock that decided it, make the counted calls and
//! the denials durable before answering. Numbers reach the audit log only as keyed digests.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp as Millis;
use callvault_model::{PrincipalId, ServiceId, TeamId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::dial::{Assignment, Contact, Decision, Direction, Level, ReasonCode, Request};
use callvault_store::{DirectoryStore, StoreError};
use serde::Deserialize;

use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::dial::{DialError, TenantDial, instant};
use crate::services::Services;

/// Checks per request at most.
pub const MAX_BATCH: usize = 1000;

/// One question.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// `outbound_call`, `outbound_text` or `inbound_call`.
    pub direction: Direction,
    /// The number called or calling (E.164 preferred; national form uses the tenant's region).
    pub number: String,
    /// The agent (login or id) the call is for; a user calling for themselves may leave it out.
    #[serde(default)]
    pub user: Option<String>,
    /// The service or campaign.
    #[serde(default)]
    pub service: Option<ServiceId>,
    /// Facts about the contact.
    #[serde(default)]
    pub contact: Contact,
    /// The instant (RFC 3339); now when absent.
    #[serde(default)]
    pub at: Option<String>,
    /// Ask without counting an allowed outbound call towards calls-per-24-hours limits.
    #[serde(default)]
    pub dry_run: bool,
}

/// Why a batch of checks was not answered.
#[derive(Debug, thiserror::Error)]
pub enum DialCheckError {
    /// A check is not acceptable as asked (the text names it: `checks[3].at: …`).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not ask (for this user).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The tenant's policy could not be served or the counted calls not written.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The denials could not be audited.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user and their teams, resolved once per request, with the permit to check for them.
struct Who {
    user: Option<(UserId, Vec<TeamId>)>,
    permit: Permit,
}

/// Whether the caller may check at all, asked before its request is read: a caller who may not
/// check learns nothing about the body (the denial is audited).
pub async fn admit(state: &Services, ctx: &Ctx) -> Result<(), DialCheckError> {
    if !ctx.may_somewhere(Action::Create, Resource::DialCheck) {
        let tenant = ctx.tenant()?;
        ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(Resource::DialCheck, tenant)).await?;
    }
    Ok(())
}

/// Answers `checks` in order for `ctx`.
pub async fn check(state: &Services, ctx: &Ctx, checks: &[CheckRequest]) -> Result<Vec<Decision>, DialCheckError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Create, Resource::DialCheck) {
        ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(Resource::DialCheck, tenant)).await?;
    }
    if checks.is_empty() || checks.len() > MAX_BATCH {
        return Err(DialCheckError::Invalid(format!("checks: 1 to {MAX_BATCH} per request, got {}", checks.len())));
    }
    let view = state.dial.tenant(&state.store, tenant).await?;
    let now = instant(state.clock.now());
    let mut users: HashMap<Option<String>, Arc<Who>> = HashMap::new();
    let mut services: HashMap<ServiceId, String> = HashMap::new();
    let mut results = Vec::with_capacity(checks.len());
    let mut placed = Vec::new();
    let mut denied = Vec::new();
    let mut counting: Option<Arc<Who>> = None;
    for (i, c) in checks.iter().enumerate() {
        let at = match &c.at {
            Some(s) => s
                .parse::<jiff::Timestamp>()
                .map_err(|_| DialCheckError::Invalid(format!("checks[{i}].at: not an RFC 3339 instant")))?,
            None => now,
        };
        let who = match users.get(&c.user) {
            Some(w) => w.clone(),
            None => {
                let w = Arc::new(resolve_user(state, tenant, ctx, c.user.as_deref()).await?);
                users.insert(c.user.clone(), w.clone());
                w
            }
        };
        if let Some(id) = c.service
            && let Entry::Vacant(slot) = services.entry(id)
        {
            let s = state
                .store
                .reader()
                .await?
                .service(tenant, id)
                .await
                .map_err(|_| DialCheckError::Invalid(format!("checks[{i}].service: no such service")))?;
            slot.insert(s.name);
        }
        let service = c.service.and_then(|id| services.get(&id).map(|n| (id, n.as_str())));
        let assignments = assignments_for(&view, &who, service);
        let decide = |recent: &[jiff::Timestamp]| {
            view.policy.decide(&Request {
                direction: c.direction,
                number: &c.number,
                at,
                service: service.map(|(_, n)| n),
                assignments: &assignments,
                contact: &c.contact,
                recent_calls: recent,
                dnc: &view.lists,
            })
        };
        // Most numbers are under no calls-per-24-hours limit: decide once, without the number's
        // recent calls or its digest. When a limit applies, decide again with the recent calls
        // under the lock that also counts this call.
        let first = decide(&[]);
        let digest = |d: &Decision| d.number.as_ref().map(|n| state.auditor.pseudonym(n.e164.as_bytes()));
        let limited = c.direction == Direction::OutboundCall && first.limited;
        // A counted call is counted when it happens: its instant must be the server's, within
        // the allowed skew, or a caller could place it outside the 24-hour window it is
        // counted in. Dry runs, and checks denied anyway (nothing is counted), may ask about any
        // instant.
        let skew = jiff::SignedDuration::from_secs(state.config.dial_count_skew_secs);
        if limited && !c.dry_run && first.allowed && at.duration_since(now).abs() > skew {
            return Err(DialCheckError::Invalid(format!(
                "checks[{i}].at: a counted check (a number under a calls-per-24-hours limit, not a dry run) must \
                 be within {} seconds of the server's clock; use dry_run to ask about another instant",
                state.config.dial_count_skew_secs
            )));
        }
        let decision = match limited.then(|| digest(&first)).flatten() {
            Some(d) => {
                let mut out = None;
                let durable = state
                    .dial
                    .with_recent_calls(&state.store, &who.permit, &d, at, now, |recent| {
                        let decision = decide(recent);
                        let counts = decision.allowed && !c.dry_run;
                        out = Some(decision);
                        counts
                    })
                    .await?;
                let decision = out.ok_or_else(|| AccessError::Internal("no decision".into()))?;
                if decision.allowed && !c.dry_run && !durable {
                    placed.push((d, Millis(at.as_millisecond())));
                    counting.get_or_insert_with(|| who.clone());
                }
                decision
            }
            _ => first,
        };
        if !decision.allowed {
            let codes: Vec<ReasonCode> = decision.reasons.iter().filter(|r| r.denies).map(|r| r.code).collect();
            let number = digest(&decision).unwrap_or_else(|| state.auditor.pseudonym(c.number.as_bytes()));
            denied.push(serde_json::json!({
                "check": i,
                "direction": c.direction,
                "number_digest": number,
                "codes": codes,
                "rule": decision.denial().map(|r| r.rule.to_string()),
            }));
        }
        let number = decision.number.as_ref().map_or(c.number.as_str(), |n| n.e164.as_str());
        crate::diagnostics::dial_checked(state, tenant, c.direction, number, &decision);
        results.push(decision);
    }
    // Counted calls and the denials become durable before the answer, each through its group
    // commit (concurrent requests share one transaction); one audit entry per request lists
    // every denied check with the number as a keyed digest.
    let persist = async {
        match &counting {
            Some(who) if !placed.is_empty() => {
                state.dial.persist_calls(&who.permit, placed, Millis(now.as_millisecond())).await
            }
            _ => Ok(()),
        }
    };
    let audit = async {
        if denied.is_empty() {
            return Ok(());
        }
        let event = ctx
            .event("dial.check.denied")
            .denied()
            .details(serde_json::json!({ "checks": checks.len(), "denied": denied }))
            .origin(ctx.origin(state));
        state.auditor.record_now(state.clock.now(), &event).await
    };
    let (persisted, audited) = tokio::join!(persist, audit);
    persisted?;
    audited?;
    Ok(results)
}

/// The user a check is for, with the right to ask for them: one's own checks need
/// `dial_check:create` on oneself; naming another user needs it on that user (dialers
/// tenant-wide, supervisors for their teams); a service account naming nobody needs it
/// tenant-wide. A caller who may not name that user gets the same denial whether the login
/// exists or not (no login enumeration).
async fn resolve_user(
    state: &Services,
    tenant: TenantId,
    ctx: &Ctx,
    user: Option<&str>,
) -> Result<Who, DialCheckError> {
    let me = match ctx.principal {
        PrincipalId::User(id) => Some(id),
        _ => None,
    };
    let named = match user {
        None => None,
        Some(u) => match (u.parse::<uuid::Uuid>(), me) {
            (Ok(id), Some(m)) if UserId(id) == m => None,
            (Ok(id), _) => Some(Ok(UserId(id))),
            (Err(_), _) => {
                let found = state.store.reader().await?.user_id_by_login(tenant, &crate::identity::login_key(u)).await;
                match (found, me) {
                    (Ok(id), Some(m)) if id == m => None,
                    (Ok(id), _) => Some(Ok(id)),
                    (Err(_), _) => Some(Err(())),
                }
            }
        },
    };
    let Some(named) = named else {
        // Oneself, or a service account naming nobody.
        let Some(id) = me else {
            let permit =
                ctx.authorize(state, Action::Create, &ResourceRef::tenant_wide(Resource::DialCheck, tenant)).await?;
            return Ok(Who { user: None, permit });
        };
        let permit = ctx
            .authorize(state, Action::Create, &ResourceRef::owned(Resource::DialCheck, tenant, PrincipalId::User(id)))
            .await?;
        let teams = state.store.reader().await?.user_teams(tenant, id).await?;
        return Ok(Who { user: Some((id, teams)), permit });
    };
    // Whoever may name any user (tenant-wide) learns that a login does not exist; others get the
    // same denial for an unknown login as for one outside their scope.
    let stranger = ResourceRef::owned(Resource::DialCheck, tenant, PrincipalId::User(UserId::new()));
    let names_anyone = ctx.decide(Action::Create, &stranger).is_allowed();
    let no_such_user = || DialCheckError::Invalid("user: no such user in the tenant".into());
    let id = match named {
        Ok(id) => id,
        Err(()) if names_anyone => return Err(no_such_user()),
        Err(()) => {
            ctx.authorize(state, Action::Create, &stranger).await?;
            return Err(AccessError::Internal("a stranger was allowed".into()).into());
        }
    };
    let mut r = state.store.reader().await?;
    let exists = r.user(tenant, id).await.is_ok();
    let teams = if exists { r.user_teams(tenant, id).await? } else { Vec::new() };
    drop(r);
    if !exists {
        if names_anyone {
            return Err(no_such_user());
        }
        ctx.authorize(state, Action::Create, &stranger).await?;
        return Err(AccessError::Internal("a stranger was allowed".into()).into());
    }
    let resource =
        ResourceRef { teams: &teams, ..ResourceRef::owned(Resource::DialCheck, tenant, PrincipalId::User(id)) };
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    Ok(Who { user: Some((id, teams)), permit })
}

/// The area assignments that apply: the user's, their teams', the service's.
fn assignments_for(view: &TenantDial, who: &Who, service: Option<(ServiceId, &str)>) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut push = |level: Level, id: String, name: String| {
        if let Some(areas) = view.assignments.get(&(level, id)) {
            out.push(Assignment { level, name, areas: areas.clone() });
        }
    };
    if let Some((id, teams)) = &who.user {
        push(Level::User, id.to_string(), format!("user {id}"));
        for t in teams {
            push(Level::Team, t.to_string(), format!("team {t}"));
        }
    }
    if let Some((id, name)) = service {
        push(Level::Service, id.to_string(), format!("service {name}"));
    }
    out
}
