//! Non-hardened BIP-32 derivation paths and public-key derivation for secp256k1.
//!
//! Derivation uses `hd-wallet`'s SLIP-10 (which for secp256k1 is BIP-32), the same code
//! cggmp21 signs with, so a public key derived here is the key a signature under the same
//! path verifies against.

use std::fmt;
use std::str::FromStr;

use cggmp21::generic_ec::{NonZero, Point, SecretScalar, curves::Secp256k1};
use cggmp21::hd_wallet::{
    ExtendedKeyPair, ExtendedPublicKey, ExtendedSecretKey, HdWallet, NonHardenedIndex, Slip10,
};

use crate::error::MpcError;
use crate::signature::EcdsaPublicKey;

/// A BIP-32 path of non-hardened indices only (MPC cannot derive hardened children).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct DerivationPath(Vec<u32>);

/// Longest path accepted; BIP-44 uses five levels.
pub const MAX_DEPTH: usize = 8;

impl DerivationPath {
    /// The master key itself (`m`).
    pub fn master() -> Self {
        DerivationPath(Vec::new())
    }

    /// Builds a path from indices, each below 2^31.
    pub fn new(indices: impl IntoIterator<Item = u32>) -> Result<Self, MpcError> {
        let v: Vec<u32> = indices.into_iter().collect();
        if v.len() > MAX_DEPTH {
            return Err(MpcError::InvalidInput(format!(
                "derivation path deeper than {MAX_DEPTH}"
            )));
        }
        if let Some(i) = v.iter().find(|i| **i >= 1 << 31) {
            return Err(MpcError::InvalidInput(format!(
                "index {i} is hardened; MPC keys derive non-hardened children only"
            )));
        }
        Ok(DerivationPath(v))
    }

    /// The indices.
    pub fn indices(&self) -> &[u32] {
        &self.0
    }

    pub(crate) fn nonhardened(&self) -> Vec<NonHardenedIndex> {
        // Every index was checked < 2^31 at construction.
        self.0
            .iter()
            .filter_map(|i| NonHardenedIndex::try_from(*i).ok())
            .collect()
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for i in &self.0 {
            write!(f, "/{i}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivationPath({self})")
    }
}

impl FromStr for DerivationPath {
    type Err = MpcError;

    /// Parses `m/44/60/0/0`; a trailing `'` or `h` (hardened) is rejected.
    fn from_str(s: &str) -> Result<Self, MpcError> {
        let mut parts = s.split('/');
        if parts.next() != Some("m") {
            return Err(MpcError::InvalidInput(
                "derivation path must start with m".into(),
            ));
        }
        let idx = parts
            .map(|p| {
                p.parse::<u32>()
                    .map_err(|_| MpcError::InvalidInput(format!("bad path component {p:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        DerivationPath::new(idx)
    }
}

pub(crate) fn to_point(pk: &EcdsaPublicKey) -> Result<NonZero<Point<Secp256k1>>, MpcError> {
    let p = Point::<Secp256k1>::from_bytes(pk.to_compressed())
        .map_err(|_| MpcError::Internal("public key is not a curve point".into()))?;
    NonZero::from_point(p).ok_or_else(|| MpcError::Internal("public key is the identity".into()))
}

pub(crate) fn from_point(p: &Point<Secp256k1>) -> Result<EcdsaPublicKey, MpcError> {
    EcdsaPublicKey::from_sec1(&p.to_bytes(true))
}

/// Derives the child public key and chain code of `path` from a master public key and
/// chain code.
pub fn derive_public_key(
    master: &EcdsaPublicKey,
    chain_code: &[u8; 32],
    path: &DerivationPath,
) -> Result<(EcdsaPublicKey, [u8; 32]), MpcError> {
    let epub = ExtendedPublicKey::<Secp256k1> {
        public_key: *to_point(master)?,
        chain_code: *chain_code,
    };
    let child = <Slip10 as HdWallet<Secp256k1>>::derive_child_public_key_with_path(
        &epub,
        path.nonhardened(),
    );
    Ok((from_point(&child.public_key)?, child.chain_code))
}

/// Derives the child private key at `path` from a master private key; returns it with its
/// public key. Only the export path uses this.
pub(crate) fn derive_secret_key(
    master: SecretScalar<Secp256k1>,
    chain_code: [u8; 32],
    path: &DerivationPath,
) -> Result<(SecretScalar<Secp256k1>, EcdsaPublicKey, EcdsaPublicKey), MpcError> {
    let pair = ExtendedKeyPair::from(ExtendedSecretKey {
        secret_key: master,
        chain_code,
    });
    let master_pk = from_point(&pair.public_key().public_key)?;
    let child = <Slip10 as HdWallet<Secp256k1>>::derive_child_key_pair_with_path(
        &pair,
        path.indices().iter().copied(),
    );
    let pk = from_point(&child.public_key().public_key)?;
    Ok((child.secret_key().secret_key.clone(), master_pk, pk))
}
