//! The one place that maps errors to HTTP: `application/problem+json` (RFC 9457) with a stable
//! `type`, a human `title` and `detail`, and a correlation id on 5xx. Internal error text never
//! reaches a client; it is logged with the correlation id instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callvault_core::audit::AppendError;
use callvault_core::audit::log::AuditReadError;
use callvault_core::caller::AccessError;
use callvault_core::calls::CallError;
use callvault_core::calls::feed::FeedError;
use callvault_core::collection::CollectionError;
use callvault_core::custody::CustodyError;
use callvault_core::diagnostics::DiagnosticsError;
use callvault_core::dial::DialError;
use callvault_core::dial_admin::DialAdminError;
use callvault_core::dial_checks::DialCheckError;
use callvault_core::directory::DirectoryError;
use callvault_core::dpo::DpoError;
use callvault_core::identity::IdentityError;
use callvault_core::input::InputError;
use callvault_core::lists::ListError;
use callvault_core::lists::records::RecordError;
use callvault_core::recording::RecordingError;
use callvault_core::reporting::ReportingError;
use callvault_core::retention::RetentionError;
use callvault_core::stations::StationError;
use callvault_core::subjects::SubjectError;
use callvault_core::tenants::TenantError;
use callvault_core::vault::KeyError;
use callvault_core::vault::ceremony::CeremonyError;
use callvault_core::vault::content::ContentReadError;
use callvault_core::vault::integrity::IntegrityFailure;
use callvault_core::vault::jobs::JobError;
use callvault_core::vault::status::StatusError;
use callvault_core::vault::uploads::UploadError;
use callvault_core::webhooks::WebhookError;
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::from_store(e, "object")
    }
}

// Every error of the services becomes a problem here and nowhere else. The matches are
// exhaustive: a new variant does not compile until it is given its answer, and
// `tests::every_core_error_variant_has_its_answer` pins each answer.

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> Self {
        Self::internal(e)
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated(detail) => Self::unauthenticated(detail),
            AccessError::EnrolmentRequired => Self::forbidden_kind(
                "totp-enrollment-required",
                "Second factor enrolment required",
                AccessError::EnrolmentRequired.to_string(),
            ),
            AccessError::Denied(decision) => Self::forbidden(decision.explain(), serde_json::to_value(&decision).ok()),
            AccessError::OperatorNoTenantData => Self::forbidden(
                AccessError::OperatorNoTenantData.to_string(),
                Some(serde_json::json!({ "decision": "deny", "reason": "operator_no_tenant_data" })),
            ),
            AccessError::NotAUser => Self::forbidden(AccessError::NotAUser.to_string(), None),
            AccessError::Audit(e) => e.into(),
            AccessError::Store(e) => e.into(),
            AccessError::WrongPermit { .. } | AccessError::Internal(_) => Self::internal(e),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        let detail = e.to_string();
        match e {
            IdentityError::LoginFailed => Self::unauthenticated(detail),
            IdentityError::SecondFactorRequired => {
                Self::forbidden_kind("second-factor-required", "Second factor required", detail)
            }
            IdentityError::ReauthenticationFailed => {
                Self::forbidden_kind("reauthentication-failed", "Re-authentication failed", detail)
            }
            IdentityError::TotpRequired => Self::forbidden_kind("totp-required", "Second factor required", detail),
            IdentityError::NoCredentials => Self::forbidden(detail, None),
            IdentityError::MailNotConfigured
            | IdentityError::TotpAlreadyEnrolled
            | IdentityError::EnrolmentNotStarted => Self::conflict(detail),
            IdentityError::NotYourAddress
            | IdentityError::CodeWrongOrExpired
            | IdentityError::WeakPassword(_)
            | IdentityError::TotpMismatch => Self::invalid(detail),
            IdentityError::NoSuchSession => Self::not_found("session"),
            IdentityError::NotASession => Self::invalid(detail),
            IdentityError::Access(e) => e.into(),
            IdentityError::StoredSecret(_) | IdentityError::Internal(_) => Self::internal(detail),
            IdentityError::Audit(e) => e.into(),
            IdentityError::Store(e) => e.into(),
        }
    }
}

