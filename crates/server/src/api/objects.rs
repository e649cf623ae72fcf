//! Stored content: voice and screen recordings, chat and SMS transcripts, e-mail
//! bodies and attachments. Streaming upload with metadata, listing filtered by the access engine,
//! and playback or download with HTTP Range — through the API only: blobs on disk are ciphertext
//! when the tenant encrypts.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_model::access::{Action, Resource};
use callvault_model::records::Timestamp;
use callvault_model::vault::{ContentClass, StoredObject};
use callvault_model::{ObjectId, PrincipalId, ServiceId, TenantId, UserId};
use callvault_policy::access::{Decision, ResourceRef};
use callvault_store::ObjectQuery;
use callvault_store::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::state::AppState;
use callvault_core::vault::uploads::{self, NewUpload};
use callvault_core::vault::{ContentError, read_plain};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_objects, upload_object))
        .routes(routes!(get_object))
        .routes(routes!(object_content))
        .routes(routes!(verify_object))
        .routes(routes!(verify_objects))
}

/// Metadata of an upload, as query parameters; the body is the content.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Content class.
    pub class: ContentClass,
    /// Interaction id (call, chat, e-mail thread) in the contact center's own numbering.
    pub interaction: Option<String>,
    /// Service or campaign.
    pub service: Option<ServiceId>,
    /// Agents on the interaction, comma-separated user ids.
    pub agents: Option<String>,
    /// Reference to the customer contact (a CRM id; never a phone number or name).
    pub contact_ref: Option<String>,
    /// When it was recorded (RFC 3339); defaults to now.
    pub recorded_at: Option<String>,
    /// Whether the customer consented to recording.
    #[serde(default)]
    pub consent: bool,
    /// Declared plaintext size in bytes (defaults to Content-Length).
    pub size: Option<u64>,
    /// Expected SHA-256 of the content, hex: the upload is refused when it differs.
    pub sha256: Option<String>,
}

/// Filters of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this class.
    pub class: Option<ContentClass>,
    /// Only this interaction.
    pub interaction: Option<String>,
    /// Ids after this one (paging).
    pub after: Option<ObjectId>,
    /// Page size (1..=500, default 100).
    pub limit: Option<i64>,
}

/// A page of objects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectPage {
    /// Objects the caller may see.
    pub items: Vec<StoredObject>,
    /// Pass as `after` for the next page.
    pub next: Option<ObjectId>,
}

/// Options of a content read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContentParams {
    /// Download as an attachment (needs `interaction:export`) instead of playing.
    #[serde(default)]
    pub download: bool,
}

fn base_ref(o: &StoredObject) -> ResourceRef<'_> {
    ResourceRef { services: o.service_id.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, o.tenant_id) }
}

/// The decision for an object: allowed when allowed for the object as a whole or as owned by
/// any of its agents.
fn decide_object(ctx: &Ctx, action: Action, o: &StoredObject) -> (Decision, Option<UserId>) {
    let mut first = (ctx.decide(action, &base_ref(o)), None);
    if first.0.is_allowed() {
        return first;
    }
    for agent in &o.agents {
        let d = ctx.decide(action, &base_ref(o).with_owner(PrincipalId::User(*agent)));
        if d.is_allowed() {
            return (d, Some(*agent));
        }
        if first.1.is_none() {
            first.1 = Some(*agent);
        }
    }
    first
}

pub(super) async fn authorize_object(state: &AppState, ctx: &Ctx, action: Action, o: &StoredObject) -> ApiResult<()> {
    let (_, owner) = decide_object(ctx, action, o);
    let r = match owner {
        Some(a) => base_ref(o).with_owner(PrincipalId::User(a)),
        None => base_ref(o),
    };
    ctx.authorize(state, action, &r).await?;
    Ok(())
}

fn parse_agents(s: Option<&str>) -> ApiResult<Vec<UserId>> {
    let Some(s) = s.filter(|s| !s.is_empty()) else { return Ok(Vec::new()) };
    s.split(',')
        .map(|a| a.trim().parse::<UserId>().map_err(|_| ApiError::invalid("agents: comma-separated user ids")))
        .collect()
}

