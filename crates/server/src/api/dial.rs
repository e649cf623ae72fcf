//! Telecom policy endpoints: `POST /v1/dial-checks` answers whether calls and texts
//! may be placed (and inbound calls received) with every reason; the rest manages calling areas,
//! calling-hour rules, dial settings, area assignments and do-not-call lists.
//!
//! Numbers never appear in URLs (paths are logged): removal from a list is a POST with a body.
//! Denied checks are audited with the number as a keyed digest.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::dial::{AreaDef, DncList, DncListKind};
use callvault_model::{DncListId, ServiceId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_policy::dial::{Areas, Decision, Level, Policy, Settings};
use callvault_policy::dnc::CompactSet;
use callvault_policy::numbers;
use callvault_policy::rules::{RuleError, RuleSet};
use callvault_store::{DialStore, DirectoryStore};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use callvault_core::dial::{ImportError, RegistryParser, compile_area, level_from, level_name, write_set};
use callvault_core::dial_checks::{self, CheckRequest};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dial_checks))
        .routes(routes!(get_settings, put_settings, patch_settings))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(list_areas))
        .routes(routes!(put_area, delete_area))
        .routes(routes!(list_assignments))
        .routes(routes!(put_assignment))
        .routes(routes!(list_dnc, create_dnc))
        .routes(routes!(delete_dnc))
        .routes(routes!(import_dnc))
        .routes(routes!(add_dnc_number))
        .routes(routes!(remove_dnc_number))
}

async fn allow(state: &AppState, ctx: &Ctx, resource: Resource, action: Action) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, action, &ResourceRef::tenant_wide(resource, tenant)).await?;
    Ok(tenant)
}

/// One check or a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DialChecks {
    /// `{"checks": [...]}`, up to 1,000.
    Batch {
        /// The checks.
        checks: Vec<CheckRequest>,
    },
    /// A single check.
    One(CheckRequest),
}

/// The batch form, parsed directly (an untagged enum would buffer the whole body first).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    checks: Vec<CheckRequest>,
}

/// Reads a body holding one check or `{"checks": [...]}`.
fn parse_checks(headers: &axum::http::HeaderMap, body: &[u8]) -> ApiResult<Vec<CheckRequest>> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(ApiError::bad_request("expected a body with Content-Type: application/json"));
    }
    let error = |e: serde_json::Error| {
        if e.is_data() {
            ApiError::invalid(format!("invalid JSON body: {e}"))
        } else {
            ApiError::bad_request("the body is not valid JSON")
        }
    };
    match serde_json::from_slice::<Batch>(body) {
        Ok(b) => Ok(b.checks),
        Err(batch) => match serde_json::from_slice::<CheckRequest>(body) {
            Ok(c) => Ok(vec![c]),
            // Report the error of the form the body was meant to be.
            Err(one) => Err(error(if body.windows(8).any(|w| w == b"\"checks\"") { batch } else { one })),
        },
    }
}

/// The answers, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DialCheckResults {
    /// One decision per check.
    pub results: Vec<Decision>,
}

