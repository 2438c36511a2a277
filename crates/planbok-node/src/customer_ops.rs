//! Customer custody on the nodes: a customer's keys, made, used and exported only through
//! the customer's own challenge.
//!
//! - **Node 1** runs the same code as for a Trustless organization, with the customer's
//!   secret `S_c` in the organization secret's place: it arrives only RSA-encrypted to the
//!   organization key, fresh, burned on first decryption, and bound to this challenge's
//!   operations (`planbok_envelope::customer_op::binding`); Node 1's share is wrapped under
//!   it (`planbok_keystore::wrap`, the one wrapping path). A verifier of `S_c` is recorded
//!   at the customer's first DKG so that a wrong secret is refused before a share is
//!   touched.
//! - **Node 2** takes part in no DKG, signature or export of a customer's key without a
//!   **permit**: a PIN unlock of an operation challenge signs the challenge and the
//!   digests of its operations with the customer's unlock key
//!   (`customer_op::permit_message`); Node 2 checks the signature against the enrolled
//!   unlock key and the attempt nonce, resets the counter and records one permit per
//!   operation, in one transaction. Each run then deletes its own permit in the statement
//!   that checks it. The server's grant is still required and checked as always; it is no
//!   longer sufficient.
//!
//! Both nodes record the customer with the key at its DKG, from the server's grant
//! (`grant::customer_dkg_params`); a customer's key is never refreshed (no permit kind
//! exists for it) and never used by the organization's own operations.

use planbok_envelope::customer_op::{self, CustomerOp};
use planbok_envelope::pin;
use planbok_keystore::wrap;
use planbok_mpc::SessionId;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant::{self, VerifiedGrant};
use planbok_proto::pb::{
    CustomerPinRequest, CustomerPinResponse, KeygenBatchRequest, KeygenBatchResponse, Open,
    Operation, SecretContext, SignRequest, SignResponse,
};
use planbok_store::FactorTable;
use planbok_store::{Custody, KeyRecord};
use zeroize::Zeroizing;

use crate::clock::now_ms;
use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult};
use crate::peer::Job;
use crate::protocols;
use crate::secrets::{self, Context};
use crate::state::{NodeState, Proto};

/// How long a permit lasts: the challenge's operations run right after the unlock.
const PERMIT_TTL_MS: i64 = 10 * 60_000;
/// Most operations one unlock may permit (one export of every key of a customer).
pub(crate) const MAX_PERMITS: usize = 64;
/// Longest customer or challenge id.
const MAX_ID: usize = 64;

fn check_id(what: &str, id: &str) -> NodeResult<()> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(NodeError::invalid(format!(
            "{what} must be 1 to {MAX_ID} bytes"
        )));
    }
    Ok(())
}

/// Refuses a customer's key to an operation that has no customer permit kind (refresh).
pub(crate) fn refuse_customer_key(rec: &KeyRecord) -> NodeResult<()> {
    if rec.customer_id.is_some() {
        return Err(NodeError::new(
            ErrorCode::CustomerKey,
            "the key is a customer's: only the customer's challenges use it",
        ));
    }
    Ok(())
}

/// The one customer that every key of a request belongs to, with the challenge a customer
/// request must name; `None` for organization keys (and then no challenge may be named).
pub(crate) fn one_customer<'a>(
    mut recs: impl Iterator<Item = &'a KeyRecord>,
    challenge: &str,
) -> NodeResult<Option<&'a str>> {
    let mixed = || {
        NodeError::new(
            ErrorCode::CustomerKey,
            "a request names keys of more than one owner, or a customer's key without its challenge",
        )
    };
    let first = recs.next().and_then(|r| r.customer_id.as_deref());
    for r in recs {
        if r.customer_id.as_deref() != first {
            return Err(mixed());
        }
    }
    match (first, challenge.is_empty()) {
        (Some(c), false) => {
            check_id("challenge id", challenge)?;
            Ok(Some(c))
        }
        (None, true) => Ok(None),
        _ => Err(mixed()),
    }
}

/// Node 2: consumes the permit for `op` of `challenge`, or refuses.
pub(crate) async fn take_permit(
    state: &NodeState,
    org_id: &str,
    customer_id: &str,
    challenge: &str,
    op: CustomerOp<'_>,
) -> NodeResult<()> {
    let digest = customer_op::op_digest(org_id, customer_id, challenge, op);
    if challenge.is_empty()
        || !state
            .store
            .take_permit(org_id, customer_id, challenge, &digest, now_ms())
            .await?
    {
        tracing::warn!(alert = true, org = %org_id, customer = %customer_id,
            "refused an operation on a customer's key: no permit from the customer's unlock");
        return Err(NodeError::new(
            ErrorCode::PermitRequired,
            "no permit for this operation: the customer must authorize it with the PIN",
        ));
    }
    Ok(())
}

