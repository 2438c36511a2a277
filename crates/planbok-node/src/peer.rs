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
    Empty, NodeStatus, Open, Operation, PeerMessage, ReadyRequest, RunKind, peer_message::Msg,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{NodeError, NodeResult};
use crate::protocols::{self, DkgResult};
use crate::runner::{Deadlines, Outbox, drive, next_control};
use crate::state::{NodeState, Proto};

/// Node 2's peer service.
#[derive(Debug)]
pub(crate) struct PeerService {
    pub(crate) state: Arc<NodeState>,
    pub(crate) tasks: TaskTracker,
}

type Out = mpsc::Sender<Result<PeerMessage, Status>>;

enum Job {
    Keygen {
        proto: Proto,
        key_id: String,
        org_id: String,
        sid: SessionId,
    },
    Sign {
        build: protocols::Build,
    },
    Aux {
        sid: SessionId,
    },
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
            tracing::warn!(code = e.code.as_str(), error = %e.message, "refused a run");
        })?;
        let (tx, rx) = mpsc::channel(16);
        self.tasks.spawn(async move {
            let _permit = permit;
            let deadlines = match &job {
                Job::Aux { .. } => {
                    Deadlines::new(state.limits.aux_timeout(), state.limits.aux_timeout())
                }
                _ => deadlines,
            };
            if let Err(e) = execute(&state, job, &tx, &mut inbox, deadlines).await {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "run failed");
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ready(&self, _req: Request<ReadyRequest>) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(self.state.status().await))
    }
}

async fn prepare(state: &NodeState, open: Open) -> NodeResult<Job> {
    let kind = RunKind::try_from(open.kind).unwrap_or(RunKind::Unspecified);
    match kind {
        RunKind::Keygen => {
            let proto = Proto::from_pb(open.protocol)?;
            let g = state.verify_grant(open.grant.as_ref())?;
            state
                .consume_grant(
                    &g,
                    Operation::Dkg,
                    &open.key_id,
                    &grant::dkg_params(proto.to_pb()),
                )
                .await?;
            Ok(Job::Keygen {
                proto,
                key_id: g.key_id,
                org_id: g.org_id,
                sid: SessionId::from_bytes(g.session_id),
            })
        }
        RunKind::Sign => {
            let proto = Proto::from_pb(open.protocol)?;
            let g = state.verify_grant(open.grant.as_ref())?;
            state
                .consume_grant(
                    &g,
                    Operation::Sign,
                    &open.key_id,
                    &grant::sign_params(proto.to_pb(), &open.derivation_path, &open.payload),
                )
                .await?;
            let rec = state.key(&open.key_id, &g.org_id).await?;
            if Proto::from_name(&rec.protocol)? != proto {
                return Err(NodeError::new(
                    ErrorCode::GrantScopeMismatch,
                    "the key belongs to another protocol",
                ));
            }
            let input = protocols::sign_input(proto, &open.derivation_path, &open.payload)?;
            let share = state.open_share(rec, proto, None).await?;
            let aux = state.aux_for(proto).await?;
            let build = protocols::sign(share, aux, input, SessionId::from_bytes(g.session_id))?;
            Ok(Job::Sign { build })
        }
        RunKind::AuxInfo => {
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

async fn execute(
    state: &NodeState,
    job: Job,
    tx: &Out,
    inbox: &mut Streaming<PeerMessage>,
    deadlines: Deadlines,
) -> NodeResult<()> {
    match job {
        Job::Sign { build } => {
            drive(build, tx, inbox, deadlines).await?;
            Ok(())
        }
        Job::Keygen {
            proto,
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
                .store_pending_key(&key_id, &org_id, proto, &public_key, chain_code, share)
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
