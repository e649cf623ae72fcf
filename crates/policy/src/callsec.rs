//! Call security: a call is secure when every audio leg is encrypted (SRTP) and its
//! signalling protected (TLS) to the edge of the network. Pure: events in, state changes out.
//!
//! A call's security is the minimum over its legs — not secure < unknown < secure (a conference
//! is secure only when the bridge and every participant are; a participant of unknown security
//! makes it unknown). A party being added (transfer, conference join) is unknown until it
//! answers. Every change carries its cause: the leg, the party, a code and words. A downgrade —
//! the call reaching *not secure* after it was last definitely *secure* — raises an alert; an
//! upgrade only changes the state.

use serde::{Deserialize, Serialize};

pub mod sip;

use callvault_signalling::{Media, MediaSecurity, Signalling};

/// A call's or a leg's security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// At least one leg is not encrypted or not protected.
    NotSecure,
    /// Not known yet (a party being added, a leg whose negotiation was not seen).
    Unknown,
    /// Every leg encrypted with protected signalling.
    Secure,
}

/// Who a leg reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// A desk phone managed by the contact center.
    Station,
    /// A softphone or WebRTC client.
    Softphone,
    /// A media gateway (to the PSTN).
    Gateway,
    /// A SIP trunk to a carrier.
    Trunk,
    /// A conference bridge.
    ConferenceBridge,
    /// A number outside (reached through a trunk or gateway).
    External,
}

/// A station's security level: whether it shows a lock and receives downgrade alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StationLevel {
    /// An RTP station: no lock icon, no alerts.
    #[default]
    None,
    /// SRTP as far as possible, but no icon and no alerts.
    Minimal,
    /// A closed lock when secure, an open lock with its cause when not, an alert on a downgrade.
    EndToEdge,
}

/// What a user on a station sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lock {
    /// No icon (RTP or minimal stations).
    Hidden,
    /// Secure.
    Closed,
    /// Not secure; the tooltip gives the cause.
    Open,
    /// Not known yet.
    Pending,
}

impl StationLevel {
    /// The icon this station shows for a call in `security`.
    pub fn lock(self, security: Security) -> Lock {
        match (self, security) {
            (StationLevel::None | StationLevel::Minimal, _) => Lock::Hidden,
            (StationLevel::EndToEdge, Security::Secure) => Lock::Closed,
            (StationLevel::EndToEdge, Security::NotSecure) => Lock::Open,
            (StationLevel::EndToEdge, Security::Unknown) => Lock::Pending,
        }
    }
}

/// A party on a leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Kind.
    pub kind: PartyKind,
    /// A label (station name, gateway, "conference 7"); never a phone number in clear.
    pub name: String,
    /// The user on this station or softphone (login), if known.
    #[serde(default)]
    pub user: Option<String>,
    /// The station's security level (stations and softphones).
    #[serde(default)]
    pub level: StationLevel,
}

/// Where a leg is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Being added: unknown until it answers.
    Adding,
    /// Connected.
    Active,
    /// On hold (still part of the call).
    Held,
    /// Left the call.
    Gone,
}

/// One audio leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Leg {
    /// Id within the call.
    pub id: String,
    /// Who it reaches.
    pub party: Party,
    /// Audio protection negotiated (the answer's).
    pub media: Media,
    /// The SDES suite or DTLS role that decided, if any.
    pub media_detail: Option<String>,
    /// Signalling protection of the hop.
    pub signalling: Signalling,
    /// Life.
    pub phase: Phase,
}

/// Why a leg or call is in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CauseCode {
    /// Every leg is encrypted with protected signalling.
    AllLegsSecure,
    /// A leg carries plain RTP.
    PlainRtp,
    /// A leg's SRTP suite has NULL encryption or NULL authentication.
    NullSrtp,
    /// SDES keys travelled over unprotected signalling.
    SdesKeysExposed,
    /// Encrypted audio but the signalling hop is not TLS.
    PlainSignalling,
    /// A party is being added and has not answered.
    AwaitingAnswer,
    /// A leg's audio protection is not known.
    UnknownMedia,
    /// A leg's signalling protection is not known.
    UnknownSignalling,
    /// No leg is connected.
    NoLegs,
    /// A session parameter switches SRTP protection off (UNENCRYPTED_SRTP, ...).
    ProtectionDisabled,
    /// An SDES line without a well-formed key of its suite's length.
    InvalidKey,
    /// An answer with more than one crypto line for a stream.
    MalformedAnswer,
}

