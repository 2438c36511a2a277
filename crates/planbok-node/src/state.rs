//! What a running node holds, and the checks every operation shares: sealed state, the
//! concurrency bound, grant verification and replay recording, share sealing and loading.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planbok_keystore::{Keystore, SealStatus, wrap};
use planbok_mpc::cggmp::{CggmpAuxInfo, CggmpKeyShare, PaillierPrimes};
use planbok_mpc::dkls::DklsKeyShare;
use planbok_mpc::frost::FrostKeyShare;
use planbok_mpc::{EcdsaPublicKey, PartyIndex};
use planbok_proto::codes::ErrorCode;
use planbok_proto::grant::{self, GrantVerifier, VerifiedGrant};
use planbok_proto::pb::{self, Operation, SignedGrant};
use planbok_store::{Custody, KeyRecord, NewKey, NodeStore, StoreError};
use tokio::sync::{OwnedSemaphorePermit, RwLock, Semaphore};
use zeroize::Zeroizing;

use planbok_types::{EcdsaProtocol, NodeRole};

use crate::clock::now_ms;
use crate::config::{Limits, NodeConfig};
use crate::error::{NodeError, NodeResult};

/// Store name (and keystore key id) of the sealed CGGMP auxiliary info.
const AUX_BLOB: &str = "cggmp-aux";

/// How long an operator's permission for one aux-info run lasts on Node 2 (the run must
/// start within it; it may then take as long as `aux_timeout_ms`).
pub(crate) const AUX_ALLOWANCE: Duration = Duration::from_secs(600);

/// An operator's permission for Node 2 to take part in one aux-info run.
#[derive(Debug, Clone, Copy)]
struct AuxAllowance {
    until: Instant,
    /// The run may replace aux info Node 2 holds already.
    replace: bool,
}

/// The custody mode a request names.
pub(crate) fn custody_from_pb(mode: i32) -> NodeResult<Custody> {
    pb::CustodyMode::try_from(mode)
        .ok()
        .and_then(|m| Custody::try_from(m).ok())
        .ok_or_else(|| NodeError::invalid("unknown custody mode"))
}

/// The wire form of a recorded custody mode (`Unspecified`: never recorded).
pub(crate) fn custody_to_pb(custody: Option<Custody>) -> pb::CustodyMode {
    custody.map_or(pb::CustodyMode::Unspecified, Into::into)
}

/// A key's protocol, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Cggmp,
    Dkls23,
    Frost,
}

impl Proto {
    pub(crate) fn from_pb(p: i32) -> NodeResult<Proto> {
        match pb::Protocol::try_from(p) {
            Ok(pb::Protocol::Cggmp) => Ok(Proto::Cggmp),
            Ok(pb::Protocol::Dkls23) => Ok(Proto::Dkls23),
            Ok(pb::Protocol::Frost) => Ok(Proto::Frost),
            _ => Err(NodeError::invalid("unknown protocol")),
        }
    }
    pub(crate) fn to_pb(self) -> pb::Protocol {
        match self {
            Proto::Cggmp => pb::Protocol::Cggmp,
            Proto::Dkls23 => pb::Protocol::Dkls23,
            Proto::Frost => pb::Protocol::Frost,
        }
    }
    /// The stored name: an ECDSA protocol's wire name, or `frost`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proto::Cggmp => EcdsaProtocol::Cggmp.as_str(),
            Proto::Dkls23 => EcdsaProtocol::Dkls23.as_str(),
            Proto::Frost => "frost",
        }
    }
    pub(crate) fn from_name(s: &str) -> NodeResult<Proto> {
        match (s, EcdsaProtocol::parse(s)) {
            (_, Ok(EcdsaProtocol::Cggmp)) => Ok(Proto::Cggmp),
            (_, Ok(EcdsaProtocol::Dkls23)) => Ok(Proto::Dkls23),
            ("frost", _) => Ok(Proto::Frost),
            (other, Err(_)) => Err(NodeError::internal(format!(
                "stored key has protocol {other:?}"
            ))),
        }
    }
}

/// A share opened for one operation. Dropped (and zeroized by the share types) after it.
// One per request, moved into the protocol thread: boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one share per request, moved once; boxing would only add an allocation"
)]
pub(crate) enum Share {
    Cggmp(CggmpKeyShare),
    Dkls(Arc<DklsKeyShare>),
    Frost(Arc<FrostKeyShare>),
}

