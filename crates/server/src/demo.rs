//! `serve --demo`: a sample tenant with a user of every default role, teams, skills, services,
//! campaigns, a telecom policy, do-not-call lists and encrypted sample content, and a scripted
//! call replayed every two minutes so the call-security views have something to show. Only
//! `serve` imports this module; nothing else in production does.

mod organisation;

use callvault_model::access::{DefaultRole, Scope};
use callvault_model::recording::RecordingKind;
use callvault_model::records::{
    AddressKind, Assignments, Capabilities, Grant, Grantee, Service, ServiceKind, Skill, SkillLevel, Team, Tenant,
    TenantSettings,
};
use callvault_model::{GrantId, Personal, SecretString, ServiceId, SkillId, TeamId, TenantId, UserId};
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, NewUser, StoreError, TenantStore};

use crate::bootstrap::generate_password;
use crate::state::AppState;
use callvault_core::Services;
use callvault_core::audit::{Actor, AuditEvent};
use callvault_core::calls;
use callvault_core::identity::{login_key, new_password_hash};
use callvault_core::tenants::seed_default_roles;
use callvault_policy::callsec::{Event, Party, PartyKind, StationLevel};
use callvault_signalling::{Media, MediaSecurity, Signalling};

/// A demo login printed by `serve --demo`.
#[derive(Debug)]
pub struct DemoLogin {
    /// Role.
    pub role: &'static str,
    /// Login id (a service account's name).
    pub login: &'static str,
    /// Password (a service account's token).
    pub password: String,
    /// A service account (the password is its bearer token).
    pub service_account: bool,
}

