//! Every Wycheproof AES-GCM vector through callvault's AEAD layer: vectors with a 256-bit key,
//! 96-bit nonce and 128-bit tag must open (valid) or fail (invalid) exactly as expected and
//! valid ones must seal to the same bytes; every other shape must be refused by the layer,
//! which accepts nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

use callvault_crypto::aead::{AeadError, Aes256Gcm};
use wycheproof::TestResult;
use wycheproof::aead::{TestName, TestSet};

#[test]
fn all_wycheproof_aes_gcm_vectors() {
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let (mut checked, mut refused_shape, mut invalid_rejected) = (0usize, 0usize, 0usize);
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let key = Aes256Gcm::new(&t.key);
            if group.key_size != 256 {
                assert_eq!(key.err(), Some(AeadError::KeyLength), "tc {id}: a {}-bit key was accepted", group.key_size);
                refused_shape += 1;
                continue;
            }
            let key = key.unwrap();
            let mut sealed = t.ct.to_vec();
            sealed.extend_from_slice(&t.tag);
            if group.nonce_size != 96 {
                let e = key.open_in_place(&t.nonce, &t.aad, &mut sealed).err();
                assert_eq!(e, Some(AeadError::NonceLength), "tc {id}: a {}-bit nonce was accepted", group.nonce_size);
                refused_shape += 1;
                continue;
            }
            if group.tag_size != 128 {
                // A short tag never authenticates: the layer reads the last 16 bytes as the tag.
                assert!(key.open_in_place(&t.nonce, &t.aad, &mut sealed).is_err(), "tc {id}: short tag accepted");
                refused_shape += 1;
                continue;
            }
            let opened = key.open_in_place(&t.nonce, &t.aad, &mut sealed).map(|p| p.to_vec());
            match t.result {
                TestResult::Valid | TestResult::Acceptable => {
                    assert_eq!(opened.as_deref().ok(), Some(&t.pt[..]), "tc {id} ({}) did not open", t.comment);
                    let mut buf = t.pt.to_vec();
                    key.seal_in_place(&t.nonce, &t.aad, &mut buf).unwrap();
                    assert_eq!(&buf[..t.ct.len()], &t.ct[..], "tc {id}: ciphertext differs");
                    assert_eq!(&buf[t.ct.len()..], &t.tag[..], "tc {id}: tag differs");
                }
                TestResult::Invalid => {
                    assert!(opened.is_err(), "tc {id} ({}) opened but is invalid", t.comment);
                    invalid_rejected += 1;
                }
            }
            checked += 1;
        }
    }
    let total: usize = set.test_groups.iter().map(|g| g.tests.len()).sum();
    assert_eq!(checked + refused_shape, total);
    assert!(checked >= 60 && invalid_rejected >= 20, "checked {checked}, invalid {invalid_rejected}");
    println!(
        "wycheproof aes_gcm: {total} vectors, {checked} AES-256/96-bit nonce/128-bit tag checked ({invalid_rejected} invalid rejected), {refused_shape} other shapes refused"
    );
}
