//! The Gateway's own JSON routes (`/gateway/api/…`), served on the main listener. Each is
//! authorized only by a pending challenge's one-time token (the policy middleware finds the
//! challenge by the token's hash and hands it over as [`Gate`]); an API key opens none of
//! them. The server relays the PIN protocol between the Gateway and Node 1 (which relays to
//! Node 2) and sees only blinded elements, nonces, public keys and signatures: nothing that
//! tests a PIN guess without Node 2, which counts every attempt.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ErrorCode;
use planbok_api::customers::{
    GatewayChallenge, GatewayCommit, GatewayEvaluate, GatewayEvaluated, GatewayPin, GatewayUnlock,
    GatewayUnlocked, RECOVERY_EMAIL, RECOVERY_SECURITY_QUESTIONS,
};
use planbok_proto::pb::{
    CustomerFactor, CustomerPinRequest, CustomerPinStep, CustomerQuestionsCommit,
};
use planbok_store::server::{ChallengeRecord, Commit, MailKind, PinEnrollment};
use serde::Deserialize;

use super::convert::rfc3339;
use super::customers::{Kind, challenge_view, reset_method};
use super::ok;
use super::org_settings::notice;
use crate::App;
use crate::audit::{self, Actor};
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;
use crate::webhooks::event;

/// The challenge a request's token opened (pending, not expired when it was checked).
#[derive(Debug, Clone)]
pub(crate) struct Gate(pub(crate) ChallengeRecord);

/// A wrap of the customer secret (`W_pin`, `W_rec`, `W_email`): version, nonce, the
/// 32-byte secret, the tag.
pub(crate) const WRAP_LEN: usize = 1 + 12 + 32 + 16;

pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn bytes(field: &str, s: &str, len: usize) -> ApiResult<Vec<u8>> {
    match B64.decode(s.trim()) {
        Ok(b) if b.len() == len => Ok(b),
        _ => Err(ApiError::invalid(format!(
            "{field} must be {len} bytes, base64url without padding"
        ))),
    }
}

pub(crate) fn kind_of(ch: &ChallengeRecord) -> ApiResult<Kind> {
    Kind::parse(&ch.kind).ok_or_else(|| ApiError::internal(format!("challenge kind {:?}", ch.kind)))
}

pub(crate) fn wrong_step(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ChallengeNotPending,
        format!("this challenge does not take {what}"),
    )
}

/// The Argon2id parameters as the server checks them: the same floor as the client's
/// (`planbok_envelope::pin::KdfParams::check`), so a Gateway cannot store a cheap hash.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Params {
    version: u32,
    m_kib: u32,
    t: u32,
    p: u32,
}

pub(crate) fn check_params(v: &serde_json::Value) -> ApiResult<String> {
    let p: Params = serde_json::from_value(v.clone())
        .map_err(|_| ApiError::invalid("params must be {version, mKib, t, p}"))?;
    if p.version != 1 || p.m_kib < 64 * 1024 || p.t < 3 || p.p == 0 || p.p > 8 {
        return Err(ApiError::invalid(
            "params: version 1, at least 64 MiB and 3 passes, 1 to 8 lanes",
        ));
    }
    Ok(v.to_string())
}

pub(crate) fn draft(
    ch: &ChallengeRecord,
    ctx: &Ctx,
    action: &str,
    outcome: &str,
    detail: serde_json::Value,
) -> planbok_store::server::AuditDraft {
    audit::draft(
        &ch.org_id,
        Actor::Challenge(&ch.id),
        ctx,
        action,
        Some(ch.customer_id.clone()),
        outcome,
        detail,
    )
}

/// Runs one PIN step at Node 2 (through Node 1). A lockout is recorded here: the
/// challenge fails, the customer is marked locked, and, the first time, an audit entry and
/// a `customer.locked_out` event are written with it. A lockout of a recovery factor (the
/// security questions or the email code) fails the challenge with `recovery_locked`
/// (audited).
pub(crate) async fn pin_step(
    app: &App,
    ctx: &Ctx,
    ch: &ChallengeRecord,
    req: CustomerPinRequest,
) -> ApiResult<planbok_proto::pb::CustomerPinResponse> {
    match app.nodes.customer_pin(&ch.org_id, req).await {
        Err(e) if e.code == ErrorCode::CustomerLocked => {
            let now = now_ms();
            let commit = Commit::audit(draft(
                ch,
                ctx,
                "customer.locked_out",
                "success",
                serde_json::json!({ "challengeId": ch.id }),
            ))
            .with_events(vec![event(
                &ch.org_id,
                "customer.locked_out",
                serde_json::json!({ "customerId": ch.customer_id }),
                now,
            )])
            .with_mail(notice(app, ch, MailKind::LockedOut, now).await?);
            if app.store.lock_customer(ch, now, &commit).await? {
                app.wake_mail_for(&commit);
                tracing::warn!(org = %ch.org_id, customer = %ch.customer_id, "customer locked out after too many PIN attempts");
            }
            Err(e)
        }
        Err(e) if e.code == ErrorCode::RecoveryLocked => {
            let commit = Commit::audit(draft(
                ch,
                ctx,
                "customer.recovery_locked_out",
                "failure",
                serde_json::json!({ "challengeId": ch.id }),
            ));
            if app
                .store
                .fail_challenge(ch, "recovery_locked", now_ms(), &commit)
                .await?
            {
                tracing::warn!(org = %ch.org_id, customer = %ch.customer_id, "recovery locked after too many wrong attempts");
            }
            Err(e)
        }
        r => r,
    }
}

