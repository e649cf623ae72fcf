//! Separation of duties and dual control over the people inside a tenant.
//!
//! Sources: PCI DSS v4.0 3.6.1 (keys held by the fewest custodians), 3.7.6 (split knowledge and
//! dual control for manual key operations), NIST SP 800-53 AC-5 (separation of duties) and
//! AC-6(2) (privileged accounts), NIST SP 800-63B 5.2.2 (throttling and further authentication).
//!
//! Conflicts are defined over **privilege classes**, not role names, so a custom role that
//! carries a class conflicts exactly like the built-in role that usually carries it:
//!
//! | class | privileges (scoped, never `:own`) |
//! |---|---|
//! | identity administration | create/update/delete users, credentials, roles, grants, service accounts |
//! | key custody | `key:manage_keys`, `key:approve_key_operation` |
//! | content access | listen to or export interactions, anything on personal data, erasure, exporting calling lists |
//! | audit | `audit:verify` (independent verification: tree heads, proofs) |
//! | write | any scoped create, update, delete, unlock or key operation (dial checks are queries) |
//!
//! The conflicting pairs are [`CONFLICTS`]. They are refused when a grant is made and when a role
//! is created or changed ([`conflicts_among`]), and the access engine checks them again at every
//! decision: a person who holds both classes anyway (an old database) gets neither.
//!
//! The module also holds the appointment rules for custodians ([`check_appointment`]), the
//! cooling-off rule ([`may_approve_after_cooling_off`]) and the step-up rule after failed logins
//! ([`step_up`]).

use std::fmt;

use callvault_model::PrincipalId;
use callvault_model::access::{Action, Privilege, Reach, Resource};
use serde::Serialize;

/// A class of privileges that separation of duties reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrivilegeClass {
    /// Users, credentials, roles, grants and service accounts: who may do what.
    IdentityAdministration,
    /// Proposing and approving key operations.
    KeyCustody,
    /// Listening to, exporting or erasing content and personal data.
    ContentAccess,
    /// Independent verification of the audit log.
    Audit,
    /// Any change to the tenant's data or configuration.
    Write,
}

impl PrivilegeClass {
    /// Every class, in bit order.
    pub const ALL: [PrivilegeClass; 5] = [
        PrivilegeClass::IdentityAdministration,
        PrivilegeClass::KeyCustody,
        PrivilegeClass::ContentAccess,
        PrivilegeClass::Audit,
        PrivilegeClass::Write,
    ];

    /// Its name in messages and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            PrivilegeClass::IdentityAdministration => "identity_administration",
            PrivilegeClass::KeyCustody => "key_custody",
            PrivilegeClass::ContentAccess => "content_access",
            PrivilegeClass::Audit => "audit",
            PrivilegeClass::Write => "write",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for PrivilegeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrivilegeClass::IdentityAdministration => "identity administration",
            PrivilegeClass::KeyCustody => "key custody",
            PrivilegeClass::ContentAccess => "content access",
            PrivilegeClass::Audit => "audit",
            PrivilegeClass::Write => "write",
        })
    }
}

/// A set of classes (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ClassSet(u8);

impl ClassSet {
    /// No class.
    pub const EMPTY: ClassSet = ClassSet(0);

    /// Whether the set has no class.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `class` is in the set.
    pub fn contains(self, class: PrivilegeClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// The set with `class` added.
    pub fn with(self, class: PrivilegeClass) -> ClassSet {
        ClassSet(self.0 | class.bit())
    }

    /// The union.
    pub fn union(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 | other.0)
    }

