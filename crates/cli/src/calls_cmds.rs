//! `callvault calls …`, `callvault stations …`, `callvault capture-agents …`: calls with their
//! lock state and causes, a call's history, a live view in the terminal, stations with their
//! security levels, and HEP capture agents.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, ClientArgs};

/// `callvault calls …`
#[derive(Debug, Subcommand)]
pub enum CallsCmd {
    /// Calls in progress (or recent ones with `--all`), with lock and cause.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Include ended calls.
        #[arg(long)]
        all: bool,
    },
    /// One call with its legs and every state change.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Call id.
        id: String,
    },
    /// Live view: prints each change of the tenant's calls as it happens (Ctrl-C to stop);
    /// with `--alerts`, only your own downgrade alerts.
    Watch {
        #[command(flatten)]
        client: ClientArgs,
        /// Your alerts instead of every change.
        #[arg(long)]
        alerts: bool,
        /// Resume after this event id.
        #[arg(long)]
        after: Option<i64>,
    },
    /// Switch your downgrade alerts on or off (off only where your role allows it).
    Alerts {
        #[command(flatten)]
        client: ClientArgs,
        /// on or off.
        state: String,
    },
}

/// `callvault stations …`
#[derive(Debug, Subcommand)]
pub enum StationsCmd {
    /// Stations and their security levels.
    List(ClientArgs),
    /// Create or replace a station.
    Set {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// The SIP user part that identifies it in signalling.
        #[arg(long)]
        sip_user: String,
        /// none, minimal or end_to_edge.
        #[arg(long)]
        level: String,
        /// The user working on it (id).
        #[arg(long)]
        user: Option<String>,
        /// station or softphone.
        #[arg(long, default_value = "station")]
        kind: String,
    },
    /// Delete a station.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
    },
}

/// `callvault capture-agents …`
#[derive(Debug, Subcommand)]
pub enum AgentsCmd {
    /// HEP capture agents.
    List(ClientArgs),
    /// Register an agent; prints its key once (Kamailio `siptrace` `auth_key`).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// HEP capture id.
        capture_id: u32,
        /// Label.
        #[arg(long, default_value = "capture agent")]
        name: String,
    },
    /// Remove an agent.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// HEP capture id.
        capture_id: u32,
    },
}

fn lock(security: &Value) -> &'static str {
    match security.as_str() {
        Some("secure") => "closed",
        Some("not_secure") => "OPEN",
        _ => "pending",
    }
}

