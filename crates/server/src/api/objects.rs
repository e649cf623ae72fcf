//! Stored content: voice and screen recordings, chat and SMS transcripts, e-mail
//! bodies and attachments. Streaming upload with metadata, listing filtered by the access engine,
//! and playback or download with HTTP Range — through the API only: blobs on disk are ciphertext
//! when the tenant encrypts.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_core::vault::content;
use callvault_core::vault::integrity::VerifyReport;
use callvault_core::vault::uploads::{self, NewUpload, UploadError};
use callvault_model::personal::Consent;
use callvault_model::recording::RecordingKind;
use callvault_model::records::Timestamp;
use callvault_model::vault::{ContentClass, StoredObject};
use callvault_model::{ObjectId, ServiceId, UserId};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use callvault_core::vault::content::{ListParams, ObjectPage};

use crate::auth::{Ctx, Presented};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::state::AppState;

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
    /// The customer's answer when asked to consent to recording: `yes`, `no`, `not_required`,
    /// `no_answer` or `unknown` (the default); `true`/`false` are read as `yes`/`no`.
    pub consent: Option<String>,
    /// `personal` (the agents', the default when agents are named) or `quality_management` (the
    /// service's, the default otherwise).
    pub recording: Option<String>,
    /// Declared plaintext size in bytes (defaults to Content-Length).
    pub size: Option<u64>,
    /// Expected SHA-256 of the content, hex: the upload is refused when it differs.
    pub sha256: Option<String>,
}

/// Options of a content read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContentParams {
    /// Download as an attachment (needs `interaction:export`) instead of playing.
    #[serde(default)]
    pub download: bool,
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
    presented: Presented,
    Query(p): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<StoredObject>)> {
    // Small content (a chat or SMS transcript, an e-mail) is admitted from what this node
    // remembers, and committed only if none of it changed meanwhile; otherwise it is admitted
    // again from the store, with the body kept in memory.
    let small = declared_size(&p, &headers).ok().flatten().is_some_and(|s| s <= state.config.small_object_max_bytes);
    let mut body = Some(body);
    let mut kept = None;
    if small
        && let Some((ctx, admitted)) =
            uploads::admit_cached(&state, presented.token(), presented.request_id.clone(), presented.ip, p.service)
                .await
    {
        let meta = new_upload(&p, &headers)?;
        let bytes = keep(body.take(), meta.size).await?;
        match uploads::upload(&state, &ctx, admitted, meta, once(bytes.clone())).await {
            Err(UploadError::Stale) => kept = Some(bytes),
            stored => return Ok((StatusCode::CREATED, axum::Json(stored?))),
        }
    }
    // Admitted from the store. An upload is refused at its commit when what it was admitted on
    // changed meanwhile (a switch-off, a new key, a revocation): content kept in memory is
    // admitted again, a streamed body is answered 409 to be sent again.
    for _ in 0..3 {
        let ctx = presented.ctx(&state).await?;
        let admitted = uploads::admit(&state, &ctx, p.service).await?;
        let meta = new_upload(&p, &headers)?;
        if small && kept.is_none() {
            kept = Some(keep(body.take(), meta.size).await?);
        }
        let stored = match (&kept, body.take()) {
            (Some(bytes), _) => uploads::upload(&state, &ctx, admitted, meta, once(bytes.clone())).await,
            (None, Some(body)) => uploads::upload(&state, &ctx, admitted, meta, body.into_data_stream()).await,
            (None, None) => return Err(ApiError::internal("the upload's body was lost")),
        };
        match stored {
            Err(UploadError::Stale) if kept.is_some() => {}
            stored => return Ok((StatusCode::CREATED, axum::Json(stored?))),
        }
    }
    Err(UploadError::Busy("the tenant's settings kept changing during the upload; send it again".into()).into())
}

/// The body of small content, kept in memory (up to one byte more than declared, so that a
/// longer body is refused).
async fn keep(body: Option<Body>, size: u64) -> ApiResult<Bytes> {
    let Some(body) = body else { return Ok(Bytes::new()) };
    axum::body::to_bytes(body, usize::try_from(size).unwrap_or(usize::MAX).saturating_add(1)).await.map_err(|_| {
        ApiError::bad_request("the body was interrupted or is longer than its declared size; nothing was stored")
    })
}

/// Content kept in memory as a body stream.
fn once(bytes: Bytes) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Unpin {
    futures_util::stream::iter([Ok(bytes)])
}

/// The size declared by `?size=` and Content-Length (which must agree when both are given).
fn declared_size(p: &UploadParams, headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("bad Content-Length"))
        })
        .transpose()?;
    match (p.size, content_length) {
        (Some(a), Some(b)) if a != b => {
            Err(ApiError::bad_request("the declared size (size=) differs from Content-Length"))
        }
        (Some(a), _) | (None, Some(a)) => Ok(Some(a)),
        (None, None) => Ok(None),
    }
}

