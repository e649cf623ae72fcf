//! From SIP messages to call-security events: which leg a message belongs to, and what it means
//! for that leg. Shared by every way SIP reaches callvault (HEP capture, raw SIP over the API).
//!
//! A message's leg is its hop: over HEP the unordered pair of addresses it travelled between (so
//! a proxy's two sides are two legs, and a response on the way back is on the same leg as its
//! request), over the API the leg id the poster names. A leg starts with its INVITE; an
//! INVITE's offer, its 2xx or the ACK's answer, a re-INVITE putting the audio on hold
//! (`sendonly`/`inactive`, RFC 3264 §8.4) or taking it off, a BYE, and a failed INVITE (a failed
//! re-INVITE keeps the old session, RFC 3261 §14.1; a failed first INVITE ends the leg) each
//! become engine events. An SDES answer must pick a suite its leg's offer listed (RFC 4568
//! §7.1.2); one it did not offer proves nothing.

use std::collections::HashMap;
use std::net::SocketAddr;

use callvault_signalling::classify::Classified;
use callvault_signalling::{Media, MediaSecurity, Signalling};

use super::{CallState, Event, Party, Phase};

/// How a SIP message names its leg.
#[derive(Debug, Clone, Copy)]
pub enum Hop<'a> {
    /// The two addresses it travelled between (HEP).
    Addresses(SocketAddr, SocketAddr),
    /// A leg id chosen by the poster (raw SIP over the API).
    Leg(&'a str),
}

/// What a call remembers between its SIP messages: hops to leg ids, and the SDES suites each
/// leg's last offer listed. Serialisable: nodes sharing a database store it with the call, so
/// a call's legs may reach any node.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SipLegs {
    #[serde(with = "hop_list")]
    hops: HashMap<(SocketAddr, SocketAddr), String>,
    next_leg: u32,
    offered: HashMap<String, Vec<String>>,
    /// Responses to an INVITE captured before the INVITE itself (capture agents mirror a
    /// proxy's two sides from different processes, so a hop's 200 can overtake its INVITE):
    /// kept per leg, at most [`MAX_EARLY`], and replayed when the INVITE of the same dialog
    /// (same From tag) starts the leg.
    early: HashMap<String, Vec<(Classified, Option<bool>)>>,
}

/// JSON maps need string keys: hops are stored as a list of (from, to, leg).
mod hop_list {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    type Hops = HashMap<(SocketAddr, SocketAddr), String>;

    pub(super) fn serialize<S: Serializer>(hops: &Hops, s: S) -> Result<S::Ok, S::Error> {
        let mut list: Vec<(&SocketAddr, &SocketAddr, &String)> = hops.iter().map(|((a, b), l)| (a, b, l)).collect();
        list.sort();
        list.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hops, D::Error> {
        let list: Vec<(SocketAddr, SocketAddr, String)> = Vec::deserialize(d)?;
        Ok(list.into_iter().map(|(a, b, l)| ((a, b), l)).collect())
    }
}

/// Early responses kept per leg at most.
const MAX_EARLY: usize = 4;

impl SipLegs {
    /// The SIP memory of a call reloaded at start: its hops are not known again until they are
    /// seen, and new hops are numbered after its legs.
    pub fn resumed(state: &CallState) -> SipLegs {
        SipLegs { next_leg: u32::try_from(state.legs.len()).unwrap_or(u32::MAX), ..SipLegs::default() }
    }

