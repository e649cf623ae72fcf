//! Provider endpoints: contact centers (tenants) and their capabilities; and the tenant's own
//! settings.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource, Scope};
use callvault_model::records::{Capabilities, Grant, Grantee, Tenant, TenantSettings};
use callvault_model::{GrantId, Personal, SecretString, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{CredentialOwner, DirectoryStore, NewUser, TenantStore};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::AddressInput;
use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use callvault_core::identity;
use callvault_core::tenants::seed_default_roles;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(get_settings, update_settings, patch_settings))
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

/// Lists tenants (provider operators).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = [Tenant]), (status = 403, body = Problem)))]
async fn list_tenants(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Tenant>>> {
    operator_only(&ctx, &state, Action::Read, Resource::Tenant).await?;
    let mut r = state.store.reader().await?;
    Ok(axum::Json(r.tenants().await?))
}

async fn operator_only(ctx: &Ctx, state: &AppState, action: Action, kind: Resource) -> ApiResult<()> {
    // Tenants are provider-level objects: operators pass the engine's operator rules, and a
    // tenant principal asking about them is denied (audited) because they belong to no tenant.
    let resource = ResourceRef::tenant_wide(kind, TenantId(uuid::Uuid::nil()));
    ctx.authorize(state, action, &resource).await?;
    Ok(())
}

/// Creates a tenant with its default roles and first administrator (provider operators).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateTenant>,
) -> ApiResult<(StatusCode, axum::Json<Tenant>)> {
    operator_only(&ctx, &state, Action::Create, Resource::Tenant).await?;
    let now = state.clock.now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug: validate::slug(&body.slug)?,
        display_name: validate::name("display_name", &body.display_name)?,
        capabilities: body.capabilities,
        settings: TenantSettings::default(),
        created_at: now,
    };
    let admin = &body.administrator;
    let (login, _) = validate::login(&admin.login)?;
    let first = validate::person_name("first_name", &admin.first_name)?;
    let last = validate::person_name("last_name", &admin.last_name)?;
    let addresses = AddressInput::validate_all(&admin.addresses)?;
    let hash =
        identity::new_password_hash(&admin.password, &Default::default(), &[&login, &first, &last, &tenant.slug])
            .await?;
    let mut tx = state.store.begin().await?;
    tx.insert_tenant(&tenant).await.map_err(|e| ApiError::from_store(e, "tenant"))?;
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
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "capabilities": tenant.capabilities }));
    let event = callvault_core::audit::AuditEvent { tenant: Some(tenant.id), ..event };
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(tenant)))
}

/// One tenant (provider operators).
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
async fn get_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TenantId>,
) -> ApiResult<axum::Json<Tenant>> {
    operator_only(&ctx, &state, Action::Read, Resource::Tenant).await?;
    let mut r = state.store.reader().await?;
    Ok(axum::Json(r.tenant(id).await.map_err(|e| ApiError::from_store(e, "tenant"))?))
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

/// Renames a tenant or switches its capabilities (provider operators).
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)), request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
async fn update_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TenantId>,
    Json(body): Json<UpdateTenant>,
) -> ApiResult<axum::Json<Tenant>> {
    operator_only(&ctx, &state, Action::Update, Resource::TenantCapabilities).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut tenant = tx.tenant(id).await.map_err(|e| ApiError::from_store(e, "tenant"))?;
    let before = tenant.capabilities;
    if let Some(name) = &body.display_name {
        tenant.display_name = validate::name("display_name", name)?;
    }
    if let Some(c) = body.capabilities {
        tenant.capabilities = c;
    }
    tx.update_tenant(&tenant, now).await?;
    let event = ctx
        .event("tenant.update")
        .target("tenant", id)
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "capabilities_before": before, "capabilities_after": tenant.capabilities }));
    let event = callvault_core::audit::AuditEvent { tenant: Some(id), ..event };
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(tenant))
}

/// The caller's tenant settings.
#[utoipa::path(get, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), responses((status = 200, body = TenantSettings)))]
async fn get_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<TenantSettings>> {
    let tenant = ctx.tenant()?;
    ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?;
    let mut r = state.store.reader().await?;
    Ok(axum::Json(r.tenant(tenant).await?.settings))
}

/// Replaces the caller's tenant settings: every field is required (422 lists the missing ones).
#[utoipa::path(put, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), request_body = TenantSettings,
    responses((status = 200, body = TenantSettings), (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<TenantSettings>> {
    let tenant_id = ctx.tenant()?;
    ctx.authorize(&state, Action::Update, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant_id)).await?;
    let body: TenantSettings = super::validate::full_document(body, &[])?;
    store_settings(&state, &ctx, tenant_id, body).await
}

/// Changes some tenant settings (JSON merge patch, RFC 7396); the others keep their values.
#[utoipa::path(patch, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = TenantSettings), (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<TenantSettings>> {
    let tenant_id = ctx.tenant()?;
    ctx.authorize(&state, Action::Update, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant_id)).await?;
    let current = state.store.reader().await?.tenant(tenant_id).await?.settings;
    let body: TenantSettings = super::validate::patched_settings(&current, body)?;
    store_settings(&state, &ctx, tenant_id, body).await
}

async fn store_settings(
    state: &AppState,
    ctx: &Ctx,
    tenant_id: callvault_model::TenantId,
    body: TenantSettings,
) -> ApiResult<axum::Json<TenantSettings>> {
    let state = state.clone();
    if body.password_min_length < 8 || body.password_min_length > 64 {
        return Err(ApiError::invalid("`password_min_length` must be between 8 and 64"));
    }
    if !(60..=86_400).contains(&body.session_idle_timeout_secs)
        || !(300..=7 * 86_400).contains(&body.session_absolute_timeout_secs)
    {
        return Err(ApiError::invalid("session timeouts: idle 60 s to 24 h, absolute 5 min to 7 days"));
    }
    if body.failed_login_alert_threshold == 0 || body.failed_login_alert_threshold > 100 {
        return Err(ApiError::invalid("`failed_login_alert_threshold` must be between 1 and 100"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut tenant = tx.tenant(tenant_id).await?;
    tenant.settings = body.clone();
    tx.update_tenant(&tenant, now).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &ctx.event("settings.update")
                .target("tenant", tenant_id)
                .origin(ctx.origin(&state))
                .details(serde_json::to_value(&body).unwrap_or_default()),
        )
        .await?;
    tx.commit().await?;
    Ok(axum::Json(body))
}
