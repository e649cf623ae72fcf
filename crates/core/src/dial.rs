//! The telecom policy at run time: each tenant's compiled [`Policy`] (settings, areas, rules),
//! its area assignments, its do-not-call lists in memory, and the recent outbound call attempts
//! that calls-per-24-hours limits count.
//!
//! Registry copies are [`CompactSet`]s persisted under `<data_dir>/dnc/<list>-<sha256>.cvdnc`
//! (content-addressed: a new import writes a new file, the database row names the one in force,
//! so a crash between the two leaves the old list in force); internal lists live in the
//! database and in a hash set. A tenant's compiled view is cached and rebuilt after any change.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use callvault_model::access::{Action, Resource};
use callvault_model::dial::{AreaDef, DncList as ListMeta, DncListKind};
use callvault_model::records::Timestamp as Millis;
use callvault_model::{DncListId, TenantId};
use callvault_policy::areas::{AreaMatch, CallingArea};
use callvault_policy::dial::{Areas, DncKind, DncList, Level, Policy, Settings};
use callvault_policy::dnc::CompactSet;
use callvault_policy::numbers::Number;
use callvault_policy::rules::RuleSet;
use callvault_store::{DialStore, DpoStore, Store};
use jiff::Timestamp;

use crate::caller::Permit;

/// Why a tenant's telecom policy could not be served.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The stored settings, rules or areas no longer compile (a damaged row).
    #[error("the stored dial policy does not compile: {0}")]
    StoredPolicy(String),
    /// The counted-call writer has stopped (the server is shutting down).
    #[error("the call attempt writer stopped")]
    WriterStopped,
    /// The counted calls could not be written (the check was not answered).
    #[error("the counted calls could not be written: {0}")]
    Persist(String),
    /// The permit presented does not cover counting dial checks in this tenant.
    #[error(transparent)]
    Access(#[from] crate::caller::AccessError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] callvault_store::StoreError),
}

pub use callvault_policy::dnc::{ImportError, RegistryParser};