impl From<CustodyError> for ApiError {
    fn from(e: CustodyError) -> Self {
        let detail = e.to_string();
        match e {
            CustodyError::SeparationOfDuties(conflict) => {
                Self::forbidden_kind("separation-of-duties", "Separation of duties", detail)
                    .with_details(serde_json::json!({ "conflict": conflict }))
            }
            CustodyError::DualControl(_) => Self::forbidden_kind("dual-control", "Dual control", detail),
            CustodyError::CoolingOff { .. } => Self::forbidden_kind("cooling-off", "Custodian cooling-off", detail),
            CustodyError::NoSuchCeremony => Self::not_found("ceremony"),
            CustodyError::NotProposed(_) => Self::conflict(detail),
            CustodyError::Expired => Self::gone(detail),
            CustodyError::Row { what, error } => Self::from_store(error, what),
            CustodyError::Identity(e) => e.into(),
            CustodyError::Access(e) => e.into(),
            CustodyError::Audit(e) => e.into(),
            CustodyError::Store(e) => e.into(),
            CustodyError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<CeremonyError> for ApiError {
    fn from(e: CeremonyError) -> Self {
        let detail = e.to_string();
        match e {
            CeremonyError::InvalidParams(_) => Self::invalid(detail),
            CeremonyError::Precondition(_) | CeremonyError::NotProposed(_) => Self::conflict(detail),
            CeremonyError::NoSuchCeremony => Self::not_found("ceremony"),
            CeremonyError::Expired | CeremonyError::SharePickedUp => Self::gone(detail),
            CeremonyError::SameApprover => Self::forbidden_kind("dual-control", "Dual control", detail),
            CeremonyError::NoShareForYou => Self::forbidden_kind("not-a-custodian", "Not a custodian", detail),
            CeremonyError::Custody(e) => e.into(),
            CeremonyError::Identity(e) => e.into(),
            CeremonyError::Access(e) => e.into(),
            CeremonyError::Audit(e) => e.into(),
            CeremonyError::Store(e) => e.into(),
            CeremonyError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NoSuchVersion(_) | KeyError::Retired(_) => Self::conflict(e.to_string()),
            KeyError::Wrap(_) | KeyError::Unwrap(_) => Self::internal(e),
            KeyError::Store(e) => e.into(),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Key(e) => e.into(),
            JobError::Field(e) => e.into(),
            JobError::Identifier(e) => e.into(),
            JobError::Inconsistent(_) | JobError::Io(_) => Self::internal(e),
            JobError::Store(e) => e.into(),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::InvalidFields(detail) => Self::invalid(detail),
            ListError::Sealed(_) => Self::internal(e),
        }
    }
}

impl From<DialError> for ApiError {
    fn from(e: DialError) -> Self {
        match e {
            DialError::StoredPolicy(_) | DialError::WriterStopped | DialError::Persist(_) => Self::internal(e),
            DialError::Access(e) => e.into(),
            DialError::Store(e) => e.into(),
        }
    }
}

impl From<DialCheckError> for ApiError {
    fn from(e: DialCheckError) -> Self {
        match e {
            DialCheckError::Invalid(detail) => Self::invalid(detail),
            DialCheckError::Access(e) => e.into(),
            DialCheckError::Dial(e) => e.into(),
            DialCheckError::Audit(e) => e.into(),
            DialCheckError::Store(e) => e.into(),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Access(e) => e.into(),
            UploadError::Invalid(detail) => Self::invalid(detail),
            UploadError::TooLarge(limit) => Self::too_large(usize::try_from(limit).unwrap_or(usize::MAX)),
            UploadError::Incomplete(_) => Self::bad_request(e.to_string()),
            UploadError::ShaMismatch => Self::invalid(e.to_string()),
            UploadError::Busy(detail) => Self::conflict(detail),
            UploadError::Key(e) => e.into(),
            UploadError::Content(_) | UploadError::Internal(_) => Self::internal(e),
            UploadError::Audit(e) => e.into(),
            UploadError::Store(e) => e.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Access(e) => e.into(),
            WebhookError::Invalid(detail) => Self::invalid(detail),
            WebhookError::TooMany(_) => Self::conflict(e.to_string()),
            WebhookError::NoSuchWebhook => Self::not_found("webhook"),
            WebhookError::Wrap(_) => Self::internal(e),
            WebhookError::Audit(e) => e.into(),
            WebhookError::Store(e) => e.into(),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Invalid(detail) => Self::invalid(detail),
            InputError::Missing(ref missing) => {
                let details = serde_json::json!({ "missing": missing });
                Self::invalid(e.to_string()).with_details(details)
            }
            InputError::Taken(detail) => Self::conflict(detail),
            InputError::Internal(_) => Self::internal(e),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Event(e) => Self::invalid(e.to_string()),
            CallError::Signalling(m) => Self::invalid(format!("not a usable SIP message: {m}")),
            CallError::TooManyCalls(_) | CallError::TooManyCallsForTenant(_) => Self::unavailable(e.to_string()),
            CallError::NoSuchCall => Self::not_found("call"),
            CallError::Store => Self::internal("recording call security failed"),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        let detail = e.to_string();
        match e {
            DirectoryError::Access(e) => e.into(),
            DirectoryError::Input(e) => e.into(),
            DirectoryError::Invalid(_) | DirectoryError::NotOnYourself(_) => Self::invalid(detail),
            DirectoryError::Row { what, error } => Self::from_store(error, what),
            DirectoryError::LastAdministrator(_)
            | DirectoryError::DefaultRole(_)
            | DirectoryError::RoleStillGranted
            | DirectoryError::ServiceAccountHoldsRole
            | DirectoryError::ServiceAccountRevoked => Self::conflict(detail),
            DirectoryError::Custody(e) => e.into(),
            DirectoryError::Identity(e) => e.into(),
            DirectoryError::Audit(e) => e.into(),
            DirectoryError::Store(e) => e.into(),
        }
    }
}

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        let detail = e.to_string();
        match e {
            TenantError::Access(e) => e.into(),
            TenantError::Input(e) => e.into(),
            TenantError::Invalid(_) => Self::invalid(detail),
            TenantError::Row { what, error } => Self::from_store(error, what),
            TenantError::NotAnOperator => Self::forbidden(detail, None),
            TenantError::AlreadyApprover => Self::conflict(detail),
            TenantError::Custody(e) => e.into(),
            TenantError::Identity(e) => e.into(),
            TenantError::Audit(e) => e.into(),
            TenantError::Store(e) => e.into(),
        }
    }
}

impl From<StationError> for ApiError {
    fn from(e: StationError) -> Self {
        let detail = e.to_string();
        match e {
            StationError::Access(e) => e.into(),
            StationError::Input(e) => e.into(),
            StationError::Invalid(_) | StationError::NotAUser => Self::invalid(detail),
            StationError::SipUserTaken | StationError::CaptureIdTaken => Self::conflict(detail),
            StationError::NoSuchStation => Self::not_found("station"),
            StationError::NoSuchAgent => Self::not_found("capture agent"),
            StationError::Audit(e) => e.into(),
            StationError::Store(e) => e.into(),
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        let detail = e.to_string();
        match e {
            RecordError::Access(e) => e.into(),
            RecordError::Input(e) => e.into(),
            RecordError::Fields(e) => e.into(),
            RecordError::Invalid(_) => Self::invalid(detail),
            RecordError::Refused(errors) => Self::invalid(detail).with_details(serde_json::json!({ "errors": errors })),
            RecordError::EncryptionNotEnabled | RecordError::NoBlindIndexKey => Self::conflict(detail),
            RecordError::Row { what, error } => Self::from_store(error, what),
            RecordError::Key(e) => e.into(),
            RecordError::Audit(e) => e.into(),
            RecordError::Store(e) => e.into(),
            RecordError::Internal(_) => Self::internal(detail),
        }
    }
}

impl From<DialAdminError> for ApiError {
    fn from(e: DialAdminError) -> Self {
        let detail = e.to_string();
        match e {
            DialAdminError::Access(e) => e.into(),
            DialAdminError::Input(e) => e.into(),
            DialAdminError::Invalid(_) => Self::invalid(detail),
            DialAdminError::Rules(errors) => {
                Self::invalid(detail).with_details(serde_json::json!({ "errors": errors }))
            }
            DialAdminError::File { errors, .. } => {
                Self::invalid(detail).with_details(serde_json::json!({ "errors": errors }))
            }
            DialAdminError::AreaInUse | DialAdminError::WrongListKind(_) => Self::conflict(detail),
            DialAdminError::Row { what, error } => Self::from_store(error, what),
            DialAdminError::Body(_) => Self::bad_request(detail),
            DialAdminError::Io(_) | DialAdminError::Internal(_) => Self::internal(detail),
            DialAdminError::Dial(e) => e.into(),
            DialAdminError::Audit(e) => e.into(),
            DialAdminError::Store(e) => e.into(),
        }
    }
}

impl From<StatusError> for ApiError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::Access(e) => e.into(),
            StatusError::NoSuchJob => Self::not_found("job"),
            StatusError::JobState { .. } => Self::conflict(e.to_string()),
            StatusError::Ceremony(e) => e.into(),
            StatusError::Audit(e) => e.into(),
            StatusError::Store(e) => e.into(),
        }
    }
}

