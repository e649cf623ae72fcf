//! First start: opening the store and KEK (and checking it against the database), starting the
//! audit log, the provider operators `admin` and `admin2`.

use std::sync::Arc;

use callvault_crypto::KeyEncryptionKey;
use callvault_crypto::digest::random_bytes;
use callvault_crypto::kek::FileKek;
use callvault_model::{OperatorId, SecretString};
use callvault_store::Store;
use callvault_store::prelude::*;

use crate::state::AppState;
use callvault_core::audit::{Actor, AuditEvent, Auditor};
use callvault_core::clock::Clock;
use callvault_core::config::Config;
use callvault_core::identity::new_password_hash;
use callvault_core::metrics::Metrics;

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
    if config.danger_test_login_delay_divisor > 1 {
        tracing::warn!(
            divisor = config.danger_test_login_delay_divisor,
            "danger_test_login_delay_divisor is set: login delays after failures are shortened (tests only)"
        );
    }
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
    for (tenant, role) in callvault_core::tenants::sync_default_roles(&store, &auditor, clock.now()).await? {
        tracing::warn!(
            %tenant,
            role,
            "a custom role has the name of a built-in role, which is therefore not added to this tenant; rename \
             the custom role and restart to get it"
        );
    }
    let blobs = config.open_blob_store()?.with_database(store.clone());
    let vault = Arc::new(callvault_core::vault::Vault::new(kek.clone(), blobs));
    let pseudonyms = auditor.clone();
    let digest: callvault_core::dial::NumberDigest = Arc::new(move |v: &[u8]| pseudonyms.pseudonym(v));
    let bus = callvault_core::bus::Bus::new(store.clone(), &config.node());
    let dial = Arc::new(
        callvault_core::dial::Dial::open(
            &store,
            &config.data_dir,
            clock.now(),
            digest,
            bus.clone(),
            vault.blobs.clone(),
        )
        .await?,
    );
    let calls = callvault_core::calls::Calls::load(
        store.clone(),
        auditor.clone(),
        bus.clone(),
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
    let event_log = Arc::new(callvault_core::diagnostics::EventLog::load(&store).await?);
    Ok(AppState {
        services: callvault_core::Services::new(callvault_core::services::ServiceParts {
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
            event_log,
            dpo_wakeup: Arc::default(),
            bus,
        }),
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
