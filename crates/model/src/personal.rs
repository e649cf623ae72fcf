//! Personal data: the categories every piece of person-related data belongs to. Each category is
//! controlled separately (collected or not, its own retention); only user master data is
//! mandatory. The categories are those of the product's data-protection chapter, plus calling
//! lists, whose records name the customers a campaign calls.

use serde::{Deserialize, Serialize};

use crate::vault::ContentClass;

name_enum!(
    /// A category of personal data.
    Category {
        /// Who a user is: names, login, credentials, assignments, sessions. Mandatory; removed
        /// with the user account (a name tombstone stays until the user's other data is gone).
        UserMaster = "user_master",
        /// Directory information: a user's phone numbers and e-mail addresses for finding the
        /// right person, and the stations they work at. Optional, per tenant and per user.
        Directory = "directory",
        /// Reporting data: per-person statistics such as work-time distribution.
        Reporting = "reporting",
        /// Recordings of communication: voice and screen recordings, chat and SMS transcripts,
        /// e-mails and their attachments. Optional; follows the retention of its interaction.
        Recordings = "recordings",
        /// Contact data records: the addresses (phone number, e-mail, IP address) that identify
        /// the person on the other end of an interaction, and what happened to it.
        ContactRecords = "contact_records",
        /// Calling lists and activity forms: the customers a campaign calls, with their fields.
        CallingLists = "calling_lists",
    }
);

impl Category {
    /// Whether a tenant (or a user, for directory information) may switch the category off.
    pub fn optional(self) -> bool {
        self != Category::UserMaster
    }
}

impl ContentClass {
    /// The category content of this class belongs to.
    pub fn category(self) -> Category {
        match self {
            ContentClass::Voice
            | ContentClass::Screen
            | ContentClass::Chat
            | ContentClass::Sms
            | ContentClass::Email
            | ContentClass::Attachment => Category::Recordings,
        }
    }
}
