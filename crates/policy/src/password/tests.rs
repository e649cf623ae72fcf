//! The password rules against NIST SP 800-63B's examples, patterns, context words and the
//! common-password list.

use super::*;

fn check(pw: &str) -> Result<(), PasswordRejection> {
    check_new_password(pw, &PasswordRules::default(), &[])
}

#[test]
fn common_passwords_are_rejected() {
    assert_eq!(check("password"), Err(PasswordRejection::Common));
    assert_eq!(check("12345678"), Err(PasswordRejection::Common));
    assert_eq!(check("PassWord"), Err(PasswordRejection::Common), "case-insensitive");
    assert_eq!(check("iloveyou"), Err(PasswordRejection::Common));
    assert!(is_common_password("QWERTY123"));
    assert!(!is_common_password("correct horse battery staple"));
}

#[test]
fn lengths_count_characters_without_truncation() {
    assert_eq!(check("short"), Err(PasswordRejection::TooShort { min: 8 }));
    assert_eq!(check(""), Err(PasswordRejection::TooShort { min: 8 }));
    assert!(check("correct horse battery staple").is_ok(), "a long passphrase");
    let sixty_four: String = "tangerine submarine ".repeat(4).chars().take(64).collect();
    assert_eq!(sixty_four.chars().count(), 64);
    assert_eq!(check(&sixty_four), Ok(()));
    let two_hundred: String = "a quiet lighthouse keeper counts 7 gulls; ".repeat(5).chars().take(200).collect();
    assert_eq!(two_hundred.chars().count(), 200);
    assert_eq!(check(&two_hundred), Ok(()));
    // Not one character repeated, which is now refused as repetitive.
    let at_max: String = "a quiet lighthouse keeper counts 7 gulls; ".repeat(7).chars().take(256).collect();
    assert_eq!(at_max.chars().count(), 256);
    assert_eq!(check(&at_max), Ok(()));
    // One character more is refused, even though its first 256 characters are acceptable.
    assert_eq!(check(&format!("{at_max}y")), Err(PasswordRejection::TooLong { max: 256 }));
    // Characters, not bytes: eight four-byte emoji and eight CJK characters are long enough,
    // seven are not. Eight characters zxcvbn has no pattern for are estimated at 10^8 guesses,
    // strength 2, so they pass the length rule and fail the strength rule; ten pass both.
    assert_eq!(check("🔑🎧📞🌙🚲🎻🍋🧭"), Err(PasswordRejection::TooWeak { score: 2 }));
    assert_eq!(check("🔑🎧📞🌙🚲🎻🍋🧭🪁🫖"), Ok(()));
    assert_eq!(check("🔑🎧📞🌙🚲🎻🍋"), Err(PasswordRejection::TooShort { min: 8 }));
    assert_eq!(check("鍵盤電話月光海風"), Err(PasswordRejection::TooWeak { score: 2 }));
    assert_eq!(check("鍵盤電話月光海風雪山"), Ok(()));
    assert_eq!(check("鍵盤電話月光海"), Err(PasswordRejection::TooShort { min: 8 }));
}

#[test]
fn no_composition_rules() {
    assert_eq!(check("tangerine submarine"), Ok(()));
    assert_eq!(check("zzqvmbrlpt"), Ok(()));
    assert_eq!(check("8675309 4242 1717"), Ok(()));
}

#[test]
fn rules_are_configurable_up_but_never_below_the_floors() {
    let strict = PasswordRules::new(12, 64).unwrap();
    assert_eq!(check_new_password("eleven chars", &strict, &[]), Ok(()));
    assert_eq!(check_new_password("ten chars!", &strict, &[]), Err(PasswordRejection::TooShort { min: 12 }));
    assert_eq!(check_new_password(&"y".repeat(65), &strict, &[]), Err(PasswordRejection::TooLong { max: 64 }));
    assert_eq!(PasswordRules::new(6, 256), Err(InvalidPasswordRules::MinimumTooLow(6)));
    assert_eq!(PasswordRules::new(8, 32), Err(InvalidPasswordRules::MaximumTooLow(32)));
    assert_eq!(PasswordRules::new(100, 80), Err(InvalidPasswordRules::MinimumAboveMaximum { min: 100, max: 80 }));
    // Fields set directly below the floors are raised, never honoured.
    let weak = PasswordRules { min_length: 4, max_length: 16 };
    assert_eq!((weak.effective_min(), weak.effective_max()), (8, 64));
    assert_eq!(check_new_password("abcdefg", &weak, &[]), Err(PasswordRejection::TooShort { min: 8 }));
    let sixty_four: String = "violet kettle orbit plum ".repeat(3).chars().take(64).collect();
    assert_eq!(check_new_password(&sixty_four, &weak, &[]), Ok(()));
    let odd = PasswordRules { min_length: 300, max_length: 256 };
    assert_eq!(odd.effective_max(), 300, "a minimum above the maximum leaves one possible length");
}

