//! Decision latency of the access engine beside casbin (RBAC with domains) and cedar-policy,
//! all three answering the same questions about the same synthetic tenant: 100 roles, 10,000
//! users holding 1–3 grants each, scopes of up to 50 teams and 50 services (or tenant-wide).
//!
//! `cargo bench -p callvault-policy --bench decision`
//!
//! Encodings (each one honest to the model, none of them favoured):
//! - callvault: `Subject::compile` once per user; a decision is `Subject::decide`.
//! - casbin: `g(user, role, domain)` for every team/service in a grant's scope and `*` for a
//!   tenant-wide grant; `p(role, *, resource, action)`; matcher
//!   `g(r.sub, p.sub, r.dom) && r.obj == p.obj && r.act == p.act`. A resource that belongs to a
//!   team and a service needs up to three `enforce` calls (its team, its service, `*`), short-
//!   circuited, because a casbin request carries one domain.
//! - cedar: users are entities whose parents are their roles; each role is one policy
//!   `permit(principal in Role::"rN", action in [...], resource) when { principal.rN_wide ||
//!   principal.rN_teams.containsAny(resource.teams) || principal.rN_services.containsAny(resource.services) }`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use callvault_model::access::{Action, Privilege, Resource, Scope};
use callvault_model::{GrantId, PrincipalId, RoleId, ServiceId, TeamId, TenantId, UserId};
use callvault_policy::access::{GrantInput, ResourceRef, Subject};
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use divan::black_box;

const ROLES: usize = 100;
const USERS: usize = 10_000;
const TEAMS: usize = 500;
const SERVICES: usize = 200;
const ACTIONS: [Action; 4] = [Action::Read, Action::Create, Action::Update, Action::Delete];

fn main() {
    // Build everything and check agreement before timing anything.
    LazyLock::force(&WORLD);
    agreement();
    divan::main();
}

struct Grant {
    role: usize,
    wide: bool,
    teams: Vec<usize>,
    services: Vec<usize>,
}

struct World {
    tenant: TenantId,
    role_privs: Vec<Vec<(Resource, Action)>>,
    grants: Vec<Vec<Grant>>,
    team_ids: Vec<TeamId>,
    service_ids: Vec<ServiceId>,
    subjects: HashMap<usize, Subject>,
    casbin: Enforcer,
    cedar_policies: PolicySet,
    cedar_entities: Entities,
}

/// A question: may user `u` do `action` on a `kind` resource of team `t` and service `s`?
#[derive(Clone, Copy, Debug)]
struct Question {
    user: usize,
    kind: Resource,
    action: Action,
    team: usize,
    service: usize,
}

fn role_privileges(r: usize) -> Vec<(Resource, Action)> {
    let mut v = BTreeSet::new();
    if r == 0 {
        v.insert((Resource::User, Action::Read));
    }
    for k in 0..10 {
        let res = Resource::ALL[(r * 7 + k * 13) % Resource::ALL.len()];
        let act = ACTIONS[(r + k * 3) % ACTIONS.len()];
        v.insert((res, act));
    }
    v.into_iter().collect()
}

fn user_grants(u: usize) -> Vec<Grant> {
    (0..1 + u % 3)
        .map(|g| {
            let role = if g == 0 && u.is_multiple_of(10) { 0 } else { (u * 31 + g * 17) % ROLES };
            let wide = (u + g).is_multiple_of(5);
            let size = 5 + (u * 13 + g) % 46; // 5..=50
            let teams = if wide { vec![] } else { (0..size).map(|i| (u * 7 + g * 11 + i) % TEAMS).collect() };
            let services = if wide { vec![] } else { (0..size).map(|i| (u * 3 + g * 5 + i) % SERVICES).collect() };
            Grant { role, wide, teams, services }
        })
        .collect()
}

static WORLD: LazyLock<World> = LazyLock::new(build);

