//! Administration through the API: tenants, users, teams, skills, services, roles, grants,
//! service accounts, sessions, TOTP, access explanations and the audit log.

use super::*;

/// Tenants.
#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// List tenants.
    List(ClientArgs),
    /// Create a tenant with its first administrator (password read from stdin).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Login slug.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Capabilities to enable: encryption, outbound_policy, call_security.
        #[arg(long, value_delimiter = ',')]
        enable: Vec<String>,
        /// Administrator login.
        #[arg(long)]
        admin_login: String,
        /// Administrator first name.
        #[arg(long)]
        admin_first_name: String,
        /// Administrator last name.
        #[arg(long)]
        admin_last_name: String,
    },
    /// Switch capabilities of a tenant.
    Capabilities {
        #[command(flatten)]
        client: ClientArgs,
        /// Tenant id.
        id: String,
        /// Capabilities to enable (all others are switched off).
        #[arg(long, value_delimiter = ',')]
        enable: Vec<String>,
    },
}

fn capabilities(list: &[String]) -> anyhow::Result<Value> {
    let mut caps = json!({ "encryption": false, "outbound_policy": false, "call_security": false });
    for c in list {
        match c.as_str() {
            "encryption" | "outbound_policy" | "call_security" => caps[c.as_str()] = json!(true),
            other => {
                bail!("unknown capability `{other}` (encryption, outbound_policy, call_security)")
            }
        }
    }
    Ok(caps)
}

/// Tenant commands.
pub async fn tenants(cmd: TenantsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantsCmd::List(c) => list(c, "/v1/tenants", &["id", "slug", "display_name", "capabilities"]).await,
        TenantsCmd::Create { client, slug, name, enable, admin_login, admin_first_name, admin_last_name } => {
            eprintln!("Administrator password (stdin):");
            let password = read_password(false)?;
            let body = json!({
                "slug": slug, "display_name": name, "capabilities": capabilities(&enable)?,
                "administrator": { "login": admin_login, "first_name": admin_first_name, "last_name": admin_last_name, "password": password }
            });
            send(&client, Method::POST, "/v1/tenants", Some(body)).await
        }
        TenantsCmd::Capabilities { client, id, enable } => {
            send(
                &client,
                Method::PATCH,
                &format!("/v1/tenants/{id}"),
                Some(json!({ "capabilities": capabilities(&enable)? })),
            )
            .await
        }
    }
}

/// Users.
#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// List users you may see.
    List(ClientArgs),
    /// Show one user.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// User id.
        id: String,
    },
    /// Create a user (password read from stdin with --password-stdin).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Login id.
        #[arg(long)]
        login: String,
        /// First name.
        #[arg(long)]
        first_name: String,
        /// Last name.
        #[arg(long)]
        last_name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number (E.164).
        #[arg(long)]
        phone: Option<String>,
        /// Read an initial password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user and all its master-data relations.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// User id.
        id: String,
    },
    /// Unlock a user locked by failed logins.
    Unlock {
        #[command(flatten)]
        client: ClientArgs,
        /// User id.
        id: String,
    },
}

/// User commands.
pub async fn users(cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCmd::List(c) => list(c, "/v1/users", &["id", "login", "first_name", "last_name"]).await,
        UsersCmd::Get { client, id } => send(&client, Method::GET, &format!("/v1/users/{id}"), None).await,
        UsersCmd::Create { client, login, first_name, last_name, email, phone, password_stdin } => {
            let mut addresses = Vec::new();
            if let Some(e) = email {
                addresses.push(json!({ "kind": "email", "value": e }));
            }
            if let Some(p) = phone {
                addresses.push(json!({ "kind": "phone", "value": p }));
            }
            let mut body =
                json!({ "login": login, "first_name": first_name, "last_name": last_name, "addresses": addresses });
            if password_stdin {
                body["password"] = json!(read_password(false)?);
            }
            send(&client, Method::POST, "/v1/users", Some(body)).await
        }
        UsersCmd::Delete { client, id } => send(&client, Method::DELETE, &format!("/v1/users/{id}"), None).await,
        UsersCmd::Unlock { client, id } => send(&client, Method::POST, &format!("/v1/users/{id}/unlock"), None).await,
    }
}

/// Teams and skills.
#[derive(Debug, Subcommand)]
pub enum NamedCmd {
    /// List.
    List(ClientArgs),
    /// Create.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
    },
    /// Delete.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Id.
        id: String,
    },
}

/// Team and skill commands.
pub async fn named(cmd: NamedCmd, base: &str) -> anyhow::Result<ExitCode> {
    match cmd {
        NamedCmd::List(c) => list(c, base, &["id", "name", "created_at"]).await,
        NamedCmd::Create { client, name } => send(&client, Method::POST, base, Some(json!({ "name": name }))).await,
        NamedCmd::Delete { client, id } => send(&client, Method::DELETE, &format!("{base}/{id}"), None).await,
    }
}

/// Services and campaigns.
#[derive(Debug, Subcommand)]
pub enum ServicesCmd {
    /// List.
    List(ClientArgs),
    /// Create.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// `inbound` or `campaign`.
        #[arg(long, default_value = "inbound")]
        kind: String,
    },
    /// Delete.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Id.
        id: String,
    },
}