/// Milliseconds to a jiff instant.
pub fn instant(t: Millis) -> Timestamp {
    Timestamp::from_millisecond(t.millis()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A number's key in lists: its E.164 digits as an integer.
pub fn number_key(n: &Number) -> Option<u64> {
    n.digits().parse().ok()
}

/// A registry copy in memory.
pub struct Registry {
    meta: ListMeta,
    set: Option<CompactSet>,
}

impl DncList for Registry {
    fn name(&self) -> &str {
        &self.meta.name
    }
    fn kind(&self) -> DncKind {
        DncKind::Registry
    }
    fn country_code(&self) -> Option<u16> {
        self.meta.country_code
    }
    fn refreshed_at(&self) -> Option<Timestamp> {
        // A copy that was never imported, or whose file failed its check, is no copy: outbound
        // checks to its country deny (registry_not_imported) until it is imported again.
        match (&self.set, self.meta.refreshed_at) {
            (Some(_), Some(t)) => Some(instant(t)),
            _ => None,
        }
    }
    fn contains(&self, n: &Number) -> bool {
        match (&self.set, number_key(n)) {
            (Some(set), Some(k)) => set.contains(k),
            _ => false,
        }
    }
}

/// A keyed digest of a number (`+<digits>`): how an erased customer's do-not-call entry is
/// kept (the audit log's pseudonym of the number).
pub type NumberDigest = Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// An internal list in memory: numbers, and keyed digests of the numbers of erased customers
/// (their opt-out survives their erasure).
pub struct Internal {
    meta: ListMeta,
    numbers: RwLock<HashSet<u64>>,
    digests: RwLock<HashSet<String>>,
    digest: NumberDigest,
}

impl Internal {
    fn new(meta: ListMeta, numbers: HashSet<u64>, digests: HashSet<String>, digest: NumberDigest) -> Internal {
        Internal { meta, numbers: RwLock::new(numbers), digests: RwLock::new(digests), digest }
    }
}

impl DncList for Internal {
    fn name(&self) -> &str {
        &self.meta.name
    }
    fn kind(&self) -> DncKind {
        DncKind::Internal
    }
    fn country_code(&self) -> Option<u16> {
        None
    }
    fn refreshed_at(&self) -> Option<Timestamp> {
        // Internal lists are kept here, never imported: always current.
        Some(self.meta.refreshed_at.map_or(Timestamp::UNIX_EPOCH, instant))
    }
    fn contains(&self, n: &Number) -> bool {
        let Some(k) = number_key(n) else { return false };
        if self.numbers.read().unwrap_or_else(|p| p.into_inner()).contains(&k) {
            return true;
        }
        let digests = self.digests.read().unwrap_or_else(|p| p.into_inner());
        !digests.is_empty() && digests.contains(&(self.digest)(format!("+{k}").as_bytes()))
    }
}

/// A tenant's compiled view.
pub struct TenantDial {
    /// Settings, areas and rules.
    pub policy: Policy,
    /// Areas by (level, subject id).
    pub assignments: HashMap<(Level, String), Areas>,
    /// The lists, for the engine.
    pub lists: Vec<Arc<dyn DncList>>,
}

/// Call attempts waiting for the group commit, with the caller's acknowledgement.
/// A request's counted calls, the server's time when they were decided, and where to answer.
type PendingCalls = (TenantId, Vec<(String, Millis)>, Millis, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Writes call attempts of concurrent requests in one transaction (group commit), answering each
/// request only once its rows are durable; prunes rows older than 25 hours every ten minutes,
/// by the server's clock (never by an instant a caller sent).
async fn attempt_writer(store: Store, mut rx: tokio::sync::mpsc::Receiver<PendingCalls>) {
    let mut batch: Vec<PendingCalls> = Vec::with_capacity(256);
    let mut last_prune = std::time::Instant::now();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let result = async {
            let mut tx = store.begin().await?;
            for (tenant, rows, _, _) in &batch {
                tx.insert_dial_attempts(*tenant, rows).await?;
            }
            if last_prune.elapsed() > std::time::Duration::from_secs(600)
                && let Some(newest) = batch.iter().map(|(_, _, now, _)| now.millis()).max()
            {
                tx.prune_dial_attempts(Millis(newest - 25 * 3600 * 1000)).await?;
                last_prune = std::time::Instant::now();
            }
            tx.commit().await
        }
        .await
        .map_err(|e: callvault_store::StoreError| {
            tracing::error!(error = %e, "recording call attempts failed");
            "recording call attempts failed".to_owned()
        });
        for (_, _, _, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// All tenants' telecom policy state.
pub struct Dial {
    dir: PathBuf,
    writer: tokio::sync::mpsc::Sender<PendingCalls>,
    tenants: RwLock<HashMap<TenantId, Arc<TenantDial>>>,
    registries: RwLock<HashMap<DncListId, Arc<Registry>>>,
    internal: RwLock<HashMap<DncListId, Arc<Internal>>>,
    digest: NumberDigest,
    attempts: Mutex<HashMap<(TenantId, String), Vec<Timestamp>>>,
    counted: std::sync::atomic::AtomicU64,
    bus: crate::bus::Bus,
    /// Where registry copies are shared between nodes (the blob store's bucket).
    blobs: crate::vault::blobs::BlobStore,
}

fn poisoned<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

/// The level's stable name.
pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::User => "user",
        Level::Team => "team",
        Level::Service => "service",
    }
}

/// A level by name.
pub fn level_from(s: &str) -> Option<Level> {
    match s {
        "user" => Some(Level::User),
        "team" => Some(Level::Team),
        "service" => Some(Level::Service),
        _ => None,
    }
}

/// Compiles a stored area definition.
pub fn compile_area(def: &AreaDef) -> Result<CallingArea, String> {
    let parse = |cs: &[String]| -> Result<Vec<AreaMatch>, String> {
        cs.iter().map(|c| c.parse::<AreaMatch>().map_err(|e| e.to_string())).collect()
    };
    if def.include.is_empty() {
        return Err(format!("area `{}` includes nothing", def.name));
    }
    Ok(CallingArea { name: def.name.clone(), include: parse(&def.include)?, except: parse(&def.except)? })
}

fn file_name(id: DncListId, sha: &str) -> String {
    format!("{id}-{sha}.cvdnc")
}

/// A registry copy's name in the bucket: its SHA-256 (content-addressed).
fn shared_name(sha: &str) -> String {
    format!("dnc-{sha}.cvdnc")
}

/// Loads the registry copy `sha` of list `meta`: this node's file, else the bucket's copy (when
/// blobs are in one) fetched into the data directory first; either way checked against `sha`.
async fn load_copy(
    dir: &Path,
    blobs: &crate::vault::blobs::BlobStore,
    meta: &ListMeta,
    sha: &str,
) -> std::io::Result<CompactSet> {
    let path = dir.join(file_name(meta.id, sha));
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        blobs.get_file(meta.tenant_id, &shared_name(sha), &path).await?;
    }
    let sha = sha.to_owned();
    tokio::task::spawn_blocking(move || read_set(&path, &sha)).await.map_err(std::io::Error::other)?
}

/// Reads a persisted set and checks its SHA-256.
fn read_set(path: &Path, sha: &str) -> std::io::Result<CompactSet> {
    struct Hashing<R> {
        inner: R,
        hash: callvault_crypto::digest::Sha256Stream,
    }
    impl<R: Read> Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hash.update(&buf[..n]);
            Ok(n)
        }
    }
    let file = std::fs::File::open(path)?;
    let mut r = Hashing { inner: BufReader::with_capacity(1 << 20, file), hash: Default::default() };
    let set = CompactSet::read_from(&mut r)?;
    let mut rest = Vec::new();
    r.read_to_end(&mut rest)?;
    if !rest.is_empty() || r.hash.finish_hex() != sha {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file does not match its digest"));
    }
    Ok(set)
}