/// Decides calls and texts.
#[utoipa::path(post, path = "/v1/dial-checks", tag = "dial", security(("bearer" = [])), request_body = DialChecks,
    responses((status = 200, body = DialCheckResults), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn dial_checks(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<DialCheckResults>> {
    // Authorization before parsing: a caller who may not check learns nothing about the body.
    if !ctx.may_somewhere(Action::Create, Resource::DialCheck) {
        allow(&state, &ctx, Resource::DialCheck, Action::Create).await?;
    }
    let checks = parse_checks(&headers, &body)?;
    let results = dial_checks::check(&state, &ctx, &checks).await?;
    Ok(axum::Json(DialCheckResults { results }))
}

/// Dial settings.
#[utoipa::path(get, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = Settings)))]
async fn get_settings(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Settings>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Read).await?;
    Ok(axum::Json(state.dial.tenant(&state.store, tenant).await?.policy.settings().clone()))
}

async fn save_config(
    state: &AppState,
    ctx: &Ctx,
    tenant: TenantId,
    settings: &Settings,
    rules: &RuleSet,
    action: &'static str,
) -> ApiResult<()> {
    let areas = state.store.reader().await?.dial_areas(tenant).await?;
    let compiled = areas.iter().map(compile_area).collect::<Result<Vec<_>, _>>().map_err(ApiError::invalid)?;
    Policy::new(settings.clone(), compiled, rules.clone()).map_err(|e| ApiError::invalid(e.to_string()))?;
    let json = serde_json::to_string(settings).map_err(ApiError::internal)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_config(tenant, &json, &rules.text, now).await?;
    let event = ctx.event(action).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(())
}

/// Replaces the dial settings: every field is required (422 lists the missing ones).
#[utoipa::path(put, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])), request_body = Settings,
    responses((status = 200, body = Settings), (status = 422, body = Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Settings>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let settings: Settings = super::validate::full_document(body, &[])?;
    let rules = state.dial.tenant(&state.store, tenant).await?.policy.rules().clone();
    save_config(&state, &ctx, tenant, &settings, &rules, "dial.settings.update").await?;
    Ok(axum::Json(settings))
}

/// Changes some dial settings (JSON merge patch, RFC 7396); the others keep their values.
#[utoipa::path(patch, path = "/v1/dial/settings", tag = "dial", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = Settings), (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Settings>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let view = state.dial.tenant(&state.store, tenant).await?;
    let settings: Settings = super::validate::patched_settings(view.policy.settings(), body)?;
    let rules = view.policy.rules().clone();
    save_config(&state, &ctx, tenant, &settings, &rules, "dial.settings.update").await?;
    Ok(axum::Json(settings))
}

/// The calling-hour rules in force, as text (`data/calling-rules.txt` format).
#[utoipa::path(get, path = "/v1/dial/rules", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = String, content_type = "text/plain")))]
async fn get_rules(State(state): State<AppState>, ctx: Ctx) -> ApiResult<String> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Read).await?;
    Ok(state.dial.tenant(&state.store, tenant).await?.policy.rules().text.clone())
}

fn rule_errors(errors: Vec<RuleError>) -> ApiError {
    let first = errors.first().map_or_else(String::new, ToString::to_string);
    ApiError::invalid(format!(
        "the rules were refused ({} error(s); the rules in force are unchanged); {first}",
        errors.len()
    ))
    .with_details(serde_json::json!({ "errors": errors }))
}

/// Replaces the calling-hour rules; a file with any error is refused whole, with line numbers.
#[utoipa::path(put, path = "/v1/dial/rules", tag = "dial", security(("bearer" = [])), request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 422, body = Problem)))]
async fn put_rules(State(state): State<AppState>, ctx: Ctx, body: String) -> ApiResult<String> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let rules = RuleSet::parse(&body).map_err(rule_errors)?;
    let settings = state.dial.tenant(&state.store, tenant).await?.policy.settings().clone();
    save_config(&state, &ctx, tenant, &settings, &rules, "dial.rules.update").await?;
    Ok(rules.text)
}

/// Named calling areas.
#[utoipa::path(get, path = "/v1/dial/areas", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [AreaDef])))]
async fn list_areas(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<AreaDef>>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Read).await?;
    Ok(axum::Json(state.store.reader().await?.dial_areas(tenant).await?))
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name: 1 to 64 printable characters"));
    }
    Ok(())
}

/// Creates or replaces a named area.
#[utoipa::path(put, path = "/v1/dial/areas/{name}", tag = "dial", security(("bearer" = [])), params(("name" = String, Path)),
    request_body = AreaDef, responses((status = 200, body = AreaDef), (status = 422, body = Problem)))]
