//! Node 2's side of recovery (`CustomerPin` with factor `QUESTIONS` or `EMAIL`). The
//! questions: a second OPRF key per customer, sealed by the keystore like the PIN's. The
//! email code: a random key, so no OPRF; Node 2 holds `W_email` and hands it out only to
//! an unlock signed with the code's key. Each factor has its own attempt counter; both use
//! the limit `[limits] customer_recovery_attempts`. Counting and unlocking are one code
//! path for both (parameterized by the factor).
//!
//! What makes it a recovery factor and not a second PIN:
//! - its **unlock** gives the PIN a rekey nonce (one use, 10 minutes) — the only thing,
//!   besides the old PIN's own unlock, that lets a new PIN be enrolled; the new PIN's
//!   commit must then be signed by this factor's unlock key (`signer` QUESTIONS, checked
//!   in `customer::commit`). A locked PIN is unlocked only that way (the commit resets it).
//! - its **commit** needs a signature by the enrolled PIN's unlock key: whoever sets or
//!   changes the questions proved the PIN, so a server that can make grants cannot plant
//!   answers of its own and then reset the PIN with them.
//!
//! As for the PIN, each attempt is counted and committed before the key is opened.

use planbok_envelope::email_code;
use planbok_envelope::pin::{self, Factor, OprfKey};
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::{
    CustomerEmailCommit, CustomerFactor, CustomerPinRequest, CustomerPinResponse, CustomerPinStep,
    CustomerQuestionsCommit,
};
use planbok_store::{FactorTable, PinAttempt, PinRecord};

use crate::clock::now_ms;
use crate::customer::{REKEY_TTL_MS, open_key, pin_error, proof_invalid};
use crate::error::{NodeError, NodeResult};
use crate::state::NodeState;

/// The keystore id (and AAD) of a customer's recovery OPRF key.
fn key_id(org_id: &str, customer_id: &str) -> String {
    format!("customer-recovery/{org_id}/{customer_id}")
}

fn not_set() -> NodeError {
    NodeError::new(ErrorCode::RecoveryNotSet, "no recovery is set up")
}

/// The store table of a recovery factor.
pub(crate) fn table(f: CustomerFactor) -> FactorTable {
    match f {
        CustomerFactor::Pin => FactorTable::Pin,
        CustomerFactor::Questions => FactorTable::Questions,
        CustomerFactor::Email => FactorTable::Email,
    }
}

fn envelope_factor(f: CustomerFactor) -> Factor {
    match f {
        CustomerFactor::Pin => Factor::Pin,
        CustomerFactor::Questions => Factor::Questions,
        CustomerFactor::Email => Factor::Email,
    }
}

fn what(f: CustomerFactor) -> &'static str {
    match f {
        CustomerFactor::Email => "recovery by email",
        _ => "recovery by questions",
    }
}

/// One step on a recovery factor, questions or email (the grant is already consumed;
/// `check_shape` allowed only the steps each factor has).
pub(crate) async fn step(
    state: &NodeState,
    factor: CustomerFactor,
    org_id: &str,
    customer: &str,
    step: CustomerPinStep,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    match step {
        CustomerPinStep::Evaluate => evaluate(state, factor, org_id, customer, &r.blinded).await,
        CustomerPinStep::Enroll if factor == CustomerFactor::Questions => {
            enroll(state, org_id, customer, &r.blinded).await
        }
        CustomerPinStep::Unlock => unlock(state, factor, org_id, customer, r).await,
        CustomerPinStep::Commit if factor == CustomerFactor::Questions => {
            commit(state, org_id, customer, r).await
        }
        _ => Err(NodeError::invalid("this factor has no such step")),
    }
}

/// Counts one attempt on `factor` (committed before anything is opened: this is the
/// guess budget), then, for the questions, evaluates the OPRF; the email code has none
/// (a random key) and gets only the attempt nonce its unlock must sign.
async fn evaluate(
    state: &NodeState,
    factor: CustomerFactor,
    org_id: &str,
    customer: &str,
    blinded: &[u8],
) -> NodeResult<CustomerPinResponse> {
    let max = i64::from(state.limits.customer_recovery_attempts.max(1));
    let nonce = pin::new_nonce();
    let (failures, sealed) = match state
        .store
        .count_attempt(table(factor), org_id, customer, max, &nonce, now_ms())
        .await?
    {
        PinAttempt::Counted {
            failures,
            sealed_key,
        } => (failures, sealed_key),
        PinAttempt::Locked => {
            tracing::warn!(alert = true, org = %org_id, customer = %customer,
                factor = what(factor), "recovery attempt refused: the factor is locked");
            return Err(NodeError::new(
                ErrorCode::RecoveryLocked,
                format!("too many wrong attempts; {} is locked", what(factor)),
            ));
        }
        PinAttempt::NotSet => return Err(not_set()),
    };
    let evaluated = if factor == CustomerFactor::Questions {
        let key = open_key(state, key_id(org_id, customer), sealed).await?;
        key.evaluate(blinded).map_err(pin_error)?.to_vec()
    } else {
        Vec::new()
    };
    let left = u32::try_from((max - failures).max(0)).unwrap_or(0);
    tracing::info!(org = %org_id, customer = %customer, factor = what(factor),
        attempts_left = left, "recovery attempt counted");
    Ok(CustomerPinResponse {
        evaluated,
        nonce: nonce.to_vec(),
        attempts_left: left,
        wrapped: Vec::new(),
    })
}

