//! One Shamir share of the sealed backend's master key, as handed to an operator.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::KeystoreError;

const PREFIX: &str = "pbuk1";
const CHECKSUM_DOMAIN: &[u8] = b"planbok unseal key checksum v1";
const DIGEST_DOMAIN: &[u8] = b"planbok unseal key digest v1";

/// One unseal key: the share's index (1..=N) and its 32 bytes.
///
/// Text form (see [`UnsealKey::to_text`]): `pbuk1-II-<64 hex>-CCCCCCCC`, where `II` is the
/// index and `CCCCCCCC` the first 4 bytes of SHA-256 over a domain string, the index and the
/// share, so a mistyped key is refused before it counts as a wrong key.
#[derive(Clone)]
pub struct UnsealKey {
    index: u8,
    bytes: Zeroizing<[u8; 32]>,
}

impl UnsealKey {
    pub(crate) fn new(index: u8, bytes: &[u8]) -> Result<Self, KeystoreError> {
        let mut key = Zeroizing::new([0u8; 32]);
        if index == 0 || bytes.len() != key.len() {
            return Err(KeystoreError::Internal("unexpected Shamir share shape"));
        }
        key.copy_from_slice(bytes);
        Ok(Self { index, bytes: key })
    }

    /// The share's index, 1..=N. Public: it is printed in the text form too.
    pub fn index(&self) -> u8 {
        self.index
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The share as the library's Shamir format expects it: index ‖ bytes.
    pub(crate) fn to_share(&self) -> Zeroizing<Vec<u8>> {
        let mut share = Zeroizing::new(Vec::with_capacity(33));
        share.push(self.index);
        share.extend_from_slice(self.bytes.as_ref());
        share
    }

    /// The value the state file stores to recognize this key without holding it.
    pub(crate) fn digest(&self) -> [u8; 32] {
        tagged_hash(DIGEST_DOMAIN, self.index, &self.bytes)
    }

    /// The text form's typo check: the first 4 bytes of a hash under its own domain.
    fn checksum(index: u8, bytes: &[u8; 32]) -> [u8; 4] {
        let [a, b, c, d, ..] = tagged_hash(CHECKSUM_DOMAIN, index, bytes);
        [a, b, c, d]
    }

    /// The printable form to hand to an operator (once). It is a secret: the returned string
    /// is zeroized on drop.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(PREFIX.len() + 4 + 64 + 9));
        text.push_str(PREFIX);
        text.push('-');
        text.push_str(&hex::encode([self.index]));
        text.push('-');
        let hex_bytes = Zeroizing::new(hex::encode(self.bytes.as_ref()));
        text.push_str(&hex_bytes);
        text.push('-');
        text.push_str(&hex::encode(Self::checksum(self.index, &self.bytes)));
        text
    }

    /// Parses the text form (surrounding whitespace and letter case are ignored).
    pub fn parse(text: &str) -> Result<Self, KeystoreError> {
        let text = Zeroizing::new(text.trim().to_ascii_lowercase());
        let mut parts = text.split('-');
        let (Some(prefix), Some(index), Some(body), Some(check), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(KeystoreError::MalformedUnsealKey(
                "expected pbuk1-II-<64 hex>-<8 hex>",
            ));
        };
        if prefix != PREFIX {
            return Err(KeystoreError::MalformedUnsealKey(
                "not a planbok unseal key (pbuk1-...)",
            ));
        }
        let mut index_byte = [0u8; 1];
        hex::decode_to_slice(index, &mut index_byte)
            .map_err(|_| KeystoreError::MalformedUnsealKey("bad index"))?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(body, bytes.as_mut()).map_err(|_| {
            KeystoreError::MalformedUnsealKey("bad key body (expected 64 hex digits)")
        })?;
        let mut check_bytes = [0u8; 4];
        hex::decode_to_slice(check, &mut check_bytes)
            .map_err(|_| KeystoreError::MalformedUnsealKey("bad checksum"))?;
        if index_byte[0] == 0 {
            return Err(KeystoreError::MalformedUnsealKey("index 0"));
        }
        let expected = Self::checksum(index_byte[0], &bytes);
        if !bool::from(expected.ct_eq(&check_bytes)) {
            return Err(KeystoreError::MalformedUnsealKey(
                "checksum mismatch: typo?",
            ));
        }
        Ok(Self {
            index: index_byte[0],
            bytes,
        })
    }
}

/// SHA-256(domain ‖ index ‖ share bytes).
fn tagged_hash(domain: &[u8], index: u8, bytes: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update([index]);
    h.update(bytes);
    h.finalize().into()
}

impl fmt::Debug for UnsealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealKey")
            .field("index", &self.index)
            .field("bytes", &"<redacted>")
            .finish()
    }
}
