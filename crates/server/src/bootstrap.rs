//! First start and demo data: opening the store and KEK, the provider operator `admin`, and
//! `serve --demo`'s sample tenant.

use std::sync::Arc;

use callvault_crypto::KeyEncryptionKey;
use callvault_crypto::digest::random_bytes;
use callvault_crypto::kek::FileKek;
use callvault_model::access::{DefaultRole, Scope};
use callvault_model::records::{
    AddressKind, Assignments, Capabilities, Grant, Grantee, Service, ServiceKind, Skill, SkillLevel, Team, Tenant,
    TenantSettings,
};
use callvault_model::{GrantId, OperatorId, Personal, SecretString, ServiceId, SkillId, TeamId, TenantId, UserId};
use callvault_store::prelude::*;
use callvault_store::{DirectoryStore, NewUser, Store, StoreError, TenantStore};

use crate::state::AppState;
use callvault_core::audit::{Actor, AuditEvent, Auditor};
use callvault_core::clock::Clock;
use callvault_core::config::Config;
use callvault_core::identity::{login_key, new_password_hash};
use callvault_core::metrics::Metrics;
use callvault_core::tenants::seed_default_roles;

/// Opens the KEK and the store (migrating it), starts the audit log, and returns the state.
/// A sealed KEK is an error here; `serve` unseals through [`crate::unseal::gate`].
pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let store = open_store(config).await?;
    let kek = match open_kek_for(config, &store).await? {
        KekOpening::Ready(k) | KekOpening::NewShares(k, _) => k,
        KekOpening::Sealed { .. } => {
            anyhow::bail!(
                "the key-encryption key is sealed: start `callvault serve` and unseal it with custodian shares"
            )
        }
    };
    check_kek(&store, kek.as_ref(), clock.now()).await?;
    state_with(store, kek, config.clone(), clock).await
}

/// Validates the configuration and opens (and migrates) the store.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    config.validate()?;
    let url = config.effective_database_url();
    crate::files::harden_process();
    crate::files::secure_data_dir(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot secure the data directory {}: {e}", config.data_dir.display()))?;
    Ok(Store::open(&url).await?)
}

/// How the KEK became available.
pub enum KekOpening {
    /// Loaded from its provider.
    Ready(Arc<dyn KeyEncryptionKey>),
    /// Generated now for the `shamir` provider; the shares must be handed to custodians once.
    NewShares(Arc<dyn KeyEncryptionKey>, Vec<callvault_crypto::shamir::ShareText>),
    /// Not available: custodians must unseal with shares. `restore_to` is the key file to write
    /// the rebuilt key to (a lost key file of the `file` provider).
    Sealed {
        /// The database's KEK check value.
        check: Vec<u8>,
        /// Where to persist the rebuilt key.
        restore_to: Option<std::path::PathBuf>,
    },
}

/// Opens the configured KEK provider against a store: a lost key file of a database that
/// already has a KEK, and every start of the `shamir` provider after the first, are sealed.
pub async fn open_kek_for(config: &Config, store: &Store) -> anyhow::Result<KekOpening> {
    use callvault_store::prelude::*;
    let check = store.reader().await?.kek_check().await?.map(|(_, c)| c);
    match (config.kek_provider, check) {
        (callvault_core::config::KekProvider::File, Some(check)) if !config.kek_file.exists() => {
            Ok(KekOpening::Sealed { check, restore_to: Some(config.kek_file.clone()) })
        }
        (callvault_core::config::KekProvider::Shamir, Some(check)) => {
            Ok(KekOpening::Sealed { check, restore_to: None })
        }
        (callvault_core::config::KekProvider::Shamir, None) => {
            let key = callvault_crypto::SecretBytes::new(random_bytes(32));
            let shares = callvault_crypto::shamir::split(&key, config.kek_threshold, config.kek_shares)?;
            Ok(KekOpening::NewShares(Arc::new(callvault_crypto::kek::StaticKek::new(key)), shares))
        }
        _ => Ok(KekOpening::Ready(open_kek(config)?)),
    }
}

/// The associated data of the KEK check value.
pub const KEK_CHECK_AAD: &[u8] = b"callvault/kek-check/v1";

