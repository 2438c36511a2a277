//! The Gateway's routes for recovery by email (`/gateway/api/email/…`) and the email code's
//! enrollment inside a PIN commit (`docs/customer-custody.md`, "Recovery by email").
//!
//! The code `R` is made in the Gateway. The server keeps it sealed (to email it at a
//! reset) and checks that the enrollment's verify key is the code's; Node 2 keeps the wrap
//! `W_email` and the verify key, counts every attempt and hands `W_email` only to whoever
//! signs the attempt nonce with the code's key. `R` is never logged, audited or answered.
//!
//! - `evaluate` (reset-pin by email): one counted attempt → an attempt nonce.
//! - `unlock`: the signature over it → `W_email` and the PIN's rekey nonce; the new PIN is
//!   then committed through `/gateway/api/pin/commit` with `signer: email` and a new code.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ErrorCode;
use planbok_api::customers::{
    GatewayEmailAttempt, GatewayEmailCommit, GatewayEmailUnlocked, GatewayUnlock, RECOVERY_EMAIL,
};
use planbok_envelope::email_code::EmailCode;
use planbok_proto::pb::{CustomerEmailCommit, CustomerFactor, CustomerPinStep};
use planbok_store::server::{ChallengeRecord, CustomerRecord};

use super::customers::{Kind, reset_method};
use super::gateway::{B64, Gate, WRAP_LEN, bytes, draft, kind_of, pin_step, request, wrong_step};
use super::ok;
use crate::App;
use crate::audit;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};

/// Why recovery by email is not offered to a customer.
enum Unoffered {
    /// The server has no `[smtp]`.
    NoRelay,
    /// The organization has not opted in.
    NotOptedIn,
    /// The customer has no address.
    NoAddress,
}

/// Whether recovery by email is offered to `c` (`None`) or why not: the one place that
/// decides it, for the reset and for the enrollment.
async fn unoffered(app: &App, c: &CustomerRecord) -> ApiResult<Option<Unoffered>> {
    Ok(if app.mailer.is_none() {
        Some(Unoffered::NoRelay)
    } else if !app.store.org_settings(&c.org_id).await?.email_recovery {
        Some(Unoffered::NotOptedIn)
    } else if c.email.is_none() {
        Some(Unoffered::NoAddress)
    } else {
        None
    })
}

/// A reset by email may start: offered, and a code enrolled to mail. Else 409
/// `email_recovery_disabled` (no relay, no opt-in) or `recovery_not_set`.
pub(crate) async fn check_reset(app: &App, c: &CustomerRecord) -> ApiResult<()> {
    let (code, message) = match unoffered(app, c).await? {
        Some(Unoffered::NoRelay) => (
            ErrorCode::EmailRecoveryDisabled,
            "this server has no SMTP relay ([smtp] in its configuration)",
        ),
        Some(Unoffered::NotOptedIn) => (
            ErrorCode::EmailRecoveryDisabled,
            "the organization has not enabled recovery by email",
        ),
        Some(Unoffered::NoAddress) => (
            ErrorCode::RecoveryNotSet,
            "the customer has no email address",
        ),
        None if c.email_code.is_none() => (
            ErrorCode::RecoveryNotSet,
            "the customer has no email recovery code yet (the next PIN change enrolls one)",
        ),
        None => return Ok(()),
    };
    Err(ApiError::new(code, message))
}

/// Whether a PIN commit of `ch` may (`offered`) or must (`required`) carry a new email
/// recovery code.
pub(crate) struct Enrollment {
    pub(crate) offered: bool,
    pub(crate) required: bool,
}

/// While recovery by email is offered to the customer, every PIN commit (initialize,
/// update, reset) carries a fresh code, which also restarts Node 2's counter for it. A
/// reset by email always replaces the emailed code, whatever the setting is now.
pub(crate) async fn enrollment(
    app: &App,
    ch: &ChallengeRecord,
    customer: &CustomerRecord,
) -> ApiResult<Enrollment> {
    let offered = unoffered(app, customer).await?.is_none();
    let kind = kind_of(ch)?;
    let by_email = kind == Kind::ResetPin && reset_method(ch) == RECOVERY_EMAIL;
    let required = by_email
        || (offered && matches!(kind, Kind::Initialize | Kind::UpdatePin | Kind::ResetPin));
    Ok(Enrollment {
        offered: offered || by_email,
        required,
    })
}

