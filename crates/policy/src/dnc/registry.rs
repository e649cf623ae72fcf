//! Reading registry files (the national do-not-call registry's downloads and plain lists) into
//! keys, line by line, with line-numbered errors.

/// One line of a registry file that could not be read.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportError {
    /// 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Streaming parser of registry files: one number per line (`+12085550100`, `12085550100`,
/// `2085550100`), or CSV whose first field is the number, or the FTC's `area code,number` pairs;
/// a header line and `#` comments are skipped. Numbers are checked for shape (country code,
/// length, NANP area code and exchange), not looked up one by one in libphonenumber.
pub struct RegistryParser {
    country_code: u16,
    line: u64,
    partial: Vec<u8>,
    skipping: bool,
    /// Keys read so far.
    pub keys: Vec<u64>,
    /// Errors (at most 100 kept).
    pub errors: Vec<ImportError>,
    /// Errors in all.
    pub error_count: u64,
}

impl RegistryParser {
    /// A parser for a registry of one country calling code.
    pub fn new(country_code: u16) -> Self {
        RegistryParser {
            country_code,
            line: 0,
            partial: Vec::new(),
            skipping: false,
            keys: Vec::new(),
            errors: Vec::new(),
            error_count: 0,
        }
    }

    /// Feeds bytes.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.skipping {
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.skipping = false;
                    chunk = &chunk[i + 1..];
                }
                None => return,
            }
        }
        if !self.partial.is_empty() {
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&chunk[..i]);
                    self.line(&line);
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(chunk);
                    self.guard_partial();
                    return;
                }
            }
        }
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.line(&rest[..i]);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        self.guard_partial();
    }

    fn guard_partial(&mut self) {
        if self.partial.len() > 256 {
            self.line += 1;
            self.error("line longer than 256 bytes".into());
            self.partial.clear();
            self.skipping = true;
        }
    }

    /// Ends the input.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
    }

    fn error(&mut self, message: String) {
        self.error_count += 1;
        if self.errors.len() < 100 {
            self.errors.push(ImportError { line: self.line, message });
        }
    }

    fn line(&mut self, raw: &[u8]) {
        self.line += 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            self.error("not UTF-8".into());
            return;
        };
        let text = text.trim().trim_start_matches('\u{feff}');
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let mut fields = text.split(',').map(|f| f.trim().trim_matches('"'));
        let first = fields.next().unwrap_or("");
        let second = fields.next();
        let digits: String = match second {
            Some(b) if first.len() == 3 && b.len() == 7 && self.country_code == 1 => format!("{first}{b}"),
            _ => first.to_owned(),
        };
        let digits = digits.strip_prefix('+').unwrap_or(&digits);
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
            if self.line == 1 {
                return; // a header
            }
            // The value is not repeated: a line of a registry file is personal data.
            self.error("the first field is not a phone number".into());
            return;
        }
        let cc = self.country_code.to_string();
        let full = if self.country_code == 1 && digits.len() == 10 { format!("1{digits}") } else { digits.to_owned() };
        let ok = if self.country_code == 1 {
            let b = full.as_bytes();
            full.len() == 11 && b[0] == b'1' && b[1] >= b'2' && b[4] >= b'2'
        } else {
            full.starts_with(&cc) && (cc.len() + 4..=15).contains(&full.len())
        };
        if !ok {
            self.error(format!("not a +{cc} number (E.164: country code and national number)"));
            return;
        }
        match full.parse::<u64>() {
            Ok(k) => self.keys.push(k),
            Err(_) => self.error("not a number".into()),
        }
    }
}
