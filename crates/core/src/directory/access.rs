//! Access administration: custom roles, grants of a role within a scope, service accounts for
//! dialers, recorders and SBCs, notifications, and "may user X do Y on Z, and why?".
//!
//! Rules kept here: default roles are fixed; no role or grant gives one person two conflicting
//! classes of privileges (separation of duties, PCI DSS 3.6.1.2 and NIST SP 800-53 AC-5); a role
//! that carries key custody or personal data is granted or revoked only under dual control; a
//! service account never holds identity administration, key custody or personal-data
//! privileges; the last administrator of a tenant cannot be demoted.

use callvault_model::access::{Action, DefaultRole, Privilege, Resource, Scope};
use callvault_model::records::{Grant, Grantee, Notification, Role, ServiceAccount, Timestamp};
use callvault_model::{GrantId, PrincipalId, RoleId, ServiceAccountId, ServiceId, SkillId, TeamId, UserId};
use callvault_policy::access::{Decision, ResourceRef, check_service_account_privileges};
use callvault_policy::duties;
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, StoreError};
use serde::{Deserialize, Serialize};

use super::{DirectoryError, Outcome, row};
use crate::caller::{Ctx, Permit, SERVICE_TOKEN_PREFIX, load_subject};
use crate::custody;
use crate::identity;
use crate::input;
use crate::services::Services;

/// The most privileges in a role.
pub const MAX_PRIVILEGES: usize = 200;
/// The most teams, skills and services in a limited scope, together.
pub const MAX_SCOPE: usize = 500;
/// The longest service-account token lifetime, in days.
pub const MAX_TOKEN_LIFETIME_DAYS: u32 = 730;

/// A new custom role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Unique name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Privileges such as `user:read` or `interaction:listen:own`.
    pub privileges: Vec<Privilege>,
}

/// Changes to a custom role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New privileges (all).
    #[serde(default)]
    pub privileges: Option<Vec<Privilege>>,
}

/// A new grant: a role for a user or service account within a scope.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    /// Holder.
    pub grantee: Grantee,
    /// Role id.
    pub role_id: RoleId,
    /// Where it applies.
    pub scope: Scope,
}

/// A new service account for a dialer, recorder, SBC or other system.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// Unique name.
    pub name: String,
    /// Its one role.
    pub role_id: RoleId,
    /// Where the role applies.
    pub scope: Scope,
    /// Lifetime of each token in days (1..=730); none: the token lives until rotated or revoked.
    #[serde(default)]
    pub token_lifetime_days: Option<u32>,
}

/// A service account with its token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountWithToken {
    /// The account.
    pub account: ServiceAccount,
    /// Bearer token (shown once; only its digest is stored).
    pub token: String,
}

/// What to explain.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The user whose access is in question.
    pub user_id: UserId,
    /// The action.
    pub action: Action,
    /// The resource kind.
    pub resource: Resource,
    /// The resource's owner, for `:own` privileges.
    #[serde(default)]
    pub owner: Option<UserId>,
    /// Teams the resource belongs to.
    #[serde(default)]
    pub teams: Vec<TeamId>,
    /// Skills the resource belongs to.
    #[serde(default)]
    pub skills: Vec<SkillId>,
    /// Services the resource belongs to.
    #[serde(default)]
    pub services: Vec<ServiceId>,
}

async fn tenant_wide(state: &Services, ctx: &Ctx, action: Action, kind: Resource) -> Result<Permit, DirectoryError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(kind, tenant)).await?)
}

fn check_privileges(privileges: &[Privilege]) -> Result<Vec<Privilege>, DirectoryError> {
    if privileges.is_empty() || privileges.len() > MAX_PRIVILEGES {
        return Err(DirectoryError::Invalid(format!("a role needs 1 to {MAX_PRIVILEGES} privileges")));
    }
    let mut p = privileges.to_vec();
    p.sort();
    p.dedup();
    Ok(p)
}

/// Roles of the caller's tenant.
pub async fn roles(state: &Services, ctx: &Ctx) -> Result<Vec<Role>, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Read, Resource::Role).await?;
    Ok(state.store.reader().await?.roles(permit.tenant()).await?)
}

