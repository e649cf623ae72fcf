//! The `CALLVAULT_*` environment variables: which exist, and how each overrides a setting.

use std::path::PathBuf;

use super::{BlobBackend, Config, ConfigError, KekProvider, LogFormat};

/// The variables [`Config::load`] reads.
pub const ENV_KEYS: &[&str] = &[
    "CALLVAULT_LISTEN",
    "CALLVAULT_DATA_DIR",
    "CALLVAULT_DATABASE_URL",
    "CALLVAULT_DATABASE_URL_FILE",
    "CALLVAULT_KEK_FILE",
    "CALLVAULT_TLS_CERT",
    "CALLVAULT_TLS_KEY",
    "CALLVAULT_DANGER_ALLOW_PLAIN_HTTP_ON_PUBLIC_ADDRESS",
    "CALLVAULT_LOG_FORMAT",
    "CALLVAULT_LOG_LEVEL",
    "CALLVAULT_MAX_BODY_BYTES",
    "CALLVAULT_AUDIT_TREE_HEAD_INTERVAL_SECS",
    "CALLVAULT_MAX_OBJECT_BYTES",
    "CALLVAULT_CEREMONY_LIFETIME_SECS",
    "CALLVAULT_CUSTODIAN_COOLING_OFF_SECS",
    "CALLVAULT_DIAL_COUNT_SKEW_SECS",
    "CALLVAULT_STEP_UP_AFTER_FAILURES",
    "CALLVAULT_STEP_UP_WINDOW_SECS",
    "CALLVAULT_KEK_PROVIDER",
    "CALLVAULT_PKCS11_MODULE",
    "CALLVAULT_PKCS11_TOKEN",
    "CALLVAULT_PKCS11_PIN_FILE",
    "CALLVAULT_PKCS11_KEY_LABEL",
    "CALLVAULT_KEK_SHARES",
    "CALLVAULT_KEK_THRESHOLD",
    "CALLVAULT_SMTP_URL",
    "CALLVAULT_SMTP_FROM",
    "CALLVAULT_NOTIFICATION_EMAILS",
    "CALLVAULT_HEP_LISTEN",
    "CALLVAULT_HEP_MAX_CALLS",
    "CALLVAULT_HEP_MAX_CALLS_PER_TENANT",
    "CALLVAULT_HEP_TCP_AUTH_SECS",
    "CALLVAULT_HEP_TCP_IDLE_SECS",
    "CALLVAULT_HEP_TCP_PER_SOURCE",
    "CALLVAULT_CALL_IDLE_SECS",
    "CALLVAULT_HTTP_HEADER_TIMEOUT_SECS",
    "CALLVAULT_HTTP_IDLE_TIMEOUT_SECS",
    "CALLVAULT_HTTP_MAX_CONNECTIONS",
    "CALLVAULT_HTTP_MAX_CONNECTIONS_PER_SOURCE",
    "CALLVAULT_WEBHOOK_MAX_PER_TENANT",
    "CALLVAULT_WEBHOOK_TEST_ADDRESSES",
    "CALLVAULT_METRICS_LISTEN",
    "CALLVAULT_METRICS_TOKEN_FILE",
    "CALLVAULT_SCRUB_INTERVAL_SECS",
    "CALLVAULT_BLOB_STORE",
    "CALLVAULT_S3_BUCKET",
    "CALLVAULT_S3_ENDPOINT",
    "CALLVAULT_S3_REGION",
    "CALLVAULT_S3_PREFIX",
    "CALLVAULT_S3_ACCESS_KEY_ID",
    "CALLVAULT_S3_SECRET_ACCESS_KEY_FILE",
    "CALLVAULT_NODE_ID",
    "CALLVAULT_JOB_LEASE_SECS",
    "CALLVAULT_DANGER_TEST_LOGIN_DELAY_DIVISOR",
    "CALLVAULT_RETENTION_MIN_DAYS",
    "CALLVAULT_RETENTION_MAX_DAYS",
    "CALLVAULT_PURGE_INTERVAL_SECS",
    "CALLVAULT_PURGE_BATCH",
    "CALLVAULT_BOOTSTRAP_PASSWORD",
    "CALLVAULT_BOOTSTRAP_PASSWORD_FILE",
    "CALLVAULT_CONFIG",
    "CALLVAULT_URL",
    "CALLVAULT_TOKEN",
    "CALLVAULT_POSTGRES_TEST_URL",
];

