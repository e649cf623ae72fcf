//! Table tests of the access engine: default roles × resources × situations, checked against an
//! expectation table written by hand and, exhaustively, against a naive reference engine.
//! One file over 800 lines because it is one thing: the `World` fixture and the expectation
//! table are shared by every test, and the reference engine is only meaningful beside them.

use super::*;
use callvault_model::access::DefaultRole;
use callvault_model::{ServiceAccountId, UserId};
use uuid::Uuid;

/// A tenant, a principal `me` and someone else, and a team, skill and service inside `me`'s
/// limited scope plus one of each outside it.
struct World {
    tenant: TenantId,
    other_tenant: TenantId,
    me: PrincipalId,
    someone: PrincipalId,
    team: TeamId,
    other_team: TeamId,
    skill: SkillId,
    other_skill: SkillId,
    service: ServiceId,
    other_service: ServiceId,
}

fn world() -> World {
    World {
        tenant: TenantId(Uuid::from_u128(0x7e)),
        other_tenant: TenantId(Uuid::from_u128(0x07)),
        me: PrincipalId::User(UserId(Uuid::from_u128(0x111))),
        someone: PrincipalId::User(UserId(Uuid::from_u128(0x222))),
        team: TeamId(Uuid::from_u128(0xa1)),
        other_team: TeamId(Uuid::from_u128(0xa2)),
        skill: SkillId(Uuid::from_u128(0xb1)),
        other_skill: SkillId(Uuid::from_u128(0xb2)),
        service: ServiceId(Uuid::from_u128(0xc1)),
        other_service: ServiceId(Uuid::from_u128(0xc2)),
    }
}

/// The scopes a grant is given with in these tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    /// The whole tenant.
    T,
    /// The world's team, skill and service.
    L,
    /// The world's team only.
    LTeam,
    /// The world's skill only.
    LSkill,
    /// The world's service only.
    LService,
}

impl S {
    const ALL: [S; 5] = [S::T, S::L, S::LTeam, S::LSkill, S::LService];

    fn scope(self, w: &World) -> Scope {
        let (teams, skills, services) = match self {
            S::T => return Scope::Tenant,
            S::L => (vec![w.team], vec![w.skill], vec![w.service]),
            S::LTeam => (vec![w.team], vec![], vec![]),
            S::LSkill => (vec![], vec![w.skill], vec![]),
            S::LService => (vec![], vec![], vec![w.service]),
        };
        Scope::Limited { teams, skills, services, departments: vec![] }
    }
}

fn grant_with_id(id: u128, role: DefaultRole, scope: Scope) -> GrantInput {
    GrantInput {
        grant_id: GrantId(Uuid::from_u128(id)),
        role_id: RoleId(Uuid::from_u128(id + 0x1000)),
        role_name: role.name().into(),
        privileges: default_role_privileges(role),
        scope,
    }
}

fn subject(w: &World, grants: Vec<GrantInput>) -> Subject {
    Subject::compile(w.tenant, w.me, grants)
}

/// Where a resource stands relative to `me` and `me`'s limited scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Owned by `me`, no team, skill or service.
    Own,
    /// Owned by someone else, no team, skill or service.
    NotOwn,
    /// Someone else's, in the scope's team.
    InTeam,
    /// Someone else's, in the scope's skill.
    InSkill,
    /// Someone else's, in the scope's service.
    InService,
    /// Someone else's, in another team, skill and service.
    Out,
    /// No owner and no attributes (a tenant-wide object such as the settings).
    Bare,
    /// Owned by `me` and in the scope's team, but of another tenant.
    OtherTenant,
}

const CASES: [Case; 8] =
    [Case::Own, Case::NotOwn, Case::InTeam, Case::InSkill, Case::InService, Case::Out, Case::Bare, Case::OtherTenant];

fn resource(w: &World, kind: Resource, case: Case) -> ResourceRef<'_> {
    let base = ResourceRef::tenant_wide(kind, w.tenant);
    let one_team = std::slice::from_ref(&w.team);
    match case {
        Case::Own => base.with_owner(w.me),
        Case::NotOwn => base.with_owner(w.someone),
        Case::InTeam => base.with_owner(w.someone).with_teams(one_team),
        Case::InSkill => base.with_owner(w.someone).with_skills(std::slice::from_ref(&w.skill)),
        Case::InService => base.with_owner(w.someone).with_services(std::slice::from_ref(&w.service)),
        Case::Out => base
            .with_owner(w.someone)
            .with_teams(std::slice::from_ref(&w.other_team))
            .with_skills(std::slice::from_ref(&w.other_skill))
            .with_services(std::slice::from_ref(&w.other_service)),
        Case::Bare => base,
        Case::OtherTenant => ResourceRef { tenant: w.other_tenant, ..base.with_owner(w.me).with_teams(one_team) },
    }
}

