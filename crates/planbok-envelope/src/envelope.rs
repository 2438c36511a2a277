//! The encrypted organization secret.
//!
//! Plaintext (JSON): `{"secret": <64 hex>, "timestamp": <unix ms>, "context":
//! "dkg"|"sign"|"verify", "binding"?: <64 hex>}`, encrypted with RSA-OAEP-SHA256 to the
//! organization's public key and sent base64 as `encryptedOrganizationSecret` — the
//! platform's format, so its own clients keep working; `binding` is our extension.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

use crate::binding::Binding;

/// Largest base64 ciphertext accepted (a 4096-bit key gives 684 characters).
pub const MAX_CIPHERTEXT_B64: usize = 2048;

/// The operation a secret is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Secret registration and wallet-set creation.
    Dkg,
    /// Wallet creation, signing and refresh.
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

/// Why an envelope could not be sealed or opened. Messages name no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Longer than [`MAX_CIPHERTEXT_B64`].
    #[error("the encrypted secret is too long")]
    TooLong,
    /// Not base64.
    #[error("the encrypted secret is not base64")]
    NotBase64,
    /// RSA-OAEP decryption failed (another key, or tampered).
    #[error("the encrypted secret does not decrypt with the organization's key")]
    Decrypt,
    /// The plaintext is not the documented JSON, or a field is malformed.
    #[error("the decrypted secret is not the expected JSON: {0}")]
    Plaintext(&'static str),
    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// A decrypted envelope. The secret is zeroized on drop; `Debug` prints no secret.
pub struct Opened {
    /// The secret.
    pub secret: Zeroizing<[u8; 32]>,
    /// The client's timestamp, unix milliseconds.
    pub timestamp_ms: i64,
    /// The context as the client wrote it (compared by the caller, which knows the
    /// operation; an unknown word is kept so the error can quote it).
    pub context: String,
    /// The binding, if the client sent one.
    pub binding: Option<Binding>,
    /// SHA-256 of the ciphertext bytes: the replay set's key.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("secret", &"<redacted>")
            .field("timestamp_ms", &self.timestamp_ms)
            .field("context", &self.context)
            .field("binding", &self.binding)
            .finish()
    }
}

#[derive(Deserialize)]
struct Plain {
    secret: String,
    timestamp: i64,
    context: String,
    #[serde(default)]
    binding: Option<String>,
}

impl Drop for Plain {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// Encrypts `secret` for one operation: the base64 ciphertext to send.
pub fn seal(
    secret: &[u8; 32],
    key: &RsaPublicKey,
    context: Context,
    timestamp_ms: i64,
    binding: Option<Binding>,
) -> Result<String, EnvelopeError> {
    let mut hex_secret = Zeroizing::new(hex::encode(secret));
    let mut body = serde_json::json!({
        "secret": &*hex_secret,
        "timestamp": timestamp_ms,
        "context": context.as_str(),
    });
    if let Some(b) = binding {
        body["binding"] = serde_json::Value::String(b.to_hex());
    }
    let plain = Zeroizing::new(
        serde_json::to_vec(&body).map_err(|e| EnvelopeError::Encrypt(e.to_string()))?,
    );
    if let Some(serde_json::Value::String(s)) = body.get_mut("secret") {
        s.zeroize();
    }
    hex_secret.zeroize();
    let ct = key
        .encrypt(&mut rand_core::OsRng, Oaep::new::<Sha256>(), &plain)
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    Ok(B64.encode(ct))
}

/// Decrypts and parses a ciphertext, with RSA blinding (a fresh random blinding factor per
/// call), so the time a decryption takes does not depend on the private exponent the way
/// an unblinded `rsa` decryption does (RUSTSEC-2023-0071; see `deny.toml`).
///
/// Checks only the form: the caller checks context, age, replay and binding, which need
/// the operation and the node's state.
pub fn open(key: &RsaPrivateKey, ciphertext_b64: &str) -> Result<Opened, EnvelopeError> {
    if ciphertext_b64.len() > MAX_CIPHERTEXT_B64 {
        return Err(EnvelopeError::TooLong);
    }
    let ciphertext = B64
        .decode(ciphertext_b64.trim())
        .map_err(|_| EnvelopeError::NotBase64)?;
    let plain = Zeroizing::new(
        key.decrypt_blinded(&mut rand_core::OsRng, Oaep::new::<Sha256>(), &ciphertext)
            .map_err(|_| EnvelopeError::Decrypt)?,
    );
    let p: Plain = serde_json::from_slice(&plain)
        .map_err(|_| EnvelopeError::Plaintext("not the documented JSON"))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(p.secret.trim_start_matches("0x"), &mut *secret)
        .map_err(|_| EnvelopeError::Plaintext("the secret is not 64 hex digits"))?;
    let binding = match &p.binding {
        None => None,
        Some(b) => Some(
            Binding::from_hex(b)
                .ok_or(EnvelopeError::Plaintext("the binding is not 64 hex digits"))?,
        ),
    };
    Ok(Opened {
        secret,
        timestamp_ms: p.timestamp,
        context: p.context.clone(),
        binding,
        digest: Sha256::digest(&ciphertext).into(),
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn key() -> RsaPrivateKey {
        // 2048 bits keeps the unit test fast; the size policy lives in `org_key`.
        RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_decrypts_to_the_documented_json() {
        let sk = key();
        let secret = [7u8; 32];
        let b = Binding::registration("org");
        let ct = seal(&secret, &sk.to_public_key(), Context::Dkg, 1234, Some(b)).unwrap();
        // The platform's JSON, readable by an unblinded decryption too.
        let raw = B64.decode(&ct).unwrap();
        let plain = sk.decrypt(Oaep::new::<Sha256>(), &raw).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(v["secret"], hex::encode(secret));
        assert_eq!(v["timestamp"], 1234);
        assert_eq!(v["context"], "dkg");
        assert_eq!(v["binding"], b.to_hex());
        let o = open(&sk, &ct).unwrap();
        assert_eq!(*o.secret, secret);
        assert_eq!(
            (o.timestamp_ms, o.context.as_str(), o.binding),
            (1234, "dkg", Some(b))
        );
        assert_eq!(o.digest, <[u8; 32]>::from(Sha256::digest(&raw)));
        assert!(!format!("{o:?}").contains(&hex::encode(secret)));
    }

    #[test]
    fn malformed_input_gets_its_own_error() {
        let sk = key();
        assert_eq!(
            open(&sk, &"A".repeat(3000)).unwrap_err(),
            EnvelopeError::TooLong
        );
        assert_eq!(open(&sk, "***").unwrap_err(), EnvelopeError::NotBase64);
        assert_eq!(open(&sk, "AAAA").unwrap_err(), EnvelopeError::Decrypt);
        let other = key();
        let ct = seal(&[1; 32], &other.to_public_key(), Context::Sign, 1, None).unwrap();
        assert_eq!(open(&sk, &ct).unwrap_err(), EnvelopeError::Decrypt);
        let raw = sk
            .to_public_key()
            .encrypt(
                &mut rand_core::OsRng,
                Oaep::new::<Sha256>(),
                br#"{"secret":"zz","timestamp":1,"context":"sign"}"#,
            )
            .unwrap();
        assert!(matches!(
            open(&sk, &B64.encode(raw)),
            Err(EnvelopeError::Plaintext(_))
        ));
    }
}
