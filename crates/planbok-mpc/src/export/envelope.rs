//! The export envelope: each node encrypts **its own share** to the client's ephemeral
//! X25519 key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//! ChaCha20-Poly1305, the `hpke` crate); only the client, holding the matching secret,
//! opens both ciphertexts and reconstructs the key ([`open_export`]). No server ever holds
//! both shares in plain text.
//!
//! Ciphertext layout (version 1): `0x01 ‖ enc (32 bytes) ‖ HPKE ciphertext`. The HPKE
//! `info` binds the format version, the node (1 or 2) and the key id, so a node's
//! ciphertext can be opened neither as the other node's nor as another key's. The plaintext
//! is the share's versioned sealable form ([`crate::sealed`]), exactly what the keystore
//! seals; the client decodes it with the share type's own `from_sealable_bytes`.

use std::fmt;

use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use zeroize::Zeroizing;

use super::{
    ExportedEcdsaKey, ExportedEd25519Key, reconstruct_cggmp_private_key_dangerous,
    reconstruct_dkls_private_key_dangerous, reconstruct_frost_private_key_dangerous,
};
use crate::cggmp::CggmpKeyShare;
use crate::dkls::DklsKeyShare;
use crate::error::MpcError;
use crate::frame::PartyIndex;
use crate::frost::FrostKeyShare;
use crate::hd::DerivationPath;
use crate::sealed::{self, ShareKind};

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

/// A reconstructed key: secp256k1 (at the requested derivation path) or ed25519.
#[derive(Debug)]
pub enum ExportedKey {
    /// CGGMP or DKLs23.
    Ecdsa(ExportedEcdsaKey),
    /// FROST.
    Ed25519(ExportedEd25519Key),
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
    pub fn from_bytes(bytes: &[u8; RECIPIENT_KEY_LEN]) -> Result<Self, MpcError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map(ExportRecipientSecret)
            .map_err(|e| MpcError::InvalidInput(format!("export recipient secret: {e}")))
    }

    /// The matching public key.
    pub fn public_key(&self) -> [u8; RECIPIENT_KEY_LEN] {
        let mut out = [0u8; RECIPIENT_KEY_LEN];
        out.copy_from_slice(&Kem::sk_to_pk(&self.0).to_bytes());
        out
    }
}

/// The HPKE `info`: version, node (1 or 2) and key id, length-prefixed.
fn info(key_id: &str, party: PartyIndex) -> Vec<u8> {
    let mut v = Vec::with_capacity(INFO_DOMAIN.len() + 7 + key_id.len());
    v.extend_from_slice(INFO_DOMAIN);
    v.push(EXPORT_VERSION);
    v.extend_from_slice(&(party.get() + 1).to_be_bytes());
    v.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
    v.extend_from_slice(key_id.as_bytes());
    v
}

/// Checks that a recipient public key is 32 bytes and a valid X25519 point encoding.
pub fn check_recipient_public_key(bytes: &[u8]) -> Result<(), MpcError> {
    parse_recipient(bytes).map(|_| ())
}

fn parse_recipient(bytes: &[u8]) -> Result<<Kem as hpke::Kem>::PublicKey, MpcError> {
    if bytes.len() != RECIPIENT_KEY_LEN {
        return Err(MpcError::InvalidInput(format!(
            "the export recipient key is {} bytes, not {RECIPIENT_KEY_LEN}",
            bytes.len()
        )));
    }
    <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
        .map_err(|e| MpcError::InvalidInput(format!("export recipient key: {e}")))
}

/// **Encrypts one node's key share to the client's export key.** `sealable_share` is the
/// share's sealable form (what `to_sealable_bytes` returns and the keystore seals); only a
/// key share (CGGMP, DKLs23, FROST) is accepted, never aux info or primes.
pub fn seal_share_for_export(
    recipient_public_key: &[u8],
    key_id: &str,
    party: PartyIndex,
    sealable_share: &[u8],
) -> Result<Vec<u8>, MpcError> {
    let pk = parse_recipient(recipient_public_key)?;
    match sealed::kind_of(sealable_share)? {
        ShareKind::CggmpKey | ShareKind::Dkls | ShareKind::Frost => {}
        other => {
            return Err(MpcError::InvalidInput(format!(
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
    .map_err(|e| MpcError::Internal(format!("hpke seal: {e}")))?;
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
    party: PartyIndex,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, MpcError> {
    let node = party.get() + 1;
    let bad = |m: &str| MpcError::InvalidInput(format!("node {node}'s export ciphertext: {m}"));
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

fn decode_checked<T>(
    bytes: &[u8],
    protocol: ExportProtocol,
    party: PartyIndex,
    decode: impl FnOnce(&[u8]) -> Result<T, MpcError>,
    party_of: impl FnOnce(&T) -> PartyIndex,
) -> Result<T, MpcError> {
    let kind = sealed::kind_of(bytes)?;
    if kind != protocol.share_kind() {
        return Err(MpcError::InvalidInput(format!(
            "node {} exported a {kind:?} share, not a {protocol:?} key share",
            party.get() + 1
        )));
    }
    let share = decode(bytes)?;
    if party_of(&share) != party {
        return Err(MpcError::InvalidInput(format!(
            "node {}'s ciphertext holds the other node's share",
            party.get() + 1
        )));
    }
    Ok(share)
}

/// **Client side: opens both nodes' ciphertexts and reconstructs the full private key** at
/// `path` (secp256k1; ed25519 keys are not derived, pass [`DerivationPath::master`]). Each
/// ciphertext must open under `recipient` for `key_id` and its own node; the shares must
/// be the two halves of one key, whose public key the reconstruction must reproduce.
pub fn open_export_dangerous(
    recipient: &ExportRecipientSecret,
    key_id: &str,
    node1_ciphertext: &[u8],
    node2_ciphertext: &[u8],
    protocol: ExportProtocol,
    path: &DerivationPath,
) -> Result<ExportedKey, MpcError> {
    let (p1, p2) = (PartyIndex::NODE1, PartyIndex::NODE2);
    let a = open_one(recipient, key_id, p1, node1_ciphertext)?;
    let b = open_one(recipient, key_id, p2, node2_ciphertext)?;
    match protocol {
        ExportProtocol::Cggmp => {
            let dec = CggmpKeyShare::from_sealable_bytes;
            let a = decode_checked(&a, protocol, p1, dec, CggmpKeyShare::party)?;
            let b = decode_checked(&b, protocol, p2, dec, CggmpKeyShare::party)?;
            reconstruct_cggmp_private_key_dangerous(&a, &b, path).map(ExportedKey::Ecdsa)
        }
        ExportProtocol::Dkls23 => {
            let dec = DklsKeyShare::from_sealable_bytes;
            let a = decode_checked(&a, protocol, p1, dec, DklsKeyShare::party)?;
            let b = decode_checked(&b, protocol, p2, dec, DklsKeyShare::party)?;
            reconstruct_dkls_private_key_dangerous(&a, &b, path).map(ExportedKey::Ecdsa)
        }
        ExportProtocol::Frost => {
            if !path.indices().is_empty() {
                return Err(MpcError::InvalidInput(
                    "ed25519 keys are not derived; the path must be \"m\"".into(),
                ));
            }
            let dec = FrostKeyShare::from_sealable_bytes;
            let a = decode_checked(&a, protocol, p1, dec, FrostKeyShare::party)?;
            let b = decode_checked(&b, protocol, p2, dec, FrostKeyShare::party)?;
            reconstruct_frost_private_key_dangerous(&a, &b).map(ExportedKey::Ed25519)
        }
    }
}