/// The exact deny reason a letter of the table stands for: `A` allowed, `n` not owner, `s` out of
/// scope, `p` no privilege, `x` other tenant.
fn reason(c: char, resource: Resource, action: Action) -> Option<DenyReason> {
    match c {
        'A' => None,
        'n' => Some(DenyReason::NotOwner { resource, action }),
        's' => Some(DenyReason::OutOfScope { resource, action }),
        'p' => Some(DenyReason::NoPrivilege { resource, action }),
        'x' => Some(DenyReason::OtherTenant),
        other => panic!("unknown letter {other}"),
    }
}

#[test]
fn default_roles_by_situation() {
    use Action::*;
    use DefaultRole::*;
    use Resource::*;
    // One letter per case: Own, NotOwn, InTeam, InSkill, InService, Out, Bare, OtherTenant.
    #[rustfmt::skip]
    let table: &[(DefaultRole, S, Resource, Action, &str)] = &[
        // Agents: their own profile, credentials, sessions and interactions, nothing else.
        (Agent, S::T, User, Read, "Annnnnnx"),
        (Agent, S::T, User, Update, "Annnnnnx"),
        (Agent, S::T, User, Delete, "pppppppx"),
        (Agent, S::T, UserAddress, Delete, "Annnnnnx"),
        (Agent, S::T, UserCredential, Update, "Annnnnnx"),
        (Agent, S::T, UserCredential, Unlock, "pppppppx"),
        (Agent, S::T, Session, Delete, "Annnnnnx"),
        (Agent, S::T, Interaction, Listen, "Annnnnnx"),
        (Agent, S::T, Interaction, Export, "pppppppx"),
        (Agent, S::T, Team, Read, "pppppppx"),
        (Agent, S::T, Key, Read, "pppppppx"),
        (Agent, S::L, User, Read, "Annnnnnx"),
        // Supervisors: their teams, skills and services, and their own things anywhere.
        (Supervisor, S::L, User, Read, "AsAAAssx"),
        (Supervisor, S::L, User, Update, "Annnnnnx"),
        (Supervisor, S::L, UserAddress, Read, "AsAAAssx"),
        (Supervisor, S::L, UserAddress, Delete, "Annnnnnx"),
        (Supervisor, S::L, Interaction, Read, "AsAAAssx"),
        (Supervisor, S::L, Interaction, Listen, "AsAAAssx"),
        (Supervisor, S::L, Interaction, Export, "pppppppx"),
        (Supervisor, S::L, Team, Read, "ssAAAssx"),
        (Supervisor, S::L, Team, Update, "pppppppx"),
        (Supervisor, S::T, User, Read, "AAAAAAAx"),
        (Supervisor, S::LTeam, User, Read, "AsAssssx"),
        (Supervisor, S::LSkill, Interaction, Listen, "AssAsssx"),
        (Supervisor, S::LService, Interaction, Listen, "AsssAssx"),
        // Administrators: configuration, users and access; no keys, personal data or content.
        (Administrator, S::T, User, Delete, "AAAAAAAx"),
        (Administrator, S::T, User, Explain, "AAAAAAAx"),
        (Administrator, S::T, UserCredential, Unlock, "AAAAAAAx"),
        (Administrator, S::T, Role, Create, "AAAAAAAx"),
        (Administrator, S::T, Grant, Delete, "AAAAAAAx"),
        (Administrator, S::T, ServiceAccount, Create, "AAAAAAAx"),
        (Administrator, S::T, TenantSettings, Update, "AAAAAAAx"),
        (Administrator, S::T, Tenant, Read, "AAAAAAAx"),
        (Administrator, S::T, Tenant, Update, "pppppppx"),
        (Administrator, S::T, TenantCapabilities, Update, "pppppppx"),
        (Administrator, S::T, Audit, Read, "AAAAAAAx"),
        (Administrator, S::T, Audit, Verify, "pppppppx"),
        (Administrator, S::T, Key, Read, "pppppppx"),
        (Administrator, S::T, Key, ManageKeys, "pppppppx"),
        (Administrator, S::T, PersonalData, Read, "pppppppx"),
        (Administrator, S::T, Interaction, Listen, "Annnnnnx"),
        (Administrator, S::L, Team, Update, "ssAAAssx"),
        // Security officers: key custody, audit, sessions, unlocks.
        (SecurityOfficer, S::T, Key, ApproveKeyOperation, "AAAAAAAx"),
        (SecurityOfficer, S::T, Key, ManageKeys, "AAAAAAAx"),
        (SecurityOfficer, S::T, Key, Delete, "pppppppx"),
        (SecurityOfficer, S::T, Audit, Verify, "pppppppx"), // the auditor's, not a writer's
        (SecurityOfficer, S::T, Session, Delete, "AAAAAAAx"),
        (SecurityOfficer, S::T, UserCredential, Unlock, "AAAAAAAx"),
        (SecurityOfficer, S::T, UserCredential, Update, "Annnnnnx"),
        (SecurityOfficer, S::T, User, Explain, "AAAAAAAx"),
        (SecurityOfficer, S::T, User, Delete, "pppppppx"),
        (SecurityOfficer, S::T, Grant, Create, "pppppppx"),
        (SecurityOfficer, S::T, PersonalData, Read, "pppppppx"),
        // Data protection officers: personal data reports and erasure.
        (DataProtectionOfficer, S::T, PersonalData, Read, "AAAAAAAx"),
        (DataProtectionOfficer, S::T, PersonalData, Export, "AAAAAAAx"),
        (DataProtectionOfficer, S::T, PersonalData, ErasePersonalData, "AAAAAAAx"),
        (DataProtectionOfficer, S::T, Interaction, Export, "AAAAAAAx"),
        (DataProtectionOfficer, S::T, Interaction, Listen, "Annnnnnx"),
        (DataProtectionOfficer, S::T, User, Update, "Annnnnnx"),
        (DataProtectionOfficer, S::T, Key, Read, "pppppppx"),
        (DataProtectionOfficer, S::L, PersonalData, Export, "ssAAAssx"),
        // Auditors: read-only configuration and audit.
        (Auditor, S::T, Audit, Verify, "AAAAAAAx"),
        (Auditor, S::T, ServiceAccount, Read, "AAAAAAAx"),
        (Auditor, S::T, TenantSettings, Read, "AAAAAAAx"),
        (Auditor, S::T, TenantSettings, Update, "pppppppx"),
        (Auditor, S::T, Team, Update, "pppppppx"),
        (Auditor, S::T, Interaction, Read, "Annnnnnx"),
        (Auditor, S::T, Key, Read, "pppppppx"),
        (Auditor, S::T, PersonalData, Read, "pppppppx"),
    ];
    let w = world();
    for (row, &(role, scope, kind, action, letters)) in table.iter().enumerate() {
        let s = subject(&w, vec![grant_with_id(1, role, scope.scope(&w))]);
        assert_eq!(letters.len(), CASES.len(), "row {row}");
        for (case, want) in CASES.iter().zip(letters.chars()) {
            let d = s.decide(action, &resource(&w, kind, *case));
            assert_eq!(
                d.deny_reason(),
                reason(want, kind, action),
                "row {row}: {role:?} {scope:?} {kind}:{action} on {case:?}: {d}"
            );
        }
    }
}

