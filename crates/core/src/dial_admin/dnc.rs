//! Do-not-call lists: internal lists (a customer asked not to be called; numbers added and
//! removed one at a time) and copies of national registries (replaced whole by an import: one
//! number per line, CSV, or the FTC's area code and number pairs). An import with any bad line
//! is refused whole, with line numbers; the copy in force stays until the new one is written,
//! committed and swapped in.

use callvault_model::access::{Action, Resource};
use callvault_model::dial::{DncList, DncListKind};
use callvault_model::records::Timestamp;
use callvault_model::{DncListId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_policy::dnc::{CompactSet, RegistryParser};
use callvault_policy::numbers;
use callvault_store::DialStore;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::{DialAdminError, check_name, missing, row};
use crate::caller::{Ctx, Permit};
use crate::dial::{number_key, write_set};
use crate::services::Services;

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

/// Whether a number was new on its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It was not on the list.
    New,
    /// It was there already.
    Already,
}

async fn allow(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, DialAdminError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::DoNotCall, tenant)).await?)
}

async fn find(state: &Services, tenant: TenantId, id: DncListId) -> Result<DncList, DialAdminError> {
    let lists = state.store.reader().await?.dnc_lists(Some(tenant)).await?;
    lists.into_iter().find(|l| l.id == id).ok_or_else(|| missing("list"))
}

/// The tenant's lists (the shared national registries included).
pub async fn lists(state: &Services, ctx: &Ctx) -> Result<Vec<DncList>, DialAdminError> {
    let permit = allow(state, ctx, Action::Read).await?;
    Ok(state.store.reader().await?.dnc_lists(Some(permit.tenant())).await?)
}

/// Creates a list; a registry covers one country calling code (default 1, NANP).
pub async fn create(state: &Services, ctx: &Ctx, new: NewDncList) -> Result<DncList, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    check_name(&new.name)?;
    let country_code = match new.kind {
        DncListKind::Registry => Some(new.country_code.unwrap_or(1)),
        DncListKind::Internal => None,
    };
    if country_code.is_some_and(|c| c == 0 || c > 999) {
        return Err(DialAdminError::Invalid("country_code: 1 to 999".into()));
    }
    let tenant = permit.tenant();
    permit.covers(Action::Update, Resource::DoNotCall, tenant)?;
    let now = state.clock.now();
    let list = DncList {
        id: DncListId::new(),
        tenant_id: tenant,
        name: new.name,
        kind: new.kind,
        country_code,
        entries: 0,
        refreshed_at: (new.kind == DncListKind::Internal).then_some(now),
        file_sha256: None,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_dnc_list(&list).await.map_err(row("list"))?;
    let event = ctx.event("dnc.list.create").target("dnc_list", list.id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.add_list(list.clone());
    Ok(list)
}

/// Deletes a list.
pub async fn delete(state: &Services, ctx: &Ctx, id: DncListId) -> Result<(), DialAdminError> {
    let permit = allow(state, ctx, Action::Delete).await?;
    let tenant = permit.tenant();
    let list = find(state, tenant, id).await?;
    permit.covers(Action::Delete, Resource::DoNotCall, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dnc_list(tenant, id).await.map_err(row("list"))?;
    let event = ctx.event("dnc.list.delete").target("dnc_list", id).origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.remove_list(&list);
    Ok(())
}

/// When a registry copy was published: an RFC 3339 instant or `YYYY-MM-DD` (UTC midnight), not
/// in the future; `now` when not given.
pub fn refreshed_at(given: Option<&str>, now: Timestamp) -> Result<Timestamp, DialAdminError> {
    let Some(s) = given else { return Ok(now) };
    let t = s
        .parse::<jiff::Timestamp>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>().and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC)).map(|z| z.timestamp())
        })
        .map_err(|_| DialAdminError::Invalid("refreshed_at: an RFC 3339 instant or YYYY-MM-DD".into()))?;
    if t.as_millisecond() > now.millis() {
        return Err(DialAdminError::Invalid("refreshed_at: in the future".into()));
    }
    Ok(Timestamp(t.as_millisecond()))
}

