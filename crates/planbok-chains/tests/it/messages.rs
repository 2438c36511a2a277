//! Message and typed-data signing on every family.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use planbok_chains::{
    Chain, ChainError, address, finish_message, finish_transaction, message_input, typed_data_input,
};
use serde_json::{Value, json};

use crate::{EcKey, EdKey, chain};

pub const TYPED: &str = r#"{
  "types": {
    "EIP712Domain": [
      {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
      {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
    ],
    "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
    "Mail": [
      {"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
      {"name": "contents", "type": "string"}
    ]
  },
  "primaryType": "Mail",
  "domain": {
    "name": "Ether Mail", "version": "1", "chainId": CHAIN_ID,
    "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
  },
  "message": {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
    "contents": "Hello, Bob!"
  }
}"#;

pub fn typed(chain_id: u64) -> String {
    TYPED.replace("CHAIN_ID", &chain_id.to_string())
}

/// The EIP-712 example from the EIP: its signing hash is published.
#[test]
fn eip712_example_from_the_eip() {
    let input = typed_data_input(chain("ETH"), &typed(1)).unwrap();
    assert_eq!(
        input.digest_hex,
        "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
    );
    assert_eq!(input.standard, "eip712");
    assert!(!input.is_transaction());
}

#[test]
fn eip712_domain_without_chain_id_is_accepted_and_a_wrong_one_refused() {
    let no_id = typed(1).replace(r#""chainId": 1,"#, "");
    let no_id = no_id.replace(r#"{"name": "chainId", "type": "uint256"}, "#, "");
    assert!(typed_data_input(chain("BASE"), &no_id).is_ok());
    let err = typed_data_input(chain("BASE"), &typed(1)).unwrap_err();
    assert_eq!(
        err,
        ChainError::ChainIdMismatch {
            expected: 8453,
            got: 1
        }
    );
    let undefined_type = typed(1).replace(
        r#"{"name": "to", "type": "Person"}"#,
        r#"{"name": "to", "type": "Persona"}"#,
    );
    let bad_primary = typed(1).replace(r#""primaryType": "Mail""#, r#""primaryType": "Nope""#);
    let bad_value = typed(1).replace("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "bob");
    for bad in [
        "",
        "{",
        "[]",
        r#"{"types": {}}"#,
        &undefined_type,
        &bad_primary,
        &bad_value,
    ] {
        let err = typed_data_input(chain("ETH"), bad).unwrap_err();
        assert!(
            matches!(err, ChainError::InvalidTypedData(_)),
            "{bad}: {err:?}"
        );
    }
    for other in ["BTC", "SOL", "NEAR-TESTNET"] {
        let err = typed_data_input(chain(other), &typed(1)).unwrap_err();
        assert!(matches!(err, ChainError::UnsupportedOperation(_)));
    }
}

#[test]
fn eip191_and_bip137_published_digests() {
    // eth_account / ethers hashMessage("hello").
    let evm = message_input(chain("ETH"), "hello", false).unwrap();
    assert_eq!(
        evm.digest_hex,
        "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
    );
    assert_eq!(evm.standard, "eip191");
    let hex = message_input(chain("ETH"), "0x68656c6c6f", true).unwrap();
    assert_eq!(hex.payload, evm.payload);
    let btc = message_input(chain("BTC"), "hello", false).unwrap();
    assert_eq!(btc.standard, "bip137");
    assert_eq!(btc.payload.len(), 32);
    let sol = message_input(chain("SOL"), "hello", false).unwrap();
    assert_eq!(
        (sol.payload.as_slice(), sol.standard),
        (&b"hello"[..], "ed25519")
    );
    assert_eq!(sol.digest_hex, "0x68656c6c6f");
}

#[test]
fn bad_messages_are_invalid_request() {
    for (msg, hex) in [
        ("", false),
        ("0x", true),
        ("68656c6c6f", true),
        ("0x6", true),
        ("0xzz", true),
    ] {
        for c in ["ETH", "BTC", "SOL", "NEAR"] {
            let err = message_input(chain(c), msg, hex).unwrap_err();
            assert!(matches!(err, ChainError::InvalidMessage(_)), "{msg:?}");
        }
    }
}

/// Signs `message` on `chain` with a test key; returns the API result and a Python case.
pub fn sign_message(c: Chain, message: &[u8], seed: u8) -> Value {
    let hex_msg = format!("0x{}", hex::encode(message));
    let input = message_input(c, &hex_msg, true).unwrap();
    match c.curve() {
        planbok_chains::Curve::Secp256k1 => {
            let k = EcKey::new(seed);
            let (sig, recid) = k.sign(&input);
            let out = finish_message(c, &input, &sig, Some(recid), &k.public()).unwrap();
            assert_eq!(out.r, format!("0x{}", hex::encode(&sig[..32])));
            assert_eq!(out.s, format!("0x{}", hex::encode(&sig[32..])));
            assert_eq!(out.digest, input.digest_hex);
            let addr = address(c, &k.public()).unwrap();
            if c.family() == planbok_chains::Family::Bitcoin {
                assert_eq!(out.v, Some(39 + recid));
                assert_eq!(out.standard, "bip137");
                let raw = BASE64.decode(&out.signature).unwrap();
                assert_eq!(raw[0], 39 + recid);
                json!({"kind": "bip137", "message": hex::encode(message), "signature": out.signature,
                       "digest": out.digest, "address": addr, "hrp": if c.is_testnet() {"tb"} else {"bc"}})
            } else {
                assert_eq!(out.v, Some(27 + recid));
                assert_eq!(out.signature.len(), 2 + 130);
                json!({"kind": "eip191", "message": hex::encode(message), "signature": out.signature,
                       "digest": out.digest, "address": addr})
            }
        }
        planbok_chains::Curve::Ed25519 => {
            let k = EdKey::new(seed);
            let sig = k.sign(&input);
            let out = finish_message(c, &input, &sig, None, &k.public()).unwrap();
            assert_eq!(out.v, None);
            assert_eq!(out.r, format!("0x{}", hex::encode(&sig[..32])));
            if c.family() == planbok_chains::Family::Solana {
                assert_eq!(bs58::decode(&out.signature).into_vec().unwrap(), sig);
                json!({"kind": "sol_message", "message": hex::encode(message), "signature": out.signature,
                       "address": address(c, &k.public()).unwrap()})
            } else {
                assert_eq!(BASE64.decode(&out.signature).unwrap(), sig);
                json!({"kind": "near_message", "message": hex::encode(message), "signature": out.signature,
                       "pubkey": hex::encode(k.public())})
            }
        }
    }
}

pub fn sign_typed(c: Chain, seed: u8) -> Value {
    let json = typed(c.evm_chain_id().unwrap());
    let input = typed_data_input(c, &json).unwrap();
    let k = EcKey::new(seed);
    let (sig, recid) = k.sign(&input);
    let out = finish_message(c, &input, &sig, None, &k.public()).unwrap();
    assert_eq!(out.v, Some(27 + recid), "recovery id found without a hint");
    assert_eq!(out.standard, "eip712");
    json!({"kind": "eip712", "typed_data": json, "signature": out.signature, "digest": out.digest,
           "address": address(c, &k.public()).unwrap()})
}

pub fn python_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    let long = vec![b'x'; 300]; // BIP-137's 3-byte CompactSize length
    for (i, c) in Chain::all().iter().enumerate() {
        let seed = i as u8 + 1;
        cases.push(sign_message(*c, b"planbok says hi", seed));
        cases.push(sign_message(*c, &[0, 159, 146, 150, 255], seed));
        if c.family() == planbok_chains::Family::Bitcoin {
            cases.push(sign_message(*c, &long, seed));
        }
        if c.family() == planbok_chains::Family::Evm {
            cases.push(sign_typed(*c, seed));
        }
        match c.curve() {
            planbok_chains::Curve::Secp256k1 if c.family() == planbok_chains::Family::Evm => {
                let pk = EcKey::new(seed).public();
                cases.push(json!({"kind": "eip55", "pubkey": hex::encode(&pk),
                                  "address": address(*c, &pk).unwrap()}));
            }
            planbok_chains::Curve::Secp256k1 => {
                let pk = EcKey::new(seed).public();
                cases.push(json!({"kind": "btc_address", "pubkey": hex::encode(&pk),
                                  "address": address(*c, &pk).unwrap(),
                                  "hrp": if c.is_testnet() {"tb"} else {"bc"}}));
            }
            planbok_chains::Curve::Ed25519 if c.family() == planbok_chains::Family::Solana => {
                let pk = EdKey::new(seed).public();
                cases.push(json!({"kind": "sol_address", "pubkey": hex::encode(&pk),
                                  "address": address(*c, &pk).unwrap()}));
            }
            planbok_chains::Curve::Ed25519 => {}
        }
    }
    cases
}

#[test]
fn every_chain_signs_messages() {
    assert!(python_cases().len() > 40);
}

#[test]
fn finish_checks_the_signature_the_key_the_chain_and_the_input_kind() {
    let eth = chain("ETH");
    let k = EcKey::new(5);
    let input = message_input(eth, "hi", false).unwrap();
    let (sig, recid) = k.sign(&input);
    let other = EcKey::new(6).public();
    assert_eq!(
        finish_message(eth, &input, &sig, Some(recid), &other),
        Err(ChainError::SignatureMismatch)
    );
    assert_eq!(
        finish_message(eth, &input, &sig, Some(recid ^ 1), &k.public()),
        Err(ChainError::SignatureMismatch)
    );
    assert_eq!(
        finish_message(eth, &input, &sig, Some(2), &k.public()),
        Err(ChainError::SignatureMismatch)
    );
    let mut tampered = sig;
    tampered[5] ^= 1;
    assert_eq!(
        finish_message(eth, &input, &tampered, None, &k.public()),
        Err(ChainError::SignatureMismatch)
    );
    assert!(ChainError::SignatureMismatch.is_internal());
    // A high-S signature is normalised (and its recovery id flipped), not refused.
    let high = high_s(&sig);
    let out = finish_message(eth, &input, &high, Some(recid ^ 1), &k.public()).unwrap();
    assert_eq!(
        out.signature[..130],
        format!("0x{}", hex::encode(sig))[..130]
    );
    assert_eq!(out.v, Some(27 + recid));

    let err = finish_message(chain("BASE"), &input, &sig, Some(recid), &k.public()).unwrap_err();
    assert!(matches!(err, ChainError::InputMismatch(_)));
    let err = finish_transaction(eth, &input, &sig, Some(recid), &k.public()).unwrap_err();
    assert!(matches!(err, ChainError::InputMismatch(_)));
    assert!(err.is_internal());

    let sol = chain("SOL");
    let e = EdKey::new(5);
    let input = message_input(sol, "hi", false).unwrap();
    let mut sig = e.sign(&input);
    assert!(finish_message(sol, &input, &sig, None, &e.public()).is_ok());
    assert_eq!(
        finish_message(sol, &input, &sig, None, &EdKey::new(6).public()),
        Err(ChainError::SignatureMismatch)
    );
    sig[63] ^= 0x10;
    assert_eq!(
        finish_message(sol, &input, &sig, None, &e.public()),
        Err(ChainError::SignatureMismatch)
    );
}

/// s → n - s.
pub fn high_s(sig: &[u8; 64]) -> [u8; 64] {
    use k256::elliptic_curve::ops::Neg;
    let s: [u8; 32] = sig[32..].try_into().unwrap();
    let sig =
        k256::ecdsa::Signature::from_scalars(<[u8; 32]>::try_from(&sig[..32]).unwrap(), s).unwrap();
    let (r, s) = sig.split_scalars();
    let neg = k256::ecdsa::Signature::from_scalars(r.to_bytes(), (*s).neg().to_bytes()).unwrap();
    neg.to_bytes().as_slice().try_into().unwrap()
}

#[test]
fn debug_does_not_dump_the_payload() {
    let big = "x".repeat(10_000);
    let input = message_input(chain("SOL"), &big, false).unwrap();
    let dbg = format!("{input:?}");
    assert!(dbg.len() < 300, "{dbg}");
    assert!(dbg.contains("payload_len: 10000"));
}