fn build() -> World {
    let tenant = TenantId::new();
    let role_ids: Vec<RoleId> = (0..ROLES).map(|_| RoleId::new()).collect();
    let role_privs: Vec<_> = (0..ROLES).map(role_privileges).collect();
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::new()).collect();
    let grants: Vec<Vec<Grant>> = (0..USERS).map(user_grants).collect();
    let team_ids: Vec<TeamId> = (0..TEAMS).map(|_| TeamId::new()).collect();
    let service_ids: Vec<ServiceId> = (0..SERVICES).map(|_| ServiceId::new()).collect();

    // callvault: every user compiled (the server compiles per request from stored grants).
    let mut subjects = HashMap::new();
    for u in 0..USERS {
        let inputs = grants[u]
            .iter()
            .map(|g| GrantInput {
                grant_id: GrantId::new(),
                role_id: role_ids[g.role],
                role_name: format!("r{}", g.role),
                privileges: role_privs[g.role].iter().map(|(r, a)| Privilege::scoped(*r, *a)).collect(),
                scope: if g.wide {
                    Scope::Tenant
                } else {
                    Scope::Limited {
                        teams: g.teams.iter().map(|t| team_ids[*t]).collect(),
                        skills: vec![],
                        services: g.services.iter().map(|s| service_ids[*s]).collect(),
                        departments: vec![],
                    }
                },
            })
            .collect();
        subjects.insert(u, Subject::compile(tenant, PrincipalId::User(users[u]), inputs));
    }

    // casbin
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let casbin = rt.block_on(async {
        let model = DefaultModel::from_str(
            "[request_definition]\nr = sub, dom, obj, act\n[policy_definition]\np = sub, dom, obj, act\n\
             [role_definition]\ng = _, _, _\n[policy_effect]\ne = some(where (p.eft == allow))\n\
             [matchers]\nm = g(r.sub, p.sub, r.dom) && r.obj == p.obj && r.act == p.act\n",
        )
        .await
        .unwrap();
        let mut e = Enforcer::new(model, MemoryAdapter::default()).await.unwrap();
        e.enable_auto_build_role_links(false);
        let mut policies = Vec::new();
        for (r, privs) in role_privs.iter().enumerate() {
            for (res, act) in privs {
                // The matcher does not compare p.dom: a role applies in every domain the user
                // holds it in (the g() link carries the scope).
                policies.push(vec![format!("r{r}"), "*".to_owned(), res.as_str().to_owned(), act.as_str().to_owned()]);
            }
        }
        e.add_policies(policies).await.unwrap();
        let mut links = Vec::new();
        for (u, gs) in grants.iter().enumerate() {
            for g in gs {
                let domains: Vec<String> = if g.wide {
                    vec!["*".into()]
                } else {
                    g.teams.iter().map(|t| format!("t{t}")).chain(g.services.iter().map(|s| format!("s{s}"))).collect()
                };
                for d in domains {
                    links.push(vec![format!("u{u}"), format!("r{}", g.role), d]);
                }
            }
        }
        e.add_grouping_policies(links).await.unwrap();
        e.build_role_links().unwrap();
        e
    });

    // cedar
    let mut src = String::new();
    for (r, privs) in role_privs.iter().enumerate() {
        let actions: Vec<String> = privs.iter().map(|(res, act)| format!("Action::\"{res}:{act}\"")).collect();
        src.push_str(&format!(
            "permit(principal in Role::\"r{r}\", action in [{}], resource) when {{ (principal has r{r}_wide && principal.r{r}_wide) || (principal has r{r}_teams && principal.r{r}_teams.containsAny(resource.teams)) || (principal has r{r}_services && principal.r{r}_services.containsAny(resource.services)) }};\n",
            actions.join(", ")
        ));
    }
    let cedar_policies: PolicySet = src.parse().unwrap();
    let mut ents = Vec::new();
    for r in 0..ROLES {
        ents.push(serde_json::json!({ "uid": { "type": "Role", "id": format!("r{r}") }, "attrs": {}, "parents": [] }));
    }
    for (u, gs) in grants.iter().enumerate() {
        let mut attrs = serde_json::Map::new();
        for g in gs {
            let r = g.role;
            let wide = attrs.get(&format!("r{r}_wide")).and_then(|v| v.as_bool()).unwrap_or(false) || g.wide;
            attrs.insert(format!("r{r}_wide"), serde_json::json!(wide));
            let mut teams: BTreeSet<String> = attrs
                .get(&format!("r{r}_teams"))
                .and_then(|v| v.as_array())
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            teams.extend(g.teams.iter().map(|t| format!("t{t}")));
            attrs.insert(format!("r{r}_teams"), serde_json::json!(teams));
            let mut services: BTreeSet<String> = attrs
                .get(&format!("r{r}_services"))
                .and_then(|v| v.as_array())
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            services.extend(g.services.iter().map(|s| format!("s{s}")));
            attrs.insert(format!("r{r}_services"), serde_json::json!(services));
        }
        let parents: Vec<_> =
            gs.iter().map(|g| serde_json::json!({ "type": "Role", "id": format!("r{}", g.role) })).collect();
        ents.push(
            serde_json::json!({ "uid": { "type": "User", "id": format!("u{u}") }, "attrs": attrs, "parents": parents }),
        );
    }
    for t in 0..TEAMS {
        let s = t % SERVICES;
        ents.push(serde_json::json!({ "uid": { "type": "Res", "id": format!("t{t}-s{s}") }, "attrs": { "teams": [format!("t{t}")], "services": [format!("s{s}")] }, "parents": [] }));
    }
    let cedar_entities = Entities::from_json_value(serde_json::Value::Array(ents), None).unwrap();
    World { tenant, role_privs, grants, team_ids, service_ids, subjects, casbin, cedar_policies, cedar_entities }
}

fn ask_callvault(w: &World, q: Question) -> bool {
    let teams = [w.team_ids[q.team]];
    let services = [w.service_ids[q.service]];
    let r =
        ResourceRef { kind: q.kind, tenant: w.tenant, owner: None, teams: &teams, skills: &[], services: &services };
    w.subjects[&q.user].decide(q.action, &r).is_allowed()
}

