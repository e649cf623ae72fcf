//! Data classes and the table prefix of each, so retention can be set per class.

/// A class of data with its own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataClass {
    /// Queues, users, teams, roles: `cfg_`.
    Configuration,
    /// Users' phone numbers and addresses: `dir_`.
    Directory,
    /// Sessions, contacts, interactions: `op_`.
    Operative,
    /// Calling lists and campaign customer data: `out_`.
    Outbound,
    /// Online monitoring (live calls): `mon_`.
    Monitoring,
    /// Reporting and history: `rep_`.
    Reporting,
    /// The tamper-evident audit log: `aud_` (retention never deletes from it).
    Audit,
}

impl DataClass {
    /// Every class.
    pub const ALL: &'static [DataClass] = &[
        DataClass::Configuration,
        DataClass::Directory,
        DataClass::Operative,
        DataClass::Outbound,
        DataClass::Monitoring,
        DataClass::Reporting,
        DataClass::Audit,
    ];

    /// The table-name prefix of the class.
    pub fn prefix(&self) -> &'static str {
        match self {
            DataClass::Configuration => "cfg_",
            DataClass::Directory => "dir_",
            DataClass::Operative => "op_",
            DataClass::Outbound => "out_",
            DataClass::Monitoring => "mon_",
            DataClass::Reporting => "rep_",
            DataClass::Audit => "aud_",
        }
    }

    /// The class a table belongs to; `None` for bookkeeping tables (`cv_`) and unknown names.
    pub fn of_table(table: &str) -> Option<DataClass> {
        Self::ALL.iter().copied().find(|c| table.starts_with(c.prefix()))
    }
}
