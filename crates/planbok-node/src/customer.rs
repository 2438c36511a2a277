//! Customer PINs (`CustomerPin`): Node 1 checks the server's grant and relays the step
//! (its elements are blinded; it learns nothing it could test a guess with); Node 2 checks
//! and consumes the grant itself, then keeps each customer's OPRF key (sealed by its
//! keystore) and guess counter. See `planbok_envelope::pin` and `docs/customer-custody.md`.
//!
//! The counter is raised in the database before the key is even opened: a crash, a
//! `kill -9` or a dropped connection after that point has spent the attempt.

use planbok_envelope::pin::{self, ELEMENT_LEN, NONCE_LEN, OprfKey, PinError};
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant;
use planbok_proto::pb::{
    CustomerFactor, CustomerPinRequest, CustomerPinResponse, CustomerPinStep, Operation,
};
use planbok_store::FactorTable;
use planbok_store::{PinAttempt, StoreError};

use crate::clock::now_ms;
use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult, from_peer_status};
use crate::state::NodeState;

/// How long an unlock's permission to enroll a new PIN lasts.
pub(crate) const REKEY_TTL_MS: i64 = 10 * 60_000;

/// The keystore id (and AAD) of a customer's OPRF key.
fn key_id(org_id: &str, customer_id: &str) -> String {
    format!("customer-pin/{org_id}/{customer_id}")
}

pub(crate) fn factor_of(v: i32, what: &str) -> NodeResult<CustomerFactor> {
    CustomerFactor::try_from(v).map_err(|_| NodeError::invalid(format!("unknown {what}")))
}

fn step_of(r: &CustomerPinRequest) -> NodeResult<CustomerPinStep> {
    CustomerPinStep::try_from(r.step)
        .ok()
        .filter(|s| *s != CustomerPinStep::Unspecified)
        .ok_or_else(|| NodeError::invalid("unknown customer PIN step"))
}

fn check_shape(r: &CustomerPinRequest, step: CustomerPinStep) -> NodeResult<()> {
    if r.customer_id.is_empty() || r.customer_id.len() > 64 {
        return Err(NodeError::invalid("customer id must be 1 to 64 bytes"));
    }
    let email = factor_of(r.factor, "factor")? == CustomerFactor::Email;
    let ok = match step {
        // The email code is a random key: no OPRF, nothing blinded.
        CustomerPinStep::Evaluate if email => r.blinded.is_empty(),
        CustomerPinStep::Evaluate => r.blinded.len() == ELEMENT_LEN,
        CustomerPinStep::Enroll => {
            r.blinded.len() == ELEMENT_LEN && (r.nonce.is_empty() || r.nonce.len() == NONCE_LEN)
        }
        CustomerPinStep::Unlock => {
            r.nonce.len() == NONCE_LEN
                && r.signature.len() == 64
                && r.challenge_id.len() <= 64
                && r.permits.len() <= crate::customer_ops::MAX_PERMITS
                && r.permits.iter().all(|p| p.len() == 32)
                && (r.permits.is_empty() || !r.challenge_id.is_empty())
        }
        CustomerPinStep::Commit => {
            r.nonce.len() == NONCE_LEN
                && r.verify_key.len() == 32
                && (r.signature.is_empty() || r.signature.len() == 64)
        }
        CustomerPinStep::Unspecified => false,
    } && (r.email.is_none()
        || (step == CustomerPinStep::Commit && r.factor == CustomerFactor::Pin as i32))
        && match (factor_of(r.factor, "factor")?, step) {
            // Enrolling the questions always needs the PIN's signature.
            (CustomerFactor::Questions, CustomerPinStep::Commit) => {
                r.signature.len() == 64 && factor_of(r.signer, "signer")? == CustomerFactor::Pin
            }
            (CustomerFactor::Questions, CustomerPinStep::Enroll) => r.nonce.is_empty(),
            // The email code is enrolled only inside the PIN's commit (`email`).
            (CustomerFactor::Email, CustomerPinStep::Enroll | CustomerPinStep::Commit) => false,
            (CustomerFactor::Email, _) => r.signer == 0 && r.challenge_id.is_empty(),
            // Only a commit names a signer.
            (_, CustomerPinStep::Commit) => true,
            _ => r.signer == 0,
        };
    if ok {
        Ok(())
    } else {
        Err(NodeError::invalid(
            "customer PIN step fields of the wrong size",
        ))
    }
}

/// Checks the grant for exactly this request and records it as used.
pub(crate) async fn consume(state: &NodeState, r: &CustomerPinRequest) -> NodeResult<String> {
    let g = state.verify_grant(r.grant.as_ref())?;
    state
        .consume_grant(
            &g,
            Operation::CustomerPin,
            &r.customer_id,
            &grant::customer_pin_params(r),
        )
        .await?;
    Ok(g.org_id)
}

