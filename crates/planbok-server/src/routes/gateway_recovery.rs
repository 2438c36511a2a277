//! The Gateway's recovery routes (`/gateway/api/recovery/…`): the security questions,
//! relayed to Node 2 as a second factor (its own OPRF key and counter). As for the PIN, the
//! server sees blinded elements, nonces, public keys, signatures, the questions and hints,
//! and `W_rec`; never an answer, nor anything that tests one without Node 2.
//!
//! - `enroll` + `commit` (`recovery` challenges; `initialize` commits through
//!   `/gateway/api/pin/commit`): Node 2 accepts the enrollment only signed by the PIN.
//! - `evaluate` + `unlock` (`reset_pin` challenges): one counted attempt; the unlock
//!   returns the PIN's rekey nonce, and the new PIN is committed through
//!   `/gateway/api/pin/commit` signed by the questions' unlock key.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ErrorCode;
use planbok_api::customers::{
    GatewayEvaluate, GatewayEvaluated, GatewayRecovery, GatewayRecoveryCommit, GatewayUnlock,
    GatewayUnlocked, QUESTION_COUNT, RecoveryQuestion, catalog_text,
};
use planbok_proto::pb::{CustomerFactor, CustomerPinRequest, CustomerPinStep};
use planbok_store::server::{ChallengeRecord, Commit, RecoveryEnrollment};

use super::customers::{Kind, challenge_view};
use super::gateway::{
    B64, Gate, WRAP_LEN, bytes, check_params, draft, kind_of, pin_step, request, wrong_step,
};
use super::ok;
use crate::App;
use crate::audit;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;

/// Longest custom question or hint, in characters.
const MAX_TEXT: usize = 200;

/// The questions as stored: catalog ids keep only the id (the text is the catalog's),
/// custom ones their text; hints as given. Refuses anything but `QUESTION_COUNT` distinct,
/// well-formed questions.
fn check_questions(questions: &[RecoveryQuestion]) -> ApiResult<String> {
    if questions.len() != QUESTION_COUNT {
        return Err(ApiError::invalid(format!(
            "questions: exactly {QUESTION_COUNT}"
        )));
    }
    let mut stored = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let n = i + 1;
        let key = match (q.id.as_deref(), q.text.as_deref()) {
            (Some(id), _) => {
                if catalog_text(id).is_none() {
                    return Err(ApiError::invalid(format!(
                        "questions[{n}].id is not a catalog question"
                    )));
                }
                stored.push(serde_json::json!({ "id": id, "hint": q.hint }));
                id.to_owned()
            }
            (None, Some(text)) => {
                let t = text.trim();
                let len = t.chars().count();
                if !(5..=MAX_TEXT).contains(&len) {
                    return Err(ApiError::invalid(format!(
                        "questions[{n}].text: a custom question has 5 to {MAX_TEXT} characters"
                    )));
                }
                stored.push(serde_json::json!({ "text": t, "hint": q.hint }));
                format!("custom:{}", t.to_lowercase())
            }
            (None, None) => {
                return Err(ApiError::invalid(format!(
                    "questions[{n}]: an id or a text"
                )));
            }
        };
        if q.hint
            .as_deref()
            .is_some_and(|h| h.chars().count() > MAX_TEXT)
        {
            return Err(ApiError::invalid(format!(
                "questions[{n}].hint: at most {MAX_TEXT} characters"
            )));
        }
        if seen.contains(&key) {
            return Err(ApiError::invalid(format!("questions[{n}] is asked twice")));
        }
        seen.push(key);
    }
    Ok(serde_json::Value::Array(stored).to_string())
}

/// The Gateway's view of an enrolled recovery.
pub(crate) fn view(r: &RecoveryEnrollment) -> ApiResult<GatewayRecovery> {
    let stored: Vec<serde_json::Value> =
        serde_json::from_str(&r.questions).map_err(ApiError::internal)?;
    let questions = stored
        .iter()
        .map(|q| {
            let id = q["id"].as_str().map(str::to_owned);
            let text = match &id {
                Some(id) => catalog_text(id).map(str::to_owned),
                None => q["text"].as_str().map(str::to_owned),
            };
            RecoveryQuestion {
                id,
                text,
                hint: q["hint"].as_str().map(str::to_owned),
            }
        })
        .collect();
    Ok(GatewayRecovery {
        salt: B64.encode(&r.salt),
        params: serde_json::from_str(&r.params).map_err(ApiError::internal)?,
        wrapped: B64.encode(&r.wrap),
        questions,
    })
}

/// The Node 2 commit request and the public parts to record, from a recovery commit.
pub(crate) fn commit_parts(
    ch: &ChallengeRecord,
    b: &GatewayRecoveryCommit,
) -> ApiResult<(CustomerPinRequest, RecoveryEnrollment)> {
    let mut req = request(ch, CustomerPinStep::Commit);
    req.factor = CustomerFactor::Questions as i32;
    req.signer = CustomerFactor::Pin as i32;
    req.nonce = bytes("recovery.nonce", &b.nonce, 32)?;
    req.verify_key = bytes("recovery.verifyKey", &b.verify_key, 32)?;
    req.signature = bytes("recovery.signature", &b.signature, 64)?;
    let rec = RecoveryEnrollment {
        salt: bytes("recovery.salt", &b.salt, 16)?,
        params: check_params(&b.params)?,
        wrap: bytes("recovery.wrapped", &b.wrapped, WRAP_LEN)?,
        questions: check_questions(&b.questions)?,
    };
    Ok((req, rec))
}

