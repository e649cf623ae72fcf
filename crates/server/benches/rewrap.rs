//! Key rotation cost: rotation + rewrap of N objects (content keys re-wrapped under the new
//! data key version, content untouched) against re-encrypting objects (fresh content keys,
//! every byte read, sealed, written, verified) in the same run.
//!
//! `cargo bench -p callvault-server --bench rewrap -- [OBJECTS] [REENCRYPT_SAMPLE] [BLOB_KIB] [--only=sqlite|postgres]`
//! (defaults 1,000,000 / 2,000 / 256). Runs on SQLite; PostgreSQL too when
//! CALLVAULT_POSTGRES_TEST_URL is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use callvault_core::clock::ManualClock;
use callvault_core::vault::jobs::{create_job, run_once};
use callvault_core::vault::{initial_settings, object_context, write_blob};
use callvault_crypto::SecretBytes;
use callvault_crypto::digest::random_array;
use callvault_crypto::envelope::{BlobHeader, DataKey};
use callvault_crypto::kek::StaticKek;
use callvault_model::records::{Capabilities, Tenant, TenantSettings, Timestamp};
use callvault_model::vault::{ContentClass, JobKind, StoredObject};
use callvault_model::{ObjectId, PrincipalId, TenantId, UserId};
use callvault_server::{AppState, Config, bootstrap};
use callvault_store::prelude::*;
use callvault_store::{Store, TenantStore};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let objects = args.first().copied().unwrap_or(1_000_000);
    let sample = args.get(1).copied().unwrap_or(2_000);
    let blob_kib = args.get(2).copied().unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "objects={objects} reencrypt_sample={sample} blob={blob_kib} KiB cores={}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!("cv-rewrap-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let urls = common::database_urls(&rt, &dir);
    // `--only=sqlite` or `--only=postgres` runs one backend.
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(str::to_owned));
    for (name, url) in urls {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        rt.block_on(run(name, &url, &dir.join(name), objects, sample, blob_kib));
    }
    let _ = std::fs::remove_dir_all(dir);
}

async fn state(url: &str, data_dir: &std::path::Path) -> AppState {
    let store = Store::open(url).await.unwrap();
    let kek = Arc::new(StaticKek::new(SecretBytes::new(vec![5; 32])));
    let config = Config { data_dir: data_dir.to_owned(), ..Config::default() };
    bootstrap::state_with(store, kek, config, Arc::new(ManualClock::new(Timestamp(1_795_000_000_000)))).await.unwrap()
}

async fn tenant_with_keys(state: &AppState) -> (TenantId, DataKey) {
    let now = Timestamp(1_795_000_000_000);
    let tenant = Tenant {
        id: TenantId::new(),
        slug: format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        display_name: "bench".into(),
        capabilities: Capabilities { encryption: true, ..Capabilities::default() },
        settings: TenantSettings::default(),
        created_at: now,
    };
    let mut tx = state.store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    let (_, blind) =
        callvault_crypto::envelope::BlindIndexKey::generate(state.vault.kek(), tenant.id.0.as_bytes()).unwrap();
    tx.put_encryption(tenant.id, &initial_settings(now), &blind).await.unwrap();
    let (dk, wrapped) = DataKey::generate(state.vault.kek(), tenant.id.0.as_bytes(), 1).unwrap();
    tx.insert_data_key(tenant.id, 1, &wrapped, now).await.unwrap();
    tx.commit().await.unwrap();
    (tenant.id, dk)
}

fn row(tenant: TenantId, size: u64) -> StoredObject {
    StoredObject {
        id: ObjectId::new(),
        tenant_id: tenant,
        class: ContentClass::Voice,
        interaction: None,
        service_id: None,
        agents: vec![],
        contact_ref: None,
        recorded_at: Timestamp(1_795_000_000_000),
        consent: callvault_model::personal::Consent::Yes,
        recording: callvault_model::recording::RecordingKind::QualityManagement,
        paused: Vec::new(),
        content_type: "audio/wav".into(),
        size,
        sha256: String::new(),
        redactions: 0,
        key_version: Some(1),
        created_at: Timestamp(1_795_000_000_000),
        blob: String::new(),
        wrapped_key: None,
        header: vec![],
    }
}

