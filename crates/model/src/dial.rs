//! Records of the telecom policy: named calling areas and do-not-call lists. The
//! decision engine itself lives in `callvault-policy::dial`.

use serde::{Deserialize, Serialize};

use crate::records::Timestamp;
use crate::{DncListId, TenantId};

/// A named calling area as stored: clauses in their text form (`country:44`, `prefix:447`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaDef {
    /// Name, unique in the tenant.
    pub name: String,
    /// Numbers covered: `any`, `country:44`, `region:US`, `area_code:208`, `kind:mobile`,
    /// `prefix:447`.
    pub include: Vec<String>,
    /// Numbers taken out again (they win over inclusions).
    #[serde(default)]
    pub except: Vec<String>,
}

/// Internal list or registry copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DncListKind {
    /// The tenant's own list: numbers added on a customer's request, always honoured.
    Internal,
    /// A copy of a national or state registry, imported from a file and replaced whole.
    Registry,
}

impl DncListKind {
    /// Stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            DncListKind::Internal => "internal",
            DncListKind::Registry => "registry",
        }
    }

    /// By stable name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "internal" => Some(DncListKind::Internal),
            "registry" => Some(DncListKind::Registry),
            _ => None,
        }
    }
}

/// A do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DncList {
    /// Id.
    pub id: DncListId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Name, unique in the tenant.
    pub name: String,
    /// Internal or registry.
    pub kind: DncListKind,
    /// The country calling code a registry covers (1 for the US national registry).
    pub country_code: Option<u16>,
    /// Numbers on it.
    pub entries: u64,
    /// When the registry's data was published or downloaded (the safe-harbor age counts from
    /// here); for internal lists, the last change.
    pub refreshed_at: Option<Timestamp>,
    /// SHA-256 of the stored compact set (registries).
    pub file_sha256: Option<String>,
    /// Created.
    pub created_at: Timestamp,
}
