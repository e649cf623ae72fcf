//! Card numbers split over the messages of a conversation (chat, SMS): a new message is read
//! together with the end of the ones before it, joined by single spaces as a reader reads them,
//! so `4111 1111` then `1111 1111` is one number, masked in both messages.

use super::{is_sep, mask_beside_masked, redact};

/// Bytes of the messages before a new one that are read with it.
pub const TAIL: usize = 96;

/// Masks the card numbers in the last of `messages` (oldest first, the earlier ones already
/// redacted), reading it with up to [`TAIL`] bytes of the ones before: a number found across a
/// join is masked in both messages, and an expiry date or CVV after a number masked earlier is
/// masked too. Every message keeps its length and stays UTF-8 if it was. Returns the numbers
/// masked and whether an earlier message changed.
pub fn redact_conversation(messages: &mut [Vec<u8>]) -> (usize, bool) {
    let Some(last) = messages.len().checked_sub(1) else { return (0, false) };
    // (message, start, end) of each piece read, oldest first.
    let mut pieces = Vec::new();
    let mut budget = TAIL;
    for i in (0..last).rev() {
        if budget == 0 {
            break;
        }
        let text = &messages[i];
        let start = tail_start(text, text.len().saturating_sub(budget));
        budget = budget.saturating_sub(text.len() - start + 1);
        pieces.push((i, start, text.len()));
    }
    pieces.reverse();
    pieces.push((last, 0, messages[last].len()));
    let mut joined = Vec::new();
    let mut spans = Vec::new();
    for &(i, start, end) in &pieces {
        let text = &messages[i];
        // Separators at a join are dropped: `5555-5555-` and `5555-4444` read as one run.
        let (mut s, mut e) = (start, end);
        while s < e && is_sep(text[s]) {
            s += 1;
        }
        while e > s && is_sep(text[e - 1]) {
            e -= 1;
        }
        if s == e {
            continue;
        }
        if !joined.is_empty() {
            joined.push(b' ');
        }
        spans.push((i, s, joined.len(), e - s));
        joined.extend_from_slice(&text[s..e]);
    }
    let found = redact(&mut joined);
    mask_beside_masked(&mut joined);
    let mut earlier = false;
    for (i, s, at, len) in spans {
        let masked = &joined[at..at + len];
        if messages[i][s..s + len] != *masked {
            earlier |= i != last;
            messages[i][s..s + len].copy_from_slice(masked);
        }
    }
    (found, earlier)
}

/// Where the read window of an earlier message starts, at or after `from`: never inside a UTF-8
/// character, nor inside a number the window cut (its start — a `+` of a phone number, say —
/// would be lost and its end read as a number of its own).
fn tail_start(text: &[u8], mut from: usize) -> usize {
    let numeric = |b: u8| b.is_ascii_digit() || is_sep(b) || b == b'+';
    while from < text.len()
        && ((text[from] & 0xC0) == 0x80 || (from > 0 && numeric(text[from]) && numeric(text[from - 1])))
    {
        from += 1;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(texts: &[&str]) -> (Vec<String>, usize) {
        let mut messages: Vec<Vec<u8>> = Vec::new();
        let mut masked = 0;
        for t in texts {
            messages.push(t.as_bytes().to_vec());
            masked += redact_conversation(&mut messages).0;
        }
        (messages.into_iter().map(|m| String::from_utf8(m).unwrap()).collect(), masked)
    }

    #[test]
    fn a_number_split_over_messages_is_masked_in_each() {
        let (texts, n) = conversation(&["sure, it is 4111 1111", "1111 1111 thanks"]);
        assert_eq!(
            (texts.as_slice(), n),
            (&["sure, it is 4111 11**".to_owned(), "**** 1111 thanks".to_owned()][..], 1)
        );
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
        assert_eq!((stored.as_slice(), n), (&texts.map(String::from)[..], 0));
        // A long order id cut by the window is never read from its middle; nor is a character.
        let long = format!("{} ref {}", "ä".repeat(100), "1234567890".repeat(12));
        let (stored, n) = conversation(&[&long, "ok"]);
        assert_eq!((n, stored[0].as_str()), (0, long.as_str()));
        let (stored, _) = conversation(&[&"é".repeat(97), "4111 1111 1111 1111"]);
        assert_eq!(stored[0], "é".repeat(97));
    }
}
