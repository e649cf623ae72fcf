//! The `callvault` binary: `serve`, `init`, offline `audit verify`, and admin commands that talk
//! to the HTTP API (`--json` for scripts, tables for people).

mod calls_cmds;
mod client;
mod commands;
mod dial_cmds;
mod personal_cmds;
mod table;
mod vault_cmds;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// callvault — security and compliance core of a cloud contact center.
#[derive(Debug, Parser)]
#[command(name = "callvault", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (embedded SQLite and local files by default).
    Serve(commands::ServeArgs),
    /// Create the data directory, KEK and database, and the operator `admin`, without serving.
    Init(commands::ServerArgs),
    /// Log in and save the session token for the other commands.
    Login(commands::LoginArgs),
    /// End the saved session.
    Logout(client::ClientArgs),
    /// Who am I.
    Whoami(client::ClientArgs),
    /// Contact centers (provider operators).
    #[command(subcommand)]
    Tenants(commands::TenantsCmd),
    /// Users of your tenant.
    #[command(subcommand)]
    Users(commands::UsersCmd),
    /// Teams.
    #[command(subcommand)]
    Teams(commands::NamedCmd),
    /// Skills.
    #[command(subcommand)]
    Skills(commands::NamedCmd),
    /// Services and campaigns.
    #[command(subcommand)]
    Services(commands::ServicesCmd),
    /// Roles.
    #[command(subcommand)]
    Roles(commands::RolesCmd),
    /// Grants of roles.
    #[command(subcommand)]
    Grants(commands::GrantsCmd),
    /// Service accounts for dialers, recorders and SBCs.
    #[command(name = "service-accounts", subcommand)]
    ServiceAccounts(commands::ServiceAccountsCmd),
    /// Your sessions.
    #[command(subcommand)]
    Sessions(commands::SessionsCmd),
    /// Second factor (TOTP) enrolment.
    #[command(subcommand)]
    Totp(commands::TotpCmd),
    /// Notifications (security alerts).
    Notifications(client::ClientArgs),
    /// Access decisions.
    #[command(subcommand)]
    Access(commands::AccessCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(commands::AuditCmd),
    /// Data key versions with age and use.
    Keys(client::ClientArgs),
    /// The tenant's encryption state.
    Encryption(client::ClientArgs),
    /// Dual-control key ceremonies.
    #[command(subcommand)]
    Ceremonies(vault_cmds::CeremoniesCmd),
    /// Background jobs (rewrap, re-encrypt, decrypt-all); `jobs watch` shows a progress bar.
    #[command(subcommand)]
    Jobs(vault_cmds::JobsCmd),
    /// Recordings, transcripts, e-mails and attachments.
    #[command(subcommand)]
    Objects(vault_cmds::ObjectsCmd),
    /// Calling lists with encrypted fields.
    #[command(subcommand)]
    Lists(vault_cmds::ListsCmd),
    /// Provider operators.
    #[command(subcommand)]
    Operators(vault_cmds::OperatorsCmd),
    /// Give one key share to a sealed server (read from stdin).
    Unseal(client::ClientArgs),
    /// Dial checks, calling areas and calling-hour rules.
    #[command(subcommand)]
    Dial(dial_cmds::DialCmd),
    /// Do-not-call lists.
    #[command(subcommand)]
    Dnc(dial_cmds::DncCmd),
    /// Calls with their security state (lock and cause); `calls watch` is a live view.
    #[command(subcommand)]
    Calls(calls_cmds::CallsCmd),
    /// Stations and their security levels.
    #[command(subcommand)]
    Stations(calls_cmds::StationsCmd),
    /// Data subjects: search by identifier, personal data reports.
    #[command(subcommand)]
    Subjects(personal_cmds::SubjectsCmd),
    /// Data protection officers' requests (access, export, rectify, erase).
    #[command(subcommand)]
    Dpo(personal_cmds::DpoCmd),
    /// Retention policies and legal holds.
    #[command(subcommand)]
    Retention(personal_cmds::RetentionCmd),
    /// HEP capture agents (Kamailio siptrace, OpenSIPS, FreeSWITCH, Asterisk).
    #[command(name = "capture-agents", subcommand)]
    CaptureAgents(calls_cmds::AgentsCmd),
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Blocking work (sealing a segment, a file sync, SQLite) is short; a bounded pool keeps a
    // burst of uploads from spawning hundreds of threads.
    let runtime = match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(16).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use commands as c;
    match cli.command {
        Command::Serve(args) => c::serve(args).await,
        Command::Init(args) => c::init(args).await,
        Command::Login(args) => c::login(args).await,
        Command::Logout(args) => c::logout(args).await,
        Command::Whoami(args) => c::simple_get(args, "/v1/auth/me").await,
        Command::Tenants(cmd) => c::tenants(cmd).await,
        Command::Users(cmd) => c::users(cmd).await,
        Command::Teams(cmd) => c::named(cmd, "/v1/teams").await,
        Command::Skills(cmd) => c::named(cmd, "/v1/skills").await,
        Command::Services(cmd) => c::services(cmd).await,
        Command::Roles(cmd) => c::roles(cmd).await,
        Command::Grants(cmd) => c::grants(cmd).await,
        Command::ServiceAccounts(cmd) => c::service_accounts(cmd).await,
        Command::Sessions(cmd) => c::sessions(cmd).await,
        Command::Totp(cmd) => c::totp(cmd).await,
        Command::Notifications(args) => {
            c::list(args, "/v1/notifications", &["created_at", "kind", "audience", "message"]).await
        }
        Command::Access(cmd) => c::access(cmd).await,
        Command::Audit(cmd) => c::audit(cmd).await,
        Command::Subjects(cmd) => personal_cmds::subjects(cmd).await,
        Command::Dpo(cmd) => personal_cmds::dpo(cmd).await,
        Command::Retention(cmd) => personal_cmds::retention(cmd).await,
        Command::Keys(args) => {
            c::list(args, "/v1/keys", &["version", "state", "age_days", "expired", "objects", "records", "created_at"])
                .await
        }
        Command::Encryption(args) => c::simple_get(args, "/v1/encryption").await,
        Command::Ceremonies(cmd) => vault_cmds::ceremonies(cmd).await,
        Command::Jobs(cmd) => vault_cmds::jobs(cmd).await,
        Command::Objects(cmd) => vault_cmds::objects(cmd).await,
        Command::Lists(cmd) => vault_cmds::lists(cmd).await,
        Command::Dial(cmd) => dial_cmds::dial(cmd).await,
        Command::Dnc(cmd) => dial_cmds::dnc(cmd).await,
        Command::Calls(cmd) => calls_cmds::calls(cmd).await,
        Command::Stations(cmd) => calls_cmds::stations(cmd).await,
        Command::CaptureAgents(cmd) => calls_cmds::agents(cmd).await,
        Command::Operators(cmd) => vault_cmds::operators(cmd).await,
        Command::Unseal(args) => vault_cmds::unseal(args).await,
    }
}

/// Where the saved session lives.
pub(crate) fn session_file() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("callvault").join("session.json")
}
