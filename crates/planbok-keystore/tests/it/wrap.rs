use planbok_keystore::KeystoreError;
use planbok_keystore::wrap::{secret_verifier, unwrap_share, verify_secret, wrap_share};

const SECRET: [u8; 32] = [7; 32];

#[test]
fn wrap_round_trip_and_bindings() {
    let share = b"node 1 share bytes".to_vec();
    let wrapped = wrap_share(&SECRET, "org-a", "key-1", &share).unwrap();
    assert_eq!(wrapped[0], planbok_keystore::wrap::WRAP_VERSION);
    assert_eq!(
        &unwrap_share(&SECRET, "org-a", "key-1", &wrapped).unwrap()[..],
        &share[..]
    );
    assert_ne!(
        wrapped,
        wrap_share(&SECRET, "org-a", "key-1", &share).unwrap(),
        "fresh nonce"
    );
    assert!(!wrapped.windows(share.len()).any(|w| w == share));

    let wrong = |r: Result<zeroize::Zeroizing<Vec<u8>>, KeystoreError>| {
        matches!(r, Err(KeystoreError::WrongOrgSecret))
    };
    let mut other_secret = SECRET;
    other_secret[31] ^= 1;
    assert!(
        wrong(unwrap_share(&other_secret, "org-a", "key-1", &wrapped)),
        "wrong secret"
    );
    assert!(
        wrong(unwrap_share(&SECRET, "org-b", "key-1", &wrapped)),
        "other org"
    );
    assert!(
        wrong(unwrap_share(&SECRET, "org-a", "key-2", &wrapped)),
        "other key"
    );
    // Length prefixes keep ("org-a", "key-1") and ("org-ak", "ey-1") apart.
    assert!(
        wrong(unwrap_share(&SECRET, "org-ak", "ey-1", &wrapped)),
        "shifted ids"
    );
    for at in 1..wrapped.len() {
        let mut t = wrapped.clone();
        t[at] ^= 0x80;
        assert!(
            wrong(unwrap_share(&SECRET, "org-a", "key-1", &t)),
            "tampered byte {at}"
        );
    }
    let mut v = wrapped.clone();
    v[0] = 2;
    assert!(matches!(
        unwrap_share(&SECRET, "org-a", "key-1", &v),
        Err(KeystoreError::MalformedWrappedShare)
    ));
    for len in [0, 1, 12, 28] {
        let r = unwrap_share(&SECRET, "org-a", "key-1", &wrapped[..len]);
        assert!(
            matches!(r, Err(KeystoreError::MalformedWrappedShare)),
            "truncated to {len}"
        );
    }
    assert!(wrong(unwrap_share(
        &SECRET,
        "org-a",
        "key-1",
        &wrapped[..wrapped.len() - 1]
    )));
    // An empty share is fine too.
    let empty = wrap_share(&SECRET, "org-a", "key-1", b"").unwrap();
    assert!(
        unwrap_share(&SECRET, "org-a", "key-1", &empty)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn secret_verifier_checks_the_secret() {
    let registered = secret_verifier(&SECRET, "org-a");
    assert!(verify_secret(&SECRET, "org-a", &registered));
    let mut other = SECRET;
    other[0] ^= 1;
    assert!(!verify_secret(&other, "org-a", &registered));
    assert!(!verify_secret(&SECRET, "org-b", &registered));
    assert_ne!(registered, SECRET);
    assert_ne!(secret_verifier(&SECRET, "org-b"), registered);
}