impl Config {
    pub(super) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let bad = |name: &str, message: String| ConfigError::Env { name: name.into(), message };
        if let Some(v) = env("CALLVAULT_LISTEN") {
            self.listen = v.parse().map_err(|_| bad("CALLVAULT_LISTEN", "expected ADDRESS:PORT".into()))?;
        }
        if let Some(v) = env("CALLVAULT_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("CALLVAULT_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(path) = env("CALLVAULT_DATABASE_URL_FILE") {
            self.database_url = std::fs::read_to_string(&path)
                .map_err(|e| bad("CALLVAULT_DATABASE_URL_FILE", e.to_string()))?
                .trim()
                .to_owned();
        }
        if let Some(v) = env("CALLVAULT_KEK_FILE") {
            self.kek_file = v.into();
        }
        if let Some(v) = env("CALLVAULT_TLS_CERT") {
            self.tls_cert = Some(v.into());
        }
        if let Some(v) = env("CALLVAULT_TLS_KEY") {
            self.tls_key = Some(v.into());
        }
        if let Some(v) = env("CALLVAULT_DANGER_ALLOW_PLAIN_HTTP_ON_PUBLIC_ADDRESS") {
            self.danger_allow_plain_http_on_public_address = parse_bool(&v).ok_or_else(|| {
                bad("CALLVAULT_DANGER_ALLOW_PLAIN_HTTP_ON_PUBLIC_ADDRESS", "expected true or false".into())
            })?;
        }
        if let Some(v) = env("CALLVAULT_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(bad("CALLVAULT_LOG_FORMAT", "expected text or json".into())),
            };
        }
        if let Some(v) = env("CALLVAULT_LOG_LEVEL") {
            self.log_level = v;
        }
        if let Some(v) = env("CALLVAULT_MAX_BODY_BYTES") {
            self.max_body_bytes = v.parse().map_err(|_| bad("CALLVAULT_MAX_BODY_BYTES", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_AUDIT_TREE_HEAD_INTERVAL_SECS") {
            self.audit_tree_head_interval_secs =
                v.parse().map_err(|_| bad("CALLVAULT_AUDIT_TREE_HEAD_INTERVAL_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_MAX_OBJECT_BYTES") {
            self.max_object_bytes =
                v.parse().map_err(|_| bad("CALLVAULT_MAX_OBJECT_BYTES", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_SMALL_OBJECT_MAX_BYTES") {
            self.small_object_max_bytes =
                v.parse().map_err(|_| bad("CALLVAULT_SMALL_OBJECT_MAX_BYTES", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_CEREMONY_LIFETIME_SECS") {
            self.ceremony_lifetime_secs =
                v.parse().map_err(|_| bad("CALLVAULT_CEREMONY_LIFETIME_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_CUSTODIAN_COOLING_OFF_SECS") {
            self.custodian_cooling_off_secs =
                v.parse().map_err(|_| bad("CALLVAULT_CUSTODIAN_COOLING_OFF_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_DIAL_COUNT_SKEW_SECS") {
            self.dial_count_skew_secs =
                v.parse().map_err(|_| bad("CALLVAULT_DIAL_COUNT_SKEW_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_STEP_UP_AFTER_FAILURES") {
            self.step_up_after_failures =
                v.parse().map_err(|_| bad("CALLVAULT_STEP_UP_AFTER_FAILURES", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_STEP_UP_WINDOW_SECS") {
            self.step_up_window_secs =
                v.parse().map_err(|_| bad("CALLVAULT_STEP_UP_WINDOW_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_BLOB_STORE") {
            self.blob_store = match v.as_str() {
                "local" => BlobBackend::Local,
                "s3" => BlobBackend::S3,
                _ => return Err(bad("CALLVAULT_BLOB_STORE", "expected local or s3".into())),
            };
        }
        if let Some(v) = env("CALLVAULT_S3_BUCKET") {
            self.s3_bucket = v;
        }
        if let Some(v) = env("CALLVAULT_S3_ENDPOINT") {
            self.s3_endpoint = Some(v);
        }
        if let Some(v) = env("CALLVAULT_S3_REGION") {
            self.s3_region = v;
        }
        if let Some(v) = env("CALLVAULT_S3_PREFIX") {
            self.s3_prefix = v;
        }
        if let Some(v) = env("CALLVAULT_S3_ACCESS_KEY_ID") {
            self.s3_access_key_id = Some(v);
        }
        if let Some(v) = env("CALLVAULT_S3_SECRET_ACCESS_KEY_FILE") {
            self.s3_secret_access_key_file = Some(v.into());
        }
        if let Some(v) = env("CALLVAULT_NODE_ID") {
            self.node_id = v;
        }
        if let Some(v) = env("CALLVAULT_JOB_LEASE_SECS") {
            self.job_lease_secs = v.parse().map_err(|_| bad("CALLVAULT_JOB_LEASE_SECS", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_DANGER_TEST_LOGIN_DELAY_DIVISOR") {
            self.danger_test_login_delay_divisor =
                v.parse().map_err(|_| bad("CALLVAULT_DANGER_TEST_LOGIN_DELAY_DIVISOR", "expected a number".into()))?;
        }
        if let Some(v) = env("CALLVAULT_KEK_PROVIDER") {
            self.kek_provider = match v.as_str() {
                "file" => KekProvider::File,
                "pkcs11" => KekProvider::Pkcs11,
                "shamir" => KekProvider::Shamir,
                _ => return Err(bad("CALLVAULT_KEK_PROVIDER", "expected file, pkcs11 or shamir".into())),
            };
        }
        if let Some(v) = env("CALLVAULT_PKCS11_MODULE") {
            self.pkcs11_module = Some(v.into());
        }
        if let Some(v) = env("CALLVAULT_PKCS11_TOKEN") {
            self.pkcs11_token = Some(v);
        }
        if let Some(v) = env("CALLVAULT_PKCS11_PIN_FILE") {
            self.pkcs11_pin_file = Some(v.into());
        }
        if let Some(v) = env("CALLVAULT_PKCS11_KEY_LABEL") {
            self.pkcs11_key_label = v;
        }
        if let Some(v) = env("CALLVAULT_KEK_SHARES") {
            self.kek_shares = v.parse().map_err(|_| bad("CALLVAULT_KEK_SHARES", "expected 2..=9".into()))?;
        }
        if let Some(v) = env("CALLVAULT_KEK_THRESHOLD") {
            self.kek_threshold = v.parse().map_err(|_| bad("CALLVAULT_KEK_THRESHOLD", "expected 2..=9".into()))?;
        }
        if let Some(v) = env("CALLVAULT_SMTP_URL") {
            self.smtp_url = Some(v);
        }
        if let Some(v) = env("CALLVAULT_SMTP_FROM") {
            self.smtp_from = v;
        }
        if let Some(v) = env("CALLVAULT_NOTIFICATION_EMAILS") {
            self.notification_emails = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        }
        if let Some(v) = env("CALLVAULT_HEP_LISTEN") {
            self.hep_listen = Some(v.parse().map_err(|_| bad("CALLVAULT_HEP_LISTEN", "expected ADDRESS:PORT".into()))?);
        }
        if let Some(v) = env("CALLVAULT_HEP_MAX_CALLS") {
            self.hep_max_calls = v.parse().map_err(|_| bad("CALLVAULT_HEP_MAX_CALLS", "expected a number".into()))?;
        }
        for (name, slot) in [
            ("CALLVAULT_HEP_MAX_CALLS_PER_TENANT", &mut self.hep_max_calls_per_tenant),
            ("CALLVAULT_HEP_TCP_PER_SOURCE", &mut self.hep_tcp_per_source),
        ] {
            if let Some(v) = env(name) {
                *slot = v.parse().map_err(|_| bad(name, "expected a number".into()))?;
            }
        }
        for (name, slot) in [
            ("CALLVAULT_HTTP_MAX_CONNECTIONS", &mut self.http_max_connections),
            ("CALLVAULT_HTTP_MAX_CONNECTIONS_PER_SOURCE", &mut self.http_max_connections_per_source),
            ("CALLVAULT_WEBHOOK_MAX_PER_TENANT", &mut self.webhook_max_per_tenant),
            ("CALLVAULT_RETENTION_MIN_DAYS", &mut self.retention_min_days),
            ("CALLVAULT_RETENTION_MAX_DAYS", &mut self.retention_max_days),
            ("CALLVAULT_PURGE_BATCH", &mut self.purge_batch),
        ] {
            if let Some(v) = env(name) {
                *slot = v.parse().map_err(|_| bad(name, "expected a number".into()))?;
            }
        }
        if let Some(v) = env("CALLVAULT_WEBHOOK_TEST_ADDRESSES") {
            self.webhook_test_addresses = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map_err(|_| bad("CALLVAULT_WEBHOOK_TEST_ADDRESSES", "expected IP addresses".into())))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = env("CALLVAULT_METRICS_LISTEN") {
            self.metrics_listen =
                Some(v.parse().map_err(|_| bad("CALLVAULT_METRICS_LISTEN", "expected ADDRESS:PORT".into()))?);
        }
        if let Some(v) = env("CALLVAULT_METRICS_TOKEN_FILE") {
            self.metrics_token_file = Some(PathBuf::from(v));
        }
        for (name, slot) in [
            ("CALLVAULT_HEP_TCP_AUTH_SECS", &mut self.hep_tcp_auth_secs),
            ("CALLVAULT_HEP_TCP_IDLE_SECS", &mut self.hep_tcp_idle_secs),
            ("CALLVAULT_HTTP_HEADER_TIMEOUT_SECS", &mut self.http_header_timeout_secs),
            ("CALLVAULT_HTTP_IDLE_TIMEOUT_SECS", &mut self.http_idle_timeout_secs),
            ("CALLVAULT_SCRUB_INTERVAL_SECS", &mut self.scrub_interval_secs),
            ("CALLVAULT_PURGE_INTERVAL_SECS", &mut self.purge_interval_secs),
        ] {
            if let Some(v) = env(name) {
                *slot = v.parse().map_err(|_| bad(name, "expected a number".into()))?;
            }
        }
        if let Some(v) = env("CALLVAULT_CALL_IDLE_SECS") {
            self.call_idle_secs = v.parse().map_err(|_| bad("CALLVAULT_CALL_IDLE_SECS", "expected seconds".into()))?;
        }
        Ok(())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}
