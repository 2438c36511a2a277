//! The server's box for the secrets it must hold itself: webhook endpoint secrets (to
//! sign with) and customers' email recovery codes (to mail).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};

/// Encrypts endpoint secrets and customers' email recovery codes at rest: AES-256-GCM
/// under a key derived (HKDF-SHA256) from the server's grant key, each bound to what it
/// belongs to (a label and the endpoint or customer id). A database dump alone does not
/// reveal them; the grant key file does (see `docs/threat-model.md`).
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

const BOX_VERSION: u8 = 1;

impl SecretBox {
    /// The box keyed from the grant key's seed.
    pub fn from_grant_seed(seed: &[u8; 32]) -> SecretBox {
        let hk = hkdf::Hkdf::<sha2_for_hkdf::Sha256>::new(Some(b"planbok/webhook-secrets"), seed);
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit.
        let _ = hk.expand(b"aes-256-gcm v1", &mut key[..]);
        SecretBox {
            cipher: Aes256Gcm::new((&*key).into()),
        }
    }

    fn aad(label: &[u8], id: &str) -> Vec<u8> {
        let mut aad = label.to_vec();
        aad.push(0);
        aad.extend_from_slice(id.as_bytes());
        aad
    }

    /// `version || nonce || ciphertext+tag`, bound to `label` and `id`.
    fn seal_with(&self, label: &[u8], id: &str, secret: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &Self::aad(label, id),
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(13 + ct.len());
        out.push(BOX_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Some(out)
    }

    fn open_with(&self, label: &[u8], id: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < 13 + 16 || sealed[0] != BOX_VERSION {
            return None;
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&sealed[1..13]);
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed[13..],
                    aad: &Self::aad(label, id),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    /// Seals a webhook endpoint's secret, bound to the endpoint.
    pub fn seal(&self, endpoint_id: &str, secret: &str) -> ApiResult<Vec<u8>> {
        self.seal_with(WEBHOOK_LABEL, endpoint_id, secret.as_bytes())
            .ok_or_else(|| ApiError::internal("could not encrypt a webhook secret"))
    }

    /// The secret sealed for `endpoint_id`; an error names neither key nor secret.
    pub fn open(&self, endpoint_id: &str, sealed: &[u8]) -> Result<Zeroizing<String>, String> {
        let pt = self
            .open_with(WEBHOOK_LABEL, endpoint_id, sealed)
            .ok_or_else(|| {
                format!(
                    "webhook {endpoint_id}: stored secret does not decrypt (was the grant key replaced?)"
                )
            })?;
        String::from_utf8(pt.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| format!("webhook {endpoint_id}: stored secret is not text"))
    }

    /// Seals a customer's email recovery code (its 20 bytes), bound to the customer.
    pub fn seal_email_code(&self, customer_id: &str, code: &[u8]) -> ApiResult<Vec<u8>> {
        self.seal_with(EMAIL_CODE_LABEL, customer_id, code)
            .ok_or_else(|| ApiError::internal("could not encrypt a recovery code"))
    }

    /// The code sealed for `customer_id`; an error names neither key nor code.
    pub fn open_email_code(
        &self,
        customer_id: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        self.open_with(EMAIL_CODE_LABEL, customer_id, sealed)
            .ok_or_else(|| {
                format!(
                    "customer {customer_id}: the stored recovery code does not decrypt (was the grant key replaced?)"
                )
            })
    }
}

/// What a sealed webhook secret is bound to (with the endpoint id).
const WEBHOOK_LABEL: &[u8] = b"planbok/webhook-secret/v1";
/// What a sealed email recovery code is bound to (with the customer id).
const EMAIL_CODE_LABEL: &[u8] = b"planbok/email-recovery-code/v1";

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sealed_per_endpoint() {
        let b = SecretBox::from_grant_seed(&[7; 32]);
        let s = crate::webhooks::new_secret();
        let sealed = b.seal("wh_a", &s).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"whsec_"));
        assert_eq!(*b.open("wh_a", &sealed).unwrap(), *s);
        assert!(b.open("wh_b", &sealed).is_err());
        let other = SecretBox::from_grant_seed(&[8; 32]);
        assert!(other.open("wh_a", &sealed).is_err());
    }

    #[test]
    fn email_codes_are_sealed_per_customer() {
        let b = SecretBox::from_grant_seed(&[7; 32]);
        let code = [42u8; 20];
        let sealed = b.seal_email_code("cu_a", &code).unwrap();
        assert!(!sealed.windows(20).any(|w| w == code));
        assert_eq!(*b.open_email_code("cu_a", &sealed).unwrap(), code.to_vec());
        assert!(b.open_email_code("cu_b", &sealed).is_err());
        // A webhook secret's box does not open as a code, nor the other way round.
        assert!(b.open("cu_a", &sealed).is_err());
    }
}
