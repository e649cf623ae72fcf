//! Every error of the services has its answer: status and problem type pinned per variant.

use callvault_model::personal::Category;
use callvault_model::records::Timestamp;
use callvault_model::vault::CeremonyState;
use callvault_policy::access::{Decision, DenyReason};
use callvault_policy::callsec::EventError;
use callvault_policy::duties::{Conflict, PrivilegeClass};

use super::*;
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

fn store() -> StoreError {
    StoreError::Corrupt("a row".into())
}

/// (the error, the status, the problem type) for every variant of every error of the
/// services. A variant added without a line here still compiles in the `From` impls'
/// exhaustive matches only once given an answer; this pins what that answer is.
fn cases() -> Vec<(String, ApiError, u16, &'static str)> {
    let conflict = Conflict {
        class: PrivilegeClass::IdentityAdministration,
        with: PrivilegeClass::KeyCustody,
        reason: "who grants must not hold keys",
    };
    let mut out: Vec<(String, ApiError, u16, &'static str)> = Vec::new();
    macro_rules! case {
        ($e:expr, $status:expr, $kind:expr) => {{
            let e = $e;
            out.push((format!("{e:?}"), ApiError::from(e), $status, $kind));
        }};
    }
    // The audit log.
    case!(AppendError::WriterStopped, 500, "internal");
    case!(AppendError::CommitFailed, 500, "internal");
    // The store, through each `what`.
    case!(StoreError::NotFound, 404, "not-found");
    case!(StoreError::Conflict(ConflictKind::Duplicate), 409, "conflict");
    case!(StoreError::Conflict(ConflictKind::Reference), 409, "conflict");
    case!(StoreError::Schema("v".into()), 500, "internal");
    case!(StoreError::Config("c".into()), 500, "internal");
    case!(store(), 500, "internal");
    case!(StoreError::Database(sqlx::Error::PoolTimedOut), 500, "internal");
    // The caller and its access check.
    case!(AccessError::Unauthenticated("missing or malformed token"), 401, "unauthenticated");
    case!(AccessError::EnrolmentRequired, 403, "totp-enrollment-required");
    case!(AccessError::Denied(Decision::Deny(DenyReason::OtherTenant)), 403, "forbidden");
    case!(AccessError::OperatorNoTenantData, 403, "forbidden");
    case!(AccessError::NotAUser, 403, "forbidden");
    case!(AccessError::Audit(AppendError::CommitFailed), 500, "internal");
    case!(AccessError::Store(StoreError::NotFound), 404, "not-found");
    case!(
        AccessError::WrongPermit {
            action: callvault_model::access::Action::Create,
            resource: callvault_model::access::Resource::DialCheck
        },
        500,
        "internal"
    );
    case!(AccessError::Internal("x".into()), 500, "internal");
    // Identity.
    case!(IdentityError::LoginFailed, 401, "unauthenticated");
    case!(IdentityError::SecondFactorRequired, 403, "second-factor-required");
    case!(IdentityError::ReauthenticationFailed, 403, "reauthentication-failed");
    case!(IdentityError::TotpRequired, 403, "totp-required");
    case!(IdentityError::NoCredentials, 403, "forbidden");
    case!(IdentityError::MailNotConfigured, 409, "conflict");
    case!(IdentityError::NotYourAddress, 422, "invalid-input");
    case!(IdentityError::CodeWrongOrExpired, 422, "invalid-input");
    case!(IdentityError::WeakPassword("too short".into()), 422, "invalid-input");
    case!(IdentityError::TotpAlreadyEnrolled, 409, "conflict");
    case!(IdentityError::EnrolmentNotStarted, 409, "conflict");
    case!(IdentityError::TotpMismatch, 422, "invalid-input");
    case!(IdentityError::StoredSecret("TOTP seed"), 500, "internal");
    case!(IdentityError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(IdentityError::Store(StoreError::Conflict(ConflictKind::Duplicate)), 409, "conflict");
    case!(IdentityError::Internal("x".into()), 500, "internal");
    case!(IdentityError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(IdentityError::NoSuchSession, 404, "not-found");
    case!(IdentityError::NotASession, 422, "invalid-input");
    // Separation of duties and dual control.
    case!(CustodyError::SeparationOfDuties(conflict), 403, "separation-of-duties");
    case!(CustodyError::DualControl("a second person must approve".into()), 403, "dual-control");
    case!(CustodyError::CoolingOff { until: Timestamp(0) }, 403, "cooling-off");
    case!(CustodyError::NoSuchCeremony, 404, "not-found");
    case!(CustodyError::NotProposed(CeremonyState::Completed), 409, "conflict");
    case!(CustodyError::Expired, 410, "gone");
    case!(CustodyError::Row { what: "grant", error: StoreError::NotFound }, 404, "not-found");
    case!(CustodyError::Identity(IdentityError::ReauthenticationFailed), 403, "reauthentication-failed");
    case!(CustodyError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(CustodyError::Audit(AppendError::CommitFailed), 500, "internal");
    case!(CustodyError::Store(store()), 500, "internal");
    case!(CustodyError::Internal("x".into()), 500, "internal");
    // Key ceremonies.
    case!(CeremonyError::InvalidParams("threshold".into()), 422, "invalid-input");
    case!(CeremonyError::Precondition("no active key".into()), 409, "conflict");
    case!(CeremonyError::NoSuchCeremony, 404, "not-found");
    case!(CeremonyError::NotProposed(CeremonyState::Cancelled), 409, "conflict");
    case!(CeremonyError::Expired, 410, "gone");
    case!(CeremonyError::SameApprover, 403, "dual-control");
    case!(CeremonyError::NoShareForYou, 403, "not-a-custodian");
    case!(CeremonyError::SharePickedUp, 410, "gone");
    case!(CeremonyError::Custody(CustodyError::Expired), 410, "gone");
    case!(CeremonyError::Identity(IdentityError::TotpRequired), 403, "totp-required");
    case!(CeremonyError::Access(AccessError::EnrolmentRequired), 403, "totp-enrollment-required");
    case!(CeremonyError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(CeremonyError::Store(StoreError::NotFound), 404, "not-found");
    case!(CeremonyError::Internal("x".into()), 500, "internal");
    // The keyring.
    case!(KeyError::NoSuchVersion(9), 409, "conflict");
    case!(KeyError::Retired(1), 409, "conflict");
    case!(KeyError::Wrap("a data key"), 500, "internal");
    case!(KeyError::Unwrap("data key version 2".into()), 500, "internal");
    case!(KeyError::Store(store()), 500, "internal");
    // Key jobs.
    case!(JobError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(JobError::Field(ListError::InvalidFields("bad".into())), 422, "invalid-input");
    case!(JobError::Identifier(SubjectError::Sealed), 500, "internal");
    case!(JobError::Inconsistent("the job's key version is gone"), 500, "internal");
    case!(JobError::Io("disk".into()), 500, "internal");
    case!(JobError::LeaseLost, 409, "conflict");
    case!(JobError::Store(StoreError::NotFound), 404, "not-found");
    // Calling lists.
    case!(ListError::InvalidFields("`phone` is not a number".into()), 422, "invalid-input");
    case!(ListError::Sealed("does not open"), 500, "internal");
    // Dial checks.
    case!(DialError::StoredPolicy("line 1".into()), 500, "internal");
    case!(DialError::WriterStopped, 500, "internal");
    case!(DialError::Persist("disk".into()), 500, "internal");
    case!(DialError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(DialError::Store(store()), 500, "internal");
    case!(DialCheckError::Invalid("checks[0].at: not an RFC 3339 instant".into()), 422, "invalid-input");
    case!(DialCheckError::Access(AccessError::OperatorNoTenantData), 403, "forbidden");
    case!(DialCheckError::Dial(DialError::WriterStopped), 500, "internal");
    case!(DialCheckError::Audit(AppendError::CommitFailed), 500, "internal");
    case!(DialCheckError::Store(StoreError::NotFound), 404, "not-found");
    // Uploads.
    case!(UploadError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(UploadError::Invalid("agents: at most 32".into()), 422, "invalid-input");
    case!(UploadError::TooLarge(1024), 413, "payload-too-large");
    case!(UploadError::Incomplete("the upload was interrupted".into()), 400, "bad-request");
    case!(UploadError::ShaMismatch, 422, "invalid-input");
    case!(UploadError::Busy("the transcript changed".into()), 409, "conflict");
    case!(UploadError::Erased { at: Timestamp(0), reason: "erasure".into() }, 410, "erased");
    case!(UploadError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(UploadError::Content(callvault_core::vault::ContentError::Integrity("x".into())), 500, "internal");
    case!(UploadError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(UploadError::Store(StoreError::NotFound), 404, "not-found");
    case!(UploadError::Internal("a blocking task panicked".into()), 500, "internal");
    // Webhooks.
    case!(WebhookError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(WebhookError::Invalid("url: a private address".into()), 422, "invalid-input");
    case!(WebhookError::TooMany(10), 409, "conflict");
    case!(WebhookError::NoSuchWebhook, 404, "not-found");
    case!(WebhookError::Wrap("kek".into()), 500, "internal");
    case!(WebhookError::Audit(AppendError::CommitFailed), 500, "internal");
    case!(WebhookError::Store(StoreError::Config("c".into())), 500, "internal");
    // Input values.
    case!(InputError::Invalid("`slug` must be 2 to 63 characters".into()), 422, "invalid-input");
    case!(InputError::Missing(vec!["margin_minutes".into()]), 422, "invalid-input");
    case!(InputError::Taken("`login` is taken".into()), 409, "conflict");
    case!(InputError::Internal("encode".into()), 500, "internal");
    // Call security.
    case!(CallError::Event(EventError::NoSuchLeg("b".into())), 422, "invalid-input");
    case!(CallError::Event(EventError::LegExists("a".into())), 422, "invalid-input");
    case!(CallError::Event(EventError::TooManyLegs), 422, "invalid-input");
    case!(CallError::Signalling("no CSeq".into()), 422, "invalid-input");
    case!(CallError::TooManyCalls(10), 503, "unavailable");
    case!(CallError::TooManyCallsForTenant(5), 503, "unavailable");
    case!(CallError::NoSuchCall, 404, "not-found");
    case!(CallError::Store, 500, "internal");
    // The directory and access administration.
    case!(DirectoryError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(DirectoryError::Input(InputError::Taken("`name` is taken".into())), 409, "conflict");
    case!(DirectoryError::Invalid("a role needs 1 to 200 privileges".into()), 422, "invalid-input");
    case!(DirectoryError::Row { what: "team", error: StoreError::NotFound }, 404, "not-found");
    case!(DirectoryError::Row { what: "role", error: StoreError::Conflict(ConflictKind::Duplicate) }, 409, "conflict");
    case!(DirectoryError::LastAdministrator("deleted"), 409, "conflict");
    case!(DirectoryError::NotOnYourself("another administrator must reset your second factor"), 422, "invalid-input");
    case!(DirectoryError::DefaultRole("deleted"), 409, "conflict");
    case!(DirectoryError::RoleStillGranted, 409, "conflict");
    case!(DirectoryError::ServiceAccountHoldsRole, 409, "conflict");
    case!(DirectoryError::ServiceAccountRevoked, 409, "conflict");
    case!(DirectoryError::Custody(CustodyError::SeparationOfDuties(conflict)), 403, "separation-of-duties");
    case!(DirectoryError::Identity(IdentityError::WeakPassword("too short".into())), 422, "invalid-input");
    case!(DirectoryError::Audit(AppendError::CommitFailed), 500, "internal");
    case!(DirectoryError::Store(store()), 500, "internal");
    // Tenants, their settings, operators.
    case!(TenantError::Access(AccessError::OperatorNoTenantData), 403, "forbidden");
    case!(TenantError::Input(InputError::Invalid("`slug` must be 2 to 63 characters".into())), 422, "invalid-input");
    case!(TenantError::Invalid("session timeouts".into()), 422, "invalid-input");
    case!(TenantError::Row { what: "tenant", error: StoreError::NotFound }, 404, "not-found");
    case!(TenantError::Row { what: "tenant", error: StoreError::Conflict(ConflictKind::Duplicate) }, 409, "conflict");
    case!(TenantError::NotAnOperator, 403, "forbidden");
    case!(TenantError::AlreadyApprover, 409, "conflict");
    case!(TenantError::Custody(CustodyError::DualControl("x".into())), 403, "dual-control");
    case!(TenantError::Identity(IdentityError::WeakPassword("too short".into())), 422, "invalid-input");
    case!(TenantError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(TenantError::Store(store()), 500, "internal");
    // Stations, capture agents, alert switches.
    case!(StationError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(StationError::Input(InputError::Missing(vec!["level".into()])), 422, "invalid-input");
    case!(StationError::Invalid("kind: station or softphone"), 422, "invalid-input");
    case!(StationError::NotAUser, 422, "invalid-input");
    case!(StationError::SipUserTaken, 409, "conflict");
    case!(StationError::CaptureIdTaken, 409, "conflict");
    case!(StationError::NoSuchStation, 404, "not-found");
    case!(StationError::NoSuchAgent, 404, "not-found");
    case!(StationError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(StationError::Store(store()), 500, "internal");
    // Calling lists and their records.
    case!(RecordError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(RecordError::Input(InputError::Invalid("`name` is empty".into())), 422, "invalid-input");
    case!(RecordError::Fields(ListError::InvalidFields("bad".into())), 422, "invalid-input");
    case!(RecordError::Invalid("limit: 1..=500".into()), 422, "invalid-input");
    case!(
        RecordError::Refused(vec![callvault_core::lists::ImportError { line: 2, message: "phone".into() }]),
        422,
        "invalid-input"
    );
    case!(RecordError::EncryptionNotEnabled, 409, "conflict");
    case!(RecordError::NoBlindIndexKey, 409, "conflict");
    case!(RecordError::Row { what: "record", error: StoreError::NotFound }, 404, "not-found");
    case!(RecordError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(RecordError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(RecordError::Store(store()), 500, "internal");
    case!(RecordError::Internal("no record sealed"), 500, "internal");
    // Telecom policy administration.
    case!(DialAdminError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(DialAdminError::Input(InputError::Missing(vec!["region".into()])), 422, "invalid-input");
    case!(DialAdminError::Invalid("name: must match the path".into()), 422, "invalid-input");
    case!(DialAdminError::Rules(Vec::new()), 422, "invalid-input");
    case!(DialAdminError::File { count: 1, errors: Vec::new() }, 422, "invalid-input");
    case!(DialAdminError::AreaInUse, 409, "conflict");
    case!(DialAdminError::WrongListKind("registry lists change by import only"), 409, "conflict");
    case!(DialAdminError::Row { what: "area", error: StoreError::NotFound }, 404, "not-found");
    case!(DialAdminError::Body("connection reset".into()), 400, "bad-request");
    case!(DialAdminError::Io("disk full".into()), 500, "internal");
    case!(DialAdminError::Internal("join".into()), 500, "internal");
    case!(DialAdminError::Dial(DialError::WriterStopped), 500, "internal");
    case!(DialAdminError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(DialAdminError::Store(store()), 500, "internal");
    // Key status and job control.
    case!(StatusError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(StatusError::NoSuchJob, 404, "not-found");
    case!(
        StatusError::JobState {
            now: callvault_model::vault::JobState::Done,
            expected: callvault_model::vault::JobState::Running
        },
        409,
        "conflict"
    );
    case!(StatusError::Ceremony(CeremonyError::NoSuchCeremony), 404, "not-found");
    case!(StatusError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(StatusError::Store(store()), 500, "internal");
    // Reading the audit log.
    case!(AuditReadError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(AuditReadError::NoAuditAccess, 403, "forbidden");
    case!(AuditReadError::BadPage, 400, "bad-request");
    case!(AuditReadError::Invalid("`leaf_index` must be below the tree size".into()), 422, "invalid-input");
    case!(AuditReadError::NotFound("audit entry"), 404, "not-found");
    case!(AuditReadError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(AuditReadError::Store(store()), 500, "internal");
    case!(AuditReadError::Internal("stored leaf hash has a bad length"), 500, "internal");
    // Reading stored content.
    case!(ContentReadError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(ContentReadError::Invalid("limit: 1..=500"), 422, "invalid-input");
    case!(ContentReadError::RangeNotSatisfiable { size: 100 }, 416, "range-not-satisfiable");
    case!(ContentReadError::NoSuchObject, 404, "not-found");
    case!(ContentReadError::Erased { at: Timestamp(0), reason: "retention".into() }, 410, "erased");
    case!(ContentReadError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(
        ContentReadError::Integrity(IntegrityFailure { key_unavailable: false, reason: "damaged" }),
        500,
        "integrity"
    );
    case!(ContentReadError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(ContentReadError::Store(store()), 500, "internal");
    case!(ContentReadError::Internal("manifest".into()), 500, "internal");
    // Signalling in, calls and streams out.
    case!(FeedError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(FeedError::Invalid("leg: 1 to 128 characters".into()), 422, "invalid-input");
    case!(FeedError::NotAUser, 422, "invalid-input");
    case!(FeedError::Call(CallError::NoSuchCall), 404, "not-found");
    case!(FeedError::Corrupt("state".into()), 500, "internal");
    case!(FeedError::Store(store()), 500, "internal");
    // Diagnostic event logging.
    case!(DiagnosticsError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(DiagnosticsError::Invalid("minutes: 1 to 1440".into()), 422, "invalid-input");
    case!(DiagnosticsError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(DiagnosticsError::Store(store()), 500, "internal");
    // Interactions and subjects.
    case!(SubjectError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(SubjectError::Invalid("phone: not a number".into()), 422, "invalid-input");
    case!(SubjectError::EncryptionNotEnabled, 409, "conflict");
    case!(SubjectError::ReferenceTaken, 409, "conflict");
    case!(SubjectError::ReferenceClosed { at: Timestamp(0) }, 410, "erased");
    case!(SubjectError::NoSuchInteraction, 404, "not-found");
    case!(SubjectError::Erased { at: Timestamp(0), reason: "retention".into() }, 410, "erased");
    case!(SubjectError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(SubjectError::Dial(DialError::WriterStopped), 500, "internal");
    case!(SubjectError::Sealed, 500, "internal");
    case!(SubjectError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(SubjectError::Store(store()), 500, "internal");
    // Retention.
    case!(RetentionError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(RetentionError::Invalid("days: the provider allows 1 to 3650 days".into()), 422, "invalid-input");
    case!(RetentionError::Duplicate, 409, "conflict");
    case!(RetentionError::NoSuchPolicy, 404, "not-found");
    case!(RetentionError::NoSuchHold, 404, "not-found");
    case!(RetentionError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(RetentionError::Store(store()), 500, "internal");
    // Collection switches.
    case!(CollectionError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(CollectionError::Invalid("category: user_master is always collected".into()), 422, "invalid-input");
    case!(CollectionError::NeedsConfirmation { category: Category::Directory, count: 3 }, 409, "conflict");
    case!(CollectionError::NoSuchUser, 404, "not-found");
    case!(CollectionError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(CollectionError::Store(store()), 500, "internal");
    // Recording policy, decisions and pauses.
    case!(RecordingError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(RecordingError::Invalid("agents: at most 32".into()), 422, "invalid-input");
    case!(RecordingError::Policy(callvault_policy::recording::InvalidPolicy::MaxPause), 422, "invalid-input");
    case!(RecordingError::NoSuchInteraction, 404, "not-found");
    case!(RecordingError::Erased { at: Timestamp(0), reason: "erasure".into() }, 410, "erased");
    case!(RecordingError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(RecordingError::Store(store()), 500, "internal");
    // Performance statistics.
    case!(ReportingError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(ReportingError::Invalid("intervals: 1..=5000".into()), 422, "invalid-input");
    case!(ReportingError::NotFound("team"), 404, "not-found");
    case!(ReportingError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(ReportingError::Store(store()), 500, "internal");
    // Data protection officers' requests.
    case!(DpoError::Access(AccessError::NotAUser), 403, "forbidden");
    case!(DpoError::Invalid("passphrase: at least 12 characters".into()), 422, "invalid-input");
    case!(DpoError::NoSuchSubject, 404, "not-found");
    case!(DpoError::NoSuchRequest, 404, "not-found");
    case!(DpoError::NoSuchUser, 404, "not-found");
    case!(DpoError::OpenRequest, 409, "conflict");
    case!(DpoError::IdentifiersNotConfirmed { linked: 2 }, 409, "conflict");
    case!(DpoError::Held { name: "Case 17".into() }, 409, "conflict");
    case!(DpoError::NotExtendable, 409, "conflict");
    case!(DpoError::NotReady("the request is not completed yet"), 409, "conflict");
    case!(DpoError::EncryptionNotEnabled, 409, "conflict");
    case!(DpoError::Subject(SubjectError::Sealed), 500, "internal");
    case!(DpoError::Key(KeyError::Retired(1)), 409, "conflict");
    case!(DpoError::AuditRead(AuditReadError::NotFound("audit entry")), 404, "not-found");
    case!(DpoError::Audit(AppendError::WriterStopped), 500, "internal");
    case!(DpoError::Store(store()), 500, "internal");
    // Stored content that fails its check.
    case!(IntegrityFailure { key_unavailable: false, reason: "segment 3 is damaged" }, 500, "integrity");
    case!(IntegrityFailure { key_unavailable: true, reason: "the data key is gone" }, 500, "key-unavailable");
    out
}

#[test]
fn every_core_error_variant_has_its_answer() {
    let cases = cases();
    assert!(cases.len() >= 85, "{} cases", cases.len());
    for (what, e, status, kind) in cases {
        assert_eq!(e.status().as_u16(), status, "{what}");
        assert_eq!(e.0.kind, kind, "{what}");
        if status == 500 && kind == "internal" {
            // Internal text goes to the log with a correlation id, never to the client.
            assert_eq!(e.detail(), "the server failed to handle the request", "{what}");
        } else {
            assert!(!e.detail().is_empty(), "{what}");
        }
    }
}
