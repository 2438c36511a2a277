//! Customers, challenges and the Gateway's own JSON routes (`/gateway/api/…`).
//!
//! Binary fields of the Gateway routes are base64url without padding.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header that carries a challenge's one-time token on the Gateway's routes. The
/// token reaches the Gateway page in its URL's fragment, which browsers never send.
pub const CHALLENGE_TOKEN_HEADER: &str = "PLANBOK-X-CHALLENGE-TOKEN";

/// `POST /v2/customers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomer {
    /// UUID v4; a repeat returns the first response.
    pub idempotency_key: Option<String>,
    /// Display name.
    pub name: String,
    /// The organization's own reference.
    pub ref_id: Option<String>,
    /// Contact address.
    pub email: Option<String>,
}

/// A customer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The organization's reference.
    pub ref_id: Option<String>,
    /// Contact address.
    pub email: Option<String>,
    /// `unset`, `set` or `locked`.
    pub pin_status: String,
    /// Whether a recovery method is set up (security questions; not built yet).
    pub has_recovery: bool,
    /// The recovery methods set up.
    pub recovery_methods: Vec<String>,
    /// ISO 8601.
    pub create_date: String,
    /// ISO 8601.
    pub update_date: String,
}

/// The body of a challenge-creating route (`initialize`, `update-pin`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateChallenge {
    /// UUID v4; a repeat returns the first response (the same challenge, without its
    /// token: a token is shown once).
    pub idempotency_key: Option<String>,
    /// Where the Gateway sends the user when done (http or https).
    pub redirect_url: Option<String>,
}

/// A challenge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Id.
    pub challenge_id: String,
    /// The same id (the platform's clients read either).
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// `initialize`, `update_pin`, `wallet_create`, `sign_message`, `sign_typed_data`,
    /// `sign_transaction`, `export_private_keys`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `complete`, `failed` or `expired`.
    pub status: String,
    /// The Gateway URL (with the one-time token in its fragment) on creation; otherwise
    /// the integrator's return URL.
    pub redirect_url: Option<String>,
    /// ISO 8601.
    pub expires_at: String,
    /// Once complete: the operation's result.
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
    /// Once failed: why (a stable error code).
    pub error_code: Option<String>,
}

/// `GET /gateway/api/challenge`: what the Gateway needs to complete the challenge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayChallenge {
    /// The challenge.
    pub challenge_id: String,
    /// `initialize`, `update_pin`, `wallet_create`, `sign_message`, `sign_typed_data`,
    /// `sign_transaction`, `export_private_keys`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The organization (the PIN keys are bound to it).
    pub organization_id: String,
    /// The customer.
    pub customer_id: String,
    /// ISO 8601.
    pub expires_at: String,
    /// The enrolled PIN's public parts, when one is set.
    pub pin: Option<GatewayPin>,
    /// Where to send the user afterwards.
    pub return_url: Option<String>,
    /// Operation challenges: what the user authorizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<crate::customer_ops::GatewayOperation>,
}

/// An enrolled PIN's public parts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPin {
    /// The Argon2id salt.
    pub salt: String,
    /// The Argon2id parameters (`{version, mKib, t, p}`).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `W_pin`.
    pub wrapped: String,
}

/// `POST /gateway/api/pin/evaluate` and `…/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEvaluate {
    /// The blinded element (32 bytes).
    pub blinded: String,
    /// `enroll` only: the rekey nonce an unlock returned (PIN update).
    pub rekey_nonce: Option<String>,
}

/// The answer to `evaluate` and `enroll`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEvaluated {
    /// Node 2's evaluation (32 bytes).
    pub evaluated: String,
    /// The attempt nonce (evaluate) or enrollment nonce (enroll).
    pub nonce: String,
    /// `evaluate`: attempts left after this one.
    pub attempts_left: u32,
}

/// `POST /gateway/api/pin/unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayUnlock {
    /// The attempt nonce.
    pub nonce: String,
    /// The unlock key's signature over it.
    pub signature: String,
}

/// The answer to `unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayUnlocked {
    /// A one-time permission to enroll a new PIN (10 minutes).
    pub rekey_nonce: String,
}

/// `POST /gateway/api/pin/commit`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCommit {
    /// The enrollment nonce.
    pub nonce: String,
    /// The new unlock public key (Ed25519).
    pub verify_key: String,
    /// PIN update: the old unlock key's signature over the change.
    pub signature: Option<String>,
    /// The new Argon2id salt.
    pub salt: String,
    /// The Argon2id parameters used.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The new `W_pin`.
    pub wrapped: String,
}
