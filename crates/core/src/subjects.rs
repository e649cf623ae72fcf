//! Interactions (contact data records) and data subjects.
//!
//! An interaction is the operative record of a call, chat, SMS or e-mail conversation: channel,
//! direction, times, service, agents, consent, and the customer's identifiers (phone in E.164,
//! e-mail, IP). Identifiers are sealed under the tenant's data key and indexed by a keyed blind
//! index (HMAC under the tenant's blind-index key, scope `subject`), so a data protection
//! officer's search is an index look-up, never a bulk decryption; without encryption enabled a
//! tenant stores no customer identifiers. Identifiers seen together on one interaction link into
//! one subject: a new interaction whose identifiers belong to several subjects merges them into
//! the oldest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callvault_crypto::envelope::{BlindIndexKey, DataKey};
use callvault_model::access::{Action, Resource};
use callvault_model::personal::{Channel, Consent, Identifier, IdentifierKind, Interaction, InteractionDirection};
use callvault_model::records::Timestamp;
use callvault_model::{InteractionId, Personal, PrincipalId, ServiceId, SubjectId, TenantId, UserId};
use callvault_policy::access::ResourceRef;
use callvault_store::prelude::*;
use callvault_store::{InteractionRow, ObjectQuery, SealedIdentifier, StoreError};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AppendError, AuditEvent};
use crate::caller::{AccessError, Ctx, Permit};
use crate::dial::DialError;
use crate::services::Services;
use crate::vault::KeyError;

/// The most identifiers on one interaction.
pub const MAX_IDENTIFIERS: usize = 16;
/// The most agents on one interaction.
pub const MAX_AGENTS: usize = 32;
/// The blind-index scope of customers' identifiers.
const SCOPE: &[u8] = b"subject";

/// Why an interaction was not stored or shown, or a subject not searched.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    /// The caller may not do this.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Customer identifiers are stored only encrypted, and the tenant has no active data key.
    #[error("customer identifiers are stored only encrypted: enable encryption for the tenant first")]
    EncryptionNotEnabled,
    /// No such interaction in the tenant.
    #[error("no such interaction")]
    NoSuchInteraction,
    /// The interaction was erased (its retention ended, or on request).
    #[error("the interaction was erased ({reason}) at {at}")]
    Erased {
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
    /// The reference belonged to an interaction an erasure erased.
    #[error(
        "external_ref: this reference belonged to an interaction erased at {at}; give the new interaction a new one"
    )]
    ReferenceClosed {
        /// When it was erased.
        at: Timestamp,
    },
    /// Another interaction has this reference.
    #[error("external_ref: another interaction of the tenant has this reference")]
    ReferenceTaken,
    /// A key is not available.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The tenant's dial settings (the default region for phone numbers) did not load.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// A stored identifier does not open.
    #[error("a stored identifier does not open")]
    Sealed,
    /// The audit entry could not be appended.
    #[error(transparent)]
    Audit(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new interaction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// Channel.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// Direction.
    #[schema(value_type = String)]
    pub direction: InteractionDirection,
    /// The contact center's own reference (unique in the tenant); objects uploaded with it as
    /// their `interaction` belong to it.
    #[serde(default)]
    pub external_ref: Option<String>,
    /// Service or campaign.
    #[serde(default)]
    pub service_id: Option<ServiceId>,
    /// Agents on it.
    #[serde(default)]
    pub agents: Vec<UserId>,
    /// Consent to recording (default `unknown`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub consent: Option<Consent>,
    /// Start (default now).
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// End.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// The customer's identifiers.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

/// What to search for: exactly one identifier.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    /// A phone number (any common form; read in the tenant's default region).
    pub phone: Option<String>,
    /// An e-mail address.
    pub email: Option<String>,
    /// An IP address.
    pub ip: Option<String>,
    /// A name (any spacing and case).
    pub name: Option<String>,
}

/// A data subject as a data protection officer sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subject {
    /// Id.
    pub id: SubjectId,
    /// Every identifier linked to the subject.
    pub identifiers: Vec<Identifier>,
    /// Its interactions (contact data records).
    pub interactions: Vec<InteractionId>,
    /// How many stored objects (recordings, transcripts, e-mails) belong to those interactions.
    pub objects: u64,
}

/// The references content names an interaction by: its external reference and its id (an
/// upload may give either).
pub(crate) fn references(i: &callvault_store::InteractionRow) -> Vec<String> {
    let id = i.id.to_string();
    match &i.external_ref {
        Some(r) if *r != id => vec![r.clone(), id],
        _ => vec![id],
    }
}