impl Share {
    pub(crate) fn decode(proto: Proto, bytes: &[u8], me: PartyIndex) -> NodeResult<Share> {
        let s = match proto {
            Proto::Cggmp => Share::Cggmp(CggmpKeyShare::from_sealable_bytes(bytes)?),
            Proto::Dkls23 => Share::Dkls(Arc::new(DklsKeyShare::from_sealable_bytes(bytes)?)),
            Proto::Frost => Share::Frost(Arc::new(FrostKeyShare::from_sealable_bytes(bytes)?)),
        };
        let party = match &s {
            Share::Cggmp(k) => k.party(),
            Share::Dkls(k) => k.party(),
            Share::Frost(k) => k.party(),
        };
        if party != me {
            return Err(NodeError::internal(
                "stored share belongs to the other party",
            ));
        }
        Ok(s)
    }
}

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

    /// Node 2: lets Node 1 start one aux-info run within [`AUX_ALLOWANCE`] (`replace`: even
    /// if aux info is provisioned already).
    pub(crate) fn allow_aux(&self, replace: bool) -> NodeResult<()> {
        let mut a = self
            .aux_allowance
            .lock()
            .map_err(|_| NodeError::internal("aux allowance lock poisoned"))?;
        *a = Some(AuxAllowance {
            until: Instant::now() + AUX_ALLOWANCE,
            replace,
        });
        Ok(())
    }

    /// Node 2: uses up the operator's permission for an aux-info run, or refuses the run.
    pub(crate) async fn take_aux_allowance(&self) -> NodeResult<()> {
        let allowance = self
            .aux_allowance
            .lock()
            .map_err(|_| NodeError::internal("aux allowance lock poisoned"))?
            .take();
        match allowance {
            Some(a) if a.until > Instant::now() => {
                if !a.replace && self.aux_provisioned().await {
                    return Err(NodeError::new(
                        ErrorCode::KeyExists,
                        "node 2 holds auxiliary info already and its operator did not allow \
                         replacing it (provision-aux --replace on node 2)",
                    ));
                }
                Ok(())
            }
            _ => {
                tracing::warn!(
                    alert = true,
                    "refused an aux-info run no operator of node 2 allowed"
                );
                Err(NodeError::new(
                    ErrorCode::AuxNotAllowed,
                    "no operator of node 2 allowed an aux-info run: run \
                     `planbok operator --node-role node2 ... provision-aux` against node 2 first \
                     (valid 10 minutes, one run)",
                ))
            }
        }
    }

    /// The CGGMP auxiliary info, loaded from the store on first use.
    pub(crate) async fn aux(&self) -> NodeResult<Arc<CggmpAuxInfo>> {
        if let Some(a) = self.aux.read().await.as_ref() {
            return Ok(a.clone());
        }
        let sealed = self.store.blob(AUX_BLOB).await?.ok_or_else(|| {
            NodeError::new(
                ErrorCode::AuxNotProvisioned,
                "CGGMP auxiliary info is not provisioned (planbok operator provision-aux)",
            )
        })?;
        let bytes = self.ks(move |k| k.open_blob(AUX_BLOB, &sealed)).await?;
        let aux = Arc::new(CggmpAuxInfo::from_sealable_bytes(&bytes)?);
        *self.aux.write().await = Some(aux.clone());
        Ok(aux)
    }

    /// What a signing run of `proto` needs besides the share: CGGMP's auxiliary info.
    pub(crate) async fn aux_for(&self, proto: Proto) -> NodeResult<Option<Arc<CggmpAuxInfo>>> {
        match proto {
            Proto::Cggmp => Ok(Some(self.aux().await?)),
            Proto::Dkls23 | Proto::Frost => Ok(None),
        }
    }

    /// Whether auxiliary info is provisioned (asked by every status and readiness call:
    /// answered from the cache once loaded).
    pub(crate) async fn aux_provisioned(&self) -> bool {
        self.aux.read().await.is_some() || matches!(self.store.blob(AUX_BLOB).await, Ok(Some(_)))
    }

    /// Seals freshly generated auxiliary info (before the commit, so a sealed or failing
    /// keystore aborts provisioning while nothing has changed yet).
    pub(crate) async fn seal_aux(&self, aux: &CggmpAuxInfo) -> NodeResult<Vec<u8>> {
        let bytes = aux.to_sealable_bytes()?;
        self.ks(move |k| k.seal_blob(AUX_BLOB, &bytes)).await
    }

    /// Makes sealed auxiliary info the node's own, after the commit.
    pub(crate) async fn activate_aux(&self, aux: CggmpAuxInfo, sealed: Vec<u8>) -> NodeResult<()> {
        self.store.put_blob(AUX_BLOB, sealed).await?;
        *self.aux.write().await = Some(Arc::new(aux));
        Ok(())
    }

    /// Seals the keystore and forgets everything unsealed it let the node hold in memory:
    /// the auxiliary info, the identity key, the parsed organization keys.
    pub(crate) async fn seal(&self) -> Result<(), planbok_keystore::KeystoreError> {
        self.keystore.seal()?;
        *self.aux.write().await = None;
        self.forget_identity().await;
        Ok(())
    }

    /// Seals a DKG result (on Node 1 already wrapped under the organization secret) and
    /// stores it as a pending key, usable only once [`NodeStore::activate_key`] runs.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per column of a pending key; a typed record replaces them when state.rs is split (issue 18)"
    )]
    pub(crate) async fn store_pending_key(
        &self,
        key_id: &str,
        org_id: &str,
        proto: Proto,
        custody: Custody,
        customer_id: Option<&str>,
        public_key: &[u8],
        chain_code: Option<Vec<u8>>,
        share: impl AsRef<[u8]> + Send + 'static,
    ) -> NodeResult<()> {
        let id = key_id.to_owned();
        let sealed_share = self.ks(move |k| k.seal_blob(&id, share.as_ref())).await?;
        self.store
            .insert_pending_key(&NewKey {
                key_id: key_id.into(),
                org_id: org_id.into(),
                protocol: proto.name().into(),
                public_key: public_key.to_vec(),
                chain_code,
                sealed_share,
                custody,
                customer_id: customer_id.map(str::to_owned),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    NodeError::new(ErrorCode::KeyExists, "a key with this id exists")
                }
                e => e.into(),
            })
    }

    /// Opens a stored share for one run: the keystore layer, then on Node 1 the wrapping
    /// under the organization secret.
    pub(crate) async fn open_share(
        &self,
        rec: KeyRecord,
        proto: Proto,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Share> {
        let bytes = self.open_share_bytes(rec, org_secret).await?;
        Share::decode(proto, &bytes, self.me)
    }

    /// The share's sealable bytes (the export plaintext), checked to decode as this node's
    /// share of `proto`.
    pub(crate) async fn open_share_bytes_checked(
        &self,
        rec: KeyRecord,
        proto: Proto,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Zeroizing<Vec<u8>>> {
        let bytes = self.open_share_bytes(rec, org_secret).await?;
        drop(Share::decode(proto, &bytes, self.me)?);
        Ok(bytes)
    }

    async fn open_share_bytes(
        &self,
        rec: KeyRecord,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Zeroizing<Vec<u8>>> {
        let KeyRecord {
            key_id,
            org_id,
            sealed_share,
            ..
        } = rec;
        let id = key_id.clone();
        let opened = self.ks(move |k| k.open_blob(&id, &sealed_share)).await?;
        Ok(match org_secret {
            Some(secret) => wrap::unwrap_share(secret, &org_id, &key_id, &opened)?,
            None => opened,
        })
    }

    /// Fresh Paillier primes (minutes of CPU), or, in tests, the configured pregenerated set
    /// for this role.
    pub(crate) async fn primes(&self) -> NodeResult<PaillierPrimes> {
        if let Some(sets) = &self.insecure_primes {
            let hex_set = sets
                .get(self.role.index())
                .ok_or_else(|| NodeError::internal("pregenerated primes file has too few sets"))?;
            let bytes = Zeroizing::new(
                hex::decode(hex_set).map_err(|e| NodeError::internal(format!("primes: {e}")))?,
            );
            return Ok(PaillierPrimes::from_sealable_bytes(&bytes)?);
        }
        tokio::task::spawn_blocking(|| {
            PaillierPrimes::generate(|p| {
                tracing::info!(
                    done = p.done,
                    total = p.total,
                    "generating Paillier safe primes"
                )
            })
        })
        .await
        .map_err(|e| NodeError::internal(format!("prime generation task: {e}")))?
        .map_err(NodeError::from)
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

/// The public key bytes of a DKG output, as stored and returned.
pub(crate) fn ecdsa_bytes(pk: &EcdsaPublicKey) -> Vec<u8> {
    pk.to_compressed().to_vec()
}
