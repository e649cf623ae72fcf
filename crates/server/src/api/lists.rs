//! Calling lists and activity forms with encrypted custom fields.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::{FieldDef, ListKind, RecordList, StoredRecord};
use callvault_model::{ListId, RecordId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use callvault_core::lists::{ImportError, open_record, parse_csv, seal_record};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lists, create_list))
        .routes(routes!(get_list))
        .routes(routes!(import_csv))
        .routes(routes!(list_records, add_record))
        .routes(routes!(get_record))
}

async fn allow(state: &AppState, ctx: &Ctx, action: Action) -> ApiResult<TenantId> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::CallingList, tenant)).await?;
    Ok(tenant)
}

/// A new calling list or form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    /// Calling list or form.
    pub kind: ListKind,
    /// Unique name.
    pub name: String,
    /// Fields.
    pub fields: Vec<FieldDef>,
}

/// Filter of lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KindParam {
    /// Calling lists (default) or forms.
    pub kind: Option<ListKind>,
}

/// Lists calling lists or forms.
#[utoipa::path(get, path = "/v1/lists", tag = "lists", security(("bearer" = [])), params(KindParam),
    responses((status = 200, body = [RecordList]), (status = 403, body = Problem)))]
async fn list_lists(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<KindParam>,
) -> ApiResult<axum::Json<Vec<RecordList>>> {
    let tenant = allow(&state, &ctx, Action::Read).await?;
    let kind = p.kind.unwrap_or(ListKind::CallingList);
    Ok(axum::Json(state.store.reader().await?.lists(tenant, kind).await?))
}

/// Creates a calling list or form.
#[utoipa::path(post, path = "/v1/lists", tag = "lists", security(("bearer" = [])), request_body = CreateList,
    responses((status = 201, body = RecordList), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateList>,
) -> ApiResult<(StatusCode, axum::Json<RecordList>)> {
    let tenant = allow(&state, &ctx, Action::Create).await?;
    callvault_core::lists::validate_fields(&body.fields)?;
    let now = state.clock.now();
    let list = RecordList {
        id: ListId::new(),
        tenant_id: tenant,
        kind: body.kind,
        name: validate::name("name", &body.name)?,
        fields: body.fields,
        records: 0,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_list(&list).await.map_err(|e| ApiError::from_store(e, "list"))?;
    let event = ctx.event("list.create").target("list", list.id).origin(ctx.origin(&state)).details(
        serde_json::json!({ "kind": list.kind, "fields": list.fields.iter().map(|f| (&f.name, f.encrypted)).collect::<Vec<_>>() }),
    );
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(list)))
}

async fn load(state: &AppState, tenant: TenantId, id: ListId) -> ApiResult<RecordList> {
    state.store.reader().await?.list(tenant, id).await.map_err(|e| ApiError::from_store(e, "list"))
}

/// One list or form.
#[utoipa::path(get, path = "/v1/lists/{id}", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RecordList), (status = 404, body = Problem)))]
async fn get_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
) -> ApiResult<axum::Json<RecordList>> {
    let tenant = allow(&state, &ctx, Action::Read).await?;
    Ok(axum::Json(load(&state, tenant, id).await?))
}

/// The outcome of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Records stored.
    pub imported: u64,
}

/// Imports records from CSV (header row = field names). All or nothing: any error refuses the
/// whole file with every error and its line number.
#[utoipa::path(post, path = "/v1/lists/{id}/import", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = Problem)))]
async fn import_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    body: Bytes,
) -> ApiResult<axum::Json<ImportReport>> {
    let tenant = allow(&state, &ctx, Action::Update).await?;
    let list = load(&state, tenant, id).await?;
    let rows = parse_csv(&list, &body).map_err(import_errors)?;
    let now = state.clock.now();
    let sealed = seal_rows(&state, tenant, &list, rows.iter().map(|(line, m)| (*line, m)), now).await?;
    let mut tx = state.store.begin().await?;
    for s in &sealed {
        tx.insert_record(tenant, &s.record, &s.blind).await?;
    }
    let event = ctx
        .event("list.import")
        .target("list", list.id)
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "records": sealed.len() }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(ImportReport { imported: sealed.len() as u64 }))
}

