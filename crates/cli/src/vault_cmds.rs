//! Commands of encryption at rest: keys, dual-control ceremonies, jobs (with a live progress
//! bar), stored objects (streaming upload and download), calling lists, operators, unseal.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, ClientArgs};

/// How a custodian re-authenticates: the password on the first line of stdin, and a TOTP code.
#[derive(Debug, Clone, Args)]
pub struct Reauth {
    /// Current TOTP code.
    #[arg(long)]
    totp: Option<String>,
    /// Compute the TOTP code from this base32 secret (automation).
    #[arg(long, env = "CALLVAULT_TOTP_SECRET", hide_env_values = true)]
    totp_secret: Option<String>,
}

impl Reauth {
    fn body(&self) -> anyhow::Result<Value> {
        let password = crate::commands::read_password(true)?;
        let totp = match (&self.totp, &self.totp_secret) {
            (Some(c), _) => c.clone(),
            (None, Some(s)) => callvault_crypto::totp::code_now_from_base32(s).context("bad --totp-secret")?,
            _ => bail!("a TOTP code is required: --totp CODE"),
        };
        Ok(json!({ "password": password, "totp": totp }))
    }
}

/// `callvault ceremonies …`
#[derive(Debug, Subcommand)]
pub enum CeremoniesCmd {
    /// Ceremonies, newest first.
    List(ClientArgs),
    /// Propose a key operation (enable_encryption, stop_encrypting, new_key, rewrap, reencrypt,
    /// decrypt_all, change_settings, retire_version, kek_backup).
    Propose {
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        kind: String,
        /// Parameters as JSON, e.g. '{"version": 1}'.
        #[arg(long, default_value = "{}")]
        params: String,
        #[command(flatten)]
        reauth: Reauth,
    },
    /// Approve a ceremony another custodian proposed; it is carried out at once.
    Approve {
        #[command(flatten)]
        client: ClientArgs,
        /// Ceremony id.
        id: String,
        #[command(flatten)]
        reauth: Reauth,
    },
    /// Withdraw a proposal.
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        /// Ceremony id.
        id: String,
    },
    /// Pick up your share of a KEK backup (shown once).
    Share {
        #[command(flatten)]
        client: ClientArgs,
        /// Ceremony id.
        id: String,
        #[command(flatten)]
        reauth: Reauth,
    },
}

