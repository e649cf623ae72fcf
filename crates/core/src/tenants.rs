//! Tenants: what every new contact center starts with.

use callvault_model::RoleId;
use callvault_model::TenantId;
use callvault_model::access::DefaultRole;
use callvault_model::records::{Role, Timestamp};
use callvault_policy::access::default_role_privileges;
use callvault_store::prelude::*;
use callvault_store::{StoreError, Tx};

/// Inserts the default roles of a new tenant; returns the administrator role's id.
pub async fn seed_default_roles(tx: &mut Tx, tenant: TenantId, now: Timestamp) -> Result<RoleId, StoreError> {
    let admin = RoleId::new();
    for role in DefaultRole::ALL {
        let id = if *role == DefaultRole::Administrator { admin } else { RoleId::new() };
        tx.insert_role(&Role {
            id,
            tenant_id: tenant,
            name: role.name().into(),
            description: default_role_description(*role).into(),
            privileges: default_role_privileges(*role),
            builtin: true,
            created_at: now,
        })
        .await?;
    }
    Ok(admin)
}

fn default_role_description(role: DefaultRole) -> &'static str {
    match role {
        DefaultRole::Agent => "Own interactions and profile",
        DefaultRole::Supervisor => "Own teams' users and interactions, listen on own services",
        DefaultRole::Administrator => "Runs the contact center's configuration",
        DefaultRole::SecurityOfficer => "Key custodian and audit",
        DefaultRole::DataProtectionOfficer => "Personal data reports and erasure",
        DefaultRole::Auditor => "Read-only, audit",
        DefaultRole::Dialer => {
            "Telephony systems: dial checks, do-not-call requests, call signalling events (dialers, PBXs, SBCs)"
        }
    }
}
