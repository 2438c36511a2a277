//! Node 2: the `Peer` service. Node 1 opens one stream per protocol run; Node 2 checks the
//! grant on its own (signature, validity, scope, parameters, and that its id was never used
//! before), runs its side, and for a DKG stores its share as pending until Node 1 commits.

use std::pin::Pin;
use std::sync::Arc;

use planbok_mpc::SessionId;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant;
use planbok_proto::pb::peer_server::Peer;
use planbok_proto::pb::{
    Empty, NodeStatus, Open, Operation, PeerExportRequest, PeerExportResponse, PeerMessage,
    ReadyRequest, RunKind, ShareVersionRequest, ShareVersionResponse, peer_message::Msg,
};
use planbok_store::Custody;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{NodeError, NodeResult};
use crate::protocols::{self, DkgResult};
use crate::runner::{Deadlines, Outbox, drive, next_control};
use crate::state::{NodeState, PendingKey, Proto, custody_from_pb, custody_to_pb};

/// Node 2's peer service.
#[derive(Debug)]
pub(crate) struct PeerService {
    pub(crate) state: Arc<NodeState>,
    pub(crate) tasks: TaskTracker,
}

type Out = mpsc::Sender<Result<PeerMessage, Status>>;

pub(crate) enum Job {
    Keygen {
        proto: Proto,
        custody: Custody,
        customer_id: Option<String>,
        key_id: String,
        org_id: String,
        sid: SessionId,
    },
    Sign {
        key_id: String,
        build: protocols::Build,
    },
    Refresh {
        key_id: String,
        version: i64,
        public_key: Vec<u8>,
        slow: bool,
        build: protocols::Build,
    },
    Aux {
        sid: SessionId,
    },
}

impl Job {
    /// The run's kind, a metrics label.
    fn kind(&self) -> &'static str {
        match self {
            Job::Keygen { .. } => "keygen",
            Job::Sign { .. } => "sign",
            Job::Refresh { .. } => "refresh",
            Job::Aux { .. } => "aux_info",
        }
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    type RunStream = Pin<Box<dyn Stream<Item = Result<PeerMessage, Status>> + Send>>;

    async fn run(
        &self,
        req: Request<Streaming<PeerMessage>>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let state = self.state.clone();
        let mut inbox = req.into_inner();
        let deadlines = Deadlines::new(state.limits.run_timeout(), state.limits.round_timeout());
        let open = match next_control(&mut inbox, &deadlines, "the run's opening message").await? {
            Msg::Open(o) => o,
            _ => return Err(NodeError::invalid("a run starts with an Open message").into()),
        };
        state.require_unsealed()?;
        let permit = state.slot().await?;
        let job = prepare(&state, open).await.inspect_err(|e| {
            crate::metrics::refused(e.code);
            tracing::warn!(code = e.code.as_str(), error = %e.message, "refused a run");
        })?;
        let (tx, rx) = mpsc::channel(16);
        self.tasks.spawn(async move {
            let _permit = permit;
            let deadlines = match &job {
                Job::Aux { .. } | Job::Refresh { slow: true, .. } => {
                    Deadlines::new(state.limits.aux_timeout(), state.limits.aux_timeout())
                }
                _ => deadlines,
            };
            let (kind, started) = (job.kind(), std::time::Instant::now());
            let r = execute(&state, job, &tx, &mut inbox, deadlines).await;
            crate::metrics::record(kind, started, r.as_ref().map_err(|e| e.code).copied());
            if let Err(e) = r {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "run failed");
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ready(&self, _req: Request<ReadyRequest>) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(self.state.status().await))
    }

    async fn export(
        &self,
        req: Request<PeerExportRequest>,
    ) -> Result<Response<PeerExportResponse>, Status> {
        let r = crate::export::peer_export(&self.state, req.into_inner())
            .await
            .inspect_err(|e| {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "refused an export");
            })?;
        Ok(Response::new(r))
    }

    async fn customer_pin(
        &self,
        req: Request<planbok_proto::pb::CustomerPinRequest>,
    ) -> Result<Response<planbok_proto::pb::CustomerPinResponse>, Status> {
        let r = crate::customer::peer_customer_pin(&self.state, req.into_inner())
            .await
            .inspect_err(|e| {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "refused a PIN step");
            })?;
        Ok(Response::new(r))
    }

    async fn share_version(
        &self,
        req: Request<ShareVersionRequest>,
    ) -> Result<Response<ShareVersionResponse>, Status> {
        self.state.require_unsealed()?;
        let key_id = req.into_inner().key_id;
        let v = self
            .state
            .store
            .active_key(&key_id)
            .await
            .map_err(NodeError::from)?
            .ok_or_else(|| NodeError::new(ErrorCode::KeyNotFound, "no such key"))?
            .share_version;
        Ok(Response::new(ShareVersionResponse { share_version: v }))
    }
}

