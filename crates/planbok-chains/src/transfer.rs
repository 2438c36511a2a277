//! What a transfer needs that is pure: amounts as exact decimal strings, ERC-20 call data,
//! the EIP-1559 transaction the nodes sign, revert reasons, and the native tokens' stable
//! ids. The server does the IO (RPC, nonces, broadcast); see `docs/transactions.md`.

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, Bytes, U256};

use crate::chain::{Chain, Family};
use crate::error::{ChainError, tx};
use crate::evm::{self, Tx};
use crate::sign::SignInput;

/// The most decimals a token may declare (ERC-20 `decimals()` is a `uint8`; 77 digits is
/// all a `uint256` holds).
pub const MAX_DECIMALS: u8 = 77;

/// Parses a non-negative decimal amount (`"1.5"`, `"0.000000000000000001"`, `"20"`) into
/// base units with `decimals` places, exactly: more fractional digits than `decimals`, a
/// sign, an exponent, or a value over 2^256 - 1 is refused.
pub fn parse_amount(s: &str, decimals: u8) -> Result<U256, String> {
    let bad = |why: &str| format!("amount {s:?}: {why}");
    if decimals > MAX_DECIMALS {
        return Err(bad("the token declares too many decimals"));
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected a decimal number such as 1.25"));
    }
    if s.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("expected digits after the decimal point"));
    }
    if frac.len() > usize::from(decimals) {
        return Err(bad(&format!(
            "more than {decimals} decimal places for this token"
        )));
    }
    let mut digits = String::with_capacity(int.len() + usize::from(decimals));
    digits.push_str(int);
    digits.push_str(frac);
    for _ in frac.len()..usize::from(decimals) {
        digits.push('0');
    }
    U256::from_str_radix(&digits, 10).map_err(|_| bad("too large"))
}

/// Formats base units as the exact decimal string with `decimals` places, trailing zeros
/// of the fraction dropped (`1500000000000000000`, 18 → `"1.5"`; 0 → `"0"`).
pub fn format_amount(v: U256, decimals: u8) -> String {
    let s = v.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return s;
    }
    let padded = if s.len() <= d {
        format!("{}{s}", "0".repeat(d + 1 - s.len()))
    } else {
        s
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// Parses an EVM address (`0x` + 40 hex; a mixed-case one must carry a valid EIP-55
/// checksum).
pub fn parse_evm_address(s: &str) -> Result<Address, String> {
    crate::address::parse_evm_address(s)
}

/// ERC-20 `transfer(address,uint256)` call data.
pub fn erc20_transfer_data(to: Address, amount: U256) -> Vec<u8> {
    let mut out = Vec::with_capacity(68);
    out.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(to.as_slice());
    out.extend_from_slice(&amount.to_be_bytes::<32>());
    out
}

/// ERC-20 `balanceOf(address)` call data.
pub fn erc20_balance_of_data(owner: Address) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(&[0x70, 0xa0, 0x82, 0x31]);
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(owner.as_slice());
    out
}

/// The fields of an EIP-1559 transaction the server builds; the chain id is the chain's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip1559Fields {
    /// The sender's nonce.
    pub nonce: u64,
    /// The recipient (an account, or the token contract).
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Call data (empty for a plain transfer).
    pub data: Vec<u8>,
    /// Gas limit.
    pub gas_limit: u64,
    /// `maxFeePerGas`, wei.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`, wei.
    pub max_priority_fee_per_gas: u128,
}

/// Prepares the EIP-1559 transaction `f` on `chain` for the wallet with `signer_public_key`:
/// finish it with [`crate::finish_transaction`] like any other transaction input.
pub fn eip1559_input(
    chain: Chain,
    f: &Eip1559Fields,
    signer_public_key: &[u8],
) -> Result<SignInput, ChainError> {
    if chain.family() != Family::Evm {
        return Err(ChainError::UnsupportedOperation(format!(
            "transfers on {} are not supported yet",
            chain.id()
        )));
    }
    if f.max_priority_fee_per_gas > f.max_fee_per_gas {
        return Err(tx("maxPriorityFeePerGas is above maxFeePerGas"));
    }
    let chain_id = chain
        .evm_chain_id()
        .ok_or_else(|| ChainError::UnsupportedOperation("not an EVM chain".into()))?;
    let t = TxEip1559 {
        chain_id,
        nonce: f.nonce,
        gas_limit: f.gas_limit,
        max_fee_per_gas: f.max_fee_per_gas,
        max_priority_fee_per_gas: f.max_priority_fee_per_gas,
        to: evm::kind(Some(f.to)),
        value: f.value,
        access_list: Default::default(),
        input: Bytes::from(f.data.clone()),
    };
    evm::prepared_tx(chain, Tx::Eip1559(t), signer_public_key)
}

/// What a signed EIP-1559 transaction calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// The account called.
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Call data.
    pub data: Vec<u8>,
    /// Gas limit.
    pub gas_limit: u64,
    /// Nonce.
    pub nonce: u64,
}

