//! Phone numbers from untrusted input: parsed and classified with libphonenumber's metadata (the
//! `phonenumber` crate) — E.164 form, country calling code, region, NANP area code and number
//! type. Anything that does not parse to a valid number is an error that denies, with the reason.

use phonenumber::Type;

/// The longest input accepted (E.164 is at most 15 digits; formatting and extensions add some).
pub const MAX_INPUT: usize = 64;

/// What kind of line a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
    /// ISO 3166 region (`US`, `GB`, `GG`, …) when libphonenumber knows it.
    pub region: Option<String>,
    /// The NANP area code (country code 1 only).
    pub area_code: Option<u16>,
    /// The line type.
    pub kind: NumberKind,
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
pub fn parse(input: &str, default_region: Option<&str>) -> Result<Number, NumberError> {
    if input.len() > MAX_INPUT {
        return Err(NumberError::Unparsable("longer than 64 characters"));
    }
    if input.trim().is_empty() {
        return Err(NumberError::Unparsable("empty"));
    }
    let region = match default_region {
        Some(r) => {
            Some(r.parse::<phonenumber::country::Id>().map_err(|_| NumberError::Unparsable("unknown default region"))?)
        }
        None => None,
    };
    let n = phonenumber::parse(region, input).map_err(|_| NumberError::Unparsable("not a phone number"))?;
    if !n.is_valid() {
        return Err(NumberError::Invalid);
    }
    let country_code = n.country().code();
    let national = n.national().value();
    let e164 = format!("+{country_code}{}", n.national());
    let area_code = (country_code == 1).then(|| u16::try_from(national / 10_000_000).ok()).flatten();
    Ok(Number {
        e164,
        country_code,
        region: n.country().id().map(|id| id.as_ref().to_owned()),
        area_code,
        kind: n.number_type(&phonenumber::metadata::DATABASE).into(),
    })
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
            assert_eq!((n.region.as_deref(), n.country_code, n.kind), (Some(*region), *cc, *kind), "{input}");
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
        assert_eq!(parse("", None), Err(NumberError::Unparsable("empty")));
        assert_eq!(parse(&"9".repeat(65), None), Err(NumberError::Unparsable("longer than 64 characters")));
        assert_eq!(parse("2085550100", Some("XX")), Err(NumberError::Unparsable("unknown default region")));
        assert!(parse("2085550100", None).is_err(), "national digits need a default region");
    }
}
