//! The organization-secret module of the TypeScript SDK (`sdk-js/`, `@planbok/sdk`),
//! compiled to WebAssembly: `planbok-sdk`'s key trust (Node 1's Ed25519 attestation of the
//! organization key, the pin), the bindings of `planbok-envelope` and the secret envelope
//! (RSA-OAEP-SHA256), exported with `wasm_bindgen`. The SDK's TypeScript does no
//! cryptography of its own: it fetches, and hands JSON and strings to these functions.
//! `scripts/build-sdk-wasm.sh` builds it into `sdk-js/wasm/`, committed and checked
//! current in CI.
//!
//! No IO and no clock: the time of an envelope comes from JavaScript (`Date.now()`),
//! randomness from `crypto.getRandomValues`. The organization secret lives in this
//! module's memory inside [`WasmOrgSecret`] (zeroized when freed); it crosses into
//! JavaScript only when asked for by [`WasmOrgSecret::to_hex`].

#![forbid(unsafe_code)]

use wasm_bindgen::prelude::*;

pub mod ops;
mod refusal;
pub use refusal::Refusal;

/// A refusal as a JavaScript `Error` whose `name` is the stable code.
fn js(e: Refusal) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name(e.code);
    err.into()
}

/// An organization key that passed every check (Node 1's signature, the pin): the only
/// key [`WasmOrgSecret::seal`] encrypts to. Made only by [`verify_org_key`].
#[wasm_bindgen(js_name = TrustedOrgKey)]
#[derive(Debug)]
pub struct WasmTrustedOrgKey(planbok_sdk::trust::TrustedOrgKey);

#[wasm_bindgen(js_class = TrustedOrgKey)]
impl WasmTrustedOrgKey {
    /// The organization.
    #[wasm_bindgen(getter, js_name = orgId)]
    pub fn org_id(&self) -> String {
        self.0.org_id.clone()
    }

    /// SHA-256 of the key's SPKI DER, hex: what is pinned.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.0.key.fingerprint_hex()
    }

    /// The key, SPKI PEM.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.0.key.pem.clone()
    }

    /// Node 1's signature over it verified (false: only pinned, no node key was given).
    #[wasm_bindgen(getter, js_name = verifiedByNode)]
    pub fn verified_by_node(&self) -> bool {
        self.0.verified_by_node
    }

    /// No pin was given: the caller should pin [`WasmTrustedOrgKey::fingerprint`] now.
    #[wasm_bindgen(getter, js_name = pinnedNow)]
    pub fn pinned_now(&self) -> bool {
        self.0.pinned_now
    }
}

/// Checks `GET /v2/config/organization/public-key`'s `data` (JSON text) for `orgId`
/// against Node 1's identity key (`ed25519:<hex>`; `undefined`: pinning only) and the
/// fingerprint pinned before (`undefined`: none yet). See [`ops::check_org_key`].
#[wasm_bindgen(js_name = verifyOrgKey)]
pub fn verify_org_key(
    #[wasm_bindgen(js_name = orgId)] org_id: &str,
    served: &str,
    #[wasm_bindgen(js_name = nodeKey)] node_key: Option<String>,
    pinned: Option<String>,
) -> Result<WasmTrustedOrgKey, JsValue> {
    ops::check_org_key(org_id, served, node_key.as_deref(), pinned.as_deref())
        .map(WasmTrustedOrgKey)
        .map_err(js)
}

/// The organization secret: 32 bytes held in this module's memory, zeroized when freed
/// (`free()`, or when JavaScript collects the object).
#[wasm_bindgen(js_name = OrgSecret)]
#[derive(Debug)]
pub struct WasmOrgSecret(planbok_sdk::secret::OrgSecret);

#[wasm_bindgen(js_class = OrgSecret)]
impl WasmOrgSecret {
    /// 32 bytes from `crypto.getRandomValues`.
    pub fn generate() -> WasmOrgSecret {
        WasmOrgSecret(planbok_sdk::secret::OrgSecret::generate())
    }

    /// From 64 hex characters. The module's copy of the text is zeroized.
    #[wasm_bindgen(js_name = fromHex)]
    pub fn from_hex(hex: String) -> Result<WasmOrgSecret, JsValue> {
        ops::secret_from_hex(hex).map(WasmOrgSecret).map_err(js)
    }

    /// As 64 lowercase hex characters, to store like a password. Copied straight into a
    /// JavaScript string; the module's copy is zeroized.
    #[wasm_bindgen(js_name = toHex)]
    pub fn to_hex(&self) -> js_sys::JsString {
        js_sys::JsString::from(self.0.to_hex().as_str())
    }

