//! NEAR: borsh `Transaction` (V0) signing (NEAR signs SHA-256 of the transaction bytes),
//! and NEP-366 delegate actions (meta-transactions: SHA-256 of the `SignableMessage` with
//! the delegate-action discriminant, then the `SignedDelegateAction` a relayer submits).

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

/// NEP-461's `MIN_ON_CHAIN_DISCRIMINANT` (2^30) + NEP-366: the `SignableMessage` prefix of
/// a delegate action, borsh `u32` (little-endian).
const DELEGATE_ACTION_DISCRIMINANT: u32 = (1 << 30) + 366;

/// What `finish_transaction` needs: the transaction (or delegate action) bytes and the
/// key they name.
#[derive(Clone)]
pub(crate) struct Prepared {
    tx: Vec<u8>,
    signer: [u8; 32],
    /// A NEP-366 delegate action, not a transaction.
    delegate: bool,
}

impl Prepared {
    /// What is signed: SHA-256 of the transaction, or of the delegate action's
    /// `SignableMessage` (its discriminant, then the action).
    fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        if self.delegate {
            h.update(DELEGATE_ACTION_DISCRIMINANT.to_le_bytes());
        }
        h.update(&self.tx);
        h.finalize().into()
    }
}

/// A `DelegateAction`: `sender_id: AccountId, receiver_id: AccountId, actions:
/// Vec<NonDelegateAction>, nonce: u64, max_block_height: u64, public_key: PublicKey`. The
/// head is read from the front and the fixed-size tail (nonce, max block height, an
/// ED25519 key: 49 bytes) from the back; the actions between are not decoded, as for a
/// transaction. The key named is returned.
fn read_delegate(bytes: &[u8]) -> Result<[u8; 32], ChainError> {
    fn bad(what: &'static str) -> impl Fn(std::io::Error) -> ChainError {
        move |e| tx(format!("NEAR delegate action {what}: {e}"))
    }
    let mut buf = bytes;
    AccountId::deserialize(&mut buf).map_err(bad("sender_id"))?;
    AccountId::deserialize(&mut buf).map_err(bad("receiver_id"))?;
    let actions = u32::deserialize(&mut buf).map_err(bad("actions"))?;
    // At least one action (a tag byte) between the count and the 49-byte tail.
    if actions == 0 || buf.len() < 1 + 8 + 8 + 1 + 32 {
        return Err(tx("NEAR delegate action has no actions"));
    }
    let tail = &buf[buf.len() - 33..];
    if tail[0] != ED25519 {
        return Err(ChainError::NotSigner);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&tail[1..]);
    Ok(key)
}

/// The input of a NEP-366 delegate action (`unsignedDelegateAction`, base64 borsh) signed
/// by the ed25519 wallet `signer`: SHA-256 of its `SignableMessage`.
pub fn delegate_action_input(
    chain: Chain,
    raw: &str,
    signer: &[u8],
) -> Result<SignInput, ChainError> {
    if chain.family() != crate::chain::Family::Near {
        return Err(ChainError::UnsupportedOperation(format!(
            "delegate actions are NEAR's (NEP-366), not {}'s",
            chain.id()
        )));
    }
    let bytes = BASE64
        .decode(raw)
        .map_err(|e| tx(format!("unsignedDelegateAction is base64: {e}")))?;
    let key = read_delegate(&bytes)?;
    input(chain, bytes, key, signer, true)
}

