//! The `Operator` service (both nodes): status, keystore init / unseal / seal, the CGGMP
//! auxiliary-info provisioning (Node 1 drives it; Node 2's operator allows each run), and
//! each node's own record of its keys' custody modes.

use std::sync::Arc;

use planbok_keystore::{KeystoreError, UnsealKey};
use planbok_mpc::SessionId;
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::operator_server::Operator;
use planbok_proto::pb::{
    CustodyMode, InitRequest, InitResponse, KeyCustodyRequest, KeyCustodyResponse, NodeStatus,
    Open, OrgKeyCustody, ProvisionAuxRequest, RunKind, SealRequest, StatusRequest, UnsealRequest,
};
use planbok_store::StoreError;
use rand_core::{OsRng, RngCore as _};
use tonic::{Request, Response, Status};

use crate::coordinator::CoordinatorService;
use crate::error::{NodeError, NodeResult};
use crate::protocols;
use crate::runner::{Deadlines, RunOutput, drive};
use crate::state::{AUX_ALLOWANCE, NodeState, custody_from_pb, custody_to_pb};

/// The operator service.
#[derive(Debug)]
pub(crate) struct OperatorService {
    pub(crate) state: Arc<NodeState>,
    /// Node 1 only.
    pub(crate) coordinator: Option<CoordinatorService>,
}

fn keystore_error(e: KeystoreError) -> NodeError {
    let code = match e {
        KeystoreError::WrongUnsealKey
        | KeystoreError::DuplicateUnsealKey
        | KeystoreError::MalformedUnsealKey(_)
        | KeystoreError::MasterKeyCheckFailed
        | KeystoreError::InvalidSplit { .. }
        | KeystoreError::AlreadyInitialized
        | KeystoreError::NotInitialized
        | KeystoreError::Unsupported { .. } => ErrorCode::InvalidArgument,
        _ => return NodeError::from(e),
    };
    NodeError::new(code, e.to_string())
}

#[tonic::async_trait]
impl Operator for OperatorService {
    async fn status(&self, _r: Request<StatusRequest>) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(self.state.status().await))
    }

    async fn init(&self, r: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let r = r.into_inner();
        let (n, k) = (
            u8::try_from(r.shares).map_err(|_| NodeError::invalid("shares must be 1 to 16"))?,
            u8::try_from(r.threshold)
                .map_err(|_| NodeError::invalid("threshold must be 1 to shares"))?,
        );
        crate::canary::refuse_init_over_data(&self.state).await?;
        let ks = self.state.keystore.clone();
        let keys = tokio::task::spawn_blocking(move || ks.init(n, k))
            .await
            .map_err(|e| NodeError::internal(format!("init task: {e}")))?
            .map_err(keystore_error)?;
        tracing::warn!(
            shares = n,
            threshold = k,
            "keystore initialized; the node stays sealed until unsealed"
        );
        Ok(Response::new(InitResponse {
            unseal_keys: keys.iter().map(|k| k.to_text().to_string()).collect(),
            status: Some(self.state.status().await),
        }))
    }

    async fn unseal(&self, r: Request<UnsealRequest>) -> Result<Response<NodeStatus>, Status> {
        let operator = crate::tls::caller_subject(&r).unwrap_or_else(|| "unknown".into());
        let key = UnsealKey::parse(&r.into_inner().key).map_err(keystore_error)?;
        let ks = self.state.keystore.clone();
        let status = tokio::task::spawn_blocking(move || ks.unseal(&key))
            .await
            .map_err(|e| NodeError::internal(format!("unseal task: {e}")))?
            .map_err(|e| {
                tracing::warn!(alert = e.may_be_attack(), error = %e, %operator, "unseal key refused");
                keystore_error(e)
            })?;
        match status {
            planbok_keystore::SealStatus::Sealed {
                threshold,
                progress,
                ..
            } => tracing::warn!(progress, threshold, %operator, "unseal key accepted"),
            _ => tracing::warn!(%operator, "unseal key accepted; threshold reached"),
        }
        if status == planbok_keystore::SealStatus::Unsealed {
            // Keys of another keystore (a replaced seal state) unseal it, but open nothing
            // of this database: seal again rather than serve.
            if let Err(e) = crate::canary::verify_keystore(&self.state).await {
                self.state.seal().await.map_err(keystore_error)?;
                return Err(e.into());
            }
            tracing::warn!("node unsealed");
        }
        Ok(Response::new(self.state.status().await))
    }

    async fn seal(&self, _r: Request<SealRequest>) -> Result<Response<NodeStatus>, Status> {
        self.state.seal().await.map_err(keystore_error)?;
        tracing::warn!("node sealed by an operator");
        Ok(Response::new(self.state.status().await))
    }

    async fn provision_aux(
        &self,
        r: Request<ProvisionAuxRequest>,
    ) -> Result<Response<NodeStatus>, Status> {
        let replace = r.into_inner().replace;
        let Some(c) = &self.coordinator else {
            allow_aux(&self.state, replace).await?;
            return Ok(Response::new(self.state.status().await));
        };
        provision(c, replace).await?;
        Ok(Response::new(self.state.status().await))
    }

    async fn key_custody(
        &self,
        r: Request<KeyCustodyRequest>,
    ) -> Result<Response<KeyCustodyResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(key_custody(&self.state, r).await?))
    }
}

