//! Customers, challenges and the Gateway's own JSON routes (`/gateway/api/…`).
//!
//! Binary fields of the Gateway routes are base64url without padding.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header that carries a challenge's one-time token on the Gateway's routes. The
/// token reaches the Gateway page in its URL's fragment, which browsers never send.
pub const CHALLENGE_TOKEN_HEADER: &str = "PLANBOK-X-CHALLENGE-TOKEN";

/// The fixed security questions: (id, text). Ids are stable (the Gateway hashes each
/// answer with its question's id); texts may be reworded. A customer may also write a
/// question of their own (`text` without `id`).
pub const QUESTION_CATALOG: &[(&str, &str)] = &[
    ("first_pet", "What was the name of your first pet?"),
    ("birth_city", "In which city were you born?"),
    ("first_school", "What was the name of your first school?"),
    (
        "childhood_street",
        "On which street did you live as a child?",
    ),
    (
        "first_employer",
        "What was the name of your first employer?",
    ),
    (
        "childhood_friend",
        "What was the first name of your childhood best friend?",
    ),
    (
        "first_car",
        "What was the make and model of your first car?",
    ),
    (
        "favorite_teacher",
        "What was the last name of your favorite teacher?",
    ),
    (
        "parents_meeting_city",
        "In which city did your parents meet?",
    ),
    ("first_concert", "What was the first concert you went to?"),
];

/// The text of a catalog question.
pub fn catalog_text(id: &str) -> Option<&'static str> {
    QUESTION_CATALOG
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, t)| *t)
}

/// How many security questions a customer answers.
pub const QUESTION_COUNT: usize = 3;

/// The recovery methods a customer can have (`recoveryMethods`).
pub const RECOVERY_SECURITY_QUESTIONS: &str = "securityQuestions";
/// Recovery by an emailed code (an organization's opt-in).
pub const RECOVERY_EMAIL: &str = "email";

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
    /// Whether a recovery method is set up (required before wallets and signing).
    pub has_recovery: bool,
    /// The recovery methods set up: `securityQuestions`, `email`.
    pub recovery_methods: Vec<String>,
    /// ISO 8601.
    pub create_date: String,
    /// ISO 8601.
    pub update_date: String,
}

/// The body of a challenge-creating route (`initialize`, `update-pin`, `recovery`,
/// `reset-pin`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateChallenge {
    /// UUID v4; a repeat returns the first response (the same challenge, without its
    /// token: a token is shown once).
    pub idempotency_key: Option<String>,
    /// Where the Gateway sends the user when done (http or https).
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/reset-pin`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPin {
    /// UUID v4; a repeat returns the first response (the same challenge, without its
    /// token; no second email).
    pub idempotency_key: Option<String>,
    /// Where the Gateway sends the user when done (http or https).
    pub redirect_url: Option<String>,
    /// `securityQuestions` (the default) or `email`: the server emails the customer's
    /// recovery code, which the user types into the Gateway.
    #[serde(default)]
    pub method: Option<String>,
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
    /// `initialize`, `update_pin`, `recovery`, `reset_pin`, `wallet_create`,
    /// `sign_message`, `sign_typed_data`, `sign_transaction`, `export_private_keys`.
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
    #[schema(value_type = Option<Object>)]
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
    /// The enrolled security questions' public parts, when set.
    #[serde(default)]
    pub recovery: Option<GatewayRecovery>,
    /// Where to send the user afterwards.
    pub return_url: Option<String>,
    /// Operation challenges: what the user authorizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<crate::customer_ops::GatewayOperation>,
    /// `reset_pin`: how the user recovers, `securityQuestions` or `email` (the code was
    /// emailed; `/gateway/api/email/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_method: Option<String>,
    /// The PIN commit of this challenge must carry a new email recovery code (`email`):
    /// the organization offers recovery by email and the customer has an address (then
    /// every PIN commit carries a fresh code), or this is a reset by email.
    #[serde(default)]
    pub email_recovery: bool,
    /// How to show the organization: its name, colours and logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<GatewayOrganization>,
}

