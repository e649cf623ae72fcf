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
    // The reading itself is `pan::conversation`'s (tested there); here, that an append uses it.
    let (texts, n) = conversation(&["sure, it is 4111 1111", "1111 1111 thanks", "12/27"]);
    assert_eq!(n, 1);
    assert_eq!(texts, ["sure, it is 4111 11**", "**** 1111 thanks", "**/**"]);
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
