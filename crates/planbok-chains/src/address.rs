//! Wallet addresses per family, and address validation.

use alloy_primitives::Address;
use bech32::{Hrp, segwit};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use crate::chain::{Chain, Family};
use crate::error::ChainError;
use crate::keys;

/// The wallet address of `public_key` (33-byte compressed secp256k1 or 32-byte ed25519):
/// EVM: EIP-55 checksummed `0x` address of Keccak-256(X ‖ Y)[12..]; BTC: P2WPKH bech32
/// (`bc1q…` / `tb1q…`); SOL: base58 of the key; NEAR: the implicit account, lowercase hex of
/// the key.
pub fn address(chain: Chain, public_key: &[u8]) -> Result<String, ChainError> {
    match chain.family() {
        Family::Evm => {
            let vk = keys::secp256k1(public_key)?;
            Ok(Address::from_raw_public_key(&keys::uncompressed_xy(&vk)).to_checksum(None))
        }
        Family::Bitcoin => {
            keys::secp256k1(public_key)?;
            let hash160 = Ripemd160::digest(Sha256::digest(public_key));
            // Encoding a 20-byte v0 program under a fixed valid HRP cannot fail.
            segwit::encode_v0(btc_hrp(chain), &hash160).map_err(|_| ChainError::InvalidPublicKey)
        }
        Family::Solana => {
            keys::ed25519(public_key)?;
            Ok(bs58::encode(public_key).into_string())
        }
        Family::Near => {
            keys::ed25519(public_key)?;
            Ok(hex::encode(public_key))
        }
    }
}

pub(crate) fn btc_hrp(chain: Chain) -> Hrp {
    if chain.is_testnet() {
        bech32::hrp::TB
    } else {
        bech32::hrp::BC
    }
}

/// The EVM address of a secp256k1 key (for `from` checks).
pub(crate) fn evm_address(public_key: &[u8]) -> Result<Address, ChainError> {
    let vk = keys::secp256k1(public_key)?;
    Ok(Address::from_raw_public_key(&keys::uncompressed_xy(&vk)))
}

/// Whether `address` is a well-formed address on `chain`.
///
/// EVM: `0x` + 40 hex digits; an all-lowercase or all-uppercase address is accepted as is, a
/// mixed-case one must carry a correct EIP-55 checksum. BTC: a segwit v0 P2WPKH / P2WSH or v1
/// (taproot) address of this network (`bc` / `tb`). SOL: base58 of 32 bytes (off-curve program
/// addresses included). NEAR: a 64-hex implicit account or a valid named account id.
pub fn validate_address(chain: Chain, address: &str) -> bool {
    match chain.family() {
        Family::Evm => parse_evm_address(address).is_ok(),
        Family::Bitcoin => match segwit::decode(address) {
            Ok((hrp, version, program)) => {
                hrp == btc_hrp(chain)
                    && match version.to_u8() {
                        0 => program.len() == 20 || program.len() == 32,
                        1 => program.len() == 32,
                        _ => false,
                    }
            }
            Err(_) => false,
        },
        Family::Solana => {
            address.len() <= 44
                && bs58::decode(address)
                    .into_vec()
                    .is_ok_and(|bytes| bytes.len() == 32)
        }
        Family::Near => near_account_id::AccountId::validate(address).is_ok(),
    }
}

/// Parses an EVM address under the EIP-55 rules of [`validate_address`].
pub(crate) fn parse_evm_address(address: &str) -> Result<Address, String> {
    let hex_part = address
        .strip_prefix("0x")
        .ok_or_else(|| format!("address {address:?} does not start with 0x"))?;
    if hex_part.len() != 40 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("address {address:?} is not 0x + 40 hex digits"));
    }
    let parsed: Address = hex_part
        .parse()
        .map_err(|_| format!("address {address:?} is not hex"))?;
    let has_lower = hex_part.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex_part.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && parsed.to_checksum(None) != address {
        return Err(format!("address {address:?} has a wrong EIP-55 checksum"));
    }
    Ok(parsed)
}
