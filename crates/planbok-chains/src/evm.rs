//! EVM: EIP-712 typed data and unsigned transactions (legacy/EIP-155, EIP-2930, EIP-1559).

use alloy_consensus::transaction::{RlpEcdsaDecodableTx, RlpEcdsaEncodableTx};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use alloy_rlp::{Decodable, Header};

use crate::chain::Chain;
use crate::error::{ChainError, tx};
use crate::evm_json;
use crate::keys;
use crate::sign::{Pending, SignInput, SignedTransaction, digest32, hex0x};

/// A parsed unsigned transaction whose chain id is the wallet's.
#[derive(Clone, Debug)]
pub(crate) enum Tx {
    Legacy(TxLegacy),
    Eip2930(TxEip2930),
    Eip1559(TxEip1559),
}

/// What `finish_transaction` needs: the transaction and the key it was prepared for.
#[derive(Clone, Debug)]
pub(crate) struct UnsignedTx {
    pub(crate) tx: Tx,
    pub(crate) signer: Vec<u8>,
}

fn chain_id(chain: Chain) -> Result<u64, ChainError> {
    chain.evm_chain_id().ok_or_else(|| {
        ChainError::UnsupportedOperation(format!("{} is not an EVM chain", chain.id()))
    })
}

pub(crate) fn check_chain_id(chain: Chain, got: u64) -> Result<(), ChainError> {
    let expected = chain_id(chain)?;
    if got != expected {
        return Err(ChainError::ChainIdMismatch { expected, got });
    }
    Ok(())
}

pub(crate) fn typed_data_input(chain: Chain, json: &str) -> Result<SignInput, ChainError> {
    let typed: alloy_dyn_abi::TypedData =
        serde_json::from_str(json).map_err(|e| ChainError::InvalidTypedData(e.to_string()))?;
    if let Some(id) = typed.domain.chain_id {
        let expected = chain_id(chain)?;
        let got: u64 = id.try_into().map_err(|_| ChainError::ChainIdMismatch {
            expected,
            got: u64::MAX,
        })?;
        check_chain_id(chain, got)?;
    }
    let hash = typed
        .eip712_signing_hash()
        .map_err(|e| ChainError::InvalidTypedData(e.to_string()))?;
    Ok(SignInput::new(
        chain,
        hash.to_vec(),
        "eip712",
        Pending::Message,
    ))
}

pub(crate) fn raw_input(chain: Chain, raw: &str, signer: &[u8]) -> Result<SignInput, ChainError> {
    let digits = raw
        .strip_prefix("0x")
        .ok_or_else(|| tx("an EVM rawTransaction is 0x-hex"))?;
    let bytes = hex::decode(digits).map_err(|e| tx(format!("rawTransaction is not hex: {e}")))?;
    let parsed = decode_unsigned(chain, &bytes)?;
    prepared_tx(chain, parsed, signer)
}

pub(crate) fn json_input(chain: Chain, json: &str, signer: &[u8]) -> Result<SignInput, ChainError> {
    let from = crate::address::evm_address(signer)?;
    let parsed = evm_json::parse(chain, json, from)?;
    prepared_tx(chain, parsed, signer)
}

pub(crate) fn prepared_tx(
    chain: Chain,
    parsed: Tx,
    signer: &[u8],
) -> Result<SignInput, ChainError> {
    let (hash, standard) = match &parsed {
        Tx::Legacy(t) => (t.signature_hash(), "eip155"),
        Tx::Eip2930(t) => (t.signature_hash(), "eip2930"),
        Tx::Eip1559(t) => (t.signature_hash(), "eip1559"),
    };
    Ok(SignInput::new(
        chain,
        hash.to_vec(),
        standard,
        Pending::Evm(Box::new(UnsignedTx {
            tx: parsed,
            signer: signer.to_vec(),
        })),
    ))
}

fn rlp_err(e: alloy_rlp::Error) -> ChainError {
    tx(format!("malformed RLP: {e}"))
}

/// Decodes one RLP list spanning all of `bytes`, with `fields` reading its payload.
fn decode_list<T>(
    bytes: &[u8],
    fields: impl FnOnce(&mut &[u8]) -> Result<T, ChainError>,
) -> Result<T, ChainError> {
    let mut buf = bytes;
    let header = Header::decode(&mut buf).map_err(rlp_err)?;
    if !header.list {
        return Err(tx("the transaction is not an RLP list"));
    }
    if header.payload_length != buf.len() {
        return Err(tx(
            "bytes after the transaction's RLP list, or a truncated list",
        ));
    }
    let mut payload = buf;
    let out = fields(&mut payload)?;
    if !payload.is_empty() {
        return Err(tx(
            "extra fields in the transaction (is it already signed?)",
        ));
    }
    Ok(out)
}

