//! The authorization decision engine.
//!
//! A pure function from (subject with its grants, action, resource with its tenant, owner, teams,
//! skills and services) to allow or deny, with the reason: which grant allowed and why it reached
//! the resource, or why nothing did. Deny by default.
//!
//! [`Subject::compile`] turns a principal's grants into an index keyed by (resource, action): one
//! flat array of entries with an offset table, so a decision reads one slot, touches only the
//! privileges that could allow it, binary-searches the grant's sorted scope, and allocates
//! nothing. The server compiles a subject per request from the stored grants; the compiled form is
//! `Send + Sync + Clone` so it can also be cached and shared.
//!
//! Rules, in the order they are applied:
//! 1. A resource of another tenant is denied ([`DenyReason::OtherTenant`]); nothing crosses tenants.
//! 2. No grant holds `resource:action` in any reach: [`DenyReason::NoPrivilege`].
//! 3. A `resource:action:own` privilege allows when the resource's owner is the subject itself,
//!    whatever the grant's scope (an agent's own profile is theirs even outside their teams).
//! 4. A `resource:action` privilege of a tenant-wide grant allows anything of the tenant; of a
//!    limited grant, anything that shares at least one team, skill or service with the scope. A
//!    resource without teams, skills and services is in no limited scope.
//! 5. Otherwise: [`DenyReason::OutOfScope`] if some scoped privilege existed, else
//!    [`DenyReason::NotOwner`] (only `:own` privileges existed).
//!
//! When several grants allow, the one named is deterministic: tenant-wide grants before limited
//! ones, scoped privileges before `:own` ones, then grants in creation order (their ids are UUID
//! v7), then input order.

use std::fmt;
use std::sync::Arc;

use callvault_model::access::{Action, Privilege, Reach, Resource, Scope};
use callvault_model::{GrantId, PrincipalId, RoleId, ServiceId, SkillId, TeamId, TenantId};
use serde::Serialize;

use crate::duties::{self, ClassSet, PrivilegeClass};

/// One grant of a principal, with its role's privileges, as loaded from the store.
#[derive(Debug, Clone)]
pub struct GrantInput {
    /// The grant.
    pub grant_id: GrantId,
    /// Its role.
    pub role_id: RoleId,
    /// The role's name, for explanations.
    pub role_name: String,
    /// The role's privileges.
    pub privileges: Vec<Privilege>,
    /// Where the grant applies. A limited scope's departments must already be resolved into
    /// their teams (added to `teams`): the engine does not know which teams a department holds.
    pub scope: Scope,
}

/// What a decision is about: a resource of a tenant with the attributes scopes are matched on.
///
/// Build one with [`ResourceRef::tenant_wide`] or [`ResourceRef::owned`] and refine it with the
/// `with_*` helpers, or write the struct out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRef<'a> {
    /// Kind of resource.
    pub kind: Resource,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its owner, for `:own` privileges.
    pub owner: Option<PrincipalId>,
    /// Teams it belongs to.
    pub teams: &'a [TeamId],
    /// Skills it belongs to.
    pub skills: &'a [SkillId],
    /// Services (queues, campaigns) it belongs to.
    pub services: &'a [ServiceId],
}

impl ResourceRef<'static> {
    /// A resource with no owner and no team, skill or service: only tenant-wide grants reach it.
    pub fn tenant_wide(kind: Resource, tenant: TenantId) -> Self {
        ResourceRef { kind, tenant, owner: None, teams: &[], skills: &[], services: &[] }
    }

    /// A resource owned by `owner` (a profile, a session, an interaction), with no team, skill or
    /// service yet.
    pub fn owned(kind: Resource, tenant: TenantId, owner: PrincipalId) -> Self {
        ResourceRef { kind, tenant, owner: Some(owner), teams: &[], skills: &[], services: &[] }
    }
}

impl<'a> ResourceRef<'a> {
    /// The same resource with `owner` as its owner.
    pub fn with_owner(self, owner: PrincipalId) -> Self {
        ResourceRef { owner: Some(owner), ..self }
    }

