//! What an agent does in the console: their recordings (played through Range requests, never
//! stored by the browser) and dial checks. Supervisors and quality managers see the same pages
//! with what their grants reach.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use callvault_core::dial_checks::{self, CheckRequest};
use callvault_core::vault::content::{self, ListParams};
use callvault_model::ObjectId;
use callvault_policy::dial::{Decision, Direction};
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::layout::{at, csrf, name_of, page, refusal};
use crate::api::objects::{content_response, plays_inline, range_header};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// `GET /recordings`: the content the viewer may play, newest first.
pub async fn recordings(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let list = content::list(
        &state,
        &viewer.ctx,
        ListParams { class: None, interaction: None, after: None, limit: Some(200) },
    )
    .await?;
    let mut items = list.items;
    items.sort_by_key(|o| std::cmp::Reverse(o.recorded_at.0));
    let body = html! {
        p { "Content you may play: your own recordings, and what your grants reach. Playing streams the audio; nothing is kept in the browser." }
        @if items.is_empty() {
            p.empty { "No recordings." }
        } @else {
            table {
                caption.visually-hidden { "Recordings" }
                thead { tr { th scope="col" { "Recorded" } th scope="col" { "Kind" } th scope="col" { "Interaction" } th scope="col" { "Size" } th scope="col" { "Play or open" } } }
                tbody {
                    @for o in &items {
                        tr {
                            td { (at(o.recorded_at)) }
                            td { (o.class) @if !o.paused.is_empty() { " · " (o.paused.len()) " pause(s)" } }
                            td { (o.interaction.as_deref().unwrap_or("—")) }
                            td.num { (kib(o.size)) }
                            td {
                                @if plays_inline(&o.content_type).is_some() {
                                    audio controls preload="none" src={ "/recordings/" (o.id) "/content" } aria-label={ "Recording of " (at(o.recorded_at)) } {
                                        a href={ "/recordings/" (o.id) "/content" } { "Play" }
                                    }
                                } @else {
                                    a href={ "/recordings/" (o.id) "/content" } { "Download" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "/recordings", "Recordings", body))
}

fn kib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// `GET /recordings/{id}/content`: the player's source, with `Range` (only the segments a range
/// touches are decrypted; every read is audited).
pub async fn content(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<ObjectId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let range = range_header(&headers)?;
    let c = content::read(&state, &viewer.ctx, id, false, range).await?;
    Ok(content_response(c, false))
}

/// `GET /dial-check`.
pub async fn dial_form(viewer: Viewer) -> Response {
    page(&viewer, "/dial-check", "Dial check", dial_body(&viewer, &DialForm::default(), None))
}

/// The dial-check form.
#[derive(Deserialize, Default)]
pub struct DialForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    consent: Option<String>,
}

fn dial_body(viewer: &Viewer, f: &DialForm, result: Option<Markup>) -> Markup {
    let dir = if f.direction.is_empty() { "outbound_call" } else { f.direction.as_str() };
    html! {
        p { "May this number be called or texted now, under your calling areas, calling hours, limits and do-not-call lists? Checking does not count as a call." }
        form.stack method="post" action="/dial-check" {
            (csrf(viewer))
            label for="number" { "Number" span.hint { " (E.164, e.g. +13055550100, or national)" } }
            input #number name="number" type="tel" required value=(f.number) autocomplete="off";
            label for="direction" { "Direction" }
            select #direction name="direction" {
                @for (v, label) in [("outbound_call", "Call"), ("outbound_text", "Text message"), ("inbound_call", "Incoming call")] {
                    option value=(v) selected[v == dir] { (label) }
                }
            }
            label for="zip" { "Contact's ZIP code" span.hint { " (optional)" } }
            input #zip name="zip" type="text" value=(f.zip) autocomplete="off";
            label.check { input name="consent" type="checkbox" value="1" checked[f.consent.is_some()]; " The contact gave prior express consent" }
            button type="submit" { "Check" }
        }
        @if let Some(r) = result { section #result aria-live="polite" { (r) } }
    }
}

/// `POST /dial-check`: the decision with every reason and the next allowed time.
pub async fn dial_check(State(state): State<AppState>, viewer: Viewer, Form(f): Form<DialForm>) -> Response {
    let direction = match f.direction.as_str() {
        "outbound_text" => Direction::OutboundText,
        "inbound_call" => Direction::InboundCall,
        _ => Direction::OutboundCall,
    };
    let check = CheckRequest {
        direction,
        number: f.number.trim().to_owned(),
        user: None,
        service: None,
        contact: callvault_policy::dial::Contact {
            zip: Some(f.zip.trim().to_owned()).filter(|z| !z.is_empty()),
            state: None,
            consent: f.consent.is_some(),
        },
        at: None,
        dry_run: true,
    };
    let result = match dial_checks::check(&state, &viewer.ctx, std::slice::from_ref(&check)).await {
        Ok(mut decisions) => match decisions.pop() {
            Some(d) => decision(&d),
            None => html! {},
        },
        Err(e) => refusal(&ApiError::from(e)),
    };
    page(&viewer, "/dial-check", "Dial check", dial_body(&viewer, &f, Some(result)))
}

fn decision(d: &Decision) -> Markup {
    html! {
        @if d.allowed {
            p.verdict.allowed { "✔ Allowed" }
        } @else {
            p.verdict.denied { "✖ Not allowed" }
        }
        @if let Some(n) = &d.number {
            p.facts { (n.e164) " · " (n.region.unwrap_or("?")) @if !n.places.is_empty() { " · " (n.places.join(", ")) } @if !n.zones.is_empty() { " · " (n.zones.join(", ")) } }
        }
        @if let Some(next) = d.next_allowed { p { "Next allowed: " strong { (next.strftime("%Y-%m-%d %H:%M UTC")) } } }
        ul.reasons {
            @for r in &d.reasons {
                li class=(if r.denies { "denies" } else { "ok" }) {
                    code { (name_of(&r.code)) }
                    " " (r.message) span.rule { " — " (&*r.rule) }
                }
            }
        }
    }
}
