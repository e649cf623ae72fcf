//! Calling lists and activity forms as a service: create a list, import a CSV file (all or
//! nothing, every error with its line number), add a record, and read records with their
//! encrypted fields opened (each decrypting read audited). A search on an encrypted field goes
//! through its blind index and opens only what matches.

use std::collections::HashMap;
use std::sync::Arc;

use callvault_crypto::envelope::DataKey;
use callvault_model::access::{Action, Resource};
use callvault_model::personal::IdentifierKind;
use callvault_model::records::Timestamp;
use callvault_model::vault::{FieldDef, KeyState, ListKind, RecordList, StoredRecord};
use callvault_model::{ListId, PrincipalId, RecordId, ServiceId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{ConflictKind, RecordIdentifier, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    ImportError, ListError, MAX_REPORTED_ERRORS, SealedRecord, normalise, open_record, parse_csv, seal_record,
};
use crate::audit::AppendError;
use crate::caller::{AccessError, Ctx, Permit};
use crate::input::{self, InputError};
use crate::services::Services;
use crate::subjects::{self, Linker, SubjectError};
use crate::vault::KeyError;

/// The largest page of records.
pub const MAX_PAGE: i64 = 500;

/// Why a list or record was not created or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The list's name is not acceptable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The field definitions or a value are not acceptable.
    #[error(transparent)]
    Fields(#[from] ListError),
    /// A query is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Rows were refused; nothing was stored.
    #[error("the file was refused ({} error(s); nothing was imported); {}", .0.len(), first_error(.0))]
    Refused(Vec<ImportError>),
    /// The list has encrypted fields but the tenant has no active data key.
    #[error("this list has encrypted fields but encryption is not enabled for the tenant (no active data key)")]
    EncryptionNotEnabled,
    /// No blind-index key to search encrypted fields with.
    #[error("no blind-index key")]
    NoBlindIndexKey,
    /// No such list or record in the tenant, or a duplicate name.
    #[error("{what}: {error}")]
    Row {
        /// What kind of object.
        what: &'static str,
        /// What the store said.
        error: StoreError,
    },
    /// A data key is not available.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant.
    #[error("{0}")]
    Internal(&'static str),
}

fn first_error(errors: &[ImportError]) -> String {
    errors.first().map_or_else(String::new, |e| format!("line {}: {}", e.line, e.message))
}

fn row(what: &'static str) -> impl FnOnce(StoreError) -> RecordError {
    move |error| match error {
        StoreError::NotFound | StoreError::Conflict(ConflictKind::Duplicate | ConflictKind::Reference) => {
            RecordError::Row { what, error }
        }
        other => RecordError::Store(other),
    }
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
    /// The service or campaign it belongs to: the agents assigned to it read its records.
    #[serde(default)]
    pub service_id: Option<ServiceId>,
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

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, RecordError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::CallingList, tenant)).await?)
}

async fn load(state: &Services, tenant: TenantId, id: ListId) -> Result<RecordList, RecordError> {
    state.store.reader().await?.list(tenant, id).await.map_err(row("list"))
}

/// A list as a resource: it belongs to its service (grants limited to that service reach it),
/// and a user assigned to the service owns it for `:own` privileges — agents read the records
/// of the services and campaigns they work on, and nothing else of the lists.
fn list_ref<'a>(list: &'a RecordList, ctx: &Ctx, assigned: &[ServiceId]) -> ResourceRef<'a> {
    let resource = ResourceRef {
        services: list.service_id.as_slice(),
        ..ResourceRef::tenant_wide(Resource::CallingList, list.tenant_id)
    };
    match (list.service_id, ctx.user()) {
        (Some(service), Ok(user)) if assigned.contains(&service) => resource.with_owner(PrincipalId::User(user)),
        _ => resource,
    }
}

/// The services and campaigns the calling user is assigned to (none for service accounts).
async fn assigned(state: &Services, ctx: &Ctx, tenant: TenantId) -> Result<Vec<ServiceId>, RecordError> {
    match ctx.user() {
        Ok(user) => Ok(state.store.reader().await?.assignments(tenant, user).await?.services),
        Err(_) => Ok(Vec::new()),
    }
}

