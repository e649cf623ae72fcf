//! Roles, grants, service accounts, notifications, and `POST /v1/access/explain`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use callvault_model::access::{Action, DefaultRole, Privilege, Resource, Scope};
use callvault_model::records::{Grant, Grantee, Notification, Role, ServiceAccount};
use callvault_model::vault::Ceremony;
use callvault_model::{GrantId, PrincipalId, RoleId, ServiceAccountId, ServiceId, SkillId, TeamId, UserId};
use callvault_policy::access::{Decision, ResourceRef, check_service_account_privileges};
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, StoreError};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::{Ctx, SERVICE_TOKEN_PREFIX};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use callvault_core::caller::load_subject;
use callvault_core::identity;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_grants, create_grant))
        .routes(routes!(delete_grant))
        .routes(routes!(list_service_accounts, create_service_account))
        .routes(routes!(get_service_account))
        .routes(routes!(rotate_service_account))
        .routes(routes!(revoke_service_account))
        .routes(routes!(list_notifications))
        .routes(routes!(explain))
}

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

/// Roles of the caller's tenant.
#[utoipa::path(get, path = "/v1/roles", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Role]), (status = 403, body = Problem)))]
async fn list_roles(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Role>>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::Role, tenant)).await?;
    Ok(axum::Json(state.store.reader().await?.roles(tenant).await?))
}

fn check_privileges(privileges: &[Privilege]) -> ApiResult<Vec<Privilege>> {
    if privileges.is_empty() || privileges.len() > 200 {
        return Err(ApiError::invalid("a role needs 1 to 200 privileges"));
    }
    let mut p = privileges.to_vec();
    p.sort();
    p.dedup();
    Ok(p)
}

/// Creates a custom role.
#[utoipa::path(post, path = "/v1/roles", tag = "access", security(("bearer" = [])), request_body = CreateRole,
    responses((status = 201, body = Role), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateRole>,
) -> ApiResult<(StatusCode, axum::Json<Role>)> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Role, tenant)).await?;
    let now = state.clock.now();
    let (name, key) = validate::identifier_name("name", &body.name)?;
    let existing = state.store.reader().await?.roles(tenant).await?;
    validate::distinct_identifier("name", &key, existing.iter().map(|r| r.name.as_str()), true)?;
    let role = Role {
        id: RoleId::new(),
        tenant_id: tenant,
        name,
        description: body.description.chars().take(500).collect(),
        privileges: check_privileges(&body.privileges)?,
        builtin: false,
        created_at: now,
    };
    if let Some(c) = callvault_policy::duties::conflicts_among(&role.privileges) {
        return Err(callvault_core::custody::refused(c).into());
    }
    let mut tx = state.store.begin().await?;
    tx.insert_role(&role).await.map_err(|e| ApiError::from_store(e, "role"))?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("role.create")
                .target("role", role.id)
                .origin(ctx.origin(&state))
                .details(serde_json::json!({ "privileges": role.privileges })),
        )
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(role)))
}

/// One role.
#[utoipa::path(get, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Role), (status = 404, body = Problem)))]
async fn get_role(State(state): State<AppState>, ctx: Ctx, Path(id): Path<RoleId>) -> ApiResult<axum::Json<Role>> {
    let tenant = ctx.tenant()?;
    let role = state.store.reader().await?.role(tenant, id).await.map_err(|e| ApiError::from_store(e, "role"))?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::Role, tenant)).await?;
    Ok(axum::Json(role))
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

/// Changes a custom role (default roles cannot change).
#[utoipa::path(patch, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)), request_body = UpdateRole,
    responses((status = 200, body = Role), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<RoleId>,
    Json(body): Json<UpdateRole>,
) -> ApiResult<axum::Json<Role>> {
    let tenant = ctx.tenant()?;
    let role = state.store.reader().await?.role(tenant, id).await.map_err(|e| ApiError::from_store(e, "role"))?;
    ctx.authorize(&state, Action::Update, &ResourceRef::tenant_wide(Resource::Role, tenant)).await?;
    if role.builtin {
        return Err(ApiError::conflict("default roles cannot be changed; create a custom role"));
    }
    let description = body.description.map_or(role.description.clone(), |d| d.chars().take(500).collect());
    let privileges = match &body.privileges {
        Some(p) => check_privileges(p)?,
        None => role.privileges.clone(),
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    // A service account must never gain key-custodian or DPO privileges through a role change.
    if check_service_account_privileges(&privileges).is_err()
        && tx.grants(tenant).await?.iter().any(|g| g.role_id == id && matches!(g.grantee, Grantee::ServiceAccount(_)))
    {
        return Err(ApiError::conflict(
            "a service account holds this role; service accounts cannot administer identities, hold key custody or \
             touch personal data",
        ));
    }
    callvault_core::custody::check_role_change(&mut tx, tenant, id, &role.privileges, &privileges).await?;
    tx.update_role(tenant, id, &description, &privileges).await.map_err(|e| ApiError::from_store(e, "role"))?;
    let role = tx.role(tenant, id).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("role.update")
                .target("role", id)
                .origin(ctx.origin(&state))
                .details(serde_json::json!({ "privileges": role.privileges })),
        )
        .await?;
    tx.commit().await?;
    Ok(axum::Json(role))
}

