//! How each core error answers: one `From` per service error enum, exhaustive matches, so a new
//! variant does not compile until it has its answer.

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
use callvault_store::StoreError;

use super::ApiError;

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
            JobError::LeaseLost => Self::conflict("another node is running this job"),
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
            UploadError::Stale => Self::conflict(e.to_string()),
            UploadError::Erased { .. } => Self::erased(e.to_string()),
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
            SubjectError::ReferenceClosed { .. } => Self::erased(detail),
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
            RecordingError::Erased { .. } => Self::erased(detail),
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
