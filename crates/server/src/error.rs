//! The one place that maps errors to HTTP: `application/problem+json` (RFC 9457) with a stable
//! `type`, a human `title` and `detail`, and a correlation id on 5xx. Internal error text never
//! reaches a client; it is logged with the correlation id instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_store::{ConflictKind, StoreError};
use serde::Serialize;

/// Base of the problem type URIs.
pub const PROBLEM_BASE: &str = "urn:callvault:problem:";

/// An error answered to a client (boxed: it travels through every `Result` of the API).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    extra: Option<serde_json::Value>,
    internal: Option<String>,
    retry_after_secs: Option<u64>,
    /// For a 416: the object's size, sent as `Content-Range: bytes */SIZE`.
    range_size: Option<u64>,
}

/// The JSON body of a problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable problem type URI, e.g. `urn:callvault:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Correlation id of a server error, to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Structured details (e.g. the access decision that denied).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: None,
            internal: None,
            retry_after_secs: None,
            range_size: None,
        }))
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Malformed request", detail)
    }

    /// 422: the request is well-formed but its values are not acceptable.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input", detail)
    }

    /// 401: no valid credentials. The detail never says which part was wrong.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Authentication required", detail)
    }

    /// 403: the access engine denied; `decision` explains why.
    pub fn forbidden(detail: impl Into<String>, decision: Option<serde_json::Value>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail);
        e.0.extra = decision;
        e
    }

    /// 403 with a specific problem type (e.g. a second factor is required).
    pub fn forbidden_kind(kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, title, detail)
    }

    /// 404: nothing with this id in the caller's tenant.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", format!("no such {what}"))
    }

    /// 409: a duplicate, or an object still in use.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 413: the body is larger than allowed.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 416: the requested range lies outside the object of `size` bytes.
    pub fn range_not_satisfiable(size: u64) -> Self {
        let mut e = Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            "Range not satisfiable",
            format!("the requested range lies outside the object ({size} bytes)"),
        );
        e.0.extra = Some(serde_json::json!({ "size": size }));
        e.0.range_size = Some(size);
        e
    }

    /// An error the HTTP layer answered without a handler (a method the route does not have, a
    /// media type it does not take, a path or query that does not parse), as a problem.
    pub fn from_status(status: StatusCode) -> Self {
        let (kind, title, detail) = match status.as_u16() {
            400 => ("bad-request", "Malformed request", "the request could not be read"),
            404 => ("not-found", "Not found", "no such route"),
            405 => ("method-not-allowed", "Method not allowed", "this route does not take this method"),
            406 => ("not-acceptable", "Not acceptable", "no representation matches the Accept header"),
            408 => ("request-timeout", "Request timeout", "the request was not sent in time"),
            411 => ("length-required", "Length required", "declare the body's length"),
            413 => ("payload-too-large", "Request body too large", "the request body is too large"),
            415 => ("unsupported-media-type", "Unsupported media type", "this route does not take this Content-Type"),
            422 => ("invalid", "Invalid request", "the request body is not valid for this route"),
            431 => ("headers-too-large", "Request headers too large", "the request headers are too large"),
            s if s >= 500 => ("internal", "Internal error", "the server failed to handle the request"),
            _ => ("http-error", "Request refused", "the request was refused"),
        };
        Self::new(status, kind, title, detail)
    }

    /// 500 `integrity`: stored content failed its check (the security officers were told).
    pub fn integrity(kind: &'static str, reason: &str) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            if kind == "key" { "key-unavailable" } else { "integrity" },
            "Integrity check failed",
            format!("{reason}; nothing was sent and the security officers were told"),
        );
        e.0.internal = Some(format!("integrity failure: {reason}"));
        e
    }

    /// 410 `erased`: personal data that existed and was erased (retention or a request).
    pub fn erased(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "erased", "Erased", detail)
    }

    /// 410: a ceremony or share that existed but is gone (expired, already picked up).
    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", "Gone", detail)
    }

    /// Attaches structured details (e.g. every line error of an import).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.0.extra = Some(details);
        self
    }

    /// Replaces the human detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = detail.into();
        self
    }

    /// Overrides the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.0.status = status;
        self
    }

    /// Rewrites a 413 produced without knowing the configured limit.
    pub fn with_limit_from_status(mut self) -> Self {
        self.0.detail = "the request body exceeds the configured limit (max_body_bytes)".into();
        self
    }

    /// 429: try again later.
    pub fn too_many(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests", detail);
        e.0.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 503: not ready.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail)
    }

    /// 500: something failed inside. `internal` goes to the log only.
    pub fn internal(internal: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed to handle the request",
        );
        e.0.internal = Some(internal.to_string());
        e
    }

    /// The human detail.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The short title of the problem type.
    pub fn title(&self) -> &'static str {
        self.0.title
    }

    /// The problem type's last part (`not-found`, `forbidden`, …).
    pub fn kind(&self) -> &'static str {
        self.0.kind
    }

    /// Extra members of the problem document (a denial's decision, the fields at fault).
    pub fn extra(&self) -> Option<&serde_json::Value> {
        self.0.extra.as_ref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// Maps a store error for an object of kind `what`.
    pub fn from_store(e: StoreError, what: &str) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(what),
            StoreError::Conflict(ConflictKind::Duplicate) => {
                Self::conflict(format!("a {what} with this name already exists"))
            }
            StoreError::Conflict(ConflictKind::Reference) => {
                Self::conflict(format!("the {what} references a missing object or is still in use"))
            }
            other => Self::internal(other),
        }
    }
}

mod from_core;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let inner = *self.0;
        let correlation_id = if inner.status.is_server_error() {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(correlation_id = %id, error = inner.internal.as_deref().unwrap_or(""), "request failed");
            Some(id)
        } else {
            None
        };
        let body = Problem {
            kind: format!("{PROBLEM_BASE}{}", inner.kind),
            title: inner.title.to_owned(),
            status: inner.status.as_u16(),
            detail: inner.detail,
            correlation_id,
            details: inner.extra,
        };
        let mut resp = (inner.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(v) = inner.retry_after_secs.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = inner.range_size.and_then(|size| HeaderValue::from_str(&format!("bytes */{size}")).ok()) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests;
