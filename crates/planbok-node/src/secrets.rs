//! Node 1: organization RSA keys and encrypted organization secrets.
//!
//! A client encrypts `{"secret": <64 hex>, "timestamp": <ms>, "context": "dkg"|"sign"|"verify",
//! "binding"?: <64 hex>}` with RSA-OAEP-SHA256 to its organization's public key and sends the
//! base64 ciphertext. Only Node 1 holds the private key (sealed by its keystore). Node 1
//! refuses, each with its own code: a ciphertext that does not decrypt or parse
//! (`secret_malformed`), the wrong context (`secret_wrong_context`), older than 5 minutes
//! or from the future (`secret_expired`), a ciphertext seen before (`secret_reused`; the
//! replay set is persisted and pruned after the window), a secret other than the
//! registered one (`secret_invalid`), a `binding` naming another operation
//! (`secret_binding_mismatch`).
//!
//! The secret itself only ever keys Node 1's share wrapping ([`planbok_keystore::wrap`]):
//! Standard organizations register it once and Node 1 keeps it sealed; Trustless
//! organizations bring it with every operation and Node 1 keeps only a verifier.

//! Node 1: organization RSA keys and encrypted organization secrets.
//!
//! The envelope itself (plaintext, RSA-OAEP, bindings, the org-key attestation) is
//! `planbok-envelope`, shared with the clients. Node 1 refuses, each with its own code: a
//! ciphertext that does not decrypt or parse (`secret_malformed`), a ciphertext seen before
//! (`secret_reused`; recorded as soon as it decrypts, so a probe with the wrong context or
//! an old timestamp burns it too; the replay set is persisted and pruned after the window),
//! the wrong context (`secret_wrong_context`), older than 5 minutes or from the future
//! (`secret_expired`), a `binding` naming another operation (`secret_binding_mismatch`), no
//! binding where one is required — every `verify` (export) ciphertext, and every ciphertext
//! of an organization that switched `requireBinding` on (`secret_binding_required`) — and a
//! secret other than the registered one (`secret_invalid`).
//!
//! Decryption is blinded ([`planbok_envelope::envelope::open`]); the parsed private key is
//! cached per organization (bounded, dropped when the node is sealed), so a request costs
//! no keystore round trip.
//!
//! The secret itself only ever keys Node 1's share wrapping ([`planbok_keystore::wrap`]):
//! Standard organizations register it once and Node 1 keeps it sealed; Trustless
//! organizations bring it with every operation and Node 1 keeps only a verifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use planbok_envelope::org_key;
pub(crate) use planbok_envelope::{Binding, Context};
use planbok_keystore::wrap;
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::CustodyMode;
use planbok_store::OrgSecretRecord;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

use crate::clock::now_ms;
use crate::error::{NodeError, NodeResult};
use crate::state::NodeState;

/// How old a secret ciphertext may be.
pub const MAX_AGE_MS: i64 = 5 * 60_000;
/// How far in the future its timestamp may be (clock skew).
pub const MAX_FUTURE_MS: i64 = 30_000;
/// RSA modulus size of organization keys. The platform publishes RSA-2048, but OAEP-SHA256
/// under a 2048-bit key carries at most 190 bytes, and the envelope with a `binding` is
/// about 200; 3072 bits (318 bytes, and 128-bit security) fits it, and clients refuse
/// anything smaller ([`org_key::MIN_RSA_BITS`]).
pub const RSA_BITS: usize = org_key::MIN_RSA_BITS;
/// Most organizations whose parsed private key is kept in memory.
const KEY_CACHE_MAX: usize = 4096;

/// An organization's public key as Node 1 publishes it: the PEM, and its own signature
/// over it with the node identity key.
#[derive(Debug, Clone)]
pub(crate) struct AttestedKey {
    pub(crate) pem: String,
    pub(crate) created_at_ms: i64,
    pub(crate) signature: [u8; 64],
    pub(crate) node_key_id: String,
}

/// Parsed organization private keys, by organization. `RsaPrivateKey` zeroizes on drop.
#[derive(Default)]
pub(crate) struct OrgKeyCache(Mutex<HashMap<String, Arc<RsaPrivateKey>>>);

impl std::fmt::Debug for OrgKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrgKeyCache(<redacted>)")
    }
}

impl OrgKeyCache {
    fn get(&self, org_id: &str) -> Option<Arc<RsaPrivateKey>> {
        self.0.lock().ok()?.get(org_id).cloned()
    }

    fn put(&self, org_id: &str, key: Arc<RsaPrivateKey>) {
        if let Ok(mut m) = self.0.lock() {
            // Bounded: past the cap, start over (keys are re-read on demand).
            if m.len() >= KEY_CACHE_MAX {
                m.clear();
            }
            m.insert(org_id.to_owned(), key);
        }
    }

