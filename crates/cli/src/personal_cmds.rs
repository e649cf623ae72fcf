//! `callvault subjects …`, `callvault dpo …` and `callvault retention …`: data subjects, their
//! reports, data protection officers' requests, retention policies and legal holds.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, ClientArgs};
use crate::commands::{print_list, print_object};
use crate::dial_cmds::segment;

/// `callvault subjects …`
#[derive(Debug, Subcommand)]
pub enum SubjectsCmd {
    /// Find the subjects an identifier belongs to (exactly one of --phone, --email, --ip, --name).
    Search {
        #[command(flatten)]
        client: ClientArgs,
        /// A phone number (read in the tenant's default region).
        #[arg(long)]
        phone: Option<String>,
        /// An e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// An IP address.
        #[arg(long)]
        ip: Option<String>,
        /// A name (any spacing and case).
        #[arg(long)]
        name: Option<String>,
    },
    /// The personal data report of a subject (JSON, or a printable HTML page with --html).
    Report {
        #[command(flatten)]
        client: ClientArgs,
        /// Subject id.
        id: String,
        /// Write the printable HTML page to this file instead.
        #[arg(long)]
        html: Option<std::path::PathBuf>,
    },
}

/// `callvault dpo …`
#[derive(Debug, Subcommand)]
pub enum DpoCmd {
    /// Data protection requests.
    #[command(subcommand)]
    Requests(RequestsCmd),
}

/// `callvault dpo requests …`
#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// The tenant's requests with their due dates.
    List(ClientArgs),
    /// One request.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// Request id.
        id: String,
    },
    /// File a request: access, export, rectify or erase. An erasure needs every identifier of
    /// the subject confirmed: --confirm phone:+15551234567 --confirm email:a@example.com.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// access, export, rectify or erase.
        kind: String,
        /// Subject id.
        subject: String,
        /// An identifier of the subject as you confirmed it (kind:value); repeat for each.
        #[arg(long = "confirm")]
        confirm: Vec<String>,
        /// Rectification: the identifier as it is (kind:value).
        #[arg(long)]
        from: Option<String>,
        /// Rectification: its correct value.
        #[arg(long)]
        to: Option<String>,
    },
    /// Extend an open request once by 60 days.
    Extend {
        #[command(flatten)]
        client: ClientArgs,
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Download the archive of a completed export, encrypted with age to a passphrase read from
    /// stdin (decrypt with `age -d`).
    Archive {
        #[command(flatten)]
        client: ClientArgs,
        /// Request id.
        id: String,
        /// Output file.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Save the certificate of a completed erasure (check it with `callvault audit
    /// verify-certificate`).
    Certificate {
        #[command(flatten)]
        client: ClientArgs,
        /// Request id.
        id: String,
        /// Output file.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
}

/// `callvault retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// The tenant's retention policies.
    List(ClientArgs),
    /// Add a policy: a category kept for a number of days, tenant-wide or for one service.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// directory, reporting, recordings, contact_records or calling_lists.
        category: String,
        /// Days kept.
        days: u32,
        /// Only for this service or campaign (id).
        #[arg(long)]
        service: Option<String>,
    },
    /// Remove a policy.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Policy id.
        id: String,
    },
    /// The newest purge runs with their progress and counts.
    Purges(ClientArgs),
    /// Legal holds, released ones included.
    Holds(ClientArgs),
    /// Place a legal hold on a subject, interaction or service.
    Hold {
        #[command(flatten)]
        client: ClientArgs,
        /// Its name (shown in every refusal).
        name: String,
        /// subject, interaction or service.
        scope: String,
        /// The id it covers.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Release a legal hold.
    Release {
        #[command(flatten)]
        client: ClientArgs,
        /// Hold id.
        id: String,
    },
}

fn identifier(arg: &str) -> anyhow::Result<Value> {
    let Some((kind, value)) = arg.split_once(':') else {
        bail!("`{arg}`: expected kind:value, e.g. phone:+15551234567 or email:a@example.com");
    };
    Ok(json!({ "kind": kind, "value": value }))
}