/// Deletes a custom role that no grant uses.
#[utoipa::path(delete, path = "/v1/roles/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_role(State(state): State<AppState>, ctx: Ctx, Path(id): Path<RoleId>) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant()?;
    let role = state.store.reader().await?.role(tenant, id).await.map_err(|e| ApiError::from_store(e, "role"))?;
    ctx.authorize(&state, Action::Delete, &ResourceRef::tenant_wide(Resource::Role, tenant)).await?;
    if role.builtin {
        return Err(ApiError::conflict("default roles cannot be deleted"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_role(tenant, id).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict("the role is still granted; delete its grants first"),
        e => ApiError::from_store(e, "role"),
    })?;
    state.auditor.record(&mut tx, now, &ctx.event("role.delete").target("role", id).origin(ctx.origin(&state))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
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

/// Grants of the caller's tenant.
#[utoipa::path(get, path = "/v1/grants", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Grant]), (status = 403, body = Problem)))]
async fn list_grants(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Grant>>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::Grant, tenant)).await?;
    Ok(axum::Json(state.store.reader().await?.grants(tenant).await?))
}

/// Grants a role. A role that carries key custody or personal data appoints a custodian: the
/// answer is 202 with a ceremony that a second person approves
/// (`POST /v1/key-ceremonies/{id}/approve`). A grant that would give one person two conflicting
/// classes of privileges (separation of duties) is refused with 403 and the conflict.
#[utoipa::path(post, path = "/v1/grants", tag = "access", security(("bearer" = [])), request_body = CreateGrant,
    responses((status = 201, body = Grant), (status = 202, body = Ceremony), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_grant(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateGrant>,
) -> ApiResult<axum::response::Response> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Grant, tenant)).await?;
    if let Scope::Limited { teams, skills, services } = &body.scope
        && !(1..=500).contains(&(teams.len() + skills.len() + services.len()))
    {
        return Err(ApiError::invalid("a limited scope needs 1 to 500 teams, skills or services"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let role = tx.role(tenant, body.role_id).await.map_err(|e| ApiError::from_store(e, "role"))?;
    if let Grantee::ServiceAccount(_) = body.grantee {
        check_service_account_privileges(&role.privileges).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    match body.grantee {
        Grantee::User(u) => {
            tx.user(tenant, u).await.map_err(|e| ApiError::from_store(e, "user"))?;
        }
        Grantee::ServiceAccount(a) => {
            tx.service_account(tenant, a).await.map_err(|e| ApiError::from_store(e, "service account"))?;
        }
    }
    callvault_core::custody::check_grant(&mut tx, tenant, body.grantee, &role.privileges).await?;
    if let Scope::Limited { teams, skills, services } = &body.scope {
        for t in teams {
            tx.team(tenant, *t).await.map_err(|e| ApiError::from_store(e, "team"))?;
        }
        for s in skills {
            tx.skill(tenant, *s).await.map_err(|e| ApiError::from_store(e, "skill"))?;
        }
        for s in services {
            tx.service(tenant, *s).await.map_err(|e| ApiError::from_store(e, "service"))?;
        }
    }
    if callvault_policy::duties::is_custodial(&role.privileges) {
        tx.rollback().await?;
        let subject = callvault_core::custody::Subject::Grant {
            grantee: body.grantee,
            role_id: role.id,
            role_name: role.name.clone(),
            scope: body.scope,
        };
        let c = callvault_core::custody::propose(&state, &ctx, body.grantee.principal(), subject).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(c)).into_response());
    }
    let grant = Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        grantee: body.grantee,
        role_id: role.id,
        scope: body.scope,
        created_at: now,
    };
    tx.insert_grant(&grant).await.map_err(|e| ApiError::from_store(e, "grantee"))?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("grant.create")
                .target("grant", grant.id)
                .target("role", role.id)
                .target(grantee_kind(grant.grantee), grant.grantee.principal().uuid())
                .origin(ctx.origin(&state)),
        )
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(grant)).into_response())
}

/// When a token issued at `now` with this lifetime expires.
fn token_expiry(
    now: callvault_model::records::Timestamp,
    days: Option<u32>,
) -> Option<callvault_model::records::Timestamp> {
    days.map(|d| now.plus_millis(i64::from(d) * 86_400_000))
}

