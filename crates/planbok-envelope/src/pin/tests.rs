//! `pin`'s unit tests: wraps, the RFC 9497 vector, unlock and commit messages, factors.

use super::*;

fn fast() -> Zeroizing<[u8; 32]> {
    // The unit tests skip Argon2id (its cost is the point, not its output here).
    Zeroizing::new([7u8; 32])
}

/// One OPRF round trip of `h` under `key`, then the keys.
fn keys_for(key: &OprfKey, h: [u8; 32], customer: &str) -> PinKeys {
    let b = Blinded::new(Zeroizing::new(h)).unwrap();
    let evaluated = key.evaluate(&b.message).unwrap();
    b.finish(&evaluated, "org", customer).unwrap()
}

#[test]
fn the_right_input_opens_the_wrap_and_another_does_not() {
    let key = OprfKey::generate().unwrap();
    let keys = keys_for(&key, *fast(), "cust");
    let secret = [42u8; 32];
    let w = keys.wrap(&secret).unwrap();
    assert_eq!(*keys.unwrap(&w).unwrap(), secret);

    // The same PIN again, blinded afresh: the same keys (the OPRF is deterministic).
    let again = keys_for(&key, *fast(), "cust");
    assert_eq!(again.verify_key(), keys.verify_key());
    assert_eq!(*again.unwrap(&w).unwrap(), secret);

    // Another PIN, another key, another customer: refused.
    let wrong = keys_for(&key, [8u8; 32], "cust");
    assert_eq!(wrong.unwrap(&w), Err(PinError::WrongPin));
    let other = OprfKey::generate().unwrap();
    let foreign = keys_for(&other, *fast(), "cust");
    assert_eq!(foreign.unwrap(&w), Err(PinError::WrongPin));
    let moved = keys_for(&key, *fast(), "other");
    assert_eq!(moved.unwrap(&w), Err(PinError::WrongPin));
}

/// RFC 9497 appendix A.1.1 (ristretto255-SHA512, OPRF mode), test vector 1: our key
/// format and evaluation, and the client's finalization, give the published values.
#[test]
fn rfc9497_test_vector() {
    let h = |s: &str| hex::decode(s).unwrap();
    let sk = h("5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e");
    let derived = OprfServer::<Suite>::new_from_seed(
        &h("a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"),
        b"test key",
    )
    .unwrap();
    assert_eq!(derived.serialize().to_vec(), sk);
    let key = OprfKey::from_bytes(&sk).unwrap();
    let evaluated = key
        .evaluate(&h(
            "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
        ))
        .unwrap();
    assert_eq!(
        evaluated.to_vec(),
        h("7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e")
    );
    let client = OprfClient::<Suite>::deserialize(&h(
        "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
    ))
    .unwrap();
    let out = client
        .finalize(
            &[0u8],
            &EvaluationElement::<Suite>::deserialize(&evaluated).unwrap(),
        )
        .unwrap();
    assert_eq!(
        out.to_vec(),
        h(
            "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6"
        )
    );
}

/// The vectors' fixed blind is exactly the scalar given: with RFC 9497 A.1.1's blind,
/// voprf's own `blind` makes the published blinded element. Fixed or random, the blind
/// changes the message and never the keys.
#[test]
fn a_fixed_blind_is_the_rfc_blind_and_leaves_the_keys_unchanged() {
    let h = |s: &str| hex::decode(s).unwrap();
    let blind: [u8; 32] = h("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706")
        .try_into()
        .unwrap();
    let mut rng = FixedBlind { blind, calls: 0 };
    let r = OprfClient::<Suite>::blind(&[0u8], &mut rng).unwrap();
    assert_eq!(
        r.message.serialize().to_vec(),
        h("609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c")
    );
    assert_eq!(rng.calls, 1);

    let key = OprfKey::generate().unwrap();
    let fixed = Blinded::with_fixed_blind_for_vectors(fast(), &blind).unwrap();
    let again = Blinded::with_fixed_blind_for_vectors(fast(), &blind).unwrap();
    let random = Blinded::new(fast()).unwrap();
    assert_eq!(fixed.message, again.message);
    assert_ne!(fixed.message, random.message);
    let eval = key.evaluate(&fixed.message).unwrap();
    let by_fixed = fixed.finish(&eval, "org", "c").unwrap();
    let eval = key.evaluate(&random.message).unwrap();
    let by_random = random.finish(&eval, "org", "c").unwrap();
    assert_eq!(by_fixed.verify_key(), by_random.verify_key());
    // A zero factor is refused, not replaced.
    assert_eq!(
        Blinded::with_fixed_blind_for_vectors(fast(), &[0u8; 32]).unwrap_err(),
        PinError::Malformed("blinding factor (zero)")
    );
}

