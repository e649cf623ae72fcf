//! Tenants (contact centers) as the provider sees them: created with their default roles and
//! first administrator, renamed, capabilities switched (provider operators only; they see
//! tenants, not their data); and a tenant's own settings (password, session and alert rules).

use callvault_model::access::{Action, DefaultRole, Resource, Scope};
use callvault_model::records::{Capabilities, Grant, Grantee, Role, Tenant, TenantSettings, Timestamp};
use callvault_model::{GrantId, Personal, RoleId, SecretString, TenantId, UserId};
use callvault_policy::access::{ResourceRef, default_role_privileges};
use callvault_store::prelude::*;
use callvault_store::{CredentialOwner, DirectoryStore, NewUser, StoreError, TenantStore, Tx};
use serde::Deserialize;

use crate::audit::{AppendError, AuditEvent};
use crate::caller::{AccessError, Ctx, Permit};
use crate::custody::CustodyError;
use crate::directory::users::AddressInput;
use crate::identity::{self, IdentityError};
use crate::input::{self, InputError};
use crate::services::Services;

/// Why a tenant, its settings or an operator were not changed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A name, slug, login or document is not acceptable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
    /// No such tenant or operator, or a duplicate.
    #[error("{what}: {error}")]
    Row {
        /// What kind of object.
        what: &'static str,
        /// What the store said.
        error: StoreError,
    },
    /// Only provider operators appoint operators.
    #[error("only provider operators appoint operators")]
    NotAnOperator,
    /// The operator may already approve provider ceremonies.
    #[error("this operator may already approve")]
    AlreadyApprover,
    /// Dual control refused.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// The password is not acceptable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a store error on a `what`: missing rows and duplicates name the object.
pub(crate) fn row(what: &'static str) -> impl FnOnce(StoreError) -> TenantError {
    move |error| match error {
        StoreError::NotFound | StoreError::Conflict(_) => TenantError::Row { what, error },
        other => TenantError::Store(other),
    }
}

/// The first administrator of a new tenant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstAdministrator {
    /// Login id.
    pub login: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Initial password.
    pub password: SecretString,
    /// Addresses.
    #[serde(default)]
    pub addresses: Vec<AddressInput>,
}

/// A new tenant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Login slug, e.g. `acme`.
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// Capabilities to switch on.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The tenant's first administrator.
    pub administrator: FirstAdministrator,
}

/// Changes to a tenant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New capabilities (all three flags).
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// A permit for a provider-level `kind` (tenants, operators). Operators pass the engine's
/// operator rules; a tenant principal asking is denied (and audited), because these objects
/// belong to no tenant.
pub(crate) async fn provider_level(
    state: &Services,
    ctx: &Ctx,
    action: Action,
    kind: Resource,
) -> Result<Permit, AccessError> {
    ctx.authorize(state, action, &ResourceRef::tenant_wide(kind, PROVIDER)).await
}

/// The tenant id provider-level objects are checked under.
const PROVIDER: TenantId = TenantId(uuid::Uuid::nil());

/// Every tenant (provider operators).
pub async fn list(state: &Services, ctx: &Ctx) -> Result<Vec<Tenant>, TenantError> {
    provider_level(state, ctx, Action::Read, Resource::Tenant).await?;
    Ok(state.store.reader().await?.tenants().await?)
}

/// Every tenant with whether encryption at rest is active (new content sealed), for the
/// provider's view; the keys themselves stay with each tenant's custodians.
pub async fn list_with_encryption(state: &Services, ctx: &Ctx) -> Result<Vec<(Tenant, bool)>, TenantError> {
    provider_level(state, ctx, Action::Read, Resource::Tenant).await?;
    let mut r = state.store.reader().await?;
    let tenants = r.tenants().await?;
    let mut out = Vec::with_capacity(tenants.len());
    for t in tenants {
        let active = r.encryption(t.id).await?.is_some_and(|(s, _)| s.encrypt_new);
        out.push((t, active));
    }
    Ok(out)
}

/// One tenant (provider operators).
pub async fn get(state: &Services, ctx: &Ctx, id: TenantId) -> Result<Tenant, TenantError> {
    provider_level(state, ctx, Action::Read, Resource::Tenant).await?;
    state.store.reader().await?.tenant(id).await.map_err(row("tenant"))
}