async fn put_area(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<AreaDef>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let body: AreaDef = super::validate::full_document(body, &[])?;
    check_name(&name)?;
    if body.name != name {
        return Err(ApiError::invalid("name: must match the path"));
    }
    compile_area(&body).map_err(ApiError::invalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_area(tenant, &body).await?;
    let event = ctx.event("dial.area.put").target("dial_area", &name).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(axum::Json(body))
}

/// Deletes a named area (refused while it is a default or assigned).
#[utoipa::path(delete, path = "/v1/dial/areas/{name}", tag = "dial", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_area(State(state): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let view = state.dial.tenant(&state.store, tenant).await?;
    let s = view.policy.settings();
    let used = s.default_call_areas.contains(&name)
        || s.default_text_areas.contains(&name)
        || view
            .assignments
            .values()
            .any(|a| a.call.contains(&name) || a.text.contains(&name) || a.inbound_block.contains(&name));
    if used {
        return Err(ApiError::conflict("the area is a default or assigned; remove it there first"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dial_area(tenant, &name).await.map_err(|e| ApiError::from_store(e, "area"))?;
    let event = ctx.event("dial.area.delete").target("dial_area", &name).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(StatusCode::NO_CONTENT)
}

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

/// Area assignments of users, teams and services.
#[utoipa::path(get, path = "/v1/dial/assignments", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [AssignmentView])))]
async fn list_assignments(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<AssignmentView>>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Read).await?;
    let view = state.dial.tenant(&state.store, tenant).await?;
    let mut out: Vec<AssignmentView> = view
        .assignments
        .iter()
        .map(|((level, id), areas)| AssignmentView { level: *level, id: id.clone(), areas: areas.clone() })
        .collect();
    out.sort_by(|a, b| (level_name(a.level), &a.id).cmp(&(level_name(b.level), &b.id)));
    Ok(axum::Json(out))
}

/// Assigns areas to a user, team or service (empty lists remove the assignment).
#[utoipa::path(put, path = "/v1/dial/assignments/{level}/{id}", tag = "dial", security(("bearer" = [])),
    params(("level" = String, Path), ("id" = String, Path)), request_body = Areas,
    responses((status = 200, body = Areas), (status = 422, body = Problem)))]
async fn put_assignment(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((level, id)): Path<(String, uuid::Uuid)>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<Areas>> {
    let tenant = allow(&state, &ctx, Resource::DialPolicy, Action::Update).await?;
    let body: Areas = super::validate::full_document(body, &[])?;
    let level = level_from(&level).ok_or_else(|| ApiError::invalid("level: user, team or service"))?;
    {
        let mut r = state.store.reader().await?;
        let exists = match level {
            Level::User => r.user(tenant, UserId(id)).await.is_ok(),
            Level::Team => r.team(tenant, callvault_model::TeamId(id)).await.is_ok(),
            Level::Service => r.service(tenant, ServiceId(id)).await.is_ok(),
        };
        if !exists {
            return Err(ApiError::not_found(level_name(level)));
        }
    }
    let view = state.dial.tenant(&state.store, tenant).await?;
    if let Some(n) = body.call.iter().chain(&body.text).chain(&body.inbound_block).find(|n| !view.policy.has_area(n)) {
        return Err(ApiError::invalid(format!("no area named `{}`", n.chars().take(64).collect::<String>())));
    }
    let json = if body == Areas::default() {
        "{}".to_owned()
    } else {
        serde_json::to_string(&body).map_err(ApiError::internal)?
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.put_dial_assignment(tenant, level_name(level), &id.to_string(), &json).await?;
    let event = ctx.event("dial.assignment.put").target(level_name(level), id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.invalidate(tenant);
    Ok(axum::Json(body))
}

/// Do-not-call lists.
#[utoipa::path(get, path = "/v1/dnc-lists", tag = "dial", security(("bearer" = [])),
    responses((status = 200, body = [DncList])))]
async fn list_dnc(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<DncList>>> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Read).await?;
    Ok(axum::Json(state.store.reader().await?.dnc_lists(Some(tenant)).await?))
}

/// A new list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDncList {
    /// Name.
    pub name: String,
    /// `internal` or `registry`.
    pub kind: DncListKind,
    /// The country calling code a registry covers (default 1).
    #[serde(default)]
    pub country_code: Option<u16>,
}

/// Creates a list.
#[utoipa::path(post, path = "/v1/dnc-lists", tag = "dial", security(("bearer" = [])), request_body = NewDncList,
    responses((status = 201, body = DncList), (status = 409, body = Problem)))]
