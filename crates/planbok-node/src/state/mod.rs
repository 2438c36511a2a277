//! What a running node holds, and the checks every operation shares: sealed state, the
//! concurrency bound, grant verification and replay recording, the keys' records and bans.
//! `aux.rs` holds the CGGMP auxiliary info and its operator allowance; `shares.rs` the
//! shares' sealing and opening and their wire forms.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use planbok_keystore::{Keystore, SealStatus};
use planbok_mpc::PartyIndex;
use planbok_mpc::cggmp::CggmpAuxInfo;
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant::{self, GrantVerifier, VerifiedGrant};
use planbok_proto::pb::{self, Operation, SignedGrant};
use planbok_store::{KeyRecord, NodeStore};
use tokio::sync::{OwnedSemaphorePermit, RwLock, Semaphore};

use planbok_types::NodeRole;

use crate::clock::now_ms;
use crate::config::{Limits, NodeConfig};
use crate::error::{NodeError, NodeResult};

mod aux;
mod shares;

pub(crate) use aux::AUX_ALLOWANCE;
use aux::AuxAllowance;
pub(crate) use shares::{PendingKey, Proto, Share, custody_from_pb, custody_to_pb, ecdsa_bytes};

/// The state shared by every request of one node.
pub(crate) struct NodeState {
    pub(crate) role: NodeRole,
    pub(crate) me: PartyIndex,
    pub(crate) keystore: Arc<Keystore>,
    pub(crate) store: NodeStore,
    pub(crate) grant_key: GrantVerifier,
    pub(crate) limits: Limits,
    runs: Arc<Semaphore>,
    aux: RwLock<Option<Arc<CggmpAuxInfo>>>,
    insecure_primes: Option<Vec<String>>,
    pub(crate) identity: crate::identity::IdentityCell,
    pub(crate) org_keys: crate::secrets::OrgKeyCache,
    pub(crate) check_budget: crate::secrets::CheckBudget,
    /// Keys this process disabled, in case the durable write failed: refused until restart
    /// even then. The database column is what survives restarts.
    disabled: Mutex<HashSet<String>>,
    /// Node 2: an operator's permission for one aux-info run (`Operator.ProvisionAux`).
    aux_allowance: Mutex<Option<AuxAllowance>>,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl NodeState {
    pub(crate) fn new(
        config: &NodeConfig,
        keystore: Keystore,
        store: NodeStore,
        insecure_primes: Option<Vec<String>>,
    ) -> NodeResult<Self> {
        let grant_key =
            GrantVerifier::from_hex(&config.grant_public_key).map_err(NodeError::invalid)?;
        Ok(NodeState {
            role: config.role,
            me: match config.role {
                NodeRole::Node1 => PartyIndex::NODE1,
                NodeRole::Node2 => PartyIndex::NODE2,
            },
            keystore: Arc::new(keystore),
            store,
            grant_key,
            limits: config.limits.clone(),
            runs: Arc::new(Semaphore::new(config.limits.max_concurrent_runs)),
            aux: RwLock::new(None),
            insecure_primes,
            identity: Default::default(),
            org_keys: Default::default(),
            check_budget: Default::default(),
            disabled: Mutex::new(HashSet::new()),
            aux_allowance: Mutex::new(None),
        })
    }

    /// Refuses all work while the keystore is sealed.
    pub(crate) fn require_unsealed(&self) -> NodeResult<()> {
        match self.keystore.status() {
            SealStatus::Unsealed => Ok(()),
            SealStatus::Uninitialized => Err(NodeError::new(
                ErrorCode::Sealed,
                "the node's keystore is not initialized (planbok operator init)",
            )),
            SealStatus::Sealed { .. } => Err(NodeError::new(
                ErrorCode::Sealed,
                "the node is sealed (planbok operator unseal)",
            )),
        }
    }

    /// A slot for one protocol run, or `busy` after the queue timeout.
    pub(crate) async fn slot(&self) -> NodeResult<OwnedSemaphorePermit> {
        match tokio::time::timeout(
            self.limits.queue_timeout(),
            self.runs.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(NodeError::internal("run semaphore closed")),
            Err(_) => Err(NodeError::new(
                ErrorCode::Busy,
                "too many protocol runs in progress; retry later",
            )),
        }
    }

    /// Runs a blocking keystore call off the executor.
    pub(crate) async fn ks<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Keystore) -> Result<T, planbok_keystore::KeystoreError> + Send + 'static,
    ) -> NodeResult<T> {
        let ks = self.keystore.clone();
        tokio::task::spawn_blocking(move || f(&ks))
            .await
            .map_err(|e| NodeError::internal(format!("keystore task: {e}")))?
            .map_err(NodeError::from)
    }

    /// Checks a grant's signature and validity window.
    pub(crate) fn verify_grant(&self, signed: Option<&SignedGrant>) -> NodeResult<VerifiedGrant> {
        Ok(grant::verify(signed, &self.grant_key, now_ms())?)
    }

    /// Checks that a verified grant covers `operation` on `key_id` with `params`, and
    /// records its id so it can never be used again (durably: a restart does not forget).
    pub(crate) async fn consume_grant(
        &self,
        g: &VerifiedGrant,
        operation: Operation,
        key_id: &str,
        params: &[u8; 32],
    ) -> NodeResult<()> {
        g.authorize(operation, key_id, params)?;
        if !self
            .store
            .record_grant(&g.grant_id, g.expires_at_ms)
            .await?
        {
            tracing::warn!(alert = true, grant = %hex::encode(g.grant_id), "replayed grant refused");
            return Err(NodeError::new(
                ErrorCode::GrantReplayed,
                "this grant was used before",
            ));
        }
        Ok(())
    }

    /// The node's status, as operators and readiness checks see it.
    pub(crate) async fn status(&self) -> pb::NodeStatus {
        let (seal_state, threshold, shares, progress) = match self.keystore.status() {
            SealStatus::Uninitialized => (pb::SealState::Uninitialized, 0, 0, 0),
            SealStatus::Sealed {
                threshold,
                shares,
                progress,
            } => (pb::SealState::Sealed, threshold, shares, progress),
            SealStatus::Unsealed => (pb::SealState::Unsealed, 0, 0, 0),
        };
        let identity_public_key = match seal_state {
            pb::SealState::Unsealed => self.identity_text().await.unwrap_or_default(),
            _ => String::new(),
        };
        pb::NodeStatus {
            identity_public_key,
            role: u32::from(self.role.number()),
            seal_state: seal_state as i32,
            threshold: u32::from(threshold),
            shares: u32::from(shares),
            progress: u32::from(progress),
            backend: self.keystore.backend_name().into(),
            cggmp_ready: self.aux_provisioned().await,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// The active key `key_id` of `org_id`.
    pub(crate) async fn key(&self, key_id: &str, org_id: &str) -> NodeResult<KeyRecord> {
        let rec = self
            .store
            .active_key(key_id)
            .await?
            .ok_or_else(|| NodeError::new(ErrorCode::KeyNotFound, "no such key"))?;
        if rec.org_id != org_id {
            // Same answer as a missing key: a grant for one org learns nothing of another's.
            return Err(NodeError::new(ErrorCode::KeyNotFound, "no such key"));
        }
        let disabled_here = self
            .disabled
            .lock()
            .map(|d| d.contains(key_id))
            .unwrap_or(true);
        if rec.disabled.is_some() || disabled_here {
            return Err(key_disabled(key_id, self.role));
        }
        Ok(rec)
    }

    /// After a failed run with key `key_id`: if this node's engine demanded to ban the
    /// counterparty (DKLs23), disables the key for good (durably, and in memory should the
    /// write fail), raises an alert, and answers `key_disabled`. Any other error is
    /// returned as it is.
    pub(crate) async fn disable_on_ban(&self, key_id: &str, e: NodeError) -> NodeError {
        let Some(reason) = e.ban.as_deref() else {
            return e;
        };
        if let Ok(mut d) = self.disabled.lock() {
            d.insert(key_id.to_owned());
        }
        match self.store.disable_key(key_id, reason).await {
            Ok(_) => {
                tracing::error!(alert = true, key = %key_id, node = self.role.number(), reason,
                "DKLs23 detected a cheating counterparty: key disabled for good")
            }
            Err(err) => {
                tracing::error!(alert = true, key = %key_id, node = self.role.number(), reason,
                error = %err,
                "DKLs23 detected a cheating counterparty; the key could NOT be disabled durably \
                 and is refused only until this process restarts: disable it before restarting")
            }
        }
        key_disabled(key_id, self.role)
    }

    /// Seals the keystore and forgets everything unsealed it let the node hold in memory:
    /// the auxiliary info, the identity key, the parsed organization keys.
    pub(crate) async fn seal(&self) -> Result<(), planbok_keystore::KeystoreError> {
        self.keystore.seal()?;
        *self.aux.write().await = None;
        self.forget_identity().await;
        Ok(())
    }
}

/// The refusal of every operation on a disabled key.
fn key_disabled(key_id: &str, node: NodeRole) -> NodeError {
    NodeError::new(
        ErrorCode::KeyDisabled,
        format!(
            "key {key_id} is disabled on node {node}: a DKLs23 run detected a cheating \
             counterparty; it never signs, refreshes or exports again (create a new wallet set)"
        ),
    )
}
