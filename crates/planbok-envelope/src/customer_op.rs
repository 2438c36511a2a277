//! What a customer authorizes in the Gateway, as each party computes it on its own.
//!
//! A customer's operation challenge (wallet creation, signing, export) runs one or more
//! node operations on the customer's keys. Each is named by an **operation digest** that
//! the Gateway computes from what it showed the user, Node 2 from the run it is asked to
//! join, and Node 1 from the request it is about to run:
//!
//! ```text
//! op     = SHA-256( lp("planbok/customer-op/v1") ‖ lp(org) ‖ lp(customer) ‖ lp(challenge)
//!                   ‖ lp(kind) ‖ fields… )
//!   dkg    : lp(key id) ‖ u32 BE protocol            (the proto `Protocol` number)
//!   sign   : lp(key id) ‖ lp(derivation path) ‖ lp(payload)   (the exact bytes signed)
//!   export : lp(key id) ‖ lp(recipient X25519 key)
//! ops    = SHA-256( lp("planbok/customer-ops/v1") ‖ u32 BE n ‖ op₁ ‖ … ‖ opₙ )   (in order)
//! ```
//!
//! The PIN unlock of an operation challenge signs [`permit_message`] (the attempt nonce,
//! the challenge and `ops`) with the unlock key, so Node 2 creates a permit for exactly
//! these operations and no other; and the customer secret travels to Node 1 bound to the
//! same `ops` ([`binding`]), so Node 1 opens it for exactly these operations too.

use sha2::{Digest as _, Sha256};

use crate::binding::Binding;
use crate::envelope::Context;
use crate::put_lp;

const OP_DOMAIN: &[u8] = b"planbok/customer-op/v1";
const OPS_DOMAIN: &[u8] = b"planbok/customer-ops/v1";
const PERMIT_DOMAIN: &[u8] = b"planbok/pin/permit/v1";
const BINDING_DOMAIN: &[u8] = b"planbok/customer-binding/v1";

/// One node operation on a customer's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerOp<'a> {
    /// A DKG making the key `key_id` with `protocol` (the proto `Protocol` number).
    Dkg {
        /// The new key's id (chosen by the server when the challenge is made).
        key_id: &'a str,
        /// The proto `Protocol` number.
        protocol: i32,
    },
    /// A signature by `key_id` at `path` over `payload`, the exact bytes the nodes sign.
    Sign {
        /// The key.
        key_id: &'a str,
        /// Its derivation path (`m` for ed25519).
        path: &'a str,
        /// The 32-byte digest (ECDSA) or the whole message (ed25519).
        payload: &'a [u8],
    },
    /// The export of both shares of `key_id`, each sealed to `recipient`.
    Export {
        /// The key.
        key_id: &'a str,
        /// The Gateway's ephemeral X25519 public key.
        recipient: &'a [u8],
    },
}

/// The digest naming one operation of one challenge.
pub fn op_digest(
    org_id: &str,
    customer_id: &str,
    challenge_id: &str,
    op: CustomerOp<'_>,
) -> [u8; 32] {
    let mut m = Vec::with_capacity(256);
    put_lp(&mut m, OP_DOMAIN);
    put_lp(&mut m, org_id.as_bytes());
    put_lp(&mut m, customer_id.as_bytes());
    put_lp(&mut m, challenge_id.as_bytes());
    match op {
        CustomerOp::Dkg { key_id, protocol } => {
            put_lp(&mut m, b"dkg");
            put_lp(&mut m, key_id.as_bytes());
            m.extend_from_slice(&protocol.to_be_bytes());
        }
        CustomerOp::Sign {
            key_id,
            path,
            payload,
        } => {
            put_lp(&mut m, b"sign");
            put_lp(&mut m, key_id.as_bytes());
            put_lp(&mut m, path.as_bytes());
            put_lp(&mut m, payload);
        }
        CustomerOp::Export { key_id, recipient } => {
            put_lp(&mut m, b"export");
            put_lp(&mut m, key_id.as_bytes());
            put_lp(&mut m, recipient);
        }
    }
    Sha256::digest(&m).into()
}