/// Node 2's half of provisioning: lets Node 1 start one aux-info run within
/// [`AUX_ALLOWANCE`]. Without it Node 2 refuses the run (`aux_not_allowed`).
async fn allow_aux(state: &NodeState, replace: bool) -> NodeResult<()> {
    state.require_unsealed()?;
    if !replace && state.aux_provisioned().await {
        return Err(NodeError::new(
            ErrorCode::KeyExists,
            "auxiliary info is provisioned already (pass replace to allow generating it again)",
        ));
    }
    state.allow_aux(replace)?;
    tracing::warn!(
        replace,
        valid_s = AUX_ALLOWANCE.as_secs(),
        "an operator allowed one aux-info run with node 1"
    );
    Ok(())
}

/// Lists this node's keys by organization and recorded custody mode; with `org_id` and
/// `set`, first records `set` for that organization's keys whose mode was never recorded.
async fn key_custody(state: &NodeState, r: KeyCustodyRequest) -> NodeResult<KeyCustodyResponse> {
    state.require_unsealed()?;
    let org = (!r.org_id.is_empty()).then_some(r.org_id.as_str());
    if r.set != CustodyMode::Unspecified as i32 {
        let Some(org) = org else {
            return Err(NodeError::invalid(
                "setting a custody mode needs an organization",
            ));
        };
        let custody = custody_from_pb(r.set)?;
        if custody == planbok_store::Custody::Customer {
            return Err(NodeError::invalid(
                "a customer's key is recorded at its DKG only, never by an operator",
            ));
        }
        let set = state
            .store
            .set_unrecorded_custody(org, custody)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => NodeError::invalid(m),
                e => e.into(),
            })?;
        tracing::warn!(
            org,
            custody = custody.as_str(),
            keys = set,
            "an operator recorded the custody mode of keys made before modes were recorded"
        );
    }
    let orgs = state
        .store
        .custody_summary(org)
        .await?
        .into_iter()
        .map(|s| OrgKeyCustody {
            org_id: s.org_id,
            mode: custody_to_pb(s.custody) as i32,
            keys: u32::try_from(s.keys).unwrap_or(u32::MAX),
            disabled: u32::try_from(s.disabled).unwrap_or(u32::MAX),
        })
        .collect();
    Ok(KeyCustodyResponse { orgs })
}

/// Generates the CGGMP auxiliary info jointly with Node 2 and stores it on both, Node 2
/// first: Node 2 holds its result until Node 1's commit, then both store it.
async fn provision(c: &CoordinatorService, replace: bool) -> NodeResult<()> {
    let state = &c.state;
    state.require_unsealed()?;
    if !replace && state.aux_provisioned().await {
        return Err(NodeError::new(
            ErrorCode::KeyExists,
            "auxiliary info is provisioned already (pass replace to generate it again)",
        ));
    }
    let _permit = state.slot().await?;
    let deadlines = Deadlines::new(state.limits.aux_timeout(), state.limits.aux_timeout());
    let mut sid = [0u8; 32];
    OsRng.fill_bytes(&mut sid);
    let mut run = c
        .open_run(
            Open {
                kind: RunKind::AuxInfo as i32,
                payload: sid.to_vec(),
                ..Default::default()
            },
            &deadlines,
        )
        .await?;
    tracing::info!("provisioning CGGMP auxiliary info with node 2");
    let primes = state.primes().await?;
    let (out, early) = drive(
        protocols::aux_gen(SessionId::from_bytes(sid), state.me, primes),
        &run.tx,
        &mut run.inbox,
        deadlines,
    )
    .await?;
    let RunOutput::Aux(aux) = out else {
        return Err(NodeError::internal("aux-info run produced something else"));
    };
    run.stored(early, &deadlines).await?;
    let sealed = state.seal_aux(&aux).await?;
    run.commit(&deadlines).await?;
    state.activate_aux(aux, sealed).await?;
    tracing::info!("CGGMP auxiliary info provisioned");
    Ok(())
}
