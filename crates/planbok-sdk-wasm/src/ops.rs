//! What the module computes, as plain Rust over `planbok-sdk`, `planbok-envelope` and
//! `planbok-chains` (the code the Rust SDK, the CLI and Node 1 run): the `wasm_bindgen`
//! wrapper in `lib.rs` only converts arguments and errors, so these are what the native
//! tests run.

use base64::Engine as _;
use planbok_api::customer_ops::GatewaySign;
use planbok_envelope::{Binding, Context};
use planbok_sdk::gateway::GatewayError;
use planbok_sdk::gateway::ops::sign_input;
use planbok_sdk::secret::OrgSecret;
use planbok_sdk::trust::{MemoryPins, OrgKeyTrust, PinStore as _, TrustedOrgKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::refusal::Refusal;

type Result<T> = std::result::Result<T, Refusal>;

/// Checks `GET /v2/config/organization/public-key`'s `data` (`served`, JSON) for `org_id`
/// as the Rust SDK's `OrgKeyTrust::check` does, because it is that code: Node 1's
/// signature against `node_key` (`ed25519:<hex>`; without one the key is only pinned, and
/// the result says so), then the pin (`pinned`: the fingerprint the caller pinned before,
/// if any). Nothing is encrypted to a key that fails either.
pub fn check_org_key(
    org_id: &str,
    served: &str,
    node_key: Option<&str>,
    pinned: Option<&str>,
) -> Result<TrustedOrgKey> {
    let served: planbok_api::model::PublicKey = serde_json::from_str(served).map_err(|_| {
        Refusal::new(
            "org_key_malformed",
            "the organization public key answer is not {publicKey, signature, nodeKeyId, createdAt}",
        )
    })?;
    let node = node_key.map(OrgKeyTrust::parse_node_key).transpose()?;
    let pins = MemoryPins::default();
    if let Some(p) = pinned {
        pins.pin(org_id, p)?;
    }
    Ok(OrgKeyTrust::new(node, pins).check(org_id, &served)?)
}

/// `dkg`, `sign` or `verify`.
pub fn context(s: &str) -> Result<Context> {
    Context::parse(s).ok_or_else(|| {
        Refusal::input(format!(
            "the context is dkg, sign or verify, not {:?}",
            short(s)
        ))
    })
}

/// A binding from its 64 hex characters.
pub fn binding(s: &str) -> Result<Binding> {
    Binding::from_hex(s.trim_start_matches("0x"))
        .ok_or_else(|| Refusal::input("a binding is 64 hex characters"))
}

/// A JavaScript time (`Date.now()`) as the envelope's unix milliseconds.
pub fn timestamp(ms: f64) -> Result<i64> {
    // Whole milliseconds between 1970 and the year 275760 (JavaScript's own range).
    if !ms.is_finite() || ms.fract() != 0.0 || !(0.0..=8.64e15).contains(&ms) {
        return Err(Refusal::input(
            "the timestamp is unix milliseconds (Date.now())",
        ));
    }
    Ok(ms as i64)
}

/// The organization secret from its 64 hex characters; the text is zeroized here.
pub fn secret_from_hex(hex: String) -> Result<OrgSecret> {
    let hex = Zeroizing::new(hex);
    Ok(OrgSecret::from_hex(&hex)?)
}

/// The ciphertext for one operation to a checked key: `binding` names the operation
/// (`None` only for what cannot be bound: a transfer, whose nonce and fees the server
/// chooses).
pub fn seal(
    secret: &OrgSecret,
    key: &TrustedOrgKey,
    context: Context,
    binding: Option<Binding>,
    timestamp_ms: i64,
) -> Result<String> {
    Ok(secret.seal_at(key, context, binding, timestamp_ms)?)
}

fn bytes_hex(what: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|_| Refusal::input(format!("{what} is not hex")))
}

/// The binding of a signature by the key `group_key` (hex: the wallet set's secp256k1
/// master, or an ed25519 wallet's own key) at `path` over `payload` (hex: the exact bytes
/// the nodes sign, [`sign_payload`]).
pub fn binding_sign(org_id: &str, group_key: &str, path: &str, payload: &str) -> Result<String> {
    Ok(Binding::sign(
        org_id,
        &bytes_hex("the group public key", group_key)?,
        path,
        &bytes_hex("the payload", payload)?,
    )
    .to_hex())
}

/// The binding of a creation request (wallet set: `dkg`; wallets: `sign`).
pub fn binding_creation(context: Context, org_id: &str, idempotency_key: &str) -> String {
    Binding::creation(context, org_id, idempotency_key).to_hex()
}

