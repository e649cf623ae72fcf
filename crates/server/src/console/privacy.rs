//! Data protection officers: finding a data subject by an identifier, the printable personal
//! data report, requests with their due dates, and erasure certificates.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use callvault_core::dpo::{self, NewDpoRequest};
use callvault_core::subjects::{self, SubjectQuery};
use callvault_model::personal::DpoRequestKind;
use callvault_model::{DpoRequestId, SubjectId};
use maud::{PreEscaped, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, name_of, notice, page, refusal};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;

/// The search form.
#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
}

/// `GET /subjects`: search by phone number, e-mail address, IP address or name.
pub async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, ApiError> {
    let value = q.value.trim().to_owned();
    let result = if value.is_empty() {
        None
    } else {
        let query = match q.kind.as_str() {
            "email" => SubjectQuery { email: Some(value), ..Default::default() },
            "ip" => SubjectQuery { ip: Some(value), ..Default::default() },
            "name" => SubjectQuery { name: Some(value), ..Default::default() },
            _ => SubjectQuery { phone: Some(value), ..Default::default() },
        };
        Some(subjects::search(&state, &viewer.ctx, &query).await.map_err(ApiError::from))
    };
    let kind = if q.kind.is_empty() { "phone" } else { q.kind.as_str() };
    let body = html! {
        p { "Find everything stored about a person by one of their identifiers. Identifiers seen together are linked into one subject." }
        form.inline method="get" action="/subjects" role="search" {
            label for="kind" { "Identifier" }
            select #kind name="kind" {
                @for (v, l) in [("phone", "Phone number"), ("email", "E-mail address"), ("ip", "IP address"), ("name", "Name")] {
                    option value=(v) selected[v == kind] { (l) }
                }
            }
            label for="value" { "Value" }
            input #value name="value" type="search" value=(q.value) required autocomplete="off";
            button type="submit" { "Search" }
        }
        @match &result {
            None => {},
            Some(Err(e)) => (refusal(e)),
            Some(Ok(found)) if found.is_empty() => p.empty { "No data subject has this identifier." },
            Some(Ok(found)) => {
                @for s in found {
                    article.subject {
                        h2 { "Subject " code { (s.id) } }
                        ul { @for i in &s.identifiers { li { (i.kind) ": " (i.value.expose()) } } }
                        p { (s.interactions.len()) " interaction(s), " (s.objects) " stored object(s)." }
                        p { a.button href={ "/subjects/" (s.id) "/report" } { "Open the personal data report" } }
                        form.inline method="post" action="/requests" {
                            (csrf(&viewer))
                            input type="hidden" name="subject_id" value=(s.id);
                            label for={ "req-" (s.id) } { "Open a request" }
                            select id={ "req-" (s.id) } name="kind" {
                                option value="access" { "Access (report)" }
                                option value="export" { "Export (archive)" }
                            }
                            button type="submit" { "Open request" }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "/subjects", "Personal data", body))
}

/// `GET /subjects/{id}/report`: the report in the console's page, printable (the style sheet
/// hides the navigation when printing).
pub async fn report(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<SubjectId>,
) -> Result<Response, ApiError> {
    let rep = dpo::report(&state, &viewer.ctx, id).await?;
    let body = html! {
        p.noprint { button.print type="button" data-print="" { "Print" } }
        div.report { (PreEscaped(dpo::report_body_html(&rep))) }
    };
    let mut r = page(&viewer, "/subjects", "Personal data report", body);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /requests`: the tenant's requests, due dates first.
pub async fn requests(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render(&state, &viewer, None).await
}

async fn render(state: &AppState, viewer: &Viewer, flash: Option<maud::Markup>) -> Result<Response, ApiError> {
    let mut list = dpo::list(state, &viewer.ctx).await?;
    list.sort_by_key(|r| (r.completed_at.is_some(), r.due_at.0));
    let now = state.clock.now().millis();
    let body = html! {
        @if let Some(f) = flash { (f) }
        @if list.is_empty() { p.empty { "No requests." } }
        @else {
            table {
                thead { tr { th scope="col" { "Kind" } th scope="col" { "State" } th scope="col" { "Subject" } th scope="col" { "Opened" } th scope="col" { "Due" } th scope="col" { "" } } }
                tbody {
                    @for r in &list {
                        @let kind = name_of(&r.kind);
                        @let st = name_of(&r.state);
                        tr class=(if r.completed_at.is_none() && r.due_at.0 < now { "expired" } else { "" }) {
                            td { (kind) } td { (st) }
                            td { a href={ "/subjects/" (r.subject_id) "/report" } { code { (r.subject_id) } } }
                            td { (at(r.created_at)) }
                            td { (at(r.due_at)) @if r.extended_reason.is_some() { " (extended)" } }
                            td { @if kind == "erase" && r.completed_at.is_some() { a href={ "/requests/" (r.id) "/certificate" } { "Erasure certificate" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(viewer, "/requests", "Data protection requests", body))
}

/// A new access or export request.
#[derive(Deserialize)]
pub struct NewRequest {
    subject_id: SubjectId,
    kind: String,
}

/// `POST /requests`: opens an access or export request (due in 30 days); erasures and
/// rectifications, which need the confirmed identifiers, stay with the API and CLI.
pub async fn create_request(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewRequest>,
) -> Result<Response, ApiError> {
    let kind = match f.kind.as_str() {
        "export" => DpoRequestKind::Export,
        _ => DpoRequestKind::Access,
    };
    let new = NewDpoRequest { kind, subject_id: f.subject_id, confirm_identifiers: Vec::new(), rectify: None };
    let flash = match dpo::create(&state, &viewer.ctx, new).await {
        Ok(r) => notice(&format!("Request opened; due {}.", at(r.due_at))),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render(&state, &viewer, Some(flash)).await
}

/// `GET /requests/{id}/certificate`: an erasure's certificate (the tenant's signed tree head and
/// the inclusion proofs of the erasure's audit entries).
pub async fn certificate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<DpoRequestId>,
) -> Result<Response, ApiError> {
    let c = dpo::certificate(&state, &viewer.ctx, id).await?;
    let body = html! {
        p { "Request " code { (c.request_id) } " for subject " code { (c.subject_id) } @if let Some(t) = c.completed_at { ", completed " (at(t)) } "." }
        p { "Tree head: " (c.tree_head.tree_size) " entries, root " code.wrap { (c.tree_head.root_hash) } ", signed " (at(c.tree_head.timestamp)) "." }
        p { (c.entries.len()) " audit entries proven included." }
        details { summary { "Certificate (JSON, verifiable offline with " code { "callvault dpo verify-certificate" } ")" }
            pre { (serde_json::to_string_pretty(&c).unwrap_or_default()) } }
    };
    Ok(page(&viewer, "/requests", "Erasure certificate", body))
}
