//! The sealed-blob format (version 1) and the envelope encryption around it.
//!
//! ```text
//! blob = version (1) ‖ backend id (1) ‖ wrapped-DEK length (u16 BE) ‖ wrapped DEK
//!        ‖ nonce (12) ‖ AES-256-GCM(DEK, nonce, AAD_data, plaintext) ‖ tag (16)
//! AAD_x = "planbok-keystore blob" ‖ 0x00 ‖ label ‖ version ‖ backend id ‖ role
//!         ‖ u32 BE len(key_id) ‖ key_id             (label = "dek" or "data")
//! ```
//!
//! The data key (DEK) is wrapped by the backend with `AAD_dek`, so both the wrapped key and
//! the ciphertext are bound to the node role, the key id, the backend and the version.

use zeroize::Zeroizing;

use crate::backend::Kek;
use crate::crypto;
use crate::{BackendId, KeystoreError};

/// The current (and only) blob format version.
pub const BLOB_VERSION: u8 = 1;

const DOMAIN: &[u8] = b"planbok-keystore blob";
const HEADER_LEN: usize = 4;

/// Which of the two AEADs the associated data is for.
#[derive(Clone, Copy)]
enum Label {
    DataKey,
    Data,
}

fn aad(label: Label, backend: BackendId, role: u8, key_id: &str) -> Result<Vec<u8>, KeystoreError> {
    let label: &[u8] = match label {
        Label::DataKey => b"dek",
        Label::Data => b"data",
    };
    let mut out = Vec::with_capacity(DOMAIN.len() + 1 + label.len() + 7 + key_id.len());
    out.extend_from_slice(DOMAIN);
    out.push(0);
    out.extend_from_slice(label);
    out.push(BLOB_VERSION);
    out.push(backend as u8);
    out.push(role);
    crypto::push_len_prefixed(&mut out, key_id)?;
    Ok(out)
}

/// Encrypts `plaintext` under a fresh data key wrapped by `kek`.
pub(crate) fn seal(
    kek: &dyn Kek,
    role: u8,
    key_id: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let backend = kek.id();
    let dek = crypto::random_key()?;
    let wrapped = kek.wrap(&dek, &aad(Label::DataKey, backend, role, key_id)?)?;
    let wrapped_len = u16::try_from(wrapped.len())
        .map_err(|_| KeystoreError::Internal("wrapped data key longer than 64 KiB"))?;

    let mut blob =
        Vec::with_capacity(HEADER_LEN + wrapped.len() + plaintext.len() + crypto::SEAL_OVERHEAD);
    blob.push(BLOB_VERSION);
    blob.push(backend as u8);
    blob.extend_from_slice(&wrapped_len.to_be_bytes());
    blob.extend_from_slice(&wrapped);
    crypto::seal_into(
        &mut blob,
        &dek,
        &aad(Label::Data, backend, role, key_id)?,
        plaintext,
    )?;
    Ok(blob)
}

/// Checks and decrypts a blob made by [`seal`] with the same backend, role and key id.
pub(crate) fn open(
    kek: &dyn Kek,
    role: u8,
    key_id: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let [version, backend, len_hi, len_lo, rest @ ..] = blob else {
        return Err(KeystoreError::MalformedBlob);
    };
    if *version != BLOB_VERSION {
        return Err(KeystoreError::UnsupportedVersion(*version));
    }
    let expected = kek.id();
    if *backend != expected as u8 {
        return Err(KeystoreError::WrongBackend {
            expected: expected.name(),
            found: BackendId::from_byte(*backend)
                .map_or_else(|| format!("unknown ({backend})"), |b| b.name().to_owned()),
        });
    }
    let wrapped_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    if rest.len() < wrapped_len + crypto::SEAL_OVERHEAD {
        return Err(KeystoreError::MalformedBlob);
    }
    let (wrapped, sealed) = rest.split_at(wrapped_len);

    let dek = kek.unwrap(wrapped, &aad(Label::DataKey, expected, role, key_id)?)?;
    crypto::open(&dek, &aad(Label::Data, expected, role, key_id)?, sealed)
        .ok_or(KeystoreError::CiphertextRejected)
}
