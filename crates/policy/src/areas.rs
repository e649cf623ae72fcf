//! Calling areas: named sets of countries, regions, NANP area codes, number types and
//! prefixes, with exceptions (allow +44 but not +447 or +449). A number is in an area when an
//! exception does not match and an inclusion does; every answer names the clause that decided.

use std::fmt;
use std::str::FromStr;

use crate::numbers::{Number, NumberKind};

/// One clause of an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaMatch {
    /// Every number.
    Any,
    /// A country calling code (`country:44`; 1 is all of NANP).
    Country(u16),
    /// An ISO region as libphonenumber assigns it (`region:US`: NANP numbers of the US only).
    Region(String),
    /// A NANP area code (`area_code:208`).
    AreaCode(u16),
    /// A line type (`kind:premium_rate`).
    Kind(NumberKind),
    /// E.164 digits the number starts with (`prefix:447`).
    Prefix(String),
}

impl AreaMatch {
    /// Whether the clause covers the number.
    pub fn matches(&self, n: &Number) -> bool {
        match self {
            AreaMatch::Any => true,
            AreaMatch::Country(cc) => n.country_code == *cc,
            AreaMatch::Region(r) => n.region == Some(r.as_str()),
            AreaMatch::AreaCode(a) => n.area_code == Some(*a),
            AreaMatch::Kind(k) => n.kind == *k,
            AreaMatch::Prefix(p) => n.digits().starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for AreaMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AreaMatch::Any => f.write_str("any"),
            AreaMatch::Country(c) => write!(f, "country:{c}"),
            AreaMatch::Region(r) => write!(f, "region:{r}"),
            AreaMatch::AreaCode(a) => write!(f, "area_code:{a}"),
            AreaMatch::Kind(k) => write!(f, "kind:{}", k.as_str()),
            AreaMatch::Prefix(p) => write!(f, "prefix:{p}"),
        }
    }
}

/// A clause that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid area clause `{clause}`: {message}")]
pub struct AreaClauseError {
    /// The clause (truncated).
    pub clause: String,
    /// What is wrong.
    pub message: &'static str,
}

impl FromStr for AreaMatch {
    type Err = AreaClauseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |message| AreaClauseError { clause: s.chars().take(64).collect(), message };
        if s == "any" {
            return Ok(AreaMatch::Any);
        }
        let (kind, value) = s.split_once(':').ok_or(err("expected kind:value, e.g. country:44"))?;
        let digits = |max: usize| !value.is_empty() && value.len() <= max && value.bytes().all(|b| b.is_ascii_digit());
        match kind {
            "country" if digits(3) => Ok(AreaMatch::Country(value.parse().map_err(|_| err("bad code"))?)),
            "area_code" if digits(3) && value.len() == 3 => {
                Ok(AreaMatch::AreaCode(value.parse().map_err(|_| err("bad code"))?))
            }
            "region" if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) => {
                Ok(AreaMatch::Region(value.into()))
            }
            "prefix" if digits(15) => Ok(AreaMatch::Prefix(value.into())),
            "kind" => NumberKind::from_name(value).map(AreaMatch::Kind).ok_or(err("unknown number kind")),
            "country" | "area_code" | "region" | "prefix" => Err(err("malformed value")),
            _ => Err(err("unknown clause kind (country, region, area_code, kind, prefix, any)")),
        }
    }
}

/// A named calling area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingArea {
    /// Name.
    pub name: String,
    /// Numbers covered.
    pub include: Vec<AreaMatch>,
    /// Numbers taken out again (they win over inclusions).
    pub except: Vec<AreaMatch>,
}

/// The answer of an area for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaDecision<'a> {
    /// Inside, by this inclusion (its position among the inclusions).
    Inside(&'a AreaMatch, usize),
    /// Taken out by this exception.
    Excepted(&'a AreaMatch),
    /// No inclusion covers it.
    Outside,
}

impl CallingArea {
    /// The tenant default of a country: its own numbers, no premium-rate or shared-cost lines
    /// (international and the rest of NANP are outside: no international charges).
    pub fn domestic(region: &str) -> CallingArea {
        CallingArea {
            name: format!("domestic ({region})"),
            include: vec![AreaMatch::Region(region.into())],
            except: vec![AreaMatch::Kind(NumberKind::PremiumRate), AreaMatch::Kind(NumberKind::SharedCost)],
        }
    }

    /// Decides a number.
    pub fn decide(&self, n: &Number) -> AreaDecision<'_> {
        if let Some(e) = self.except.iter().find(|c| c.matches(n)) {
            return AreaDecision::Excepted(e);
        }
        match self.include.iter().position(|c| c.matches(n)) {
            Some(i) => AreaDecision::Inside(&self.include[i], i),
            None => AreaDecision::Outside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::parse;

    fn n(s: &str) -> Number {
        parse(s, None).unwrap()
    }

    #[test]
    fn exceptions_win_over_inclusions() {
        let uk = CallingArea {
            name: "UK landlines".into(),
            include: vec!["country:44".parse().unwrap()],
            except: vec!["prefix:447".parse().unwrap(), "prefix:449".parse().unwrap()],
        };
        assert_eq!(uk.decide(&n("+442079460000")), AreaDecision::Inside(&AreaMatch::Country(44), 0));
        assert_eq!(uk.decide(&n("+447400123456")), AreaDecision::Excepted(&AreaMatch::Prefix("447".into())));
        assert_eq!(uk.decide(&n("+449098790000")), AreaDecision::Excepted(&AreaMatch::Prefix("449".into())));
        assert_eq!(uk.decide(&n("+493012345678")), AreaDecision::Outside);
    }

    #[test]
    fn domestic_default_blocks_international_nanp_neighbours_and_premium() {
        let us = CallingArea::domestic("US");
        assert_eq!(us.decide(&n("+12085550100")), AreaDecision::Inside(&AreaMatch::Region("US".into()), 0));
        // Same country code 1, other countries: international charges.
        assert_eq!(us.decide(&n("+18762345678")), AreaDecision::Outside); // Jamaica
        assert_eq!(us.decide(&n("+14162345678")), AreaDecision::Outside); // Canada
        assert_eq!(us.decide(&n("+19005550199")), AreaDecision::Excepted(&AreaMatch::Kind(NumberKind::PremiumRate)));
        assert_eq!(us.decide(&n("+442079460000")), AreaDecision::Outside);
        let idaho =
            CallingArea { name: "Idaho".into(), include: vec!["area_code:208".parse().unwrap()], except: vec![] };
        assert!(matches!(idaho.decide(&n("+12085550100")), AreaDecision::Inside(..)));
    }

    #[test]
    fn clauses_parse_print_and_refuse_garbage() {
        for c in ["any", "country:44", "region:US", "area_code:208", "kind:premium_rate", "prefix:447"] {
            assert_eq!(c.parse::<AreaMatch>().unwrap().to_string(), c);
        }
        for bad in
            ["country", "country:", "country:4444", "area_code:20", "region:us", "kind:fax", "prefix:+44", "planet:3"]
        {
            assert!(bad.parse::<AreaMatch>().is_err(), "{bad}");
        }
    }
}