    /// Whether the two sets share a class.
    pub fn intersects(self, other: ClassSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The classes, in bit order.
    pub fn iter(self) -> impl Iterator<Item = PrivilegeClass> {
        PrivilegeClass::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// The classes of `resource:action` in scoped reach. `:own` privileges (self-service) are in no
/// class: changing one's own password is not identity administration.
pub fn classes_of(resource: Resource, action: Action) -> ClassSet {
    use Action::*;
    use Resource::*;
    let mut set = ClassSet::EMPTY;
    let identity = matches!(resource, User | UserCredential | Role | Grant | ServiceAccount)
        && matches!(action, Create | Update | Delete);
    if identity {
        set = set.with(PrivilegeClass::IdentityAdministration);
    }
    if resource == Key && matches!(action, ManageKeys | ApproveKeyOperation) {
        set = set.with(PrivilegeClass::KeyCustody);
    }
    let content = (resource == Interaction && matches!(action, Listen | Export))
        || resource == PersonalData
        || action == ErasePersonalData
        || (resource == CallingList && action == Export);
    if content {
        set = set.with(PrivilegeClass::ContentAccess);
    }
    if resource == Audit && action == Verify {
        set = set.with(PrivilegeClass::Audit);
    }
    let write =
        matches!(action, Create | Update | Delete | Unlock | ManageKeys | ApproveKeyOperation | ErasePersonalData)
            && resource != DialCheck;
    if write {
        set = set.with(PrivilegeClass::Write);
    }
    set
}

/// The classes of one privilege (none for `:own` privileges).
pub fn classes_of_privilege(p: &Privilege) -> ClassSet {
    match p.reach {
        Reach::Own => ClassSet::EMPTY,
        Reach::Scope => classes_of(p.resource, p.action),
    }
}

/// The classes a set of privileges carries.
pub fn classes_of_all<'a>(privileges: impl IntoIterator<Item = &'a Privilege>) -> ClassSet {
    privileges.into_iter().fold(ClassSet::EMPTY, |set, p| set.union(classes_of_privilege(p)))
}

/// Two classes one person may never hold at once in a tenant, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    /// One class.
    pub class: PrivilegeClass,
    /// The class it conflicts with.
    pub with: PrivilegeClass,
    /// Why, for people.
    pub reason: &'static str,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "separation of duties: {} and {} cannot be held by one person: {}",
            self.class, self.with, self.reason
        )
    }
}

/// The conflicting pairs of classes.
pub const CONFLICTS: &[Conflict] = &[
    Conflict {
        class: PrivilegeClass::IdentityAdministration,
        with: PrivilegeClass::KeyCustody,
        reason: "whoever administers identities could create the second custodian and defeat dual control \
                 (PCI DSS 3.6.1, 3.7.6)",
    },
    Conflict {
        class: PrivilegeClass::IdentityAdministration,
        with: PrivilegeClass::ContentAccess,
        reason: "whoever administers identities could give themself access to recordings and personal data \
                 (NIST SP 800-53 AC-5)",
    },
    Conflict {
        class: PrivilegeClass::Audit,
        with: PrivilegeClass::Write,
        reason: "an auditor must be independent of what is audited (NIST SP 800-53 AC-5, AU-9(4))",
    },
];

/// The conflicts a set of classes contains, in [`CONFLICTS`] order.
pub fn conflicts_in(classes: ClassSet) -> impl Iterator<Item = &'static Conflict> {
    CONFLICTS.iter().filter(move |c| classes.contains(c.class) && classes.contains(c.with))
}

/// The first conflict among `privileges` (a role's, or the union of a person's roles), if any.
pub fn conflicts_among<'a>(privileges: impl IntoIterator<Item = &'a Privilege>) -> Option<&'static Conflict> {
    conflicts_in(classes_of_all(privileges)).next()
}

/// The classes that conflicts take away from a person who holds `classes`: both sides of every
/// conflict present.
pub fn suppressed_by_conflicts(classes: ClassSet) -> ClassSet {
    conflicts_in(classes).fold(ClassSet::EMPTY, |set, c| set.with(c.class).with(c.with))
}

