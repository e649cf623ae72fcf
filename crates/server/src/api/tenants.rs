//! Provider endpoints: contact centers (tenants) and their capabilities; and the tenant's own
//! settings. The rules are in `callvault_core::tenants`.

use axum::extract::State;
use axum::http::StatusCode;
use callvault_core::tenants;
use callvault_model::TenantId;
use callvault_model::records::{Tenant, TenantSettings};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::tenants::{CreateTenant, FirstAdministrator, UpdateTenant};

use crate::auth::Ctx;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(get_settings, update_settings, patch_settings))
}

/// Lists tenants (provider operators).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = [Tenant]), (status = 403, body = Problem)))]
async fn list_tenants(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<Tenant>>> {
    Ok(axum::Json(tenants::list(&state, &ctx).await?))
}

/// Creates a tenant with its default roles and first administrator (provider operators).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateTenant>,
) -> ApiResult<(StatusCode, axum::Json<Tenant>)> {
    Ok((StatusCode::CREATED, axum::Json(tenants::create(&state, &ctx, body).await?)))
}

/// One tenant (provider operators).
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
async fn get_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<TenantId>,
) -> ApiResult<axum::Json<Tenant>> {
    Ok(axum::Json(tenants::get(&state, &ctx, id).await?))
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
    Ok(axum::Json(tenants::update(&state, &ctx, id, body).await?))
}

/// The caller's tenant settings.
#[utoipa::path(get, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), responses((status = 200, body = TenantSettings)))]
async fn get_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<TenantSettings>> {
    Ok(axum::Json(tenants::settings(&state, &ctx).await?))
}

/// Replaces the caller's tenant settings: every field is required (422 lists the missing ones).
#[utoipa::path(put, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), request_body = TenantSettings,
    responses((status = 200, body = TenantSettings), (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<TenantSettings>> {
    Ok(axum::Json(tenants::replace_settings(&state, &ctx, body).await?))
}

/// Changes some tenant settings (JSON merge patch, RFC 7396); the others keep their values.
#[utoipa::path(patch, path = "/v1/settings", tag = "tenants", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = TenantSettings), (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<TenantSettings>> {
    Ok(axum::Json(tenants::patch_settings(&state, &ctx, body).await?))
}
