//! The outbound check (calls and texts) as named steps, in the order they are reported:
//! calling areas, risk, the places and rules that apply, calls per 24 hours, calling hours,
//! do-not-call lists, and — when only time stands in the way — the next allowed instant.

use super::*;

/// The reasons gathered so far, and whether a denial among them is one that waiting cannot lift
/// (no next allowed instant is given then).
struct Verdict {
    reasons: Vec<Reason>,
    timeless_denial: bool,
}

impl Verdict {
    /// A reason whose denial, if it denies, time does not lift.
    fn timeless(&mut self, reason: Reason) {
        self.timeless_denial |= reason.denies;
        self.reasons.push(reason);
    }

    /// A reason whose denial time may lift (calls per 24 hours, calling hours).
    fn timed(&mut self, reason: Reason) {
        self.reasons.push(reason);
    }
}

/// The places a check involves (the number's region and state, the contact's, the fallback,
/// the service) and what the rules say for them.
struct Jurisdictions<'p> {
    places: Vec<Cow<'static, str>>,
    zones: Cow<'p, [Zone]>,
    rules: [&'p HoursRule; MAX_PLACES],
    ids: [usize; MAX_PLACES],
    n_rules: usize,
    /// The strictest calls-per-24-hours limit and the rule that sets it.
    limit: Option<(u32, &'p String)>,
}

impl Jurisdictions<'_> {
    fn rules(&self) -> &[&HoursRule] {
        &self.rules[..self.n_rules]
    }
}

impl Policy {
    pub(super) fn outbound(&self, req: &Request<'_>) -> Decision {
        let text = req.direction == Direction::OutboundText;
        let number = match numbers::parse(req.number, Some(&self.settings.default_region)) {
            Ok(n) => n,
            Err(e) => return finish(vec![deny(ReasonCode::InvalidNumber, "number", e.to_string())], None, None),
        };
        let mut verdict = Verdict { reasons: Vec::with_capacity(4), timeless_denial: false };
        self.calling_areas(req, text, &number, &mut verdict);
        self.risk(text, &number, &mut verdict);
        let places = self.jurisdictions(req, &number);
        let earliest = if text { req.at } else { call_limit(req, places.limit, &mut verdict) };
        let hours_next = self.calling_hours(req, &places, &mut verdict);
        self.do_not_call(req, &number, &mut verdict);
        let next = self.next_allowed(req, &verdict, &places, earliest, hours_next);
        let facts = facts(number, places.places, &places.zones);
        let limited = places.limit.is_some() && !text;
        Decision { limited, ..finish(verdict.reasons, next, Some(facts)) }
    }

    /// Calling areas: every level that has areas must contain the number; with none, the
    /// tenant default areas must.
    fn calling_areas(&self, req: &Request<'_>, text: bool, number: &Number, verdict: &mut Verdict) {
        let levels: Vec<(&str, &[String])> = req
            .assignments
            .iter()
            .map(|a| (a, if text { &a.areas.text } else { &a.areas.call }))
            .filter(|(_, areas)| !areas.is_empty())
            .map(|(a, areas)| (a.name.as_str(), areas.as_slice()))
            .collect();
        if levels.is_empty() {
            let defaults = if text { &self.default_text } else { &self.default_call };
            verdict.timeless(default_level(defaults, number));
            return;
        }
        for (who, names) in levels {
            let mut areas = Vec::with_capacity(names.len());
            for n in names {
                match self.areas.get(n) {
                    Some(a) => areas.push(a),
                    None => verdict.timeless(deny(
                        ReasonCode::UnknownArea,
                        format!("{who}: area {n}"),
                        format!("{who} is assigned area `{n}`, which does not exist"),
                    )),
                }
            }
            verdict.timeless(area_level(who, &areas, number));
        }
    }

    /// Risk levels: high-risk special services, toll-fraud prefixes, texts to fixed lines.
    fn risk(&self, text: bool, number: &Number, verdict: &mut Verdict) {
        let special = matches!(
            number.kind,
            NumberKind::PremiumRate | NumberKind::SharedCost | NumberKind::Personal | NumberKind::Uan
        );
        if special && !self.settings.allow_high_risk_special_services {
            verdict.timeless(deny(
                ReasonCode::HighRiskSpecialServices,
                "settings.allow_high_risk_special_services",
                format!("{} numbers are high-risk special services, which are off", number.kind.as_str()),
            ));
        }
        let first = number.digits().bytes().next().unwrap_or(b'0').wrapping_sub(b'0') & 15;
        if !self.settings.allow_high_risk_toll_fraud
            && self.toll_fraud_first & (1 << first) != 0
            && let Some(p) = self.toll_fraud.iter().find(|p| number.digits().starts_with(p.as_str()))
        {
            verdict.timeless(deny(
                ReasonCode::HighRiskTollFraud,
                format!("high-risk prefix +{p}"),
                format!("+{p} is a high-risk toll-fraud destination, which is off"),
            ));
        }
        if text && number.kind == NumberKind::FixedLine {
            verdict.timeless(deny(ReasonCode::NotTextable, "number type", "a fixed line cannot receive texts"));
        }
    }

