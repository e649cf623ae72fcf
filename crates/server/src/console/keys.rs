//! Security officers: the encryption state, key versions with their age against the
//! cryptoperiod, dual-control ceremonies proposed and approved from two browsers (each with
//! password + TOTP), and the key jobs with live progress.

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use callvault_core::caller::Ctx;
use callvault_core::vault::ceremony;
use callvault_core::vault::status::{self, JobView, KeyVersionView};
use callvault_model::vault::{Ceremony, CeremonyKind, EncryptionSettings};
use callvault_model::{CeremonyId, PrincipalId, SecretString};
use futures_util::Stream;
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, name_of, notice, page, refusal};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// Ceremonies a security officer proposes from this page, with what they do.
const PROPOSALS: &[(&str, &str)] = &[
    ("new_key", "New data key version (rotation): new content is sealed under it"),
    ("rewrap", "Rewrap every object's content key under the active version"),
    ("reencrypt", "Re-encrypt all content under the active version"),
    ("enable_encryption", "Enable encryption at rest for this contact center"),
];

/// The keys page, with the outcome of a form on top.
async fn render(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let ctx = &viewer.ctx;
    let enc = status::encryption(state, ctx).await?;
    let versions = status::key_versions(state, ctx).await?;
    let ceremonies = status::ceremonies(state, ctx).await.unwrap_or_default();
    let settings = enc.settings.clone();
    let body = html! {
        @if let Some(f) = flash { (f) }
        p.state {
            "Encryption at rest: "
            @if enc.active { strong.ok { "active" } } @else { strong.warn { "inactive" } }
            // The provider kind only (`file`, `pkcs11`, …): the key's location stays on the server.
            " · key-encryption key: " code { (enc.kek.split(':').next().unwrap_or("")) }
            @if let Some(s) = &settings { " · cryptoperiod " (s.cryptoperiod_days) " days, reminder " (s.reminder_days) " days before" }
        }
        h2 { "Data key versions" }
        table {
            thead { tr { th scope="col" { "Version" } th scope="col" { "State" } th scope="col" { "Created" } th scope="col" { "Age (days)" } th scope="col" { "Objects" } th scope="col" { "Records" } th scope="col" { "Identifiers" } } }
            tbody {
                @for v in &versions { (version_row(v, settings.as_ref())) }
            }
        }
        h2 { "Propose a key operation" }
        p.hint { "Every key operation needs a second security officer's approval (dual control). Both confirm with their password and authenticator code." }
        form.stack method="post" action="/ceremonies" {
            (csrf(viewer))
            fieldset {
                legend { "Operation" }
                @for (i, (kind, label)) in PROPOSALS.iter().enumerate() {
                    label.check { input type="radio" name="kind" value=(kind) checked[i == 0] required; " " (label) }
                }
            }
            (credentials("propose"))
            button type="submit" { "Propose" }
        }
        h2 { "Ceremonies" }
        @if ceremonies.is_empty() { p.empty { "None." } }
        @for c in &ceremonies { (ceremony_card(viewer, c)) }
        h2 { "Jobs" }
        div #jobs hx-sse:connect="/jobs/stream" hx-swap="innerHTML" { (jobs_table(&status::jobs(state, ctx).await.unwrap_or_default())) }
    };
    Ok(page(viewer, "/keys", "Keys and ceremonies", body))
}

/// `GET /keys`.
pub async fn keys_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render(&state, &viewer, None).await
}

fn version_row(v: &KeyVersionView, s: Option<&EncryptionSettings>) -> Markup {
    let period = i64::from(s.map_or(365, |s| s.cryptoperiod_days));
    let reminder = i64::from(s.map_or(15, |s| s.reminder_days));
    let state = name_of(&v.state);
    let (class, note) = if state != "active" {
        ("", "")
    } else if v.expired || v.age_days >= period {
        ("expired", " — past its cryptoperiod: rotate now")
    } else if v.age_days >= period - reminder {
        ("due", " — rotation due soon")
    } else {
        ("", "")
    };
    html! {
        tr class=(class) {
            td.num { "v" (v.version) }
            td { (state) }
            td { (at(v.created_at)) }
            td.num { (v.age_days) (note) }
            td.num { (v.objects) } td.num { (v.records) } td.num { (v.identifiers) }
        }
    }
}

pub(super) fn credentials(prefix: &str) -> Markup {
    html! {
        label for={ (prefix) "-password" } { "Your password" }
        input id={ (prefix) "-password" } name="password" type="password" required autocomplete="current-password";
        label for={ (prefix) "-totp" } { "Authenticator code" }
        input id={ (prefix) "-totp" } name="totp" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code";
    }
}