/// Uploads content (streamed; encrypted on the way in when the tenant encrypts).
#[utoipa::path(post, path = "/v1/objects", tag = "objects", security(("bearer" = [])), params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = StoredObject), (status = 400, body = Problem), (status = 411, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn upload_object(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<StoredObject>)> {
    // Authorization before anything is read: a caller who may not upload learns nothing more.
    let tenant = ctx.tenant()?;
    ctx.authorize(
        &state,
        Action::Create,
        &ResourceRef { services: p.service.as_slice(), ..ResourceRef::tenant_wide(Resource::Interaction, tenant) },
    )
    .await?;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("bad Content-Length"))
        })
        .transpose()?;
    let size = match (p.size, content_length) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(format!("declared size {a} differs from Content-Length {b}")));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(ApiError::bad_request("declare the size: Content-Length or ?size=")
                .with_status(StatusCode::LENGTH_REQUIRED));
        }
    };
    let recorded_at = p
        .recorded_at
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map(|t| Timestamp(t.as_millisecond()))
                .map_err(|_| ApiError::invalid("recorded_at: an RFC 3339 instant such as 2026-11-23T10:00:00Z"))
        })
        .transpose()?;
    let meta = NewUpload {
        class: p.class,
        interaction: p.interaction,
        service: p.service,
        agents: parse_agents(p.agents.as_deref())?,
        contact_ref: p.contact_ref,
        recorded_at,
        consent: p.consent,
        content_type: content_type(&headers)?,
        size,
        sha256: p.sha256,
    };
    let object = uploads::upload(&state, &ctx, meta, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, axum::Json(object)))
}

fn content_type(headers: &HeaderMap) -> ApiResult<String> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else { return Ok("application/octet-stream".into()) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("bad Content-Type"))?;
    if s.len() > 128 || media_type(s).is_none() {
        return Err(ApiError::bad_request(
            "Content-Type: one media type such as audio/wav or text/plain; charset=utf-8 (no lists)",
        ));
    }
    Ok(s.trim().to_owned())
}

/// The essence (`type/subtype`, lower case) of exactly one media type (RFC 9110 8.3.1:
/// `type "/" subtype *( OWS ";" OWS parameter )`, parameters as token=token); `None` for
/// anything else, a list of types in particular.
fn media_type(value: &str) -> Option<String> {
    let token =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let mut parts = value.split(';');
    let (kind, sub) = parts.next()?.trim().split_once('/')?;
    if !token(kind) || !token(sub) {
        return None;
    }
    for p in parts {
        let (name, val) = p.trim().split_once('=')?;
        if !token(name) || !token(val) {
            return None;
        }
    }
    Some(format!("{}/{}", kind.to_ascii_lowercase(), sub.to_ascii_lowercase()))
}

/// Lists objects the caller may see.
#[utoipa::path(get, path = "/v1/objects", tag = "objects", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = ObjectPage), (status = 403, body = Problem)))]
async fn list_objects(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<ObjectPage>> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, Resource::Interaction) {
        ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::Interaction, tenant)).await?;
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1..=500"));
    }
    let page = state
        .store
        .reader()
        .await?
        .objects(tenant, &ObjectQuery { class: p.class, interaction: p.interaction, after: p.after, limit })
        .await?;
    let next = (page.len() as i64 == limit).then(|| page.last().map(|o| o.id)).flatten();
    let items = page.into_iter().filter(|o| decide_object(&ctx, Action::Read, o).0.is_allowed()).collect();
    Ok(axum::Json(ObjectPage { items, next }))
}

async fn load(state: &AppState, tenant: TenantId, id: ObjectId) -> ApiResult<StoredObject> {
    state.store.reader().await?.object(tenant, id).await.map_err(|e| ApiError::from_store(e, "object"))
}

/// One object's metadata.
#[utoipa::path(get, path = "/v1/objects/{id}", tag = "objects", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StoredObject), (status = 404, body = Problem)))]
async fn get_object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ObjectId>,
) -> ApiResult<axum::Json<StoredObject>> {
    let o = load(&state, ctx.tenant()?, id).await?;
    authorize_object(&state, &ctx, Action::Read, &o).await?;
    Ok(axum::Json(o))
}

