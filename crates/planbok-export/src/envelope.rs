//! The export envelope: each node encrypts **its own share** to the client's ephemeral
//! X25519 key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//! ChaCha20-Poly1305, the `hpke` crate); only the client, holding the matching secret,
//! opens both ciphertexts and reconstructs the key ([`open_export_dangerous`]). No server ever holds
//! both shares in plain text.
//!
//! Ciphertext layout (version 1): `0x01 ‖ enc (32 bytes) ‖ HPKE ciphertext`. The HPKE
//! `info` binds the format version, the node (1 or 2) and the key id, so a node's
//! ciphertext can be opened neither as the other node's nor as another key's. The plaintext
//! is the share's versioned sealable form ([`crate::sealed`]), exactly what the keystore
//! seals; the client decodes it with [`crate::shares`] (what the share types' own
//! `from_sealable_bytes` are).

use std::fmt;

use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use zeroize::Zeroizing;

use crate::error::ExportError;
use crate::reconstruct::{
    ExportedKey, reconstruct_cggmp_dangerous, reconstruct_dkls_dangerous,
    reconstruct_frost_dangerous,
};
use crate::sealed::{self, ShareKind};
use crate::shares;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// Format version of an export ciphertext (its first byte) and of the HPKE `info`.
pub const EXPORT_VERSION: u8 = 1;
/// Length of an X25519 public key, and of HPKE's encapsulated key.
pub const RECIPIENT_KEY_LEN: usize = 32;
const INFO_DOMAIN: &[u8] = b"planbok/export/v1\0";

/// Which kind of key an export reconstructs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportProtocol {
    /// CGGMP21 secp256k1 key.
    Cggmp,
    /// DKLs23 secp256k1 key.
    Dkls23,
    /// FROST ed25519 key.
    Frost,
}

impl ExportProtocol {
    fn share_kind(self) -> ShareKind {
        match self {
            ExportProtocol::Cggmp => ShareKind::CggmpKey,
            ExportProtocol::Dkls23 => ShareKind::Dkls,
            ExportProtocol::Frost => ShareKind::Frost,
        }
    }
}

/// The client's ephemeral X25519 secret for one export. Zeroized on drop (the `hpke`
/// crate's key type); `Debug` prints `<redacted>`.
pub struct ExportRecipientSecret(<Kem as hpke::Kem>::PrivateKey);

impl fmt::Debug for ExportRecipientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExportRecipientSecret(<redacted>)")
    }
}

impl ExportRecipientSecret {
    /// A fresh key pair from the OS RNG: the secret, and the 32-byte public key the client
    /// sends with its export request.
    pub fn generate() -> (Self, [u8; RECIPIENT_KEY_LEN]) {
        let (sk, pk) = Kem::gen_keypair();
        let mut out = [0u8; RECIPIENT_KEY_LEN];
        out.copy_from_slice(&pk.to_bytes());
        (ExportRecipientSecret(sk), out)
    }

    /// From the 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; RECIPIENT_KEY_LEN]) -> Result<Self, ExportError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map(ExportRecipientSecret)
            .map_err(|e| ExportError::InvalidInput(format!("export recipient secret: {e}")))
    }

    /// The matching public key.
    pub fn public_key(&self) -> [u8; RECIPIENT_KEY_LEN] {
        let mut out = [0u8; RECIPIENT_KEY_LEN];
        out.copy_from_slice(&Kem::sk_to_pk(&self.0).to_bytes());
        out
    }
}

/// Node 1 is party 0, Node 2 party 1.
const NODE1: u16 = 0;
const NODE2: u16 = 1;

/// The HPKE `info`: version, node (1 or 2) and key id, length-prefixed.
fn info(key_id: &str, party: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(INFO_DOMAIN.len() + 7 + key_id.len());
    v.extend_from_slice(INFO_DOMAIN);
    v.push(EXPORT_VERSION);
    v.extend_from_slice(&(party + 1).to_be_bytes());
    v.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
    v.extend_from_slice(key_id.as_bytes());
    v
}

