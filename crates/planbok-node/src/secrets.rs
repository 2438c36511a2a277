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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use planbok_keystore::wrap;
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::CustodyMode;
use planbok_store::OrgSecretRecord;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{NodeError, NodeResult};
use crate::state::{NodeState, now_ms};

/// How old a secret ciphertext may be.
pub const MAX_AGE_MS: i64 = 5 * 60_000;
/// How far in the future its timestamp may be (clock skew).
pub const MAX_FUTURE_MS: i64 = 30_000;
/// RSA modulus size of organization keys. The platform publishes RSA-2048, but OAEP-SHA256
/// under a 2048-bit key carries at most 190 bytes, and the envelope with the optional
/// `binding` is about 200; 3072 bits (318 bytes, and 128-bit security) fits it. Clients
/// take whatever key `GET /v2/config/organization/public-key` returns.
pub const RSA_BITS: usize = 3072;
/// Largest base64 ciphertext accepted (a 4096-bit key gives 684 characters).
const MAX_CIPHERTEXT_B64: usize = 2048;

/// The operation a secret is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Registration and wallet-set creation.
    Dkg,
    /// Wallet creation and signing.
    Sign,
    /// Export.
    Verify,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Dkg => "dkg",
            Context::Sign => "sign",
            Context::Verify => "verify",
        }
    }
}

/// What a `binding` must equal for one operation: SHA-256 of its canonical description.
pub fn binding_for_sign(wallet_id: &str, payload: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(wallet_id.as_bytes())
        .chain_update([0u8])
        .chain_update(payload)
        .finalize()
        .into()
}

/// The binding of an export: SHA-256(wallet id ‖ 0x00 ‖ recipient public key), the shape
/// of [`binding_for_sign`] with the recipient key as the payload (the contexts differ, so
/// one can never stand for the other).
pub fn binding_for_export(wallet_id: &str, recipient_public_key: &[u8]) -> [u8; 32] {
    binding_for_sign(wallet_id, recipient_public_key)
}

/// The binding of a refresh: SHA-256(wallet id ‖ 0x00 ‖ key id).
pub fn binding_for_refresh(wallet_id: &str, key_id: &str) -> [u8; 32] {
    binding_for_sign(wallet_id, key_id.as_bytes())
}

/// The binding of a request named by a reference (wallet-set and wallet creation, a
/// checked secret): SHA-256 of the reference, the REST request's idempotency key.
pub fn binding_for_reference(reference: &str) -> [u8; 32] {
    Sha256::digest(reference.as_bytes()).into()
}

#[derive(Deserialize)]
struct Plaintext {
    secret: String,
    timestamp: i64,
    context: String,
    #[serde(default)]
    binding: Option<String>,
}

fn rsa_key_id(org_id: &str) -> String {
    format!("org-rsa:{org_id}")
}

fn secret_key_id(org_id: &str) -> String {
    format!("org-secret:{org_id}")
}

/// The organization's RSA public key (SPKI PEM), created on first request.
pub(crate) async fn org_public_key(state: &NodeState, org_id: &str) -> NodeResult<String> {
    if org_id.is_empty() || org_id.len() > 128 {
        return Err(NodeError::invalid("org id must be 1 to 128 characters"));
    }
    if let Some(rec) = state.store.org_key(org_id).await? {
        return Ok(rec.public_key_pem);
    }
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
        Ok(()) => Ok(pem),
        // Two first requests raced: the other one's key stands.
        Err(planbok_store::StoreError::Conflict(_)) => state
            .store
            .org_key(org_id)
            .await?
            .map(|r| r.public_key_pem)
            .ok_or_else(|| NodeError::internal("org key vanished")),
        Err(e) => Err(e.into()),
    }
}

