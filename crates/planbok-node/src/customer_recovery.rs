//! Node 2's side of recovery by security questions (`CustomerPin` with factor
//! `QUESTIONS`): a second OPRF key per customer, sealed by the keystore like the PIN's,
//! with its own attempt counter and limit (`[limits] customer_recovery_attempts`).
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

use planbok_envelope::pin::{self, Factor, OprfKey};
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::{
    CustomerPinRequest, CustomerPinResponse, CustomerPinStep, CustomerQuestionsCommit,
};
use planbok_store::{PinAttempt, PinRecord};

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

/// One step on the questions factor (the grant is already consumed).
pub(crate) async fn step(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    step: CustomerPinStep,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    match step {
        CustomerPinStep::Evaluate => evaluate(state, org_id, customer, &r.blinded).await,
        CustomerPinStep::Enroll => enroll(state, org_id, customer, &r.blinded).await,
        CustomerPinStep::Unlock => unlock(state, org_id, customer, r).await,
        CustomerPinStep::Commit => commit(state, org_id, customer, r).await,
        CustomerPinStep::Unspecified => Err(NodeError::invalid("unknown customer PIN step")),
    }
}

async fn evaluate(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    blinded: &[u8],
) -> NodeResult<CustomerPinResponse> {
    let max = i64::from(state.limits.customer_recovery_attempts.max(1));
    let nonce = pin::new_nonce();
    // Counted (and committed) before the key is opened: this is the guess budget.
    let (failures, sealed) = match state
        .store
        .count_recovery_attempt(org_id, customer, max, &nonce, now_ms())
        .await?
    {
        PinAttempt::Counted {
            failures,
            sealed_key,
        } => (failures, sealed_key),
        PinAttempt::Locked => {
            tracing::warn!(alert = true, org = %org_id, customer = %customer,
                "recovery attempt refused: the questions are locked");
            return Err(NodeError::new(
                ErrorCode::RecoveryLocked,
                "too many wrong recovery answers; recovery by questions is locked",
            ));
        }
        PinAttempt::NotSet => return Err(not_set()),
    };
    let key = open_key(state, key_id(org_id, customer), sealed).await?;
    let evaluated = key.evaluate(blinded).map_err(pin_error)?;
    let left = u32::try_from((max - failures).max(0)).unwrap_or(0);
    tracing::info!(org = %org_id, customer = %customer, attempts_left = left, "recovery attempt counted");
    Ok(CustomerPinResponse {
        evaluated: evaluated.to_vec(),
        nonce: nonce.to_vec(),
        attempts_left: left,
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
    })
}

async fn unlock(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let vk = state
        .store
        .recovery_record(org_id, customer)
        .await?
        .and_then(|rec| rec.verify_key)
        .ok_or_else(not_set)?;
    let msg = pin::unlock_message_for(Factor::Questions, org_id, customer, &r.nonce);
    if !pin::verify_signature(&vk, &msg, &r.signature) {
        tracing::warn!(org = %org_id, customer = %customer, "recovery unlock refused: bad signature");
        return Err(proof_invalid("the recovery proof does not verify"));
    }
    let rekey = pin::new_nonce();
    let now = now_ms();
    if !state
        .store
        .unlock_recovery(
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
        tracing::warn!(alert = true, org = %org_id, customer = %customer,
            "recovery unlock refused: the attempt nonce is not current (replayed?)");
        return Err(proof_invalid("this recovery attempt is not current"));
    }
    tracing::info!(org = %org_id, customer = %customer,
        "recovery proven; counter reset; a new PIN may be enrolled");
    Ok(CustomerPinResponse {
        evaluated: Vec::new(),
        nonce: rekey.to_vec(),
        attempts_left: 0,
    })
}

async fn commit(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let rec = state.store.recovery_record(org_id, customer).await?;
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
        .pin_record(org_id, customer)
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
    let rec = state.store.recovery_record(org_id, customer).await?;
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