/// Whether granting a role with these privileges appoints a custodian: key custody or any
/// privilege on personal data. Such grants, their revocation and resets of their holders'
/// credentials are ceremonies under dual control.
pub fn is_custodial<'a>(privileges: impl IntoIterator<Item = &'a Privilege>) -> bool {
    privileges.into_iter().any(|p| {
        p.reach == Reach::Scope
            && (classes_of(p.resource, p.action).contains(PrivilegeClass::KeyCustody)
                || p.resource == Resource::PersonalData
                || p.action == Action::ErasePersonalData)
    })
}

/// Whether a role with these privileges needs a second factor: identity administration, key
/// custody, anything on keys or personal data, or erasure.
pub fn requires_second_factor<'a>(privileges: impl IntoIterator<Item = &'a Privilege>) -> bool {
    privileges.into_iter().any(|p| {
        let classes = classes_of_privilege(p);
        classes.contains(PrivilegeClass::IdentityAdministration)
            || classes.contains(PrivilegeClass::KeyCustody)
            || (p.reach == Reach::Scope && matches!(p.resource, Resource::PersonalData | Resource::Key))
            || p.action == Action::ErasePersonalData
    })
}

/// Why a service account may not hold a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "service accounts cannot hold {0}: it belongs to people (identity administration, key custody, personal \
     data, listening to or exporting content)"
)]
pub struct ForbiddenForServiceAccounts(pub Privilege);

/// Service accounts never administer identities (create users, grant roles), never hold key
/// custody (dual control needs two people, PCI DSS 3.6.1 / 3.7.6), never touch personal data and
/// never listen to or export content: a token is whoever holds it, so an administrator who made
/// the account could otherwise play every recording through it (content goes in through service
/// accounts, and comes out only to people). Returns the first offending privilege.
pub fn check_service_account_privileges(privileges: &[Privilege]) -> Result<(), ForbiddenForServiceAccounts> {
    match privileges.iter().find(|p| {
        let classes = classes_of_privilege(p);
        classes.contains(PrivilegeClass::IdentityAdministration)
            || classes.contains(PrivilegeClass::KeyCustody)
            || classes.contains(PrivilegeClass::ContentAccess)
            || p.resource == Resource::PersonalData
            || p.action == Action::ErasePersonalData
            || (p.resource == Resource::Key && p.action != Action::Read)
    }) {
        Some(p) => Err(ForbiddenForServiceAccounts(*p)),
        None => Ok(()),
    }
}

/// The people around a custodian appointment (or a reset of a custodian's credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appointment {
    /// Who proposed it.
    pub proposer: PrincipalId,
    /// Whom it is about.
    pub candidate: PrincipalId,
    /// Who created the candidate's account, when known.
    pub candidate_created_by: Option<PrincipalId>,
    /// Who last set the candidate's password or second factor (themself, when they did). The
    /// candidate must have set their own: whoever set them could log in as the candidate.
    pub credentials_last_set_by: Option<PrincipalId>,
}

/// Why an appointment is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppointmentRefusal {
    /// Proposing or approving one's own appointment.
    #[error("nobody proposes or approves a ceremony about themself")]
    AboutThemself,
    /// The approver proposed it.
    #[error("the person who proposed a ceremony cannot approve it; a second person must")]
    SameApprover,
    /// The proposer created the candidate.
    #[error(
        "the proposer created this account; a custodian cannot be appointed by the person who created their \
         account (another administrator must propose)"
    )]
    ProposerCreatedCandidate,
    /// The proposer last set the candidate's credentials.
    #[error(
        "the proposer last set this account's password or second factor and could log in as it; the account's \
         holder must set their own credentials first"
    )]
    ProposerSetCredentials,
    /// Someone other than the candidate last set the candidate's credentials.
    #[error(
        "someone other than the candidate last set this account's password or second factor; the candidate must \
         change their own password (POST /v1/auth/password) before they can be appointed"
    )]
    CredentialsNotOwn,
}