/// What the request declares about its content.
fn new_upload(p: &UploadParams, headers: &HeaderMap) -> ApiResult<NewUpload> {
    let Some(size) = declared_size(p, headers)? else {
        return Err(ApiError::bad_request("declare the size: Content-Length or ?size=")
            .with_status(StatusCode::LENGTH_REQUIRED));
    };
    let recorded_at = p
        .recorded_at
        .as_deref()
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map(|t| Timestamp(t.as_millisecond()))
                .map_err(|_| ApiError::invalid("recorded_at: an RFC 3339 instant such as 2026-11-23T10:00:00Z"))
        })
        .transpose()?;
    Ok(NewUpload {
        class: p.class,
        interaction: p.interaction.clone(),
        service: p.service,
        agents: parse_agents(p.agents.as_deref())?,
        contact_ref: p.contact_ref.clone(),
        recorded_at,
        consent: consent(p.consent.as_deref())?,
        recording: p
            .recording
            .as_deref()
            .map(|r| {
                RecordingKind::parse(r).ok_or_else(|| ApiError::invalid("recording: personal or quality_management"))
            })
            .transpose()?,
        content_type: content_type(headers)?,
        size,
        sha256: p.sha256.clone(),
    })
}

/// A consent outcome from a query parameter.
fn consent(v: Option<&str>) -> ApiResult<Consent> {
    match v {
        None => Ok(Consent::Unknown),
        Some("true") => Ok(Consent::Yes),
        Some("false") => Ok(Consent::No),
        Some(s) => {
            Consent::parse(s).ok_or_else(|| ApiError::invalid("consent: yes, no, not_required, no_answer or unknown"))
        }
    }
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
    Ok(axum::Json(content::list(&state, &ctx, p).await?))
}

/// One object's metadata.
#[utoipa::path(get, path = "/v1/objects/{id}", tag = "objects", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StoredObject), (status = 404, body = Problem)))]
async fn get_object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ObjectId>,
) -> ApiResult<axum::Json<StoredObject>> {
    Ok(axum::Json(content::get(&state, &ctx, id).await?))
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
    let range = range_header(&headers)?;
    let c = content::read(&state, &ctx, id, p.download, range).await?;
    Ok(content_response(c, p.download))
}

/// The `Range` header of a request, if any.
pub(crate) fn range_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(header::RANGE) {
        Some(v) => Ok(Some(v.to_str().map_err(|_| ApiError::bad_request("bad Range header"))?)),
        None => Ok(None),
    }
}

/// Content being read as a response: 200 or 206 with its range, never cached; audio and video
/// play inline with their declared type, anything else is an opaque download (stored content
/// never runs in callvault's origin). The API and the console's player both answer with it.
pub(crate) fn content_response(c: content::Content, download: bool) -> Response {
    let (o, start, end) = (&c.object, c.start, c.end);
    let mut response = Body::from_stream(c.body.map(|piece| piece.map(Bytes::from))).into_response();
    let h = response.headers_mut();
    let inline = plays_inline(&o.content_type).and_then(|m| HeaderValue::from_str(&m).ok());
    let playable = inline.is_some();
    h.insert(header::CONTENT_TYPE, inline.unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", o.sha256)) {
        h.insert(header::ETAG, v);
    }
    if (download || !playable)
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{}\"", o.id, o.class))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if c.partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, o.size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}

/// The type to play a stored object with inline: the essence of an audio or video type, or
/// `None` (served as an opaque attachment).
pub(crate) fn plays_inline(content_type: &str) -> Option<String> {
    media_type(content_type).filter(|m| m.starts_with("audio/") || m.starts_with("video/"))
}

/// Authenticates every segment of one object and its plaintext digest; a failure is reported
/// to the security officers and audited.
#[utoipa::path(post, path = "/v1/objects/{id}/verify", tag = "objects", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = VerifyReport), (status = 404, body = Problem)))]
async fn verify_object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<ObjectId>,
) -> ApiResult<axum::Json<VerifyReport>> {
    Ok(axum::Json(content::verify_one(&state, &ctx, id).await?))
}

/// Authenticates every object the caller may read (the scrub job does the same for all
/// tenants every `scrub_interval_secs`); damaged ones are listed and reported.
#[utoipa::path(post, path = "/v1/objects/verify", tag = "objects", security(("bearer" = [])),
    responses((status = 200, body = VerifyReport), (status = 403, body = Problem)))]
async fn verify_objects(State(state): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<VerifyReport>> {
    Ok(axum::Json(content::verify_all(&state, &ctx).await?))
}

#[cfg(test)]
mod tests {
    use super::plays_inline;

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
}
