//! Auditors: the tenant's audit log with filters, its signed tree head, and a verify button
//! (every entry re-hashed into the tree and the head's signature checked).

use axum::extract::State;
use axum::response::Response;
use callvault_core::audit::log::{self, Page};
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, notice, page, refusal, when};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// The filters.
#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: Option<i64>,
}

const PAGE: i64 = 200;

/// `GET /audit`.
pub async fn log(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, ApiError> {
    render(&state, &viewer, &f, None).await
}

async fn render(state: &AppState, viewer: &Viewer, f: &Filters, flash: Option<Markup>) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let head = log::tree_head(state, ctx).await.ok();
    let size = head.as_ref().map_or(0, |h| h.tree_size);
    // The newest page unless another is asked for.
    let from = f.from.unwrap_or((size - PAGE).max(0)).max(0);
    let mut entries = log::entries(state, ctx, &Page { from, limit: PAGE }).await?;
    entries.reverse();
    let action = f.action.trim().to_lowercase();
    let shown: Vec<_> = entries
        .iter()
        .filter(|e| action.is_empty() || e.entry["action"].as_str().is_some_and(|a| a.to_lowercase().contains(&action)))
        .filter(|e| f.outcome.is_empty() || e.entry["outcome"].as_str() == Some(f.outcome.as_str()))
        .collect();
    let last_index = (from + entries.len() as i64 - 1).max(from);
    let body = html! {
        @if let Some(fl) = flash { (fl) }
        section.treehead aria-labelledby="head" {
            h2 #head { "Signed tree head" }
            @match &head {
                Some(h) => p { (h.tree_size) " entries · signed " (at(h.timestamp)) " · root " code.wrap { (h.root_hash) } },
                None => p.empty { "No signed head yet." },
            }
            form method="post" action="/audit/verify" {
                (csrf(viewer))
                button type="submit" { "Verify the log" }
            }
        }
        h2 { "Entries" }
        form.inline method="get" action="/audit" {
            label for="action" { "Action contains" }
            input #action name="action" type="search" value=(f.action);
            label for="outcome" { "Outcome" }
            select #outcome name="outcome" {
                @for (v, l) in [("", "any"), ("success", "success"), ("denied", "denied"), ("failure", "failure")] {
                    option value=(v) selected[f.outcome == v] { (l) }
                }
            }
            label for="from" { "From entry" }
            input #from name="from" type="number" min="0" value=(from);
            button type="submit" { "Filter" }
        }
        p.hint { "Entries " (from) " to " (last_index) " of " (size) ", newest first; " (shown.len()) " match." }
        table.audit {
            thead { tr { th scope="col" { "#" } th scope="col" { "Time" } th scope="col" { "Action" } th scope="col" { "Outcome" } th scope="col" { "Actor" } th scope="col" { "Targets" } } }
            tbody {
                @for e in &shown {
                    tr {
                        td.num { (e.leaf_index) }
                        td { (when(e.entry["ts"].as_i64().unwrap_or(0))) }
                        td { code { (e.entry["action"].as_str().unwrap_or("")) } }
                        td { (e.entry["outcome"].as_str().unwrap_or("")) }
                        td { (compact(&e.entry["actor"])) }
                        td { (compact(&e.entry["targets"])) }
                    }
                }
            }
        }
    };
    Ok(page(viewer, "/audit", "Audit log", body))
}

/// A JSON value in one short line.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `POST /audit/verify`.
pub async fn verify(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let flash = match log::verify(&state, &viewer.ctx).await {
        Ok(r) => match &r.failure {
            None => notice(&format!(
                "Verified: {} entries and {} tree head(s) check out; {} not yet in a signed head.",
                r.entries_checked, r.tree_heads_checked, r.unsequenced
            )),
            Some(f) => html! { div.problem role="alert" { strong { "Verification failed: " } (f.reason) } },
        },
        Err(e) => refusal(&ApiError::from(e)),
    };
    render(&state, &viewer, &Filters::default(), Some(flash)).await
}
