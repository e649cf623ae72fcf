//! Administrators' calling areas: where users, teams and services may call, as inclusions and
//! exceptions over countries, regions, NANP area codes, line types and prefixes (one clause per
//! line); a definition that does not compile into a policy is refused whole, with the reason.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use callvault_core::dial_admin::policy;
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{csrf, notice, page, refusal};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /areas`.
pub async fn areas(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render(&state, &viewer, None, None).await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    flash: Option<Markup>,
    draft: Option<&AreaForm>,
) -> Result<Response, ApiError> {
    let list = policy::areas(state, &viewer.ctx).await?;
    let body = html! {
        @if let Some(f) = flash { (f) }
        @if list.is_empty() { p.empty { "No calling areas yet: the tenant's domestic default applies." } }
        table {
            thead { tr { th scope="col" { "Area" } th scope="col" { "Includes" } th scope="col" { "Except" } } }
            tbody {
                @for a in &list {
                    tr { th scope="row" { (a.name) } td { (a.include.join(", ")) } td { (a.except.join(", ")) } }
                }
            }
        }
        h2 { "Define or replace an area" }
        p.hint { "One clause per line: " code { "country:44" } " (a country calling code; 1 is all of NANP), " code { "region:US" } ", " code { "area_code:305" } ", " code { "kind:mobile" } ", " code { "prefix:1900" } " or " code { "any" } "." }
        form.stack method="post" action="/areas" {
            (csrf(viewer))
            label for="area-name" { "Name" }
            input #area-name name="name" type="text" required value=(draft.map_or("", |d| d.name.as_str()));
            label for="area-include" { "Includes" }
            textarea #area-include name="include" rows="4" spellcheck="false" { (draft.map_or("", |d| d.include.as_str())) }
            label for="area-except" { "Except" }
            textarea #area-except name="except" rows="3" spellcheck="false" { (draft.map_or("", |d| d.except.as_str())) }
            button type="submit" { "Save area" }
        }
    };
    Ok(page(viewer, "/areas", "Calling areas", body))
}

/// The area form.
#[derive(Deserialize)]
pub struct AreaForm {
    name: String,
    #[serde(default)]
    include: String,
    #[serde(default)]
    except: String,
}

fn clauses(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// `POST /areas`: saved, or refused whole with the reason (the form keeps what was typed).
pub async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<AreaForm>,
) -> Result<Response, ApiError> {
    let name = f.name.trim();
    let document = serde_json::json!({ "name": name, "include": clauses(&f.include), "except": clauses(&f.except) });
    match policy::put_area(&state, &viewer.ctx, name, document).await {
        Ok(a) => render(&state, &viewer, Some(notice(&format!("Area {} saved and in force.", a.name))), None).await,
        Err(e) => render(&state, &viewer, Some(refusal(&ApiError::from(e))), Some(&f)).await,
    }
}