pub(super) fn ceremony_card(viewer: &Viewer, c: &Ceremony) -> Markup {
    let state = name_of(&c.state);
    let kind = name_of(&c.kind);
    let mine = c.proposer == viewer.ctx.principal;
    html! {
        article.ceremony data-kind=(kind) data-state=(state) {
            h3 { (kind.replace('_', " ")) " — " span.state { (state) } }
            p.meta { "Proposed " (at(c.created_at)) " by " (who(&c.proposer, &viewer.ctx)) @if state == "proposed" { " · expires " (at(c.expires_at)) } }
            @if state == "proposed" {
                @if mine {
                    p.hint { "Waiting for another security officer's approval." }
                } @else {
                    form.stack method="post" action={ "/ceremonies/" (c.id) "/approve" } {
                        (csrf(viewer))
                        (credentials(&format!("approve-{}", c.id)))
                        button type="submit" { "Approve" }
                    }
                }
            }
            @if state == "completed" && !c.result.is_null() { details { summary { "Result" } pre { (serde_json::to_string_pretty(&c.result).unwrap_or_default()) } } }
        }
    }
}

fn who(p: &PrincipalId, me: &Ctx) -> String {
    if *p == me.principal { "you".to_owned() } else { p.to_string() }
}

/// The password and code of a ceremony form.
#[derive(Deserialize)]
pub struct ProposeForm {
    kind: String,
    password: SecretString,
    totp: SecretString,
}

/// `POST /ceremonies`.
pub async fn propose(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<ProposeForm>,
) -> Result<Response, ApiError> {
    let flash = match serde_json::from_value::<CeremonyKind>(serde_json::Value::String(f.kind.clone())) {
        Err(_) => refusal(&ApiError::invalid(format!("unknown operation `{}`", f.kind))),
        Ok(kind) => {
            match ceremony::propose(&state, &viewer.ctx, kind, &serde_json::json!({}), &f.password, &f.totp).await {
                Ok(_) => notice("Proposed. Another security officer approves it from their own session."),
                Err(e) => refusal(&ApiError::from(e)),
            }
        }
    };
    after_form(&state, &viewer, flash).await
}

/// The page a ceremony form returns to: the operator's for provider ceremonies, else the keys.
async fn after_form(state: &AppState, viewer: &Viewer, flash: Markup) -> Result<Response, ApiError> {
    if viewer.ctx.tenant.is_none() {
        super::operator::render(state, viewer, Some(flash)).await
    } else {
        render(state, viewer, Some(flash)).await
    }
}

/// The approval form.
#[derive(Deserialize)]
pub struct ApproveForm {
    password: SecretString,
    totp: SecretString,
}

/// `POST /ceremonies/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<CeremonyId>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, ApiError> {
    let flash = match ceremony::approve(&state, &viewer.ctx, id, &f.password, &f.totp).await {
        Ok(c) => notice(&format!("Approved: the ceremony is {}.", name_of(&c.state))),
        Err(e) => refusal(&ApiError::from(e)),
    };
    after_form(&state, &viewer, flash).await
}

fn jobs_table(jobs: &[JobView]) -> Markup {
    html! {
        @if jobs.is_empty() { p.empty { "No jobs." } }
        @else {
            table {
                thead { tr { th scope="col" { "Job" } th scope="col" { "State" } th scope="col" { "Progress" } th scope="col" { "Started" } } }
                tbody {
                    @for j in jobs {
                        @let kind = name_of(&j.job.kind);
                        @let state = name_of(&j.job.state);
                        tr {
                            td { (kind) @if let Some(v) = j.job.target_version { " → v" (v) } }
                            td { (state) @if j.job.failures > 0 { " · " (j.job.failures) " failures" } }
                            td {
                                progress max=(j.job.objects_total.max(1)) value=(j.job.objects_done) aria-label={ (kind) " progress" } { (j.job.objects_done) " / " (j.job.objects_total) }
                                " " (j.job.objects_done) " / " (j.job.objects_total)
                                @if let Some(eta) = j.eta_secs { " · about " (eta.ceil()) " s left" }
                            }
                            td { (at(j.job.created_at)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /jobs/stream`: the jobs table again every second while the page is open.
pub async fn jobs_stream(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // Refused now (not as an empty stream) when the viewer may not read jobs.
    status::jobs(&state, &viewer.ctx).await?;
    let ctx = viewer.ctx.clone();
    let events = futures_util::stream::unfold((state.clone(), ctx), |(state, ctx)| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let jobs = status::jobs(&state, &ctx).await.ok()?;
        let event = SseEvent::default().data(jobs_table(&jobs).into_string());
        Some((Ok(event), (state, ctx)))
    });
    let events = super::while_signed_in(state, viewer.token.clone(), events);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
