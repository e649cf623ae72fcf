//! Calling rules as data: the hours, closed days, holidays and calls-per-24-hours limits of
//! countries, states and campaigns, in a line format a tenant can read and edit
//! (`data/calling-rules.txt` is what ships). A file with any error is refused whole, every error
//! with its line, so the rules in force never change half-way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;

use crate::hours::{HoursRule, Window};

/// The rules shipped with callvault.
pub const SHIPPED: &str = include_str!("../data/calling-rules.txt");

/// The longest rules file accepted.
pub const MAX_BYTES: usize = 1 << 20;

/// What one place (country, state, campaign, fallback) imposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jurisdiction {
    /// `US`, `US-FL`, `service:spring-sale`, `fallback`.
    pub name: String,
    /// The windows per weekday (`None` = closed; days never named are open all day).
    pub hours: HoursRule,
    /// At most this many calls to one number in 24 hours.
    pub limit_per_24h: Option<u32>,
    /// Where the rules come from, in file order, without repeats.
    pub sources: Vec<String>,
}

/// A parsed rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// By name.
    pub jurisdictions: BTreeMap<String, Jurisdiction>,
    /// The zone assumed for numbers whose zone is unknown.
    pub fallback_zone: Option<String>,
    /// The text it was parsed from (what GET returns and PUT replaces).
    pub text: String,
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RuleError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for part in s.split(',') {
        let idx = |d: &str| {
            DAY_NAMES.iter().position(|n| *n == d).ok_or_else(|| format!("unknown day `{d}` (mon, tue, …, sun)"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (idx(a)?, idx(b)?);
                if a > b {
                    return Err(format!("day range `{part}` runs backwards"));
                }
                days[a..=b].iter_mut().for_each(|d| *d = true);
            }
            None => days[idx(part)?] = true,
        }
    }
    Ok(days)
}

fn parse_hm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

fn parse_window(s: &str) -> Result<Window, String> {
    let bad = || format!("`{s}` is not a window such as 08:00-21:00");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (start, end) = (parse_hm(a).ok_or_else(bad)?, parse_hm(b).ok_or_else(bad)?);
    if start >= end {
        return Err(format!("window `{s}` ends before it starts"));
    }
    Ok(Window { start, end })
}

fn valid_place(p: &str) -> bool {
    let region = |r: &str| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase());
    match p.split_once(':') {
        Some(("service", name)) => {
            !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic() && b != b',')
        }
        Some(_) => false,
        None => {
            p == "fallback"
                || region(p)
                || p.split_once('-').is_some_and(|(c, s)| {
                    region(c)
                        && (1..=3).contains(&s.len())
                        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                })
        }
    }
}

impl RuleSet {
    /// The shipped rules.
    pub fn shipped() -> RuleSet {
        // The shipped file is checked by a unit test; should it ever fail, no rules would be
        // worse than an error, so fall back to the federal window alone.
        RuleSet::parse(SHIPPED).unwrap_or_else(|_| {
            let mut jurisdictions = BTreeMap::new();
            jurisdictions.insert(
                "US".to_owned(),
                Jurisdiction {
                    name: "US".into(),
                    hours: HoursRule::us_federal(),
                    limit_per_24h: None,
                    sources: vec!["TCPA".into()],
                },
            );
            RuleSet { jurisdictions, fallback_zone: None, text: String::new() }
        })
    }