/// Creates a tenant with its default roles and first administrator (provider operators).
pub async fn create(state: &Services, ctx: &Ctx, new: CreateTenant) -> Result<Tenant, TenantError> {
    let permit = provider_level(state, ctx, Action::Create, Resource::Tenant).await?;
    let now = state.clock.now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug: input::slug(&new.slug)?,
        display_name: input::name("display_name", &new.display_name)?,
        capabilities: new.capabilities,
        settings: TenantSettings::default(),
        created_at: now,
    };
    let admin = &new.administrator;
    let (login, _) = input::login(&admin.login)?;
    let first = input::person_name("first_name", &admin.first_name)?;
    let last = input::person_name("last_name", &admin.last_name)?;
    let addresses = AddressInput::validate_all(&admin.addresses)?;
    let hash =
        identity::new_password_hash(&admin.password, &Default::default(), &[&login, &first, &last, &tenant.slug])
            .await?;
    permit.covers(Action::Create, Resource::Tenant, PROVIDER)?;
    let mut tx = state.store.begin().await?;
    tx.insert_tenant(&tenant).await.map_err(row("tenant"))?;
    let admin_role = seed_default_roles(&mut tx, tenant.id, now).await?;
    let user = UserId::new();
    tx.insert_user(&NewUser {
        id: user,
        tenant_id: tenant.id,
        login_key: Personal::new(identity::login_key(&login)),
        login: Personal::new(login),
        first_name: Personal::new(first),
        last_name: Personal::new(last),
        addresses,
        now,
    })
    .await?;
    tx.insert_credential(tenant.id, user, &hash, now).await?;
    tx.record_account_control(CredentialOwner::User(tenant.id, user), Some(ctx.principal), Some(ctx.principal)).await?;
    tx.insert_grant(&Grant {
        id: GrantId::new(),
        tenant_id: tenant.id,
        grantee: Grantee::User(user),
        role_id: admin_role,
        scope: Scope::Tenant,
        created_at: now,
    })
    .await?;
    let event = ctx
        .event("tenant.create")
        .target("tenant", tenant.id)
        .target("user", user)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "capabilities": tenant.capabilities }));
    let event = AuditEvent { tenant: Some(tenant.id), ..event };
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(tenant)
}

/// Renames a tenant or switches its capabilities (provider operators).
pub async fn update(state: &Services, ctx: &Ctx, id: TenantId, changes: UpdateTenant) -> Result<Tenant, TenantError> {
    let permit = provider_level(state, ctx, Action::Update, Resource::TenantCapabilities).await?;
    permit.covers(Action::Update, Resource::TenantCapabilities, PROVIDER)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut tenant = tx.tenant(id).await.map_err(row("tenant"))?;
    let before = tenant.capabilities;
    if let Some(name) = &changes.display_name {
        tenant.display_name = input::name("display_name", name)?;
    }
    if let Some(c) = changes.capabilities {
        tenant.capabilities = c;
    }
    tx.update_tenant(&tenant, now).await?;
    let event = ctx
        .event("tenant.update")
        .target("tenant", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "capabilities_before": before, "capabilities_after": tenant.capabilities }));
    let event = AuditEvent { tenant: Some(id), ..event };
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(tenant)
}

async fn settings_permit(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, TenantError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?)
}

/// The caller's tenant settings.
pub async fn settings(state: &Services, ctx: &Ctx) -> Result<TenantSettings, TenantError> {
    let permit = settings_permit(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.tenant(permit.tenant()).await?.settings)
}

/// Replaces the caller's tenant settings with a whole document: every field is required.
pub async fn replace_settings(
    state: &Services,
    ctx: &Ctx,
    document: serde_json::Value,
) -> Result<TenantSettings, TenantError> {
    let permit = settings_permit(state, ctx, Action::Update).await?;
    let settings: TenantSettings = input::full_document(document, &[])?;
    store_settings(state, ctx, &permit, settings).await
}

/// Changes some tenant settings (JSON merge patch, RFC 7396); the others keep their values.
pub async fn patch_settings(
    state: &Services,
    ctx: &Ctx,
    patch: serde_json::Value,
) -> Result<TenantSettings, TenantError> {
    let permit = settings_permit(state, ctx, Action::Update).await?;
    let current = state.store.reader().await?.tenant(permit.tenant()).await?.settings;
    let settings: TenantSettings = input::patched_settings(&current, patch)?;
    store_settings(state, ctx, &permit, settings).await
}

/// Password length (NIST SP 800-63B: at least 8), session timeouts and the failed-login alert
/// threshold within their ranges.
fn check_settings(s: &TenantSettings) -> Result<(), TenantError> {
    if s.password_min_length < 8 || s.password_min_length > 64 {
        return Err(TenantError::Invalid("`password_min_length` must be between 8 and 64".into()));
    }
    if !(60..=86_400).contains(&s.session_idle_timeout_secs)
        || !(300..=7 * 86_400).contains(&s.session_absolute_timeout_secs)
    {
        return Err(TenantError::Invalid("session timeouts: idle 60 s to 24 h, absolute 5 min to 7 days".into()));
    }
    if s.failed_login_alert_threshold == 0 || s.failed_login_alert_threshold > 100 {
        return Err(TenantError::Invalid("`failed_login_alert_threshold` must be between 1 and 100".into()));
    }
    Ok(())
}

