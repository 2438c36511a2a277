//! Authorization grants.
//!
//! The server signs a grant for every DKG, signature, refresh and export: {grant id,
//! organization, key id, operation, SHA-256 of the operation's exact parameters, issue and
//! expiry times}. The signature is Ed25519 over a domain string and the grant's encoded bytes
//! as sent, so no re-encoding is ever needed to verify. Each node checks the grant itself
//! ([`verify`], then [`VerifiedGrant::authorize`]); Node 2 also records the grant id durably
//! and refuses a second use.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use prost::Message as _;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use crate::codes::ErrorCode;
use crate::pb::{CustodyMode, GrantBody, Operation, Protocol, SignedGrant};

/// Grant format version.
pub const VERSION: u32 = 1;
/// The longest lifetime a node accepts.
pub const MAX_LIFETIME_MS: i64 = 60_000;
/// Clock skew tolerated between the server and a node.
pub const MAX_SKEW_MS: i64 = 5_000;

const SIGNING_DOMAIN: &[u8] = b"planbok/grant/v1\0";

/// Why a grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// No grant attached.
    #[error("no authorization grant")]
    Missing,
    /// Undecodable, wrong version, or wrong field sizes.
    #[error("malformed grant: {0}")]
    Malformed(&'static str),
    /// Not signed by the server's grant key.
    #[error("grant signature does not verify under the server's grant key")]
    BadSignature,
    /// Expired, not yet valid, or a lifetime over 60 s.
    #[error("grant is outside its validity window: {0}")]
    Expired(&'static str),
    /// The grant names another operation, organization or key.
    #[error("grant is for another {0}")]
    ScopeMismatch(&'static str),
    /// The parameters differ from those the grant was issued for.
    #[error("the request's parameters differ from the grant's")]
    DigestMismatch,
}

impl GrantError {
    /// The stable code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            GrantError::Missing => ErrorCode::GrantMissing,
            GrantError::Malformed(_) => ErrorCode::GrantMalformed,
            GrantError::BadSignature => ErrorCode::GrantBadSignature,
            GrantError::Expired(_) => ErrorCode::GrantExpired,
            GrantError::ScopeMismatch(_) => ErrorCode::GrantScopeMismatch,
            GrantError::DigestMismatch => ErrorCode::GrantDigestMismatch,
        }
    }
}

/// The server's grant signing key. Holds a secret: `Debug` prints `<redacted>`.
pub struct GrantSigner(SigningKey);

impl fmt::Debug for GrantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GrantSigner(<redacted>)")
    }
}

impl GrantSigner {
    /// A fresh random key.
    pub fn generate() -> Self {
        GrantSigner(SigningKey::generate(&mut OsRng))
    }

    /// From the 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        GrantSigner(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for sealing by the caller.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public key nodes are configured with.
    pub fn public_key(&self) -> GrantVerifier {
        GrantVerifier(self.0.verifying_key())
    }

    /// Issues a grant valid for `ttl_ms` (at most [`MAX_LIFETIME_MS`]) from `now_ms`.
    pub fn issue(
        &self,
        org_id: &str,
        key_id: &str,
        operation: Operation,
        params_hash: [u8; 32],
        now_ms: i64,
        ttl_ms: i64,
    ) -> SignedGrant {
        let mut grant_id = [0u8; 16];
        OsRng.fill_bytes(&mut grant_id);
        let body = GrantBody {
            version: VERSION,
            grant_id: grant_id.to_vec(),
            org_id: org_id.to_owned(),
            key_id: key_id.to_owned(),
            operation: operation as i32,
            params_hash: params_hash.to_vec(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms + ttl_ms.clamp(0, MAX_LIFETIME_MS),
        };
        self.sign_body(&body)
    }

    /// Signs an arbitrary body as given (tests use this to build refused grants).
    pub fn sign_body(&self, body: &GrantBody) -> SignedGrant {
        let body = body.encode_to_vec();
        let signature = self.0.sign(&signed_bytes(&body)).to_bytes().to_vec();
        SignedGrant { body, signature }
    }
}

/// The server's grant public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GrantVerifier(VerifyingKey);

impl fmt::Debug for GrantVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantVerifier({})", self.to_hex())
    }
}