    /// The same resource, belonging to `teams`.
    pub fn with_teams<'b>(self, teams: &'b [TeamId]) -> ResourceRef<'b>
    where
        'a: 'b,
    {
        ResourceRef { teams, ..self }
    }

    /// The same resource, belonging to `skills`.
    pub fn with_skills<'b>(self, skills: &'b [SkillId]) -> ResourceRef<'b>
    where
        'a: 'b,
    {
        ResourceRef { skills, ..self }
    }

    /// The same resource, belonging to `services`.
    pub fn with_services<'b>(self, services: &'b [ServiceId]) -> ResourceRef<'b>
    where
        'a: 'b,
    {
        ResourceRef { services, ..self }
    }

    /// Whether the resource has any team, skill or service, that is, whether a limited scope can
    /// reach it at all.
    pub fn has_scope_attributes(&self) -> bool {
        !(self.teams.is_empty() && self.skills.is_empty() && self.services.is_empty())
    }
}

/// How an allowing grant reached the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Coverage {
    /// The grant covers the whole tenant.
    Tenant,
    /// An `:own` privilege, and the subject owns the resource.
    Owner,
    /// The resource belongs to this team of the grant's scope.
    Team {
        /// The shared team.
        team_id: TeamId,
    },
    /// The resource belongs to this skill of the grant's scope.
    Skill {
        /// The shared skill.
        skill_id: SkillId,
    },
    /// The resource belongs to this service of the grant's scope.
    Service {
        /// The shared service.
        service_id: ServiceId,
    },
}

/// Who or what allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AllowedBy {
    /// A grant of a role.
    Grant {
        /// The grant.
        grant_id: GrantId,
        /// Its role.
        role_id: RoleId,
        /// The role's name.
        role_name: Arc<str>,
        /// How the grant reached the resource.
        through: Coverage,
    },
    /// The fixed rules for provider operators ([`decide_operator`]).
    OperatorRules,
}

/// Why nothing allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DenyReason {
    /// The resource belongs to another tenant.
    OtherTenant,
    /// No role of the subject has this privilege, in any reach.
    NoPrivilege {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
    },
    /// Only `:own` privileges match and the subject does not own the resource.
    NotOwner {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
    },
    /// Privileges exist but their scopes do not cover the resource's teams, skills or services.
    OutOfScope {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
    },
    /// The principal holds two classes of privileges that separation of duties keeps apart (a
    /// database from before the rule, or a change made behind the API): neither class counts.
    SeparationOfDuties {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
        /// The class of the privilege asked for.
        class: PrivilegeClass,
        /// The class it conflicts with.
        with: PrivilegeClass,
    },
    /// Provider operators see tenants, not their data.
    OperatorNoTenantData {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
    },
}

/// The engine's answer.
///
/// Serialises as `{"decision": "allow", "by": {..}, "privilege": "user:read"}` or
/// `{"decision": "deny", "reason": "out_of_scope", "resource": "user", "action": "read"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Allow {
        /// By what.
        by: AllowedBy,
        /// Which privilege.
        privilege: Privilege,
    },
    /// Denied.
    Deny(DenyReason),
}

