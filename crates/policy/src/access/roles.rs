//! The default roles: one constant per role, with each role's rationale from the seeds.

use callvault_model::access::{DefaultRole, Privilege};

/// The privileges of a default role: the self-service privileges every role of people starts
/// from (roles of systems have none: a dialer or recorder has no profile, sessions or recordings
/// of its own), then the role's own table below. No duplicates; self-service first, in table order.
pub fn default_role_privileges(role: DefaultRole) -> Vec<Privilege> {
    let extra = match role {
        DefaultRole::Agent => table::AGENT,
        DefaultRole::Supervisor => table::SUPERVISOR,
        DefaultRole::Administrator => table::ADMINISTRATOR,
        DefaultRole::SecurityOfficer => table::SECURITY_OFFICER,
        DefaultRole::DataProtectionOfficer => table::DATA_PROTECTION_OFFICER,
        DefaultRole::Auditor => table::AUDITOR,
        DefaultRole::Dialer => table::DIALER,
        DefaultRole::Recorder => table::RECORDER,
        DefaultRole::ReportingFeed => table::REPORTING_FEED,
    };
    let base = if role.is_for_systems() { &[][..] } else { table::SELF_SERVICE };
    let mut v: Vec<Privilege> = Vec::with_capacity(base.len() + extra.len());
    for p in base.iter().chain(extra) {
        if !v.contains(p) {
            v.push(*p);
        }
    }
    v
}

/// The default role table, one constant per role. `own` = only what the principal owns; `all` =
/// everything in the grant's scope (the whole tenant, or the teams, skills and services of a
/// limited grant). Each role's rationale from the seeds is on its constant.
mod table {
    use callvault_model::access::Action::*;
    use callvault_model::access::Resource::*;
    use callvault_model::access::{Action, Privilege, Resource};

    const fn own(r: Resource, a: Action) -> Privilege {
        Privilege::own(r, a)
    }

    const fn all(r: Resource, a: Action) -> Privilege {
        Privilege::scoped(r, a)
    }

    /// Agent, and the self-service base of every role: one's own profile, addresses, password and
    /// TOTP, sessions, notifications and interactions: by default a user may access their own
    /// recordings. Seeing, updating or deleting customer details needs a further grant (no
    /// customer-data privilege here at all).
    pub(super) const SELF_SERVICE: &[Privilege] = &[
        own(User, Read),
        own(User, Update),
        own(UserAddress, Read),
        own(UserAddress, Create),
        own(UserAddress, Update),
        own(UserAddress, Delete),
        own(UserCredential, Update), // own password and TOTP
        own(Session, Read),
        own(Session, Delete), // log out, "log out other sessions"
        own(Interaction, Read),
        own(Interaction, Listen),
        own(Notification, Read),
        own(CallAlert, Read),      // the security alerts of one's own calls
        own(Performance, Read),    // one's own work-time statistics
        own(RecordingState, Read), // whether one's own call is being recorded
    ];

    /// An agent's softphone asks before dialling, and an agent records a customer's
    /// request not to be called again.
    /// An agent asks only for their own calls (`:own`): naming another user in a dial check is
    /// for dialers and for supervisors of that user's teams.
    /// An agent may see customer details but not update, edit or delete them: the records of
    /// the calling lists of the services and campaigns the agent is assigned to (`:own` — a
    /// list is owned by the users assigned to its service), read with an audited decryption.
    pub(super) const AGENT: &[Privilege] = &[own(DialCheck, Create), all(DoNotCall, Create), own(CallingList, Read)];

    /// Supervisors see their team members and teams but not teams of other departments, and hold
    /// listening rights for their services (queues, outbound campaigns). Granted with a limited
    /// scope of their teams (or their department) and services, these reach only those: the
    /// personal recordings and performance of their teams' agents, the quality-management
    /// recordings of their services.
    pub(super) const SUPERVISOR: &[Privilege] = &[
        all(User, Read),
        all(UserAddress, Read),
        all(Team, Read),
        all(Department, Read),
        all(Performance, Read),
        all(RecordingPolicy, Read),
        all(RecordingState, Read),
        all(Skill, Read),
        all(Service, Read),
        all(Interaction, Read),
        all(Interaction, Listen),
        all(CallingList, Read),
        all(DialPolicy, Read),
        all(DoNotCall, Read),
        all(DoNotCall, Create),
        all(DialCheck, Create),
        all(Call, Read),
        all(Station, Read),
        own(CallAlert, Update), // opting out of alerts only where a role grants it
    ];

