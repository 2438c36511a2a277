//! NEAR: borsh `Transaction` (V0) signing. NEAR signs SHA-256 of the transaction bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use borsh::BorshDeserialize;
use near_account_id::AccountId;
use sha2::{Digest, Sha256};

use crate::chain::Chain;
use crate::error::{ChainError, tx};
use crate::keys;
use crate::sign::{Pending, SignInput, SignedTransaction};

/// borsh `KeyType::ED25519` (the `PublicKey` / `Signature` enum tag).
const ED25519: u8 = 0;
/// borsh `KeyType::SECP256K1`.
const SECP256K1: u8 = 1;

/// What `finish_transaction` needs: the transaction bytes and the key they name.
#[derive(Clone)]
pub(crate) struct Prepared {
    tx: Vec<u8>,
    signer: [u8; 32],
}

/// The fixed-layout head of a `TransactionV0`: `signer_id: AccountId, public_key: PublicKey,
/// nonce: u64, receiver_id: AccountId, block_hash: [u8; 32], actions: Vec<Action>`. The
/// actions are not decoded (their schema grows with protocol versions); the node validates
/// them, and the wallet signs exactly the bytes given.
fn read_head(bytes: &[u8]) -> Result<[u8; 32], ChainError> {
    if bytes.first() == Some(&1) {
        // A V0 transaction starts with signer_id's u32 length, at least 2, so a leading 1
        // is the TransactionV1 tag.
        return Err(tx("NEAR TransactionV1 is not supported (V0 is)"));
    }
    let mut buf = bytes;
    fn bad(what: &'static str) -> impl Fn(std::io::Error) -> ChainError {
        move |e| tx(format!("NEAR transaction {what}: {e}"))
    }
    AccountId::deserialize(&mut buf).map_err(bad("signer_id"))?;
    let key_type = u8::deserialize(&mut buf).map_err(bad("public_key"))?;
    let key = match key_type {
        ED25519 => <[u8; 32]>::deserialize(&mut buf).map_err(bad("public_key"))?,
        SECP256K1 => return Err(ChainError::NotSigner),
        other => return Err(tx(format!("NEAR transaction: unknown key type {other}"))),
    };
    u64::deserialize(&mut buf).map_err(bad("nonce"))?;
    AccountId::deserialize(&mut buf).map_err(bad("receiver_id"))?;
    <[u8; 32]>::deserialize(&mut buf).map_err(bad("block_hash"))?;
    let actions = u32::deserialize(&mut buf).map_err(bad("actions"))?;
    if actions == 0 || buf.is_empty() {
        return Err(tx("NEAR transaction has no actions"));
    }
    Ok(key)
}

pub(crate) fn raw_input(chain: Chain, raw: &str, signer: &[u8]) -> Result<SignInput, ChainError> {
    let bytes = BASE64
        .decode(raw)
        .map_err(|e| tx(format!("a NEAR rawTransaction is base64: {e}")))?;
    let key = read_head(&bytes)?;
    let ours = keys::ed25519(signer)?.to_bytes();
    if key != ours {
        return Err(ChainError::NotSigner);
    }
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    Ok(SignInput::new(
        chain,
        hash.to_vec(),
        "near",
        Pending::Near(Prepared {
            tx: bytes,
            signer: ours,
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
    // Verify over the hash of the bytes we are about to send, not the public `payload` field.
    let hash: [u8; 32] = Sha256::digest(&p.tx).into();
    if input.payload != hash {
        return Err(ChainError::InputMismatch("payload was changed".into()));
    }
    keys::check_ed25519(signer, &hash, signature)?;
    // borsh SignedTransaction { transaction, signature: Signature::ED25519(64 bytes) }.
    let mut signed = p.tx.clone();
    signed.push(ED25519);
    signed.extend_from_slice(signature);
    Ok(SignedTransaction {
        signature: BASE64.encode(signature),
        signed_transaction: BASE64.encode(signed),
        tx_hash: bs58::encode(hash).into_string(),
    })
}
