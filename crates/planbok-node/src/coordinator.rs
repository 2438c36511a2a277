//! Node 1: the `Coordinator` service the server calls. Node 1 checks the grant and the
//! organization secret itself, opens one stream to Node 2 per run, drives its side, and
//! commits DKG results in two phases (Node 2 pending → Node 1 pending → Node 2 active →
//! Node 1 active), so a crash never leaves a key that only one node holds as usable.

use std::sync::Arc;

use planbok_keystore::wrap;
use planbok_mpc::SessionId;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant;
use planbok_proto::pb::coordinator_server::Coordinator;
use planbok_proto::pb::peer_client::PeerClient;
use planbok_proto::pb::{
    CheckSecretRequest, CheckSecretResponse, Empty, ExportRequest, ExportResponse,
    KeygenBatchRequest, KeygenBatchResponse, KeygenItem, KeygenRequest, KeygenResponse, Open,
    Operation, OrgPublicKeyRequest, OrgPublicKeyResponse, PeerMessage, ReadyRequest, ReadyResponse,
    RefreshRequest, RefreshResponse, RegisterSecretRequest, RegisterSecretResponse,
    RequireBindingRequest, RequireBindingResponse, RunKind, SealState, SecretContext, SignRequest,
    SignResponse, peer_message::Msg,
};
use planbok_store::Custody;
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{NodeError, NodeResult, from_peer_status};
use crate::protocols::{self, DkgResult};
use crate::runner::{Deadlines, Early, Outbox, drive, next_control};
use crate::secrets::{self, Context};
use crate::state::{NodeState, PendingKey, Proto, custody_to_pb};

/// Longest key id accepted.
const MAX_KEY_ID: usize = 128;
/// Most DKGs one `KeygenBatch` may ask for.
const MAX_BATCH: usize = 64;

/// Node 1's coordinator service, also used by the operator service for provisioning.
#[derive(Debug, Clone)]
pub(crate) struct CoordinatorService {
    pub(crate) state: Arc<NodeState>,
    pub(crate) peer: PeerClient<Channel>,
}

/// How long a finished signing run waits for Node 2 to end its side.
const FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An open run with Node 2.
pub(crate) struct Run {
    pub(crate) tx: mpsc::Sender<PeerMessage>,
    pub(crate) inbox: Streaming<PeerMessage>,
}

impl Run {
    /// Node 2's report that it stored its result as pending (it may have arrived while the
    /// protocol ran): the public key it got, empty for aux info.
    pub(crate) async fn stored(
        &mut self,
        early: Early,
        deadlines: &Deadlines,
    ) -> NodeResult<Vec<u8>> {
        let m = match early {
            Some(m) => m,
            None => next_control(&mut self.inbox, deadlines, "node 2 to store its result").await?,
        };
        match m {
            Msg::Stored(pk) => Ok(pk),
            _ => Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "expected node 2's stored confirmation",
            )),
        }
    }

    /// Ends a signing run gracefully: closes Node 1's side and waits (briefly) for Node 2
    /// to end its own. Dropping the call instead resets the stream, and Node 1's last frame
    /// (which Node 2 needs to finish, as both parties aggregate) can be lost with it: the
    /// signature is fine, but Node 2 would record a run that failed. Nothing Node 2 says
    /// now changes the result, which Node 1 has verified.
    pub(crate) async fn finish(self) {
        let Run { tx, mut inbox } = self;
        drop(tx);
        let _ = tokio::time::timeout(FINISH_WAIT, async {
            while let Some(Ok(_)) = inbox.next().await {}
        })
        .await;
    }

    /// Tells Node 2 to activate what it stored, and waits for its confirmation.
    pub(crate) async fn commit(&mut self, deadlines: &Deadlines) -> NodeResult<()> {
        let commit = PeerMessage {
            msg: Some(Msg::Commit(Empty {})),
        };
        if !Outbox::send(&self.tx, commit).await {
            return Err(NodeError::new(
                ErrorCode::PeerUnavailable,
                "node 2 went away before the commit",
            ));
        }
        match next_control(&mut self.inbox, deadlines, "node 2 to commit").await? {
            Msg::Committed(_) => Ok(()),
            _ => Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "expected node 2's commit confirmation",
            )),
        }
    }
}