/// A state's cause, in words and as a code, naming the leg and party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cause {
    /// Code.
    pub code: CauseCode,
    /// The leg that decided (none for "all legs secure" and "no legs").
    pub leg: Option<String>,
    /// Its party's label and kind.
    pub party: Option<String>,
    /// In words (the lock's tooltip).
    pub text: String,
}

impl Leg {
    /// This leg's security and why.
    pub fn security(&self) -> (Security, CauseCode) {
        if self.phase == Phase::Adding {
            return (Security::Unknown, CauseCode::AwaitingAnswer);
        }
        match (self.media, self.signalling) {
            (Media::PlainRtp, _) => (Security::NotSecure, CauseCode::PlainRtp),
            (Media::NullSrtp, _) => (Security::NotSecure, CauseCode::NullSrtp),
            (Media::SdesUnprotected, _) => (Security::NotSecure, CauseCode::ProtectionDisabled),
            (Media::SdesInvalidKey, _) => (Security::NotSecure, CauseCode::InvalidKey),
            (Media::MalformedAnswer, _) => (Security::NotSecure, CauseCode::MalformedAnswer),
            (Media::SdesSrtp, Signalling::Plain) => (Security::NotSecure, CauseCode::SdesKeysExposed),
            (Media::DtlsSrtp, Signalling::Plain) => (Security::NotSecure, CauseCode::PlainSignalling),
            (Media::Unknown, Signalling::Plain) => (Security::NotSecure, CauseCode::PlainSignalling),
            (Media::Unknown, _) => (Security::Unknown, CauseCode::UnknownMedia),
            (_, Signalling::Unknown) => (Security::Unknown, CauseCode::UnknownSignalling),
            (Media::SdesSrtp | Media::DtlsSrtp, Signalling::Tls) => (Security::Secure, CauseCode::AllLegsSecure),
        }
    }

    fn describe(&self, code: CauseCode) -> String {
        let who = format!("{} ({})", self.party.name, kind_word(self.party.kind));
        match code {
            CauseCode::PlainRtp => format!("the audio to {who} is not encrypted (plain RTP)"),
            CauseCode::NullSrtp => {
                let suite = self.media_detail.as_deref().unwrap_or("NULL");
                format!(
                    "the audio to {who} uses SRTP suite {suite} without {}",
                    callvault_signalling::classify::null_suite_lacks(suite)
                )
            }
            CauseCode::ProtectionDisabled => format!(
                "the audio to {who} is sent with SRTP protection switched off ({})",
                self.media_detail.as_deref().unwrap_or("a disabling session parameter")
            ),
            CauseCode::InvalidKey => format!(
                "the SRTP key for {who} is missing or malformed ({})",
                self.media_detail.as_deref().unwrap_or("SDES")
            ),
            CauseCode::MalformedAnswer => {
                format!("the answer for {who} is malformed (more than one crypto line for one stream)")
            }
            CauseCode::SdesKeysExposed => {
                format!("the SRTP keys for {who} were exchanged over unencrypted signalling (SDES without TLS)")
            }
            CauseCode::PlainSignalling => format!("the signalling to {who} is not encrypted (no TLS)"),
            CauseCode::AwaitingAnswer => format!("{who} is being added and has not answered yet"),
            CauseCode::UnknownMedia => format!("the audio protection to {who} is not known"),
            CauseCode::UnknownSignalling => format!("the signalling protection to {who} is not known"),
            CauseCode::AllLegsSecure => "every leg is encrypted (SRTP) with TLS signalling".into(),
            CauseCode::NoLegs => "no leg is connected".into(),
        }
    }
}

fn kind_word(k: PartyKind) -> &'static str {
    match k {
        PartyKind::Station => "station",
        PartyKind::Softphone => "softphone",
        PartyKind::Gateway => "gateway",
        PartyKind::Trunk => "trunk",
        PartyKind::ConferenceBridge => "conference bridge",
        PartyKind::External => "external party",
    }
}

