//! Card numbers (PANs) in text, found and masked before anything is stored (PCI DSS 4.0.1
//! Req. 3.4.1: at most the first six and the last four digits may be kept readable).
//!
//! A candidate is a run of digits in which single spaces or dashes may separate groups; every
//! window of whole groups holding 13 to 19 digits is tried, so a number written `4111 1111 1111
//! 1111 12/27` or glued into a word or a URL is found, while a longer unbroken digit string (an
//! order id) is not a card number. A window is a PAN when its digits pass the Luhn check and lie
//! in an issuer range of a card scheme with that length; a run right after a `+` is a phone
//! number. The PAN keeps its first six and last four digits and its separators (the text keeps
//! its length); an expiry date (`MM/YY`, `MM-YYYY`) or a three- or four-digit group (a CVV)
//! within 20 characters of it is masked whole.
//!
//! [`redact`] works on a complete text; [`Redactor`] on a stream of any size, holding back only
//! the tail that a later byte could still change, so a number split over two chunks, or over two
//! messages of one conversation, is found.

use std::ops::Range;

pub mod conversation;
pub mod mime;

/// Card number lengths, most common first: of several readings of one run, the first wins.
const LENGTHS: [usize; 7] = [16, 15, 19, 14, 13, 17, 18];

/// Characters around a PAN in which an expiry date or a CVV is masked too.
pub const CONTEXT: usize = 20;

/// The card schemes whose issuer ranges are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Visa: 4, 13, 16 or 19 digits.
    Visa,
    /// Mastercard: 51–55 and 2221–2720, 16 digits.
    Mastercard,
    /// American Express: 34 and 37, 15 digits.
    Amex,
    /// Discover: 6011, 622126–622925, 644–649 and 65, 16–19 digits.
    Discover,
    /// JCB: 3528–3589, 16–19 digits.
    Jcb,
    /// Diners Club: 300–305, 3095, 36 and 38–39, 14–19 digits.
    Diners,
    /// UnionPay: 62, 16–19 digits.
    UnionPay,
    /// MIR: 2200–2204, 16–19 digits.
    Mir,
}

/// The value of the first `n` digits.
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits.iter().take(n).fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// The scheme whose issuer range and length `digits` (ASCII digits only) fit, if any.
pub fn scheme(digits: &[u8]) -> Option<Scheme> {
    let len = digits.len();
    if !(13..=19).contains(&len) {
        return None;
    }
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    let long = (16..=19).contains(&len);
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        Some(Scheme::Visa)
    } else if len == 16 && ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) {
        Some(Scheme::Mastercard)
    } else if len == 15 && matches!(p2, 34 | 37) {
        Some(Scheme::Amex)
    } else if long && (p4 == 6011 || (622_126..=622_925).contains(&p6) || (644..=649).contains(&p3) || p2 == 65) {
        Some(Scheme::Discover)
    } else if long && (3528..=3589).contains(&p4) {
        Some(Scheme::Jcb)
    } else if len >= 14 && ((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || matches!(p2, 38 | 39)) {
        Some(Scheme::Diners)
    } else if long && p2 == 62 {
        Some(Scheme::UnionPay)
    } else if long && (2200..=2204).contains(&p4) {
        Some(Scheme::Mir)
    } else {
        None
    }
}

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if !i.is_multiple_of(2) {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// What [`find`] found: the PANs and the expiry dates and CVVs next to them, as byte ranges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// The card numbers (first digit to last digit, separators included).
    pub pans: Vec<Range<usize>>,
    /// Expiry dates and CVVs within [`CONTEXT`] characters of a PAN.
    pub context: Vec<Range<usize>>,
}

/// The digit groups of the run starting at `start` (a digit): `(group ranges, end of the run)`.
fn run_at(text: &[u8], start: usize, groups: &mut Vec<Range<usize>>) -> usize {
    groups.clear();
    let mut i = start;
    loop {
        let g = i;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(g..i);
        if i + 1 < text.len() && is_sep(text[i]) && text[i + 1].is_ascii_digit() {
            i += 1;
        } else {
            return i;
        }
    }
}