async fn prepare(state: &NodeState, open: Open) -> NodeResult<Job> {
    let kind = RunKind::try_from(open.kind).unwrap_or(RunKind::Unspecified);
    match kind {
        RunKind::Keygen => {
            let proto = Proto::from_pb(open.protocol)?;
            let g = state.verify_grant(open.grant.as_ref())?;
            // Node 1 names the custody mode; the server's grant covers it, so a mode the
            // server did not sign for is refused here (grant_digest_mismatch).
            let custody = custody_from_pb(open.custody_mode)?;
            if custody == Custody::Customer {
                // A customer's key: the server's grant names the customer, and a permit
                // from the customer's PIN unlock names this very DKG.
                return crate::customer_ops::prepare_customer_keygen(state, open, proto, g).await;
            }
            state
                .consume_grant(
                    &g,
                    Operation::Dkg,
                    &open.key_id,
                    &grant::dkg_params(proto.to_pb(), custody_to_pb(Some(custody))),
                )
                .await?;
            Ok(Job::Keygen {
                proto,
                custody,
                customer_id: None,
                key_id: g.key_id,
                org_id: g.org_id,
                sid: SessionId::from_bytes(g.session_id),
            })
        }
        RunKind::Sign => {
            let proto = Proto::from_pb(open.protocol)?;
            let g = state.verify_grant(open.grant.as_ref())?;
            let params = grant::sign_params(proto.to_pb(), &open.derivation_path, &open.payload);
            // Two independent round trips, overlapped; the grant is recorded either way.
            let (consumed, rec) = tokio::join!(
                state.consume_grant(&g, Operation::Sign, &open.key_id, &params),
                key_for_run(state, &open, &g.org_id, proto),
            );
            consumed?;
            let rec = rec?;
            if let Some(customer) = &rec.customer_id {
                crate::customer_ops::take_permit(
                    state,
                    &g.org_id,
                    customer,
                    &open.customer_challenge,
                    planbok_envelope::customer_op::CustomerOp::Sign {
                        key_id: &open.key_id,
                        path: &open.derivation_path,
                        payload: &open.payload,
                    },
                )
                .await?;
            }
            let input = protocols::sign_input(proto, &open.derivation_path, &open.payload)?;
            let share = state.open_share(rec, proto, None).await?;
            let aux = state.aux_for(proto).await?;
            let build = protocols::sign(share, aux, input, SessionId::from_bytes(g.session_id))?;
            Ok(Job::Sign {
                key_id: open.key_id,
                build,
            })
        }
        RunKind::Refresh => {
            let proto = Proto::from_pb(open.protocol)?;
            let g = state.verify_grant(open.grant.as_ref())?;
            state
                .consume_grant(
                    &g,
                    Operation::Refresh,
                    &open.key_id,
                    &grant::refresh_params(proto.to_pb()),
                )
                .await?;
            let rec = key_for_run(state, &open, &g.org_id, proto).await?;
            crate::customer_ops::refuse_customer_key(&rec)?;
            let (version, public_key) = (rec.share_version + 1, rec.public_key.clone());
            let share = state.open_share(rec, proto, None).await?;
            let aux = state.aux_for(proto).await?;
            let primes = match proto {
                Proto::Cggmp => Some(state.primes().await?),
                _ => None,
            };
            Ok(Job::Refresh {
                key_id: open.key_id,
                version,
                public_key,
                slow: proto == Proto::Cggmp,
                build: protocols::refresh(share, aux, primes, SessionId::from_bytes(g.session_id))?,
            })
        }
        RunKind::AuxInfo => {
            // No grant: the server has no part in provisioning. Node 1 alone must not be able
            // to make Node 2 generate (or replace) its Paillier keys, so Node 2's own
            // operator allows each run (`Operator.ProvisionAux` on Node 2).
            state.take_aux_allowance().await?;
            let sid: [u8; 32] = open
                .payload
                .as_slice()
                .try_into()
                .map_err(|_| NodeError::invalid("aux-info session id is 32 bytes"))?;
            Ok(Job::Aux {
                sid: SessionId::from_bytes(sid),
            })
        }
        RunKind::Unspecified => Err(NodeError::invalid("unknown run kind")),
    }
}

/// The active key a signing or refresh run names, checked against the run: same protocol,
/// and the share version Node 1 holds (a refresh one node activated and the other did
/// not must never meet a protocol run: its shares do not fit together).
async fn key_for_run(
    state: &NodeState,
    open: &Open,
    org_id: &str,
    proto: Proto,
) -> NodeResult<planbok_store::KeyRecord> {
    let rec = state.key(&open.key_id, org_id).await?;
    if Proto::from_name(&rec.protocol)? != proto {
        return Err(NodeError::new(
            ErrorCode::GrantScopeMismatch,
            "the key belongs to another protocol",
        ));
    }
    if open.share_version != 0 && open.share_version != rec.share_version {
        tracing::warn!(key = %open.key_id, node1 = open.share_version, node2 = rec.share_version,
            "share versions differ; node 1 must settle its refresh first");
        return Err(NodeError::new(
            ErrorCode::ShareVersionMismatch,
            format!(
                "node 2 holds share version {}, node 1 sent {}",
                rec.share_version, open.share_version
            ),
        ));
    }
    Ok(rec)
}

