//! Customer PINs: the contract between the Gateway client (`planbok_sdk::gateway`) and
//! Node 2, which holds each customer's OPRF key and guess counter.
//!
//! ```text
//! h      = Argon2id(PIN, salt_c; KdfParams)              client (salt_c made at setup)
//! y      = OPRF(k_c, h)   RFC 9497, ristretto255-SHA512   client blinds, Node 2 evaluates
//! keys   = HKDF-SHA256(salt "planbok/pin/v1", h ‖ y,
//!                      info lp(purpose) ‖ lp(org) ‖ lp(customer))
//!          purpose "wrap"   → K_pin: AES-256-GCM key of W_pin = AEAD(K_pin, S_c)
//!          purpose "unlock" → an Ed25519 seed: the unlock key
//! ```
//!
//! Node 2 stores the unlock key's *public* half at enrollment and, for every verification,
//! counts the attempt durably before it evaluates, hands out a fresh attempt nonce, and
//! resets the counter only for a signature over [`unlock_message`] with that nonce. The
//! server relays everything and learns neither `h`, `y`, `K_pin` nor the unlock key: a
//! captured signature names a nonce Node 2 has already retired, and the public key lets no
//! one check a guess without `k_c`, which never leaves Node 2's keystore.
//!
//! Pure: no IO, no clock; randomness from the OS.

use std::fmt;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use voprf::{BlindedElement, EvaluationElement, OprfClient, OprfServer};
use zeroize::Zeroizing;

use crate::put_lp;

/// RFC 9497 ciphersuite `ristretto255-SHA512`, mode OPRF (0x00).
pub type Suite = voprf::Ristretto255;

/// A serialized ristretto255 element (blinded or evaluated).
pub const ELEMENT_LEN: usize = 32;
/// A nonce Node 2 hands out (attempt or enrollment).
pub const NONCE_LEN: usize = 32;
/// The client's Argon2id salt.
pub const SALT_LEN: usize = 16;
/// `W_pin`'s format version.
pub const WRAP_VERSION: u8 = 1;

/// A customer factor: the PIN, or the security questions that recover it. Each has its
/// own OPRF key, counter and unlock key at Node 2; the keys derived from one can never
/// stand in for the other's (every derivation, wrap and signed message names the factor
/// in its domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    /// The 6-digit PIN.
    Pin,
    /// The security questions' answers (recovery).
    Questions,
    /// The emailed recovery code (`crate::email_code`): high-entropy, so no OPRF; Node 2
    /// holds its unlock key's public half and `W_email` and counts attempts.
    Email,
}

impl Factor {
    fn hkdf_salt(self) -> &'static [u8] {
        match self {
            Factor::Pin => b"planbok/pin/v1",
            Factor::Questions => b"planbok/recovery/questions/v1",
            Factor::Email => b"planbok/recovery/email/v1",
        }
    }
    fn wrap_aad(self) -> &'static [u8] {
        match self {
            Factor::Pin => b"planbok/pin/wrap/v1",
            Factor::Questions => b"planbok/recovery/questions/wrap/v1",
            Factor::Email => b"planbok/recovery/email/wrap/v1",
        }
    }
    fn unlock_domain(self) -> &'static [u8] {
        match self {
            Factor::Pin => b"planbok/pin/unlock/v1",
            Factor::Questions => b"planbok/recovery/questions/unlock/v1",
            Factor::Email => b"planbok/recovery/email/unlock/v1",
        }
    }
    fn commit_domain(self) -> &'static [u8] {
        match self {
            Factor::Pin => b"planbok/pin/commit/v1",
            Factor::Questions => b"planbok/recovery/questions/commit/v1",
            Factor::Email => b"planbok/recovery/email/commit/v1",
        }
    }
}