/// Parses a single `bytes=` range against an object of `size` bytes: `[start, end)`.
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    // RFC 9110 14.2: a range unit the server does not understand is ignored; several ranges
    // (multipart answers) are not offered, so such a request gets the whole content.
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(|| ApiError::bad_request("Range: bytes=start-end"))?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| ApiError::bad_request("Range: bytes=start-end"));
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Err(ApiError::bad_request("Range: bytes=start-end")),
        (true, false) => {
            let n = num(b)?;
            if n == 0 {
                return Err(ApiError::range_not_satisfiable(size));
            }
            (size.saturating_sub(n), size)
        }
        (false, true) => (num(a)?, size),
        (false, false) => {
            let (s, e) = (num(a)?, num(b)?);
            if e < s {
                return Err(ApiError::bad_request("Range: end before start"));
            }
            (s, e.saturating_add(1).min(size))
        }
    };
    if start >= size || start >= end {
        return Err(ApiError::range_not_satisfiable(size));
    }
    Ok(Some((start, end)))
}

/// Plays or downloads an object's content; supports `Range: bytes=`. Only the segments the
/// range touches are decrypted. Every read is audited.
#[utoipa::path(get, path = "/v1/objects/{id}/content", tag = "objects", security(("bearer" = [])),
    params(("id" = String, Path), ContentParams),
    responses((status = 200, description = "the content"), (status = 206, description = "a byte range"),
        (status = 404, body = Problem), (status = 416, body = Problem)))]
async fn object_content(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ObjectId>,
    Query(p): Query<ContentParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = ctx.tenant()?;
    let o = load(&state, tenant, id).await?;
    let action = if p.download { Action::Export } else { Action::Listen };
    authorize_object(&state, &ctx, action, &o).await?;
    let range = match headers.get(header::RANGE) {
        Some(v) => parse_range(v.to_str().map_err(|_| ApiError::bad_request("bad Range header"))?, o.size)?,
        None => None,
    };
    let (start, end) = range.unwrap_or((0, o.size));
    let dk = match o.key_version {
        Some(v) => Some(state.vault.data_key(&mut state.store.reader().await?, tenant, v).await?),
        None => None,
    };
    let event = ctx
        .event(if p.download { "object.export" } else { "object.read" })
        .target("object", o.id)
        .origin(ctx.origin(&state))
        .details(serde_json::json!({ "class": o.class, "range": [start, end], "decrypted": o.key_version.is_some() }));
    state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, ContentError>>(4);
    let path = state.vault.blobs.path(tenant, &o.blob);
    let object = o.clone();
    tokio::task::spawn_blocking(move || {
        let mut client_gone = false;
        let result = read_plain(&path, &object, dk.as_deref(), start, end, &mut |piece: &mut [u8]| {
            tx.blocking_send(Ok(Bytes::copy_from_slice(piece))).map_err(|_| {
                client_gone = true;
                ContentError::Io(std::io::Error::other("client went away"))
            })
        });
        if let Err(e) = result
            && !client_gone
        {
            let _ = tx.blocking_send(Err(e));
        }
    });
    // The first segment of the range is authenticated before the status line goes out: a
    // damaged start is an integrity error, never a 200 with a cut-off body.
    let first = match rx.recv().await {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(e)) => {
            let failed = callvault_core::vault::integrity::report(&state, Some(&ctx), &o, (start, end), &e).await;
            return Err(failed.into());
        }
        None => None,
    };
    // A failure after the headers aborts the response (the client sees a broken transfer, never
    // a short "complete" body) and is reported like one before them.
    let (alert_state, alert_ctx, alert_object) = (state.clone(), ctx.clone(), o.clone());
    let rest = futures_util::stream::unfold(Some((rx, alert_state, alert_ctx, alert_object)), move |st| async move {
        let (mut rx, state, ctx, o) = st?;
        match rx.recv().await? {
            Ok(bytes) => Some((Ok(bytes), Some((rx, state, ctx, o)))),
            Err(e) => {
                let _ = callvault_core::vault::integrity::report(&state, Some(&ctx), &o, (start, end), &e).await;
                Some((Err(std::io::Error::other("content failed its integrity check")), None))
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::iter(first.map(Ok::<_, std::io::Error>)).chain(rest));
    let mut response = body.into_response();
    let h = response.headers_mut();
    // Media a browser plays (audio, video) keep their declared type and play inline; anything
    // else (HTML, SVG, scripts, documents) is an opaque download, so stored content never runs
    // in the API's origin.
    let inline = plays_inline(&o.content_type).and_then(|m| HeaderValue::from_str(&m).ok());
    let playable = inline.is_some();
    h.insert(header::CONTENT_TYPE, inline.unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", o.sha256)) {
        h.insert(header::ETAG, v);
    }
    if (p.download || !playable)
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{}\"", o.id, o.class))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, o.size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// The type to play a stored object with inline: the essence of an audio or video type, or
/// `None` (served as an opaque attachment).
fn plays_inline(content_type: &str) -> Option<String> {
    media_type(content_type).filter(|m| m.starts_with("audio/") || m.starts_with("video/"))
}

/// Authenticates every segment of one object and its plaintext digest; a failure is reported
/// to the security officers and audited.
#[utoipa::path(post, path = "/v1/objects/{id}/verify", tag = "objects", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = callvault_core::vault::integrity::VerifyReport), (status = 404, body = Problem)))]
async fn verify_object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ObjectId>,
) -> ApiResult<axum::Json<callvault_core::vault::integrity::VerifyReport>> {
    let o = load(&state, ctx.tenant()?, id).await?;
    authorize_object(&state, &ctx, Action::Read, &o).await?;
    let mut report = callvault_core::vault::integrity::VerifyReport { checked: 1, damaged: Vec::new() };
    if let Err(e) = callvault_core::vault::integrity::verify(&state, &o).await {
        let reason = callvault_core::vault::integrity::reason(&e).to_owned();
        let _ = callvault_core::vault::integrity::report(&state, Some(&ctx), &o, (0, o.size), &e).await;
        report.damaged.push(callvault_core::vault::integrity::Damaged { id: o.id, reason });
    }
    audit_verify(&state, &ctx, &report).await?;
    Ok(axum::Json(report))
}