async fn new_version(state: &AppState, tenant: TenantId, version: u32) {
    let (_, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), version).unwrap();
    let mut tx = state.store.begin().await.unwrap();
    tx.insert_data_key(tenant, version, &wrapped, Timestamp(1_795_000_000_000)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn run_job(state: &AppState, tenant: TenantId, kind: JobKind, target: u32) -> f64 {
    let mut tx = state.store.begin().await.unwrap();
    create_job(&mut tx, tenant, kind, Some(target), PrincipalId::User(UserId::new()), Timestamp(1_795_000_000_000))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let started = Instant::now();
    while run_once(state).await.unwrap() {}
    started.elapsed().as_secs_f64()
}

async fn run(name: &str, url: &str, data_dir: &std::path::Path, objects: usize, sample: usize, blob_kib: usize) {
    let state = state(url, data_dir).await;

    // 1. N objects whose content keys are wrapped under v1 (rows only: a rewrap never reads blobs).
    let (tenant, dk) = tenant_with_keys(&state).await;
    let started = Instant::now();
    let mut done = 0;
    while done < objects {
        let mut tx = state.store.begin().await.unwrap();
        for _ in 0..5_000.min(objects - done) {
            let mut o = row(tenant, 1_000_000);
            let header = BlobHeader { encrypted: true, plaintext_len: o.size, prefix: random_array() };
            let ck = SecretBytes::new(random_array::<32>().to_vec());
            o.wrapped_key = Some(dk.wrap_content_key(&object_context(&o), &header, &ck).unwrap());
            o.header = header.encode().to_vec();
            o.blob = format!("{}.bench.cvb", o.id);
            tx.insert_object(&o).await.unwrap();
            done += 1;
        }
        tx.commit().await.unwrap();
    }
    println!("[{name}] inserted {objects} object rows in {:.1} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    new_version(&state, tenant, 2).await;
    let rotate = started.elapsed().as_secs_f64();
    let rewrap = run_job(&state, tenant, JobKind::Rewrap, 2).await;
    let usage = state.store.reader().await.unwrap().key_usage(tenant).await.unwrap();
    assert_eq!(usage.iter().find(|(v, _)| *v == 2).map(|(_, u)| u.objects), Some(objects as u64), "{usage:?}");
    println!(
        "[{name}] rotation {:.3} s + rewrap of {objects} objects {rewrap:.1} s = {:.0} objects/s (content untouched)",
        rotate,
        objects as f64 / rewrap
    );

    // 2. Re-encrypt a sample of objects with real blobs of blob_kib each.
    let (tenant, dk) = tenant_with_keys(&state).await;
    let content: Vec<u8> = (0..blob_kib * 1024).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..sample {
        let mut o = row(tenant, content.len() as u64);
        let w = write_blob(&state.vault.blobs, &o, Some(&dk), &mut |sink| sink(&mut content.clone())).unwrap();
        o.blob = w.name;
        o.sha256 = w.sha256;
        o.header = w.header;
        o.wrapped_key = w.wrapped_key;
        let mut tx = state.store.begin().await.unwrap();
        tx.insert_object(&o).await.unwrap();
        tx.commit().await.unwrap();
    }
    new_version(&state, tenant, 2).await;
    let reencrypt = run_job(&state, tenant, JobKind::Reencrypt, 2).await;
    let per_sec = sample as f64 / reencrypt;
    println!(
        "[{name}] re-encrypt of {sample} objects of {blob_kib} KiB: {reencrypt:.1} s = {per_sec:.0} objects/s, {:.0} MB/s \
         (read, decrypt, encrypt, write, fsync, re-read to verify, switch); {objects} such objects would take {:.0} s",
        (sample * blob_kib * 1024) as f64 / 1e6 / reencrypt,
        objects as f64 / per_sec
    );
    state.store.close().await;
}