/// What happens on a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A party is being added (a new call's first legs, a transfer target, a conference
    /// participant): unknown until it answers.
    LegAdded {
        /// Leg id.
        leg: String,
        /// Party.
        party: Party,
    },
    /// An offer (INVITE, re-INVITE): the signalling hop is known; the media waits for the answer.
    Offer {
        /// Leg id.
        leg: String,
        /// The hop's signalling.
        signalling: Signalling,
    },
    /// The answer decides what was negotiated (also a re-INVITE's answer).
    Answer {
        /// Leg id.
        leg: String,
        /// What the answer's SDP says.
        media: MediaSecurity,
        /// The hop's signalling.
        signalling: Signalling,
    },
    /// A PBX's own report of a leg's state (Asterisk `CHANNEL(rtp,secure)` and
    /// `CHANNEL(pjsip,secure)`, FreeSWITCH variables), already normalised.
    Reported {
        /// Leg id.
        leg: String,
        /// Audio protection.
        media: Media,
        /// Signalling protection.
        signalling: Signalling,
    },
    /// On hold.
    Hold {
        /// Leg id.
        leg: String,
    },
    /// Off hold.
    Resume {
        /// Leg id.
        leg: String,
    },
    /// A leg left (hang-up, transfer away, conference leave).
    LegLeft {
        /// Leg id.
        leg: String,
    },
    /// A transfer: `from` leaves, `to` is being added with `party`.
    Transfer {
        /// The leg transferred away.
        from: String,
        /// The new leg.
        to: String,
        /// Its party.
        party: Party,
    },
}

/// A change of a call's security or of its cause (the tooltip changes with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// Before.
    pub from: Security,
    /// After.
    pub to: Security,
    /// Why it is now `to`.
    pub cause: Cause,
    /// From secure (the last definite state) to not secure: users on end-to-edge stations are
    /// alerted.
    pub downgrade: bool,
}

/// Why an event cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The leg is not part of the call.
    #[error("no leg `{0}` on this call")]
    NoSuchLeg(String),
    /// The leg id is already used.
    #[error("leg `{0}` already exists")]
    LegExists(String),
    /// Too many legs.
    #[error("a call has at most {MAX_LEGS} legs")]
    TooManyLegs,
}

/// Most legs one call may have (conferences included).
pub const MAX_LEGS: usize = 64;

/// One call's security state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallState {
    /// Legs in the order they joined (left legs stay, marked gone).
    pub legs: Vec<Leg>,
    /// The call's security.
    pub security: Security,
    /// Why.
    pub cause: Cause,
    /// The last definite state (secure or not secure), for telling downgrades.
    pub last_definite: Option<Security>,
}

impl Default for CallState {
    fn default() -> Self {
        CallState {
            legs: Vec::new(),
            security: Security::Unknown,
            cause: Cause { code: CauseCode::NoLegs, leg: None, party: None, text: "no leg is connected".into() },
            last_definite: None,
        }
    }
}

impl CallState {
    fn leg_mut(&mut self, id: &str) -> Result<&mut Leg, EventError> {
        self.legs
            .iter_mut()
            .find(|l| l.id == id && l.phase != Phase::Gone)
            .ok_or_else(|| EventError::NoSuchLeg(id.into()))
    }

    fn add(&mut self, id: &str, party: &Party) -> Result<(), EventError> {
        if self.legs.iter().any(|l| l.id == id && l.phase != Phase::Gone) {
            return Err(EventError::LegExists(id.into()));
        }
        if self.legs.len() >= MAX_LEGS {
            return Err(EventError::TooManyLegs);
        }
        self.legs.retain(|l| l.id != id);
        self.legs.push(Leg {
            id: id.into(),
            party: party.clone(),
            media: Media::Unknown,
            media_detail: None,
            signalling: Signalling::Unknown,
            phase: Phase::Adding,
        });
        Ok(())
    }

    /// Applies an event; returns the change of the call's security, if any.
    pub fn apply(&mut self, event: &Event) -> Result<Option<Change>, EventError> {
        match event {
            Event::LegAdded { leg, party } => self.add(leg, party)?,
            Event::Offer { leg, signalling } => {
                let l = self.leg_mut(leg)?;
                if *signalling != Signalling::Unknown {
                    l.signalling = *signalling;
                }
            }
            Event::Answer { leg, media, signalling } => {
                let l = self.leg_mut(leg)?;
                l.media = media.media;
                l.media_detail.clone_from(&media.detail);
                if *signalling != Signalling::Unknown {
                    l.signalling = *signalling;
                }
                if l.phase == Phase::Adding {
                    l.phase = Phase::Active;
                }
            }
            Event::Reported { leg, media, signalling } => {
                let l = self.leg_mut(leg)?;
                l.media = *media;
                l.media_detail = None;
                l.signalling = *signalling;
                if l.phase == Phase::Adding {
                    l.phase = Phase::Active;
                }
            }
            Event::Hold { leg } => self.leg_mut(leg)?.phase = Phase::Held,
            Event::Resume { leg } => {
                let l = self.leg_mut(leg)?;
                if l.phase == Phase::Held {
                    l.phase = Phase::Active;
                }
            }
            Event::LegLeft { leg } => self.leg_mut(leg)?.phase = Phase::Gone,
            Event::Transfer { from, to, party } => {
                self.leg_mut(from)?;
                self.add(to, party)?;
                self.leg_mut(from)?.phase = Phase::Gone;
            }
        }
        Ok(self.recompute())
    }

