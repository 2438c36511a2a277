//! Verifying the webhooks a planbok server sends.
//!
//! Every delivery carries two signatures of the same raw body:
//!
//! - **Standard Webhooks** (`webhook-id`, `webhook-timestamp`, `webhook-signature`): one or
//!   more space-separated `v1,<base64>` entries, each HMAC-SHA256 over
//!   `"{id}.{timestamp}.{body}"` keyed with the base64-decoded part of the secret after
//!   `whsec_`. During a secret rotation there is one entry per valid secret.
//! - **The platform's** (`X-Webhook-Id`, `X-Webhook-Event`, `X-Webhook-Timestamp`,
//!   `X-Webhook-Signature: sha256=<hex>`): HMAC-SHA256 over `"{timestamp}.{body}"` keyed
//!   with the secret's UTF-8 bytes as shown, `whsec_` included. During a rotation it is the
//!   previous secret's, and `X-Webhook-Signature-Next` carries the new secret's.
//!
//! [`Verifier::verify`] checks the Standard Webhooks signature when its headers are there
//! (it covers the event id), else the platform's; both compare in constant time and refuse
//! a timestamp more than the tolerance (5 minutes) away from now. Verify the raw bytes as
//! received, before any JSON parsing; deduplicate on the event id (a retry repeats it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The default tolerance between the signed timestamp and now, either way.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The secret is not `whsec_<base64>`.
    #[error("the secret is not a whsec_<base64> key")]
    BadSecret,
    /// A header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp is not Unix seconds.
    #[error("the timestamp is not Unix seconds")]
    BadTimestamp,
    /// The timestamp is too far from now (a replay, or a skewed clock).
    #[error("the timestamp is {0} s away from now, more than the tolerance")]
    Expired(u64),
    /// No signature matches any secret.
    #[error("no signature matches")]
    BadSignature,
    /// The body is not a planbok event.
    #[error("the body is not an event: {0}")]
    Body(String),
}

/// A verified event (API.md: `{id, event, timestamp, organizationId, data}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `evt_…`: the same on every attempt; deduplicate on it.
    pub id: String,
    /// E.g. `wallet.created`.
    pub event: String,
    /// When the event happened (ISO 8601).
    pub timestamp: String,
    /// The organization.
    pub organization_id: String,
    /// The event's object.
    pub data: serde_json::Value,
}

/// Which signature was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `webhook-signature`.
    Standard,
    /// `X-Webhook-Signature` (or `-Next`).
    Platform,
}

