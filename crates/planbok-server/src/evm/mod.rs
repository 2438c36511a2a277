//! The server's access to EVM chains: one JSON-RPC client per configured chain
//! (`[chains.<id>]`, `rpc.rs`), fee levels (`fees.rs`) and the transaction tracker
//! (`tracker.rs`). Only the server talks to chains; the nodes never see the network.

pub(crate) mod fees;
pub(crate) mod rpc;
pub(crate) mod tracker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use planbok_api::ErrorCode;
use planbok_chains::{Chain, Family};

use crate::config::ChainConfig;
use crate::error::{ApiError, ApiResult};
use rpc::{Rpc, RpcError};

/// A configured chain.
#[derive(Debug)]
pub(crate) struct ChainRpc {
    pub(crate) rpc: Rpc,
    /// Blocks after which a transaction is `confirmed`.
    pub(crate) depth: u64,
    /// How often the tracker looks at this chain's transactions.
    pub(crate) poll: Duration,
}

/// Every configured chain.
#[derive(Debug, Default)]
pub(crate) struct Chains(HashMap<Chain, Arc<ChainRpc>>);

impl Chains {
    /// Connects to every `[chains.<id>]` and checks that each RPC serves its chain: an
    /// unknown or non-EVM id, an RPC that does not answer, or one whose `eth_chainId` is
    /// not the registry's refuses the start with a message naming the chain.
    pub(crate) async fn connect(
        config: &BTreeMap<String, ChainConfig>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Chains, String> {
        let mut out = HashMap::new();
        for (id, c) in config {
            let chain = Chain::parse(id).map_err(|e| format!("[chains.{id}]: {e}"))?;
            if chain.family() != Family::Evm {
                return Err(format!(
                    "[chains.{id}]: only EVM chains can be configured for now"
                ));
            }
            let expected = chain
                .evm_chain_id()
                .ok_or_else(|| format!("[chains.{id}]: no EVM chain id"))?;
            let rpc = Rpc::new(&c.rpc_url, tls.clone(), Duration::from_millis(c.timeout_ms))
                .map_err(|e| format!("[chains.{id}]: {e}"))?;
            let got = rpc.chain_id().await.map_err(|e| {
                format!(
                    "[chains.{id}]: the RPC at {} did not answer eth_chainId: {e}",
                    rpc.describe()
                )
            })?;
            if got != expected {
                return Err(format!(
                    "[chains.{id}]: the RPC at {} serves chain id {got}, but {id} is chain id {expected}",
                    rpc.describe()
                ));
            }
            tracing::info!(chain = id, rpc = %rpc.describe(), "chain RPC checked");
            out.insert(
                chain,
                Arc::new(ChainRpc {
                    rpc,
                    depth: c.depth(chain.is_testnet()),
                    poll: Duration::from_millis(c.poll_interval_ms.max(50)),
                }),
            );
        }
        Ok(Chains(out))
    }

    /// The RPC of `chain`: 422 `unsupported_operation` off EVM, 422
    /// `chain_not_configured` without a `[chains.<id>]`.
    pub(crate) fn get(&self, chain: Chain) -> ApiResult<Arc<ChainRpc>> {
        if chain.family() != Family::Evm {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "transactions and balances on {} are not supported yet",
                    chain.id()
                ),
            ));
        }
        self.0.get(&chain).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ChainNotConfigured,
                format!(
                    "this server has no RPC for {} ([chains.{}] rpc_url)",
                    chain.id(),
                    chain.id()
                ),
            )
        })
    }

    /// Whether `chain` has an RPC.
    pub(crate) fn has(&self, chain: Chain) -> bool {
        self.0.contains_key(&chain)
    }

    /// The shortest poll interval (the tracker's tick), if any chain is configured.
    pub(crate) fn min_poll(&self) -> Option<Duration> {
        self.0.values().map(|c| c.poll).min()
    }
}

/// An RPC failure as the client sees it: 503 `chain_unavailable` (nothing was signed).
pub(crate) fn unavailable(chain: Chain, e: RpcError) -> ApiError {
    tracing::warn!(chain = chain.id(), error = %e, "chain RPC failed");
    ApiError::new(
        ErrorCode::ChainUnavailable,
        format!("the {} RPC failed: {e}", chain.id()),
    )
}