/// The demo's recorder: a service account with the built-in `recorder` role (content and contact
/// records in, recording decisions; nothing out), with its token shown once.
async fn seed_demo_recorder(
    tx: &mut callvault_store::Tx,
    tenant: TenantId,
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<DemoLogin> {
    let role = tx.role_by_name(tenant, DefaultRole::Recorder.name()).await?;
    let token = callvault_crypto::token::new_token(crate::auth::SERVICE_TOKEN_PREFIX);
    let account = callvault_model::records::ServiceAccount {
        id: callvault_model::ServiceAccountId::new(),
        tenant_id: tenant,
        name: "recorder".into(),
        token_prefix: token.token.expose().chars().take(12).collect(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        expires_at: None,
        token_lifetime_days: None,
    };
    tx.insert_service_account(&account, &hex::encode(token.digest)).await?;
    tx.insert_grant(&Grant {
        id: GrantId::new(),
        tenant_id: tenant,
        grantee: Grantee::ServiceAccount(account.id),
        role_id: role.id,
        scope: Scope::Tenant,
        created_at: now,
    })
    .await?;
    Ok(DemoLogin {
        role: "recorder",
        login: "recorder",
        password: token.token.expose().to_owned(),
        service_account: true,
    })
}

/// The demo tenant's slug.
pub const DEMO_TENANT: &str = "demo";

/// Seeds the demo tenant: a user of every default role, teams, skills, services and campaigns.
/// Does nothing when it exists already. Passwords are random per installation and printed once.
pub async fn seed_demo(state: &AppState) -> anyhow::Result<Option<Vec<DemoLogin>>> {
    let mut tx = state.store.begin().await?;
    match tx.tenant_by_slug(DEMO_TENANT).await {
        Ok(_) => {
            tx.rollback().await?;
            return Ok(None);
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let now = state.clock.now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug: DEMO_TENANT.into(),
        display_name: "Demo Contact Center".into(),
        capabilities: Capabilities { encryption: true, outbound_policy: true, call_security: true },
        settings: TenantSettings::default(),
        created_at: now,
    };
    tx.insert_tenant(&tenant).await?;
    seed_default_roles(&mut tx, tenant.id, now).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let sales = TeamId::new();
    let support = TeamId::new();
    let [north, south] = organisation::departments(&mut tx, tenant.id, now).await?;
    for (id, name, department) in [(sales, "Sales", north), (support, "Support", south)] {
        tx.insert_team(&Team {
            id,
            tenant_id: tenant.id,
            name: name.into(),
            department_id: Some(department),
            created_at: now,
        })
        .await?;
    }
    let english = SkillId::new();
    let spanish = SkillId::new();
    for (id, name) in [(english, "English"), (spanish, "Spanish")] {
        tx.insert_skill(&Skill { id, tenant_id: tenant.id, name: name.into(), created_at: now }).await?;
    }
    let inbound = ServiceId::new();
    let campaign = ServiceId::new();
    tx.insert_service(&Service {
        id: inbound,
        tenant_id: tenant.id,
        name: "Customer Care".into(),
        kind: ServiceKind::Inbound,
        created_at: now,
    })
    .await?;
    tx.insert_service(&Service {
        id: campaign,
        tenant_id: tenant.id,
        name: "Spring Renewal".into(),
        kind: ServiceKind::Campaign,
        created_at: now,
    })
    .await?;
    let people: [(DefaultRole, &'static str, &str, &str, Scope); 8] = [
        (DefaultRole::Agent, "agent", "Alex", "Agent", Scope::Tenant),
        (DefaultRole::Agent, "agent2", "Robin", "Support", Scope::Tenant),
        (
            DefaultRole::Supervisor,
            "supervisor",
            "Sam",
            "Supervisor",
            Scope::Limited { teams: vec![], skills: vec![], services: vec![inbound], departments: vec![north] },
        ),
        (DefaultRole::Administrator, "administrator", "Ada", "Admin", Scope::Tenant),
        (DefaultRole::SecurityOfficer, "security", "Sid", "Security", Scope::Tenant),
        // A second key custodian: key operations need two (dual control).
        (DefaultRole::SecurityOfficer, "security2", "Kim", "Keys", Scope::Tenant),
        (DefaultRole::DataProtectionOfficer, "dpo", "Dana", "Privacy", Scope::Tenant),
        (DefaultRole::Auditor, "auditor", "Aud", "Itor", Scope::Tenant),
    ];
    let mut logins = Vec::new();
    let mut agent = None;
    let mut ids = Vec::new();
    for (i, (role, login, first, last, scope)) in people.into_iter().enumerate() {
        let user = UserId::new();
        ids.push(user);
        if i == 0 {
            agent = Some(user);
        }
        tx.insert_user(&NewUser {
            id: user,
            tenant_id: tenant.id,
            login: Personal::new(login.into()),
            login_key: Personal::new(login_key(login)),
            first_name: Personal::new(first.into()),
            last_name: Personal::new(last.into()),
            addresses: vec![
                (AddressKind::Email, Personal::new(format!("{login}@example.com"))),
                (AddressKind::Phone, Personal::new(format!("+1555555{:04}", 100 + i))),
            ],
            now,
        })
        .await?;
        let password = generate_password();
        let hash = new_password_hash(&SecretString::new(password.clone()), &Default::default(), &[])
            .await
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        tx.insert_credential(tenant.id, user, &hash, now).await?;
        let team = if i == 1 { support } else { sales };
        tx.set_assignments(
            tenant.id,
            user,
            &Assignments {
                teams: vec![team],
                skills: vec![SkillLevel { skill_id: english, level: 80 }],
                services: vec![if i == 1 { campaign } else { inbound }],
            },
        )
        .await?;
        let role_row = tx.role_by_name(tenant.id, role.name()).await?;
        tx.insert_grant(&Grant {
            id: GrantId::new(),
            tenant_id: tenant.id,
            grantee: Grantee::User(user),
            role_id: role_row.id,
            scope,
            created_at: now,
        })
        .await?;
        logins.push(DemoLogin { role: role.name(), login, password, service_account: false });
    }
    logins.push(seed_demo_recorder(&mut tx, tenant.id, now).await?);
    let stored = seed_demo_content(state, &mut tx, tenant.id, agent, (inbound, campaign), now).await?;
    organisation::recording_policy(&mut tx, tenant.id, inbound, campaign, now).await?;
    let intervals = organisation::performance(&mut tx, tenant.id, &ids[..2], now).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &AuditEvent::new(Some(tenant.id), Actor::System, "demo.seed")
                .target("tenant", tenant.id)
                .details(serde_json::json!({ "objects": stored, "data_key_version": 1, "intervals": intervals })),
        )
        .await?;
    let dial = seed_demo_dial(&mut tx, state.dial.dir(), tenant.id, ids.get(1).copied(), support, now).await?;
    // Stations: the first agent on an end-to-edge station, the second on a minimal one.
    for (i, (name, sip_user, level)) in
        [("desk-100", "100", "end_to_edge"), ("desk-101", "101", "minimal")].into_iter().enumerate()
    {
        callvault_store::CallStore::put_station(
            &mut tx,
            tenant.id,
            &callvault_store::calls::StationRow {
                name: name.into(),
                sip_user: sip_user.into(),
                user_id: ids.get(i).copied(),
                kind: "station".into(),
                level: level.into(),
            },
        )
        .await?;
    }
    tx.commit().await?;
    for list in dial {
        match list {
            (meta, Some(set)) => state.dial.swap_registry(meta, set, None),
            (meta, None) => {
                let id = meta.id;
                state.dial.add_list(meta);
                for n in DEMO_DNC_INTERNAL {
                    state.dial.set_internal(id, *n, true);
                }
            }
        }
    }
    Ok(Some(logins))
}

/// Numbers on the demo tenant's internal do-not-call list.
pub const DEMO_DNC_INTERNAL: &[u64] = &[12025550143, 13055550177];
/// Numbers on the demo tenant's (tiny) registry copy.
pub const DEMO_DNC_REGISTRY: &[u64] = &[12125550111, 12125550122, 14155550133, 17135550144];

/// The demo tenant's telecom policy: areas, assignments, settings, an internal
/// do-not-call list and a small registry copy; returns the lists for the in-memory state.
async fn seed_demo_dial(
    tx: &mut callvault_store::Tx,
    dnc_dir: &std::path::Path,
    tenant: TenantId,
    campaign_agent: Option<UserId>,
    support: callvault_model::TeamId,
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<Vec<(callvault_model::dial::DncList, Option<callvault_policy::dnc::CompactSet>)>> {
    use callvault_model::dial::{AreaDef, DncList, DncListKind};
    use callvault_policy::dial::{Areas, Settings};
    use callvault_store::DialStore;
    let area = |name: &str, include: &[&str], except: &[&str]| AreaDef {
        name: name.into(),
        include: include.iter().map(|s| s.to_string()).collect(),
        except: except.iter().map(|s| s.to_string()).collect(),
    };
    for a in [
        area("US domestic", &["region:US"], &["kind:premium_rate", "kind:shared_cost"]),
        area("UK landlines", &["country:44"], &["prefix:447", "prefix:449"]),
        area("Florida", &["area_code:305", "area_code:786", "area_code:954", "area_code:561", "area_code:407"], &[]),
        area("Cuba", &["country:53"], &[]),
    ] {
        tx.put_dial_area(tenant, &a).await?;
    }
    let settings = Settings {
        block_anonymous_inbound: true,
        inbound_block: vec!["kind:premium_rate".into()],
        ..Default::default()
    };
    tx.put_dial_config(tenant, &serde_json::to_string(&settings)?, callvault_policy::rules::SHIPPED, now).await?;
    if let Some(agent) = campaign_agent {
        let areas = Areas {
            call: vec!["US domestic".into(), "UK landlines".into()],
            text: vec!["US domestic".into()],
            inbound_block: vec![],
        };
        tx.put_dial_assignment(tenant, "user", &agent.to_string(), &serde_json::to_string(&areas)?).await?;
    }
    let blocked = Areas { inbound_block: vec!["Cuba".into()], ..Default::default() };
    tx.put_dial_assignment(tenant, "team", &support.to_string(), &serde_json::to_string(&blocked)?).await?;
    let internal = DncList {
        id: callvault_model::DncListId::new(),
        tenant_id: tenant,
        name: "customer requests".into(),
        kind: DncListKind::Internal,
        country_code: None,
        entries: 0,
        refreshed_at: Some(now),
        file_sha256: None,
        created_at: now,
    };
    tx.insert_dnc_list(&internal).await?;
    for n in DEMO_DNC_INTERNAL {
        tx.insert_dnc_number(internal.id, *n, now).await?;
    }
    let mut registry = DncList {
        id: callvault_model::DncListId::new(),
        name: "US national registry (demo copy)".into(),
        kind: DncListKind::Registry,
        country_code: Some(1),
        entries: DEMO_DNC_REGISTRY.len() as u64,
        ..internal.clone()
    };
    let set = callvault_policy::dnc::CompactSet::from_sorted(DEMO_DNC_REGISTRY)?;
    let sha = callvault_core::dial::write_set(dnc_dir, registry.id, &set)?;
    registry.file_sha256 = Some(sha);
    tx.insert_dnc_list(&registry).await?;
    let internal = DncList { entries: DEMO_DNC_INTERNAL.len() as u64, ..internal };
    Ok(vec![(internal, None), (registry, Some(set))])
}

/// Demo content, encrypted under the demo tenant's first data key: a voice
/// recording (espeak-ng, 8 kHz µ-law), chat and SMS transcripts, an e-mail.
async fn seed_demo_content(
    state: &AppState,
    tx: &mut callvault_store::Tx,
    tenant: TenantId,
    agent: Option<UserId>,
    (service, campaign): (ServiceId, ServiceId),
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<usize> {
    use callvault_crypto::envelope::{BlindIndexKey, DataKey};
    use callvault_model::vault::{ContentClass, StoredObject};
    use callvault_store::prelude::*;
    let (blind_key, blind) = BlindIndexKey::generate(state.vault.kek(), tenant.0.as_bytes())?;
    tx.put_encryption(tenant, &callvault_core::vault::initial_settings(now), &blind).await?;
    let (dk, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), 1)?;
    let dk = std::sync::Arc::new(dk);
    tx.insert_data_key(tenant, 1, &wrapped, now).await?;
    let items: [(ContentClass, &str, &'static [u8], &str); 4] = [
        (ContentClass::Voice, "audio/wav", include_bytes!("../demo/welcome-call.wav"), "demo-call-0001"),
        (
            ContentClass::Chat,
            "text/plain; charset=utf-8",
            include_bytes!("../demo/chat-transcript.txt"),
            "demo-chat-0001",
        ),
        (ContentClass::Sms, "text/plain; charset=utf-8", include_bytes!("../demo/sms-transcript.txt"), "demo-sms-0001"),
        (ContentClass::Email, "message/rfc822", include_bytes!("../demo/email.eml"), "demo-email-0001"),
    ];
    for (class, content_type, bytes, interaction) in items {
        let mut bytes = bytes.to_vec();
        let mut o = StoredObject {
            id: callvault_model::ObjectId::new(),
            tenant_id: tenant,
            class,
            interaction: Some(interaction.into()),
            service_id: Some(service),
            agents: agent.into_iter().collect(),
            contact_ref: Some("crm-demo-42".into()),
            recorded_at: now,
            consent: callvault_model::personal::Consent::Yes,
            recording: if agent.is_some() { RecordingKind::Personal } else { RecordingKind::QualityManagement },
            paused: Vec::new(),
            content_type: content_type.into(),
            size: bytes.len() as u64,
            sha256: String::new(),
            redactions: 0,
            key_version: Some(1),
            created_at: now,
            blob: String::new(),
            wrapped_key: None,
            header: Vec::new(),
        };
        // Text goes through the card-number scanner, as an upload does (the chat has a card;
        // the e-mail is read as MIME).
        if callvault_core::vault::redaction::is_text(&o) {
            let mut masked = Vec::with_capacity(bytes.len());
            let mut scanner = callvault_core::vault::redaction::Scanner::for_object(&o);
            scanner.push(&bytes, &mut masked);
            let n = scanner.finish(&mut masked).map_err(|why| anyhow::anyhow!("demo {interaction}: {why}"))?;
            o.redactions = u32::try_from(n).unwrap_or(u32::MAX);
            bytes = masked;
        }
        // Blob writes block (and on S3 drive their requests from a blocking thread).
        let (vault, key, row) = (state.vault.clone(), dk.clone(), o.clone());
        let w = tokio::task::spawn_blocking(move || {
            callvault_core::vault::write_blob(&vault.blobs, &row, Some(&key), &mut |sink| sink(&mut bytes))
        })
        .await??;
        o.blob = w.name;
        o.sha256 = w.sha256;
        o.wrapped_key = w.wrapped_key;
        o.header = w.header;
        tx.insert_object(&o).await?;
    }
    organisation::calling_list(tx, tenant, campaign, (&*dk, &blind_key), now).await?;
    Ok(items.len())
}

/// `serve --demo`: replays a scripted call every two minutes — the demo agent's end-to-edge
/// station (desk-100) on a secure call through an SRTP gateway, transferred to a carrier trunk
/// without encryption (a downgrade: the agent is alerted), then hung up.
pub async fn replay_calls(state: Services, tenant: TenantId) {
    let party = |kind, name: &str| Party { kind, name: name.into(), user: None, level: StationLevel::None };
    let srtp = MediaSecurity { media: Media::SdesSrtp, detail: Some("AES_CM_128_HMAC_SHA1_80".into()) };
    let plain = MediaSecurity { media: Media::PlainRtp, detail: None };
    let answer = |leg: &str, media: &MediaSecurity, signalling| Event::Answer {
        leg: leg.into(),
        media: media.clone(),
        signalling,
    };
    let script: Vec<(u64, Vec<Event>)> = vec![
        (
            5,
            vec![
                Event::LegAdded { leg: "agent".into(), party: party(PartyKind::Station, "desk-100") },
                Event::LegAdded { leg: "customer".into(), party: party(PartyKind::Gateway, "srtp-gateway") },
                answer("agent", &srtp, Signalling::Tls),
                answer("customer", &srtp, Signalling::Tls),
            ],
        ),
        (
            10,
            vec![
                Event::Transfer {
                    from: "customer".into(),
                    to: "transfer".into(),
                    party: party(PartyKind::Trunk, "pstn-carrier (udp)"),
                },
                answer("transfer", &plain, Signalling::Plain),
            ],
        ),
        (10, vec![Event::LegLeft { leg: "agent".into() }, Event::LegLeft { leg: "transfer".into() }]),
    ];
    for n in 1u64.. {
        let key = format!("demo-call-{n}");
        for (wait, events) in &script {
            tokio::time::sleep(std::time::Duration::from_secs(*wait)).await;
            match state.calls.apply_events(tenant, &key, events, state.clock.now().millis(), true).await {
                Ok((view, changes)) => {
                    calls::notify_downgrades(&state, tenant, view.id, &changes);
                    callvault_core::diagnostics::call_applied(&state, tenant, view.id, "demo", &changes);
                }
                Err(e) => tracing::warn!(error = %e, "demo call replay failed"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(95)).await;
    }
}

#[cfg(test)]
mod tests {
    /// Production paths never reach demo data: only `serve` (for `--demo`) names this module.
    #[test]
    fn only_serve_imports_the_demo() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("src"), &mut files);
        walk(&root.join("../core/src"), &mut files);
        let importers: Vec<_> = files
            .iter()
            .filter(|f| !f.ends_with("demo.rs") && !f.ends_with("lib.rs"))
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                text.contains("demo::") || text.contains("crate::demo")
            })
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(importers, ["serve.rs"]);
    }
}