    /// The minimum over the legs still on the call, with the weakest leg as the cause.
    fn recompute(&mut self) -> Option<Change> {
        // When the last leg leaves, the call ends in the state it had: nothing to recompute.
        if !self.legs.is_empty() && self.legs.iter().all(|l| l.phase == Phase::Gone) {
            return None;
        }
        let weakest =
            self.legs.iter().filter(|l| l.phase != Phase::Gone).map(|l| (l.security(), l)).min_by_key(|((s, _), _)| *s);
        let (security, cause) = match weakest {
            None => (
                Security::Unknown,
                Cause { code: CauseCode::NoLegs, leg: None, party: None, text: "no leg is connected".into() },
            ),
            Some(((Security::Secure, _), _)) => (
                Security::Secure,
                Cause {
                    code: CauseCode::AllLegsSecure,
                    leg: None,
                    party: None,
                    text: "every leg is encrypted (SRTP) with TLS signalling".into(),
                },
            ),
            Some(((s, code), leg)) => (
                s,
                Cause {
                    code,
                    leg: Some(leg.id.clone()),
                    party: Some(format!("{} ({})", leg.party.name, kind_word(leg.party.kind))),
                    text: leg.describe(code),
                },
            ),
        };
        // A change of security, or of the cause of a call that is not secure (its open lock's
        // tooltip); while unknown, which party is still awaited is not a change.
        let changed = security != self.security
            || (security == Security::NotSecure && (cause.code != self.cause.code || cause.leg != self.cause.leg));
        let from = self.security;
        let downgrade = security == Security::NotSecure && self.last_definite == Some(Security::Secure);
        self.security = security;
        self.cause = cause.clone();
        if security != Security::Unknown {
            self.last_definite = Some(security);
        }
        changed.then_some(Change { from, to: security, cause, downgrade })
    }

