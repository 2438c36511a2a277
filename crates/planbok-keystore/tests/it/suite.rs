//! The one test suite every backend must pass.

use planbok_keystore::{Keystore, KeystoreError, SealStatus};

fn flip(blob: &[u8], at: usize) -> Vec<u8> {
    let mut b = blob.to_vec();
    b[at] ^= 0x01;
    b
}

/// Fails if `text` shows `secret` as hex or as a Rust byte list.
pub fn assert_no_secret(text: &str, secret: &[u8]) {
    let head = &secret[..secret.len().min(8)];
    assert!(
        !text.to_lowercase().contains(&hex::encode(head)),
        "secret bytes (hex) in {text}"
    );
    if let Ok(s) = std::str::from_utf8(secret) {
        assert!(!text.contains(s), "secret text in {text}");
    }
    let list = format!("{head:?}");
    assert!(
        !text.contains(list.trim_end_matches(']')),
        "secret bytes (list) in {text}"
    );
}

/// HKDF-SHA256(ikm, salt = "", info) to 32 bytes: how the dev and sealed backends derive
/// the KEK they keep in memory, recomputed here so leak checks look for the bytes that are
/// actually there.
pub fn derived_kek(ikm: &[u8], info: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(b""), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// `ks`: the keystore under test (role 1). `other_role`: same backend and KEK, role 2.
/// `other_backend`: an unsealed keystore of a different backend. `secrets`: what the
/// keystore holds in memory (the KEK, a token, ...) or was opened with, which must never show
/// up in `Debug` or in an error.
pub fn run(ks: &Keystore, other_role: &Keystore, other_backend: &Keystore, secrets: &[&[u8]]) {
    assert_eq!(ks.status(), SealStatus::Unsealed);
    assert_eq!(ks.role(), 1);
    assert_eq!(other_role.role(), 2);
    assert_eq!(other_role.backend_name(), ks.backend_name());
    assert_ne!(other_backend.backend_name(), ks.backend_name());

    round_trips(ks);
    tamper(ks);
    bindings(ks, other_role, other_backend);

    let debug = format!("{ks:?}");
    assert!(
        debug.contains("<redacted>") && debug.contains(ks.backend_name()),
        "{debug}"
    );
    // Error texts go to logs: none may carry a secret either.
    let blob = ks.seal_blob("wallet/errors", b"share").unwrap();
    let mut texts = vec![debug];
    for r in [
        ks.open_blob("wallet/other", &blob),
        ks.open_blob("wallet/errors", &flip(&blob, blob.len() - 1)),
        ks.open_blob("wallet/errors", &blob[..4]),
    ] {
        let e = r.unwrap_err();
        texts.push(format!("{e} {e:?}"));
    }
    for text in &texts {
        for secret in secrets {
            assert_no_secret(text, secret);
        }
    }
}

fn round_trips(ks: &Keystore) {
    let big: Vec<u8> = (0..100 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    for plaintext in [&b""[..], &b"x"[..], &big[..]] {
        let blob = ks.seal_blob("wallet/1", plaintext).unwrap();
        assert_eq!(blob[0], planbok_keystore::BLOB_VERSION);
        assert_eq!(&ks.open_blob("wallet/1", &blob).unwrap()[..], plaintext);
        if plaintext.len() >= 16 {
            assert!(
                !blob.windows(16).any(|w| w == &plaintext[..16]),
                "plaintext visible in the blob"
            );
        }
    }
    let a = ks.seal_blob("wallet/1", b"same share").unwrap();
    let b = ks.seal_blob("wallet/1", b"same share").unwrap();
    assert_ne!(a, b, "two seals of the same plaintext must differ");
}

/// The errors that mean stored data failed authentication are security events.
fn assert_attack(r: &Result<zeroize::Zeroizing<Vec<u8>>, KeystoreError>) {
    let e = r.as_ref().err().unwrap();
    assert!(
        e.may_be_attack(),
        "{e:?} should be flagged as a possible attack"
    );
}

fn tamper(ks: &Keystore) {
    let key_id = "wallet/tamper";
    let blob = ks.seal_blob(key_id, &[0x42; 100]).unwrap();
    let wrapped_len = usize::from(u16::from_be_bytes([blob[2], blob[3]]));
    let wrapped_end = 4 + wrapped_len;
    let nonce_end = wrapped_end + 12;
    let open = |b: &[u8]| ks.open_blob(key_id, b);

    assert!(matches!(
        open(&flip(&blob, 0)),
        Err(KeystoreError::UnsupportedVersion(0))
    ));
    let mut v2 = blob.clone();
    v2[0] = 2;
    assert!(matches!(
        open(&v2),
        Err(KeystoreError::UnsupportedVersion(2))
    ));
    for backend in [0u8, 1, 2, 3, 4, 200] {
        if backend == blob[1] {
            continue;
        }
        let mut b = blob.clone();
        b[1] = backend;
        assert!(
            matches!(open(&b), Err(KeystoreError::WrongBackend { .. })),
            "backend byte {backend}"
        );
    }
    // The length field. Every backend's wrapped key is under 256 bytes, so flipping the
    // low bit of the high byte points past the end, and flipping the low byte moves the
    // boundary between wrapped key and nonce by one.
    assert!(wrapped_len < 256, "{wrapped_len}");
    let r = open(&flip(&blob, 2));
    assert!(matches!(r, Err(KeystoreError::MalformedBlob)), "{r:?}");
    let r = open(&flip(&blob, 3));
    assert!(matches!(r, Err(KeystoreError::DataKeyRejected)), "{r:?}");
    for at in [4, 4 + wrapped_len / 2, wrapped_end - 1] {
        let r = open(&flip(&blob, at));
        assert!(
            matches!(r, Err(KeystoreError::DataKeyRejected)),
            "wrapped key byte {at}: {r:?}"
        );
        assert_attack(&r);
    }
    for at in [
        wrapped_end,
        nonce_end - 1,
        nonce_end,
        nonce_end + 50,
        blob.len() - 17,
        blob.len() - 1,
    ] {
        let r = open(&flip(&blob, at));
        assert!(
            matches!(r, Err(KeystoreError::CiphertextRejected)),
            "byte {at}: {r:?}"
        );
        assert_attack(&r);
    }
    // Truncation anywhere, and an extra byte.
    for len in [
        0,
        1,
        3,
        4,
        wrapped_end - 1,
        wrapped_end,
        nonce_end,
        nonce_end + 15,
    ] {
        let r = open(&blob[..len]);
        assert!(
            matches!(r, Err(KeystoreError::MalformedBlob)),
            "truncated to {len}"
        );
        assert_attack(&r);
    }
    for len in [nonce_end + 16, blob.len() - 1] {
        assert!(
            matches!(open(&blob[..len]), Err(KeystoreError::CiphertextRejected)),
            "truncated to {len}"
        );
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert!(matches!(
        open(&longer),
        Err(KeystoreError::CiphertextRejected)
    ));
    // The untouched blob still opens.
    assert_eq!(&open(&blob).unwrap()[..], &[0x42; 100]);
}

fn bindings(ks: &Keystore, other_role: &Keystore, other_backend: &Keystore) {
    let blob = ks.seal_blob("wallet/a", b"share a").unwrap();
    for moved in ["wallet/b", "wallet/a ", "", "wallet/"] {
        let r = ks.open_blob(moved, &blob);
        assert!(
            matches!(r, Err(KeystoreError::DataKeyRejected)),
            "moved to {moved:?}: {r:?}"
        );
    }
    // Same KEK, other node role.
    let r = other_role.open_blob("wallet/a", &blob);
    assert!(matches!(r, Err(KeystoreError::DataKeyRejected)), "{r:?}");
    let theirs = other_role
        .seal_blob("wallet/a", b"share of role 2")
        .unwrap();
    assert_eq!(
        &other_role.open_blob("wallet/a", &theirs).unwrap()[..],
        b"share of role 2"
    );
    assert!(matches!(
        ks.open_blob("wallet/a", &theirs),
        Err(KeystoreError::DataKeyRejected)
    ));
    // Another backend, both ways.
    let foreign = other_backend.seal_blob("wallet/a", b"share a").unwrap();
    assert!(matches!(
        ks.open_blob("wallet/a", &foreign),
        Err(KeystoreError::WrongBackend { .. })
    ));
    assert!(matches!(
        other_backend.open_blob("wallet/a", &blob),
        Err(KeystoreError::WrongBackend { .. })
    ));
}
