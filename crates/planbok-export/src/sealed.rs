//! The versioned plaintext envelope for secret shares, before the keystore encrypts it.
//!
//! Layout: magic `PBKS`, format version (1), kind, then the kind's payload. The payload is
//! the library's own stable encoding (JSON for cggmp21, as its own compatibility fixtures
//! use; postcard for DKLs23; `serialize()` for FROST), so a crate upgrade that changes it
//! shows up as a failing fixture test, not as silently unreadable shares.
//!
//! The nodes seal with it (through `planbok-mpc`) and the export's client reads it: one
//! definition of the format.

use zeroize::Zeroizing;

use crate::error::ExportError;

const MAGIC: [u8; 4] = *b"PBKS";
/// Current sealed-share format version.
pub const SEALED_VERSION: u8 = 1;

/// What a sealed blob holds. Values are part of the persisted format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ShareKind {
    /// cggmp21 incomplete key share (secret share, public shares, chain code).
    CggmpKey = 1,
    /// cggmp21 auxiliary info of one party (Paillier secret key, ring-Pedersen parameters).
    CggmpAux = 2,
    /// DKLs23 party state.
    Dkls = 3,
    /// FROST key package and public key package.
    Frost = 4,
    /// Safe primes for a future cggmp21 aux-info or refresh run.
    CggmpPrimes = 5,
}

/// `magic ‖ version ‖ kind ‖ payload`.
pub fn wrap(kind: ShareKind, payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(6 + payload.len()));
    out.extend_from_slice(&MAGIC);
    out.push(SEALED_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(payload);
    out
}

/// The kind byte of a sealable blob, after checking its magic and version.
fn kind_byte(bytes: &[u8]) -> Result<u8, ExportError> {
    if bytes.len() < 6 || bytes[0..4] != MAGIC {
        return Err(ExportError::SealedFormat("not a planbok share blob".into()));
    }
    if bytes[4] != SEALED_VERSION {
        return Err(ExportError::SealedFormat(format!(
            "unsupported share format version {}",
            bytes[4]
        )));
    }
    Ok(bytes[5])
}

/// The payload of a blob of `kind`, after checking magic, version and kind.
pub fn unwrap(kind: ShareKind, bytes: &[u8]) -> Result<&[u8], ExportError> {
    let found = kind_byte(bytes)?;
    if found != kind as u8 {
        return Err(ExportError::SealedFormat(format!(
            "blob holds share kind {found}, expected {kind:?}"
        )));
    }
    Ok(&bytes[6..])
}

/// The kind a sealable blob declares, after checking its magic and version.
pub fn kind_of(bytes: &[u8]) -> Result<ShareKind, ExportError> {
    let found = kind_byte(bytes)?;
    [
        ShareKind::CggmpKey,
        ShareKind::CggmpAux,
        ShareKind::Dkls,
        ShareKind::Frost,
        ShareKind::CggmpPrimes,
    ]
    .into_iter()
    .find(|k| *k as u8 == found)
    .ok_or_else(|| ExportError::SealedFormat(format!("unknown share kind {found}")))
}

/// A JSON payload (cggmp21's own stable encoding) wrapped as `kind`.
pub fn to_json<T: serde::Serialize>(
    kind: ShareKind,
    v: &T,
) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let body = Zeroizing::new(
        serde_json::to_vec(v).map_err(|e| ExportError::Internal(format!("encode share: {e}")))?,
    );
    Ok(wrap(kind, &body))
}

/// Reads back [`to_json`].
pub fn from_json<T: serde::de::DeserializeOwned>(
    kind: ShareKind,
    bytes: &[u8],
) -> Result<T, ExportError> {
    serde_json::from_slice(unwrap(kind, bytes)?)
        .map_err(|e| ExportError::SealedFormat(format!("{kind:?} payload: {e}")))
}
