//! Solana: bare messages and wire transactions, legacy and v0, single and multi-signer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use planbok_chains::{Chain, ChainError, address, finish_transaction, transaction_input};
use serde_json::{Value, json};
use solana_message::compiled_instruction::CompiledInstruction;
use solana_message::{Address, Hash, MessageHeader, VersionedMessage, v0};

use crate::{EdKey, chain};

/// A system-program transfer from `payer` (and, with `cosigner`, a second required signer).
fn message(payer: &[u8], cosigner: Option<&[u8]>, version0: bool) -> VersionedMessage {
    let key = |b: &[u8]| Address::from(<[u8; 32]>::try_from(b).unwrap());
    let mut keys = vec![key(payer)];
    if let Some(c) = cosigner {
        keys.push(key(c));
    }
    let signers = keys.len() as u8;
    keys.push(Address::from([7u8; 32])); // recipient
    keys.push(Address::from([0u8; 32])); // system program
    let mut data = vec![2, 0, 0, 0];
    data.extend_from_slice(&1_000_000u64.to_le_bytes());
    let header = MessageHeader {
        num_required_signatures: signers,
        num_readonly_signed_accounts: 0,
        num_readonly_unsigned_accounts: 1,
    };
    let instructions = vec![CompiledInstruction {
        program_id_index: signers + 1,
        accounts: vec![0, signers],
        data,
    }];
    let recent_blockhash = Hash::from([9u8; 32]);
    if version0 {
        VersionedMessage::V0(v0::Message {
            header,
            account_keys: keys,
            recent_blockhash,
            instructions,
            address_table_lookups: vec![],
        })
    } else {
        VersionedMessage::Legacy(solana_message::Message {
            header,
            account_keys: keys,
            recent_blockhash,
            instructions,
        })
    }
}

fn bytes(m: &VersionedMessage) -> Vec<u8> {
    wincode::serialize(m).unwrap()
}

/// A wire transaction: ShortU16 count (< 128: one byte) ‖ signatures ‖ message.
fn wire(m: &VersionedMessage, sigs: &[[u8; 64]]) -> Vec<u8> {
    let mut out = vec![sigs.len() as u8];
    for s in sigs {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&bytes(m));
    out
}

pub fn python_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for c in Chain::all()
        .iter()
        .filter(|c| c.family() == planbok_chains::Family::Solana)
    {
        let me = EdKey::new(40);
        let other = EdKey::new(41);
        for version0 in [false, true] {
            // Alone, as a bare message and as an unsigned wire transaction.
            let m = message(&me.public(), None, version0);
            for raw in [bytes(&m), wire(&m, &[[0; 64]])] {
                cases.push(sign_case(*c, &me, &raw, &m, true));
            }
            // Second signer, after the fee payer already signed: both verify.
            let m = message(&other.public(), Some(&me.public()), version0);
            let payer_sig = {
                use ed25519_dalek::Signer as _;
                other.0.sign(&bytes(&m)).to_bytes()
            };
            cases.push(sign_case(
                *c,
                &me,
                &wire(&m, &[payer_sig, [0; 64]]),
                &m,
                true,
            ));
            // Fee payer of a two-signer message: the other slot stays empty.
            let m = message(&me.public(), Some(&other.public()), version0);
            cases.push(sign_case(*c, &me, &bytes(&m), &m, false));
        }
    }
    cases
}

fn sign_case(c: Chain, k: &EdKey, raw: &[u8], m: &VersionedMessage, fully_signed: bool) -> Value {
    let input = transaction_input(c, Some(&BASE64.encode(raw)), None, &k.public()).unwrap();
    assert_eq!(input.payload, bytes(m), "the payload is the message bytes");
    assert_eq!(input.standard, "solana");
    let sig = k.sign(&input);
    let out = finish_transaction(c, &input, &sig, None, &k.public()).unwrap();
    assert_eq!(out.signature, bs58::encode(sig).into_string());
    json!({"kind": "sol_tx", "signed": out.signed_transaction, "tx_hash": out.tx_hash,
           "signature": out.signature, "address": address(c, &k.public()).unwrap(),
           "message": hex::encode(bytes(m)), "fully_signed": fully_signed})
}

#[test]
fn signer_slot_and_refusals() {
    let c = chain("SOL-DEVNET");
    let me = EdKey::new(1);
    let other = EdKey::new(2);
    let b64 = |b: &[u8]| BASE64.encode(b);

    // Our signature lands in our slot; the payer's is kept.
    let m = message(&other.public(), Some(&me.public()), true);
    let raw = wire(&m, &[[5; 64], [0; 64]]);
    let input = transaction_input(c, Some(&b64(&raw)), None, &me.public()).unwrap();
    let sig = me.sign(&input);
    let out = finish_transaction(c, &input, &sig, None, &me.public()).unwrap();
    let signed = BASE64.decode(&out.signed_transaction).unwrap();
    assert_eq!(signed, wire(&m, &[[5; 64], sig]));
    assert_eq!(out.tx_hash, bs58::encode([5u8; 64]).into_string());

    // Not a signer: a key that is only a (writable) account, or absent.
    let m = message(&other.public(), None, false);
    assert_eq!(
        transaction_input(c, Some(&b64(&bytes(&m))), None, &me.public()).unwrap_err(),
        ChainError::NotSigner
    );

    let invalid = |raw: &str| {
        let err = transaction_input(c, Some(raw), None, &me.public()).unwrap_err();
        assert!(
            matches!(err, ChainError::InvalidTransaction(_)),
            "{raw}: {err:?}"
        );
    };
    invalid("not base64!");
    invalid("");
    invalid(&b64(&[1, 2, 3]));
    let good = bytes(&message(&me.public(), None, false));
    invalid(&b64(&good[..good.len() - 1]));
    let mut trailing = good.clone();
    trailing.push(0);
    invalid(&b64(&trailing));
    // Instruction pointing past the account keys: sanitize() refuses it.
    let mut m = message(&me.public(), None, false);
    if let VersionedMessage::Legacy(l) = &mut m {
        l.instructions[0].program_id_index = 9;
    }
    invalid(&b64(&bytes(&m)));

    let err = transaction_input(c, None, Some("{}"), &me.public()).unwrap_err();
    assert!(matches!(err, ChainError::UnsupportedOperation(_)));

    // finish checks the signature and the key.
    let m = message(&me.public(), None, false);
    let input = transaction_input(c, Some(&b64(&bytes(&m))), None, &me.public()).unwrap();
    let mut sig = me.sign(&input);
    assert!(matches!(
        finish_transaction(c, &input, &sig, None, &other.public()),
        Err(ChainError::InputMismatch(_))
    ));
    sig[0] ^= 1;
    assert_eq!(
        finish_transaction(c, &input, &sig, None, &me.public()),
        Err(ChainError::SignatureMismatch)
    );
}