impl From<AuditReadError> for ApiError {
    fn from(e: AuditReadError) -> Self {
        let detail = e.to_string();
        match e {
            AuditReadError::Access(e) => e.into(),
            AuditReadError::NoAuditAccess => Self::forbidden(detail, None),
            AuditReadError::BadPage => Self::bad_request(detail),
            AuditReadError::Invalid(_) => Self::invalid(detail),
            AuditReadError::NotFound(what) => Self::not_found(what),
            AuditReadError::Audit(e) => e.into(),
            AuditReadError::Store(e) => e.into(),
            AuditReadError::Internal(_) => Self::internal(detail),
        }
    }
}

impl From<ContentReadError> for ApiError {
    fn from(e: ContentReadError) -> Self {
        let detail = e.to_string();
        match e {
            ContentReadError::Access(e) => e.into(),
            ContentReadError::Invalid(_) => Self::invalid(detail),
            ContentReadError::BadRange(_) => Self::bad_request(detail),
            ContentReadError::RangeNotSatisfiable { size } => Self::range_not_satisfiable(size),
            ContentReadError::NoSuchObject => Self::not_found("object"),
            ContentReadError::Erased { .. } => Self::erased(detail),
            ContentReadError::Key(e) => e.into(),
            ContentReadError::Integrity(failure) => failure.into(),
            ContentReadError::Audit(e) => e.into(),
            ContentReadError::Store(e) => e.into(),
            ContentReadError::Internal(_) => Self::internal(detail),
        }
    }
}