/// The caller's permit to `action` one list, with the list. A caller who may reach no list at
/// all is refused before the list is looked up (learns nothing of it).
async fn allow_on(
    state: &Services,
    ctx: &Ctx,
    action: Action,
    id: ListId,
) -> Result<(Permit, RecordList), RecordError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(action, Resource::CallingList) {
        allow(state, ctx, action).await?;
    }
    let list = load(state, tenant, id).await?;
    let assigned = assigned(state, ctx, tenant).await?;
    let permit = ctx.authorize(state, action, &list_ref(&list, ctx, &assigned)).await?;
    Ok((permit, list))
}

/// The tenant's calling lists or forms the caller may read.
pub async fn lists(state: &Services, ctx: &Ctx, kind: ListKind) -> Result<Vec<RecordList>, RecordError> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, Resource::CallingList) {
        allow(state, ctx, Action::Read).await?;
    }
    let assigned = assigned(state, ctx, tenant).await?;
    let all = state.store.reader().await?.lists(tenant, kind).await?;
    Ok(all.into_iter().filter(|l| ctx.decide(Action::Read, &list_ref(l, ctx, &assigned)).is_allowed()).collect())
}

/// One list or form.
pub async fn list(state: &Services, ctx: &Ctx, id: ListId) -> Result<RecordList, RecordError> {
    Ok(allow_on(state, ctx, Action::Read, id).await?.1)
}

/// Puts a list into a service or campaign (or takes it out): the agents assigned to the service
/// then read its records. Audited.
pub async fn set_service(
    state: &Services,
    ctx: &Ctx,
    id: ListId,
    service: Option<ServiceId>,
) -> Result<RecordList, RecordError> {
    let (permit, mut list) = allow_on(state, ctx, Action::Update, id).await?;
    let tenant = permit.tenant();
    if let Some(s) = service {
        state.store.reader().await?.service(tenant, s).await.map_err(row("service"))?;
    }
    let mut tx = state.store.begin().await?;
    tx.set_list_service(tenant, id, service).await.map_err(row("list"))?;
    let event = ctx
        .event("list.service")
        .target("list", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "from": list.service_id, "to": service }));
    state.auditor.record(&mut tx, state.clock.now(), &event).await?;
    tx.commit().await?;
    list.service_id = service;
    Ok(list)
}