fn import_errors(errors: Vec<ImportError>) -> ApiError {
    let first = errors.first().map_or_else(String::new, |e| format!("line {}: {}", e.line, e.message));
    let n = errors.len();
    let mut e = ApiError::invalid(format!("the file was refused ({n} error(s); nothing was imported); {first}"));
    e = e.with_details(serde_json::json!({ "errors": errors }));
    e
}

async fn seal_rows<'a>(
    state: &AppState,
    tenant: TenantId,
    list: &RecordList,
    rows: impl Iterator<Item = (u64, &'a Map<String, Value>)>,
    now: Timestamp,
) -> ApiResult<Vec<callvault_core::lists::SealedRecord>> {
    let needs_key = list.fields.iter().any(|f| f.encrypted);
    let (dk, blind) = if needs_key {
        let mut r = state.store.reader().await?;
        let active =
            r.data_keys(tenant).await?.into_iter().find(|v| v.state == callvault_model::vault::KeyState::Active);
        let dk = match active {
            Some(v) => Some(state.vault.data_key(&mut r, tenant, v.version).await?),
            None => {
                return Err(ApiError::conflict(
                    "this list has encrypted fields but encryption is not enabled for the tenant (no active data key)",
                ));
            }
        };
        (dk, state.vault.blind_key(&mut r, tenant).await?)
    } else {
        (None, None)
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (line, values) in rows {
        match seal_record(tenant, list, values, dk.as_deref(), blind.as_ref(), now) {
            Ok(s) => out.push(s),
            Err(message) => {
                errors.push(ImportError { line, message });
                if errors.len() >= callvault_core::lists::MAX_REPORTED_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(import_errors(errors)) }
}

/// Adds one record (or form submission) from a JSON object of field values.
#[utoipa::path(post, path = "/v1/lists/{id}/records", tag = "lists", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = RecordView), (status = 422, body = Problem)))]
async fn add_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    Json(values): Json<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<RecordView>)> {
    let tenant = allow(&state, &ctx, Action::Update).await?;
    let list = load(&state, tenant, id).await?;
    let now = state.clock.now();
    let mut sealed = seal_rows(&state, tenant, &list, std::iter::once((1, &values)), now).await?;
    let s = sealed.pop().ok_or_else(|| ApiError::internal("no record sealed"))?;
    let mut tx = state.store.begin().await?;
    tx.insert_record(tenant, &s.record, &s.blind).await?;
    let event = ctx
        .event("list.record_create")
        .target("list", list.id)
        .target("record", s.record.id)
        .origin(ctx.origin(&state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RecordView {
            id: s.record.id,
            created_at: s.record.created_at,
            key_version: s.record.key_version,
            fields: values,
        }),
    ))
}

/// A record with its fields in clear.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    /// Identifier.
    pub id: RecordId,
    /// Created.
    pub created_at: Timestamp,
    /// The data key version of its encrypted fields.
    pub key_version: Option<u32>,
    /// Field values.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// Search and paging of records.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// Field to search (an encrypted field with `searchable`, or a plain field).
    pub field: Option<String>,
    /// Value it must equal.
    pub equals: Option<String>,
    /// Ids after this one.
    pub after: Option<RecordId>,
    /// Page size (1..=500, default 100).
    pub limit: Option<i64>,
}

fn open_all(
    tenant: TenantId,
    recs: &[StoredRecord],
    dk: &std::collections::HashMap<u32, std::sync::Arc<callvault_crypto::envelope::DataKey>>,
) -> ApiResult<Vec<RecordView>> {
    recs.iter()
        .map(|r| {
            let key = r.key_version.and_then(|v| dk.get(&v)).map(|k| k.as_ref());
            Ok(RecordView {
                id: r.id,
                created_at: r.created_at,
                key_version: r.key_version,
                fields: open_record(tenant, r, key)?,
            })
        })
        .collect()
}

