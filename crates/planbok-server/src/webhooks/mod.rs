//! Webhooks: the event catalogue, the outbox entries other features put in their commits,
//! endpoint secrets (generated, signed with; sealed at rest by `secret_box.rs`), the SSRF guard
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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use planbok_store::server::EventDraft;
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::routes::convert::rfc3339;

/// Every event an endpoint may subscribe to: the contract's list (`planbok_api`), which
/// the OpenAPI document declares too.
pub const EVENTS: &[&str] = planbok_api::WEBHOOK_EVENTS;

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

/// What the server holds for webhooks (their secrets are sealed by the server's
/// [`crate::secret_box::SecretBox`]).
#[derive(Debug, Default)]
pub struct Webhooks {
    /// Wakes this process's worker.
    wake: tokio::sync::Notify,
}

impl Webhooks {
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
