//! Data protection officers' requests on behalf of a data subject (GDPR Art. 15–17, 20): access
//! (the personal data report), export (the report plus the subject's decrypted content in an
//! `age` archive encrypted to a passphrase), rectification of an identifier, and erasure.
//!
//! A request is accepted at once and carried out by a worker (`run`): due 30 days after it was
//! accepted, extendable once by 60 with a reason (Art. 12(3)); one open request per subject; on
//! completion the data protection officers get a notification, the requester an e-mail and the
//! tenant's webhooks a `dpo_request.completed` event.
//!
//! Erasure crypto-shreds: each object's row, which holds its wrapped content key, is deleted in
//! the transaction that audits it (from then on no copy of the blob, a backup's included, can be
//! decrypted), the blob file after the commit; interactions and calling-list records are
//! deleted; each leaves a tombstone with the request's id. What law requires to keep is kept as a
//! keyed digest: an internal do-not-call entry of the subject's number becomes the number's
//! keyed digest, so the opt-out keeps blocking calls. Before an erasure is accepted the officer
//! confirms the subject's identifier set (it must equal what is linked now), and a legal hold in
//! force on the subject, one of its interactions or their services refuses it with the hold's
//! name. Each step deletes what is still there, so a restarted worker resumes. A completed
//! erasure yields a certificate: the tenant's signed tree head and inclusion proofs of the
//! erasure's audit entries, checked offline by `callvault audit verify-certificate`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callvault_model::access::{Action, Resource};
use callvault_model::personal::{
    DPO_DUE_DAYS, DPO_EXTENSION_DAYS, DpoRequest, DpoRequestKind, DpoRequestState, HoldScope, Identifier,
    IdentifierKind, LegalHold,
};
use callvault_model::records::{Notification, Timestamp};
use callvault_model::vault::StoredObject;
use callvault_model::{DpoRequestId, NotificationId, Personal, SubjectId, TenantId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{
    DpoRequestRow, InteractionRow, ObjectQuery, RecordIdentifier, Rectified, SealedIdentifier, StoreError,
};
use serde::{Deserialize, Serialize};

use crate::audit::log::AuditReadError;
use crate::audit::{Actor, AppendError, AuditEvent};
use crate::caller::{AccessError, Ctx};
use crate::retention::{BATCH, Gone, remove};
use crate::services::Services;
use crate::subjects::{self, Linker, SubjectError};
use crate::vault::KeyError;

mod archive;
mod certificate;
mod report;

pub use archive::archive;
pub use certificate::{CERTIFICATE_FORMAT, CertificateSummary, ErasureCertificate, certificate, verify_certificate};
pub use report::{
    ReportItem, SubjectReport, UserReport, report, report_body_html, report_html, user_report, user_report_html,
};

const DAY_MS: i64 = 86_400_000;
/// The shortest passphrase an export archive is encrypted to.
pub const MIN_PASSPHRASE: usize = 12;

/// Why a request was not accepted, or its report, archive or certificate not given.
#[derive(Debug, thiserror::Error)]
pub enum DpoError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No data of this subject in the tenant.
    #[error("no such subject")]
    NoSuchSubject,
    /// No such request in the tenant.
    #[error("no such request")]
    NoSuchRequest,
    /// No such user in the tenant.
    #[error("no such user")]
    NoSuchUser,
    /// The subject has an open request.
    #[error("the subject has an open request; wait for it or let it complete first")]
    OpenRequest,
    /// The confirmed identifiers are not the subject's identifiers now.
    #[error(
        "the confirmed identifiers are not the subject's: {linked} identifier(s) are linked to it now; \
         search the subject again and confirm every identifier it has"
    )]
    IdentifiersNotConfirmed {
        /// How many identifiers are linked now.
        linked: usize,
    },
    /// A legal hold in force covers the subject's data.
    #[error("legal hold \"{name}\" covers this subject's data; it is not erased until the hold is released")]
    Held {
        /// The hold's name.
        name: String,
    },
    /// The request was extended before.
    #[error("a request is extended once, and only while it is open")]
    NotExtendable,
    /// What was asked for does not exist yet, or not for this request.
    #[error("{0}")]
    NotReady(&'static str),
    /// Customer identifiers are kept only with encryption.
    #[error("customer identifiers are stored only encrypted: enable encryption for the tenant first")]
    EncryptionNotEnabled,
    /// Identifiers could not be read or normalised.
    #[error(transparent)]
    Subject(#[from] SubjectError),
    /// A key is not available.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The audit log could not be read for the certificate.
    #[error(transparent)]
    AuditRead(#[from] AuditReadError),
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request as a data protection officer files it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDpoRequest {
    /// `access`, `export`, `rectify` or `erase`.
    #[schema(value_type = String)]
    pub kind: DpoRequestKind,
    /// The subject (from `GET /v1/subjects`).
    pub subject_id: SubjectId,
    /// Erasure: every identifier of the subject as the officer saw and confirmed it; the
    /// request is refused unless it is exactly the set linked now.
    #[serde(default)]
    pub confirm_identifiers: Vec<Identifier>,
    /// Rectification: which identifier, and its correct value.
    #[serde(default)]
    pub rectify: Option<Rectification>,
}

/// A correction of one identifier.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rectification {
    /// Kind.
    #[schema(value_type = String)]
    pub kind: IdentifierKind,
    /// The value as it is linked now.
    #[schema(value_type = String)]
    pub value: Personal<String>,
    /// The correct value.
    #[schema(value_type = String)]
    pub new_value: Personal<String>,
}

/// An extension (once, with a reason).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Why more time is needed (shown to the subject's correspondence; no personal data).
    pub reason: String,
}

/// The passphrase an export archive is encrypted to (never stored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// At least 12 characters.
    #[schema(value_type = String)]
    pub passphrase: callvault_model::SecretString,
}

