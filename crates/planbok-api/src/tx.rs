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
    /// `native`, `erc20`, `erc721`, `erc1155`.
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
    /// `erc20`, `erc721` or `erc1155`.
    pub standard: String,
    /// Display name.
    pub name: String,
    /// Ticker.
    pub symbol: String,
    /// Decimal places (0 to 77; 0 for NFTs).
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
    /// An ERC-1155 token's id (decimal): its balances are per id, one item each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nft_token_id: Option<String>,
}

/// `GET /v2/wallets/{id}/balances`, `GET /v2/wallet-sets/{id}/balances`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Balances {
    /// The native coin first, then registered tokens (ERC-721: the count held; ERC-1155:
    /// one item per token id held, with `nftTokenId`); a wallet set's are summed over its
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
    #[serde(default)]
    pub amounts: Vec<String>,
    /// NFTs of an `erc721` or `erc1155` token: the token ids (decimal). ERC-721: exactly
    /// one, `amounts` empty or `["1"]`; ERC-1155: one or more (a batch), with one whole
    /// `amounts` entry per id.
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
    /// Exactly one decimal amount (NFTs: as in a transfer).
    #[serde(default)]
    pub amounts: Vec<String>,
    /// NFTs: the token ids, as in a transfer.
    pub nft_token_ids: Option<Vec<String>>,
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
    /// `TRANSFER`, `CONTRACT_EXECUTION`, `CANCEL` (the 0-value self-transfer of a cancel).
    pub operation: String,
    /// `signed`, `broadcast`, `confirmed`, `failed`, `cancelled` (replaced by a cancel or
    /// an accelerate whose transaction was mined instead; `queued` and `replaced` are not
    /// produced).
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
    /// The transaction this one replaces (cancel, accelerate): the same nonce.
    pub replaces: Option<String>,
    /// The transaction that replaced this one.
    pub replaced_by: Option<String>,
    /// Contract execution: the function as given.
    pub abi_function_signature: Option<String>,
    /// Contract execution: the parameters as given.
    #[schema(value_type = Option<Vec<Object>>)]
    pub abi_parameters: Option<Vec<serde_json::Value>>,
    /// NFT transfers: the token ids.
    pub nft_token_ids: Option<Vec<String>>,
    /// Your reference.
    pub ref_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// `POST /v2/organization/transactions/contract-execution`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateContractExecution {
    /// UUID v4; a retry with the same key gets the same transaction.
    pub idempotency_key: Option<String>,
    /// The sending wallet.
    pub wallet_id: String,
    /// The contract called.
    pub contract_address: String,
    /// A Solidity function, e.g. `transfer(address,uint256)`.
    pub abi_function_signature: String,
    /// Its parameters in order: strings (any type), integer numbers, booleans, arrays for
    /// array and tuple types.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub abi_parameters: Vec<serde_json::Value>,
    /// Native coin sent with the call (payable functions), decimal; default 0.
    pub amount: Option<String>,
    /// `low`, `medium` (default), `high`.
    pub fee_level: Option<String>,
    /// Your reference.
    pub ref_id: Option<String>,
    /// Trustless organizations: a fresh `sign` ciphertext.
    pub encrypted_organization_secret: Option<String>,
}

/// `POST /v2/transactions/contract-execution/estimate-fee`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EstimateContractFee {
    /// The sending wallet.
    pub wallet_id: String,
    /// The contract called.
    pub contract_address: String,
    /// A Solidity function.
    pub abi_function_signature: String,
    /// Its parameters in order.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub abi_parameters: Vec<serde_json::Value>,
    /// Native coin sent with the call, decimal.
    pub amount: Option<String>,
}

/// `POST /v2/transactions/contract-view/call`: a read-only call, nothing signed or
/// stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContractViewCall {
    /// The caller (`msg.sender`) and chain: one of the organization's wallets.
    pub wallet_id: Option<String>,
    /// Or any address as the caller (with `blockchain`); none: the zero address.
    pub from_address: Option<String>,
    /// The chain, when no `walletId` names it.
    pub blockchain: Option<String>,
    /// The contract called.
    pub contract_address: String,
    /// A Solidity function; with `returns (…)` the answer is decoded, e.g.
    /// `balanceOf(address) returns (uint256)`.
    pub abi_function_signature: String,
    /// Its parameters in order.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub abi_parameters: Vec<serde_json::Value>,
}

/// The answer of a view call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContractViewResult {
    /// The return values by the signature's `returns (…)`, one per type: integers as
    /// decimal strings, addresses EIP-55, bytes `0x`-hex, arrays and tuples as arrays;
    /// none when the signature declares no return types.
    #[schema(value_type = Option<Vec<Object>>)]
    pub result: Option<Vec<serde_json::Value>>,
    /// The raw return data, `0x`-hex.
    pub data: String,
}

/// `POST /v2/organization/transactions/{id}/cancel` and `…/accelerate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaceTransaction {
    /// UUID v4; a retry with the same key gets the same replacement.
    pub idempotency_key: Option<String>,
    /// Trustless organizations: a fresh `sign` ciphertext.
    pub encrypted_organization_secret: Option<String>,
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
    /// Only this operation (`TRANSFER`, `CONTRACT_EXECUTION`, `CANCEL`).
    pub operation: Option<String>,
    /// Only this reference.
    pub ref_id: Option<String>,
    /// Only this hash.
    pub tx_hash: Option<String>,
    /// Only to this address.
    pub destination_address: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}
