//! Configuration: defaults → `callvault.toml` (`--config`) → `CALLVAULT_*` environment.
//!
//! Unknown keys in the file are an error; unknown `CALLVAULT_*` variables are reported as
//! warnings at start. Risky switches carry `danger` in their name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod env;
pub use env::ENV_KEYS;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory: the SQLite file and blob files.
    pub data_dir: PathBuf,
    /// Database URL; empty means `sqlite:<data_dir>/callvault.db`. A `postgres://` URL switches
    /// to PostgreSQL.
    pub database_url: String,
    /// The key-encryption key file, kept outside the data directory.
    pub kek_file: PathBuf,
    /// TLS certificate chain (PEM). Required to listen on a non-loopback address.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Allows plain HTTP on a non-loopback address. Only behind a TLS-terminating proxy.
    pub danger_allow_plain_http_on_public_address: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (tracing-subscriber `EnvFilter` syntax).
    pub log_level: String,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// How often a signed tree head is produced, in seconds.
    pub audit_tree_head_interval_secs: u64,
    /// Largest stored object (recording, transcript, e-mail) in bytes; uploads stream, so this
    /// is independent of `max_body_bytes`. At most the streaming format's 2^48 bytes.
    pub max_object_bytes: u64,
    /// Uploads up to this many bytes (chat and SMS transcripts, e-mails) are kept sealed in
    /// their object's row and committed in groups: the uploads of the moment share one
    /// transaction, each answered once durable (default 64 KiB; 0 sends every upload to the blob
    /// store with its own fsync and commit).
    pub small_object_max_bytes: u64,
    /// Lifetime of a key ceremony proposal in seconds (default 15 minutes).
    pub ceremony_lifetime_secs: i64,
    /// Seconds after a custodian's appointment before they may approve a ceremony (default 24 h).
    pub custodian_cooling_off_secs: i64,
    /// How far (seconds) a counted dial check's `at` may be from the server's clock (default 5
    /// minutes); dry runs may name any instant.
    pub dial_count_skew_secs: i64,
    /// Consecutive failed logins after which a password alone no longer logs in (default 3).
    pub step_up_after_failures: u32,
    /// Window in which failed logins count towards the step-up, in seconds (default 15 minutes).
    pub step_up_window_secs: i64,
    /// Where the KEK lives: `file` (default) or `pkcs11`.
    pub kek_provider: KekProvider,
    /// PKCS#11 module path (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub pkcs11_module: Option<PathBuf>,
    /// PKCS#11 token label.
    pub pkcs11_token: Option<String>,
    /// File holding the token's user PIN.
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Label of the KEK object on the token (created on first start when absent).
    pub pkcs11_key_label: String,
    /// Shares printed at the first start of the `shamir` provider.
    pub kek_shares: u8,
    /// Shares needed to unseal (`shamir` provider).
    pub kek_threshold: u8,
    /// SMTP server for e-mail notifications, e.g. `smtp://127.0.0.1:2525` (plain, loopback or
    /// trusted network) or `smtps://mail.example.com` (TLS). Off when absent.
    pub smtp_url: Option<String>,
    /// Sender address of notification e-mails.
    pub smtp_from: String,
    /// Recipients of key-management reminders and security alerts.
    pub notification_emails: Vec<String>,
    /// Where the HEP v3 listener binds, UDP and TCP on the same port (off when unset).
    pub hep_listen: Option<SocketAddr>,
    /// Most calls tracked at once for the whole provider (HEP and API); beyond it new calls are
    /// refused.
    pub hep_max_calls: usize,
    /// Most calls tracked at once for one tenant, so that one tenant cannot starve the others
    /// (never more than `hep_max_calls`).
    pub hep_max_calls_per_tenant: usize,
    /// Seconds a HEP TCP connection has to send its first authenticated packet.
    pub hep_tcp_auth_secs: u64,
    /// Seconds an authenticated HEP TCP connection may stay silent.
    pub hep_tcp_idle_secs: u64,
    /// Most HEP TCP connections from one source address at once.
    pub hep_tcp_per_source: usize,
    /// Calls without any event for this long are closed (seconds).
    pub call_idle_secs: u64,
    /// Seconds a client has for the TLS handshake and for sending a request's head.
    pub http_header_timeout_secs: u64,
    /// Seconds a connection may stay without a byte read or written (a stalled upload, an idle
    /// keep-alive, a client that stopped reading) before it is closed.
    pub http_idle_timeout_secs: u64,
    /// HTTP connections open at once; more are closed at once.
    pub http_max_connections: usize,
    /// HTTP connections open at once from one source address.
    pub http_max_connections_per_source: usize,
    /// Webhooks one tenant may register.
    pub webhook_max_per_tenant: usize,
    /// The provider's shortest retention a tenant may set, in days.
    pub retention_min_days: usize,
    /// The provider's longest retention a tenant may set, in days; longer settings are refused.
    pub retention_max_days: usize,
    /// How often expired personal data is purged, in seconds (0: never in the background).
    pub purge_interval_secs: u64,
    /// Items the purge deletes per transaction (1 to 10,000).
    pub purge_batch: usize,
    /// Test only: loopback addresses webhooks may reach (with plain http). Never set in production.
    pub webhook_test_addresses: Vec<std::net::IpAddr>,
    /// A separate plain-HTTP listener serving only `/metrics` (off by default; keep it on loopback
    /// or a private scrape network).
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds between scrubs that authenticate every stored object (0: off; default daily).
    pub scrub_interval_secs: u64,
    /// A file holding the bearer token a scraper presents for `/metrics` on the main listener;
    /// without it (and without `metrics_listen`) the main listener does not serve metrics.
    pub metrics_token_file: Option<PathBuf>,
    /// Where blobs are kept: `local` (files under `data_dir/blobs`, the default) or `s3` (an
    /// S3-compatible bucket; credentials from the standard `AWS_*` environment variables).
    pub blob_store: BlobBackend,
    /// The bucket (`blob_store = "s3"`).
    pub s3_bucket: String,
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000` (plain `http://` only
    /// on loopback); unset means AWS.
    pub s3_endpoint: Option<String>,
    /// Region of the bucket.
    pub s3_region: String,
    /// Key prefix inside the bucket, so that several deployments can share one.
    pub s3_prefix: String,
    /// Access key id of the bucket (unset: the standard `AWS_*` variables or the instance role).
    pub s3_access_key_id: Option<String>,
    /// A file holding the secret access key that goes with `s3_access_key_id`.
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// This node's name among several sharing one database (job leases name it); empty means
    /// `<host name>:<listen port>`.
    pub node_id: String,
    /// Seconds a node's claim on a key job lasts without a heartbeat; a node that dies mid-job
    /// is replaced by another within this (default 30).
    pub job_lease_secs: u64,
    /// **Tests only**: divides the login delays after failures (1: the real schedule), so that
    /// tests on real processes reach the lock at 100 failures in seconds. Refused off loopback.
    pub danger_test_login_delay_divisor: u32,
}