    /// Parses a rules file; every error is reported with its line.
    pub fn parse(text: &str) -> Result<RuleSet, Vec<RuleError>> {
        if text.len() > MAX_BYTES {
            return Err(vec![RuleError { line: 1, message: format!("the file is larger than {MAX_BYTES} bytes") }]);
        }
        let mut errors = Vec::new();
        let mut jurisdictions: BTreeMap<String, Jurisdiction> = BTreeMap::new();
        let mut fallback_zone = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let (body, source) = match raw.split_once(" -- ") {
                Some((b, s)) => (b, Some(s.trim())),
                None => (raw, None),
            };
            let body = body.split('#').next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            if let Err(message) = Self::statement(body, source, &mut jurisdictions, &mut fallback_zone) {
                errors.push(RuleError { line, message });
                if errors.len() >= 100 {
                    break;
                }
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { jurisdictions, fallback_zone, text: text.to_owned() })
        } else {
            Err(errors)
        }
    }

    fn statement(
        body: &str,
        source: Option<&str>,
        jurisdictions: &mut BTreeMap<String, Jurisdiction>,
        fallback_zone: &mut Option<String>,
    ) -> Result<(), String> {
        let tokens: Vec<&str> = body.split_whitespace().collect();
        let [places, verb, args @ ..] = tokens.as_slice() else {
            return Err("expected `<where> hours|closed|holiday|limit …`".into());
        };
        if *places == "fallback" && *verb == "zone" {
            let [zone] = args else { return Err("expected `fallback zone <IANA zone>`".into()) };
            jiff::tz::TimeZone::get(zone).map_err(|_| format!("unknown time zone `{zone}`"))?;
            *fallback_zone = Some((*zone).to_owned());
            return Ok(());
        }
        let places: Vec<&str> = places.split(',').collect();
        if let Some(bad) = places.iter().find(|p| !valid_place(p)) {
            return Err(format!("`{bad}` is not a place (US, US-FL, service:<name>, fallback)"));
        }
        enum Change {
            Hours([bool; 7], Window),
            Closed([bool; 7]),
            Holidays(Vec<Date>),
            Limit(u32),
        }
        let change = match (*verb, args) {
            ("hours", [days, window]) => Change::Hours(parse_days(days)?, parse_window(window)?),
            ("closed", [days]) => Change::Closed(parse_days(days)?),
            ("holiday", [dates]) => Change::Holidays(
                dates
                    .split(',')
                    .map(|d| d.parse::<Date>().map_err(|_| format!("`{d}` is not a date such as 2026-12-25")))
                    .collect::<Result<_, _>>()?,
            ),
            ("limit", [n, "per", "24h"]) => {
                let n: u32 = n.parse().map_err(|_| format!("`{n}` is not a number of calls"))?;
                if n == 0 {
                    return Err("a limit of 0 calls would forbid calling; use `closed`".into());
                }
                Change::Limit(n)
            }
            ("hours", _) => return Err("expected `hours <days> <HH:MM-HH:MM>`".into()),
            ("closed", _) => return Err("expected `closed <days>`".into()),
            ("holiday", _) => return Err("expected `holiday <YYYY-MM-DD>[,…]`".into()),
            ("limit", _) => return Err("expected `limit <n> per 24h`".into()),
            (other, _) => return Err(format!("unknown rule `{other}` (hours, closed, holiday, limit)")),
        };
        for place in places {
            let j = jurisdictions.entry(place.to_owned()).or_insert_with(|| Jurisdiction {
                name: place.to_owned(),
                hours: HoursRule {
                    name: place.to_owned(),
                    days: [Some(Window { start: 0, end: 1440 }); 7],
                    holidays: Vec::new(),
                },
                limit_per_24h: None,
                sources: Vec::new(),
            });
            match &change {
                Change::Hours(days, w) => {
                    for (d, on) in days.iter().enumerate() {
                        if *on {
                            j.hours.days[d] = Some(*w);
                        }
                    }
                }
                Change::Closed(days) => {
                    for (d, on) in days.iter().enumerate() {
                        if *on {
                            j.hours.days[d] = None;
                        }
                    }
                }
                Change::Holidays(dates) => {
                    j.hours.holidays.extend(dates);
                    j.hours.holidays.sort_unstable();
                    j.hours.holidays.dedup();
                }
                Change::Limit(n) => j.limit_per_24h = Some(*n),
            }
            if let Some(s) = source
                && !j.sources.iter().any(|x| x == s)
            {
                j.sources.push(s.to_owned());
            }
            j.hours.name = match j.sources.first() {
                Some(s) => format!("{} ({s})", j.name),
                None => j.name.clone(),
            };
        }
        Ok(())
    }

    /// A jurisdiction by name.
    pub fn get(&self, name: &str) -> Option<&Jurisdiction> {
        self.jurisdictions.get(name)
    }

    /// A readable summary of one place's windows (for explanations and the CLI).
    pub fn describe(j: &Jurisdiction) -> String {
        let mut out = String::new();
        for (d, w) in j.hours.days.iter().enumerate() {
            let _ = match w {
                Some(w) if w.start == 0 && w.end == 1440 => continue,
                Some(w) => write!(
                    out,
                    "{} {:02}:{:02}-{:02}:{:02}; ",
                    DAY_NAMES[d],
                    w.start / 60,
                    w.start % 60,
                    w.end / 60,
                    w.end % 60
                ),
                None => write!(out, "{} closed; ", DAY_NAMES[d]),
            };
        }
        if let Some(n) = j.limit_per_24h {
            let _ = write!(out, "at most {n} calls per 24h; ");
        }
        if !j.hours.holidays.is_empty() {
            let _ = write!(out, "{} holidays; ", j.hours.holidays.len());
        }
        out.trim_end_matches("; ").to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_parse_and_say_what_domain_md_says() {
        let r = RuleSet::parse(SHIPPED).unwrap();
        let fl = r.get("US-FL").unwrap();
        assert_eq!(fl.hours.days[0], Some(Window::hm(8, 0, 20, 0)));
        assert_eq!(fl.limit_per_24h, Some(3));
        assert!(fl.hours.name.contains("501.616"));
        assert_eq!(r.get("US-OK").unwrap().limit_per_24h, Some(3));
        let al = r.get("US-AL").unwrap();
        assert_eq!(al.hours.days[6], None, "no Sundays");
        assert_eq!(al.hours.days[5], Some(Window::hm(8, 0, 20, 0)));
        assert!(al.hours.holidays.contains(&"2026-12-25".parse().unwrap()));
        assert_eq!(r.get("US-LA").unwrap().hours.holidays.len(), 22);
        let pa = r.get("US-PA").unwrap();
        assert_eq!(pa.hours.days[6], Some(Window::hm(13, 30, 21, 0)));
        assert_eq!(pa.hours.days[0], Some(Window { start: 0, end: 1440 }), "other days unrestricted");
        let ca = r.get("CA").unwrap();
        assert_eq!(ca.hours.days[4], Some(Window::hm(9, 0, 21, 30)));
        assert_eq!(ca.hours.days[5], Some(Window::hm(10, 0, 18, 0)));
        assert_eq!(r.fallback_zone.as_deref(), Some("America/New_York"));
        assert_eq!(
            RuleSet::describe(r.get("US-KY").unwrap()),
            (0..7).map(|d| format!("{} 10:00-21:00", DAY_NAMES[d])).collect::<Vec<_>>().join("; ")
        );
        assert_eq!(RuleSet::shipped(), r);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "US hours mon-sun 08:00-21:00\n\
                    US-FL hours mon-fri 20:00-08:00\n\
                    # fine\n\
                    us hours mon 08:00-20:00\n\
                    US limit 0 per 24h\n\
                    US-TX hours funday 08:00-20:00\n\
                    US holiday 2026-02-30\n\
                    fallback zone Mars/Base\n\
                    US-TX closed\n\
                    US frobnicate\n\
                    service:spring-sale hours mon-fri 09:00-17:00\n";
        let errors = RuleSet::parse(text).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4, 5, 6, 7, 8, 9, 10]);
        assert!(errors[0].message.contains("ends before it starts"), "{}", errors[0]);
        assert!(errors[1].message.contains("is not a place"));
        assert!(errors[3].message.contains("unknown day `funday`"));
        assert!(errors[7].message.contains("unknown rule `frobnicate`"));
        let ok = RuleSet::parse("service:spring-sale hours mon-fri 09:00-17:00\nservice:spring-sale closed sat,sun\n")
            .unwrap();
        let s = ok.get("service:spring-sale").unwrap();
        assert_eq!((s.hours.days[0], s.hours.days[5]), (Some(Window::hm(9, 0, 17, 0)), None));
    }
}
