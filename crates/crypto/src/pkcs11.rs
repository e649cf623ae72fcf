//! A KEK that never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests): an AES-256 secret key
//! object with CKA_SENSITIVE set and CKA_EXTRACTABLE cleared, used through CKM_AES_GCM. The
//! wrapped form is `"CVP1" ‖ 12-byte IV ‖ ciphertext ‖ tag`.

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::digest::random_array;
use crate::kek::{KekError, KeyEncryptionKey};
use crate::secret::SecretBytes;

const MAGIC: &[u8; 4] = b"CVP1";

/// Where the KEK lives on the token.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: std::path::PathBuf,
    /// The token label.
    pub token_label: String,
    /// The user PIN.
    pub pin: SecretBytes,
    /// The key object's label.
    pub key_label: String,
    /// Generate the key on the token when it does not exist yet.
    pub create_if_missing: bool,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"***")
            .field("key_label", &self.key_label)
            .finish()
    }
}

/// The PKCS#11 KEK provider.
pub struct Pkcs11Kek {
    session: Mutex<Session>,
    key: ObjectHandle,
    label: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> KekError {
    KekError::File { path: "pkcs11".into(), message: format!("{what}: {e}") }
}

impl Pkcs11Kek {
    /// Opens the token, logs in and finds (or generates) the key. Returns whether it was created.
    pub fn open(config: &Pkcs11Config) -> Result<(Pkcs11Kek, bool), KekError> {
        let ctx = Pkcs11::new(&config.module).map_err(|e| err("cannot load the PKCS#11 module", e))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| err("cannot initialise the PKCS#11 module", e))?;
        let mut found = None;
        for slot in ctx.get_slots_with_token().map_err(|e| err("cannot list slots", e))? {
            let info = ctx.get_token_info(slot).map_err(|e| err("cannot read token info", e))?;
            if info.label().trim_end() == config.token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| err("no token", format!("label `{}` not found", config.token_label)))?;
        let session = ctx.open_rw_session(slot).map_err(|e| err("cannot open a session", e))?;
        let pin = std::str::from_utf8(config.pin.expose()).map_err(|_| err("PIN", "not UTF-8"))?;
        session
            .login(UserType::User, Some(&AuthPin::from(pin)))
            .map_err(|_| err("login", "the token refused the PIN"))?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
        ];
        let existing = session.find_objects(&template).map_err(|e| err("cannot search keys", e))?;
        let (key, created) = match existing.as_slice() {
            [key] => (*key, false),
            [] if config.create_if_missing => {
                let attrs = [
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(config.key_label.as_bytes().to_vec()),
                ];
                (
                    session
                        .generate_key(&Mechanism::AesKeyGen, &attrs)
                        .map_err(|e| err("cannot generate the key", e))?,
                    true,
                )
            }
            [] => return Err(err("no key", format!("label `{}` not found on the token", config.key_label))),
            _ => return Err(err("ambiguous key", format!("several keys labelled `{}`", config.key_label))),
        };
        let label = format!("pkcs11:token={};object={}", config.token_label, config.key_label);
        Ok((Pkcs11Kek { session: Mutex::new(session), key, label }, created))
    }

    /// Whether the token reports the key as sensitive and never extractable.
    pub fn key_is_non_extractable(&self) -> Result<bool, KekError> {
        let session = self.session.lock().map_err(|_| KekError::Wrap)?;
        let attrs = session
            .get_attributes(
                self.key,
                &[cryptoki::object::AttributeType::Sensitive, cryptoki::object::AttributeType::Extractable],
            )
            .map_err(|e| err("cannot read attributes", e))?;
        let mut sensitive = false;
        let mut extractable = true;
        for a in attrs {
            match a {
                Attribute::Sensitive(v) => sensitive = v,
                Attribute::Extractable(v) => extractable = v,
                _ => {}
            }
        }
        Ok(sensitive && !extractable)
    }
}

