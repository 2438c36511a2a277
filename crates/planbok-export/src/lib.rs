//! **Key export without the MPC engines.** What a client needs to turn two nodes' sealed
//! shares into private keys: the versioned share format ([`sealed`], what the nodes'
//! keystores seal), the decoding of each protocol's share ([`shares`]), the export
//! envelope ([`open_export_dangerous`]: each node's share HPKE-sealed to the client's
//! X25519 key) and the reconstruction (loudly named `*_dangerous`), with BIP-32 derivation
//! ([`hd`]).
//!
//! `planbok-mpc` (the engines, nodes' side) uses this crate for the same formats and
//! re-exports it as `planbok_mpc::export`; this crate links neither cggmp21 nor its
//! Paillier (GMP) code, so the Gateway page's WebAssembly client builds it for
//! `wasm32-unknown-unknown`. The shares are the libraries' own types: `key-share`'s
//! `IncompleteKeyShare` (what cggmp21 persists), dkls23's `Party`, frost-ed25519's
//! `KeyPackage`; nothing here implements a curve or a cipher.
//!
//! Reconstruction defeats the purpose of MPC for the exported key; it exists only for the
//! client-side export flows (the owner's or end user's device reconstructs, never a
//! server). Each function checks that the reconstructed key's public key equals the
//! wallet's before returning it.

#![forbid(unsafe_code)]

mod envelope;
mod error;
pub mod hd;
mod reconstruct;
pub mod sealed;
pub mod shares;

pub use envelope::{
    EXPORT_VERSION, ExportProtocol, ExportRecipientSecret, RECIPIENT_KEY_LEN,
    check_recipient_public_key, open_export_dangerous, seal_share_for_export,
};
pub use error::ExportError;
pub use reconstruct::{
    ExportedEcdsaKey, ExportedEd25519Key, ExportedKey, reconstruct_cggmp_dangerous,
    reconstruct_dkls_dangerous, reconstruct_frost_dangerous,
};