pub(crate) fn pin_error(e: PinError) -> NodeError {
    NodeError::invalid(e.to_string())
}

pub(crate) fn proof_invalid(what: &str) -> NodeError {
    NodeError::new(ErrorCode::PinProofInvalid, what.to_owned())
}

impl CoordinatorService {
    /// Node 1's side: the grant checked and consumed here too, then relayed as is.
    pub(crate) async fn customer_pin_inner(
        &self,
        r: CustomerPinRequest,
    ) -> NodeResult<CustomerPinResponse> {
        self.state.require_unsealed()?;
        check_shape(&r, step_of(&r)?)?;
        consume(&self.state, &r).await?;
        let mut peer = self.peer.clone();
        let out = self
            .deadlines()
            .within("node 2's PIN step", peer.customer_pin(r))
            .await?
            .map_err(|s| from_peer_status(&s))?
            .into_inner();
        Ok(out)
    }
}

/// Node 2's side: `Peer.CustomerPin`.
pub(crate) async fn peer_customer_pin(
    state: &NodeState,
    r: CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    state.require_unsealed()?;
    let step = step_of(&r)?;
    check_shape(&r, step)?;
    let org_id = consume(state, &r).await?;
    let customer = r.customer_id.as_str();
    match factor_of(r.factor, "factor")? {
        CustomerFactor::Pin => {}
        f @ (CustomerFactor::Questions | CustomerFactor::Email) => {
            return crate::customer_recovery::step(state, f, &org_id, customer, step, &r).await;
        }
    }
    match step {
        CustomerPinStep::Evaluate => evaluate(state, &org_id, customer, &r.blinded).await,
        CustomerPinStep::Enroll => enroll(state, &org_id, customer, &r).await,
        CustomerPinStep::Unlock if !r.challenge_id.is_empty() => {
            crate::customer_ops::unlock_with_permits(state, &org_id, customer, &r).await
        }
        CustomerPinStep::Unlock => unlock(state, &org_id, customer, &r).await,
        CustomerPinStep::Commit => {
            let out = commit(state, &org_id, customer, &r).await?;
            if let Some(e) = &r.email {
                // After the PIN's commit (a repeat reaches here too, so a crash between
                // the two is finished by the server's retry).
                crate::customer_recovery::enroll_email(state, &org_id, customer, &r, e).await?;
            }
            Ok(out)
        }
        CustomerPinStep::Unspecified => Err(NodeError::invalid("unknown customer PIN step")),
    }
}

pub(crate) async fn open_key(
    state: &NodeState,
    id: String,
    sealed: Vec<u8>,
) -> NodeResult<OprfKey> {
    let bytes = state.ks(move |k| k.open_blob(&id, &sealed)).await?;
    OprfKey::from_bytes(&bytes).map_err(|e| NodeError::internal(format!("stored OPRF key: {e}")))
}

async fn evaluate(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    blinded: &[u8],
) -> NodeResult<CustomerPinResponse> {
    let max = i64::from(state.limits.customer_pin_attempts.max(1));
    let nonce = pin::new_nonce();
    // Counted (and committed) before the key is opened: this is the guess budget.
    let (failures, sealed) = match state
        .store
        .count_attempt(FactorTable::Pin, org_id, customer, max, &nonce, now_ms())
        .await?
    {
        PinAttempt::Counted {
            failures,
            sealed_key,
        } => (failures, sealed_key),
        PinAttempt::Locked => {
            tracing::warn!(alert = true, org = %org_id, customer = %customer,
                "PIN attempt refused: the customer is locked");
            return Err(NodeError::new(
                ErrorCode::CustomerLocked,
                "too many PIN attempts; the customer is locked until recovery",
            ));
        }
        PinAttempt::NotSet => {
            return Err(NodeError::new(ErrorCode::PinNotSet, "no PIN is set"));
        }
    };
    let key = open_key(state, key_id(org_id, customer), sealed).await?;
    let evaluated = key.evaluate(blinded).map_err(pin_error)?;
    let left = u32::try_from((max - failures).max(0)).unwrap_or(0);
    tracing::info!(org = %org_id, customer = %customer, attempts_left = left, "PIN attempt counted");
    Ok(CustomerPinResponse {
        evaluated: evaluated.to_vec(),
        nonce: nonce.to_vec(),
        attempts_left: left,
        wrapped: Vec::new(),
    })
}

