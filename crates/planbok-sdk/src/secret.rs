//! The organization secret, client side.
//!
//! The secret is 32 random bytes, written as 64 hex characters. For each operation the
//! client encrypts `{"secret": <hex>, "timestamp": <ms>, "context": "dkg"|"sign"|"verify"}`
//! (optionally with `"binding"`: hex SHA-256 of the operation) with RSA-OAEP-SHA256 to the
//! organization's public key and sends the base64 ciphertext as
//! `encryptedOrganizationSecret`. Node 1 refuses a ciphertext older than 5 minutes, from the
//! future, for another context, or seen before — so every request needs a fresh one.

use base64::Engine as _;
use rand_core::{OsRng, RngCore as _};
use rsa::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Why a secret could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The public key is not an RSA SPKI PEM.
    #[error("organization public key: {0}")]
    PublicKey(String),
    /// The secret is not 64 hex characters.
    #[error("the organization secret must be 64 hex characters")]
    Format,
    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// The contexts a secret is encrypted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Secret registration and wallet-set creation.
    Dkg,
    /// Wallet creation and signing.
    Sign,
    /// Export.
    Verify,
}

impl Context {
    /// As sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Dkg => "dkg",
            Context::Sign => "sign",
            Context::Verify => "verify",
        }
    }

    /// Parses `dkg`, `sign` or `verify`.
    pub fn parse(s: &str) -> Option<Context> {
        match s {
            "dkg" => Some(Context::Dkg),
            "sign" => Some(Context::Sign),
            "verify" => Some(Context::Verify),
            _ => None,
        }
    }
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

    /// The ciphertext for one operation, timestamped now.
    pub fn encrypt(
        &self,
        public_key_pem: &str,
        context: Context,
        binding: Option<[u8; 32]>,
    ) -> Result<String, SecretError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        self.encrypt_at(public_key_pem, context, now, binding)
    }

    /// The ciphertext with an explicit timestamp (unix ms).
    pub fn encrypt_at(
        &self,
        public_key_pem: &str,
        context: Context,
        timestamp_ms: i64,
        binding: Option<[u8; 32]>,
    ) -> Result<String, SecretError> {
        let key = rsa::RsaPublicKey::from_public_key_pem(public_key_pem)
            .map_err(|e| SecretError::PublicKey(e.to_string()))?;
        let mut body = serde_json::json!({
            "secret": &*self.to_hex(),
            "timestamp": timestamp_ms,
            "context": context.as_str(),
        });
        if let Some(b) = binding {
            body["binding"] = serde_json::Value::String(hex::encode(b));
        }
        let plain = Zeroizing::new(
            serde_json::to_vec(&body).map_err(|e| SecretError::Encrypt(e.to_string()))?,
        );
        if let Some(serde_json::Value::String(s)) = body.get_mut("secret") {
            zeroize::Zeroize::zeroize(s);
        }
        let ct = key
            .encrypt(
                &mut rsa::rand_core::OsRng,
                rsa::Oaep::new::<rsa::sha2::Sha256>(),
                &plain,
            )
            .map_err(|e| SecretError::Encrypt(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(ct))
    }
}

/// The optional `binding` of a signature: SHA-256(wallet id ‖ 0 ‖ the exact bytes signed).
pub fn sign_binding(wallet_id: &str, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(wallet_id.as_bytes());
    h.update([0]);
    h.update(payload);
    h.finalize().into()
}

/// The optional `binding` of a wallet-set or wallet creation: SHA-256(idempotency key).
pub fn creation_binding(idempotency_key: &str) -> [u8; 32] {
    Sha256::digest(idempotency_key.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        let sk = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = sk
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        let s = OrgSecret::generate();
        let ct = s.encrypt_at(&pem, Context::Sign, 1234, None).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(ct)
            .unwrap();
        let plain = sk
            .decrypt(rsa::Oaep::new::<rsa::sha2::Sha256>(), &raw)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(v["secret"], *s.to_hex());
        assert_eq!(v["timestamp"], 1234);
        assert_eq!(v["context"], "sign");
        assert!(v.get("binding").is_none());
    }
}
