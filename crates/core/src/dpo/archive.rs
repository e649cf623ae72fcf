//! The archive of an export request: report and decrypted content in a tar file, encrypted with
//! `age` to the officer's passphrase as it streams.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use callvault_crypto::envelope::DataKey;
use callvault_model::DpoRequestId;
use callvault_model::access::{Action, Resource};
use callvault_model::personal::{DpoRequestKind, DpoRequestState};
use callvault_policy::access::ResourceRef;

use super::report::{build_report, report_html};
use super::{ArchiveRequest, DpoError, MIN_PASSPHRASE, gather, load};
use crate::caller::Ctx;
use crate::services::Services;
use crate::vault::content::{Pieces, file_name, write_tar};

/// A write end that sends what it gets down a channel (the archive streams as it is made).
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(buf.to_vec())).map_err(|_| std::io::Error::other("client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The archive of a completed export request: `report.json`, `report.html` and every object of
/// the subject decrypted, as a tar file encrypted with `age` to the passphrase (scrypt). It is
/// made as it streams and never stored; the download is audited.
pub async fn archive(state: &Services, ctx: &Ctx, id: DpoRequestId, a: ArchiveRequest) -> Result<Pieces, DpoError> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Export, &ResourceRef::tenant_wide(Resource::PersonalData, tenant)).await?;
    if a.passphrase.expose().chars().count() < MIN_PASSPHRASE {
        return Err(DpoError::Invalid(format!("passphrase: at least {MIN_PASSPHRASE} characters")));
    }
    let row = load(state, tenant, id).await?;
    if row.request.kind != DpoRequestKind::Export {
        return Err(DpoError::NotReady("only an export request has an archive"));
    }
    if row.request.state != DpoRequestState::Completed {
        return Err(DpoError::NotReady("the request is not completed yet"));
    }
    let subject = row.request.subject_id;
    let data = gather(state, tenant, subject).await?;
    let rep = build_report(state, tenant, subject, &data).await?;
    let json = serde_json::to_vec_pretty(&rep).map_err(|e| DpoError::Invalid(e.to_string()))?;
    let html = report_html(&rep).into_bytes();
    let mut keys: HashMap<u32, Arc<DataKey>> = HashMap::new();
    {
        let mut r = state.store.reader().await?;
        for v in data.objects.iter().filter_map(|o| o.key_version) {
            if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(v) {
                e.insert(state.vault.data_key(&mut r, tenant, v).await?);
            }
        }
    }
    let event = ctx.event("dpo_request.archive").target("dpo_request", id).origin(ctx.origin(state)).details(
        serde_json::json!({ "request": id, "subject": subject,
            "objects": data.objects.iter().map(|o| o.id).collect::<Vec<_>>(),
            "files": data.objects.iter().map(file_name).collect::<Vec<_>>() }),
    );
    state.auditor.record_now(state.clock.now(), &event).await?;
    let mtime = u64::try_from(state.clock.now().millis() / 1000).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let vault = state.vault.clone();
    let passphrase = age::secrecy::SecretString::from(a.passphrase.expose().to_owned());
    let objects = data.objects;
    tokio::task::spawn_blocking(move || {
        let result = (|| -> Result<(), String> {
            let encryptor = age::Encryptor::with_user_passphrase(passphrase);
            let out = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx.clone()));
            let mut w = encryptor.wrap_output(out).map_err(|e| e.to_string())?;
            let files = [("report.json".to_owned(), json), ("report.html".to_owned(), html)];
            let mut send = |b: Vec<u8>| w.write_all(&b).map_err(crate::vault::ContentError::Io);
            write_tar(&vault, &files, &objects, &keys, mtime, &mut send).map_err(|e| e.to_string())?;
            let mut out = w.finish().map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "export archive stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other("export archive stopped")));
        }
    });
    Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })))
}