fn questions_request(ch: &ChallengeRecord, step: CustomerPinStep) -> CustomerPinRequest {
    let mut req = request(ch, step);
    req.factor = CustomerFactor::Questions as i32;
    req
}

/// `POST /gateway/api/recovery/evaluate`: one counted recovery attempt (reset-pin).
pub(crate) async fn evaluate(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayEvaluate>,
) -> ApiResult<Response> {
    if kind_of(&ch)? != Kind::ResetPin {
        return Err(wrong_step("a recovery attempt"));
    }
    if body.value.rekey_nonce.is_some() {
        return Err(ApiError::invalid("a recovery attempt takes no rekeyNonce"));
    }
    let mut req = questions_request(&ch, CustomerPinStep::Evaluate);
    req.blinded = bytes("blinded", &body.value.blinded, 32)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.recovery_attempt",
            "success",
            serde_json::json!({ "attemptsLeft": r.attempts_left }),
        )],
    )
    .await;
    Ok(ok(
        StatusCode::OK,
        "Evaluated",
        GatewayEvaluated {
            evaluated: B64.encode(&r.evaluated),
            nonce: B64.encode(&r.nonce),
            attempts_left: r.attempts_left,
        },
    ))
}

/// `POST /gateway/api/recovery/unlock`: proves the answers of the last attempt to Node 2,
/// which answers with a rekey nonce for the new PIN.
pub(crate) async fn unlock(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayUnlock>,
) -> ApiResult<Response> {
    if kind_of(&ch)? != Kind::ResetPin {
        return Err(wrong_step("a recovery unlock"));
    }
    let mut req = questions_request(&ch, CustomerPinStep::Unlock);
    req.nonce = bytes("nonce", &body.value.nonce, 32)?;
    req.signature = bytes("signature", &body.value.signature, 64)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.recovery_verified",
            "success",
            serde_json::json!({}),
        )],
    )
    .await;
    Ok(ok(
        StatusCode::OK,
        "Recovered",
        GatewayUnlocked {
            rekey_nonce: B64.encode(&r.nonce),
        },
    ))
}

/// `POST /gateway/api/recovery/enroll`: a fresh OPRF key at Node 2 for new answers
/// (initialize, recovery).
pub(crate) async fn enroll(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayEvaluate>,
) -> ApiResult<Response> {
    if !matches!(kind_of(&ch)?, Kind::Initialize | Kind::Recovery) {
        return Err(wrong_step("a recovery enrollment"));
    }
    if body.value.rekey_nonce.is_some() {
        return Err(ApiError::invalid(
            "a recovery enrollment takes no rekeyNonce",
        ));
    }
    let mut req = questions_request(&ch, CustomerPinStep::Enroll);
    req.blinded = bytes("blinded", &body.value.blinded, 32)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    Ok(ok(
        StatusCode::OK,
        "Enrolling",
        GatewayEvaluated {
            evaluated: B64.encode(&r.evaluated),
            nonce: B64.encode(&r.nonce),
            attempts_left: 0,
        },
    ))
}

/// `POST /gateway/api/recovery/commit`: new security questions, signed by the PIN,
/// committed at Node 2 and recorded with the challenge's completion (`recovery`).
pub(crate) async fn commit(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayRecoveryCommit>,
) -> ApiResult<Response> {
    if kind_of(&ch)? != Kind::Recovery {
        return Err(wrong_step(
            "a recovery commit (initialize commits it with the PIN)",
        ));
    }
    let (req, rec) = commit_parts(&ch, &body.value)?;
    let now = now_ms();
    if !app.store.stage_recovery(&ch.id, &rec, now).await? {
        return Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "the challenge is no longer pending",
        ));
    }
    pin_step(&app, &ctx, &ch, req).await?;
    let result = serde_json::json!({
        "hasRecovery": true,
        "recoveryMethods": [planbok_api::customers::RECOVERY_SECURITY_QUESTIONS],
    });
    let commit = Commit::audit(draft(
        &ch,
        &ctx,
        "customer.recovery_set",
        "success",
        serde_json::json!({ "challengeId": ch.id }),
    ));
    if !app
        .store
        .complete_pin_challenge(&ch, &result.to_string(), now, &commit)
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "the challenge is no longer pending",
        ));
    }
    let done = ChallengeRecord {
        status: "complete".into(),
        result: Some(result.to_string()),
        completed_at_ms: Some(now),
        ..ch
    };
    Ok(ok(
        StatusCode::OK,
        "Challenge complete",
        challenge_view(&done, None),
    ))
}
