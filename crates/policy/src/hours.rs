//! Calling hours (TCPA 47 CFR 64.1200(c)(1): 08:00–21:00 at the called party's location; state
//! rules stricter): a call is allowed at an instant only when, in **every** zone the number may
//! be in, the local time lies in **every** applicable rule's window for that local weekday, at
//! least `margin` before the window closes. Pure: the instant is passed in; time zones come from
//! the IANA database bundled with jiff, so DST changes follow the tz rules, not the host.

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

/// A daily window in local minutes since midnight, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First allowed minute.
    pub start: u16,
    /// First minute no longer allowed.
    pub end: u16,
}

impl Window {
    /// `HH:MM`–`HH:MM`.
    pub const fn hm(start_h: u16, start_m: u16, end_h: u16, end_m: u16) -> Window {
        Window { start: start_h * 60 + start_m, end: end_h * 60 + end_m }
    }
}

/// A calling-hours rule: a window per local weekday (Monday first); `None` = no calls that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursRule {
    /// Where it comes from, e.g. `US federal (TCPA)`, `Florida (Fla. Stat. 501.616)`.
    pub name: String,
    /// Monday..Sunday.
    pub days: [Option<Window>; 7],
}

impl HoursRule {
    /// The same window every day.
    pub fn daily(name: &str, w: Window) -> HoursRule {
        HoursRule { name: name.into(), days: [Some(w); 7] }
    }

    /// The US federal window: 08:00–21:00 every day.
    pub fn us_federal() -> HoursRule {
        Self::daily("US federal (TCPA 47 CFR 64.1200(c)(1))", Window::hm(8, 0, 21, 0))
    }
}

/// Why a call may not be placed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideHours {
    /// The rule that refused.
    pub rule: String,
    /// The zone in which it refused.
    pub zone: String,
    /// The local time there, `YYYY-MM-DD HH:MM (weekday)`.
    pub local: String,
    /// The next instant at which every rule allows the call in every zone (searched up to 8
    /// days ahead).
    pub next_allowed: Option<Timestamp>,
}

/// Errors that deny (never allow).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// No zone is known for the number.
    #[error("the called party's time zone is unknown")]
    NoZone,
    /// A zone name is not in the time zone database.
    #[error("unknown time zone `{0}`")]
    UnknownZone(String),
}

fn day_index(w: Weekday) -> usize {
    usize::from(w.to_monday_zero_offset().unsigned_abs())
}

/// The first rule/zone that refuses a call at `at`, if any.
fn refusal(rules: &[&HoursRule], zones: &[TimeZone], at: Timestamp, margin: u16) -> Option<(usize, usize)> {
    for (zi, tz) in zones.iter().enumerate() {
        let local = at.to_zoned(tz.clone());
        let minute = u16::try_from(local.hour()).unwrap_or(0) * 60 + u16::try_from(local.minute()).unwrap_or(0);
        let day = day_index(local.weekday());
        for (ri, rule) in rules.iter().enumerate() {
            if !rule.days[day].is_some_and(|w| minute >= w.start && minute + margin < w.end) {
                return Some((ri, zi));
            }
        }
    }
    None
}