impl KeyEncryptionKey for Pkcs11Kek {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut iv: [u8; 12] = random_array();
        let iv_copy = iv;
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(|_| KekError::Wrap)?;
        let session = self.session.lock().map_err(|_| KekError::Wrap)?;
        let ct = session.encrypt(&Mechanism::AesGcm(params), self.key, plaintext).map_err(|_| KekError::Wrap)?;
        let mut out = Vec::with_capacity(4 + 12 + ct.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&iv_copy);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KekError> {
        if wrapped.len() < 4 + 12 + 16 || &wrapped[..4] != MAGIC {
            return Err(KekError::Unwrap);
        }
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&wrapped[4..16]);
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(|_| KekError::Unwrap)?;
        let session = self.session.lock().map_err(|_| KekError::Unwrap)?;
        let plain =
            session.decrypt(&Mechanism::AesGcm(params), self.key, &wrapped[16..]).map_err(|_| KekError::Unwrap)?;
        Ok(SecretBytes::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SoftHSM2 token in a temporary directory, or `None` (with a notice) when SoftHSM2 is not
    /// installed. CI installs it and sets CALLVAULT_REQUIRE_ALL_BACKENDS=1, which turns a skip
    /// into a failure.
    fn softhsm() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let module = std::path::PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
        let util = which("softhsm2-util");
        if !module.exists() || util.is_none() {
            assert!(
                std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_err(),
                "SoftHSM2 is required (apt-get install -y softhsm2)"
            );
            eprintln!("SKIP: SoftHSM2 not installed (apt-get install -y softhsm2); PKCS#11 test not run");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("cv-softhsm-{}", hex::encode(random_array::<6>())));
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\n", dir.join("tokens").display()),
        )
        .unwrap();
        let status = std::process::Command::new(util.unwrap())
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", "callvault-test", "--pin", "1234", "--so-pin", "5678"])
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        Some((module, dir))
    }

    fn which(name: &str) -> Option<std::path::PathBuf> {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(name)).find(|p| p.exists())
    }

    #[test]
    fn softhsm_key_wraps_never_leaves_and_survives_reopen() {
        if std::env::var_os("SOFTHSM2_CONF").is_none() {
            // Re-run this test in a child process with SOFTHSM2_CONF pointing at a fresh token
            // (the module reads the variable when it loads; this crate has no unsafe set_var).
            let Some((_, dir)) = softhsm() else { return };
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
                .args(["--exact", "pkcs11::tests::softhsm_key_wraps_never_leaves_and_survives_reopen", "--nocapture"])
                .output()
                .unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            assert!(
                out.status.success(),
                "child failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
            return;
        }
        let config = Pkcs11Config {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "callvault-test".into(),
            pin: SecretBytes::new(b"1234".to_vec()),
            key_label: "callvault-kek".into(),
            create_if_missing: true,
        };
        assert!(!format!("{config:?}").contains("1234"));
        let (kek, created) = Pkcs11Kek::open(&config).unwrap();
        assert!(created);
        assert!(kek.key_is_non_extractable().unwrap());
        let wrapped = kek.wrap(b"tenant|v1", b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(kek.unwrap(b"tenant|v1", &wrapped).unwrap().expose(), b"0123456789abcdef0123456789abcdef");
        assert!(kek.unwrap(b"tenant|v2", &wrapped).is_err());
        let mut t = wrapped.clone();
        t[20] ^= 1;
        assert!(kek.unwrap(b"tenant|v1", &t).is_err());
        // A data key generated under the token's KEK reopens after the session is closed.
        let (dk, dk_wrapped) = crate::envelope::DataKey::generate(&kek, &[3; 16], 1).unwrap();
        drop(kek);
        let bad_pin =
            Pkcs11Config { pin: SecretBytes::new(b"0000".to_vec()), create_if_missing: false, ..config.clone() };
        let e = Pkcs11Kek::open(&bad_pin).err().unwrap().to_string();
        assert!(e.contains("refused the PIN") && !e.contains("0000"), "{e}");
        let (again, created) = Pkcs11Kek::open(&Pkcs11Config { create_if_missing: false, ..config }).unwrap();
        assert!(!created);
        let dk2 = crate::envelope::DataKey::unwrap(&again, &[3; 16], 1, &dk_wrapped).unwrap();
        let ctx = crate::envelope::ObjectContext { tenant: [3; 16], object: [4; 16], class: "voice" };
        let (blob, ck) = crate::envelope::seal_blob(&dk, &ctx, b"hello").unwrap();
        assert_eq!(crate::envelope::open_blob(Some(&dk2), &ctx, &blob, Some(&ck)).unwrap(), b"hello");
    }
}
