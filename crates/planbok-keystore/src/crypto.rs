//! The few primitives every module shares: OS randomness, AES-256-GCM, HKDF-SHA256.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::KeystoreError;

/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), KeystoreError> {
    getrandom::fill(buf).map_err(|_| KeystoreError::Rng)
}

/// A fresh random 32-byte key.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut key = Zeroizing::new([0u8; 32]);
    fill_random(key.as_mut())?;
    Ok(key)
}

/// A fresh random nonce.
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], KeystoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(nonce)
}

/// AES-256-GCM encryption; returns ciphertext ‖ tag.
pub(crate) fn aes_gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| KeystoreError::Internal("AES-GCM encryption"))
}

/// AES-256-GCM decryption of ciphertext ‖ tag. `None` when authentication fails; the caller
/// picks the error that names what failed.
pub(crate) fn aes_gcm_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// HKDF-SHA256 with a 32-byte output.
pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HKDF-SHA256 can produce up to 255 * 32 bytes; 32 always fits, so this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out.as_mut());
    out
}
