//! What can go wrong opening an export or reading a share.

/// Why an export did not open, a share did not decode, or a key did not reconstruct.
/// Messages never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The caller passed something unusable (a bad recipient key, a path, shares that are
    /// not the two halves of one key, a ciphertext that does not open).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A share blob is not a readable planbok share of the expected kind.
    #[error("sealed share format: {0}")]
    SealedFormat(String),

    /// A check that cannot fail did (a reconstructed key not matching its own public key).
    #[error("internal error: {0}")]
    Internal(String),
}