/// The reference engine: the rules of the module documentation applied literally to the grant
/// list, with no index. Returns whether allowed, or the exact reason.
fn reference(w: &World, grants: &[GrantInput], action: Action, r: &ResourceRef<'_>) -> Result<(), DenyReason> {
    if r.tenant != w.tenant {
        return Err(DenyReason::OtherTenant);
    }
    let (resource, mut any, mut any_scoped) = (r.kind, false, false);
    for g in grants {
        for p in g.privileges.iter().filter(|p| p.resource == r.kind && p.action == action) {
            any = true;
            let allows = match (p.reach, &g.scope) {
                (Reach::Own, _) => r.owner == Some(w.me),
                (Reach::Scope, Scope::Tenant) => true,
                (Reach::Scope, Scope::Limited { teams, skills, services, .. }) => {
                    r.teams.iter().any(|t| teams.contains(t))
                        || r.skills.iter().any(|s| skills.contains(s))
                        || r.services.iter().any(|s| services.contains(s))
                }
            };
            any_scoped |= p.reach == Reach::Scope;
            if allows {
                return Ok(());
            }
        }
    }
    Err(match (any, any_scoped) {
        (false, _) => DenyReason::NoPrivilege { resource, action },
        (true, true) => DenyReason::OutOfScope { resource, action },
        (true, false) => DenyReason::NotOwner { resource, action },
    })
}

