//! The dial-check engine: may this outbound call or text be placed, or this inbound call be
//! received, now? Pure: the instant, the number's recent calls and the do-not-call lists are
//! passed in. Every answer carries all its reasons (each with the rule that gave it) and, for
//! an outbound denial that time will lift, the next instant the call would be allowed. Errors —
//! an unparsable number, an unknown area name, no time zone — deny, never allow.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::areas::{AreaDecision, AreaMatch, CallingArea};
use crate::hours::{self, HoursRule};
use crate::numbers::{self, Number, NumberKind};
use crate::places;
use crate::rules::RuleSet;
use crate::timezones::{Zone, ZoneMap};

mod outbound;

/// What is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// An agent or dialer calls the number.
    OutboundCall,
    /// A text message to the number.
    OutboundText,
    /// The number calls in.
    InboundCall,
}

/// Why a decision went the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The number does not parse or is not valid.
    InvalidNumber,
    /// An inbound caller withheld their number.
    AnonymousCaller,
    /// An inbound caller is on a block list.
    InboundBlocked,
    /// The number is in an assigned area (allows).
    InsideArea,
    /// The number is outside every area assigned at some level.
    OutsideArea,
    /// An assigned area names an area that does not exist (configuration error).
    UnknownArea,
    /// A premium-rate, shared-cost, personal or UAN number and the level is off.
    HighRiskSpecialServices,
    /// A destination known for toll fraud and the level is off.
    HighRiskTollFraud,
    /// A text to a fixed line.
    NotTextable,
    /// Inside every calling window (allows).
    WithinHours,
    /// Outside a calling window or on a closed day or holiday.
    OutsideHours,
    /// No time zone is known and no fallback is set.
    NoTimeZone,
    /// The calls-per-24-hours limit of a place is reached.
    CallLimit,
    /// On a do-not-call list.
    DoNotCall,
    /// On a registry, but the contact consented (allows).
    ConsentOverridesRegistry,
    /// A registry copy is older than the safe-harbor age.
    StaleRegistry,
    /// A registry list has no copy imported yet (or its file failed its check).
    RegistryNotImported,
    /// On none of the lists checked (allows).
    NotOnDoNotCall,
}

/// One reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// Whether this reason denies.
    pub denies: bool,
    /// The rule, area, list or setting that gave it.
    #[schema(value_type = String)]
    pub rule: Text,
    /// In words.
    #[schema(value_type = String)]
    pub message: Cow<'static, str>,
}

/// A reason's text: fixed, shared with the compiled policy (no copy per decision), or made for
/// this decision.
#[derive(Clone, PartialEq, Eq)]
pub enum Text {
    /// Fixed text.
    Static(&'static str),
    /// Text the compiled policy prepared once.
    Shared(Arc<str>),
    /// Text made for this decision.
    Owned(String),
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<&Arc<str>> for Text {
    fn from(s: &Arc<str>) -> Text {
        Text::Shared(s.clone())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

/// What is known about the number (echoed back to the caller, never logged).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NumberFacts {
    /// E.164.
    pub e164: String,
    /// ISO region.
    #[schema(value_type = Option<String>)]
    pub region: Option<&'static str>,
    /// Line type.
    pub kind: NumberKind,
    /// The places whose rules applied (`US`, `US-FL`, `service:…`).
    #[schema(value_type = Vec<String>)]
    pub places: Vec<Cow<'static, str>>,
    /// The time zones the called party may be in.
    #[schema(value_type = Vec<String>)]
    pub zones: Vec<&'static str>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Every reason, denials first.
    pub reasons: Vec<Reason>,
    /// For a denied outbound check that only time stands in the way of: when it would be allowed.
    #[schema(value_type = Option<String>)]
    pub next_allowed: Option<Timestamp>,
    /// The number as understood.
    pub number: Option<NumberFacts>,
    /// A calls-per-24-hours limit applied to this outbound call: if it is placed, it must be
    /// counted. Calls without a limit are not recorded at all (data minimisation).
    #[serde(skip)]
    pub limited: bool,
}

impl Decision {
    /// The first denying reason.
    pub fn denial(&self) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.denies)
    }
}

/// Kind of a do-not-call list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DncKind {
    /// The tenant's own list (customers who asked not to be called): always honoured.
    Internal,
    /// A national or state registry copy: consent overrides it; it must be fresh.
    Registry,
}

/// A do-not-call list as the engine sees it.
pub trait DncList: Send + Sync {
    /// Its name.
    fn name(&self) -> &str;
    /// Internal or registry.
    fn kind(&self) -> DncKind;
    /// The country calling code it covers (registries), or None for any.
    fn country_code(&self) -> Option<u16>;
    /// When its data was last refreshed from the source; `None` when no copy was ever imported
    /// (or its file failed its check).
    fn refreshed_at(&self) -> Option<Timestamp>;
    /// Whether the number is on it.
    fn contains(&self, number: &Number) -> bool;
}