/// Authenticates every object the caller may read (the scrub job does the same for all
/// tenants every `scrub_interval_secs`); damaged ones are listed and reported.
#[utoipa::path(post, path = "/v1/objects/verify", tag = "objects", security(("bearer" = [])),
    responses((status = 200, body = callvault_core::vault::integrity::VerifyReport), (status = 403, body = Problem)))]
async fn verify_objects(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<axum::Json<callvault_core::vault::integrity::VerifyReport>> {
    let tenant = ctx.tenant()?;
    if !ctx.may_somewhere(Action::Read, Resource::Interaction) {
        ctx.authorize(&state, Action::Read, &ResourceRef::tenant_wide(Resource::Interaction, tenant)).await?;
    }
    let report = callvault_core::vault::integrity::verify_tenant(&state, Some(&ctx), tenant, |o| {
        decide_object(&ctx, Action::Read, o).0.is_allowed()
    })
    .await?;
    audit_verify(&state, &ctx, &report).await?;
    Ok(axum::Json(report))
}

async fn audit_verify(
    state: &AppState,
    ctx: &Ctx,
    report: &callvault_core::vault::integrity::VerifyReport,
) -> ApiResult<()> {
    let event = ctx
        .event("object.verify")
        .origin(ctx.origin(state))
        .details(serde_json::json!({ "checked": report.checked, "damaged": report.damaged.len() }));
    state.auditor.record_now(state.clock.now(), &event).await.map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::{parse_range, plays_inline};

    #[test]
    fn only_one_audio_or_video_type_plays_inline() {
        for (t, essence) in [
            ("audio/wav", "audio/wav"),
            ("audio/ogg; codecs=opus", "audio/ogg"),
            ("video/mp4", "video/mp4"),
            ("AUDIO/MPEG", "audio/mpeg"),
        ] {
            assert_eq!(plays_inline(t).as_deref(), Some(essence), "{t}");
        }
        for t in [
            "text/html",
            "image/svg+xml",
            "application/pdf",
            "audio/",
            "audio",
            "text/html; x=audio/wav",
            "",
            "audio/x;a=b,text/html",
            "video/x; charset=utf-8, image/svg+xml",
            "audio/x,text/html",
            "audio/x; a=\"b,text/html\"",
        ] {
            assert_eq!(plays_inline(t), None, "{t}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100).unwrap_err().status().as_u16(), 416);
        assert_eq!(parse_range("bytes=-0", 100).unwrap_err().status().as_u16(), 416);
        assert_eq!(parse_range("bytes=5-1", 100).unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None, "an unknown unit is ignored");
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None, "several ranges: the whole content");
        assert_eq!(parse_range("bytes=x-1", 100).unwrap_err().status().as_u16(), 400);
    }
}
