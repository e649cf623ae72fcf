//! Table-driven tests of the dial-check engine, with the shipped rules
//! and time zone data. Instants are UTC; comments give the called party's local time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use std::collections::HashSet;
use std::sync::Arc;

use callvault_policy::areas::CallingArea;
use callvault_policy::dial::{
    Areas, Assignment, Contact, Decision, Direction, DncKind, DncList, Level, Policy, ReasonCode, Request, Settings,
};
use callvault_policy::numbers::Number;
use callvault_policy::rules::RuleSet;
use jiff::Timestamp;

struct List {
    name: &'static str,
    kind: DncKind,
    refreshed: Timestamp,
    numbers: HashSet<&'static str>,
}

impl DncList for List {
    fn name(&self) -> &str {
        self.name
    }
    fn kind(&self) -> DncKind {
        self.kind
    }
    fn country_code(&self) -> Option<u16> {
        (self.kind == DncKind::Registry).then_some(1)
    }
    fn refreshed_at(&self) -> Option<Timestamp> {
        Some(self.refreshed)
    }
    fn contains(&self, n: &Number) -> bool {
        self.numbers.contains(n.e164.as_str())
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn area(name: &str, include: &[&str], except: &[&str]) -> CallingArea {
    CallingArea {
        name: name.into(),
        include: include.iter().map(|c| c.parse().unwrap()).collect(),
        except: except.iter().map(|c| c.parse().unwrap()).collect(),
    }
}

fn policy(settings: Settings) -> Policy {
    let areas = vec![
        area("UK landlines", &["country:44"], &["prefix:447", "prefix:449"]),
        area("UK", &["country:44"], &[]),
        area("US", &["region:US"], &["kind:premium_rate"]),
        area("Florida", &["area_code:305", "area_code:786", "area_code:850"], &[]),
        area("Cuba", &["country:53"], &[]),
        area("everywhere", &["any"], &[]),
    ];
    Policy::new(settings, areas, RuleSet::shipped()).unwrap()
}

struct Case {
    direction: Direction,
    number: &'static str,
    at: &'static str,
    user_call: &'static [&'static str],
    user_text: &'static [&'static str],
    contact: Contact,
    recent: &'static [&'static str],
    expect: Result<(), ReasonCode>,
    next: Option<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            direction: Direction::OutboundCall,
            number: "+12125550100",
            at: "2026-11-23T17:00:00Z", // Monday 12:00 in New York
            user_call: &[],
            user_text: &[],
            contact: Contact::default(),
            recent: &[],
            expect: Ok(()),
            next: None,
        }
    }
}

fn run(p: &Policy, c: &Case, dnc: &[Arc<dyn DncList>]) -> Decision {
    let assignments = vec![Assignment {
        level: Level::User,
        name: "agent1".into(),
        areas: Areas {
            call: c.user_call.iter().map(|s| s.to_string()).collect(),
            text: c.user_text.iter().map(|s| s.to_string()).collect(),
            inbound_block: vec!["Cuba".into()],
        },
    }];
    let recent: Vec<Timestamp> = c.recent.iter().map(|s| t(s)).collect();
    p.decide(&Request {
        direction: c.direction,
        number: c.number,
        at: t(c.at),
        service: None,
        assignments: &assignments,
        contact: &c.contact,
        recent_calls: &recent,
        dnc,
    })
}

fn check_table(p: &Policy, cases: &[(&str, Case)], dnc: &[Arc<dyn DncList>]) {
    for (what, c) in cases {
        let d = run(p, c, dnc);
        match c.expect {
            Ok(()) => assert!(d.allowed, "{what}: expected allow, got {:#?}", d.reasons),
            Err(code) => {
                assert!(!d.allowed, "{what}: expected deny {code:?}, got allow {:#?}", d.reasons);
                assert!(
                    d.reasons.iter().any(|r| r.denies && r.code == code),
                    "{what}: expected {code:?}, got {:#?}",
                    d.reasons
                );
                assert!(d.reasons.iter().filter(|r| r.denies).all(|r| !r.message.is_empty() && !r.rule.is_empty()));
            }
        }
        assert_eq!(d.next_allowed, c.next.map(t), "{what}: next allowed ({:#?})", d.reasons);
    }
}

