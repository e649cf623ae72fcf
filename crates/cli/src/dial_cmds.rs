//! `callvault dial …` and `callvault dnc …`: dial checks with their reasons, calling-hour rules,
//! areas, assignments and do-not-call lists.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, ClientArgs};

/// `callvault dial …`
#[derive(Debug, Subcommand)]
pub enum DialCmd {
    /// May this number be called (or texted, or received) now? Prints the decision and every
    /// reason; exits 0 when allowed, 2 when denied.
    Check {
        #[command(flatten)]
        client: ClientArgs,
        /// The number (E.164 preferred).
        number: String,
        /// The agent the call is for (login or id).
        #[arg(long = "as")]
        user: Option<String>,
        /// outbound_call, outbound_text or inbound_call.
        #[arg(long, default_value = "outbound_call")]
        direction: String,
        /// Service or campaign id.
        #[arg(long)]
        service: Option<String>,
        /// The contact's ZIP code.
        #[arg(long)]
        zip: Option<String>,
        /// The contact's state (FL or US-FL).
        #[arg(long)]
        state: Option<String>,
        /// The contact gave prior express consent.
        #[arg(long)]
        consent: bool,
        /// The instant (RFC 3339); now by default.
        #[arg(long)]
        at: Option<String>,
        /// Do not count an allowed call towards calls-per-24-hours limits.
        #[arg(long)]
        dry_run: bool,
    },
    /// The calling-hour rules in force (text).
    Rules(ClientArgs),
    /// Replace the calling-hour rules with a file; errors are printed per line and nothing changes.
    ImportRules {
        #[command(flatten)]
        client: ClientArgs,
        /// The rules file.
        file: std::path::PathBuf,
    },
    /// Named calling areas.
    Areas(ClientArgs),
    /// Create or replace an area: `--include country:44 --except prefix:447`.
    SetArea {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// Clauses covered (repeatable).
        #[arg(long, required = true)]
        include: Vec<String>,
        /// Clauses taken out (repeatable).
        #[arg(long)]
        except: Vec<String>,
    },
    /// Assign areas to a user, team or service.
    Assign {
        #[command(flatten)]
        client: ClientArgs,
        /// user, team or service.
        level: String,
        /// Its id.
        id: String,
        /// Areas outbound calls may go to (repeatable).
        #[arg(long)]
        call: Vec<String>,
        /// Areas texts may go to (repeatable).
        #[arg(long)]
        text: Vec<String>,
        /// Areas inbound calls may not come from (repeatable).
        #[arg(long)]
        block_inbound: Vec<String>,
    },
    /// The dial settings (JSON).
    Settings(ClientArgs),
}

/// `callvault dnc …`
#[derive(Debug, Subcommand)]
pub enum DncCmd {
    /// Do-not-call lists.
    List(ClientArgs),
    /// Create a list.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// internal or registry.
        #[arg(long, default_value = "internal")]
        kind: String,
        /// Country calling code of a registry.
        #[arg(long)]
        country_code: Option<u16>,
    },
    /// Replace a registry copy with a file (streamed); bad lines are printed and nothing changes.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        /// List id.
        id: String,
        /// One number per line, CSV, or `area code,number` pairs.
        file: std::path::PathBuf,
        /// When the copy was published (YYYY-MM-DD or RFC 3339); now by default.
        #[arg(long)]
        refreshed_at: Option<String>,
    },
    /// Add a number to an internal list.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// List id.
        id: String,
        /// The number.
        number: String,
    },
    /// Remove a number from an internal list.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        /// List id.
        id: String,
        /// The number.
        number: String,
    },
}

fn print_decision(d: &Value) {
    let verdict = if d["allowed"].as_bool() == Some(true) { "ALLOWED" } else { "DENIED" };
    let n = &d["number"];
    if n.is_object() {
        let list =
            |v: &Value| v.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ");
        println!(
            "{verdict}  {} ({}, {}; places {}; zones {})",
            n["e164"].as_str().unwrap_or_default(),
            n["region"].as_str().unwrap_or("-"),
            n["kind"].as_str().unwrap_or_default(),
            list(&n["places"]),
            list(&n["zones"]),
        );
    } else {
        println!("{verdict}");
    }
    for r in d["reasons"].as_array().into_iter().flatten() {
        let mark = if r["denies"].as_bool() == Some(true) { "✗" } else { "✓" };
        println!(
            "  {mark} {}: {} [{}]",
            r["code"].as_str().unwrap_or_default(),
            r["message"].as_str().unwrap_or_default(),
            r["rule"].as_str().unwrap_or_default()
        );
    }
    if let Some(t) = d["next_allowed"].as_str() {
        println!("  next allowed: {t}");
    }
}

