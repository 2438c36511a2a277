//! Authenticating an organization's RSA key.
//!
//! Clients get the organization's public key from the REST server, which Trustless custody
//! does not trust: a server that answered with its own key could open every secret sent to
//! it. So Node 1, which creates the key, signs it with its long-term Ed25519 identity key:
//!
//! ```text
//! statement = lp("planbok/org-key/v1") ‖ lp(org id) ‖ lp(SPKI DER of the RSA key)
//!             ‖ created at (unix ms, i64 big-endian)
//! ```
//!
//! and the server relays `{publicKey, signature, nodeKeyId, createdAt}`. A client verifies
//! the signature with Node 1's identity public key, which it is given out of band
//! (`PLANBOK_NODE_KEY`, printed by `planbok dev` and `planbok operator status`), and refuses
//! RSA keys under [`MIN_RSA_BITS`] bits, all before anything is encrypted.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rsa::RsaPublicKey;
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

use crate::put_lp;

/// Domain separation for the attestation statement.
pub const DOMAIN_V1: &[u8] = b"planbok/org-key/v1";
/// The smallest organization key a client encrypts to (128-bit security; an envelope with
/// a binding does not fit OAEP-SHA256 under 2048 bits anyway).
pub const MIN_RSA_BITS: usize = 3072;
/// The largest (bounds the work a hostile key can cause).
pub const MAX_RSA_BITS: usize = 8192;

/// Why an organization key is refused. Each names what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgKeyError {
    /// The PEM is not an RSA SPKI public key.
    #[error("the organization public key is not an RSA SPKI PEM: {0}")]
    Malformed(String),
    /// Too small (or absurdly large).
    #[error("the organization public key has {bits} bits; at least {min} are required")]
    TooSmall {
        /// Its size.
        bits: usize,
        /// The minimum.
        min: usize,
    },
    /// The node identity key given is malformed.
    #[error("the node identity key must be 64 hex characters (optionally `ed25519:`-prefixed)")]
    BadIdentity,
    /// The server relayed no signature although a node identity key is configured.
    #[error("the server sent the organization key without Node 1's signature")]
    Unsigned,
    /// Signed by another identity key than the configured one.
    #[error(
        "the organization key is signed by node key {got}, not by the configured Node 1 key {want}"
    )]
    WrongSigner {
        /// The id the server named.
        got: String,
        /// The configured key's id.
        want: String,
    },
    /// The signature does not verify (a forged or swapped key).
    #[error(
        "Node 1's signature over the organization key does not verify: the key was swapped or altered on the way"
    )]
    BadSignature,
    /// Signed for another organization.
    #[error("the organization key is Node 1's key for organization {got}, not {want}")]
    WrongOrg {
        /// The organization in the statement.
        got: String,
        /// The caller's.
        want: String,
    },
    /// The key differs from the one pinned on first use.
    #[error(
        "the organization public key (fingerprint {got}) is not the one pinned for {org} ({pinned}); refusing to encrypt the secret to it"
    )]
    PinMismatch {
        /// The organization.
        org: String,
        /// The pinned fingerprint.
        pinned: String,
        /// The served key's fingerprint.
        got: String,
    },
}

/// An organization's RSA public key, parsed and within the size policy.
#[derive(Clone)]
pub struct OrgPublicKey {
    /// The SPKI PEM as served.
    pub pem: String,
    /// The parsed key.
    pub key: RsaPublicKey,
    /// SHA-256 of the SPKI DER: what is signed, and what clients pin.
    pub fingerprint: [u8; 32],
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for OrgPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgPublicKey")
            .field("bits", &self.key.size())
            .field("fingerprint", &hex::encode(self.fingerprint))
            .finish()
    }
}

impl OrgPublicKey {
    /// Parses an SPKI PEM and applies the size policy.
    pub fn from_pem(pem: &str) -> Result<OrgPublicKey, OrgKeyError> {
        OrgPublicKey::parse(pem)?.checked()
    }

    /// Parses an SPKI PEM, without the size policy (see [`OrgPublicKey::checked`]).
    fn parse(pem: &str) -> Result<OrgPublicKey, OrgKeyError> {
        let key = RsaPublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| OrgKeyError::Malformed(e.to_string()))?;
        let spki_der = key
            .to_public_key_der()
            .map_err(|e| OrgKeyError::Malformed(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok(OrgPublicKey {
            pem: pem.to_owned(),
            fingerprint: Sha256::digest(&spki_der).into(),
            key,
            spki_der,
        })
    }

    /// The key, if within the size policy.
    fn checked(self) -> Result<OrgPublicKey, OrgKeyError> {
        let bits = self.key.size() * 8;
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(OrgKeyError::TooSmall {
                bits,
                min: MIN_RSA_BITS,
            });
        }
        Ok(self)
    }

    /// The fingerprint as lowercase hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// The SPKI DER encoding (what the statement carries).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

/// The attestation statement over `spki_der`.
pub fn statement(org_id: &str, spki_der: &[u8], created_at_ms: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + spki_der.len());
    put_lp(&mut m, DOMAIN_V1);
    put_lp(&mut m, org_id.as_bytes());
    put_lp(&mut m, spki_der);
    m.extend_from_slice(&created_at_ms.to_be_bytes());
    m
}

/// A node's identity public key (Ed25519).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodeIdentity(VerifyingKey);

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeIdentity({})", self.to_text())
    }
}

impl NodeIdentity {
    /// From the 32-byte public key.
    pub fn from_bytes(b: &[u8]) -> Result<NodeIdentity, OrgKeyError> {
        let b: [u8; 32] = b.try_into().map_err(|_| OrgKeyError::BadIdentity)?;
        VerifyingKey::from_bytes(&b)
            .map(NodeIdentity)
            .map_err(|_| OrgKeyError::BadIdentity)
    }

