//! Personal data at scale: a data protection officer's subject search over N interactions (a
//! blind-index look-up) beside the same search done by decrypting every stored identifier; the
//! erasure of a subject with M objects (crypto-shredding, blobs removed); the purge of P expired
//! objects, timed to key destruction with blob removal reported apart.
//!
//! `cargo bench -p callvault-server --bench personal_data -- [INTERACTIONS] [ERASE_OBJECTS] [PURGE_OBJECTS]`
//! (defaults 10,000,000 / 10,000 / 1,000,000; CI runs 100,000 / 100 / 10,000). Runs on SQLite;
//! PostgreSQL too when CALLVAULT_POSTGRES_TEST_URL is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use callvault_core::caller::{Ctx, SessionPurpose};
use callvault_core::clock::{Clock, ManualClock};
use callvault_core::dpo::{NewDpoRequest, run_once};
use callvault_core::subjects::SubjectQuery;
use callvault_core::vault::{initial_settings, object_context, write_blob};
use callvault_crypto::SecretBytes;
use callvault_crypto::digest::random_array;
use callvault_crypto::envelope::{BlindIndexKey, BlobHeader, DataKey};
use callvault_crypto::kek::StaticKek;
use callvault_model::access::{DefaultRole, Scope};
use callvault_model::personal::{
    Category, Channel, Consent, DpoRequestKind, Identifier, IdentifierKind, InteractionDirection, RetentionPolicy,
};
use callvault_model::records::{Capabilities, Tenant, TenantSettings, Timestamp};
use callvault_model::vault::{ContentClass, StoredObject};
use callvault_model::{
    GrantId, InteractionId, ObjectId, Personal, PrincipalId, RetentionPolicyId, RoleId, SubjectId, TenantId, UserId,
};
use callvault_policy::access::{GrantInput, Subject, default_role_privileges};
use callvault_server::{AppState, Config, bootstrap};
use callvault_store::prelude::*;
use callvault_store::{InteractionRow, SealedIdentifier, Store, TenantStore};

const T0: i64 = 1_795_000_000_000;
const DAY: i64 = 86_400_000;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let interactions = args.first().copied().unwrap_or(10_000_000);
    let erase_objects = args.get(1).copied().unwrap_or(10_000);
    let purge_objects = args.get(2).copied().unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "interactions={interactions} erase_objects={erase_objects} purge_objects={purge_objects} cores={}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!("cv-personal-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, url) in common::database_urls(&rt, &dir) {
        rt.block_on(run(name, &url, &dir.join(name), interactions, erase_objects, purge_objects));
    }
    let _ = std::fs::remove_dir_all(dir);
}

async fn run(name: &str, url: &str, data_dir: &std::path::Path, interactions: usize, erase: usize, purge: usize) {
    let store = Store::open(url).await.unwrap();
    let kek = Arc::new(StaticKek::new(SecretBytes::new(vec![9; 32])));
    let config = Config { data_dir: data_dir.to_owned(), purge_interval_secs: 0, ..Config::default() };
    let clock = ManualClock::new(Timestamp(T0));
    let state = bootstrap::state_with(store, kek, config, Arc::new(clock.clone())).await.unwrap();
    search(name, &state, url, interactions).await;
    erasure(name, &state, erase).await;
    purging(name, &state, &clock, purge).await;
    state.store.close().await;
}

async fn tenant(state: &AppState) -> (TenantId, DataKey, BlindIndexKey) {
    let tenant = Tenant {
        id: TenantId::new(),
        slug: format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        display_name: "bench".into(),
        capabilities: Capabilities { encryption: true, ..Capabilities::default() },
        settings: TenantSettings::default(),
        created_at: Timestamp(T0),
    };
    let mut tx = state.store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    let (blind, wrapped_blind) = BlindIndexKey::generate(state.vault.kek(), tenant.id.0.as_bytes()).unwrap();
    tx.put_encryption(tenant.id, &initial_settings(Timestamp(T0)), &wrapped_blind).await.unwrap();
    let (dk, wrapped) = DataKey::generate(state.vault.kek(), tenant.id.0.as_bytes(), 1).unwrap();
    tx.insert_data_key(tenant.id, 1, &wrapped, Timestamp(T0)).await.unwrap();
    tx.commit().await.unwrap();
    (tenant.id, dk, blind)
}

/// A data protection officer of `tenant`, as the API would authenticate one.
fn officer(tenant: TenantId) -> Ctx {
    let principal = PrincipalId::User(UserId::new());
    let grant = GrantInput {
        grant_id: GrantId::new(),
        role_id: RoleId::new(),
        role_name: DefaultRole::DataProtectionOfficer.name().into(),
        privileges: default_role_privileges(DefaultRole::DataProtectionOfficer),
        scope: Scope::Tenant,
    };
    Ctx {
        principal,
        tenant: Some(tenant),
        session: None,
        purpose: SessionPurpose::Full,
        second_factor: true,
        subject: Some(Arc::new(Subject::compile(tenant, principal, vec![grant]))),
        request_id: None,
        ip: None,
    }
}

