//! The one error type of the keystore.

use std::path::PathBuf;

/// What went wrong in the keystore.
///
/// Variants marked "may be an attack" mean stored data failed authentication: a caller should
/// log them as security events, not retry them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The configuration cannot be used (bad role, bad file, missing setting).
    #[error("keystore configuration: {0}")]
    Config(String),
    /// The environment variable named in the configuration is not set (PIN or token).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The dev backend was configured without `allow_dev = true`.
    #[error(
        "the dev keystore backend keeps its key in a plain file; set allow_dev = true to use it"
    )]
    DevNotAllowed,
    /// The operation exists only on another backend (for example `seal` on pkcs11).
    #[error("{operation} is not supported by the {backend} backend")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The backend that was asked.
        backend: &'static str,
    },

    /// The sealed backend has no master key yet: call `init`.
    #[error("keystore is not initialized")]
    NotInitialized,
    /// `init` was called on an initialized keystore.
    #[error("keystore is already initialized")]
    AlreadyInitialized,
    /// `init` was asked for an impossible split.
    #[error(
        "invalid unseal split {threshold} of {shares}: need 1 <= threshold <= shares <= 16, threshold >= 2 unless shares == 1"
    )]
    InvalidSplit {
        /// N.
        shares: u8,
        /// K.
        threshold: u8,
    },
    /// The keystore is sealed: submit unseal keys first.
    #[error("keystore is sealed")]
    Sealed,
    /// The text is not an unseal key (bad shape, bad checksum: probably a typo).
    #[error("malformed unseal key: {0}")]
    MalformedUnsealKey(&'static str),
    /// A well-formed unseal key that is not one of this keystore's keys. May be an attack.
    #[error("wrong unseal key")]
    WrongUnsealKey,
    /// This unseal key was already submitted in the current unseal round.
    #[error("unseal key already submitted")]
    DuplicateUnsealKey,
    /// The keys were accepted one by one but the master key they rebuild fails its check
    /// value: the state file was altered. May be an attack. The round is reset.
    #[error("the unseal keys rebuild a master key that fails the state file's check value")]
    MasterKeyCheckFailed,
    /// The sealed backend's state file is unreadable or inconsistent.
    #[error("keystore state file {path}: {reason}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A blob is shorter than its header says. May be an attack (or a storage bug).
    #[error("sealed blob is truncated or malformed")]
    MalformedBlob,
    /// A blob in a format version this build does not know.
    #[error("sealed blob has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A blob sealed by another backend (for example a dev blob given to the HSM keystore).
    #[error("sealed blob was made by backend {found}, this keystore is {expected}")]
    WrongBackend {
        /// This keystore's backend.
        expected: &'static str,
        /// The backend named in the blob.
        found: String,
    },
    /// The backend refused to unwrap the blob's data key: the wrapped key was altered, the
    /// blob belongs to another key id or node role, or the key-encryption key changed.
    /// May be an attack.
    #[error("the blob's wrapped data key failed authentication")]
    DataKeyRejected,
    /// The blob's ciphertext failed authentication under its data key (altered ciphertext or
    /// nonce). May be an attack.
    #[error("the blob's ciphertext failed authentication")]
    CiphertextRejected,

    /// Unwrapping a Node 1 share failed: wrong organization secret, or the blob belongs to
    /// another organization or key id. May be an attack.
    #[error("wrong organization secret, or the share belongs to another organization or key")]
    WrongOrgSecret,
    /// A wrapped Node 1 share that is too short or has an unknown version.
    #[error("malformed wrapped share")]
    MalformedWrappedShare,

    /// The PKCS#11 module returned an error.
    #[error("PKCS#11 {context}: {source}")]
    Pkcs11 {
        /// What we were doing.
        context: &'static str,
        /// The module's error.
        #[source]
        source: cryptoki::error::Error,
    },
    /// The PKCS#11 object labelled as the KEK is not a key the keystore may trust: it could
    /// leave the token, be read from it, or be used without the PIN, or it is not AES-256.
    #[error("PKCS#11 key {label:?} refused as key-encryption key: {problem}")]
    UnsafeKek {
        /// The key's label.
        label: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The OpenBao/Vault transit engine could not be reached or answered with an error.
    #[error("transit {context}: {reason}")]
    Transit {
        /// What we were doing.
        context: &'static str,
        /// Status and message, never a token or plaintext.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A cryptographic primitive failed on inputs we built ourselves: a bug.
    #[error("internal crypto error: {0}")]
    Internal(&'static str),
}

impl KeystoreError {
    /// True when the error means stored or submitted data failed authentication, which an
    /// attacker who can write to storage (or to the unseal prompt) could cause.
    pub fn may_be_attack(&self) -> bool {
        matches!(
            self,
            Self::WrongUnsealKey
                | Self::MasterKeyCheckFailed
                | Self::MalformedBlob
                | Self::DataKeyRejected
                | Self::CiphertextRejected
                | Self::WrongOrgSecret
                | Self::MalformedWrappedShare
        )
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
