//! Which personal data each table holds: every table of the schema is listed here once, with
//! its category of personal data or the reason it holds none. Retention, subject reports and
//! erasure work from this list; the conformance test fails when a table is missing from it or
//! listed but absent from the schema.

use callvault_model::personal::Category;

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Personal data of this category.
    Personal(Category),
    /// No personal data, for the reason given.
    Nothing(&'static str),
}

use Category::*;
use Holds::{Nothing, Personal};

/// Every table with what it holds.
pub const TABLES: &[(&str, Holds)] = &[
    ("cfg_tenant", Nothing("the contact center's name, capabilities and settings")),
    ("op_tombstone", Nothing("ids, categories and times of erased data, keyed digests of closed references")),
    ("cfg_generation", Nothing("a counter per tenant of changes to sessions, grants and settings")),
    ("op_call_open", Nothing("how many calls are not ended, per tenant (several nodes' call caps)")),
    ("op_legal_hold", Nothing("legal holds: names, reasons and the ids they cover")),
    ("op_dpo_request", Nothing("requests of data protection officers: subject ids, states, dates, digests")),
    ("op_record_identifier", Personal(CallingLists)),
    ("op_user_tombstone", Personal(UserMaster)),
    ("cfg_subject_exclusion", Nothing("the tenant's own numbers and shared addresses that link no subject")),
    ("cfg_collection_off", Nothing("which optional categories a tenant or a user id does not collect")),
    ("op_purge_run", Nothing("progress and counts of retention purges")),
    ("cfg_dnc_digest", Nothing("keyed digests of erased customers' do-not-call numbers")),
    ("cfg_retention_policy", Nothing("retention periods per category and service")),
    ("cfg_event_logging", Nothing("until when a tenant's communication events are logged, and the user id who asked")),
    ("cfg_operator", Personal(UserMaster)),
    ("cfg_user", Personal(UserMaster)),
    ("cfg_credential", Personal(UserMaster)),
    ("cfg_recovery_code", Personal(UserMaster)),
    ("dir_address", Personal(Directory)),
    ("cfg_team", Nothing("organisation units")),
    ("cfg_department", Nothing("organisation units")),
    ("cfg_recording_policy", Nothing("recording switches and consent rules; users named by id only")),
    ("op_recording_pause", Personal(ContactRecords)),
    ("op_performance", Personal(Reporting)),
    ("cfg_skill", Nothing("organisation units")),
    ("cfg_service", Nothing("organisation units")),
    ("cfg_team_member", Personal(UserMaster)),
    ("cfg_user_skill", Personal(UserMaster)),
    ("cfg_user_service", Personal(UserMaster)),
    ("cfg_role", Nothing("sets of privileges")),
    ("cfg_service_account", Nothing("accounts of systems (dialers, recorders, SBCs), not of persons")),
    ("cfg_grant", Personal(UserMaster)),
    ("op_session", Personal(UserMaster)),
    ("op_notification", Personal(UserMaster)),
    ("op_one_time_code", Personal(UserMaster)),
    ("cfg_call_alert_optout", Personal(UserMaster)),
    ("cfg_signing_key", Nothing("the audit log's signing key, wrapped")),
    ("aud_entry", Nothing("audit entries carry ids and keyed pseudonyms, never personal values")),
    ("aud_head", Nothing("the audit log's sequencing state")),
    ("aud_tree_head", Nothing("signed tree heads")),
    ("cfg_encryption", Nothing("encryption settings")),
    ("cfg_data_key", Nothing("wrapped data keys")),
    ("cfg_kek_check", Nothing("the KEK check value")),
    ("cfg_kek_share", Nothing("digests of KEK shares")),
    ("cfg_ceremony", Nothing("key ceremonies; their parties are ids")),
    ("cfg_ceremony_share", Nothing("wrapped KEK shares of custodians")),
    ("cfg_webhook", Nothing("webhook URLs and wrapped secrets")),
    ("op_object", Personal(Recordings)),
    ("op_job", Nothing("progress of key and purge jobs")),
    ("out_list", Nothing("definitions of calling lists and forms")),
    ("out_record", Personal(CallingLists)),
    ("out_blind_index", Personal(CallingLists)),
    ("cfg_dial", Nothing("dial settings and calling-hour rules")),
    ("cfg_dial_area", Nothing("calling areas")),
    ("cfg_dial_assignment", Nothing("which areas a user, team or service may call")),
    ("cfg_dnc_list", Nothing("do-not-call list definitions and registry digests")),
    ("cfg_dnc_number", Personal(ContactRecords)),
    ("op_dial_attempt", Personal(ContactRecords)),
    ("cfg_station", Personal(Directory)),
    ("cfg_capture_agent", Nothing("HEP capture agents and their key digests")),
    ("op_interaction", Personal(ContactRecords)),
    ("op_interaction_agent", Personal(ContactRecords)),
    ("op_interaction_identifier", Personal(ContactRecords)),
    ("op_subject_identifier", Personal(ContactRecords)),
    ("op_call", Personal(ContactRecords)),
    ("op_call_change", Personal(ContactRecords)),
    ("op_call_alert", Personal(ContactRecords)),
];

/// What a table holds; `None` for a table not in the schema.
pub fn holds(table: &str) -> Option<Holds> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, h)| *h)
}

/// The tables holding personal data of `category`.
pub fn tables_of(category: Category) -> impl Iterator<Item = &'static str> {
    TABLES.iter().filter(move |(_, h)| *h == Personal(category)).map(|(t, _)| *t)
}