pub(crate) fn request(ch: &ChallengeRecord, step: CustomerPinStep) -> CustomerPinRequest {
    CustomerPinRequest {
        grant: None,
        step: step as i32,
        customer_id: ch.customer_id.clone(),
        ..Default::default()
    }
}

/// `GET /gateway/api/challenge`.
pub(crate) async fn challenge(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
) -> ApiResult<Response> {
    let customer = app
        .store
        .customer(&ch.org_id, &ch.customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    let pin = match &customer.pin {
        Some(p) => Some(GatewayPin {
            salt: B64.encode(&p.salt),
            params: serde_json::from_str(&p.params).map_err(ApiError::internal)?,
            wrapped: B64.encode(&p.wrap),
        }),
        None => None,
    };
    let recovery = match &customer.recovery {
        Some(r) => Some(super::gateway_recovery::view(r)?),
        None => None,
    };
    let recovery_method = (kind_of(&ch)? == Kind::ResetPin).then(|| reset_method(&ch).to_owned());
    let email_recovery = super::gateway_email::enrollment(&app, &ch, &customer)
        .await?
        .required;
    Ok(ok(
        StatusCode::OK,
        "Challenge",
        GatewayChallenge {
            challenge_id: ch.id.clone(),
            kind: ch.kind.clone(),
            organization_id: ch.org_id.clone(),
            customer_id: ch.customer_id.clone(),
            expires_at: rfc3339(ch.expires_at_ms),
            pin,
            recovery,
            return_url: ch.return_url.clone(),
            operation: super::gateway_ops::operation_view(&app, &ch).await?,
            recovery_method,
            email_recovery,
            organization: Some(super::org_settings::gateway_organization(&app, &ch.org_id).await?),
        },
    ))
}

/// `POST /gateway/api/pin/evaluate`: one counted PIN attempt.
pub(crate) async fn evaluate(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayEvaluate>,
) -> ApiResult<Response> {
    let kind = kind_of(&ch)?;
    if !(matches!(kind, Kind::UpdatePin | Kind::Recovery) || kind.is_operation()) {
        return Err(wrong_step("a PIN attempt"));
    }
    let mut req = request(&ch, CustomerPinStep::Evaluate);
    req.blinded = bytes("blinded", &body.value.blinded, 32)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.pin_attempt",
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

/// `POST /gateway/api/pin/enroll`: a fresh OPRF key at Node 2 for a new PIN.
pub(crate) async fn enroll(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayEvaluate>,
) -> ApiResult<Response> {
    let mut req = request(&ch, CustomerPinStep::Enroll);
    req.blinded = bytes("blinded", &body.value.blinded, 32)?;
    match (kind_of(&ch)?, body.value.rekey_nonce.as_deref()) {
        (Kind::Initialize, None) => {}
        (Kind::UpdatePin | Kind::ResetPin, Some(n)) => req.nonce = bytes("rekeyNonce", n, 32)?,
        (Kind::Initialize, Some(_)) => {
            return Err(ApiError::invalid("initialize takes no rekeyNonce"));
        }
        (Kind::UpdatePin | Kind::ResetPin, None) => {
            return Err(ApiError::invalid(
                "a new PIN over a set one needs the rekeyNonce of an unlock",
            ));
        }
        _ => return Err(wrong_step("a PIN enrollment")),
    }
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

/// `POST /gateway/api/pin/unlock`: proves the PIN of the last attempt to Node 2.
pub(crate) async fn unlock(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayUnlock>,
) -> ApiResult<Response> {
    if !matches!(kind_of(&ch)?, Kind::UpdatePin | Kind::Recovery) {
        return Err(wrong_step("an unlock"));
    }
    let mut req = request(&ch, CustomerPinStep::Unlock);
    req.nonce = bytes("nonce", &body.value.nonce, 32)?;
    req.signature = bytes("signature", &body.value.signature, 64)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.pin_verified",
            "success",
            serde_json::json!({}),
        )],
    )
    .await;
    Ok(ok(
        StatusCode::OK,
        "Unlocked",
        GatewayUnlocked {
            rekey_nonce: B64.encode(&r.nonce),
        },
    ))
}