impl From<FeedError> for ApiError {
    fn from(e: FeedError) -> Self {
        let detail = e.to_string();
        match e {
            FeedError::Access(e) => e.into(),
            FeedError::Invalid(_) | FeedError::NotAUser => Self::invalid(detail),
            FeedError::Call(e) => e.into(),
            FeedError::Corrupt(_) => Self::internal(detail),
            FeedError::Store(e) => e.into(),
        }
    }
}

impl From<DiagnosticsError> for ApiError {
    fn from(e: DiagnosticsError) -> Self {
        match e {
            DiagnosticsError::Access(e) => e.into(),
            DiagnosticsError::Invalid(detail) => Self::invalid(detail),
            DiagnosticsError::Audit(e) => e.into(),
            DiagnosticsError::Store(e) => e.into(),
        }
    }
}

impl From<SubjectError> for ApiError {
    fn from(e: SubjectError) -> Self {
        let detail = e.to_string();
        match e {
            SubjectError::Access(e) => e.into(),
            SubjectError::Invalid(_) => Self::invalid(detail),
            SubjectError::EncryptionNotEnabled | SubjectError::ReferenceTaken => Self::conflict(detail),
            SubjectError::NoSuchInteraction => Self::not_found("interaction"),
            SubjectError::Erased { .. } => Self::erased(detail),
            SubjectError::Key(e) => e.into(),
            SubjectError::Dial(e) => e.into(),
            SubjectError::Sealed => Self::internal(detail),
            SubjectError::Audit(e) => e.into(),
            SubjectError::Store(e) => e.into(),
        }
    }
}