#[test]
fn context_words_and_the_service_name_are_rejected() {
    let r = PasswordRules::default();
    let context = ["ada.lovelace", "Ada", "Lovelace", "acme-contact", ""];
    assert_eq!(check_new_password("Ada.Lovelace", &r, &context), Err(PasswordRejection::ContextWord));
    assert_eq!(check_new_password("LOVELACE", &r, &context), Err(PasswordRejection::ContextWord));
    assert_eq!(check_new_password("acme-contact", &r, &context), Err(PasswordRejection::ContextWord));
    assert_eq!(check_new_password("CallVault", &r, &[]), Err(PasswordRejection::ContextWord));
    assert_eq!(check_new_password("ｃａｌｌｖａｕｌｔ", &r, &[]), Err(PasswordRejection::ContextWord));
    // Equality, not containment: a passphrase that mentions a name is fine.
    assert_eq!(check_new_password("lovelace wrote the first program", &r, &context), Ok(()));
    // Context words are normalised too.
    assert_eq!(check_new_password("lovelace", &r, &["ＬＯＶＥＬＡＣＥ"]), Err(PasswordRejection::ContextWord));
}

/// A realistic context: login id, first and last name, e-mail address, tenant slug.
const CONTEXT: [&str; 5] = ["ada.lovelace", "Ada", "Lovelace", "ada.lovelace@example.com", "acme-contact"];

/// The patterns alone, without the common list in front of them.
fn pattern_of(pw: &str) -> Option<PasswordRejection> {
    let chars: Vec<char> = normalize(pw).to_lowercase().chars().collect();
    pattern(&chars)
}

