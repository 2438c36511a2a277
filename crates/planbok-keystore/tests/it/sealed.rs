use std::path::Path;

use planbok_keystore::{Keystore, KeystoreConfig, KeystoreError, SealStatus, UnsealKey};

use crate::suite;

fn config(state_file: &Path) -> KeystoreConfig {
    KeystoreConfig::Sealed {
        state_file: state_file.to_owned(),
    }
}

/// An unsealed 1-of-1 sealed keystore in `dir`, used as "another backend".
pub fn unsealed_keystore(dir: &Path) -> Keystore {
    let ks = Keystore::open(&config(&dir.join("other-sealed.json")), 1).unwrap();
    let keys = ks.init(1, 1).unwrap();
    assert_eq!(ks.unseal(&keys[0]).unwrap(), SealStatus::Unsealed);
    ks
}

fn sealed(threshold: u8, shares: u8, progress: u8) -> SealStatus {
    SealStatus::Sealed {
        threshold,
        shares,
        progress,
    }
}

/// A well-formed key of some other keystore.
fn stranger_key_text() -> String {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open(&config(&dir.path().join("s.json")), 1).unwrap();
    ks.init(1, 1).unwrap()[0].to_text().to_string()
}

/// The 32 secret bytes of a key, read back from its text form.
fn key_bytes(key: &UnsealKey) -> Vec<u8> {
    hex::decode(key.to_text().split('-').nth(2).unwrap()).unwrap()
}