/// A tenant's dial settings (stored as JSON; every field has a default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Region for numbers given without a country code.
    pub default_region: String,
    /// Minutes before a window closes that count as closed.
    pub margin_minutes: u16,
    /// Allow premium-rate, shared-cost, personal and UAN numbers.
    pub allow_high_risk_special_services: bool,
    /// Allow destinations known for toll fraud.
    pub allow_high_risk_toll_fraud: bool,
    /// Refuse inbound calls that withhold their number.
    pub block_anonymous_inbound: bool,
    /// Area clauses (`country:53`, `prefix:1900`) no inbound call may come from.
    pub inbound_block: Vec<String>,
    /// The calling areas that apply when no user, team or service has any (empty = domestic).
    pub default_call_areas: Vec<String>,
    /// The texting areas that apply when none is assigned (empty = domestic).
    pub default_text_areas: Vec<String>,
    /// A registry copy older than this many days denies outbound checks (safe harbor: 31);
    /// `null` switches the check off for the tenant.
    pub registry_max_age_days: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_region: "US".into(),
            margin_minutes: 1,
            allow_high_risk_special_services: false,
            allow_high_risk_toll_fraud: false,
            block_anonymous_inbound: false,
            inbound_block: Vec::new(),
            default_call_areas: Vec::new(),
            default_text_areas: Vec::new(),
            registry_max_age_days: Some(31),
        }
    }
}

/// Who an assignment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A user.
    User,
    /// A team.
    Team,
    /// A service (campaign).
    Service,
}

/// The areas assigned to one user, team or service.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Areas {
    /// Areas outbound calls may go to (empty: no restriction at this level).
    pub call: Vec<String>,
    /// Areas texts may go to (empty: no restriction at this level).
    pub text: Vec<String>,
    /// Areas inbound calls may not come from.
    pub inbound_block: Vec<String>,
}

/// One level's assignment in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// User, team or service.
    pub level: Level,
    /// Its name (for explanations).
    pub name: String,
    /// The areas.
    pub areas: Areas,
}

/// Facts about the contact from the calling list.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Contact {
    /// ZIP code.
    pub zip: Option<String>,
    /// State (`FL` or `US-FL`).
    pub state: Option<String>,
    /// The contact gave prior express consent (registries do not apply; the internal list does).
    pub consent: bool,
}

/// A question.
pub struct Request<'a> {
    /// What is checked.
    pub direction: Direction,
    /// The number as given.
    pub number: &'a str,
    /// When.
    pub at: Timestamp,
    /// The service (campaign) name, for its own window.
    pub service: Option<&'a str>,
    /// The assignments of the user, their teams and the service.
    pub assignments: &'a [Assignment],
    /// Contact facts.
    pub contact: &'a Contact,
    /// Outbound calls to this number in the 24 hours before `at`, and any after it (any order).
    pub recent_calls: &'a [Timestamp],
    /// The tenant's do-not-call lists.
    pub dnc: &'a [Arc<dyn DncList>],
}

/// An error in a policy's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// A tenant's compiled policy: settings, named areas and rules. Cheap to share.
#[derive(Debug, Clone)]
pub struct Policy {
    settings: Settings,
    areas: HashMap<String, CallingArea>,
    inbound_block: Vec<AreaMatch>,
    rules: RuleSet,
    fallback: Option<Zone>,
    toll_fraud: Vec<String>,
    /// Bit d set when some toll-fraud prefix starts with digit d (most numbers skip the list).
    toll_fraud_first: u16,
    /// The areas that apply when no level has any, calls and texts, with their texts prepared.
    default_call: DefaultAreas,
    default_text: DefaultAreas,
    /// The rules' jurisdictions by name, and the text naming each (and each region + state
    /// pair) when a call is inside their windows.
    jurisdictions: HashMap<String, usize>,
    within: Vec<Arc<str>>,
    within_pairs: HashMap<(usize, usize), Arc<str>>,
}

/// The tenant default areas, with the rule text of each inclusion and of a refusal prepared once.
#[derive(Debug, Clone)]
struct DefaultAreas {
    areas: Vec<CallingArea>,
    /// `inside[a][i]`: "tenant default: area A (clause i)".
    inside: Vec<Vec<Arc<str>>>,
    outside: Arc<str>,
}

const TENANT_DEFAULT: &str = "tenant default";

impl DefaultAreas {
    fn new(areas: Vec<CallingArea>) -> DefaultAreas {
        let inside = areas
            .iter()
            .map(|a| a.include.iter().map(|c| Arc::from(inside_rule(TENANT_DEFAULT, &a.name, c))).collect())
            .collect();
        let names: Vec<&str> = areas.iter().map(|a| a.name.as_str()).collect();
        let outside = Arc::from(outside_rule(TENANT_DEFAULT, &names));
        DefaultAreas { areas, inside, outside }
    }
}