/// The binding of an export of the keys `group_keys` (hex) to `recipient` (the request's
/// `recipientPublicKey`: a 32-byte X25519 key, base64).
pub fn binding_export(org_id: &str, recipient: &str, group_keys: &[String]) -> Result<String> {
    let recipient = base64::engine::general_purpose::STANDARD
        .decode(recipient.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| Refusal::input("the recipient public key is 32 bytes, base64"))?;
    if group_keys.is_empty() {
        return Err(Refusal::input("an export names at least one key"));
    }
    let keys = group_keys
        .iter()
        .map(|k| bytes_hex("a group public key", k))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    Ok(Binding::export(org_id, &recipient, &refs).to_hex())
}

/// The binding of a refresh of the key `group_key` (hex).
pub fn binding_refresh(org_id: &str, group_key: &str) -> Result<String> {
    Ok(Binding::refresh(org_id, &bytes_hex("the group public key", group_key)?).to_hex())
}

/// The binding of the organization secret's registration.
pub fn binding_registration(org_id: &str) -> String {
    Binding::registration(org_id).to_hex()
}

/// A signing request as the organization routes take it, with the wallet's chain and
/// public key: what [`sign_payload`] computes the signed bytes from.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignRequest {
    /// The wallet's `blockchain`.
    pub blockchain: String,
    /// `message`, `typedData`, `transaction` or `delegateAction` (the route).
    pub kind: String,
    /// The wallet's `publicKey` (hex): transactions and delegate actions name their signer.
    #[serde(default)]
    pub public_key: Option<String>,
    /// `sign/message`.
    #[serde(default)]
    pub message: Option<String>,
    /// `sign/message`: `message` is `0x`-hex.
    #[serde(default)]
    pub encoded_by_hex: bool,
    /// `sign/typed-data`: JSON text.
    #[serde(default)]
    pub typed_data: Option<String>,
    /// `sign/transaction`.
    #[serde(default)]
    pub raw_transaction: Option<String>,
    /// `sign/transaction`: EVM fields as JSON text.
    #[serde(default)]
    pub transaction: Option<String>,
    /// `sign/delegate-action`: borsh, base64.
    #[serde(default)]
    pub unsigned_delegate_action: Option<String>,
}

/// What [`sign_payload`] answers.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SignPayload {
    /// The exact bytes the nodes sign (hex): the 32-byte digest, or an ed25519 message.
    pub payload: String,
    /// `0x`-hex of the payload, as the server answers it in `digest`.
    pub digest: String,
    /// `eip191`, `eip712`, `bip137`, `ed25519`, `eip155`, `eip2930`, `eip1559`, `solana`,
    /// `near`.
    pub standard: String,
}

/// What the nodes will sign for `request` (JSON [`SignRequest`]): the payload a signing
/// binding names, computed by the Gateway client's own `sign_input` (the same
/// `planbok-chains` calls as the server's signing routes).
pub fn sign_payload(request: &str) -> Result<SignPayload> {
    let r: SignRequest = serde_json::from_str(request)
        .map_err(|e| Refusal::input(format!("the signing request: {e}")))?;
    let what = match r.kind.as_str() {
        "message" => "message",
        "typedData" => "typed_data",
        "transaction" => "transaction",
        "delegateAction" => "delegate_action",
        other => {
            return Err(Refusal::input(format!(
                "the kind is message, typedData, transaction or delegateAction, not {:?}",
                short(other)
            )));
        }
    };
    // Transactions and delegate actions name their signer: its key is required.
    let public_key = match (what, r.public_key) {
        ("transaction" | "delegate_action", None) => {
            return Err(Refusal::input("the wallet's publicKey is needed"));
        }
        (_, pk) => pk.unwrap_or_default(),
    };
    let sign = GatewaySign {
        what: what.into(),
        wallet_id: String::new(),
        blockchain: r.blockchain,
        address: String::new(),
        public_key,
        key_id: String::new(),
        derivation_path: String::new(),
        message: r.message,
        encoded_by_hex: r.encoded_by_hex,
        typed_data: r.typed_data,
        raw_transaction: r.raw_transaction,
        transaction: r.transaction,
        unsigned_delegate_action: r.unsigned_delegate_action,
        memo: None,
    };
    let input = sign_input(&sign).map_err(|e| match e {
        GatewayError::Malformed(what) => Refusal::input(format!("the {what} is not hex")),
        other => Refusal::new("invalid_operation", other.to_string()),
    })?;
    Ok(SignPayload {
        payload: hex::encode(&input.payload),
        digest: input.digest_hex.clone(),
        standard: input.standard.to_owned(),
    })
}

/// The curve of a chain's keys: `secp256k1` (a wallet set's master signs, at the
/// wallet's path) or `ed25519` (each wallet's own key).
pub fn chain_curve(blockchain: &str) -> Result<&'static str> {
    let chain = planbok_chains::Chain::parse(blockchain)
        .map_err(|e| Refusal::new("invalid_operation", e.to_string()))?;
    Ok(match chain.curve() {
        planbok_chains::Curve::Secp256k1 => "secp256k1",
        planbok_chains::Curve::Ed25519 => "ed25519",
    })
}

/// At most 40 characters of an input quoted in an error.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}