    /// From its text form, `ed25519:<64 hex>` (the prefix is optional).
    pub fn parse(s: &str) -> Result<NodeIdentity, OrgKeyError> {
        let s = s.trim();
        let h = s.strip_prefix("ed25519:").unwrap_or(s);
        let mut b = [0u8; 32];
        hex::decode_to_slice(h, &mut b).map_err(|_| OrgKeyError::BadIdentity)?;
        NodeIdentity::from_bytes(&b)
    }

    /// Of a signing key.
    pub fn of(signing: &SigningKey) -> NodeIdentity {
        NodeIdentity(signing.verifying_key())
    }

    /// The text form operators copy into client configuration: `ed25519:<64 hex>`.
    pub fn to_text(&self) -> String {
        format!("ed25519:{}", hex::encode(self.0.as_bytes()))
    }

    /// A short id for the key (the first 8 bytes of SHA-256 of it, hex): relayed with each
    /// signature so a client can say which key signed.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Verifies Node 1's attestation of `pem` for `org_id`, then the size policy.
    pub fn verify_org_key(
        &self,
        org_id: &str,
        pem: &str,
        created_at_ms: i64,
        signature: &[u8],
        node_key_id: &str,
    ) -> Result<OrgPublicKey, OrgKeyError> {
        if signature.is_empty() {
            return Err(OrgKeyError::Unsigned);
        }
        if node_key_id != self.key_id() {
            return Err(OrgKeyError::WrongSigner {
                got: node_key_id.to_owned(),
                want: self.key_id(),
            });
        }
        // The size policy after the signature, so a forged key is reported as forged, not
        // as small.
        let key = OrgPublicKey::parse(pem)?;
        let sig = Signature::from_slice(signature).map_err(|_| OrgKeyError::BadSignature)?;
        self.0
            .verify_strict(&statement(org_id, &key.spki_der, created_at_ms), &sig)
            .map_err(|_| OrgKeyError::BadSignature)?;
        key.checked()
    }
}

/// Signs the statement for `spki_der` (Node 1).
pub fn attest(signing: &SigningKey, org_id: &str, spki_der: &[u8], created_at_ms: i64) -> [u8; 64] {
    signing
        .sign(&statement(org_id, spki_der, created_at_ms))
        .to_bytes()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;
    use rsa::pkcs8::LineEnding;

    fn rsa_pem(bits: usize) -> (String, Vec<u8>) {
        let sk = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
        let pk = sk.to_public_key();
        (
            pk.to_public_key_pem(LineEnding::LF).unwrap(),
            pk.to_public_key_der().unwrap().as_bytes().to_vec(),
        )
    }

    #[test]
    fn a_signed_key_verifies_and_anything_else_is_refused() {
        let node = SigningKey::generate(&mut rand_core::OsRng);
        let id = NodeIdentity::of(&node);
        assert_eq!(NodeIdentity::parse(&id.to_text()).unwrap(), id);
        let (pem, der) = rsa_pem(3072);
        let sig = attest(&node, "org_a", &der, 42);
        let k = id
            .verify_org_key("org_a", &pem, 42, &sig, &id.key_id())
            .unwrap();
        assert_eq!(k.fingerprint, <[u8; 32]>::from(Sha256::digest(&der)));

        // Another org, another time, another key, no signature, another signer.
        assert_eq!(
            id.verify_org_key("org_b", &pem, 42, &sig, &id.key_id())
                .unwrap_err(),
            OrgKeyError::BadSignature
        );
        assert_eq!(
            id.verify_org_key("org_a", &pem, 43, &sig, &id.key_id())
                .unwrap_err(),
            OrgKeyError::BadSignature
        );
        let (evil, _) = rsa_pem(3072);
        assert_eq!(
            id.verify_org_key("org_a", &evil, 42, &sig, &id.key_id())
                .unwrap_err(),
            OrgKeyError::BadSignature
        );
        assert_eq!(
            id.verify_org_key("org_a", &pem, 42, &[], &id.key_id())
                .unwrap_err(),
            OrgKeyError::Unsigned
        );
        let other = SigningKey::generate(&mut rand_core::OsRng);
        let forged = attest(&other, "org_a", &der, 42);
        let other_id = NodeIdentity::of(&other).key_id();
        assert!(matches!(
            id.verify_org_key("org_a", &pem, 42, &forged, &other_id),
            Err(OrgKeyError::WrongSigner { .. })
        ));
        assert_eq!(
            id.verify_org_key("org_a", &pem, 42, &forged, &id.key_id())
                .unwrap_err(),
            OrgKeyError::BadSignature
        );
    }

    #[test]
    fn keys_under_3072_bits_are_refused_even_when_signed() {
        let node = SigningKey::generate(&mut rand_core::OsRng);
        let id = NodeIdentity::of(&node);
        let (pem, der) = rsa_pem(2048);
        let sig = attest(&node, "o", &der, 1);
        assert_eq!(
            id.verify_org_key("o", &pem, 1, &sig, &id.key_id())
                .unwrap_err(),
            OrgKeyError::TooSmall {
                bits: 2048,
                min: 3072
            }
        );
        assert!(matches!(
            OrgPublicKey::from_pem(&pem),
            Err(OrgKeyError::TooSmall { .. })
        ));
        assert!(matches!(
            OrgPublicKey::from_pem("nope"),
            Err(OrgKeyError::Malformed(_))
        ));
        assert_eq!(
            NodeIdentity::parse("ed25519:zz").unwrap_err(),
            OrgKeyError::BadIdentity
        );
    }
}