/// Replaces a registry copy with the file read from `body`, published at `published` (see
/// [`refreshed_at`]).
pub async fn import<B: AsRef<[u8]>, E: std::fmt::Display>(
    state: &Services,
    ctx: &Ctx,
    id: DncListId,
    published: Option<&str>,
    mut body: impl Stream<Item = Result<B, E>> + Unpin,
) -> Result<ImportResult, DialAdminError> {
    let permit = allow(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    let list = find(state, tenant, id).await?;
    if list.kind != DncListKind::Registry {
        return Err(DialAdminError::WrongListKind(
            "only registry lists are imported; add numbers to internal lists one by one",
        ));
    }
    let now = state.clock.now();
    let refreshed = refreshed_at(published, now)?;
    let mut parser = RegistryParser::new(list.country_code.unwrap_or(1));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| DialAdminError::Body(e.to_string()))?;
        parser.feed(chunk.as_ref());
    }
    parser.finish();
    if parser.error_count > 0 {
        return Err(DialAdminError::File { count: parser.error_count, errors: parser.errors });
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
    .map_err(|e| DialAdminError::Internal(e.to_string()))?
    .map_err(|e| DialAdminError::Io(e.to_string()))?;
    permit.covers(Action::Update, Resource::DoNotCall, tenant)?;
    // The other nodes load the copy from the bucket once the row names it.
    state.dial.share_copy(tenant, id, &sha).await.map_err(|e| DialAdminError::Io(e.to_string()))?;
    let mut tx = state.store.begin().await?;
    tx.update_dnc_import(id, set.len(), refreshed, &sha).await?;
    let event = ctx
        .event("dnc.list.import")
        .target("dnc_list", id)
        .details(serde_json::json!({ "numbers": set.len(), "sha256": sha, "refreshed_at": refreshed.millis() }))
        .origin(ctx.origin(state));
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
    Ok(result)
}

/// The internal list `id` and the key of `number` read in the tenant's default region.
async fn internal_number(
    state: &Services,
    tenant: TenantId,
    id: DncListId,
    number: &str,
) -> Result<u64, DialAdminError> {
    let list = find(state, tenant, id).await?;
    if list.kind != DncListKind::Internal {
        return Err(DialAdminError::WrongListKind("registry lists change by import only"));
    }
    let region = state.dial.tenant(&state.store, tenant).await?.policy.settings().default_region.clone();
    let n = numbers::parse(number, Some(&region)).map_err(|e| DialAdminError::Invalid(format!("number: {e}")))?;
    number_key(&n).ok_or_else(|| DialAdminError::Invalid("number: not a number".into()))
}

/// Adds a number to an internal list (a customer asked not to be called).
pub async fn add_number(state: &Services, ctx: &Ctx, id: DncListId, number: &str) -> Result<Added, DialAdminError> {
    let permit = allow(state, ctx, Action::Create).await?;
    let tenant = permit.tenant();
    let key = internal_number(state, tenant, id, number).await?;
    permit.covers(Action::Create, Resource::DoNotCall, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let added = tx.insert_dnc_number(id, key, now).await?;
    let digest = state.auditor.pseudonym(format!("+{key}").as_bytes());
    let event = ctx
        .event("dnc.number.add")
        .target("dnc_list", id)
        .details(serde_json::json!({ "number_digest": digest, "new": added }))
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.set_internal(id, key, true);
    Ok(if added { Added::New } else { Added::Already })
}

/// Removes a number from an internal list.
pub async fn remove_number(state: &Services, ctx: &Ctx, id: DncListId, number: &str) -> Result<(), DialAdminError> {
    let permit = allow(state, ctx, Action::Delete).await?;
    let tenant = permit.tenant();
    let key = internal_number(state, tenant, id, number).await?;
    permit.covers(Action::Delete, Resource::DoNotCall, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.delete_dnc_number(id, key).await.map_err(row("number on the list"))?;
    let digest = state.auditor.pseudonym(format!("+{key}").as_bytes());
    let event = ctx
        .event("dnc.number.remove")
        .target("dnc_list", id)
        .details(serde_json::json!({ "number_digest": digest }))
        .origin(ctx.origin(state));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dial.set_internal(id, key, false);
    Ok(())
}
