//! Phone numbers from untrusted input: parsed and classified with libphonenumber's metadata (the
//! `phonenumber` crate) — E.164 form, country calling code, region, NANP area code and number
//! type. Anything that does not parse to a valid number is an error that denies, with the reason.

use phonenumber::Type;

/// The longest input accepted (E.164 is at most 15 digits; formatting and extensions add some).
pub const MAX_INPUT: usize = 64;

/// What kind of line a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// Fixed line.
    FixedLine,
    /// Mobile.
    Mobile,
    /// Fixed line or mobile (NANP cannot tell them apart).
    FixedLineOrMobile,
    /// Toll free (freephone).
    TollFree,
    /// Premium rate.
    PremiumRate,
    /// Shared cost.
    SharedCost,
    /// Personal number.
    Personal,
    /// Voice over IP.
    Voip,
    /// Pager.
    Pager,
    /// Universal access number.
    Uan,
    /// Emergency.
    Emergency,
    /// Voicemail access.
    Voicemail,
    /// Short code.
    ShortCode,
    /// Standard rate.
    StandardRate,
    /// Carrier-specific.
    Carrier,
    /// Not otherwise classified.
    Unknown,
}

impl NumberKind {
    /// Every kind with its stable name.
    pub const NAMES: &'static [(NumberKind, &'static str)] = &[
        (NumberKind::FixedLine, "fixed_line"),
        (NumberKind::Mobile, "mobile"),
        (NumberKind::FixedLineOrMobile, "fixed_line_or_mobile"),
        (NumberKind::TollFree, "toll_free"),
        (NumberKind::PremiumRate, "premium_rate"),
        (NumberKind::SharedCost, "shared_cost"),
        (NumberKind::Personal, "personal"),
        (NumberKind::Voip, "voip"),
        (NumberKind::Pager, "pager"),
        (NumberKind::Uan, "uan"),
        (NumberKind::Emergency, "emergency"),
        (NumberKind::Voicemail, "voicemail"),
        (NumberKind::ShortCode, "short_code"),
        (NumberKind::StandardRate, "standard_rate"),
        (NumberKind::Carrier, "carrier"),
        (NumberKind::Unknown, "unknown"),
    ];

    /// The stable name (`premium_rate`).
    pub fn as_str(&self) -> &'static str {
        Self::NAMES.iter().find(|(k, _)| k == self).map_or("unknown", |(_, n)| n)
    }

    /// A kind by its stable name.
    pub fn from_name(name: &str) -> Option<NumberKind> {
        Self::NAMES.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }
}

impl From<Type> for NumberKind {
    fn from(t: Type) -> Self {
        match t {
            Type::FixedLine => NumberKind::FixedLine,
            Type::Mobile => NumberKind::Mobile,
            Type::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            Type::TollFree => NumberKind::TollFree,
            Type::PremiumRate => NumberKind::PremiumRate,
            Type::SharedCost => NumberKind::SharedCost,
            Type::PersonalNumber => NumberKind::Personal,
            Type::Voip => NumberKind::Voip,
            Type::Pager => NumberKind::Pager,
            Type::Uan => NumberKind::Uan,
            Type::Emergency => NumberKind::Emergency,
            Type::Voicemail => NumberKind::Voicemail,
            Type::ShortCode => NumberKind::ShortCode,
            Type::StandardRate => NumberKind::StandardRate,
            Type::Carrier => NumberKind::Carrier,
            _ => NumberKind::Unknown,
        }
    }
}

/// A valid, classified number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// E.164 digits with `+`.
    pub e164: String,
    /// Country calling code (1 for NANP).
    pub country_code: u16,
    /// The national significant number as an integer (leading zeros, as in Italy, are dropped:
    /// use `e164` where they matter).
    pub national: u64,
    /// ISO 3166 region (`US`, `GB`, `GG`, …) when libphonenumber knows it.
    pub region: Option<&'static str>,
    /// The NANP area code (country code 1 only).
    pub area_code: Option<u16>,
    /// The line type.
    pub kind: NumberKind,
}

impl Number {
    /// The E.164 digits without `+` (country code first).
    pub fn digits(&self) -> &str {
        &self.e164[1..]
    }
}

/// Why a number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Not a phone number at all.
    #[error("unparsable number: {0}")]
    Unparsable(&'static str),
    /// Parses, but no number of its country has this form.
    #[error("not a valid number for its country")]
    Invalid,
}

