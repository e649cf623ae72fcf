//! Identifiers — login ids, team, role and service names — as keys that are stored and compared.
//!
//! A name people type and read must not have two spellings that look alike but compare unequal,
//! nor two that look different but compare equal. [`identifier_key`] applies the Unicode
//! recommendations for identifiers to get there:
//!
//! - Invisible characters are refused, not stripped: a default-ignorable code point (UAX #44
//!   `Default_Ignorable_Code_Point`, e.g. a zero-width space or a soft hyphen) renders as nothing,
//!   so `ag\u{200B}ent` would look like `agent` and be a different account; stripping it silently
//!   would instead let two requests name "the same" account differently. Control, format and
//!   white-space characters are refused for the same reason.
//! - The key is NFKC of the lower case of NFKC (UAX #31 section 5, "Normalization and Case"; UAX
//!   #15): fullwidth `ＡＧＥＮＴ` and `agent` are one key. For ordinary logins this equals the key
//!   the server has always stored, `normalize(login.trim()).to_lowercase()`.
//! - Every character must be allowed in identifiers by the General Security Profile (UTS #39
//!   section 3.1, `Identifier_Status=Allowed`), plus `@` and `+`, which e-mail-shaped logins need.
//!   The profile allows letters, digits and `' - . : _ ·`; it restricts symbols, most
//!   punctuation, obsolete and technical characters, and letters of uncommon use (`ĕ`, U+0115).
//! - Mixed scripts are refused (UTS #39 section 5.2): the key must be single-script or Highly
//!   Restrictive (Latin with Han and kana, Bopomofo or Hangul), so `аgent` with a Cyrillic `а`
//!   is refused, while all-Cyrillic, all-Greek or all-Han names are fine.
//! - The key's skeleton (UTS #39 section 4) is kept too: two different keys with the same
//!   skeleton ([`is_confusable`]) look alike — `modern` and `modem` (`m` is a prototype of `rn`),
//!   `paypal` and `paypa1`, all-Cyrillic `рара` and Latin `papa` — and a directory can refuse the
//!   second one.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

/// The longest identifier accepted, in characters (Unicode scalar values), before and after
/// normalisation.
pub const MAX_IDENTIFIER_CHARS: usize = 128;

/// A normalised identifier (login id, team/role/service name): the key stored and compared, and
/// its TR39 skeleton.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierKey {
    /// NFKC of the lower case of NFKC of the trimmed identifier: the value stored and compared.
    pub key: String,
    /// The UTS #39 skeleton of `key`: equal skeletons mean the keys look alike.
    pub skeleton: String,
}

/// Why a string is not accepted as an identifier. Messages give a 1-based character position in
/// the trimmed input and never echo the identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierRejection {
    /// Nothing but white space.
    #[error("the identifier is empty")]
    Empty,
    /// Longer than [`MAX_IDENTIFIER_CHARS`] characters (as typed or once normalised).
    #[error("the identifier must have at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// A control, format or white-space character.
    #[error("character {position} of the identifier is a control, format or white-space character")]
    ControlOrInvisible {
        /// 1-based character position in the trimmed input.
        position: usize,
    },
    /// A default-ignorable code point, which renders as nothing (zero-width space, soft hyphen,
    /// word joiner, zero-width joiner, variation selector, tag character, …).
    #[error(
        "character {position} of the identifier is invisible (a zero-width, joiner, soft hyphen or similar character)"
    )]
    DefaultIgnorable {
        /// 1-based character position in the trimmed input.
        position: usize,
    },
    /// Letters of scripts that are not allowed together, such as Latin with Cyrillic.
    #[error(
        "the identifier mixes letters of different scripts (such as Latin and Cyrillic), which allows look-alike names"
    )]
    MixedScript,
    /// A character not allowed in identifiers (symbols, punctuation other than `. - _ ' : @ +`,
    /// obsolete or technical characters, unassigned code points).
    #[error("character {position} of the identifier is not allowed in identifiers")]
    NotAllowed {
        /// 1-based character position in the trimmed input (in the key, in the rare case where
        /// only normalisation across characters produces the disallowed one).
        position: usize,
    },
}