/// Checks that a recipient public key is 32 bytes and a valid X25519 point encoding.
pub fn check_recipient_public_key(bytes: &[u8]) -> Result<(), ExportError> {
    parse_recipient(bytes).map(|_| ())
}

fn parse_recipient(bytes: &[u8]) -> Result<<Kem as hpke::Kem>::PublicKey, ExportError> {
    if bytes.len() != RECIPIENT_KEY_LEN {
        return Err(ExportError::InvalidInput(format!(
            "the export recipient key is {} bytes, not {RECIPIENT_KEY_LEN}",
            bytes.len()
        )));
    }
    <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
        .map_err(|e| ExportError::InvalidInput(format!("export recipient key: {e}")))
}

/// **Encrypts one node's key share to the client's export key.** `sealable_share` is the
/// share's sealable form (what `to_sealable_bytes` returns and the keystore seals); only a
/// key share (CGGMP, DKLs23, FROST) is accepted, never aux info or primes. `party`: 0 for
/// Node 1, 1 for Node 2.
pub fn seal_share_for_export(
    recipient_public_key: &[u8],
    key_id: &str,
    party: u16,
    sealable_share: &[u8],
) -> Result<Vec<u8>, ExportError> {
    if party > NODE2 {
        return Err(ExportError::InvalidInput(format!("no party {party}")));
    }
    let pk = parse_recipient(recipient_public_key)?;
    match sealed::kind_of(sealable_share)? {
        ShareKind::CggmpKey | ShareKind::Dkls | ShareKind::Frost => {}
        other => {
            return Err(ExportError::InvalidInput(format!(
                "{other:?} is not an exportable key share"
            )));
        }
    }
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk,
        &info(key_id, party),
        sealable_share,
        &[],
    )
    .map_err(|e| ExportError::Internal(format!("hpke seal: {e}")))?;
    let enc = enc.to_bytes();
    let mut out = Vec::with_capacity(1 + enc.len() + ct.len());
    out.push(EXPORT_VERSION);
    out.extend_from_slice(&enc);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens one node's export ciphertext: the share's sealable bytes.
fn open_one(
    secret: &ExportRecipientSecret,
    key_id: &str,
    party: u16,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let node = party + 1;
    let bad = |m: &str| ExportError::InvalidInput(format!("node {node}'s export ciphertext: {m}"));
    if ciphertext.len() < 1 + RECIPIENT_KEY_LEN {
        return Err(bad("truncated"));
    }
    if ciphertext[0] != EXPORT_VERSION {
        return Err(bad(&format!("unsupported version {}", ciphertext[0])));
    }
    let (enc, ct) = ciphertext[1..].split_at(RECIPIENT_KEY_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| bad("bad key"))?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &secret.0,
        &enc,
        &info(key_id, party),
        ct,
        &[],
    )
    .map(Zeroizing::new)
    .map_err(|_| bad("does not open with this recipient key for this key id and node"))
}

fn check_kind(bytes: &[u8], protocol: ExportProtocol, party: u16) -> Result<(), ExportError> {
    let kind = sealed::kind_of(bytes)?;
    if kind != protocol.share_kind() {
        return Err(ExportError::InvalidInput(format!(
            "node {} exported a {kind:?} share, not a {protocol:?} key share",
            party + 1
        )));
    }
    Ok(())
}

fn check_party(found: u16, party: u16) -> Result<(), ExportError> {
    if found != party {
        return Err(ExportError::InvalidInput(format!(
            "node {}'s ciphertext holds the other node's share",
            party + 1
        )));
    }
    Ok(())
}