    /// The places and zones of the number and the contact (the contact's state or ZIP code
    /// adds its zones: the stricter place governs), the fallback zone when none is known, the
    /// service's own rules, and the hours and limits those places' rules set.
    fn jurisdictions(&self, req: &Request<'_>, number: &Number) -> Jurisdictions<'_> {
        let region = number.region.unwrap_or("");
        let mut places: Vec<Cow<'static, str>> = Vec::with_capacity(4);
        let mut push_place = |p: Cow<'static, str>| {
            if !p.is_empty() && !places.contains(&p) {
                places.push(p);
            }
        };
        push_place(Cow::Borrowed(region));
        let number_state = number.area_code.and_then(places::state_of_area_code);
        if let Some(s) = number_state {
            push_place(Cow::Borrowed(s));
        }
        let contact_states = [
            req.contact.state.as_deref().and_then(|s| places::normalize_state(s, &self.settings.default_region)),
            req.contact.zip.as_deref().and_then(places::state_of_zip),
        ];
        let contact_states = contact_states.iter().flatten();
        for s in contact_states.clone() {
            push_place(Cow::Borrowed(s));
        }
        let mut zones: Cow<'_, [Zone]> = Cow::Borrowed(ZoneMap::shipped().located(number));
        for s in contact_states {
            if Some(*s) != number_state {
                for z in places::zones_of_state(s) {
                    if !zones.contains(z) {
                        zones.to_mut().push(z.clone());
                    }
                }
            }
        }
        if zones.is_empty()
            && let Some(f) = &self.fallback
        {
            zones.to_mut().push(f.clone());
            push_place(Cow::Borrowed("fallback"));
        }
        if let Some(s) = req.service {
            let p = format!("service:{s}");
            if self.jurisdictions.contains_key(&p) {
                push_place(Cow::Owned(p));
            }
        }
        let mut out = Jurisdictions {
            places,
            zones,
            rules: [&NO_RULE; MAX_PLACES],
            ids: [0; MAX_PLACES],
            n_rules: 0,
            limit: None,
        };
        for (id, j) in out.places.iter().filter_map(|p| {
            let id = *self.jurisdictions.get(p.as_ref())?;
            Some((id, self.rules.jurisdictions.get(p.as_ref())?))
        }) {
            if out.n_rules < MAX_PLACES {
                out.rules[out.n_rules] = &j.hours;
                out.ids[out.n_rules] = id;
                out.n_rules += 1;
            }
            if let Some(l) = j.limit_per_24h
                && out.limit.is_none_or(|(m, _)| l < m)
            {
                out.limit = Some((l, &j.hours.name));
            }
        }
        out
    }

    /// Calling hours: inside every window that applies, with the margin before closing.
    /// Returns when the hours would next allow the call, for a denial.
    fn calling_hours(&self, req: &Request<'_>, places: &Jurisdictions<'_>, verdict: &mut Verdict) -> Option<Timestamp> {
        let rules = places.rules();
        match hours::check(rules, &places.zones, req.at, self.settings.margin_minutes) {
            Ok(Ok(())) if rules.is_empty() => {
                verdict.timed(allow(ReasonCode::WithinHours, "calling rules", "no calling-hour rule applies here"));
                None
            }
            Ok(Ok(())) => {
                verdict.timed(allow(
                    ReasonCode::WithinHours,
                    self.within_text(&places.ids[..places.n_rules]),
                    "inside every calling window that applies",
                ));
                None
            }
            Ok(Err(out)) => {
                verdict.timed(deny(
                    ReasonCode::OutsideHours,
                    out.rule.clone(),
                    format!("{} in {} is outside the calling window of {}", out.local, out.zone, out.rule),
                ));
                out.next_allowed
            }
            Err(e) => {
                verdict.timeless(deny(ReasonCode::NoTimeZone, "time zones", e.to_string()));
                None
            }
        }
    }

