//! Checks of untrusted values (the rules of every front end). Messages name the field, never echo the value (it
//! may be personal data).

use callvault_model::records::AddressKind;
use callvault_policy::identifiers::{self, IdentifierKey, IdentifierRejection};

/// A value that is not acceptable; the text names the field.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// A document replaced whole (PUT) lacks these fields.
    #[error(
        "PUT replaces the whole document, so every field is required (null where a field may be empty); \
         missing: {} (use PATCH to change some)",
        .0.join(", ")
    )]
    Missing(Vec<String>),
    /// Taken, or too like an existing identifier.
    #[error("{0}")]
    Taken(String),
    /// A stored document could not be re-encoded.
    #[error("{0}")]
    Internal(String),
}

/// A document replaced whole (PUT: settings, stations, areas, assignments): every field must be
/// present, so that leaving one out never silently resets it to its default; the missing ones are
/// listed. `from_path` names fields the path supplies (they may be left out of the body).
pub fn full_document<T: serde::Serialize + serde::de::DeserializeOwned + Default>(
    body: serde_json::Value,
    from_path: &[&str],
) -> Result<T, InputError> {
    let fields = match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let serde_json::Value::Object(given) = &body else {
        return Err(InputError::Invalid("the body must be a JSON object".into()));
    };
    let missing: Vec<&str> =
        fields.iter().map(String::as_str).filter(|f| !given.contains_key(*f) && !from_path.contains(f)).collect();
    if !missing.is_empty() {
        return Err(InputError::Missing(missing.into_iter().map(str::to_owned).collect()));
    }
    serde_json::from_value(body).map_err(|e| InputError::Invalid(format!("body: {}", without_values(&e.to_string()))))
}

/// A settings document changed in part (PATCH, JSON merge patch, RFC 7396): fields not named keep
/// their current values; `null` resets a field to its default where the field allows `null`.
pub fn patched_settings<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: serde_json::Value,
) -> Result<T, InputError> {
    if !patch.is_object() {
        return Err(InputError::Invalid("a merge patch must be a JSON object".into()));
    }
    let mut doc = serde_json::to_value(current).map_err(|e| InputError::Internal(e.to_string()))?;
    merge_patch(&mut doc, patch);
    serde_json::from_value(doc)
        .map_err(|e| InputError::Invalid(format!("settings: {}", without_values(&e.to_string()))))
}

/// serde's message without the values the client sent: a refused value may be personal data
/// or a card number sent in the wrong field, and a problem detail is shown and logged by
/// clients. What stays: field names the API defines, the expected types and variants, the
/// line and column. `unknown variant `4111…``, `invalid type: string "…"` and `invalid value:
/// integer `…`` lose the value; an unknown field's name stays only when it looks like a name.
pub fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['`', '"']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let quote = from.as_bytes()[0];
        // The closing quote (serde escapes a `"` inside a string value as `\"`).
        let mut end = None;
        let bytes = from.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b if b == quote => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let Some(end) = end else {
            // No closing quote: whatever follows is the client's.
            out.push_str("(value not shown)");
            return out;
        };
        let value = &from[1..end];
        let name_like = value.len() <= 64
            && value.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let echoed = ["unknown variant ", "string ", "integer ", "floating point ", "character ", "boolean "]
            .iter()
            .any(|p| before.ends_with(p));
        let field = ["unknown field ", "duplicate field "].iter().any(|p| before.ends_with(p));
        if echoed || (field && !name_like) {
            out.push_str("(value not shown)");
        } else {
            out.push_str(&from[..=end]);
        }
        rest = &from[end + 1..];
    }
    out.push_str(rest);
    // What is left unquoted (a path of field names, where an unknown key shows raw) loses
    // anything shaped like a number or an e-mail address.
    numbers_and_addresses_hidden(&out)
}

/// `text` with every run of six or more digits (spaces, dashes, dots, parentheses and `+`
/// between them) and every word holding an `@` replaced.
fn numbers_and_addresses_hidden(text: &str) -> String {
    const HIDDEN: &str = "(value not shown)";
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(if word.contains('@') { HIDDEN } else { word });
    }
    let chars: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut j = i;
            let (mut digits, mut last_digit) = (0, i);
            while j < chars.len() && (chars[j].is_ascii_digit() || " -.()+".contains(chars[j])) {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    last_digit = j;
                }
                j += 1;
            }
            if digits >= 6 {
                result.push_str(HIDDEN);
                i = last_digit + 1;
                continue;
            }
            result.extend(&chars[i..=last_digit]);
            i = last_digit + 1;
            continue;
        }
        result.push(chars[i]);
        i += 1;
    }
    result
}