/// The normalised value of an identifier: a phone number in E.164 (read in `region`), an
/// e-mail address in lower case, an IP address in its canonical form.
pub fn normalise(kind: IdentifierKind, value: &str, region: &str) -> Result<String, SubjectError> {
    let value = value.trim();
    match kind {
        IdentifierKind::Phone => callvault_policy::numbers::parse(value, Some(region))
            .map(|n| n.e164)
            .map_err(|e| SubjectError::Invalid(format!("phone: {e}"))),
        IdentifierKind::Email => {
            let lower = value.to_lowercase();
            let ok = lower.len() <= 254
                && lower
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
                && !lower.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok { Ok(lower) } else { Err(SubjectError::Invalid("email: not an e-mail address".into())) }
        }
        IdentifierKind::Name => {
            let v = value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
                Err(SubjectError::Invalid("name: 1 to 200 printable characters".into()))
            } else {
                Ok(v)
            }
        }
        IdentifierKind::Ip => value
            .parse::<std::net::IpAddr>()
            .map(|a| a.to_string())
            .map_err(|_| SubjectError::Invalid("ip: not an IP address".into())),
    }
}

pub(crate) fn aad(tenant: TenantId, kind: IdentifierKind, blind: &str) -> Vec<u8> {
    format!("callvault-identifier-v1\0{tenant}\0{kind}\0{blind}").into_bytes()
}

async fn keys(state: &Services, tenant: TenantId) -> Result<(std::sync::Arc<DataKey>, BlindIndexKey), SubjectError> {
    let mut r = state.store.reader().await?;
    let dk = state.vault.sealing_key(&mut r, tenant).await?.ok_or(SubjectError::EncryptionNotEnabled)?;
    let blind = state.vault.blind_key(&mut r, tenant).await?.ok_or(SubjectError::EncryptionNotEnabled)?;
    Ok((dk, blind))
}

async fn region(state: &Services, tenant: TenantId) -> Result<String, SubjectError> {
    Ok(state.dial.tenant(&state.store, tenant).await?.policy.settings().default_region.clone())
}

/// The identifiers normalised (the tenant's default region for phone numbers), each once. A
/// withheld caller id (`anonymous`, `restricted`, …) is no number: it is dropped, so the contact
/// record is kept and links nobody.
async fn normalise_all(
    state: &Services,
    tenant: TenantId,
    given: &[Identifier],
) -> Result<Vec<(IdentifierKind, String)>, SubjectError> {
    let mut out: Vec<(IdentifierKind, String)> = Vec::new();
    if given.is_empty() {
        return Ok(out);
    }
    let region = region(state, tenant).await?;
    for i in given {
        if i.kind == IdentifierKind::Phone && callvault_policy::dial::is_anonymous(i.value.expose()) {
            continue;
        }
        let value = normalise(i.kind, i.value.expose(), &region)?;
        if !out.iter().any(|(k, v)| *k == i.kind && *v == value) {
            out.push((i.kind, value));
        }
    }
    Ok(out)
}

/// Normalised identifiers sealed under the tenant's data key with their blind indexes.
async fn seal_all(
    state: &Services,
    tenant: TenantId,
    values: &[(IdentifierKind, String)],
) -> Result<Vec<SealedIdentifier>, SubjectError> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let (dk, blind_key) = keys(state, tenant).await?;
    values
        .iter()
        .map(|(kind, value)| {
            let blind = blind_key.index(SCOPE, kind.as_str(), value);
            let sealed =
                dk.seal_value(&aad(tenant, *kind, &blind), value.as_bytes()).map_err(|_| SubjectError::Sealed)?;
            Ok(SealedIdentifier { kind: *kind, blind, sealed: STANDARD.encode(sealed), key_version: dk.version() })
        })
        .collect()
}