/// One role (404 before 403: ids are not secret in a tenant).
pub async fn role(state: &Services, ctx: &Ctx, id: RoleId) -> Result<Role, DirectoryError> {
    Ok(existing_role(state, ctx, id, Action::Read).await?.0)
}

async fn existing_role(
    state: &Services,
    ctx: &Ctx,
    id: RoleId,
    action: Action,
) -> Result<(Role, Permit), DirectoryError> {
    let tenant = ctx.tenant()?;
    let role = state.store.reader().await?.role(tenant, id).await.map_err(row("role"))?;
    Ok((role, tenant_wide(state, ctx, action, Resource::Role).await?))
}

/// Creates a custom role; privileges that conflict by separation of duties are refused.
pub async fn create_role(state: &Services, ctx: &Ctx, new: CreateRole) -> Result<Role, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Create, Resource::Role).await?;
    let tenant = permit.tenant();
    let now = state.clock.now();
    let (name, key) = input::identifier_name("name", &new.name)?;
    let existing = state.store.reader().await?.roles(tenant).await?;
    input::distinct_identifier("name", &key, existing.iter().map(|r| r.name.as_str()), true)?;
    let role = Role {
        id: RoleId::new(),
        tenant_id: tenant,
        name,
        description: new.description.chars().take(500).collect(),
        privileges: check_privileges(&new.privileges)?,
        builtin: false,
        created_at: now,
    };
    if let Some(c) = duties::conflicts_among(&role.privileges) {
        return Err(custody::refused(c).into());
    }
    permit.covers(Action::Create, Resource::Role, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.insert_role(&role).await.map_err(row("role"))?;
    let event = ctx
        .event("role.create")
        .target("role", role.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "privileges": role.privileges }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(role)
}

/// Changes a custom role. A role held by a service account cannot gain privileges a service
/// account may not hold; a change that would give a holder conflicting duties is refused.
pub async fn update_role(state: &Services, ctx: &Ctx, id: RoleId, changes: UpdateRole) -> Result<Role, DirectoryError> {
    let (role, permit) = existing_role(state, ctx, id, Action::Update).await?;
    if role.builtin {
        return Err(DirectoryError::DefaultRole("changed; create a custom role"));
    }
    let description = changes.description.map_or(role.description.clone(), |d| d.chars().take(500).collect());
    let privileges = match &changes.privileges {
        Some(p) => check_privileges(p)?,
        None => role.privileges.clone(),
    };
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::Role, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if check_service_account_privileges(&privileges).is_err()
        && tx.grants(tenant).await?.iter().any(|g| g.role_id == id && matches!(g.grantee, Grantee::ServiceAccount(_)))
    {
        return Err(DirectoryError::ServiceAccountHoldsRole);
    }
    custody::check_role_change(&mut tx, tenant, id, &role.privileges, &privileges).await?;
    tx.update_role(tenant, id, &description, &privileges).await.map_err(row("role"))?;
    let role = tx.role(tenant, id).await?;
    let event = ctx
        .event("role.update")
        .target("role", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "privileges": role.privileges }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(role)
}

/// Deletes a custom role that no grant uses.
pub async fn delete_role(state: &Services, ctx: &Ctx, id: RoleId) -> Result<(), DirectoryError> {
    let (role, permit) = existing_role(state, ctx, id, Action::Delete).await?;
    if role.builtin {
        return Err(DirectoryError::DefaultRole("deleted"));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Delete, Resource::Role, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_role(tenant, id).await.map_err(|e| match e {
        StoreError::Conflict(_) => DirectoryError::RoleStillGranted,
        e => row("role")(e),
    })?;
    state.auditor.record(&mut tx, now, &ctx.event("role.delete").target("role", id).origin(ctx.origin(state))).await?;
    tx.commit().await?;
    Ok(())
}

/// Grants of the caller's tenant.
pub async fn grants(state: &Services, ctx: &Ctx) -> Result<Vec<Grant>, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Read, Resource::Grant).await?;
    Ok(state.store.reader().await?.grants(permit.tenant()).await?)
}