#[test]
fn sealed_backend() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("keystore.json");
    let ks = Keystore::open(&config(&state_file), 1).unwrap();
    assert_eq!(ks.backend_name(), "sealed");
    assert_eq!(ks.status(), SealStatus::Uninitialized);
    assert!(matches!(
        ks.seal_blob("k", b"x"),
        Err(KeystoreError::NotInitialized)
    ));
    assert!(matches!(
        ks.open_blob("k", &[1, 3, 0, 0]),
        Err(KeystoreError::NotInitialized)
    ));
    assert!(matches!(ks.seal(), Err(KeystoreError::NotInitialized)));
    assert!(matches!(
        ks.unseal(&UnsealKey::parse(&stranger_key_text()).unwrap()),
        Err(KeystoreError::NotInitialized)
    ));

    let keys = ks.init(5, 3).unwrap();
    assert_eq!(keys.len(), 5);
    assert_eq!(
        keys.iter().map(UnsealKey::index).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(ks.status(), sealed(3, 5, 0));
    assert!(matches!(
        ks.init(5, 3),
        Err(KeystoreError::AlreadyInitialized)
    ));
    assert!(matches!(
        ks.seal_blob("k", b"x"),
        Err(KeystoreError::Sealed)
    ));
    assert!(matches!(
        ks.open_blob("k", &[1, 3, 0, 0]),
        Err(KeystoreError::Sealed)
    ));

    // The state file holds no key material.
    let state = std::fs::read_to_string(&state_file).unwrap();
    for key in &keys {
        suite::assert_no_secret(&state, &key_bytes(key));
    }

    // A well-formed key from another keystore (same index) is wrong, and does not count.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = Keystore::open(&config(&stranger_dir.path().join("s.json")), 1).unwrap();
    let stranger_keys = stranger.init(5, 3).unwrap();

    assert_eq!(ks.unseal(&keys[0]).unwrap(), sealed(3, 5, 1));
    assert!(matches!(
        ks.unseal(&keys[0]),
        Err(KeystoreError::DuplicateUnsealKey)
    ));
    assert!(matches!(
        ks.unseal(&stranger_keys[1]),
        Err(KeystoreError::WrongUnsealKey)
    ));
    assert_eq!(ks.status(), sealed(3, 5, 1));
    assert_eq!(ks.unseal(&keys[3]).unwrap(), sealed(3, 5, 2));
    assert_eq!(ks.status(), sealed(3, 5, 2));
    assert!(matches!(
        ks.seal_blob("k", b"x"),
        Err(KeystoreError::Sealed)
    ));
    // Two submitted keys are in memory now: Debug must not show them.
    let debug = format!("{ks:?}");
    for key in [&keys[0], &keys[3]] {
        suite::assert_no_secret(&debug, &key_bytes(key));
    }
    assert!(matches!(
        ks.unseal(&stranger_keys[2]),
        Err(KeystoreError::WrongUnsealKey)
    ));
    assert_eq!(ks.unseal(&keys[2]).unwrap(), SealStatus::Unsealed);
    assert_eq!(ks.status(), SealStatus::Unsealed);
    assert_eq!(ks.unseal(&keys[4]).unwrap(), SealStatus::Unsealed);

    let blob = ks.seal_blob("wallet/1", b"a key share").unwrap();
    assert_eq!(
        &ks.open_blob("wallet/1", &blob).unwrap()[..],
        b"a key share"
    );

    // The shared suite, with a role-2 keystore on the same state file.
    let ks2 = Keystore::open(&config(&state_file), 2).unwrap();
    assert_eq!(ks2.status(), sealed(3, 5, 0));
    for key in &keys[1..4] {
        ks2.unseal(key).unwrap();
    }
    let other = crate::dev::dev_keystore(dir.path());
    // What an unsealed keystore holds is the KEK derived from the rebuilt master key; the
    // unseal keys are checked too.
    let master = vsss_rs::Gf256::combine_bytes(
        keys[..3]
            .iter()
            .map(|k| [vec![k.index()], key_bytes(k)].concat())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut secrets: Vec<Vec<u8>> = keys.iter().map(key_bytes).collect();
    secrets.push(suite::derived_kek(
        &master,
        b"planbok keystore sealed kek v1",
    ));
    secrets.push(master);
    let secret_refs: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    suite::run(&ks, &ks2, &other, &secret_refs);

    // seal() forgets the master key.
    ks.seal().unwrap();
    assert_eq!(ks.status(), sealed(3, 5, 0));
    assert!(matches!(
        ks.open_blob("wallet/1", &blob),
        Err(KeystoreError::Sealed)
    ));
    assert!(matches!(
        ks.seal_blob("wallet/1", b"x"),
        Err(KeystoreError::Sealed)
    ));
    // Submitted keys are forgotten too.
    ks.unseal(&keys[0]).unwrap();
    ks.seal().unwrap();
    assert_eq!(ks.status(), sealed(3, 5, 0));
    drop(ks);

    // Any 3 of the 5 keys unseal a keystore reopened from the state file.
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                let ks = Keystore::open(&config(&state_file), 1).unwrap();
                assert_eq!(ks.status(), sealed(3, 5, 0));
                ks.unseal(&keys[c]).unwrap();
                ks.unseal(&keys[a]).unwrap();
                assert_eq!(
                    ks.unseal(&keys[b]).unwrap(),
                    SealStatus::Unsealed,
                    "keys {a} {b} {c}"
                );
                assert_eq!(
                    &ks.open_blob("wallet/1", &blob).unwrap()[..],
                    b"a key share"
                );
                assert!(matches!(
                    ks.init(5, 3),
                    Err(KeystoreError::AlreadyInitialized)
                ));
            }
        }
    }
}

