//! The authorization decision engine.
//!
//! `Subject::compile` turns a principal's grants into an index keyed by (resource, action), so a
//! decision touches only the privileges that could allow it and allocates nothing. Deny by
//! default: a decision that denies says why.

use std::fmt;
use std::sync::Arc;

use callvault_model::access::{Action, DefaultRole, Privilege, Reach, Resource, Scope};
use callvault_model::{GrantId, PrincipalId, RoleId, ServiceId, SkillId, TeamId, TenantId};
use serde::Serialize;

/// One grant of a principal, with its role's privileges.
#[derive(Debug, Clone)]
pub struct GrantInput {
    /// The grant.
    pub grant_id: GrantId,
    /// Its role.
    pub role_id: RoleId,
    /// The role's name.
    pub role_name: String,
    /// The role's privileges.
    pub privileges: Vec<Privilege>,
    /// Where the grant applies.
    pub scope: Scope,
}

/// What a decision is about: a resource of a tenant with the attributes scopes are matched on.
#[derive(Debug, Clone, Copy)]
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
    /// Services it belongs to.
    pub services: &'a [ServiceId],
}

impl ResourceRef<'static> {
    /// A resource with no owner and no team, skill or service: only tenant-wide grants reach it.
    pub fn tenant_wide(kind: Resource, tenant: TenantId) -> Self {
        ResourceRef { kind, tenant, owner: None, teams: &[], skills: &[], services: &[] }
    }

    /// A resource owned by `owner` (a profile, a session, an interaction).
    pub fn owned(kind: Resource, tenant: TenantId, owner: PrincipalId) -> Self {
        ResourceRef { kind, tenant, owner: Some(owner), teams: &[], skills: &[], services: &[] }
    }
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
    },
    /// The fixed rules for provider operators.
    OperatorRules,
}

/// Why nothing allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DenyReason {
    /// The resource belongs to another tenant.
    OtherTenant,
    /// No role of the subject has this privilege.
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
    /// Provider operators see tenants, not their data.
    OperatorNoTenantData {
        /// Resource kind.
        resource: Resource,
        /// Action.
        action: Action,
    },
}

/// The engine's answer.
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

    /// A full sentence for people.
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow { by: AllowedBy::Grant { grant_id, role_name, .. }, privilege } => {
                write!(f, "allowed by privilege {privilege} of role {role_name} (grant {grant_id})")
            }
            Decision::Allow { by: AllowedBy::OperatorRules, privilege } => {
                write!(f, "allowed by the provider operator rules ({privilege})")
            }
            Decision::Deny(DenyReason::OtherTenant) => f.write_str("denied: the resource belongs to another tenant"),
            Decision::Deny(DenyReason::NoPrivilege { resource, action }) => {
                write!(f, "denied: no role grants {resource}:{action}")
            }
            Decision::Deny(DenyReason::NotOwner { resource, action }) => {
                write!(f, "denied: {resource}:{action} is granted only on the subject's own resources")
            }
            Decision::Deny(DenyReason::OutOfScope { resource, action }) => write!(
                f,
                "denied: {resource}:{action} is granted, but not for the teams, skills or services of this resource"
            ),
            Decision::Deny(DenyReason::OperatorNoTenantData { resource, action }) => {
                write!(f, "denied: provider operators see tenants, not their data ({resource}:{action})")
            }
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledGrant {
    grant_id: GrantId,
    role_id: RoleId,
    role_name: Arc<str>,
    tenant_wide: bool,
    teams: Vec<TeamId>,
    skills: Vec<SkillId>,
    services: Vec<ServiceId>,
}