async fn keys_for(
    state: &AppState,
    tenant: TenantId,
    recs: &[StoredRecord],
) -> ApiResult<std::collections::HashMap<u32, std::sync::Arc<callvault_crypto::envelope::DataKey>>> {
    let mut map = std::collections::HashMap::new();
    let mut r = state.store.reader().await?;
    for v in recs.iter().filter_map(|r| r.key_version) {
        if let std::collections::hash_map::Entry::Vacant(e) = map.entry(v) {
            e.insert(state.vault.data_key(&mut r, tenant, v).await?);
        }
    }
    Ok(map)
}

/// Records with their fields decrypted (an audited decrypting read). `field` + `equals` search
/// encrypted fields through their blind index, without decrypting anything else.
#[utoipa::path(get, path = "/v1/lists/{id}/records", tag = "lists", security(("bearer" = [])),
    params(("id" = String, Path), RecordQuery),
    responses((status = 200, body = [RecordView]), (status = 422, body = Problem)))]
async fn list_records(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ListId>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<axum::Json<Vec<RecordView>>> {
    let tenant = allow(&state, &ctx, Action::Read).await?;
    let list = load(&state, tenant, id).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1..=500"));
    }
    let recs = match (&q.field, &q.equals) {
        (Some(field), Some(value)) => {
            let Some(def) = list.fields.iter().find(|f| &f.name == field) else {
                return Err(ApiError::invalid(format!(
                    "unknown field `{}`",
                    field.chars().take(64).collect::<String>()
                )));
            };
            if def.encrypted && !def.searchable {
                return Err(ApiError::invalid(format!(
                    "field `{field}` is encrypted without a blind index; it cannot be searched"
                )));
            }
            let mut r = state.store.reader().await?;
            if def.encrypted {
                let key = state
                    .vault
                    .blind_key(&mut r, tenant)
                    .await?
                    .ok_or_else(|| ApiError::conflict("no blind-index key"))?;
                let digest = key.index(list.id.0.as_bytes(), field, &callvault_core::lists::normalise(value));
                r.records_by_blind(tenant, list.id, field, &digest).await?
            } else {
                // Plain fields: filter a page scan (lists are paged; blind indexes are for encrypted ones).
                let mut found = Vec::new();
                let mut after = None;
                loop {
                    let page = r.records(tenant, list.id, after, 500).await?;
                    let done = page.len() < 500;
                    after = page.last().map(|r| r.id);
                    found.extend(
                        page.into_iter()
                            .filter(|rec| rec.plain.get(field).and_then(Value::as_str) == Some(value.as_str())),
                    );
                    if done || found.len() >= limit as usize {
                        break;
                    }
                }
                found.truncate(limit as usize);
                found
            }
        }
        (None, None) => state.store.reader().await?.records(tenant, list.id, q.after, limit).await?,
        _ => return Err(ApiError::invalid("field and equals go together")),
    };
    let keys = keys_for(&state, tenant, &recs).await?;
    let views = open_all(tenant, &recs, &keys)?;
    if recs.iter().any(|r| r.key_version.is_some()) {
        let event = ctx.event("list.records_read").target("list", list.id).origin(ctx.origin(&state)).details(
            serde_json::json!({ "records": recs.iter().map(|r| r.id).collect::<Vec<_>>(), "decrypted": true }),
        );
        state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
    }
    Ok(axum::Json(views))
}

/// One record, decrypted (audited).
#[utoipa::path(get, path = "/v1/lists/{id}/records/{record}", tag = "lists", security(("bearer" = [])),
    params(("id" = String, Path), ("record" = String, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = Problem)))]
async fn get_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, record)): Path<(ListId, RecordId)>,
) -> ApiResult<axum::Json<RecordView>> {
    let tenant = allow(&state, &ctx, Action::Read).await?;
    let rec =
        state.store.reader().await?.record(tenant, id, record).await.map_err(|e| ApiError::from_store(e, "record"))?;
    let keys = keys_for(&state, tenant, std::slice::from_ref(&rec)).await?;
    let mut views = open_all(tenant, std::slice::from_ref(&rec), &keys)?;
    if rec.key_version.is_some() {
        let event =
            ctx.event("list.records_read").target("list", id).target("record", rec.id).origin(ctx.origin(&state));
        state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
    }
    views.pop().map(axum::Json).ok_or_else(|| ApiError::not_found("record"))
}
