//! The time zones a phone number may be in: libphonenumber's prefix → IANA zone map
//! (`data/timezones.txt`, see `data/README.md`), longest prefix wins. Several zones mean the
//! number may be in any of them (Idaho's 208 spans Mountain and Pacific time); calling-hour
//! rules take the intersection of their windows.

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../data/timezones.txt");

/// The longest prefix in the data (libphonenumber's is 9 digits).
const MAX_PREFIX: usize = 12;

/// The parsed map.
pub struct ZoneMap {
    by_prefix: HashMap<&'static str, Vec<&'static str>>,
    longest: usize,
}

impl std::fmt::Debug for ZoneMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneMap").field("prefixes", &self.by_prefix.len()).finish()
    }
}

/// A line of the data that is not `digits|Zone[&Zone…]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timezones.txt line {line}: {message}")]
pub struct ZoneDataError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl ZoneMap {
    /// Parses map data in libphonenumber's `prefix|Zone&Zone` format.
    pub fn parse(text: &'static str) -> Result<ZoneMap, ZoneDataError> {
        let mut by_prefix = HashMap::new();
        let mut longest = 0;
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message| ZoneDataError { line: line_no, message };
            let (prefix, zones) = line.split_once('|').ok_or(err("expected prefix|zones"))?;
            if prefix.is_empty() || prefix.len() > MAX_PREFIX || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("the prefix must be 1 to 12 digits"));
            }
            let zones: Vec<&'static str> = zones.split('&').collect();
            if zones.iter().any(|z| z.is_empty() || !z.contains('/') && *z != "UTC") {
                return Err(err("zones must be IANA names such as America/New_York"));
            }
            if by_prefix.insert(prefix, zones).is_some() {
                return Err(err("prefix listed twice"));
            }
            longest = longest.max(prefix.len());
        }
        Ok(ZoneMap { by_prefix, longest })
    }

    /// The shipped map, parsed once.
    pub fn shipped() -> &'static ZoneMap {
        static MAP: OnceLock<ZoneMap> = OnceLock::new();
        MAP.get_or_init(|| ZoneMap::parse(DATA).unwrap_or_else(|e| panic!("shipped time zone data is corrupt: {e}")))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The zones of an E.164 number given as digits (country code first, no `+`): the entry of
    /// the longest matching prefix, or an empty slice when no prefix matches.
    pub fn zones_for(&self, e164_digits: &str) -> &[&'static str] {
        let digits = e164_digits.strip_prefix('+').unwrap_or(e164_digits);
        let max = self.longest.min(digits.len());
        for len in (1..=max).rev() {
            if let Some(zones) = self.by_prefix.get(&digits[..len]) {
                return zones;
            }
        }
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_multi_zone_prefixes_are_kept() {
        let map = ZoneMap::shipped();
        assert_eq!(map.len(), 3294);
        // Idaho's 208 spans Mountain and Pacific time (DOMAIN.md); a narrower prefix decides.
        // (libphonenumber agrees: phonenumbers.timezone.time_zones_for_number gives the same.)
        assert_eq!(map.zones_for("+12085550100"), ["America/Boise", "America/Los_Angeles"]);
        assert_eq!(map.zones_for("12082011234"), ["America/Denver"]);
        assert_eq!(map.zones_for("+12083451234"), ["America/Denver"]);
        assert_eq!(map.zones_for("+13055550100"), ["America/New_York"]);
        assert_eq!(map.zones_for("+442079460000"), ["Europe/London"]);
        assert!(map.zones_for("+447700900123").contains(&"Europe/London"));
        assert!(map.zones_for("+61212345678").contains(&"Australia/Sydney"));
        assert!(map.zones_for("").is_empty());
        assert!(map.zones_for("+0").is_empty());
    }

    #[test]
    fn malformed_data_is_refused_with_its_line() {
        assert_eq!(ZoneMap::parse("1|America/New_York\nx|Europe/London\n").unwrap_err().line, 2);
        assert_eq!(
            ZoneMap::parse("1|America/New_York\n1|America/Chicago\n").unwrap_err().message,
            "prefix listed twice"
        );
        assert_eq!(ZoneMap::parse("44|London\n").unwrap_err().line, 1);
        assert_eq!(ZoneMap::parse("44\n").unwrap_err().message, "expected prefix|zones");
        assert!(
            ZoneMap::parse("# comment\n\n33|Europe/Paris\n").unwrap().zones_for("+33140000000") == ["Europe/Paris"]
        );
    }
}
