//! Provider operators: the tenants with their capabilities and encryption state, switching
//! encryption on for a tenant, and the KEK backup ceremony of two operators (shares picked up
//! once each).

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use callvault_core::tenants::{self, UpdateTenant};
use callvault_core::vault::ceremony;
use callvault_core::vault::status;
use callvault_model::records::Capabilities;
use callvault_model::{CeremonyId, SecretString, TenantId};
use maud::{Markup, html};
use serde::Deserialize;

use super::Viewer;
use super::keys::{ceremony_card, credentials};
use super::layout::{at, csrf, notice, page, refusal};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// `GET /tenants`.
pub async fn tenants(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    render(&state, &viewer, None).await
}

/// The operator's page, with the outcome of a form on top.
pub async fn render(state: &AppState, viewer: &Viewer, flash: Option<Markup>) -> Result<Response, ApiError> {
    let list = tenants::list_with_encryption(state, &viewer.ctx).await?;
    let ceremonies = status::ceremonies(state, &viewer.ctx).await.unwrap_or_default();
    let body = html! {
        @if let Some(f) = flash { (f) }
        table {
            thead { tr { th scope="col" { "Tenant" } th scope="col" { "Name" } th scope="col" { "Since" } th scope="col" { "Encryption capability" } th scope="col" { "Encryption at rest" } } }
            tbody {
                @for (t, active) in &list {
                    tr {
                        td { code { (t.slug) } }
                        td { (t.display_name) }
                        td { (at(t.created_at)) }
                        td {
                            @if t.capabilities.encryption { "enabled" } @else {
                                form.inline method="post" action={ "/tenants/" (t.id) "/encryption" } {
                                    (csrf(viewer))
                                    button type="submit" aria-label={ "Enable encryption for " (t.slug) } { "Enable encryption" }
                                }
                            }
                        }
                        td { @if *active { strong.ok { "active" } } @else { strong.warn { "inactive" } } }
                    }
                }
            }
        }
        p.hint { "Enabling the capability lets the tenant's security officers switch encryption on by a dual-control ceremony; their keys stay theirs." }
        h2 { "Key-encryption key backup" }
        p.hint { "A backup splits the KEK into shares for the operators; it needs a second operator's approval, and each share is shown once." }
        form.stack method="post" action="/ceremonies" {
            (csrf(viewer))
            input type="hidden" name="kind" value="kek_backup";
            (credentials("backup"))
            button type="submit" { "Propose a KEK backup" }
        }
        @for c in &ceremonies {
            (ceremony_card(viewer, c))
            @if c.state == callvault_model::vault::CeremonyState::Completed && c.kind == callvault_model::vault::CeremonyKind::KekBackup {
                form.stack method="post" action={ "/ceremonies/" (c.id) "/share" } {
                    (csrf(viewer))
                    (credentials(&format!("share-{}", c.id)))
                    button type="submit" { "Pick up my share (shown once)" }
                }
            }
        }
    };
    Ok(page(viewer, "/tenants", "Tenants", body))
}

/// `POST /tenants/{id}/encryption`: the tenant's encryption capability switched on (the other
/// capabilities unchanged).
pub async fn enable_encryption(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<TenantId>,
) -> Result<Response, ApiError> {
    let current = tenants::get(&state, &viewer.ctx, id).await?;
    let capabilities = Capabilities { encryption: true, ..current.capabilities };
    let flash = match tenants::update(
        &state,
        &viewer.ctx,
        id,
        UpdateTenant { display_name: None, capabilities: Some(capabilities) },
    )
    .await
    {
        Ok(t) => notice(&format!("Encryption enabled for {}.", t.slug)),
        Err(e) => refusal(&ApiError::from(e)),
    };
    render(&state, &viewer, Some(flash)).await
}

/// The share pick-up form.
#[derive(Deserialize)]
pub struct ShareForm {
    password: SecretString,
    totp: SecretString,
}

/// `POST /ceremonies/{id}/share`: the caller's KEK share, shown once.
pub async fn pickup_share(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<CeremonyId>,
    Form(f): Form<ShareForm>,
) -> Result<Response, ApiError> {
    match ceremony::pickup_share(&state, &viewer.ctx, id, &f.password, &f.totp).await {
        Ok(share) => {
            let share = SecretString::new(share);
            let body = html! {
                p { "Your share of the key-encryption key. Store it offline now: it is not shown again." }
                p { code.wrap #share { (share.expose()) } }
                p { a href="/tenants" { "Done" } }
            };
            Ok(page(&viewer, "/tenants", "Your KEK share", body))
        }
        Err(e) => render(&state, &viewer, Some(refusal(&ApiError::from(e)))).await,
    }
}
