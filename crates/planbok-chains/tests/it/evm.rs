//! EVM transactions: raw RLP (legacy pre-/post-EIP-155, EIP-2930, EIP-1559) and JSON.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxLegacy};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address as addr};
use planbok_chains::{
    Chain, ChainError, SignInput, address, finish_transaction, transaction_input,
};
use serde_json::{Value, json};

use crate::{EcKey, chain};

const TO: Address = addr!("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn legacy(chain_id: Option<u64>) -> TxLegacy {
    TxLegacy {
        chain_id,
        nonce: 7,
        gas_price: 20_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(TO),
        value: U256::from(10u64).pow(U256::from(18u64)),
        input: Bytes::new(),
    }
}

fn access_list() -> AccessList {
    AccessList(vec![AccessListItem {
        address: TO,
        storage_keys: vec![B256::repeat_byte(1), B256::ZERO],
    }])
}

fn eip2930(chain_id: u64) -> TxEip2930 {
    TxEip2930 {
        chain_id,
        nonce: 1,
        gas_price: 1_000_000_000,
        gas_limit: 60_000,
        to: TxKind::Call(TO),
        value: U256::from(1u64),
        access_list: access_list(),
        input: Bytes::from(vec![0xa9, 0x05, 0x9c, 0xbb]),
    }
}

fn eip1559(chain_id: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce: 42,
        gas_limit: 100_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_500_000_000,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: AccessList::default(),
        input: Bytes::from(vec![0x60, 0x80, 0x60, 0x40]),
    }
}

/// The unsigned raw forms of every supported type for `id`.
fn raws(id: u64) -> Vec<(&'static str, Vec<u8>, u8)> {
    vec![
        ("eip155", legacy(Some(id)).encoded_for_signing(), 0),
        ("eip155", legacy(None).encoded_for_signing(), 0),
        ("eip2930", eip2930(id).encoded_for_signing(), 1),
        ("eip1559", eip1559(id).encoded_for_signing(), 2),
    ]
}

fn sign(c: Chain, input: &SignInput, k: &EcKey) -> (planbok_chains::SignedTransaction, u8) {
    let (sig, recid) = k.sign(input);
    let out = finish_transaction(c, input, &sig, Some(recid), &k.public()).unwrap();
    assert_eq!(&out.signature[..130], &hex0x(&sig)[..130]);
    (out, recid)
}

fn case(
    c: Chain,
    k: &EcKey,
    out: &planbok_chains::SignedTransaction,
    ty: u8,
    label: &str,
) -> Value {
    json!({"kind": "evm_tx", "label": label, "signed": out.signed_transaction, "tx_hash": out.tx_hash,
           "address": address(c, &k.public()).unwrap(), "chain_id": c.evm_chain_id().unwrap(), "type": ty})
}

pub fn python_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for (i, c) in Chain::all()
        .iter()
        .filter(|c| c.evm_chain_id().is_some())
        .enumerate()
    {
        let k = EcKey::new(30 + i as u8);
        let id = c.evm_chain_id().unwrap();
        for (standard, raw, ty) in raws(id) {
            let input = transaction_input(*c, Some(&hex0x(&raw)), None, &k.public()).unwrap();
            assert_eq!(input.standard, standard);
            assert!(input.is_transaction());
            let (out, _) = sign(*c, &input, &k);
            cases.push(case(*c, &k, &out, ty, standard));
        }
        for (label, j, ty) in json_forms(id, &address(*c, &k.public()).unwrap()) {
            let input = transaction_input(*c, None, Some(&j), &k.public()).unwrap();
            let (out, _) = sign(*c, &input, &k);
            cases.push(case(*c, &k, &out, ty, label));
        }
    }
    cases
}