/// Grants a role. A role that carries key custody or personal data appoints a custodian: the
/// result is a proposed ceremony that a second person approves. A grant that would give one
/// person two conflicting classes of privileges is refused with the conflict.
pub async fn create_grant(state: &Services, ctx: &Ctx, new: CreateGrant) -> Result<Outcome<Grant>, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Create, Resource::Grant).await?;
    let tenant = permit.tenant();
    if let Scope::Limited { teams, skills, services, departments } = &new.scope
        && !(1..=MAX_SCOPE).contains(&(teams.len() + skills.len() + services.len() + departments.len()))
    {
        return Err(DirectoryError::Invalid(format!(
            "a limited scope needs 1 to {MAX_SCOPE} teams, skills, services or departments"
        )));
    }
    permit.covers(Action::Create, Resource::Grant, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let role = tx.role(tenant, new.role_id).await.map_err(row("role"))?;
    if let Grantee::ServiceAccount(_) = new.grantee {
        check_service_account_privileges(&role.privileges).map_err(|e| DirectoryError::Invalid(e.to_string()))?;
    }
    match new.grantee {
        Grantee::User(u) => {
            tx.user(tenant, u).await.map_err(row("user"))?;
        }
        Grantee::ServiceAccount(a) => {
            tx.service_account(tenant, a).await.map_err(row("service account"))?;
        }
    }
    custody::check_grant(&mut tx, tenant, new.grantee, &role.privileges).await?;
    if let Scope::Limited { teams, skills, services, departments } = &new.scope {
        for d in departments {
            tx.department(tenant, *d).await.map_err(row("department"))?;
        }
        for t in teams {
            tx.team(tenant, *t).await.map_err(row("team"))?;
        }
        for s in skills {
            tx.skill(tenant, *s).await.map_err(row("skill"))?;
        }
        for s in services {
            tx.service(tenant, *s).await.map_err(row("service"))?;
        }
    }
    if duties::is_custodial(&role.privileges) {
        tx.rollback().await?;
        let subject =
            custody::Subject::Grant { grantee: new.grantee, role_id: role.id, role_name: role.name, scope: new.scope };
        return Ok(Outcome::Proposed(Box::new(custody::propose(state, ctx, new.grantee.principal(), subject).await?)));
    }
    let grant = Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        grantee: new.grantee,
        role_id: role.id,
        scope: new.scope,
        created_at: now,
    };
    tx.insert_grant(&grant).await.map_err(row("grantee"))?;
    let event = ctx
        .event("grant.create")
        .target("grant", grant.id)
        .target("role", role.id)
        .target(grantee_kind(grant.grantee), grant.grantee.principal().uuid())
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(Outcome::Done(grant))
}

fn grantee_kind(g: Grantee) -> &'static str {
    match g {
        Grantee::User(_) => "user",
        Grantee::ServiceAccount(_) => "service_account",
    }
}