impl CoordinatorService {
    /// Opens a stream to Node 2 and sends `open` as its first message.
    pub(crate) async fn open_run(&self, open: Open, deadlines: &Deadlines) -> NodeResult<Run> {
        let (tx, rx) = mpsc::channel(16);
        tx.send(PeerMessage {
            msg: Some(Msg::Open(open)),
        })
        .await
        .map_err(|_| NodeError::internal("run channel closed"))?;
        let mut peer = self.peer.clone();
        let resp = deadlines
            .within(
                "node 2 to accept the run",
                peer.run(ReceiverStream::new(rx)),
            )
            .await?
            .map_err(|s| from_peer_status(&s))?;
        Ok(Run {
            tx,
            inbox: resp.into_inner(),
        })
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines::new(
            self.state.limits.run_timeout(),
            self.state.limits.round_timeout(),
        )
    }

    async fn keygen_inner(&self, r: KeygenRequest) -> NodeResult<KeygenResponse> {
        let batch = KeygenBatchRequest {
            items: vec![KeygenItem {
                grant: r.grant,
                protocol: r.protocol,
            }],
            encrypted_secret: r.encrypted_secret,
            binding_ref: r.binding_ref,
            context: SecretContext::Dkg as i32,
            ..Default::default()
        };
        self.keygen_batch_inner(batch)
            .await?
            .keys
            .pop()
            .ok_or_else(|| NodeError::new(ErrorCode::Internal, "a one-item batch made no key"))
    }

    /// Checks every item's grant first, then the secret once, then runs the DKGs in order.
    /// A failure stops the batch; keys already committed stay (the server never refers to
    /// them, because it records nothing unless the whole batch succeeds).
    async fn keygen_batch_inner(&self, r: KeygenBatchRequest) -> NodeResult<KeygenBatchResponse> {
        let state = &self.state;
        state.require_unsealed()?;
        if !r.customer_id.is_empty() || !r.customer_challenge.is_empty() {
            return self.customer_keygen(r).await;
        }
        if r.items.is_empty() || r.items.len() > MAX_BATCH {
            return Err(NodeError::invalid(format!(
                "a batch has 1 to {MAX_BATCH} items"
            )));
        }
        let mut checked = Vec::with_capacity(r.items.len());
        let mut custody = None;
        for item in r.items {
            let proto = Proto::from_pb(item.protocol)?;
            let g = state.verify_grant(item.grant.as_ref())?;
            if g.key_id.is_empty() || g.key_id.len() > MAX_KEY_ID {
                return Err(NodeError::invalid("key id must be 1 to 128 characters"));
            }
            if checked
                .iter()
                .any(|(_, c, _): &(Proto, grant::VerifiedGrant, _)| c.org_id != g.org_id)
            {
                return Err(NodeError::invalid(
                    "a batch's grants must name one organization",
                ));
            }
            // The key is recorded with Node 1's own record of the organization's mode, and
            // the grant must say the same: a server cannot make Node 1 label a Standard
            // organization's key exportable.
            let mode = match custody {
                Some(mode) => mode,
                None => *custody.insert(registered_custody(state, &g.org_id).await?),
            };
            state
                .consume_grant(
                    &g,
                    Operation::Dkg,
                    &g.key_id,
                    &grant::dkg_params(proto.to_pb(), custody_to_pb(Some(mode))),
                )
                .await?;
            checked.push((proto, g, item.grant));
        }
        let Some(custody) = custody else {
            return Err(NodeError::internal(
                "a checked batch without a custody mode",
            ));
        };
        let org_id = checked[0].1.org_id.clone();
        let context = match SecretContext::try_from(r.context) {
            Ok(SecretContext::Unspecified | SecretContext::Dkg) => Context::Dkg,
            Ok(SecretContext::Sign) => Context::Sign,
            _ => return Err(NodeError::invalid("a DKG takes a dkg or sign secret")),
        };
        let mut keys = Vec::with_capacity(checked.len());
        let mut secret = None;
        for (proto, g, signed) in checked {
            // The slot first: a busy node should refuse before it decrypts anything.
            let _permit = state.slot().await?;
            if secret.is_none() {
                secret = Some(
                    secrets::secret_for(
                        state,
                        &org_id,
                        &r.encrypted_secret,
                        context,
                        secrets::Binding::creation(context, &org_id, &r.binding_ref),
                    )
                    .await?,
                );
            }
            let Some(secret) = secret.as_ref() else {
                return Err(NodeError::new(ErrorCode::Internal, "secret not decrypted"));
            };
            keys.push(
                self.run_keygen(proto, custody, None, g, signed, secret)
                    .await?,
            );
        }
        Ok(KeygenBatchResponse { keys })
    }