async fn create_dnc(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NewDncList>,
) -> ApiResult<(StatusCode, axum::Json<DncList>)> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Update).await?;
    check_name(&body.name)?;
    let country_code = match body.kind {
        DncListKind::Registry => Some(body.country_code.unwrap_or(1)),
        DncListKind::Internal => None,
    };
    if country_code.is_some_and(|c| c == 0 || c > 999) {
        return Err(ApiError::invalid("country_code: 1 to 999"));
    }
    let now = state.clock.now();
    let list = DncList {
        id: DncListId::new(),
        tenant_id: tenant,
        name: body.name,
        kind: body.kind,
        country_code,
        entries: 0,
        refreshed_at: (body.kind == DncListKind::Internal).then_some(now),
        file_sha256: None,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_dnc_list(&list).await.map_err(|e| ApiError::from_store(e, "list"))?;
    let event = ctx.event("dnc.list.create").target("dnc_list", list.id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.add_list(list.clone());
    Ok((StatusCode::CREATED, axum::Json(list)))
}

async fn find_list(state: &AppState, tenant: TenantId, id: DncListId) -> ApiResult<DncList> {
    state
        .store
        .reader()
        .await?
        .dnc_lists(Some(tenant))
        .await?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found("list"))
}

/// Deletes a list.
#[utoipa::path(delete, path = "/v1/dnc-lists/{id}", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_dnc(State(state): State<AppState>, ctx: Ctx, Path(id): Path<DncListId>) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Delete).await?;
    let list = find_list(&state, tenant, id).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dnc_list(tenant, id).await.map_err(|e| ApiError::from_store(e, "list"))?;
    let event = ctx.event("dnc.list.delete").target("dnc_list", id).origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.remove_list(&list);
    Ok(StatusCode::NO_CONTENT)
}

/// When the imported copy was published (defaults to now).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportParams {
    /// RFC 3339 instant or `YYYY-MM-DD` (UTC midnight).
    pub refreshed_at: Option<String>,
}

/// The result of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// The list now in force.
    pub list: DncList,
    /// Lines read with a number.
    pub numbers_read: u64,
    /// Distinct numbers.
    pub distinct: u64,
    /// Bytes of memory the list holds.
    pub bytes_in_memory: u64,
}

/// Replaces a registry copy with a file (one number per line, CSV, or the FTC's area code and
/// number pairs). Any bad line refuses the whole file, with line numbers; the copy in force
/// stays until the new one is stored and committed.
#[utoipa::path(put, path = "/v1/dnc-lists/{id}/import", tag = "dial", security(("bearer" = [])), params(("id" = String, Path), ImportParams),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = ImportResult), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn import_dnc(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Query(params): Query<ImportParams>,
    body: Body,
) -> ApiResult<axum::Json<ImportResult>> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Update).await?;
    let list = find_list(&state, tenant, id).await?;
    if list.kind != DncListKind::Registry {
        return Err(ApiError::conflict("only registry lists are imported; add numbers to internal lists one by one"));
    }
    let now = state.clock.now();
    let refreshed = match params.refreshed_at.as_deref() {
        None => now,
        Some(s) => {
            let t = s
                .parse::<jiff::Timestamp>()
                .or_else(|_| {
                    s.parse::<jiff::civil::Date>()
                        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
                        .map(|z| z.timestamp())
                })
                .map_err(|_| ApiError::invalid("refreshed_at: an RFC 3339 instant or YYYY-MM-DD"))?;
            if t.as_millisecond() > now.millis() {
                return Err(ApiError::invalid("refreshed_at: in the future"));
            }
            callvault_model::records::Timestamp(t.as_millisecond())
        }
    };
    let mut parser = RegistryParser::new(list.country_code.unwrap_or(1));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        parser.feed(&chunk);
    }
    parser.finish();
    if parser.error_count > 0 {
        let errors: Vec<ImportError> = parser.errors;
        let first = errors.first().map_or_else(String::new, |e| format!("line {}: {}", e.line, e.message));
        return Err(ApiError::invalid(format!(
            "the file was refused ({} bad line(s); the list in force is unchanged); {first}",
            parser.error_count
        ))
        .with_details(serde_json::json!({ "errors": errors })));
    }
    let read = parser.keys.len() as u64;
    let mut keys = parser.keys;
    let dir = state.dial.dir().to_owned();
    let (set, sha) = tokio::task::spawn_blocking(move || -> std::io::Result<(CompactSet, String)> {
        keys.sort_unstable();
        keys.dedup();
        let set = CompactSet::from_sorted(&keys).map_err(std::io::Error::other)?;
        drop(keys);
        let sha = write_set(&dir, id, &set)?;
        Ok((set, sha))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut tx = state.store.begin().await?;
    tx.update_dnc_import(id, set.len(), refreshed, &sha).await?;
    let event = ctx
        .event("dnc.list.import")
        .target("dnc_list", id)
        .details(serde_json::json!({ "numbers": set.len(), "sha256": sha, "refreshed_at": refreshed.millis() }))
        .origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    let updated = DncList { entries: set.len(), refreshed_at: Some(refreshed), file_sha256: Some(sha), ..list.clone() };
    let result = ImportResult {
        list: updated.clone(),
        numbers_read: read,
        distinct: set.len(),
        bytes_in_memory: set.heap_bytes() as u64,
    };
    state.dial.swap_registry(updated, set, list.file_sha256.as_deref());
    Ok(axum::Json(result))
}

/// A number for an internal list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DncNumber {
    /// The number (E.164 preferred).
    pub number: String,
}