/// Parses `input` (E.164 with `+`, or national digits with `default_region` such as `US`).
///
/// E.164 input (`+` and digits only, what dialers send) takes the fast path: the country code is
/// read off the front and the national digits are classified by [`Classifier`]. Anything else
/// (spaces, brackets, national form) is normalised by the `phonenumber` crate first.
pub fn parse(input: &str, default_region: Option<&str>) -> Result<Number, NumberError> {
    if input.len() > MAX_INPUT {
        return Err(NumberError::Unparsable("longer than 64 characters"));
    }
    let bytes = input.as_bytes();
    let padded =
        bytes.first().is_some_and(|b| !b.is_ascii_graphic()) || bytes.last().is_some_and(|b| !b.is_ascii_graphic());
    let trimmed = if padded { input.trim() } else { input };
    if trimmed.is_empty() {
        return Err(NumberError::Unparsable("empty"));
    }
    if let Some(digits) = trimmed.strip_prefix('+')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return classify_e164_digits(digits);
    }
    // Only the number grammar (ITU-T E.123 and RFC 3966 visual separators): digits, one leading
    // `+`, spaces, `-`, `.`, `(`, `)`, `/`. The `phonenumber` crate would dig a number out of any
    // text (`abc+12125550100`, a trailing emoji); a dialer that sends such text has a bug to see.
    let grammar = trimmed
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '/') || (c == '+' && i == 0));
    if !grammar {
        return Err(NumberError::Unparsable("characters outside the number grammar"));
    }
    let region = match default_region {
        Some(r) => {
            Some(r.parse::<phonenumber::country::Id>().map_err(|_| NumberError::Unparsable("unknown default region"))?)
        }
        None => None,
    };
    let n = phonenumber::parse(region, trimmed).map_err(|_| NumberError::Unparsable("not a phone number"))?;
    let digits = format!("{}{}", n.country().code(), n.national());
    classify_e164_digits(&digits)
}

/// Classifies E.164 digits (country code first, no `+`).
fn classify_e164_digits(digits: &str) -> Result<Number, NumberError> {
    if digits.len() > 15 {
        return Err(NumberError::Unparsable("longer than 15 digits (E.164)"));
    }
    if digits.len() < 3 {
        return Err(NumberError::Invalid);
    }
    let c = Classifier::shipped();
    let (cc, country) = (1..=3)
        .filter_map(|len| {
            let cc: u16 = digits[..len].parse().ok()?;
            c.countries.get(&cc).map(|country| (cc, (len, country)))
        })
        .next()
        .ok_or(NumberError::Unparsable("unknown country calling code"))?;
    let (cc_len, country) = country;
    let national = &digits[cc_len..];
    let (region, kind) = country.get().classify(national).ok_or(NumberError::Invalid)?;
    let national_value: u64 = national.parse().map_err(|_| NumberError::Invalid)?;
    let area_code =
        (cc == 1 && national.len() == 10).then(|| u16::try_from(national_value / 10_000_000).ok()).flatten();
    let mut e164 = String::with_capacity(digits.len() + 1);
    e164.push('+');
    e164.push_str(digits);
    Ok(Number { e164, country_code: cc, national: national_value, region, area_code, kind })
}

/// libphonenumber's validity and type rules, compiled once per country calling code into
/// anchored regular-expression sets. The `phonenumber` crate evaluates the same patterns through
/// a shared 100-entry regex cache that the 25 regions of NANP alone overflow (≈ 40 µs per number
/// here); compiled sets answer in one pass.
pub struct Classifier {
    countries: std::collections::HashMap<u16, Lazy>,
}

/// A country calling code's regions, compiled on first use.
struct Lazy {
    code: u16,
    cell: std::sync::OnceLock<Country>,
}

impl Lazy {
    fn get(&self) -> &Country {
        self.cell.get_or_init(|| Country::compile(self.code))
    }
}

/// The order libphonenumber tries types in (`number_type`), then fixed line and mobile.
const TYPES: [(Type, NumberKind); 8] = [
    (Type::PremiumRate, NumberKind::PremiumRate),
    (Type::TollFree, NumberKind::TollFree),
    (Type::SharedCost, NumberKind::SharedCost),
    (Type::Voip, NumberKind::Voip),
    (Type::PersonalNumber, NumberKind::Personal),
    (Type::Pager, NumberKind::Pager),
    (Type::Uan, NumberKind::Uan),
    (Type::Voicemail, NumberKind::Voicemail),
];

struct Pattern {
    kind: Option<NumberKind>,
    lengths: Vec<u16>,
}