    /// One DKG with Node 2 under a checked grant, committed on both nodes. `customer`: a
    /// customer's key (customer id, challenge), `custody` then `Customer`.
    pub(crate) async fn run_keygen(
        &self,
        proto: Proto,
        custody: Custody,
        customer: Option<(&str, &str)>,
        g: grant::VerifiedGrant,
        signed: Option<planbok_proto::pb::SignedGrant>,
        secret: &[u8; 32],
    ) -> NodeResult<KeygenResponse> {
        let state = &self.state;
        let key_id = g.key_id.clone();
        let deadlines = self.deadlines();
        let mut run = self
            .open_run(
                Open {
                    kind: RunKind::Keygen as i32,
                    grant: signed,
                    protocol: proto.to_pb() as i32,
                    key_id: key_id.clone(),
                    derivation_path: String::new(),
                    payload: Vec::new(),
                    share_version: 0,
                    custody_mode: custody_to_pb(Some(custody)) as i32,
                    customer_id: customer.map(|c| c.0.to_owned()).unwrap_or_default(),
                    customer_challenge: customer.map(|c| c.1.to_owned()).unwrap_or_default(),
                },
                &deadlines,
            )
            .await?;
        let sid = SessionId::from_bytes(g.session_id);
        let (out, early) = drive(
            protocols::keygen(proto, sid, state.me),
            &run.tx,
            &mut run.inbox,
            deadlines,
        )
        .await?;
        let DkgResult {
            public_key,
            chain_code,
            share,
        } = protocols::dkg_result(out)?;
        if run.stored(early, &deadlines).await? != public_key {
            tracing::error!(alert = true, key = %key_id, "node 2 reports a different public key");
            return Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "the nodes disagree on the new public key",
            ));
        }
        let wrapped = wrap::wrap_share(secret, &g.org_id, &key_id, &share)?;
        drop(share);
        state
            .store_pending_key(
                PendingKey {
                    key_id: &key_id,
                    org_id: &g.org_id,
                    proto,
                    custody,
                    customer_id: customer.map(|c| c.0),
                    public_key: &public_key,
                    chain_code: chain_code.clone(),
                },
                wrapped,
            )
            .await?;
        if let Err(e) = run.commit(&deadlines).await {
            let _ = state.store.delete_pending_key(&key_id).await;
            return Err(e);
        }
        state.store.activate_key(&key_id).await?;
        tracing::info!(key = %key_id, org = %g.org_id, protocol = proto.name(), "key generated");
        Ok(KeygenResponse {
            key_id,
            protocol: proto.to_pb() as i32,
            public_key,
            chain_code: chain_code.unwrap_or_default(),
        })
    }

    /// Checks (and consumes) a secret on its own: authorized by a grant for the organization
    /// (consumed like any other), then metered per organization, then decrypted.
    async fn check_secret_inner(&self, r: CheckSecretRequest) -> NodeResult<CheckSecretResponse> {
        let state = &self.state;
        state.require_unsealed()?;
        let context = match SecretContext::try_from(r.context) {
            Ok(SecretContext::Dkg) => Context::Dkg,
            Ok(SecretContext::Sign) => Context::Sign,
            Ok(SecretContext::Verify) => Context::Verify,
            _ => return Err(NodeError::invalid("unknown secret context")),
        };
        let g = state.verify_grant(r.grant.as_ref())?;
        if g.org_id != r.org_id {
            return Err(NodeError::new(
                ErrorCode::GrantScopeMismatch,
                "the grant names another organization",
            ));
        }
        state
            .consume_grant(
                &g,
                Operation::CheckSecret,
                "",
                &grant::check_secret_params(r.context, &r.binding_ref),
            )
            .await?;
        state.check_budget.take(&g.org_id, crate::clock::now_ms())?;
        secrets::secret_for(
            state,
            &g.org_id,
            &r.encrypted_secret,
            context,
            secrets::Binding::creation(context, &g.org_id, &r.binding_ref),
        )
        .await?;
        Ok(CheckSecretResponse {})
    }
}

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn org_public_key(
        &self,
        req: Request<OrgPublicKeyRequest>,
    ) -> Result<Response<OrgPublicKeyResponse>, Status> {
        self.state.require_unsealed()?;
        let k = secrets::org_public_key(&self.state, &req.into_inner().org_id).await?;
        Ok(Response::new(OrgPublicKeyResponse {
            public_key_pem: k.pem,
            signature: k.signature.to_vec(),
            node_key_id: k.node_key_id,
            created_at_ms: k.created_at_ms,
        }))
    }

    async fn require_binding(
        &self,
        req: Request<RequireBindingRequest>,
    ) -> Result<Response<RequireBindingResponse>, Status> {
        self.state.require_unsealed()?;
        secrets::require_binding(&self.state, &req.into_inner().org_id).await?;
        Ok(Response::new(RequireBindingResponse {}))
    }

    async fn register_secret(
        &self,
        req: Request<RegisterSecretRequest>,
    ) -> Result<Response<RegisterSecretResponse>, Status> {
        self.state.require_unsealed()?;
        let r = req.into_inner();
        let mode = planbok_proto::pb::CustodyMode::try_from(r.mode)
            .map_err(|_| NodeError::invalid("unknown custody mode"))?;
        let mode = secrets::register(&self.state, &r.org_id, mode, &r.encrypted_secret).await?;
        Ok(Response::new(RegisterSecretResponse { mode: mode as i32 }))
    }

    async fn keygen(
        &self,
        req: Request<KeygenRequest>,
    ) -> Result<Response<KeygenResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("keygen", self.keygen_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("keygen"))?,
        ))
    }

    async fn keygen_batch(
        &self,
        req: Request<KeygenBatchRequest>,
    ) -> Result<Response<KeygenBatchResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("keygen_batch", self.keygen_batch_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("keygen_batch"))?,
        ))
    }

    async fn check_secret(
        &self,
        req: Request<CheckSecretRequest>,
    ) -> Result<Response<CheckSecretResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("check_secret", self.check_secret_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("check_secret"))?,
        ))
    }

    async fn sign(&self, req: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("sign", self.sign_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("sign"))?,
        ))
    }

    async fn export(
        &self,
        req: Request<ExportRequest>,
    ) -> Result<Response<ExportResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("export", self.export_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("export"))?,
        ))
    }

    async fn refresh(
        &self,
        req: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("refresh", self.refresh_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("refresh"))?,
        ))
    }

    async fn customer_pin(
        &self,
        req: Request<planbok_proto::pb::CustomerPinRequest>,
    ) -> Result<Response<planbok_proto::pb::CustomerPinResponse>, Status> {
        Ok(Response::new(
            crate::metrics::observe("customer_pin", self.customer_pin_inner(req.into_inner()))
                .await
                .inspect_err(log_refusal("customer_pin"))?,
        ))
    }

    async fn ready(&self, _req: Request<ReadyRequest>) -> Result<Response<ReadyResponse>, Status> {
        let me = self.state.status().await;
        let mut peer = self.peer.clone();
        let node2 = match tokio::time::timeout(
            std::time::Duration::from_secs(2),
            peer.ready(ReadyRequest {}),
        )
        .await
        {
            Ok(Ok(s)) => s.into_inner(),
            _ => planbok_proto::pb::NodeStatus {
                seal_state: SealState::Unreachable as i32,
                ..Default::default()
            },
        };
        Ok(Response::new(ReadyResponse {
            node1: me.seal_state,
            node2: node2.seal_state,
            cggmp_ready: me.cggmp_ready && node2.cggmp_ready,
        }))
    }
}

/// The custody mode Node 1 registered for the organization (permanent once set).
async fn registered_custody(state: &NodeState, org_id: &str) -> NodeResult<Custody> {
    let rec = state.store.org_secret(org_id).await?.ok_or_else(|| {
        NodeError::new(
            ErrorCode::SecretNotRegistered,
            "the organization secret is not registered",
        )
    })?;
    Custody::parse(&rec.mode)
        .map_err(|_| NodeError::internal(format!("stored custody mode {:?}", rec.mode)))
}

fn log_refusal(op: &'static str) -> impl Fn(&NodeError) {
    move |e| tracing::warn!(op, code = e.code.as_str(), error = %e.message, "request refused")
}