#[test]
fn strength_table() {
    use PasswordRejection::*;
    let rules = PasswordRules::default();
    // (password, what the check answers, what the patterns alone see). Many walks and runs are
    // on the common list too, which is checked first.
    let refused: &[(&str, PasswordRejection, Option<PasswordRejection>)] = &[
        ("Summer2026", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("Winter2026!", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("Autumn2025", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("january2024", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("Fall-2023!", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("Dec2025!!", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("2026Spring", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("SEPTEMBER 99", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("!march_2031", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("ｓｕｍｍｅｒ２０２６", SeasonOrMonthAndYear, Some(SeasonOrMonthAndYear)),
        ("qwertyuiop", Common, Some(KeyboardWalk)),
        ("asdfghjkl;", KeyboardWalk, Some(KeyboardWalk)),
        ("1qaz2wsx3edc", Common, Some(KeyboardWalk)),
        ("zxcvbnm,./", KeyboardWalk, Some(KeyboardWalk)),
        ("qazwsxedc", Common, Some(KeyboardWalk)),
        ("!QAZ2wsx", Common, Some(KeyboardWalk)),
        ("poiuytrewq", Common, Some(KeyboardWalk)),
        ("!QAZ2wsx#EDC", KeyboardWalk, Some(KeyboardWalk)),
        ("ytrewq!!", KeyboardWalk, Some(KeyboardWalk)),
        ("mnbvcxz123", KeyboardWalk, Some(KeyboardWalk)),
        ("/*-+96321", KeyboardWalk, Some(KeyboardWalk)),
        ("aaaaaaaaa", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("111111111", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("abcabcabc", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("ab12ab12ab12", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("abcdefghi", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("987654321", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("123456789a", Common, Some(RepeatedOrSequential)),
        ("zzzzzzzz!!", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("stuvwxyz", RepeatedOrSequential, Some(RepeatedOrSequential)),
        ("Lovelace2026!", ContextWord, None),
        ("ada.lovelace1", ContextWord, None),
        ("acme-contact99", ContextWord, None),
        ("callvault123!", ContextWord, None),
        ("MyCallvault!", ContextWord, None),
        ("LOVELACE-ada-88", ContextWord, None),
        ("example-lovelace", ContextWord, None),
        ("ada.lovelace@example.com", ContextWord, None),
        ("P@ssw0rd2026", TooWeak { score: 1 }, None),
        ("Password123!", TooWeak { score: 1 }, None),
        ("letmein2026", TooWeak { score: 1 }, None),
        ("mustang1967", TooWeak { score: 1 }, None),
        ("dragonfly22", TooWeak { score: 1 }, None),
        ("blue house", TooWeak { score: 2 }, None),
        ("passwordpassword", TooWeak { score: 0 }, None),
        ("lovelace lovelace", ContextWord, None),
    ];
    assert!(refused.len() >= 30);
    for (pw, expected, seen) in refused {
        assert_eq!(check_new_password(pw, &rules, &CONTEXT), Err(*expected), "{pw}");
        assert_eq!(pattern_of(pw), *seen, "{pw}: the patterns alone");
        let message = expected.to_string();
        assert!(!message.to_lowercase().contains(&pw.to_lowercase()), "{message}");
    }
    // Every new variant is exercised through the whole check.
    for variant in [SeasonOrMonthAndYear, KeyboardWalk, RepeatedOrSequential, ContextWord] {
        assert!(refused.iter().any(|(_, e, _)| *e == variant), "{variant:?}");
    }
    assert!(refused.iter().any(|(_, e, _)| matches!(e, TooWeak { .. })));

    let accepted = [
        "correct horse battery staple",
        "tangerine submarine lighthouse",
        "violet-kettle-orbit-97-plum",
        "marble osprey fjord cinnamon",
        "walrus tundra saxophone",
        "pickle nebula trombone",
        "maple drift canyon echo",
        "Sprinkle7Cobalt&Harbor",
        "seven purple giraffes dance",
        "window ladder sunrise pepper",
        "Imaginative-Say-Shoulder-Dish-0",
        "lovelace wrote the first program",
        "鍵盤電話月光海風雪山",
    ];
    for pw in accepted {
        assert_eq!(check_new_password(pw, &rules, &CONTEXT), Ok(()), "{pw}");
    }
}

#[test]
fn patterns_leave_ordinary_passphrases_alone() {
    for pw in [
        "summer in the old harbour",
        "may the fourth be with you",
        "correct horse battery staple",
        "qwerty is a keyboard layout",
        "we were there",
        "abc of gardening 2026",
        "a quiet lighthouse keeper counts 7 gulls",
    ] {
        assert_eq!(pattern_of(pw), None, "{pw}");
    }
    // Checked in the order of the variants: a repeated walk is a walk, a digit-row run a sequence.
    assert_eq!(pattern_of("qweqweqwe"), Some(PasswordRejection::KeyboardWalk));
    assert_eq!(pattern_of("1234567890"), Some(PasswordRejection::RepeatedOrSequential));
    // A season without a year, or a year without a season, is not this pattern.
    assert_eq!(pattern_of("summertime"), None);
    assert_eq!(pattern_of("december!!"), None);
    assert_eq!(pattern_of("Summer1234"), None);
}

#[test]
fn the_rules_text_is_one_paragraph_naming_every_rule() {
    let text = password_rules_text();
    assert!(!text.contains('\n') && !text.contains("  "), "{text}");
    for rule in ["NIST SP 800-63B", "NFKC", "30,000", "season", "keyboard", "repeated", "e-mail", "zxcvbn"] {
        assert!(text.contains(rule), "{rule}");
    }
}

#[test]
fn context_words_include_email_and_login_parts() {
    let words = ContextWords::new(&CONTEXT);
    for w in ["ada.lovelace", "lovelace", "ada.lovelace@example.com", "example", "acme-contact", "acme", "contact"] {
        assert!(words.contained.iter().any(|c| c == w), "{w}");
    }
    // Parts shorter than four characters are only refused as the whole password.
    assert!(!words.contained.iter().any(|c| c == "ada" || c == "com"));
    assert!(words.whole.iter().any(|c| c == "ada"));
    assert!(words.all().any(|w| w == SERVICE_NAME));
}

#[test]
fn nfkc_normalisation() {
    // Fullwidth letters and ligatures normalise to ASCII; composed and decomposed accents agree.
    assert_eq!(*normalize("ｐａｓｓ"), "pass");
    assert_eq!(*normalize("ﬁne"), "fine");
    assert_eq!(*normalize("cafe\u{301}"), *normalize("caf\u{e9}"));
    assert_eq!(check("ｐａｓｓｗｏｒｄ"), Err(PasswordRejection::Common));
    // Lengths count the normalised form: "rivière" with a combining grave accent is eight
    // scalar values as typed and seven after NFKC, so it is too short.
    let decomposed = "rivie\u{300}re";
    assert_eq!(decomposed.chars().count(), 8);
    assert_eq!(check(decomposed), Err(PasswordRejection::TooShort { min: 8 }));
}

#[test]
fn messages_never_echo_the_password() {
    let secret = "hunter2 hunter2";
    let long = "hunter2".repeat(40);
    let cases = [
        ("hunter2", PasswordRules::default()),
        (secret, PasswordRules { min_length: 40, max_length: 64 }),
        (long.as_str(), PasswordRules::default()),
    ];
    for (pw, rules) in cases {
        let e = check_new_password(pw, &rules, &[pw]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
    }
    for e in [PasswordRejection::Common, PasswordRejection::ContextWord] {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(check_new_password(secret, &PasswordRules::default(), &[secret]), Err(PasswordRejection::ContextWord));
}

#[test]
fn the_shipped_list_is_clean_and_large() {
    let lines: Vec<&str> = COMMON_LIST.lines().collect();
    assert_eq!(common_password_count(), 30_000);
    assert_eq!(lines.len(), 30_000, "no empty lines, no duplicates");
    assert!(lines.iter().all(|l| !l.is_empty() && *l == l.to_lowercase() && l.trim() == *l));
    assert!(lines.iter().all(|l| *l == normalize(l).as_str()), "entries are in NFKC already");
    let at_least_8 = lines.iter().filter(|l| l.chars().count() >= 8).count();
    assert!(at_least_8 >= 10_000, "{at_least_8} entries of 8 characters or more");
}