async fn execute(
    state: &NodeState,
    job: Job,
    tx: &Out,
    inbox: &mut Streaming<PeerMessage>,
    deadlines: Deadlines,
) -> NodeResult<()> {
    match job {
        Job::Sign { key_id, build } => match drive(build, tx, inbox, deadlines).await {
            Ok(_) => Ok(()),
            Err(e) => Err(state.disable_on_ban(&key_id, e).await),
        },
        Job::Keygen {
            proto,
            custody,
            customer_id,
            key_id,
            org_id,
            sid,
        } => {
            let (out, _) = drive(
                protocols::keygen(proto, sid, state.me),
                tx,
                inbox,
                deadlines,
            )
            .await?;
            let DkgResult {
                public_key,
                chain_code,
                share,
            } = protocols::dkg_result(out)?;
            state
                .store_pending_key(
                    PendingKey {
                        key_id: &key_id,
                        org_id: &org_id,
                        proto,
                        custody,
                        customer_id: customer_id.as_deref(),
                        public_key: &public_key,
                        chain_code,
                    },
                    share,
                )
                .await?;
            let activate = async { Ok(state.store.activate_key(&key_id).await?) };
            let committed = commit_phase(tx, inbox, &deadlines, public_key, activate).await;
            if committed.is_err() {
                // Node 1 never committed (or activation failed): the key must not become
                // usable here.
                let _ = state.store.delete_pending_key(&key_id).await;
            }
            committed
        }
        Job::Refresh {
            key_id,
            version,
            public_key,
            build,
            ..
        } => {
            let (out, _) = match drive(build, tx, inbox, deadlines).await {
                Ok(done) => done,
                Err(e) => return Err(state.disable_on_ban(&key_id, e).await),
            };
            let refreshed = protocols::dkg_result(out)?;
            if refreshed.public_key != public_key {
                tracing::error!(alert = true, key = %key_id, "refresh changed the public key");
                return Err(NodeError::new(
                    ErrorCode::ProtocolAborted,
                    "the refresh changed the public key",
                ));
            }
            let id = key_id.clone();
            let share = refreshed.share;
            let sealed = state.ks(move |k| k.seal_blob(&id, &share)).await?;
            state
                .store
                .insert_pending_share(&key_id, version, sealed)
                .await?;
            // Node 2's activation is the commit point: once it happens, Node 1 settles to
            // the new share even if it never hears back (see `refresh.rs`).
            let activate = async { Ok(state.store.activate_share(&key_id, version).await?) };
            let committed = commit_phase(tx, inbox, &deadlines, public_key, activate).await;
            if committed.is_err() {
                let _ = state.store.delete_pending_share(&key_id).await;
            }
            committed
        }
        Job::Aux { sid } => {
            let primes = state.primes().await?;
            let (out, _) = drive(
                protocols::aux_gen(sid, state.me, primes),
                tx,
                inbox,
                deadlines,
            )
            .await?;
            let crate::runner::RunOutput::Aux(aux) = out else {
                return Err(NodeError::internal("aux-info run produced something else"));
            };
            // Held in memory until Node 1 commits: a crash before then leaves the old aux
            // info in place on both nodes.
            let sealed = state.seal_aux(&aux).await?;
            let activate = state.activate_aux(aux, sealed);
            commit_phase(tx, inbox, &deadlines, Vec::new(), activate).await
        }
    }
}

/// Reports the stored result (`report`), waits for Node 1's commit, runs `activate`, and
/// confirms.
async fn commit_phase(
    tx: &Out,
    inbox: &mut Streaming<PeerMessage>,
    deadlines: &Deadlines,
    report: Vec<u8>,
    activate: impl Future<Output = NodeResult<()>>,
) -> NodeResult<()> {
    let stored = PeerMessage {
        msg: Some(Msg::Stored(report)),
    };
    if !Outbox::send(tx, stored).await {
        return Err(NodeError::new(
            ErrorCode::PeerUnavailable,
            "node 1 went away before the commit",
        ));
    }
    match next_control(inbox, deadlines, "node 1's commit").await? {
        Msg::Commit(_) => {}
        _ => {
            return Err(NodeError::new(
                ErrorCode::ProtocolAborted,
                "expected node 1's commit",
            ));
        }
    }
    activate.await?;
    let committed = PeerMessage {
        msg: Some(Msg::Committed(Empty {})),
    };
    // Node 1 gone now only means it will not learn of the activation: its own row stays
    // pending and is removed at its start, the orphan described in docs/node.md.
    Outbox::send(tx, committed).await;
    Ok(())
}