/// A PIN commit's email code, checked: the sealed code to stage and Node 2's part. `None`
/// when the commit carries none and need not; refused when it must and does not, or
/// carries one the organization does not offer.
pub(crate) async fn commit_parts(
    app: &App,
    ch: &ChallengeRecord,
    email: Option<&GatewayEmailCommit>,
) -> ApiResult<Option<(Vec<u8>, CustomerEmailCommit)>> {
    let customer = app
        .store
        .customer(&ch.org_id, &ch.customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    let e = enrollment(app, ch, &customer).await?;
    let Some(b) = email else {
        if e.required {
            return Err(ApiError::invalid(
                "this PIN commit needs a new email recovery code (email)",
            ));
        }
        return Ok(None);
    };
    if !e.offered {
        return Err(ApiError::new(
            ErrorCode::EmailRecoveryDisabled,
            "recovery by email is not offered to this customer",
        ));
    }
    let code = EmailCode::parse(&b.code)
        .map_err(|_| ApiError::invalid("email.code is not a recovery code"))?;
    let verify_key = bytes("email.verifyKey", &b.verify_key, 32)?;
    if code.keys(&ch.org_id, &ch.customer_id).verify_key()[..] != verify_key[..] {
        return Err(ApiError::invalid(
            "email.verifyKey is not the code's (the emailed code would not recover)",
        ));
    }
    let node = CustomerEmailCommit {
        verify_key,
        wrapped: bytes("email.wrapped", &b.wrapped, WRAP_LEN)?,
        signature: bytes("email.signature", &b.signature, 64)?,
    };
    let sealed = app
        .secrets
        .seal_email_code(&ch.customer_id, code.as_bytes())?;
    Ok(Some((sealed, node)))
}

fn check_kind(ch: &ChallengeRecord, what: &str) -> ApiResult<()> {
    if kind_of(ch)? == Kind::ResetPin && reset_method(ch) == RECOVERY_EMAIL {
        Ok(())
    } else {
        Err(wrong_step(what))
    }
}

/// `POST /gateway/api/email/evaluate`: one counted attempt at the emailed code (Node 2
/// commits the count before it answers). No body.
pub(crate) async fn evaluate(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    check_kind(&ch, "an email code attempt")?;
    let mut req = request(&ch, CustomerPinStep::Evaluate);
    req.factor = CustomerFactor::Email as i32;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.recovery_attempt",
            "success",
            serde_json::json!({ "method": RECOVERY_EMAIL, "attemptsLeft": r.attempts_left }),
        )],
    )
    .await;
    Ok(ok(
        StatusCode::OK,
        "Attempt counted",
        GatewayEmailAttempt {
            nonce: B64.encode(&r.nonce),
            attempts_left: r.attempts_left,
        },
    ))
}

/// `POST /gateway/api/email/unlock`: proves the code (its key's signature over the attempt
/// nonce) to Node 2, which answers with `W_email` and a rekey nonce for the new PIN.
pub(crate) async fn unlock(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayUnlock>,
) -> ApiResult<Response> {
    check_kind(&ch, "an email code unlock")?;
    let mut req = request(&ch, CustomerPinStep::Unlock);
    req.factor = CustomerFactor::Email as i32;
    req.nonce = bytes("nonce", &body.value.nonce, 32)?;
    req.signature = bytes("signature", &body.value.signature, 64)?;
    let r = pin_step(&app, &ctx, &ch, req).await?;
    if r.wrapped.len() != WRAP_LEN {
        return Err(ApiError::internal(
            "node 2 answered an email unlock without W_email",
        ));
    }
    audit::append_all(
        &app,
        vec![draft(
            &ch,
            &ctx,
            "customer.recovery_verified",
            "success",
            serde_json::json!({ "method": RECOVERY_EMAIL }),
        )],
    )
    .await;
    Ok(ok(
        StatusCode::OK,
        "Recovered",
        GatewayEmailUnlocked {
            rekey_nonce: B64.encode(&r.nonce),
            wrapped: B64.encode(&r.wrapped),
        },
    ))
}