/// Service commands.
pub async fn services(cmd: ServicesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ServicesCmd::List(c) => list(c, "/v1/services", &["id", "name", "kind"]).await,
        ServicesCmd::Create { client, name, kind } => {
            send(&client, Method::POST, "/v1/services", Some(json!({ "name": name, "kind": kind }))).await
        }
        ServicesCmd::Delete { client, id } => send(&client, Method::DELETE, &format!("/v1/services/{id}"), None).await,
    }
}

/// Roles.
#[derive(Debug, Subcommand)]
pub enum RolesCmd {
    /// List roles.
    List(ClientArgs),
    /// Create a custom role.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// Privileges, e.g. user:read,team:read,interaction:listen:own.
        #[arg(long, value_delimiter = ',')]
        privileges: Vec<String>,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
}

/// Role commands.
pub async fn roles(cmd: RolesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RolesCmd::List(c) => list(c, "/v1/roles", &["id", "name", "builtin", "description"]).await,
        RolesCmd::Create { client, name, privileges, description } => {
            send(
                &client,
                Method::POST,
                "/v1/roles",
                Some(json!({ "name": name, "privileges": privileges, "description": description })),
            )
            .await
        }
    }
}

/// Grants.
#[derive(Debug, Subcommand)]
pub enum GrantsCmd {
    /// List grants.
    List(ClientArgs),
    /// Grant a role to a user, tenant-wide or limited to teams/skills/services.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// User id.
        #[arg(long)]
        user: String,
        /// Role id.
        #[arg(long)]
        role: String,
        /// Limit to these team ids.
        #[arg(long, value_delimiter = ',')]
        teams: Vec<String>,
        /// Limit to these skill ids.
        #[arg(long, value_delimiter = ',')]
        skills: Vec<String>,
        /// Limit to these service ids.
        #[arg(long, value_delimiter = ',')]
        services: Vec<String>,
    },
    /// Remove a grant.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Grant id.
        id: String,
    },
}

/// Grant commands.
pub async fn grants(cmd: GrantsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GrantsCmd::List(c) => {
            list(c, "/v1/grants", &["id", "grantee.kind", "grantee.id", "role_id", "scope.kind"]).await
        }
        GrantsCmd::Create { client, user, role, teams, skills, services } => {
            let scope = if teams.is_empty() && skills.is_empty() && services.is_empty() {
                json!({ "kind": "tenant" })
            } else {
                json!({ "kind": "limited", "teams": teams, "skills": skills, "services": services })
            };
            send(
                &client,
                Method::POST,
                "/v1/grants",
                Some(json!({ "grantee": { "kind": "user", "id": user }, "role_id": role, "scope": scope })),
            )
            .await
        }
        GrantsCmd::Delete { client, id } => send(&client, Method::DELETE, &format!("/v1/grants/{id}"), None).await,
    }
}

/// Service accounts.
#[derive(Debug, Subcommand)]
pub enum ServiceAccountsCmd {
    /// List.
    List(ClientArgs),
    /// Create one bound to a role; prints its token once.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// Role id.
        #[arg(long)]
        role: String,
    },
    /// Issue a new token.
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
        /// Id.
        id: String,
    },
    /// Revoke the token.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Id.
        id: String,
    },
}

/// Service-account commands.
pub async fn service_accounts(cmd: ServiceAccountsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ServiceAccountsCmd::List(c) => {
            list(c, "/v1/service-accounts", &["id", "name", "token_prefix", "last_used_at", "revoked_at"]).await
        }
        ServiceAccountsCmd::Create { client, name, role } => {
            send(
                &client,
                Method::POST,
                "/v1/service-accounts",
                Some(json!({ "name": name, "role_id": role, "scope": { "kind": "tenant" } })),
            )
            .await
        }
        ServiceAccountsCmd::Rotate { client, id } => {
            send(&client, Method::POST, &format!("/v1/service-accounts/{id}/rotate"), None).await
        }
        ServiceAccountsCmd::Revoke { client, id } => {
            send(&client, Method::POST, &format!("/v1/service-accounts/{id}/revoke"), None).await
        }
    }
}

/// Sessions.
#[derive(Debug, Subcommand)]
pub enum SessionsCmd {
    /// Your sessions.
    List(ClientArgs),
    /// Revoke one.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Session id.
        id: String,
    },
    /// Log out all other sessions.
    RevokeOthers(ClientArgs),
}

/// Session commands.
pub async fn sessions(cmd: SessionsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionsCmd::List(c) => {
            list(c, "/v1/sessions", &["id", "created_at", "last_seen_at", "current", "active"]).await
        }
        SessionsCmd::Revoke { client, id } => send(&client, Method::DELETE, &format!("/v1/sessions/{id}"), None).await,
        SessionsCmd::RevokeOthers(c) => send(&c, Method::POST, "/v1/sessions/revoke-others", None).await,
    }
}