impl CompiledGrant {
    fn covers(&self, r: &ResourceRef<'_>) -> bool {
        self.tenant_wide
            || r.teams.iter().any(|t| self.teams.binary_search(t).is_ok())
            || r.skills.iter().any(|s| self.skills.binary_search(s).is_ok())
            || r.services.iter().any(|s| self.services.binary_search(s).is_ok())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    grant: u32,
    privilege: Privilege,
}

const ACTIONS: usize = Action::ALL.len();

fn slot(resource: Resource, action: Action) -> usize {
    resource as usize * ACTIONS + action as usize
}

/// A principal with its grants, compiled for fast decisions.
#[derive(Debug, Clone)]
pub struct Subject {
    tenant: TenantId,
    principal: PrincipalId,
    grants: Vec<CompiledGrant>,
    index: Vec<Vec<Entry>>,
}

impl Subject {
    /// Compiles grants. Entries from tenant-wide grants come first, so they are the ones named
    /// when several grants allow.
    pub fn compile(tenant: TenantId, principal: PrincipalId, inputs: Vec<GrantInput>) -> Subject {
        let mut grants = Vec::with_capacity(inputs.len());
        let mut index: Vec<Vec<Entry>> = vec![Vec::new(); Resource::ALL.len() * ACTIONS];
        let mut ordered: Vec<GrantInput> = inputs;
        ordered.sort_by_key(|g| !matches!(g.scope, Scope::Tenant));
        for input in ordered {
            let (tenant_wide, mut teams, mut skills, mut services) = match input.scope {
                Scope::Tenant => (true, vec![], vec![], vec![]),
                Scope::Limited { teams, skills, services } => (false, teams, skills, services),
            };
            teams.sort();
            skills.sort();
            services.sort();
            let g = u32::try_from(grants.len()).unwrap_or(u32::MAX);
            for p in &input.privileges {
                let entries = &mut index[slot(p.resource, p.action)];
                if !entries.iter().any(|e| e.grant == g && e.privilege == *p) {
                    entries.push(Entry { grant: g, privilege: *p });
                }
            }
            grants.push(CompiledGrant {
                grant_id: input.grant_id,
                role_id: input.role_id,
                role_name: Arc::from(input.role_name.as_str()),
                tenant_wide,
                teams,
                skills,
                services,
            });
        }
        Subject { tenant, principal, grants, index }
    }

