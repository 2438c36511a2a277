//! Recovery by email: a high-entropy code `R` made by the Gateway, emailed to the customer
//! by the server at recovery time, typed back into the Gateway.
//!
//! ```text
//! R        = 20 random bytes (160 bits), shown as Crockford base32 in 8 groups of 4
//! keys     = pin::PinKeys::derive_for(Factor::Email, R, org, customer)
//!            "wrap"   → K_email: W_email = AES-256-GCM(K_email, S_c)   (held by Node 2)
//!            "unlock" → an Ed25519 seed; Node 2 keeps the public half
//! nonce    = SHA-256(lp("planbok/recovery/email/enroll/v1") ‖ lp(W_email))
//! ```
//!
//! `R` is a random key, not a guessable secret, so there is no Argon2id and no OPRF:
//! Node 2's counter limits online attempts; nobody can test a guess offline without
//! `W_email` (Node 2) or the unlock key's public half (Node 2). The server holds `R`
//! itself (sealed at rest) to email it: this factor is as strong as the server and Node 2
//! together, not more (`docs/customer-custody.md`).
//!
//! The enrollment `nonce` is the hash of `W_email`, so the PIN's signature over
//! `commit_message_for(Email, nonce, verify_key)` covers the wrap Node 2 will hand back.

use std::fmt;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::pin::{Factor, PinKeys};
use crate::put_lp;

/// Random bytes in a code.
pub const CODE_BYTES: usize = 20;
/// Characters of a code without separators (160 bits / 5).
pub const CODE_CHARS: usize = 32;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why a typed code was refused. Carries nothing of the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not 32 base32 characters (separators and case aside).
    #[error("a recovery code has 32 characters of 0-9 and A-Z (without I, L, O, U)")]
    Malformed,
}

/// A recovery code. `Debug` is redacted; the text and bytes are zeroized on drop.
#[derive(Clone)]
pub struct EmailCode {
    bytes: Zeroizing<[u8; CODE_BYTES]>,
}

impl fmt::Debug for EmailCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailCode(<redacted>)")
    }
}

impl EmailCode {
    /// A fresh code from the OS's randomness.
    pub fn generate() -> EmailCode {
        use rand_core::{OsRng, RngCore as _};
        let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
        OsRng.fill_bytes(&mut bytes[..]);
        EmailCode { bytes }
    }

    /// Parses a typed code: case-insensitive; spaces and `-` ignored; `O` read as `0`,
    /// `I` and `L` as `1` (Crockford's rule for what people type).
    pub fn parse(typed: &str) -> Result<EmailCode, CodeError> {
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut out = Zeroizing::new([0u8; CODE_BYTES]);
        let mut n = 0usize;
        let mut chars = 0usize;
        for c in typed.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let v = ALPHABET
                .iter()
                .position(|a| char::from(*a) == c)
                .ok_or(CodeError::Malformed)?;
            chars += 1;
            if chars > CODE_CHARS {
                return Err(CodeError::Malformed);
            }
            bits = (bits << 5) | v as u64;
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out[n] = (bits >> nbits) as u8;
                n += 1;
                bits &= (1 << nbits) - 1;
            }
        }
        if chars != CODE_CHARS || n != CODE_BYTES {
            return Err(CodeError::Malformed);
        }
        Ok(EmailCode { bytes: out })
    }

    /// The code as shown and emailed: `XXXX-XXXX-…` (8 groups of 4).
    pub fn display(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(CODE_CHARS + 7));
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut written = 0usize;
        for b in self.bytes.iter() {
            bits = (bits << 8) | u64::from(*b);
            nbits += 8;
            while nbits >= 5 {
                nbits -= 5;
                if written > 0 && written.is_multiple_of(4) {
                    s.push('-');
                }
                s.push(char::from(ALPHABET[((bits >> nbits) & 31) as usize]));
                written += 1;
            }
            bits &= (1 << nbits) - 1;
        }
        s
    }

    /// A code from its 20 bytes (as the server keeps it, sealed).
    pub fn from_bytes(bytes: &[u8]) -> Result<EmailCode, CodeError> {
        let mut out = Zeroizing::new([0u8; CODE_BYTES]);
        if bytes.len() != CODE_BYTES {
            return Err(CodeError::Malformed);
        }
        out.copy_from_slice(bytes);
        Ok(EmailCode { bytes: out })
    }

    /// The code's 20 bytes.
    pub fn as_bytes(&self) -> &[u8; CODE_BYTES] {
        &self.bytes
    }

    /// The factor's keys (wrap key, unlock key) for this customer.
    pub fn keys(&self, org_id: &str, customer_id: &str) -> PinKeys {
        PinKeys::derive_for(Factor::Email, &self.bytes[..], org_id, customer_id)
    }
}

/// The enrollment nonce of `W_email`: what the PIN signs (with the verify key) to let
/// Node 2 hold this wrap.
pub fn enroll_nonce(wrapped: &[u8]) -> [u8; 32] {
    let mut v = Vec::new();
    put_lp(&mut v, b"planbok/recovery/email/enroll/v1");
    put_lp(&mut v, wrapped);
    Sha256::digest(&v).into()
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn a_code_round_trips_through_its_display_and_typing_slips() {
        for _ in 0..50 {
            let c = EmailCode::generate();
            let shown = c.display();
            assert_eq!(shown.len(), CODE_CHARS + 7);
            let back = EmailCode::parse(&shown).expect("parses");
            assert_eq!(&back.bytes[..], &c.bytes[..]);
            let sloppy = shown.to_lowercase().replace('-', " ").replace('0', "o");
            let back = EmailCode::parse(&sloppy).expect("parses");
            assert_eq!(&back.bytes[..], &c.bytes[..]);
        }
        assert!(matches!(EmailCode::parse("ABC"), Err(CodeError::Malformed)));
        assert!(EmailCode::parse(&"0".repeat(33)).is_err());
        assert!(EmailCode::parse(&format!("{}U", "0".repeat(31))).is_err());
    }

    #[test]
    fn a_code_wraps_and_unlocks_under_its_own_factor() {
        let c = EmailCode::generate();
        let k = c.keys("org", "cus");
        let w = k.wrap(&[7u8; 32]).expect("wraps");
        assert_eq!(&*k.unwrap(&w).expect("opens"), &[7u8; 32]);
        let other = EmailCode::generate().keys("org", "cus");
        assert!(other.unwrap(&w).is_err());
        // Another customer's keys never open it.
        assert!(c.keys("org", "cus2").unwrap(&w).is_err());
        assert_ne!(enroll_nonce(&w), enroll_nonce(&[0u8; 61]));
        assert_eq!(format!("{c:?}"), "EmailCode(<redacted>)");
    }
}
