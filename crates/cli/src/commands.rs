//! The subcommands.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use callvault_model::SecretString;
use callvault_server::Config;
use callvault_server::serve::{self, ServeOptions};

use crate::client::{self, Api, ClientArgs};
use crate::table;

mod admin;

pub use admin::*;

/// Options that locate the server's data.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "CALLVAULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./callvault-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite:...` or `postgres://...`).
    #[arg(long)]
    pub database_url: Option<String>,
    /// KEK file (default ./callvault-secrets/kek).
    #[arg(long)]
    pub kek_file: Option<PathBuf>,
}

/// `callvault serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on (default 127.0.0.1:8740).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Seed the demo tenant `demo` and print its logins.
    #[arg(long)]
    demo: bool,
}

fn load_config(args: &ServerArgs) -> anyhow::Result<Config> {
    let env = |k: &str| std::env::var(k).ok();
    let mut config = Config::load(args.config.as_deref(), &env)?;
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(u) = &args.database_url {
        config.database_url = u.clone();
    }
    if let Some(k) = &args.kek_file {
        config.kek_file = k.clone();
    }
    for key in Config::unknown_env_keys(std::env::vars().map(|(k, _)| k)) {
        eprintln!("warning: unknown environment variable {key} ignored");
    }
    Ok(config)
}

fn bootstrap_password() -> anyhow::Result<Option<SecretString>> {
    if let Ok(p) = std::env::var("CALLVAULT_BOOTSTRAP_PASSWORD") {
        return Ok(Some(SecretString::new(p)));
    }
    if let Ok(path) = std::env::var("CALLVAULT_BOOTSTRAP_PASSWORD_FILE") {
        let p = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        return Ok(Some(SecretString::new(p.trim_end_matches(['\n', '\r']).to_owned())));
    }
    Ok(None)
}

/// Starts the server.
pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(&args.server)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    callvault_server::logging::init(config.log_format, &config.log_level);
    let prepared =
        serve::prepare(config, ServeOptions { demo: args.demo, bootstrap_password: bootstrap_password()? }).await?;
    print_bootstrap(&prepared.bootstrap);
    if let Some(shares) = &prepared.kek_shares {
        println!(
            "Generated the key-encryption key (kek_provider = shamir). It is kept only in memory; every start needs {} of these {} shares.",
            prepared.state.config.kek_threshold,
            shares.len()
        );
        println!("  Give each share to a different custodian now. They are shown only once:");
        for (i, s) in shares.iter().enumerate() {
            println!("  share {}: {}", i + 1, s.expose());
        }
    }
    let scheme = if prepared.state.config.tls_cert.is_some() { "https" } else { "http" };
    if let Some(logins) = &prepared.demo_logins {
        println!("Demo tenant `demo` created. Logins (shown once):");
        println!("  {:<24} {:<14} PASSWORD", "ROLE", "LOGIN");
        for l in logins.iter().filter(|l| !l.service_account) {
            println!("  {:<24} {:<14} {}", l.role, l.login, l.password);
        }
        for l in logins.iter().filter(|l| l.service_account) {
            println!("  service account `{}` ({} role) token: {}", l.login, l.role, l.password);
        }
        println!("  e.g. callvault login --url {scheme}://{} --tenant demo --username agent", prepared.addr);
        println!("  administrator, security and dpo enrol TOTP at first login: callvault totp enroll");
    }
    println!("callvault listening on {scheme}://{}", prepared.addr);
    serve::run(prepared).await?;
    Ok(ExitCode::SUCCESS)
}

fn print_bootstrap(report: &callvault_server::bootstrap::BootstrapReport) {
    if let Some(p) = &report.generated_admin_password {
        println!("Created provider operator `admin` with password: {}", p.expose());
        println!("  It is shown only now. Set CALLVAULT_BOOTSTRAP_PASSWORD to choose it instead.");
    } else if report.created_admin {
        println!("Created provider operator `admin` with the password from CALLVAULT_BOOTSTRAP_PASSWORD.");
    }
    if let Some(p) = &report.second_operator_password {
        println!("Created provider operator `admin2` with password: {}", p.expose());
        println!("  Provider ceremonies (KEK backup, custodian appointments) need two operators: admin and admin2");
        println!("  approve them; give admin2 to a second person. Shown only now.");
    }
}

