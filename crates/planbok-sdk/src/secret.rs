//! The organization secret, client side.
//!
//! The secret is 32 random bytes, written as 64 hex characters. For each operation the
//! client encrypts `{"secret": <hex>, "timestamp": <ms>, "context": "dkg"|"sign"|"verify"}`
//! (optionally with `"binding"`: hex SHA-256 of the operation) with RSA-OAEP-SHA256 to the
//! organization's public key and sends the base64 ciphertext as
//! `encryptedOrganizationSecret`. Node 1 refuses a ciphertext older than 5 minutes, from the
//! future, for another context, or seen before — so every request needs a fresh one.

use planbok_envelope::org_key::OrgPublicKey;
pub use planbok_envelope::{Binding, Context};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::clock::now_ms;
use crate::trust::TrustedOrgKey;

/// Why a secret could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The public key is not an RSA SPKI PEM, or too small.
    #[error(transparent)]
    PublicKey(#[from] planbok_envelope::OrgKeyError),
    /// The secret is not 64 hex characters.
    #[error("the organization secret must be 64 hex characters")]
    Format,
    /// Encryption failed.
    #[error(transparent)]
    Encrypt(#[from] planbok_envelope::EnvelopeError),
}

/// An organization secret. Zeroized on drop; `Debug` prints `<redacted>`.
pub struct OrgSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for OrgSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrgSecret(<redacted>)")
    }
}

impl OrgSecret {
    /// 32 bytes from the OS random generator.
    pub fn generate() -> OrgSecret {
        let mut b = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut b[..]);
        OrgSecret(b)
    }

    /// From 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<OrgSecret, SecretError> {
        let mut b = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s.trim(), &mut b[..]).map_err(|_| SecretError::Format)?;
        Ok(OrgSecret(b))
    }

    /// From raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> OrgSecret {
        OrgSecret(Zeroizing::new(b))
    }

    /// As 64 lowercase hex characters (store it like a password).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// The ciphertext for one operation, bound to it, to a key that passed every check
    /// (see [`crate::trust`]), timestamped now. What our clients send.
    pub fn seal(
        &self,
        key: &TrustedOrgKey,
        context: Context,
        binding: Binding,
    ) -> Result<String, crate::Error> {
        self.seal_at(key, context, Some(binding), now_ms())
            .map_err(crate::Error::Secret)
    }

    /// The ciphertext to a trusted key with an explicit timestamp (unix ms), with or
    /// without a binding: for callers that read no clock themselves (the WebAssembly
    /// module, which takes the time from JavaScript) and for the operations that cannot
    /// be bound (a transfer: the server chooses its nonce and fees).
    pub fn seal_at(
        &self,
        key: &TrustedOrgKey,
        context: Context,
        binding: Option<Binding>,
        timestamp_ms: i64,
    ) -> Result<String, SecretError> {
        Ok(planbok_envelope::envelope::seal(
            &self.0,
            &key.key.key,
            context,
            timestamp_ms,
            binding,
        )?)
    }

    /// The ciphertext to a key the caller vouches for itself (a PEM it holds out of band),
    /// with or without a binding, timestamped now. Keys under 3072 bits are refused.
    pub fn encrypt(
        &self,
        public_key_pem: &str,
        context: Context,
        binding: Option<Binding>,
    ) -> Result<String, SecretError> {
        self.encrypt_at(public_key_pem, context, now_ms(), binding)
    }

    /// [`OrgSecret::encrypt`] with an explicit timestamp (unix ms).
    pub fn encrypt_at(
        &self,
        public_key_pem: &str,
        context: Context,
        timestamp_ms: i64,
        binding: Option<Binding>,
    ) -> Result<String, SecretError> {
        let key = OrgPublicKey::from_pem(public_key_pem)?;
        Ok(planbok_envelope::envelope::seal(
            &self.0,
            &key.key,
            context,
            timestamp_ms,
            binding,
        )?)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_hex_and_never_print() {
        let s = OrgSecret::generate();
        let again = OrgSecret::from_hex(&s.to_hex()).unwrap();
        assert_eq!(s.to_hex(), again.to_hex());
        assert!(!format!("{s:?}").contains(&*s.to_hex()));
        assert!(OrgSecret::from_hex("zz").is_err());
        assert_eq!(Context::parse("sign"), Some(Context::Sign));
        assert_eq!(Context::parse("other"), None);
    }

    #[test]
    fn encryption_decrypts_to_the_documented_json() {
        use rsa::pkcs8::EncodePublicKey as _;
        let sk = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 3072).unwrap();
        let pem = sk
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        let s = OrgSecret::generate();
        let ct = s.encrypt_at(&pem, Context::Sign, 1234, None).unwrap();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ct).unwrap();
        let plain = sk
            .decrypt(rsa::Oaep::new::<rsa::sha2::Sha256>(), &raw)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(v["secret"], *s.to_hex());
        assert_eq!(v["timestamp"], 1234);
        assert_eq!(v["context"], "sign");
        assert!(v.get("binding").is_none());
        // Keys under 3072 bits are refused before anything is encrypted.
        let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let small = small
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        assert!(matches!(
            s.encrypt(&small, Context::Sign, None),
            Err(SecretError::PublicKey(_))
        ));
    }
}