fn json_forms(id: u64, from: &str) -> Vec<(&'static str, String, u8)> {
    vec![
        (
            "json legacy",
            json!({"nonce": 7, "to": TO.to_checksum(None), "value": "1000000000000000000",
                   "gas": 21000, "gasPrice": "0x4a817c800"})
            .to_string(),
            0,
        ),
        (
            "json 2930",
            json!({"type": 1, "chainId": id, "nonce": "1", "to": TO.to_string().to_lowercase(),
                   "value": 1, "data": "0xa9059cbb", "gasLimit": "60000", "gasPrice": 1000000000u64,
                   "accessList": [{"address": TO.to_checksum(None),
                                   "storageKeys": [B256::repeat_byte(1).to_string(), B256::ZERO.to_string()]}]})
            .to_string(),
            1,
        ),
        (
            "json 1559",
            json!({"type": "0x2", "chainId": format!("{id:#x}"), "from": from, "nonce": 42,
                   "data": "0x60806040", "gas": 100000, "maxFeePerGas": "30000000000",
                   "maxPriorityFeePerGas": "1500000000", "to": null})
            .to_string(),
            2,
        ),
    ]
}

#[test]
fn json_and_raw_forms_sign_the_same_digest() {
    let c = chain("ETH-SEPOLIA");
    let k = EcKey::new(3);
    let id = c.evm_chain_id().unwrap();
    let from = address(c, &k.public()).unwrap();
    let forms = json_forms(id, &from);
    let raw = raws(id);
    for (json_form, raw_form) in [
        (&forms[0], &raw[0]),
        (&forms[1], &raw[2]),
        (&forms[2], &raw[3]),
    ] {
        let a = transaction_input(c, None, Some(&json_form.1), &k.public()).unwrap();
        let b = transaction_input(c, Some(&hex0x(&raw_form.1)), None, &k.public()).unwrap();
        assert_eq!(a.payload, b.payload, "{}", json_form.0);
        assert_eq!(a.standard, b.standard);
    }
    // Type inferred from the fee fields.
    let inferred = json!({"nonce": 42, "data": "0x60806040", "gas": 100000,
                          "maxFeePerGas": 30000000000u64, "maxPriorityFeePerGas": 1500000000});
    let a = transaction_input(c, None, Some(&inferred.to_string()), &k.public()).unwrap();
    assert_eq!(a.standard, "eip1559");
    assert_eq!(a.payload, eip1559(id).signature_hash().to_vec());
}

#[test]
fn legacy_pre_eip155_is_signed_replay_protected_for_the_chain() {
    let c = chain("POL");
    let k = EcKey::new(9);
    let pre = transaction_input(
        c,
        Some(&hex0x(&legacy(None).encoded_for_signing())),
        None,
        &k.public(),
    )
    .unwrap();
    let post = transaction_input(
        c,
        Some(&hex0x(&legacy(Some(137)).encoded_for_signing())),
        None,
        &k.public(),
    )
    .unwrap();
    assert_eq!(pre.payload, post.payload);
    let (out, recid) = sign(c, &pre, &k);
    // v = 137 * 2 + 35 + recid = 309 + recid, two bytes big-endian after r ‖ s.
    assert_eq!(
        &out.signature[130..],
        format!("{:04x}", 309 + u64::from(recid))
    );
    let signed = hex::decode(&out.signed_transaction[2..]).unwrap();
    assert_eq!(
        out.tx_hash,
        hex0x(alloy_primitives::keccak256(&signed).as_slice())
    );
}

#[test]
fn typed_signatures_end_in_y_parity() {
    let c = chain("ARB");
    let k = EcKey::new(11);
    let raw = hex0x(&eip1559(42161).encoded_for_signing());
    let input = transaction_input(c, Some(&raw), None, &k.public()).unwrap();
    let (out, recid) = sign(c, &input, &k);
    assert_eq!(out.signature.len(), 2 + 130);
    assert_eq!(&out.signature[130..], format!("{recid:02x}"));
    assert!(out.signed_transaction.starts_with("0x02"));
}

fn tx_err(c: Chain, raw: Option<&str>, json: Option<&str>) -> ChainError {
    transaction_input(c, raw, json, &EcKey::new(1).public()).unwrap_err()
}

#[track_caller]
fn invalid(err: ChainError, why: &str) {
    match &err {
        ChainError::InvalidTransaction(m) => assert!(m.contains(why), "{m:?} lacks {why:?}"),
        other => panic!("expected InvalidTransaction({why}), got {other:?}"),
    }
}