async fn enroll(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    blinded: &[u8],
) -> NodeResult<CustomerPinResponse> {
    let key = OprfKey::generate().map_err(|e| NodeError::internal(e.to_string()))?;
    let evaluated = key.evaluate(blinded).map_err(pin_error)?;
    let bytes = key.to_bytes();
    drop(key);
    let id = key_id(org_id, customer);
    let sealed = state.ks(move |k| k.seal_blob(&id, &bytes)).await?;
    let nonce = pin::new_nonce();
    state
        .store
        .put_pending_recovery(org_id, customer, &sealed, &nonce, now_ms())
        .await?;
    Ok(CustomerPinResponse {
        evaluated: evaluated.to_vec(),
        nonce: nonce.to_vec(),
        attempts_left: 0,
        wrapped: Vec::new(),
    })
}

async fn unlock(
    state: &NodeState,
    factor: CustomerFactor,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let rec = state
        .store
        .factor_record(table(factor), org_id, customer)
        .await?
        .filter(|rec| rec.verify_key.is_some())
        .ok_or_else(not_set)?;
    let vk = rec.verify_key.unwrap_or_default();
    let msg = pin::unlock_message_for(envelope_factor(factor), org_id, customer, &r.nonce);
    if !pin::verify_signature(&vk, &msg, &r.signature) {
        tracing::warn!(org = %org_id, customer = %customer, factor = what(factor),
            "recovery unlock refused: bad signature");
        return Err(proof_invalid("the recovery proof does not verify"));
    }
    let rekey = pin::new_nonce();
    let now = now_ms();
    if !state
        .store
        .unlock_recovery_factor(
            table(factor),
            org_id,
            customer,
            &r.nonce,
            &vk,
            &rekey,
            now + REKEY_TTL_MS,
            now,
        )
        .await?
    {
        tracing::warn!(alert = true, org = %org_id, customer = %customer, factor = what(factor),
            "recovery unlock refused: the attempt nonce is not current (replayed?)");
        return Err(proof_invalid("this recovery attempt is not current"));
    }
    tracing::info!(org = %org_id, customer = %customer, factor = what(factor),
        "recovery proven; counter reset; a new PIN may be enrolled");
    Ok(CustomerPinResponse {
        evaluated: Vec::new(),
        nonce: rekey.to_vec(),
        attempts_left: 0,
        // Only to whoever proved the code: W_email opens only under the code's key.
        wrapped: if factor == CustomerFactor::Email {
            rec.sealed_key.unwrap_or_default()
        } else {
            Vec::new()
        },
    })
}

/// A PIN commit's email enrollment (`CustomerPin` COMMIT of the PIN carrying `email`):
/// Node 2 holds `W_email` and the code's unlock key once the **new** PIN (the one just
/// committed, `r.verify_key`) signed them; the enrollment nonce is the hash of the wrap,
/// so the signature covers what Node 2 will hand back. Replaces an earlier code.
pub(crate) async fn enroll_email(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
    e: &CustomerEmailCommit,
) -> NodeResult<()> {
    if e.wrapped.len() != 1 + 12 + 32 + 16 || e.signature.len() != 64 {
        return Err(NodeError::invalid(
            "email enrollment: a 61-byte wrap and a signature",
        ));
    }
    let vk: [u8; 32] = e
        .verify_key
        .as_slice()
        .try_into()
        .map_err(|_| NodeError::invalid("email verify key must be 32 bytes"))?;
    if ed25519_dalek::VerifyingKey::from_bytes(&vk).is_err() {
        return Err(NodeError::invalid(
            "email verify key is not an Ed25519 point",
        ));
    }
    let nonce = email_code::enroll_nonce(&e.wrapped);
    let msg = pin::commit_message_for(Factor::Email, org_id, customer, &nonce, &vk);
    if !pin::verify_signature(&r.verify_key, &msg, &e.signature) {
        tracing::warn!(alert = true, org = %org_id, customer = %customer,
            "email recovery enrollment refused: not signed by the new PIN");
        return Err(proof_invalid(
            "the email recovery enrollment is not signed by the new PIN",
        ));
    }
    if !state
        .store
        .put_email(
            org_id,
            customer,
            &r.verify_key,
            &vk,
            &e.wrapped,
            &nonce,
            now_ms(),
        )
        .await?
    {
        return Err(NodeError::new(ErrorCode::PinNotSet, "no such PIN is set"));
    }
    tracing::info!(org = %org_id, customer = %customer, "email recovery enrolled");
    Ok(())
}