fn grantee_kind(g: Grantee) -> &'static str {
    match g {
        Grantee::User(_) => "user",
        Grantee::ServiceAccount(_) => "service_account",
    }
}

/// Removes a grant. The last administrator of a tenant cannot be demoted. Removing a custodial
/// grant is a ceremony (202) that a second person approves.
#[utoipa::path(delete, path = "/v1/grants/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 202, body = Ceremony), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_grant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<GrantId>,
) -> ApiResult<axum::response::Response> {
    let tenant = ctx.tenant()?;
    state.store.reader().await?.grant(tenant, id).await.map_err(|e| ApiError::from_store(e, "grant"))?;
    ctx.authorize(&state, Action::Delete, &ResourceRef::tenant_wide(Resource::Grant, tenant)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let grant = tx.grant(tenant, id).await.map_err(|e| ApiError::from_store(e, "grant"))?;
    let role = tx.role(tenant, grant.role_id).await?;
    if callvault_policy::duties::is_custodial(&role.privileges) && matches!(grant.grantee, Grantee::User(_)) {
        tx.rollback().await?;
        let subject = callvault_core::custody::Subject::Revoke { grant_id: id, role_name: role.name };
        let c = callvault_core::custody::propose(&state, &ctx, grant.grantee.principal(), subject).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(c)).into_response());
    }
    if let Grantee::User(user) = grant.grantee {
        let admins = identity::administrators(&mut tx, tenant).await?;
        let admin_role = tx.role_by_name(tenant, DefaultRole::Administrator.name()).await?;
        let only_admin_grant = grant.role_id == admin_role.id
            && grant.scope == Scope::Tenant
            && admins == [user]
            && tx
                .grants_of(tenant, grant.grantee)
                .await?
                .iter()
                .filter(|g| g.role_id == admin_role.id && g.scope == Scope::Tenant)
                .count()
                == 1;
        if only_admin_grant {
            return Err(ApiError::conflict(
                "the last administrator of a tenant cannot be demoted; make another user administrator first",
            ));
        }
    }
    tx.delete_grant(tenant, id).await.map_err(|e| ApiError::from_store(e, "grant"))?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("grant.delete").target("grant", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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

/// Service accounts of the caller's tenant.
#[utoipa::path(get, path = "/v1/service-accounts", tag = "access", security(("bearer" = [])), responses((status = 200, body = [ServiceAccount]), (status = 403, body = Problem)))]
async fn list_service_accounts(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<ServiceAccount>>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::ServiceAccount, tenant)).await?;
    Ok(axum::Json(state.store.reader().await?.service_accounts(tenant).await?))
}

/// Creates a service account bound to one role and scope; returns its token once.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "access", security(("bearer" = [])), request_body = CreateServiceAccount,
    responses((status = 201, body = ServiceAccountWithToken), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateServiceAccount>,
) -> ApiResult<(StatusCode, axum::Json<ServiceAccountWithToken>)> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::ServiceAccount, tenant)).await?;
    ctx.authorize(&state, Action::Create, &ResourceRef::tenant_wide(Resource::Grant, tenant)).await?;
    let name = validate::name("name", &body.name)?;
    if body.token_lifetime_days.is_some_and(|d| !(1..=730).contains(&d)) {
        return Err(ApiError::invalid("token_lifetime_days must be 1..=730"));
    }
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
        expires_at: token_expiry(now, body.token_lifetime_days),
        token_lifetime_days: body.token_lifetime_days,
    };
    let mut tx = state.store.begin().await?;
    let role = tx.role(tenant, body.role_id).await.map_err(|e| ApiError::from_store(e, "role"))?;
    check_service_account_privileges(&role.privileges).map_err(|e| ApiError::invalid(e.to_string()))?;
    tx.insert_service_account(&account, &hex::encode(token.digest))
        .await
        .map_err(|e| ApiError::from_store(e, "service account"))?;
    let grant = Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        grantee: Grantee::ServiceAccount(account.id),
        role_id: role.id,
        scope: body.scope,
        created_at: now,
    };
    tx.insert_grant(&grant).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("service_account.create")
                .target("service_account", account.id)
                .target("role", role.id)
                .origin(ctx.origin(&state)),
        )
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(ServiceAccountWithToken { account, token: token.token.expose().to_owned() })))
}

/// One service account.
#[utoipa::path(get, path = "/v1/service-accounts/{id}", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccount), (status = 404, body = Problem)))]
async fn get_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<axum::Json<ServiceAccount>> {
    let tenant = ctx.tenant()?;
    let account = state
        .store
        .reader()
        .await?
        .service_account(tenant, id)
        .await
        .map_err(|e| ApiError::from_store(e, "service account"))?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::ServiceAccount, tenant)).await?;
    Ok(axum::Json(account))
}

