//! Webhooks: the event catalogue, the outbox entries other features put in their commits,
//! endpoint secrets (generated, encrypted at rest, signed with), the SSRF guard
//! (`guard.rs`) and the delivery worker (`worker.rs`).
//!
//! A feature reports a change by adding [`event`]'s draft to the [`Commit`] of that change
//! (`Commit::events`): the store writes the event and its deliveries in the same
//! transaction, then the feature calls [`Webhooks::wake`] so that this process's worker
//! sends it at once rather than at its next poll.
//!
//! [`Commit`]: planbok_store::server::Commit

pub(crate) mod guard;
pub(crate) mod worker;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use planbok_store::server::EventDraft;
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};
use crate::routes::convert::rfc3339;

/// Every event an endpoint may subscribe to (API.md, "Webhooks"). `webhook.test` is sent
/// only by `POST /v2/webhooks/{id}/test`, to that endpoint.
pub const EVENTS: &[&str] = &[
    "transaction.created",
    "transaction.signed",
    "transaction.broadcast",
    "transaction.confirmed",
    "transaction.failed",
    "transaction.accelerated",
    "transaction.cancelled",
    "wallet.created",
    "customer.created",
    "customer.pin_setup",
    "customer.locked_out",
    "customer.recovery_initiated",
    "customer.recovery_completed",
    "key.disabled",
];

/// The test event.
pub const TEST_EVENT: &str = "webhook.test";

/// An outbox entry for `event` with `data`, for the commit of the change it reports. The
/// body is fixed here: every attempt sends these exact bytes.
pub fn event(org_id: &str, event: &str, data: Value, at_ms: i64) -> EventDraft {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({
        "id": id,
        "event": event,
        "timestamp": rfc3339(at_ms),
        "organizationId": org_id,
        "data": data,
    });
    EventDraft {
        id,
        org_id: org_id.to_owned(),
        event: event.to_owned(),
        body: body.to_string(),
        dedupe: None,
        only_endpoint: None,
        at_ms,
    }
}

/// A new endpoint secret: `whsec_` and the base64 of 32 random bytes (Standard Webhooks'
/// symmetric key format).
pub fn new_secret() -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut raw[..]);
    Zeroizing::new(format!("whsec_{}", B64.encode(&raw[..])))
}

type HmacSha256 = Hmac<Sha256>;

/// The platform's `X-Webhook-Signature` value: `sha256=<hex HMAC-SHA256>` keyed with the
/// secret's UTF-8 bytes as shown (`whsec_` included), over `"{ts}.{body}"`.
pub fn platform_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable());
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One Standard Webhooks `v1,<base64>` entry: HMAC-SHA256 keyed with the base64-decoded
/// part after `whsec_`, over `"{id}.{ts}.{body}"`. `None` for a secret not in that format.
pub fn standard_signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> Option<String> {
    let key = Zeroizing::new(B64.decode(secret.strip_prefix("whsec_")?).ok()?);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable() -> HmacSha256 {
    #[expect(
        clippy::expect_used,
        reason = "HMAC-SHA256 accepts a key of any length"
    )]
    <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC takes any key length")
}

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

/// What the server holds for webhooks.
#[derive(Debug)]
pub struct Webhooks {
    /// Encrypts and decrypts endpoint secrets.
    pub secrets: SecretBox,
    /// Wakes this process's worker.
    wake: tokio::sync::Notify,
}

impl Webhooks {
    /// From the grant key's seed.
    pub fn new(seed: &[u8; 32]) -> Webhooks {
        Webhooks {
            secrets: SecretBox::from_grant_seed(seed),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Tells the worker that deliveries were just committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`Webhooks::wake`] is called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// Standard Webhooks' published vector (libraries/rust/src/lib.rs `test_sign`).
    #[test]
    fn the_standard_webhooks_vector() {
        let sig = standard_signature(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn secrets_are_sealed_per_endpoint() {
        let b = SecretBox::from_grant_seed(&[7; 32]);
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(B64.decode(&s[6..]).unwrap().len(), 32);
        let sealed = b.seal("wh_a", &s).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"whsec_"));
        assert_eq!(*b.open("wh_a", &sealed).unwrap(), *s);
        assert!(b.open("wh_b", &sealed).is_err());
        let other = SecretBox::from_grant_seed(&[8; 32]);
        assert!(other.open("wh_a", &sealed).is_err());
    }

    #[test]
    fn the_platform_signature_keys_with_the_whole_secret() {
        // Python: hmac.new(b"whsec_abc", b"1700000000.{}", hashlib.sha256).hexdigest()
        let sig = platform_signature("whsec_abc", 1_700_000_000, b"{}");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"whsec_abc").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}