async fn commit(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let rec = state
        .store
        .factor_record(FactorTable::Questions, org_id, customer)
        .await?;
    if let Some(rec) = &rec
        && rec.enroll_nonce.as_deref() == Some(r.nonce.as_slice())
        && rec.verify_key.as_deref() == Some(r.verify_key.as_slice())
    {
        // A repeated commit (the server retried after a lost answer).
        return Ok(CustomerPinResponse::default());
    }
    let vk: [u8; 32] = r
        .verify_key
        .as_slice()
        .try_into()
        .map_err(|_| NodeError::invalid("verify key must be 32 bytes"))?;
    if ed25519_dalek::VerifyingKey::from_bytes(&vk).is_err() {
        return Err(NodeError::invalid("verify key is not an Ed25519 point"));
    }
    // The PIN authorizes every enrollment of the questions, the first one included.
    let pin_key = state
        .store
        .factor_record(FactorTable::Pin, org_id, customer)
        .await?
        .and_then(|p| p.verify_key)
        .ok_or_else(|| NodeError::new(ErrorCode::PinNotSet, "no PIN is set"))?;
    let msg = pin::commit_message_for(Factor::Questions, org_id, customer, &r.nonce, &vk);
    if !pin::verify_signature(&pin_key, &msg, &r.signature) {
        tracing::warn!(alert = true, org = %org_id, customer = %customer,
            "recovery enrollment refused: not signed by the PIN");
        return Err(proof_invalid(
            "the recovery enrollment is not signed by the PIN",
        ));
    }
    let old = rec.and_then(|rec| rec.verify_key);
    if !state
        .store
        .commit_recovery(org_id, customer, &r.nonce, &vk, old.as_deref(), now_ms())
        .await?
    {
        return Err(NodeError::new(
            ErrorCode::RecoveryNotSet,
            "no pending recovery enrollment with this nonce",
        ));
    }
    tracing::info!(org = %org_id, customer = %customer, "recovery questions enrolled");
    Ok(CustomerPinResponse::default())
}

/// Initialize's single commit (`CustomerPin` COMMIT of the PIN carrying `questions`): the
/// first PIN and the security questions, the questions signed by the new PIN's unlock
/// key, committed in one transaction. A repeat after a lost answer succeeds.
pub(crate) async fn commit_with_pin(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
    q: &CustomerQuestionsCommit,
    pin: Option<PinRecord>,
) -> NodeResult<CustomerPinResponse> {
    if q.nonce.len() != pin::NONCE_LEN || q.signature.len() != 64 || !r.signature.is_empty() {
        return Err(NodeError::invalid(
            "initialize's commit: questions nonce and signature, no PIN signature",
        ));
    }
    let q_vk: [u8; 32] = q
        .verify_key
        .as_slice()
        .try_into()
        .map_err(|_| NodeError::invalid("questions verify key must be 32 bytes"))?;
    if ed25519_dalek::VerifyingKey::from_bytes(&q_vk).is_err()
        || <[u8; 32]>::try_from(r.verify_key.as_slice())
            .ok()
            .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
            .is_none()
    {
        return Err(NodeError::invalid("a verify key is not an Ed25519 point"));
    }
    let msg = pin::commit_message_for(Factor::Questions, org_id, customer, &q.nonce, &q_vk);
    if !pin::verify_signature(&r.verify_key, &msg, &q.signature) {
        tracing::warn!(org = %org_id, customer = %customer,
            "initialize refused: the questions are not signed by the new PIN");
        return Err(proof_invalid(
            "the security questions are not signed by the new PIN",
        ));
    }
    let rec = state
        .store
        .factor_record(FactorTable::Questions, org_id, customer)
        .await?;
    let pin_done = pin.as_ref().is_some_and(|p| {
        p.enroll_nonce.as_deref() == Some(r.nonce.as_slice())
            && p.verify_key.as_deref() == Some(r.verify_key.as_slice())
    });
    let rec_done = rec.as_ref().is_some_and(|x| {
        x.enroll_nonce.as_deref() == Some(q.nonce.as_slice())
            && x.verify_key.as_deref() == Some(q_vk.as_slice())
    });
    match (pin_done, rec_done) {
        // A repeated commit (the server retried after a lost answer).
        (true, true) => return Ok(CustomerPinResponse::default()),
        (true, false) => {
            return Err(proof_invalid(
                "this PIN is committed, with other security questions",
            ));
        }
        (false, _) => {}
    }
    if pin.as_ref().is_some_and(|p| p.verify_key.is_some()) {
        return Err(NodeError::new(
            ErrorCode::PinAlreadySet,
            "a PIN is set; changing it needs the old one",
        ));
    }
    let old_rec = rec.and_then(|x| x.verify_key);
    if !state
        .store
        .commit_pin_with_recovery(
            org_id,
            customer,
            &r.nonce,
            &r.verify_key,
            &q.nonce,
            &q_vk,
            old_rec.as_deref(),
            now_ms(),
        )
        .await?
    {
        return Err(NodeError::new(
            ErrorCode::PinNotSet,
            "no pending PIN and security questions with these nonces",
        ));
    }
    tracing::info!(org = %org_id, customer = %customer, "PIN and recovery questions enrolled");
    Ok(CustomerPinResponse::default())
}
