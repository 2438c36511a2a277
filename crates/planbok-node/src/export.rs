//! Key export, both sides. The full key never exists on a node: each node encrypts **its
//! own share** to the client's ephemeral X25519 key (`planbok_mpc::export`, HPKE) and the
//! client reconstructs.
//!
//! Node 1 (`Coordinator.Export`) checks the grant, requires a Trustless organization and a
//! fresh `verify`-context secret (every check signing makes), unwraps and seals its share,
//! then calls `Peer.Export`. Node 2 checks the same grant on its own (signature, window,
//! operation, key, recipient key via the parameter hash) and records it as used, then makes
//! its own custody check: the key's mode as Node 2 recorded it at the DKG, from the server's
//! DKG grant. A Standard key, or one whose mode Node 2 never recorded, does not leave Node 2
//! whatever the server and Node 1 say. The secret check is Node 1's alone. Node 1 only
//! forwards Node 2's ciphertext.

use planbok_mpc::export;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant::{self, VerifiedGrant};
use planbok_proto::pb::{
    ExportRequest, ExportResponse, Operation, PeerExportRequest, PeerExportResponse,
};

use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult, from_peer_status};
use crate::secrets::{self, Context};
use crate::state::{NodeState, Proto};

fn check_recipient(pk: &[u8]) -> NodeResult<()> {
    export::check_recipient_public_key(pk).map_err(|e| NodeError::invalid(e.to_string()))
}

/// Verifies the grant and the recipient key.
fn verify(
    state: &NodeState,
    grant: Option<&planbok_proto::pb::SignedGrant>,
    recipient: &[u8],
) -> NodeResult<VerifiedGrant> {
    state.require_unsealed()?;
    let g = state.verify_grant(grant)?;
    check_recipient(recipient)?;
    Ok(g)
}

/// Consumes the grant for exactly this export of `rec`.
async fn consume(
    state: &NodeState,
    g: &VerifiedGrant,
    rec: &planbok_store::KeyRecord,
    recipient: &[u8],
) -> NodeResult<Proto> {
    let proto = Proto::from_name(&rec.protocol)?;
    state
        .consume_grant(
            g,
            Operation::Export,
            &rec.key_id,
            &grant::export_params(proto.to_pb(), recipient),
        )
        .await?;
    Ok(proto)
}

/// Each node's own check that a key may leave: the custody mode it recorded at the DKG.
fn require_exportable(state: &NodeState, rec: &planbok_store::KeyRecord) -> NodeResult<()> {
    match rec.custody {
        Some(c) if c.exportable() => Ok(()),
        Some(_) => {
            tracing::warn!(alert = true, key = %rec.key_id, org = %rec.org_id, node = state.role.number(),
                "refused to export a Standard key although the grant allowed it");
            Err(NodeError::new(
                ErrorCode::ExportNotAllowed,
                format!(
                    "node {}: the key was generated for a Standard organization; its shares never leave the nodes",
                    state.role
                ),
            ))
        }
        None => Err(NodeError::new(
            ErrorCode::ExportNotAllowed,
            format!(
                "node {}: the key's custody mode was never recorded (a key made before modes were \
                 recorded); an operator of this node must confirm it first (planbok operator key-custody)",
                state.role
            ),
        )),
    }
}

fn seal(state: &NodeState, recipient: &[u8], key_id: &str, share: &[u8]) -> NodeResult<Vec<u8>> {
    export::seal_share_for_export(recipient, key_id, state.me, share)
        .map_err(|e| NodeError::internal(format!("export seal: {e}")))
}

/// Most keys one export may carry.
const MAX_EXPORT: usize = 64;

impl CoordinatorService {
    /// Node 1's side of `Coordinator.Export`: every grant is checked and consumed, the org
    /// must be Trustless, and the one `verify` secret is checked, before any share is opened.
    pub(crate) async fn export_inner(&self, r: ExportRequest) -> NodeResult<ExportResponse> {
        let state = &self.state;
        if r.more.len() >= MAX_EXPORT {
            return Err(NodeError::invalid(format!(
                "an export has at most {MAX_EXPORT} keys"
            )));
        }
        let items = std::iter::once((r.grant, r.key_id))
            .chain(r.more.into_iter().map(|i| (i.grant, i.key_id)));
        let mut checked = Vec::new();
        for (signed, key_id) in items {
            let g = verify(state, signed.as_ref(), &r.recipient_public_key)?;
            if checked
                .first()
                .is_some_and(|(first, ..): &(VerifiedGrant, _, _, _)| first.org_id != g.org_id)
            {
                return Err(NodeError::invalid(
                    "an export's grants must name one organization",
                ));
            }
            let rec = self.settled_key(&key_id, &g.org_id).await?;
            let proto = consume(state, &g, &rec, &r.recipient_public_key).await?;
            require_exportable(state, &rec)?;
            checked.push((g, rec, proto, signed));
        }
        let Some(org_id) = checked.first().map(|(g, ..)| g.org_id.clone()) else {
            return Err(NodeError::invalid("nothing to export"));
        };
        // A customer's keys leave only together, all of one customer, under that customer's
        // secret bound to this challenge's exports; an organization's keys never under a
        // customer's challenge.
        let customer = crate::customer_ops::one_customer(
            checked.iter().map(|(_, rec, ..)| rec),
            &r.customer_challenge,
        )?;
        let _permit;
        let secret = match customer {
            Some(customer) => {
                _permit = state.slot().await?;
                let ops: Vec<[u8; 32]> = checked
                    .iter()
                    .map(|(_, rec, ..)| {
                        planbok_envelope::customer_op::op_digest(
                            &org_id,
                            customer,
                            &r.customer_challenge,
                            planbok_envelope::customer_op::CustomerOp::Export {
                                key_id: &rec.key_id,
                                recipient: &r.recipient_public_key,
                            },
                        )
                    })
                    .collect();
                crate::customer_ops::customer_secret(
                    state,
                    &org_id,
                    customer,
                    &r.encrypted_secret,
                    Context::Verify,
                    &r.customer_challenge,
                    &ops,
                    false,
                )
                .await?
            }
            None => {
                secrets::require_trustless(state, &org_id).await?;
                let key_list: Vec<&[u8]> = checked
                    .iter()
                    .map(|(_, rec, ..)| rec.public_key.as_slice())
                    .collect();
                _permit = state.slot().await?;
                secrets::secret_for(
                    state,
                    &org_id,
                    &r.encrypted_secret,
                    Context::Verify,
                    secrets::Binding::export(&org_id, &r.recipient_public_key, &key_list),
                )
                .await?
            }
        };
        let mut out = Vec::with_capacity(checked.len());
        for (g, rec, proto, signed) in checked {
            out.push(
                self.export_one(
                    &g,
                    rec,
                    proto,
                    signed,
                    &secret,
                    &r.recipient_public_key,
                    &r.customer_challenge,
                )
                .await?,
            );
        }
        drop(secret);
        let mut first = out.remove(0);
        first.more = out;
        Ok(first)
    }