impl GrantVerifier {
    /// Parses the 64-hex-digit form used in configuration files.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let mut b = [0u8; 32];
        hex_decode(s.trim(), &mut b).ok_or("grant public key must be 64 hex digits")?;
        VerifyingKey::from_bytes(&b)
            .map(GrantVerifier)
            .map_err(|_| "grant public key is not a valid ed25519 point".into())
    }

    /// The 64-hex-digit form.
    pub fn to_hex(&self) -> String {
        self.0
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn hex_decode(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 || !s.is_ascii() {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(())
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
    m.extend_from_slice(SIGNING_DOMAIN);
    m.extend_from_slice(body);
    m
}

/// A grant whose signature, version, sizes and validity window were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    /// Single-use id.
    pub grant_id: [u8; 16],
    /// Organization.
    pub org_id: String,
    /// Key the operation acts on.
    pub key_id: String,
    /// Operation.
    pub operation: Operation,
    /// SHA-256 of the operation's parameters.
    pub params_hash: [u8; 32],
    /// Expiry, unix ms.
    pub expires_at_ms: i64,
    /// SHA-256 of the signed body: the protocol run's session id.
    pub session_id: [u8; 32],
}

/// Checks a grant's signature and validity window at `now_ms`.
pub fn verify(
    signed: Option<&SignedGrant>,
    key: &GrantVerifier,
    now_ms: i64,
) -> Result<VerifiedGrant, GrantError> {
    let signed = signed.ok_or(GrantError::Missing)?;
    let sig = Signature::from_slice(&signed.signature)
        .map_err(|_| GrantError::Malformed("signature is not 64 bytes"))?;
    key.0
        .verify_strict(&signed_bytes(&signed.body), &sig)
        .map_err(|_| GrantError::BadSignature)?;
    let body = GrantBody::decode(signed.body.as_slice())
        .map_err(|_| GrantError::Malformed("body does not decode"))?;
    if body.version != VERSION {
        return Err(GrantError::Malformed("unsupported version"));
    }
    let grant_id: [u8; 16] = body
        .grant_id
        .as_slice()
        .try_into()
        .map_err(|_| GrantError::Malformed("grant id is not 16 bytes"))?;
    let params_hash: [u8; 32] = body
        .params_hash
        .as_slice()
        .try_into()
        .map_err(|_| GrantError::Malformed("params hash is not 32 bytes"))?;
    let operation = Operation::try_from(body.operation)
        .ok()
        .filter(|o| *o != Operation::Unspecified)
        .ok_or(GrantError::Malformed("unknown operation"))?;
    if body.expires_at_ms - body.issued_at_ms > MAX_LIFETIME_MS
        || body.expires_at_ms < body.issued_at_ms
    {
        return Err(GrantError::Expired("lifetime over 60 s"));
    }
    if body.issued_at_ms > now_ms + MAX_SKEW_MS {
        return Err(GrantError::Expired("issued in the future"));
    }
    if now_ms > body.expires_at_ms {
        return Err(GrantError::Expired("expired"));
    }
    Ok(VerifiedGrant {
        grant_id,
        org_id: body.org_id,
        key_id: body.key_id,
        operation,
        params_hash,
        expires_at_ms: body.expires_at_ms,
        session_id: Sha256::new()
            .chain_update(b"planbok/session/v1\0")
            .chain_update(&signed.body)
            .finalize()
            .into(),
    })
}

impl VerifiedGrant {
    /// Checks that the grant covers `operation` on `key_id` with exactly these parameters.
    pub fn authorize(
        &self,
        operation: Operation,
        key_id: &str,
        params_hash: &[u8; 32],
    ) -> Result<(), GrantError> {
        if self.operation != operation {
            return Err(GrantError::ScopeMismatch("operation"));
        }
        if self.key_id != key_id {
            return Err(GrantError::ScopeMismatch("key"));
        }
        if &self.params_hash != params_hash {
            return Err(GrantError::DigestMismatch);
        }
        Ok(())
    }
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// Parameters of a DKG: the protocol and the organization's custody mode, which both nodes
/// record with the key (it decides whether the key may ever be exported). Node 2 learns the
/// mode from Node 1's `Open` and checks it here, so it holds the server's word for it, not
/// Node 1's.
pub fn dkg_params(protocol: Protocol, custody: CustodyMode) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/dkg/v2\0");
    h.update((protocol as i32).to_be_bytes());
    h.update((custody as i32).to_be_bytes());
    h.finalize().into()
}

/// Parameters of a DKG for a customer's key (custody `customer`): the protocol and the
/// customer, so both nodes record the key as that customer's on the server's word.
pub fn customer_dkg_params(protocol: Protocol, customer_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/dkg-customer/v1\0");
    h.update((protocol as i32).to_be_bytes());
    put(&mut h, customer_id.as_bytes());
    h.finalize().into()
}

/// Parameters of a signature: the protocol, the derivation path and the exact payload
/// (the 32-byte digest for ECDSA, the whole message for ed25519).
pub fn sign_params(protocol: Protocol, derivation_path: &str, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/sign/v1\0");
    h.update((protocol as i32).to_be_bytes());
    put(&mut h, derivation_path.as_bytes());
    put(&mut h, payload);
    h.finalize().into()
}

/// Parameters of an export: the key's protocol and the client's ephemeral X25519 public
/// key the nodes encrypt their shares to (so a grant can release a key to that recipient
/// only).
pub fn export_params(protocol: Protocol, recipient_public_key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/export/v1\0");
    h.update((protocol as i32).to_be_bytes());
    put(&mut h, recipient_public_key);
    h.finalize().into()
}

/// The parameters of a secret check (`Coordinator.CheckSecret`): the secret's context (the
/// `SecretContext` number) and the reference its binding names.
pub fn check_secret_params(context: i32, binding_ref: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/check-secret/v1\0");
    h.update(context.to_be_bytes());
    put(&mut h, binding_ref.as_bytes());
    h.finalize().into()
}

/// Parameters of one customer PIN step: every field of the request but the grant, so a
/// grant authorizes exactly one step with exactly these bytes.
pub fn customer_pin_params(r: &crate::pb::CustomerPinRequest) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/customer-pin/v1\0");
    h.update(r.step.to_be_bytes());
    put(&mut h, r.customer_id.as_bytes());
    put(&mut h, &r.blinded);
    put(&mut h, &r.nonce);
    put(&mut h, &r.verify_key);
    put(&mut h, &r.signature);
    put(&mut h, r.challenge_id.as_bytes());
    h.update(
        u32::try_from(r.permits.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for p in &r.permits {
        put(&mut h, p);
    }
    // The factor and signer were added after v1; a PIN step signed by the PIN (both 0)
    // hashes as before.
    if r.factor != 0 || r.signer != 0 {
        h.update(b"factor/v1\0");
        h.update(r.factor.to_be_bytes());
        h.update(r.signer.to_be_bytes());
    }
    if let Some(q) = &r.questions {
        h.update(b"questions/v1\0");
        put(&mut h, &q.nonce);
        put(&mut h, &q.verify_key);
        put(&mut h, &q.signature);
    }
    if let Some(e) = &r.email {
        h.update(b"email/v1\0");
        put(&mut h, &e.verify_key);
        put(&mut h, &e.wrapped);
        put(&mut h, &e.signature);
    }
    h.finalize().into()
}

/// Parameters of a refresh: the key's protocol.
pub fn refresh_params(protocol: Protocol) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"planbok/grant/refresh/v1\0");
    h.update((protocol as i32).to_be_bytes());
    h.finalize().into()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn grant(signer: &GrantSigner) -> SignedGrant {
        signer.issue("org", "key", Operation::Sign, [7; 32], NOW, 30_000)
    }

    #[test]
    fn round_trip_and_scope() {
        let s = GrantSigner::generate();
        let v = verify(Some(&grant(&s)), &s.public_key(), NOW + 1).unwrap();
        assert_eq!(v.key_id, "key");
        v.authorize(Operation::Sign, "key", &[7; 32]).unwrap();
        assert_eq!(
            v.authorize(Operation::Dkg, "key", &[7; 32]),
            Err(GrantError::ScopeMismatch("operation"))
        );
        assert_eq!(
            v.authorize(Operation::Sign, "other", &[7; 32]),
            Err(GrantError::ScopeMismatch("key"))
        );
        assert_eq!(
            v.authorize(Operation::Sign, "key", &[8; 32]),
            Err(GrantError::DigestMismatch)
        );
    }

    #[test]
    fn refusals() {
        let s = GrantSigner::generate();
        let other = GrantSigner::generate();
        let g = grant(&s);
        assert_eq!(verify(None, &s.public_key(), NOW), Err(GrantError::Missing));
        assert_eq!(
            verify(Some(&g), &other.public_key(), NOW),
            Err(GrantError::BadSignature)
        );
        assert!(matches!(
            verify(Some(&g), &s.public_key(), NOW + 30_001),
            Err(GrantError::Expired(_))
        ));
        let mut tampered = g.clone();
        tampered.body[5] ^= 1;
        assert_eq!(
            verify(Some(&tampered), &s.public_key(), NOW),
            Err(GrantError::BadSignature)
        );
        // A validly signed grant claiming a 10-minute lifetime.
        let mut body = GrantBody::decode(g.body.as_slice()).unwrap();
        body.expires_at_ms = NOW + 600_000;
        assert!(matches!(
            verify(Some(&s.sign_body(&body)), &s.public_key(), NOW),
            Err(GrantError::Expired(_))
        ));
        body.expires_at_ms = NOW + 20_000;
        body.issued_at_ms = NOW + 10_000;
        assert!(matches!(
            verify(Some(&s.sign_body(&body)), &s.public_key(), NOW),
            Err(GrantError::Expired(_))
        ));
    }

    #[test]
    fn params_are_injective_over_field_boundaries() {
        assert_ne!(
            sign_params(Protocol::Frost, "m/1", b"2"),
            sign_params(Protocol::Frost, "m/", b"12")
        );
        assert_ne!(
            sign_params(Protocol::Cggmp, "m", b"x"),
            sign_params(Protocol::Dkls23, "m", b"x")
        );
    }

    #[test]
    fn customer_steps_bind_the_factor_signer_and_questions() {
        use crate::pb::{CustomerFactor, CustomerPinRequest, CustomerQuestionsCommit};
        let base = CustomerPinRequest {
            step: 4,
            customer_id: "c".into(),
            nonce: vec![1; 32],
            ..Default::default()
        };
        let mut seen = vec![customer_pin_params(&base)];
        let mut f = base.clone();
        f.factor = CustomerFactor::Questions as i32;
        seen.push(customer_pin_params(&f));
        let mut g = base.clone();
        g.signer = CustomerFactor::Questions as i32;
        seen.push(customer_pin_params(&g));
        let mut q = base.clone();
        q.questions = Some(CustomerQuestionsCommit {
            nonce: vec![2; 32],
            ..Default::default()
        });
        seen.push(customer_pin_params(&q));
        let mut q2 = q.clone();
        if let Some(x) = q2.questions.as_mut() {
            x.verify_key = vec![3; 32];
        }
        seen.push(customer_pin_params(&q2));
        let mut e = base.clone();
        e.email = Some(crate::pb::CustomerEmailCommit {
            verify_key: vec![4; 32],
            ..Default::default()
        });
        seen.push(customer_pin_params(&e));
        let mut e2 = e.clone();
        if let Some(x) = e2.email.as_mut() {
            x.wrapped = vec![5; 61];
        }
        seen.push(customer_pin_params(&e2));
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn params_are_domain_separated_by_operation() {
        let pk = [9u8; 32];
        assert_ne!(
            export_params(Protocol::Frost, &pk),
            export_params(Protocol::Frost, &[8u8; 32])
        );
        assert_ne!(
            export_params(Protocol::Frost, &pk),
            export_params(Protocol::Dkls23, &pk)
        );
        assert_ne!(
            refresh_params(Protocol::Cggmp),
            dkg_params(Protocol::Cggmp, CustodyMode::Standard)
        );
        assert_ne!(
            dkg_params(Protocol::Dkls23, CustodyMode::Standard),
            dkg_params(Protocol::Dkls23, CustodyMode::Trustless)
        );
        assert_ne!(
            dkg_params(Protocol::Dkls23, CustodyMode::Trustless),
            dkg_params(Protocol::Frost, CustodyMode::Trustless)
        );
        assert_ne!(
            refresh_params(Protocol::Cggmp),
            refresh_params(Protocol::Dkls23)
        );
    }

    #[test]
    fn hex_round_trip_and_debug() {
        let s = GrantSigner::generate();
        let pk = s.public_key();
        assert_eq!(GrantVerifier::from_hex(&pk.to_hex()).unwrap(), pk);
        assert_eq!(format!("{s:?}"), "GrantSigner(<redacted>)");
    }
}