#[test]
fn unlock_signatures_name_one_nonce() {
    let keys = PinKeys::derive(b"ikm", "org", "cust");
    let n1 = new_nonce();
    let sig = keys.sign_unlock(&n1);
    let vk = keys.verify_key();
    assert!(verify_signature(
        &vk,
        &unlock_message("org", "cust", &n1),
        &sig
    ));
    assert!(!verify_signature(
        &vk,
        &unlock_message("org", "cust", &new_nonce()),
        &sig
    ));
    assert!(!verify_signature(
        &vk,
        &unlock_message("org", "other", &n1),
        &sig
    ));
    let new = [9u8; 32];
    let c = keys.sign_commit(&n1, &new);
    assert!(verify_signature(
        &vk,
        &commit_message("org", "cust", &n1, &new),
        &c
    ));
    assert!(!verify_signature(
        &vk,
        &commit_message("org", "cust", &n1, &[8u8; 32]),
        &c
    ));
}

#[test]
fn factors_are_domain_separated() {
    let ikm = b"same input";
    let pin = PinKeys::derive_for(Factor::Pin, ikm, "org", "cust");
    let rec = PinKeys::derive_for(Factor::Questions, ikm, "org", "cust");
    assert_ne!(pin.verify_key(), rec.verify_key());
    let w = rec.wrap(&[5u8; 32]).unwrap();
    assert_eq!(pin.unwrap(&w), Err(PinError::WrongPin));
    let n = new_nonce();
    // An unlock by the questions' key is not a PIN unlock, even under the same key.
    let sig = rec.sign_unlock(&n);
    let vk = rec.verify_key();
    assert!(verify_signature(
        &vk,
        &unlock_message_for(Factor::Questions, "org", "cust", &n),
        &sig
    ));
    assert!(!verify_signature(
        &vk,
        &unlock_message("org", "cust", &n),
        &sig
    ));
    let new = [9u8; 32];
    let c = rec.sign_commit_of(Factor::Pin, &n, &new);
    assert!(verify_signature(
        &vk,
        &commit_message("org", "cust", &n, &new),
        &c
    ));
    assert!(!verify_signature(
        &vk,
        &commit_message_for(Factor::Questions, "org", "cust", &n, &new),
        &c
    ));
    // The PIN's derivation is the one it always was.
    assert_eq!(
        PinKeys::derive(ikm, "org", "cust").verify_key(),
        pin.verify_key()
    );
}

#[test]
fn the_oprf_key_round_trips_and_refuses_garbage() {
    let key = OprfKey::generate().unwrap();
    let again = OprfKey::from_bytes(&key.to_bytes()).unwrap();
    let b = Blinded::new(fast()).unwrap();
    assert_eq!(
        key.evaluate(&b.message).unwrap(),
        again.evaluate(&b.message).unwrap()
    );
    assert!(key.evaluate(&[0xffu8; 32]).is_err());
    assert!(key.evaluate(&[1u8; 31]).is_err());
    assert!(OprfKey::from_bytes(&[0xffu8; 32]).is_err());
    assert_eq!(format!("{key:?}"), "OprfKey(<redacted>)");
    assert_eq!(
        format!("{:?}", PinKeys::derive(b"x", "o", "c")),
        "PinKeys(<redacted>)"
    );
}

#[test]
fn cheap_parameters_are_refused() {
    let cheap = KdfParams {
        m_kib: 19 * 1024,
        ..KdfParams::V1
    };
    assert!(hash_pin(b"123456", &[0u8; 16], &cheap).is_err());
    let few = KdfParams {
        t: 2,
        ..KdfParams::V1
    };
    assert!(few.check().is_err());
    assert!(
        KdfParams {
            version: 2,
            ..KdfParams::V1
        }
        .check()
        .is_err()
    );
    KdfParams::V1.check().unwrap();
}

/// The output is stable and salted (the process tests check it against Python's
/// `argon2-cffi`, an independent implementation).
#[test]
fn argon2id_is_salted_and_deterministic() {
    let a = hash_pin(b"123456", &[1u8; 16], &KdfParams::V1).unwrap();
    let b = hash_pin(b"123456", &[1u8; 16], &KdfParams::V1).unwrap();
    let c = hash_pin(b"123456", &[2u8; 16], &KdfParams::V1).unwrap();
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
}
