//! What callers do with their own account: log out, change the password, confirm an e-mail
//! address for sign-in codes, list and end sessions. Ending another user's session needs the
//! access engine's consent for that user (security officers, administrators in scope).
//!
//! Self-service writes are bounded by the caller itself (the session, the principal of the
//! [`Ctx`]); tenant users still pass the access check for their own credential or session.

use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::{PrincipalId, SecretString, SessionId, SkillId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, SessionRow, StoreError};
use serde::Serialize;

use super::IdentityError;
use crate::caller::Ctx;
use crate::services::Services;

/// A session as listed to its owner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Id.
    pub id: SessionId,
    /// Created.
    pub created_at: Timestamp,
    /// Last used.
    pub last_seen_at: Timestamp,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Whether it is the session of this request.
    pub current: bool,
    /// Whether it can still be used.
    pub active: bool,
}

/// Views of stored sessions at `now`; `current` marks the caller's own.
pub fn session_views(sessions: Vec<SessionRow>, current: Option<SessionId>, now: i64) -> Vec<SessionView> {
    sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            created_at: Timestamp(s.created_at),
            last_seen_at: Timestamp(s.last_seen_at),
            expires_at: Timestamp(s.expires_at),
            current: Some(s.id) == current,
            active: s.revoked_at.is_none() && now < s.expires_at && now - s.last_seen_at < s.idle_timeout_ms,
        })
        .collect()
}

/// Ends the caller's session.
pub async fn logout(state: &Services, ctx: &Ctx) -> Result<(), IdentityError> {
    let session = ctx.session.ok_or(IdentityError::NotASession)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.revoke_session(ctx.principal, session, now.millis()).await?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("auth.logout").target("session", session).origin(ctx.origin(state)))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's own password after re-authentication and ends all its other sessions.
pub async fn change_password(
    state: &Services,
    ctx: &Ctx,
    current: &SecretString,
    new: &SecretString,
) -> Result<(), IdentityError> {
    let owner = super::credential_owner(ctx.principal, ctx.tenant)?;
    if let PrincipalId::User(_) = ctx.principal {
        let tenant = ctx.tenant()?;
        ctx.authorize(state, Action::Update, &ResourceRef::owned(Resource::UserCredential, tenant, ctx.principal))
            .await?;
    }
    super::verify_current_password(state, ctx.principal, ctx.tenant, current).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let rules = super::password_rules(&mut tx, ctx.tenant).await?;
    let context = super::password_context(&mut tx, ctx.principal, ctx.tenant).await?;
    tx.rollback().await?;
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    let hash = super::new_password_hash(new, &rules, &words).await?;
    let mut tx = state.store.begin().await?;
    tx.set_password(owner, &hash, now).await?;
    tx.record_account_control(owner, None, Some(ctx.principal)).await?;
    let revoked = tx.revoke_sessions_of(ctx.principal, ctx.session, now.millis()).await?;
    let event = ctx
        .event("auth.password_changed")
        .target("principal", ctx.principal)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "other_sessions_revoked": revoked }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// The caller as a tenant user allowed to change its own credential.
async fn own_credential(state: &Services, ctx: &Ctx) -> Result<(TenantId, UserId), IdentityError> {
    let tenant = ctx.tenant()?;
    let user = ctx.user()?;
    ctx.authorize(state, Action::Update, &ResourceRef::owned(Resource::UserCredential, tenant, ctx.principal)).await?;
    Ok((tenant, user))
}

/// Sends a code to one of the caller's e-mail addresses in the directory.
pub async fn confirm_own_email(state: &Services, ctx: &Ctx, address: &str) -> Result<(), IdentityError> {
    let (tenant, user) = own_credential(state, ctx).await?;
    super::begin_email_confirmation(state, tenant, user, address).await
}

/// Confirms the address with the code it received; it then receives sign-in codes.
pub async fn verify_own_email(state: &Services, ctx: &Ctx, code: &SecretString) -> Result<(), IdentityError> {
    let (tenant, user) = own_credential(state, ctx).await?;
    super::finish_email_confirmation(state, tenant, user, code).await
}

/// The caller's sessions.
pub async fn own_sessions(state: &Services, ctx: &Ctx) -> Result<Vec<SessionView>, IdentityError> {
    if let Some(tenant) = ctx.tenant {
        ctx.authorize(state, Action::Read, &ResourceRef::owned(Resource::Session, tenant, ctx.principal)).await?;
    }
    let sessions = state.store.reader().await?.sessions_of(ctx.principal).await?;
    Ok(session_views(sessions, ctx.session, state.clock.now().millis()))
}

/// Revokes a session: one of the caller's, or (security officers, administrators) one of another
/// user's in the caller's scope. Sessions of other tenants, revoked ones, and (for operators)
/// other operators' are "no such session".
pub async fn revoke_session(state: &Services, ctx: &Ctx, id: SessionId) -> Result<(), IdentityError> {
    let session = state.store.reader().await?.session_by_id(id).await.map_err(|e| match e {
        StoreError::NotFound => IdentityError::NoSuchSession,
        e => IdentityError::Store(e),
    })?;
    if session.tenant_id != ctx.tenant || session.revoked_at.is_some() {
        return Err(IdentityError::NoSuchSession);
    }
    let owner = session.principal;
    if let Some(tenant) = ctx.tenant {
        let a = match owner {
            PrincipalId::User(u) => state.store.reader().await?.assignments(tenant, u).await?,
            _ => Default::default(),
        };
        let skills: Vec<SkillId> = a.skills.iter().map(|s| s.skill_id).collect();
        let resource = ResourceRef {
            kind: Resource::Session,
            tenant,
            owner: Some(owner),
            teams: &a.teams,
            skills: &skills,
            services: &a.services,
        };
        let permit = ctx.authorize(state, Action::Delete, &resource).await?;
        permit.covers(Action::Delete, Resource::Session, tenant)?;
    } else if owner != ctx.principal {
        return Err(IdentityError::NoSuchSession);
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.revoke_session(owner, id, now.millis()).await.map_err(|e| match e {
        StoreError::NotFound => IdentityError::NoSuchSession,
        e => IdentityError::Store(e),
    })?;
    state
        .auditor
        .record(&mut tx, now, &ctx.event("session.revoke").target("session", id).origin(ctx.origin(state)))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every other session of the caller ("log out other sessions"); returns how many ended.
pub async fn revoke_other_sessions(state: &Services, ctx: &Ctx) -> Result<u64, IdentityError> {
    if let Some(tenant) = ctx.tenant {
        ctx.authorize(state, Action::Delete, &ResourceRef::owned(Resource::Session, tenant, ctx.principal)).await?;
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let revoked = tx.revoke_sessions_of(ctx.principal, ctx.session, now.millis()).await?;
    let event =
        ctx.event("session.revoke_others").origin(ctx.origin(state)).details(serde_json::json!({"revoked": revoked}));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(revoked)
}