/// What the worker needs besides the request (stored with it; no personal values in clear).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Details {
    /// Erasure: the keyed pseudonyms of the confirmed identifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    confirmed: Vec<String>,
    /// Rectification: kind, the old value's blind index, the new value sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rectify: Option<SealedRectification>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SealedRectification {
    kind: IdentifierKind,
    old_blind: String,
    new_blind: String,
    new_sealed: String,
    key_version: u32,
}

/// Everything of a subject, as stored.
struct SubjectData {
    interactions: Vec<InteractionRow>,
    objects: Vec<StoredObject>,
    records: Vec<RecordIdentifier>,
    identifiers: Vec<Identifier>,
}

async fn gather(state: &Services, tenant: TenantId, subject: SubjectId) -> Result<SubjectData, DpoError> {
    let mut r = state.store.reader().await?;
    let interactions = r.subject_interactions(tenant, subject).await?;
    let records = r.subject_records(tenant, subject).await?;
    let mut objects = Vec::new();
    for reference in interactions.iter().flat_map(subjects::references) {
        let mut after = None;
        loop {
            let q = ObjectQuery { class: None, interaction: Some(reference.clone()), after, limit: 1000 };
            let page = r.objects(tenant, &q).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            objects.extend(page);
        }
    }
    let sealed = r.subject_identifiers(tenant, subject).await?;
    drop(r);
    let mut identifiers = open_identifiers(state, tenant, &sealed).await?;
    for rec in &records {
        if sealed.iter().any(|i| i.kind == rec.kind && i.blind == rec.blind) {
            continue;
        }
        if let Some(value) = record_field(state, tenant, rec).await? {
            identifiers.push(Identifier { kind: rec.kind, value: Personal::new(value) });
        }
    }
    identifiers.sort_by(|a, b| (a.kind.as_str(), a.value.expose()).cmp(&(b.kind.as_str(), b.value.expose())));
    identifiers.dedup();
    Ok(SubjectData { interactions, objects, records, identifiers })
}

async fn open_identifiers(
    state: &Services,
    tenant: TenantId,
    sealed: &[SealedIdentifier],
) -> Result<Vec<Identifier>, DpoError> {
    Ok(subjects::open_all(state, tenant, sealed).await?)
}