/// Writes a set atomically (temporary file, fsync, rename) and returns its SHA-256.
pub fn write_set(dir: &Path, id: DncListId, set: &CompactSet) -> std::io::Result<String> {
    struct Hashing<W> {
        inner: W,
        hash: callvault_crypto::digest::Sha256Stream,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hash.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{id}.{}.tmp", hex::encode(callvault_crypto::digest::random_array::<8>())));
    let file = std::fs::File::create(&tmp)?;
    let mut w = Hashing { inner: BufWriter::with_capacity(1 << 20, file), hash: Default::default() };
    let written = set.write_to(&mut w).and_then(|()| w.flush());
    let sha = w.hash.finish_hex();
    let result = written
        .and_then(|()| w.inner.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dir.join(file_name(id, &sha))))
        .and_then(|()| std::fs::File::open(dir).and_then(|d| d.sync_all()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(sha)
}

impl Dial {
    /// Loads every tenant's lists and the last 24 hours of attempts.
    pub async fn open(
        store: &Store,
        data_dir: &Path,
        now: Millis,
        digest: NumberDigest,
        bus: crate::bus::Bus,
        blobs: crate::vault::blobs::BlobStore,
    ) -> anyhow::Result<Dial> {
        let dir = data_dir.join("dnc");
        std::fs::create_dir_all(&dir)?;
        let mut r = store.reader().await?;
        let lists = r.dnc_lists(None).await?;
        let mut registries = HashMap::new();
        let mut internal = HashMap::new();
        let mut keep = HashSet::new();
        for meta in lists {
            match meta.kind {
                DncListKind::Registry => {
                    let set = match &meta.file_sha256 {
                        Some(sha) => {
                            keep.insert(file_name(meta.id, sha));
                            match load_copy(&dir, &blobs, &meta, sha).await {
                                Ok(set) => Some(set),
                                Err(e) => {
                                    tracing::error!(list = %meta.id, error = %e, "a do-not-call registry copy failed its check; outbound checks deny until it is imported again");
                                    None
                                }
                            }
                        }
                        None => Some(CompactSet::empty()),
                    };
                    registries.insert(meta.id, Arc::new(Registry { meta, set }));
                }
                DncListKind::Internal => {
                    let numbers: HashSet<u64> = r.dnc_numbers(meta.id).await?.into_iter().collect();
                    let digests: HashSet<String> = r.dnc_digests(meta.id).await?.into_iter().collect();
                    internal.insert(meta.id, Arc::new(Internal::new(meta, numbers, digests, digest.clone())));
                }
            }
        }
        // Files of imports that never committed, or replaced ones.
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // Several nodes on PostgreSQL count in the database (`with_recent_calls`), not here.
        let mut attempts: HashMap<(TenantId, String), Vec<Timestamp>> = HashMap::new();
        if store.backend() == callvault_store::Backend::Sqlite {
            for (tenant, digest, at) in r.dial_attempts_since(Millis(now.millis() - 24 * 3600 * 1000)).await? {
                attempts.entry((tenant, digest)).or_default().push(instant(at));
            }
        }
        let (writer, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(attempt_writer(store.clone(), rx));
        Ok(Dial {
            dir,
            writer,
            tenants: RwLock::default(),
            registries: RwLock::new(registries),
            internal: RwLock::new(internal),
            digest,
            attempts: Mutex::new(attempts),
            counted: std::sync::atomic::AtomicU64::new(0),
            bus,
            blobs,
        })
    }

    /// The directory of registry files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets a tenant's compiled view (after any change to its policy or lists), here and on
    /// the other nodes.
    pub fn invalidate(&self, tenant: TenantId) {
        self.invalidate_local(tenant);
        self.bus.announce(crate::bus::Message::Dial { tenant });
    }

    /// Forgets a tenant's compiled view on this node (another node changed it).
    pub fn invalidate_local(&self, tenant: TenantId) {
        self.tenants.write().unwrap_or_else(poisoned).remove(&tenant);
    }

    /// Forgets every compiled view (after a bus gap; lists are reloaded by [`Dial::reload_list`]).
    pub fn forget_all(&self) {
        self.tenants.write().unwrap_or_else(poisoned).clear();
    }

    /// Reloads one list from the database after another node changed it: an internal list's
    /// numbers, a registry's copy (the file its row names, when this node has it; otherwise the
    /// list denies outbound checks until the copy is here: a node never checks against a copy
    /// other than the one in use), or its removal.
    pub async fn reload_list(
        &self,
        store: &Store,
        tenant: TenantId,
        list: DncListId,
    ) -> Result<(), callvault_store::StoreError> {
        let mut r = store.reader().await?;
        let meta = r.dnc_lists(Some(tenant)).await?.into_iter().find(|m| m.id == list);
        match meta {
            None => {
                self.registries.write().unwrap_or_else(poisoned).remove(&list);
                self.internal.write().unwrap_or_else(poisoned).remove(&list);
            }
            Some(meta) if meta.kind == DncListKind::Internal => {
                let numbers: HashSet<u64> = r.dnc_numbers(meta.id).await?.into_iter().collect();
                let digests: HashSet<String> = r.dnc_digests(meta.id).await?.into_iter().collect();
                let l = Arc::new(Internal::new(meta, numbers, digests, self.digest.clone()));
                self.internal.write().unwrap_or_else(poisoned).insert(list, l);
            }
            Some(meta) => {
                let current = self.registries.read().unwrap_or_else(poisoned).get(&list).cloned();
                if current.is_some_and(|c| c.set.is_some() && c.meta.file_sha256 == meta.file_sha256) {
                    return Ok(());
                }
                let set = match meta.file_sha256.clone() {
                    None => Some(CompactSet::empty()),
                    Some(sha) => match load_copy(&self.dir, &self.blobs, &meta, &sha).await {
                        Ok(set) => Some(set),
                        Err(e) => {
                            tracing::error!(list = %meta.id, error = %e, "another node imported a do-not-call registry copy this node cannot load (from its data directory or the bucket); outbound checks against it deny until it is here");
                            None
                        }
                    },
                };
                self.registries.write().unwrap_or_else(poisoned).insert(list, Arc::new(Registry { meta, set }));
            }
        }
        self.invalidate_local(tenant);
        Ok(())
    }

    /// Reloads every list (after a bus gap: changes announced meanwhile were not heard).
    pub async fn reload_lists(&self, store: &Store) -> Result<(), callvault_store::StoreError> {
        let stored = store.reader().await?.dnc_lists(None).await?;
        let mut known: Vec<(TenantId, DncListId)> = stored.iter().map(|m| (m.tenant_id, m.id)).collect();
        known.extend(self.registries.read().unwrap_or_else(poisoned).values().map(|l| (l.meta.tenant_id, l.meta.id)));
        known.extend(self.internal.read().unwrap_or_else(poisoned).values().map(|l| (l.meta.tenant_id, l.meta.id)));
        known.sort_unstable();
        known.dedup();
        for (tenant, list) in known {
            self.reload_list(store, tenant, list).await?;
        }
        Ok(())
    }

    /// Puts a freshly written registry copy in the bucket (before its row commits), where the
    /// other nodes fetch it; nothing when blobs are local files (one node).
    pub async fn share_copy(&self, tenant: TenantId, list: DncListId, sha: &str) -> std::io::Result<()> {
        self.blobs.put_file(tenant, &shared_name(sha), &self.dir.join(file_name(list, sha))).await
    }

    /// Deletes a replaced registry copy from the bucket unless another list of the tenant uses
    /// the same content (in the background, after the commit).
    fn unshare_copy(&self, tenant: TenantId, sha: &str) {
        let in_use = self
            .registries
            .read()
            .unwrap_or_else(poisoned)
            .values()
            .any(|r| r.meta.tenant_id == tenant && r.meta.file_sha256.as_deref() == Some(sha));
        if in_use || self.blobs.is_local() {
            return;
        }
        let (blobs, name) = (self.blobs.clone(), shared_name(sha));
        tokio::spawn(async move {
            if let Err(e) = blobs.delete_file(tenant, &name).await {
                tracing::warn!(error = %e, "a replaced do-not-call registry copy could not be deleted from the bucket");
            }
        });
    }

    /// Tells the other nodes that a list changed (after the commit).
    fn announce_list(&self, tenant: TenantId, list: DncListId) {
        self.bus.announce(crate::bus::Message::DncList { tenant, list });
    }

    /// A tenant's compiled view, built from the database on first use.
    pub async fn tenant(&self, store: &Store, tenant: TenantId) -> Result<Arc<TenantDial>, DialError> {
        if let Some(t) = self.tenants.read().unwrap_or_else(poisoned).get(&tenant) {
            return Ok(t.clone());
        }
        let mut r = store.reader().await?;
        let (settings, rules) = match r.dial_config(tenant).await? {
            Some((s, rules)) => (
                serde_json::from_str::<Settings>(&s).map_err(|e| DialError::StoredPolicy(e.to_string()))?,
                RuleSet::parse(&rules).map_err(|_| DialError::StoredPolicy("the rules do not parse".into()))?,
            ),
            None => (Settings::default(), RuleSet::shipped()),
        };
        let areas = r
            .dial_areas(tenant)
            .await?
            .iter()
            .map(compile_area)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DialError::StoredPolicy(e.to_string()))?;
        let policy = Policy::new(settings, areas, rules).map_err(|e| DialError::StoredPolicy(e.to_string()))?;
        let mut assignments = HashMap::new();
        for (level, subject, json) in r.dial_assignments(tenant).await? {
            if let (Some(level), Ok(areas)) = (level_from(&level), serde_json::from_str::<Areas>(&json)) {
                assignments.insert((level, subject), areas);
            }
        }
        let mut lists: Vec<Arc<dyn DncList>> = Vec::new();
        for l in self.internal.read().unwrap_or_else(poisoned).values() {
            if l.meta.tenant_id == tenant {
                lists.push(l.clone());
            }
        }
        for l in self.registries.read().unwrap_or_else(poisoned).values() {
            if l.meta.tenant_id == tenant {
                lists.push(l.clone());
            }
        }
        let view = Arc::new(TenantDial { policy, assignments, lists });
        self.tenants.write().unwrap_or_else(poisoned).insert(tenant, view.clone());
        Ok(view)
    }

    /// Registers a new, empty list.
    pub fn add_list(&self, meta: ListMeta) {
        let tenant = meta.tenant_id;
        let id = meta.id;
        match meta.kind {
            DncListKind::Registry => {
                self.registries
                    .write()
                    .unwrap_or_else(poisoned)
                    .insert(meta.id, Arc::new(Registry { meta, set: Some(CompactSet::empty()) }));
            }
            DncListKind::Internal => {
                self.internal.write().unwrap_or_else(poisoned).insert(
                    meta.id,
                    Arc::new(Internal::new(meta, HashSet::new(), HashSet::new(), self.digest.clone())),
                );
            }
        }
        self.invalidate_local(tenant);
        self.announce_list(tenant, id);
    }

    /// Forgets a deleted list and its file.
    pub fn remove_list(&self, meta: &ListMeta) {
        self.registries.write().unwrap_or_else(poisoned).remove(&meta.id);
        self.internal.write().unwrap_or_else(poisoned).remove(&meta.id);
        if let Some(sha) = &meta.file_sha256 {
            let _ = std::fs::remove_file(self.dir.join(file_name(meta.id, sha)));
            self.unshare_copy(meta.tenant_id, sha);
        }
        self.invalidate_local(meta.tenant_id);
        self.announce_list(meta.tenant_id, meta.id);
    }

    /// Swaps in a freshly imported registry copy (after its row is committed) and deletes the
    /// file it replaces.
    pub fn swap_registry(&self, meta: ListMeta, set: CompactSet, old_sha: Option<&str>) {
        let tenant = meta.tenant_id;
        let id = meta.id;
        let replaced = old_sha.filter(|old| Some(*old) != meta.file_sha256.as_deref()).map(str::to_owned);
        if let Some(old) = &replaced {
            let _ = std::fs::remove_file(self.dir.join(file_name(id, old)));
        }
        self.registries.write().unwrap_or_else(poisoned).insert(id, Arc::new(Registry { meta, set: Some(set) }));
        if let Some(old) = replaced {
            self.unshare_copy(tenant, &old);
        }
        self.invalidate_local(tenant);
        self.announce_list(tenant, id);
    }

    /// Adds or removes a number of an internal list in memory (after the database commit); the
    /// tenant views share the set, so the change is seen by the next check.
    pub fn set_internal(&self, list: DncListId, number: u64, present: bool) {
        let Some(l) = self.internal.read().unwrap_or_else(poisoned).get(&list).cloned() else { return };
        {
            let mut numbers = l.numbers.write().unwrap_or_else(poisoned);
            if present {
                numbers.insert(number);
            } else {
                numbers.remove(&number);
            }
        }
        self.announce_list(l.meta.tenant_id, list);
    }

    /// Keeps an internal list's `number` only as its keyed digest (after the database commit of
    /// an erasure): the opt-out still blocks calls, the number is no longer held.
    pub fn digest_internal(&self, list: DncListId, number: u64) {
        let Some(l) = self.internal.read().unwrap_or_else(poisoned).get(&list).cloned() else { return };
        let d = (l.digest)(format!("+{number}").as_bytes());
        l.digests.write().unwrap_or_else(poisoned).insert(d);
        l.numbers.write().unwrap_or_else(poisoned).remove(&number);
        self.announce_list(l.meta.tenant_id, list);
    }

    /// Decides with the number's calls of the 24 hours before `at` and, when `decide` answers
    /// true (an allowed call that will be placed), counts this call at once — under one lock, so
    /// concurrent checks of one number cannot both take the last call of a limit. Counting
    /// needs the permit to check dials in the tenant.
    ///
    /// One node (SQLite) counts in memory under a mutex and makes the counted calls durable
    /// with [`Dial::persist_calls`] (group commit); nodes sharing PostgreSQL count in the
    /// database, under a lock per number held by the transaction that reads the number's calls
    /// and inserts this one, so a limit holds whichever node a check reaches. Answers whether
    /// the counted call is durable already.
    pub async fn with_recent_calls(
        &self,
        store: &Store,
        permit: &Permit,
        digest: &str,
        at: Timestamp,
        now: Timestamp,
        decide: impl FnOnce(&[Timestamp]) -> bool,
    ) -> Result<bool, DialError> {
        let tenant = permit.tenant();
        permit.covers(Action::Create, Resource::DialCheck, tenant)?;
        // Every call within 24 hours before `at` counts, and so does every call after it (a
        // counted `at` slightly in the past must not skip the calls that followed it).
        let since = at - jiff::SignedDuration::from_hours(24);
        if store.backend() == callvault_store::Backend::Postgres {
            let mut tx = store.begin().await?;
            tx.lock_dial_number(tenant, digest).await?;
            let recent: Vec<Timestamp> = tx
                .dial_attempts_of(tenant, digest, Millis(since.as_millisecond()))
                .await?
                .into_iter()
                .map(instant)
                .filter(|t| *t > since)
                .collect();
            if decide(&recent) {
                tx.insert_dial_attempts(tenant, &[(digest.to_owned(), Millis(at.as_millisecond()))]).await?;
                // Now and then, forget calls older than 25 hours (by the server's clock).
                if self.counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4096 == 4095 {
                    let forget_before = now - jiff::SignedDuration::from_hours(25);
                    tx.prune_dial_attempts(Millis(forget_before.as_millisecond())).await?;
                }
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            return Ok(true);
        }
        // Forgetting goes by the server's clock only: a caller's `at` never prunes anything.
        let forget_before = now - jiff::SignedDuration::from_hours(25);
        let mut attempts = self.attempts.lock().unwrap_or_else(poisoned);
        let key = (tenant, digest.to_owned());
        let recent: Vec<Timestamp> =
            attempts.get(&key).map(|v| v.iter().copied().filter(|t| *t > since).collect()).unwrap_or_default();
        if decide(&recent) {
            let v = attempts.entry(key).or_default();
            v.retain(|t| *t > forget_before);
            v.push(at);
            // Now and then, forget numbers not called for 25 hours.
            if self.counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 65_536 == 65_535 {
                attempts.retain(|_, v| v.iter().any(|t| *t > forget_before));
            }
        }
        Ok(false)
    }

    /// Makes counted calls durable (group commit with concurrent requests).
    pub async fn persist_calls(
        &self,
        permit: &Permit,
        calls: Vec<(String, Millis)>,
        now: Millis,
    ) -> Result<(), DialError> {
        let tenant = permit.tenant();
        permit.covers(Action::Create, Resource::DialCheck, tenant)?;
        let (done, wait) = tokio::sync::oneshot::channel();
        self.writer.send((tenant, calls, now, done)).await.map_err(|_| DialError::WriterStopped)?;
        wait.await.map_err(|_| DialError::WriterStopped)?.map_err(DialError::Persist)
    }
}
