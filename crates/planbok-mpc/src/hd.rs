//! Non-hardened BIP-32 derivation paths and public-key derivation for secp256k1.
//!
//! Derivation uses `hd-wallet`'s SLIP-10 (which for secp256k1 is BIP-32), the same code
//! cggmp21 signs with, so a public key derived here is the key a signature under the same
//! path verifies against.

use std::fmt;
use std::str::FromStr;

use cggmp21::generic_ec::{Point, curves::Secp256k1};
use cggmp21::hd_wallet::NonHardenedIndex;

use crate::error::MpcError;
use crate::signature::EcdsaPublicKey;

/// A BIP-32 path of non-hardened indices only (MPC cannot derive hardened children).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct DerivationPath(Vec<u32>);

/// Longest path accepted; BIP-44 uses five levels.
pub const MAX_DEPTH: usize = planbok_export::hd::MAX_DEPTH;

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
        Ok(DerivationPath(planbok_export::hd::parse_path(s)?))
    }
}

pub(crate) fn from_point(p: &Point<Secp256k1>) -> Result<EcdsaPublicKey, MpcError> {
    EcdsaPublicKey::from_sec1(&p.to_bytes(true))
}

/// Derives the child public key and chain code of `path` from a master public key and
/// chain code (`planbok-export`'s derivation, which the export checks keys with).
pub fn derive_public_key(
    master: &EcdsaPublicKey,
    chain_code: &[u8; 32],
    path: &DerivationPath,
) -> Result<(EcdsaPublicKey, [u8; 32]), MpcError> {
    let (pk, cc) =
        planbok_export::hd::derive_public_key(&master.to_compressed(), chain_code, &path.0)?;
    Ok((EcdsaPublicKey::from_sec1(&pk)?, cc))
}
