//! planbok's domain vocabulary, one home per word: the values that cross process and
//! storage boundaries as numbers or strings (a node's role, an ECDSA protocol, a custody
//! mode) as types with one parsing constructor each, which refuses anything unknown (no
//! silent default), and serde in their wire form.
//!
//! A leaf crate: no IO, no secrets, no other planbok crate (`planbok-tidy` checks it).

mod custody;
mod protocol;
mod role;

pub use custody::CustodyMode;
pub use protocol::EcdsaProtocol;
pub use role::NodeRole;

/// A value that is not one of a type's known forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {expected}, not {got:?}")]
pub struct Unknown {
    /// The type's name, e.g. `node role`.
    pub what: &'static str,
    /// What was given (as text; long inputs are cut to 64 characters).
    pub got: String,
    /// The accepted forms, e.g. `1 or 2`.
    pub expected: &'static str,
}

impl Unknown {
    fn new(what: &'static str, got: impl std::fmt::Display, expected: &'static str) -> Self {
        Unknown {
            what,
            got: got.to_string().chars().take(64).collect(),
            expected,
        }
    }
}
