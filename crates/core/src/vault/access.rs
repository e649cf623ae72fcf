//! Who may read, play or export a stored object: by default a user may access their own
//! recordings, and quality-management recordings are for those with listening rights for the
//! service (the product's recording rules).
//!
//! - A **personal** recording belongs to its agents: each agent through their `:own` privileges,
//!   and users whose scope covers one of the agent's teams (a supervisor of the agent's team, or of
//!   the department the team is in) with the privilege asked for. The object's service plays no
//!   part: a supervisor of another team who happens to hold the service is refused.
//! - A **quality-management** recording belongs to its service: users whose scope covers the
//!   service with the privilege asked for. Its agents have no claim on it.
//!
//! Tenant-wide grants reach both (a data protection officer's `interaction:export`). Nobody who
//! administers identities holds listening rights (separation of duties), and no service account
//! does ([`callvault_policy::duties::check_service_account_privileges`]).

use std::collections::HashMap;

use callvault_model::access::{Action, Resource};
use callvault_model::recording::RecordingKind;
use callvault_model::vault::StoredObject;
use callvault_model::{PrincipalId, TeamId, TenantId, UserId};
use callvault_policy::access::{Decision, ResourceRef};
use callvault_store::prelude::*;
use callvault_store::{Reader, StoreError};

use crate::caller::{AccessError, Ctx, Permit};
use crate::services::Services;

/// The teams of the agents of some objects, loaded once for a page of decisions.
#[derive(Debug, Default)]
pub struct AgentTeams(HashMap<UserId, Vec<TeamId>>);

impl AgentTeams {
    /// The teams of every agent of the personal objects among `objects`.
    pub async fn of<'a>(
        r: &mut Reader,
        tenant: TenantId,
        objects: impl IntoIterator<Item = &'a StoredObject>,
    ) -> Result<AgentTeams, StoreError> {
        let mut map = HashMap::new();
        for o in objects.into_iter().filter(|o| o.recording == RecordingKind::Personal) {
            for a in &o.agents {
                if !map.contains_key(a) {
                    map.insert(*a, r.user_teams(tenant, *a).await?);
                }
            }
        }
        Ok(AgentTeams(map))
    }

    /// The teams of every user of the tenant (for passes over all of its objects).
    pub async fn whole_tenant(r: &mut Reader, tenant: TenantId) -> Result<AgentTeams, StoreError> {
        let all = r.all_assignments(tenant).await?;
        Ok(AgentTeams(all.into_iter().map(|(u, a)| (u, a.teams)).collect()))
    }

    fn teams(&self, user: &UserId) -> &[TeamId] {
        self.0.get(user).map_or(&[], Vec::as_slice)
    }
}

/// The object as the access engine sees it when reached through `agent` (personal) or as a whole
/// (quality management).
fn resource_ref<'a>(o: &'a StoredObject, agent: Option<&UserId>, teams: &'a AgentTeams) -> ResourceRef<'a> {
    let base = ResourceRef::tenant_wide(Resource::Interaction, o.tenant_id);
    match (o.recording, agent) {
        (RecordingKind::QualityManagement, _) => base.with_services(o.service_id.as_slice()),
        (RecordingKind::Personal, Some(a)) => base.with_owner(PrincipalId::User(*a)).with_teams(teams.teams(a)),
        // A personal recording without agents (none can be stored): tenant-wide grants only.
        (RecordingKind::Personal, None) => base,
    }
}

/// The decision for `action` on an object: allowed when allowed through any of its agents
/// (personal) or for its service (quality management); otherwise the first denial. Returns the
/// agent the decision went through.
pub fn decide_object(ctx: &Ctx, action: Action, o: &StoredObject, teams: &AgentTeams) -> (Decision, Option<UserId>) {
    if o.recording == RecordingKind::QualityManagement || o.agents.is_empty() {
        return (ctx.decide(action, &resource_ref(o, None, teams)), None);
    }
    let mut first = None;
    for a in &o.agents {
        let d = ctx.decide(action, &resource_ref(o, Some(a), teams));
        if d.is_allowed() {
            return (d, Some(*a));
        }
        first.get_or_insert((d, Some(*a)));
    }
    first.unwrap_or_else(|| (ctx.decide(action, &resource_ref(o, None, teams)), None))
}

/// Authorizes `action` on one object (a denial is audited).
pub async fn authorize_object(
    state: &Services,
    ctx: &Ctx,
    action: Action,
    o: &StoredObject,
) -> Result<Permit, AccessError> {
    let teams = AgentTeams::of(&mut state.store.reader().await?, o.tenant_id, [o]).await?;
    let (_, agent) = decide_object(ctx, action, o, &teams);
    ctx.authorize(state, action, &resource_ref(o, agent.as_ref(), &teams)).await
}
