//! Login ids and passwords as a client can send them: building an identifier key, its look and a
//! password check never panic; an accepted key is stable (its own key again), single-line, and a
//! password's rejection never quotes it.
#![no_main]

use callvault_policy::identifiers::{identifier_key, look};
use callvault_policy::password::{PasswordRules, check_new_password};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (login, password) = text.split_once('\u{0}').unwrap_or((text, text));
    if let Ok(key) = identifier_key(login) {
        assert!(!key.key.chars().any(char::is_control));
        let again = identifier_key(&key.key).expect("a key is itself an identifier");
        assert_eq!(again.key, key.key);
        assert_eq!(again.skeleton, key.skeleton);
    }
    let _ = look(login);
    if let Err(e) = check_new_password(password, &PasswordRules::default(), &[login]) {
        let message = e.to_string();
        assert!(password.chars().count() < 12 || !message.contains(password));
    }
});
