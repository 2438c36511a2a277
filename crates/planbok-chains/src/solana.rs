//! Solana: legacy and v0 messages, bare or inside a wire transaction.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::{Signature, VersionedMessage};

use crate::chain::Chain;
use crate::error::{ChainError, tx};
use crate::keys;
use crate::sign::{Pending, SignInput, SignedTransaction};

/// What `finish_transaction` needs: the message, our signer slot and the other slots.
#[derive(Clone)]
pub(crate) struct Prepared {
    message: VersionedMessage,
    message_bytes: Vec<u8>,
    slot: usize,
    signatures: Vec<[u8; 64]>,
    signer: [u8; 32],
}

fn decode_message(bytes: &[u8]) -> Option<VersionedMessage> {
    let message: VersionedMessage = wincode::deserialize_exact(bytes).ok()?;
    // Only a canonical encoding: the bytes we sign are the bytes the cluster re-derives.
    (wincode::serialize(&message).ok()? == bytes).then_some(message)
}

/// A wire transaction: ShortU16 count ‖ 64-byte signatures ‖ message, whose signature count is
/// the message's number of required signers.
fn decode_transaction(bytes: &[u8]) -> Option<VersionedTransaction> {
    let t: VersionedTransaction = wincode::deserialize_exact(bytes).ok()?;
    let required = usize::from(t.message.header().num_required_signatures);
    (t.signatures.len() == required && wincode::serialize(&t).ok()? == bytes).then_some(t)
}

pub(crate) fn raw_input(chain: Chain, raw: &str, signer: &[u8]) -> Result<SignInput, ChainError> {
    let bytes = BASE64
        .decode(raw)
        .map_err(|e| tx(format!("a Solana rawTransaction is base64: {e}")))?;
    // A wire transaction is tried first: a bare message that also parses as a consistent
    // transaction would need a signature count equal to its own first header byte, which
    // the sanitize checks below then reject for almost every real message.
    let (message, signatures) = if let Some(t) = decode_transaction(&bytes) {
        let sigs = t.signatures.iter().map(|s| *s.as_array()).collect();
        (t.message, sigs)
    } else if let Some(m) = decode_message(&bytes) {
        let n = usize::from(m.header().num_required_signatures);
        (m, vec![[0u8; 64]; n])
    } else {
        return Err(tx(
            "not a Solana message or wire transaction (legacy or v0)",
        ));
    };
    if matches!(message, VersionedMessage::V1(_)) {
        return Err(tx(
            "Solana v1 messages are not supported (legacy and v0 are)",
        ));
    }
    message
        .sanitize()
        .map_err(|e| tx(format!("the Solana message is malformed: {e}")))?;
    let key = keys::ed25519(signer)?.to_bytes();
    let required = usize::from(message.header().num_required_signatures);
    let slot = message
        .static_account_keys()
        .iter()
        .take(required)
        .position(|k| k.as_ref() == key.as_slice())
        .ok_or(ChainError::NotSigner)?;
    let payload = wincode::serialize(&message)
        .map_err(|e| tx(format!("the Solana message does not re-encode: {e}")))?;
    Ok(SignInput::new(
        chain,
        payload.clone(),
        "solana",
        Pending::Solana(Prepared {
            message,
            message_bytes: payload,
            slot,
            signatures,
            signer: key,
        }),
    ))
}

pub(crate) fn finish(
    input: &SignInput,
    p: &Prepared,
    signature: &[u8; 64],
    signer: &[u8],
) -> Result<SignedTransaction, ChainError> {
    if p.signer.as_slice() != signer {
        return Err(ChainError::InputMismatch(
            "finish_transaction with another key than transaction_input".into(),
        ));
    }
    // Verify over the message we are about to send, not the public `payload` field.
    if input.payload != p.message_bytes {
        return Err(ChainError::InputMismatch("payload was changed".into()));
    }
    keys::check_ed25519(signer, &p.message_bytes, signature)?;
    let mut sigs = p.signatures.clone();
    if let Some(slot) = sigs.get_mut(p.slot) {
        *slot = *signature;
    }
    let signed = VersionedTransaction {
        signatures: sigs.iter().map(|s| Signature::from(*s)).collect(),
        message: p.message.clone(),
    };
    let wire = wincode::serialize(&signed)
        .map_err(|e| ChainError::InputMismatch(format!("wire encoding failed: {e}")))?;
    let first = sigs.first().copied().unwrap_or(*signature);
    Ok(SignedTransaction {
        signature: bs58::encode(signature).into_string(),
        signed_transaction: BASE64.encode(wire),
        tx_hash: bs58::encode(first).into_string(),
    })
}
