//! Calling lists and activity forms: custom fields, some marked "encrypted". Encrypted
//! values are sealed under the tenant's active data key, bound to tenant, list, record and field;
//! an optional keyed blind index allows equality search without decryption. CSV imports are
//! all-or-nothing with line-numbered errors.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callvault_crypto::envelope::{BlindIndexKey, DataKey};
use callvault_model::records::Timestamp;
use callvault_model::vault::{FieldDef, RecordList, StoredRecord};
use callvault_model::{RecordId, TenantId};
use serde_json::{Map, Value};

pub mod records;

/// What went wrong with a list's fields or an encrypted value.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A field definition is not acceptable (the text says which and why).
    #[error("{0}")]
    InvalidFields(String),
    /// A stored encrypted value does not open (damaged, or no key for it).
    #[error("an encrypted field {0}")]
    Sealed(&'static str),
}

/// The largest number of errors reported for one import.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// The associated data of an encrypted field value.
pub fn field_aad(tenant: TenantId, rec: &StoredRecord, field: &str) -> Vec<u8> {
    let mut a = b"callvault/field/v1".to_vec();
    a.extend_from_slice(tenant.0.as_bytes());
    a.extend_from_slice(rec.list_id.0.as_bytes());
    a.extend_from_slice(rec.id.0.as_bytes());
    a.extend_from_slice(field.as_bytes());
    a
}

