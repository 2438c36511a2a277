//! The key-encryption-key backends behind one trait.

use zeroize::Zeroizing;

use crate::crypto;
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

    /// `Ok` when `wrap` and `unwrap` can run now; otherwise the error they would return
    /// (`Sealed`, `NotInitialized`). Cheaper than [`Kek::status`] on the hot path.
    fn ready(&self) -> Result<(), KeystoreError> {
        Ok(())
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

/// Reads a secret (PIN, token) from the environment variable the configuration names.
pub(crate) fn secret_from_env(name: &str) -> Result<Zeroizing<String>, KeystoreError> {
    std::env::var(name)
        .map(Zeroizing::new)
        .map_err(|_| KeystoreError::MissingEnv(name.to_owned()))
}

/// Wraps a data key with AES-256-GCM under a key held in memory: nonce ‖ ciphertext ‖ tag.
pub(crate) fn local_wrap(
    kek: &[u8; 32],
    dek: &[u8; 32],
    aad: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let mut out = Vec::with_capacity(dek.len() + crypto::SEAL_OVERHEAD);
    crypto::seal_into(&mut out, kek, aad, dek)?;
    Ok(out)
}

/// Reverses [`local_wrap`].
pub(crate) fn local_unwrap(
    kek: &[u8; 32],
    wrapped: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let dek = crypto::open(kek, aad, wrapped).ok_or(KeystoreError::DataKeyRejected)?;
    to_key(&dek)
}

/// A 32-byte key out of an unwrapped buffer (already authenticated, so a wrong length is a
/// rejected key, not a bug we can blame on anyone else).
pub(crate) fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    if bytes.len() != 32 {
        return Err(KeystoreError::DataKeyRejected);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(bytes);
    Ok(key)
}