/// Initialises without serving.
pub async fn init(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    let state =
        callvault_server::bootstrap::open(&config, std::sync::Arc::new(callvault_core::clock::SystemClock)).await?;
    let report = callvault_server::bootstrap::ensure_operator(&state, bootstrap_password()?).await?;
    // Let the audit entry of the bootstrap be sequenced before exiting.
    callvault_core::audit::sequence_once(&state.store, 10_000).await?;
    print_bootstrap(&report);
    println!("Initialised {} (KEK {})", config.effective_database_url(), config.kek_file.display());
    Ok(ExitCode::SUCCESS)
}

/// `callvault login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Tenant slug; omit for provider operators.
    #[arg(long)]
    tenant: Option<String>,
    /// Login id.
    #[arg(long)]
    username: String,
    /// Read the password from the first line of standard input (otherwise it is prompted for).
    #[arg(long)]
    password_stdin: bool,
    /// Current TOTP code.
    #[arg(long)]
    totp: Option<String>,
    /// Compute the TOTP code from this base32 secret (demo and automation).
    #[arg(long, env = "CALLVAULT_TOTP_SECRET", hide_env_values = true)]
    totp_secret: Option<String>,
    /// Print the token instead of saving it.
    #[arg(long)]
    print_token: bool,
}

pub(crate) fn read_password(prompt: bool) -> anyhow::Result<String> {
    if prompt {
        eprint!("Password: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        bail!("no password given");
    }
    Ok(p)
}

/// Logs in and saves the token.
pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let password = read_password(!args.password_stdin)?;
    let totp = match (&args.totp, &args.totp_secret) {
        (Some(code), _) => Some(code.clone()),
        (None, Some(secret)) => {
            Some(callvault_crypto::totp::code_now_from_base32(secret).context("bad --totp-secret")?)
        }
        _ => None,
    };
    let mut body = json!({ "username": args.username, "password": password });
    if let Some(t) = &args.tenant {
        body["tenant"] = json!(t);
    }
    if let Some(t) = totp {
        body["totp"] = json!(t);
    }
    let mut client_args = args.client.clone();
    client_args.token = None;
    let api = Api::new(&client_args)?;
    let resp = api.post("/v1/auth/login", &body).await?;
    let token = resp.get("token").and_then(Value::as_str).context("no token in the answer")?;
    if args.print_token || args.client.json {
        println!("{}", if args.client.json { resp.to_string() } else { token.to_owned() });
    } else {
        let path = client::save_token(&args.client.url, token)?;
        println!(
            "Logged in as {} (session saved to {}).",
            resp.get("principal").and_then(Value::as_str).unwrap_or("?"),
            path.display()
        );
    }
    if resp.get("purpose").and_then(Value::as_str) == Some("enroll_totp") {
        eprintln!("This account must enrol a second factor before using the API: callvault totp enroll");
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs out.
pub async fn logout(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args)?;
    api.call(Method::POST, "/v1/auth/logout", None).await?;
    client::forget_token();
    println!("Logged out.");
    Ok(ExitCode::SUCCESS)
}

/// GET and print one object.
pub async fn simple_get(args: ClientArgs, path: &str) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args)?;
    show(&api, &api.get(path).await?);
    Ok(ExitCode::SUCCESS)
}

/// GET and print a list.
pub async fn list(args: ClientArgs, path: &str, columns: &[&str]) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args)?;
    show_list(&api, &api.get(path).await?, columns);
    Ok(ExitCode::SUCCESS)
}

/// Prints one object (table or JSON).
pub(crate) fn print_object(api: &Api, v: &Value) {
    show(api, v);
}

/// Prints a list (table or JSON).
pub(crate) fn print_list(api: &Api, v: &Value, columns: &[&str]) {
    show_list(api, v, columns);
}

fn show(api: &Api, v: &Value) {
    if api.json {
        println!("{v}");
    } else {
        table::print_object(v);
    }
}

fn show_list(api: &Api, v: &Value, columns: &[&str]) {
    if api.json {
        println!("{v}");
    } else {
        table::print(v, columns);
    }
}

async fn send(args: &ClientArgs, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<ExitCode> {
    let api = Api::new(args)?;
    let v = api.call(method, path, body.as_ref()).await?;
    if v.is_null() {
        if !api.json {
            println!("Done.");
        }
    } else {
        show(&api, &v);
    }
    Ok(ExitCode::SUCCESS)
}
