//! Calling hours (TCPA 47 CFR 64.1200(c)(1): 08:00–21:00 at the called party's location; state
//! rules stricter): a call is allowed at an instant only when, in **every** zone the number may
//! be in, the local time lies in **every** applicable rule's window for that local weekday, at
//! least `margin` before the window closes. Pure: the instant is passed in; time zones come from
//! the IANA database bundled with jiff, so DST changes follow the tz rules, not the host.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use crate::timezones::Zone;

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
    /// Local dates with no calls at all (sorted).
    pub holidays: Vec<Date>,
}

impl HoursRule {
    /// The same window every day.
    pub fn daily(name: &str, w: Window) -> HoursRule {
        HoursRule { name: name.into(), days: [Some(w); 7], holidays: Vec::new() }
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
    /// days ahead; None when no such instant exists within them).
    pub next_allowed: Option<Timestamp>,
}

/// Errors that deny (never allow).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// No zone is known for the number.
    #[error("the called party's time zone is unknown")]
    NoZone,
}

fn day_index(w: Weekday) -> usize {
    usize::from(w.to_monday_zero_offset().unsigned_abs())
}

/// Minutes since local midnight.
fn minute_of(t: jiff::civil::Time) -> u16 {
    u16::try_from(t.hour()).unwrap_or(0) * 60 + u16::try_from(t.minute()).unwrap_or(0)
}

/// The first rule/zone that refuses a call at `at`, if any.
fn refusal(rules: &[&HoursRule], zones: &[Zone], at: Timestamp, margin: u16) -> Option<(usize, usize)> {
    for (zi, zone) in zones.iter().enumerate() {
        let local = zone.tz.to_datetime(at);
        let minute = minute_of(local.time());
        let day = day_index(local.weekday());
        for (ri, rule) in rules.iter().enumerate() {
            let open = rule.days[day].is_some_and(|w| minute >= w.start && minute + margin < w.end);
            if !open || (!rule.holidays.is_empty() && rule.holidays.binary_search(&local.date()).is_ok()) {
                return Some((ri, zi));
            }
        }
    }
    None
}

/// The earliest instant after `at` at which no rule refuses in any zone. The allowed set is an
/// intersection of windows, so its earliest point is the start of one of them: every window
/// start in every zone over the next 8 days is a candidate. Days are generated one at a time and
/// the search stops as soon as an allowed candidate precedes every candidate still to come (the
/// next local midnight in each zone), so most denials convert a handful of instants, not 8 days'.
fn next_allowed(rules: &[&HoursRule], zones: &[Zone], at: Timestamp, margin: u16) -> Option<Timestamp> {
    let today: Vec<Date> = zones.iter().map(|z| z.tz.to_datetime(at).date()).collect();
    let mut pending: Vec<Timestamp> = Vec::with_capacity(zones.len() * rules.len() * 2);
    for d in 0..=8 {
        for (zone, today) in zones.iter().zip(&today) {
            let Ok(date) = today.checked_add(jiff::Span::new().days(d)) else { continue };
            for rule in rules {
                let Some(w) = rule.days[day_index(date.weekday())] else { continue };
                let (h, m) = (i8::try_from(w.start / 60).unwrap_or(0), i8::try_from(w.start % 60).unwrap_or(0));
                if let Ok(z) = zone.tz.to_ambiguous_zoned(date.at(h, m, 0, 0)).compatible() {
                    let t = z.timestamp();
                    if t > at {
                        pending.push(t);
                    }
                }
            }
        }
        pending.sort_unstable();
        pending.dedup();
        // Refused candidates never become allowed: drop them; the first allowed one is the
        // answer once no later day can bring an earlier candidate.
        pending.retain(|t| refusal(rules, zones, *t, margin).is_none());
        let Some(&first) = pending.first() else { continue };
        let later_days_start = zones
            .iter()
            .zip(&today)
            .filter_map(|(zone, today)| {
                let next = today.checked_add(jiff::Span::new().days(d + 1)).ok()?;
                zone.tz.to_ambiguous_zoned(next.at(0, 0, 0, 0)).compatible().ok().map(|z| z.timestamp())
            })
            .min();
        if later_days_start.is_none_or(|bound| first < bound) || d == 8 {
            return Some(first);
        }
    }
    None
}

