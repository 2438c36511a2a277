//! The CGGMP auxiliary info a node holds (sealed in its store, in memory once unsealed),
//! Node 2's one-run allowance an operator grants for generating it, and Paillier primes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use planbok_mpc::cggmp::{CggmpAuxInfo, PaillierPrimes};
use planbok_proto::codes::ErrorCode;
use zeroize::Zeroizing;

use crate::error::{NodeError, NodeResult};

use super::{NodeState, Proto};

/// Store name (and keystore key id) of the sealed CGGMP auxiliary info.
const AUX_BLOB: &str = "cggmp-aux";

/// How long an operator's permission for one aux-info run lasts on Node 2 (the run must
/// start within it; it may then take as long as `aux_timeout_ms`).
pub(crate) const AUX_ALLOWANCE: Duration = Duration::from_secs(600);

/// An operator's permission for Node 2 to take part in one aux-info run.
#[derive(Debug, Clone, Copy)]
pub(super) struct AuxAllowance {
    until: Instant,
    /// The run may replace aux info Node 2 holds already.
    replace: bool,
}

impl NodeState {
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
