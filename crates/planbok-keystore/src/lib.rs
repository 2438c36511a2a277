//! The node keystore: how a planbok node stores its key shares without ever writing one in
//! plain text.
//!
//! Every stored secret is a *blob* made by [`Keystore::seal_blob`]: envelope encryption
//! under a fresh data key, the data key wrapped by a key-encryption key (KEK) that one of
//! four backends holds:
//!
//! | backend | KEK | wrap |
//! |---|---|---|
//! | `pkcs11` | non-extractable AES-256 object in a PKCS#11 token | `CKM_AES_GCM` inside the token |
//! | `transit` | OpenBao/Vault transit key (`aes256-gcm96`), over TLS to the configured CA (HTTP to loopback only) | `POST /v1/{mount}/encrypt/{key}` with `associated_data` |
//! | `sealed` | HKDF of a master key rebuilt from K of N Shamir unseal keys | AES-256-GCM in process |
//! | `dev` | HKDF of a key in a plain 0600 file (loud warning at every open) | AES-256-GCM in process |
//!
//! # Blob format, version 1
//!
//! ```text
//! blob  = version (1 byte, = 1) ‖ backend id (1 byte: 1 pkcs11, 2 transit, 3 sealed, 4 dev)
//!         ‖ wrapped-DEK length (u16 big-endian) ‖ wrapped DEK
//!         ‖ nonce (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)
//! AAD   = "planbok-keystore blob" ‖ 0x00 ‖ label ‖ version ‖ backend id ‖ node role
//!         ‖ u32 big-endian len(key_id) ‖ key_id
//! ```
//!
//! The data key is 32 random bytes, used once and zeroized. It is wrapped with the AAD
//! labelled `dek` and the payload is encrypted with the AAD labelled `data`, so a blob only
//! opens for the same backend, node role and key id. Wrapped DEKs are `iv (12) ‖ ct ‖ tag`
//! for pkcs11, sealed and dev, and the transit ciphertext string (`vault:v1:…`) for transit.
//!
//! Opening fails with a distinct error for each cause: [`KeystoreError::MalformedBlob`]
//! (truncated), [`KeystoreError::UnsupportedVersion`], [`KeystoreError::WrongBackend`],
//! [`KeystoreError::DataKeyRejected`] (wrapped key altered, or another key id or role) and
//! [`KeystoreError::CiphertextRejected`] (nonce or ciphertext altered).
//!
//! [`wrap`] is the separate layer Node 1 puts under its shares: a key derived from the
//! organization secret.

#![forbid(unsafe_code)]

use std::fmt;

mod backend;
mod config;
mod crypto;
mod envelope;
mod error;
mod unseal_key;
pub mod wrap;

use zeroize::Zeroizing;

use backend::Kek;
pub use config::{KeystoreConfig, TransitAddress};
pub use envelope::BLOB_VERSION;
pub use error::KeystoreError;
pub use unseal_key::UnsealKey;

/// Whether the keystore can seal and open blobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealStatus {
    /// Sealed backend with no state file yet: call [`Keystore::init`].
    Uninitialized,
    /// Waiting for unseal keys: `progress` of `threshold` submitted.
    Sealed {
        /// K: keys needed.
        threshold: u8,
        /// N: keys handed out.
        shares: u8,
        /// Keys accepted so far in this round.
        progress: u8,
    },
    /// Ready.
    Unsealed,
}

/// The backend byte stored in every blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum BackendId {
    Pkcs11 = 1,
    Transit = 2,
    Sealed = 3,
    Dev = 4,
}

impl BackendId {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pkcs11 => "pkcs11",
            Self::Transit => "transit",
            Self::Sealed => "sealed",
            Self::Dev => "dev",
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        [Self::Pkcs11, Self::Transit, Self::Sealed, Self::Dev]
            .into_iter()
            .find(|id| *id as u8 == b)
    }
}

/// A node's keystore: one backend, chosen at startup, for one node role.
///
/// All methods block (PKCS#11 and HTTP calls); async callers wrap them in
/// `spawn_blocking`. The type is `Send + Sync`.
pub struct Keystore {
    kek: Box<dyn Kek>,
    role: u8,
}