/// The value of a record's identifier field, opened.
async fn record_field(state: &Services, tenant: TenantId, link: &RecordIdentifier) -> Result<Option<String>, DpoError> {
    let mut r = state.store.reader().await?;
    let rec = match r.record(tenant, link.list_id, link.record_id).await {
        Ok(rec) => rec,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let dk = match rec.key_version {
        Some(v) => Some(state.vault.data_key(&mut r, tenant, v).await?),
        None => None,
    };
    let fields =
        crate::lists::open_record(tenant, &rec, dk.as_deref()).map_err(|_| DpoError::Subject(SubjectError::Sealed))?;
    Ok(fields.get(&link.field).and_then(|v| v.as_str()).map(str::to_owned))
}

/// The name of the first hold in force that covers the subject's data.
async fn holding(
    state: &Services,
    tenant: TenantId,
    subject: SubjectId,
    data: &SubjectData,
) -> Result<Option<String>, DpoError> {
    let holds = state.store.reader().await?.legal_holds(tenant).await?;
    Ok(holds.into_iter().filter(|h| h.released_at.is_none()).find(|h| covers(h, subject, data)).map(|h| h.name))
}

fn covers(h: &LegalHold, subject: SubjectId, data: &SubjectData) -> bool {
    match h.scope {
        HoldScope::Subject(s) => s == subject,
        HoldScope::Interaction(i) => data.interactions.iter().any(|x| x.id == i),
        HoldScope::Service(s) => {
            data.interactions.iter().any(|x| x.service_id == Some(s))
                || data.objects.iter().any(|o| o.service_id == Some(s))
        }
    }
}

fn action_of(kind: DpoRequestKind) -> Action {
    match kind {
        DpoRequestKind::Access => Action::Read,
        DpoRequestKind::Export => Action::Export,
        // Changing or removing a subject's data is the data protection officer's erase right.
        DpoRequestKind::Rectify | DpoRequestKind::Erase => Action::ErasePersonalData,
    }
}

fn pseudonyms(state: &Services, ids: &[Identifier]) -> Vec<String> {
    let mut out: Vec<String> =
        ids.iter().map(|i| format!("{}:{}", i.kind, state.auditor.pseudonym(i.value.expose().as_bytes()))).collect();
    out.sort();
    out
}

/// Accepts a request; the worker carries it out.
pub async fn create(state: &Services, ctx: &Ctx, new: NewDpoRequest) -> Result<DpoRequest, DpoError> {
    let tenant = ctx.tenant()?;
    let action = action_of(new.kind);
    let permit = ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::PersonalData, tenant)).await?;
    let data = gather(state, tenant, new.subject_id).await?;
    if data.interactions.is_empty() && data.records.is_empty() {
        return Err(DpoError::NoSuchSubject);
    }
    if new.kind != DpoRequestKind::Erase && !new.confirm_identifiers.is_empty() {
        return Err(DpoError::Invalid("confirm_identifiers: only for an erasure".into()));
    }
    if (new.kind == DpoRequestKind::Rectify) != new.rectify.is_some() {
        return Err(DpoError::Invalid("rectify: required for a rectification, and only for one".into()));
    }
    let mut details = Details::default();
    match new.kind {
        DpoRequestKind::Erase => {
            let linker = Linker::for_tenant(state, tenant).await?.ok_or(DpoError::EncryptionNotEnabled)?;
            let mut confirmed = Vec::new();
            for i in &new.confirm_identifiers {
                let value = subjects::normalise(i.kind, i.value.expose(), linker.region())?;
                confirmed.push(Identifier { kind: i.kind, value: Personal::new(value) });
            }
            let (want, have) = (pseudonyms(state, &confirmed), pseudonyms(state, &data.identifiers));
            let mut want_set = want.clone();
            want_set.dedup();
            if want_set != have {
                return Err(DpoError::IdentifiersNotConfirmed { linked: data.identifiers.len() });
            }
            if let Some(name) = holding(state, tenant, new.subject_id, &data).await? {
                return Err(DpoError::Held { name });
            }
            details.confirmed = have;
        }
        DpoRequestKind::Rectify => {
            let Some(fix) = &new.rectify else { return Err(DpoError::Invalid("rectify: required".into())) };
            let linker = Linker::for_tenant(state, tenant).await?.ok_or(DpoError::EncryptionNotEnabled)?;
            let old = subjects::normalise(fix.kind, fix.value.expose(), linker.region())?;
            let new_value = subjects::normalise(fix.kind, fix.new_value.expose(), linker.region())?;
            if !data.identifiers.iter().any(|i| i.kind == fix.kind && *i.value.expose() == old) {
                return Err(DpoError::Invalid("rectify.value: not an identifier of this subject".into()));
            }
            let new_blind = linker.blind_normalised(fix.kind, &new_value);
            let mut r = state.store.reader().await?;
            if r.subject_of_blind(tenant, fix.kind, &new_blind).await?.is_some_and(|s| s != new.subject_id) {
                return Err(DpoError::Invalid("rectify.new_value: linked to another subject".into()));
            }
            let dk = state.vault.sealing_key(&mut r, tenant).await?.ok_or(DpoError::EncryptionNotEnabled)?;
            drop(r);
            let sealed = dk
                .seal_value(&subjects::aad(tenant, fix.kind, &new_blind), new_value.as_bytes())
                .map_err(|_| DpoError::Subject(SubjectError::Sealed))?;
            details.rectify = Some(SealedRectification {
                kind: fix.kind,
                old_blind: linker.blind_normalised(fix.kind, &old),
                new_blind,
                new_sealed: STANDARD.encode(sealed),
                key_version: dk.version(),
            });
        }
        DpoRequestKind::Access | DpoRequestKind::Export => {}
    }
    permit.covers(action, Resource::PersonalData, tenant)?;
    let now = state.clock.now();
    let request = DpoRequest {
        id: DpoRequestId::new(),
        tenant_id: tenant,
        subject_id: new.subject_id,
        kind: new.kind,
        state: DpoRequestState::Open,
        requested_by: ctx.principal.to_string(),
        created_at: now,
        due_at: Timestamp(now.millis() + DPO_DUE_DAYS * DAY_MS),
        extended_reason: None,
        completed_at: None,
        outcome: serde_json::json!({}),
    };
    let details = serde_json::to_string(&details).map_err(|e| DpoError::Invalid(e.to_string()))?;
    let mut tx = state.store.begin().await?;
    tx.insert_dpo_request(&DpoRequestRow { request: request.clone(), details }).await.map_err(|e| match e {
        StoreError::Conflict(_) => DpoError::OpenRequest,
        e => e.into(),
    })?;
    let event = ctx
        .event("dpo_request.create")
        .target("dpo_request", request.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "kind": request.kind, "subject": request.subject_id, "request": request.id,
            "due_at": request.due_at, "identifiers": pseudonyms(state, &data.identifiers) }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    state.dpo_wakeup.notify_one();
    Ok(request)
}