/// `callvault dial`.
pub async fn dial(cmd: DialCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DialCmd::Check { client, number, user, direction, service, zip, state, consent, at, dry_run } => {
            let api = Api::new(&client)?;
            let mut check = json!({ "direction": direction, "number": number, "dry_run": dry_run,
                                    "contact": { "zip": zip, "state": state, "consent": consent } });
            for (k, v) in [("user", user), ("service", service), ("at", at)] {
                if let Some(v) = v {
                    check[k] = json!(v);
                }
            }
            let v = api.post("/v1/dial-checks", &check).await?;
            let d = &v["results"][0];
            if api.json {
                println!("{d}");
            } else {
                print_decision(d);
            }
            return Ok(if d["allowed"].as_bool() == Some(true) { ExitCode::SUCCESS } else { ExitCode::from(2) });
        }
        DialCmd::Rules(args) => {
            let api = Api::new(&args)?;
            let resp = api.request(Method::GET, "/v1/dial/rules").send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                anyhow::bail!("{text}");
            }
            print!("{text}");
        }
        DialCmd::ImportRules { client, file } => {
            let api = Api::new(&client)?;
            let data = tokio::fs::read(&file).await.with_context(|| format!("reading {}", file.display()))?;
            if crate::client::send_file(&api, Method::PUT, "/v1/dial/rules", &[], "text/plain", data.into(), &file)
                .await?
                .is_none()
            {
                return Ok(ExitCode::FAILURE);
            }
            println!("Rules replaced.");
        }
        DialCmd::Areas(args) => {
            let api = Api::new(&args)?;
            let v = api.get("/v1/dial/areas").await?;
            if api.json {
                println!("{v}");
            } else {
                for a in v.as_array().into_iter().flatten() {
                    println!(
                        "{}: include {} except {}",
                        a["name"].as_str().unwrap_or_default(),
                        a["include"],
                        a["except"]
                    );
                }
            }
        }
        DialCmd::SetArea { client, name, include, except } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/dial/areas/{}", segment(&name)?);
            let v = api
                .call(Method::PUT, &path, Some(&json!({ "name": name, "include": include, "except": except })))
                .await?;
            crate::commands::print_object(&api, &v);
        }
        DialCmd::Assign { client, level, id, call, text, block_inbound } => {
            let api = Api::new(&client)?;
            let body = json!({ "call": call, "text": text, "inbound_block": block_inbound });
            let v = api.call(Method::PUT, &format!("/v1/dial/assignments/{level}/{id}"), Some(&body)).await?;
            crate::commands::print_object(&api, &v);
        }
        DialCmd::Settings(args) => {
            let api = Api::new(&args)?;
            println!("{}", serde_json::to_string_pretty(&api.get("/v1/dial/settings").await?)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A path segment, percent-encoded by the URL library.
pub(crate) fn segment(s: &str) -> anyhow::Result<String> {
    let mut u = reqwest::Url::parse("http://localhost/")?;
    u.path_segments_mut().map_err(|()| anyhow::anyhow!("bad base URL"))?.pop_if_empty().push(s);
    Ok(u.path().trim_start_matches('/').to_owned())
}

/// `callvault dnc`.
pub async fn dnc(cmd: DncCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DncCmd::List(args) => {
            let api = Api::new(&args)?;
            let v = api.get("/v1/dnc-lists").await?;
            crate::commands::print_list(&api, &v, &["id", "name", "kind", "country_code", "entries", "refreshed_at"]);
        }
        DncCmd::Create { client, name, kind, country_code } => {
            let api = Api::new(&client)?;
            let v =
                api.post("/v1/dnc-lists", &json!({ "name": name, "kind": kind, "country_code": country_code })).await?;
            crate::commands::print_object(&api, &v);
        }
        DncCmd::Import { client, id, file, refreshed_at } => {
            let api = Api::new(&client)?;
            let f = tokio::fs::File::open(&file).await.with_context(|| format!("opening {}", file.display()))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20));
            let path = format!("/v1/dnc-lists/{id}/import");
            let query: Vec<(&str, String)> = refreshed_at.map(|r| ("refreshed_at", r)).into_iter().collect();
            let Some(v) = crate::client::send_file(&api, Method::PUT, &path, &query, "text/plain", body, &file).await?
            else {
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "Imported {} distinct numbers ({} read), {} bytes in memory.",
                v["distinct"], v["numbers_read"], v["bytes_in_memory"]
            );
        }
        DncCmd::Add { client, id, number } => {
            let api = Api::new(&client)?;
            let resp = api
                .request(Method::POST, &format!("/v1/dnc-lists/{id}/numbers"))
                .json(&json!({ "number": number }))
                .send()
                .await?;
            let status = resp.status();
            crate::client::answer(resp).await?;
            println!("{}", if status.as_u16() == 201 { "Added." } else { "Already on the list." });
        }
        DncCmd::Remove { client, id, number } => {
            let api = Api::new(&client)?;
            let resp = api
                .request(Method::POST, &format!("/v1/dnc-lists/{id}/numbers/remove"))
                .json(&json!({ "number": number }))
                .send()
                .await?;
            crate::client::answer(resp).await?;
            println!("Removed.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
