//! Cross-check vectors: the PIN, security-answer and email-code math of this module with
//! every input fixed, so that the WebAssembly build can be checked against the native one
//! (`sdk-js/test/vectors/pin.json`: written by the native test below, checked against the
//! committed module by `sdk-js/test/gateway-vectors.test.ts`).
//!
//! Each step is the production code of `planbok-envelope` (`hash_pin`, `answers_input`,
//! the OPRF client's blind and finalization, `PinKeys`, `EmailCode`), with the one input
//! a real run draws at random, the OPRF blinding factor, given instead
//! (`Blinded::with_fixed_blind_for_vectors`). Nothing here touches a session's state: it
//! computes from its arguments only, and its outputs are the public halves a run sends
//! (the blinded element, the unlock key's public half, a signature) and the secret of a
//! wrap the caller made for the test.

use planbok_api::customers::RecoveryQuestion;
use planbok_envelope::email_code::EmailCode;
use planbok_envelope::pin::{self, Blinded, Factor, KdfParams, PinKeys};
use planbok_envelope::recovery;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::session::StepError;

/// One vector's inputs (bytes as hex).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorInput {
    /// `pin`, `questions` or `email`.
    pub factor: String,
    /// The organization and customer the keys are derived for.
    pub org_id: String,
    /// See `org_id`.
    pub customer_id: String,
    /// `pin`: the PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// `questions`: the questions (a catalog `id` or a custom `text`), in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questions: Option<Vec<VectorQuestion>>,
    /// `questions`: the answers as typed, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<String>>,
    /// `email`: the code as typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `pin`, `questions`: Argon2id's salt (16 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// `pin`, `questions`: Argon2id's parameters (refused under the floor, as always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KdfParams>,
    /// `pin`, `questions`: the OPRF blinding factor (32 bytes, little-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind: Option<String>,
    /// `pin`, `questions`: Node 2's evaluation of the blinded element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated: Option<String>,
    /// An attempt nonce for the unlock signature.
    pub nonce: String,
    /// A wrap of a customer secret under the factor's keys.
    pub wrapped: String,
}

/// A security question as the Gateway's challenge carries it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorQuestion {
    /// A catalog id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A custom question's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One vector's outputs (bytes as hex).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorOutput {
    /// `questions`: the exact bytes Argon2id hashes (`recovery::answers_input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed: Option<String>,
    /// `pin`, `questions`: `h = Argon2id(input, salt; params)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<String>,
    /// `pin`, `questions`: the blinded element sent to Node 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blinded: Option<String>,
    /// The unlock key's public half (what Node 2 stores).
    pub verify_key: String,
    /// The unlock signature over `nonce`.
    pub unlock_signature: String,
    /// The secret `wrapped` opens to under the derived wrap key.
    pub secret: String,
}

fn bad(what: &str) -> StepError {
    StepError {
        code: "invalid_input",
        message: format!("vector: {what}"),
    }
}

fn bytes(what: &str, s: &Option<String>) -> Result<Vec<u8>, StepError> {
    hex::decode(
        s.as_deref()
            .ok_or_else(|| bad(&format!("{what} is missing")))?,
    )
    .map_err(|_| bad(&format!("{what} is not hex")))
}

fn pin_err(e: pin::PinError) -> StepError {
    bad(&e.to_string())
}

/// Computes one vector.
pub fn compute(input: &VectorInput) -> Result<VectorOutput, StepError> {
    let (factor, hashed) = match input.factor.as_str() {
        "pin" => {
            let pin = input.pin.as_deref().ok_or_else(|| bad("pin is missing"))?;
            (Factor::Pin, Zeroizing::new(pin.as_bytes().to_vec()))
        }
        "questions" => {
            // As the Gateway reads its challenge's questions (the catalog checked).
            let shown: Vec<RecoveryQuestion> = input
                .questions
                .as_deref()
                .ok_or_else(|| bad("questions are missing"))?
                .iter()
                .map(|q| RecoveryQuestion {
                    id: q.id.clone(),
                    text: q.text.clone(),
                    hint: None,
                })
                .collect();
            let qs = planbok_sdk::gateway::recovery_questions(&shown)
                .map_err(|e| bad(&e.to_string()))?;
            let answers: Vec<&str> = input
                .answers
                .as_deref()
                .ok_or_else(|| bad("answers are missing"))?
                .iter()
                .map(String::as_str)
                .collect();
            let hashed = recovery::answers_input(&qs, &answers).map_err(|e| bad(&e.to_string()))?;
            (Factor::Questions, hashed)
        }
        "email" => {
            let code = input
                .code
                .as_deref()
                .ok_or_else(|| bad("code is missing"))?;
            let code = EmailCode::parse(code).map_err(|e| bad(&e.to_string()))?;
            let keys = code.keys(&input.org_id, &input.customer_id);
            return finish(input, keys, None, None, None);
        }
        _ => return Err(bad("factor is pin, questions or email")),
    };
    let params = input.params.ok_or_else(|| bad("params are missing"))?;
    let salt = bytes("salt", &input.salt)?;
    let blind: [u8; 32] = bytes("blind", &input.blind)?
        .try_into()
        .map_err(|_| bad("blind is not 32 bytes"))?;
    let h = pin::hash_pin(&hashed, &salt, &params).map_err(pin_err)?;
    let h_hex = hex::encode(&h[..]);
    let blinded = Blinded::with_fixed_blind_for_vectors(h, &blind).map_err(pin_err)?;
    let message = hex::encode(blinded.message);
    let keys = blinded
        .finish_for(
            factor,
            &bytes("evaluated", &input.evaluated)?,
            &input.org_id,
            &input.customer_id,
        )
        .map_err(pin_err)?;
    let hashed = (factor == Factor::Questions).then(|| hex::encode(&hashed[..]));
    finish(input, keys, hashed, Some(h_hex), Some(message))
}

fn finish(
    input: &VectorInput,
    keys: PinKeys,
    hashed: Option<String>,
    h: Option<String>,
    blinded: Option<String>,
) -> Result<VectorOutput, StepError> {
    let nonce = hex::decode(&input.nonce).map_err(|_| bad("nonce is not hex"))?;
    let wrapped = hex::decode(&input.wrapped).map_err(|_| bad("wrapped is not hex"))?;
    let secret = keys.unwrap(&wrapped).map_err(pin_err)?;
    Ok(VectorOutput {
        hashed,
        h,
        blinded,
        verify_key: hex::encode(keys.verify_key()),
        unlock_signature: hex::encode(keys.sign_unlock(&nonce)),
        secret: hex::encode(&secret[..]),
    })
}

/// [`compute`] over JSON text: a [`VectorInput`] in, a [`VectorOutput`] out.
pub fn compute_json(input: &str) -> Result<String, StepError> {
    let input: VectorInput =
        serde_json::from_str(input).map_err(|e| bad(&format!("not a vector input: {e}")))?;
    serde_json::to_string(&compute(&input)?).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
#[path = "vectors_tests.rs"]
mod tests;
