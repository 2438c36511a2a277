//! The key-encryption-key backends behind one trait.

use zeroize::Zeroizing;

use crate::crypto::{self, NONCE_LEN};
use crate::{BackendId, KeystoreError, SealStatus, UnsealKey};

pub(crate) mod dev;
pub(crate) mod pkcs11;
pub(crate) mod sealed;
pub(crate) mod transit;

/// A key-encryption key: wraps and unwraps 32-byte data keys, bound to associated data.
///
/// Only the sealed backend has a seal state; the others are always unsealed and keep the
/// default methods.
pub(crate) trait Kek: Send + Sync {
    fn id(&self) -> BackendId;

    /// Wraps `dek`, authenticating `aad` with it.
    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError>;

    /// Unwraps a data key. Authentication failure is [`KeystoreError::DataKeyRejected`].
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError>;

    fn status(&self) -> SealStatus {
        SealStatus::Unsealed
    }

    fn init(&self, _shares: u8, _threshold: u8) -> Result<Vec<UnsealKey>, KeystoreError> {
        Err(self.unsupported("init"))
    }

    fn unseal(&self, _key: &UnsealKey) -> Result<SealStatus, KeystoreError> {
        Err(self.unsupported("unseal"))
    }

    fn seal(&self) -> Result<(), KeystoreError> {
        Err(self.unsupported("seal"))
    }

    fn unsupported(&self, operation: &'static str) -> KeystoreError {
        KeystoreError::Unsupported {
            operation,
            backend: self.id().name(),
        }
    }
}

/// Wraps a data key with AES-256-GCM under a key held in memory: nonce ‖ ciphertext ‖ tag.
pub(crate) fn local_wrap(
    kek: &[u8; 32],
    dek: &[u8; 32],
    aad: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let nonce = crypto::random_nonce()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&crypto::aes_gcm_seal(kek, &nonce, aad, dek)?);
    Ok(out)
}

/// Reverses [`local_wrap`].
pub(crate) fn local_unwrap(
    kek: &[u8; 32],
    wrapped: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let (nonce, ciphertext) = wrapped
        .split_at_checked(NONCE_LEN)
        .ok_or(KeystoreError::DataKeyRejected)?;
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| KeystoreError::DataKeyRejected)?;
    let dek =
        crypto::aes_gcm_open(kek, nonce, aad, ciphertext).ok_or(KeystoreError::DataKeyRejected)?;
    to_key(&dek)
}

/// A 32-byte key out of an unwrapped buffer (already authenticated, so a wrong length is a
/// rejected key, not a bug we can blame on anyone else).
pub(crate) fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(KeystoreError::DataKeyRejected);
    }
    key.copy_from_slice(bytes);
    Ok(key)
}