/// Creates a calling list or form.
pub async fn create(state: &Services, ctx: &Ctx, new: CreateList) -> Result<RecordList, RecordError> {
    let tenant = ctx.tenant()?;
    let resource =
        ResourceRef { services: new.service_id.as_slice(), ..ResourceRef::tenant_wide(Resource::CallingList, tenant) };
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    super::validate_fields(&new.fields)?;
    if let Some(s) = new.service_id {
        state.store.reader().await?.service(tenant, s).await.map_err(row("service"))?;
    }
    let now = state.clock.now();
    let list = RecordList {
        id: ListId::new(),
        tenant_id: tenant,
        kind: new.kind,
        name: input::name("name", &new.name)?,
        fields: new.fields,
        service_id: new.service_id,
        records: 0,
        created_at: now,
    };
    permit.covers(Action::Create, Resource::CallingList, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.insert_list(&list).await.map_err(row("list"))?;
    let fields: Vec<_> = list.fields.iter().map(|f| (&f.name, f.encrypted)).collect();
    let event = ctx
        .event("list.create")
        .target("list", list.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "kind": list.kind, "fields": fields }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(list)
}

/// Imports records from CSV (header row = field names). All or nothing: any error refuses the
/// whole file with every error (up to [`MAX_REPORTED_ERRORS`]) and its line number. Returns how
/// many records were stored.
pub async fn import_csv(state: &Services, ctx: &Ctx, id: ListId, csv: &[u8]) -> Result<u64, RecordError> {
    let (permit, list) = allow_on(state, ctx, Action::Update, id).await?;
    let tenant = permit.tenant();
    let rows = parse_csv(&list, csv).map_err(RecordError::Refused)?;
    let now = state.clock.now();
    let sealed = seal_rows(state, tenant, &list, rows.iter().map(|(line, m)| (*line, m)), now).await?;
    let links = identifier_links(state, tenant, &list, rows.iter().map(|(_, m)| m).zip(&sealed)).await?;
    permit.covers(Action::Update, Resource::CallingList, tenant)?;
    let mut tx = state.store.begin().await?;
    for s in &sealed {
        tx.insert_record(tenant, &s.record, &s.blind).await?;
    }
    link_records(&mut tx, tenant, links, list.id).await?;
    let event = ctx
        .event("list.import")
        .target("list", list.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "records": sealed.len() }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(sealed.len() as u64)
}

async fn seal_rows<'a>(
    state: &Services,
    tenant: TenantId,
    list: &RecordList,
    rows: impl Iterator<Item = (u64, &'a Map<String, Value>)>,
    now: Timestamp,
) -> Result<Vec<SealedRecord>, RecordError> {
    let (dk, blind) = if list.fields.iter().any(|f| f.encrypted) {
        let mut r = state.store.reader().await?;
        let active = r.data_keys(tenant).await?.into_iter().find(|v| v.state == KeyState::Active);
        let Some(active) = active else { return Err(RecordError::EncryptionNotEnabled) };
        (
            Some(state.vault.data_key(&mut r, tenant, active.version).await?),
            state.vault.blind_key(&mut r, tenant).await?,
        )
    } else {
        (None, None)
    };
    let redact = state.store.reader().await?.tenant(tenant).await?.settings.redact_card_numbers;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (line, values) in rows {
        match seal_record(tenant, list, values, (dk.as_deref(), blind.as_ref()), redact, now) {
            Ok(s) => out.push(s),
            Err(message) => {
                errors.push(ImportError { line, message });
                if errors.len() >= MAX_REPORTED_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(RecordError::Refused(errors)) }
}

/// Per record, its fields that hold an identifier: (field, kind, blind index).
type Links = Vec<(RecordId, Vec<(String, IdentifierKind, String)>)>;

/// Per record, the (field, kind, blind index) of its fields that hold a customer identifier;
/// values that are not one (an anonymous number) are not linked.
async fn identifier_links<'a>(
    state: &Services,
    tenant: TenantId,
    list: &RecordList,
    records: impl Iterator<Item = (&'a Map<String, Value>, &'a SealedRecord)>,
) -> Result<Links, RecordError> {
    let fields: Vec<(&str, IdentifierKind)> =
        list.fields.iter().filter_map(|f| f.identifier.map(|k| (f.name.as_str(), k))).collect();
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let linker = match Linker::for_tenant(state, tenant).await {
        Ok(l) => l.ok_or(RecordError::EncryptionNotEnabled)?,
        Err(SubjectError::Key(e)) => return Err(e.into()),
        Err(SubjectError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(RecordError::Internal("the tenant's dial settings (default region) did not load")),
    };
    let mut out = Vec::new();
    for (values, sealed) in records {
        let found: Vec<_> = fields
            .iter()
            .filter_map(|(name, kind)| {
                let value = values.get(*name)?.as_str()?;
                Some((name.to_string(), *kind, linker.blind(*kind, value)?))
            })
            .collect();
        if !found.is_empty() {
            out.push((sealed.record.id, found));
        }
    }
    Ok(out)
}

/// Links records to the subjects of their identifiers (one subject per record: its identifiers
/// were seen together).
async fn link_records(
    tx: &mut callvault_store::Tx,
    tenant: TenantId,
    links: Links,
    list: ListId,
) -> Result<(), RecordError> {
    for (record, fields) in links {
        let blinds: Vec<(IdentifierKind, String)> = fields.iter().map(|(_, k, b)| (*k, b.clone())).collect();
        let Some(subject) = subjects::link(tx, tenant, &blinds).await? else { continue };
        let rows: Vec<RecordIdentifier> = fields
            .into_iter()
            .map(|(field, kind, blind)| RecordIdentifier {
                record_id: record,
                list_id: list,
                field,
                kind,
                blind,
                subject_id: subject,
            })
            .collect();
        tx.insert_record_identifiers(tenant, &rows).await?;
    }
    Ok(())
}

/// Adds one record (or form submission) from a JSON object of field values.
pub async fn add_record(
    state: &Services,
    ctx: &Ctx,
    id: ListId,
    values: Map<String, Value>,
) -> Result<RecordView, RecordError> {
    let (permit, list) = allow_on(state, ctx, Action::Update, id).await?;
    let tenant = permit.tenant();
    let now = state.clock.now();
    let sealed = seal_rows(state, tenant, &list, std::iter::once((1, &values)), now).await?;
    let Some(s) = sealed.into_iter().next() else {
        return Err(RecordError::Internal("no record sealed"));
    };
    let links = identifier_links(state, tenant, &list, std::iter::once((&values, &s))).await?;
    permit.covers(Action::Update, Resource::CallingList, tenant)?;
    let mut tx = state.store.begin().await?;
    tx.insert_record(tenant, &s.record, &s.blind).await?;
    link_records(&mut tx, tenant, links, list.id).await?;
    let event =
        ctx.event("list.record_create").target("list", list.id).target("record", s.record.id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(RecordView {
        id: s.record.id,
        created_at: s.record.created_at,
        key_version: s.record.key_version,
        fields: values,
    })
}

type Keys = HashMap<u32, Arc<DataKey>>;

fn open_all(tenant: TenantId, recs: &[StoredRecord], dk: &Keys) -> Result<Vec<RecordView>, RecordError> {
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

async fn keys_for(state: &Services, tenant: TenantId, recs: &[StoredRecord]) -> Result<Keys, RecordError> {
    let mut map = HashMap::new();
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
pub async fn records(state: &Services, ctx: &Ctx, id: ListId, q: &RecordQuery) -> Result<Vec<RecordView>, RecordError> {
    let (permit, list) = allow_on(state, ctx, Action::Read, id).await?;
    let tenant = permit.tenant();
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(RecordError::Invalid(format!("limit: 1..={MAX_PAGE}")));
    }
    let recs = match (&q.field, &q.equals) {
        (Some(field), Some(value)) => search(state, tenant, &list, field, value, limit).await?,
        (None, None) => state.store.reader().await?.records(tenant, list.id, q.after, limit).await?,
        _ => return Err(RecordError::Invalid("field and equals go together".into())),
    };
    let keys = keys_for(state, tenant, &recs).await?;
    let views = open_all(tenant, &recs, &keys)?;
    if recs.iter().any(|r| r.key_version.is_some()) {
        let ids: Vec<_> = recs.iter().map(|r| r.id).collect();
        let event = ctx
            .event("list.records_read")
            .target("list", list.id)
            .origin(ctx.origin(state))
            .details(serde_json::json!({ "records": ids, "decrypted": true }));
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    Ok(views)
}

async fn search(
    state: &Services,
    tenant: TenantId,
    list: &RecordList,
    field: &str,
    value: &str,
    limit: i64,
) -> Result<Vec<StoredRecord>, RecordError> {
    let Some(def) = list.fields.iter().find(|f| f.name == field) else {
        return Err(RecordError::Invalid(format!("unknown field `{}`", field.chars().take(64).collect::<String>())));
    };
    if def.encrypted && !def.searchable {
        return Err(RecordError::Invalid(format!(
            "field `{field}` is encrypted without a blind index; it cannot be searched"
        )));
    }
    let mut r = state.store.reader().await?;
    if def.encrypted {
        let key = state.vault.blind_key(&mut r, tenant).await?.ok_or(RecordError::NoBlindIndexKey)?;
        let digest = key.index(list.id.0.as_bytes(), field, &normalise(value));
        return Ok(r.records_by_blind(tenant, list.id, field, &digest).await?);
    }
    // Plain fields: filter a page scan (lists are paged; blind indexes are for encrypted ones).
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = r.records(tenant, list.id, after, MAX_PAGE).await?;
        let done = page.len() < 500;
        after = page.last().map(|r| r.id);
        found.extend(page.into_iter().filter(|rec| rec.plain.get(field).and_then(Value::as_str) == Some(value)));
        if done || found.len() >= limit {
            break;
        }
    }
    found.truncate(limit);
    Ok(found)
}

/// One record, decrypted (audited).
pub async fn record(state: &Services, ctx: &Ctx, id: ListId, record: RecordId) -> Result<RecordView, RecordError> {
    let (permit, _) = allow_on(state, ctx, Action::Read, id).await?;
    let tenant = permit.tenant();
    let rec = state.store.reader().await?.record(tenant, id, record).await.map_err(row("record"))?;
    let keys = keys_for(state, tenant, std::slice::from_ref(&rec)).await?;
    let view = open_all(tenant, std::slice::from_ref(&rec), &keys)?.pop();
    if rec.key_version.is_some() {
        let event =
            ctx.event("list.records_read").target("list", id).target("record", rec.id).origin(ctx.origin(state));
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    view.ok_or(RecordError::Row { what: "record", error: StoreError::NotFound })
}