/// Opens the configured KEK provider (file or PKCS#11).
pub fn open_kek(config: &Config) -> anyhow::Result<Arc<dyn KeyEncryptionKey>> {
    Ok(match config.kek_provider {
        callvault_core::config::KekProvider::Shamir => anyhow::bail!("the shamir provider is opened by open_kek_for"),
        callvault_core::config::KekProvider::File => {
            let (kek, created) = FileKek::load_or_create(&config.kek_file)?;
            if created {
                tracing::warn!(path = %config.kek_file.display(), "created a new key-encryption key file; back it up and keep it apart from the data");
            }
            Arc::new(kek)
        }
        callvault_core::config::KekProvider::Pkcs11 => {
            let pin_file = config.pkcs11_pin_file.clone().unwrap_or_default();
            let pin = std::fs::read_to_string(&pin_file)
                .map_err(|e| anyhow::anyhow!("cannot read the PKCS#11 PIN file {}: {e}", pin_file.display()))?;
            let cfg = callvault_crypto::pkcs11::Pkcs11Config {
                module: config.pkcs11_module.clone().unwrap_or_default(),
                token_label: config.pkcs11_token.clone().unwrap_or_default(),
                pin: callvault_crypto::SecretBytes::new(pin.trim().as_bytes().to_vec()),
                key_label: config.pkcs11_key_label.clone(),
                create_if_missing: true,
            };
            let (kek, created) = callvault_crypto::pkcs11::Pkcs11Kek::open(&cfg)?;
            if created {
                tracing::warn!(key = %kek.describe(), "generated a new key-encryption key on the PKCS#11 token");
            }
            Arc::new(kek)
        }
    })
}