/// Issues a new token for a service account; the old one stops working at once.
#[utoipa::path(post, path = "/v1/service-accounts/{id}/rotate", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccountWithToken), (status = 404, body = Problem)))]
async fn rotate_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<axum::Json<ServiceAccountWithToken>> {
    let tenant = ctx.tenant()?;
    state
        .store
        .reader()
        .await?
        .service_account(tenant, id)
        .await
        .map_err(|e| ApiError::from_store(e, "service account"))?;
    ctx.authorize(&state, Action::Update, &ResourceRef::tenant_wide(Resource::ServiceAccount, tenant)).await?;
    let now = state.clock.now();
    let token = callvault_crypto::token::new_token(SERVICE_TOKEN_PREFIX);
    let prefix: String = token.token.expose().chars().take(12).collect();
    let mut tx = state.store.begin().await?;
    let before = tx.service_account(tenant, id).await?;
    if before.revoked_at.is_some() {
        return Err(ApiError::conflict(
            "the service account is revoked; a revoked account is never reactivated: create a new one",
        ));
    }
    let expires_at = token_expiry(now, before.token_lifetime_days);
    tx.rotate_service_account_token(tenant, id, &hex::encode(token.digest), &prefix, expires_at).await?;
    let account = tx.service_account(tenant, id).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("service_account.rotate").target("service_account", id).origin(ctx.origin(&state)),
        )
        .await?;
    tx.commit().await?;
    Ok(axum::Json(ServiceAccountWithToken { account, token: token.token.expose().to_owned() }))
}

/// Revokes a service account's token.
#[utoipa::path(post, path = "/v1/service-accounts/{id}/revoke", tag = "access", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ServiceAccountId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant()?;
    state
        .store
        .reader()
        .await?
        .service_account(tenant, id)
        .await
        .map_err(|e| ApiError::from_store(e, "service account"))?;
    ctx.authorize(&state, Action::Delete, &ResourceRef::tenant_wide(Resource::ServiceAccount, tenant)).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.revoke_service_account(tenant, id, now).await.map_err(|e| ApiError::from_store(e, "active service account"))?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("service_account.revoke").target("service_account", id).origin(ctx.origin(&state)),
        )
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Notifications of the caller's tenant addressed to the caller's roles or to the caller.
#[utoipa::path(get, path = "/v1/notifications", tag = "access", security(("bearer" = [])), responses((status = 200, body = [Notification]), (status = 403, body = Problem)))]
async fn list_notifications(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Notification>>> {
    let tenant = ctx.tenant()?;
    let all = ctx.decide(Action::Read, &ResourceRef::tenant_wide(Resource::Notification, tenant)).is_allowed();
    if !all {
        ctx.authorize(&state, Action::Read, &ResourceRef::owned(Resource::Notification, tenant, ctx.principal)).await?;
    }
    let mine = format!("principal:{}", ctx.principal);
    let roles = ctx.subject.as_ref().map(|s| s.role_names()).unwrap_or_default();
    let list = state.store.reader().await?.notifications(tenant, 500).await?;
    Ok(axum::Json(list.into_iter().filter(|n| n.audience == mine || (all && roles.contains(&n.audience))).collect()))
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

/// "May user X do Y on Z, and why?" (administrators).
#[utoipa::path(post, path = "/v1/access/explain", tag = "access", security(("bearer" = [])), request_body = ExplainRequest,
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn explain(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<ExplainRequest>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let a = r.assignments(tenant, body.user_id).await?;
    r.user(tenant, body.user_id).await.map_err(|e| ApiError::from_store(e, "user"))?;
    let skills: Vec<SkillId> = a.skills.iter().map(|s| s.skill_id).collect();
    ctx.authorize(
        &state,
        Action::Explain,
        &ResourceRef {
            kind: Resource::User,
            tenant,
            owner: Some(PrincipalId::User(body.user_id)),
            teams: &a.teams,
            skills: &skills,
            services: &a.services,
        },
    )
    .await?;
    let subject = load_subject(&mut r, tenant, PrincipalId::User(body.user_id), true).await?;
    let resource = ResourceRef {
        kind: body.resource,
        tenant,
        owner: body.owner.map(PrincipalId::User),
        teams: &body.teams,
        skills: &body.skills,
        services: &body.services,
    };
    let decision: Decision = subject.decide(body.action, &resource);
    let now = state.clock.now();
    state.auditor.record_now(now, &ctx.event("access.explain").target("user", body.user_id).origin(ctx.origin(&state))
        .details(serde_json::json!({ "resource": body.resource, "action": body.action, "allowed": decision.is_allowed() })))
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(serde_json::json!({
        "allowed": decision.is_allowed(),
        "explanation": decision.explain(),
        "decision": decision,
    })))
}