    /// `encryptedOrganizationSecret` for one operation: RSA-OAEP-SHA256 to `key` of
    /// `{"secret", "timestamp": timestampMs, "context", "binding"}`, base64. `binding` is
    /// the operation's (64 hex, from the `binding…` functions).
    pub fn seal(
        &self,
        key: &WasmTrustedOrgKey,
        context: &str,
        binding: &str,
        #[wasm_bindgen(js_name = timestampMs)] timestamp_ms: f64,
    ) -> Result<String, JsValue> {
        (|| {
            ops::seal(
                &self.0,
                &key.0,
                ops::context(context)?,
                Some(ops::binding(binding)?),
                ops::timestamp(timestamp_ms)?,
            )
        })()
        .map_err(js)
    }

    /// [`WasmOrgSecret::seal`] without a binding: only for what cannot be bound (a
    /// transfer, a contract execution, a cancel or an acceleration: the server chooses
    /// the transaction's nonce and fees). Refused by organizations that require bindings.
    #[wasm_bindgen(js_name = sealUnbound)]
    pub fn seal_unbound(
        &self,
        key: &WasmTrustedOrgKey,
        context: &str,
        #[wasm_bindgen(js_name = timestampMs)] timestamp_ms: f64,
    ) -> Result<String, JsValue> {
        (|| {
            ops::seal(
                &self.0,
                &key.0,
                ops::context(context)?,
                None,
                ops::timestamp(timestamp_ms)?,
            )
        })()
        .map_err(js)
    }
}

/// The binding of the secret's registration (`POST /v2/organization/secret`, `dkg`).
#[wasm_bindgen(js_name = bindingRegistration)]
pub fn binding_registration(#[wasm_bindgen(js_name = orgId)] org_id: &str) -> String {
    ops::binding_registration(org_id)
}

/// The binding of a creation request named by its idempotency key (wallet set: `dkg`;
/// wallets: `sign`).
#[wasm_bindgen(js_name = bindingCreation)]
pub fn binding_creation(
    context: &str,
    #[wasm_bindgen(js_name = orgId)] org_id: &str,
    #[wasm_bindgen(js_name = idempotencyKey)] idempotency_key: &str,
) -> Result<String, JsValue> {
    ops::context(context)
        .map(|c| ops::binding_creation(c, org_id, idempotency_key))
        .map_err(js)
}

/// The binding of a signature (`sign`): the key's group public key (hex), the wallet's
/// derivation path, the payload the nodes sign (hex, from [`sign_payload`]).
#[wasm_bindgen(js_name = bindingSign)]
pub fn binding_sign(
    #[wasm_bindgen(js_name = orgId)] org_id: &str,
    #[wasm_bindgen(js_name = groupKey)] group_key: &str,
    #[wasm_bindgen(js_name = derivationPath)] derivation_path: &str,
    payload: &str,
) -> Result<String, JsValue> {
    ops::binding_sign(org_id, group_key, derivation_path, payload).map_err(js)
}

/// The binding of an export (`verify`) of the keys `groupKeys` (hex) to the request's
/// `recipientPublicKey` (base64).
#[wasm_bindgen(js_name = bindingExport)]
pub fn binding_export(
    #[wasm_bindgen(js_name = orgId)] org_id: &str,
    #[wasm_bindgen(js_name = recipientPublicKey)] recipient_public_key: &str,
    #[wasm_bindgen(js_name = groupKeys)] group_keys: Vec<String>,
) -> Result<String, JsValue> {
    ops::binding_export(org_id, recipient_public_key, &group_keys).map_err(js)
}

/// The binding of a refresh of the key `groupKey` (hex), context `sign`.
#[wasm_bindgen(js_name = bindingRefresh)]
pub fn binding_refresh(
    #[wasm_bindgen(js_name = orgId)] org_id: &str,
    #[wasm_bindgen(js_name = groupKey)] group_key: &str,
) -> Result<String, JsValue> {
    ops::binding_refresh(org_id, group_key).map_err(js)
}

/// What the nodes sign for a signing request (JSON [`ops::SignRequest`]); answers JSON
/// `{payload, digest, standard}`.
#[wasm_bindgen(js_name = signPayload)]
pub fn sign_payload(request: &str) -> Result<String, JsValue> {
    ops::sign_payload(request)
        .and_then(|p| {
            serde_json::to_string(&p).map_err(|e| Refusal::new("invalid_input", e.to_string()))
        })
        .map_err(js)
}

/// `secp256k1` or `ed25519`: which key a wallet of `blockchain` signs with (the wallet
/// set's master, or the wallet's own).
#[wasm_bindgen(js_name = chainCurve)]
pub fn chain_curve(blockchain: &str) -> Result<String, JsValue> {
    ops::chain_curve(blockchain).map(str::to_owned).map_err(js)
}