/// Node 2: the unlock of an operation challenge. Checks the signature over the permit
/// message (attempt nonce, challenge, operations) against the enrolled unlock key, then
/// resets the counter and records the permits in one transaction.
pub(crate) async fn unlock_with_permits(
    state: &NodeState,
    org_id: &str,
    customer: &str,
    r: &CustomerPinRequest,
) -> NodeResult<CustomerPinResponse> {
    let verify_key = state
        .store
        .factor_record(FactorTable::Pin, org_id, customer)
        .await?
        .and_then(|rec| rec.verify_key)
        .ok_or_else(|| NodeError::new(ErrorCode::PinNotSet, "no PIN is set"))?;
    let ops: Vec<[u8; 32]> = r
        .permits
        .iter()
        .map(|p| <[u8; 32]>::try_from(p.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| NodeError::invalid("a permit is 32 bytes"))?;
    let msg = customer_op::permit_message(org_id, customer, &r.nonce, &r.challenge_id, &ops);
    if !pin::verify_signature(&verify_key, &msg, &r.signature) {
        tracing::warn!(org = %org_id, customer = %customer, "operation unlock refused: bad signature");
        return Err(NodeError::new(
            ErrorCode::PinProofInvalid,
            "the unlock proof does not verify for these operations",
        ));
    }
    let now = now_ms();
    if !state
        .store
        .unlock_with_permits(
            org_id,
            customer,
            &r.nonce,
            &verify_key,
            &r.challenge_id,
            &ops,
            now + PERMIT_TTL_MS,
            now,
        )
        .await?
    {
        tracing::warn!(alert = true, org = %org_id, customer = %customer,
            "operation unlock refused: the attempt nonce is not current (replayed?)");
        return Err(NodeError::new(
            ErrorCode::PinProofInvalid,
            "this attempt is not current",
        ));
    }
    tracing::info!(org = %org_id, customer = %customer, challenge = %r.challenge_id,
        permits = ops.len(), "PIN unlocked for a challenge's operations; counter reset");
    Ok(CustomerPinResponse::default())
}

/// Node 2: a DKG of a customer's key. The grant names the customer
/// (`grant::customer_dkg_params`), the permit this very DKG.
pub(crate) async fn prepare_customer_keygen(
    state: &NodeState,
    open: Open,
    proto: Proto,
    g: VerifiedGrant,
) -> NodeResult<Job> {
    check_id("customer id", &open.customer_id)?;
    state
        .consume_grant(
            &g,
            Operation::Dkg,
            &open.key_id,
            &grant::customer_dkg_params(proto.to_pb(), &open.customer_id),
        )
        .await?;
    take_permit(
        state,
        &g.org_id,
        &open.customer_id,
        &open.customer_challenge,
        CustomerOp::Dkg {
            key_id: &open.key_id,
            protocol: proto.to_pb() as i32,
        },
    )
    .await?;
    Ok(Job::Keygen {
        proto,
        custody: Custody::Customer,
        customer_id: Some(open.customer_id),
        key_id: g.key_id,
        org_id: g.org_id,
        sid: SessionId::from_bytes(g.session_id),
    })
}

/// Node 1: the customer's secret for one request: decrypted (burned first), fresh, of
/// `context`, bound to exactly `ops` of `challenge`, and the customer's — checked against
/// the verifier recorded at the first DKG, or, with `first_dkg` and none recorded yet,
/// recorded now.
#[expect(
    clippy::too_many_arguments,
    reason = "what one secret check is bound to"
)]
pub(crate) async fn customer_secret(
    state: &NodeState,
    org_id: &str,
    customer_id: &str,
    ciphertext_b64: &str,
    context: Context,
    challenge: &str,
    ops: &[[u8; 32]],
    first_dkg: bool,
) -> NodeResult<Zeroizing<[u8; 32]>> {
    if ciphertext_b64.is_empty() {
        return Err(NodeError::new(
            ErrorCode::SecretRequired,
            "a customer's key needs the customer's encrypted secret",
        ));
    }
    let expected = customer_op::binding(context, org_id, customer_id, challenge, ops);
    let secret =
        secrets::open_envelope(state, org_id, ciphertext_b64, context, expected, true).await?;
    let scope = verifier_scope(org_id, customer_id);
    let mine = wrap::secret_verifier(&secret, &scope);
    let recorded = match state
        .store
        .customer_secret_verifier(org_id, customer_id)
        .await?
    {
        Some(v) => v,
        None if first_dkg => {
            state
                .store
                .put_customer_secret_verifier(org_id, customer_id, &mine, now_ms())
                .await?
        }
        None => {
            return Err(NodeError::new(
                ErrorCode::SecretNotRegistered,
                "the customer has no keys yet",
            ));
        }
    };
    let recorded: [u8; 32] = recorded
        .as_slice()
        .try_into()
        .map_err(|_| NodeError::internal("a stored customer verifier of the wrong length"))?;
    if !wrap::verify_secret(&secret, &scope, &recorded) {
        tracing::warn!(alert = true, org = %org_id, customer = %customer_id,
            "a secret other than the customer's was presented");
        return Err(NodeError::new(
            ErrorCode::SecretInvalid,
            "the secret is not the customer's",
        ));
    }
    Ok(secret)
}

