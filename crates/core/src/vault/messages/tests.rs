use super::*;

fn line(text: &str) -> Line {
    Line { seq: 0, at: Timestamp(0), from: Sender::Customer, agent: None, text: text.into() }
}

/// Appends each text in turn; returns the stored texts and the PANs masked in all.
fn conversation(texts: &[&str]) -> (Vec<String>, u32) {
    let mut lines = Vec::new();
    let mut masked = 0;
    for t in texts {
        masked += add(&mut lines, line(t), true).redactions;
    }
    (lines.into_iter().map(|l| l.text).collect(), masked)
}

#[test]
fn a_number_split_over_two_messages_is_masked_in_both() {
    let (texts, n) = conversation(&["sure, it is 4111 1111", "1111 1111 thanks"]);
    assert_eq!(n, 1);
    assert_eq!(texts, ["sure, it is 4111 11**", "**** 1111 thanks"]);
    // Without separators, with a trailing dash, and over three messages.
    let (texts, n) = conversation(&["41111111", "11111111"]);
    assert_eq!((texts.concat().as_str(), n), ("411111******1111", 1));
    let (texts, n) = conversation(&["5555-5555-", "5555-4444"]);
    assert_eq!((texts.concat().as_str(), n), ("5555-55**-****-4444", 1));
    let (texts, n) = conversation(&["3782", "822463", "10005"]);
    assert_eq!((texts.concat().as_str(), n), ("378282*****0005", 1));
}

#[test]
fn an_expiry_and_cvv_sent_after_the_number_are_masked() {
    let (texts, n) = conversation(&["4111 1111 1111 1111", "12/27", "123"]);
    assert_eq!(n, 1);
    assert_eq!(texts, ["4111 11** **** 1111", "**/**", "***"]);
}

#[test]
fn numbers_that_are_not_cards_stay() {
    let texts =
        ["my order is 1234567", "and 8901234567 was the old one", "call +4930123456789", "on 2026-12-03 at 10:15"];
    let (stored, n) = conversation(&texts);
    assert_eq!(n, 0);
    assert_eq!(stored, texts);
    // A long order id cut by the tail window is never read from its middle.
    let long = format!("{} ref {}", "x".repeat(200), "1234567890".repeat(12));
    let (stored, n) = conversation(&[&long, "ok"]);
    assert_eq!((n, stored[0].as_str()), (0, long.as_str()));
}

#[test]
fn switched_off_nothing_is_masked_and_sequence_counts() {
    let mut lines = Vec::new();
    let a = add(&mut lines, line("4111 1111 1111 1111"), false);
    let b = add(&mut lines, line("next"), false);
    assert_eq!((a.seq, b.seq, a.redactions), (1, 2, 0));
    assert_eq!(lines[0].text, "4111 1111 1111 1111");
}

#[test]
fn transcript_ids_are_stable_per_interaction() {
    let i = InteractionId::new();
    assert_eq!(transcript_id(i), transcript_id(i));
    assert_ne!(transcript_id(i), transcript_id(InteractionId::new()));
}

#[test]
fn agents_speak_for_themselves_only() {
    let a = UserId::new();
    let msg = |from, agent| NewMessage { from, agent, text: "hi".into(), sent_at: None };
    assert!(validate(&msg(Sender::Agent, Some(a)), &[a]).is_ok());
    assert!(validate(&msg(Sender::Agent, Some(UserId::new())), &[a]).is_err());
    assert!(validate(&msg(Sender::Agent, None), &[a]).is_err());
    assert!(validate(&msg(Sender::Customer, Some(a)), &[a]).is_err());
    assert!(validate(&NewMessage { text: String::new(), ..msg(Sender::Customer, None) }, &[]).is_err());
}