/// Stores an interaction; its identifiers link to a subject.
pub async fn create(state: &Services, ctx: &Ctx, new: NewInteraction) -> Result<Interaction, SubjectError> {
    let tenant = ctx.tenant()?;
    let resource =
        ResourceRef { services: new.service_id.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) };
    let permit = ctx.authorize(state, Action::Create, &resource).await?;
    if new.identifiers.len() > MAX_IDENTIFIERS || new.agents.len() > MAX_AGENTS {
        return Err(SubjectError::Invalid(format!(
            "at most {MAX_IDENTIFIERS} identifiers and {MAX_AGENTS} agents per interaction"
        )));
    }
    let mut new = new;
    if let Some(r) = &new.external_ref {
        new.external_ref =
            Some(crate::input::reference("external_ref", r, 256).map_err(|e| SubjectError::Invalid(e.to_string()))?);
    }
    let now = state.clock.now();
    let started_at = new.started_at.unwrap_or(now);
    if new.ended_at.is_some_and(|e| e < started_at) {
        return Err(SubjectError::Invalid("ended_at: before started_at".into()));
    }
    let identifiers = normalise_all(state, tenant, &new.identifiers).await?;
    let sealed = seal_all(state, tenant, &identifiers).await?;
    let row = InteractionRow {
        id: InteractionId::new(),
        tenant_id: tenant,
        channel: new.channel,
        direction: new.direction,
        external_ref: new.external_ref,
        service_id: new.service_id,
        consent: new.consent.unwrap_or(Consent::Unknown),
        subject_id: None,
        started_at,
        ended_at: new.ended_at,
        created_at: now,
    };
    let subject = insert(state, ctx, &permit, row.clone(), &new.agents, &sealed).await?;
    Ok(Interaction {
        id: row.id,
        tenant_id: tenant,
        channel: row.channel,
        direction: row.direction,
        external_ref: row.external_ref,
        service_id: row.service_id,
        agents: new.agents,
        consent: row.consent,
        started_at: row.started_at,
        ended_at: row.ended_at,
        identifiers: identifiers.into_iter().map(|(kind, v)| Identifier { kind, value: Personal::new(v) }).collect(),
        subject_id: subject,
        created_at: now,
    })
}

async fn insert(
    state: &Services,
    ctx: &Ctx,
    permit: &Permit,
    mut row: InteractionRow,
    agents: &[UserId],
    sealed: &[SealedIdentifier],
) -> Result<Option<SubjectId>, SubjectError> {
    let tenant = row.tenant_id;
    permit.covers(Action::Create, Resource::Interaction, tenant)?;
    let blinds: Vec<(IdentifierKind, String)> = sealed.iter().map(|s| (s.kind, s.blind.clone())).collect();
    let mut tx = state.store.begin().await?;
    for a in agents {
        tx.user(tenant, *a)
            .await
            .map_err(|_| SubjectError::Invalid("agents: every agent must be a user of this tenant".into()))?;
    }
    if let Some(s) = row.service_id {
        tx.service(tenant, s).await.map_err(|_| SubjectError::Invalid("service_id: no such service".into()))?;
    }
    if let Some(reference) = &row.external_ref {
        // An erasure closed the references of what it erased: content sent under one would be
        // refused, so the reference may not start a new interaction either.
        let digest = crate::retention::reference_digest(state, reference);
        if let Some((at, _)) = tx.tombstone(tenant, callvault_store::CLOSED_REFERENCE, &digest).await? {
            return Err(SubjectError::ReferenceClosed { at });
        }
    }
    row.subject_id = link(&mut tx, tenant, &blinds).await?;
    tx.insert_interaction(&row, agents, sealed).await.map_err(|e| match e {
        StoreError::Conflict(_) => SubjectError::ReferenceTaken,
        e => e.into(),
    })?;
    let digests: Vec<String> =
        blinds.iter().map(|(k, b)| format!("{k}:{}", state.auditor.pseudonym(b.as_bytes()))).collect();
    let event = ctx
        .event("interaction.create")
        .target("interaction", row.id)
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "channel": row.channel, "identifiers": digests, "subject": row.subject_id }));
    state.auditor.record(&mut tx, row.created_at, &event).await?;
    tx.commit().await?;
    Ok(row.subject_id)
}

