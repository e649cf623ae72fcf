//! Password rules of NIST SP 800-63B: at least 8 characters (configurable up), at least 64
//! allowed, no composition rules, no truncation, NFKC normalisation, and rejection of common and
//! context-specific passwords.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

/// Length limits, counted in Unicode scalar values after NFKC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    /// Minimum length (never below 8).
    pub min_length: usize,
    /// Maximum length (never below 64). Longer passwords are refused, never truncated.
    pub max_length: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self { min_length: 8, max_length: 256 }
    }
}

/// Why a new password is refused. Messages never echo the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Too short.
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    /// Too long.
    #[error("the password must have at most {0} characters")]
    TooLong(usize),
    /// In the list of common passwords.
    #[error("the password is too common: it appears in lists of breached passwords")]
    Common,
    /// Equal to the login id, a name, or the service's name.
    #[error("the password must not be your login id, your name or the service's name")]
    ContextWord,
}

/// NFKC normalisation, applied to passwords before hashing and before every comparison.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common-passwords.txt").lines().filter(|l| !l.is_empty()).collect());

/// Number of entries in the shipped common-password list.
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// Checks a new password against the rules; `context` holds words the password must not equal
/// (login id, first and last name, tenant slug).
pub fn check_new_password(password: &str, rules: &PasswordRules, context: &[&str]) -> Result<(), PasswordRejection> {
    let min = rules.min_length.max(8);
    let max = rules.max_length.max(64);
    let normalized = normalize(password);
    let len = normalized.chars().count();
    if len < min {
        return Err(PasswordRejection::TooShort(min));
    }
    if len > max {
        return Err(PasswordRejection::TooLong(max));
    }
    let lower = normalized.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err(PasswordRejection::Common);
    }
    if lower == "callvault" || context.iter().any(|w| !w.is_empty() && normalize(w).to_lowercase() == lower) {
        return Err(PasswordRejection::ContextWord);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nist_rules() {
        let r = PasswordRules::default();
        assert!(common_password_count() >= 10_000);
        assert_eq!(check_new_password("password", &r, &[]), Err(PasswordRejection::Common));
        assert_eq!(check_new_password("12345678", &r, &[]), Err(PasswordRejection::Common));
        assert_eq!(check_new_password("PassWord1", &r, &[]).is_err(), COMMON.contains("password1"));
        assert_eq!(check_new_password("short", &r, &[]), Err(PasswordRejection::TooShort(8)));
        assert!(check_new_password("correct horse battery staple", &r, &[]).is_ok());
        assert!(check_new_password(&"a1".repeat(32), &r, &[]).is_ok(), "64 characters are allowed");
        assert!(check_new_password(&"xy7".repeat(66), &r, &[]).is_ok(), "198 characters are allowed");
        assert_eq!(check_new_password(&"x".repeat(257), &r, &[]), Err(PasswordRejection::TooLong(256)));
        assert_eq!(check_new_password("Ada.Lovelace", &r, &["ada.lovelace"]), Err(PasswordRejection::ContextWord));
        assert_eq!(check_new_password("CallVault", &r, &[]), Err(PasswordRejection::ContextWord));
        // No composition rules: lower-case letters only are fine.
        assert!(check_new_password("tangerine submarine", &r, &[]).is_ok());
        let strict = PasswordRules { min_length: 12, max_length: 64 };
        assert_eq!(check_new_password("eleven chars", &strict, &[]), Ok(()));
        assert_eq!(check_new_password("ten chars!", &strict, &[]), Err(PasswordRejection::TooShort(12)));
    }

    #[test]
    fn nfkc_normalisation() {
        // Fullwidth letters and the ligature normalise to ASCII.
        assert_eq!(normalize("ｐａｓｓ"), "pass");
        assert_eq!(normalize("ﬁne"), "fine");
        assert_eq!(
            check_new_password("ｐａｓｓｗｏｒｄ", &PasswordRules::default(), &[]),
            Err(PasswordRejection::Common)
        );
        let e = check_new_password("hunter2", &PasswordRules::default(), &[]).unwrap_err().to_string();
        assert!(!e.contains("hunter2"));
    }
}
