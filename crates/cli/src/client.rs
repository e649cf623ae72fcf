//! The HTTP client of the admin commands.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Options every API command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(long, env = "CALLVAULT_URL", default_value = "http://127.0.0.1:8740", global = true)]
    pub url: String,
    /// Bearer token; defaults to the session saved by `callvault login`.
    #[arg(long, env = "CALLVAULT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Extra CA certificate (PEM) to trust for a self-signed server.
    #[arg(long, global = true)]
    pub ca_cert: Option<PathBuf>,
}

/// A configured API client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Print JSON.
    pub json: bool,
}

impl Api {
    /// Builds a client; reads the saved session when no token is given.
    pub fn new(args: &ClientArgs) -> anyhow::Result<Api> {
        let mut builder = reqwest::Client::builder().user_agent(concat!("callvault-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let token = match &args.token {
            Some(t) => Some(t.clone()),
            None => saved_token(&args.url),
        };
        Ok(Api { http: builder.build()?, base: args.url.trim_end_matches('/').to_owned(), token, json: args.json })
    }

    /// Sends a request and returns the JSON answer (`Null` for 204).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        if resp.status() == StatusCode::UNAUTHORIZED && self.token.is_none() {
            let e = answer(resp).await.err().map(|e| e.to_string()).unwrap_or_default();
            bail!("{e}\nhint: run `callvault login` first");
        }
        answer(resp).await
    }

    /// A request with the bearer token, for bodies and answers that are not JSON.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// POST.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// The JSON of an answer (`Null` for 204), or the problem's title and detail as the error.
pub async fn answer(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await?;
    if status == StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    if !status.is_success() {
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let detail = problem.get("detail").and_then(Value::as_str).unwrap_or(text.as_str());
        let title = problem.get("title").and_then(Value::as_str).unwrap_or("request failed");
        bail!("{title} ({status}): {detail}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).or(Ok(Value::String(text)))
}

/// The saved session: `{ "url": ..., "token": ... }`.
pub fn saved_token(url: &str) -> Option<String> {
    let text = std::fs::read_to_string(crate::session_file()).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    (v.get("url")?.as_str()? == url.trim_end_matches('/')).then(|| v.get("token")?.as_str().map(str::to_owned))?
}

/// Saves the session token with mode 0600, atomically.
pub fn save_token(url: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = crate::session_file();
    let dir = path.parent().context("session file has no directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".session.{}.tmp", std::process::id()));
    let body = serde_json::json!({ "url": url.trim_end_matches('/'), "token": token }).to_string();
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Removes the saved session.
pub fn forget_token() {
    let _ = std::fs::remove_file(crate::session_file());
}

/// Sends a file's content (imports of lists, rules, registries). A refusal is printed as
/// `file:line: message` per reported error, compiler style, and gives `None`; success gives the
/// JSON answer (or its text).
pub async fn send_file(
    api: &Api,
    method: Method,
    path: &str,
    query: &[(&str, String)],
    content_type: &str,
    body: reqwest::Body,
    file: &std::path::Path,
) -> anyhow::Result<Option<Value>> {
    let resp = api.request(method, path).query(query).header("content-type", content_type).body(body).send().await?;
    let ok = resp.status().is_success();
    let text = resp.text().await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    if !ok {
        eprintln!("error: {}", v["detail"].as_str().unwrap_or(&text));
        for e in v["details"]["errors"].as_array().into_iter().flatten() {
            eprintln!("{}:{}: {}", file.display(), e["line"], e["message"].as_str().unwrap_or_default());
        }
        return Ok(None);
    }
    Ok(Some(v))
}

/// Writes a streamed answer to `output` through a `.part` file renamed when complete; a
/// transfer the server stopped (content that failed its integrity check) leaves no file.
/// Returns the bytes written.
pub async fn save_response(mut resp: reqwest::Response, output: &std::path::Path) -> anyhow::Result<u64> {
    if !resp.status().is_success() {
        answer(resp).await?;
        bail!("download failed");
    }
    let expected = resp.content_length();
    let tmp = output.with_extension("part");
    let mut f = tokio::fs::File::create(&tmp).await?;
    let mut n = 0u64;
    let received = async {
        while let Some(chunk) = resp.chunk().await? {
            tokio::io::AsyncWriteExt::write_all(&mut f, &chunk).await?;
            n += chunk.len() as u64;
        }
        f.sync_all().await?;
        anyhow::Ok(())
    }
    .await;
    drop(f);
    let complete = received.is_ok() && expected.is_none_or(|e| e == n);
    if !complete {
        // A partial file must never look like the whole.
        let _ = tokio::fs::remove_file(&tmp).await;
        bail!(
            "integrity check failed: the server stopped the transfer after {n} bytes (the stored content \
             did not authenticate; the security officers were told); no file was written"
        );
    }
    tokio::fs::rename(&tmp, output).await?;
    Ok(n)
}
