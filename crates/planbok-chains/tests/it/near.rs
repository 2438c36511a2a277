//! NEAR: borsh transactions, signed over SHA-256 of their bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use planbok_chains::{Chain, ChainError, finish_transaction, transaction_input};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{EdKey, chain};

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A borsh `TransactionV0` with one `Transfer` action (written out by hand from the schema).
pub fn transfer(signer_id: &str, key_type: u8, key: &[u8], receiver: &str) -> Vec<u8> {
    let mut out = Vec::new();
    string(&mut out, signer_id);
    out.push(key_type);
    out.extend_from_slice(key);
    out.extend_from_slice(&17u64.to_le_bytes()); // nonce
    string(&mut out, receiver);
    out.extend_from_slice(&[3u8; 32]); // block hash
    out.extend_from_slice(&1u32.to_le_bytes()); // one action
    out.push(3); // Action::Transfer
    out.extend_from_slice(&(10u128.pow(24)).to_le_bytes()); // 1 NEAR in yocto
    out
}

pub fn python_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for c in Chain::all()
        .iter()
        .filter(|c| c.family() == planbok_chains::Family::Near)
    {
        let k = EdKey::new(50);
        let implicit = hex::encode(k.public());
        for signer in [implicit.as_str(), "alice.near"] {
            let tx = transfer(signer, 0, &k.public(), "bob.testnet");
            let input =
                transaction_input(*c, Some(&BASE64.encode(&tx)), None, &k.public()).unwrap();
            assert_eq!(input.payload, Sha256::digest(&tx).to_vec());
            assert_eq!(input.standard, "near");
            let sig = k.sign(&input);
            let out = finish_transaction(*c, &input, &sig, None, &k.public()).unwrap();
            assert_eq!(BASE64.decode(&out.signature).unwrap(), sig);
            cases.push(
                json!({"kind": "near_tx", "signed": out.signed_transaction, "tx_hash": out.tx_hash,
                              "pubkey": hex::encode(k.public()), "unsigned": BASE64.encode(&tx)}),
            );
        }
    }
    cases
}

#[test]
fn signed_transaction_layout() {
    let c = chain("NEAR");
    let k = EdKey::new(1);
    let tx = transfer("alice.near", 0, &k.public(), "bob.near");
    let input = transaction_input(c, Some(&BASE64.encode(&tx)), None, &k.public()).unwrap();
    let sig = k.sign(&input);
    let out = finish_transaction(c, &input, &sig, None, &k.public()).unwrap();
    let mut want = tx.clone();
    want.push(0);
    want.extend_from_slice(&sig);
    assert_eq!(BASE64.decode(&out.signed_transaction).unwrap(), want);
    assert_eq!(out.tx_hash, bs58::encode(Sha256::digest(&tx)).into_string());
}

#[test]
fn refusals() {
    let c = chain("NEAR-TESTNET");
    let k = EdKey::new(1);
    let other = EdKey::new(2);
    let try_tx = |tx: &[u8]| transaction_input(c, Some(&BASE64.encode(tx)), None, &k.public());
    assert_eq!(
        try_tx(&transfer("alice.near", 0, &other.public(), "bob.near")).unwrap_err(),
        ChainError::NotSigner
    );
    assert_eq!(
        try_tx(&transfer("alice.near", 1, &[4u8; 64], "bob.near")).unwrap_err(),
        ChainError::NotSigner
    );
    let invalid = |tx: &[u8], why: &str| match try_tx(tx).unwrap_err() {
        ChainError::InvalidTransaction(m) => assert!(m.contains(why), "{m:?} lacks {why:?}"),
        other => panic!("{other:?}"),
    };
    invalid(
        &transfer("Alice.near", 0, &k.public(), "bob.near"),
        "signer_id",
    );
    invalid(
        &transfer("alice.near", 0, &k.public(), "bob..near"),
        "receiver_id",
    );
    invalid(
        &transfer("alice.near", 7, &k.public(), "bob.near"),
        "key type",
    );
    let good = transfer("alice.near", 0, &k.public(), "bob.near");
    invalid(&good[..20], "public_key");
    let no_actions = &good[..good.len() - 1 - 16 - 4];
    let mut zero = no_actions.to_vec();
    zero.extend_from_slice(&0u32.to_le_bytes());
    invalid(&zero, "no actions");
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&good);
    invalid(&v1, "TransactionV1");
    let err = transaction_input(c, Some("%%"), None, &k.public()).unwrap_err();
    assert!(matches!(err, ChainError::InvalidTransaction(_)));
    let err = transaction_input(c, None, Some("{}"), &k.public()).unwrap_err();
    assert!(matches!(err, ChainError::UnsupportedOperation(_)));
    assert_eq!(
        transaction_input(c, Some(&BASE64.encode(&good)), None, &k.public()[..31]).unwrap_err(),
        ChainError::InvalidPublicKey
    );
}