impl From<CollectionError> for ApiError {
    fn from(e: CollectionError) -> Self {
        let detail = e.to_string();
        match e {
            CollectionError::Access(e) => e.into(),
            CollectionError::Invalid(_) => Self::invalid(detail),
            CollectionError::NeedsConfirmation { .. } => Self::conflict(detail),
            CollectionError::NoSuchUser => Self::not_found("user"),
            CollectionError::Audit(e) => e.into(),
            CollectionError::Store(e) => e.into(),
        }
    }
}

impl From<RecordingError> for ApiError {
    fn from(e: RecordingError) -> Self {
        let detail = e.to_string();
        match e {
            RecordingError::Access(e) => e.into(),
            RecordingError::Invalid(_) | RecordingError::Policy(_) => Self::invalid(detail),
            RecordingError::NoSuchInteraction => Self::not_found("interaction"),
            RecordingError::Audit(e) => e.into(),
            RecordingError::Store(e) => e.into(),
        }
    }
}

impl From<ReportingError> for ApiError {
    fn from(e: ReportingError) -> Self {
        let detail = e.to_string();
        match e {
            ReportingError::Access(e) => e.into(),
            ReportingError::Invalid(_) => Self::invalid(detail),
            ReportingError::NotFound(what) => Self::not_found(what),
            ReportingError::Audit(e) => e.into(),
            ReportingError::Store(e) => e.into(),
        }
    }
}

impl From<DpoError> for ApiError {
    fn from(e: DpoError) -> Self {
        let detail = e.to_string();
        match e {
            DpoError::Access(e) => e.into(),
            DpoError::Invalid(_) => Self::invalid(detail),
            DpoError::NoSuchSubject => Self::not_found("subject"),
            DpoError::NoSuchRequest => Self::not_found("data protection request"),
            DpoError::NoSuchUser => Self::not_found("user"),
            DpoError::OpenRequest
            | DpoError::IdentifiersNotConfirmed { .. }
            | DpoError::Held { .. }
            | DpoError::NotExtendable
            | DpoError::NotReady(_)
            | DpoError::EncryptionNotEnabled => Self::conflict(detail),
            DpoError::Subject(e) => e.into(),
            DpoError::Key(e) => e.into(),
            DpoError::AuditRead(e) => e.into(),
            DpoError::Audit(e) => e.into(),
            DpoError::Store(e) => e.into(),
        }
    }
}

impl From<RetentionError> for ApiError {
    fn from(e: RetentionError) -> Self {
        let detail = e.to_string();
        match e {
            RetentionError::Access(e) => e.into(),
            RetentionError::Invalid(_) => Self::invalid(detail),
            RetentionError::Duplicate => Self::conflict(detail),
            RetentionError::NoSuchPolicy => Self::not_found("retention policy"),
            RetentionError::NoSuchHold => Self::not_found("legal hold in force"),
            RetentionError::Audit(e) => e.into(),
            RetentionError::Store(e) => e.into(),
        }
    }
}

impl From<IntegrityFailure> for ApiError {
    fn from(e: IntegrityFailure) -> Self {
        Self::integrity(if e.key_unavailable { "key" } else { "integrity" }, e.reason)
    }
}

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