impl Decision {
    /// Whether allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The reason, when denied.
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self {
            Decision::Allow { .. } => None,
            Decision::Deny(reason) => Some(*reason),
        }
    }

    /// A full sentence for people, naming the grant and role that allowed or why nothing did.
    /// Same text as `Display`.
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow { by: AllowedBy::Grant { grant_id, role_name, through, .. }, privilege } => {
                write!(f, "Allowed by role \"{role_name}\" (grant {grant_id}): it holds {privilege}")?;
                match through {
                    Coverage::Tenant => f.write_str(" across the whole tenant."),
                    Coverage::Owner => f.write_str(", and the resource is the principal's own."),
                    Coverage::Team { team_id } => {
                        write!(f, " for team {team_id}, and the resource belongs to that team.")
                    }
                    Coverage::Skill { skill_id } => {
                        write!(f, " for skill {skill_id}, and the resource belongs to that skill.")
                    }
                    Coverage::Service { service_id } => {
                        write!(f, " for service {service_id}, and the resource belongs to that service.")
                    }
                }
            }
            Decision::Allow { by: AllowedBy::OperatorRules, privilege } => {
                write!(f, "Allowed by the provider operator rules, which let operators do {privilege}.")
            }
            Decision::Deny(reason) => fmt::Display::fmt(reason, f),
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::OtherTenant => {
                f.write_str("Denied: the resource belongs to another tenant, and nothing crosses tenants.")
            }
            DenyReason::NoPrivilege { resource, action } => {
                write!(f, "Denied: no role grants {resource}:{action} to this principal.")
            }
            DenyReason::NotOwner { resource, action } => write!(
                f,
                "Denied: {resource}:{action} is granted only on the principal's own resources \
                 ({resource}:{action}:own), and this one is not theirs."
            ),
            DenyReason::OutOfScope { resource, action } => write!(
                f,
                "Denied: {resource}:{action} is granted, but only for teams, skills or services \
                 this resource does not belong to."
            ),
            DenyReason::SeparationOfDuties { resource, action, class, with } => write!(
                f,
                "Denied: {resource}:{action} is {class}, and this principal also holds {with}; separation of \
                 duties lets nobody hold both, so neither counts until one grant is removed."
            ),
            DenyReason::OperatorNoTenantData { resource, action } => write!(
                f,
                "Denied: provider operators see tenants, not their data, so they may not do {resource}:{action}."
            ),
        }
    }
}

/// A principal with its grants, compiled for fast decisions.
#[derive(Debug, Clone)]
pub struct Subject {
    tenant: TenantId,
    principal: PrincipalId,
    /// Grants in preference order (tenant-wide first, then by id, then input order).
    grants: Vec<CompiledGrant>,
    /// `entries[offsets[s]..offsets[s + 1]]` are the privileges of slot `s` (see [`slot`]), in
    /// preference order.
    offsets: Vec<usize>,
    entries: Vec<Entry>,
    /// Classes taken away because the grants together hold both sides of a conflict.
    suppressed: ClassSet,
}

// The server shares compiled subjects across request tasks.
const _: () = {
    const fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Subject>();
};

#[derive(Debug, Clone)]
struct CompiledGrant {
    grant_id: GrantId,
    role_id: RoleId,
    role_name: Arc<str>,
    scope: CompiledScope,
}

/// A scope with sorted, deduplicated id vectors for binary search. Scopes hold up to a few dozen
/// ids and resources a handful, so this beats hashing and keeps the subject compact.
#[derive(Debug, Clone)]
enum CompiledScope {
    Tenant,
    Limited { teams: Box<[TeamId]>, skills: Box<[SkillId]>, services: Box<[ServiceId]> },
}

impl CompiledScope {
    fn compile(scope: Scope) -> Self {
        fn sorted<T: Ord>(mut v: Vec<T>) -> Box<[T]> {
            v.sort_unstable();
            v.dedup();
            v.into_boxed_slice()
        }
        match scope {
            Scope::Tenant => CompiledScope::Tenant,
            // Departments were resolved into their teams when the grants were loaded
            // (`GrantInput::scope`), so the engine stays a pure function of its inputs.
            Scope::Limited { teams, skills, services, departments: _ } => {
                CompiledScope::Limited { teams: sorted(teams), skills: sorted(skills), services: sorted(services) }
            }
        }
    }

    fn is_tenant_wide(&self) -> bool {
        matches!(self, CompiledScope::Tenant)
    }

