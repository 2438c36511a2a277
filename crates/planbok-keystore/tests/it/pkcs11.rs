//! The PKCS#11 backend on a throwaway SoftHSM2 token.

use std::path::PathBuf;
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use planbok_keystore::{Keystore, KeystoreConfig, KeystoreError, SealStatus};

use crate::{child, suite};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "planbok-test";
const PIN: &str = "4321";
const PIN_ENV: &str = "PLANBOK_TEST_HSM_PIN";
const KEY_LABEL: &str = "planbok-kek";

#[test]
fn pkcs11_backend() {
    if child::in_child() {
        return pkcs11_in_child();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let status = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "12345678",
            "--pin",
            PIN,
        ])
        .env("SOFTHSM2_CONF", &conf)
        .status()
        .expect("softhsm2-util not found: run scripts/install-deps.sh (apt-get install softhsm2)");
    assert!(status.success());
    child::run_in_child(
        "pkcs11::pkcs11_backend",
        &[("SOFTHSM2_CONF", conf.as_os_str()), (PIN_ENV, PIN.as_ref())],
    );
}

fn config() -> KeystoreConfig {
    KeystoreConfig::Pkcs11 {
        module: PathBuf::from(MODULE),
        token_label: TOKEN.into(),
        pin_env: PIN_ENV.into(),
        key_label: KEY_LABEL.into(),
    }
}

fn pkcs11_in_child() {
    let missing_pin = KeystoreConfig::Pkcs11 {
        module: PathBuf::from(MODULE),
        token_label: TOKEN.into(),
        pin_env: "PLANBOK_TEST_NO_SUCH_VAR".into(),
        key_label: KEY_LABEL.into(),
    };
    assert!(matches!(
        Keystore::open(&missing_pin, 1),
        Err(KeystoreError::MissingEnv(_))
    ));
    let no_token = KeystoreConfig::Pkcs11 {
        module: PathBuf::from(MODULE),
        token_label: "no-such-token".into(),
        pin_env: PIN_ENV.into(),
        key_label: KEY_LABEL.into(),
    };
    assert!(matches!(
        Keystore::open(&no_token, 1),
        Err(KeystoreError::Config(_))
    ));

    let ks = Keystore::open(&config(), 1).unwrap();
    assert_eq!(ks.backend_name(), "pkcs11");
    assert_eq!(ks.status(), SealStatus::Unsealed);
    assert!(matches!(ks.seal(), Err(KeystoreError::Unsupported { .. })));
    let ks2 = Keystore::open(&config(), 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = crate::dev::dev_keystore(dir.path());
    suite::run(&ks, &ks2, &other, &[PIN.as_bytes()]);

    // Reopening finds the same KEK: blobs made before still open, and no second key appears.
    let blob = ks.seal_blob("wallet/1", b"share").unwrap();
    drop(ks);
    drop(ks2);
    let again = Keystore::open(&config(), 1).unwrap();
    assert_eq!(&again.open_blob("wallet/1", &blob).unwrap()[..], b"share");

    kek_is_not_extractable();
    malformed_keks_are_refused();
}

/// A user session on the test token, next to the keystore's own.
fn user_session() -> cryptoki::session::Session {
    let pkcs11 = Pkcs11::new(MODULE).unwrap();
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = pkcs11.open_rw_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::new(PIN.into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    session
}

/// Looks at the KEK from the outside, with its own PKCS#11 session.
fn kek_is_not_extractable() {
    let session = user_session();
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(KEY_LABEL.as_bytes().to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1, "exactly one KEK after reopening");
    let kek = keys[0];

    let attrs = session
        .get_attributes(
            kek,
            &[
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::Token,
                AttributeType::ValueLen,
                AttributeType::Value,
            ],
        )
        .unwrap_or_default();
    let mut seen_extractable = false;
    for attr in &attrs {
        match attr {
            Attribute::Extractable(e) => {
                assert!(!e, "KEK is extractable");
                seen_extractable = true;
            }
            Attribute::Sensitive(s) => assert!(s, "KEK is not sensitive"),
            Attribute::Token(t) => assert!(t, "KEK is a session object"),
            Attribute::ValueLen(l) => assert_eq!(u64::from(*l), 32),
            // cryptoki 0.12 returns an empty value for a sensitive key rather than an error.
            Attribute::Value(v) => assert!(v.is_empty(), "KEK value readable"),
            _ => {}
        }
    }
    assert!(seen_extractable);

    // Wrapping it under another key (the way to export a key) fails.
    let wrapping_key = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
            ],
        )
        .unwrap();
    // Control: the same wrapping works on an extractable key, so the refusal below is about
    // the KEK and not an unsupported mechanism or a bad wrapping key.
    let extractable = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    for mechanism in [Mechanism::AesKeyWrap, Mechanism::AesKeyWrapPad] {
        session
            .wrap_key(&mechanism, wrapping_key, extractable)
            .unwrap();
        let r = session.wrap_key(&mechanism, wrapping_key, kek);
        assert!(
            matches!(r, Err(CkError::Pkcs11(RvError::KeyUnextractable, _))),
            "the KEK could be wrapped out of the token, or failed for another reason: {r:?}"
        );
    }
    // And KeyType is what the keystore asked for.
    let key_type = session
        .get_attributes(kek, &[AttributeType::KeyType])
        .unwrap();
    assert!(matches!(
        key_type.as_slice(),
        [Attribute::KeyType(KeyType::AES)]
    ));
}