/// Checks a call at `at` against `rules` in every zone of `zone_names`; `margin` minutes before
/// a window closes count as closed (the default margin is 1 minute).
pub fn check(
    rules: &[&HoursRule],
    zone_names: &[&str],
    at: Timestamp,
    margin: u16,
) -> Result<Result<(), OutsideHours>, HoursError> {
    if zone_names.is_empty() {
        return Err(HoursError::NoZone);
    }
    let zones: Vec<TimeZone> = zone_names
        .iter()
        .map(|z| TimeZone::get(z).map_err(|_| HoursError::UnknownZone((*z).to_owned())))
        .collect::<Result<_, _>>()?;
    let Some((ri, zi)) = refusal(rules, &zones, at, margin) else { return Ok(Ok(())) };
    let local = at.to_zoned(zones[zi].clone());
    // The next allowed minute: scan minute boundaries up to 8 days ahead.
    let start = Timestamp::from_second(at.as_second() - at.as_second().rem_euclid(60) + 60).unwrap_or(at);
    let next_allowed = (0..8 * 24 * 60)
        .filter_map(|m| start.checked_add(jiff::SignedDuration::from_mins(m)).ok())
        .find(|t| refusal(rules, &zones, *t, margin).is_none());
    Ok(Err(OutsideHours {
        rule: rules[ri].name.clone(),
        zone: zone_names[zi].to_owned(),
        local: format!("{} ({:?})", local.strftime("%Y-%m-%d %H:%M"), local.weekday()),
        next_allowed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn federal_window_edges_with_and_without_margin() {
        let fed = HoursRule::us_federal();
        let ny = ["America/New_York"];
        // 2026-11-23 is a Monday; New York is UTC-5 in November.
        assert_eq!(check(&[&fed], &ny, at("2026-11-24T01:59:00Z"), 0).unwrap(), Ok(())); // 20:59
        let e = check(&[&fed], &ny, at("2026-11-24T02:00:00Z"), 0).unwrap().unwrap_err(); // 21:00
        assert_eq!(e.zone, "America/New_York");
        assert!(e.local.starts_with("2026-11-23 21:00"), "{}", e.local);
        assert_eq!(e.next_allowed, Some(at("2026-11-24T13:00:00Z"))); // 08:00 local next morning
        // With the default one-minute margin 20:59 is already too late.
        assert!(check(&[&fed], &ny, at("2026-11-24T01:59:00Z"), 1).unwrap().is_err());
        assert_eq!(check(&[&fed], &ny, at("2026-11-24T01:58:00Z"), 1).unwrap(), Ok(()));
        assert!(check(&[&fed], &ny, at("2026-11-23T12:59:00Z"), 1).unwrap().is_err()); // 07:59
        assert_eq!(check(&[&fed], &ny, at("2026-11-23T13:00:00Z"), 1).unwrap(), Ok(())); // 08:00
    }

    #[test]
    fn both_dst_changes_follow_the_tz_rules() {
        let fed = HoursRule::us_federal();
        let ny = ["America/New_York"];
        // Spring forward 2026-03-08: 20:59 EDT is 00:59 UTC next day (UTC-4).
        assert_eq!(check(&[&fed], &ny, at("2026-03-09T00:59:00Z"), 0).unwrap(), Ok(()));
        assert!(check(&[&fed], &ny, at("2026-03-09T01:00:00Z"), 0).unwrap().is_err());
        // The day before, still EST (UTC-5): 20:59 is 01:59 UTC.
        assert_eq!(check(&[&fed], &ny, at("2026-03-08T01:59:00Z"), 0).unwrap(), Ok(()));
        // Fall back 2026-11-01: 08:00 EST is 13:00 UTC; 12:30 UTC is 07:30 local.
        assert!(check(&[&fed], &ny, at("2026-11-01T12:30:00Z"), 0).unwrap().is_err());
        assert_eq!(check(&[&fed], &ny, at("2026-11-01T13:00:00Z"), 0).unwrap(), Ok(()));
    }

    #[test]
    fn a_number_in_two_zones_gets_the_intersection() {
        // Idaho's 208: Mountain (Boise) and Pacific (Los Angeles). Boise is one hour ahead, so
        // the window is 08:00 Pacific to 21:00 Mountain (= 20:00 Pacific).
        let fed = HoursRule::us_federal();
        let idaho = ["America/Boise", "America/Los_Angeles"];
        // 2026-11-23: Boise UTC-7, Los Angeles UTC-8.
        let e = check(&[&fed], &idaho, at("2026-11-23T15:30:00Z"), 0).unwrap().unwrap_err(); // 08:30 MT, 07:30 PT
        assert_eq!(e.zone, "America/Los_Angeles");
        assert_eq!(e.next_allowed, Some(at("2026-11-23T16:00:00Z")));
        assert_eq!(check(&[&fed], &idaho, at("2026-11-23T16:00:00Z"), 0).unwrap(), Ok(()));
        let e = check(&[&fed], &idaho, at("2026-11-24T04:00:00Z"), 0).unwrap().unwrap_err(); // 21:00 MT
        assert_eq!(e.zone, "America/Boise");
    }

    #[test]
    fn stricter_state_rules_and_no_sunday() {
        let fed = HoursRule::us_federal();
        let florida = HoursRule::daily("Florida (Fla. Stat. 501.616)", Window::hm(8, 0, 20, 0));
        let mut days = [Some(Window::hm(8, 0, 20, 0)); 7];
        days[6] = None;
        let no_sunday = HoursRule { name: "Alabama (no Sundays)".into(), days };
        let ny = ["America/New_York"];
        // 20:30 Monday: federal allows, Florida refuses.
        assert_eq!(check(&[&fed], &ny, at("2026-11-24T01:30:00Z"), 0).unwrap(), Ok(()));
        let e = check(&[&fed, &florida], &ny, at("2026-11-24T01:30:00Z"), 0).unwrap().unwrap_err();
        assert!(e.rule.starts_with("Florida"));
        // Sunday 2026-11-22 at noon: refused all day; next allowed Monday 08:00.
        let e = check(&[&no_sunday], &ny, at("2026-11-22T17:00:00Z"), 0).unwrap().unwrap_err();
        assert!(e.local.contains("Sunday"), "{}", e.local);
        assert_eq!(e.next_allowed, Some(at("2026-11-23T13:00:00Z")));
    }

    #[test]
    fn unknown_zones_deny() {
        let fed = HoursRule::us_federal();
        assert_eq!(check(&[&fed], &[], at("2026-11-23T15:00:00Z"), 0), Err(HoursError::NoZone));
        assert_eq!(
            check(&[&fed], &["Mars/Olympus"], at("2026-11-23T15:00:00Z"), 0),
            Err(HoursError::UnknownZone("Mars/Olympus".into()))
        );
    }
}
