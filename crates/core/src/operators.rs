//! Provider operators: the people who run the platform and are the custodians of the KEK (a KEK
//! backup is a dual-control ceremony of two operators). A new operator approves nothing until
//! a second approving operator has approved its appointment.

use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::Ceremony;
use callvault_model::{OperatorId, PrincipalId, SecretString};
use callvault_store::CredentialOwner;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};

use crate::caller::Ctx;
use crate::custody;
use crate::identity;
use crate::input;
use crate::services::Services;
use crate::tenants::{TenantError, provider_level, row};

/// A provider operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorView {
    /// Identifier.
    pub id: OperatorId,
    /// Login.
    pub login: String,
    /// Created.
    pub created_at: Timestamp,
}

/// A new operator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperator {
    /// Login.
    pub login: String,
    /// Initial password (NIST 800-63B rules); TOTP enrolment follows at first login.
    pub password: SecretString,
}

/// Every provider operator.
pub async fn list(state: &Services, ctx: &Ctx) -> Result<Vec<OperatorView>, TenantError> {
    provider_level(state, ctx, Action::Read, Resource::Operator).await?;
    let ops = state.store.reader().await?.operators().await?;
    Ok(ops.into_iter().map(|(id, login, created_at)| OperatorView { id, login, created_at }).collect())
}

/// Creates a provider operator.
pub async fn create(state: &Services, ctx: &Ctx, new: CreateOperator) -> Result<OperatorView, TenantError> {
    let permit = provider_level(state, ctx, Action::Create, Resource::Operator).await?;
    let existing = state.store.reader().await?.operators().await?;
    let (login, _) = input::new_login(&new.login, existing.iter().map(|(_, l, _)| l.as_str()), true)?;
    let hash = identity::new_password_hash(&new.password, &Default::default(), &[&login]).await?;
    permit.covers(Action::Create, Resource::Operator, permit.tenant())?;
    let id = OperatorId::new();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.insert_operator(id, &login, &hash, now).await.map_err(row("operator"))?;
    tx.record_account_control(CredentialOwner::Operator(id), Some(ctx.principal), Some(ctx.principal)).await?;
    let event = ctx.event("operator.create").target("operator", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(OperatorView { id, login, created_at: now })
}

/// Proposes adding an operator to the approvers of provider ceremonies (KEK backups, tenants'
/// first custodians); a second approving operator approves the ceremony.
pub async fn propose_approver(state: &Services, ctx: &Ctx, id: OperatorId) -> Result<Ceremony, TenantError> {
    provider_level(state, ctx, Action::Create, Resource::Operator).await?;
    let PrincipalId::Operator(me) = ctx.principal else {
        return Err(TenantError::NotAnOperator);
    };
    custody::operator_may_approve(state, me).await?;
    let mut r = state.store.reader().await?;
    if !r.operators().await?.iter().any(|(o, _, _)| *o == id) {
        return Err(TenantError::Row { what: "operator", error: callvault_store::StoreError::NotFound });
    }
    if r.operator_may_approve(id).await? {
        return Err(TenantError::AlreadyApprover);
    }
    drop(r);
    let subject = custody::Subject::Operator { operator_id: id };
    Ok(custody::propose(state, ctx, PrincipalId::Operator(id), subject).await?)
}
