//! The dev backend: a random 32-byte key in a plain file (mode 0600). For laptops and tests
//! only; it protects against nothing but a blob leaking without the key file.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::{Kek, local_unwrap, local_wrap};
use crate::crypto::{self, hkdf32};
use crate::{BackendId, KeystoreError};

const KEK_INFO: &[u8] = b"planbok keystore dev kek v1";

pub(crate) struct DevKek {
    kek: Zeroizing<[u8; 32]>,
}

impl DevKek {
    pub(crate) fn open(key_file: &Path, allow_dev: bool) -> Result<Self, KeystoreError> {
        if !allow_dev {
            return Err(KeystoreError::DevNotAllowed);
        }
        tracing::warn!(
            key_file = %key_file.display(),
            "DEV KEYSTORE: key shares are sealed under a key kept in a plain file. \
             Anyone who can read that file can read every share. Never use this in production."
        );
        let key = match read_key(key_file) {
            Err(KeystoreError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                create_key(key_file)?
            }
            other => other?,
        };
        Ok(Self {
            kek: hkdf32(key.as_ref(), b"", KEK_INFO),
        })
    }
}

fn read_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut file = std::fs::File::open(path).map_err(|e| KeystoreError::io(path, e))?;
    let mode = file
        .metadata()
        .map_err(|e| KeystoreError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeystoreError::Config(format!(
            "dev key file {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes)
        .map_err(|e| KeystoreError::io(path, e))?;
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        return Err(KeystoreError::Config(format!(
            "dev key file {} is not 32 bytes",
            path.display()
        )));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn create_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let key = crypto::random_key()?;
    // create_new: never overwrite a key another process wrote in the meantime.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeystoreError::io(path, e))?;
    file.write_all(key.as_ref())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeystoreError::io(path, e))?;
    Ok(key)
}

impl Kek for DevKek {
    fn id(&self) -> BackendId {
        BackendId::Dev
    }

    fn wrap(&self, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        local_wrap(&self.kek, dek, aad)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        local_unwrap(&self.kek, wrapped, aad)
    }
}
