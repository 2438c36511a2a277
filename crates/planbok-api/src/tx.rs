//! Tokens, balances and transactions (API.md "Tokens, balances, transactions"). Amounts are
//! decimal strings in the token's units, exact to the smallest unit; gas prices are
//! decimal strings in wei.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Order;

/// A token: a chain's native coin (stable id, `isNative`) or one the organization
/// registered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// UUID; a native coin's id is the same on every server.
    pub id: String,
    /// Chain id.
    pub blockchain: String,
    /// `native`, `erc20`.
    pub standard: String,
    /// Display name.
    pub name: String,
    /// Ticker.
    pub symbol: String,
    /// Decimal places of one unit.
    pub decimals: u8,
    /// The contract address (none for a native coin).
    pub address: Option<String>,
    /// A chain's native coin: listed for every organization, cannot be deleted.
    pub is_native: bool,
    /// RFC 3339 UTC (none for a native coin).
    pub created_at: Option<String>,
}

/// `POST /v2/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateToken {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// Chain id (EVM).
    pub blockchain: String,
    /// `erc20`.
    pub standard: String,
    /// Display name.
    pub name: String,
    /// Ticker.
    pub symbol: String,
    /// Decimal places (0 to 77).
    pub decimals: u8,
    /// The contract address.
    pub address: String,
}

/// `GET /v2/tokens/metadata`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenMetadata {
    /// Every chain with its native coin, and whether this server reaches it.
    pub chains: Vec<TokenChain>,
    /// The standards `POST /v2/tokens` accepts.
    pub standards: Vec<String>,
}

/// One chain in [`TokenMetadata`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenChain {
    /// Chain id.
    pub blockchain: String,
    /// The native coin's token id.
    pub native_token_id: String,
    /// The native coin's ticker.
    pub native_symbol: String,
    /// Whether this server has an RPC for it (`[chains.<id>]`): balances and transfers.
    pub configured: bool,
}

/// One balance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// Decimal, in the token's units, exact.
    pub amount: String,
    /// The token.
    pub token: Token,
}

/// `GET /v2/wallets/{id}/balances`, `GET /v2/wallet-sets/{id}/balances`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Balances {
    /// The native coin first, then registered tokens; a wallet set's are summed over its
    /// wallets.
    pub items: Vec<Balance>,
}

/// `POST /v2/organization/transactions/transfer`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTransfer {
    /// UUID v4; a retry with the same key gets the same transaction.
    pub idempotency_key: Option<String>,
    /// The sending wallet.
    pub wallet_id: String,
    /// The recipient.
    pub destination_address: String,
    /// The token (a native coin's id, or a registered token's).
    pub token_id: String,
    /// Exactly one decimal amount for fungible tokens.
    pub amounts: Vec<String>,
    /// NFTs (not supported yet: answered 422 `unsupported_operation`).
    pub nft_token_ids: Option<Vec<String>>,
    /// `low`, `medium` (default), `high`.
    pub fee_level: Option<String>,
    /// Your reference.
    pub ref_id: Option<String>,
    /// Trustless organizations: a fresh `sign` ciphertext.
    pub encrypted_organization_secret: Option<String>,
}

/// `POST /v2/transactions/transfer/estimate-fee`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EstimateTransferFee {
    /// The sending wallet.
    pub wallet_id: String,
    /// The recipient.
    pub destination_address: String,
    /// The token.
    pub token_id: String,
    /// Exactly one decimal amount.
    pub amounts: Vec<String>,
}

/// One fee level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeeLevel {
    /// Gas limit (the estimate plus a margin), decimal.
    pub gas_limit: String,
    /// Wei, decimal.
    pub max_fee_per_gas: String,
    /// Wei, decimal.
    pub max_priority_fee_per_gas: String,
    /// The most the transaction can cost (`gasLimit × maxFeePerGas`), in the native coin.
    pub network_fee: String,
}

/// Fee estimates by level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeeEstimate {
    /// Low.
    pub low: FeeLevel,
    /// Medium.
    pub medium: FeeLevel,
    /// High.
    pub high: FeeLevel,
}

/// A transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// UUID.
    pub id: String,
    /// The sending wallet.
    pub wallet_id: String,
    /// Chain id.
    pub blockchain: String,
    /// `TRANSFER`.
    pub operation: String,
    /// `signed`, `broadcast`, `confirmed`, `failed` (`queued`, `cancelled`, `replaced`
    /// are not produced yet).
    pub status: String,
    /// `0x`-hex hash of the signed transaction, known before it is broadcast.
    pub transaction_hash: Option<String>,
    /// The sender's nonce.
    pub nonce: Option<u64>,
    /// The sending address.
    pub source_address: String,
    /// The recipient.
    pub destination_address: String,
    /// The token.
    pub token_id: String,
    /// Decimal amounts.
    pub amounts: Vec<String>,
    /// `low`, `medium`, `high`.
    pub fee_level: String,
    /// Gas limit, decimal.
    pub gas_limit: Option<String>,
    /// Wei, decimal.
    pub max_fee_per_gas: Option<String>,
    /// Wei, decimal.
    pub max_priority_fee_per_gas: Option<String>,
    /// The fee paid once mined (gas used × effective price), else the most it can cost; in
    /// the native coin.
    pub network_fee: Option<String>,
    /// The block that holds it.
    pub block_number: Option<u64>,
    /// Blocks on top of and including its block.
    pub confirmations: Option<u64>,
    /// Why it failed (a revert reason, or why it could not be sent).
    pub error_reason: Option<String>,
    /// The transaction this one replaces (cancel, accelerate: not yet).
    pub replaces: Option<String>,
    /// The transaction that replaced this one.
    pub replaced_by: Option<String>,
    /// Your reference.
    pub ref_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// The filters of `GET /v2/transactions` and `GET /v2/organization/transactions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TransactionFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only these wallets (comma-separated ids).
    pub wallet_ids: Option<String>,
    /// Only this chain.
    pub blockchain: Option<String>,
    /// Only this operation (`TRANSFER`).
    pub operation: Option<String>,
    /// Only this reference.
    pub ref_id: Option<String>,
    /// Only this hash.
    pub tx_hash: Option<String>,
    /// Only to this address.
    pub destination_address: Option<String>,
    /// 1-based page.
    pub page: Option<u32>,
    /// 1..=100.
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}