/// Checks who proposes an appointment (before it is stored).
pub fn check_proposal(a: &Appointment) -> Result<(), AppointmentRefusal> {
    if a.proposer == a.candidate {
        return Err(AppointmentRefusal::AboutThemself);
    }
    if a.candidate_created_by == Some(a.proposer) {
        return Err(AppointmentRefusal::ProposerCreatedCandidate);
    }
    if a.credentials_last_set_by == Some(a.proposer) {
        return Err(AppointmentRefusal::ProposerSetCredentials);
    }
    if a.credentials_last_set_by.is_some_and(|by| by != a.candidate) {
        return Err(AppointmentRefusal::CredentialsNotOwn);
    }
    Ok(())
}

/// Checks an approval of an appointment: the proposal's rules, and an approver who is neither the
/// proposer nor the candidate. The approver is shown who created the candidate and who last set
/// their credentials (the ceremony's parameters) and decides with that in view; refusing the
/// creator outright would leave two approving operators unable to appoint a third.
pub fn check_appointment(a: &Appointment, approver: PrincipalId) -> Result<(), AppointmentRefusal> {
    check_proposal(a)?;
    if approver == a.candidate {
        return Err(AppointmentRefusal::AboutThemself);
    }
    if approver == a.proposer {
        return Err(AppointmentRefusal::SameApprover);
    }
    Ok(())
}

/// Default cooling-off time after an appointment before a custodian may approve (24 hours).
pub const DEFAULT_COOLING_OFF_MS: i64 = 24 * 3_600_000;

/// Whether a custodian appointed at `appointed_at_ms` (`None`: appointed when the tenant or
/// provider was set up, before any ceremony existed) may approve at `now_ms`.
pub fn may_approve_after_cooling_off(appointed_at_ms: Option<i64>, now_ms: i64, cooling_off_ms: i64) -> bool {
    appointed_at_ms.is_none_or(|t| now_ms.saturating_sub(t) >= cooling_off_ms)
}

/// Default number of consecutive failures after which a password alone no longer logs in.
pub const DEFAULT_STEP_UP_AFTER: u32 = 3;
/// Default window in which failures count towards the step-up (15 minutes).
pub const DEFAULT_STEP_UP_WINDOW_MS: i64 = 15 * 60_000;

/// What a login needs beyond the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUp {
    /// The password is enough (or the account's second factor is demanded anyway).
    None,
    /// A TOTP or recovery code.
    Totp,
    /// A one-time code sent by e-mail to a confirmed address.
    EmailCode,
    /// No further factor exists: an administrator unlocks the account, or the failures age out.
    NoFactor,
}

/// Failures that still count at `now_ms`: consecutive failures whose last one lies within the
/// window, so three old typos do not lock an agent out.
pub fn recent_failures(failures: u32, last_failure_ms: Option<i64>, now_ms: i64, window_ms: i64) -> u32 {
    match last_failure_ms {
        Some(t) if now_ms.saturating_sub(t) < window_ms => failures,
        _ => 0,
    }
}

/// The step-up rule (NIST SP 800-63B 5.2.2; "for repeated access attempts ... the user should be
/// presented with further authentication"): after `after` recent failures, a password alone no
/// longer logs in; the account's TOTP is demanded, else a code to a confirmed e-mail address,
/// else nothing works until an administrator unlocks or the window passes.
pub fn step_up(recent_failures: u32, after: u32, has_totp: bool, has_confirmed_email: bool) -> StepUp {
    if recent_failures < after {
        StepUp::None
    } else if has_totp {
        StepUp::Totp
    } else if has_confirmed_email {
        StepUp::EmailCode
    } else {
        StepUp::NoFactor
    }
}

#[cfg(test)]
mod tests {
    use callvault_model::access::DefaultRole;
    use callvault_model::{OperatorId, UserId};

    use super::*;
    use crate::access::default_role_privileges;

    fn union(roles: &[DefaultRole]) -> Vec<Privilege> {
        roles.iter().flat_map(|r| default_role_privileges(*r)).collect()
    }