#[test]
fn raw_transactions_are_refused_with_reasons() {
    let c = chain("ETH");
    let good = hex0x(&eip1559(1).encoded_for_signing());
    invalid(tx_err(c, Some(&good), Some("{}")), "not both");
    invalid(tx_err(c, None, None), "required");
    invalid(tx_err(c, Some(&good[2..]), None), "0x-hex");
    invalid(tx_err(c, Some("0x02zz"), None), "not hex");
    invalid(tx_err(c, Some("0x"), None), "empty");
    invalid(tx_err(c, Some("0x02c0"), None), "malformed RLP");
    invalid(tx_err(c, Some(&good[..good.len() - 2]), None), "RLP");
    invalid(tx_err(c, Some(&format!("{good}00")), None), "bytes after");
    invalid(tx_err(c, Some("0x03c0"), None), "type 0x03");
    invalid(tx_err(c, Some("0x05"), None), "type 0x05");
    invalid(tx_err(c, Some("0x80"), None), "not an RLP transaction");
    invalid(tx_err(c, Some("0x02820102"), None), "not an RLP list");

    // Already signed: legacy (r, s non-zero) and typed (extra fields).
    let k = EcKey::new(1);
    let input = transaction_input(
        c,
        Some(&hex0x(&legacy(Some(1)).encoded_for_signing())),
        None,
        &k.public(),
    )
    .unwrap();
    let (signed, _) = sign(c, &input, &k);
    invalid(
        tx_err(c, Some(&signed.signed_transaction), None),
        "already signed",
    );
    let input = transaction_input(c, Some(&good), None, &k.public()).unwrap();
    let (signed, _) = sign(c, &input, &k);
    invalid(
        tx_err(c, Some(&signed.signed_transaction), None),
        "already signed",
    );

    // Wrong chain id in each form.
    for raw in [
        legacy(Some(5)).encoded_for_signing(),
        eip2930(5).encoded_for_signing(),
        eip1559(5).encoded_for_signing(),
    ] {
        let err = tx_err(c, Some(&hex0x(&raw)), None);
        assert_eq!(
            err,
            ChainError::ChainIdMismatch {
                expected: 1,
                got: 5
            }
        );
    }
    let mut bad_fees = eip1559(1);
    bad_fees.max_priority_fee_per_gas = bad_fees.max_fee_per_gas + 1;
    invalid(
        tx_err(c, Some(&hex0x(&bad_fees.encoded_for_signing())), None),
        "maxPriorityFeePerGas",
    );
}

