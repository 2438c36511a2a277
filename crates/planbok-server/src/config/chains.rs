//! `[chains.<CHAIN-ID>]` and `[transactions]`: where the server reaches each chain, and how
//! its transaction tracker runs (`docs/transactions.md`).

use serde::{Deserialize, Serialize};

/// `[chains.<CHAIN-ID>]`: one chain's RPC (`docs/transactions.md`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// `http://` or `https://` JSON-RPC endpoint (its path may carry a provider key: it is
    /// never logged).
    pub rpc_url: String,
    /// Blocks (its own included) after which a mined transaction is `confirmed`: 1 on test
    /// chains, 12 on main chains by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// How often the tracker looks at this chain's pending transactions.
    #[serde(default = "default_chain_poll")]
    pub poll_interval_ms: u64,
    /// One RPC call's timeout.
    #[serde(default = "default_rpc_timeout")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &"<set>")
            .field("confirmations", &self.confirmations)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_chain_poll() -> u64 {
    1_000
}

fn default_rpc_timeout() -> u64 {
    10_000
}

impl ChainConfig {
    /// A chain at `rpc_url` with the defaults.
    pub fn new(rpc_url: impl Into<String>) -> Self {
        ChainConfig {
            rpc_url: rpc_url.into(),
            confirmations: None,
            poll_interval_ms: default_chain_poll(),
            timeout_ms: default_rpc_timeout(),
        }
    }

    /// The confirmation depth on `chain`: the configured one, else 1 on test chains and
    /// 12 on main chains.
    pub fn depth(&self, testnet: bool) -> u64 {
        self.confirmations
            .unwrap_or(if testnet { 1 } else { 12 })
            .max(1)
    }
}

/// `[transactions]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransactionsConfig {
    /// Run the tracker (broadcast, receipts, confirmations) in this process; every replica
    /// may, each transaction is handled by one at a time. Off only to stop broadcasting
    /// (signed transactions wait, committed, for a process that runs it).
    pub tracker: bool,
    /// A broadcast transaction the node no longer knows, or not mined after this long, is
    /// sent again (the same bytes).
    pub rebroadcast_after_ms: u64,
    /// Percent added to `eth_estimateGas`'s answer for the gas limit.
    pub gas_margin_percent: u64,
    /// How long a transfer waits for its wallet's nonce while other transfers from the
    /// same wallet sign.
    pub nonce_wait_ms: u64,
    /// Transactions the tracker handles at once in this process.
    pub max_in_flight: u32,
    /// A Standard organization's transaction that the node has refused for this long (at
    /// least twice, and no node has taken it since it was signed or last taken) is replaced
    /// by a 0-value self-transfer of its nonce, so the wallet's later transactions are not
    /// held behind it forever. 0: never.
    pub fill_after_ms: u64,
}

impl Default for TransactionsConfig {
    fn default() -> Self {
        TransactionsConfig {
            tracker: true,
            rebroadcast_after_ms: 30_000,
            gas_margin_percent: 20,
            nonce_wait_ms: 120_000,
            max_in_flight: 32,
            fill_after_ms: 600_000,
        }
    }
}