/// A reference the contact center gives (a CRM id, a call id, an interaction's external id):
/// 1 to `max` bytes, no control or invisible characters, no spaces at either end, ASCII digits
/// only, and not shaped like a customer's own identifier. References are kept in clear beside
/// sealed content (content is found by them), so a phone number, an e-mail address or a card
/// number there would be personal data outside encryption and outside a data subject's reach:
/// refused with the reason, never with the value. A number of digits alone (a CRM id) is a
/// reference; with `+`, `00`, `tel:` or a phone's separators it is a phone number.
///
/// Returns the reference as it is kept: an interaction id in any UUID spelling (upper case,
/// without dashes, braced, `urn:uuid:`) becomes the id as callvault writes it, so content sent
/// under another spelling of an id is found (and erased) with it.
pub fn reference(field: &str, value: &str, max: usize) -> Result<String, InputError> {
    let refuse = |why: &str| Err(InputError::Invalid(format!("{field}: {why}")));
    if value.is_empty() || value.len() > max {
        return refuse(&format!("1 to {max} bytes"));
    }
    if value.chars().any(|c| c.is_control() || invisible(c) || (c.is_whitespace() && c != ' ')) {
        return refuse("control, invisible and non-ASCII space characters are not allowed");
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return refuse("no spaces at either end");
    }
    if value.chars().any(|c| c.is_numeric() && !c.is_ascii_digit() && !is_fullwidth_digit(c)) {
        return refuse("digits must be ASCII digits");
    }
    if value.chars().any(|c| ('\u{0300}'..='\u{036F}').contains(&c)) {
        // A letter and a combining accent look like the composed letter: two spellings of one
        // reference.
        return refuse("combining accents are not allowed; send composed letters (Unicode NFC)");
    }
    if let Ok(id) = uuid::Uuid::try_parse(value) {
        return Ok(id.hyphenated().to_string());
    }
    let shape = shape_of(value);
    let looks_like = if phone_shaped(&shape) {
        Some("a phone number")
    } else if shape.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty()) {
        Some("an e-mail address")
    } else if card_shaped(&shape) {
        Some("a card number")
    } else {
        None
    };
    match looks_like {
        Some(what) => refuse(&format!(
            "looks like {what}; give the contact center's own reference (a CRM or call id), not the customer's \
             identifier (identifiers go on the interaction, where they are sealed)"
        )),
        None => Ok(value.to_owned()),
    }
}

/// Zero-width and other format characters, which make two references look alike.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}')
}

fn is_fullwidth_digit(c: char) -> bool {
    ('\u{FF10}'..='\u{FF19}').contains(&c)
}

/// The value as its shape is judged: full-width forms as ASCII, `%2B`/`%40` decoded, lower
/// case, without a `tel:`/`sip:` scheme.
fn shape_of(value: &str) -> String {
    let mut s: String = value
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{FE6B}' => '@',
            // Hyphens, dashes and the minus sign as `-`.
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
            c => c,
        })
        .collect::<String>()
        .to_ascii_lowercase();
    // Encoded once or more (`%252B` is `%2B` encoded again).
    for _ in 0..3 {
        s = s.replace("%25", "%");
    }
    s = s.replace("%2b", "+").replace("%40", "@").replace("%20", " ");
    for scheme in ["tel:", "sip:", "sips:"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest.to_owned();
        }
    }
    s
}

fn phone_shaped(shape: &str) -> bool {
    // An extension (`;ext=12`, `;phone-context=…`) does not make it less a number.
    let number = shape.split(';').next().unwrap_or("");
    let separators = |c: char| " -.()[]/".contains(c);
    // A phone's grouping; `/` only with `+` or `00` (`2026/12/04` is a date).
    let grouping = |c: char| " -.()[]".contains(c);
    let (plus, rest) = match number.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit() || separators(c)) {
        // `+` and seven digits before anything else is still a number.
        let lead: String = rest.chars().take_while(|c| c.is_ascii_digit() || separators(*c)).collect();
        return plus && lead.chars().filter(char::is_ascii_digit).count() >= 7;
    }
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    // Without `+` or `00`, a phone's grouping (`212-555-0147`, `(212) 555 0147`) tells it from
    // an id with one separator (Asterisk's `1701234567.1234`).
    let groups = rest.chars().filter(|c| grouping(*c)).count();
    let national = !rest.contains('/')
        && (groups >= 2
            // `212 5550147`: a national number in two groups.
            || (groups == 1 && (rest.contains(' ') || rest.contains('-')) && (10..=11).contains(&digits)));
    (7..=15).contains(&digits) && (plus || rest.starts_with("00") || national)
}