fn call_rows(calls: &Value) -> Value {
    Value::Array(
        calls
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        json!({
                            "id": c["id"],
                            "call": c["call_key"],
                            "lock": lock(&c["state"]["security"]),
                            "security": c["state"]["security"],
                            "legs": c["state"]["legs"].as_array().map_or(0, |l| l.len()),
                            "cause": c["state"]["cause"]["text"],
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Runs `callvault calls …`.
pub async fn calls(cmd: CallsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CallsCmd::List { client, all } => {
            let api = Api::new(&client)?;
            let v = api.get(&format!("/v1/calls?all={all}")).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                crate::table::print(&call_rows(&v["calls"]), &["id", "call", "lock", "legs", "cause"]);
            }
        }
        CallsCmd::Show { client, id } => {
            let api = Api::new(&client)?;
            let v = api.get(&format!("/v1/calls/{id}")).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let state = &v["call"]["state"];
            println!(
                "call {} ({}): {} — {}",
                v["call"]["id"],
                v["call"]["call_key"],
                lock(&state["security"]),
                state["cause"]["text"]
            );
            for leg in state["legs"].as_array().into_iter().flatten() {
                println!(
                    "  leg {:<10} {:<28} media {:<10} signalling {:<8} {}",
                    leg["id"].as_str().unwrap_or(""),
                    format!(
                        "{} ({})",
                        leg["party"]["name"].as_str().unwrap_or(""),
                        leg["party"]["kind"].as_str().unwrap_or("")
                    ),
                    leg["media"].as_str().unwrap_or(""),
                    leg["signalling"].as_str().unwrap_or(""),
                    leg["phase"].as_str().unwrap_or("")
                );
            }
            for ch in v["changes"].as_array().into_iter().flatten() {
                let c = &ch["change"];
                println!(
                    "  #{} {} → {}{}: {}",
                    ch["seq"],
                    c["from"].as_str().unwrap_or(""),
                    c["to"].as_str().unwrap_or(""),
                    if c["downgrade"] == true { " (ALERT)" } else { "" },
                    c["cause"]["text"].as_str().unwrap_or("")
                );
            }
        }
        CallsCmd::Watch { client, alerts, after } => {
            let api = Api::new(&client)?;
            let path = if alerts { "/v1/calls/alerts/stream" } else { "/v1/calls/stream" };
            let mut req = api.request(Method::GET, path).header("accept", "text/event-stream");
            if let Some(a) = after {
                req = req.header("last-event-id", a.to_string());
            }
            let resp = req.send().await.context("cannot reach the server")?;
            if !resp.status().is_success() {
                crate::client::answer(resp).await?;
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("watching {path} (Ctrl-C to stop)");
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(chunk) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk?));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    let id = frame.lines().find_map(|l| l.strip_prefix("id:")).unwrap_or("").trim().to_owned();
                    let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
                    let v: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                    if api.json {
                        println!("{}", json!({ "id": id, "event": v }));
                    } else if alerts {
                        println!(
                            "[{id}] ALERT call {}: {} — {}",
                            v["call_id"],
                            lock(&v["security"]),
                            v["cause"]["text"]
                        );
                    } else {
                        let c = &v["change"];
                        println!(
                            "[{id}] call {}: {} → {} ({}){}",
                            v["call_id"],
                            c["from"].as_str().unwrap_or(""),
                            c["to"].as_str().unwrap_or(""),
                            c["cause"]["text"].as_str().unwrap_or(""),
                            if c["downgrade"] == true { " ALERT" } else { "" }
                        );
                    }
                }
            }
        }
        CallsCmd::Alerts { client, state } => {
            let api = Api::new(&client)?;
            let enabled = match state.as_str() {
                "on" => true,
                "off" => false,
                other => anyhow::bail!("expected on or off, got `{other}`"),
            };
            let v = api.call(Method::PATCH, "/v1/calls/alerts/settings", Some(&json!({ "enabled": enabled }))).await?;
            println!("call security alerts: {}", if v["enabled"] == true { "on" } else { "off" });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `callvault stations …`.
pub async fn stations(cmd: StationsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        StationsCmd::List(args) => {
            let api = Api::new(&args)?;
            let v = api.get("/v1/stations").await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                crate::table::print(&v["stations"], &["name", "sip_user", "kind", "level", "user"]);
            }
        }
        StationsCmd::Set { client, name, sip_user, level, user, kind } => {
            let api = Api::new(&client)?;
            let body = json!({ "sip_user": sip_user, "level": level, "user": user, "kind": kind });
            let v = api.call(Method::PUT, &format!("/v1/stations/{name}"), Some(&body)).await?;
            crate::table::print_object(&v);
        }
        StationsCmd::Delete { client, name } => {
            let api = Api::new(&client)?;
            api.call(Method::DELETE, &format!("/v1/stations/{name}"), None).await?;
            println!("deleted station {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `callvault capture-agents …`.
pub async fn agents(cmd: AgentsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AgentsCmd::List(args) => {
            let api = Api::new(&args)?;
            let v = api.get("/v1/capture-agents").await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                crate::table::print(&v["agents"], &["capture_id", "name", "created_at"]);
            }
        }
        AgentsCmd::Create { client, capture_id, name } => {
            let api = Api::new(&client)?;
            let v = api.post("/v1/capture-agents", &json!({ "capture_id": capture_id, "name": name })).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "capture agent {capture_id} registered; its key (shown once):\n{}",
                    v["key"].as_str().unwrap_or("")
                );
            }
        }
        AgentsCmd::Delete { client, capture_id } => {
            let api = Api::new(&client)?;
            api.call(Method::DELETE, &format!("/v1/capture-agents/{capture_id}"), None).await?;
            println!("removed capture agent {capture_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