    /// The engine events message `c` means for the call in `state`. `transport_tls` is the
    /// capture agent's view of the hop's transport, used when the message does not say;
    /// `party(user, fallback)` gives a new leg its party from the SIP user part (the From user
    /// of the first leg, the Request-URI user of later ones).
    pub fn events(
        &mut self,
        state: &CallState,
        hop: Hop<'_>,
        c: &Classified,
        transport_tls: Option<bool>,
        party: impl Fn(Option<&str>, &str) -> Party,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let leg = self.leg_of(hop);
        let phase = state.legs.iter().find(|l| l.id == leg && l.phase != Phase::Gone).map(|l| l.phase);
        let ever = state.legs.iter().any(|l| l.id == leg);
        if phase.is_none() {
            // A leg starts with its INVITE; other messages of unknown legs (a stray BYE) are
            // ignored, except a response to an INVITE that overtook it on a new leg.
            if !(c.method == "INVITE" && c.status.is_none()) {
                if !ever && c.method == "INVITE" && c.status.is_some() {
                    let kept = self.early.entry(leg).or_default();
                    if kept.len() < MAX_EARLY {
                        kept.push((c.clone(), transport_tls));
                    }
                }
                return events;
            }
            self.next_leg += 1;
            let first = state.legs.is_empty();
            let user = if first { c.from_user.as_deref() } else { c.request_user.as_deref() };
            events.push(Event::LegAdded {
                leg: leg.clone(),
                party: party(user, if first { "caller" } else { "callee" }),
            });
        }
        let early = if phase.is_none() { self.early.remove(&leg).unwrap_or_default() } else { Vec::new() };
        self.message_events(&leg, phase, c, transport_tls, &mut events);
        // The INVITE that started the leg is in; its responses that came first follow it.
        for (r, tls) in early.iter().filter(|(r, _)| r.from_tag.is_some() && r.from_tag == c.from_tag) {
            self.message_events(&leg, Some(Phase::Adding), r, *tls, &mut events);
        }
        events
    }

    /// The events of one message on a leg in `phase` (`None`: the message starts the leg).
    fn message_events(
        &mut self,
        leg: &str,
        phase: Option<Phase>,
        c: &Classified,
        transport_tls: Option<bool>,
        events: &mut Vec<Event>,
    ) {
        let leg = leg.to_owned();
        let signalling = match (c.signalling, transport_tls) {
            (Signalling::Unknown, Some(true)) => Signalling::Tls,
            (s, _) => s,
        };
        match (c.status, c.method.as_str()) {
            (None, "INVITE") => {
                if c.media.is_some() {
                    self.offered.insert(leg.clone(), c.offered_suites.clone());
                }
                events.push(Event::Offer { leg: leg.clone(), signalling });
                match (c.audio_on_hold, phase) {
                    (Some(true), Some(Phase::Active)) => events.push(Event::Hold { leg }),
                    (Some(false), Some(Phase::Held)) => events.push(Event::Resume { leg }),
                    _ => {}
                }
            }
            (None, "ACK") => {
                if let Some(m) = &c.media {
                    events.push(Event::Answer { leg, media: m.clone(), signalling });
                }
            }
            (None, "BYE") => events.push(Event::LegLeft { leg }),
            (Some(code), "INVITE") if (200..300).contains(&code) => {
                let media = self.answered_media(&leg, c.media.clone());
                events.push(Event::Answer { leg, media, signalling });
            }
            (Some(code), "INVITE") if code >= 300 => {
                let answered = phase.is_some_and(|p| p != Phase::Adding);
                if !answered {
                    events.push(Event::LegLeft { leg });
                }
            }
            _ => {}
        }
    }

    /// The leg id of a hop, a new one (`leg-N`) for an address pair not seen before.
    fn leg_of(&mut self, hop: Hop<'_>) -> String {
        match hop {
            Hop::Leg(id) => id.to_owned(),
            Hop::Addresses(a, b) => {
                let key = if a <= b { (a, b) } else { (b, a) };
                let next = self.next_leg + 1;
                self.hops.entry(key).or_insert_with(|| format!("leg-{next}")).clone()
            }
        }
    }

