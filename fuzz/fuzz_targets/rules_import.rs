//! Calling-rule files from tenants: parsing never panics; accepted rules are well formed and
//! every refusal names a line of the input.
#![no_main]

use callvault_policy::rules::RuleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match RuleSet::parse(text) {
        Ok(rules) => {
            for j in rules.jurisdictions.values() {
                for w in j.hours.days.iter().flatten() {
                    assert!(w.start < w.end && w.end <= 1440);
                }
                let _ = RuleSet::describe(j);
            }
        }
        Err(errors) => {
            let lines = text.lines().count().max(1);
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| e.line >= 1 && e.line <= lines), "{errors:?}");
        }
    }
});
