//! Administrators' directory (teams, skills, services and campaigns) and do-not-call lists:
//! internal numbers added and removed one by one, registry copies imported from a file (streamed
//! from the upload into the importer, refused whole with line numbers on any bad line).

use std::pin::Pin;

use axum::Form;
use axum::extract::{Multipart, State};
use axum::response::Response;
use callvault_core::dial_admin::dnc::{self, NewDncList};
use callvault_core::directory::units;
use callvault_crypto::digest::ct_eq;
use callvault_model::DncListId;
use callvault_model::access::{Action, Resource};
use callvault_model::dial::DncListKind;
use callvault_model::records::{Service, ServiceKind, Skill, Team};
use futures_util::Stream;
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, notice, page, refusal, refusal_with_lines};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// `GET /directory`.
pub async fn directory(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render_directory(&state, &viewer, None).await
}

async fn render_directory(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let teams: Vec<Team> = units::list(state, ctx).await?;
    let skills: Vec<Skill> = units::list(state, ctx).await.unwrap_or_default();
    let services: Vec<Service> = units::list(state, ctx).await.unwrap_or_default();
    let body = html! {
        @if let Some(f) = flash { (f) }
        form.inline method="post" action="/directory" {
            (csrf(viewer))
            label for="unit-kind" { "New" }
            select #unit-kind name="kind" {
                option value="team" { "Team" }
                option value="skill" { "Skill" }
                option value="inbound" { "Inbound service" }
                option value="campaign" { "Campaign" }
            }
            label for="unit-name" { "Name" }
            input #unit-name name="name" type="text" required;
            button type="submit" { "Create" }
        }
        h2 { "Teams" }
        ul { @for t in &teams { li { (t.name) } } }
        h2 { "Skills" }
        ul { @for s in &skills { li { (s.name) } } }
        h2 { "Services and campaigns" }
        ul { @for s in &services { li { (s.name) " — " (s.kind.as_str()) } } }
    };
    Ok(page(viewer, "/directory", "Teams, skills and services", body))
}

/// A new team, skill, service or campaign.
#[derive(Deserialize)]
pub struct NewUnit {
    kind: String,
    name: String,
}

/// `POST /directory`: look-alike names of an existing unit are refused with the reason.
pub async fn create_unit(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewUnit>,
) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let name = f.name.trim();
    let done = match f.kind.as_str() {
        "team" => units::create_team(&state, ctx, name).await.map(|t| t.name),
        "skill" => units::create_skill(&state, ctx, name).await.map(|s| s.name),
        "campaign" => units::create_service(&state, ctx, name, ServiceKind::Campaign).await.map(|s| s.name),
        _ => units::create_service(&state, ctx, name, ServiceKind::Inbound).await.map(|s| s.name),
    };
    let flash = match done {
        Ok(n) => notice(&format!("{n} created.")),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render_directory(&state, &viewer, Some(flash)).await
}

/// `GET /dnc`.
pub async fn dnc_lists(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render_dnc(&state, &viewer, None).await
}