/// Normalises a value for the blind index: trimmed, lower-case, inner whitespace collapsed.
pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Validates field definitions of a new list or form.
pub fn validate_fields(fields: &[FieldDef]) -> Result<(), ListError> {
    if fields.is_empty() || fields.len() > 200 {
        return Err(ListError::InvalidFields("a list needs 1..=200 fields".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        let ok = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(ListError::InvalidFields(format!(
                "field name `{}` must be 1..=64 characters of letters, digits, `_` or `-`",
                f.name.chars().take(64).collect::<String>()
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(ListError::InvalidFields(format!("field `{}` appears twice", f.name)));
        }
        if f.identifier.is_some() && !f.encrypted {
            return Err(ListError::InvalidFields(format!(
                "field `{}`: a customer identifier is personal data and must be encrypted",
                f.name
            )));
        }
        if f.identifier == Some(callvault_model::personal::IdentifierKind::Ip) {
            return Err(ListError::InvalidFields(format!("field `{}`: identifier is `phone` or `email`", f.name)));
        }
        if f.searchable && !f.encrypted {
            return Err(ListError::InvalidFields(format!(
                "field `{}`: searchable applies to encrypted fields (plain fields are searched directly)",
                f.name
            )));
        }
    }
    Ok(())
}

/// One record ready to store.
pub struct SealedRecord {
    /// The record.
    pub record: StoredRecord,
    /// Its blind-index entries.
    pub blind: Vec<(String, String)>,
}

/// Builds a record from field values, sealing the encrypted ones. With `redact`, card numbers
/// in every field but the identifier fields are masked first (first six and last four digits).
pub fn seal_record(
    tenant: TenantId,
    list: &RecordList,
    values: &Map<String, Value>,
    keys: (Option<&DataKey>, Option<&BlindIndexKey>),
    redact: bool,
    now: Timestamp,
) -> Result<SealedRecord, String> {
    let (dk, blind_key) = keys;
    for name in values.keys() {
        if !list.fields.iter().any(|f| &f.name == name) {
            return Err(format!("unknown field `{}`", name.chars().take(64).collect::<String>()));
        }
    }
    let mut record = StoredRecord {
        id: RecordId::new(),
        list_id: list.id,
        plain: Map::new(),
        sealed: Map::new(),
        key_version: None,
        created_at: now,
    };
    let mut blind = Vec::new();
    for f in &list.fields {
        let value = match values.get(&f.name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let Some(value) = value else {
            if f.required {
                return Err(format!("field `{}` is required", f.name));
            }
            continue;
        };
        if value.len() > 4096 {
            return Err(format!("field `{}` is longer than 4096 bytes", f.name));
        }
        let value = if redact && f.identifier.is_none() { masked(value) } else { value };
        if !f.encrypted {
            record.plain.insert(f.name.clone(), Value::String(value));
            continue;
        }
        let Some(dk) = dk else {
            return Err("encrypted fields need encryption enabled for the tenant (no active data key)".into());
        };
        let sealed = dk
            .seal_value(&field_aad(tenant, &record, &f.name), value.as_bytes())
            .map_err(|_| "cannot seal a field".to_owned())?;
        record.sealed.insert(f.name.clone(), Value::String(STANDARD.encode(sealed)));
        record.key_version = Some(dk.version());
        if f.searchable {
            let key = blind_key.ok_or("no blind-index key")?;
            blind.push((f.name.clone(), key.index(list.id.0.as_bytes(), &f.name, &normalise(&value))));
        }
    }
    Ok(SealedRecord { record, blind })
}

/// `value` with its card numbers masked (digits become `*`, so it stays UTF-8).
fn masked(value: String) -> String {
    let mut bytes = value.into_bytes();
    callvault_policy::pan::redact(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn sealed_bytes(sealed: &Value) -> Result<Vec<u8>, ListError> {
    sealed.as_str().and_then(|s| STANDARD.decode(s).ok()).ok_or(ListError::Sealed("is not base64"))
}

/// Opens a record's sealed fields; returns all fields in clear.
pub fn open_record(
    tenant: TenantId,
    rec: &StoredRecord,
    dk: Option<&DataKey>,
) -> Result<Map<String, Value>, ListError> {
    let mut out = rec.plain.clone();
    for (name, sealed) in &rec.sealed {
        let dk = dk.ok_or(ListError::Sealed("has no data key"))?;
        let bytes = sealed_bytes(sealed)?;
        let plain = dk
            .open_value(&field_aad(tenant, rec, name), &bytes)
            .map_err(|_| ListError::Sealed("does not authenticate"))?;
        out.insert(name.clone(), Value::String(String::from_utf8_lossy(plain.expose()).into_owned()));
    }
    Ok(out)
}

/// Re-seals a record's fields from `old` to `new` (rewrap and re-encrypt jobs).
pub fn reseal_fields(
    tenant: TenantId,
    rec: &StoredRecord,
    old: &DataKey,
    new: &DataKey,
) -> Result<Map<String, Value>, ListError> {
    let mut out = Map::new();
    for (name, sealed) in &rec.sealed {
        let bytes = sealed_bytes(sealed)?;
        let aad = field_aad(tenant, rec, name);
        let plain = old.open_value(&aad, &bytes).map_err(|_| ListError::Sealed("does not authenticate"))?;
        let resealed = new.seal_value(&aad, plain.expose()).map_err(|_| ListError::Sealed("cannot be sealed again"))?;
        out.insert(name.clone(), Value::String(STANDARD.encode(resealed)));
    }
    Ok(out)
}

/// One error of an import, with its 1-based line number.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportError {
    /// Line in the file (1 is the header).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Rows of an import: line number and field values.
pub type Rows = Vec<(u64, Map<String, Value>)>;

/// Parses a CSV file whose header names the list's fields; returns the rows, or every error (up
/// to [`MAX_REPORTED_ERRORS`]) with its line.
pub fn parse_csv(list: &RecordList, data: &[u8]) -> Result<Rows, Vec<ImportError>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(data);
    let mut errors = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![ImportError { line: 1, message: csv_message(&e) }]),
    };
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(vec![ImportError { line: 1, message: "the header row is empty".into() }]);
    }
    let mut seen = std::collections::HashSet::new();
    for h in &headers {
        if !list.fields.iter().any(|f| f.name == h) {
            errors.push(ImportError {
                line: 1,
                message: format!("unknown column `{}`", h.chars().take(64).collect::<String>()),
            });
        }
        if !seen.insert(h) {
            errors.push(ImportError { line: 1, message: format!("column `{h}` appears twice") });
        }
    }
    for f in list.fields.iter().filter(|f| f.required) {
        if !headers.iter().any(|h| h == f.name) {
            errors.push(ImportError { line: 1, message: format!("required column `{}` is missing", f.name) });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for result in reader.records() {
        match result {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                let map: Map<String, Value> =
                    headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_owned(), Value::String(v.to_owned()))).collect();
                rows.push((line, map));
            }
            Err(e) => {
                errors.push(ImportError { line: e.position().map_or(0, |p| p.line()), message: csv_message(&e) });
                if errors.len() >= MAX_REPORTED_ERRORS {
                    break;
                }
            }
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(ImportError { line: 2, message: "the file has a header but no records".into() });
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        _ => "malformed CSV".into(),
    }
}