    /// Do-not-call lists of the number's country: a registry never imported, or older than the
    /// safe-harbor age, denies; a listed number denies, except on a registry when the contact
    /// gave prior express consent.
    fn do_not_call(&self, req: &Request<'_>, number: &Number, verdict: &mut Verdict) {
        let mut listed = false;
        for list in req.dnc {
            if list.country_code().is_some_and(|cc| cc != number.country_code) {
                continue;
            }
            if list.kind() == DncKind::Registry {
                match (list.refreshed_at(), self.settings.registry_max_age_days) {
                    // Errors deny: a registry nobody imported protects nobody.
                    (None, _) => verdict.timeless(deny(
                        ReasonCode::RegistryNotImported,
                        list.name().to_owned(),
                        format!(
                            "the registry list `{}` has no copy imported yet (or its file failed its check): import \
                             one before calling its country",
                            list.name()
                        ),
                    )),
                    (Some(refreshed), Some(days))
                        if req.at.duration_since(refreshed) > SignedDuration::from_hours(24 * i64::from(days)) =>
                    {
                        verdict.timeless(deny(
                            ReasonCode::StaleRegistry,
                            list.name().to_owned(),
                            format!(
                                "the registry copy `{}` was refreshed {}, more than {days} days ago (safe harbor)",
                                list.name(),
                                refreshed.strftime("%Y-%m-%d")
                            ),
                        ));
                    }
                    _ => {}
                }
            }
            if list.contains(number) {
                listed = true;
                if list.kind() == DncKind::Registry && req.contact.consent {
                    verdict.timeless(allow(
                        ReasonCode::ConsentOverridesRegistry,
                        list.name().to_owned(),
                        format!("on `{}`, but the contact gave prior express consent", list.name()),
                    ));
                } else {
                    verdict.timeless(deny(
                        ReasonCode::DoNotCall,
                        list.name().to_owned(),
                        format!("the number is on the do-not-call list `{}`", list.name()),
                    ));
                }
            }
        }
        if !listed {
            verdict.timeless(allow(
                ReasonCode::NotOnDoNotCall,
                "do-not-call lists",
                "the number is on none of the tenant's do-not-call lists",
            ));
        }
    }

    /// When time alone stands in the way: the first instant both the limit and the hours allow.
    fn next_allowed(
        &self,
        req: &Request<'_>,
        verdict: &Verdict,
        places: &Jurisdictions<'_>,
        earliest: Timestamp,
        hours_next: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let denied = verdict.reasons.iter().any(|r| r.denies);
        if !denied || verdict.timeless_denial {
            None
        } else if earliest > req.at {
            match hours::check(places.rules(), &places.zones, earliest, self.settings.margin_minutes) {
                Ok(Ok(())) => Some(earliest),
                Ok(Err(out)) => out.next_allowed,
                Err(_) => None,
            }
        } else {
            hours_next
        }
    }

    /// The rule text of a call inside every window of these jurisdictions.
    fn within_text(&self, ids: &[usize]) -> Text {
        match ids {
            [one] => Text::from(&self.within[*one]),
            [a, b] if let Some(t) = self.within_pairs.get(&(*a, *b)) => Text::from(t),
            _ => Text::Owned(ids.iter().map(|&i| &*self.within[i]).collect::<Vec<_>>().join("; ")),
        }
    }
}

/// Calls per 24 hours (calls only): the strictest limit of the places counts the number's calls
/// of the 24 hours before the check, and every call after the check's instant: a concurrent
/// check whose clock read a moment later may have counted its call first (on this node or
/// another), and that call is placed all the same. Returns the earliest instant the limit allows
/// the call.
fn call_limit(req: &Request<'_>, limit: Option<(u32, &String)>, verdict: &mut Verdict) -> Timestamp {
    let Some((limit, rule)) = limit else { return req.at };
    let window_start = req.at - SignedDuration::from_hours(24);
    let mut recent: Vec<Timestamp> = req.recent_calls.iter().copied().filter(|t| *t > window_start).collect();
    if recent.len() < limit as usize {
        return req.at;
    }
    recent.sort_unstable();
    // The call becomes allowed when enough of the recent calls are 24 h old.
    let release = recent[recent.len() - limit as usize] + SignedDuration::from_hours(24);
    verdict.timed(deny(
        ReasonCode::CallLimit,
        rule.to_string(),
        format!("{} calls to this number in the last 24 hours; at most {limit} allowed", recent.len()),
    ));
    req.at.max(release)
}