fn card_shaped(shape: &str) -> bool {
    const SEPARATORS: &str = " -._/,:*~";
    let spaced: String = shape.chars().map(|c| if SEPARATORS.contains(c) && c != '-' { ' ' } else { c }).collect();
    if !callvault_policy::pan::find(spaced.as_bytes()).pans.is_empty() {
        return true;
    }
    // Digits with any separators: a card number when an issuer's range and length fit and the
    // Luhn check passes (`20261204-000123` passes Luhn alone).
    let digits: Vec<u8> = shape.bytes().filter(u8::is_ascii_digit).collect();
    shape.chars().all(|c| c.is_ascii_digit() || SEPARATORS.contains(c))
        && callvault_policy::pan::scheme(&digits).is_some()
        && callvault_policy::pan::luhn(&digits)
}

/// RFC 7396 section 2.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    match patch {
        serde_json::Value::Object(fields) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(t) = target {
                for (k, v) in fields {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge_patch(t.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// A display name of a team, skill, service, role or tenant: 1–100 characters, no control
/// characters, trimmed.
pub fn name(field: &str, value: &str) -> Result<String, InputError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > 100 || v.chars().any(char::is_control) {
        return Err(InputError::Invalid(format!("`{field}` must be 1 to 100 characters without control characters")));
    }
    Ok(v.to_owned())
}

/// A tenant slug: 2–63 of `a-z 0-9 -`, starting with a letter or digit.
pub fn slug(value: &str) -> Result<String, InputError> {
    let ok = (2..=63).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InputError::Invalid("`slug` must be 2 to 63 characters of a-z, 0-9 and -, not starting with -".into()))
    }
}

/// A login id: 1–64 characters, no whitespace or control characters, and an identifier by
/// Unicode's rules (`callvault_policy::identifiers`: invisible characters and mixed scripts are
/// refused). Returns the login as typed (trimmed) and its key.
pub fn login(value: &str) -> Result<(String, IdentifierKey), InputError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > 64 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InputError::Invalid("`login` must be 1 to 64 characters without spaces".into()));
    }
    let key = identifiers::identifier_key(v).map_err(|e| InputError::Invalid(format!("`login`: {e}")))?;
    Ok((v.to_owned(), key))
}

/// Refuses a new identifier that equals or looks like one of `existing` (UTS #39 skeletons).
/// The existing one is named only when `may_name` (the caller may see them).
pub fn distinct_identifier<'a>(
    field: &str,
    new: &IdentifierKey,
    existing: impl IntoIterator<Item = &'a str>,
    may_name: bool,
) -> Result<(), InputError> {
    let looks_like = |old: &str| {
        InputError::Taken(if may_name {
            format!("`{field}` looks like the existing `{old}` (the same letters or look-alike characters)")
        } else {
            format!("`{field}` looks like an existing one (the same letters or look-alike characters)")
        })
    };
    for old in existing {
        // Older names that predate the identifier rules are compared by their plain key.
        let Ok(old_key) = identifier_key_of_name(old) else {
            if old.trim().to_lowercase() == new.key {
                return Err(InputError::Taken(format!("`{field}` is taken")));
            }
            continue;
        };
        if old_key.key == new.key || identifiers::is_confusable(&old_key, new) {
            return Err(looks_like(old));
        }
    }
    Ok(())
}

/// A new login: refused with 409 when it looks like an existing one (even when it is malformed
/// too: `agent` with a zero-width space, or with a Cyrillic `а`, is an impersonation attempt),
/// else with 422 when it breaks the identifier rules.
pub fn new_login<'a>(
    raw: &str,
    existing: impl IntoIterator<Item = &'a str> + Clone,
    may_name: bool,
) -> Result<(String, IdentifierKey), InputError> {
    match login(raw) {
        Ok((login, key)) => {
            distinct_identifier("login", &key, existing, may_name)?;
            Ok((login, key))
        }
        Err(e) => {
            let look = identifiers::look(raw);
            match existing.into_iter().find(|old| identifiers::look(old) == look) {
                Some(old) => Err(InputError::Taken(if may_name {
                    format!("`login` looks like the existing `{old}` (invisible or look-alike characters)")
                } else {
                    "`login` looks like an existing one (invisible or look-alike characters)".to_owned()
                })),
                None => Err(e),
            }
        }
    }
}

