//! Table tests of the recording policy: system, user and service switches × consent modes ×
//! outcomes → decision and reasons.

use super::*;

fn ids() -> (ServiceId, ServiceId, UserId, UserId) {
    (ServiceId::new(), ServiceId::new(), UserId::new(), UserId::new())
}

fn q<'a>(service: Option<ServiceId>, agents: &'a [UserId], direction: Direction, customer: Consent) -> Question<'a> {
    Question { service, agents, direction, consent: ConsentState { customer, other_parties: None }, paused_until: None }
}

fn kinds(d: &RecordingDecision) -> Vec<(RecordingKind, Option<UserId>)> {
    d.recordings.iter().map(|r| (r.kind, r.agent)).collect()
}

#[test]
fn consent_modes_times_outcomes() {
    let (svc, _, a, _) = ids();
    let agents = [a];
    let outcomes = [Consent::Yes, Consent::No, Consent::NotRequired, Consent::NoAnswer, Consent::Unknown];
    // (mode, outcome) → recorded?
    let table: &[(ConsentMode, [bool; 5])] = &[
        (ConsentMode::NotRequired, [true, false, true, true, true]),
        (ConsentMode::Required, [true, false, true, false, false]),
    ];
    for &(mode, expected) in table {
        for (outcome, want) in outcomes.iter().zip(expected) {
            for direction in [Direction::Inbound, Direction::Outbound] {
                let mut p = RecordingPolicy::default();
                match direction {
                    Direction::Inbound => p.consent.inbound = mode,
                    Direction::Outbound => p.consent.outbound = mode,
                }
                let p = p.normalise().unwrap();
                let d = decide(&p, &q(Some(svc), &agents, direction, *outcome));
                assert_eq!(d.record, want, "{mode:?} {outcome} {direction:?}: {:?}", d.reasons);
                let first = d.reasons[0];
                match (*outcome, want) {
                    (Consent::No, _) => assert_eq!(first, Reason::ConsentRefused { party: Party::Customer }),
                    (answer, false) => {
                        assert_eq!(first, Reason::ConsentMissing { party: Party::Customer, answer })
                    }
                    (_, true) => {
                        assert_eq!(first, Reason::ConsentGiven { mode, service_rule: false });
                        assert_eq!(kinds(&d), vec![(RecordingKind::Personal, Some(a))]);
                    }
                }
                if !want {
                    assert!(d.recordings.is_empty());
                    assert_eq!(d.reasons.len(), 1, "a refusal stops at the rule that refused");
                }
            }
        }
    }
}

#[test]
fn the_mode_follows_the_direction() {
    let (_, _, a, _) = ids();
    let p = RecordingPolicy {
        consent: ConsentRule {
            inbound: ConsentMode::NotRequired,
            outbound: ConsentMode::Required,
            parties: ConsentParties::Customer,
        },
        ..RecordingPolicy::default()
    }
    .normalise()
    .unwrap();
    assert!(decide(&p, &q(None, &[a], Direction::Inbound, Consent::NoAnswer)).record);
    assert!(!decide(&p, &q(None, &[a], Direction::Outbound, Consent::NoAnswer)).record);
}

#[test]
fn whose_consent_counts() {
    let (_, _, a, _) = ids();
    for (parties, others, want) in [
        (ConsentParties::Customer, Some(Consent::No), true),
        (ConsentParties::AllParties, Some(Consent::No), false),
        (ConsentParties::AllParties, Some(Consent::NoAnswer), false),
        (ConsentParties::AllParties, Some(Consent::Yes), true),
        (ConsentParties::AllParties, None, true),
    ] {
        let p = RecordingPolicy {
            consent: ConsentRule { inbound: ConsentMode::Required, outbound: ConsentMode::Required, parties },
            ..RecordingPolicy::default()
        }
        .normalise()
        .unwrap();
        let agents = [a];
        let mut question = q(None, &agents, Direction::Inbound, Consent::Yes);
        question.consent.other_parties = others;
        let d = decide(&p, &question);
        assert_eq!(d.record, want, "{parties:?} {others:?}");
        if !want {
            assert!(matches!(
                d.reasons[0],
                Reason::ConsentRefused { party: Party::OtherParties }
                    | Reason::ConsentMissing { party: Party::OtherParties, .. }
            ));
        }
    }
}