/// Blob stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files under the data directory.
    #[default]
    Local,
    /// An S3-compatible bucket.
    S3,
}

/// KEK providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KekProvider {
    /// A key file outside the data directory.
    File,
    /// A key on a PKCS#11 token (HSM) that never leaves it.
    Pkcs11,
    /// A key kept only in memory, rebuilt at every start from `kek_threshold` of `kek_shares`
    /// Shamir shares typed in by custodians; the server answers 503 `sealed` until then.
    Shamir,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8740)),
            data_dir: PathBuf::from("./callvault-data"),
            database_url: String::new(),
            kek_file: PathBuf::from("./callvault-secrets/kek"),
            tls_cert: None,
            tls_key: None,
            danger_allow_plain_http_on_public_address: false,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            max_body_bytes: 1024 * 1024,
            audit_tree_head_interval_secs: 10,
            max_object_bytes: 16 * 1024 * 1024 * 1024,
            small_object_max_bytes: 64 * 1024,
            ceremony_lifetime_secs: 15 * 60,
            custodian_cooling_off_secs: 24 * 3600,
            dial_count_skew_secs: 300,
            step_up_after_failures: 3,
            step_up_window_secs: 15 * 60,
            kek_provider: KekProvider::File,
            pkcs11_module: None,
            pkcs11_token: None,
            pkcs11_pin_file: None,
            pkcs11_key_label: "callvault-kek".into(),
            kek_shares: 3,
            kek_threshold: 2,
            smtp_url: None,
            smtp_from: "callvault@localhost".into(),
            notification_emails: Vec::new(),
            hep_listen: None,
            hep_max_calls: 50_000,
            hep_max_calls_per_tenant: 10_000,
            hep_tcp_auth_secs: 5,
            hep_tcp_idle_secs: 60,
            hep_tcp_per_source: 16,
            call_idle_secs: 4 * 3600,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_max_connections: 4096,
            http_max_connections_per_source: 256,
            webhook_max_per_tenant: 10,
            retention_min_days: 1,
            retention_max_days: 3650,
            purge_interval_secs: 3600,
            purge_batch: 500,
            webhook_test_addresses: Vec::new(),
            metrics_listen: None,
            metrics_token_file: None,
            scrub_interval_secs: 24 * 3600,
            blob_store: BlobBackend::Local,
            s3_bucket: String::new(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_prefix: String::new(),
            s3_access_key_id: None,
            s3_secret_access_key_file: None,
            node_id: String::new(),
            job_lease_secs: 30,
            danger_test_login_delay_divisor: 1,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {name}: {message}")]
    Env {
        /// Variable name.
        name: String,
        /// Why.
        message: String,
    },
    /// The combination of settings is unsafe or incomplete.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then the TOML file if given, then the environment (`env` is a lookup so
    /// tests can pass their own).
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str::<Config>(&text)
                    .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// The database URL in effect.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite:{}?mode=rwc", self.data_dir.join("callvault.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The bucket is named and its endpoint, if any, is HTTPS or plain HTTP on loopback.
    fn validate_s3(&self) -> Result<(), ConfigError> {
        if self.s3_bucket.is_empty() {
            return Err(ConfigError::Invalid("blob_store = \"s3\" needs s3_bucket".into()));
        }
        if self.s3_access_key_id.is_some() != self.s3_secret_access_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "s3_access_key_id and s3_secret_access_key_file must be given together".into(),
            ));
        }
        let Some(endpoint) = &self.s3_endpoint else { return Ok(()) };
        let url =
            url::Url::parse(endpoint).map_err(|e| ConfigError::Invalid(format!("s3_endpoint is not a URL: {e}")))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if loopback => Ok(()),
            "http" => Err(ConfigError::Invalid("s3_endpoint must use https unless it is on loopback".into())),
            other => Err(ConfigError::Invalid(format!("s3_endpoint has the scheme {other}; expected https"))),
        }
    }

    /// This node's id: `node_id`, or `<host name>:<listen port>` (two nodes on one host differ by
    /// their port).
    pub fn node(&self) -> String {
        if !self.node_id.is_empty() {
            return self.node_id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        format!("{}:{}", if host.is_empty() { "localhost" } else { host }, self.listen.port())
    }

    /// The blob store these settings name (S3 needs a running Tokio runtime).
    pub fn open_blob_store(&self) -> Result<crate::vault::blobs::BlobStore, ConfigError> {
        match self.blob_store {
            BlobBackend::Local => Ok(crate::vault::blobs::BlobStore::local(self.data_dir.join("blobs"))),
            BlobBackend::S3 => {
                let secret_access_key = match &self.s3_secret_access_key_file {
                    Some(path) => {
                        let text = callvault_crypto::SecretBytes::new(
                            std::fs::read(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?,
                        );
                        Some(callvault_crypto::SecretBytes::new(text.expose().trim_ascii().to_vec()))
                    }
                    None => None,
                };
                crate::vault::blobs::BlobStore::s3(&crate::vault::blobs::S3Settings {
                    bucket: self.s3_bucket.clone(),
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                    prefix: self.s3_prefix.clone(),
                    access_key_id: self.s3_access_key_id.clone(),
                    secret_access_key,
                })
                .map_err(ConfigError::Invalid)
            }
        }
    }

    /// Checks the settings that make the server unsafe: plain HTTP off loopback needs TLS or the
    /// `danger_` switch; TLS needs both files; the KEK must not live inside the data directory.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.retention_min_days < 1
            || self.retention_min_days > self.retention_max_days
            || self.retention_max_days > 36_500
        {
            return Err(ConfigError::Invalid(
                "retention_min_days must be at least 1 and at most retention_max_days, itself at most 36500".into(),
            ));
        }
        if !(1..=10_000).contains(&self.purge_batch) {
            return Err(ConfigError::Invalid("purge_batch must be 1 to 10000".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid("tls_cert and tls_key must be given together".into()));
        }
        if !self.listen.ip().is_loopback() && self.tls_cert.is_none() && !self.danger_allow_plain_http_on_public_address
        {
            return Err(ConfigError::Invalid(format!(
                "refusing plain HTTP on {}: set tls_cert and tls_key, listen on a loopback address, or set \
                 danger_allow_plain_http_on_public_address behind a TLS-terminating proxy",
                self.listen
            )));
        }
        if self.max_object_bytes > callvault_crypto::stream::MAX_OBJECT_SIZE {
            return Err(ConfigError::Invalid("max_object_bytes exceeds the streaming format's 2^48 bytes".into()));
        }
        if !(0..=30 * 24 * 3600).contains(&self.custodian_cooling_off_secs) {
            return Err(ConfigError::Invalid("custodian_cooling_off_secs must be 0..=2592000".into()));
        }
        if self.hep_max_calls_per_tenant == 0 {
            return Err(ConfigError::Invalid("hep_max_calls_per_tenant must be at least 1".into()));
        }
        if !(1..=60).contains(&self.hep_tcp_auth_secs) || !(5..=3600).contains(&self.hep_tcp_idle_secs) {
            return Err(ConfigError::Invalid("hep_tcp_auth_secs must be 1..=60, hep_tcp_idle_secs 5..=3600".into()));
        }
        if self.hep_tcp_per_source == 0 {
            return Err(ConfigError::Invalid("hep_tcp_per_source must be at least 1".into()));
        }
        if !(0..=3600).contains(&self.dial_count_skew_secs) {
            return Err(ConfigError::Invalid("dial_count_skew_secs must be 0..=3600".into()));
        }
        if !(1..=100).contains(&self.step_up_after_failures) {
            return Err(ConfigError::Invalid("step_up_after_failures must be 1..=100".into()));
        }
        if !(60..=24 * 3600).contains(&self.step_up_window_secs) {
            return Err(ConfigError::Invalid("step_up_window_secs must be 60..=86400".into()));
        }
        if !(60..=24 * 3600).contains(&self.ceremony_lifetime_secs) {
            return Err(ConfigError::Invalid("ceremony_lifetime_secs must be 60..=86400".into()));
        }
        if self.kek_provider == KekProvider::Pkcs11
            && (self.pkcs11_module.is_none() || self.pkcs11_token.is_none() || self.pkcs11_pin_file.is_none())
        {
            return Err(ConfigError::Invalid(
                "kek_provider = pkcs11 needs pkcs11_module, pkcs11_token and pkcs11_pin_file".into(),
            ));
        }
        if self.kek_threshold < 2 || self.kek_threshold > self.kek_shares || self.kek_shares > 9 {
            return Err(ConfigError::Invalid("kek_threshold must be 2..=kek_shares and kek_shares at most 9".into()));
        }
        if !(1..=300).contains(&self.http_header_timeout_secs) || !(5..=3600).contains(&self.http_idle_timeout_secs) {
            return Err(ConfigError::Invalid(
                "http_header_timeout_secs must be 1..=300, http_idle_timeout_secs 5..=3600".into(),
            ));
        }
        if self.http_max_connections == 0 || self.http_max_connections_per_source == 0 {
            return Err(ConfigError::Invalid(
                "http_max_connections and http_max_connections_per_source must be at least 1".into(),
            ));
        }
        if self.webhook_test_addresses.iter().any(|ip| !ip.is_loopback()) {
            return Err(ConfigError::Invalid("webhook_test_addresses may name loopback addresses only".into()));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid("max_body_bytes must be at least 1024".into()));
        }
        if self.blob_store == BlobBackend::S3 {
            self.validate_s3()?;
        }
        if !(5..=600).contains(&self.job_lease_secs) {
            return Err(ConfigError::Invalid("job_lease_secs must be 5..=600".into()));
        }
        if self.danger_test_login_delay_divisor == 0 {
            return Err(ConfigError::Invalid("danger_test_login_delay_divisor must be at least 1".into()));
        }
        if self.danger_test_login_delay_divisor > 1 && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(
                "danger_test_login_delay_divisor shortens the defence against password guessing: it is refused \
                 unless the server listens on loopback (tests)"
                    .into(),
            ));
        }
        let data = absolute(&self.data_dir);
        let kek = absolute(&self.kek_file);
        if kek.starts_with(&data) {
            return Err(ConfigError::Invalid(
                "kek_file must be outside the data directory (PCI DSS 3.6.1: KEKs stored separately)".into(),
            ));
        }
        Ok(())
    }

    /// Names of `CALLVAULT_*` variables in `vars` that this program does not know.
    pub fn unknown_env_keys(vars: impl Iterator<Item = String>) -> Vec<String> {
        vars.filter(|k| k.starts_with("CALLVAULT_") && !ENV_KEYS.contains(&k.as_str())).collect()
    }
}