struct Region {
    id: Option<&'static str>,
    /// The slot of this region's leading-digit pattern in `Country::leading`.
    leading: Option<usize>,
    /// Slot 0 is the general description; then the present entries of `TYPES`, fixed line,
    /// mobile (with `kind` None for fixed line and mobile).
    set: regex::RegexSet,
    patterns: Vec<Pattern>,
    fixed: Option<usize>,
    mobile: Option<usize>,
    fixed_is_mobile: bool,
}

struct Country {
    regions: Vec<Region>,
    /// The leading-digit patterns of the regions that have one, in one set (slot = `Region::leading`).
    leading: Option<regex::RegexSet>,
}

fn anchored(src: &str) -> String {
    format!("^(?x:{src})$")
}

impl Country {
    fn compile(code: u16) -> Country {
        let db = &*phonenumber::metadata::DATABASE;
        let metas = db.by_code(&code).unwrap_or_default();
        // libphonenumber's order: the regions of the code as listed, main country first.
        let mut order: Vec<&phonenumber::metadata::Metadata> = metas;
        order.sort_by_key(|m| !m.is_main_country_for_code());
        let mut leading_sources = Vec::new();
        let regions = order.into_iter().filter_map(|m| Region::compile(m, &mut leading_sources)).collect();
        let leading = if leading_sources.is_empty() { None } else { regex::RegexSet::new(&leading_sources).ok() };
        Country { regions, leading }
    }

    /// The region and kind of a national number, or None when it is not valid.
    fn classify(&self, national: &str) -> Option<(Option<&'static str>, NumberKind)> {
        let single = self.regions.len() == 1;
        let mut leading_hits: Option<regex::SetMatches> = None;
        for r in &self.regions {
            if let Some(slot) = r.leading
                && !single
            {
                let hits = leading_hits.get_or_insert_with(|| match &self.leading {
                    Some(set) => set.matches(national),
                    None => regex::RegexSet::empty().matches(national),
                });
                if !hits.matched(slot) {
                    continue;
                }
            }
            let kind = r.kind(national, &r.set.matches(national));
            if single || r.leading.is_some() || kind.is_some() {
                return kind.map(|k| (r.id, k));
            }
        }
        None
    }
}

impl Region {
    fn compile(meta: &'static phonenumber::metadata::Metadata, leading_sources: &mut Vec<String>) -> Option<Region> {
        let d = meta.descriptors();
        let mut sources = vec![anchored(d.general().national_number().as_str())];
        let mut patterns = vec![Pattern { kind: None, lengths: d.general().possible_length().to_vec() }];
        for (t, k) in TYPES {
            if let Some(desc) = d.get(t) {
                sources.push(anchored(desc.national_number().as_str()));
                patterns.push(Pattern { kind: Some(k), lengths: desc.possible_length().to_vec() });
            }
        }
        let mut slot = |desc: Option<&phonenumber::metadata::Descriptor>| {
            desc.map(|desc| {
                sources.push(anchored(desc.national_number().as_str()));
                patterns.push(Pattern { kind: None, lengths: desc.possible_length().to_vec() });
                sources.len() - 1
            })
        };
        let fixed = slot(d.fixed_line());
        let mobile = slot(d.mobile());
        let fixed_is_mobile = match (d.fixed_line(), d.mobile()) {
            (Some(f), Some(m)) => f.national_number().as_str() == m.national_number().as_str(),
            _ => false,
        };
        // The metadata ships with the binary; a pattern that does not compile would be a bug
        // in it, and leaving the region out makes its numbers invalid (deny), never allowed.
        let set = regex::RegexSet::new(&sources).ok()?;
        let leading = meta.leading_digits().map(|l| {
            leading_sources.push(format!("^(?x:{})", l.as_str()));
            leading_sources.len() - 1
        });
        let id = if meta.id() == "001" { None } else { Some(static_region(meta.id())) };
        Some(Region { id, leading, set, patterns, fixed, mobile, fixed_is_mobile })
    }

    fn kind(&self, national: &str, m: &regex::SetMatches) -> Option<NumberKind> {
        let len = u16::try_from(national.len()).unwrap_or(u16::MAX);
        let hit =
            |i: usize| m.matched(i) && (self.patterns[i].lengths.is_empty() || self.patterns[i].lengths.contains(&len));
        if !hit(0) {
            return None;
        }
        if let Some(i) = (1..self.patterns.len()).find(|&i| self.patterns[i].kind.is_some() && hit(i)) {
            return self.patterns[i].kind;
        }
        let fixed = self.fixed.is_some_and(hit);
        let mobile = self.mobile.is_some_and(hit);
        match (fixed, mobile) {
            (true, true) => Some(NumberKind::FixedLineOrMobile),
            (true, false) if self.fixed_is_mobile => Some(NumberKind::FixedLineOrMobile),
            (true, false) => Some(NumberKind::FixedLine),
            (false, true) => Some(NumberKind::Mobile),
            (false, false) => None,
        }
    }
}

