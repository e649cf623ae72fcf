//! The time zones a phone number may be in: libphonenumber's prefix → IANA zone map
//! (`data/timezones.txt`, see `data/README.md`), longest prefix wins. Several zones mean the
//! number may be in any of them (Idaho's 208 spans Mountain and Pacific time); calling-hour
//! rules take the intersection of their windows.

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../data/timezones.txt");

/// The longest prefix in the data (libphonenumber's is 9 digits).
const MAX_PREFIX: usize = 12;

/// A time zone with its IANA name, resolved in the bundled time zone database.
#[derive(Debug, Clone)]
pub struct Zone {
    /// IANA name.
    pub name: &'static str,
    /// The zone.
    pub tz: jiff::tz::TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// A zone by its IANA name.
    pub fn get(name: &'static str) -> Option<Zone> {
        jiff::tz::TimeZone::get(name).ok().map(|tz| Zone { name, tz })
    }
}

/// A multiplicative hasher for the map's integer keys (the default SipHash costs more than the
/// look-up itself; the keys come from the shipped data, not from callers).
#[derive(Default)]
struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A prefix as a key: its digits' value and its length.
fn key(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')) << 4 | digits.len() as u64
}

/// The parsed map.
pub struct ZoneMap {
    by_prefix: HashMap<u64, Vec<Zone>, std::hash::BuildHasherDefault<PrefixHasher>>,
    longest: usize,
    /// For each 4-digit beginning that longer prefixes share, the longest of them: a look-up
    /// tries only the lengths that exist under its beginning.
    deepest: HashMap<u64, usize, std::hash::BuildHasherDefault<PrefixHasher>>,
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
        let mut by_prefix = HashMap::default();
        let mut resolved: HashMap<&'static str, Zone> = HashMap::new();
        let mut deepest: HashMap<u64, usize, std::hash::BuildHasherDefault<PrefixHasher>> = HashMap::default();
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
            let names: Vec<&'static str> = zones.split('&').collect();
            if names.iter().any(|z| z.is_empty() || !z.contains('/') && *z != "UTC") {
                return Err(err("zones must be IANA names such as America/New_York"));
            }
            let mut zones = Vec::with_capacity(names.len());
            for name in names {
                let zone = match resolved.get(name) {
                    Some(z) => z.clone(),
                    None => Zone::get(name).ok_or(err("a zone is not in the time zone database"))?,
                };
                resolved.insert(name, zone.clone());
                zones.push(zone);
            }
            if by_prefix.insert(key(prefix.as_bytes()), zones).is_some() {
                return Err(err("prefix listed twice"));
            }
            longest = longest.max(prefix.len());
            if prefix.len() >= 4 {
                let d = deepest.entry(key(&prefix.as_bytes()[..4])).or_default();
                *d = (*d).max(prefix.len());
            }
        }
        Ok(ZoneMap { by_prefix, longest, deepest })
    }

    /// The shipped map, parsed once.
    #[expect(
        clippy::panic,
        reason = "the data is compiled into the binary and parsed by a test; a corrupt copy is a build defect"
    )]
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
    pub fn zones_for(&self, e164_digits: &str) -> &[Zone] {
        self.lookup(e164_digits).map_or(&[], |(_, z)| z)
    }

    /// The longest matching prefix's length and zones.
    pub fn lookup(&self, e164_digits: &str) -> Option<(usize, &[Zone])> {
        let digits = e164_digits.strip_prefix('+').unwrap_or(e164_digits).as_bytes();
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let max = if digits.len() >= 4 {
            self.deepest.get(&key(&digits[..4])).copied().unwrap_or(3).min(digits.len())
        } else {
            self.longest.min(digits.len())
        };
        let mut keys = [0u64; MAX_PREFIX + 1];
        let mut value = 0u64;
        for (i, d) in digits[..max].iter().enumerate() {
            value = value * 10 + u64::from(d - b'0');
            keys[i + 1] = value << 4 | (i as u64 + 1);
        }
        (1..=max).rev().find_map(|len| self.by_prefix.get(&keys[len]).map(|z| (len, z.as_slice())))
    }

    /// Where a number is, as far as its digits tell: its zones, or none when they do not tell —
    /// libphonenumber's `Etc/Unknown` (non-geographic numbers), or only the country code matched
    /// and it spans more than four zones (NANP toll-free and premium numbers map to all 42 zones
    /// of NANP, from Guam to Adak: no window fits all of them).
    pub fn located(&self, number: &crate::numbers::Number) -> &[Zone] {
        match self.lookup(number.digits()) {
            Some((len, zones))
                if !(zones.len() > 4 && len == number.country_code.to_string().len())
                    && zones.iter().all(|z| z.name != "Etc/Unknown") =>
            {
                zones
            }
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(zones: &[Zone]) -> Vec<&str> {
        zones.iter().map(|z| z.name).collect()
    }

    #[test]
    fn longest_prefix_wins_and_multi_zone_prefixes_are_kept() {
        let map = ZoneMap::shipped();
        assert_eq!(map.len(), 3294);
        // Idaho's 208 spans Mountain and Pacific time (DOMAIN.md); a narrower prefix decides.
        // (libphonenumber agrees: phonenumbers.timezone.time_zones_for_number gives the same.)
        assert_eq!(names(map.zones_for("+12085550100")), ["America/Boise", "America/Los_Angeles"]);
        assert_eq!(names(map.zones_for("12082011234")), ["America/Denver"]);
        assert_eq!(names(map.zones_for("+12083451234")), ["America/Denver"]);
        assert_eq!(names(map.zones_for("+13055550100")), ["America/New_York"]);
        assert_eq!(names(map.zones_for("+442079460000")), ["Europe/London"]);
        assert!(names(map.zones_for("+447700900123")).contains(&"Europe/London"));
        assert!(names(map.zones_for("+61212345678")).contains(&"Australia/Sydney"));
        assert!(names(map.zones_for("")).is_empty());
        assert!(names(map.zones_for("+0")).is_empty());
    }

    #[test]
    fn malformed_data_is_refused_with_its_line() {
        assert_eq!(ZoneMap::parse("1|America/New_York\nx|Europe/London\n").unwrap_err().line, 2);
        assert_eq!(
            ZoneMap::parse("1|America/New_York\n1|America/Chicago\n").unwrap_err().message,
            "prefix listed twice"
        );
        assert_eq!(ZoneMap::parse("44|London\n").unwrap_err().line, 1);
        assert_eq!(
            ZoneMap::parse("44|Europe/Atlantis\n").unwrap_err().message,
            "a zone is not in the time zone database"
        );
        assert_eq!(ZoneMap::parse("44\n").unwrap_err().message, "expected prefix|zones");
        assert!(
            names(ZoneMap::parse("# comment\n\n33|Europe/Paris\n").unwrap().zones_for("+33140000000"))
                == ["Europe/Paris"]
        );
    }
}