#[test]
fn unseal_keys_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open(&config(&dir.path().join("s.json")), 1).unwrap();
    let keys = ks.init(3, 2).unwrap();
    for key in &keys {
        let text = key.to_text();
        assert!(text.starts_with("pbuk1-0"), "{}", &text[..8]);
        let parsed = UnsealKey::parse(&format!("  {}\n", text.to_uppercase())).unwrap();
        assert_eq!(parsed.index(), key.index());
        assert_eq!(key_bytes(&parsed), key_bytes(key));

        // Debug never shows the bytes.
        let debug = format!("{key:?} {keys:?}");
        assert!(debug.contains("<redacted>"));
        suite::assert_no_secret(&debug, &key_bytes(key));

        // Any single-character typo is caught by the checksum or the shape.
        for at in (0..text.len()).filter(|i| text.as_bytes()[*i] != b'-') {
            let mut typo = text.as_bytes().to_vec();
            typo[at] = if typo[at] == b'0' { b'1' } else { b'0' };
            let typo = String::from_utf8(typo).unwrap();
            assert!(
                matches!(
                    UnsealKey::parse(&typo),
                    Err(KeystoreError::MalformedUnsealKey(_))
                ),
                "typo at {at} accepted"
            );
        }
    }
    for text in ["", "pbuk1-01-00-00000000", "pbuk2-01-00-00000000"] {
        assert!(
            matches!(
                UnsealKey::parse(text),
                Err(KeystoreError::MalformedUnsealKey(_))
            ),
            "{text:?}"
        );
    }

    // Keys typed back in unseal the keystore.
    ks.unseal(&UnsealKey::parse(&keys[2].to_text()).unwrap())
        .unwrap();
    assert_eq!(
        ks.unseal(&UnsealKey::parse(&keys[0].to_text()).unwrap())
            .unwrap(),
        SealStatus::Unsealed
    );
}

#[test]
fn invalid_splits_are_refused() {
    for (shares, threshold) in [
        (0, 0),
        (1, 0),
        (3, 0),
        (3, 1),
        (2, 3),
        (17, 2),
        (17, 17),
        (255, 3),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(&config(&dir.path().join("s.json")), 1).unwrap();
        let r = ks.init(shares, threshold);
        assert!(
            matches!(r, Err(KeystoreError::InvalidSplit { .. })),
            "{shares}/{threshold}"
        );
        assert_eq!(ks.status(), SealStatus::Uninitialized);
    }
    for (shares, threshold) in [(1, 1), (2, 2), (16, 16), (16, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(&config(&dir.path().join("s.json")), 1).unwrap();
        let keys = ks.init(shares, threshold).unwrap();
        assert_eq!(keys.len(), usize::from(shares));
        for key in keys.iter().rev().take(usize::from(threshold)) {
            ks.unseal(key).unwrap();
        }
        assert_eq!(ks.status(), SealStatus::Unsealed, "{shares}/{threshold}");
    }
}

#[test]
fn altered_state_file_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("s.json");
    let keys = Keystore::open(&config(&state_file), 1)
        .unwrap()
        .init(3, 2)
        .unwrap();

    // A different key-check value: the keys are accepted one by one, the rebuilt master
    // key is not, and the round starts over.
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state["key_check"] = serde_json::Value::String("00".repeat(32));
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let ks = Keystore::open(&config(&state_file), 1).unwrap();
    ks.unseal(&keys[0]).unwrap();
    assert!(matches!(
        ks.unseal(&keys[1]),
        Err(KeystoreError::MasterKeyCheckFailed)
    ));
    assert_eq!(ks.status(), sealed(2, 3, 0));

    // Garbage is refused at open.
    std::fs::write(&state_file, b"{ not json").unwrap();
    assert!(matches!(
        Keystore::open(&config(&state_file), 1),
        Err(KeystoreError::StateFile { .. })
    ));
}

#[test]
fn init_never_overwrites_a_state_file() {
    // Two keystores opened before either wrote the file: the second init must fail at the
    // file, and the file must still match the first one's keys.
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("s.json");
    let first = Keystore::open(&config(&state_file), 1).unwrap();
    let second = Keystore::open(&config(&state_file), 2).unwrap();
    let keys = first.init(3, 2).unwrap();
    assert!(matches!(
        second.init(3, 2),
        Err(KeystoreError::AlreadyInitialized)
    ));
    assert_eq!(second.status(), SealStatus::Uninitialized);
    let reopened = Keystore::open(&config(&state_file), 1).unwrap();
    reopened.unseal(&keys[0]).unwrap();
    assert_eq!(reopened.unseal(&keys[2]).unwrap(), SealStatus::Unsealed);
    // No temporary file is left next to the state file.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["s.json"]);
}