/// The digest of a challenge's operations, in order.
pub fn ops_digest(ops: &[[u8; 32]]) -> [u8; 32] {
    let mut m = Vec::with_capacity(32 + 32 * ops.len());
    put_lp(&mut m, OPS_DOMAIN);
    m.extend_from_slice(&u32::try_from(ops.len()).unwrap_or(u32::MAX).to_be_bytes());
    for op in ops {
        m.extend_from_slice(op);
    }
    Sha256::digest(&m).into()
}

/// What the unlock of an operation challenge signs: one attempt nonce, one challenge,
/// exactly its operations. Distinct from `pin::unlock_message` (another domain), so an
/// unlock of a PIN change can never be presented as an operation's permit, nor the reverse.
pub fn permit_message(
    org_id: &str,
    customer_id: &str,
    nonce: &[u8],
    challenge_id: &str,
    ops: &[[u8; 32]],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(192);
    put_lp(&mut v, PERMIT_DOMAIN);
    put_lp(&mut v, org_id.as_bytes());
    put_lp(&mut v, customer_id.as_bytes());
    put_lp(&mut v, nonce);
    put_lp(&mut v, challenge_id.as_bytes());
    put_lp(&mut v, &ops_digest(ops));
    v
}

/// The binding of the customer secret's envelope to one challenge's operations: Node 1
/// recomputes it from the request it runs (context `dkg` for wallet creation, `sign`,
/// `verify` for export).
pub fn binding(
    context: Context,
    org_id: &str,
    customer_id: &str,
    challenge_id: &str,
    ops: &[[u8; 32]],
) -> Binding {
    let mut m = Vec::with_capacity(192);
    put_lp(&mut m, BINDING_DOMAIN);
    put_lp(&mut m, context.as_str().as_bytes());
    put_lp(&mut m, org_id.as_bytes());
    put_lp(&mut m, customer_id.as_bytes());
    put_lp(&mut m, challenge_id.as_bytes());
    put_lp(&mut m, &ops_digest(ops));
    Binding(Sha256::digest(&m).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_digests() {
        let sign = |o: &str, c: &str, ch: &str, k: &str, p: &str, pl: &[u8]| {
            op_digest(
                o,
                c,
                ch,
                CustomerOp::Sign {
                    key_id: k,
                    path: p,
                    payload: pl,
                },
            )
        };
        let base = sign("o", "c", "ch", "k", "m/1", b"x");
        for other in [
            sign("o2", "c", "ch", "k", "m/1", b"x"),
            sign("o", "c2", "ch", "k", "m/1", b"x"),
            sign("o", "c", "ch2", "k", "m/1", b"x"),
            sign("o", "c", "ch", "k2", "m/1", b"x"),
            sign("o", "c", "ch", "k", "m/2", b"x"),
            sign("o", "c", "ch", "k", "m/1", b"y"),
            op_digest(
                "o",
                "c",
                "ch",
                CustomerOp::Export {
                    key_id: "k",
                    recipient: b"x",
                },
            ),
        ] {
            assert_ne!(base, other);
        }
        // Order matters in a list, and so does the context of a binding.
        let (a, b) = (
            sign("o", "c", "ch", "a", "m", b""),
            sign("o", "c", "ch", "b", "m", b""),
        );
        assert_ne!(ops_digest(&[a, b]), ops_digest(&[b, a]));
        assert_ne!(
            binding(Context::Sign, "o", "c", "ch", &[a]),
            binding(Context::Verify, "o", "c", "ch", &[a])
        );
        assert_ne!(
            permit_message("o", "c", &[1; 32], "ch", &[a]),
            crate::pin::unlock_message("o", "c", &[1; 32])
        );
    }
}