/// Decrypts and checks a ciphertext, without comparing the secret to a registered one.
async fn open_envelope(
    state: &NodeState,
    org_id: &str,
    ciphertext_b64: &str,
    context: Context,
    expected_binding: Option<[u8; 32]>,
) -> NodeResult<Zeroizing<[u8; 32]>> {
    let malformed = |m: &str| NodeError::new(ErrorCode::SecretMalformed, m.to_string());
    if ciphertext_b64.len() > MAX_CIPHERTEXT_B64 {
        return Err(malformed("the encrypted secret is too long"));
    }
    let ciphertext = B64
        .decode(ciphertext_b64.trim())
        .map_err(|_| malformed("the encrypted secret is not base64"))?;
    let rec = state.store.org_key(org_id).await?.ok_or_else(|| {
        NodeError::new(
            ErrorCode::OrgKeyMissing,
            "the organization has no public key yet",
        )
    })?;
    let id = rsa_key_id(org_id);
    let sealed = rec.sealed_private_key;
    let der = state.ks(move |k| k.open_blob(&id, &sealed)).await?;
    let ct = ciphertext.clone();
    let plain = tokio::task::spawn_blocking(move || -> Result<Zeroizing<Vec<u8>>, ()> {
        let key = RsaPrivateKey::from_pkcs8_der(&der).map_err(|_| ())?;
        key.decrypt(Oaep::new::<rsa::sha2::Sha256>(), &ct)
            .map(Zeroizing::new)
            .map_err(|_| ())
    })
    .await
    .map_err(|e| NodeError::internal(format!("rsa task: {e}")))?
    .map_err(|_| malformed("the encrypted secret does not decrypt with the organization's key"))?;
    let p: Plaintext = serde_json::from_slice(&plain)
        .map_err(|_| malformed("the decrypted secret is not the expected JSON"))?;
    let p = ZeroizingPlaintext(p);
    if p.0.context != context.as_str() {
        return Err(NodeError::new(
            ErrorCode::SecretWrongContext,
            format!(
                "the secret was encrypted for context {:?}; this operation needs {:?}",
                p.0.context,
                context.as_str()
            ),
        ));
    }
    let now = now_ms();
    if p.0.timestamp < now - MAX_AGE_MS {
        return Err(NodeError::new(
            ErrorCode::SecretExpired,
            "the encrypted secret is older than 5 minutes",
        ));
    }
    if p.0.timestamp > now + MAX_FUTURE_MS {
        return Err(NodeError::new(
            ErrorCode::SecretExpired,
            "the encrypted secret's timestamp is in the future",
        ));
    }
    let digest: [u8; 32] = Sha256::digest(&ciphertext).into();
    if !state
        .store
        .record_ciphertext(&digest, p.0.timestamp + MAX_AGE_MS + MAX_FUTURE_MS)
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
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(p.0.secret.trim_start_matches("0x"), &mut *secret)
        .map_err(|_| malformed("the secret is not 64 hex digits"))?;
    if let Some(b) = &p.0.binding {
        let mut got = [0u8; 32];
        hex::decode_to_slice(b, &mut got)
            .map_err(|_| malformed("the binding is not 64 hex digits"))?;
        if expected_binding != Some(got) {
            return Err(NodeError::new(
                ErrorCode::SecretBindingMismatch,
                "the secret's binding names another operation",
            ));
        }
    }
    Ok(secret)
}

/// Zeroizes the decrypted secret's hex when dropped.
struct ZeroizingPlaintext(Plaintext);

impl Drop for ZeroizingPlaintext {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.secret.zeroize();
    }
}

/// Registers the organization secret (once); the mode is permanent.
pub(crate) async fn register(
    state: &NodeState,
    org_id: &str,
    mode: CustodyMode,
    ciphertext_b64: &str,
) -> NodeResult<CustodyMode> {
    let mode_name = match mode {
        CustodyMode::Standard => "standard",
        CustodyMode::Trustless => "trustless",
        CustodyMode::Unspecified => return Err(NodeError::invalid("custody mode is required")),
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
    let secret = open_envelope(state, org_id, ciphertext_b64, Context::Dkg, None).await?;
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
    expected_binding: [u8; 32],
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
    expected_binding: [u8; 32],
) -> NodeResult<Zeroizing<[u8; 32]>> {
    if !ciphertext_b64.is_empty() {
        let secret = open_envelope(
            state,
            org_id,
            ciphertext_b64,
            context,
            Some(expected_binding),
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