/// Normalises an identifier into its key and skeleton, refusing invisible, disallowed and
/// mixed-script ones. Surrounding white space is trimmed; nothing else is removed.
pub fn identifier_key(raw: &str) -> Result<IdentifierKey, IdentifierRejection> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdentifierRejection::Empty);
    }
    // Checked before normalising, so an over-long input costs no more work.
    if trimmed.chars().nth(MAX_IDENTIFIER_CHARS).is_some() {
        return Err(IdentifierRejection::TooLong { max: MAX_IDENTIFIER_CHARS });
    }
    for (c, position) in trimmed.chars().zip(1..) {
        if is_default_ignorable(c) {
            return Err(IdentifierRejection::DefaultIgnorable { position });
        }
        if c.is_control() || c.is_whitespace() || is_other_format(c) {
            return Err(IdentifierRejection::ControlOrInvisible { position });
        }
        // Each character as it will appear in the key: fullwidth `Ａ` becomes the allowed `a`,
        // while `ℌ` or `①` become letters and digits too (NFKC), and `€` stays disallowed.
        if !fold(&c.to_string()).chars().all(is_allowed) {
            return Err(IdentifierRejection::NotAllowed { position });
        }
    }
    let key = fold(trimmed);
    let length = key.chars().count();
    if length > MAX_IDENTIFIER_CHARS {
        return Err(IdentifierRejection::TooLong { max: MAX_IDENTIFIER_CHARS });
    }
    // Composition across characters can, rarely, produce a character the profile restricts;
    // the position is then the one in the key.
    if let Some(position) = key.chars().position(|c| !is_allowed(c)) {
        return Err(IdentifierRejection::NotAllowed { position: position + 1 });
    }
    // `@` and `+` are not in the General Security Profile, which would make the restriction level
    // "unrestricted"; they are script-neutral (Common), so leaving them out changes nothing else.
    let letters: String = key.chars().filter(|c| !EXTRA_ALLOWED.contains(c)).collect();
    if !letters.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive) {
        return Err(IdentifierRejection::MixedScript);
    }
    let skeleton = unicode_security::skeleton(&key).collect();
    Ok(IdentifierKey { key, skeleton })
}

/// Whether two identifiers look alike but are different keys: the same UTS #39 skeleton (section
/// 4, "X and Y are confusable if skeleton(X) = skeleton(Y)"), different keys.
///
/// Keys are lower case, so only lower-case confusables count: `paypa1` is confusable with
/// `paypal` (`1` → `l`), but `0.brien` is not with `o.brien`, because the data maps the digit zero
/// to the capital letter `O`, which no key contains.
pub fn is_confusable(a: &IdentifierKey, b: &IdentifierKey) -> bool {
    a.skeleton == b.skeleton && a.key != b.key
}

/// What an identifier looks like, even one [`identifier_key`] refuses: invisible and format
/// characters dropped, folded, then its UTS #39 skeleton. A refused login whose look equals an
/// existing identifier's skeleton is an impersonation attempt, not just a malformed name.
pub fn look(raw: &str) -> String {
    let visible: String =
        raw.trim().chars().filter(|c| !is_default_ignorable(*c) && !is_other_format(*c) && !c.is_control()).collect();
    unicode_security::skeleton(&fold(&visible)).collect()
}

/// NFKC of the lower case of NFKC: lower-casing can un-normalise (`İ` becomes `i` and a combining
/// dot), and NFKC can produce capitals (`℃` becomes `°C`), so NFKC runs on both sides.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase().nfkc().collect()
}

/// Characters outside the General Security Profile that identifiers may still contain: e-mail
/// shaped logins (`ada+ops@example.com`) need them, and they are ASCII and script-neutral.
const EXTRA_ALLOWED: [char; 2] = ['@', '+'];

fn is_allowed(c: char) -> bool {
    c.identifier_allowed() || EXTRA_ALLOWED.contains(&c)
}

/// `Default_Ignorable_Code_Point`, from Unicode's DerivedCoreProperties.txt (16.0; unchanged in
/// 17.0), as ranges. unicode-security 0.1.3 holds the same table but does not export it.
const DEFAULT_IGNORABLE: [(char, char); 19] = [
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian free variation selectors, vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, ZWNJ, ZWJ, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidirectional embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, bidi isolates, deprecated
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors 1-16
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space (byte order mark)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFF8}'),   // reserved
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0000}', '\u{E00FF}'), // language tag, tag characters, reserved
    ('\u{E0100}', '\u{E01EF}'), // variation selectors 17-256
    ('\u{E01F0}', '\u{E0FFF}'), // reserved
];