#[test]
fn system_user_and_service_switches() {
    let (qm, plain, a, b) = ids();
    let agents = [a, b];
    struct Case {
        name: &'static str,
        enabled: bool,
        tenant_personal: bool,
        user_a: Option<bool>,
        service_personal: Option<bool>,
        qm_on: bool,
        service: Option<bool>, // Some(true) = the QM service, Some(false) = the plain one
        want: Vec<(RecordingKind, Option<UserId>)>,
        switch_a: Option<Switch>,
    }
    let personal = |u| (RecordingKind::Personal, Some(u));
    let qm_rec = (RecordingKind::QualityManagement, None);
    let cases = vec![
        Case {
            name: "system off",
            enabled: false,
            tenant_personal: true,
            user_a: None,
            service_personal: None,
            qm_on: true,
            service: Some(true),
            want: vec![],
            switch_a: None,
        },
        Case {
            name: "defaults",
            enabled: true,
            tenant_personal: true,
            user_a: None,
            service_personal: None,
            qm_on: false,
            service: None,
            want: vec![personal(a), personal(b)],
            switch_a: Some(Switch::Tenant),
        },
        Case {
            name: "user a off",
            enabled: true,
            tenant_personal: true,
            user_a: Some(false),
            service_personal: None,
            qm_on: false,
            service: None,
            want: vec![personal(b)],
            switch_a: Some(Switch::User),
        },
        Case {
            name: "tenant off, user a on",
            enabled: true,
            tenant_personal: false,
            user_a: Some(true),
            service_personal: None,
            qm_on: false,
            service: None,
            want: vec![personal(a)],
            switch_a: Some(Switch::User),
        },
        Case {
            name: "tenant off, nobody",
            enabled: true,
            tenant_personal: false,
            user_a: None,
            service_personal: None,
            qm_on: false,
            service: Some(false),
            want: vec![],
            switch_a: Some(Switch::Tenant),
        },
        Case {
            name: "QM service",
            enabled: true,
            tenant_personal: false,
            user_a: None,
            service_personal: None,
            qm_on: true,
            service: Some(true),
            want: vec![qm_rec],
            switch_a: Some(Switch::Tenant),
        },
        Case {
            name: "QM and personal",
            enabled: true,
            tenant_personal: true,
            user_a: None,
            service_personal: None,
            qm_on: true,
            service: Some(true),
            want: vec![qm_rec, personal(a), personal(b)],
            switch_a: Some(Switch::Tenant),
        },
        Case {
            name: "service switches personal off",
            enabled: true,
            tenant_personal: true,
            user_a: None,
            service_personal: Some(false),
            qm_on: true,
            service: Some(true),
            want: vec![qm_rec],
            switch_a: Some(Switch::Service),
        },
        Case {
            name: "user beats service",
            enabled: true,
            tenant_personal: true,
            user_a: Some(true),
            service_personal: Some(false),
            qm_on: true,
            service: Some(true),
            want: vec![qm_rec, personal(a)],
            switch_a: Some(Switch::User),
        },
        Case {
            name: "service without a rule",
            enabled: true,
            tenant_personal: true,
            user_a: None,
            service_personal: Some(false),
            qm_on: true,
            service: Some(false),
            want: vec![personal(a), personal(b)],
            switch_a: Some(Switch::Tenant),
        },
    ];
    for c in cases {
        let p = RecordingPolicy {
            enabled: c.enabled,
            personal: c.tenant_personal,
            users: c.user_a.map(|on| UserRule { user_id: a, personal: on }).into_iter().collect(),
            services: vec![ServiceRule {
                service_id: qm,
                quality_management: c.qm_on,
                personal: c.service_personal,
                consent: None,
            }],
            ..RecordingPolicy::default()
        }
        .normalise()
        .unwrap();
        let service = c.service.map(|is_qm| if is_qm { qm } else { plain });
        let d = decide(&p, &q(service, &agents, Direction::Inbound, Consent::NotRequired));
        assert_eq!(kinds(&d), c.want, "{}: {:?}", c.name, d.reasons);
        assert_eq!(d.record, !c.want.is_empty(), "{}", c.name);
        if !c.enabled {
            assert_eq!(d.reasons, vec![Reason::SystemOff], "{}", c.name);
            continue;
        }
        let switch = d.reasons.iter().find_map(|r| match r {
            Reason::PersonalOn { user_id, switch } | Reason::PersonalOff { user_id, switch } if *user_id == a => {
                Some(*switch)
            }
            _ => None,
        });
        assert_eq!(switch, c.switch_a, "{}", c.name);
        match service {
            Some(s) if s == qm && c.qm_on => {
                assert!(d.reasons.contains(&Reason::QualityManagementOn { service_id: s }))
            }
            Some(s) => assert!(d.reasons.contains(&Reason::QualityManagementOff { service_id: s }), "{}", c.name),
            None => {}
        }
        if c.want.is_empty() {
            assert_eq!(d.reasons.last(), Some(&Reason::NothingSwitchedOn), "{}", c.name);
        }
    }
}

