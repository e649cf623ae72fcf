//! Dial settings, calling-hour rules, named calling areas and area assignments. A change that
//! would not compile into a policy together with the rest is refused before anything is stored.

use callvault_model::access::{Action, Resource};
use callvault_model::dial::AreaDef;
use callvault_model::{ServiceId, TeamId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::dial::{Areas, Level, Policy, Settings};
use callvault_policy::rules::RuleSet;
use callvault_store::{DialStore, DirectoryStore};
use serde::Serialize;

use super::{DialAdminError, check_name, missing, row};
use crate::caller::{Ctx, Permit};
use crate::dial::{compile_area, level_from, level_name};
use crate::input;
use crate::services::Services;

/// An assignment as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// `user`, `team` or `service`.
    pub level: Level,
    /// The user, team or service id.
    pub id: String,
    /// The areas.
    pub areas: Areas,
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, DialAdminError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::DialPolicy, tenant)).await?)
}

/// The dial settings in force.
pub async fn settings(state: &Services, ctx: &Ctx) -> Result<Settings, DialAdminError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.dial.tenant(&state.store, permit.tenant()).await?.policy.settings().clone())
}

/// Replaces the dial settings with a whole document (every field required).
pub async fn replace_settings(
    state: &Services,
    ctx: &Ctx,
    document: serde_json::Value,
) -> Result<Settings, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let settings: Settings = input::full_document(document, &[])?;
    let rules = state.dial.tenant(&state.store, permit.tenant()).await?.policy.rules().clone();
    save_config(state, ctx, &permit, &settings, &rules, "dial.settings.update").await?;
    Ok(settings)
}

/// Changes some dial settings (JSON merge patch, RFC 7396); the others keep their values.
pub async fn patch_settings(state: &Services, ctx: &Ctx, patch: serde_json::Value) -> Result<Settings, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let view = state.dial.tenant(&state.store, permit.tenant()).await?;
    let settings: Settings = input::patched_settings(view.policy.settings(), patch)?;
    save_config(state, ctx, &permit, &settings, view.policy.rules(), "dial.settings.update").await?;
    Ok(settings)
}

/// The calling-hour rules in force, as text.
pub async fn rules(state: &Services, ctx: &Ctx) -> Result<String, DialAdminError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.dial.tenant(&state.store, permit.tenant()).await?.policy.rules().text.clone())
}

/// Replaces the calling-hour rules; a text with any error is refused whole, with line numbers.
/// Returns the rules in force.
pub async fn replace_rules(state: &Services, ctx: &Ctx, text: &str) -> Result<String, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let rules = RuleSet::parse(text).map_err(DialAdminError::Rules)?;
    let settings = state.dial.tenant(&state.store, permit.tenant()).await?.policy.settings().clone();
    save_config(state, ctx, &permit, &settings, &rules, "dial.rules.update").await?;
    Ok(rules.text)
}

async fn save_config(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    settings: &Settings,
    rules: &RuleSet,
    action: &'static str,
) -> Result<(), DialAdminError> {
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::DialPolicy, tenant)?;
    let areas = state.store.reader().await?.dial_areas(tenant).await?;
    let compiled = areas.iter().map(compile_area).collect::<Result<Vec<_>, _>>().map_err(DialAdminError::Invalid)?;
    Policy::new(settings.clone(), compiled, rules.clone()).map_err(|e| DialAdminError::Invalid(e.to_string()))?;
    let json = serde_json::to_string(settings).map_err(|e| DialAdminError::Internal(e.to_string()))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_config(tenant, &json, &rules.text, now).await?;
    state.auditor.record(&mut tx, now, &ctx.event(action).origin(ctx.origin(state))).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(())
}

/// The tenant's named calling areas.
pub async fn areas(state: &Services, ctx: &Ctx) -> Result<Vec<AreaDef>, DialAdminError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.dial_areas(permit.tenant()).await?)
}