fn is_default_ignorable(c: char) -> bool {
    DEFAULT_IGNORABLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// `General_Category=Cf` characters that are not default-ignorable (DerivedGeneralCategory.txt,
/// Unicode 16.0): they are visible only in some contexts (Arabic number signs, Egyptian
/// hieroglyph format controls, interlinear annotation marks).
const OTHER_FORMAT: [(char, char); 9] = [
    ('\u{0600}', '\u{0605}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
];

fn is_other_format(c: char) -> bool {
    OTHER_FORMAT.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> IdentifierKey {
        identifier_key(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    /// The server's login key before this module (crates/server/src/identity.rs).
    fn legacy_login_key(login: &str) -> String {
        login.trim().nfkc().collect::<String>().to_lowercase()
    }

    #[test]
    fn keys_fold_case_and_width_and_keep_stored_logins_valid() {
        assert_eq!(key("AGENT").key, "agent");
        assert_eq!(key("ａｇｅｎｔ").key, "agent", "fullwidth");
        assert_eq!(key("  Agent  ").key, "agent", "surrounding white space is trimmed");
        assert_eq!(key("ℌello").key, "hello", "NFKC before lower case");
        for login in [
            "agent",
            "Ada.Lovelace",
            "ada_lovelace-2",
            "ada+ops@example.com",
            "o'brien",
            "José",
            "Jose\u{301}",
            "ZOË",
            "Grüße",
            "İlker",
            "ｏｐｓ.ｌｅａｄ",
            "агент",
        ] {
            assert_eq!(key(login).key, legacy_login_key(login), "{login}");
        }
    }

    #[test]
    fn empty_and_long_identifiers_are_refused() {
        assert_eq!(identifier_key(""), Err(IdentifierRejection::Empty));
        assert_eq!(identifier_key(" \t\n"), Err(IdentifierRejection::Empty));
        assert!(identifier_key(&"a".repeat(128)).is_ok());
        assert_eq!(identifier_key(&"a".repeat(129)), Err(IdentifierRejection::TooLong { max: 128 }));
        // Fifty characters as typed, 150 once normalised (the ligature `ﬃ` is `ffi`).
        let expands = "\u{FB03}".repeat(50);
        assert_eq!(expands.chars().count(), 50);
        assert_eq!(identifier_key(&expands), Err(IdentifierRejection::TooLong { max: 128 }));
    }

    #[test]
    fn invisible_characters_are_refused_not_stripped() {
        for invisible in ['\u{200B}', '\u{00AD}', '\u{2060}', '\u{200D}', '\u{200C}', '\u{FEFF}', '\u{180E}'] {
            let raw = format!("ag{invisible}ent");
            assert_eq!(
                identifier_key(&raw),
                Err(IdentifierRejection::DefaultIgnorable { position: 3 }),
                "U+{:04X}",
                invisible as u32
            );
        }
        for invisible in ['\u{FE0F}', '\u{2062}', '\u{E0041}', '\u{E0100}', '\u{034F}'] {
            assert_eq!(
                identifier_key(&format!("agent{invisible}")),
                Err(IdentifierRejection::DefaultIgnorable { position: 6 }),
                "U+{:04X}",
                invisible as u32
            );
        }
        // Leading invisible characters are not white space, so trimming keeps them.
        assert_eq!(identifier_key("\u{200B}agent"), Err(IdentifierRejection::DefaultIgnorable { position: 1 }));
    }

    #[test]
    fn control_format_and_inner_white_space_are_refused() {
        assert_eq!(identifier_key("ag\u{0007}ent"), Err(IdentifierRejection::ControlOrInvisible { position: 3 }));
        assert_eq!(identifier_key("ag ent"), Err(IdentifierRejection::ControlOrInvisible { position: 3 }));
        assert_eq!(identifier_key("ag\u{00A0}ent"), Err(IdentifierRejection::ControlOrInvisible { position: 3 }));
        assert_eq!(identifier_key("ag\u{3000}ent"), Err(IdentifierRejection::ControlOrInvisible { position: 3 }));
        assert_eq!(identifier_key("a\u{0600}1"), Err(IdentifierRejection::ControlOrInvisible { position: 2 }));
        assert_eq!(identifier_key("a\u{2028}b"), Err(IdentifierRejection::ControlOrInvisible { position: 2 }));
    }

    #[test]
    fn characters_outside_the_profile_are_refused() {
        assert_eq!(identifier_key("agent!"), Err(IdentifierRejection::NotAllowed { position: 6 }));
        assert_eq!(identifier_key("a/b"), Err(IdentifierRejection::NotAllowed { position: 2 }));
        assert_eq!(identifier_key("agent€"), Err(IdentifierRejection::NotAllowed { position: 6 }));
        assert_eq!(identifier_key("📞agent"), Err(IdentifierRejection::NotAllowed { position: 1 }));
        assert_eq!(identifier_key("ops\u{E000}"), Err(IdentifierRejection::NotAllowed { position: 4 }), "private use");
        assert_eq!(identifier_key("\u{0378}x"), Err(IdentifierRejection::NotAllowed { position: 1 }), "unassigned");
        // The profile also restricts letters of uncommon use (UTS #39 Identifier_Type=Uncommon_Use),
        // such as U+0115 (e with breve).
        assert_eq!(identifier_key("\u{0115}va"), Err(IdentifierRejection::NotAllowed { position: 1 }));
        // The separators of login ids pass.
        for ok in
            ["ada.lovelace", "ada-lovelace", "ada_lovelace", "ada@example.com", "ada+ops@example.com", "o'brien", "a:b"]
        {
            assert!(identifier_key(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn mixed_scripts_are_refused_single_scripts_pass() {
        assert_eq!(identifier_key("\u{0430}gent"), Err(IdentifierRejection::MixedScript), "Cyrillic а");
        assert_eq!(identifier_key("ag\u{0435}nt"), Err(IdentifierRejection::MixedScript), "Cyrillic е");
        assert_eq!(identifier_key("p\u{03B1}ypal"), Err(IdentifierRejection::MixedScript), "Greek α");
        // Single scripts, with digits and separators, pass.
        assert_eq!(identifier_key("ops.\u{03BF}\u{03C1}s"), Err(IdentifierRejection::MixedScript), "Greek ο ρ");
        assert_eq!(identifier_key("ahmad.علي"), Err(IdentifierRejection::MixedScript), "Latin with Arabic");
        for ok in ["агент", "агент.007", "νίκος", "王伟", "山田たろう", "ヤマダ", "김민준", "agent.007@example.com"]
        {
            let result = identifier_key(ok);
            assert!(result.is_ok(), "{ok}: {result:?}");
        }
        // Highly Restrictive (UTS #39 5.2): Latin with Han and kana is one writing system.
        assert!(identifier_key("tanaka田中").is_ok());
    }

    #[test]
    fn skeletons_follow_uts_39() {
        // Cyrillic `агент` keeps its own skeleton: `г` and `н`, `т` are not Latin `g`, `n`, `t`.
        let cyrillic = key("агент");
        assert_eq!(cyrillic.key, "агент");
        assert_ne!(cyrillic.skeleton, key("agent").skeleton);
        assert_eq!(cyrillic.skeleton, "ar\u{0065}\u{029C}\u{1D1B}");
        assert_eq!(key("modern").skeleton, "rnodern");
        assert_eq!(key("modem").skeleton, "rnodern", "m → rn");
        assert_eq!(key("paypa1").skeleton, "paypal", "1 → l");
        assert_eq!(key("0.brien").skeleton, "O.brien", "0 → capital O");
        assert_eq!(key("o.brien").skeleton, "o.brien");
    }

    #[test]
    fn confusable_table() {
        // (a, b, confusable) per the UTS #39 data shipped with unicode-security 0.1.3.
        let rows = [
            ("modern", "modem", true),               // m → rn
            ("Modern", "MODEM", true),               // after lower case
            ("paypal", "paypa1", true),              // 1 → l
            ("bill", "bi11", true),                  // 1 → l twice
            ("papa", "рара", true),                  // all-Cyrillic р а р а, whole-script confusable
            ("copy", "сору", true),                  // all-Cyrillic с о р у
            ("o.brien", "0.brien", false),           // 0 → capital O, never in a lower-case key
            ("ian", "Ian", false),                   // same key: not "different"
            ("ian", "lan", false),                   // capital I → l, but keys are lower case
            ("agent", "ａｇｅｎｔ", false),          // same key after NFKC
            ("agent", "агент", false),               // г н т have their own prototypes
            ("ada.lovelace", "ada_lovelace", false), // separators differ
            ("team-1", "team-l", true),              // 1 → l
            ("rnike", "mike", true),                 // rn vs m
            ("jose\u{301}", "josé", false),          // same key (NFKC composes)
        ];
        for (a, b, expected) in rows {
            let (ka, kb) = (key(a), key(b));
            assert_eq!(is_confusable(&ka, &kb), expected, "{a} / {b}: {} / {}", ka.skeleton, kb.skeleton);
            assert_eq!(is_confusable(&kb, &ka), expected, "symmetric: {a} / {b}");
        }
        assert!(!is_confusable(&key("agent"), &key("agent")), "an identifier is not confusable with itself");
    }

    #[test]
    fn messages_never_echo_the_identifier() {
        let secretive = "zq\u{200B}vault-operator";
        for raw in [secretive, "zqvault\u{0430}", "zqvault!", "zqvault\u{0007}", &"zqvault".repeat(20)] {
            let e = identifier_key(raw).unwrap_err();
            assert!(!e.to_string().contains("zqvault"), "{e}");
            assert!(!format!("{e:?}").contains("zqvault"), "{e:?}");
        }
    }
}
