//! Bindings: a ciphertext authorizes exactly one operation.
//!
//! A captured ciphertext must not authorize anything but the operation its owner meant, so
//! our clients put a `binding` in every envelope and Node 1 compares it with the binding it
//! computes itself from the request it is about to run. Only fields Node 1 knows on its own
//! go in — never something the server could choose freely (a wallet label, a wallet id):
//!
//! ```text
//! binding = SHA-256( lp("planbok/binding/v1") ‖ lp(context) ‖ lp(org id)
//!                    ‖ lp(key) ‖ lp(derivation path) ‖ lp(subject kind) ‖ lp(subject) )
//! lp(x)   = u32 big-endian length of x ‖ x
//! ```
//!
//! - `key` is the key's group public key as Node 1 stores it (SEC1 compressed secp256k1 or
//!   32-byte ed25519), the master of a wallet set's secp256k1 wallets. A client checks it
//!   against its own addresses; an opaque key id it could not check.
//! - `subject` by operation: signing — SHA-256 of the exact bytes the nodes sign (the
//!   32-byte digest per the chain's standard, or the ed25519 message); export — SHA-256 of
//!   the recipient's X25519 key and the sorted, deduplicated key list; creation (wallet
//!   sets, wallets) — SHA-256 of the request's idempotency key; refresh and registration —
//!   empty.

use sha2::{Digest as _, Sha256};

use crate::envelope::Context;
use crate::put_lp;

/// Domain separation for version 1 of the binding.
pub const DOMAIN_V1: &[u8] = b"planbok/binding/v1";

/// A binding: 32 bytes, sent as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding(pub [u8; 32]);

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Binding({})", hex::encode(self.0))
    }
}

/// What a binding says is done with the key.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Payload(&'a [u8]),
    Reference(&'a str),
    Export {
        recipient: &'a [u8],
        keys: &'a [&'a [u8]],
    },
    Refresh,
    Registration,
}

impl Binding {
    fn v1(context: Context, org_id: &str, key: &[u8], path: &str, subject: Subject<'_>) -> Binding {
        let (kind, digest): (&str, Vec<u8>) = match subject {
            Subject::Payload(p) => ("payload", Sha256::digest(p).to_vec()),
            Subject::Reference(r) => ("reference", Sha256::digest(r.as_bytes()).to_vec()),
            Subject::Export { recipient, keys } => {
                let mut sorted: Vec<&[u8]> = keys.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                let mut body = Vec::with_capacity(40 + 40 * sorted.len());
                put_lp(&mut body, recipient);
                body.extend_from_slice(
                    &u32::try_from(sorted.len())
                        .unwrap_or(u32::MAX)
                        .to_be_bytes(),
                );
                for k in sorted {
                    put_lp(&mut body, k);
                }
                ("export", Sha256::digest(&body).to_vec())
            }
            Subject::Refresh => ("refresh", Vec::new()),
            Subject::Registration => ("registration", Vec::new()),
        };
        let mut m = Vec::with_capacity(256);
        put_lp(&mut m, DOMAIN_V1);
        put_lp(&mut m, context.as_str().as_bytes());
        put_lp(&mut m, org_id.as_bytes());
        put_lp(&mut m, key);
        put_lp(&mut m, path.as_bytes());
        put_lp(&mut m, kind.as_bytes());
        put_lp(&mut m, &digest);
        Binding(Sha256::digest(&m).into())
    }

    /// A signature by `key_public_key` (the key's group key) at `derivation_path` over
    /// `payload`, the exact bytes the nodes sign. Context `sign`.
    pub fn sign(
        org_id: &str,
        key_public_key: &[u8],
        derivation_path: &str,
        payload: &[u8],
    ) -> Binding {
        Binding::v1(
            Context::Sign,
            org_id,
            key_public_key,
            derivation_path,
            Subject::Payload(payload),
        )
    }

    /// A creation request (a wallet set: context `dkg`; wallets: context `sign`) named by its
    /// idempotency key.
    pub fn creation(context: Context, org_id: &str, idempotency_key: &str) -> Binding {
        Binding::v1(
            context,
            org_id,
            &[],
            "",
            Subject::Reference(idempotency_key),
        )
    }

    /// An export of `keys` (their group public keys, any order) to `recipient` (the client's
    /// X25519 public key). Context `verify`.
    pub fn export(org_id: &str, recipient: &[u8], keys: &[&[u8]]) -> Binding {
        Binding::v1(
            Context::Verify,
            org_id,
            &[],
            "",
            Subject::Export { recipient, keys },
        )
    }

    /// A refresh of the key `key_public_key`. Context `sign`.
    pub fn refresh(org_id: &str, key_public_key: &[u8]) -> Binding {
        Binding::v1(Context::Sign, org_id, key_public_key, "", Subject::Refresh)
    }

    /// The registration of the organization secret. Context `dkg`.
    pub fn registration(org_id: &str) -> Binding {
        Binding::v1(Context::Dkg, org_id, &[], "", Subject::Registration)
    }

    /// As sent: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Binding> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).ok().map(|()| Binding(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins version 1 byte for byte: a change here breaks every deployed client.
    #[test]
    fn version_1_is_pinned() {
        let b = Binding::sign("org_1", &[2; 33], "m/44/60/0/7", b"payload");
        // SHA-256 over the framing spelled out by hand, not through `v1`.
        let mut m = Vec::new();
        for f in [
            &b"planbok/binding/v1"[..],
            b"sign",
            b"org_1",
            &[2; 33],
            b"m/44/60/0/7",
            b"payload",
            &Sha256::digest(b"payload")[..],
        ] {
            m.extend_from_slice(&(f.len() as u32).to_be_bytes());
            m.extend_from_slice(f);
        }
        assert_eq!(b.0, <[u8; 32]>::from(Sha256::digest(&m)));
        assert_eq!(Binding::from_hex(&b.to_hex()), Some(b));
    }

    #[test]
    fn each_field_changes_the_binding() {
        let base = Binding::sign("org", &[2; 33], "m/0", b"x");
        assert_ne!(base, Binding::sign("org2", &[2; 33], "m/0", b"x"));
        assert_ne!(base, Binding::sign("org", &[3; 33], "m/0", b"x"));
        assert_ne!(base, Binding::sign("org", &[2; 33], "m/1", b"x"));
        assert_ne!(base, Binding::sign("org", &[2; 33], "m/0", b"y"));
        // Moving bytes between fields changes it (length prefixes).
        assert_ne!(
            Binding::sign("ab", &[1], "c", b"x"),
            Binding::sign("a", &[b'b', 1], "c", b"x")
        );
        // One operation can never stand for another.
        assert_ne!(
            Binding::creation(Context::Sign, "org", "k"),
            Binding::creation(Context::Dkg, "org", "k")
        );
        assert_ne!(
            Binding::refresh("org", &[2; 33]),
            Binding::sign("org", &[2; 33], "", b"")
        );
    }

    #[test]
    fn an_export_binding_ignores_key_order_and_repeats_but_not_the_recipient() {
        let (a, b) = (&[1u8; 33][..], &[2u8; 32][..]);
        let e = Binding::export("org", &[9; 32], &[a, b]);
        assert_eq!(e, Binding::export("org", &[9; 32], &[b, a, b]));
        assert_ne!(e, Binding::export("org", &[8; 32], &[a, b]));
        assert_ne!(e, Binding::export("org", &[9; 32], &[a]));
    }
}