/// The PANs in `text` and the expiry dates and CVVs next to them.
pub fn find(text: &[u8]) -> Found {
    let mut found = Found::default();
    let mut groups = Vec::new();
    let mut digits = Vec::with_capacity(19);
    let mut i = 0;
    while let Some(off) = text[i..].iter().position(u8::is_ascii_digit) {
        let start = i + off;
        let end = run_at(text, start, &mut groups);
        i = end;
        let mut total: usize = groups.iter().map(|g| g.len()).sum();
        if total < 13 {
            continue;
        }
        let phone = start > 0 && text[start - 1] == b'+';
        let mut a = 0;
        while a < groups.len() && total >= 13 {
            // Of the windows from `a` that are PANs, the one of the most common length: a CVV
            // written right after a 16-digit number is then masked whole as context, never kept
            // as "the last four", and a 13-digit prefix of a 16-digit number is not taken for it.
            let mut hit: Option<(usize, usize)> = None;
            let mut n = 0;
            digits.clear();
            for (b, g) in groups.iter().enumerate().skip(a) {
                n += g.len();
                if n > 19 {
                    break;
                }
                digits.extend_from_slice(&text[g.clone()]);
                if n >= 13 && !(phone && a == 0) && luhn(&digits) && scheme(&digits).is_some() {
                    let rank = LENGTHS.iter().position(|&l| l == n).unwrap_or(LENGTHS.len());
                    if hit.is_none_or(|(r, _)| rank < r) {
                        hit = Some((rank, b));
                    }
                }
            }
            let hit = hit.map(|(_, b)| b);
            match hit {
                Some(b) => {
                    found.pans.push(groups[a].start..groups[b].end);
                    total -= groups[a..=b].iter().map(|g| g.len()).sum::<usize>();
                    a = b + 1;
                }
                None => {
                    total -= groups[a].len();
                    a += 1;
                }
            }
        }
    }
    if !found.pans.is_empty() {
        found.context = context(text, &found.pans);
    }
    found
}

/// Expiry dates and three- or four-digit groups within [`CONTEXT`] bytes of a PAN.
fn context(text: &[u8], pans: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for pan in pans {
        let lo = pan.start.saturating_sub(CONTEXT);
        let hi = (pan.end + CONTEXT).min(text.len());
        let mut i = lo;
        // Start at a digit that begins a number (not the middle of one cut by the window).
        while i > 0 && i < hi && text[i].is_ascii_digit() && text[i - 1].is_ascii_digit() {
            i += 1;
        }
        while i < hi {
            if !text[i].is_ascii_digit() || pans.iter().any(|p| p.contains(&i)) {
                i += 1;
                continue;
            }
            let s = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            let first = s..i;
            // An expiry: MM, a slash or dash, YY or YYYY.
            if first.len() == 2
                && (1..=12).contains(&prefix(&text[first.clone()], 2))
                && i + 2 < text.len()
                && (text[i] == b'/' || text[i] == b'-')
                && text[i + 1].is_ascii_digit()
            {
                let y = i + 1;
                let mut j = y;
                while j < text.len() && text[j].is_ascii_digit() {
                    j += 1;
                }
                if matches!(j - y, 2 | 4) {
                    out.push(s..j);
                    i = j;
                    continue;
                }
            }
            if matches!(first.len(), 3 | 4) && !out.iter().any(|r| r.contains(&s)) {
                out.push(first);
            }
        }
    }
    out.sort_by_key(|r| r.start);
    out.dedup();
    out
}

/// Masks what [`find`] found in place: a PAN keeps its first six and last four digits, an expiry
/// or CVV keeps none; separators and length stay. Returns the number of PANs masked.
pub fn mask(text: &mut [u8], found: &Found) -> usize {
    for pan in &found.pans {
        let n = text[pan.clone()].iter().filter(|b| b.is_ascii_digit()).count();
        let mut seen = 0;
        for b in &mut text[pan.clone()] {
            if b.is_ascii_digit() {
                if seen >= 6 && seen < n - 4 {
                    *b = b'*';
                }
                seen += 1;
            }
        }
    }
    for r in &found.context {
        for b in &mut text[r.clone()] {
            if b.is_ascii_digit() {
                *b = b'*';
            }
        }
    }
    found.pans.len()
}