fn inside_rule(who: &str, area: &str, clause: &AreaMatch) -> String {
    format!("{who}: area {area} ({clause})")
}

fn outside_rule(who: &str, names: &[&str]) -> String {
    format!("{who}: areas {}", names.join(", "))
}

/// The most places one check can involve (region, state, two contact places, fallback, service).
const MAX_PLACES: usize = 8;

static NO_RULE: HoursRule = HoursRule { name: String::new(), days: [None; 7], holidays: Vec::new() };

const HIGH_RISK: &str = include_str!("../data/high-risk-prefixes.txt");
const ANONYMOUS: [&str; 9] =
    ["", "anonymous", "restricted", "private", "unavailable", "unknown", "withheld", "blocked", "anonymous.invalid"];

/// Whether an inbound caller id is a withheld number.
pub fn is_anonymous(caller: &str) -> bool {
    let c = caller.trim().to_ascii_lowercase();
    let user = c.strip_prefix("sip:").or_else(|| c.strip_prefix("sips:")).unwrap_or(&c);
    let user = user.split('@').next().unwrap_or(user);
    ANONYMOUS.contains(&user)
}

fn deny(code: ReasonCode, rule: impl Into<Text>, message: impl Into<Cow<'static, str>>) -> Reason {
    Reason { code, denies: true, rule: rule.into(), message: message.into() }
}

fn allow(code: ReasonCode, rule: impl Into<Text>, message: impl Into<Cow<'static, str>>) -> Reason {
    Reason { code, denies: false, rule: rule.into(), message: message.into() }
}