/// Why a PIN step failed. None of these carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The Argon2id parameters are unknown or below the floor.
    #[error("PIN hashing parameters refused: {0}")]
    Params(&'static str),
    /// An element, nonce, key or wrap of the wrong size or encoding.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The wrap did not open: the PIN was wrong (or the wrap was tampered with).
    #[error("the PIN is wrong")]
    WrongPin,
    /// The OPRF library refused an input (an invalid point).
    #[error("OPRF: {0}")]
    Oprf(&'static str),
}

/// Argon2id parameters, recorded with every enrollment so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KdfParams {
    /// 1: Argon2id v0x13 with the fields below.
    pub version: u32,
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What new enrollments use: 64 MiB, 3 passes, 1 lane (RFC 9106's second
    /// recommendation with one lane, as a browser's WASM runs one thread).
    pub const V1: KdfParams = KdfParams {
        version: 1,
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// Refuses unknown versions and anything under 64 MiB / 3 passes, so a server cannot
    /// talk a client into a cheap hash.
    pub fn check(&self) -> Result<(), PinError> {
        if self.version != 1 {
            return Err(PinError::Params("unknown version"));
        }
        if self.m_kib < 64 * 1024 || self.m_kib > 1024 * 1024 {
            return Err(PinError::Params("memory must be 64 MiB to 1 GiB"));
        }
        if self.t < 3 || self.t > 64 {
            return Err(PinError::Params("passes must be 3 to 64"));
        }
        if self.p == 0 || self.p > 8 {
            return Err(PinError::Params("lanes must be 1 to 8"));
        }
        Ok(())
    }
}

/// `h = Argon2id(secret, salt)`, 32 bytes.
pub fn hash_pin(
    secret: &[u8],
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, PinError> {
    params.check()?;
    if salt.len() != SALT_LEN {
        return Err(PinError::Malformed("salt"));
    }
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| PinError::Params("argon2 refused the parameters"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(secret, salt, &mut out[..])
        .map_err(|_| PinError::Params("argon2 failed"))?;
    Ok(out)
}

/// A fresh random salt.
pub fn new_salt() -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut s);
    s
}

/// A fresh random nonce (Node 2's attempt and enrollment nonces).
pub fn new_nonce() -> [u8; NONCE_LEN] {
    let mut s = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut s);
    s
}

/// The client's side of one OPRF evaluation: the blinding state, consumed by
/// [`Blinded::finish`] so it is used once.
pub struct Blinded {
    state: OprfClient<Suite>,
    h: Zeroizing<[u8; 32]>,
    /// The blinded element to send to Node 2.
    pub message: [u8; ELEMENT_LEN],
}

impl fmt::Debug for Blinded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Blinded(<redacted>)")
    }
}

impl Blinded {
    /// Blinds `h` (the Argon2id output) with a fresh random blinding factor.
    pub fn new(h: Zeroizing<[u8; 32]>) -> Result<Blinded, PinError> {
        Self::blind(h, &mut OsRng)
    }

    /// Blinds `h` with the blinding factor `blind` (32 bytes, little-endian, taken modulo
    /// the group order) instead of a fresh random one: **only for the cross-implementation
    /// test vectors** (`planbok-gateway-web`'s `vectors`, which check that the WebAssembly
    /// build computes what the native one does). Never for a real PIN: a blinding factor
    /// that is not fresh and secret lets whoever evaluates unblind the element, which then
    /// tests PIN guesses offline. The production path is [`Blinded::new`]; both run the
    /// same code below, only the source of the factor differs.
    pub fn with_fixed_blind_for_vectors(
        h: Zeroizing<[u8; 32]>,
        blind: &[u8; 32],
    ) -> Result<Blinded, PinError> {
        let mut rng = FixedBlind {
            blind: *blind,
            calls: 0,
        };
        let b = Self::blind(h, &mut rng)?;
        // voprf draws again only when the factor was zero modulo the order (it was then
        // given 1, so that it stops): refused rather than silently replaced.
        if rng.calls != 1 {
            return Err(PinError::Malformed("blinding factor (zero)"));
        }
        Ok(b)
    }

    fn blind<R: rand_core::RngCore + rand_core::CryptoRng>(
        h: Zeroizing<[u8; 32]>,
        rng: &mut R,
    ) -> Result<Blinded, PinError> {
        let r = OprfClient::<Suite>::blind(&h[..], rng).map_err(|_| PinError::Oprf("blind"))?;
        let message: [u8; ELEMENT_LEN] = r.message.serialize()[..]
            .try_into()
            .map_err(|_| PinError::Oprf("blinded element size"))?;
        Ok(Blinded {
            state: r.state,
            h,
            message,
        })
    }

    /// Unblinds Node 2's evaluation and derives the customer's PIN keys.
    pub fn finish(
        self,
        evaluated: &[u8],
        org_id: &str,
        customer_id: &str,
    ) -> Result<PinKeys, PinError> {
        self.finish_for(Factor::Pin, evaluated, org_id, customer_id)
    }

    /// Unblinds Node 2's evaluation and derives the keys of `factor`.
    pub fn finish_for(
        self,
        factor: Factor,
        evaluated: &[u8],
        org_id: &str,
        customer_id: &str,
    ) -> Result<PinKeys, PinError> {
        let eval = EvaluationElement::<Suite>::deserialize(evaluated)
            .map_err(|_| PinError::Malformed("evaluated element"))?;
        let y = self
            .state
            .finalize(&self.h[..], &eval)
            .map_err(|_| PinError::Oprf("finalize"))?;
        let mut ikm = Zeroizing::new(Vec::with_capacity(32 + y.len()));
        ikm.extend_from_slice(&self.h[..]);
        ikm.extend_from_slice(&y);
        Ok(PinKeys::derive_for(factor, &ikm, org_id, customer_id))
    }
}

