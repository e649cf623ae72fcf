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
    serde_json::from_value(body).map_err(|e| InputError::Invalid(format!("body: {e}")))
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
    serde_json::from_value(doc).map_err(|e| InputError::Invalid(format!("settings: {e}")))
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