/// Region ids as `'static` strings (the metadata lives for the whole program).
fn static_region(id: &str) -> &'static str {
    let db = &*phonenumber::metadata::DATABASE;
    db.by_id(id).map_or("", |m| m.id())
}

impl Classifier {
    /// The classifier over the metadata compiled into the `phonenumber` crate.
    pub fn shipped() -> &'static Classifier {
        static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
        C.get_or_init(|| {
            let db = &*phonenumber::metadata::DATABASE;
            let countries = (1..1000u16)
                .filter(|code| db.by_code(code).is_some())
                .map(|code| (code, Lazy { code, cell: std::sync::OnceLock::new() }))
                .collect();
            Classifier { countries }
        })
    }

    /// Compiles every country now (the server does this at start so the first checks are not
    /// slow).
    pub fn warm(&self) {
        for c in self.countries.values() {
            c.get();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_several_countries_and_types() {
        // (input, region, country code, kind); cross-checked with libphonenumber's Python port.
        let table: &[(&str, &str, u16, NumberKind)] = &[
            ("+12085550100", "US", 1, NumberKind::FixedLineOrMobile),
            ("+18005550199", "US", 1, NumberKind::TollFree),
            ("+19005550199", "US", 1, NumberKind::PremiumRate),
            ("+442079460000", "GB", 44, NumberKind::FixedLine),
            ("+447400123456", "GB", 44, NumberKind::Mobile),
            ("+449098790000", "GB", 44, NumberKind::PremiumRate),
            ("+447911123456", "GG", 44, NumberKind::Mobile),
            ("+493012345678", "DE", 49, NumberKind::FixedLine),
            ("+33612345678", "FR", 33, NumberKind::Mobile),
            ("+61412345678", "AU", 61, NumberKind::Mobile),
            ("+8613800138000", "CN", 86, NumberKind::Mobile),
        ];
        for (input, region, cc, kind) in table {
            let n = parse(input, None).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((n.region, n.country_code, n.kind), (Some(*region), *cc, *kind), "{input}");
            assert_eq!(n.e164, *input);
        }
        let idaho = parse("(208) 555-0100", Some("US")).unwrap();
        assert_eq!((idaho.e164.as_str(), idaho.area_code), ("+12085550100", Some(208)));
        assert_eq!(parse("+442079460000", None).unwrap().area_code, None);
    }

    #[test]
    fn kind_names_are_the_serde_names() {
        for (k, name) in NumberKind::NAMES {
            assert_eq!(serde_json::to_value(k).unwrap(), *name);
            assert_eq!(NumberKind::from_name(name), Some(*k));
        }
        assert_eq!(NumberKind::from_name("fax"), None);
    }

    #[test]
    fn unparsable_and_invalid_numbers_are_refused_with_a_reason() {
        assert_eq!(parse("+15555550123", None), Err(NumberError::Invalid));
        assert_eq!(parse("+1555", None), Err(NumberError::Invalid));
        assert!(matches!(parse("call me maybe", None), Err(NumberError::Unparsable(_))));
        let junk = NumberError::Unparsable("characters outside the number grammar");
        for text in ["abc+12125550100", "+12125550100📞", "+1 212 555 0100 ext", "1+2125550100", "+1\u{00A0}2125550100"]
        {
            assert_eq!(parse(text, Some("US")), Err(junk.clone()), "{text:?}");
        }
        for text in ["+1 (212) 555-0100", "(212) 555.0100", " +12125550100 ", "212/555-0100"] {
            assert_eq!(parse(text, Some("US")).map(|n| n.e164), Ok("+12125550100".to_owned()), "{text:?}");
        }
        assert_eq!(parse("", None), Err(NumberError::Unparsable("empty")));
        assert_eq!(parse(&"9".repeat(65), None), Err(NumberError::Unparsable("longer than 64 characters")));
        assert_eq!(parse("2085550100", Some("XX")), Err(NumberError::Unparsable("unknown default region")));
        assert!(parse("2085550100", None).is_err(), "national digits need a default region");
    }
}