/// The "randomness" of [`Blinded::with_fixed_blind_for_vectors`]: voprf draws a blinding
/// factor as 64 bytes reduced modulo the group order (`Scalar::random`), so `blind ‖ 0³²`
/// gives exactly `blind` mod ℓ. Marked `CryptoRng` only because voprf's signature asks for
/// one; it is private to that function and yields nothing random.
struct FixedBlind {
    blind: [u8; 32],
    calls: u32,
}

impl rand_core::RngCore for FixedBlind {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.calls = self.calls.saturating_add(1);
        dest.fill(0);
        if self.calls == 1 {
            let n = dest.len().min(32);
            dest[..n].copy_from_slice(&self.blind[..n]);
        } else if let Some(first) = dest.first_mut() {
            // A second draw means the first factor was zero: give voprf a nonzero one so
            // that its loop ends; the caller refuses the result.
            *first = 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedBlind {}

/// The keys one correct PIN yields: the wrap key and the unlock key. `Debug` is redacted.
pub struct PinKeys {
    factor: Factor,
    wrap: Zeroizing<[u8; 32]>,
    unlock: SigningKey,
    org_id: String,
    customer_id: String,
}

impl fmt::Debug for PinKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinKeys(<redacted>)")
    }
}

fn info(purpose: &[u8], org_id: &str, customer_id: &str) -> Vec<u8> {
    let mut v = Vec::new();
    put_lp(&mut v, purpose);
    put_lp(&mut v, org_id.as_bytes());
    put_lp(&mut v, customer_id.as_bytes());
    v
}

fn wrap_aad(factor: Factor, org_id: &str, customer_id: &str) -> Vec<u8> {
    let mut v = Vec::new();
    put_lp(&mut v, factor.wrap_aad());
    put_lp(&mut v, org_id.as_bytes());
    put_lp(&mut v, customer_id.as_bytes());
    v
}

impl PinKeys {
    /// From `h ‖ y` (exposed for the drills, which derive keys from a wrong `y`).
    pub fn derive(ikm: &[u8], org_id: &str, customer_id: &str) -> PinKeys {
        Self::derive_for(Factor::Pin, ikm, org_id, customer_id)
    }

    /// The keys of `factor` from `h ‖ y`.
    pub fn derive_for(factor: Factor, ikm: &[u8], org_id: &str, customer_id: &str) -> PinKeys {
        let hk = hkdf::Hkdf::<sha2_for_hkdf::Sha256>::new(Some(factor.hkdf_salt()), ikm);
        let mut wrap = Zeroizing::new([0u8; 32]);
        let mut seed = Zeroizing::new([0u8; 32]);
        // 32-byte outputs are far below HKDF-SHA256's limit: neither expand can fail.
        let _ = hk.expand(&info(b"wrap", org_id, customer_id), &mut wrap[..]);
        let _ = hk.expand(&info(b"unlock", org_id, customer_id), &mut seed[..]);
        PinKeys {
            factor,
            wrap,
            unlock: SigningKey::from_bytes(&seed),
            org_id: org_id.to_owned(),
            customer_id: customer_id.to_owned(),
        }
    }