/// Checks an allow against the grants: the named grant exists, holds the named privilege, and
/// its coverage is true of the resource.
fn check_allow(w: &World, grants: &[GrantInput], d: &Decision, action: Action, r: &ResourceRef<'_>) {
    let Decision::Allow { by: AllowedBy::Grant { grant_id, role_id, role_name, through }, privilege } = d else {
        panic!("not a grant allow: {d:?}");
    };
    let g = grants.iter().find(|g| g.grant_id == *grant_id).expect("the named grant exists");
    assert_eq!((g.role_id, g.role_name.as_str()), (*role_id, &**role_name));
    assert_eq!((privilege.resource, privilege.action), (r.kind, action));
    assert!(g.privileges.contains(privilege), "{privilege} is in the grant");
    let holds = match (through, &g.scope) {
        (Coverage::Owner, _) => privilege.reach == Reach::Own && r.owner == Some(w.me),
        (Coverage::Tenant, Scope::Tenant) => privilege.reach == Reach::Scope,
        (Coverage::Team { team_id }, Scope::Limited { teams, .. }) => {
            teams.contains(team_id) && r.teams.contains(team_id)
        }
        (Coverage::Skill { skill_id }, Scope::Limited { skills, .. }) => {
            skills.contains(skill_id) && r.skills.contains(skill_id)
        }
        (Coverage::Service { service_id }, Scope::Limited { services, .. }) => {
            services.contains(service_id) && r.services.contains(service_id)
        }
        _ => false,
    };
    assert!(holds, "coverage {through:?} does not hold for {r:?}");
}

#[test]
fn every_role_scope_resource_action_and_situation_matches_the_reference() {
    let w = world();
    let mut decisions = 0;
    let mut allowed = 0;
    for &role in DefaultRole::ALL {
        for scope in S::ALL {
            let grants = vec![grant_with_id(1, role, scope.scope(&w))];
            let s = subject(&w, grants.clone());
            for &kind in Resource::ALL {
                for &action in Action::ALL {
                    for case in CASES {
                        let r = resource(&w, kind, case);
                        let d = s.decide(action, &r);
                        match reference(&w, &grants, action, &r) {
                            Ok(()) => {
                                check_allow(&w, &grants, &d, action, &r);
                                allowed += 1;
                            }
                            Err(want) => assert_eq!(d, Decision::Deny(want), "{role:?} {scope:?} {case:?}"),
                        }
                        decisions += 1;
                    }
                }
            }
        }
    }
    assert_eq!(decisions, DefaultRole::ALL.len() * 5 * Resource::ALL.len() * Action::ALL.len() * 8);
    assert!(allowed > 1000, "the table is not all denials: {allowed}");
}

