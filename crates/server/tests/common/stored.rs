//! What the store holds for an object, read and damaged behind the API: a blob file, or the
//! sealed content kept in the object's row (small uploads).
#![allow(dead_code, reason = "each test binary uses some of these")]

use callvault_model::{ObjectId, TenantId};
use callvault_store::prelude::*;
use sqlx::{AnyConnection, Connection};

use super::TestApp;

async fn conn(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.db.url).await.unwrap()
}

/// The object's blob name and its stored (sealed) bytes.
pub async fn bytes(app: &TestApp, tenant: TenantId, id: ObjectId) -> (String, Vec<u8>) {
    let mut r = app.state.store.reader().await.unwrap();
    let o = r.object(tenant, id).await.unwrap();
    if o.blob.ends_with(".cvi") {
        let inline = r.inline_blob(tenant, id, &o.blob).await.unwrap();
        return (o.blob, inline);
    }
    let path = app.state.config.data_dir.join("blobs").join(tenant.to_string()).join(&o.blob);
    (o.blob, std::fs::read(path).unwrap())
}

/// Every byte string the tenant has stored: its blob files and the content kept in rows.
pub async fn all(app: &TestApp, tenant: TenantId) -> Vec<Vec<u8>> {
    let dir = app.state.config.data_dir.join("blobs").join(tenant.to_string());
    let mut all: Vec<Vec<u8>> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|f| std::fs::read(f.unwrap().path()).unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    let mut r = app.state.store.reader().await.unwrap();
    for name in r.blob_names(tenant).await.unwrap() {
        if let Some(id) = name.strip_suffix(".cvi").and_then(|n| n.split('.').next()) {
            all.push(r.inline_blob(tenant, id.parse().unwrap(), &name).await.unwrap());
        }
    }
    all
}

/// Flips one byte of the object's stored bytes at `at`.
pub async fn flip(app: &TestApp, tenant: TenantId, id: ObjectId, at: usize) {
    let (name, mut bytes) = bytes(app, tenant, id).await;
    bytes[at] ^= 0x5a;
    if name.ends_with(".cvi") {
        let mut c = conn(app).await;
        sqlx::query("UPDATE op_object SET inline_blob = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(bytes)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        std::fs::write(app.state.config.data_dir.join("blobs").join(tenant.to_string()).join(name), bytes).unwrap();
    }
}