    /// `W_pin = version ‖ nonce(12) ‖ AES-256-GCM(K_pin, S_c)`, bound to the customer.
    pub fn wrap(&self, secret: &[u8; 32]) -> Result<Vec<u8>, PinError> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let aad = wrap_aad(self.factor, &self.org_id, &self.customer_id);
        let ct = Aes256Gcm::new((&*self.wrap).into())
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| PinError::Malformed("wrap"))?;
        let mut out = vec![WRAP_VERSION];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens `W_pin`; [`PinError::WrongPin`] when the keys came from another PIN.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, PinError> {
        if wrapped.len() != 1 + 12 + 32 + 16 || wrapped[0] != WRAP_VERSION {
            return Err(PinError::Malformed("wrapped secret"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[1..13]);
        let aad = wrap_aad(self.factor, &self.org_id, &self.customer_id);
        let pt = Zeroizing::new(
            Aes256Gcm::new((&*self.wrap).into())
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &wrapped[13..],
                        aad: &aad,
                    },
                )
                .map_err(|_| PinError::WrongPin)?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&pt);
        Ok(out)
    }

    /// The unlock key's public half, which Node 2 keeps.
    pub fn verify_key(&self) -> [u8; 32] {
        self.unlock.verifying_key().to_bytes()
    }

    /// Proves this PIN to Node 2 for one attempt.
    pub fn sign_unlock(&self, nonce: &[u8]) -> [u8; 64] {
        self.unlock
            .sign(&unlock_message_for(
                self.factor,
                &self.org_id,
                &self.customer_id,
                nonce,
            ))
            .to_bytes()
    }

    /// Proves this PIN to Node 2 for one attempt and authorizes exactly `ops` of one
    /// operation challenge (`customer_op::permit_message`).
    pub fn sign_permit(&self, nonce: &[u8], challenge_id: &str, ops: &[[u8; 32]]) -> [u8; 64] {
        self.unlock
            .sign(&crate::customer_op::permit_message(
                &self.org_id,
                &self.customer_id,
                nonce,
                challenge_id,
                ops,
            ))
            .to_bytes()
    }

    /// Authorizes replacing this PIN's enrollment by `new_verify_key` (PIN update).
    pub fn sign_commit(&self, nonce: &[u8], new_verify_key: &[u8; 32]) -> [u8; 64] {
        self.sign_commit_of(self.factor, nonce, new_verify_key)
    }

    /// Authorizes enrolling `new_verify_key` for `target` (the PIN signs the questions'
    /// enrollment; the questions sign a reset PIN's).
    pub fn sign_commit_of(
        &self,
        target: Factor,
        nonce: &[u8],
        new_verify_key: &[u8; 32],
    ) -> [u8; 64] {
        self.unlock
            .sign(&commit_message_for(
                target,
                &self.org_id,
                &self.customer_id,
                nonce,
                new_verify_key,
            ))
            .to_bytes()
    }
}

/// What an unlock signature covers: one attempt nonce of one customer.
pub fn unlock_message(org_id: &str, customer_id: &str, nonce: &[u8]) -> Vec<u8> {
    unlock_message_for(Factor::Pin, org_id, customer_id, nonce)
}

/// What an unlock signature of `factor` covers.
pub fn unlock_message_for(
    factor: Factor,
    org_id: &str,
    customer_id: &str,
    nonce: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    put_lp(&mut v, factor.unlock_domain());
    put_lp(&mut v, org_id.as_bytes());
    put_lp(&mut v, customer_id.as_bytes());
    put_lp(&mut v, nonce);
    v
}

/// What a re-enrollment signature (by the old unlock key) covers.
pub fn commit_message(org_id: &str, customer_id: &str, nonce: &[u8], new_key: &[u8]) -> Vec<u8> {
    commit_message_for(Factor::Pin, org_id, customer_id, nonce, new_key)
}

/// What a signature authorizing a new enrollment of `target` covers.
pub fn commit_message_for(
    target: Factor,
    org_id: &str,
    customer_id: &str,
    nonce: &[u8],
    new_key: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    put_lp(&mut v, target.commit_domain());
    put_lp(&mut v, org_id.as_bytes());
    put_lp(&mut v, customer_id.as_bytes());
    put_lp(&mut v, nonce);
    put_lp(&mut v, new_key);
    v
}

/// Checks an Ed25519 signature by an enrolled unlock key (strict verification).
pub fn verify_signature(verify_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(vk) = <[u8; 32]>::try_from(verify_key) else {
        return false;
    };
    let (Ok(vk), Ok(sig)) = (
        VerifyingKey::from_bytes(&vk),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    vk.verify_strict(message, &sig).is_ok() && vk.verify(message, &sig).is_ok()
}

/// Node 2's OPRF key for one customer. `Debug` is redacted; it is stored only sealed by
/// Node 2's keystore.
pub struct OprfKey(OprfServer<Suite>);

impl fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfKey(<redacted>)")
    }
}

impl OprfKey {
    /// A fresh random key.
    pub fn generate() -> Result<OprfKey, PinError> {
        OprfServer::<Suite>::new(&mut OsRng)
            .map(OprfKey)
            .map_err(|_| PinError::Oprf("key generation"))
    }

    /// From its sealable bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<OprfKey, PinError> {
        OprfServer::<Suite>::deserialize(bytes)
            .map(OprfKey)
            .map_err(|_| PinError::Malformed("OPRF key"))
    }

    /// The bytes to seal.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.serialize().to_vec())
    }

    /// Evaluates a client's blinded element.
    pub fn evaluate(&self, blinded: &[u8]) -> Result<[u8; ELEMENT_LEN], PinError> {
        let b = BlindedElement::<Suite>::deserialize(blinded)
            .map_err(|_| PinError::Malformed("blinded element"))?;
        self.0.blind_evaluate(&b).serialize()[..]
            .try_into()
            .map_err(|_| PinError::Oprf("evaluated element size"))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests;