/// TOTP enrolment.
#[derive(Debug, Subcommand)]
pub enum TotpCmd {
    /// Start enrolment: prints the otpauth URI and secret.
    Enroll(ClientArgs),
    /// Confirm with a code (or compute it from the secret); prints recovery codes once.
    Confirm {
        #[command(flatten)]
        client: ClientArgs,
        /// The current code.
        #[arg(long)]
        code: Option<String>,
        /// Compute the code from this base32 secret.
        #[arg(long, env = "CALLVAULT_TOTP_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
}

/// TOTP commands.
pub async fn totp(cmd: TotpCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TotpCmd::Enroll(c) => send(&c, Method::POST, "/v1/auth/totp/enroll", None).await,
        TotpCmd::Confirm { client, code, secret } => {
            let code = match (code, secret) {
                (Some(c), _) => c,
                (None, Some(s)) => callvault_crypto::totp::code_now_from_base32(&s).context("bad --secret")?,
                (None, None) => bail!("give --code or --secret"),
            };
            let api = Api::new(&client)?;
            let mut v = api.post("/v1/auth/totp/confirm", &json!({ "code": code })).await?;
            // The enrolment session is replaced by a full one under a new token: kept where
            // `callvault login` keeps its session when the enrolment token came from there.
            if let Some(token) = v["session"]["token"].as_str().map(str::to_owned) {
                if client.token.is_none() && !api.json {
                    let path = client::save_token(&client.url, &token)?;
                    v["session"]["token"] = json!("(saved)");
                    eprintln!(
                        "Enrolled; the full session replaces the enrolment session (saved to {}).",
                        path.display()
                    );
                } else {
                    eprintln!("Enrolled; use the new session's token from now on (the enrolment token is revoked).");
                }
            }
            show(&api, &v);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Access decisions.
#[derive(Debug, Subcommand)]
pub enum AccessCmd {
    /// May this user do this action on this kind of resource, and why?
    Explain {
        #[command(flatten)]
        client: ClientArgs,
        /// User id.
        #[arg(long)]
        user: String,
        /// Action, e.g. read.
        #[arg(long)]
        action: String,
        /// Resource kind, e.g. user.
        #[arg(long)]
        resource: String,
        /// Owner user id.
        #[arg(long)]
        owner: Option<String>,
        /// Team ids of the resource.
        #[arg(long, value_delimiter = ',')]
        teams: Vec<String>,
    },
}

/// Access commands.
pub async fn access(cmd: AccessCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AccessCmd::Explain { client, user, action, resource, owner, teams } => {
            let mut body = json!({ "user_id": user, "action": action, "resource": resource, "teams": teams });
            if let Some(o) = owner {
                body["owner"] = json!(o);
            }
            let api = Api::new(&client)?;
            let v = api.post("/v1/access/explain", &body).await?;
            if api.json {
                println!("{v}");
            } else {
                println!("{}", v.get("explanation").and_then(Value::as_str).unwrap_or("?"));
            }
            Ok(if v.get("allowed") == Some(&json!(true)) { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
    }
}

/// The audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute the whole log from the database and check every signed tree head. Exits 1 and
    /// names the first bad entry when the log was tampered with.
    Verify {
        #[command(flatten)]
        server: ServerArgs,
        /// Expected Ed25519 public key (hex); default the one stored in the database.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check an erasure certificate offline (no database, no server): the tree head's signature
    /// under the log's public key and every entry's inclusion proof. Exits 1 when it fails.
    VerifyCertificate {
        /// The certificate (from `callvault dpo requests certificate`).
        file: std::path::PathBuf,
        /// The audit log's Ed25519 public key (hex; `callvault audit tree-head` shows it).
        #[arg(long)]
        public_key: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export the entries you may see as JSON lines.
    Export(ClientArgs),
    /// The newest signed tree head.
    TreeHead(ClientArgs),
}

/// Audit commands.
pub async fn audit(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Verify { server, public_key, json } => {
            let config = load_config(&server)?;
            let store = callvault_store::Store::open(&config.effective_database_url()).await?;
            let key = public_key.map(hex::decode).transpose().context("--public-key must be hex")?;
            let report = callvault_core::audit::verify_log(&store, key.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else if let Some(f) = &report.failure {
                println!(
                    "FAILED at entry {}{}: {}",
                    f.leaf_index,
                    f.seq.map(|s| format!(" (row seq {s})")).unwrap_or_default(),
                    f.reason
                );
                println!(
                    "checked {} entries and {} signed tree heads before the failure",
                    report.entries_checked, report.tree_heads_checked
                );
            } else {
                println!(
                    "OK: {} entries and {} signed tree heads verified ({} waiting to be sequenced)",
                    report.entries_checked, report.tree_heads_checked, report.unsequenced
                );
            }
            Ok(if report.failure.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        AuditCmd::VerifyCertificate { file, public_key, json } => {
            crate::personal_cmds::verify_certificate(&file, &public_key, json)
        }
        AuditCmd::Export(c) => {
            let api = Api::new(&c)?;
            let v = api.get("/v1/audit/export").await?;
            print!("{}", v.as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::TreeHead(c) => simple_get(c, "/v1/audit/tree-head").await,
    }
}
