//! The SDK's one error type: what every call, and the pure parts (pins, sealing), fail with.

use planbok_api::ErrorCode;

/// A failed call: the server's code and message, or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error envelope.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached, or answered something that is not our envelope.
    #[error("transport: {0}")]
    Transport(String),
    /// The organization secret could not be encrypted (e.g. a malformed public key).
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    /// The organization key was refused: not signed by Node 1, swapped, too small, or not
    /// the pinned one. Nothing was encrypted to it.
    #[error("refusing the organization key: {0}")]
    OrgKey(planbok_envelope::OrgKeyError),
    /// The pin file could not be read or written.
    #[error("organization key pins: {0}")]
    Pins(String),
    /// A request could not be prepared (e.g. an unknown chain, a malformed message).
    #[error("invalid input: {0}")]
    Input(String),
}

impl Error {
    /// The stable code, if the server answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::Transport(_)
            | Error::Secret(_)
            | Error::OrgKey(_)
            | Error::Pins(_)
            | Error::Input(_) => None,
        }
    }
}
