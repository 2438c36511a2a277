//! Each protocol's key share decoded from its sealable form, with the checks every reader
//! of a share makes (2-of-2, this party's, HD). The types are the libraries' own; the
//! engines in `planbok-mpc` wrap them, and their `from_sealable_bytes` are these functions.
//!
//! Parties are numbered 0 (Node 1) and 1 (Node 2), as in `planbok_mpc::PartyIndex`.

use dkls23::protocols::PartyIndex as DklsIndex;
use frost_ed25519::Identifier;
use frost_ed25519::keys::{KeyPackage, PublicKeyPackage};
use generic_ec::curves::Secp256k1;

use crate::error::ExportError;
use crate::sealed::{self, ShareKind};

/// A CGGMP21 key share: `key-share`'s `CoreKeyShare` (cggmp21's `IncompleteKeyShare`), what it persists
/// (secret share, public shares, chain code; no Paillier keys).
pub type CggmpShare = key_share::CoreKeyShare<Secp256k1>;
/// A DKLs23 key share: the library's `Party` (key share, OT state, chain code).
pub type DklsShare = dkls23::protocols::Party<k256::Secp256k1>;

/// Reads a CGGMP share: a 2-of-2 HD share (no VSS setup, a chain code).
pub fn decode_cggmp(bytes: &[u8]) -> Result<CggmpShare, ExportError> {
    let core: CggmpShare = sealed::from_json(ShareKind::CggmpKey, bytes)?;
    if core.n() != 2 || core.vss_setup.is_some() || core.chain_code.is_none() {
        return Err(ExportError::SealedFormat(
            "not a 2-of-2 HD cggmp share".into(),
        ));
    }
    Ok(core)
}

/// DKLs numbers parties from 1.
pub fn dkls_index(party: u16) -> Result<DklsIndex, ExportError> {
    u8::try_from(party)
        .ok()
        .and_then(|p| p.checked_add(1))
        .and_then(|p| DklsIndex::new(p).ok())
        .ok_or_else(|| ExportError::InvalidInput(format!("no DKLs party {party}")))
}

/// Reads a DKLs23 share: `(party, share)`, a 2-of-2 share of that party.
pub fn decode_dkls(bytes: &[u8]) -> Result<(u16, DklsShare), ExportError> {
    let body = sealed::unwrap(ShareKind::Dkls, bytes)?;
    let (me, party): (u16, DklsShare) = postcard::from_bytes(body)
        .map_err(|e| ExportError::SealedFormat(format!("DKLs share: {e}")))?;
    if me > 1 {
        return Err(ExportError::SealedFormat("DKLs share: party".into()));
    }
    if party.party_index != dkls_index(me)?
        || party.parameters.threshold != 2
        || party.parameters.share_count != 2
    {
        return Err(ExportError::SealedFormat(
            "DKLs share: not a 2-of-2 share of this party".into(),
        ));
    }
    Ok((me, party))
}

/// FROST numbers parties from 1.
pub fn frost_identifier(party: u16) -> Result<Identifier, ExportError> {
    party
        .checked_add(1)
        .and_then(|p| Identifier::try_from(p).ok())
        .ok_or_else(|| ExportError::InvalidInput(format!("no FROST party {party}")))
}

/// Reads a FROST share: `(party, key package, public key package)`, the key package
/// this party's and of the same group key.
pub fn decode_frost(bytes: &[u8]) -> Result<(u16, KeyPackage, PublicKeyPackage), ExportError> {
    let body = sealed::unwrap(ShareKind::Frost, bytes)?;
    let bad = |m: &str| ExportError::SealedFormat(format!("frost share: {m}"));
    if body.len() < 6 {
        return Err(bad("truncated"));
    }
    let me = u16::from_be_bytes([body[0], body[1]]);
    if me > 1 {
        return Err(bad("party"));
    }
    let klen = u32::from_be_bytes([body[2], body[3], body[4], body[5]]) as usize;
    let rest = &body[6..];
    if klen > rest.len() {
        return Err(bad("truncated key package"));
    }
    let key = KeyPackage::deserialize(&rest[..klen]).map_err(|e| bad(&e.to_string()))?;
    let public = PublicKeyPackage::deserialize(&rest[klen..]).map_err(|e| bad(&e.to_string()))?;
    if key.verifying_key() != public.verifying_key() || *key.identifier() != frost_identifier(me)? {
        return Err(bad("key package does not match public package"));
    }
    Ok((me, key, public))
}
