//! The Gateway's client side of recovery by security questions: answers normalized and
//! hashed here (`planbok_envelope::recovery`), then the same Argon2id + OPRF path as the
//! PIN under the factor `Questions` — Node 2 evaluates with a key and counter of their
//! own. No answer leaves this module; `W_rec` wraps the same customer secret as `W_pin`.

use base64::Engine as _;
use planbok_api::customers::{
    GatewayChallenge, GatewayEvaluate, GatewayEvaluated, GatewayRecovery, GatewayRecoveryCommit,
    GatewayUnlock, RecoveryQuestion, catalog_text,
};
use planbok_envelope::pin::{self, Blinded, Factor, KdfParams, PinKeys};
use planbok_envelope::recovery::{self, Question};
use zeroize::Zeroizing;

use super::{B64, GatewayError, decode};

/// The questions as the envelope hashes them, checked against the catalog.
pub fn questions(qs: &[RecoveryQuestion]) -> Result<Vec<Question>, GatewayError> {
    qs.iter()
        .map(|q| match (&q.id, &q.text) {
            (Some(id), _) => {
                if catalog_text(id).is_none() {
                    return Err(GatewayError::UnknownQuestion(id.clone()));
                }
                Ok(Question {
                    id: Some(id.clone()),
                    custom: None,
                    hint: q.hint.clone(),
                })
            }
            (None, text) => Ok(Question {
                id: None,
                custom: text.clone(),
                hint: q.hint.clone(),
            }),
        })
        .collect()
}

/// Answers hashed and blinded, waiting for Node 2's evaluation. `Debug` is redacted.
#[derive(Debug)]
pub struct PreparedAnswers {
    blinded: Blinded,
    salt: Vec<u8>,
    params: KdfParams,
    questions: Vec<RecoveryQuestion>,
}

impl PreparedAnswers {
    /// New questions and answers (setup): the questions and hints checked (no hint may
    /// contain an answer), a fresh salt, the current parameters. The request is for
    /// `/gateway/api/recovery/enroll`.
    pub fn new_answers(
        qs: &[RecoveryQuestion],
        answers: &[&str],
    ) -> Result<(PreparedAnswers, GatewayEvaluate), GatewayError> {
        let parsed = questions(qs)?;
        recovery::check_hints(&parsed, answers)?;
        let stored: Vec<RecoveryQuestion> = qs
            .iter()
            .map(|q| RecoveryQuestion {
                id: q.id.clone(),
                text: if q.id.is_some() { None } else { q.text.clone() },
                hint: q.hint.clone(),
            })
            .collect();
        Self::prepare(
            &parsed,
            stored,
            answers,
            pin::new_salt().to_vec(),
            KdfParams::V1,
        )
    }

    /// The enrolled questions' answers (reset PIN), for `/gateway/api/recovery/evaluate`,
    /// with the recorded salt and parameters (refused under the floor).
    pub fn existing(
        enrolled: &GatewayRecovery,
        answers: &[&str],
    ) -> Result<(PreparedAnswers, GatewayEvaluate), GatewayError> {
        let params: KdfParams = serde_json::from_value(enrolled.params.clone())
            .map_err(|_| GatewayError::Malformed("recovery parameters"))?;
        let parsed = questions(&enrolled.questions)?;
        let salt = decode("salt", &enrolled.salt)?;
        Self::prepare(&parsed, enrolled.questions.clone(), answers, salt, params)
    }

    fn prepare(
        parsed: &[Question],
        stored: Vec<RecoveryQuestion>,
        answers: &[&str],
        salt: Vec<u8>,
        params: KdfParams,
    ) -> Result<(PreparedAnswers, GatewayEvaluate), GatewayError> {
        let input = recovery::answers_input(parsed, answers)?;
        let h = pin::hash_pin(&input, &salt, &params)?;
        let blinded = Blinded::new(h)?;
        let req = GatewayEvaluate {
            blinded: B64.encode(blinded.message),
            rekey_nonce: None,
        };
        Ok((
            PreparedAnswers {
                blinded,
                salt,
                params,
                questions: stored,
            },
            req,
        ))
    }

    fn keys(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
    ) -> Result<(PinKeys, Vec<u8>, KdfParams, Vec<RecoveryQuestion>), GatewayError> {
        let keys = self.blinded.finish_for(
            Factor::Questions,
            &decode("evaluation", &evaluated.evaluated)?,
            &challenge.organization_id,
            &challenge.customer_id,
        )?;
        Ok((keys, self.salt, self.params, self.questions))
    }

    /// Recovers the customer secret from `W_rec`. [`pin::PinError::WrongPin`] if an
    /// answer was wrong (Node 2 has counted the attempt).
    pub fn open(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
    ) -> Result<OpenedRecovery, GatewayError> {
        let enrolled = challenge
            .recovery
            .as_ref()
            .ok_or(GatewayError::Malformed("challenge without recovery"))?;
        let wrapped = decode("wrap", &enrolled.wrapped)?;
        let (keys, ..) = self.keys(challenge, evaluated)?;
        let secret = keys.unwrap(&wrapped)?;
        Ok(OpenedRecovery {
            keys,
            secret,
            attempt_nonce: evaluated.nonce.clone(),
        })
    }

    /// The enrollment of these answers wrapping `secret`, signed by the PIN's keys
    /// (`pin`): Node 2 accepts new questions only with the PIN.
    pub fn enroll(
        self,
        challenge: &GatewayChallenge,
        evaluated: &GatewayEvaluated,
        secret: &[u8; 32],
        pin: &PinKeys,
    ) -> Result<GatewayRecoveryCommit, GatewayError> {
        let nonce = decode("enrollment nonce", &evaluated.nonce)?;
        let (keys, salt, params, questions) = self.keys(challenge, evaluated)?;
        let verify_key = keys.verify_key();
        Ok(GatewayRecoveryCommit {
            nonce: evaluated.nonce.clone(),
            verify_key: B64.encode(verify_key),
            signature: B64.encode(pin.sign_commit_of(Factor::Questions, &nonce, &verify_key)),
            salt: B64.encode(&salt),
            params: serde_json::to_value(params)
                .map_err(|_| GatewayError::Malformed("parameters"))?,
            wrapped: B64.encode(keys.wrap(secret)?),
            questions,
        })
    }
}

/// Proven answers: their keys and the customer secret they unwrapped. `Debug` is redacted.
pub struct OpenedRecovery {
    keys: PinKeys,
    secret: Zeroizing<[u8; 32]>,
    attempt_nonce: String,
}

impl std::fmt::Debug for OpenedRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedRecovery(<redacted>)")
    }
}

impl OpenedRecovery {
    /// The unlock request for the attempt that opened it: Node 2 resets the questions'
    /// counter and answers with the PIN's rekey nonce.
    pub fn unlock(&self) -> Result<GatewayUnlock, GatewayError> {
        let nonce = decode("attempt nonce", &self.attempt_nonce)?;
        Ok(GatewayUnlock {
            nonce: self.attempt_nonce.clone(),
            signature: B64.encode(self.keys.sign_unlock(&nonce)),
        })
    }

    /// The recovered customer secret `S_c`.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The questions' keys (they sign the reset PIN's enrollment).
    pub(crate) fn keys(&self) -> &PinKeys {
        &self.keys
    }
}