    /// How this scope reaches `r`, if it does: the first shared team, else skill, else service.
    fn coverage(&self, r: &ResourceRef<'_>) -> Option<Coverage> {
        match self {
            CompiledScope::Tenant => Some(Coverage::Tenant),
            CompiledScope::Limited { teams, skills, services } => {
                if let Some(t) = r.teams.iter().find(|t| teams.binary_search(t).is_ok()) {
                    return Some(Coverage::Team { team_id: *t });
                }
                if let Some(s) = r.skills.iter().find(|s| skills.binary_search(s).is_ok()) {
                    return Some(Coverage::Skill { skill_id: *s });
                }
                r.services
                    .iter()
                    .find(|s| services.binary_search(s).is_ok())
                    .map(|s| Coverage::Service { service_id: *s })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Index into `Subject::grants`.
    grant: u32,
    reach: Reach,
}

const SLOTS: usize = Resource::ALL.len() * Action::ALL.len();

/// The index slot of `resource:action`. The vocabularies are fieldless enums without explicit
/// discriminants, so `as usize` is the position in `ALL`.
fn slot(resource: Resource, action: Action) -> usize {
    resource as usize * Action::ALL.len() + action as usize
}

impl Subject {
    /// Compiles a principal's grants in `tenant` into the decision index.
    pub fn compile(tenant: TenantId, principal: PrincipalId, mut inputs: Vec<GrantInput>) -> Subject {
        // Stable: equal keys keep input order, so the preference order is fully determined.
        inputs.sort_by_key(|g| (!matches!(g.scope, Scope::Tenant), g.grant_id));

        let held = duties::classes_of_all(inputs.iter().flat_map(|g| g.privileges.iter()));
        let suppressed = duties::suppressed_by_conflicts(held);
        let mut grants = Vec::with_capacity(inputs.len());
        // (slot, reach rank, grant index): sorting these yields each slot's preference order.
        let mut keyed: Vec<(usize, bool, u32)> = Vec::new();
        for input in inputs {
            // A principal holds a handful of grants; more than u32::MAX cannot be loaded anyway.
            let Ok(g) = u32::try_from(grants.len()) else { break };
            for p in &input.privileges {
                keyed.push((slot(p.resource, p.action), p.reach == Reach::Own, g));
            }
            grants.push(CompiledGrant {
                grant_id: input.grant_id,
                role_id: input.role_id,
                role_name: Arc::from(input.role_name),
                scope: CompiledScope::compile(input.scope),
            });
        }
        // Within a slot: tenant-wide grants first (they come first in `grants`), and within a
        // class of grants scoped privileges before `:own` ones, so an administrator's read of a
        // profile is explained by `user:read`, not by the self-service `user:read:own`.
        keyed.sort_unstable_by_key(|&(s, own, g)| (s, !grants[g as usize].scope.is_tenant_wide(), own, g));
        keyed.dedup();

        let mut offsets = Vec::with_capacity(SLOTS + 1);
        let mut entries = Vec::with_capacity(keyed.len());
        let mut next = keyed.iter().peekable();
        for s in 0..SLOTS {
            offsets.push(entries.len());
            while let Some(&(_, own, grant)) = next.next_if(|k| k.0 == s) {
                entries.push(Entry { grant, reach: if own { Reach::Own } else { Reach::Scope } });
            }
        }
        offsets.push(entries.len());
        Subject { tenant, principal, grants, offsets, entries, suppressed }
    }

    /// The principal.
    pub fn principal(&self) -> PrincipalId {
        self.principal
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Decides whether the subject may do `action` on `resource`. Pure, and allocation-free.
    pub fn decide(&self, action: Action, resource: &ResourceRef<'_>) -> Decision {
        if resource.tenant != self.tenant {
            return Decision::Deny(DenyReason::OtherTenant);
        }
        let entries = self.slot_entries(resource.kind, action);
        if entries.is_empty() {
            return Decision::Deny(DenyReason::NoPrivilege { resource: resource.kind, action });
        }
        let blocked = self.blocked_class(resource.kind, action);
        let mut saw_scoped = false;
        for e in entries {
            let g = &self.grants[e.grant as usize];
            let through = match e.reach {
                Reach::Own => (resource.owner == Some(self.principal)).then_some(Coverage::Owner),
                Reach::Scope if blocked.is_some() => None,
                Reach::Scope => {
                    saw_scoped = true;
                    g.scope.coverage(resource)
                }
            };
            if let Some(through) = through {
                return Decision::Allow {
                    by: AllowedBy::Grant {
                        grant_id: g.grant_id,
                        role_id: g.role_id,
                        role_name: Arc::clone(&g.role_name),
                        through,
                    },
                    privilege: Privilege { resource: resource.kind, action, reach: e.reach },
                };
            }
        }
        let (resource, action) = (resource.kind, action);
        if let Some((class, with)) = blocked {
            return Decision::Deny(DenyReason::SeparationOfDuties { resource, action, class, with });
        }
        Decision::Deny(if saw_scoped {
            DenyReason::OutOfScope { resource, action }
        } else {
            DenyReason::NotOwner { resource, action }
        })
    }

    /// Whether any grant holds `kind:action` in some reach (for listings, which then filter
    /// item by item with [`Subject::decide`]).
    pub fn has_privilege(&self, kind: Resource, action: Action) -> bool {
        let entries = self.slot_entries(kind, action);
        if self.blocked_class(kind, action).is_some() {
            return entries.iter().any(|e| e.reach == Reach::Own);
        }
        !entries.is_empty()
    }

    /// The conflicts among the subject's grants (empty for everyone who obeys the rules).
    pub fn conflicts(&self) -> ClassSet {
        self.suppressed
    }

    /// When `resource:action` belongs to a class a conflict took away: that class and the one it
    /// conflicts with. Costs one branch for subjects without conflicts.
    fn blocked_class(&self, kind: Resource, action: Action) -> Option<(PrivilegeClass, PrivilegeClass)> {
        if self.suppressed.is_empty() {
            return None;
        }
        let classes = duties::classes_of(kind, action);
        duties::CONFLICTS.iter().find_map(|c| {
            let (a, b) = (self.suppressed.contains(c.class), self.suppressed.contains(c.with));
            if !(a && b) {
                None
            } else if classes.contains(c.class) {
                Some((c.class, c.with))
            } else if classes.contains(c.with) {
                Some((c.with, c.class))
            } else {
                None
            }
        })
    }

    /// Names of the subject's roles, sorted, without duplicates.
    pub fn role_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.grants.iter().map(|g| g.role_name.to_string()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The grants as `role@tenant` or `role@teams:N,skills:N,services:N`, in preference order.
    pub fn describe_grants(&self) -> Vec<String> {
        self.grants
            .iter()
            .map(|g| match &g.scope {
                CompiledScope::Tenant => format!("{}@tenant", g.role_name),
                CompiledScope::Limited { teams, skills, services } => {
                    format!("{}@teams:{},skills:{},services:{}", g.role_name, teams.len(), skills.len(), services.len())
                }
            })
            .collect()
    }

    fn slot_entries(&self, kind: Resource, action: Action) -> &[Entry] {
        let s = slot(kind, action);
        // `offsets` has SLOTS + 1 monotone elements by construction in `compile`.
        &self.entries[self.offsets[s]..self.offsets[s + 1]]
    }
}

/// Decisions for provider operators, who hold no grants: they create, read, update and delete
/// tenants and their capabilities, and read and verify the audit log (the server serves them
/// only the provider-level entries). Anything inside a tenant is denied: provider operators see
/// tenants, not their data.
pub fn decide_operator(action: Action, resource_kind: Resource) -> Decision {
    let allowed = match resource_kind {
        Resource::Tenant | Resource::TenantCapabilities => {
            matches!(action, Action::Read | Action::Create | Action::Update | Action::Delete)
        }
        // The provider's own audit log (tenant creation, capability changes, operator logins).
        Resource::Audit => matches!(action, Action::Read | Action::Verify),
        // The provider's KEK: operators are its custodians (backup ceremonies, dual control).
        Resource::Key => matches!(action, Action::Read | Action::ManageKeys | Action::ApproveKeyOperation),
        // Fellow operators: the second custodian of a dual-control ceremony.
        Resource::Operator => matches!(action, Action::Read | Action::Create),
        _ => false,
    };
    if allowed {
        Decision::Allow { by: AllowedBy::OperatorRules, privilege: Privilege::scoped(resource_kind, action) }
    } else {
        Decision::Deny(DenyReason::OperatorNoTenantData { resource: resource_kind, action })
    }
}

pub use crate::duties::{ForbiddenForServiceAccounts, check_service_account_privileges};

mod roles;
pub use roles::default_role_privileges;

#[cfg(test)]
mod tests;