/// The `i`-th of 15.8 million valid numbers: area codes 212 and 305, exchanges 200–999 but the
/// N11 codes, 10,000 lines each.
fn phone(i: usize) -> String {
    const PER_EXCHANGE: usize = 10_000;
    const EXCHANGES: usize = 792;
    let area = [212, 305][(i / (PER_EXCHANGE * EXCHANGES)) % 2];
    let k = (i / PER_EXCHANGE) % EXCHANGES;
    // 200..=999 without the N11 codes: 99 codes in each hundred.
    let (hundred, r) = (k / 99, k % 99);
    let exchange = 200 + hundred * 100 + r + usize::from(r >= 11);
    format!("+1{area}{exchange}{:04}", i % PER_EXCHANGE)
}

fn sealed(tenant: TenantId, dk: &DataKey, blind_key: &BlindIndexKey, value: &str) -> SealedIdentifier {
    let blind = blind_key.index(b"subject", "phone", value);
    let aad = format!("callvault-identifier-v1\0{tenant}\0phone\0{blind}");
    let sealed = dk.seal_value(aad.as_bytes(), value.as_bytes()).unwrap();
    SealedIdentifier {
        kind: IdentifierKind::Phone,
        blind,
        sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
        key_version: 1,
    }
}

fn interaction(tenant: TenantId, subject: SubjectId, reference: Option<String>) -> InteractionRow {
    InteractionRow {
        id: InteractionId::new(),
        tenant_id: tenant,
        channel: Channel::Voice,
        direction: InteractionDirection::Inbound,
        external_ref: reference,
        service_id: None,
        consent: Consent::Yes,
        subject_id: Some(subject),
        started_at: Timestamp(T0),
        ended_at: None,
        created_at: Timestamp(T0),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn search(name: &str, state: &AppState, url: &str, n: usize) {
    let (tenant, dk, blind_key) = tenant(state).await;
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let mut tx = state.store.begin().await.unwrap();
        for i in done..(done + 10_000).min(n) {
            let value = phone(i);
            let s = sealed(tenant, &dk, &blind_key, &value);
            let subject = SubjectId::new();
            tx.link_identifiers(tenant, subject, &[(IdentifierKind::Phone, s.blind.clone())]).await.unwrap();
            tx.insert_interaction(&interaction(tenant, subject, None), &[], &[s]).await.unwrap();
        }
        done = (done + 10_000).min(n);
        tx.commit().await.unwrap();
    }
    println!(
        "[{name}] stored {n} interactions with a sealed, blind-indexed phone in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let ctx = officer(tenant);
    let mut times = Vec::new();
    let searches = 2_000;
    for k in 0..searches {
        let i = (k * 7_919 + 13) % n;
        let q = SubjectQuery { phone: Some(phone(i)), email: None, ip: None, name: None };
        let t = Instant::now();
        let found = callvault_core::subjects::search(state, &ctx, &q).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(found.len(), 1);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "[{name}] subject search by blind index over {n} interactions: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         ({searches} searches, each opening the subject's identifiers and auditing the search)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0.0)
    );

    // The same search without the index: open every stored identifier until one matches (the
    // last one stored, so every identifier is opened once).
    let want = phone(n - 1);
    let t = Instant::now();
    let (opened, found) = decrypt_scan(url, tenant, &dk, &want).await;
    assert!(found);
    println!(
        "[{name}] the same search by decrypting every identifier: {:.0} ms ({opened} identifiers read and opened)",
        t.elapsed().as_secs_f64() * 1000.0
    );
}

/// Reads the tenant's stored identifiers page by page (keyset on the interaction id) and opens
/// each until one is `want`: what a search costs without a blind index.
async fn decrypt_scan(url: &str, tenant: TenantId, dk: &DataKey, want: &str) -> (u64, bool) {
    use sqlx::{Connection, Row};
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut after = String::new();
    let mut opened = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT interaction_id, blind, sealed FROM op_interaction_identifier WHERE tenant_id = $1 \
             AND interaction_id > $2 ORDER BY interaction_id LIMIT 50000",
        )
        .bind(tenant.to_string())
        .bind(&after)
        .fetch_all(&mut c)
        .await
        .unwrap();
        let Some(last) = rows.last() else { return (opened, false) };
        after = last.try_get("interaction_id").unwrap();
        for row in &rows {
            let blind: String = row.try_get("blind").unwrap();
            let sealed: String = row.try_get("sealed").unwrap();
            let aad = format!("callvault-identifier-v1\0{tenant}\0phone\0{blind}");
            let bytes = base64::engine::general_purpose::STANDARD.decode(&sealed).unwrap();
            let plain = dk.open_value(aad.as_bytes(), &bytes).unwrap();
            opened += 1;
            if plain.expose() == want.as_bytes() {
                return (opened, true);
            }
        }
    }
}