    /// Access to data depends on the user's role, defined in user and role management; the
    /// administrator runs that configuration. No key custody, no personal-data
    /// erasure and no interaction content: those belong to the officers (separation of duties).
    pub(super) const ADMINISTRATOR: &[Privilege] = &[
        all(User, Read),
        all(User, Create),
        all(User, Update),
        all(User, Delete),
        all(User, Explain), // "may user X do Y, and why?"
        all(UserAddress, Read),
        all(UserAddress, Create),
        all(UserAddress, Update),
        all(UserAddress, Delete),
        all(UserCredential, Update), // reset a password or second factor
        all(UserCredential, Unlock),
        all(Team, Read),
        all(Team, Create),
        all(Team, Update),
        all(Team, Delete),
        all(Department, Read),
        all(Department, Create),
        all(Department, Update),
        all(Department, Delete),
        all(RecordingPolicy, Read),
        all(RecordingPolicy, Update),
        all(Skill, Read),
        all(Skill, Create),
        all(Skill, Update),
        all(Skill, Delete),
        all(Service, Read),
        all(Service, Create),
        all(Service, Update),
        all(Service, Delete),
        all(Role, Read),
        all(Role, Create),
        all(Role, Update),
        all(Role, Delete),
        all(Grant, Read),
        all(Grant, Create),
        all(Grant, Update),
        all(Grant, Delete),
        all(ServiceAccount, Read),
        all(ServiceAccount, Create),
        all(ServiceAccount, Update),
        all(ServiceAccount, Delete),
        all(TenantSettings, Read),
        all(TenantSettings, Update),
        all(Session, Read),
        all(Session, Delete),
        all(Notification, Read),
        all(Audit, Read),
        all(Tenant, Read),
        all(CallingList, Read),
        all(CallingList, Create),
        all(CallingList, Update),
        all(CallingList, Delete),
        all(DialPolicy, Read),
        all(DialPolicy, Update),
        all(DoNotCall, Read),
        all(DoNotCall, Update),
        all(DoNotCall, Delete),
        all(Call, Read),
        all(Station, Read),
        all(Station, Create),
        all(Station, Update),
        all(Station, Delete),
    ];

    /// PCI DSS 3.6.1 / 3.7.6 (dual control): key custodians, two of whom run every key operation (one
    /// proposes, another approves). They receive the alerts on repeated failed logins, end sessions
    /// and unlock accounts, and read the audit log. Verifying it (tree heads, proofs) is the
    /// auditor's: whoever writes is not their own auditor (separation of duties, `duties::CONFLICTS`).
    pub(super) const SECURITY_OFFICER: &[Privilege] = &[
        all(Key, Read),
        all(Key, ManageKeys),
        all(Key, ApproveKeyOperation),
        all(Audit, Read),
        all(Notification, Read),
        all(Session, Read),
        all(Session, Delete),
        all(User, Read),
        all(User, Explain),
        all(UserCredential, Unlock),
        all(Role, Read),
        all(Grant, Read),
        all(Call, Read),
        all(Station, Read),
    ];

    /// Data subjects' requests (GDPR Art. 12(3), 17): a customer's personal data report and export,
    /// erasure of their personal data, and the audit log of changes to personal data.
    pub(super) const DATA_PROTECTION_OFFICER: &[Privilege] = &[
        all(PersonalData, Read),
        all(PersonalData, Export),
        all(PersonalData, ErasePersonalData),
        all(User, Read),
        all(UserAddress, Read),
        all(Interaction, Read),
        all(Interaction, Export),
        all(CallingList, Read),
        all(CallingList, Export),
        all(Audit, Read),
    ];

    /// Read-only on the configuration and the audit log, with proofs; never interaction content,
    /// keys or personal-data reports.
    pub(super) const AUDITOR: &[Privilege] = &[
        all(Audit, Read),
        all(Audit, Verify),
        all(User, Read),
        all(Team, Read),
        all(Department, Read),
        all(Skill, Read),
        all(Service, Read),
        all(Role, Read),
        all(Grant, Read),
        all(ServiceAccount, Read),
        all(RecordingPolicy, Read),
        all(TenantSettings, Read),
        all(Notification, Read),
        all(DialPolicy, Read),
        all(DoNotCall, Read),
        all(Call, Read),
        all(Station, Read),
    ];

    /// The dialer asks callvault before every call or text and records do-not-call requests; it
    /// reads the dial policy to explain itself. PBXs and SBCs feed call signalling events. Nothing
    /// else.
    pub(super) const DIALER: &[Privilege] = &[
        all(DialCheck, Create),
        all(DoNotCall, Create),
        all(DialPolicy, Read),
        all(Call, Create),
        all(RecordingDecision, Create), // an SBC asks whether to record as it asks whether to connect
    ];

    /// A recording system: stores recordings, transcripts and e-mails and the contact records they
    /// belong to, asks before and during each call whether to record, and relays the pauses agents
    /// make. It never reads content back (content comes out only to people).
    pub(super) const RECORDER: &[Privilege] = &[
        all(Interaction, Create),
        all(RecordingDecision, Create),
        all(RecordingPolicy, Read),
        all(RecordingState, Read), // whether a call is paused (the decision says it too)
    ];

    /// The ACD's reporting feed: agent performance statistics in, nothing out.
    pub(super) const REPORTING_FEED: &[Privilege] = &[all(Performance, Create)];
}

#[cfg(test)]
mod tests;
