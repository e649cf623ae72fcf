//! Administrators: users, roles and grants (a grant that would give one person conflicting
//! duties is refused with the reason; a custodian appointment becomes a ceremony), and the
//! calling-hour rules editor with line-numbered errors.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use callvault_core::dial_admin::policy;
use callvault_core::directory::Outcome;
use callvault_core::directory::access::{self, CreateGrant};
use callvault_core::directory::users::{self, CreateUser};
use callvault_model::access::Scope;
use callvault_model::records::Grantee;
use callvault_model::{RoleId, SecretString, UserId};
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, notice, page, refusal, refusal_with_lines};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /users`.
pub async fn users(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render_users(&state, &viewer, None).await
}

async fn render_users(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let mut list = users::list(state, &viewer.ctx).await?;
    list.sort_by(|a, b| a.login.expose().cmp(b.login.expose()));
    let body = html! {
        @if let Some(f) = flash { (f) }
        h2 { "New user" }
        form.stack method="post" action="/users" autocomplete="off" {
            (csrf(viewer))
            label for="login" { "Login" }
            input #login name="login" type="text" required;
            label for="first_name" { "First name" }
            input #first_name name="first_name" type="text" required;
            label for="last_name" { "Last name" }
            input #last_name name="last_name" type="text" required;
            label for="password" { "First password" span.hint { " (the user replaces it at first login)" } }
            input #password name="password" type="password" required autocomplete="new-password";
            button type="submit" { "Create user" }
        }
        h2 { "Users" }
        table {
            thead { tr { th scope="col" { "Login" } th scope="col" { "Name" } th scope="col" { "Created" } } }
            tbody {
                @for u in &list {
                    tr { td { (u.login.expose()) } td { (u.first_name.expose()) " " (u.last_name.expose()) } td { (at(u.created_at)) } }
                }
            }
        }
    };
    Ok(page(viewer, "/users", "Users", body))
}

/// The new-user form.
#[derive(Deserialize)]
pub struct NewUser {
    login: String,
    first_name: String,
    last_name: String,
    password: SecretString,
}

/// `POST /users`.
pub async fn create_user(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewUser>,
) -> Result<Response, ApiError> {
    let new = CreateUser {
        login: f.login.trim().to_owned(),
        first_name: f.first_name.trim().to_owned(),
        last_name: f.last_name.trim().to_owned(),
        addresses: Vec::new(),
        password: Some(f.password),
        assignments: None,
    };
    let flash = match users::create(&state, &viewer.ctx, new).await {
        Ok(u) => notice(&format!("User {} created.", u.login.expose())),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render_users(&state, &viewer, Some(flash)).await
}

/// `GET /grants`.
pub async fn grants(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render_grants(&state, &viewer, None).await
}

async fn render_grants(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let roles = access::roles(state, ctx).await?;
    let grants = access::grants(state, ctx).await?;
    let people = users::list(state, ctx).await?;
    let logins: HashMap<UserId, String> = people.iter().map(|u| (u.id, u.login.expose().clone())).collect();
    let role_names: HashMap<RoleId, &str> = roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let body = html! {
        @if let Some(f) = flash { (f) }
        h2 { "Grant a role" }
        p.hint { "Roles whose duties conflict (identity administration, key custody, content access, audit) are never granted to one person; appointing a key custodian needs a second approval." }
        form.stack method="post" action="/grants" {
            (csrf(viewer))
            label for="user" { "User" }
            select #user name="user" required {
                @for u in &people { option value=(u.id) { (u.login.expose()) " — " (u.first_name.expose()) " " (u.last_name.expose()) } }
            }
            label for="role" { "Role" }
            select #role name="role" required {
                @for r in &roles { option value=(r.id) { (r.name) } }
            }
            p.hint { "Scope: the whole contact center." }
            button type="submit" { "Grant" }
        }
        h2 { "Grants" }
        table {
            thead { tr { th scope="col" { "Who" } th scope="col" { "Role" } th scope="col" { "Scope" } th scope="col" { "Since" } } }
            tbody {
                @for g in &grants {
                    tr {
                        td { @match g.grantee { Grantee::User(u) => (logins.get(&u).cloned().unwrap_or_else(|| u.to_string())), Grantee::ServiceAccount(s) => { "service account " (s) } } }
                        td { (role_names.get(&g.role_id).copied().unwrap_or("?")) }
                        td { @match &g.scope { Scope::Tenant => "whole contact center", Scope::Limited { .. } => "limited" } }
                        td { (at(g.created_at)) }
                    }
                }
            }
        }
        h2 { "Roles" }
        ul.roles { @for r in &roles { li { strong { (r.name) } @if !r.description.is_empty() { " — " (r.description) } " (" (r.privileges.len()) " privileges)" } } }
    };
    Ok(page(viewer, "/grants", "Roles and grants", body))
}

/// The grant form.
#[derive(Deserialize)]
pub struct NewGrant {
    user: UserId,
    role: RoleId,
}

/// `POST /grants`: the grant, a proposal for a second approver, or the refusal explained.
pub async fn create_grant(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewGrant>,
) -> Result<Response, ApiError> {
    let new = CreateGrant { grantee: Grantee::User(f.user), role_id: f.role, scope: Scope::Tenant };
    let flash = match access::create_grant(&state, &viewer.ctx, new).await {
        Ok(Outcome::Done(_)) => notice("Role granted."),
        Ok(Outcome::Proposed(_)) => notice(
            "This role makes the user a key custodian: the appointment is proposed and waits for a second approval.",
        ),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render_grants(&state, &viewer, Some(flash)).await
}

/// `GET /rules`: the calling-hour rules in force, in an editor.
pub async fn rules(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let text = policy::rules(&state, &viewer.ctx).await?;
    Ok(rules_page(&viewer, &text, None))
}

fn rules_page(viewer: &Viewer, text: &str, flash: Option<Markup>) -> Response {
    let body = html! {
        @if let Some(f) = flash { (f) }
        p { "Calling hours, closed days, holidays and calls-per-24-hours limits, one rule per line. A text with any error is refused whole; nothing changes until it is correct." }
        form.stack method="post" action="/rules" {
            (csrf(viewer))
            label for="text" { "Rules" }
            textarea #text name="text" rows="24" spellcheck="false" { (text) }
            button type="submit" { "Save rules" }
        }
    };
    page(viewer, "/rules", "Calling rules", body)
}

/// The rules form.
#[derive(Deserialize)]
pub struct RulesForm {
    text: String,
}

/// `POST /rules`: saved, or refused with every error and its line.
pub async fn save_rules(State(state): State<AppState>, viewer: Viewer, Form(f): Form<RulesForm>) -> Response {
    // Browsers send text areas with CRLF line ends.
    let text = f.text.replace("\r\n", "\n");
    match policy::replace_rules(&state, &viewer.ctx, &text).await {
        Ok(saved) => rules_page(&viewer, &saved, Some(notice("Rules saved and in force."))),
        Err(e) => rules_page(&viewer, &text, Some(refusal_with_lines(&ApiError::from(e)))),
    }
}