    /// Drops every cached key (the node is being sealed).
    pub(crate) fn clear(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

/// Secret checks each organization may make per second, and the burst above it. A check
/// costs an RSA decryption and answers whether a ciphertext holds the secret: even with a
/// grant per check, a compromised server should not get an unmetered oracle.
const CHECKS_PER_SECOND: f64 = 5.0;
const CHECK_BURST: f64 = 20.0;
/// Organizations tracked before idle buckets are pruned.
const CHECK_TRACKED_MAX: usize = 10_000;

/// Per-organization token buckets for `CheckSecret`.
#[derive(Debug, Default)]
pub(crate) struct CheckBudget(Mutex<HashMap<String, (f64, i64)>>);

impl CheckBudget {
    /// Takes one token for `org_id` at `now_ms`, or refuses.
    pub(crate) fn take(&self, org_id: &str, now_ms: i64) -> NodeResult<()> {
        let refill = |(tokens, at): (f64, i64)| {
            let elapsed = (now_ms - at).max(0) as f64 / 1000.0;
            (tokens + elapsed * CHECKS_PER_SECOND).min(CHECK_BURST)
        };
        let mut m = self
            .0
            .lock()
            .map_err(|_| NodeError::internal("check budget poisoned"))?;
        if m.len() >= CHECK_TRACKED_MAX && !m.contains_key(org_id) {
            // A full bucket is the same as no entry: drop those.
            m.retain(|_, b| refill(*b) < CHECK_BURST);
        }
        let tokens = m.get(org_id).map_or(CHECK_BURST, |b| refill(*b));
        if tokens < 1.0 {
            m.insert(org_id.to_owned(), (tokens, now_ms));
            tracing::warn!(org = org_id, "secret checks rate-limited");
            return Err(NodeError::new(
                ErrorCode::RateLimited,
                "too many secret checks for this organization; retry later",
            ));
        }
        m.insert(org_id.to_owned(), (tokens - 1.0, now_ms));
        Ok(())
    }
}

fn rsa_key_id(org_id: &str) -> String {
    format!("org-rsa:{org_id}")
}

fn secret_key_id(org_id: &str) -> String {
    format!("org-secret:{org_id}")
}

/// The organization's RSA public key (SPKI PEM), created on first request, with Node 1's
/// attestation (see [`planbok_envelope::org_key`]).
pub(crate) async fn org_public_key(state: &NodeState, org_id: &str) -> NodeResult<AttestedKey> {
    if org_id.is_empty() || org_id.len() > 128 {
        return Err(NodeError::invalid("org id must be 1 to 128 characters"));
    }
    let rec = match state.store.org_key(org_id).await? {
        Some(rec) => rec,
        None => create_org_key(state, org_id).await?,
    };
    let identity = state.identity().await?;
    let public = org_key::OrgPublicKey::from_pem(&rec.public_key_pem)
        .map_err(|e| NodeError::internal(format!("stored org key: {e}")))?;
    let signature = org_key::attest(&identity, org_id, public.spki_der(), rec.created_at_ms);
    Ok(AttestedKey {
        pem: rec.public_key_pem,
        created_at_ms: rec.created_at_ms,
        signature,
        node_key_id: planbok_envelope::NodeIdentity::of(&identity).key_id(),
    })
}

async fn create_org_key(
    state: &NodeState,
    org_id: &str,
) -> NodeResult<planbok_store::OrgKeyRecord> {
    let (pem, der) = tokio::task::spawn_blocking(|| -> Result<_, String> {
        let key =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| e.to_string())?;
        let pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
        Ok((pem, Zeroizing::new(der.as_bytes().to_vec())))
    })
    .await
    .map_err(|e| NodeError::internal(format!("rsa task: {e}")))?
    .map_err(|e| NodeError::internal(format!("rsa keygen: {e}")))?;
    let id = rsa_key_id(org_id);
    let sealed = state.ks(move |k| k.seal_blob(&id, &der)).await?;
    match state.store.put_org_key(org_id, &pem, sealed).await {
        // Two first requests raced: the other one's key stands.
        Ok(()) | Err(planbok_store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .store
        .org_key(org_id)
        .await?
        .ok_or_else(|| NodeError::internal("org key vanished"))
}

/// The organization's parsed private key: from the cache, or unsealed from the store.
async fn private_key(state: &NodeState, org_id: &str) -> NodeResult<Arc<RsaPrivateKey>> {
    if let Some(k) = state.org_keys.get(org_id) {
        return Ok(k);
    }
    let rec = state.store.org_key(org_id).await?.ok_or_else(|| {
        NodeError::new(
            ErrorCode::OrgKeyMissing,
            "the organization has no public key yet",
        )
    })?;
    let id = rsa_key_id(org_id);
    let sealed = rec.sealed_private_key;
    let der = state.ks(move |k| k.open_blob(&id, &sealed)).await?;
    let key = tokio::task::spawn_blocking(move || RsaPrivateKey::from_pkcs8_der(&der))
        .await
        .map_err(|e| NodeError::internal(format!("rsa task: {e}")))?
        .map_err(|e| NodeError::internal(format!("stored org key: {e}")))?;
    let key = Arc::new(key);
    state.org_keys.put(org_id, key.clone());
    Ok(key)
}

/// Decrypts and checks a ciphertext, without comparing the secret to a registered one.
/// `binding_required`: a ciphertext without a binding is refused.
pub(crate) async fn open_envelope(
    state: &NodeState,
    org_id: &str,
    ciphertext_b64: &str,
    context: Context,
    expected: Binding,
    binding_required: bool,
) -> NodeResult<Zeroizing<[u8; 32]>> {
    let malformed = |m: String| NodeError::new(ErrorCode::SecretMalformed, m);
    if ciphertext_b64.len() > planbok_envelope::envelope::MAX_CIPHERTEXT_B64 {
        // `open` refuses it too; checked here first so an oversized one costs no key read.
        return Err(malformed(
            planbok_envelope::EnvelopeError::TooLong.to_string(),
        ));
    }
    let key = private_key(state, org_id).await?;
    let ct = ciphertext_b64.to_owned();
    let opened = tokio::task::spawn_blocking(move || planbok_envelope::envelope::open(&key, &ct))
        .await
        .map_err(|e| NodeError::internal(format!("rsa task: {e}")))?
        .map_err(|e| malformed(e.to_string()))?;
    // Burn the ciphertext before any other check answers: a probe (another context, an
    // old timestamp, another operation) must cost the prober the ciphertext.
    let now = now_ms();
    let keep_until = opened.timestamp_ms.max(now) + MAX_AGE_MS + MAX_FUTURE_MS;
    if !state
        .store
        .record_ciphertext(&opened.digest, keep_until)
        .await?
    {
        tracing::warn!(
            alert = true,
            org = org_id,
            "replayed secret ciphertext refused"
        );
        return Err(NodeError::new(
            ErrorCode::SecretReused,
            "this encrypted secret was used before; encrypt a fresh one per request",
        ));
    }
    if opened.context != context.as_str() {
        return Err(NodeError::new(
            ErrorCode::SecretWrongContext,
            format!(
                "the secret was encrypted for context {:?}; this operation needs {:?}",
                opened.context,
                context.as_str()
            ),
        ));
    }
    if opened.timestamp_ms < now - MAX_AGE_MS {
        return Err(NodeError::new(
            ErrorCode::SecretExpired,
            "the encrypted secret is older than 5 minutes",
        ));
    }
    if opened.timestamp_ms > now + MAX_FUTURE_MS {
        return Err(NodeError::new(
            ErrorCode::SecretExpired,
            "the encrypted secret's timestamp is in the future",
        ));
    }
    match opened.binding {
        Some(b) if b == expected => {}
        Some(_) => {
            tracing::warn!(
                alert = true,
                org = org_id,
                context = context.as_str(),
                "a secret bound to another operation was presented"
            );
            return Err(NodeError::new(
                ErrorCode::SecretBindingMismatch,
                "the secret's binding names another operation",
            ));
        }
        None if binding_required || context == Context::Verify => {
            return Err(NodeError::new(
                ErrorCode::SecretBindingRequired,
                if context == Context::Verify {
                    "an export secret must carry a binding (planbok/binding/v1)"
                } else {
                    "this organization requires a binding on every encrypted secret"
                },
            ));
        }
        None => {}
    }
    Ok(opened.secret.clone())
}

/// Registers the organization secret (once); the mode is permanent.
pub(crate) async fn register(
    state: &NodeState,
    org_id: &str,
    mode: CustodyMode,
    ciphertext_b64: &str,
) -> NodeResult<CustodyMode> {
    let mode_name = match planbok_types::CustodyMode::try_from(mode) {
        Ok(planbok_types::CustodyMode::Customer) => {
            return Err(NodeError::invalid(
                "customer custody is a key's mode, never an organization's",
            ));
        }
        Ok(m) => m.as_str(),
        Err(_) => return Err(NodeError::invalid("custody mode is required")),
    };
    if state.store.org_secret(org_id).await?.is_some() {
        return Err(NodeError::new(
            ErrorCode::SecretAlreadyRegistered,
            "the organization secret is registered already; the custody mode is permanent",
        ));
    }
    if ciphertext_b64.is_empty() {
        return Err(NodeError::new(
            ErrorCode::SecretRequired,
            "an encrypted secret is required",
        ));
    }
    // A registration's binding is optional: nothing can require one before it exists.
    let secret = open_envelope(
        state,
        org_id,
        ciphertext_b64,
        Context::Dkg,
        Binding::registration(org_id),
        false,
    )
    .await?;
    let verifier = wrap::secret_verifier(&secret, org_id);
    let sealed = match mode {
        CustodyMode::Standard => {
            let id = secret_key_id(org_id);
            let s = secret.clone();
            Some(state.ks(move |k| k.seal_blob(&id, &*s)).await?)
        }
        _ => None,
    };
    match state
        .store
        .put_org_secret(org_id, mode_name, verifier, sealed)
        .await
    {
        Ok(()) => Ok(mode),
        Err(planbok_store::StoreError::Conflict(_)) => Err(NodeError::new(
            ErrorCode::SecretAlreadyRegistered,
            "the organization secret is registered already",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Refuses unless the organization registered its secret as Trustless: the only custody
/// mode that may export (a Standard organization's secret lives on Node 1, so an export
/// there would be a server-side decision alone).
pub(crate) async fn require_trustless(state: &NodeState, org_id: &str) -> NodeResult<()> {
    match state.store.org_secret(org_id).await? {
        Some(rec) if rec.mode == "trustless" => Ok(()),
        Some(_) => Err(NodeError::new(
            ErrorCode::ExportNotAllowed,
            "only trustless organizations can export keys",
        )),
        None => Err(NodeError::new(
            ErrorCode::SecretNotRegistered,
            "the organization secret is not registered",
        )),
    }
}

/// The organization secret for one operation: from the request's ciphertext (required for
/// Trustless organizations, checked against the registered secret), or, for Standard
/// organizations that send none, Node 1's sealed copy.
pub(crate) async fn secret_for(
    state: &NodeState,
    org_id: &str,
    ciphertext_b64: &str,
    context: Context,
    expected_binding: Binding,
) -> NodeResult<Zeroizing<[u8; 32]>> {
    let rec = registration(state, org_id).await?;
    secret_from(
        state,
        org_id,
        rec,
        ciphertext_b64,
        context,
        expected_binding,
    )
    .await
}

/// The organization's secret registration (read ahead of [`secret_from`] where a request
/// can overlap it with other reads).
pub(crate) async fn registration(state: &NodeState, org_id: &str) -> NodeResult<OrgSecretRecord> {
    state.store.org_secret(org_id).await?.ok_or_else(|| {
        NodeError::new(
            ErrorCode::SecretNotRegistered,
            "the organization secret is not registered",
        )
    })
}

/// [`secret_for`] with the registration already read.
pub(crate) async fn secret_from(
    state: &NodeState,
    org_id: &str,
    rec: OrgSecretRecord,
    ciphertext_b64: &str,
    context: Context,
    expected_binding: Binding,
) -> NodeResult<Zeroizing<[u8; 32]>> {
    if !ciphertext_b64.is_empty() {
        let secret = open_envelope(
            state,
            org_id,
            ciphertext_b64,
            context,
            expected_binding,
            rec.require_binding,
        )
        .await?;
        if !wrap::verify_secret(&secret, org_id, &rec.verifier) {
            return Err(NodeError::new(
                ErrorCode::SecretInvalid,
                "the secret is not the organization's registered secret",
            ));
        }
        return Ok(secret);
    }
    match (rec.mode.as_str(), rec.sealed_secret) {
        ("standard", Some(sealed)) => {
            let id = secret_key_id(org_id);
            let bytes = state.ks(move |k| k.open_blob(&id, &sealed)).await?;
            let secret: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| NodeError::internal("sealed org secret has the wrong length"))?;
            Ok(Zeroizing::new(secret))
        }
        _ => Err(NodeError::new(
            ErrorCode::SecretRequired,
            "this organization is trustless: every operation needs a fresh encrypted secret",
        )),
    }
}

/// Makes the organization require a binding on every ciphertext, for good (only ever
/// switched on: a server that could switch it off would reopen what it closes).
pub(crate) async fn require_binding(state: &NodeState, org_id: &str) -> NodeResult<()> {
    match state.store.set_require_binding(org_id).await {
        Ok(()) => {
            tracing::info!(org = org_id, "the organization now requires bindings");
            Ok(())
        }
        Err(planbok_store::StoreError::NotFound(_)) => Err(NodeError::new(
            ErrorCode::SecretNotRegistered,
            "the organization secret is not registered",
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn the_check_budget_allows_a_burst_then_the_rate_per_organization() {
        let b = CheckBudget::default();
        for _ in 0..CHECK_BURST as usize {
            b.take("a", 0).unwrap();
        }
        let refused = b.take("a", 0).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        // Another organization has its own bucket.
        b.take("b", 0).unwrap();
        // 200 ms later one token is back (5 per second), not two.
        b.take("a", 200).unwrap();
        assert!(b.take("a", 200).is_err());
    }
}
