//! Logging with `tracing`. Personal data never reaches a log line by construction: it travels in
//! `Personal<T>` and `SecretString`, whose `Debug` and `Display` are redacted, and the request
//! log records route templates, not raw paths or bodies.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use callvault_core::config::LogFormat;

/// Installs the global subscriber writing to stderr.
pub fn init(format: LogFormat, filter: &str) {
    init_with_writer(format, filter, std::io::stderr);
}

/// Installs the global subscriber with a writer of the caller's (tests capture logs this way).
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