/// Decodes an unsigned transaction and checks its chain id.
pub(crate) fn decode_unsigned(chain: Chain, bytes: &[u8]) -> Result<Tx, ChainError> {
    let expected = chain_id(chain)?;
    let parsed = match bytes.first() {
        None => return Err(tx("empty transaction")),
        Some(0x01) => Tx::Eip2930(decode_list(&bytes[1..], |b| {
            TxEip2930::rlp_decode_fields(b).map_err(rlp_err)
        })?),
        Some(0x02) => Tx::Eip1559(decode_list(&bytes[1..], |b| {
            TxEip1559::rlp_decode_fields(b).map_err(rlp_err)
        })?),
        Some(ty @ 0x03..=0x7f) => {
            return Err(tx(format!(
                "transaction type {ty:#04x} is not supported (legacy, 0x01 and 0x02 are)"
            )));
        }
        Some(0xc0..) => Tx::Legacy(decode_list(bytes, |b| {
            let mut t = TxLegacy::rlp_decode_fields(b).map_err(rlp_err)?;
            if b.is_empty() {
                // Pre-EIP-155 form: sign it replay-protected for this chain.
                t.chain_id = Some(expected);
            } else {
                let id = u64::decode(b).map_err(rlp_err)?;
                let r = U256::decode(b).map_err(rlp_err)?;
                let s = U256::decode(b).map_err(rlp_err)?;
                if !r.is_zero() || !s.is_zero() {
                    return Err(tx(
                        "the legacy transaction is already signed (r, s are not 0)",
                    ));
                }
                t.chain_id = Some(id);
            }
            Ok(t)
        })?),
        Some(_) => return Err(tx("not an RLP transaction")),
    };
    let got = match &parsed {
        Tx::Legacy(t) => t.chain_id.unwrap_or(expected),
        Tx::Eip2930(t) => t.chain_id,
        Tx::Eip1559(t) => t.chain_id,
    };
    check_chain_id(chain, got)?;
    if let Tx::Eip1559(t) = &parsed
        && t.max_priority_fee_per_gas > t.max_fee_per_gas
    {
        return Err(tx("maxPriorityFeePerGas is above maxFeePerGas"));
    }
    Ok(parsed)
}

pub(crate) fn finish(
    input: &SignInput,
    unsigned: &UnsignedTx,
    signature: &[u8; 64],
    recovery_id: Option<u8>,
    signer: &[u8],
) -> Result<SignedTransaction, ChainError> {
    if unsigned.signer != signer {
        return Err(ChainError::InputMismatch(
            "finish_transaction with another key than transaction_input".into(),
        ));
    }
    // Verify against the digest of the parsed transaction we are about to encode, not the
    // public `payload` field, so the two can never disagree.
    let digest: [u8; 32] = match &unsigned.tx {
        Tx::Legacy(t) => t.signature_hash(),
        Tx::Eip2930(t) => t.signature_hash(),
        Tx::Eip1559(t) => t.signature_hash(),
    }
    .0;
    if digest32(input)? != digest {
        return Err(ChainError::InputMismatch("payload was changed".into()));
    }
    let (rs, recid) = keys::check_ecdsa(signer, &digest, signature, recovery_id)?;
    let sig = Signature::new(
        U256::from_be_slice(&rs[..32]),
        U256::from_be_slice(&rs[32..]),
        recid == 1,
    );
    let mut encoded = Vec::new();
    let v_bytes = match &unsigned.tx {
        Tx::Legacy(t) => {
            t.eip2718_encode(&sig, &mut encoded);
            let id = t.chain_id.unwrap_or_default();
            let v = id * 2 + 35 + u64::from(recid);
            let be = v.to_be_bytes();
            let first = be.iter().position(|b| *b != 0).unwrap_or(be.len() - 1);
            be[first..].to_vec()
        }
        Tx::Eip2930(t) => {
            t.eip2718_encode(&sig, &mut encoded);
            vec![recid]
        }
        Tx::Eip1559(t) => {
            t.eip2718_encode(&sig, &mut encoded);
            vec![recid]
        }
    };
    let mut sig_bytes = rs.to_vec();
    sig_bytes.extend_from_slice(&v_bytes);
    Ok(SignedTransaction {
        signature: hex0x(&sig_bytes),
        tx_hash: hex0x(keccak256(&encoded).as_slice()),
        signed_transaction: hex0x(&encoded),
    })
}

/// Helpers the JSON form shares with the raw form.
pub(crate) fn kind(to: Option<Address>) -> TxKind {
    to.map_or(TxKind::Create, TxKind::Call)
}

pub(crate) fn bytes(data: Vec<u8>) -> Bytes {
    Bytes::from(data)
}
