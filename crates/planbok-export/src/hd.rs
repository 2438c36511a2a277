//! Non-hardened BIP-32 derivation for secp256k1, with `hd-wallet`'s SLIP-10 (for
//! secp256k1, BIP-32): the same code cggmp21 signs with, so a key derived here is the key
//! a signature under the same path verifies against. Keys are SEC1 compressed bytes.

use generic_ec::curves::Secp256k1;
use generic_ec::{NonZero, Point, SecretScalar};
use hd_wallet::{
    ExtendedKeyPair, ExtendedPublicKey, ExtendedSecretKey, HdWallet, NonHardenedIndex, Slip10,
};

use crate::error::ExportError;

/// Longest path accepted; BIP-44 uses five levels.
pub const MAX_DEPTH: usize = 8;

/// The indices of a path checked: at most [`MAX_DEPTH`], each non-hardened (below 2^31;
/// MPC keys derive non-hardened children only).
pub fn check_path(path: &[u32]) -> Result<Vec<NonHardenedIndex>, ExportError> {
    if path.len() > MAX_DEPTH {
        return Err(ExportError::InvalidInput(format!(
            "derivation path deeper than {MAX_DEPTH}"
        )));
    }
    path.iter()
        .map(|i| {
            NonHardenedIndex::try_from(*i).map_err(|_| {
                ExportError::InvalidInput(format!(
                    "index {i} is hardened; MPC keys derive non-hardened children only"
                ))
            })
        })
        .collect()
}

/// Parses `m/44/60/0/0` into its indices, checked as [`check_path`] does; a trailing `'`
/// or `h` (hardened) is refused.
pub fn parse_path(s: &str) -> Result<Vec<u32>, ExportError> {
    let mut parts = s.split('/');
    if parts.next() != Some("m") {
        return Err(ExportError::InvalidInput(
            "derivation path must start with m".into(),
        ));
    }
    let idx = parts
        .map(|p| {
            p.parse::<u32>()
                .map_err(|_| ExportError::InvalidInput(format!("bad path component {p:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_path(&idx)?;
    Ok(idx)
}

/// A point from SEC1 bytes; refuses the identity.
pub fn to_point(sec1: &[u8]) -> Result<NonZero<Point<Secp256k1>>, ExportError> {
    let p = Point::<Secp256k1>::from_bytes(sec1)
        .map_err(|_| ExportError::InvalidInput("not a secp256k1 public key".into()))?;
    NonZero::from_point(p)
        .ok_or_else(|| ExportError::InvalidInput("public key is the identity".into()))
}

/// SEC1 compressed bytes of a point.
pub fn compressed(p: &Point<Secp256k1>) -> Result<[u8; 33], ExportError> {
    <[u8; 33]>::try_from(&p.to_bytes(true)[..])
        .map_err(|_| ExportError::Internal("public key is the identity".into()))
}

/// The child public key and chain code at `path` from a master public key (SEC1) and
/// chain code.
pub fn derive_public_key(
    master: &[u8],
    chain_code: &[u8; 32],
    path: &[u32],
) -> Result<([u8; 33], [u8; 32]), ExportError> {
    let epub = ExtendedPublicKey::<Secp256k1> {
        public_key: *to_point(master)?,
        chain_code: *chain_code,
    };
    let child = <Slip10 as HdWallet<Secp256k1>>::derive_child_public_key_with_path(
        &epub,
        check_path(path)?,
    );
    Ok((compressed(&child.public_key)?, child.chain_code))
}

/// A derived private key, the master's public key and the child's (SEC1 compressed).
pub(crate) type DerivedSecret = (SecretScalar<Secp256k1>, [u8; 33], [u8; 33]);

/// The child private key at `path` from a master private key, with the master's and the
/// child's public keys. Only the export's reconstruction uses this.
pub(crate) fn derive_secret_key(
    master: SecretScalar<Secp256k1>,
    chain_code: [u8; 32],
    path: &[u32],
) -> Result<DerivedSecret, ExportError> {
    check_path(path)?;
    let pair = ExtendedKeyPair::from(ExtendedSecretKey {
        secret_key: master,
        chain_code,
    });
    let master_pk = compressed(&pair.public_key().public_key)?;
    let child = <Slip10 as HdWallet<Secp256k1>>::derive_child_key_pair_with_path(
        &pair,
        path.iter().copied(),
    );
    let pk = compressed(&child.public_key().public_key)?;
    Ok((child.secret_key().secret_key.clone(), master_pk, pk))
}