/// Checks a call at `at` against `rules` in every zone of `zones`; `margin` minutes before a
/// window closes count as closed (the default margin is 1 minute).
pub fn check(
    rules: &[&HoursRule],
    zones: &[Zone],
    at: Timestamp,
    margin: u16,
) -> Result<Result<(), OutsideHours>, HoursError> {
    if zones.is_empty() {
        return Err(HoursError::NoZone);
    }
    let Some((ri, zi)) = refusal(rules, zones, at, margin) else { return Ok(Ok(())) };
    let local = zones[zi].tz.to_datetime(at);
    Ok(Err(OutsideHours {
        rule: rules[ri].name.clone(),
        zone: zones[zi].name.to_owned(),
        local: format!("{} ({:?})", local.strftime("%Y-%m-%d %H:%M"), local.weekday()),
        next_allowed: next_allowed(rules, zones, at, margin),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn zones(names: &[&'static str]) -> Vec<Zone> {
        names.iter().map(|n| Zone::get(n).unwrap()).collect()
    }

    #[test]
    fn federal_window_edges_with_and_without_margin() {
        let fed = HoursRule::us_federal();
        let ny = zones(&["America/New_York"]);
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
        let ny = zones(&["America/New_York"]);
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
        let idaho = zones(&["America/Boise", "America/Los_Angeles"]);
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
        let no_sunday = HoursRule { name: "Alabama (no Sundays)".into(), days, holidays: vec![] };
        let ny = zones(&["America/New_York"]);
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
    fn next_allowed_is_the_first_allowed_minute() {
        // Against a minute-by-minute scan: two zones an hour apart, a stricter state rule, no
        // Sundays, a holiday, instants spread over three weeks around a DST change.
        let fed = HoursRule::us_federal();
        let mut strict = HoursRule::daily("strict", Window::hm(9, 30, 20, 0));
        strict.days[6] = None;
        strict.holidays = vec!["2026-11-26".parse().unwrap()];
        let idaho = zones(&["America/Boise", "America/Los_Angeles"]);
        let rules = [&fed, &strict];
        let mut t = at("2026-10-25T03:17:00Z");
        let mut denied = 0;
        for _ in 0..70 {
            if let Ok(Err(out)) = check(&rules, &idaho, t, 1) {
                denied += 1;
                let next = out.next_allowed.expect("allowed within 8 days");
                let mut m = t;
                while refusal(&rules, &idaho, m, 1).is_some() {
                    m += jiff::SignedDuration::from_mins(1);
                }
                assert_eq!(next, m, "from {t}");
            }
            t += jiff::SignedDuration::from_mins(13 * 60 + 7);
        }
        assert!(denied > 30, "{denied}");
    }

    #[test]
    fn unknown_zones_deny_and_holidays_close_the_day() {
        let fed = HoursRule::us_federal();
        assert_eq!(check(&[&fed], &[], at("2026-11-23T15:00:00Z"), 0), Err(HoursError::NoZone));
        let mut xmas = HoursRule::daily("Louisiana", Window::hm(8, 0, 20, 0));
        xmas.holidays = vec!["2026-12-25".parse().unwrap()];
        let ny = zones(&["America/New_York"]);
        let e = check(&[&fed, &xmas], &ny, at("2026-12-25T17:00:00Z"), 1).unwrap().unwrap_err();
        assert_eq!(e.rule, "Louisiana");
        assert_eq!(e.next_allowed, Some(at("2026-12-26T13:00:00Z")));
        // Nothing ever allowed: no next instant.
        let never = HoursRule { name: "closed".into(), days: [None; 7], holidays: vec![] };
        assert_eq!(check(&[&never], &ny, at("2026-12-25T17:00:00Z"), 1).unwrap().unwrap_err().next_allowed, None);
    }
}
