//! Public keys and final signatures, and the verification every signature passes before the
//! engine returns it.

use std::fmt;

use k256::ecdsa::{RecoveryId, Signature as K256Signature, VerifyingKey};

use crate::error::MpcError;
use crate::frame::{PartyIndex, ProtocolId};

/// A secp256k1 public key, SEC1 compressed (33 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcdsaPublicKey([u8; 33]);

impl EcdsaPublicKey {
    /// Parses a compressed or uncompressed SEC1 point; rejects the identity and off-curve points.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, MpcError> {
        let vk = VerifyingKey::from_sec1_bytes(bytes)
            .map_err(|_| MpcError::InvalidInput("not a secp256k1 public key".into()))?;
        Ok(Self::from_verifying_key(&vk))
    }

    pub(crate) fn from_verifying_key(vk: &VerifyingKey) -> Self {
        let enc = vk.to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(enc.as_bytes());
        EcdsaPublicKey(out)
    }

    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, MpcError> {
        VerifyingKey::from_sec1_bytes(&self.0)
            .map_err(|_| MpcError::Internal("stored public key does not parse".into()))
    }

    /// Compressed SEC1 bytes.
    pub fn to_compressed(&self) -> [u8; 33] {
        self.0
    }

    /// Uncompressed SEC1 bytes (0x04 ‖ X ‖ Y), as Ethereum addresses need.
    pub fn to_uncompressed(&self) -> Result<[u8; 65], MpcError> {
        let enc = self.verifying_key()?.to_sec1_point(false);
        let mut out = [0u8; 65];
        out.copy_from_slice(enc.as_bytes());
        Ok(out)
    }
}

impl fmt::Debug for EcdsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcdsaPublicKey({})", hex::encode(self.0))
    }
}

/// An ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey(pub(crate) [u8; 32]);

impl Ed25519PublicKey {
    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", hex::encode(self.0))
    }
}

/// A verified, low-S ECDSA signature over a 32-byte digest, with its recovery id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EcdsaSignature {
    /// r, big-endian.
    pub r: [u8; 32],
    /// s, big-endian, always in the lower half of the curve order.
    pub s: [u8; 32],
    /// Recovery id (0 or 1; y parity of R).
    pub recovery_id: u8,
}

impl EcdsaSignature {
    /// r ‖ s.
    pub fn to_compact(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r);
        out[32..].copy_from_slice(&self.s);
        out
    }

    /// r ‖ s ‖ recovery id (0/1). Chain encodings (27/28, EIP-155, BIP-137) add their offset.
    pub fn to_rsv(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&self.to_compact());
        out[64] = self.recovery_id;
        out
    }
}

impl fmt::Debug for EcdsaSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EcdsaSignature({}, v={})",
            hex::encode(self.to_compact()),
            self.recovery_id
        )
    }
}

/// A verified ed25519 signature (R ‖ S).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519Signature(pub [u8; 64]);

impl fmt::Debug for Ed25519Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Signature({})", hex::encode(self.0))
    }
}

/// Normalizes to low-S, finds the recovery id, and verifies against `pk`. The only way an
/// ECDSA signature leaves the engine.
///
/// Verification is by public-key recovery: the key recovered from (signature, digest,
/// recovery id) must equal `pk`, which is a complete ECDSA verification and yields the
/// recovery id in the same step. `recid_hint` (from libraries that compute it) is tried
/// first; the other parity only if it fails.
pub(crate) fn finish_ecdsa(
    protocol: ProtocolId,
    peer: PartyIndex,
    r: [u8; 32],
    s: [u8; 32],
    digest: &[u8; 32],
    pk: &EcdsaPublicKey,
    recid_hint: Option<u8>,
) -> Result<EcdsaSignature, MpcError> {
    let invalid = || MpcError::SignatureInvalid {
        protocol,
        blame: peer,
    };
    let sig = K256Signature::from_scalars(r, s).map_err(|_| invalid())?;
    let normalized = sig.normalize_s();
    // Normalizing s negates it, which flips the parity of the recovery id.
    let flipped = normalized != sig;
    let vk = pk.verifying_key()?;
    let first = recid_hint.map(|h| (h & 1) ^ u8::from(flipped)).unwrap_or(0);
    let recid = [first, first ^ 1]
        .into_iter()
        .find(|id| {
            RecoveryId::from_byte(*id)
                .and_then(|rid| VerifyingKey::recover_from_prehash(digest, &normalized, rid).ok())
                .is_some_and(|k| k == vk)
        })
        .ok_or_else(invalid)?;
    let bytes = normalized.to_bytes();
    let mut out = EcdsaSignature {
        r: [0; 32],
        s: [0; 32],
        recovery_id: recid,
    };
    out.r.copy_from_slice(&bytes[..32]);
    out.s.copy_from_slice(&bytes[32..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]

    use k256::ecdsa::SigningKey;

    use super::*;

    const P: ProtocolId = ProtocolId::DklsSign;
    const PEER: PartyIndex = PartyIndex::NODE2;

    fn key(seed: u8) -> (SigningKey, EcdsaPublicKey) {
        let sk = SigningKey::from_slice(&[seed; 32]).unwrap();
        let pk = EcdsaPublicKey::from_verifying_key(sk.verifying_key());
        (sk, pk)
    }

    fn parts(sig: &K256Signature) -> ([u8; 32], [u8; 32]) {
        let b = sig.to_bytes();
        (b[..32].try_into().unwrap(), b[32..].try_into().unwrap())
    }

    #[test]
    fn accepts_a_valid_signature_with_any_hint_and_finds_the_recovery_id() {
        let (sk, pk) = key(1);
        for i in 0..16u8 {
            let digest = [i; 32];
            let (sig, recid) = sk.sign_prehash_recoverable(&digest);
            let (r, s) = parts(&sig);
            for hint in [None, Some(0), Some(1)] {
                let out = finish_ecdsa(P, PEER, r, s, &digest, &pk, hint).unwrap();
                assert_eq!((out.r, out.s, out.recovery_id), (r, s, recid.to_byte()));
            }
        }
    }

    #[test]
    fn normalizes_high_s_and_flips_the_recovery_id() {
        let (sk, pk) = key(2);
        let digest = [9; 32];
        let (sig, recid) = sk.sign_prehash_recoverable(&digest);
        let (r, s) = parts(&sig);
        let high = K256Signature::from_scalars(r, (-*sig.s()).to_bytes()).unwrap();
        let (_, high_s) = parts(&high);
        assert_ne!(high_s, s);
        // A library that reports the recovery id of the high-S form.
        let out =
            finish_ecdsa(P, PEER, r, high_s, &digest, &pk, Some(recid.to_byte() ^ 1)).unwrap();
        assert_eq!((out.s, out.recovery_id), (s, recid.to_byte()));
    }

    #[test]
    fn refuses_a_signature_for_another_digest_or_key() {
        let (sk, pk) = key(3);
        let (_, other) = key(4);
        let (sig, _) = sk.sign_prehash_recoverable(&[5; 32]);
        let (r, s) = parts(&sig);
        for (digest, key) in [(&[6; 32], &pk), (&[5; 32], &other)] {
            match finish_ecdsa(P, PEER, r, s, digest, key, None) {
                Err(MpcError::SignatureInvalid { protocol, blame }) => {
                    assert_eq!((protocol, blame), (P, PEER))
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(finish_ecdsa(P, PEER, [0; 32], s, &[5; 32], &pk, None).is_err());
    }
}