async fn internal_list(
    state: &AppState,
    tenant: TenantId,
    id: DncListId,
    body: &DncNumber,
) -> ApiResult<(DncList, u64)> {
    let list = find_list(state, tenant, id).await?;
    if list.kind != DncListKind::Internal {
        return Err(ApiError::conflict("registry lists change by import only"));
    }
    let region = state.dial.tenant(&state.store, tenant).await?.policy.settings().default_region.clone();
    let n = numbers::parse(&body.number, Some(&region)).map_err(|e| ApiError::invalid(format!("number: {e}")))?;
    let key = callvault_core::dial::number_key(&n).ok_or_else(|| ApiError::invalid("number: not a number"))?;
    Ok((list, key))
}

/// Adds a number to an internal list (a customer asked not to be called).
#[utoipa::path(post, path = "/v1/dnc-lists/{id}/numbers", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DncNumber, responses((status = 201), (status = 200), (status = 422, body = Problem)))]
async fn add_dnc_number(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Json(body): Json<DncNumber>,
) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Create).await?;
    let (_, key) = internal_list(&state, tenant, id, &body).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let added = tx.insert_dnc_number(id, key, now).await?;
    let digest = state.auditor.pseudonym(format!("+{key}").as_bytes());
    let event = ctx
        .event("dnc.number.add")
        .target("dnc_list", id)
        .details(serde_json::json!({ "number_digest": digest, "new": added }))
        .origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.set_internal(id, key, true);
    Ok(if added { StatusCode::CREATED } else { StatusCode::OK })
}

/// Removes a number from an internal list (the number travels in the body, never in the URL).
#[utoipa::path(post, path = "/v1/dnc-lists/{id}/numbers/remove", tag = "dial", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DncNumber, responses((status = 204), (status = 404, body = Problem)))]
async fn remove_dnc_number(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<DncListId>,
    Json(body): Json<DncNumber>,
) -> ApiResult<StatusCode> {
    let tenant = allow(&state, &ctx, Resource::DoNotCall, Action::Delete).await?;
    let (_, key) = internal_list(&state, tenant, id, &body).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dnc_number(id, key).await.map_err(|e| ApiError::from_store(e, "number on the list"))?;
    let digest = state.auditor.pseudonym(format!("+{key}").as_bytes());
    let event = ctx
        .event("dnc.number.remove")
        .target("dnc_list", id)
        .details(serde_json::json!({ "number_digest": digest }))
        .origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.set_internal(id, key, false);
    Ok(StatusCode::NO_CONTENT)
}
