//! Where a called party is, for the rules of their state: NANP area code → state or province
//! (`data/nanp-areas.txt`, from libphonenumber's geocoding data), US ZIP prefix → state
//! (`data/zip3-states.txt`), and the zones of a state (the union of its area codes' zones).
//! A Florida area code presumes the person is in Florida (Fla. Stat. 501.616); a contact's ZIP or
//! state that says otherwise adds that state's rules and zones rather than replacing them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::timezones::{Zone, ZoneMap};

const AREAS: &str = include_str!("../data/nanp-areas.txt");
const ZIPS: &str = include_str!("../data/zip3-states.txt");

struct Tables {
    by_area_code: Vec<Option<&'static str>>,
    by_zip3: Vec<Option<&'static str>>,
    state_zones: BTreeMap<&'static str, Vec<Zone>>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut by_area_code = vec![None; 1000];
        let mut state_zones: BTreeMap<&'static str, Vec<Zone>> = BTreeMap::new();
        let zones = ZoneMap::shipped();
        for line in AREAS.lines() {
            let Some((npa, state)) = line.split_once('|') else { continue };
            let Ok(npa) = npa.parse::<usize>() else { continue };
            if let Some(slot) = by_area_code.get_mut(npa) {
                *slot = Some(state);
            }
            let entry = state_zones.entry(state).or_default();
            for z in zones.zones_for(&format!("1{npa}")) {
                if !entry.contains(z) {
                    entry.push(z.clone());
                }
            }
        }
        let mut by_zip3 = vec![None; 1000];
        for line in ZIPS.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((range, state)) = line.split_once('|') else { continue };
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else { continue };
            for slot in by_zip3.iter_mut().take(b.min(999) + 1).skip(a) {
                *slot = Some(state);
            }
        }
        Tables { by_area_code, by_zip3, state_zones }
    })
}

/// The state or province of a NANP area code (`US-FL`).
pub fn state_of_area_code(npa: u16) -> Option<&'static str> {
    tables().by_area_code.get(usize::from(npa)).copied().flatten()
}

/// The state of a US ZIP code (five digits, optionally `-NNNN`).
pub fn state_of_zip(zip: &str) -> Option<&'static str> {
    let z = zip.trim();
    let five = z.split('-').next().unwrap_or("");
    if five.len() != 5 || !five.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tables().by_zip3.get(five[..3].parse::<usize>().ok()?).copied().flatten()
}

/// A state as the contact's data gives it (`FL`, `fl`, `US-FL`) in ISO 3166-2 form, if known.
pub fn normalize_state(s: &str, default_country: &str) -> Option<&'static str> {
    let s = s.trim().to_ascii_uppercase();
    let full = if s.contains('-') { s } else { format!("{default_country}-{s}") };
    let t = tables();
    t.state_zones
        .keys()
        .copied()
        .find(|k| *k == full)
        .or_else(|| t.by_zip3.iter().flatten().copied().find(|k| *k == full))
}

/// The zones a state's area codes are in.
pub fn zones_of_state(state: &str) -> &'static [Zone] {
    tables().state_zones.get(state).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(z: &[Zone]) -> Vec<&str> {
        z.iter().map(|z| z.name).collect()
    }

    #[test]
    fn area_codes_zips_and_state_zones() {
        assert_eq!(state_of_area_code(208), Some("US-ID"));
        assert_eq!(state_of_area_code(305), Some("US-FL"));
        assert_eq!(state_of_area_code(416), Some("CA-ON"));
        assert_eq!(state_of_area_code(800), None);
        assert_eq!(state_of_zip("33101"), Some("US-FL"));
        assert_eq!(state_of_zip("10001-1234"), Some("US-NY"));
        assert_eq!(state_of_zip("83702"), Some("US-ID"));
        assert_eq!(state_of_zip("3310"), None);
        assert_eq!(state_of_zip("ABCDE"), None);
        assert_eq!(normalize_state("fl", "US"), Some("US-FL"));
        assert_eq!(normalize_state("US-WA", "US"), Some("US-WA"));
        assert_eq!(normalize_state("Atlantis", "US"), None);
        let fl = names(zones_of_state("US-FL"));
        assert!(fl.contains(&"America/New_York") && fl.contains(&"America/Chicago"), "{fl:?}");
        assert!(names(zones_of_state("US-ID")).contains(&"America/Boise"));
    }
}