/// Runs `callvault subjects …`.
pub async fn subjects(cmd: SubjectsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SubjectsCmd::Search { client, phone, email, ip, name } => {
            let api = Api::new(&client)?;
            let (key, value) = match (phone, email, ip, name) {
                (Some(p), None, None, None) => ("phone", p),
                (None, Some(e), None, None) => ("email", e),
                (None, None, Some(i), None) => ("ip", i),
                (None, None, None, Some(n)) => ("name", n),
                _ => bail!("give exactly one of --phone, --email, --ip, --name"),
            };
            let mut u = reqwest::Url::parse("http://localhost/v1/subjects")?;
            u.query_pairs_mut().append_pair(key, &value);
            let v = api.get(&format!("/v1/subjects?{}", u.query().unwrap_or_default())).await?;
            if api.json {
                println!("{v}");
                return Ok(ExitCode::SUCCESS);
            }
            let found = v.as_array().cloned().unwrap_or_default();
            if found.is_empty() {
                println!("no subject has this identifier");
            }
            for s in &found {
                println!("subject {}", s["id"].as_str().unwrap_or(""));
                for i in s["identifiers"].as_array().into_iter().flatten() {
                    println!("  {}: {}", i["kind"].as_str().unwrap_or(""), i["value"].as_str().unwrap_or(""));
                }
                println!(
                    "  {} interaction(s), {} stored object(s)",
                    s["interactions"].as_array().map_or(0, Vec::len),
                    s["objects"]
                );
            }
        }
        SubjectsCmd::Report { client, id, html } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/subjects/{}/report", segment(&id)?);
            match html {
                Some(output) => {
                    let resp = api.request(Method::GET, &format!("{path}?format=html")).send().await?;
                    let n = crate::client::save_response(resp, &output).await?;
                    eprintln!("{n} bytes written to {}", output.display());
                }
                None => println!("{}", serde_json::to_string_pretty(&api.get(&path).await?)?),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

const REQUEST_COLUMNS: &[&str] = &["id", "kind", "state", "subject_id", "created_at", "due_at", "completed_at"];

/// Runs `callvault dpo …`.
pub async fn dpo(cmd: DpoCmd) -> anyhow::Result<ExitCode> {
    let DpoCmd::Requests(cmd) = cmd;
    match cmd {
        RequestsCmd::List(client) => {
            let api = Api::new(&client)?;
            print_list(&api, &api.get("/v1/dpo-requests").await?, REQUEST_COLUMNS);
        }
        RequestsCmd::Get { client, id } => {
            let api = Api::new(&client)?;
            print_object(&api, &api.get(&format!("/v1/dpo-requests/{}", segment(&id)?)).await?);
        }
        RequestsCmd::Create { client, kind, subject, confirm, from, to } => {
            let api = Api::new(&client)?;
            let mut body = json!({ "kind": kind, "subject_id": subject });
            if !confirm.is_empty() {
                body["confirm_identifiers"] =
                    confirm.iter().map(|c| identifier(c)).collect::<anyhow::Result<Value>>()?;
            }
            match (from, to) {
                (Some(f), Some(t)) => {
                    let mut fix = identifier(&f)?;
                    fix["new_value"] = json!(t);
                    body["rectify"] = fix;
                }
                (None, None) => {}
                _ => bail!("a rectification needs both --from kind:value and --to value"),
            }
            print_object(&api, &api.post("/v1/dpo-requests", &body).await?);
        }
        RequestsCmd::Extend { client, id, reason } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/dpo-requests/{}/extend", segment(&id)?);
            print_object(&api, &api.post(&path, &json!({ "reason": reason })).await?);
        }
        RequestsCmd::Archive { client, id, output } => {
            let api = Api::new(&client)?;
            eprint!("Passphrase for the archive (at least 12 characters): ");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
            let passphrase = line.trim_end_matches(['\r', '\n']);
            let resp = api
                .request(Method::POST, &format!("/v1/dpo-requests/{}/archive", segment(&id)?))
                .json(&json!({ "passphrase": passphrase }))
                .send()
                .await?;
            let n = crate::client::save_response(resp, &output).await?;
            eprintln!("{n} bytes written to {} (decrypt with `age -d`)", output.display());
        }
        RequestsCmd::Certificate { client, id, output } => {
            let api = Api::new(&client)?;
            let v = api.get(&format!("/v1/dpo-requests/{}/certificate", segment(&id)?)).await?;
            let tmp = output.with_extension("part");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&v)?)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &output)?;
            eprintln!("certificate written to {}", output.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `callvault retention …`.
pub async fn retention(cmd: RetentionCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RetentionCmd::List(client) => {
            let api = Api::new(&client)?;
            print_list(&api, &api.get("/v1/retention-policies").await?, &["id", "category", "service_id", "days"]);
        }
        RetentionCmd::Add { client, category, days, service } => {
            let api = Api::new(&client)?;
            let body = json!({ "category": category, "days": days, "service_id": service });
            print_object(&api, &api.post("/v1/retention-policies", &body).await?);
        }
        RetentionCmd::Delete { client, id } => {
            let api = Api::new(&client)?;
            api.call(Method::DELETE, &format!("/v1/retention-policies/{}", segment(&id)?), None).await?;
            println!("deleted");
        }
        RetentionCmd::Purges(client) => {
            let api = Api::new(&client)?;
            let columns = ["started_at", "finished_at", "resumed", "objects", "blobs_removed", "interactions", "held"];
            print_list(&api, &api.get("/v1/retention-purges").await?, &columns);
        }
        RetentionCmd::Holds(client) => {
            let api = Api::new(&client)?;
            print_list(&api, &api.get("/v1/legal-holds").await?, &["id", "name", "scope", "created_at", "released_at"]);
        }
        RetentionCmd::Hold { client, name, scope, id, reason } => {
            let api = Api::new(&client)?;
            let body = json!({ "name": name, "reason": reason, "scope": { "kind": scope, "id": id } });
            print_object(&api, &api.post("/v1/legal-holds", &body).await?);
        }
        RetentionCmd::Release { client, id } => {
            let api = Api::new(&client)?;
            api.call(Method::POST, &format!("/v1/legal-holds/{}/release", segment(&id)?), None).await?;
            println!("released");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `callvault audit verify-certificate FILE --public-key KEY`: checks an erasure certificate
/// offline (no database, no server).
pub fn verify_certificate(file: &std::path::Path, public_key: &str, json_out: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let cert: callvault_core::dpo::ErasureCertificate = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => bail!("{}:{}:{}: not an erasure certificate: {e}", file.display(), e.line(), e.column()),
    };
    let key = hex::decode(public_key.trim()).context("--public-key must be the log's Ed25519 public key in hex")?;
    match callvault_core::dpo::verify_certificate(&cert, &key) {
        Ok(s) => {
            if json_out {
                println!("{}", json!({ "valid": true, "request": cert.request_id, "summary": s }));
            } else {
                println!(
                    "OK: erasure {} of subject {} proven by {} audit entries ({} objects, {} interactions) in the \
                     tenant's tree of {} entries signed at {}",
                    cert.request_id,
                    cert.subject_id,
                    s.entries,
                    s.objects,
                    s.interactions,
                    s.tree_size,
                    cert.tree_head.timestamp
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            if json_out {
                println!("{}", json!({ "valid": false, "reason": why }));
            } else {
                println!("INVALID: {why}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