impl Keystore {
    /// Opens the configured backend for node `role` (1 or 2).
    ///
    /// - pkcs11: logs in and finds the KEK by label, creating it if missing; refuses one
    ///   that is extractable, not sensitive, public, or not AES-256
    ///   ([`KeystoreError::UnsafeKek`]).
    /// - transit: checks the TLS settings against the address before anything is sent,
    ///   then creates the transit key if missing.
    /// - sealed: reads the state file and starts [`SealStatus::Sealed`], or
    ///   [`SealStatus::Uninitialized`] when there is no file.
    /// - dev: refuses unless `allow_dev`; creates a random key file (0600) if missing.
    pub fn open(config: &KeystoreConfig, role: u8) -> Result<Self, KeystoreError> {
        if !(1..=2).contains(&role) {
            return Err(KeystoreError::Config(format!(
                "node role must be 1 or 2, not {role}"
            )));
        }
        let kek: Box<dyn Kek> = match config {
            KeystoreConfig::Pkcs11 {
                module,
                token_label,
                pin_env,
                key_label,
            } => Box::new(backend::pkcs11::Pkcs11Kek::open(
                module,
                token_label,
                pin_env,
                key_label,
            )?),
            KeystoreConfig::Transit {
                address,
                token_env,
                mount,
                key_name,
                ca_file,
                client_cert,
                client_key,
            } => Box::new(backend::transit::TransitKek::open(
                address,
                token_env,
                mount,
                key_name,
                backend::transit::TlsFiles {
                    ca_file: ca_file.as_deref(),
                    client_cert: client_cert.as_deref(),
                    client_key: client_key.as_deref(),
                },
            )?),
            KeystoreConfig::Sealed { state_file } => {
                Box::new(backend::sealed::SealedKek::open(state_file)?)
            }
            KeystoreConfig::Dev {
                key_file,
                allow_dev,
            } => Box::new(backend::dev::DevKek::open(key_file, *allow_dev)?),
        };
        Ok(Self { kek, role })
    }

    /// The seal state; always [`SealStatus::Unsealed`] for backends other than sealed.
    pub fn status(&self) -> SealStatus {
        self.kek.status()
    }

    /// Sealed backend only, and only when uninitialized: creates the master key, splits it
    /// into `shares` unseal keys of which `threshold` rebuild it, writes the state file and
    /// returns the keys. They are never available again. The keystore stays sealed.
    pub fn init(&self, shares: u8, threshold: u8) -> Result<Vec<UnsealKey>, KeystoreError> {
        self.kek.init(shares, threshold)
    }

    /// Submits one unseal key. A key that is not one of this keystore's is
    /// [`KeystoreError::WrongUnsealKey`] and does not count; the same key twice is
    /// [`KeystoreError::DuplicateUnsealKey`]. The K-th accepted key unseals.
    pub fn unseal(&self, key: &UnsealKey) -> Result<SealStatus, KeystoreError> {
        self.kek.unseal(key)
    }

    /// Sealed backend: forgets the master key and any submitted keys (zeroized) and goes
    /// back to sealed. Other backends: [`KeystoreError::Unsupported`].
    pub fn seal(&self) -> Result<(), KeystoreError> {
        self.kek.seal()
    }

    /// Encrypts `plaintext` for `key_id` under a fresh data key (see the crate docs).
    pub fn seal_blob(&self, key_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        envelope::seal(self.kek.as_ref(), self.role, key_id, plaintext)
    }

    /// Checks and decrypts a blob made by [`Keystore::seal_blob`] for the same key id, on a
    /// keystore with the same backend and node role.
    pub fn open_blob(
        &self,
        key_id: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        // Say "sealed" before judging the blob: a sealed node cannot tell a good blob anyway.
        self.kek.ready()?;
        envelope::open(self.kek.as_ref(), self.role, key_id, blob)
    }

    /// `pkcs11`, `transit`, `sealed` or `dev`.
    pub fn backend_name(&self) -> &'static str {
        self.kek.id().name()
    }

    /// The node role this keystore seals for.
    pub fn role(&self) -> u8 {
        self.role
    }
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("backend", &self.backend_name())
            .field("role", &self.role)
            .field("status", &self.status())
            .field("kek", &"<redacted>")
            .finish()
    }
}