async fn enroll(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let key = OprfKey::generate().map_err(|e| NodeError::internal(e.to_string()))?;
    let evaluated = key.evaluate(&r.blinded).map_err(pin_error)?;
    let bytes = key.to_bytes();
    drop(key);
    let id = key_id(org_id, customer);
    let sealed = state.ks(move |k| k.seal_blob(&id, &bytes)).await?;
    let nonce = pin::new_nonce();
    let rekey = (!r.nonce.is_empty()).then_some(r.nonce.as_slice());
    state
        .store
        .put_pending_pin(org_id, customer, &sealed, &nonce, rekey, now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => NodeError::new(
                ErrorCode::PinAlreadySet,
                "a PIN is set; changing it needs the old one",
            ),
            StoreError::NotFound(_) => proof_invalid("no valid rekey nonce"),
            e => e.into(),
        })?;
    Ok(CustomerPinResponse {
        evaluated: evaluated.to_vec(),
        nonce: nonce.to_vec(),
        attempts_left: 0,
        wrapped: Vec::new(),
    })
}

async fn unlock(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let rec = state
        .store
        .factor_record(FactorTable::Pin, org_id, customer)
        .await?
        .and_then(|rec| rec.verify_key)
        .ok_or_else(|| NodeError::new(ErrorCode::PinNotSet, "no PIN is set"))?;
    let msg = pin::unlock_message(org_id, customer, &r.nonce);
    if !pin::verify_signature(&rec, &msg, &r.signature) {
        tracing::warn!(org = %org_id, customer = %customer, "PIN unlock refused: bad signature");
        return Err(proof_invalid("the unlock proof does not verify"));
    }
    let rekey = pin::new_nonce();
    let now = now_ms();
    if !state
        .store
        .unlock_pin(
            org_id,
            customer,
            &r.nonce,
            &rec,
            &rekey,
            now + REKEY_TTL_MS,
            now,
        )
        .await?
    {
        tracing::warn!(alert = true, org = %org_id, customer = %customer,
            "PIN unlock refused: the attempt nonce is not current (replayed?)");
        return Err(proof_invalid("this attempt is not current"));
    }
    tracing::info!(org = %org_id, customer = %customer, "PIN unlocked; counter reset");
    Ok(CustomerPinResponse {
        evaluated: Vec::new(),
        nonce: rekey.to_vec(),
        attempts_left: 0,
        wrapped: Vec::new(),
    })
}

async fn commit(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let rec = state
        .store
        .factor_record(FactorTable::Pin, org_id, customer)
        .await?;
    if let Some(q) = &r.questions {
        return crate::customer_recovery::commit_with_pin(state, org_id, customer, r, q, rec).await;
    }
    let old = rec.as_ref().and_then(|rec| rec.verify_key.clone());
    if let Some(rec) = &rec
        && rec.enroll_nonce.as_deref() == Some(r.nonce.as_slice())
        && rec.verify_key.as_deref() == Some(r.verify_key.as_slice())
    {
        // A repeated commit (the server retried after a lost answer).
        return Ok(CustomerPinResponse::default());
    }
    if ed25519_dalek::VerifyingKey::from_bytes(
        &<[u8; 32]>::try_from(r.verify_key.as_slice())
            .map_err(|_| NodeError::invalid("verify key must be 32 bytes"))?,
    )
    .is_err()
    {
        return Err(NodeError::invalid("verify key is not an Ed25519 point"));
    }
    if let Some(old) = &old {
        // Over an enrolled PIN: signed by the old PIN (update) or by the recovery
        // factor (reset; its unlock issued the rekey nonce the enrollment used).
        let signer_key = match factor_of(r.signer, "signer")? {
            CustomerFactor::Pin => old.clone(),
            f @ (CustomerFactor::Questions | CustomerFactor::Email) => state
                .store
                .factor_record(crate::customer_recovery::table(f), org_id, customer)
                .await?
                .and_then(|rec| rec.verify_key)
                .ok_or_else(|| {
                    NodeError::new(ErrorCode::RecoveryNotSet, "no recovery is set up")
                })?,
        };
        let msg = pin::commit_message(org_id, customer, &r.nonce, &r.verify_key);
        if !pin::verify_signature(&signer_key, &msg, &r.signature) {
            tracing::warn!(org = %org_id, customer = %customer, signer = r.signer,
                "PIN change refused: bad signature");
            return Err(proof_invalid(
                "the PIN change is not signed by the old PIN or the recovery factor",
            ));
        }
    }
    if !state
        .store
        .commit_pin(
            org_id,
            customer,
            &r.nonce,
            &r.verify_key,
            old.as_deref(),
            now_ms(),
        )
        .await?
    {
        return Err(NodeError::new(
            ErrorCode::PinNotSet,
            "no pending enrollment with this nonce",
        ));
    }
    tracing::info!(org = %org_id, customer = %customer, "PIN enrolled");
    Ok(CustomerPinResponse::default())
}