/// Verifies deliveries with one or more secrets (several during a rotation). `Debug`
/// prints no secret.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<(Zeroizing<String>, Zeroizing<Vec<u8>>)>,
    tolerance_s: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance_s", &self.tolerance_s)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `secret` (`whsec_…`, as the server showed it).
    pub fn new(secret: &str) -> Result<Verifier, WebhookError> {
        Verifier {
            secrets: Vec::new(),
            tolerance_s: DEFAULT_TOLERANCE_S,
        }
        .and_secret(secret)
    }

    /// Also accepts `secret` (e.g. the previous one while a rotation settles).
    pub fn and_secret(mut self, secret: &str) -> Result<Verifier, WebhookError> {
        let raw = secret
            .strip_prefix("whsec_")
            .and_then(|b| B64.decode(b).ok())
            .filter(|k| !k.is_empty())
            .ok_or(WebhookError::BadSecret)?;
        self.secrets
            .push((Zeroizing::new(secret.to_owned()), Zeroizing::new(raw)));
        Ok(self)
    }

    /// The timestamp tolerance, in seconds either way.
    pub fn tolerance(mut self, seconds: u64) -> Verifier {
        self.tolerance_s = seconds;
        self
    }

    /// Verifies a delivery given its headers (looked up case-insensitively) and raw body,
    /// now; returns the event and the scheme that was checked.
    pub fn verify<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &[(K, V)],
        body: &[u8],
    ) -> Result<(Event, Scheme), WebhookError> {
        self.verify_at(headers, body, now_s())
    }

    /// [`Verifier::verify`] at `now` (Unix seconds).
    pub fn verify_at<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &[(K, V)],
        body: &[u8],
        now: i64,
    ) -> Result<(Event, Scheme), WebhookError> {
        let h = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref())
        };
        let scheme = if let Some(sig) = h("webhook-signature") {
            let id = h("webhook-id").ok_or(WebhookError::MissingHeader("webhook-id"))?;
            let ts =
                h("webhook-timestamp").ok_or(WebhookError::MissingHeader("webhook-timestamp"))?;
            self.verify_standard(id, ts, sig, body, now)?;
            Scheme::Standard
        } else {
            let sig = h("x-webhook-signature").ok_or(WebhookError::MissingHeader(
                "webhook-signature or X-Webhook-Signature",
            ))?;
            let ts = h("x-webhook-timestamp")
                .ok_or(WebhookError::MissingHeader("X-Webhook-Timestamp"))?;
            let next = h("x-webhook-signature-next");
            self.verify_platform(ts, sig, next, body, now)?;
            Scheme::Platform
        };
        let event: Event =
            serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))?;
        Ok((event, scheme))
    }

    /// Checks a Standard Webhooks signature header (any `v1,` entry against any secret).
    pub fn verify_standard(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        self.check_time(timestamp, now)?;
        for entry in signature.split_whitespace() {
            let Some(sig) = entry.strip_prefix("v1,").and_then(|b| B64.decode(b).ok()) else {
                continue;
            };
            for (_, key) in &self.secrets {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
                    .map_err(|_| WebhookError::BadSecret)?;
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(&sig).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(WebhookError::BadSignature)
    }

    /// Checks the platform's `sha256=<hex>` signature (and `X-Webhook-Signature-Next`).
    pub fn verify_platform(
        &self,
        timestamp: &str,
        signature: &str,
        next: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        self.check_time(timestamp, now)?;
        for header in std::iter::once(signature).chain(next) {
            let Some(sig) = header
                .trim()
                .strip_prefix("sha256=")
                .and_then(|h| hex::decode(h).ok())
            else {
                continue;
            };
            for (secret, _) in &self.secrets {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
                    .map_err(|_| WebhookError::BadSecret)?;
                mac.update(timestamp.as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(&sig).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(WebhookError::BadSignature)
    }

    fn check_time(&self, timestamp: &str, now: i64) -> Result<(), WebhookError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::BadTimestamp)?;
        let skew = now.abs_diff(ts);
        if skew > self.tolerance_s {
            return Err(WebhookError::Expired(skew));
        }
        Ok(())
    }
}

/// Signs like the server does, for tests and local tools: the Standard Webhooks entry.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let key = Zeroizing::new(
        secret
            .strip_prefix("whsec_")
            .and_then(|b| B64.decode(b).ok())
            .ok_or(WebhookError::BadSecret)?,
    );
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

fn now_s() -> i64 {
    crate::clock::now_ms() / 1000
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    // Standard Webhooks' published vector (standard-webhooks libraries/rust/src/lib.rs).
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn the_published_vector_signs_and_verifies() {
        assert_eq!(sign_standard(SECRET, ID, TS, BODY).unwrap(), SIG);
        let v = Verifier::new(SECRET).unwrap();
        v.verify_standard(ID, &TS.to_string(), SIG, BODY, TS)
            .unwrap();
        // Several entries (rotation), ours among them, in any order.
        let multi = format!("v1,Zm9v v1a,abc {SIG}");
        v.verify_standard(ID, &TS.to_string(), &multi, BODY, TS)
            .unwrap();
    }

    #[test]
    fn tampering_and_time_are_refused() {
        let v = Verifier::new(SECRET).unwrap();
        let ts = TS.to_string();
        assert_eq!(
            v.verify_standard(ID, &ts, SIG, b"{}", TS),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify_standard("msg_other", &ts, SIG, BODY, TS),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify_standard(ID, &ts, SIG, BODY, TS + 301),
            Err(WebhookError::Expired(301))
        );
        assert_eq!(
            v.verify_standard(ID, &ts, SIG, BODY, TS - 301),
            Err(WebhookError::Expired(301))
        );
        v.verify_standard(ID, &ts, SIG, BODY, TS + 300).unwrap();
        let other = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            other.verify_standard(ID, &ts, SIG, BODY, TS),
            Err(WebhookError::BadSignature)
        );
        assert!(Verifier::new("not-a-secret").is_err());
    }

    #[test]
    fn headers_pick_the_scheme() {
        let body = br#"{"id":"evt_1","event":"webhook.test","timestamp":"2026-01-01T00:00:00.000Z","organizationId":"org_1","data":{}}"#;
        let ts = 1_700_000_000_i64;
        let std_sig = sign_standard(SECRET, "evt_1", ts, body).unwrap();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        let platform = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let v = Verifier::new(SECRET).unwrap();
        let headers = [
            ("Webhook-Id", "evt_1".to_owned()),
            ("Webhook-Timestamp", ts.to_string()),
            ("Webhook-Signature", std_sig),
        ];
        let (e, s) = v.verify_at(&headers, body, ts).unwrap();
        assert_eq!((e.id.as_str(), s), ("evt_1", Scheme::Standard));
        let headers = [
            ("X-Webhook-Timestamp", ts.to_string()),
            ("X-Webhook-Signature", platform.clone()),
        ];
        assert_eq!(v.verify_at(&headers, body, ts).unwrap().1, Scheme::Platform);
        // During a rotation the new secret's platform signature is in -Next.
        let old = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = [
            ("X-Webhook-Timestamp", ts.to_string()),
            ("X-Webhook-Signature", "sha256=00".to_owned()),
            ("X-Webhook-Signature-Next", platform),
        ];
        assert!(v.verify_at(&headers, body, ts).is_ok());
        assert_eq!(
            old.verify_at(&headers, body, ts).unwrap_err(),
            WebhookError::BadSignature
        );
        let none: [(&str, &str); 0] = [];
        assert!(matches!(
            v.verify_at(&none, body, ts),
            Err(WebhookError::MissingHeader(_))
        ));
    }
}