/// Removes a grant. The last administrator of a tenant cannot be demoted. Removing a custodial
/// grant of a user is a proposed ceremony that a second person approves.
pub async fn delete_grant(state: &Services, ctx: &Ctx, id: GrantId) -> Result<Outcome<()>, DirectoryError> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.grant(tenant, id).await.map_err(row("grant"))?;
    let permit = tenant_wide(state, ctx, Action::Delete, Resource::Grant).await?;
    permit.covers(Action::Delete, Resource::Grant, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let grant = tx.grant(tenant, id).await.map_err(row("grant"))?;
    let role = tx.role(tenant, grant.role_id).await?;
    if duties::is_custodial(&role.privileges) && matches!(grant.grantee, Grantee::User(_)) {
        tx.rollback().await?;
        let subject = custody::Subject::Revoke { grant_id: id, role_name: role.name };
        return Ok(Outcome::Proposed(Box::new(
            custody::propose(state, ctx, grant.grantee.principal(), subject).await?,
        )));
    }
    if let Grantee::User(user) = grant.grantee {
        let admins = identity::administrators(&mut tx, tenant).await?;
        let admin_role = tx.role_by_name(tenant, DefaultRole::Administrator.name()).await?;
        let tenant_admin = |g: &Grant| g.role_id == admin_role.id && g.scope == Scope::Tenant;
        let only_admin_grant = tenant_admin(&grant)
            && admins == [user]
            && tx.grants_of(tenant, grant.grantee).await?.iter().filter(|g| tenant_admin(g)).count() == 1;
        if only_admin_grant {
            return Err(DirectoryError::LastAdministrator("demoted"));
        }
    }
    tx.delete_grant(tenant, id).await.map_err(row("grant"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("grant.delete").target("grant", id).origin(ctx.origin(state)))
        .await?;
    tx.commit().await?;
    Ok(Outcome::Done(()))
}

/// When a token issued at `now` with this lifetime expires.
fn token_expiry(now: Timestamp, days: Option<u32>) -> Option<Timestamp> {
    days.map(|d| now.plus_millis(i64::from(d) * 86_400_000))
}

/// Service accounts of the caller's tenant.
pub async fn service_accounts(state: &Services, ctx: &Ctx) -> Result<Vec<ServiceAccount>, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Read, Resource::ServiceAccount).await?;
    Ok(state.store.reader().await?.service_accounts(permit.tenant()).await?)
}

/// One service account (404 before 403).
pub async fn service_account(
    state: &Services,
    ctx: &Ctx,
    id: ServiceAccountId,
) -> Result<ServiceAccount, DirectoryError> {
    Ok(existing_account(state, ctx, id, Action::Read).await?.0)
}

async fn existing_account(
    state: &Services,
    ctx: &Ctx,
    id: ServiceAccountId,
    action: Action,
) -> Result<(ServiceAccount, Permit), DirectoryError> {
    let tenant = ctx.tenant()?;
    let account = state.store.reader().await?.service_account(tenant, id).await.map_err(row("service account"))?;
    Ok((account, tenant_wide(state, ctx, action, Resource::ServiceAccount).await?))
}

/// Creates a service account bound to one role and scope; returns its token once (only its
/// digest is stored). Creating one is also granting a role, so both rights are needed.
pub async fn create_service_account(
    state: &Services,
    ctx: &Ctx,
    new: CreateServiceAccount,
) -> Result<ServiceAccountWithToken, DirectoryError> {
    let permit = tenant_wide(state, ctx, Action::Create, Resource::ServiceAccount).await?;
    let grant_permit = tenant_wide(state, ctx, Action::Create, Resource::Grant).await?;
    let tenant = permit.tenant();
    let name = input::name("name", &new.name)?;
    if new.token_lifetime_days.is_some_and(|d| !(1..=MAX_TOKEN_LIFETIME_DAYS).contains(&d)) {
        return Err(DirectoryError::Invalid(format!("token_lifetime_days must be 1..={MAX_TOKEN_LIFETIME_DAYS}")));
    }
    permit.covers(Action::Create, Resource::ServiceAccount, tenant)?;
    grant_permit.covers(Action::Create, Resource::Grant, tenant)?;
    let now = state.clock.now();
    let token = callvault_crypto::token::new_token(SERVICE_TOKEN_PREFIX);
    let account = ServiceAccount {
        id: ServiceAccountId::new(),
        tenant_id: tenant,
        name,
        token_prefix: token.token.expose().chars().take(12).collect(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        expires_at: token_expiry(now, new.token_lifetime_days),
        token_lifetime_days: new.token_lifetime_days,
    };
    let mut tx = state.store.begin().await?;
    let role = tx.role(tenant, new.role_id).await.map_err(row("role"))?;
    check_service_account_privileges(&role.privileges).map_err(|e| DirectoryError::Invalid(e.to_string()))?;
    tx.insert_service_account(&account, &hex::encode(token.digest)).await.map_err(row("service account"))?;
    let grant = Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        grantee: Grantee::ServiceAccount(account.id),
        role_id: role.id,
        scope: new.scope,
        created_at: now,
    };
    tx.insert_grant(&grant).await?;
    let event = ctx
        .event("service_account.create")
        .target("service_account", account.id)
        .target("role", role.id)
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(ServiceAccountWithToken { account, token: token.token.expose().to_owned() })
}