/// Decodes a signed EIP-1559 transaction (EIP-2718 bytes) into its call; `None` for any
/// other type, a contract creation or bytes that do not decode.
pub fn signed_call(raw: &[u8]) -> Option<SignedCall> {
    use alloy_consensus::TxEnvelope;
    use alloy_eips::eip2718::Decodable2718 as _;
    let TxEnvelope::Eip1559(signed) = TxEnvelope::decode_2718(&mut &raw[..]).ok()? else {
        return None;
    };
    let tx = signed.tx();
    Some(SignedCall {
        to: *tx.to.to()?,
        value: tx.value,
        data: tx.input.to_vec(),
        gas_limit: tx.gas_limit,
        nonce: tx.nonce,
    })
}

/// The reason in a revert's return data: `Error(string)`'s message, `Panic(uint256)`'s
/// code, or the raw data in hex.
pub fn revert_reason(data: &[u8]) -> String {
    const ERROR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    const PANIC: [u8; 4] = [0x4e, 0x48, 0x7b, 0x71];
    if data.is_empty() {
        return "execution reverted".into();
    }
    if data.len() >= 4 + 64 && data[..4] == ERROR {
        let body = &data[4..];
        let offset = U256::from_be_slice(&body[..32]);
        let decoded = usize::try_from(offset).ok().and_then(|o| {
            let len_end = o.checked_add(32)?;
            let len = usize::try_from(U256::from_be_slice(body.get(o..len_end)?)).ok()?;
            let text = body.get(len_end..len_end.checked_add(len)?)?;
            String::from_utf8(text.to_vec()).ok()
        });
        if let Some(text) = decoded {
            return text;
        }
    }
    if data.len() == 4 + 32 && data[..4] == PANIC {
        return format!("panic 0x{:x}", U256::from_be_slice(&data[4..]));
    }
    format!("execution reverted: 0x{}", hex::encode(data))
}

/// The stable id of `chain`'s native coin: a UUID (version 8, RFC 9562's custom layout)
/// made of SHA-256 over a fixed label and the chain id, so every server and every release
/// gives the same coin the same id.
pub fn native_token_id(chain: Chain) -> String {
    use sha2::{Digest as _, Sha256};
    let h = Sha256::digest(format!("planbok/native-token/v1\0{}", chain.id()).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_exactly_to_the_wei() {
        let one_wei = parse_amount("0.000000000000000001", 18).unwrap_or_default();
        assert_eq!(one_wei, U256::from(1u8));
        let v = parse_amount("123456789.123456789123456789", 18).unwrap_or_default();
        assert_eq!(v.to_string(), "123456789123456789123456789");
        assert_eq!(format_amount(v, 18), "123456789.123456789123456789");
        assert_eq!(format_amount(U256::ZERO, 18), "0");
        assert_eq!(format_amount(U256::from(1500u32), 3), "1.5");
        assert_eq!(format_amount(U256::from(7u8), 0), "7");
        assert_eq!(
            parse_amount("20", 6).unwrap_or_default(),
            U256::from(20_000_000u32)
        );
        for bad in [
            "",
            "-1",
            "1e3",
            "1.",
            ".5",
            "1.0000000000000000001",
            "0x10",
            " 1",
        ] {
            assert!(parse_amount(bad, 18).is_err(), "{bad:?}");
        }
        let max = format_amount(U256::MAX, 0);
        assert!(parse_amount(&max, 0).is_ok());
        assert!(parse_amount(&format!("{max}0"), 0).is_err());
    }

    #[test]
    fn erc20_call_data_is_the_abi_encoding() {
        let to = Address::repeat_byte(0x11);
        let d = erc20_transfer_data(to, U256::from(5u8));
        let expected = format!("a9059cbb{}{}{:064x}", "0".repeat(24), "11".repeat(20), 5);
        assert_eq!(hex::encode(&d), expected);
    }

    #[test]
    fn revert_reasons_decode() {
        let msg = "ERC20: transfer amount exceeds balance";
        let mut data = vec![0x08, 0xc3, 0x79, 0xa0];
        data.extend_from_slice(&U256::from(32u8).to_be_bytes::<32>());
        data.extend_from_slice(&U256::from(msg.len()).to_be_bytes::<32>());
        let mut text = msg.as_bytes().to_vec();
        text.resize(64, 0);
        data.extend_from_slice(&text);
        assert_eq!(revert_reason(&data), msg);
        assert_eq!(
            revert_reason(&data[..40]),
            format!("execution reverted: 0x{}", hex::encode(&data[..40]))
        );
        assert_eq!(revert_reason(&[]), "execution reverted");
    }

    #[test]
    fn native_ids_are_stable_and_distinct() {
        let eth = native_token_id(Chain::parse("ETH").unwrap_or_else(|_| unreachable!()));
        let sep = native_token_id(Chain::parse("ETH-SEPOLIA").unwrap_or_else(|_| unreachable!()));
        assert_ne!(eth, sep);
        assert_eq!(eth.len(), 36);
        assert_eq!(&eth[14..15], "8");
        assert_eq!(
            eth,
            native_token_id(Chain::parse("ETH").unwrap_or_else(|_| unreachable!()))
        );
    }
}