async fn render_dnc(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let lists = dnc::lists(state, &viewer.ctx).await?;
    let may_add = viewer.ctx.may_somewhere(Action::Create, Resource::DoNotCall);
    let may_remove = viewer.ctx.may_somewhere(Action::Delete, Resource::DoNotCall);
    let body = html! {
        @if let Some(f) = flash { (f) }
        p { "Internal lists hold the numbers of customers who asked not to be called (always honoured); registry copies are replaced whole from the registry's file." }
        @for l in &lists {
            article.subject {
                h2 { (l.name) }
                p.meta {
                    @match l.kind { DncListKind::Internal => "internal", DncListKind::Registry => "registry copy" }
                    " · " (l.entries) " numbers"
                    @if let Some(t) = l.refreshed_at { " · refreshed " (at(t)) }
                    @if let Some(h) = &l.file_sha256 { " · file " code { (h.get(..12).unwrap_or(h)) } }
                }
                @match l.kind {
                    DncListKind::Internal if may_add || may_remove => {
                        form.inline method="post" action={ "/dnc/" (l.id) "/numbers" } {
                            (csrf(viewer))
                            label for={ "num-" (l.id) } { "Number" }
                            input id={ "num-" (l.id) } name="number" type="tel" required autocomplete="off";
                            label for={ "op-" (l.id) } { "Action" }
                            select id={ "op-" (l.id) } name="op" {
                                @if may_add { option value="add" { "Add" } }
                                @if may_remove { option value="remove" { "Remove" } }
                            }
                            button type="submit" { "Apply" }
                        }
                    }
                    DncListKind::Internal => {}
                    DncListKind::Registry => {
                        form.inline method="post" action={ "/dnc/" (l.id) "/import" } enctype="multipart/form-data" {
                            // The form token first: the importer reads it before the file.
                            (csrf(viewer))
                            label for={ "file-" (l.id) } { "Registry file" }
                            input id={ "file-" (l.id) } name="file" type="file" required accept=".txt,.csv,text/plain,text/csv";
                            button type="submit" { "Import" }
                        }
                    }
                }
            }
        }
        h2 { "New list" }
        form.inline method="post" action="/dnc" {
            (csrf(viewer))
            label for="dnc-name" { "Name" }
            input #dnc-name name="name" type="text" required;
            label for="dnc-kind" { "Kind" }
            select #dnc-kind name="kind" { option value="internal" { "Internal" } option value="registry" { "Registry copy" } }
            button type="submit" { "Create list" }
        }
    };
    Ok(page(viewer, "/dnc", "Do-not-call lists", body))
}

/// A new list.
#[derive(Deserialize)]
pub struct NewList {
    name: String,
    kind: String,
}

/// `POST /dnc`.
pub async fn create_list(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewList>,
) -> Result<Response, ApiError> {
    let kind = if f.kind == "registry" { DncListKind::Registry } else { DncListKind::Internal };
    let flash =
        match dnc::create(&state, &viewer.ctx, NewDncList { name: f.name.trim().to_owned(), kind, country_code: None })
            .await
        {
            Ok(l) => notice(&format!("List {} created.", l.name)),
            Err(e) => refusal(&ApiError::from(e)),
        };
    render_dnc(&state, &viewer, Some(flash)).await
}

/// A number added to or removed from an internal list.
#[derive(Deserialize)]
pub struct NumberForm {
    number: String,
    op: String,
}

/// `POST /dnc/{id}/numbers`.
pub async fn number(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<DncListId>,
    Form(f): Form<NumberForm>,
) -> Result<Response, ApiError> {
    let result = if f.op == "remove" {
        dnc::remove_number(&state, &viewer.ctx, id, &f.number).await.map(|()| "Number removed.")
    } else {
        dnc::add_number(&state, &viewer.ctx, id, &f.number).await.map(|_| "Number added.")
    };
    let flash = match result {
        Ok(text) => notice(text),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render_dnc(&state, &viewer, Some(flash)).await
}

/// `POST /dnc/{id}/import` (multipart): the form token field first, then the file, streamed into
/// the importer. The guard lets a multipart body through only on this route, unread; the token is
/// checked here before anything else is read.
pub async fn import(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<DncListId>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let token_ok = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("_csrf") => {
            field.text().await.is_ok_and(|t| ct_eq(t.as_bytes(), viewer.csrf.as_bytes()))
        }
        _ => false,
    };
    if !token_ok {
        return Err(ApiError::forbidden(
            "the form is out of date or did not come from this console (missing or wrong form token); reload the page and try again",
            None,
        ));
    }
    let field = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("file") => field,
        _ => return Err(ApiError::invalid("choose the registry file to import")),
    };
    let stream: Pin<
        Box<dyn Stream<Item = Result<axum::body::Bytes, axum::extract::multipart::MultipartError>> + Send + '_>,
    > = Box::pin(field);
    let flash = match dnc::import(&state, &viewer.ctx, id, None, stream).await {
        Ok(r) => notice(&format!(
            "Imported: {} numbers read, {} distinct; the new copy is in force.",
            r.numbers_read, r.distinct
        )),
        Err(e) => refusal_with_lines(&ApiError::from(e)),
    };
    render_dnc(&state, &viewer, Some(flash)).await
}