/// **Client side: opens both nodes' ciphertexts and reconstructs the full private key** at
/// `path` (secp256k1, non-hardened indices; ed25519 keys are not derived, pass `&[]`). Each
/// ciphertext must open under `recipient` for `key_id` and its own node; the shares must
/// be the two halves of one key, whose public key the reconstruction must reproduce.
pub fn open_export_dangerous(
    recipient: &ExportRecipientSecret,
    key_id: &str,
    node1_ciphertext: &[u8],
    node2_ciphertext: &[u8],
    protocol: ExportProtocol,
    path: &[u32],
) -> Result<ExportedKey, ExportError> {
    let a = open_one(recipient, key_id, NODE1, node1_ciphertext)?;
    let b = open_one(recipient, key_id, NODE2, node2_ciphertext)?;
    check_kind(&a, protocol, NODE1)?;
    check_kind(&b, protocol, NODE2)?;
    match protocol {
        ExportProtocol::Cggmp => {
            let a = shares::decode_cggmp(&a)?;
            let b = shares::decode_cggmp(&b)?;
            check_party(a.i, NODE1)?;
            check_party(b.i, NODE2)?;
            reconstruct_cggmp_dangerous(&a, &b, path).map(ExportedKey::Ecdsa)
        }
        ExportProtocol::Dkls23 => {
            let (pa, a) = shares::decode_dkls(&a)?;
            let (pb, b) = shares::decode_dkls(&b)?;
            check_party(pa, NODE1)?;
            check_party(pb, NODE2)?;
            reconstruct_dkls_dangerous(&a, &b, path).map(ExportedKey::Ecdsa)
        }
        ExportProtocol::Frost => {
            if !path.is_empty() {
                return Err(ExportError::InvalidInput(
                    "ed25519 keys are not derived; the path must be \"m\"".into(),
                ));
            }
            let (pa, a, _) = shares::decode_frost(&a)?;
            let (pb, b, _) = shares::decode_frost(&b)?;
            check_party(pa, NODE1)?;
            check_party(pb, NODE2)?;
            reconstruct_frost_dangerous(&a, &b).map(ExportedKey::Ed25519)
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_opens_only_with_its_key_for_its_key_id_and_node() {
        let (sk, pk) = ExportRecipientSecret::generate();
        let (other, _) = ExportRecipientSecret::generate();
        let share = sealed::wrap(ShareKind::Frost, b"not a real share");
        let ct = seal_share_for_export(&pk, "k1", NODE2, &share).unwrap();
        assert_eq!(ct[0], EXPORT_VERSION);
        assert_eq!(&open_one(&sk, "k1", NODE2, &ct).unwrap()[..], &share[..]);
        assert!(open_one(&other, "k1", NODE2, &ct).is_err(), "another key");
        assert!(open_one(&sk, "k2", NODE2, &ct).is_err(), "another key id");
        assert!(open_one(&sk, "k1", NODE1, &ct).is_err(), "the other node");
        let mut changed = ct.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(
            open_one(&sk, "k1", NODE2, &changed).is_err(),
            "a changed byte"
        );
    }

    #[test]
    fn only_key_shares_are_sealed_and_only_to_a_valid_key() {
        let (_, pk) = ExportRecipientSecret::generate();
        let aux = sealed::wrap(ShareKind::CggmpAux, b"paillier");
        assert!(seal_share_for_export(&pk, "k1", NODE1, &aux).is_err());
        let primes = sealed::wrap(ShareKind::CggmpPrimes, b"primes");
        assert!(seal_share_for_export(&pk, "k1", NODE1, &primes).is_err());
        assert!(seal_share_for_export(&pk, "k1", NODE1, b"PBKS").is_err());
        let share = sealed::wrap(ShareKind::Dkls, b"x");
        assert!(seal_share_for_export(&pk[..31], "k1", NODE1, &share).is_err());
        assert!(seal_share_for_export(&pk, "k1", 2, &share).is_err());
        assert!(check_recipient_public_key(&pk).is_ok());
        assert!(check_recipient_public_key(&pk[..31]).is_err());
    }

    #[test]
    fn paths_are_non_hardened_and_at_most_eight_deep() {
        use crate::hd::parse_path;
        assert_eq!(parse_path("m/44/60/0/0/7").unwrap(), vec![44, 60, 0, 0, 7]);
        assert!(parse_path("m").unwrap().is_empty());
        for bad in [
            "m/44'/60",
            "m/44h",
            "m/2147483648",
            "44/60",
            "m/1/2/3/4/5/6/7/8/9",
            "m/",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