/// Makes sure the KEK is the one this database was set up with: on first start a check value
/// (a random value wrapped by the KEK) is stored; later starts must unwrap it, so a wrong key
/// file, token or key is refused before anything is written with it.
pub async fn check_kek(
    store: &Store,
    kek: &dyn KeyEncryptionKey,
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<()> {
    use callvault_store::prelude::*;
    let mut tx = store.begin().await?;
    match tx.kek_check().await? {
        Some((provider, value)) => {
            if kek.unwrap(KEK_CHECK_AAD, &value).is_err() {
                anyhow::bail!(
                    "the key-encryption key ({}) is not the one this database was set up with (set up with: {provider}); \
                     refusing to start",
                    kek.describe()
                );
            }
            tx.rollback().await?;
        }
        None => {
            let value = kek.wrap(KEK_CHECK_AAD, &random_bytes(32))?;
            tx.set_kek_check(&kek.describe(), &value, now).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Builds the state from parts (tests use a throwaway KEK).
pub async fn state_with(
    store: Store,
    kek: Arc<dyn KeyEncryptionKey>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let auditor = Auditor::start(&store, kek.as_ref(), clock.now()).await?;
    let vault = Arc::new(callvault_core::vault::Vault::new(
        kek.clone(),
        callvault_core::vault::blobs::BlobStore::new(config.data_dir.join("blobs")),
    ));
    let dial = Arc::new(callvault_core::dial::Dial::open(&store, &config.data_dir, clock.now()).await?);
    let calls = callvault_core::calls::Calls::load(
        store.clone(),
        auditor.clone(),
        config.hep_max_calls,
        config.hep_max_calls_per_tenant,
    )
    .await?;
    let metrics_token = match &config.metrics_token_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read metrics_token_file {}: {e}", path.display()))?,
            );
            let token = text.trim().to_owned();
            if token.len() < 16 {
                anyhow::bail!("metrics_token_file must hold a token of at least 16 characters");
            }
            Some(Arc::new(SecretString::new(token)))
        }
        None => None,
    };
    let egress = callvault_core::egress::Egress::new(&config.webhook_test_addresses);
    Ok(AppState {
        services: callvault_core::Services {
            egress,
            store,
            clock,
            kek,
            auditor,
            config: Arc::new(config),
            metrics: Metrics::default(),
            vault,
            dial,
            calls,
        },
        metrics_token,
        hep_stats: Arc::default(),
    })
}

/// What bootstrap did, for printing once.
#[derive(Debug, Default)]
pub struct BootstrapReport {
    /// Set when the operator `admin` was created with a generated password.
    pub generated_admin_password: Option<SecretString>,
    /// Whether the operator was created now.
    pub created_admin: bool,
    /// The second operator who may approve provider ceremonies (`admin2`), with its generated
    /// password, shown once: dual control holds from the first day.
    pub second_operator_password: Option<SecretString>,
}

/// Login of the second provider operator created at first start.
pub const SECOND_OPERATOR: &str = "admin2";

/// Creates the provider operator `admin` on an empty database. Its password comes from
/// `bootstrap_password` (CALLVAULT_BOOTSTRAP_PASSWORD) or is generated and returned once.
pub async fn ensure_operator(
    state: &AppState,
    bootstrap_password: Option<SecretString>,
) -> anyhow::Result<BootstrapReport> {
    let mut tx = state.store.begin().await?;
    if tx.operator_count().await? > 0 {
        tx.rollback().await?;
        return Ok(BootstrapReport::default());
    }
    let (password, generated) = match bootstrap_password {
        Some(p) => (p, false),
        None => (SecretString::new(generate_password()), true),
    };
    let hash = new_password_hash(&password, &Default::default(), &["admin"])
        .await
        .map_err(|e| anyhow::anyhow!("CALLVAULT_BOOTSTRAP_PASSWORD: {}", e))?;
    let second = SecretString::new(generate_password());
    let second_hash = new_password_hash(&second, &Default::default(), &[SECOND_OPERATOR])
        .await
        .map_err(|e| anyhow::anyhow!("generated password: {}", e))?;
    let now = state.clock.now();
    // Two operators who may approve from the first day, so that every provider ceremony has two
    // people; further approvers are appointed by two of them (appoint_operator_approver).
    for (login, hash) in [("admin", &hash), (SECOND_OPERATOR, &second_hash)] {
        let id = OperatorId::new();
        tx.insert_operator(id, login, hash, now).await?;
        tx.set_operator_may_approve(id, true).await?;
        state
            .auditor
            .record(&mut tx, now, &AuditEvent::new(None, Actor::System, "operator.bootstrap").target("operator", id))
            .await?;
    }
    tx.commit().await?;
    Ok(BootstrapReport {
        generated_admin_password: generated.then_some(password),
        created_admin: true,
        second_operator_password: Some(second),
    })
}

/// A random password of 20 characters from an unambiguous alphabet (~115 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes(20).iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

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

/// The demo's recorder: a service account whose role only uploads content (what a call
/// recorder does), with its token shown once.
async fn seed_demo_recorder(
    tx: &mut callvault_store::Tx,
    tenant: TenantId,
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<DemoLogin> {
    use callvault_model::access::{Action, Privilege, Resource};
    let role = callvault_model::records::Role {
        id: callvault_model::RoleId::new(),
        tenant_id: tenant,
        name: "recorder".into(),
        description: "Uploads recordings, transcripts and e-mails (call recorders, mail gateways)".into(),
        privileges: vec![Privilege::scoped(Resource::Interaction, Action::Create)],
        builtin: false,
        created_at: now,
    };
    tx.insert_role(&role).await?;
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
    for (id, name) in [(sales, "Sales"), (support, "Support")] {
        tx.insert_team(&Team { id, tenant_id: tenant.id, name: name.into(), created_at: now }).await?;
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
            Scope::Limited { teams: vec![sales], skills: vec![], services: vec![inbound] },
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
    let stored = seed_demo_content(state, &mut tx, tenant.id, agent, inbound, now).await?;
    state
        .auditor
        .record(
            &mut tx,
            now,
            &AuditEvent::new(Some(tenant.id), Actor::System, "demo.seed")
                .target("tenant", tenant.id)
                .details(serde_json::json!({ "objects": stored, "data_key_version": 1 })),
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
    service: ServiceId,
    now: callvault_model::records::Timestamp,
) -> anyhow::Result<usize> {
    use callvault_crypto::envelope::{BlindIndexKey, DataKey};
    use callvault_model::vault::{ContentClass, StoredObject};
    use callvault_store::prelude::*;
    let (_, blind) = BlindIndexKey::generate(state.vault.kek(), tenant.0.as_bytes())?;
    tx.put_encryption(tenant, &callvault_core::vault::initial_settings(now), &blind).await?;
    let (dk, wrapped) = DataKey::generate(state.vault.kek(), tenant.0.as_bytes(), 1)?;
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
        let mut o = StoredObject {
            id: callvault_model::ObjectId::new(),
            tenant_id: tenant,
            class,
            interaction: Some(interaction.into()),
            service_id: Some(service),
            agents: agent.into_iter().collect(),
            contact_ref: Some("crm-demo-42".into()),
            recorded_at: now,
            consent: true,
            content_type: content_type.into(),
            size: bytes.len() as u64,
            sha256: String::new(),
            key_version: Some(1),
            created_at: now,
            blob: String::new(),
            wrapped_key: None,
            header: Vec::new(),
        };
        let w = callvault_core::vault::write_blob(&state.vault.blobs, &o, Some(&dk), &mut |sink| {
            sink(&mut bytes.to_vec())
        })?;
        o.blob = w.name;
        o.sha256 = w.sha256;
        o.wrapped_key = w.wrapped_key;
        o.header = w.header;
        tx.insert_object(&o).await?;
    }
    Ok(items.len())
}