#[test]
fn calling_hours_zones_dst_states_and_limits() {
    let p = policy(Settings::default());
    let cases = [
        ("New York at noon", Case::default()),
        ("20:58 New York (1-minute margin)", Case { at: "2026-11-24T01:58:00Z", ..Default::default() }),
        (
            "20:59 New York is inside the margin",
            Case {
                at: "2026-11-24T01:59:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-24T13:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "21:00 New York",
            Case {
                at: "2026-11-24T02:00:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-24T13:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "07:59 New York the day after spring forward (EDT, UTC-4)",
            Case {
                at: "2026-03-09T11:59:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-03-09T12:00:00Z"),
                ..Default::default()
            },
        ),
        ("08:00 EDT", Case { at: "2026-03-09T12:00:00Z", ..Default::default() }),
        (
            "07:30 New York the day clocks fall back (EST again)",
            Case {
                at: "2026-11-01T12:30:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-01T13:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "Idaho's 208: 08:30 Mountain is 07:30 Pacific",
            Case {
                number: "+12085550100",
                at: "2026-11-23T15:30:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-23T16:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "Idaho's 208 at 08:00 Pacific",
            Case { number: "+12085550100", at: "2026-11-23T16:00:00Z", ..Default::default() },
        ),
        (
            "Florida is stricter than federal: 20:30 in Miami",
            Case {
                number: "+13055550100",
                at: "2026-11-24T01:30:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-24T13:00:00Z"),
                ..Default::default()
            },
        ),
        ("20:30 in New York is fine", Case { at: "2026-11-24T01:30:00Z", ..Default::default() }),
        (
            "Alabama: no calls on Sunday",
            Case {
                number: "+12055550100",
                at: "2026-11-22T18:00:00Z", // Sunday 12:00 Central
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-23T14:00:00Z"), // Monday 08:00 Central
                ..Default::default()
            },
        ),
        (
            "Alabama: no calls on Christmas",
            Case {
                number: "+12055550100",
                at: "2026-12-25T18:00:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-12-26T14:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "a Miami number whose contact lives in Seattle: 08:30 Eastern is 05:30 Pacific",
            Case {
                number: "+13055550100",
                at: "2026-11-23T13:30:00Z",
                contact: Contact { zip: Some("98101".into()), ..Default::default() },
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-23T16:00:00Z"), // 08:00 Pacific = 11:00 Eastern
                ..Default::default()
            },
        ),
        (
            "the same contact at 16:00 Eastern (13:00 Pacific)",
            Case {
                number: "+13055550100",
                at: "2026-11-23T21:00:00Z",
                contact: Contact { zip: Some("98101".into()), ..Default::default() },
                ..Default::default()
            },
        ),
        (
            "Florida: a fourth call within 24 hours",
            Case {
                number: "+13055550100",
                at: "2026-11-23T17:00:00Z",
                recent: &["2026-11-22T18:00:00Z", "2026-11-23T14:00:00Z", "2026-11-23T16:00:00Z"],
                expect: Err(ReasonCode::CallLimit),
                next: Some("2026-11-23T18:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "Florida: a call counted a second after this check's instant (a concurrent check whose clock read \
             later, on this node or another) counts",
            Case {
                number: "+13055550100",
                at: "2026-11-23T17:00:00Z",
                recent: &["2026-11-23T14:00:00Z", "2026-11-23T16:00:00Z", "2026-11-23T17:00:01Z"],
                expect: Err(ReasonCode::CallLimit),
                next: Some("2026-11-24T14:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "Florida: the oldest of three calls is more than 24 hours old",
            Case {
                number: "+13055550100",
                at: "2026-11-23T17:00:00Z",
                recent: &["2026-11-22T16:00:00Z", "2026-11-23T14:00:00Z", "2026-11-23T16:00:00Z"],
                ..Default::default()
            },
        ),
        (
            "three calls to New York are not limited",
            Case {
                recent: &["2026-11-23T14:00:00Z", "2026-11-23T15:00:00Z", "2026-11-23T16:00:00Z"],
                ..Default::default()
            },
        ),
        (
            "a toll-free number has no location: the fallback window 14:00-20:00 Eastern",
            Case {
                number: "+18005550199",
                at: "2026-11-23T17:00:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-23T19:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "Canada on Saturday evening (CRTC 10:00-18:00 weekends)",
            Case {
                number: "+14165550123",
                user_call: &["everywhere"],
                at: "2026-11-28T23:30:00Z", // Saturday 18:30 Toronto
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-29T15:00:00Z"),
                ..Default::default()
            },
        ),
    ];
    check_table(&p, &cases, &[]);
}

#[test]
fn areas_risk_levels_texts_and_numbers() {
    let p = policy(Settings::default());
    let cases = [
        ("unparsable", Case { number: "call me maybe", expect: Err(ReasonCode::InvalidNumber), ..Default::default() }),
        ("invalid", Case { number: "+15555550123", expect: Err(ReasonCode::InvalidNumber), ..Default::default() }),
        ("national form with the tenant's region", Case { number: "(212) 555-0100", ..Default::default() }),
        (
            "international is outside the domestic default",
            Case {
                number: "+442079460000",
                at: "2026-11-23T12:00:00Z",
                expect: Err(ReasonCode::OutsideArea),
                ..Default::default()
            },
        ),
        (
            "Jamaica shares +1 but is international",
            Case { number: "+18762345678", expect: Err(ReasonCode::OutsideArea), ..Default::default() },
        ),
        (
            "premium rate: outside the domestic area and a high-risk special service",
            Case { number: "+19005550199", expect: Err(ReasonCode::HighRiskSpecialServices), ..Default::default() },
        ),
        (
            "a UK landline for a user assigned UK landlines",
            Case {
                number: "+442079460000",
                at: "2026-11-23T12:00:00Z",
                user_call: &["UK landlines"],
                ..Default::default()
            },
        ),
        (
            "+447 is excepted from UK landlines",
            Case {
                number: "+447400123456",
                at: "2026-11-23T12:00:00Z",
                user_call: &["UK landlines"],
                expect: Err(ReasonCode::OutsideArea),
                ..Default::default()
            },
        ),
        (
            "+449 premium: excepted and high-risk",
            Case {
                number: "+449098790000",
                at: "2026-11-23T12:00:00Z",
                user_call: &["UK"],
                expect: Err(ReasonCode::HighRiskSpecialServices),
                ..Default::default()
            },
        ),
        (
            "Cuba is a toll-fraud destination even inside an assigned area",
            Case {
                number: "+5378123456",
                at: "2026-11-23T17:00:00Z",
                user_call: &["everywhere"],
                expect: Err(ReasonCode::HighRiskTollFraud),
                ..Default::default()
            },
        ),
        (
            "a user limited to Florida calls New York",
            Case { user_call: &["Florida"], expect: Err(ReasonCode::OutsideArea), ..Default::default() },
        ),
        (
            "an assignment naming an area that does not exist denies",
            Case { user_call: &["Atlantis"], expect: Err(ReasonCode::UnknownArea), ..Default::default() },
        ),
        (
            "texts follow their own areas: UK mobile allowed by the text area",
            Case {
                direction: Direction::OutboundText,
                number: "+447400123456",
                at: "2026-11-23T12:00:00Z",
                user_call: &["Florida"],
                user_text: &["UK"],
                ..Default::default()
            },
        ),
        (
            "a text to a UK landline cannot be delivered",
            Case {
                direction: Direction::OutboundText,
                number: "+442079460000",
                at: "2026-11-23T12:00:00Z",
                user_text: &["UK"],
                expect: Err(ReasonCode::NotTextable),
                ..Default::default()
            },
        ),
        (
            "texts keep calling hours",
            Case {
                direction: Direction::OutboundText,
                at: "2026-11-24T03:00:00Z",
                expect: Err(ReasonCode::OutsideHours),
                next: Some("2026-11-24T13:00:00Z"),
                ..Default::default()
            },
        ),
        (
            "a text to a US number outside the user's text area",
            Case {
                direction: Direction::OutboundText,
                user_text: &["UK"],
                expect: Err(ReasonCode::OutsideArea),
                ..Default::default()
            },
        ),
    ];
    check_table(&p, &cases, &[]);
}

#[test]
fn inbound_blocks_and_anonymous_callers() {
    let open = policy(Settings::default());
    let strict = policy(Settings {
        block_anonymous_inbound: true,
        inbound_block: vec!["area_code:900".into(), "prefix:4470".into()],
        ..Default::default()
    });
    let inbound = |number| Case { direction: Direction::InboundCall, number, ..Default::default() };
    check_table(
        &open,
        &[("anonymous allowed by default", inbound("anonymous")), ("international inbound", inbound("+442079460000"))],
        &[],
    );
    check_table(
        &strict,
        &[
            ("anonymous", Case { expect: Err(ReasonCode::AnonymousCaller), ..inbound("Anonymous") }),
            (
                "withheld SIP URI",
                Case { expect: Err(ReasonCode::AnonymousCaller), ..inbound("sip:anonymous@anonymous.invalid") },
            ),
            ("empty caller id", Case { expect: Err(ReasonCode::AnonymousCaller), ..inbound("") }),
            ("tenant block by area code", Case { expect: Err(ReasonCode::InboundBlocked), ..inbound("+19005550199") }),
            ("tenant block by prefix", Case { expect: Err(ReasonCode::InboundBlocked), ..inbound("+447000123456") }),
            (
                "user's inbound block area (Cuba)",
                Case { expect: Err(ReasonCode::InboundBlocked), ..inbound("+5378123456") },
            ),
            ("garbage caller id", Case { expect: Err(ReasonCode::InvalidNumber), ..inbound("12") }),
            (
                "an ordinary caller at 03:00 (no hours for inbound)",
                Case { at: "2026-11-24T08:00:00Z", ..inbound("+12125550100") },
            ),
        ],
        &[],
    );
}

#[test]
fn do_not_call_lists_consent_and_safe_harbor() {
    let fresh = t("2026-11-01T00:00:00Z");
    let internal: Arc<dyn DncList> = Arc::new(List {
        name: "customer requests",
        kind: DncKind::Internal,
        refreshed: fresh,
        numbers: ["+12125550111"].into(),
    });
    let national: Arc<dyn DncList> = Arc::new(List {
        name: "US national registry",
        kind: DncKind::Registry,
        refreshed: fresh,
        numbers: ["+12125550122", "+12125550111"].into(),
    });
    let stale: Arc<dyn DncList> = Arc::new(List {
        name: "Texas no-call list",
        kind: DncKind::Registry,
        refreshed: t("2026-09-30T00:00:00Z"),
        numbers: HashSet::new(),
    });
    let p = policy(Settings::default());
    let lists = [internal.clone(), national.clone()];
    let consent = Contact { consent: true, ..Default::default() };
    check_table(
        &p,
        &[
            ("not listed", Case::default()),
            (
                "internal list",
                Case { number: "+12125550111", expect: Err(ReasonCode::DoNotCall), ..Default::default() },
            ),
            (
                "internal list wins over consent",
                Case {
                    number: "+12125550111",
                    contact: consent.clone(),
                    expect: Err(ReasonCode::DoNotCall),
                    ..Default::default()
                },
            ),
            ("registry", Case { number: "+12125550122", expect: Err(ReasonCode::DoNotCall), ..Default::default() }),
            ("registry with consent", Case { number: "+12125550122", contact: consent.clone(), ..Default::default() }),
            (
                "a listed number at night has no next allowed instant",
                Case {
                    number: "+12125550122",
                    at: "2026-11-24T03:00:00Z",
                    expect: Err(ReasonCode::DoNotCall),
                    ..Default::default()
                },
            ),
        ],
        &lists,
    );
    let with_stale = [internal, national, stale];
    check_table(
        &p,
        &[
            (
                "a registry copy 54 days old denies",
                Case { expect: Err(ReasonCode::StaleRegistry), ..Default::default() },
            ),
            (
                "registries do not apply to UK numbers",
                Case { number: "+442079460000", at: "2026-11-23T12:00:00Z", user_call: &["UK"], ..Default::default() },
            ),
        ],
        &with_stale,
    );
    let relaxed = policy(Settings { registry_max_age_days: None, ..Default::default() });
    check_table(&relaxed, &[("the tenant switched the age check off", Case::default())], &with_stale);
}

#[test]
fn decisions_explain_themselves() {
    let p = policy(Settings::default());
    let d = run(&p, &Case { number: "+13055550100", at: "2026-11-24T01:30:00Z", ..Default::default() }, &[]);
    assert!(!d.allowed);
    let r = d.denial().unwrap();
    assert_eq!(r.code, ReasonCode::OutsideHours);
    assert!(r.rule.starts_with("US-FL (Fla. Stat. 501.616)"), "{}", r.rule);
    assert!(r.message.contains("2026-11-23 20:30") && r.message.contains("America/New_York"), "{}", r.message);
    let facts = d.number.unwrap();
    assert_eq!(facts.places, ["US", "US-FL"]);
    let allowed = run(&p, &Case::default(), &[]);
    let codes: Vec<ReasonCode> = allowed.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [ReasonCode::InsideArea, ReasonCode::WithinHours, ReasonCode::NotOnDoNotCall]);
    assert!(
        Policy::new(Settings { default_region: "XX".into(), ..Default::default() }, vec![], RuleSet::shipped())
            .is_err()
    );
    assert!(
        Policy::new(
            Settings { inbound_block: vec!["planet:3".into()], ..Default::default() },
            vec![],
            RuleSet::shipped()
        )
        .is_err()
    );
}
