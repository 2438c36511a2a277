//! planbok's MPC engine: two-party (2-of-2) key generation, signing, refresh and export for
//! secp256k1 ECDSA (CGGMP21, DKLs23) and ed25519 (FROST), as sans-IO state machines.
//!
//! Nothing here touches a socket, a file or the clock. Each protocol run is a [`Session`]:
//! call [`Session::start`], pass every frame from the counterparty to [`Session::handle`],
//! send whatever either returns, and take the output when [`Session::is_finished`]. Every
//! frame carries {format version, protocol, session id, round, sender, receiver}
//! ([`frame`]); the session rejects frames of another run, ignores exact duplicates,
//! rejects equivocation, and buffers early messages.
//!
//! Every signature is verified against the (derived) public key before it is returned.
//! Secret share types zeroize on drop, print `<redacted>`, have no `Serialize`, and persist
//! only through their explicit, versioned `to_sealable_bytes` / `from_sealable_bytes`.
//!
//! | protocol | module | audited | rounds |
//! |---|---|---|---|
//! | CGGMP21 (`cggmp21 =0.6.3`) | [`cggmp`] | yes (Kudelski, 2023) | aux 3, keygen 3, sign 4–5, refresh 3 |
//! | DKLs23 (`dkls23 =0.6.2`) | [`dkls`] | **no** | keygen 2, sign 3, refresh 2 |
//! | FROST Ed25519 (`frost-ed25519 =3.0.0`) | [`frost`] | yes (NCC, 2023) | keygen 2, sign 2, refresh 2 |
//!
//! Both parties in one function, frames passed by hand (a node passes them over its stream):
//!
//! ```
//! use std::sync::Arc;
//! use planbok_mpc::{frost, PartyIndex, SessionId};
//!
//! # fn main() -> Result<(), planbok_mpc::MpcError> {
//! let sid = SessionId::from_bytes([1; 32]); // derive it from the authorization grant
//! let mut a = frost::keygen(sid, PartyIndex::NODE1)?;
//! let mut b = frost::keygen(sid, PartyIndex::NODE2)?;
//! let (mut to_b, mut to_a) = (a.start()?, b.start()?);
//! while !(a.is_finished() && b.is_finished()) {
//!     let next_b: Vec<Vec<u8>> = to_a.drain(..).map(|f| a.handle(&f)).collect::<Result<Vec<_>, _>>()?.concat();
//!     to_a = to_b.drain(..).map(|f| b.handle(&f)).collect::<Result<Vec<_>, _>>()?.concat();
//!     to_b = next_b;
//! }
//! let (share_a, share_b) = (a.take_output().unwrap(), b.take_output().unwrap());
//! assert_eq!(share_a.public_key(), share_b.public_key());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod cggmp;
pub mod dkls;
mod error;
pub mod export;
pub mod frame;
pub mod frost;
pub mod hd;
mod sealed;
pub mod session;
mod signature;

pub use error::MpcError;
pub use frame::{PartyIndex, ProtocolId, SessionId};
pub use hd::DerivationPath;
pub use sealed::{SEALED_VERSION, ShareKind};
pub use session::{Engine, Session};
pub use signature::{EcdsaPublicKey, EcdsaSignature, Ed25519PublicKey, Ed25519Signature};