#[test]
fn json_transactions_are_refused_with_reasons() {
    let c = chain("BSC");
    let base = json!({"nonce": 1, "to": TO.to_checksum(None), "gas": 21000, "gasPrice": 5});
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        o.to_string()
    };
    let without = |k: &str| {
        let mut o = base.clone();
        o.as_object_mut().unwrap().remove(k);
        o.to_string()
    };
    assert!(transaction_input(c, None, Some(&base.to_string()), &EcKey::new(1).public()).is_ok());
    invalid(tx_err(c, None, Some("not json")), "not JSON");
    invalid(tx_err(c, None, Some("[]")), "object");
    invalid(
        tx_err(c, None, Some(&with("gasLimt", json!(1)))),
        "unknown transaction field",
    );
    invalid(
        tx_err(c, None, Some(&without("nonce"))),
        "nonce is required",
    );
    invalid(
        tx_err(c, None, Some(&without("gas"))),
        "gas (or gasLimit) is required",
    );
    invalid(
        tx_err(c, None, Some(&with("gasLimit", json!(21000)))),
        "not both",
    );
    invalid(
        tx_err(c, None, Some(&without("gasPrice"))),
        "gasPrice is required",
    );
    invalid(tx_err(c, None, Some(&with("nonce", json!(-1)))), "nonce");
    invalid(tx_err(c, None, Some(&with("nonce", json!(1.5)))), "nonce");
    invalid(tx_err(c, None, Some(&with("nonce", json!("0x")))), "nonce");
    invalid(tx_err(c, None, Some(&with("nonce", json!("12a")))), "nonce");
    invalid(
        tx_err(c, None, Some(&with("nonce", json!("18446744073709551616")))),
        "too large",
    );
    invalid(tx_err(c, None, Some(&with("nonce", json!(true)))), "nonce");
    invalid(
        tx_err(
            c,
            None,
            Some(&with(
                "to",
                json!("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
            )),
        ),
        "checksum",
    );
    invalid(
        tx_err(c, None, Some(&with("to", json!("0x1234")))),
        "40 hex",
    );
    invalid(
        tx_err(c, None, Some(&with("data", json!("abcd")))),
        "0x-hex",
    );
    invalid(
        tx_err(c, None, Some(&with("data", json!("0xabc")))),
        "not hex",
    );
    invalid(tx_err(c, None, Some(&with("type", json!(3)))), "type 3");
    invalid(
        tx_err(c, None, Some(&with("maxFeePerGas", json!(3)))),
        "not gasPrice",
    );
    let typed0 = with("maxFeePerGas", json!(3)).replace("\"nonce\"", "\"type\":0,\"nonce\"");
    invalid(tx_err(c, None, Some(&typed0)), "gasPrice, not maxFeePerGas");
    invalid(
        tx_err(
            c,
            None,
            Some(&with("accessList", json!([])).replace("\"nonce\"", "\"type\":0,\"nonce\"")),
        ),
        "no accessList",
    );
    invalid(
        tx_err(
            c,
            None,
            Some(&with(
                "accessList",
                json!([{"address": TO.to_string(), "storageKeys": ["0x01"]}]),
            )),
        ),
        "32 bytes",
    );
    invalid(
        tx_err(
            c,
            None,
            Some(&with(
                "accessList",
                json!([{"address": TO.to_string(), "slots": []}]),
            )),
        ),
        "unknown accessList field",
    );
    invalid(
        tx_err(c, None, Some(&with("type", json!(2)))),
        "not gasPrice",
    );
    let fees = json!({"nonce": 1, "gas": 21000, "maxFeePerGas": 1, "maxPriorityFeePerGas": 2});
    invalid(
        tx_err(c, None, Some(&fees.to_string())),
        "above maxFeePerGas",
    );
    let half = json!({"nonce": 1, "gas": 21000, "maxFeePerGas": 1});
    invalid(tx_err(c, None, Some(&half.to_string())), "required");

    let err = tx_err(c, None, Some(&with("chainId", json!(1))));
    assert_eq!(
        err,
        ChainError::ChainIdMismatch {
            expected: 56,
            got: 1
        }
    );
    let err = tx_err(c, None, Some(&with("from", json!(TO.to_checksum(None)))));
    assert_eq!(err, ChainError::NotSigner);
}

#[test]
fn finish_transaction_checks_key_and_signature() {
    let c = chain("OP");
    let k = EcKey::new(4);
    let raw = hex0x(&eip2930(10).encoded_for_signing());
    let input = transaction_input(c, Some(&raw), None, &k.public()).unwrap();
    let (sig, recid) = k.sign(&input);
    let other = EcKey::new(5);
    let err = finish_transaction(c, &input, &sig, Some(recid), &other.public()).unwrap_err();
    assert!(matches!(err, ChainError::InputMismatch(_)));
    let (sig2, recid2) = other.sign(&input);
    assert_eq!(
        finish_transaction(c, &input, &sig2, Some(recid2), &k.public()),
        Err(ChainError::SignatureMismatch)
    );
    let err = finish_transaction(chain("OP-SEPOLIA"), &input, &sig, Some(recid), &k.public())
        .unwrap_err();
    assert!(matches!(err, ChainError::InputMismatch(_)));
    // A payload changed after preparation is refused, not signed into another transaction.
    let mut changed = input.clone();
    changed.payload[0] ^= 1;
    assert!(matches!(
        finish_transaction(c, &changed, &sig, Some(recid), &k.public()),
        Err(ChainError::InputMismatch(_))
    ));
    // The recovery id is optional.
    assert_eq!(
        finish_transaction(c, &input, &sig, None, &k.public()).unwrap(),
        finish_transaction(c, &input, &sig, Some(recid), &k.public()).unwrap()
    );
}

#[test]
fn bitcoin_transactions_and_bad_signer_keys_are_refused() {
    let err =
        transaction_input(chain("BTC"), Some("00"), None, &EcKey::new(1).public()).unwrap_err();
    assert!(matches!(err, ChainError::UnsupportedOperation(_)));
    let raw = hex0x(&eip1559(1).encoded_for_signing());
    assert_eq!(
        transaction_input(chain("ETH"), Some(&raw), None, &[2u8; 32]).unwrap_err(),
        ChainError::InvalidPublicKey
    );
}