    /// The principal.
    pub fn principal(&self) -> PrincipalId {
        self.principal
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Decides whether the subject may do `action` on `resource`.
    pub fn decide(&self, action: Action, resource: &ResourceRef<'_>) -> Decision {
        if resource.tenant != self.tenant {
            return Decision::Deny(DenyReason::OtherTenant);
        }
        let entries = &self.index[slot(resource.kind, action)];
        if entries.is_empty() {
            return Decision::Deny(DenyReason::NoPrivilege { resource: resource.kind, action });
        }
        let mut saw_scope = false;
        for e in entries {
            let Some(g) = self.grants.get(e.grant as usize) else {
                continue;
            };
            let allowed = match e.privilege.reach {
                Reach::Own => resource.owner == Some(self.principal),
                Reach::Scope => {
                    saw_scope = true;
                    g.covers(resource)
                }
            };
            if allowed {
                return Decision::Allow {
                    by: AllowedBy::Grant { grant_id: g.grant_id, role_id: g.role_id, role_name: g.role_name.clone() },
                    privilege: e.privilege,
                };
            }
        }
        let (resource, kind) = (resource.kind, action);
        Decision::Deny(if saw_scope {
            DenyReason::OutOfScope { resource, action: kind }
        } else {
            DenyReason::NotOwner { resource, action: kind }
        })
    }

    /// Whether any grant holds `kind:action` in some reach (for listings, which then filter
    /// item by item).
    pub fn has_privilege(&self, kind: Resource, action: Action) -> bool {
        !self.index[slot(kind, action)].is_empty()
    }

    /// Names of the subject's roles.
    pub fn role_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.grants.iter().map(|g| g.role_name.to_string()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The grants as `role@tenant` or `role@teams:N,skills:N,services:N`.
    pub fn describe_grants(&self) -> Vec<String> {
        self.grants
            .iter()
            .map(|g| {
                if g.tenant_wide {
                    format!("{}@tenant", g.role_name)
                } else {
                    format!(
                        "{}@teams:{},skills:{},services:{}",
                        g.role_name,
                        g.teams.len(),
                        g.skills.len(),
                        g.services.len()
                    )
                }
            })
            .collect()
    }
}

/// Decisions for provider operators: they manage tenants and their capabilities and read the
/// provider-level audit log, nothing inside a tenant.
pub fn decide_operator(action: Action, kind: Resource) -> Decision {
    let allowed = match kind {
        Resource::Tenant | Resource::TenantCapabilities => {
            matches!(action, Action::Read | Action::Create | Action::Update | Action::Delete)
        }
        Resource::Audit => matches!(action, Action::Read | Action::Verify),
        _ => false,
    };
    if allowed {
        Decision::Allow { by: AllowedBy::OperatorRules, privilege: Privilege::scoped(kind, action) }
    } else {
        Decision::Deny(DenyReason::OperatorNoTenantData { resource: kind, action })
    }
}

/// A service account may not hold this privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("service accounts cannot hold key-custodian or data-protection privileges ({0})")]
pub struct ForbiddenForServiceAccounts(pub Privilege);

/// Service accounts never hold key-custodian (approve or manage keys) or DPO privileges.
pub fn check_service_account_privileges(privileges: &[Privilege]) -> Result<(), ForbiddenForServiceAccounts> {
    match privileges.iter().find(|p| {
        (p.resource == Resource::Key && matches!(p.action, Action::ManageKeys | Action::ApproveKeyOperation))
            || p.resource == Resource::PersonalData
            || p.action == Action::ErasePersonalData
    }) {
        Some(p) => Err(ForbiddenForServiceAccounts(*p)),
        None => Ok(()),
    }
}

/// The privileges of each default role (issue 3; seeds 001 and 002).
pub fn default_role_privileges(role: DefaultRole) -> Vec<Privilege> {
    use Action::*;
    use Resource::*;
    let own = Privilege::own;
    let all = Privilege::scoped;
    // Seed 002: "by default, user has right to access to his/her own recordings"; seed 001: an
    // agent "may be able to see customer details, but unable to update, edit or delete them".
    let agent = vec![
        own(User, Read),
        own(User, Update),
        own(UserAddress, Read),
        own(UserAddress, Create),
        own(UserAddress, Update),
        own(UserAddress, Delete),
        own(UserCredential, Update),
        own(Session, Read),
        own(Session, Delete),
        own(Interaction, Read),
        own(Interaction, Listen),
        own(Notification, Read),
    ];
    match role {
        DefaultRole::Agent => agent,
        // Seed 001: supervisors "view the performance of a team member or his or her entire team,
        // but unable to see the performance of a team in a different department"; seed 002:
        // listening rights per service. Their grants are scoped to their teams and services.
        DefaultRole::Supervisor => {
            let mut v = agent;
            v.extend([
                all(User, Read),
                all(UserAddress, Read),
                all(Team, Read),
                all(Skill, Read),
                all(Service, Read),
                all(Interaction, Read),
                all(Interaction, Listen),
            ]);
            v
        }
        DefaultRole::Administrator => {
            let mut v = agent;
            for r in [User, UserAddress, Team, Skill, Service, Role, Grant, ServiceAccount] {
                v.extend([all(r, Read), all(r, Create), all(r, Update), all(r, Delete)]);
            }
            v.extend([
                all(UserCredential, Update),
                all(UserCredential, Unlock),
                all(TenantSettings, Read),
                all(TenantSettings, Update),
                all(Session, Read),
                all(Session, Delete),
                all(Notification, Read),
                all(Audit, Read),
                all(User, Explain),
                all(Tenant, Read),
            ]);
            v
        }
        // Seed 004 / PCI DSS 3.6.1: key custodians; they also watch the audit log.
        DefaultRole::SecurityOfficer => {
            let mut v = agent;
            v.extend([
                all(Key, Read),
                all(Key, ManageKeys),
                all(Key, ApproveKeyOperation),
                all(Audit, Read),
                all(Audit, Verify),
                all(Notification, Read),
                all(Session, Read),
                all(Session, Delete),
                all(User, Read),
                all(UserCredential, Unlock),
                all(Role, Read),
                all(Grant, Read),
                all(User, Explain),
            ]);
            v
        }
        // Seed 002: DPOs print personal data reports and remove customer data.
        DefaultRole::DataProtectionOfficer => {
            let mut v = agent;
            v.extend([
                all(PersonalData, Read),
                all(PersonalData, Export),
                all(PersonalData, ErasePersonalData),
                all(User, Read),
                all(UserAddress, Read),
                all(Interaction, Read),
                all(Interaction, Export),
                all(Audit, Read),
            ]);
            v
        }
        DefaultRole::Auditor => {
            let mut v = agent;
            v.extend([all(Audit, Read), all(Audit, Verify), all(Notification, Read), all(TenantSettings, Read)]);
            for r in [User, Team, Skill, Service, Role, Grant, ServiceAccount] {
                v.push(all(r, Read));
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callvault_model::UserId;

    fn grant(role: DefaultRole, scope: Scope) -> GrantInput {
        GrantInput {
            grant_id: GrantId::new(),
            role_id: RoleId::new(),
            role_name: role.name().into(),
            privileges: default_role_privileges(role),
            scope,
        }
    }

    struct World {
        tenant: TenantId,
        other: TenantId,
        me: PrincipalId,
        someone: PrincipalId,
        my_team: TeamId,
        other_team: TeamId,
        my_service: ServiceId,
        my_skill: SkillId,
    }

    fn world() -> World {
        World {
            tenant: TenantId::new(),
            other: TenantId::new(),
            me: PrincipalId::User(UserId::new()),
            someone: PrincipalId::User(UserId::new()),
            my_team: TeamId::new(),
            other_team: TeamId::new(),
            my_service: ServiceId::new(),
            my_skill: SkillId::new(),
        }
    }

    #[test]
    fn default_roles_table() {
        let w = world();
        let limited = Scope::Limited { teams: vec![w.my_team], skills: vec![w.my_skill], services: vec![w.my_service] };
        let in_team = [w.my_team];
        let out_team = [w.other_team];
        let user_in = ResourceRef {
            kind: Resource::User,
            tenant: w.tenant,
            owner: Some(w.someone),
            teams: &in_team,
            skills: &[],
            services: &[],
        };
        let user_out = ResourceRef { teams: &out_team, ..user_in };
        let user_own = ResourceRef { owner: Some(w.me), teams: &out_team, ..user_in };
        let user_foreign = ResourceRef { tenant: w.other, ..user_in };
        let services = [w.my_service];
        let skills = [w.my_skill];
        let listen_in = ResourceRef { kind: Resource::Interaction, services: &services, teams: &[], ..user_in };
        let skill_in = ResourceRef { skills: &skills, teams: &[], ..user_in };

        type Row<'a> = (DefaultRole, Scope, Action, ResourceRef<'a>, Result<(), &'static str>);
        let rows: Vec<Row<'_>> = vec![
            (DefaultRole::Agent, Scope::Tenant, Action::Read, user_own, Ok(())),
            (DefaultRole::Agent, Scope::Tenant, Action::Read, user_in, Err("not_owner")),
            (DefaultRole::Agent, Scope::Tenant, Action::Delete, user_own, Err("no_privilege")),
            (DefaultRole::Agent, Scope::Tenant, Action::Read, user_foreign, Err("other_tenant")),
            (DefaultRole::Supervisor, limited.clone(), Action::Read, user_in, Ok(())),
            (DefaultRole::Supervisor, limited.clone(), Action::Read, user_out, Err("out_of_scope")),
            (DefaultRole::Supervisor, limited.clone(), Action::Read, user_own, Ok(())),
            (DefaultRole::Supervisor, limited.clone(), Action::Listen, listen_in, Ok(())),
            (DefaultRole::Supervisor, limited.clone(), Action::Read, skill_in, Ok(())),
            (DefaultRole::Supervisor, limited.clone(), Action::Update, user_in, Err("not_owner")),
            (DefaultRole::Administrator, Scope::Tenant, Action::Delete, user_out, Ok(())),
            (DefaultRole::Administrator, Scope::Tenant, Action::Delete, user_foreign, Err("other_tenant")),
            (
                DefaultRole::Administrator,
                Scope::Tenant,
                Action::ManageKeys,
                ResourceRef::tenant_wide(Resource::Key, w.tenant),
                Err("no_privilege"),
            ),
            (
                DefaultRole::SecurityOfficer,
                Scope::Tenant,
                Action::ApproveKeyOperation,
                ResourceRef::tenant_wide(Resource::Key, w.tenant),
                Ok(()),
            ),
            (DefaultRole::SecurityOfficer, Scope::Tenant, Action::Delete, user_in, Err("no_privilege")),
            (
                DefaultRole::DataProtectionOfficer,
                Scope::Tenant,
                Action::ErasePersonalData,
                ResourceRef::tenant_wide(Resource::PersonalData, w.tenant),
                Ok(()),
            ),
            (
                DefaultRole::Auditor,
                Scope::Tenant,
                Action::Verify,
                ResourceRef::tenant_wide(Resource::Audit, w.tenant),
                Ok(()),
            ),
            (
                DefaultRole::Auditor,
                Scope::Tenant,
                Action::Update,
                ResourceRef::tenant_wide(Resource::Team, w.tenant),
                Err("no_privilege"),
            ),
            // A limited scope never reaches a resource without teams, skills or services.
            (
                DefaultRole::Supervisor,
                limited.clone(),
                Action::Read,
                ResourceRef::tenant_wide(Resource::Team, w.tenant),
                Err("out_of_scope"),
            ),
        ];
        for (i, (role, scope, action, resource, want)) in rows.into_iter().enumerate() {
            let s = Subject::compile(w.tenant, w.me, vec![grant(role, scope)]);
            let d = s.decide(action, &resource);
            let got = match &d {
                Decision::Allow { .. } => Ok(()),
                Decision::Deny(DenyReason::OtherTenant) => Err("other_tenant"),
                Decision::Deny(DenyReason::NoPrivilege { .. }) => Err("no_privilege"),
                Decision::Deny(DenyReason::NotOwner { .. }) => Err("not_owner"),
                Decision::Deny(DenyReason::OutOfScope { .. }) => Err("out_of_scope"),
                Decision::Deny(DenyReason::OperatorNoTenantData { .. }) => Err("operator"),
            };
            assert_eq!(got, want, "row {i}: {role:?} {action} {:?}: {d}", resource.kind);
        }
    }

    #[test]
    fn tenant_wide_grant_is_named_first_and_explanations_read_well() {
        let w = world();
        let g1 =
            grant(DefaultRole::Supervisor, Scope::Limited { teams: vec![w.my_team], skills: vec![], services: vec![] });
        let g2 = grant(DefaultRole::Administrator, Scope::Tenant);
        let admin_grant = g2.grant_id;
        let s = Subject::compile(w.tenant, w.me, vec![g1, g2]);
        let teams = [w.my_team];
        let d = s.decide(
            Action::Read,
            &ResourceRef {
                kind: Resource::User,
                tenant: w.tenant,
                owner: None,
                teams: &teams,
                skills: &[],
                services: &[],
            },
        );
        match &d {
            Decision::Allow { by: AllowedBy::Grant { grant_id, .. }, .. } => assert_eq!(*grant_id, admin_grant),
            other => panic!("{other}"),
        }
        assert!(d.explain().contains("role administrator"), "{d}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["decision"], "allow");
        let deny = Subject::compile(w.tenant, w.me, vec![])
            .decide(Action::Read, &ResourceRef::tenant_wide(Resource::User, w.tenant));
        assert_eq!(deny.explain(), "denied: no role grants user:read");
        assert_eq!(serde_json::to_value(&deny).unwrap()["reason"], "no_privilege");
    }

    #[test]
    fn operators_see_tenants_not_data() {
        assert!(decide_operator(Action::Create, Resource::Tenant).is_allowed());
        assert!(decide_operator(Action::Update, Resource::TenantCapabilities).is_allowed());
        assert!(!decide_operator(Action::Read, Resource::User).is_allowed());
        assert!(!decide_operator(Action::Listen, Resource::Interaction).is_allowed());
    }

    #[test]
    fn service_accounts_cannot_be_custodians_or_dpos() {
        assert!(check_service_account_privileges(&default_role_privileges(DefaultRole::Agent)).is_ok());
        assert!(check_service_account_privileges(&default_role_privileges(DefaultRole::SecurityOfficer)).is_err());
        assert!(
            check_service_account_privileges(&default_role_privileges(DefaultRole::DataProtectionOfficer)).is_err()
        );
        assert!(check_service_account_privileges(&[Privilege::scoped(Resource::Key, Action::Read)]).is_ok());
    }
}