#[test]
fn several_grants_match_the_reference_and_prefer_tenant_wide_grants() {
    let w = world();
    // Every pair of (role, scope) grants, in both orders.
    let combos: Vec<(DefaultRole, S)> =
        DefaultRole::ALL.iter().flat_map(|&r| [S::T, S::LTeam, S::LService].map(move |s| (r, s))).collect();
    for (i, &(ra, sa)) in combos.iter().enumerate() {
        for &(rb, sb) in &combos[i + 1..] {
            let a = grant_with_id(1, ra, sa.scope(&w));
            let b = grant_with_id(2, rb, sb.scope(&w));
            // Conflicting pairs deny both classes instead (the reference knows no separation of
            // duties): `conflicting_grants_deny_both_classes_at_decision_time` covers them.
            if crate::duties::conflicts_among(a.privileges.iter().chain(&b.privileges)).is_some() {
                continue;
            }
            let grants = vec![a.clone(), b.clone()];
            let s1 = subject(&w, vec![a.clone(), b.clone()]);
            let s2 = subject(&w, vec![b, a]);
            for &kind in Resource::ALL {
                for &action in Action::ALL {
                    for case in CASES {
                        let r = resource(&w, kind, case);
                        let d = s1.decide(action, &r);
                        assert_eq!(d, s2.decide(action, &r), "input order does not matter");
                        match reference(&w, &grants, action, &r) {
                            Ok(()) => check_allow(&w, &grants, &d, action, &r),
                            Err(want) => assert_eq!(d, Decision::Deny(want)),
                        }
                        // A tenant-wide grant whose scoped privilege allows is the one named.
                        let wide_allows = grants.iter().any(|g| {
                            g.scope == Scope::Tenant && g.privileges.contains(&Privilege::scoped(kind, action))
                        }) && r.tenant == w.tenant;
                        if wide_allows {
                            assert!(
                                matches!(
                                    &d,
                                    Decision::Allow { by: AllowedBy::Grant { through: Coverage::Tenant, .. }, .. }
                                ),
                                "{d}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn limited_scope_via_team_skill_and_service_names_what_matched() {
    let w = world();
    let supervisor = |scope: S| grant_with_id(5, DefaultRole::Supervisor, scope.scope(&w));
    let allow = |through: Coverage| Decision::Allow {
        by: AllowedBy::Grant {
            grant_id: GrantId(Uuid::from_u128(5)),
            role_id: RoleId(Uuid::from_u128(0x1005)),
            role_name: Arc::from("supervisor"),
            through,
        },
        privilege: Privilege::scoped(Resource::Interaction, Action::Listen),
    };
    let listen = |scope: S, case: Case| {
        subject(&w, vec![supervisor(scope)]).decide(Action::Listen, &resource(&w, Resource::Interaction, case))
    };
    let out = Decision::Deny(DenyReason::OutOfScope { resource: Resource::Interaction, action: Action::Listen });
    assert_eq!(listen(S::LTeam, Case::InTeam), allow(Coverage::Team { team_id: w.team }));
    assert_eq!(listen(S::LTeam, Case::InService), out);
    assert_eq!(listen(S::LSkill, Case::InSkill), allow(Coverage::Skill { skill_id: w.skill }));
    assert_eq!(listen(S::LSkill, Case::InTeam), out);
    assert_eq!(listen(S::LService, Case::InService), allow(Coverage::Service { service_id: w.service }));
    assert_eq!(listen(S::LService, Case::InSkill), out);
    assert_eq!(listen(S::L, Case::Out), out);

    // A resource in several teams, one of them in scope; the team is named before a skill.
    let teams = [w.other_team, w.team];
    let skills = [w.skill];
    let r = resource(&w, Resource::Interaction, Case::NotOwn).with_teams(&teams).with_skills(&skills);
    assert_eq!(
        subject(&w, vec![supervisor(S::L)]).decide(Action::Listen, &r),
        allow(Coverage::Team { team_id: w.team })
    );

    // An empty limited scope reaches nothing: deny by default.
    let empty = Scope::Limited { teams: vec![], skills: vec![], services: vec![], departments: vec![] };
    let s = subject(&w, vec![grant_with_id(5, DefaultRole::Supervisor, empty)]);
    for case in [Case::InTeam, Case::InSkill, Case::InService, Case::Bare] {
        assert_eq!(s.decide(Action::Listen, &resource(&w, Resource::Interaction, case)), out, "{case:?}");
    }
}

#[test]
fn own_privileges_ignore_the_scope_and_scoped_ones_are_named_first() {
    let w = world();
    // A supervisor limited to a team reads their own profile, which is in another team.
    let elsewhere = [w.other_team];
    let my_profile = resource(&w, Resource::User, Case::Own).with_teams(&elsewhere);
    let s = subject(&w, vec![grant_with_id(3, DefaultRole::Supervisor, S::LTeam.scope(&w))]);
    let d = s.decide(Action::Read, &my_profile);
    assert!(
        matches!(&d, Decision::Allow { by: AllowedBy::Grant { through: Coverage::Owner, .. }, privilege }
        if *privilege == Privilege::own(Resource::User, Action::Read)),
        "{d}"
    );
    // An administrator reading their own profile is explained by `user:read`, not `:own`.
    let s = subject(&w, vec![grant_with_id(3, DefaultRole::Administrator, Scope::Tenant)]);
    let d = s.decide(Action::Read, &my_profile);
    assert!(
        matches!(&d, Decision::Allow { by: AllowedBy::Grant { through: Coverage::Tenant, .. }, privilege }
        if *privilege == Privilege::scoped(Resource::User, Action::Read)),
        "{d}"
    );
    // Service accounts own things too.
    let sa = PrincipalId::ServiceAccount(ServiceAccountId(Uuid::from_u128(9)));
    let s = Subject::compile(w.tenant, sa, vec![grant_with_id(3, DefaultRole::Agent, Scope::Tenant)]);
    assert!(s.decide(Action::Read, &ResourceRef::owned(Resource::Session, w.tenant, sa)).is_allowed());
    assert!(!s.decide(Action::Read, &ResourceRef::owned(Resource::Session, w.tenant, w.me)).is_allowed());
}

#[test]
fn the_grant_named_is_deterministic() {
    let w = world();
    let team = [w.team];
    let r = resource(&w, Resource::User, Case::NotOwn).with_teams(&team);
    let named = |grants: Vec<GrantInput>| match subject(&w, grants).decide(Action::Read, &r) {
        Decision::Allow { by: AllowedBy::Grant { grant_id, .. }, .. } => grant_id.0.as_u128(),
        d => panic!("{d}"),
    };
    let sup = |id| grant_with_id(id, DefaultRole::Supervisor, S::LTeam.scope(&w));
    let admin = |id| grant_with_id(id, DefaultRole::Administrator, Scope::Tenant);
    // Tenant-wide first, whatever the ids and the input order.
    assert_eq!(named(vec![sup(1), admin(9)]), 9);
    assert_eq!(named(vec![admin(9), sup(1)]), 9);
    // Among limited grants, the oldest grant (smallest UUID v7).
    assert_eq!(named(vec![sup(7), sup(4)]), 4);
    assert_eq!(named(vec![sup(4), sup(7)]), 4);
    // Among tenant-wide grants too.
    assert_eq!(named(vec![admin(8), admin(6), sup(1)]), 6);
    // A tenant-wide grant is preferred even when only its `:own` privilege matches.
    let agent = grant_with_id(9, DefaultRole::Agent, Scope::Tenant);
    let my_profile = r.with_owner(w.me);
    let d = subject(&w, vec![sup(1), agent]).decide(Action::Read, &my_profile);
    assert!(
        matches!(&d, Decision::Allow { by: AllowedBy::Grant { grant_id, through: Coverage::Owner, .. }, .. }
            if grant_id.0.as_u128() == 9),
        "{d}"
    );
}

#[test]
fn explanations_are_sentences_that_name_the_grant_or_the_reason() {
    let w = world();
    let s = subject(
        &w,
        vec![
            grant_with_id(1, DefaultRole::Supervisor, S::L.scope(&w)),
            grant_with_id(2, DefaultRole::Agent, Scope::Tenant),
        ],
    );
    let g1 = "00000000-0000-0000-0000-000000000001";
    let g2 = "00000000-0000-0000-0000-000000000002";
    let explain = |action, kind, case| s.decide(action, &resource(&w, kind, case)).explain();
    assert_eq!(
        explain(Action::Read, Resource::User, Case::InTeam),
        format!(
            "Allowed by role \"supervisor\" (grant {g1}): it holds user:read for team {}, and the resource belongs to that team.",
            w.team
        )
    );
    assert_eq!(
        explain(Action::Read, Resource::User, Case::InSkill),
        format!(
            "Allowed by role \"supervisor\" (grant {g1}): it holds user:read for skill {}, and the resource belongs to that skill.",
            w.skill
        )
    );
    assert_eq!(
        explain(Action::Read, Resource::User, Case::InService),
        format!(
            "Allowed by role \"supervisor\" (grant {g1}): it holds user:read for service {}, and the resource belongs to that service.",
            w.service
        )
    );
    assert_eq!(
        explain(Action::Update, Resource::User, Case::Own),
        format!(
            "Allowed by role \"agent\" (grant {g2}): it holds user:update:own, and the resource is the principal's own."
        )
    );
    assert_eq!(
        explain(Action::Update, Resource::User, Case::InTeam),
        "Denied: user:update is granted only on the principal's own resources (user:update:own), and this one is not theirs."
    );
    assert_eq!(
        explain(Action::Read, Resource::User, Case::Out),
        "Denied: user:read is granted, but only for teams, skills or services this resource does not belong to."
    );
    assert_eq!(
        explain(Action::Read, Resource::Team, Case::Own),
        "Denied: team:read is granted, but only for teams, skills or services this resource does not belong to."
    );
    assert_eq!(
        explain(Action::Delete, Resource::Team, Case::InTeam),
        "Denied: no role grants team:delete to this principal."
    );
    assert_eq!(
        explain(Action::Read, Resource::User, Case::OtherTenant),
        "Denied: the resource belongs to another tenant, and nothing crosses tenants."
    );
    let admin = subject(&w, vec![grant_with_id(3, DefaultRole::Administrator, Scope::Tenant)]);
    assert_eq!(
        admin.decide(Action::Delete, &resource(&w, Resource::User, Case::Bare)).to_string(),
        "Allowed by role \"administrator\" (grant 00000000-0000-0000-0000-000000000003): it holds user:delete across the whole tenant."
    );
    assert_eq!(
        decide_operator(Action::Create, Resource::Tenant).explain(),
        "Allowed by the provider operator rules, which let operators do tenant:create."
    );
    assert_eq!(
        decide_operator(Action::Listen, Resource::Interaction).explain(),
        "Denied: provider operators see tenants, not their data, so they may not do interaction:listen."
    );
    // The command line shows this text; its end-to-end test looks for this phrase.
    assert!(
        Subject::compile(w.tenant, w.me, vec![])
            .decide(Action::Read, &ResourceRef::tenant_wide(Resource::Team, w.tenant))
            .explain()
            .contains("no role grants team:read")
    );
}

#[test]
fn decisions_serialise_tagged_in_snake_case() {
    let w = world();
    let s = subject(&w, vec![grant_with_id(1, DefaultRole::Supervisor, S::LTeam.scope(&w))]);
    let allow = s.decide(Action::Listen, &resource(&w, Resource::Interaction, Case::InTeam));
    assert_eq!(
        serde_json::to_value(&allow).unwrap(),
        serde_json::json!({
            "decision": "allow",
            "by": {
                "kind": "grant",
                "grant_id": "00000000-0000-0000-0000-000000000001",
                "role_id": "00000000-0000-0000-0000-000000001001",
                "role_name": "supervisor",
                "through": { "kind": "team", "team_id": w.team.to_string() },
            },
            "privilege": "interaction:listen",
        })
    );
    let own = s.decide(Action::Read, &resource(&w, Resource::Session, Case::Own));
    assert_eq!(serde_json::to_value(&own).unwrap()["by"]["through"], serde_json::json!({ "kind": "owner" }));
    assert_eq!(serde_json::to_value(&own).unwrap()["privilege"], "session:read:own");
    let deny = s.decide(Action::Listen, &resource(&w, Resource::Interaction, Case::Out));
    assert_eq!(
        serde_json::to_value(&deny).unwrap(),
        serde_json::json!({ "decision": "deny", "reason": "out_of_scope", "resource": "interaction", "action": "listen" })
    );
    assert_eq!(
        serde_json::to_value(Decision::Deny(DenyReason::OtherTenant)).unwrap(),
        serde_json::json!({ "decision": "deny", "reason": "other_tenant" })
    );
    assert_eq!(
        serde_json::to_value(decide_operator(Action::Read, Resource::User)).unwrap(),
        serde_json::json!({ "decision": "deny", "reason": "operator_no_tenant_data", "resource": "user", "action": "read" })
    );
    assert_eq!(
        serde_json::to_value(decide_operator(Action::Read, Resource::Tenant)).unwrap(),
        serde_json::json!({ "decision": "allow", "by": { "kind": "operator_rules" }, "privilege": "tenant:read" })
    );
}

#[test]
fn operators_see_tenants_not_their_data() {
    let mut allowed = Vec::new();
    for &kind in Resource::ALL {
        for &action in Action::ALL {
            let d = decide_operator(action, kind);
            if d.is_allowed() {
                allowed.push(Privilege::scoped(kind, action).to_string());
            } else {
                assert_eq!(d, Decision::Deny(DenyReason::OperatorNoTenantData { resource: kind, action }));
            }
        }
    }
    assert_eq!(
        allowed,
        [
            "tenant:read",
            "tenant:create",
            "tenant:update",
            "tenant:delete",
            "tenant_capabilities:read",
            "tenant_capabilities:create",
            "tenant_capabilities:update",
            "tenant_capabilities:delete",
            "audit:read",
            "audit:verify",
            // The provider's KEK: operators are its custodians (backup ceremonies).
            "key:read",
            "key:approve_key_operation",
            "key:manage_keys",
            // Fellow operators (the second custodian).
            "operator:read",
            "operator:create",
        ]
    );
}

#[test]
fn every_resource_and_action_has_its_own_slot() {
    let mut seen = vec![false; SLOTS];
    for (i, &kind) in Resource::ALL.iter().enumerate() {
        assert_eq!(kind as usize, i, "{kind} is at its declaration position");
        for (j, &action) in Action::ALL.iter().enumerate() {
            assert_eq!(action as usize, j, "{action} is at its declaration position");
            let s = slot(kind, action);
            assert!(!seen[s], "{kind}:{action} shares a slot");
            seen[s] = true;
        }
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn subject_helpers() {
    let w = world();
    let dup = Scope::Limited {
        teams: vec![w.team, w.team, w.other_team],
        skills: vec![],
        services: vec![w.service],
        departments: vec![],
    };
    let s = subject(
        &w,
        vec![
            grant_with_id(2, DefaultRole::Supervisor, dup),
            grant_with_id(1, DefaultRole::Agent, Scope::Tenant),
            grant_with_id(3, DefaultRole::Agent, Scope::Tenant),
        ],
    );
    assert_eq!(s.describe_grants(), ["agent@tenant", "agent@tenant", "supervisor@teams:2,skills:0,services:1"]);
    assert_eq!(s.role_names(), ["agent", "supervisor"]);
    assert!(s.has_privilege(Resource::Interaction, Action::Listen));
    assert!(!s.has_privilege(Resource::Interaction, Action::Export));
    assert_eq!((s.tenant(), s.principal()), (w.tenant, w.me));
    // Shared across threads, as the server does.
    let shared = Arc::new(s.clone());
    let r = std::thread::spawn(move || {
        shared.decide(Action::Listen, &resource(&world(), Resource::Interaction, Case::InTeam)).is_allowed()
    });
    assert!(r.join().unwrap());
    // No grants: everything is denied.
    let nobody = subject(&w, vec![]);
    for &kind in Resource::ALL {
        for &action in Action::ALL {
            assert_eq!(
                nobody.decide(action, &resource(&w, kind, Case::Own)),
                Decision::Deny(DenyReason::NoPrivilege { resource: kind, action })
            );
        }
    }
}

/// A database that holds a conflict anyway (granted before the rule, or behind the API): both
/// classes are denied with the reason, everything else still works.
#[test]
fn conflicting_grants_deny_both_classes_at_decision_time() {
    use crate::duties::PrivilegeClass::{IdentityAdministration, KeyCustody};
    let w = world();
    let s = subject(
        &w,
        vec![
            grant_with_id(1, DefaultRole::Administrator, Scope::Tenant),
            grant_with_id(2, DefaultRole::SecurityOfficer, Scope::Tenant),
        ],
    );
    let key = ResourceRef::tenant_wide(Resource::Key, w.tenant);
    let user = ResourceRef::tenant_wide(Resource::User, w.tenant);
    assert_eq!(
        s.decide(Action::ApproveKeyOperation, &key),
        Decision::Deny(DenyReason::SeparationOfDuties {
            resource: Resource::Key,
            action: Action::ApproveKeyOperation,
            class: KeyCustody,
            with: IdentityAdministration,
        })
    );
    let d = s.decide(Action::Create, &user);
    assert_eq!(d.deny_reason().map(|r| matches!(r, DenyReason::SeparationOfDuties { .. })), Some(true), "{d}");
    assert!(d.explain().contains("separation of duties"), "{d}");
    assert!(!s.has_privilege(Resource::Grant, Action::Create));
    assert!(!s.has_privilege(Resource::Key, Action::ManageKeys));
    // Reads and self-service are untouched.
    assert!(s.decide(Action::Read, &user).is_allowed());
    assert!(s.decide(Action::Read, &key).is_allowed());
    let own = ResourceRef::owned(Resource::UserCredential, w.tenant, w.me);
    assert!(s.decide(Action::Update, &own).is_allowed(), "one's own password stays one's own");
    assert!(!s.conflicts().is_empty());
    // Without the conflict nothing is suppressed.
    let clean = subject(&w, vec![grant_with_id(1, DefaultRole::Administrator, Scope::Tenant)]);
    assert!(clean.conflicts().is_empty());
    assert!(clean.decide(Action::Create, &user).is_allowed());
}
