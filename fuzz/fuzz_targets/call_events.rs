//! Call security state under arbitrary event sequences (as a PBX feed could send them): applying
//! never panics, a rejected event changes nothing, the call's security is always the minimum
//! over its legs, and a downgrade is reported only from a last definite secure state.
#![no_main]

use callvault_policy::callsec::{CallState, Event, Party, PartyKind, Phase, StationLevel};
use callvault_signalling::{Media, MediaSecurity, Signalling};
use libfuzzer_sys::fuzz_target;

fn event(b: &[u8]) -> Event {
    let leg = format!("l{}", b[1] % 4);
    let media = [Media::PlainRtp, Media::SdesSrtp, Media::DtlsSrtp, Media::NullSrtp, Media::Unknown][usize::from(b[2] % 5)];
    let signalling = [Signalling::Plain, Signalling::Tls, Signalling::Unknown][usize::from(b[3] % 3)];
    let party = Party {
        kind: [PartyKind::Station, PartyKind::Gateway, PartyKind::ConferenceBridge, PartyKind::External][usize::from(b[2] % 4)],
        name: "p".into(),
        user: Some(format!("u{}", b[3] % 3)),
        level: [StationLevel::None, StationLevel::Minimal, StationLevel::EndToEdge][usize::from(b[1] % 3)],
    };
    match b[0] % 8 {
        0 => Event::LegAdded { leg, party },
        1 => Event::Offer { leg, signalling },
        2 => Event::Answer { leg, media: MediaSecurity { media, detail: None }, signalling },
        3 => Event::Reported { leg, media, signalling },
        4 => Event::Hold { leg },
        5 => Event::Resume { leg },
        6 => Event::LegLeft { leg },
        _ => Event::Transfer { from: leg, to: format!("l{}", b[3] % 4), party },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut call = CallState::default();
    for b in data.chunks_exact(4) {
        let before = call.clone();
        match call.apply(&event(b)) {
            Err(_) => assert_eq!(call, before),
            Ok(change) => {
                let live: Vec<_> = call.legs.iter().filter(|l| l.phase != Phase::Gone).collect();
                if !live.is_empty() {
                    let min = live.iter().map(|l| l.security().0).min().unwrap();
                    assert_eq!(call.security, min);
                }
                if let Some(ch) = change {
                    assert!(!ch.downgrade || before.last_definite == Some(callvault_policy::callsec::Security::Secure));
                    let _ = call.alert_recipients(&ch, |_| false);
                }
            }
        }
    }
});