#[test]
fn a_service_consent_rule_overrides_the_tenant() {
    let (svc, other, a, _) = ids();
    let p = RecordingPolicy {
        services: vec![ServiceRule {
            service_id: svc,
            quality_management: false,
            personal: None,
            consent: Some(ConsentRule {
                inbound: ConsentMode::Required,
                outbound: ConsentMode::Required,
                parties: ConsentParties::Customer,
            }),
        }],
        ..RecordingPolicy::default()
    }
    .normalise()
    .unwrap();
    let d = decide(&p, &q(Some(svc), &[a], Direction::Inbound, Consent::NoAnswer));
    assert!(!d.record);
    let d = decide(&p, &q(Some(svc), &[a], Direction::Inbound, Consent::Yes));
    assert_eq!(d.reasons[0], Reason::ConsentGiven { mode: ConsentMode::Required, service_rule: true });
    let d = decide(&p, &q(Some(other), &[a], Direction::Inbound, Consent::NoAnswer));
    assert!(d.record, "the tenant's rule for other services");
}

#[test]
fn a_pause_stops_every_recording_until_it_ends() {
    let (svc, _, a, _) = ids();
    let p = RecordingPolicy {
        services: vec![ServiceRule { service_id: svc, quality_management: true, personal: None, consent: None }],
        ..RecordingPolicy::default()
    }
    .normalise()
    .unwrap();
    let agents = [a];
    let mut question = q(Some(svc), &agents, Direction::Inbound, Consent::Yes);
    question.paused_until = Some(Timestamp(1_000));
    let d = decide(&p, &question);
    assert!(!d.record);
    assert_eq!(d.reasons.last(), Some(&Reason::Paused { until: Timestamp(1_000) }));
    // A refusal of consent is named before the pause.
    question.consent.customer = Consent::No;
    assert_eq!(decide(&p, &question).reasons, vec![Reason::ConsentRefused { party: Party::Customer }]);
    assert_eq!(pause_limit(&p, Timestamp(5_000)), Timestamp(305_000));
}

#[test]
fn policies_are_checked() {
    let (svc, _, a, _) = ids();
    let bad = |p: RecordingPolicy| p.normalise().unwrap_err();
    assert_eq!(bad(RecordingPolicy { max_pause_seconds: 5, ..Default::default() }), InvalidPolicy::MaxPause);
    assert_eq!(bad(RecordingPolicy { max_pause_seconds: 3601, ..Default::default() }), InvalidPolicy::MaxPause);
    let u = UserRule { user_id: a, personal: true };
    assert_eq!(bad(RecordingPolicy { users: vec![u, u], ..Default::default() }), InvalidPolicy::DuplicateUser(a));
    let s = ServiceRule { service_id: svc, quality_management: true, personal: None, consent: None };
    assert_eq!(
        bad(RecordingPolicy { services: vec![s, s], ..Default::default() }),
        InvalidPolicy::DuplicateService(svc)
    );
    // JSON with every default, and unknown fields refused.
    let p: RecordingPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(p, RecordingPolicy::default());
    assert!(serde_json::from_str::<RecordingPolicy>(r#"{"enable": false}"#).is_err());
}

#[test]
fn reasons_read_as_sentences() {
    let (_, _, a, _) = ids();
    let text = Reason::ConsentMissing { party: Party::Customer, answer: Consent::NoAnswer }.to_string();
    assert_eq!(text, "consent is required and the customer gave none (no_answer)");
    assert!(Reason::PersonalOff { user_id: a, switch: Switch::User }.to_string().contains("off"));
}
