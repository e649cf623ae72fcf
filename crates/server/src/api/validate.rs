//! Checks of untrusted values at the edge. Messages name the field, never echo the value (it
//! may be personal data).

use callvault_model::records::AddressKind;

use crate::error::ApiError;

/// A display name of a team, skill, service, role or tenant: 1–100 characters, no control
/// characters, trimmed.
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > 100 || v.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("`{field}` must be 1 to 100 characters without control characters")));
    }
    Ok(v.to_owned())
}

/// A tenant slug: 2–63 of `a-z 0-9 -`, starting with a letter or digit.
pub fn slug(value: &str) -> Result<String, ApiError> {
    let ok = (2..=63).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid("`slug` must be 2 to 63 characters of a-z, 0-9 and -, not starting with -"))
    }
}

/// A login id: 1–64 characters, no whitespace or control characters.
pub fn login(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > 64 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid("`login` must be 1 to 64 characters without spaces"));
    }
    Ok(v.to_owned())
}

/// A person's name: 1–100 characters, no control characters.
pub fn person_name(field: &str, value: &str) -> Result<String, ApiError> {
    name(field, value)
}

/// An address of the given kind.
pub fn address(kind: AddressKind, value: &str) -> Result<String, ApiError> {
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
        Err(ApiError::invalid(match kind {
            AddressKind::Email => "an `email` address must look like name@example.com",
            AddressKind::Phone => "a `phone` number must be in E.164 form: + and 8 to 15 digits",
            AddressKind::Sip => "a `sip` address must start with sip: or sips:",
        }))
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