    /// The media an answer proves: unknown when it has none, or when it is SDES with a suite the
    /// leg's offer did not list.
    fn answered_media(&self, leg: &str, media: Option<MediaSecurity>) -> MediaSecurity {
        let media = media.unwrap_or(MediaSecurity { media: Media::Unknown, detail: None });
        match (media.media, self.offered.get(leg), media.detail.as_deref()) {
            (Media::SdesSrtp, Some(offered), Some(suite)) if !offered.iter().any(|o| o == suite) => MediaSecurity {
                media: Media::Unknown,
                detail: Some(format!("the answer chose {suite}, which the offer did not list")),
            },
            _ => media,
        }
    }
}

#[cfg(test)]
mod tests {
    use callvault_signalling::classify::classify_message;

    use super::*;
    use crate::callsec::{PartyKind, Security, StationLevel};

    const SDES_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n";

    fn sdp(direction: &str, suite: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 {suite} inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na={direction}\r\n"
        )
    }

    fn request(method: &str, cseq: u32, to_tag: bool, body: &str) -> Classified {
        let tag = if to_tag { ";tag=b7" } else { "" };
        let ctype = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        let m = format!(
            "{method} sips:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK{cseq}\r\nFrom: <sips:alice@example.com>;tag=a1\r\nTo: <sips:bob@example.com>{tag}\r\nCall-ID: c1\r\nCSeq: {cseq} {method}\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        classify_message(m.as_bytes()).unwrap()
    }

    fn response(code: u16, cseq: u32, body: &str) -> Classified {
        let ctype = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        let m = format!(
            "SIP/2.0 {code} X\r\nVia: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK{cseq}\r\nFrom: <sips:alice@example.com>;tag=a1\r\nTo: <sips:bob@example.com>;tag=b7\r\nCall-ID: c1\r\nCSeq: {cseq} INVITE\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        classify_message(m.as_bytes()).unwrap()
    }

    fn party(user: Option<&str>, fallback: &str) -> Party {
        Party {
            kind: PartyKind::External,
            name: user.unwrap_or(fallback).to_owned(),
            user: None,
            level: StationLevel::None,
        }
    }

    /// Feeds messages on one hop, applying the events; returns the state and every event.
    fn run(legs: &mut SipLegs, state: &mut CallState, hop: Hop<'_>, messages: &[Classified]) -> Vec<Event> {
        let mut all = Vec::new();
        for c in messages {
            for e in legs.events(state, hop, c, None, party) {
                let _ = state.apply(&e);
                all.push(e);
            }
        }
        all
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 10], port))
    }

    #[test]
    fn an_address_pair_is_one_leg_in_both_directions() {
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let out = run(
            &mut legs,
            &mut state,
            Hop::Addresses(addr(5061), addr(5062)),
            &[request("INVITE", 1, false, SDES_OFFER)],
        );
        assert!(matches!(&out[0], Event::LegAdded { leg, party } if leg == "leg-1" && party.name == "alice"));
        // The answer travels the other way: the same leg.
        let out = run(
            &mut legs,
            &mut state,
            Hop::Addresses(addr(5062), addr(5061)),
            &[response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"))],
        );
        assert!(matches!(&out[..], [Event::Answer { leg, .. }] if leg == "leg-1"), "{out:?}");
        assert_eq!(state.security, Security::Secure);
        // A proxy's other side is another leg, whose party is the called user.
        let out = run(
            &mut legs,
            &mut state,
            Hop::Addresses(addr(5062), addr(5070)),
            &[request("INVITE", 1, false, SDES_OFFER)],
        );
        assert!(matches!(&out[0], Event::LegAdded { leg, party } if leg == "leg-2" && party.name == "bob"), "{out:?}");
    }

    #[test]
    fn stray_messages_of_unknown_legs_mean_nothing() {
        let mut legs = SipLegs::default();
        let state = CallState::default();
        for c in [request("BYE", 2, true, ""), response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"))] {
            assert!(legs.events(&state, Hop::Leg("uac"), &c, None, party).is_empty());
        }
    }

    #[test]
    fn hold_resume_and_failed_reinvites() {
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let hop = Hop::Leg("uac");
        run(
            &mut legs,
            &mut state,
            hop,
            &[request("INVITE", 1, false, SDES_OFFER), response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"))],
        );
        let out =
            run(&mut legs, &mut state, hop, &[request("INVITE", 2, true, &sdp("sendonly", "AES_CM_128_HMAC_SHA1_80"))]);
        assert!(out.iter().any(|e| matches!(e, Event::Hold { .. })), "{out:?}");
        assert_eq!(state.legs[0].phase, Phase::Held);
        // A re-INVITE refused (491, 488): the old session stays, the leg does not leave.
        let out = run(&mut legs, &mut state, hop, &[response(488, 2, "")]);
        assert!(!out.iter().any(|e| matches!(e, Event::LegLeft { .. })), "{out:?}");
        let out =
            run(&mut legs, &mut state, hop, &[request("INVITE", 3, true, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"))]);
        assert!(out.iter().any(|e| matches!(e, Event::Resume { .. })), "{out:?}");
        let out = run(&mut legs, &mut state, hop, &[request("BYE", 4, true, "")]);
        assert!(matches!(&out[..], [Event::LegLeft { leg }] if leg == "uac"));
    }

    #[test]
    fn a_response_that_overtakes_its_invite_is_applied_after_it() {
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let hop = Hop::Addresses(addr(5061), addr(5062));
        // The 200 of the hop is captured first: nothing yet.
        let out = run(&mut legs, &mut state, hop, &[response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"))]);
        assert!(out.is_empty(), "{out:?}");
        // Its INVITE starts the leg, and the kept answer follows it.
        let out = run(&mut legs, &mut state, hop, &[request("INVITE", 1, false, SDES_OFFER)]);
        assert!(matches!(&out[..], [Event::LegAdded { .. }, Event::Offer { .. }, Event::Answer { .. }]), "{out:?}");
        assert_eq!(state.security, Security::Secure);
        // A response of another dialog (another From tag) is never replayed.
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let other = response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80"));
        let other = Classified { from_tag: Some("zz".into()), ..other };
        run(&mut legs, &mut state, hop, &[other]);
        let out = run(&mut legs, &mut state, hop, &[request("INVITE", 1, false, SDES_OFFER)]);
        assert!(!out.iter().any(|e| matches!(e, Event::Answer { .. })), "{out:?}");
        assert_ne!(state.security, Security::Secure);
    }

    #[test]
    fn a_failed_first_invite_ends_its_leg() {
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let out = run(
            &mut legs,
            &mut state,
            Hop::Leg("uac"),
            &[request("INVITE", 1, false, SDES_OFFER), response(486, 1, "")],
        );
        assert!(matches!(out.last(), Some(Event::LegLeft { .. })), "{out:?}");
    }

    #[test]
    fn an_sdes_answer_must_pick_an_offered_suite() {
        let mut legs = SipLegs::default();
        let mut state = CallState::default();
        let offer_32_only = SDES_OFFER
            .replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", "");
        let out = run(
            &mut legs,
            &mut state,
            Hop::Leg("uac"),
            &[
                request("INVITE", 1, false, &offer_32_only),
                response(200, 1, &sdp("sendrecv", "AES_CM_128_HMAC_SHA1_80")),
            ],
        );
        let Some(Event::Answer { media, .. }) = out.last() else { panic!("{out:?}") };
        assert_eq!(media.media, Media::Unknown);
        assert!(media.detail.as_deref().is_some_and(|d| d.contains("did not list")), "{media:?}");
        assert_ne!(state.security, Security::Secure);
    }

    #[test]
    fn the_capture_agents_transport_fills_in_only_when_the_message_does_not_say() {
        let mut legs = SipLegs::default();
        let state = CallState::default();
        let c = request("INVITE", 1, false, SDES_OFFER);
        assert_eq!(c.signalling, Signalling::Tls);
        let out = legs.events(&state, Hop::Leg("uac"), &c, Some(false), party);
        assert!(out.iter().any(|e| matches!(e, Event::Offer { signalling: Signalling::Tls, .. })), "{out:?}");
    }
}
