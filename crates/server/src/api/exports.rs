//! Bulk export (content leaves decrypted): a tar archive streamed as it is built — a
//! `manifest.json` with every object's id, class, size and SHA-256 first, then each object's
//! decrypted content. Every object needs `interaction:export`; the export is audited with the ids.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use callvault_crypto::digest::Sha256Stream;
use callvault_crypto::envelope::DataKey;
use callvault_model::ObjectId;
use callvault_model::access::Action;
use callvault_model::vault::StoredObject;
use callvault_store::prelude::*;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;
use callvault_core::vault::{ContentError, read_plain};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// What to export.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Object ids (1..=1000).
    pub ids: Vec<ObjectId>,
}

/// One tar header (ustar; sizes of 8 GiB and more in base-256).
pub fn tar_header(name: &str, size: u64, mtime_secs: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000600\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 8 * 1024 * 1024 * 1024 {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(format!("{:011o}\0", mtime_secs.min(0o77777777777)).as_bytes());
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..273].copy_from_slice(b"callvault"[..8].as_ref());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn extension(o: &StoredObject) -> &'static str {
    let ct = o.content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "message/rfc822" => "eml",
        "application/json" => "json",
        "application/pdf" => "pdf",
        t if t.starts_with("text/") => "txt",
        _ => "bin",
    }
}

/// Exports objects as a tar archive, decrypted, with a manifest of ids and SHA-256 digests.
#[utoipa::path(post, path = "/v1/exports", tag = "objects", security(("bearer" = [])), request_body = ExportRequest,
    responses((status = 200, description = "application/x-tar"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn export(State(state): State<AppState>, ctx: Ctx, Json(req): Json<ExportRequest>) -> ApiResult<Response> {
    let tenant = ctx.tenant()?;
    if req.ids.is_empty() || req.ids.len() > 1000 {
        return Err(ApiError::invalid("ids: 1..=1000 object ids"));
    }
    let mut r = state.store.reader().await?;
    let mut objects = Vec::with_capacity(req.ids.len());
    for id in &req.ids {
        objects.push(r.object(tenant, *id).await.map_err(|e| ApiError::from_store(e, "object"))?);
    }
    drop(r);
    for o in &objects {
        super::objects::authorize_object(&state, &ctx, Action::Export, o).await?;
    }
    let mut keys: HashMap<u32, Arc<DataKey>> = HashMap::new();
    {
        let mut r = state.store.reader().await?;
        for v in objects.iter().filter_map(|o| o.key_version) {
            if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(v) {
                e.insert(state.vault.data_key(&mut r, tenant, v).await?);
            }
        }
    }
    let event = ctx.event("object.export_bulk").origin(ctx.origin(&state)).details(serde_json::json!({
        "objects": objects.iter().map(|o| o.id).collect::<Vec<_>>(),
        "bytes": objects.iter().map(|o| o.size).sum::<u64>(),
    }));
    state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "exported_at": state.clock.now(),
        "objects": objects.iter().map(|o| serde_json::json!({
            "id": o.id, "file": format!("{}.{}", o.id, extension(o)), "class": o.class, "size": o.size,
            "sha256": o.sha256, "content_type": o.content_type, "interaction": o.interaction,
            "recorded_at": o.recorded_at, "consent": o.consent,
        })).collect::<Vec<_>>(),
    }))
    .map_err(ApiError::internal)?;
    let mtime = u64::try_from(state.clock.now().millis() / 1000).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let vault = state.vault.clone();
    tokio::task::spawn_blocking(move || {
        let send = |b: Vec<u8>| {
            tx.blocking_send(Ok(Bytes::from(b)))
                .map_err(|_| ContentError::Io(std::io::Error::other("client went away")))
        };
        let pad = |n: u64| vec![0u8; ((512 - n % 512) % 512) as usize];
        let result = (|| {
            send(tar_header("manifest.json", manifest.len() as u64, mtime).to_vec())?;
            let n = manifest.len() as u64;
            send(manifest)?;
            send(pad(n))?;
            for o in &objects {
                send(tar_header(&format!("{}.{}", o.id, extension(o)), o.size, mtime).to_vec())?;
                let dk = o.key_version.and_then(|v| keys.get(&v)).map(|k| k.as_ref());
                let mut sha = Sha256Stream::default();
                read_plain(&vault.blobs.path(o.tenant_id, &o.blob), o, dk, 0, o.size, &mut |piece: &mut [u8]| {
                    sha.update(piece);
                    send(piece.to_vec())
                })?;
                if sha.finish_hex() != o.sha256 {
                    return Err(ContentError::Integrity(format!("object {} does not match its SHA-256", o.id)));
                }
                send(pad(o.size))?;
            }
            send(vec![0u8; 1024])
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other("export stopped")));
        }
    });
    let body =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) }));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"callvault-export.tar\""));
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tar_header_checksum_and_sizes() {
        let h = super::tar_header("a.txt", 5, 0);
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&h[124..136], b"00000000005\0");
        let big = super::tar_header("b", 9 * 1024 * 1024 * 1024, 0);
        assert_eq!(big[124], 0x80);
        assert_eq!(u64::from_be_bytes(big[128..136].try_into().unwrap()), 9 * 1024 * 1024 * 1024);
    }
}
