//! Users: master data (names, login, directory addresses), their teams, skills and services,
//! and an administrator's credential actions on them (reset password, unlock, reset second
//! factor, end sessions). A custodian's credentials are reset only under dual control.
//! Every change to personal data is audited with keyed digests of before and after, never the
//! values.

use callvault_model::access::{Action, Resource};
use callvault_model::personal::Category;
use callvault_model::records::{AddressKind, Assignments, User};
use callvault_model::{Personal, PrincipalId, SecretString, SkillId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{CredentialOwner, DirectoryStore, NewUser, SessionRow, StoreError, TenantStore, UserPatch};
use serde::Deserialize;

use super::{DirectoryError, Outcome, row};
use crate::audit::PersonalDataChange;
use crate::caller::{Ctx, Permit};
use crate::custody::{self, ResetWhat};
use crate::identity;
use crate::input::{self, InputError};
use crate::services::Services;

/// The answer to addresses of a tenant or user whose directory information is switched off.
const NOT_COLLECTED: &str =
    "addresses: directory information is not collected for this tenant or user (GET /v1/personal-data/collection)";

/// The most directory addresses a user or tenant contact has.
pub const MAX_ADDRESSES: usize = 20;
/// The most teams, skills and services a user is assigned to, each.
pub const MAX_ASSIGNMENTS: usize = 200;

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
    /// Validates a list of addresses (at most [`MAX_ADDRESSES`]).
    pub fn validate_all(list: &[AddressInput]) -> Result<Vec<(AddressKind, Personal<String>)>, InputError> {
        if list.len() > MAX_ADDRESSES {
            return Err(InputError::Invalid(format!("at most {MAX_ADDRESSES} addresses")));
        }
        list.iter().map(|a| Ok((a.kind, Personal::new(input::address(a.kind, a.value.expose())?)))).collect()
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

/// The skill ids of assignments, for [`user_ref`].
pub fn skill_ids(a: &Assignments) -> Vec<SkillId> {
    a.skills.iter().map(|s| s.skill_id).collect()
}

/// A keyed digest of a user's personal data, for the audit log.
pub fn personal_digest(state: &Services, user: &User) -> String {
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

/// The user, its assignments and a permit for `action` on it as a resource of `kind`.
async fn allowed(
    state: &Services,
    ctx: &Ctx,
    id: UserId,
    action: Action,
    kind: Resource,
) -> Result<(User, Assignments, Permit), DirectoryError> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let user = r.user(tenant, id).await.map_err(row("user"))?;
    let a = r.assignments(tenant, id).await?;
    drop(r);
    let skills = skill_ids(&a);
    let mut resource = user_ref(tenant, id, &a, &skills);
    resource.kind = kind;
    let permit = ctx.authorize(state, action, &resource).await?;
    Ok((user, a, permit))
}

fn check_assignments(a: &Assignments) -> Result<(), DirectoryError> {
    if a.teams.len() > MAX_ASSIGNMENTS || a.skills.len() > MAX_ASSIGNMENTS || a.services.len() > MAX_ASSIGNMENTS {
        return Err(DirectoryError::Invalid(format!("at most {MAX_ASSIGNMENTS} teams, skills and services each")));
    }
    if a.skills.iter().any(|s| s.level == 0 || s.level > 100) {
        return Err(DirectoryError::Invalid("skill `level` must be between 1 and 100".into()));
    }
    Ok(())
}

/// Users the caller may read.
pub async fn list(state: &Services, ctx: &Ctx) -> Result<Vec<User>, DirectoryError> {
    let tenant = super::units::may_list(state, ctx, Resource::User).await?;
    let mut r = state.store.reader().await?;
    let users = r.users(tenant).await?;
    let assignments = r.all_assignments(tenant).await?;
    let empty = Assignments::default();
    Ok(users
        .into_iter()
        .filter(|u| {
            let a = assignments.get(&u.id).unwrap_or(&empty);
            let skills = skill_ids(a);
            ctx.decide(Action::Read, &user_ref(tenant, u.id, a, &skills)).is_allowed()
        })
        .collect())
}

/// One user.
pub async fn get(state: &Services, ctx: &Ctx, id: UserId) -> Result<User, DirectoryError> {
    Ok(allowed(state, ctx, id, Action::Read, Resource::User).await?.0)
}

/// A user's teams, skills and services.
pub async fn assignments(state: &Services, ctx: &Ctx, id: UserId) -> Result<Assignments, DirectoryError> {
    Ok(allowed(state, ctx, id, Action::Read, Resource::User).await?.1)
}

/// Creates a user: the caller must be allowed to create a user where the assignments put it;
/// the login must differ from every other (look-alikes included); a password must pass the
/// tenant's rules and may not contain the user's names, login, e-mail or the tenant's name.
pub async fn create(state: &Services, ctx: &Ctx, new: CreateUser) -> Result<User, DirectoryError> {
    let tenant = ctx.tenant()?;
    let assignments = new.assignments.clone().unwrap_or_default();
    let id = UserId::new();
    let skills = skill_ids(&assignments);
    let mut resource = user_ref(tenant, id, &assignments, &skills);
    resource.owner = None;
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    let (login, key) = {
        let existing = state.store.reader().await?.users(tenant).await?;
        let may_name = ctx.may_somewhere(Action::Read, Resource::User);
        input::new_login(&new.login, existing.iter().map(|u| u.login.expose().as_str()), may_name)?
    };
    let first = input::person_name("first_name", &new.first_name)?;
    let last = input::person_name("last_name", &new.last_name)?;
    let addresses = AddressInput::validate_all(&new.addresses)?;
    if !addresses.is_empty() && !crate::collection::collected(state, tenant, None, Category::Directory).await? {
        return Err(DirectoryError::Invalid(NOT_COLLECTED.into()));
    }
    check_assignments(&assignments)?;
    let now = state.clock.now();
    let hash = match &new.password {
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
    let record = NewUser {
        id,
        tenant_id: tenant,
        login_key: Personal::new(key.key.clone()),
        login: Personal::new(login),
        first_name: Personal::new(first),
        last_name: Personal::new(last),
        addresses,
        now,
    };
    insert(state, ctx, &permit, &record, hash.as_deref(), &assignments).await
}

async fn insert(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    new: &NewUser,
    hash: Option<&str>,
    assignments: &Assignments,
) -> Result<User, DirectoryError> {
    let (tenant, id, now) = (new.tenant_id, new.id, new.now);
    permit.covers(Action::Create, Resource::User, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.insert_user(new).await.map_err(row("user"))?;
    if let Some(hash) = hash {
        tx.insert_credential(tenant, id, hash, now).await?;
    }
    let owner = CredentialOwner::User(tenant, id);
    tx.record_account_control(owner, Some(ctx.principal), hash.map(|_| ctx.principal)).await?;
    tx.set_assignments(tenant, id, assignments).await.map_err(row("team, skill or service"))?;
    let user = tx.user(tenant, id).await?;
    let event = ctx
        .event("user.create")
        .target("user", id)
        .origin(ctx.origin(state))
        .personal_data(PersonalDataChange { before: None, after: Some(personal_digest(state, &user)) })
        .details(serde_json::json!({ "has_password": hash.is_some() }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes a user's names or addresses.
pub async fn update(state: &Services, ctx: &Ctx, id: UserId, changes: UpdateUser) -> Result<User, DirectoryError> {
    let (before, _, permit) = allowed(state, ctx, id, Action::Update, Resource::User).await?;
    let name = |field, v: Option<&str>| v.map(|n| input::person_name(field, n).map(Personal::new)).transpose();
    let patch = UserPatch {
        first_name: name("first_name", changes.first_name.as_deref())?,
        last_name: name("last_name", changes.last_name.as_deref())?,
        addresses: changes.addresses.as_deref().map(AddressInput::validate_all).transpose()?,
    };
    let tenant = permit.tenant();
    if patch.addresses.as_ref().is_some_and(|a| !a.is_empty())
        && !crate::collection::collected(state, tenant, Some(id), Category::Directory).await?
    {
        return Err(DirectoryError::Invalid(NOT_COLLECTED.into()));
    }
    permit.covers(Action::Update, Resource::User, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.update_user(tenant, id, &patch, now).await.map_err(row("user"))?;
    let after = tx.user(tenant, id).await?;
    let event =
        ctx.event("user.update").target("user", id).origin(ctx.origin(state)).personal_data(PersonalDataChange {
            before: Some(personal_digest(state, &before)),
            after: Some(personal_digest(state, &after)),
        });
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a user and all its master-data relations at once, keeping only a name tombstone until
/// no stored content names the user any more. The last administrator of a tenant cannot be
/// deleted.
pub async fn delete(state: &Services, ctx: &Ctx, id: UserId) -> Result<(), DirectoryError> {
    let (before, _, permit) = allowed(state, ctx, id, Action::Delete, Resource::User).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Delete, Resource::User, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if identity::is_last_admin(&mut tx, tenant, id).await? {
        return Err(DirectoryError::LastAdministrator("deleted"));
    }
    tx.delete_user(tenant, id).await.map_err(row("user"))?;
    // Only the name stays, while stored content names the user as an agent (the purge removes it).
    tx.insert_user_tombstone(tenant, id, before.first_name.expose(), before.last_name.expose(), now).await?;
    let event = ctx
        .event("user.delete")
        .target("user", id)
        .origin(ctx.origin(state))
        .personal_data(PersonalDataChange { before: Some(personal_digest(state, &before)), after: None });
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces a user's teams, skills and services. The caller must be allowed to update the user
/// both where it is now and where it goes. `document` is the whole new document (a PUT).
pub async fn set_assignments(
    state: &Services,
    ctx: &Ctx,
    id: UserId,
    document: serde_json::Value,
) -> Result<Assignments, DirectoryError> {
    let (_, old, permit) = allowed(state, ctx, id, Action::Update, Resource::User).await?;
    let new: Assignments = input::full_document(document, &[])?;
    let tenant = permit.tenant();
    check_assignments(&new)?;
    let skills = skill_ids(&new);
    let mut target = user_ref(tenant, id, &new, &skills);
    target.owner = None;
    let to = ctx.authorize(state, Action::Update, &target).await?;
    permit.covers(Action::Update, Resource::User, tenant)?;
    to.covers(Action::Update, Resource::User, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_assignments(tenant, id, &new).await.map_err(row("team, skill or service"))?;
    let event = ctx
        .event("user.assignments")
        .target("user", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "before": old, "after": new }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(new)
}

/// Sets a user's password (administrators) and ends all the user's sessions. A custodian's
/// password is reset only under dual control: the result is a proposed ceremony, and on approval
/// a temporary password is shown once to the approver (`password` is not used).
pub async fn reset_password(
    state: &Services,
    ctx: &Ctx,
    id: UserId,
    password: &SecretString,
) -> Result<Outcome<()>, DirectoryError> {
    let (_, _, permit) = allowed(state, ctx, id, Action::Update, Resource::UserCredential).await?;
    if ctx.principal == PrincipalId::User(id) {
        return Err(DirectoryError::NotOnYourself("change your own password with POST /v1/auth/password"));
    }
    let tenant = permit.tenant();
    if custody::is_custodian(&mut state.store.reader().await?, tenant, id).await? {
        let subject = custody::Subject::Reset { user_id: id, what: ResetWhat::Password };
        return Ok(Outcome::Proposed(Box::new(custody::propose(state, ctx, PrincipalId::User(id), subject).await?)));
    }
    let mut tx = state.store.begin().await?;
    let rules = identity::password_rules(&mut tx, Some(tenant)).await?;
    let context = identity::password_context(&mut tx, PrincipalId::User(id), Some(tenant)).await?;
    tx.rollback().await?;
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    let hash = identity::new_password_hash(password, &rules, &words).await?;
    permit.covers(Action::Update, Resource::UserCredential, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let owner = CredentialOwner::User(tenant, id);
    match tx.set_password(owner, &hash, now).await {
        Err(StoreError::NotFound) => tx.insert_credential(tenant, id, &hash, now).await?,
        other => other?,
    }
    tx.record_account_control(owner, None, Some(ctx.principal)).await?;
    let revoked = tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    let event = ctx
        .event("user.password_reset")
        .target("user", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "sessions_revoked": revoked }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(Outcome::Done(()))
}

/// Unlocks a user locked by failed logins (administrators, security officers).
pub async fn unlock(state: &Services, ctx: &Ctx, id: UserId) -> Result<(), DirectoryError> {
    let (_, _, permit) = allowed(state, ctx, id, Action::Unlock, Resource::UserCredential).await?;
    let tenant = permit.tenant();
    permit.covers(Action::Unlock, Resource::UserCredential, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_login_state(CredentialOwner::User(tenant, id), 0, None, None).await.map_err(row("credential"))?;
    state.auditor.record(&mut tx, now, &ctx.event("user.unlock").target("user", id).origin(ctx.origin(state))).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a user's second factor and recovery codes so it can enrol again (lost device), and
/// ends its sessions. A custodian's second factor is reset only under dual control.
pub async fn reset_totp(state: &Services, ctx: &Ctx, id: UserId) -> Result<Outcome<()>, DirectoryError> {
    let (_, _, permit) = allowed(state, ctx, id, Action::Unlock, Resource::UserCredential).await?;
    if ctx.principal == PrincipalId::User(id) {
        return Err(DirectoryError::NotOnYourself("another administrator must reset your second factor"));
    }
    let tenant = permit.tenant();
    if custody::is_custodian(&mut state.store.reader().await?, tenant, id).await? {
        let subject = custody::Subject::Reset { user_id: id, what: ResetWhat::Totp };
        return Ok(Outcome::Proposed(Box::new(custody::propose(state, ctx, PrincipalId::User(id), subject).await?)));
    }
    permit.covers(Action::Unlock, Resource::UserCredential, tenant)?;
    let now = state.clock.now();
    let owner = CredentialOwner::User(tenant, id);
    let mut tx = state.store.begin().await?;
    tx.set_totp(owner, None, false).await.map_err(row("credential"))?;
    tx.replace_recovery_codes(tenant, id, &[]).await?;
    tx.record_account_control(owner, None, Some(ctx.principal)).await?;
    tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    let event = ctx.event("user.totp_reset").target("user", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(Outcome::Done(()))
}

/// A user's sessions (security officers, administrators: users in their scope).
pub async fn sessions(state: &Services, ctx: &Ctx, id: UserId) -> Result<Vec<SessionRow>, DirectoryError> {
    allowed(state, ctx, id, Action::Read, Resource::Session).await?;
    Ok(state.store.reader().await?.sessions_of(PrincipalId::User(id)).await?)
}

/// Ends every session of a user; returns how many ended.
pub async fn end_sessions(state: &Services, ctx: &Ctx, id: UserId) -> Result<u64, DirectoryError> {
    let (_, _, permit) = allowed(state, ctx, id, Action::Delete, Resource::Session).await?;
    permit.covers(Action::Delete, Resource::Session, permit.tenant())?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let revoked = tx.revoke_sessions_of(PrincipalId::User(id), None, now.millis()).await?;
    let event = ctx
        .event("session.revoke_user")
        .target("user", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "revoked": revoked }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(revoked)
}
