//! Which optional categories of personal data a tenant collects: directory information (also
//! switchable per user), recordings and reporting data; user master data, contact records and
//! calling lists are what the service runs on and are always kept. A category switched off is
//! refused at write time (addresses of users, uploads of content), and switching it off while
//! data of it exists purges that data — only when the administrator confirms, after being told
//! how much there is.

use callvault_model::access::{Action, Resource};
use callvault_model::personal::Category;
use callvault_model::vault::StoredObject;
use callvault_model::{TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{ObjectQuery, RecordingStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::audit::{AppendError, AuditEvent};
use crate::caller::{AccessError, Ctx};
use crate::retention::{BATCH, Gone, remove};
use crate::services::Services;

/// Why a switch was not changed.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Switching off would purge existing data; the caller has to confirm.
    #[error(
        "{count} item(s) of {category} exist and would be purged; repeat with \"confirm_purge\": true to switch \
         collection off and purge them"
    )]
    NeedsConfirmation {
        /// The category.
        category: Category,
        /// How many items.
        count: u64,
    },
    /// No such user in the tenant.
    #[error("no such user")]
    NoSuchUser,
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The categories a tenant may switch off.
const SWITCHABLE: [Category; 3] = [Category::Directory, Category::Recordings, Category::Reporting];

/// What a tenant collects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Collection {
    /// Directory information (users' addresses).
    pub directory: bool,
    /// Recordings, transcripts, e-mails and attachments.
    pub recordings: bool,
    /// Per-person reporting data.
    pub reporting: bool,
    /// Users whose directory information is not collected.
    pub users_without_directory: Vec<UserId>,
}

/// A tenant's switch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCollection {
    /// `directory`, `recordings` or `reporting`.
    #[schema(value_type = String)]
    pub category: Category,
    /// Collected or not.
    pub collected: bool,
    /// Purge what exists when switching off (required when anything exists).
    #[serde(default)]
    pub confirm_purge: bool,
}

/// One user's directory switch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetUserCollection {
    /// Whether the user's directory information is collected.
    pub directory: bool,
    /// Purge the user's addresses when switching off (required when there are any).
    #[serde(default)]
    pub confirm_purge: bool,
}

/// Whether `category` is collected in `tenant` (and for `user`, for directory information).
pub async fn collected(
    state: &Services,
    tenant: TenantId,
    user: Option<UserId>,
    category: Category,
) -> Result<bool, StoreError> {
    let off = state.store.reader().await?.collection_off(tenant).await?;
    Ok(!off.iter().any(|(u, c)| *c == category && (u.is_none() || *u == user)))
}

async fn view(state: &Services, tenant: TenantId) -> Result<Collection, StoreError> {
    let off = state.store.reader().await?.collection_off(tenant).await?;
    let on = |c: Category| !off.iter().any(|(u, x)| u.is_none() && *x == c);
    Ok(Collection {
        directory: on(Category::Directory),
        recordings: on(Category::Recordings),
        reporting: on(Category::Reporting),
        users_without_directory: off
            .iter()
            .filter(|(u, c)| *c == Category::Directory && u.is_some())
            .filter_map(|(u, _)| *u)
            .collect(),
    })
}

/// What the tenant collects (administrators).
pub async fn get(state: &Services, ctx: &Ctx) -> Result<Collection, CollectionError> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?;
    Ok(view(state, tenant).await?)
}

/// The tenant's recordings, page by page.
async fn recordings(state: &Services, tenant: TenantId) -> Result<Vec<StoredObject>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let q = ObjectQuery { class: None, interaction: None, after, limit: 1000 };
        let page = state.store.reader().await?.objects(tenant, &q).await?;
        let Some(last) = page.last() else { return Ok(out) };
        after = Some(last.id);
        out.extend(page.into_iter().filter(|o| o.class.category() == Category::Recordings));
    }
}