/// Someone (an operator's script, an attacker with the PIN before the node first started)
/// put a key under the KEK's label that could leave the token, be read from it, or be used
/// without the PIN. The keystore refuses to seal anything under it, and creates nothing.
fn malformed_keks_are_refused() {
    let session = user_session();
    // Everything the keystore's own KEK has; each case changes one thing.
    let good = |label: &str| {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ]
    };
    let with = |label: &str, changed: Vec<Attribute>| {
        let mut t: Vec<Attribute> = good(label)
            .into_iter()
            .filter(|a| {
                !changed
                    .iter()
                    .any(|c| c.attribute_type() == a.attribute_type())
            })
            .collect();
        t.extend(changed);
        t
    };
    let aes = |label: &str, changed: Vec<Attribute>| {
        let mut t = with(label, changed);
        if !t
            .iter()
            .any(|a| a.attribute_type() == AttributeType::ValueLen)
        {
            t.push(Attribute::ValueLen(32.into()));
        }
        session.generate_key(&Mechanism::AesKeyGen, &t).unwrap();
    };
    aes("kek-extractable", vec![Attribute::Extractable(true)]);
    aes("kek-not-sensitive", vec![Attribute::Sensitive(false)]);
    aes("kek-public", vec![Attribute::Private(false)]);
    aes("kek-aes128", vec![Attribute::ValueLen(16.into())]);
    aes("kek-no-decrypt", vec![Attribute::Decrypt(false)]);
    let mut generic = with("kek-generic", vec![Attribute::ValueLen(32.into())]);
    generic.retain(|a| {
        !matches!(
            a.attribute_type(),
            AttributeType::Encrypt | AttributeType::Decrypt
        )
    });
    session
        .generate_key(&Mechanism::GenericSecretKeyGen, &generic)
        .unwrap();
    // Control: the same template, unchanged, is accepted, so each refusal is about the one
    // attribute the case changed.
    aes("kek-imported-good", vec![]);
    let config = |label: &str| KeystoreConfig::Pkcs11 {
        module: PathBuf::from(MODULE),
        token_label: TOKEN.into(),
        pin_env: PIN_ENV.into(),
        key_label: label.into(),
    };
    let ks = Keystore::open(&config("kek-imported-good"), 1).unwrap();
    let blob = ks.seal_blob("wallet/1", b"share").unwrap();
    assert_eq!(&ks.open_blob("wallet/1", &blob).unwrap()[..], b"share");

    for (label, problem) in [
        ("kek-extractable", "extractable (CKA_EXTRACTABLE is true)"),
        (
            "kek-not-sensitive",
            "not sensitive (CKA_SENSITIVE is false)",
        ),
        ("kek-public", "public object (CKA_PRIVATE is false)"),
        ("kek-aes128", "16 bytes long, not 32"),
        ("kek-no-decrypt", "cannot decrypt"),
        ("kek-generic", "not AES"),
    ] {
        let r = Keystore::open(&config(label), 1);
        let e = r.err().unwrap_or_else(|| panic!("{label} was accepted"));
        assert!(
            matches!(&e, KeystoreError::UnsafeKek { label: l, problem: p } if l == label && p.contains(problem)),
            "{label}: {e}"
        );
        assert!(e.to_string().contains(label), "{e}");
        // Nothing created beside it: still exactly the one object under that label.
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1, "{label}");
    }
}
