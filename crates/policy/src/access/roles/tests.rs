//! The default role table against the separation-of-duties and service-account rules.

use callvault_model::access::{Action, DefaultRole, Privilege, Reach, Resource};

use super::*;
use crate::access::{ForbiddenForServiceAccounts, check_service_account_privileges};

#[test]
fn service_accounts_are_never_custodians_dpos_or_administrators() {
    use Action::*;
    use Resource::*;
    let check = check_service_account_privileges;
    for role in [
        DefaultRole::Agent,
        DefaultRole::Auditor,
        DefaultRole::Dialer,
        DefaultRole::Recorder,
        DefaultRole::ReportingFeed,
    ] {
        assert_eq!(check(&default_role_privileges(role)), Ok(()), "{role:?}");
    }
    // Supervisors listen to recordings: content comes out only to people.
    assert_eq!(
        check(&default_role_privileges(DefaultRole::Supervisor)),
        Err(ForbiddenForServiceAccounts(Privilege::scoped(Interaction, Listen)))
    );
    assert_eq!(
        check(&default_role_privileges(DefaultRole::Administrator)),
        Err(ForbiddenForServiceAccounts(Privilege::scoped(User, Create)))
    );
    assert_eq!(
        check(&default_role_privileges(DefaultRole::SecurityOfficer)),
        Err(ForbiddenForServiceAccounts(Privilege::scoped(Key, ManageKeys)))
    );
    assert_eq!(
        check(&default_role_privileges(DefaultRole::DataProtectionOfficer)),
        Err(ForbiddenForServiceAccounts(Privilege::scoped(PersonalData, Read)))
    );
    for forbidden in [
        Privilege::scoped(Key, ApproveKeyOperation),
        Privilege::own(Key, ManageKeys),
        Privilege::scoped(PersonalData, Export),
        Privilege::own(PersonalData, Read),
        Privilege::scoped(Interaction, ErasePersonalData),
        Privilege::scoped(User, ErasePersonalData),
        Privilege::scoped(Grant, Create),
        Privilege::scoped(Role, Update),
        Privilege::scoped(ServiceAccount, Create),
        Privilege::scoped(UserCredential, Update),
        Privilege::scoped(Interaction, Listen),
        Privilege::scoped(Interaction, Export),
        Privilege::scoped(CallingList, Export),
    ] {
        assert_eq!(check(&[Privilege::scoped(User, Read), forbidden]), Err(ForbiddenForServiceAccounts(forbidden)));
    }
    for fine in [
        Privilege::scoped(Key, Read),
        Privilege::scoped(Interaction, Create),
        Privilege::scoped(Audit, Verify),
        Privilege::own(Interaction, Listen),
    ] {
        assert_eq!(check(&[fine]), Ok(()));
    }
    assert_eq!(
        check(&[Privilege::scoped(Key, ManageKeys)]).unwrap_err().to_string(),
        "service accounts cannot hold key:manage_keys: it belongs to people (identity administration, key \
         custody, personal data, listening to or exporting content)"
    );
}

#[test]
fn default_role_table_keeps_duties_apart() {
    use DefaultRole::*;
    let privileges = |role| default_role_privileges(role);
    // Self-service: the `:own` base of every role. Agents add two scoped privileges of the
    // telecom policy: asking dial checks and recording customers' do-not-call requests.
    let agent_all = privileges(Agent);
    let dial_extras = [Privilege::scoped(Resource::DoNotCall, Action::Create)];
    assert!(
        agent_all.iter().all(|p| p.reach == Reach::Own || dial_extras.contains(p)),
        "agents hold only `:own` privileges (their own dial checks among them) and do-not-call requests"
    );
    let agent: Vec<Privilege> = agent_all
        .into_iter()
        .filter(|p| {
            p.reach == Reach::Own
                && *p != Privilege::own(Resource::DialCheck, Action::Create)
                && *p != Privilege::own(Resource::CallingList, Action::Read)
        })
        .collect();
    // Customer details: agents read the lists of their own services and change nothing of them.
    let lists: Vec<_> = privileges(Agent).into_iter().filter(|p| p.resource == Resource::CallingList).collect();
    assert_eq!(lists, [Privilege::own(Resource::CallingList, Action::Read)]);
    for &role in DefaultRole::ALL {
        let v = privileges(role);
        let mut sorted = v.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), v.len(), "{role:?} has duplicates");
        if role.is_for_systems() {
            assert!(v.iter().all(|p| p.reach == Reach::Scope), "{role:?} is a system's: no self-service");
        } else {
            assert!(agent.iter().all(|p| v.contains(p)), "{role:?} lacks self-service");
        }
        let holds = |r: Resource, a: Action| v.contains(&Privilege::scoped(r, a));
        assert_eq!(holds(Resource::Key, Action::ManageKeys), role == SecurityOfficer, "{role:?}");
        assert_eq!(holds(Resource::Key, Action::ApproveKeyOperation), role == SecurityOfficer, "{role:?}");
        assert_eq!(holds(Resource::PersonalData, Action::ErasePersonalData), role == DataProtectionOfficer);
        assert_eq!(v.iter().any(|p| p.resource == Resource::PersonalData), role == DataProtectionOfficer, "{role:?}");
        assert_eq!(holds(Resource::Interaction, Action::Listen), role == Supervisor, "{role:?}");
        assert_eq!(holds(Resource::Grant, Action::Create), role == Administrator, "{role:?}");
        assert!(!holds(Resource::Tenant, Action::Update), "only operators change tenants");
        assert!(!holds(Resource::TenantCapabilities, Action::Update), "only operators switch capabilities");
    }
    let auditor = privileges(Auditor);
    assert!(
        auditor.iter().filter(|p| p.reach == Reach::Scope).all(|p| matches!(p.action, Action::Read | Action::Verify)),
        "auditors are read-only"
    );
    // 46 + dial policy and do-not-call lists + calls and stations + departments and the recording policy
    assert_eq!(privileges(Administrator).len(), agent.len() + 62);
}