/// Switches a category on or off for the tenant (administrators; audited). Switching off with
/// data of it present needs `confirm_purge`, and then purges it: users' addresses, or every
/// recording (crypto-shredded, blobs removed).
pub async fn set(state: &Services, ctx: &Ctx, s: SetCollection) -> Result<Collection, CollectionError> {
    let tenant = ctx.tenant()?;
    let permit =
        ctx.authorize(state, Action::Update, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?;
    if !SWITCHABLE.contains(&s.category) {
        return Err(CollectionError::Invalid(format!(
            "category: {} is always collected; directory, recordings and reporting can be switched off",
            s.category
        )));
    }
    let existing = match (s.collected, s.category) {
        (false, Category::Directory) => state.store.reader().await?.count_addresses(tenant, None).await?,
        (false, Category::Recordings) => recordings(state, tenant).await?.len() as u64,
        (false, Category::Reporting) => state.store.reader().await?.count_performance(tenant).await?,
        _ => 0,
    };
    if existing > 0 && !s.confirm_purge {
        return Err(CollectionError::NeedsConfirmation { category: s.category, count: existing });
    }
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_collection(tenant, None, s.category, s.collected, now).await?;
    let purged = match (s.collected, s.category) {
        (false, Category::Directory) => tx.delete_addresses(tenant, None).await?,
        (false, Category::Reporting) => {
            tx.delete_performance_before(tenant, callvault_model::records::Timestamp(i64::MAX)).await?
        }
        _ => 0,
    };
    let event = ctx.event("collection.set").origin(ctx.origin(state)).details(serde_json::json!({
        "category": s.category, "collected": s.collected, "purged": purged,
    }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    if !s.collected && s.category == Category::Recordings && existing > 0 {
        // Switched off first: no new recording is stored while the existing ones are purged.
        let objects = recordings(state, tenant).await?;
        for chunk in objects.chunks(BATCH) {
            let items: Vec<Gone> = chunk.iter().map(|o| Gone::Object(o.id, o.class.category())).collect();
            let event = ctx.event("object.purged").details(serde_json::json!({ "reason": "collection_off" }));
            let done = remove(state, tenant, &items, "collection_off", None, event).await?;
            for o in chunk.iter().filter(|o| done.iter().any(|g| matches!(g, Gone::Object(id, _) if *id == o.id))) {
                if state.vault.blobs.delete(tenant, &o.blob).await.is_err() {
                    tracing::warn!(object = %o.id, "a purged recording's blob was not removed; the sweep will");
                }
            }
        }
    }
    Ok(view(state, tenant).await?)
}

/// Switches one user's directory information on or off (whoever may update the user: an
/// administrator, or the user where self-service allows; audited). Switching off with addresses
/// present needs `confirm_purge`, and then deletes them.
pub async fn set_for_user(
    state: &Services,
    ctx: &Ctx,
    user: UserId,
    s: SetUserCollection,
) -> Result<Collection, CollectionError> {
    let tenant = ctx.tenant()?;
    let assignments = state.store.reader().await?.assignments(tenant, user).await.map_err(|e| match e {
        StoreError::NotFound => CollectionError::NoSuchUser,
        e => e.into(),
    })?;
    state.store.reader().await?.user(tenant, user).await.map_err(|e| match e {
        StoreError::NotFound => CollectionError::NoSuchUser,
        e => e.into(),
    })?;
    let skills = crate::directory::users::skill_ids(&assignments);
    let resource = crate::directory::users::user_ref(tenant, user, &assignments, &skills);
    let permit = ctx.authorize(state, Action::Update, &resource).await?;
    let existing =
        if s.directory { 0 } else { state.store.reader().await?.count_addresses(tenant, Some(user)).await? };
    if existing > 0 && !s.confirm_purge {
        return Err(CollectionError::NeedsConfirmation { category: Category::Directory, count: existing });
    }
    permit.covers(Action::Update, Resource::User, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_collection(tenant, Some(user), Category::Directory, s.directory, now).await?;
    let purged = if s.directory { 0 } else { tx.delete_addresses(tenant, Some(user)).await? };
    let event: AuditEvent =
        ctx.event("collection.set_user").target("user", user).origin(ctx.origin(state)).details(serde_json::json!({
            "category": Category::Directory, "collected": s.directory, "purged": purged,
        }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(view(state, tenant).await?)
}