async fn read_permit(state: &Services, ctx: &Ctx) -> Result<TenantId, DpoError> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::PersonalData, tenant)).await?;
    Ok(tenant)
}

async fn load(state: &Services, tenant: TenantId, id: DpoRequestId) -> Result<DpoRequestRow, DpoError> {
    state.store.reader().await?.dpo_request(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => DpoError::NoSuchRequest,
        e => e.into(),
    })
}

/// The tenant's requests, newest first.
pub async fn list(state: &Services, ctx: &Ctx) -> Result<Vec<DpoRequest>, DpoError> {
    let tenant = read_permit(state, ctx).await?;
    Ok(state.store.reader().await?.dpo_requests(tenant).await?.into_iter().map(|r| r.request).collect())
}

/// One request.
pub async fn get(state: &Services, ctx: &Ctx, id: DpoRequestId) -> Result<DpoRequest, DpoError> {
    let tenant = read_permit(state, ctx).await?;
    Ok(load(state, tenant, id).await?.request)
}

/// Extends an open request once by 60 days, with a reason (audited).
pub async fn extend(state: &Services, ctx: &Ctx, id: DpoRequestId, ext: Extension) -> Result<DpoRequest, DpoError> {
    let tenant = ctx.tenant()?;
    let permit = ctx
        .authorize(state, Action::ErasePersonalData, &ResourceRef::tenant_wide(Resource::PersonalData, tenant))
        .await?;
    let reason = ext.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(DpoError::Invalid("reason: 1 to 500 printable characters".into()));
    }
    let row = load(state, tenant, id).await?;
    permit.covers(Action::ErasePersonalData, Resource::PersonalData, tenant)?;
    let due = Timestamp(row.request.due_at.millis() + DPO_EXTENSION_DAYS * DAY_MS);
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.extend_dpo_request(tenant, id, due, reason).await.map_err(|e| match e {
        StoreError::NotFound => DpoError::NotExtendable,
        e => e.into(),
    })?;
    let event = ctx
        .event("dpo_request.extend")
        .target("dpo_request", id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "request": id, "due_at": due, "reason": reason }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(load(state, tenant, id).await?.request)
}