/// The verifier's HKDF salt: the customer's own scope, never an organization id alone.
fn verifier_scope(org_id: &str, customer_id: &str) -> String {
    format!("{org_id}/customer/{customer_id}")
}

impl CoordinatorService {
    /// Node 1: `KeygenBatch` for a customer. Every grant names the customer; the customer's
    /// secret (context `dkg`) is bound to exactly these DKGs; each runs with the customer
    /// and challenge in its `Open` (Node 2 needs a permit per DKG).
    pub(crate) async fn customer_keygen(
        &self,
        r: KeygenBatchRequest,
    ) -> NodeResult<KeygenBatchResponse> {
        let state = &self.state;
        check_id("customer id", &r.customer_id)?;
        check_id("challenge id", &r.customer_challenge)?;
        if r.items.is_empty() || r.items.len() > MAX_PERMITS {
            return Err(NodeError::invalid(format!(
                "a batch has 1 to {MAX_PERMITS} items"
            )));
        }
        if !matches!(
            SecretContext::try_from(r.context),
            Ok(SecretContext::Unspecified | SecretContext::Dkg)
        ) {
            return Err(NodeError::invalid("a customer's DKG takes a dkg secret"));
        }
        let mut checked = Vec::with_capacity(r.items.len());
        for item in r.items {
            let proto = Proto::from_pb(item.protocol)?;
            let g = state.verify_grant(item.grant.as_ref())?;
            if g.key_id.is_empty() || g.key_id.len() > 128 {
                return Err(NodeError::invalid("key id must be 1 to 128 characters"));
            }
            if checked
                .first()
                .is_some_and(|(_, c, _): &(Proto, VerifiedGrant, _)| c.org_id != g.org_id)
            {
                return Err(NodeError::invalid(
                    "a batch's grants must name one organization",
                ));
            }
            state
                .consume_grant(
                    &g,
                    Operation::Dkg,
                    &g.key_id,
                    &grant::customer_dkg_params(proto.to_pb(), &r.customer_id),
                )
                .await?;
            checked.push((proto, g, item.grant));
        }
        let org_id = checked[0].1.org_id.clone();
        let ops: Vec<[u8; 32]> = checked
            .iter()
            .map(|(proto, g, _)| {
                customer_op::op_digest(
                    &org_id,
                    &r.customer_id,
                    &r.customer_challenge,
                    CustomerOp::Dkg {
                        key_id: &g.key_id,
                        protocol: proto.to_pb() as i32,
                    },
                )
            })
            .collect();
        let mut keys = Vec::with_capacity(checked.len());
        let mut secret = None;
        for (proto, g, signed) in checked {
            let _permit = state.slot().await?;
            if secret.is_none() {
                secret = Some(
                    customer_secret(
                        state,
                        &org_id,
                        &r.customer_id,
                        &r.encrypted_secret,
                        Context::Dkg,
                        &r.customer_challenge,
                        &ops,
                        true,
                    )
                    .await?,
                );
            }
            let Some(secret) = secret.as_ref() else {
                return Err(NodeError::internal("secret not decrypted"));
            };
            keys.push(
                self.run_keygen(
                    proto,
                    Custody::Customer,
                    Some((r.customer_id.as_str(), r.customer_challenge.as_str())),
                    g,
                    signed,
                    secret,
                )
                .await?,
            );
        }
        Ok(KeygenBatchResponse { keys })
    }

    /// Node 1: `Sign` with a customer's key: the customer's secret (context `sign`) bound
    /// to this one signature of this challenge; Node 2 gets the challenge in the `Open` and
    /// needs its own permit.
    pub(crate) async fn customer_sign(
        &self,
        r: SignRequest,
        g: VerifiedGrant,
        rec: KeyRecord,
    ) -> NodeResult<SignResponse> {
        let state = &self.state;
        let Some(customer) = one_customer(std::iter::once(&rec), &r.customer_challenge)? else {
            return Err(NodeError::internal(
                "a customer signature without a customer",
            ));
        };
        let customer = customer.to_owned();
        let proto = Proto::from_name(&rec.protocol)?;
        let params = grant::sign_params(proto.to_pb(), &r.derivation_path, &r.payload);
        state
            .consume_grant(&g, Operation::Sign, &r.key_id, &params)
            .await?;
        let input = protocols::sign_input(proto, &r.derivation_path, &r.payload)?;
        let _permit = state.slot().await?;
        let ops = [customer_op::op_digest(
            &g.org_id,
            &customer,
            &r.customer_challenge,
            CustomerOp::Sign {
                key_id: &r.key_id,
                path: &r.derivation_path,
                payload: &r.payload,
            },
        )];
        let secret = customer_secret(
            state,
            &g.org_id,
            &customer,
            &r.encrypted_secret,
            Context::Sign,
            &r.customer_challenge,
            &ops,
            false,
        );
        let signed = self
            .run_sign(&r, rec, proto, input, g.session_id, secret)
            .await?;
        tracing::info!(org = %g.org_id, customer = %customer, key = %r.key_id, "customer signature");
        Ok(signed)
    }
}
