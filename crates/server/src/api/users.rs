//! Users: master data, directory addresses, assignments, and the administrator's credential
//! actions (reset password, unlock, reset second factor).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use callvault_model::access::{Action, Resource};
use callvault_model::records::{AddressKind, Assignments, User};
use callvault_model::vault::Ceremony;
use callvault_model::{Personal, PrincipalId, SecretString, SkillId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{CredentialOwner, DirectoryStore, NewUser, TenantStore, UserPatch};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use callvault_core::audit::PersonalDataChange;
use callvault_core::identity;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(get_assignments, set_assignments))
        .routes(routes!(reset_password))
        .routes(routes!(unlock_user))
        .routes(routes!(reset_totp))
        .routes(routes!(user_sessions, end_user_sessions))
}

/// An address in a request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Kind.
    pub kind: AddressKind,
    /// Value.
    #[schema(value_type = String)]
    pub value: Personal<String>,
}

impl AddressInput {
    /// Validates a list of addresses (at most 20).
    pub fn validate_all(list: &[AddressInput]) -> ApiResult<Vec<(AddressKind, Personal<String>)>> {
        if list.len() > 20 {
            return Err(ApiError::invalid("at most 20 addresses"));
        }
        list.iter().map(|a| Ok((a.kind, Personal::new(validate::address(a.kind, a.value.expose())?)))).collect()
    }
}

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login id, unique in the tenant.
    pub login: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Directory addresses.
    #[serde(default)]
    pub addresses: Vec<AddressInput>,
    /// Initial password; without one the user cannot log in (directory entry only).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Teams, skills and services.
    #[serde(default)]
    pub assignments: Option<Assignments>,
}

/// Attributes of a user for the access engine.
pub fn user_ref<'a>(tenant: TenantId, id: UserId, a: &'a Assignments, skills: &'a [SkillId]) -> ResourceRef<'a> {
    ResourceRef {
        kind: Resource::User,
        tenant,
        owner: Some(PrincipalId::User(id)),
        teams: &a.teams,
        skills,
        services: &a.services,
    }
}

fn skill_ids(a: &Assignments) -> Vec<SkillId> {
    a.skills.iter().map(|s| s.skill_id).collect()
}

/// A keyed digest of a user's personal data, for the audit log.
pub fn personal_digest(state: &AppState, user: &User) -> String {
    let mut canonical =
        format!("{}\u{0}{}\u{0}{}", user.login.expose(), user.first_name.expose(), user.last_name.expose());
    for a in &user.addresses {
        canonical.push('\u{0}');
        canonical.push_str(a.kind.as_str());
        canonical.push(':');
        canonical.push_str(a.value.expose());
    }
    state.auditor.pseudonym(canonical.as_bytes())
}

async fn load_user_for(
    state: &AppState,
    ctx: &Ctx,
    id: UserId,
    action: Action,
    kind: Resource,
) -> ApiResult<(User, Assignments)> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let user = r.user(tenant, id).await.map_err(|e| ApiError::from_store(e, "user"))?;
    let a = r.assignments(tenant, id).await?;
    drop(r);
    let skills = skill_ids(&a);
    let mut resource = user_ref(tenant, id, &a, &skills);
    resource.kind = kind;
    ctx.authorize(state, action, &resource).await?;
    Ok((user, a))
}

/// Users the caller may read.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), responses((status = 200, body = [User]), (status = 403, body = Problem)))]
async fn list_users(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<User>>> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, Resource::User) {
        ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::User, tenant)).await?;
    }
    let mut r = state.store.reader().await?;
    let users = r.users(tenant).await?;
    let assignments = r.all_assignments(tenant).await?;
    let empty = Assignments::default();
    let visible = users
        .into_iter()
        .filter(|u| {
            let a = assignments.get(&u.id).unwrap_or(&empty);
            let skills = skill_ids(a);
            ctx.decide(Action::Read, &user_ref(tenant, u.id, a, &skills)).is_allowed()
        })
        .collect();
    Ok(axum::Json(visible))
}