    /// Seals Node 1's share of one checked key and fetches Node 2's.
    #[expect(
        clippy::too_many_arguments,
        reason = "the checked parts of one key's export"
    )]
    async fn export_one(
        &self,
        g: &VerifiedGrant,
        rec: planbok_store::KeyRecord,
        proto: Proto,
        signed: Option<planbok_proto::pb::SignedGrant>,
        secret: &[u8; 32],
        recipient: &[u8],
        customer_challenge: &str,
    ) -> NodeResult<ExportResponse> {
        let state = &self.state;
        let key_id = rec.key_id.clone();
        let (public_key, chain_code) = (rec.public_key.clone(), rec.chain_code.clone());
        let share_version = rec.share_version;
        let share = state
            .open_share_bytes_checked(rec, proto, Some(secret))
            .await?;
        let node1_ciphertext = seal(state, recipient, &key_id, &share)?;
        drop(share);

        let mut peer = self.peer.clone();
        let node2 = self
            .deadlines()
            .within(
                "node 2's export",
                peer.export(PeerExportRequest {
                    grant: signed,
                    key_id: key_id.clone(),
                    recipient_public_key: recipient.to_vec(),
                    share_version,
                    customer_challenge: customer_challenge.to_owned(),
                }),
            )
            .await?
            .map_err(|s| from_peer_status(&s))?
            .into_inner();
        if node2.ciphertext.first() != Some(&export::EXPORT_VERSION)
            || node2.ciphertext.len() <= 1 + export::RECIPIENT_KEY_LEN
        {
            return Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "node 2 returned something that is not an export envelope",
            ));
        }
        tracing::warn!(key = %key_id, org = %g.org_id, protocol = proto.name(),
            "key exported: both shares sealed to the client's recipient key");
        Ok(ExportResponse {
            node1_ciphertext,
            node2_ciphertext: node2.ciphertext,
            protocol: proto.to_pb() as i32,
            public_key,
            chain_code: chain_code.unwrap_or_default(),
            more: Vec::new(),
        })
    }
}

/// Node 2's side: `Peer.Export`.
pub(crate) async fn peer_export(
    state: &NodeState,
    r: PeerExportRequest,
) -> NodeResult<PeerExportResponse> {
    let g = verify(state, r.grant.as_ref(), &r.recipient_public_key)?;
    let rec = state.key(&r.key_id, &g.org_id).await?;
    let proto = consume(state, &g, &rec, &r.recipient_public_key).await?;
    require_exportable(state, &rec)?;
    match &rec.customer_id {
        // A customer's key leaves only under a permit from the customer's own unlock for
        // this export to this recipient: not on the server's grant, not on Node 1's word.
        Some(customer) => {
            crate::customer_ops::take_permit(
                state,
                &g.org_id,
                customer,
                &r.customer_challenge,
                planbok_envelope::customer_op::CustomerOp::Export {
                    key_id: &r.key_id,
                    recipient: &r.recipient_public_key,
                },
            )
            .await?;
        }
        None if !r.customer_challenge.is_empty() => {
            return Err(NodeError::new(
                planbok_proto::codes::ErrorCode::CustomerKey,
                "a customer's challenge names a key that is not the customer's",
            ));
        }
        None => {}
    }
    if r.share_version != 0 && r.share_version != rec.share_version {
        return Err(NodeError::new(
            ErrorCode::ShareVersionMismatch,
            format!(
                "node 2 holds share version {}, node 1 sent {}",
                rec.share_version, r.share_version
            ),
        ));
    }
    let _permit = state.slot().await?;
    let share = state.open_share_bytes_checked(rec, proto, None).await?;
    let ciphertext = seal(state, &r.recipient_public_key, &r.key_id, &share)?;
    tracing::warn!(key = %r.key_id, org = %g.org_id, protocol = proto.name(),
        "share exported, sealed to the client's recipient key");
    Ok(PeerExportResponse { ciphertext })
}