    /// The users to alert for a change: users on the call's end-to-edge stations and softphones
    /// (still on the call), except those who switched alerts off *and* may do so.
    pub fn alert_recipients(&self, change: &Change, opted_out: impl Fn(&str) -> bool) -> Vec<String> {
        if !change.downgrade {
            return Vec::new();
        }
        let mut users: Vec<String> = self
            .legs
            .iter()
            .filter(|l| l.phase != Phase::Gone && l.party.level == StationLevel::EndToEdge)
            .filter(|l| matches!(l.party.kind, PartyKind::Station | PartyKind::Softphone))
            .filter_map(|l| l.party.user.clone())
            .filter(|u| !opted_out(u))
            .collect();
        users.sort();
        users.dedup();
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(name: &str, user: &str, level: StationLevel) -> Party {
        Party { kind: PartyKind::Station, name: name.into(), user: Some(user.into()), level }
    }

    fn party(kind: PartyKind, name: &str) -> Party {
        Party { kind, name: name.into(), user: None, level: StationLevel::None }
    }

    fn sdes() -> MediaSecurity {
        MediaSecurity { media: Media::SdesSrtp, detail: Some("AES_CM_128_HMAC_SHA1_80".into()) }
    }

    fn plain() -> MediaSecurity {
        MediaSecurity { media: Media::PlainRtp, detail: None }
    }

    fn answer(leg: &str, media: MediaSecurity, signalling: Signalling) -> Event {
        Event::Answer { leg: leg.into(), media, signalling }
    }

    fn secure_call() -> CallState {
        let mut c = CallState::default();
        c.apply(&Event::LegAdded { leg: "a".into(), party: station("desk 12", "agent1", StationLevel::EndToEdge) })
            .unwrap();
        c.apply(&Event::LegAdded { leg: "b".into(), party: party(PartyKind::Gateway, "srtp-gw") }).unwrap();
        c.apply(&answer("a", sdes(), Signalling::Tls)).unwrap();
        let ch = c.apply(&answer("b", sdes(), Signalling::Tls)).unwrap().unwrap();
        assert_eq!((ch.from, ch.to, ch.downgrade), (Security::Unknown, Security::Secure, false));
        c
    }

    #[test]
    fn transfer_to_a_non_secure_party_downgrades_and_alerts_with_that_leg() {
        let mut c = secure_call();
        let ch = c
            .apply(&Event::Transfer { from: "b".into(), to: "c".into(), party: party(PartyKind::Trunk, "carrier-udp") })
            .unwrap()
            .unwrap();
        // While the new party has not answered, the state is unknown, without an alert.
        assert_eq!((ch.to, ch.downgrade, ch.cause.code), (Security::Unknown, false, CauseCode::AwaitingAnswer));
        let ch = c.apply(&answer("c", plain(), Signalling::Plain)).unwrap().unwrap();
        assert_eq!((ch.from, ch.to, ch.downgrade), (Security::Unknown, Security::NotSecure, true));
        assert_eq!(ch.cause.leg.as_deref(), Some("c"));
        assert_eq!(ch.cause.code, CauseCode::PlainRtp);
        assert!(ch.cause.text.contains("carrier-udp (trunk)"), "{}", ch.cause.text);
        assert_eq!(c.alert_recipients(&ch, |_| false), vec!["agent1".to_string()]);
        assert_eq!(StationLevel::EndToEdge.lock(c.security), Lock::Open);
        // Hanging up keeps the state the call ended in.
        c.apply(&Event::LegLeft { leg: "a".into() }).unwrap();
        assert_eq!(c.apply(&Event::LegLeft { leg: "c".into() }).unwrap(), None);
        assert_eq!((c.security, c.cause.code), (Security::NotSecure, CauseCode::PlainRtp));
    }

    #[test]
    fn conference_with_a_non_secure_participant_downgrades() {
        let mut c = secure_call();
        c.apply(&Event::LegAdded { leg: "bridge".into(), party: party(PartyKind::ConferenceBridge, "conf 7") })
            .unwrap();
        c.apply(&answer("bridge", sdes(), Signalling::Tls)).unwrap();
        assert_eq!(c.security, Security::Secure);
        c.apply(&Event::LegAdded { leg: "p3".into(), party: station("desk 40", "agent3", StationLevel::None) })
            .unwrap();
        assert_eq!(c.security, Security::Unknown);
        let ch = c.apply(&answer("p3", plain(), Signalling::Plain)).unwrap().unwrap();
        assert!(ch.downgrade);
        // agent3's RTP station shows nothing and is not alerted; agent1 is.
        assert_eq!(c.alert_recipients(&ch, |_| false), vec!["agent1".to_string()]);
        // The participant leaves: secure again, without an alert.
        let ch = c.apply(&Event::LegLeft { leg: "p3".into() }).unwrap().unwrap();
        assert_eq!((ch.to, ch.downgrade), (Security::Secure, false));
        assert!(c.alert_recipients(&ch, |_| false).is_empty());
    }

    #[test]
    fn upgrade_changes_state_without_alert() {
        let mut c = CallState::default();
        c.apply(&Event::LegAdded { leg: "a".into(), party: station("desk", "agent1", StationLevel::EndToEdge) })
            .unwrap();
        let ch = c.apply(&answer("a", plain(), Signalling::Plain)).unwrap().unwrap();
        assert_eq!((ch.to, ch.downgrade), (Security::NotSecure, false)); // never secure before
        // A re-INVITE negotiates SRTP over TLS.
        c.apply(&Event::Offer { leg: "a".into(), signalling: Signalling::Tls }).unwrap();
        let ch = c.apply(&answer("a", sdes(), Signalling::Tls)).unwrap().unwrap();
        assert_eq!((ch.from, ch.to, ch.downgrade), (Security::NotSecure, Security::Secure, false));
        assert_eq!(StationLevel::EndToEdge.lock(c.security), Lock::Closed);
    }

    #[test]
    fn sdes_over_udp_null_suites_and_unknown_signalling() {
        let mut c = secure_call();
        let ch = c.apply(&answer("b", sdes(), Signalling::Plain)).unwrap().unwrap();
        assert_eq!((ch.to, ch.cause.code, ch.downgrade), (Security::NotSecure, CauseCode::SdesKeysExposed, true));
        let null = MediaSecurity { media: Media::NullSrtp, detail: Some("NULL_HMAC_SHA1_80".into()) };
        let ch = c.apply(&answer("b", null, Signalling::Tls)).unwrap().unwrap();
        assert_eq!(ch.cause.code, CauseCode::NullSrtp);
        assert!(ch.cause.text.contains("NULL_HMAC_SHA1_80"));
        // Not a new downgrade: the call was already not secure.
        assert!(!ch.downgrade);
        let mut u = CallState::default();
        u.apply(&Event::LegAdded { leg: "x".into(), party: party(PartyKind::Softphone, "webrtc") }).unwrap();
        u.apply(&Event::Reported { leg: "x".into(), media: Media::DtlsSrtp, signalling: Signalling::Unknown }).unwrap();
        assert_eq!((u.security, u.cause.code), (Security::Unknown, CauseCode::UnknownSignalling));
    }

    #[test]
    fn station_levels_and_opt_out() {
        for (level, secure, not) in [
            (StationLevel::None, Lock::Hidden, Lock::Hidden),
            (StationLevel::Minimal, Lock::Hidden, Lock::Hidden),
            (StationLevel::EndToEdge, Lock::Closed, Lock::Open),
        ] {
            assert_eq!((level.lock(Security::Secure), level.lock(Security::NotSecure)), (secure, not));
        }
        let mut c = secure_call();
        c.apply(&Event::LegAdded { leg: "s2".into(), party: station("desk 13", "agent2", StationLevel::EndToEdge) })
            .unwrap();
        c.apply(&answer("s2", sdes(), Signalling::Tls)).unwrap();
        c.apply(&Event::LegAdded { leg: "m".into(), party: station("desk 14", "agent4", StationLevel::Minimal) })
            .unwrap();
        c.apply(&answer("m", sdes(), Signalling::Tls)).unwrap();
        let ch = c.apply(&answer("b", plain(), Signalling::Plain)).unwrap().unwrap();
        // agent2 opted out (and may), agent4's station is minimal: only agent1.
        assert_eq!(c.alert_recipients(&ch, |u| u == "agent2"), vec!["agent1".to_string()]);
        assert_eq!(c.alert_recipients(&ch, |_| false), vec!["agent1".to_string(), "agent2".to_string()]);
    }

    #[test]
    fn bad_events_are_errors_and_change_nothing() {
        let mut c = secure_call();
        let before = c.clone();
        assert_eq!(c.apply(&Event::Hold { leg: "zz".into() }), Err(EventError::NoSuchLeg("zz".into())));
        assert_eq!(
            c.apply(&Event::LegAdded { leg: "a".into(), party: party(PartyKind::Trunk, "t") }),
            Err(EventError::LegExists("a".into()))
        );
        assert_eq!(
            c.apply(&Event::Transfer { from: "nope".into(), to: "n".into(), party: party(PartyKind::Trunk, "t") }),
            Err(EventError::NoSuchLeg("nope".into()))
        );
        assert_eq!(c, before);
        // Hold keeps the leg's security in the call.
        assert_eq!(c.apply(&Event::Hold { leg: "b".into() }).unwrap(), None);
        assert_eq!(c.security, Security::Secure);
    }

    #[test]
    fn answers_that_prove_nothing_are_not_secure_with_their_own_cause() {
        for (media, code, words) in [
            (Media::SdesUnprotected, CauseCode::ProtectionDisabled, "protection switched off"),
            (Media::SdesInvalidKey, CauseCode::InvalidKey, "missing or malformed"),
            (Media::MalformedAnswer, CauseCode::MalformedAnswer, "malformed"),
        ] {
            let mut c = CallState::default();
            c.apply(&Event::LegAdded { leg: "a".into(), party: party(PartyKind::Gateway, "gw") }).unwrap();
            let ch = c
                .apply(&answer(
                    "a",
                    MediaSecurity { media, detail: Some("AES_CM_128_HMAC_SHA1_80".into()) },
                    Signalling::Tls,
                ))
                .unwrap()
                .unwrap();
            assert_eq!((ch.to, ch.cause.code), (Security::NotSecure, code));
            assert!(ch.cause.text.contains(words), "{}", ch.cause.text);
        }
        let leg = |suite: &str| Leg {
            id: "a".into(),
            party: party(PartyKind::Trunk, "t"),
            media: Media::NullSrtp,
            media_detail: Some(suite.into()),
            signalling: Signalling::Tls,
            phase: Phase::Active,
        };
        assert!(leg("NULL_HMAC_SHA1_80").describe(CauseCode::NullSrtp).ends_with("without encryption"));
        assert!(leg("AES_CM_128_NULL_AUTH").describe(CauseCode::NullSrtp).ends_with("without authentication"));
    }
}