/// Creates a user.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let tenant = ctx.tenant()?;
    let assignments = body.assignments.clone().unwrap_or_default();
    let id = UserId::new();
    let skills = skill_ids(&assignments);
    let mut resource = user_ref(tenant, id, &assignments, &skills);
    resource.owner = None;
    ctx.authorize(&state, Action::Create, &resource).await?;
    let (login, key) = {
        let existing = state.store.reader().await?.users(tenant).await?;
        let may_name = ctx.may_somewhere(Action::Read, Resource::User);
        validate::new_login(&body.login, existing.iter().map(|u| u.login.expose().as_str()), may_name)?
    };
    let first = validate::person_name("first_name", &body.first_name)?;
    let last = validate::person_name("last_name", &body.last_name)?;
    let addresses = AddressInput::validate_all(&body.addresses)?;
    validate_assignments(&assignments)?;
    let now = state.clock.now();
    let hash = match &body.password {
        Some(pw) => {
            let mut tx = state.store.begin().await?;
            let rules = identity::password_rules(&mut tx, Some(tenant)).await?;
            let org = tx.tenant(tenant).await?;
            tx.rollback().await?;
            let mut words = vec![login.clone(), first.clone(), last.clone(), org.slug, org.display_name];
            words.extend(addresses.iter().filter(|(k, _)| *k == AddressKind::Email).map(|(_, v)| v.expose().clone()));
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            Some(identity::new_password_hash(pw, &rules, &words).await?)
        }
        None => None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_user(&NewUser {
        id,
        tenant_id: tenant,
        login_key: Personal::new(key.key.clone()),
        login: Personal::new(login),
        first_name: Personal::new(first),
        last_name: Personal::new(last),
        addresses,
        now,
    })
    .await
    .map_err(|e| ApiError::from_store(e, "user"))?;
    if let Some(hash) = &hash {
        tx.insert_credential(tenant, id, hash, now).await?;
    }
    let owner = CredentialOwner::User(tenant, id);
    tx.record_account_control(owner, Some(ctx.principal), hash.as_ref().map(|_| ctx.principal)).await?;
    tx.set_assignments(tenant, id, &assignments)
        .await
        .map_err(|e| ApiError::from_store(e, "team, skill or service"))?;
    let user = tx.user(tenant, id).await?;
    let event = ctx
        .event("user.create")
        .target("user", id)
        .origin(ctx.origin(&state))
        .personal_data(PersonalDataChange { before: None, after: Some(personal_digest(&state, &user)) })
        .details(serde_json::json!({ "has_password": hash.is_some() }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

fn validate_assignments(a: &Assignments) -> ApiResult<()> {
    if a.teams.len() > 200 || a.skills.len() > 200 || a.services.len() > 200 {
        return Err(ApiError::invalid("at most 200 teams, skills and services each"));
    }
    if a.skills.iter().any(|s| s.level == 0 || s.level > 100) {
        return Err(ApiError::invalid("skill `level` must be between 1 and 100"));
    }
    Ok(())
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<axum::Json<User>> {
    let (user, _) = load_user_for(&state, &ctx, id, Action::Read, Resource::User).await?;
    Ok(axum::Json(user))
}

/// Changes to a user's master data.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// New addresses, replacing all.
    #[serde(default)]
    pub addresses: Option<Vec<AddressInput>>,
}

/// Changes a user's names or addresses.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<axum::Json<User>> {
    let (before, _) = load_user_for(&state, &ctx, id, Action::Update, Resource::User).await?;
    let tenant = ctx.tenant()?;
    let patch = UserPatch {
        first_name: body
            .first_name
            .as_deref()
            .map(|n| validate::person_name("first_name", n).map(Personal::new))
            .transpose()?,
        last_name: body
            .last_name
            .as_deref()
            .map(|n| validate::person_name("last_name", n).map(Personal::new))
            .transpose()?,
        addresses: body.addresses.as_deref().map(AddressInput::validate_all).transpose()?,
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.update_user(tenant, id, &patch, now).await.map_err(|e| ApiError::from_store(e, "user"))?;
    let after = tx.user(tenant, id).await?;
    let event =
        ctx.event("user.update").target("user", id).origin(ctx.origin(&state)).personal_data(PersonalDataChange {
            before: Some(personal_digest(&state, &before)),
            after: Some(personal_digest(&state, &after)),
        });
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}

/// Deletes a user and all its master-data relations at once. The last administrator of a
/// tenant cannot be deleted.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<StatusCode> {
    let (before, _) = load_user_for(&state, &ctx, id, Action::Delete, Resource::User).await?;
    let tenant = ctx.tenant()?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if identity::is_last_admin(&mut tx, tenant, id).await? {
        return Err(ApiError::conflict(
            "the last administrator of a tenant cannot be deleted; make another user administrator first",
        ));
    }
    tx.delete_user(tenant, id).await.map_err(|e| ApiError::from_store(e, "user"))?;
    let event = ctx
        .event("user.delete")
        .target("user", id)
        .origin(ctx.origin(&state))
        .personal_data(PersonalDataChange { before: Some(personal_digest(&state, &before)), after: None });
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's teams, skills and services.
#[utoipa::path(get, path = "/v1/users/{id}/assignments", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Assignments), (status = 404, body = Problem)))]
async fn get_assignments(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<Assignments>> {
    let (_, a) = load_user_for(&state, &ctx, id, Action::Read, Resource::User).await?;
    Ok(axum::Json(a))
}

/// Replaces a user's teams, skills and services. The caller must be allowed to update the user
/// both where it is now and where it goes.
#[utoipa::path(put, path = "/v1/users/{id}/assignments", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = Assignments,
    responses((status = 200, body = Assignments), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_assignments(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Assignments>> {
    let (_, old) = load_user_for(&state, &ctx, id, Action::Update, Resource::User).await?;
    let body: Assignments = super::validate::full_document(body, &[])?;
    let tenant = ctx.tenant()?;
    validate_assignments(&body)?;
    let skills = skill_ids(&body);
    let mut target = user_ref(tenant, id, &body, &skills);
    target.owner = None;
    ctx.authorize(&state, Action::Update, &target).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_assignments(tenant, id, &body).await.map_err(|e| ApiError::from_store(e, "team, skill or service"))?;
    let event = ctx
        .event("user.assignments")
        .target("user", id)
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "before": old, "after": body }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(body))
}

/// A password set by an administrator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password.
    pub password: SecretString,
}

/// Sets a user's password (administrators); ends all the user's sessions. A custodian's
/// password is reset only under dual control: the answer is 202 with a ceremony, and on approval
/// a temporary password is shown once to the approver (the body's password is not used).
#[utoipa::path(put, path = "/v1/users/{id}/password", tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = ResetPassword,
    responses((status = 204), (status = 202, body = Ceremony), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
    Json(body): Json<ResetPassword>,
) -> ApiResult<axum::response::Response> {
    let (user, _) = load_user_for(&state, &ctx, id, Action::Update, Resource::UserCredential).await?;
    if ctx.principal == PrincipalId::User(id) {
        return Err(ApiError::invalid("change your own password with POST /v1/auth/password"));
    }
    let tenant = ctx.tenant()?;
    if callvault_core::custody::is_custodian(&mut state.store.reader().await?, tenant, id).await? {
        let subject =
            callvault_core::custody::Subject::Reset { user_id: id, what: callvault_core::custody::ResetWhat::Password };
        let c = callvault_core::custody::propose(&state, &ctx, PrincipalId::User(id), subject).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(c)).into_response());
    }
    let mut tx = state.store.begin().await?;
    let rules = identity::password_rules(&mut tx, Some(tenant)).await?;
    let context = identity::password_context(&mut tx, PrincipalId::User(id), Some(tenant)).await?;
    tx.rollback().await?;
    let _ = user;
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    let hash = identity::new_password_hash(&body.password, &rules, &words).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let owner = CredentialOwner::User(tenant, id);
    match tx.set_password(owner, &hash, now).await {
        Err(callvault_store::StoreError::NotFound) => tx.insert_credential(tenant, id, &hash, now).await?,
        other => other?,
    }
    tx.record_account_control(owner, None, Some(ctx.principal)).await?;
    let revoked = tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("user.password_reset")
                .target("user", id)
                .origin(ctx.origin(&state))
                .details(serde_json::json!({ "sessions_revoked": revoked })),
        )
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Unlocks a user locked by failed logins (administrators, security officers).
#[utoipa::path(post, path = "/v1/users/{id}/unlock", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unlock_user(State(state): State<AppState>, ctx: Ctx, Path(id): Path<UserId>) -> ApiResult<StatusCode> {
    load_user_for(&state, &ctx, id, Action::Unlock, Resource::UserCredential).await?;
    let tenant = ctx.tenant()?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_login_state(CredentialOwner::User(tenant, id), 0, None, None)
        .await
        .map_err(|e| ApiError::from_store(e, "credential"))?;
    state.auditor.record(&mut tx, now, &ctx.event("user.unlock").target("user", id).origin(ctx.origin(&state))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's second factor so it can enrol again (lost device). A custodian's second
/// factor is reset only under dual control: the answer is 202 with a ceremony.
#[utoipa::path(delete, path = "/v1/users/{id}/totp", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 202, body = Ceremony), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn reset_totp(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::response::Response> {
    load_user_for(&state, &ctx, id, Action::Unlock, Resource::UserCredential).await?;
    if ctx.principal == PrincipalId::User(id) {
        return Err(ApiError::invalid("another administrator must reset your second factor"));
    }
    let tenant = ctx.tenant()?;
    if callvault_core::custody::is_custodian(&mut state.store.reader().await?, tenant, id).await? {
        let subject =
            callvault_core::custody::Subject::Reset { user_id: id, what: callvault_core::custody::ResetWhat::Totp };
        let c = callvault_core::custody::propose(&state, &ctx, PrincipalId::User(id), subject).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(c)).into_response());
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_totp(CredentialOwner::User(tenant, id), None, false)
        .await
        .map_err(|e| ApiError::from_store(e, "credential"))?;
    tx.replace_recovery_codes(tenant, id, &[]).await?;
    tx.record_account_control(CredentialOwner::User(tenant, id), None, Some(ctx.principal)).await?;
    tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("user.totp_reset").target("user", id).origin(ctx.origin(&state)))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A user's sessions (security officers, administrators: users in their scope).
#[utoipa::path(get, path = "/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [super::auth::SessionView]), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn user_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<Vec<super::auth::SessionView>>> {
    load_user_for(&state, &ctx, id, Action::Read, Resource::Session).await?;
    let sessions = state.store.reader().await?.sessions_of(PrincipalId::User(id)).await?;
    Ok(axum::Json(super::auth::session_views(sessions, ctx.session, state.clock.now().millis())))
}

/// Ends every session of a user (security officers, administrators: users in their scope).
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = super::auth::Revoked), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn end_user_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<super::auth::Revoked>> {
    load_user_for(&state, &ctx, id, Action::Delete, Resource::Session).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let revoked = tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    let event = ctx
        .event("session.revoke_user")
        .target("user", id)
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "revoked": revoked }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(super::auth::Revoked { revoked }))
}