/// Carries out every open request (oldest first); returns how many it finished.
pub async fn run_once(state: &Services) -> Result<usize, DpoError> {
    let pending = state.store.reader().await?.pending_dpo_requests().await?;
    let mut done = 0;
    for row in pending {
        carry_out(state, &row).await?;
        done += 1;
    }
    Ok(done)
}

/// Carries out requests as they come until the process ends.
pub async fn run(state: Services) {
    loop {
        match run_once(&state).await {
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "a data protection request failed; it is retried"),
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), state.dpo_wakeup.notified()).await;
    }
}

async fn set_state(
    state: &Services,
    req: &DpoRequest,
    to: DpoRequestState,
    outcome: &serde_json::Value,
) -> Result<(), DpoError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_dpo_state(req.tenant_id, req.id, to, outcome, now).await?;
    if !to.is_open() {
        let event = AuditEvent::new(
            Some(req.tenant_id),
            Actor::System,
            if to == DpoRequestState::Completed { "dpo_request.completed" } else { "dpo_request.refused" },
        )
        .target("dpo_request", req.id)
        .details(
            serde_json::json!({ "request": req.id, "kind": req.kind, "subject": req.subject_id, "outcome": outcome }),
        );
        state.auditor.record(&mut tx, now, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn carry_out(state: &Services, row: &DpoRequestRow) -> Result<(), DpoError> {
    let req = &row.request;
    if req.state == DpoRequestState::Open {
        set_state(state, req, DpoRequestState::Running, &serde_json::json!({})).await?;
    }
    let details: Details = serde_json::from_str(&row.details).map_err(|e| DpoError::Invalid(e.to_string()))?;
    let (to, outcome) = match req.kind {
        DpoRequestKind::Access | DpoRequestKind::Export => {
            let data = gather(state, req.tenant_id, req.subject_id).await?;
            (
                DpoRequestState::Completed,
                serde_json::json!({ "interactions": data.interactions.len(), "objects": data.objects.len(),
                    "records": data.records.len(), "identifiers": data.identifiers.len() }),
            )
        }
        DpoRequestKind::Rectify => match details.rectify {
            Some(fix) => (DpoRequestState::Completed, rectify(state, req, &fix).await?),
            None => (DpoRequestState::Refused, serde_json::json!({ "reason": "the request holds no rectification" })),
        },
        DpoRequestKind::Erase => erase(state, req).await?,
    };
    set_state(state, req, to, &outcome).await?;
    notify_completion(state, req, to, &outcome).await;
    Ok(())
}

async fn rectify(state: &Services, req: &DpoRequest, fix: &SealedRectification) -> Result<serde_json::Value, DpoError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let rectified = Rectified {
        kind: fix.kind,
        old_blind: &fix.old_blind,
        new_blind: &fix.new_blind,
        new_sealed: &fix.new_sealed,
        key_version: fix.key_version,
    };
    let changed = tx.rectify_identifier(req.tenant_id, req.subject_id, &rectified).await?;
    let event = AuditEvent::new(Some(req.tenant_id), Actor::System, "subject.rectified")
        .target("subject", req.subject_id)
        .details(serde_json::json!({ "request": req.id, "kind": fix.kind, "interactions": changed,
            "from": state.auditor.pseudonym(fix.old_blind.as_bytes()), "to": state.auditor.pseudonym(fix.new_blind.as_bytes()) }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(serde_json::json!({ "interactions": changed }))
}

/// Erases a subject; each step deletes what is still there, so a rerun resumes.
async fn erase(state: &Services, req: &DpoRequest) -> Result<(DpoRequestState, serde_json::Value), DpoError> {
    let (tenant, subject, request) = (req.tenant_id, req.subject_id, req.id.to_string());
    let data = gather(state, tenant, subject).await?;
    if let Some(name) = holding(state, tenant, subject, &data).await? {
        return Ok((
            DpoRequestState::Refused,
            serde_json::json!({ "reason": format!("legal hold \"{name}\" covers this subject's data"), "hold": name }),
        ));
    }
    let details = serde_json::json!({ "request": request, "subject": subject });
    let audit = |action: &'static str| AuditEvent::new(Some(tenant), Actor::System, action).details(details.clone());
    // The references are closed before anything is listed for erasure: what was written under
    // them before is listed, what comes after is refused.
    let data = close(state, req, data, &audit).await?;
    // The opt-out of an internal do-not-call list outlives the erasure as a keyed digest.
    let mut dnc = 0u64;
    for i in data.identifiers.iter().filter(|i| i.kind == IdentifierKind::Phone) {
        let Ok(n) = callvault_policy::numbers::parse(i.value.expose(), None) else { continue };
        let Some(key) = crate::dial::number_key(&n) else { continue };
        let lists = state.store.reader().await?.internal_lists_with(tenant, key).await?;
        for list in lists {
            let digest = state.auditor.pseudonym(format!("+{key}").as_bytes());
            let now = state.clock.now();
            let mut tx = state.store.begin().await?;
            tx.digest_dnc_number(list, key, &digest, now).await?;
            state.auditor.record(&mut tx, now, &audit("dnc.number.digested").target("dnc_list", list)).await?;
            tx.commit().await?;
            state.dial.digest_internal(list, key);
            dnc += 1;
        }
    }
    // Objects first (their content keys), then records, then interactions, a batch per
    // transaction, each batch one audit entry naming what it erased.
    let (mut objects, mut blobs_left) = (0u64, 0u64);
    for chunk in data.objects.chunks(BATCH) {
        let items: Vec<Gone> = chunk.iter().map(|o| Gone::Object(o.id, o.class.category())).collect();
        let done = remove(state, tenant, &items, "erasure", Some(&request), audit("object.erased")).await?;
        objects += done.len() as u64;
        for o in chunk.iter().filter(|o| done.iter().any(|g| matches!(g, Gone::Object(id, _) if *id == o.id))) {
            if state.vault.blobs.delete(tenant, &o.blob).await.is_err() {
                // The content key is gone; the key job's sweep removes the file later.
                blobs_left += 1;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let records: Vec<Gone> =
        data.records.iter().filter(|r| seen.insert(r.record_id)).map(|r| Gone::Record(r.record_id)).collect();
    let mut erased_records = 0u64;
    for chunk in records.chunks(BATCH) {
        erased_records +=
            remove(state, tenant, chunk, "erasure", Some(&request), audit("record.erased")).await?.len() as u64;
    }
    let interactions: Vec<Gone> = data.interactions.iter().map(|i| Gone::Interaction(i.id)).collect();
    let mut erased_interactions = 0u64;
    for chunk in interactions.chunks(BATCH) {
        erased_interactions +=
            remove(state, tenant, chunk, "erasure", Some(&request), audit("interaction.erased")).await?.len() as u64;
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.unlink_subject(tenant, subject).await?;
    state.auditor.record(&mut tx, now, &audit("subject.erased").target("subject", subject)).await?;
    tx.commit().await?;
    // Copies of the erased rows (wrapped keys, content kept in rows) may remain in the
    // database's files until it is rebuilt and its log truncated.
    if !state.store.wipe_deleted().await? {
        tracing::warn!(request = %request, "readers kept the database log from being truncated after an erasure; the next checkpoint does it");
    }
    Ok((
        DpoRequestState::Completed,
        serde_json::json!({ "objects": objects, "interactions": erased_interactions, "records": erased_records,
            "dnc_entries_kept_as_digest": dnc, "blobs_left_for_sweep": blobs_left }),
    ))
}

/// Closes the references of the subject's interactions (each under its external reference and
/// its id) and lists the subject's data again, until no interaction is left open: one linked
/// to the subject meanwhile is closed in the next round.
async fn close(
    state: &Services,
    req: &DpoRequest,
    mut data: SubjectData,
    audit: &(dyn Fn(&'static str) -> AuditEvent + Sync),
) -> Result<SubjectData, DpoError> {
    let (tenant, request) = (req.tenant_id, req.id.to_string());
    let mut closed = std::collections::HashSet::new();
    for _ in 0..CLOSE_ROUNDS {
        let open: Vec<&InteractionRow> = data.interactions.iter().filter(|i| !closed.contains(&i.id)).collect();
        if open.is_empty() {
            return Ok(data);
        }
        let ids: Vec<String> = open.iter().map(|i| i.id.to_string()).collect();
        let digests: Vec<String> = open
            .iter()
            .flat_map(|i| subjects::references(i))
            .map(|r| crate::retention::reference_digest(state, &r))
            .collect();
        let now = state.clock.now();
        let mut event = audit("interaction.closed");
        for id in &ids {
            event = event.target("interaction", id.as_str());
        }
        // A deadlock with writers holding several interactions is broken by PostgreSQL; the
        // closing is tried again.
        let mut attempt = 0;
        loop {
            let result = async {
                let mut tx = state.store.begin().await?;
                tx.close_references(tenant, &ids, &digests, now, Some(&request)).await?;
                state.auditor.record(&mut tx, now, &event).await?;
                tx.commit().await
            }
            .await;
            match result {
                Ok(()) => break,
                Err(StoreError::Database(_)) if attempt < 4 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
        closed.extend(open.iter().map(|i| i.id));
        data = gather(state, tenant, req.subject_id).await?;
    }
    Err(DpoError::Invalid(format!(
        "interactions kept being linked to the subject during {CLOSE_ROUNDS} rounds of closing; run the request again"
    )))
}

/// Rounds of closing at most (one is the rule, two when an interaction was linked meanwhile).
const CLOSE_ROUNDS: usize = 5;

async fn notify_completion(state: &Services, req: &DpoRequest, to: DpoRequestState, outcome: &serde_json::Value) {
    let message = format!("data protection request {} ({}) is {}", req.id, req.kind, to);
    let details = serde_json::json!({ "request": req.id, "kind": req.kind, "state": to, "outcome": outcome });
    let n = Notification {
        id: NotificationId::new(),
        tenant_id: req.tenant_id,
        kind: "dpo_request.completed".into(),
        // The officer who filed it.
        audience: format!("principal:{}", req.requested_by),
        message: message.clone(),
        details: details.clone(),
        created_at: state.clock.now(),
    };
    let stored = async {
        let mut tx = state.store.begin().await?;
        tx.insert_notification(&n).await?;
        tx.commit().await
    };
    if let Err(e) = stored.await {
        tracing::warn!(error = %e, "the completion notification was not stored");
    }
    if let Some(user) = req.requested_by.strip_prefix("user:").and_then(|u| u.parse().ok()) {
        let addresses = match state.store.reader().await {
            Ok(mut r) => {
                r.user(req.tenant_id, callvault_model::UserId(user)).await.map(|u| u.addresses).unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        for a in addresses.iter().filter(|a| a.kind == callvault_model::records::AddressKind::Email) {
            crate::notify::email_to(state, a.value.expose(), "callvault: data protection request completed", &message)
                .await;
        }
    }
    crate::notify::webhooks(state, req.tenant_id, crate::webhooks::WebhookEvent::DpoRequestCompleted, &details).await;
}