/// Masks the expiry dates and CVVs within [`CONTEXT`] characters of a card number masked
/// earlier (`411111******1111`, as [`mask`] leaves it): a conversation's next message may carry
/// them after the number was masked in the one before. Returns how many were masked.
pub fn mask_beside_masked(text: &mut [u8]) -> usize {
    let pan_char = |b: u8| b.is_ascii_digit() || b == b'*';
    let mut pans = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].iter().position(|&b| b == b'*') {
        let star = i + off;
        let mut s = star;
        while s > 0 && (pan_char(text[s - 1]) || (s >= 2 && is_sep(text[s - 1]) && pan_char(text[s - 2]))) {
            s -= 1;
        }
        let mut e = star;
        while e < text.len() && (pan_char(text[e]) || (e + 1 < text.len() && is_sep(text[e]) && pan_char(text[e + 1])))
        {
            e += 1;
        }
        // The run's groups; a masked number is some consecutive groups of it (a date or CVV
        // written one space after it joins the run).
        let mut groups = Vec::new();
        let mut g = s;
        for (k, &b) in text[s..e].iter().enumerate() {
            if is_sep(b) {
                groups.push(g..s + k);
                g = s + k + 1;
            }
        }
        groups.push(g..e);
        'found: for a in 0..groups.len() {
            for b in a..groups.len() {
                let chars: Vec<u8> =
                    text[groups[a].start..groups[b].end].iter().copied().filter(|&c| !is_sep(c)).collect();
                let n = chars.len();
                if (13..=19).contains(&n)
                    && chars[..6].iter().all(u8::is_ascii_digit)
                    && chars[n - 4..].iter().all(u8::is_ascii_digit)
                    && chars[6..n - 4].iter().all(|&c| c == b'*')
                {
                    pans.push(groups[a].start..groups[b].end);
                    break 'found;
                }
            }
        }
        i = e;
    }
    if pans.is_empty() {
        return 0;
    }
    let found = Found { pans: Vec::new(), context: context(text, &pans) };
    mask(text, &found);
    found.context.len()
}

/// Finds and masks the PANs of a complete text in place; returns how many were masked.
pub fn redact(text: &mut [u8]) -> usize {
    // Most text has no run of 13 digits at all: one cheap pass decides.
    let found = find(text);
    if found.pans.is_empty() { 0 } else { mask(text, &found) }
}

/// Non-digit bytes in a row after which nothing before can change: runs end at two non-digits,
/// and an expiry or CVV counts only within [`CONTEXT`] of its PAN.
const QUIET: usize = CONTEXT + 4;

/// Redacts a stream in one pass: bytes are given as they come and handed back masked, except
/// a tail a later byte could still change (up to the last [`QUIET`] non-digit bytes in a row; at
/// most `limit` bytes, after which the tail is cut at a run boundary).
#[derive(Debug)]
pub struct Redactor {
    pending: Vec<u8>,
    limit: usize,
    redactions: usize,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(1 << 20)
    }
}

impl Redactor {
    /// A redactor holding back at most `limit` bytes (at least 4 KiB).
    pub fn new(limit: usize) -> Redactor {
        Redactor { pending: Vec::new(), limit: limit.max(4096), redactions: 0 }
    }

    /// A redactor that continues a conversation: `tail` is the end of what came before (its
    /// last characters, already redacted), so a card number split between it and what comes
    /// next is found. [`Redactor::finish`] then hands back the tail too, masked where a PAN
    /// reached into it.
    pub fn continuing(tail: &[u8]) -> Redactor {
        let mut r = Redactor::default();
        r.pending.extend_from_slice(tail);
        r
    }

    /// PANs masked so far.
    pub fn redactions(&self) -> usize {
        self.redactions
    }

    /// Takes `input`; appends to `out` every byte that is final.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(input);
        if self.pending.len() < 4096 {
            return;
        }
        let cut = match quiet_cut(&self.pending) {
            Some(cut) => cut,
            None if self.pending.len() >= self.limit => run_cut(&self.pending),
            None => return,
        };
        if cut == 0 {
            return;
        }
        self.redactions += redact(&mut self.pending[..cut]);
        out.extend_from_slice(&self.pending[..cut]);
        self.pending.drain(..cut);
    }

    /// Ends the stream: appends the rest, masked, to `out`; returns the PANs masked in all.
    pub fn finish(mut self, out: &mut Vec<u8>) -> usize {
        self.redactions += redact(&mut self.pending);
        out.extend_from_slice(&self.pending);
        self.redactions
    }
}

/// The end of the last stretch of [`QUIET`] non-digit bytes, minus half of it (so what follows
/// the cut starts with non-digits too), if there is one.
fn quiet_cut(buf: &[u8]) -> Option<usize> {
    let mut quiet = 0;
    for i in (0..buf.len()).rev() {
        if buf[i].is_ascii_digit() {
            quiet = 0;
        } else {
            quiet += 1;
            if quiet == QUIET {
                return Some(i + QUIET / 2);
            }
        }
    }
    None
}

/// A cut after the last two non-digit bytes in a row (no run crosses it), else near the end.
fn run_cut(buf: &[u8]) -> usize {
    (1..buf.len())
        .rev()
        .find(|&i| !buf[i].is_ascii_digit() && !buf[i - 1].is_ascii_digit())
        .unwrap_or(buf.len().saturating_sub(64))
}

#[cfg(test)]
mod tests;