/// Issues a new token for a service account; the old one stops working at once.
pub async fn rotate_service_account(
    state: &Services,
    ctx: &Ctx,
    id: ServiceAccountId,
) -> Result<ServiceAccountWithToken, DirectoryError> {
    let (_, permit) = existing_account(state, ctx, id, Action::Update).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::ServiceAccount, tenant)?;
    let now = state.clock.now();
    let token = callvault_crypto::token::new_token(SERVICE_TOKEN_PREFIX);
    let prefix: String = token.token.expose().chars().take(12).collect();
    let mut tx = state.store.begin().await?;
    let before = tx.service_account(tenant, id).await?;
    if before.revoked_at.is_some() {
        return Err(DirectoryError::ServiceAccountRevoked);
    }
    let expires_at = token_expiry(now, before.token_lifetime_days);
    tx.rotate_service_account_token(tenant, id, &hex::encode(token.digest), &prefix, expires_at).await?;
    let account = tx.service_account(tenant, id).await?;
    let event = ctx.event("service_account.rotate").target("service_account", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(ServiceAccountWithToken { account, token: token.token.expose().to_owned() })
}

/// Revokes a service account's token for good.
pub async fn revoke_service_account(state: &Services, ctx: &Ctx, id: ServiceAccountId) -> Result<(), DirectoryError> {
    let (_, permit) = existing_account(state, ctx, id, Action::Delete).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Delete, Resource::ServiceAccount, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.revoke_service_account(tenant, id, now).await.map_err(row("active service account"))?;
    let event = ctx.event("service_account.revoke").target("service_account", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Notifications of the caller's tenant addressed to the caller's roles (with the right to read
/// notifications) or to the caller.
pub async fn notifications(state: &Services, ctx: &Ctx) -> Result<Vec<Notification>, DirectoryError> {
    let tenant = ctx.tenant()?;
    let all = ctx.decide(Action::Read, &ResourceRef::tenant_wide(Resource::Notification, tenant)).is_allowed();
    if !all {
        ctx.authorize(state, Action::Read, &ResourceRef::owned(Resource::Notification, tenant, ctx.principal)).await?;
    }
    let mine = format!("principal:{}", ctx.principal);
    let roles = ctx.subject.as_ref().map(|s| s.role_names()).unwrap_or_default();
    let list = state.store.reader().await?.notifications(tenant, 500).await?;
    Ok(list.into_iter().filter(|n| n.audience == mine || (all && roles.contains(&n.audience))).collect())
}

/// "May user X do Y on Z, and why?" (administrators); the question is audited.
pub async fn explain(state: &Services, ctx: &Ctx, q: &ExplainRequest) -> Result<Decision, DirectoryError> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let a = r.assignments(tenant, q.user_id).await?;
    r.user(tenant, q.user_id).await.map_err(row("user"))?;
    let skills: Vec<SkillId> = a.skills.iter().map(|s| s.skill_id).collect();
    let user = ResourceRef {
        kind: Resource::User,
        tenant,
        owner: Some(PrincipalId::User(q.user_id)),
        teams: &a.teams,
        skills: &skills,
        services: &a.services,
    };
    ctx.authorize(state, Action::Explain, &user).await?;
    let subject = load_subject(&mut r, tenant, PrincipalId::User(q.user_id), true).await?;
    let resource = ResourceRef {
        kind: q.resource,
        tenant,
        owner: q.owner.map(PrincipalId::User),
        teams: &q.teams,
        skills: &q.skills,
        services: &q.services,
    };
    let decision = subject.decide(q.action, &resource);
    let event =
        ctx.event("access.explain").target("user", q.user_id).origin(ctx.origin(state)).details(
            serde_json::json!({ "resource": q.resource, "action": q.action, "allowed": decision.is_allowed() }),
        );
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(decision)
}