async fn store_settings(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    settings: TenantSettings,
) -> Result<TenantSettings, TenantError> {
    let tenant_id = permit.tenant();
    permit.covers(Action::Update, Resource::TenantSettings, tenant_id)?;
    check_settings(&settings)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut tenant = tx.tenant(tenant_id).await?;
    tenant.settings = settings.clone();
    tx.update_tenant(&tenant, now).await?;
    let event = ctx
        .event("settings.update")
        .target("tenant", tenant_id)
        .origin(ctx.origin(state))
        .details(serde_json::to_value(&settings).unwrap_or_default());
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(settings)
}

/// Inserts the default roles of a new tenant; returns the administrator role's id.
pub async fn seed_default_roles(tx: &mut Tx, tenant: TenantId, now: Timestamp) -> Result<RoleId, StoreError> {
    let admin = RoleId::new();
    for role in DefaultRole::ALL {
        let id = if *role == DefaultRole::Administrator { admin } else { RoleId::new() };
        tx.insert_role(&Role {
            id,
            tenant_id: tenant,
            name: role.name().into(),
            description: default_role_description(*role).into(),
            privileges: default_role_privileges(*role),
            builtin: true,
            created_at: now,
        })
        .await?;
    }
    Ok(admin)
}

/// Brings every tenant's built-in roles to the current default-role table, at start-up: a role
/// added by an upgrade is inserted, a built-in role whose privileges changed is updated, each
/// change audited (`role.builtin_sync`). A custom role that already has a new built-in role's name
/// keeps it, and the built-in role is not added to that tenant (reported in the return value,
/// never an error: the tenant works as before).
pub async fn sync_default_roles(
    store: &callvault_store::Store,
    auditor: &crate::audit::Auditor,
    now: Timestamp,
) -> Result<Vec<(TenantId, &'static str)>, StoreError> {
    let mut clashes = Vec::new();
    let tenants = store.reader().await?.tenants().await?;
    for tenant in tenants {
        let mut tx = store.begin().await?;
        let roles = tx.roles(tenant.id).await?;
        let mut changed = false;
        for role in DefaultRole::ALL {
            let privileges = default_role_privileges(*role);
            let description = default_role_description(*role);
            let action = match roles.iter().find(|r| r.name == role.name()) {
                Some(r) if !r.builtin => {
                    clashes.push((tenant.id, role.name()));
                    continue;
                }
                Some(r) if r.privileges == privileges && r.description == description => continue,
                Some(r) => {
                    tx.update_builtin_role(tenant.id, r.id, description, &privileges).await?;
                    (r.id, "updated")
                }
                None => {
                    let id = RoleId::new();
                    tx.insert_role(&Role {
                        id,
                        tenant_id: tenant.id,
                        name: role.name().into(),
                        description: description.into(),
                        privileges: privileges.clone(),
                        builtin: true,
                        created_at: now,
                    })
                    .await?;
                    (id, "added")
                }
            };
            let event =
                crate::audit::AuditEvent::new(Some(tenant.id), crate::audit::Actor::System, "role.builtin_sync")
                    .target("role", action.0)
                    .details(serde_json::json!({ "role": role.name(), "change": action.1, "privileges": privileges }));
            auditor.record(&mut tx, now, &event).await?;
            changed = true;
        }
        if changed {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
    }
    Ok(clashes)
}

fn default_role_description(role: DefaultRole) -> &'static str {
    match role {
        DefaultRole::Agent => "Own interactions and profile",
        DefaultRole::Supervisor => "Own teams' users and interactions, listen on own services",
        DefaultRole::Administrator => "Runs the contact center's configuration",
        DefaultRole::SecurityOfficer => "Key custodian and audit",
        DefaultRole::DataProtectionOfficer => "Personal data reports and erasure",
        DefaultRole::Auditor => "Read-only, audit",
        DefaultRole::Dialer => {
            "Telephony systems: dial checks, do-not-call requests, call signalling events (dialers, PBXs, SBCs)"
        }
        DefaultRole::Recorder => {
            "Recording systems: content and contact records in, recording decisions; reads nothing back"
        }
        DefaultRole::ReportingFeed => "The ACD's reporting feed: agent performance statistics in",
    }
}
