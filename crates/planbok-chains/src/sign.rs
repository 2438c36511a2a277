//! What the nodes sign for a request ([`SignInput`]) and what the API returns afterwards.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use planbok_api::model::MessageSignature;

use crate::chain::{Chain, Curve, Family};
use crate::error::ChainError;
use crate::{btc, evm, keys, near, solana};

/// What the nodes must sign, computed per the chain's standard from the request's input.
///
/// `payload` is a 32-byte digest for secp256k1 chains (the nodes sign it as a prehash) and the
/// exact bytes for ed25519 chains (the nodes sign them as the EdDSA message). Carries the
/// parsed input the matching `finish_*` needs; `Debug` prints sizes and the digest only.
#[derive(Clone)]
pub struct SignInput {
    /// The 32-byte digest (secp256k1) or the exact message bytes (ed25519).
    pub payload: Vec<u8>,
    /// `0x`-hex of `payload`.
    pub digest_hex: String,
    /// The standard applied: `eip191`, `eip712`, `bip137`, `ed25519` (messages); `eip155`
    /// (legacy), `eip2930`, `eip1559`, `solana`, `near` (transactions).
    pub standard: &'static str,
    pub(crate) chain: Chain,
    pub(crate) pending: Pending,
}

/// What `finish_*` needs beyond the payload.
#[derive(Clone)]
pub(crate) enum Pending {
    Message,
    Evm(Box<evm::UnsignedTx>),
    Solana(solana::Prepared),
    Near(near::Prepared),
}

impl SignInput {
    pub(crate) fn new(
        chain: Chain,
        payload: Vec<u8>,
        standard: &'static str,
        pending: Pending,
    ) -> Self {
        SignInput {
            digest_hex: format!("0x{}", hex::encode(&payload)),
            payload,
            standard,
            chain,
            pending,
        }
    }

    /// The chain this input was prepared for.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// True when this input is a transaction (finish with [`finish_transaction`]), false for a
    /// message or typed data (finish with [`finish_message`]).
    pub fn is_transaction(&self) -> bool {
        !matches!(self.pending, Pending::Message)
    }
}

impl fmt::Debug for SignInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        let mut digest = self.digest_hex.clone();
        if digest.len() > 2 + SHOWN {
            digest.truncate(2 + SHOWN);
            digest.push('…');
        }
        f.debug_struct("SignInput")
            .field("chain", &self.chain)
            .field("standard", &self.standard)
            .field("payload_len", &self.payload.len())
            .field("digest", &digest)
            .field("transaction", &self.is_transaction())
            .finish()
    }
}

/// The API's `sign/transaction` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    /// EVM: `0x` + r ‖ s ‖ v (legacy: EIP-155 v as minimal big-endian bytes) or r ‖ s ‖ yParity
    /// (typed); SOL: base58; NEAR: base64.
    pub signature: String,
    /// EVM: `0x`-hex of the signed transaction (EIP-2718); SOL and NEAR: base64 wire bytes.
    pub signed_transaction: String,
    /// EVM: `0x`-hex Keccak-256 of the signed transaction; SOL: base58 of the first signature;
    /// NEAR: base58 of SHA-256 of the transaction.
    pub tx_hash: String,
}

/// Prepares a message signature. EVM: EIP-191 `personal_sign` digest; BTC: BIP-137 digest
/// (double SHA-256 of `"\x18Bitcoin Signed Message:\n"` ‖ CompactSize length ‖ message);
/// SOL / NEAR: the message bytes themselves. With `encoded_by_hex` the message is `0x`-hex.
pub fn message_input(
    chain: Chain,
    message: &str,
    encoded_by_hex: bool,
) -> Result<SignInput, ChainError> {
    let bytes = if encoded_by_hex {
        let digits = message.strip_prefix("0x").ok_or_else(|| {
            ChainError::InvalidMessage("encodedByHex message must start with 0x".into())
        })?;
        hex::decode(digits).map_err(|e| {
            ChainError::InvalidMessage(format!("encodedByHex message is not hex: {e}"))
        })?
    } else {
        message.as_bytes().to_vec()
    };
    if bytes.is_empty() {
        return Err(ChainError::InvalidMessage("message is empty".into()));
    }
    let (payload, standard) = match chain.family() {
        Family::Evm => (
            alloy_primitives::eip191_hash_message(&bytes).to_vec(),
            "eip191",
        ),
        Family::Bitcoin => (btc::bip137_digest(&bytes).to_vec(), "bip137"),
        Family::Solana | Family::Near => (bytes, "ed25519"),
    };
    Ok(SignInput::new(chain, payload, standard, Pending::Message))
}

/// Prepares an EIP-712 signature (EVM only): the signing hash
/// `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))`. A `chainId` in the
/// domain must be the chain's.
pub fn typed_data_input(chain: Chain, typed_data_json: &str) -> Result<SignInput, ChainError> {
    match chain.family() {
        Family::Evm => evm::typed_data_input(chain, typed_data_json),
        _ => Err(ChainError::UnsupportedOperation(format!(
            "typed data is EVM only, not {}",
            chain.id()
        ))),
    }
}