/// The input over `bytes` (a transaction, or a delegate action when `delegate`) whose
/// named key `key` must be the wallet's `signer`.
fn input(
    chain: Chain,
    bytes: Vec<u8>,
    key: [u8; 32],
    signer: &[u8],
    delegate: bool,
) -> Result<SignInput, ChainError> {
    let ours = keys::ed25519(signer)?.to_bytes();
    if key != ours {
        return Err(ChainError::NotSigner);
    }
    let p = Prepared {
        tx: bytes,
        signer: ours,
        delegate,
    };
    let standard = if delegate { "nep366" } else { "near" };
    Ok(SignInput::new(
        chain,
        p.hash().to_vec(),
        standard,
        Pending::Near(p),
    ))
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
    input(chain, bytes, key, signer, false)
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
    let hash = p.hash();
    if input.payload != hash {
        return Err(ChainError::InputMismatch("payload was changed".into()));
    }
    keys::check_ed25519(signer, &hash, signature)?;
    // borsh SignedTransaction { transaction, signature: Signature::ED25519(64 bytes) }, or
    // SignedDelegateAction { delegate_action, signature } alike.
    let mut signed = p.tx.clone();
    signed.push(ED25519);
    signed.extend_from_slice(signature);
    Ok(SignedTransaction {
        signature: BASE64.encode(signature),
        signed_transaction: BASE64.encode(signed),
        tx_hash: bs58::encode(hash).into_string(),
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;

    fn action(pk: &[u8; 32], actions: u32) -> Vec<u8> {
        let mut d = Vec::new();
        for account in [hex::encode(pk).as_str(), "bob.testnet"] {
            d.extend_from_slice(&(account.len() as u32).to_le_bytes());
            d.extend_from_slice(account.as_bytes());
        }
        d.extend_from_slice(&actions.to_le_bytes());
        if actions > 0 {
            d.push(3);
            d.extend_from_slice(&5u128.to_le_bytes());
        }
        d.extend_from_slice(&7u64.to_le_bytes());
        d.extend_from_slice(&100u64.to_le_bytes());
        d.push(ED25519);
        d.extend_from_slice(pk);
        d
    }

    /// The signed digest is SHA-256 of the NEP-366 `SignableMessage` (the discriminant
    /// 2^30 + 366 as a little-endian u32, then the action), written out here by hand; the
    /// signed form is the action, the key type and the signature.
    #[test]
    fn a_delegate_action_signs_its_signable_message() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = sk.verifying_key().to_bytes();
        let chain = Chain::parse("NEAR-TESTNET").unwrap();
        let raw = action(&pk, 1);
        let input = delegate_action_input(chain, &BASE64.encode(&raw), &pk).unwrap();
        let mut signable = 1_073_742_190u32.to_le_bytes().to_vec();
        signable.extend_from_slice(&raw);
        let digest: [u8; 32] = Sha256::digest(&signable).into();
        assert_eq!(input.payload, digest);
        assert_eq!(input.standard, "nep366");
        let sig = sk.sign(&digest).to_bytes();
        let signed = crate::finish_transaction(chain, &input, &sig, None, &pk).unwrap();
        let bytes = BASE64.decode(&signed.signed_transaction).unwrap();
        assert_eq!(bytes, [raw.as_slice(), &[ED25519], &sig].concat());
        // A signature over the plain SHA-256 of the action (a transaction's) is refused.
        let plain: [u8; 32] = Sha256::digest(&raw).into();
        let wrong = sk.sign(&plain).to_bytes();
        assert!(crate::finish_transaction(chain, &input, &wrong, None, &pk).is_err());
    }

    #[test]
    fn a_delegate_action_is_refused_off_near_for_another_key_or_without_actions() {
        let pk = SigningKey::from_bytes(&[7u8; 32])
            .verifying_key()
            .to_bytes();
        let other = SigningKey::from_bytes(&[8u8; 32])
            .verifying_key()
            .to_bytes();
        let near = Chain::parse("NEAR-TESTNET").unwrap();
        let raw = BASE64.encode(action(&pk, 1));
        assert!(matches!(
            delegate_action_input(Chain::parse("SOL-DEVNET").unwrap(), &raw, &pk),
            Err(ChainError::UnsupportedOperation(_))
        ));
        assert!(matches!(
            delegate_action_input(near, &raw, &other),
            Err(ChainError::NotSigner)
        ));
        assert!(delegate_action_input(near, &BASE64.encode(action(&pk, 0)), &pk).is_err());
        assert!(delegate_action_input(near, "not base64!", &pk).is_err());
        assert!(delegate_action_input(near, &BASE64.encode([1u8, 2, 3]), &pk).is_err());
    }
}
