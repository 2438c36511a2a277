//! The versioned plaintext envelope for secret shares, before the keystore encrypts it:
//! `planbok-export`'s format (one definition for the nodes and the export's clients),
//! with this crate's error type.

use zeroize::Zeroizing;

pub use planbok_export::sealed::{SEALED_VERSION, ShareKind};

use crate::error::MpcError;

pub(crate) fn wrap(kind: ShareKind, payload: &[u8]) -> Zeroizing<Vec<u8>> {
    planbok_export::sealed::wrap(kind, payload)
}

pub(crate) fn to_json<T: serde::Serialize>(
    kind: ShareKind,
    v: &T,
) -> Result<Zeroizing<Vec<u8>>, MpcError> {
    Ok(planbok_export::sealed::to_json(kind, v)?)
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    kind: ShareKind,
    bytes: &[u8],
) -> Result<T, MpcError> {
    Ok(planbok_export::sealed::from_json(kind, bytes)?)
}