/// Links identifiers seen together into one subject: the oldest subject any of them belongs to
/// (the others merge into it), or a new one. `None` for no identifiers. The tenant's exclusions
/// (its own numbers, switchboards, shared addresses) are never linked.
pub(crate) async fn link(
    tx: &mut callvault_store::Tx,
    tenant: TenantId,
    blinds: &[(IdentifierKind, String)],
) -> Result<Option<SubjectId>, StoreError> {
    // The tenant's own numbers and shared addresses link nobody.
    let excluded = tx.subject_exclusions(tenant).await?;
    let named = blinds.iter().any(|(k, _)| *k == IdentifierKind::Name);
    // Names are not unique: they never link; they are found (see `search`).
    let kept: Vec<(IdentifierKind, String)> = blinds
        .iter()
        .filter(|(k, b)| *k != IdentifierKind::Name && !excluded.iter().any(|e| e.kind == *k && e.blind == *b))
        .cloned()
        .collect();
    let blinds = kept.as_slice();
    if blinds.is_empty() {
        // A name alone is someone, found by that name: a subject of its own.
        return Ok(named.then(SubjectId::new));
    }
    let existing = tx.subjects_of(tenant, blinds).await?;
    let subject = existing.first().copied().unwrap_or_else(SubjectId::new);
    if existing.len() > 1 {
        tx.merge_subjects(tenant, subject, &existing[1..]).await?;
    }
    tx.link_identifiers(tenant, subject, blinds).await?;
    Ok(Some(subject))
}

/// Computes the blind indexes of customers' identifiers for one tenant.
pub(crate) struct Linker {
    key: BlindIndexKey,
    region: String,
}

impl Linker {
    /// The tenant's linker; `None` when the tenant has no encryption (no identifiers are kept).
    pub(crate) async fn for_tenant(state: &Services, tenant: TenantId) -> Result<Option<Linker>, SubjectError> {
        let key = state.vault.blind_key(&mut state.store.reader().await?, tenant).await?;
        match key {
            Some(key) => Ok(Some(Linker { key, region: region(state, tenant).await? })),
            None => Ok(None),
        }
    }

    /// The blind index of `value` as an identifier of `kind`; `None` when it is not one (an
    /// anonymous or withheld number, a malformed address: never linked).
    pub(crate) fn blind(&self, kind: IdentifierKind, value: &str) -> Option<String> {
        normalise(kind, value, &self.region).ok().map(|v| self.key.index(SCOPE, kind.as_str(), &v))
    }

    /// The tenant's default region for phone numbers.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The blind index of an already normalised value.
    pub(crate) fn blind_normalised(&self, kind: IdentifierKind, value: &str) -> String {
        self.key.index(SCOPE, kind.as_str(), value)
    }
}

/// The interaction of content uploaded under a reference no interaction had: its channel from
/// the content's class, direction unknown, its service and time; no identifiers (the upload
/// carries none).
pub(crate) fn adopted(
    tenant: TenantId,
    reference: &str,
    class: callvault_model::vault::ContentClass,
    service: Option<ServiceId>,
    consent: Consent,
    recorded_at: Timestamp,
    now: Timestamp,
) -> InteractionRow {
    InteractionRow {
        id: InteractionId::new(),
        tenant_id: tenant,
        channel: class.channel(),
        direction: InteractionDirection::Unknown,
        external_ref: Some(reference.to_owned()),
        service_id: service,
        consent,
        subject_id: None,
        started_at: recorded_at,
        ended_at: None,
        created_at: now,
    }
}

/// Gives every reference that objects were uploaded under, before interactions existed, its
/// interaction (run at start; what is done stays done, so a restart continues). Returns how
/// many it made.
pub async fn adopt_references(state: &Services) -> Result<u64, SubjectError> {
    let mut made = 0;
    loop {
        let orphans = state.store.reader().await?.orphan_references(500).await?;
        if orphans.is_empty() {
            return Ok(made);
        }
        let now = state.clock.now();
        let mut tx = state.store.begin().await?;
        for o in &orphans {
            let class = callvault_model::vault::ContentClass::parse(&o.class)
                .ok_or_else(|| StoreError::Corrupt("op_object: class".into()))?;
            let row = adopted(o.tenant_id, &o.reference, class, o.service_id, Consent::Unknown, o.recorded_at, now);
            if tx.ensure_interaction(&row).await? {
                let event = AuditEvent::new(Some(o.tenant_id), Actor::System, "interaction.adopted")
                    .target("interaction", row.id)
                    .details(serde_json::json!({ "channel": row.channel }));
                state.auditor.record(&mut tx, now, &event).await?;
                made += 1;
            }
        }
        tx.commit().await?;
    }
}