fn ask_casbin(w: &World, q: Question, user: &str, team: &str, service: &str) -> bool {
    let (obj, act) = (q.kind.as_str(), q.action.as_str());
    w.casbin.enforce((user, team, obj, act)).unwrap()
        || w.casbin.enforce((user, service, obj, act)).unwrap()
        || w.casbin.enforce((user, "*", obj, act)).unwrap()
}

fn cedar_request(q: Question) -> Request {
    let principal: EntityUid = format!("User::\"u{}\"", q.user).parse().unwrap();
    let action: EntityUid = format!("Action::\"{}:{}\"", q.kind, q.action).parse().unwrap();
    let resource: EntityUid = format!("Res::\"t{}-s{}\"", q.team, q.service).parse().unwrap();
    Request::new(principal, action, resource, Context::empty(), None).unwrap()
}

fn ask_cedar(w: &World, authorizer: &Authorizer, request: &Request) -> bool {
    authorizer.is_authorized(request, &w.cedar_policies, &w.cedar_entities).decision() == cedar_policy::Decision::Allow
}

/// Questions whose resource is of the form cedar's entity store holds: service = team % SERVICES.
fn question(u: usize, i: usize) -> Question {
    let w = &*WORLD;
    let g = &w.grants[u][i % w.grants[u].len()];
    let (kind, action) = w.role_privs[g.role][i % w.role_privs[g.role].len()];
    let team = (u * 17 + i * 29) % TEAMS;
    Question { user: u, kind, action, team, service: team % SERVICES }
}

fn agreement() {
    let w = &*WORLD;
    let authorizer = Authorizer::new();
    let (mut allowed, mut total) = (0, 0);
    for i in 0..2_000 {
        let u = (i * 7919) % USERS;
        let q = question(u, i);
        let a = ask_callvault(w, q);
        let b = ask_casbin(w, q, &format!("u{}", q.user), &format!("t{}", q.team), &format!("s{}", q.service));
        let c = ask_cedar(w, &authorizer, &cedar_request(q));
        assert_eq!((a, a), (b, c), "engines disagree on {q:?}");
        allowed += usize::from(a);
        total += 1;
    }
    println!("agreement: {total} questions, {allowed} allowed, all three engines agree");
}

/// The three benchmark questions, for one user with only limited grants.
fn cases() -> [(&'static str, Question); 3] {
    let w = &*WORLD;
    // The first user whose grants are all limited (so something is out of its scope).
    let u = (0..USERS).find(|u| w.grants[*u].iter().all(|g| !g.wide)).unwrap();
    let g = &w.grants[u][0];
    let in_team = g.teams[0];
    let out_team = (0..TEAMS)
        .find(|t| w.grants[u].iter().all(|g| !g.teams.contains(t) && !g.services.contains(&(t % SERVICES))))
        .unwrap();
    let (kind, action) = w.role_privs[g.role][0];
    let missing = Resource::ALL
        .iter()
        .flat_map(|r| ACTIONS.iter().map(move |a| (*r, *a)))
        .find(|(r, a)| w.grants[u].iter().all(|g| !w.role_privs[g.role].contains(&(*r, *a))))
        .unwrap();
    [
        ("allow_in_scope", Question { user: u, kind, action, team: in_team, service: in_team % SERVICES }),
        ("deny_out_of_scope", Question { user: u, kind, action, team: out_team, service: out_team % SERVICES }),
        (
            "deny_no_privilege",
            Question { user: u, kind: missing.0, action: missing.1, team: in_team, service: in_team % SERVICES },
        ),
    ]
}

#[divan::bench(args = ["allow_in_scope", "deny_out_of_scope", "deny_no_privilege"])]
fn callvault(bencher: divan::Bencher, case: &str) {
    let w = &*WORLD;
    let q = cases().into_iter().find(|(n, _)| *n == case).unwrap().1;
    bencher.bench(|| ask_callvault(black_box(w), black_box(q)));
}

#[divan::bench(args = ["allow_in_scope", "deny_out_of_scope", "deny_no_privilege"])]
fn casbin_rbac_domains(bencher: divan::Bencher, case: &str) {
    let w = &*WORLD;
    let q = cases().into_iter().find(|(n, _)| *n == case).unwrap().1;
    let (user, team, service) = (format!("u{}", q.user), format!("t{}", q.team), format!("s{}", q.service));
    bencher.bench(|| ask_casbin(black_box(w), black_box(q), &user, &team, &service));
}

#[divan::bench(args = ["allow_in_scope", "deny_out_of_scope", "deny_no_privilege"])]
fn cedar(bencher: divan::Bencher, case: &str) {
    let w = &*WORLD;
    let q = cases().into_iter().find(|(n, _)| *n == case).unwrap().1;
    let authorizer = Authorizer::new();
    let request = cedar_request(q);
    bencher.bench(|| ask_cedar(black_box(w), &authorizer, black_box(&request)));
}
