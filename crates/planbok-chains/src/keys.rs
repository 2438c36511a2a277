//! Public keys: parsing, BIP-32 public derivation, and the signature checks `finish_*` runs.

use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, VerifyingKey};

use crate::error::ChainError;

/// A parsed 33-byte compressed secp256k1 public key.
pub(crate) fn secp256k1(bytes: &[u8]) -> Result<VerifyingKey, ChainError> {
    // Only the SEC1 compressed tags: the sec1 crate also takes 0x05 ‖ x ("compact"), and
    // Bitcoin addresses hash the key bytes as given, so one key must have one spelling.
    if bytes.len() != 33 || !matches!(bytes[0], 0x02 | 0x03) {
        return Err(ChainError::InvalidPublicKey);
    }
    VerifyingKey::from_sec1_bytes(bytes).map_err(|_| ChainError::InvalidPublicKey)
}

/// The 64-byte X ‖ Y of a secp256k1 key (Ethereum hashes this).
pub(crate) fn uncompressed_xy(vk: &VerifyingKey) -> [u8; 64] {
    let point = vk.to_sec1_point(false);
    let mut out = [0u8; 64];
    // An uncompressed SEC1 point of a valid key is always 0x04 ‖ 64 bytes.
    out.copy_from_slice(&point.as_bytes()[1..]);
    out
}

/// A parsed ed25519 public key (must decompress to a curve point).
pub(crate) fn ed25519(bytes: &[u8]) -> Result<ed25519_dalek::VerifyingKey, ChainError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| ChainError::InvalidPublicKey)?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| ChainError::InvalidPublicKey)
}

/// Parses `m` or `m/i/j/...` with every step non-hardened (< 2^31).
pub(crate) fn parse_path(path: &str) -> Result<Vec<u32>, ChainError> {
    let mut parts = path.split('/');
    if parts.next() != Some("m") {
        return Err(ChainError::InvalidPath);
    }
    parts
        .map(|p| {
            // Reject "+1", " 1", "01"-style spellings so that one key has one path text.
            let canonical = !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'));
            match p.parse::<u32>() {
                Ok(i) if canonical && i < 0x8000_0000 => Ok(i),
                _ => Err(ChainError::InvalidPath),
            }
        })
        .collect()
}

/// BIP-32 non-hardened public derivation (CKDpub) of the 33-byte compressed child key along
/// `path` (e.g. `"m/44/60/0/7"`), from the master key and its 32-byte chain code.
pub fn derive_public_key(
    master: &[u8],
    chain_code: &[u8],
    path: &str,
) -> Result<Vec<u8>, ChainError> {
    use bip32::{ChildNumber, ExtendedKeyAttrs, PublicKey as _, XPub};

    let indices = parse_path(path)?;
    // Validates the point with the same k256 the rest of the crate uses.
    secp256k1(master)?;
    let chain_code: [u8; 32] = chain_code
        .try_into()
        .map_err(|_| ChainError::InvalidPublicKey)?;
    let key = bip32::secp256k1::ecdsa::VerifyingKey::from_sec1_bytes(master)
        .map_err(|_| ChainError::InvalidPublicKey)?;
    let mut xpub = XPub::new(
        key,
        ExtendedKeyAttrs {
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: ChildNumber(0),
            chain_code,
        },
    );
    for i in indices {
        let child = ChildNumber::new(i, false).map_err(|_| ChainError::InvalidPath)?;
        // Fails only for the ~2^-127 chance of an invalid child (BIP-32 says: skip the index);
        // the path is then unusable, which is what InvalidPath tells the caller.
        xpub = xpub
            .derive_child(child)
            .map_err(|_| ChainError::InvalidPath)?;
    }
    Ok(xpub.public_key().to_bytes().to_vec())
}

/// Checks an ECDSA signature (r ‖ s) over `digest` against `signer` by public-key recovery,
/// normalising to low-S first. Returns the low-S signature and its recovery id. A given
/// `recovery_id` must be the right one (after the flip low-S normalisation implies).
pub(crate) fn check_ecdsa(
    signer: &[u8],
    digest: &[u8; 32],
    signature: &[u8; 64],
    recovery_id: Option<u8>,
) -> Result<([u8; 64], u8), ChainError> {
    let vk = secp256k1(signer)?;
    let sig = EcdsaSignature::from_slice(signature).map_err(|_| ChainError::SignatureMismatch)?;
    let normalized = sig.normalize_s();
    let flipped = normalized != sig;
    let candidates: Vec<u8> = match recovery_id {
        Some(id) if id <= 1 => vec![id ^ u8::from(flipped)],
        Some(_) => return Err(ChainError::SignatureMismatch),
        None => vec![0, 1],
    };
    let recid = candidates
        .into_iter()
        .find(|id| {
            RecoveryId::from_byte(*id)
                .and_then(|rid| VerifyingKey::recover_from_prehash(digest, &normalized, rid).ok())
                .is_some_and(|k| k == vk)
        })
        .ok_or(ChainError::SignatureMismatch)?;
    let mut out = [0u8; 64];
    out.copy_from_slice(&normalized.to_bytes());
    Ok((out, recid))
}

/// Checks an ed25519 signature over `message` against `signer` (strict RFC 8032 checks).
pub(crate) fn check_ed25519(
    signer: &[u8],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), ChainError> {
    let vk = ed25519(signer)?;
    vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| ChainError::SignatureMismatch)
}