impl Policy {
    /// Compiles settings, named areas and rules; unknown clauses, regions and zones are errors.
    pub fn new(settings: Settings, areas: Vec<CallingArea>, rules: RuleSet) -> Result<Policy, PolicyError> {
        if settings.default_region.parse::<phonenumber::country::Id>().is_err() {
            return Err(PolicyError("default_region: not a region code (ISO 3166 alpha-2, such as US or GB)".into()));
        }
        let inbound_block = settings
            .inbound_block
            .iter()
            .map(|c| c.parse::<AreaMatch>().map_err(|e| PolicyError(e.to_string())))
            .collect::<Result<_, _>>()?;
        let areas: HashMap<String, CallingArea> = areas.into_iter().map(|a| (a.name.clone(), a)).collect();
        for name in settings.default_call_areas.iter().chain(&settings.default_text_areas) {
            if !areas.contains_key(name) {
                return Err(PolicyError(format!("the default areas name `{name}`, which does not exist")));
            }
        }
        let fallback = match &rules.fallback_zone {
            Some(z) => Some(
                jiff::tz::TimeZone::get(z)
                    .map(|tz| Zone { name: leak_zone_name(z), tz })
                    .map_err(|_| PolicyError(format!("unknown zone `{z}`")))?,
            ),
            None => None,
        };
        let toll_fraud: Vec<String> = HIGH_RISK
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        let toll_fraud_first = toll_fraud
            .iter()
            .filter_map(|p: &String| p.bytes().next())
            .fold(0u16, |m, d| m | 1 << (d.wrapping_sub(b'0') & 15));
        let defaults = |names: &[String]| {
            DefaultAreas::new(if names.is_empty() {
                vec![CallingArea::domestic(&settings.default_region)]
            } else {
                names.iter().filter_map(|n| areas.get(n).cloned()).collect()
            })
        };
        let (default_call, default_text) =
            (defaults(&settings.default_call_areas), defaults(&settings.default_text_areas));
        let jurisdictions: HashMap<String, usize> =
            rules.jurisdictions.keys().enumerate().map(|(i, name)| (name.clone(), i)).collect();
        let within: Vec<Arc<str>> = rules.jurisdictions.values().map(|j| Arc::from(j.hours.name.as_str())).collect();
        // A region's rule with one of its states' (`US` + `US-FL`) is the usual pair.
        let mut within_pairs = HashMap::new();
        for (region, &a) in &jurisdictions {
            for (state, &b) in &jurisdictions {
                if state.strip_prefix(region.as_str()).is_some_and(|rest| rest.starts_with('-')) {
                    within_pairs.insert((a, b), Arc::from(format!("{}; {}", within[a], within[b])));
                }
            }
        }
        Ok(Policy {
            settings,
            areas,
            inbound_block,
            rules,
            fallback,
            toll_fraud,
            toll_fraud_first,
            default_call,
            default_text,
            jurisdictions,
            within,
            within_pairs,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Whether a named area exists.
    pub fn has_area(&self, name: &str) -> bool {
        self.areas.contains_key(name)
    }

    /// Decides.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        match req.direction {
            Direction::InboundCall => self.inbound(req),
            Direction::OutboundCall | Direction::OutboundText => self.outbound(req),
        }
    }

    fn inbound(&self, req: &Request<'_>) -> Decision {
        let mut reasons = Vec::new();
        if is_anonymous(req.number) {
            if self.settings.block_anonymous_inbound {
                reasons.push(deny(
                    ReasonCode::AnonymousCaller,
                    "settings.block_anonymous_inbound",
                    "the caller withheld their number",
                ));
            } else {
                reasons.push(allow(
                    ReasonCode::AnonymousCaller,
                    "settings.block_anonymous_inbound",
                    "anonymous callers are allowed",
                ));
            }
            return finish(reasons, None, None);
        }
        let number = match numbers::parse(req.number, Some(&self.settings.default_region)) {
            Ok(n) => n,
            Err(e) => {
                return finish(vec![deny(ReasonCode::InvalidNumber, "number", e.to_string())], None, None);
            }
        };
        if let Some(c) = self.inbound_block.iter().find(|c| c.matches(&number)) {
            reasons.push(deny(
                ReasonCode::InboundBlocked,
                format!("settings.inbound_block {c}"),
                format!("calls from {c} are blocked for the tenant"),
            ));
        }
        for a in req.assignments {
            for name in &a.areas.inbound_block {
                match self.areas.get(name) {
                    Some(area) => {
                        if let AreaDecision::Inside(c, _) = area.decide(&number) {
                            reasons.push(deny(
                                ReasonCode::InboundBlocked,
                                format!("{:?} {}: area {name}", a.level, a.name).to_lowercase(),
                                format!("calls from area `{name}` ({c}) are blocked for {}", a.name),
                            ));
                        }
                    }
                    None => reasons.push(unknown_area(a, name)),
                }
            }
        }
        let facts = facts(number, Vec::new(), &[]);
        finish(reasons, None, Some(facts))
    }
}

/// The tenant default level: the number must be inside one of the default areas.
fn default_level(d: &DefaultAreas, number: &Number) -> Reason {
    let mut excepted = None;
    for (a, area) in d.areas.iter().enumerate() {
        match area.decide(number) {
            AreaDecision::Inside(_, i) => {
                return allow(ReasonCode::InsideArea, &d.inside[a][i], "the number is inside this area");
            }
            AreaDecision::Excepted(c) => excepted = excepted.or(Some((area.name.as_str(), c))),
            AreaDecision::Outside => {}
        }
    }
    let names: Vec<&str> = d.areas.iter().map(|a| a.name.as_str()).collect();
    deny(ReasonCode::OutsideArea, &d.outside, outside_message(TENANT_DEFAULT, &names, excepted))
}

/// One level: the number must be inside one of `areas`.
fn area_level(who: &str, areas: &[&CallingArea], number: &Number) -> Reason {
    let mut excepted = None;
    for a in areas {
        match a.decide(number) {
            AreaDecision::Inside(c, _) => {
                return allow(ReasonCode::InsideArea, inside_rule(who, &a.name, c), "the number is inside this area");
            }
            AreaDecision::Excepted(c) => excepted = excepted.or(Some((a.name.as_str(), c))),
            AreaDecision::Outside => {}
        }
    }
    let names: Vec<&str> = areas.iter().map(|a| a.name.as_str()).collect();
    deny(ReasonCode::OutsideArea, outside_rule(who, &names), outside_message(who, &names, excepted))
}

fn outside_message(who: &str, names: &[&str], excepted: Option<(&str, &AreaMatch)>) -> String {
    match excepted {
        Some((name, c)) => format!("area `{name}` excludes {c}"),
        None => format!("outside every area assigned to {who} ({})", names.join(", ")),
    }
}

fn unknown_area(a: &Assignment, name: &str) -> Reason {
    deny(
        ReasonCode::UnknownArea,
        format!("{}: area {name}", a.name),
        format!("{} is assigned area `{name}`, which does not exist", a.name),
    )
}

fn facts(number: Number, places: Vec<Cow<'static, str>>, zones: &[Zone]) -> NumberFacts {
    NumberFacts {
        e164: number.e164,
        region: number.region,
        kind: number.kind,
        places,
        zones: zones.iter().map(|z| z.name).collect(),
    }
}

fn finish(mut reasons: Vec<Reason>, next_allowed: Option<Timestamp>, number: Option<NumberFacts>) -> Decision {
    reasons.sort_by_key(|r| !r.denies);
    let allowed = !reasons.iter().any(|r| r.denies);
    Decision { allowed, reasons, next_allowed: if allowed { None } else { next_allowed }, number, limited: false }
}

/// Zone names of rules files live as long as the program (a handful per tenant, interned).
fn leak_zone_name(name: &str) -> &'static str {
    use std::sync::Mutex;
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}