/// The identifier key of a display name (team, role, service): spaces are allowed there, so
/// they count as `_`; invisible characters and mixed scripts are refused as in logins, and
/// punctuation is tolerated (`Sales & Support`).
pub fn identifier_key_of_name(value: &str) -> Result<IdentifierKey, IdentifierRejection> {
    let spaced: String = value.trim().chars().map(|c| if c == ' ' { '_' } else { c }).collect();
    match identifiers::identifier_key(&spaced) {
        Err(IdentifierRejection::NotAllowed { .. }) => {
            let letters: String = spaced.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
            identifiers::identifier_key(&letters)
        }
        other => other,
    }
}

/// A display name that is also an identifier (role, team, service): [`name`], and no invisible
/// characters or mixed scripts.
pub fn identifier_name(field: &str, value: &str) -> Result<(String, IdentifierKey), InputError> {
    let v = name(field, value)?;
    let key = identifier_key_of_name(&v).map_err(|e| InputError::Invalid(format!("`{field}`: {e}")))?;
    Ok((v, key))
}

/// A person's name: 1–100 characters, no control characters.
pub fn person_name(field: &str, value: &str) -> Result<String, InputError> {
    name(field, value)
}

/// An address of the given kind.
pub fn address(kind: AddressKind, value: &str) -> Result<String, InputError> {
    let v = value.trim();
    let ok = match kind {
        AddressKind::Email => {
            v.len() <= 254
                && v.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                })
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        AddressKind::Phone => {
            let digits = v.strip_prefix('+').unwrap_or("");
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
        AddressKind::Sip => {
            (v.starts_with("sip:") || v.starts_with("sips:"))
                && v.len() <= 256
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        }
    };
    if ok {
        Ok(v.to_owned())
    } else {
        Err(InputError::Invalid(
            match kind {
                AddressKind::Email => "an `email` address must look like name@example.com",
                AddressKind::Phone => "a `phone` number must be in E.164 form: + and 8 to 15 digits",
                AddressKind::Sip => "a `sip` address must start with sip: or sips:",
            }
            .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(name("name", "  Sales  ").is_ok());
        assert!(name("name", "").is_err());
        assert!(name("name", "a\u{7}b").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(slug("demo").is_ok());
        assert!(slug("Demo").is_err());
        assert!(slug("-x").is_err());
        assert!(login("ada").is_ok());
        for lookalike in ["agent\u{200B}", "agent\u{00AD}", "ag\u{2060}ent", "agent\u{200D}", "\u{0430}gent"] {
            assert!(login(lookalike).is_err(), "{lookalike:?}");
        }
        assert!(identifier_name("name", "Sales & Support").is_ok());
        assert!(identifier_name("name", "Sup\u{200B}port").is_err());
        assert!(login("a da").is_err());
        assert!(address(AddressKind::Email, "ada@example.com").is_ok());
        assert!(address(AddressKind::Email, "ada@").is_err());
        assert!(address(AddressKind::Phone, "+15555550100").is_ok());
        assert!(address(AddressKind::Phone, "5555550100").is_err());
        assert!(address(AddressKind::Sip, "sips:ada@example.com").is_ok());
        let err = address(AddressKind::Email, "secret-person@nowhere").unwrap_err();
        assert!(!format!("{err:?}").contains("secret-person"));
    }
}

#[cfg(test)]
mod value_tests {
    use super::without_values as scrub;

    #[test]
    fn refused_values_are_not_echoed() {
        let cases = [
            (
                "kind: unknown variant `4111 1111 1111 1111`, expected `phone` or `email` at line 1 column 30",
                "kind: unknown variant (value not shown), expected `phone` or `email` at line 1 column 30",
            ),
            (
                "size: invalid type: string \"+1 212 555 0147\", expected u64",
                "size: invalid type: string (value not shown), expected u64",
            ),
            (
                "invalid type: string \"a \\\"quoted\\\" card 4111\", expected a number",
                "invalid type: string (value not shown), expected a number",
            ),
            (
                "at: invalid value: integer `-5`, expected u64",
                "at: invalid value: integer (value not shown), expected u64",
            ),
            ("unknown field `phonee`, expected one of `phone`", "unknown field `phonee`, expected one of `phone`"),
            ("unknown field `+12125550147`, expected `a`", "unknown field (value not shown), expected `a`"),
            ("missing field `subject_id` at line 1 column 2", "missing field `subject_id` at line 1 column 2"),
            ("unknown variant `4111", "unknown variant (value not shown)"),
            (
                "+12125550147: unknown field `+12125550147`, expected `kind` at line 1 column 37",
                "(value not shown): unknown field (value not shown), expected `kind` at line 1 column 37",
            ),
            ("4111 1111 1111 1111: unknown field", "(value not shown): unknown field"),
            ("ana@example.com: unknown field", "(value not shown) unknown field"),
            (
                "fields[0].name: invalid length 3, expected 1 at line 12 column 100",
                "fields[0].name: invalid length 3, expected 1 at line 12 column 100",
            ),
        ];
        for (message, shown) in cases {
            assert_eq!(scrub(message), shown, "{message}");
        }
    }
}

#[cfg(test)]
mod reference_tests {
    use super::reference;

    #[test]
    fn customers_identifiers_are_not_references() {
        for v in [
            "+12125550147",
            "tel:+12125550147",
            "+12125550147;ext=12",
            "%2B12125550147",
            "\u{FF0B}12125550147",
            "+\u{FF11}\u{FF12}\u{FF11}\u{FF12}5550147",
            "(212) 555-0147",
            "212-555-0147",
            "212 555 0147",
            "0012125550147",
            "00 1 212 555 0147",
            "ana@example.com",
            "ana\u{FF20}example.com",
            "ana@example",
            "ana%40example.com",
            "4111 1111 1111 1111",
            "4111.1111.1111.1111",
            "4111_1111_1111_1111",
            "4111/1111/1111/1111",
            "order-4111111111111111",
            " call-1",
            "call-1 ",
            "call\u{200B}-1",
            "call\u{00AD}1",
            "call\u{00A0}1",
            "\u{0664}\u{0661}\u{0661}\u{0661}",
            "212\u{2010}555\u{2010}0147",
            "212\u{2013}555\u{2013}0147",
            "[212] 555 0147",
            "212 5550147",
            "4111\u{2010}1111\u{2010}1111\u{2010}1111",
            "4111,1111,1111,1111",
            "4111:1111:1111:1111",
            "4111*1111*1111*1111",
            "4111~1111~1111~1111",
            "%252B12125550147",
            "ana%2540example.com",
            "A\u{0308}nderung-7",
        ] {
            assert!(reference("contact_ref", v, 128).is_err(), "{v:?} accepted");
            let message = reference("contact_ref", v, 128).unwrap_err().to_string();
            assert!(!message.contains("555") && !message.contains("ana") && !message.contains("1111"), "{message}");
        }
    }

    #[test]
    fn contact_centers_references_pass() {
        for v in [
            "call-20261123-0001",
            "CRM-100234567",
            "12125550147",
            "1701234567.1234",
            "CA0123456789abcdef0123456789abcdef",
            "ORD-12345678901234567890",
            "#12345",
            "Bestellung 4711",
            "заказ-42",
            "case 2026/17",
            "20261204-000123",
            "2026/12/04",
            "\u{00C4}nderung-7",
            "\u{092A}\u{094D}\u{0930}\u{0915}\u{0930}\u{0923}-12",
        ] {
            assert!(reference("contact_ref", v, 128).is_ok(), "{v:?} refused: {:?}", reference("contact_ref", v, 128));
        }
    }
}

#[cfg(test)]
mod id_spelling_tests {
    use super::reference;

    #[test]
    fn an_id_in_any_spelling_is_the_id() {
        let id = "01a24286-bbaa-7c3d-8e9f-0123456789ab";
        for v in [
            id,
            "01A24286-BBAA-7C3D-8E9F-0123456789AB",
            "01a24286bbaa7c3d8e9f0123456789ab",
            "{01a24286-bbaa-7c3d-8e9f-0123456789ab}",
            "urn:uuid:01a24286-bbaa-7c3d-8e9f-0123456789ab",
        ] {
            assert_eq!(reference("interaction", v, 256).ok().as_deref(), Some(id), "{v}");
        }
        assert_eq!(reference("interaction", "call-7", 256).ok().as_deref(), Some("call-7"));
    }
}