/// Re-seals a stored identifier from `old` to `new` (rewrap and re-encrypt jobs): the new sealed
/// value, base64 as stored.
pub(crate) fn reseal(
    tenant: TenantId,
    s: &SealedIdentifier,
    old: &DataKey,
    new: &DataKey,
) -> Result<String, SubjectError> {
    let sealed = STANDARD.decode(&s.sealed).map_err(|_| SubjectError::Sealed)?;
    let aad = aad(tenant, s.kind, &s.blind);
    let plain = old.open_value(&aad, &sealed).map_err(|_| SubjectError::Sealed)?;
    let resealed = new.seal_value(&aad, plain.expose()).map_err(|_| SubjectError::Sealed)?;
    Ok(STANDARD.encode(resealed))
}

fn open(dk: &DataKey, tenant: TenantId, s: &SealedIdentifier) -> Result<Identifier, SubjectError> {
    let sealed = STANDARD.decode(&s.sealed).map_err(|_| SubjectError::Sealed)?;
    let plain = dk.open_value(&aad(tenant, s.kind, &s.blind), &sealed).map_err(|_| SubjectError::Sealed)?;
    let value = String::from_utf8(plain.expose().to_vec()).map_err(|_| SubjectError::Sealed)?;
    Ok(Identifier { kind: s.kind, value: Personal::new(value) })
}

pub(crate) async fn open_all(
    state: &Services,
    tenant: TenantId,
    sealed: &[SealedIdentifier],
) -> Result<Vec<Identifier>, SubjectError> {
    let mut out = Vec::with_capacity(sealed.len());
    let mut r = state.store.reader().await?;
    for s in sealed {
        let dk = state.vault.data_key(&mut r, tenant, s.key_version).await?;
        out.push(open(&dk, tenant, s)?);
    }
    Ok(out)
}

/// One interaction, its identifiers opened (an audited decrypting read). Readable by whoever may
/// read the interaction's service, or the interaction as owned by one of its agents.
pub async fn get(state: &Services, ctx: &Ctx, id: InteractionId) -> Result<Interaction, SubjectError> {
    let tenant = ctx.tenant()?;
    let mut r = state.store.reader().await?;
    let (row, agents, sealed) = match r.interaction(tenant, id).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => {
            return Err(match r.tombstone(tenant, "interaction", &id.to_string()).await? {
                Some((at, reason)) => SubjectError::Erased { at, reason },
                None => SubjectError::NoSuchInteraction,
            });
        }
        Err(e) => return Err(e.into()),
    };
    drop(r);
    let base =
        ResourceRef { services: row.service_id.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) };
    let owner = agents.iter().find(|a| ctx.decide(Action::Read, &base.with_owner(PrincipalId::User(**a))).is_allowed());
    let resource = match owner {
        Some(a) => base.with_owner(PrincipalId::User(*a)),
        None => base,
    };
    ctx.authorize(state, Action::Read, &resource).await?;
    let identifiers = open_all(state, tenant, &sealed).await?;
    if !identifiers.is_empty() {
        let event = ctx
            .event("interaction.read")
            .target("interaction", id)
            .origin(ctx.origin(state))
            .details(serde_json::json!({ "decrypted": identifiers.len() }));
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    Ok(Interaction {
        id: row.id,
        tenant_id: tenant,
        channel: row.channel,
        direction: row.direction,
        external_ref: row.external_ref,
        service_id: row.service_id,
        agents,
        consent: row.consent,
        started_at: row.started_at,
        ended_at: row.ended_at,
        identifiers,
        subject_id: row.subject_id,
        created_at: row.created_at,
    })
}