async fn erasure(name: &str, state: &AppState, m: usize) {
    let (tenant, dk, blind_key) = tenant(state).await;
    let value = "+13055550100";
    let s = sealed(tenant, &dk, &blind_key, value);
    let subject = SubjectId::new();
    let mut tx = state.store.begin().await.unwrap();
    tx.link_identifiers(tenant, subject, &[(IdentifierKind::Phone, s.blind.clone())]).await.unwrap();
    tx.insert_interaction(&interaction(tenant, subject, Some("erase-me".into())), &[], &[s]).await.unwrap();
    tx.commit().await.unwrap();
    let started = Instant::now();
    let content = vec![7u8; 4096];
    let mut done = 0;
    while done < m {
        let mut tx = state.store.begin().await.unwrap();
        for _ in done..(done + 1_000).min(m) {
            let mut o = object(tenant, content.len() as u64, Some("erase-me".into()), Timestamp(T0));
            let w = write_blob(&state.vault.blobs, &o, Some(&dk), &mut |sink| sink(&mut content.clone())).unwrap();
            o.blob = w.name;
            o.sha256 = w.sha256;
            o.header = w.header;
            o.wrapped_key = w.wrapped_key;
            tx.insert_object(&o).await.unwrap();
        }
        done = (done + 1_000).min(m);
        tx.commit().await.unwrap();
    }
    println!("[{name}] stored {m} encrypted objects of one subject in {:.1} s", started.elapsed().as_secs_f64());
    let ctx = officer(tenant);
    let new = NewDpoRequest {
        kind: DpoRequestKind::Erase,
        subject_id: subject,
        confirm_identifiers: vec![Identifier { kind: IdentifierKind::Phone, value: Personal::new(value.into()) }],
        rectify: None,
    };
    let t = Instant::now();
    let request = callvault_core::dpo::create(state, &ctx, new).await.unwrap();
    run_once(state).await.unwrap();
    let elapsed = t.elapsed().as_secs_f64();
    let done = callvault_core::dpo::get(state, &ctx, request.id).await.unwrap();
    assert_eq!(done.outcome["objects"], m as u64, "{:?}", done.outcome);
    let left = std::fs::read_dir(state.vault.blobs.local_path(tenant, "x").unwrap().parent().unwrap())
        .map_or(0, |d| d.count());
    println!(
        "[{name}] erasure of a subject with {m} objects: {elapsed:.2} s from request to completion = {:.0} objects/s \
         (content keys destroyed, rows and tombstones written, blobs removed: {left} files left)",
        m as f64 / elapsed
    );
}

fn object(tenant: TenantId, size: u64, interaction: Option<String>, recorded_at: Timestamp) -> StoredObject {
    StoredObject {
        id: ObjectId::new(),
        tenant_id: tenant,
        class: ContentClass::Voice,
        interaction,
        service_id: None,
        agents: vec![],
        contact_ref: None,
        recorded_at,
        consent: callvault_model::personal::Consent::Yes,
        recording: callvault_model::recording::RecordingKind::QualityManagement,
        paused: Vec::new(),
        content_type: "audio/wav".into(),
        size,
        sha256: String::new(),
        redactions: 0,
        key_version: Some(1),
        created_at: recorded_at,
        blob: String::new(),
        wrapped_key: None,
        header: vec![],
    }
}

async fn purging(name: &str, state: &AppState, clock: &ManualClock, p: usize) {
    let (tenant, dk, _) = tenant(state).await;
    let started = Instant::now();
    let mut done = 0;
    while done < p {
        let mut tx = state.store.begin().await.unwrap();
        for _ in done..(done + 5_000).min(p) {
            let mut o = object(tenant, 1_000_000, None, Timestamp(clock.now().millis()));
            let header = BlobHeader { encrypted: true, plaintext_len: o.size, prefix: random_array() };
            let ck = SecretBytes::new(random_array::<32>().to_vec());
            o.wrapped_key = Some(dk.wrap_content_key(&object_context(&o), &header, &ck).unwrap());
            o.header = header.encode().to_vec();
            o.blob = format!("{}.bench.cvb", o.id);
            tx.insert_object(&o).await.unwrap();
        }
        done = (done + 5_000).min(p);
        tx.commit().await.unwrap();
    }
    let policy = RetentionPolicy {
        id: RetentionPolicyId::new(),
        tenant_id: tenant,
        category: Category::Recordings,
        service_id: None,
        days: 30,
        created_at: clock.now(),
    };
    let mut tx = state.store.begin().await.unwrap();
    tx.insert_retention_policy(&policy).await.unwrap();
    tx.commit().await.unwrap();
    println!("[{name}] stored {p} object rows in {:.1} s", started.elapsed().as_secs_f64());
    clock.advance_ms(31 * DAY);
    let t = Instant::now();
    let report = callvault_core::retention::purge_once(state).await.unwrap();
    let total = t.elapsed().as_secs_f64();
    assert_eq!(report.objects, p as u64, "{report:?}");
    println!(
        "[{name}] purge of {p} expired objects: keys destroyed and rows deleted in {:.1} s ({:.0} objects/s), \
         blob removal {:.1} s, whole pass {total:.1} s (batches of {})",
        report.shred_ms as f64 / 1000.0,
        p as f64 / (report.shred_ms as f64 / 1000.0).max(0.001),
        report.blob_ms as f64 / 1000.0,
        state.config.purge_batch
    );
}