/// Creates or replaces the area `name` with a whole document.
pub async fn put_area(
    state: &Services,
    ctx: &Ctx,
    name: &str,
    document: serde_json::Value,
) -> Result<AreaDef, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let area: AreaDef = input::full_document(document, &[])?;
    check_name(name)?;
    if area.name != name {
        return Err(DialAdminError::Invalid("name: must match the path".into()));
    }
    compile_area(&area).map_err(DialAdminError::Invalid)?;
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::DialPolicy, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_area(tenant, &area).await?;
    let event = ctx.event("dial.area.put").target("dial_area", name).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(area)
}

/// Deletes a named area; refused while it is a default or assigned.
pub async fn delete_area(state: &Services, ctx: &Ctx, name: &str) -> Result<(), DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    let view = state.dial.tenant(&state.store, tenant).await?;
    let s = view.policy.settings();
    let named = |list: &Vec<String>| list.iter().any(|n| n == name);
    let used = named(&s.default_call_areas)
        || named(&s.default_text_areas)
        || view.assignments.values().any(|a| named(&a.call) || named(&a.text) || named(&a.inbound_block));
    if used {
        return Err(DialAdminError::AreaInUse);
    }
    permit.covers(Action::Update, Resource::DialPolicy, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dial_area(tenant, name).await.map_err(row("area"))?;
    let event = ctx.event("dial.area.delete").target("dial_area", name).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(())
}

/// Area assignments of users, teams and services, by level and id.
pub async fn assignments(state: &Services, ctx: &Ctx) -> Result<Vec<AssignmentView>, DialAdminError> {
    let permit = allow(state, ctx, Action::Read).await?;
    let view = state.dial.tenant(&state.store, permit.tenant()).await?;
    let mut out: Vec<AssignmentView> = view
        .assignments
        .iter()
        .map(|((level, id), areas)| AssignmentView { level: *level, id: id.clone(), areas: areas.clone() })
        .collect();
    out.sort_by(|a, b| (level_name(a.level), &a.id).cmp(&(level_name(b.level), &b.id)));
    Ok(out)
}

async fn exists(state: &Services, tenant: TenantId, level: Level, id: uuid::Uuid) -> Result<bool, DialAdminError> {
    let mut r = state.store.reader().await?;
    Ok(match level {
        Level::User => r.user(tenant, UserId(id)).await.is_ok(),
        Level::Team => r.team(tenant, TeamId(id)).await.is_ok(),
        Level::Service => r.service(tenant, ServiceId(id)).await.is_ok(),
    })
}

/// Assigns areas to a user, team or service (`level` names which); empty lists remove the
/// assignment. Every area must exist.
pub async fn put_assignment(
    state: &Services,
    ctx: &Ctx,
    level: &str,
    id: uuid::Uuid,
    document: serde_json::Value,
) -> Result<Areas, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    let areas: Areas = input::full_document(document, &[])?;
    let level = level_from(level).ok_or_else(|| DialAdminError::Invalid("level: user, team or service".into()))?;
    if !exists(state, tenant, level, id).await? {
        return Err(missing(level_name(level)));
    }
    let view = state.dial.tenant(&state.store, tenant).await?;
    if let Some(n) = areas.call.iter().chain(&areas.text).chain(&areas.inbound_block).find(|n| !view.policy.has_area(n))
    {
        return Err(DialAdminError::Invalid(format!("no area named `{}`", n.chars().take(64).collect::<String>())));
    }
    let json = if areas == Areas::default() {
        "{}".to_owned()
    } else {
        serde_json::to_string(&areas).map_err(|e| DialAdminError::Internal(e.to_string()))?
    };
    permit.covers(Action::Update, Resource::DialPolicy, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_assignment(tenant, level_name(level), &id.to_string(), &json).await?;
    let event = ctx.event("dial.assignment.put").target(level_name(level), id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(areas)
}