/// Finds the subjects one identifier belongs to (data protection officers): a blind-index
/// look-up, then the subject's linked identifiers, interactions and stored objects. The search
/// is audited with the identifier's keyed pseudonym.
pub async fn search(state: &Services, ctx: &Ctx, q: &SubjectQuery) -> Result<Vec<Subject>, SubjectError> {
    let tenant = ctx.tenant()?;
    ctx.authorize(state, Action::Read, &ResourceRef::tenant_wide(Resource::PersonalData, tenant)).await?;
    let (kind, value) = match (&q.phone, &q.email, &q.ip, &q.name) {
        (Some(p), None, None, None) => (IdentifierKind::Phone, p),
        (None, Some(e), None, None) => (IdentifierKind::Email, e),
        (None, None, Some(i), None) => (IdentifierKind::Ip, i),
        (None, None, None, Some(n)) => (IdentifierKind::Name, n),
        _ => return Err(SubjectError::Invalid("give exactly one of phone, email, ip, name".into())),
    };
    let value = normalise(kind, value, &region(state, tenant).await?)?;
    let mut r = state.store.reader().await?;
    let Some(blind_key) = state.vault.blind_key(&mut r, tenant).await? else {
        // A tenant without encryption stores no customer identifiers: nobody to find.
        return Ok(Vec::new());
    };
    let blind = blind_key.index(SCOPE, kind.as_str(), &value);
    let subjects = if kind == IdentifierKind::Name {
        r.subjects_named(tenant, &blind).await?
    } else {
        r.subjects_of(tenant, &[(kind, blind.clone())]).await?
    };
    let mut out = Vec::new();
    for subject in subjects {
        let sealed = r.subject_identifiers(tenant, subject).await?;
        let interactions = r.subject_interactions(tenant, subject).await?;
        let mut objects = 0u64;
        for i in interactions.iter().flat_map(references) {
            let query = ObjectQuery { class: None, interaction: Some(i), after: None, limit: 1000 };
            objects += r.objects(tenant, &query).await?.len() as u64;
        }
        out.push((subject, sealed, interactions.iter().map(|i| i.id).collect::<Vec<_>>(), objects));
    }
    drop(r);
    let mut found = Vec::with_capacity(out.len());
    for (id, sealed, interactions, objects) in out {
        found.push(Subject { id, identifiers: open_all(state, tenant, &sealed).await?, interactions, objects });
    }
    let event = ctx.event("subject.search").origin(ctx.origin(state)).details(serde_json::json!({
        "kind": kind, "identifier_digest": state.auditor.pseudonym(blind.as_bytes()), "subjects": found.len(),
    }));
    state.auditor.record_now(state.clock.now(), &event).await?;
    Ok(found)
}

/// The most identifiers on the exclusion list.
pub const MAX_EXCLUSIONS: usize = 500;

/// Identifiers that never link a subject: the tenant's own numbers, switchboards, shared
/// addresses (a call from the switchboard is no evidence that two customers are one person).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    /// The identifiers (normalised when stored).
    pub identifiers: Vec<Identifier>,
}

async fn settings_permit(state: &Services, ctx: &Ctx, action: Action) -> Result<Permit, SubjectError> {
    let tenant = ctx.tenant()?;
    Ok(ctx.authorize(state, action, &ResourceRef::tenant_wide(Resource::TenantSettings, tenant)).await?)
}

/// The tenant's exclusion list (administrators; a decrypting read, audited).
pub async fn exclusions(state: &Services, ctx: &Ctx) -> Result<Exclusions, SubjectError> {
    let permit = settings_permit(state, ctx, Action::Read).await?;
    let sealed = state.store.reader().await?.subject_exclusions(permit.tenant()).await?;
    let identifiers = open_all(state, permit.tenant(), &sealed).await?;
    if !identifiers.is_empty() {
        let event = ctx
            .event("subject.exclusions_read")
            .origin(ctx.origin(state))
            .details(serde_json::json!({ "decrypted": identifiers.len() }));
        state.auditor.record_now(state.clock.now(), &event).await?;
    }
    Ok(Exclusions { identifiers })
}

/// Replaces the tenant's exclusion list (administrators; audited with pseudonyms). Identifiers
/// on it are unlinked from the subjects they were linked to and never linked again; subjects
/// already merged through one stay merged (a data protection officer sees them in the report).
pub async fn set_exclusions(state: &Services, ctx: &Ctx, new: Exclusions) -> Result<Exclusions, SubjectError> {
    let permit = settings_permit(state, ctx, Action::Update).await?;
    let tenant = permit.tenant();
    if new.identifiers.len() > MAX_EXCLUSIONS {
        return Err(SubjectError::Invalid(format!("identifiers: at most {MAX_EXCLUSIONS}")));
    }
    let values = normalise_all(state, tenant, &new.identifiers).await?;
    let sealed = seal_all(state, tenant, &values).await?;
    permit.covers(Action::Update, Resource::TenantSettings, tenant)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_subject_exclusions(tenant, &sealed, now).await?;
    let digests: Vec<String> =
        sealed.iter().map(|s| format!("{}:{}", s.kind, state.auditor.pseudonym(s.blind.as_bytes()))).collect();
    let event = ctx.event("subject.exclusions").origin(ctx.origin(state)).details(serde_json::json!({
        "identifiers": digests,
    }));
    state.auditor.record(&mut tx, now, &event).await?;
    tx.commit().await?;
    Ok(Exclusions {
        identifiers: values.into_iter().map(|(kind, v)| Identifier { kind, value: Personal::new(v) }).collect(),
    })
}