/// Prepares a transaction signature from exactly one of `raw_transaction` (EVM `0x`-hex
/// unsigned RLP; SOL / NEAR base64) and `transaction_json` (EVM fields). See `docs/chains.md`.
pub fn transaction_input(
    chain: Chain,
    raw_transaction: Option<&str>,
    transaction_json: Option<&str>,
    signer_public_key: &[u8],
) -> Result<SignInput, ChainError> {
    if chain.family() == Family::Bitcoin {
        return Err(ChainError::UnsupportedOperation(
            "Bitcoin transaction signing (PSBT) is not supported yet".into(),
        ));
    }
    match chain.curve() {
        Curve::Secp256k1 => keys::secp256k1(signer_public_key).map(drop)?,
        Curve::Ed25519 => keys::ed25519(signer_public_key).map(drop)?,
    }
    match (raw_transaction, transaction_json) {
        (Some(_), Some(_)) => Err(crate::error::tx(
            "give either rawTransaction or transaction, not both",
        )),
        (None, None) => Err(crate::error::tx(
            "rawTransaction or transaction is required",
        )),
        (Some(raw), None) => match chain.family() {
            Family::Evm => evm::raw_input(chain, raw, signer_public_key),
            Family::Solana => solana::raw_input(chain, raw, signer_public_key),
            Family::Near => near::raw_input(chain, raw, signer_public_key),
            Family::Bitcoin => unreachable_family(chain),
        },
        (None, Some(json)) => match chain.family() {
            Family::Evm => evm::json_input(chain, json, signer_public_key),
            _ => Err(ChainError::UnsupportedOperation(format!(
                "a transaction as JSON is EVM only; give {} a rawTransaction",
                chain.id()
            ))),
        },
    }
}

fn unreachable_family(chain: Chain) -> Result<SignInput, ChainError> {
    Err(ChainError::UnsupportedOperation(format!(
        "transactions are not supported on {}",
        chain.id()
    )))
}

fn check_input(chain: Chain, input: &SignInput, transaction: bool) -> Result<(), ChainError> {
    if input.chain != chain {
        return Err(ChainError::InputMismatch(format!(
            "input prepared for {}, finished for {}",
            input.chain.id(),
            chain.id()
        )));
    }
    if input.is_transaction() != transaction {
        return Err(ChainError::InputMismatch(if transaction {
            "a message input given to finish_transaction".into()
        } else {
            "a transaction input given to finish_message".into()
        }));
    }
    Ok(())
}

/// The 32-byte digest of a secp256k1 input.
pub(crate) fn digest32(input: &SignInput) -> Result<[u8; 32], ChainError> {
    input
        .payload
        .as_slice()
        .try_into()
        .map_err(|_| ChainError::InputMismatch("secp256k1 payload is not 32 bytes".into()))
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Turns the nodes' signature over a message or typed-data input into the API result (the
/// REST contract's own type: one definition, so its documentation cannot drift), after
/// checking it against `signer_public_key` (ECDSA: recovery; ed25519: strict verification).
/// `recovery_id` may be `None` for ECDSA (it is then found by recovery) and is ignored for
/// ed25519. EVM: `0x` + r ‖ s ‖ (27 + recid); BTC: base64((39 + recid) ‖ r ‖ s), the BIP-137
/// header of a P2WPKH key; SOL: base58; NEAR: base64.
pub fn finish_message(
    chain: Chain,
    input: &SignInput,
    signature: &[u8; 64],
    recovery_id: Option<u8>,
    signer_public_key: &[u8],
) -> Result<MessageSignature, ChainError> {
    check_input(chain, input, false)?;
    let (signature, sig, v) = match chain.curve() {
        Curve::Secp256k1 => {
            let digest = digest32(input)?;
            let (sig, recid) =
                keys::check_ecdsa(signer_public_key, &digest, signature, recovery_id)?;
            if chain.family() == Family::Bitcoin {
                let header = btc::P2WPKH_HEADER + recid;
                let mut out = vec![header];
                out.extend_from_slice(&sig);
                (BASE64.encode(out), sig, Some(header))
            } else {
                let v = 27 + recid;
                let mut out = sig.to_vec();
                out.push(v);
                (hex0x(&out), sig, Some(v))
            }
        }
        Curve::Ed25519 => {
            keys::check_ed25519(signer_public_key, &input.payload, signature)?;
            let text = if chain.family() == Family::Solana {
                bs58::encode(signature).into_string()
            } else {
                BASE64.encode(signature)
            };
            (text, *signature, None)
        }
    };
    Ok(MessageSignature {
        signature,
        r: hex0x(&sig[..32]),
        s: hex0x(&sig[32..]),
        v,
        digest: input.digest_hex.clone(),
        standard: input.standard.to_owned(),
    })
}

/// Turns the nodes' signature over a transaction input into the signed transaction, after
/// checking it against `signer_public_key` (which must be the key given to
/// [`transaction_input`]).
pub fn finish_transaction(
    chain: Chain,
    input: &SignInput,
    signature: &[u8; 64],
    recovery_id: Option<u8>,
    signer_public_key: &[u8],
) -> Result<SignedTransaction, ChainError> {
    check_input(chain, input, true)?;
    match &input.pending {
        Pending::Evm(tx) => evm::finish(input, tx, signature, recovery_id, signer_public_key),
        Pending::Solana(p) => solana::finish(input, p, signature, signer_public_key),
        Pending::Near(p) => near::finish(input, p, signature, signer_public_key),
        Pending::Message => Err(ChainError::InputMismatch("not a transaction input".into())),
    }
}
