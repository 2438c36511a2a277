//! The organization-secret envelope: the one home of the contract between the clients that
//! encrypt an organization secret (the SDK, the CLI, tests) and Node 1, which opens it.
//!
//! - [`envelope`]: the plaintext `{"secret", "timestamp", "context", "binding"?}`, sealed with
//!   RSA-OAEP-SHA256 to the organization's key ([`envelope::seal`]) and opened by Node 1 with
//!   blinded decryption ([`envelope::open`]).
//! - [`binding`]: the canonical, length-prefixed, domain-separated hash that ties one
//!   ciphertext to one operation, computed only from what Node 1 checks itself.
//! - [`org_key`]: Node 1's Ed25519 attestation of an organization's RSA key, so a client
//!   never encrypts its secret to a key the (untrusted) server made up; the RSA key-size
//!   policy.
//!
//! - [`pin`]: customer PINs: Argon2id, the RFC 9497 OPRF that Node 2 evaluates (and counts),
//!   the keys derived from its output, the wrap of the customer secret and the unlock
//!   signatures Node 2 checks.
//! - [`recovery`]: security questions: the catalog, answer normalization, the bytes hashed,
//!   the hint rule (the hash then goes through [`pin`] under its own factor).
//! - [`email_code`]: the emailed recovery code: 160 random bits, typed back by the user;
//!   its keys and wrap go through [`pin`] under [`pin::Factor::Email`] (no OPRF).
//!
//! No IO, no clock: callers pass timestamps.

#![forbid(unsafe_code)]

pub mod binding;
pub mod customer_op;
pub mod email_code;
pub mod envelope;
pub mod org_key;
pub mod pin;
pub mod recovery;

pub use binding::Binding;
pub use envelope::{Context, EnvelopeError, Opened};
pub use org_key::{NodeIdentity, OrgKeyError, OrgPublicKey};

/// Appends `bytes` with a 4-byte big-endian length prefix: every variable-length field of a
/// signed or hashed statement is framed this way, so no two field lists hash alike.
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field framed here is far below 4 GiB (ids, keys, digests); saturating keeps
    // the encoding total without a panic path.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