/// `callvault ceremonies`.
pub async fn ceremonies(cmd: CeremoniesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CeremoniesCmd::List(args) => {
            let api = Api::new(&args)?;
            crate::commands::print_list(
                &api,
                &api.get("/v1/key-ceremonies").await?,
                &["id", "kind", "state", "created_at", "expires_at"],
            );
        }
        CeremoniesCmd::Propose { client, kind, params, reauth } => {
            let api = Api::new(&client)?;
            let params: Value = serde_json::from_str(&params).context("--params is not JSON")?;
            let mut body = reauth.body()?;
            body["kind"] = json!(kind);
            body["params"] = params;
            let c = api.post("/v1/key-ceremonies", &body).await?;
            crate::commands::print_object(&api, &c);
            if !api.json {
                eprintln!(
                    "A second custodian approves it before {}: callvault ceremonies approve {}",
                    c["expires_at"],
                    c["id"].as_str().unwrap_or("?")
                );
            }
        }
        CeremoniesCmd::Approve { client, id, reauth } => {
            let api = Api::new(&client)?;
            let c = api.post(&format!("/v1/key-ceremonies/{id}/approve"), &reauth.body()?).await?;
            crate::commands::print_object(&api, &c);
        }
        CeremoniesCmd::Cancel { client, id } => {
            let api = Api::new(&client)?;
            let c = api.post(&format!("/v1/key-ceremonies/{id}/cancel"), &json!({})).await?;
            crate::commands::print_object(&api, &c);
        }
        CeremoniesCmd::Share { client, id, reauth } => {
            let api = Api::new(&client)?;
            let s = api.post(&format!("/v1/key-ceremonies/{id}/share"), &reauth.body()?).await?;
            if api.json {
                println!("{s}");
            } else {
                println!("{}", s["share"].as_str().unwrap_or_default());
                eprintln!("This share is shown once. Keep it offline, apart from the other custodians' shares.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `callvault jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Jobs, newest first.
    List(ClientArgs),
    /// One job.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id.
        id: String,
    },
    /// Follow a job with a progress bar until it ends.
    Watch {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id (default: the newest running job).
        id: Option<String>,
    },
    /// Pause a running job.
    Pause {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id.
        id: String,
    },
    /// Resume a paused job.
    Resume {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id.
        id: String,
    },
}

/// `callvault jobs`.
pub async fn jobs(cmd: JobsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        JobsCmd::List(args) => {
            let api = Api::new(&args)?;
            crate::commands::print_list(
                &api,
                &api.get("/v1/jobs").await?,
                &["id", "kind", "state", "objects_done", "objects_total", "failures", "created_at"],
            );
        }
        JobsCmd::Show { client, id } => {
            let api = Api::new(&client)?;
            crate::commands::print_object(&api, &api.get(&format!("/v1/jobs/{id}")).await?);
        }
        JobsCmd::Pause { client, id } => {
            let api = Api::new(&client)?;
            crate::commands::print_object(&api, &api.post(&format!("/v1/jobs/{id}/pause"), &json!({})).await?);
        }
        JobsCmd::Resume { client, id } => {
            let api = Api::new(&client)?;
            crate::commands::print_object(&api, &api.post(&format!("/v1/jobs/{id}/resume"), &json!({})).await?);
        }
        JobsCmd::Watch { client, id } => return watch(&client, id).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(client: &ClientArgs, id: Option<String>) -> anyhow::Result<ExitCode> {
    let api = Api::new(client)?;
    let id = match id {
        Some(id) => id,
        None => {
            let jobs = api.get("/v1/jobs").await?;
            jobs.as_array()
                .and_then(|a| a.iter().find(|j| j["state"] == "running" || j["state"] == "paused"))
                .and_then(|j| j["id"].as_str())
                .map(str::to_owned)
                .context("no running job")?
        }
    };
    let job = api.get(&format!("/v1/jobs/{id}")).await?;
    let total = job["objects_total"].as_u64().unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:40.cyan/blue}] {pos}/{len} objects {msg} (elapsed {elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} {}", job["kind"].as_str().unwrap_or("job"), &id[..id.len().min(8)]));
    loop {
        let j = api.get(&format!("/v1/jobs/{id}")).await?;
        bar.set_length(j["objects_total"].as_u64().unwrap_or(total));
        bar.set_position(j["objects_done"].as_u64().unwrap_or(0));
        let mb = j["bytes_done"].as_u64().unwrap_or(0) as f64 / 1e6;
        let mb_total = j["bytes_total"].as_u64().unwrap_or(0) as f64 / 1e6;
        let rate = j["objects_per_sec"].as_f64().map_or(String::new(), |r| format!(", {r:.0} objects/s"));
        let eta = j["eta_secs"].as_f64().map_or(String::new(), |e| format!(", ETA {e:.0} s"));
        bar.set_message(format!("{mb:.1}/{mb_total:.1} MB{rate}{eta} [{}]", j["state"].as_str().unwrap_or("?")));
        match j["state"].as_str() {
            Some("done") => {
                bar.finish_with_message(format!("{mb:.1} MB, done, {} failures", j["failures"]));
                return Ok(ExitCode::SUCCESS);
            }
            Some("failed") => {
                bar.abandon_with_message(format!("failed: {}", j["last_error"].as_str().unwrap_or("?")));
                return Ok(ExitCode::FAILURE);
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// `callvault objects …`
#[derive(Debug, Subcommand)]
pub enum ObjectsCmd {
    /// Objects you may see.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this class.
        #[arg(long)]
        class: Option<String>,
    },
    /// Upload a file (streamed).
    Upload {
        #[command(flatten)]
        client: ClientArgs,
        /// The file.
        file: std::path::PathBuf,
        /// voice, screen, chat, sms, email, attachment.
        #[arg(long)]
        class: String,
        /// Interaction id.
        #[arg(long)]
        interaction: Option<String>,
        /// MIME type.
        #[arg(long, default_value = "application/octet-stream")]
        content_type: String,
        /// The customer consented to recording.
        #[arg(long)]
        consent: bool,
    },
    /// Download content (decrypted by the server) to a file.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// Object id.
        id: String,
        /// Output file.
        #[arg(short, long)]
        output: std::path::PathBuf,
        /// A byte range, e.g. 0-1023.
        #[arg(long)]
        range: Option<String>,
    },
    /// Authenticate every segment of an object (or of every object you may read, with --all);
    /// damaged objects are listed and the security officers are told.
    Verify {
        #[command(flatten)]
        client: ClientArgs,
        /// Object id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every object.
        #[arg(long)]
        all: bool,
    },
}

/// `callvault objects`.
pub async fn objects(cmd: ObjectsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ObjectsCmd::List { client, class } => {
            let api = Api::new(&client)?;
            let path = match class {
                Some(c) => format!("/v1/objects?class={c}"),
                None => "/v1/objects".into(),
            };
            let page = api.get(&path).await?;
            crate::commands::print_list(&api, &page["items"], &["id", "class", "size", "key_version", "recorded_at"]);
        }
        ObjectsCmd::Upload { client, file, class, interaction, content_type, consent } => {
            let api = Api::new(&client)?;
            let f = tokio::fs::File::open(&file).await.with_context(|| format!("opening {}", file.display()))?;
            let size = f.metadata().await?.len();
            let mut path = format!("/v1/objects?class={class}&size={size}");
            if consent {
                path.push_str("&consent=yes");
            }
            if let Some(i) = interaction {
                path.push_str(&format!("&interaction={i}"));
            }
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024));
            let resp = api
                .request(Method::POST, &path)
                .header("content-type", content_type)
                .header("content-length", size)
                .body(body)
                .send()
                .await?;
            let v = crate::client::answer(resp).await?;
            crate::commands::print_object(&api, &v);
        }
        ObjectsCmd::Verify { client, id, all } => {
            let api = Api::new(&client)?;
            let path = match (&id, all) {
                (Some(id), false) => format!("/v1/objects/{}/verify", crate::dial_cmds::segment(id)?),
                _ => "/v1/objects/verify".to_owned(),
            };
            let v = api.post(&path, &json!({})).await?;
            if api.json {
                println!("{v}");
            } else {
                let damaged = v["damaged"].as_array().cloned().unwrap_or_default();
                println!("{} object(s) checked, {} damaged", v["checked"], damaged.len());
                for d in &damaged {
                    println!("DAMAGED {}: {}", d["id"].as_str().unwrap_or(""), d["reason"].as_str().unwrap_or(""));
                }
                if !damaged.is_empty() {
                    return Ok(ExitCode::from(1));
                }
            }
        }
        ObjectsCmd::Get { client, id, output, range } => {
            let api = Api::new(&client)?;
            let mut req = api.request(Method::GET, &format!("/v1/objects/{id}/content"));
            if let Some(r) = range {
                req = req.header("range", format!("bytes={r}"));
            }
            let resp = req.send().await?;
            let n = crate::client::save_response(resp, &output).await?;
            eprintln!("{n} bytes written to {}", output.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `callvault unseal`: give one share to a sealed server (read from stdin).
pub async fn unseal(client: ClientArgs) -> anyhow::Result<ExitCode> {
    eprint!("Share: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let api = Api::new(&ClientArgs { token: None, ..client })?;
    let v = api.post("/v1/sys/unseal", &json!({ "share": line.trim() })).await?;
    if api.json {
        println!("{v}");
    } else if v["sealed"] == false {
        println!("Unsealed.");
    } else {
        println!("Share accepted: {} of {} given; still sealed.", v["progress"], v["threshold"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// `callvault lists …`
#[derive(Debug, Subcommand)]
pub enum ListsCmd {
    /// Calling lists.
    List(ClientArgs),
    /// Create a calling list; fields as name[:encrypted][:searchable][:required], comma-separated.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Name.
        name: String,
        /// e.g. `name:required,phone:encrypted:searchable,note:encrypted`.
        #[arg(long)]
        fields: String,
    },
    /// Import a CSV file (header row = field names); all or nothing.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        /// List id.
        id: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
    /// Records, decrypted; `--field F --equals V` searches.
    Records {
        #[command(flatten)]
        client: ClientArgs,
        /// List id.
        id: String,
        /// Field to search.
        #[arg(long)]
        field: Option<String>,
        /// Value.
        #[arg(long)]
        equals: Option<String>,
    },
}

/// `callvault lists`.
pub async fn lists(cmd: ListsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ListsCmd::List(args) => {
            let api = Api::new(&args)?;
            crate::commands::print_list(&api, &api.get("/v1/lists").await?, &["id", "name", "records", "created_at"]);
        }
        ListsCmd::Create { client, name, fields } => {
            let api = Api::new(&client)?;
            let defs: Vec<Value> = fields
                .split(',')
                .map(|f| {
                    let mut parts = f.trim().split(':');
                    let name = parts.next().unwrap_or_default();
                    let flags: Vec<&str> = parts.collect();
                    json!({ "name": name, "encrypted": flags.contains(&"encrypted"),
                            "searchable": flags.contains(&"searchable"), "required": flags.contains(&"required") })
                })
                .collect();
            let v = api.post("/v1/lists", &json!({ "kind": "calling_list", "name": name, "fields": defs })).await?;
            crate::commands::print_object(&api, &v);
        }
        ListsCmd::Import { client, id, file } => {
            let api = Api::new(&client)?;
            let data = tokio::fs::read(&file).await.with_context(|| format!("reading {}", file.display()))?;
            let path = format!("/v1/lists/{id}/import");
            let Some(v) =
                crate::client::send_file(&api, Method::POST, &path, &[], "text/csv", data.into(), &file).await?
            else {
                return Ok(ExitCode::FAILURE);
            };
            println!("Imported {} records.", v["imported"]);
        }
        ListsCmd::Records { client, id, field, equals } => {
            let api = Api::new(&client)?;
            let mut req = api.request(Method::GET, &format!("/v1/lists/{id}/records"));
            if let (Some(f), Some(e)) = (&field, &equals) {
                req = req.query(&[("field", f), ("equals", e)]);
            }
            let v = crate::client::answer(req.send().await?).await?;
            if api.json {
                println!("{v}");
            } else {
                for r in v.as_array().into_iter().flatten() {
                    println!("{}  {}", r["id"].as_str().unwrap_or_default(), r["fields"]);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `callvault operators …`
#[derive(Debug, Subcommand)]
pub enum OperatorsCmd {
    /// Provider operators.
    List(ClientArgs),
    /// Create an operator (password from stdin).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Login.
        login: String,
    },
}

/// `callvault operators`.
pub async fn operators(cmd: OperatorsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorsCmd::List(args) => {
            let api = Api::new(&args)?;
            crate::commands::print_list(&api, &api.get("/v1/operators").await?, &["id", "login", "created_at"]);
        }
        OperatorsCmd::Create { client, login } => {
            let api = Api::new(&client)?;
            eprint!("Initial password: ");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let v = api
                .post("/v1/operators", &json!({ "login": login, "password": line.trim_end_matches(['\n', '\r']) }))
                .await?;
            crate::commands::print_object(&api, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