fn absolute(path: &Path) -> PathBuf {
    let joined =
        if path.is_absolute() { path.to_owned() } else { std::env::current_dir().unwrap_or_default().join(path) };
    // Normalise `.` and `..` lexically; the paths may not exist yet.
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::load(None, &no_env).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8740");
        assert!(c.effective_database_url().starts_with("sqlite:"));
        c.validate().unwrap();
    }

    #[test]
    fn public_address_needs_tls_or_danger() {
        let env = |k: &str| (k == "CALLVAULT_LISTEN").then(|| "0.0.0.0:8740".to_owned());
        let c = Config::load(None, &env).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("refusing plain HTTP"));
        let env = |k: &str| match k {
            "CALLVAULT_LISTEN" => Some("0.0.0.0:8740".to_owned()),
            "CALLVAULT_DANGER_ALLOW_PLAIN_HTTP_ON_PUBLIC_ADDRESS" => Some("true".to_owned()),
            _ => None,
        };
        Config::load(None, &env).unwrap().validate().unwrap();
    }

    #[test]
    fn unknown_file_keys_are_errors_with_a_line() {
        let dir = std::env::temp_dir().join(format!("cv-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("callvault.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
        let err = Config::load(Some(&path), &no_env).unwrap_err().to_string();
        assert!(err.contains("listen_port") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn kek_inside_data_dir_is_refused() {
        let env = |k: &str| (k == "CALLVAULT_KEK_FILE").then(|| "./callvault-data/kek".to_owned());
        assert!(Config::load(None, &env).unwrap().validate().is_err());
    }

    #[test]
    fn unknown_env_keys_are_reported() {
        let keys = Config::unknown_env_keys(
            ["CALLVAULT_LISTEN".to_owned(), "CALLVAULT_LISTN".to_owned(), "PATH".to_owned()].into_iter(),
        );
        assert_eq!(keys, vec!["CALLVAULT_LISTN".to_owned()]);
    }
}