    /// Role × role → allowed, or refused with the conflict's classes. Every pair of default roles.
    #[test]
    fn default_role_conflict_table() {
        use DefaultRole::*;
        use PrivilegeClass::*;
        let ia_kc = Some((IdentityAdministration, KeyCustody));
        let ia_ca = Some((IdentityAdministration, ContentAccess));
        let au_wr = Some((Audit, Write));
        #[rustfmt::skip]
        type Row = (DefaultRole, DefaultRole, Option<(PrivilegeClass, PrivilegeClass)>);
        let table: &[Row] = &[
            (Administrator, SecurityOfficer, ia_kc),
            (Administrator, DataProtectionOfficer, ia_ca),
            (Administrator, Supervisor, ia_ca),
            (Administrator, Auditor, au_wr),
            (Administrator, Agent, None),
            (Administrator, Dialer, None),
            (SecurityOfficer, DataProtectionOfficer, None),
            (SecurityOfficer, Auditor, au_wr),
            (SecurityOfficer, Supervisor, None),
            (SecurityOfficer, Agent, None),
            (DataProtectionOfficer, Auditor, au_wr),
            (DataProtectionOfficer, Supervisor, None),
            (DataProtectionOfficer, Agent, None),
            (Auditor, Supervisor, au_wr),
            (Auditor, Agent, au_wr),
            (Auditor, Dialer, au_wr),
            (Supervisor, Agent, None),
            (Supervisor, Dialer, None),
            (Agent, Dialer, None),
        ];
        for &(a, b, expected) in table {
            let got = conflicts_among(&union(&[a, b])).map(|c| (c.class, c.with));
            assert_eq!(got, expected, "{} + {}", a.name(), b.name());
            let reversed = conflicts_among(&union(&[b, a])).map(|c| (c.class, c.with));
            assert_eq!(reversed, expected, "{} + {} (order)", b.name(), a.name());
        }
        // Every default role alone is free of conflicts.
        for &role in DefaultRole::ALL {
            assert_eq!(conflicts_among(&default_role_privileges(role)), None, "{}", role.name());
        }
    }

    #[test]
    fn custom_roles_conflict_by_class_not_name() {
        let p = |s: &str| -> Privilege { s.parse().unwrap() };
        // One custom role carrying both classes conflicts with itself.
        let both = [p("grant:create"), p("key:approve_key_operation")];
        assert_eq!(
            conflicts_among(&both).map(|c| (c.class, c.with)),
            Some((PrivilegeClass::IdentityAdministration, PrivilegeClass::KeyCustody))
        );
        let listen_and_users = [p("user:update"), p("interaction:listen")];
        assert!(conflicts_among(&listen_and_users).is_some());
        // Self-service privileges are in no class.
        let own = [p("user_credential:update:own"), p("interaction:listen:own"), p("audit:verify")];
        assert_eq!(conflicts_among(&own), None);
        let reads = [p("audit:verify"), p("user:read"), p("dial_check:create")];
        assert_eq!(conflicts_among(&reads), None, "dial checks are queries, not writes");
        assert!(conflicts_among(&[p("audit:verify"), p("do_not_call:create")]).is_some());
    }

    #[test]
    fn suppression_takes_both_sides() {
        let classes = ClassSet::EMPTY.with(PrivilegeClass::IdentityAdministration).with(PrivilegeClass::KeyCustody);
        let s = suppressed_by_conflicts(classes);
        assert!(s.contains(PrivilegeClass::IdentityAdministration) && s.contains(PrivilegeClass::KeyCustody));
        assert!(!s.contains(PrivilegeClass::ContentAccess));
        assert!(suppressed_by_conflicts(ClassSet::EMPTY.with(PrivilegeClass::Write)).is_empty());
    }

