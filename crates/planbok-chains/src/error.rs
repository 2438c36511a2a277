//! What can go wrong turning a request into signing bytes, or a signature into a response.

/// Every way this crate refuses an input. The REST server matches on the variant to pick its
/// stable error code and HTTP status (`planbok-server/src/error.rs`); this crate never does.
/// Not `#[non_exhaustive]` on purpose: that match is exhaustive, so a new variant cannot
/// reach a client without someone choosing its code.
///
/// All variants are caller mistakes (invalid input) except [`ChainError::SignatureMismatch`],
/// which means the signature handed to a `finish_*` function does not verify against the
/// wallet's key: a bug or a misbehaving node, never a client error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The chain id is not one of [`crate::Chain::all`] (ids are exact and case-sensitive).
    #[error("unsupported chain {0:?}")]
    UnsupportedChain(String),
    /// The chain exists but does not support this operation (e.g. typed data on Bitcoin).
    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),
    /// A public key or chain code of the wrong length or not on the curve.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// A derivation path that is malformed or has a hardened step.
    #[error("invalid derivation path")]
    InvalidPath,
    /// A message to sign that is empty or not valid `0x`-hex when `encodedByHex` is set.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// EIP-712 typed data that does not parse or cannot be hashed.
    #[error("invalid typed data: {0}")]
    InvalidTypedData(String),
    /// A transaction that does not decode, is already signed, or breaks a rule of its chain.
    #[error("invalid transaction: {0}")]
    InvalidTransaction(String),
    /// The chain id inside a transaction or EIP-712 domain is not the wallet's chain.
    #[error("chain id mismatch: the wallet's chain is {expected}, the input says {got}")]
    ChainIdMismatch {
        /// The wallet's chain id.
        expected: u64,
        /// The chain id the input carries.
        got: u64,
    },
    /// The wallet's key is not a required signer of the transaction.
    #[error("the wallet's key is not a signer of this transaction")]
    NotSigner,
    /// A `finish_*` call with a [`crate::SignInput`] prepared for another chain or operation.
    #[error("sign input mismatch: {0}")]
    InputMismatch(String),
    /// The signature does not verify against the wallet's public key over the prepared payload.
    #[error("the signature does not verify against the wallet's public key")]
    SignatureMismatch,
}

impl ChainError {
    /// True when the error means our own machinery (a node or the caller's wiring) misbehaved
    /// rather than the client sending something wrong: the server should alert, not answer 4xx.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ChainError::InputMismatch(_) | ChainError::SignatureMismatch
        )
    }
}

pub(crate) fn tx(msg: impl Into<String>) -> ChainError {
    ChainError::InvalidTransaction(msg.into())
}
