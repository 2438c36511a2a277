//! Properties: round trips for every chain, and no input makes a decoder panic.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;

use planbok_chains::{
    Chain, Curve, address, derive_public_key, finish_message, message_input, transaction_input,
    validate_address,
};

use crate::{EcKey, EdKey};

fn any_chain() -> impl Strategy<Value = Chain> {
    (0..Chain::all().len()).prop_map(|i| Chain::all()[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every derived wallet's address validates on its chain, and EVM addresses are EIP-55.
    #[test]
    fn derived_addresses_validate(c in any_chain(), seed in 1u8..=254, index in 0u32..0x8000_0000) {
        let pk = match c.curve() {
            Curve::Secp256k1 => {
                let child = derive_public_key(&EcKey::new(seed).public(), &[seed; 32], &c.derivation_path(index)).unwrap();
                prop_assert_eq!(child.len(), 33);
                child
            }
            Curve::Ed25519 => EdKey::new(seed).public(),
        };
        let a = address(c, &pk).unwrap();
        prop_assert!(validate_address(c, &a), "{} {}", c, a);
        if c.evm_chain_id().is_some() {
            prop_assert!(validate_address(c, &a.to_lowercase()));
            let swapped: String = a[2..].chars().map(|ch| if ch.is_ascii_uppercase() { ch.to_ascii_lowercase() } else { ch.to_ascii_uppercase() }).collect();
            // Swapping every letter's case breaks the checksum unless there are no letters.
            if a[2..].chars().any(|ch| ch.is_ascii_alphabetic()) && swapped.chars().any(|ch| ch.is_ascii_lowercase()) && swapped.chars().any(|ch| ch.is_ascii_uppercase()) {
                let bad = format!("0x{swapped}");
                prop_assert!(!validate_address(c, &bad));
            }
        }
    }

    /// Any message signs and finishes on any chain; hex and text forms agree.
    #[test]
    fn messages_round_trip(c in any_chain(), msg in proptest::collection::vec(any::<u8>(), 1..300)) {
        let input = message_input(c, &format!("0x{}", hex::encode(&msg)), true).unwrap();
        if let Ok(text) = std::str::from_utf8(&msg) {
            prop_assert_eq!(&message_input(c, text, false).unwrap().payload, &input.payload);
        }
        let out = match c.curve() {
            Curve::Secp256k1 => {
                let k = EcKey::new(3);
                let (sig, _) = k.sign(&input);
                finish_message(c, &input, &sig, None, &k.public()).unwrap()
            }
            Curve::Ed25519 => {
                let k = EdKey::new(3);
                finish_message(c, &input, &k.sign(&input), None, &k.public()).unwrap()
            }
        };
        prop_assert_eq!(out.digest, input.digest_hex);
    }

    /// Arbitrary bytes never panic a transaction decoder; they are refused or parsed.
    #[test]
    fn transaction_decoders_never_panic(c in any_chain(), raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (encoded, key) = match c.curve() {
            Curve::Secp256k1 => (format!("0x{}", hex::encode(&raw)), EcKey::new(1).public()),
            Curve::Ed25519 => (BASE64.encode(&raw), EdKey::new(1).public()),
        };
        let _ = transaction_input(c, Some(&encoded), None, &key);
        let _ = transaction_input(c, None, Some(&String::from_utf8_lossy(&raw)), &key);
        let _ = planbok_chains::typed_data_input(c, &String::from_utf8_lossy(&raw));
        let _ = validate_address(c, &String::from_utf8_lossy(&raw));
    }

    /// Malformed derivation paths never panic and hardened steps are always refused.
    #[test]
    fn hardened_steps_are_refused(i in 0x8000_0000u32..=u32::MAX, path in "[m0-9/'h]{0,20}") {
        let master = EcKey::new(2).public();
        let plain = format!("m/{i}");
        let quoted = format!("m/{}'", i - 0x8000_0000);
        prop_assert!(derive_public_key(&master, &[0; 32], &plain).is_err());
        prop_assert!(derive_public_key(&master, &[0; 32], &quoted).is_err());
        let _ = derive_public_key(&master, &[0; 32], &path);
    }
}

/// Mutating one byte of a valid Solana or NEAR transaction never panics either.
#[test]
fn mutated_valid_transactions_never_panic() {
    let k = EdKey::new(1);
    let near = crate::near::transfer("alice.near", 0, &k.public(), "bob.near");
    for i in 0..near.len() {
        for delta in [1u8, 0x80, 0xff] {
            let mut m = near.clone();
            m[i] = m[i].wrapping_add(delta);
            let _ = transaction_input(
                Chain::parse("NEAR").unwrap(),
                Some(&BASE64.encode(&m)),
                None,
                &k.public(),
            );
        }
    }
}
