//! Admission of small uploads from memory. A small upload's request reads the caller's session
//! or token and grants, and the tenant's collection switches, settings and sealing key: seven
//! queries or more, each a round trip to the store, for one 1 KiB transcript. A node keeps what
//! they answered here, stamped with the tenant's generation read *before* them (a counter that
//! triggers in the store move on with every change to any of it), and the upload's group
//! transaction reads the generation again, held: a stamp older than it means something changed
//! before the commit, and the upload is not stored on it ([`super::group`]) but admitted again
//! from the store. So what is committed is exactly what the store allows at the commit, on
//! every node sharing it.
//!
//! Only success is answered from memory: a caller or upload this cache would refuse (unknown,
//! expired, denied, collection switched off) goes the way of [`super::uploads::admit`], which
//! reads everything and says why.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use callvault_crypto::envelope::DataKey;
use callvault_model::personal::Category;
use callvault_model::{ServiceId, TenantId, UserId};
use callvault_store::StoreError;
use callvault_store::prelude::*;

use crate::caller::{Ctx, Known, presented_digest};
use crate::services::Services;

/// How long an entry is used at most before it is read again (the stamp keeps it right; this
/// keeps memory to what is in use).
const MAX_AGE: Duration = Duration::from_secs(300);

/// Callers remembered at most; beyond it the memory starts again empty.
const MAX_CALLERS: usize = 65_536;

/// What this node remembers for small uploads.
#[derive(Default)]
pub struct Admissions {
    callers: Mutex<HashMap<String, (Known, i64, Instant)>>,
    tenants: Mutex<HashMap<TenantId, Arc<TenantFacts>>>,
}

impl std::fmt::Debug for Admissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admissions").finish_non_exhaustive()
    }
}

/// What a tenant's small uploads read, with the generation it was read at.
pub struct TenantFacts {
    generation: i64,
    read_at: Instant,
    collection_off: Vec<(Option<UserId>, Category)>,
    redact_card_numbers: bool,
    sealing: Option<Arc<DataKey>>,
    users: Mutex<HashSet<UserId>>,
    services: Mutex<HashSet<ServiceId>>,
}

impl std::fmt::Debug for TenantFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantFacts").field("generation", &self.generation).finish_non_exhaustive()
    }
}

impl TenantFacts {
    /// The generation these facts were read at.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Whether the tenant collects `category` for everyone.
    pub fn collects(&self, category: Category) -> bool {
        !self.collection_off.iter().any(|(u, c)| *c == category && u.is_none())
    }

    /// Whether text content has its card numbers masked.
    pub fn redacts_card_numbers(&self) -> bool {
        self.redact_card_numbers
    }

    /// The key new content is sealed under (`None`: the tenant does not encrypt new content).
    pub fn sealing_key(&self) -> Option<Arc<DataKey>> {
        self.sealing.clone()
    }

    /// Whether `user` is a user of the tenant: remembered once read (a user going away moves
    /// the generation on).
    pub async fn has_user(&self, state: &Services, tenant: TenantId, user: UserId) -> Result<bool, StoreError> {
        remembered(&self.users, user, async { state.store.reader().await?.user(tenant, user).await.map(drop) }).await
    }

    /// Whether `service` is a service of the tenant, remembered likewise.
    pub async fn has_service(
        &self,
        state: &Services,
        tenant: TenantId,
        service: ServiceId,
    ) -> Result<bool, StoreError> {
        remembered(&self.services, service, async {
            state.store.reader().await?.service(tenant, service).await.map(drop)
        })
        .await
    }
}

/// Whether `id` exists: in `known`, or found by `read` (and then added to `known`).
async fn remembered<K: std::hash::Hash + Eq>(
    known: &Mutex<HashSet<K>>,
    id: K,
    read: impl std::future::Future<Output = Result<(), StoreError>>,
) -> Result<bool, StoreError> {
    if known.lock().unwrap_or_else(PoisonError::into_inner).contains(&id) {
        return Ok(true);
    }
    match read.await {
        Ok(()) => {
            known.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
            Ok(true)
        }
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Admissions {
    /// The caller of a token, with the generation it was read at: from memory, or read (and
    /// remembered) when not there, too old or no longer valid by the clock. `None` when the
    /// token is not simply valid for a tenant (the caller reads it again and says why).
    pub(crate) async fn caller(
        &self,
        state: &Services,
        token: Option<&str>,
        request_id: Option<String>,
        ip: Option<IpAddr>,
    ) -> Option<(Ctx, i64)> {
        let digest = presented_digest(token).ok()?;
        let now = state.clock.now();
        let remembered = self
            .callers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest)
            .filter(|(known, _, at)| at.elapsed() < MAX_AGE && known.check(now).is_ok())
            .cloned();
        let (mut known, generation, read_at, fresh) = match remembered {
            Some((known, generation, read_at)) => (known, generation, read_at, false),
            None => {
                let mut r = state.store.reader().await.ok()?;
                // The token's tenant (it never changes), then its generation, then everything
                // again after it: what is remembered is never older than its stamp.
                let tenant = Known::read(&mut r, &digest, now).await.ok()?.tenant()?;
                let generation = r.tenant_generation(tenant).await.ok()??;
                let mut known = Known::read(&mut r, &digest, now).await.ok()?;
                drop(r);
                known.settle(state, now).await.ok()?;
                (known, generation, Instant::now(), true)
            }
        };
        let touched = known.touch(state, now).await.ok()?;
        if fresh || touched {
            let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
            if callers.len() >= MAX_CALLERS {
                callers.clear();
            }
            callers.insert(digest, (known.clone(), generation, read_at));
        }
        Some((known.ctx(request_id, ip), generation))
    }

    /// The facts of `tenant`: from memory, or read (and remembered). `None` when they cannot be
    /// read (the caller reads them again and says why).
    pub(crate) async fn tenant(&self, state: &Services, tenant: TenantId) -> Option<Arc<TenantFacts>> {
        let remembered = self
            .tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .filter(|f| f.read_at.elapsed() < MAX_AGE)
            .cloned();
        if let Some(facts) = remembered {
            return Some(facts);
        }
        let mut r = state.store.reader().await.ok()?;
        let generation = r.tenant_generation(tenant).await.ok()??;
        let facts = Arc::new(TenantFacts {
            generation,
            read_at: Instant::now(),
            collection_off: r.collection_off(tenant).await.ok()?,
            redact_card_numbers: r.tenant(tenant).await.ok()?.settings.redact_card_numbers,
            sealing: state.vault.sealing_key(&mut r, tenant).await.ok()?,
            users: Mutex::default(),
            services: Mutex::default(),
        });
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner).insert(tenant, facts.clone());
        Some(facts)
    }

    /// Forgets what was read of `tenant` before `generation` (an upload found it stale).
    pub(crate) fn forget(&self, tenant: TenantId, generation: i64) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|t, f| *t != tenant || f.generation >= generation);
        self.callers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (known, g, _)| known.tenant() != Some(tenant) || *g >= generation);
    }
}