/// The organization as the Gateway shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOrganization {
    /// Its name.
    pub name: String,
    /// Its colours and logo.
    #[serde(flatten)]
    pub branding: crate::model::Branding,
}

/// A security question: a catalog `id` (its `text` filled in by the server), or a custom
/// `text` without an id; an optional `hint`, which must not contain the answer (checked by
/// the Gateway: the server never sees an answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryQuestion {
    /// A `QUESTION_CATALOG` id.
    pub id: Option<String>,
    /// The question's text (a custom question: 5 to 200 characters).
    pub text: Option<String>,
    /// Shown with the question at recovery (at most 200 characters).
    pub hint: Option<String>,
}

/// The enrolled security questions' public parts: nothing here tests an answer without
/// Node 2, which counts every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRecovery {
    /// The Argon2id salt.
    pub salt: String,
    /// The Argon2id parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `W_rec`: the customer secret wrapped under the answers' key.
    pub wrapped: String,
    /// The questions, in the order their answers are hashed.
    pub questions: Vec<RecoveryQuestion>,
}

/// The enrollment of security questions: inside `initialize`'s PIN commit, or
/// `POST /gateway/api/recovery/commit` (`recovery` challenges).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRecoveryCommit {
    /// The enrollment nonce (from `/gateway/api/recovery/enroll`).
    pub nonce: String,
    /// The answers' unlock public key (Ed25519).
    pub verify_key: String,
    /// The PIN's unlock key's signature over the enrollment (the PIN authorizes it).
    pub signature: String,
    /// The Argon2id salt.
    pub salt: String,
    /// The Argon2id parameters used.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `W_rec`.
    pub wrapped: String,
    /// The questions, in order.
    pub questions: Vec<RecoveryQuestion>,
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
    /// PIN update: the old unlock key's signature over the change; PIN reset: the
    /// security questions' unlock key's.
    pub signature: Option<String>,
    /// Whose key made `signature`: `pin` (default) or `securityQuestions` (reset).
    #[serde(default)]
    pub signer: Option<String>,
    /// The new Argon2id salt.
    pub salt: String,
    /// The Argon2id parameters used.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The new `W_pin`.
    pub wrapped: String,
    /// `initialize`: the security questions' enrollment (mandatory).
    #[serde(default)]
    pub recovery: Option<GatewayRecoveryCommit>,
    /// A new email recovery code's enrollment: required exactly when the challenge says
    /// `emailRecovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<GatewayEmailCommit>,
}

/// A new email recovery code, made by the Gateway and signed by the new PIN. The server
/// keeps `code` sealed to email it at a reset; Node 2 keeps `wrapped` and `verifyKey`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEmailCommit {
    /// The code `R` (Crockford base32, 32 characters, dashes allowed).
    pub code: String,
    /// The code's unlock public key (Ed25519), derived from `R`.
    pub verify_key: String,
    /// `W_email`: the customer secret wrapped under the code's key (61 bytes).
    pub wrapped: String,
    /// The new PIN's signature over the enrollment.
    pub signature: String,
}

impl std::fmt::Debug for GatewayEmailCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayEmailCommit")
            .field("code", &"<redacted>")
            .field("verify_key", &self.verify_key)
            .finish_non_exhaustive()
    }
}

/// The answer to `POST /gateway/api/email/evaluate`: one counted attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEmailAttempt {
    /// The attempt nonce, to sign with the code's unlock key.
    pub nonce: String,
    /// Attempts left after this one.
    pub attempts_left: u32,
}

/// The answer to `POST /gateway/api/email/unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEmailUnlocked {
    /// A one-time permission to enroll a new PIN (10 minutes).
    pub rekey_nonce: String,
    /// `W_email`, from Node 2: the customer secret wrapped under the code's key.
    pub wrapped: String,
}