/// `POST /gateway/api/pin/commit`: the new PIN's enrollment, committed at Node 2, then
/// recorded here with the challenge's completion (staged first, so a retry finishes it).
pub(crate) async fn commit(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayCommit>,
) -> ApiResult<Response> {
    let b = &body.value;
    let kind = kind_of(&ch)?;
    let mut req = request(&ch, CustomerPinStep::Commit);
    req.nonce = bytes("nonce", &b.nonce, 32)?;
    req.verify_key = bytes("verifyKey", &b.verify_key, 32)?;
    let signer = match b.signer.as_deref() {
        None | Some("pin") => CustomerFactor::Pin,
        Some(RECOVERY_SECURITY_QUESTIONS) => CustomerFactor::Questions,
        Some(RECOVERY_EMAIL) => CustomerFactor::Email,
        Some(_) => {
            return Err(ApiError::invalid(
                "signer must be pin, securityQuestions or email",
            ));
        }
    };
    let reset_signer = if reset_method(&ch) == RECOVERY_EMAIL {
        CustomerFactor::Email
    } else {
        CustomerFactor::Questions
    };
    match (kind, b.signature.as_deref(), signer) {
        (Kind::Initialize, None, CustomerFactor::Pin) => {}
        (Kind::UpdatePin, Some(s), CustomerFactor::Pin) => {
            req.signature = bytes("signature", s, 64)?;
            req.signer = signer as i32;
        }
        (Kind::ResetPin, Some(s), f) if f == reset_signer => {
            req.signature = bytes("signature", s, 64)?;
            req.signer = signer as i32;
        }
        (Kind::Initialize, _, _) => {
            return Err(ApiError::invalid("initialize takes no signature"));
        }
        (Kind::UpdatePin, _, _) => {
            return Err(ApiError::invalid(
                "update-pin needs the old PIN's signature",
            ));
        }
        (Kind::ResetPin, _, _) => {
            return Err(ApiError::invalid(
                if reset_signer == CustomerFactor::Email {
                    "this reset needs the email code's signature (signer email)"
                } else {
                    "reset-pin needs the security questions' signature (signer securityQuestions)"
                },
            ));
        }
        _ => return Err(wrong_step("a PIN commit")),
    }
    // Initialize: the security questions are enrolled with the PIN (mandatory).
    let recovery = match (kind, &b.recovery) {
        (Kind::Initialize, Some(r)) => Some(super::gateway_recovery::commit_parts(&ch, r)?),
        (Kind::Initialize, None) => {
            return Err(ApiError::invalid(
                "initialize needs the security questions (recovery)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "only initialize takes recovery with the PIN",
            ));
        }
        (_, None) => None,
    };
    let pin = PinEnrollment {
        salt: bytes("salt", &b.salt, 16)?,
        params: check_params(&b.params)?,
        wrap: bytes("wrapped", &b.wrapped, WRAP_LEN)?,
    };
    let email = super::gateway_email::commit_parts(&app, &ch, b.email.as_ref()).await?;
    let now = now_ms();
    let staged = app.store.stage_pin(&ch.id, &pin, now).await?
        && match &recovery {
            Some((_, rec)) => app.store.stage_recovery(&ch.id, rec, now).await?,
            None => true,
        }
        && match &email {
            Some((sealed, _)) => app.store.stage_email_code(&ch.id, sealed, now).await?,
            None => true,
        };
    if !staged {
        return Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "the challenge is no longer pending",
        ));
    }
    // Initialize: one commit at Node 2 for both (the questions signed by the new PIN), so
    // no failure in between can leave a PIN without the questions that recover it.
    if let Some((rec_req, _)) = recovery {
        req.questions = Some(CustomerQuestionsCommit {
            nonce: rec_req.nonce,
            verify_key: rec_req.verify_key,
            signature: rec_req.signature,
        });
    }
    // A new email code is enrolled at Node 2 in the PIN's commit too (signed by the new PIN).
    let with_email = email.is_some();
    req.email = email.map(|(_, e)| e);
    pin_step(&app, &ctx, &ch, req).await?;
    let (action, events) = match kind {
        Kind::Initialize => (
            "customer.pin_set",
            vec![event(
                &ch.org_id,
                "customer.pin_setup",
                serde_json::json!({ "customerId": ch.customer_id }),
                now,
            )],
        ),
        Kind::UpdatePin => ("customer.pin_updated", Vec::new()),
        Kind::ResetPin => (
            "customer.pin_reset",
            vec![event(
                &ch.org_id,
                "customer.recovery_completed",
                serde_json::json!({
                    "customerId": ch.customer_id,
                    "method": reset_method(&ch),
                }),
                now,
            )],
        ),
        _ => return Err(wrong_step("a PIN commit")),
    };
    let result = serde_json::json!({ "pinStatus": "set" });
    let mail = match kind {
        Kind::UpdatePin => Some(MailKind::PinChanged),
        Kind::ResetPin => Some(MailKind::PinReset),
        _ => None,
    };
    let mail = match mail {
        Some(m) => notice(&app, &ch, m, now).await?,
        None => None,
    };
    let commit = Commit::audit(draft(
        &ch,
        &ctx,
        action,
        "success",
        serde_json::json!({ "challengeId": ch.id, "emailCodeEnrolled": with_email }),
    ))
    .with_events(events)
    .with_mail(mail);
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
    app.wake_mail_for(&commit);
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