    #[test]
    fn custodial_roles_and_service_accounts() {
        assert!(is_custodial(&default_role_privileges(DefaultRole::SecurityOfficer)));
        assert!(is_custodial(&default_role_privileges(DefaultRole::DataProtectionOfficer)));
        for r in [DefaultRole::Administrator, DefaultRole::Supervisor, DefaultRole::Agent, DefaultRole::Auditor] {
            assert!(!is_custodial(&default_role_privileges(r)), "{}", r.name());
        }
        for r in [DefaultRole::Administrator, DefaultRole::SecurityOfficer, DefaultRole::DataProtectionOfficer] {
            assert!(check_service_account_privileges(&default_role_privileges(r)).is_err(), "{}", r.name());
            assert!(requires_second_factor(&default_role_privileges(r)), "{}", r.name());
        }
        // Supervisors listen: people only.
        assert!(check_service_account_privileges(&default_role_privileges(DefaultRole::Supervisor)).is_err());
        for r in [
            DefaultRole::Dialer,
            DefaultRole::Agent,
            DefaultRole::Auditor,
            DefaultRole::Recorder,
            DefaultRole::ReportingFeed,
        ] {
            assert!(check_service_account_privileges(&default_role_privileges(r)).is_ok(), "{}", r.name());
        }
        let p: Privilege = "grant:create".parse().unwrap();
        let e = check_service_account_privileges(&[p]).unwrap_err();
        assert!(e.to_string().contains("grant:create"), "{e}");
    }

    #[test]
    fn appointment_rules() {
        let admin = PrincipalId::User(UserId::new());
        let officer = PrincipalId::User(UserId::new());
        let candidate = PrincipalId::User(UserId::new());
        let operator = PrincipalId::Operator(OperatorId::new());
        let mut a = Appointment {
            proposer: admin,
            candidate,
            candidate_created_by: Some(officer),
            credentials_last_set_by: Some(candidate),
        };
        assert_eq!(check_proposal(&a), Ok(()));
        assert_eq!(check_appointment(&a, operator), Ok(()));
        assert_eq!(check_appointment(&a, admin), Err(AppointmentRefusal::SameApprover));
        assert_eq!(check_appointment(&a, candidate), Err(AppointmentRefusal::AboutThemself));
        assert_eq!(check_appointment(&a, officer), Ok(()), "the creator may approve, seeing that they created it");
        a.candidate_created_by = Some(admin);
        assert_eq!(check_proposal(&a), Err(AppointmentRefusal::ProposerCreatedCandidate));
        a.candidate_created_by = None;
        a.credentials_last_set_by = Some(admin);
        assert_eq!(check_proposal(&a), Err(AppointmentRefusal::ProposerSetCredentials));
        a.credentials_last_set_by = Some(officer);
        assert_eq!(check_proposal(&a), Err(AppointmentRefusal::CredentialsNotOwn));
        a.proposer = candidate;
        assert_eq!(check_proposal(&a), Err(AppointmentRefusal::AboutThemself));
    }

    #[test]
    fn cooling_off_and_step_up() {
        let day = DEFAULT_COOLING_OFF_MS;
        assert!(may_approve_after_cooling_off(None, 0, day));
        assert!(!may_approve_after_cooling_off(Some(1_000), 1_000 + day - 1, day));
        assert!(may_approve_after_cooling_off(Some(1_000), 1_000 + day, day));
        let w = DEFAULT_STEP_UP_WINDOW_MS;
        assert_eq!(recent_failures(3, Some(0), w - 1, w), 3);
        assert_eq!(recent_failures(3, Some(0), w, w), 0, "old typos age out");
        assert_eq!(recent_failures(5, None, 0, w), 0);
        assert_eq!(step_up(2, 3, true, true), StepUp::None);
        assert_eq!(step_up(3, 3, true, true), StepUp::Totp);
        assert_eq!(step_up(3, 3, false, true), StepUp::EmailCode);
        assert_eq!(step_up(4, 3, false, false), StepUp::NoFactor);
    }
}
