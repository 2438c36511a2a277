//! Customer wallets, signing and export: the organization's challenge-creating bodies and
//! the Gateway's view and completion of an operation challenge.
//!
//! Binary fields of the Gateway routes are base64url without padding unless said otherwise.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Wallet, WalletMetadata};

/// `POST /v2/customers/{id}/wallet/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerWallets {
    /// UUID v4; a repeat returns the first response (without the token).
    pub idempotency_key: Option<String>,
    /// Chain ids; every chain of one call shares one derivation index.
    pub blockchains: Vec<String>,
    /// Only `eoa`.
    pub account_type: Option<String>,
    /// One entry per index to create (1 to 20; one index when empty).
    #[serde(default)]
    pub metadata: Vec<WalletMetadata>,
    /// Where the Gateway sends the user when done (http or https).
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/sign/message`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSignMessage {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// One of the customer's wallets.
    pub wallet_id: String,
    /// The message (UTF-8 text, or `0x`-hex with `encodedByHex`).
    pub message: String,
    /// `message` is `0x`-hex bytes.
    #[serde(default)]
    pub encoded_by_hex: bool,
    /// Shown to the user in the Gateway (at most 256 characters).
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/sign/typed-data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSignTypedData {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// One of the customer's EVM wallets.
    pub wallet_id: String,
    /// EIP-712 typed data as a JSON string.
    pub typed_data: String,
    /// Shown to the user in the Gateway.
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/sign/transaction`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSignTransaction {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// One of the customer's wallets.
    pub wallet_id: String,
    /// The unsigned transaction (EVM hex; SOL/NEAR base64); or `transaction`.
    pub raw_transaction: Option<String>,
    /// The transaction as a JSON string; or `rawTransaction`.
    pub transaction: Option<String>,
    /// Shown to the user in the Gateway.
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/transactions/transfer`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerTransfer {
    /// UUID v4; a repeat returns the first challenge (without the token).
    pub idempotency_key: Option<String>,
    /// One of the customer's EVM wallets.
    pub wallet_id: String,
    /// The recipient.
    pub destination_address: String,
    /// A native coin's id or a registered token's.
    pub token_id: String,
    /// Decimal strings: one amount (native, ERC-20), none or `["1"]` (ERC-721), one per
    /// token id (ERC-1155).
    #[serde(default)]
    pub amounts: Vec<String>,
    /// ERC-721 / ERC-1155 token ids.
    pub nft_token_ids: Option<Vec<String>>,
    /// `low`, `medium` (default) or `high`.
    pub fee_level: Option<String>,
    /// The organization's reference, kept on the transaction.
    pub ref_id: Option<String>,
    /// Shown to the user in the Gateway.
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// `POST /v2/customers/{id}/transactions/contract-execution`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerContractExecution {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// One of the customer's EVM wallets.
    pub wallet_id: String,
    /// The contract called.
    pub contract_address: String,
    /// E.g. `transfer(address,uint256)`.
    pub abi_function_signature: String,
    /// The parameters, JSON values in order.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub abi_parameters: Vec<serde_json::Value>,
    /// Native coin sent with a payable call (decimal).
    pub amount: Option<String>,
    /// `low`, `medium` (default) or `high`.
    pub fee_level: Option<String>,
    /// The organization's reference.
    pub ref_id: Option<String>,
    /// Shown to the user in the Gateway.
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// The token a customer transfer moves, as the Gateway shows it and rebuilds the call
/// from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayToken {
    /// The token's id.
    pub id: String,
    /// `native`, `erc20`, `erc721` or `erc1155`.
    pub standard: String,
    /// E.g. `ETH`, `USDC`.
    pub symbol: String,
    /// Decimals of its amounts.
    pub decimals: u8,
    /// The contract (none for a native coin).
    pub address: Option<String>,
}

/// The pending transaction a cancel or an accelerate replaces.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayReplaced {
    /// Its id.
    pub transaction_id: String,
    /// Its hash.
    pub transaction_hash: String,
    /// The nonce the replacement takes.
    pub nonce: u64,
    /// Its call (an accelerate repeats it): the account called, `0x`-hex.
    pub to: String,
    /// Wei sent (decimal).
    pub value: String,
    /// Call data, `0x`-hex.
    pub data: String,
    /// What it did, in words (`TRANSFER`, `CONTRACT_EXECUTION`, `CANCEL`).
    pub operation: String,
}

/// A customer's transaction, fixed when the challenge is made: what the Gateway shows and
/// rebuilds the call from (never call data the server supplies for a transfer or a
/// contract execution).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayTransaction {
    /// `transfer`, `contract_execution`, `cancel` or `accelerate`.
    pub what: String,
    /// The sending wallet.
    pub wallet_id: String,
    /// Its chain.
    pub blockchain: String,
    /// Its address.
    pub address: String,
    /// Its public key, `0x`-hex.
    pub public_key: String,
    /// The MPC key that signs.
    pub key_id: String,
    /// Its derivation path.
    pub derivation_path: String,
    /// `transfer`: the recipient.
    pub destination_address: Option<String>,
    /// `transfer`: the token.
    pub token: Option<GatewayToken>,
    /// `transfer`: the amounts.
    #[serde(default)]
    pub amounts: Vec<String>,
    /// `transfer`: ERC-721 / ERC-1155 token ids.
    pub nft_token_ids: Option<Vec<String>>,
    /// `contract_execution`: the contract.
    pub contract_address: Option<String>,
    /// `contract_execution`: the function.
    pub abi_function_signature: Option<String>,
    /// `contract_execution`: its parameters.
    #[schema(value_type = Option<Vec<Object>>)]
    pub abi_parameters: Option<Vec<serde_json::Value>>,
    /// `contract_execution`: native coin sent (decimal).
    pub amount: Option<String>,
    /// `cancel`, `accelerate`: the transaction replaced.
    pub replaces: Option<GatewayReplaced>,
    /// `low`, `medium` or `high`.
    pub fee_level: String,
    /// The gas limit (estimated when the challenge was made, plus the margin).
    pub gas_limit: String,
    /// The most the network fee may be, in the native coin (decimal): the Gateway refuses
    /// a prepared transaction whose `gasLimit × maxFeePerGas` exceeds it.
    pub max_network_fee: String,
    /// The organization's reference.
    pub ref_id: Option<String>,
    /// The organization's memo.
    pub memo: Option<String>,
    /// The nonce and fees, once the Gateway asked for them
    /// (`POST /gateway/api/transaction/prepare`).
    pub prepared: Option<GatewayPrepared>,
}

/// The parts of a customer's transaction fixed just before it is signed: the nonce the
/// wallet's nonce lease gave it (or the replaced transaction's) and the fees of now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPrepared {
    /// The nonce.
    pub nonce: u64,
    /// The gas limit.
    pub gas_limit: String,
    /// `maxFeePerGas`, wei.
    pub max_fee_per_gas: String,
    /// `maxPriorityFeePerGas`, wei.
    pub max_priority_fee_per_gas: String,
    /// `gasLimit × maxFeePerGas` in the native coin (decimal).
    pub network_fee: String,
    /// Until when the server holds the nonce for this challenge (RFC 3339); prepare
    /// again after it.
    pub expires_at: String,
}

/// `POST /v2/customers/{id}/sign/delegate-action` (NEAR, NEP-366).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSignDelegateAction {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// One of the customer's NEAR wallets.
    pub wallet_id: String,
    /// The borsh `DelegateAction`, base64.
    pub unsigned_delegate_action: String,
    /// Shown to the user in the Gateway.
    pub memo: Option<String>,
    /// Where the Gateway sends the user when done.
    pub redirect_url: Option<String>,
}

/// What an operation challenge authorizes, as the Gateway shows it and computes the
/// operations' digests from (`planbok_envelope::customer_op`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOperation {
    /// The organization's RSA key the customer secret is encrypted to, with Node 1's
    /// signature: the Gateway verifies it against Node 1's identity key, never trusting
    /// the server for it.
    pub org_key: GatewayOrgKey,
    /// Wallet creation.
    pub create: Option<GatewayCreate>,
    /// A signature.
    pub sign: Option<GatewaySign>,
    /// An export of every key of the customer.
    pub export: Option<GatewayExport>,
    /// A transaction to sign and broadcast (transfer, contract execution, cancel,
    /// accelerate).
    #[serde(default)]
    pub transaction: Option<GatewayTransaction>,
}

/// The organization key as Node 1 attests it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOrgKey {
    /// SPKI PEM.
    pub public_key: String,
    /// Node 1's Ed25519 signature, standard base64.
    pub signature: String,
    /// Which identity key signed.
    pub node_key_id: String,
    /// Part of the signed statement (unix ms).
    pub created_at: i64,
}

/// One DKG a wallet creation runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayDkg {
    /// The new key's id.
    pub key_id: String,
    /// `cggmp`, `dkls23` or `frost`.
    pub protocol: String,
    /// `secp256k1Master`, `ed25519Master` (the customer's first wallets) or `ed25519Wallet`.
    pub role: String,
    /// For `ed25519Wallet`: which of the call's indexes (0-based).
    pub index: Option<u32>,
}

/// A wallet creation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCreate {
    /// The chains.
    pub blockchains: Vec<String>,
    /// How many indexes (wallets per chain).
    pub count: u32,
    /// The labels, one per index.
    pub metadata: Vec<WalletMetadata>,
    /// The DKGs to run, in order.
    pub dkgs: Vec<GatewayDkg>,
}

/// A signature request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySign {
    /// `message`, `typed_data`, `transaction` or `delegate_action`.
    pub what: String,
    /// The wallet.
    pub wallet_id: String,
    /// Its chain.
    pub blockchain: String,
    /// Its address.
    pub address: String,
    /// Its public key, `0x`-hex.
    pub public_key: String,
    /// The MPC key that signs.
    pub key_id: String,
    /// Its derivation path.
    pub derivation_path: String,
    /// `message`: the message.
    pub message: Option<String>,
    /// `message`: hex-encoded.
    #[serde(default)]
    pub encoded_by_hex: bool,
    /// `typed_data`: the EIP-712 JSON.
    pub typed_data: Option<String>,
    /// `transaction`: the raw transaction.
    pub raw_transaction: Option<String>,
    /// `transaction`: the JSON transaction.
    pub transaction: Option<String>,
    /// `delegate_action`: the borsh `DelegateAction`, base64.
    #[serde(default)]
    pub unsigned_delegate_action: Option<String>,
    /// The organization's memo.
    pub memo: Option<String>,
}

/// One key an export carries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayExportKey {
    /// The key.
    pub key_id: String,
    /// `cggmp`, `dkls23` or `frost`.
    pub protocol: String,
    /// The group public key, `0x`-hex.
    pub public_key: String,
    /// The BIP-32 chain code, `0x`-hex (secp256k1).
    pub chain_code: Option<String>,
}

/// An export of all of a customer's keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayExport {
    /// The customer's display name (for the CSV's header line).
    pub customer_name: String,
    /// The customer's reference.
    pub customer_ref_id: Option<String>,
    /// The keys, in the order their permits are signed.
    pub keys: Vec<GatewayExportKey>,
    /// The wallets on them.
    pub wallets: Vec<GatewayExportWallet>,
}

/// A wallet an export covers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayExportWallet {
    /// The wallet.
    pub wallet: Wallet,
    /// The MPC key it is on.
    pub key_id: String,
}

/// `POST /gateway/api/operation`: the PIN's proof for exactly the challenge's operations,
/// and the customer secret for Node 1.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOperate {
    /// The attempt nonce of the evaluation.
    pub nonce: String,
    /// The unlock key's signature over `customer_op::permit_message`.
    pub signature: String,
    /// The operations' digests the signature covers (`customer_op::op_digest`, 32 bytes
    /// each, in the plan's order), computed by the Gateway from what it showed. The server
    /// only relays them: Node 2 checks the signature over them and later runs only
    /// operations whose own digest is one of them.
    pub permits: Vec<String>,
    /// The customer secret, RSA-OAEP-encrypted to the organization key and bound to the
    /// operations (standard base64, as `encryptedOrganizationSecret`).
    pub encrypted_secret: String,
    /// Export: the Gateway's ephemeral X25519 public key.
    pub recipient_public_key: Option<String>,
}

/// One exported key: both shares, each HPKE-sealed to the Gateway's key (standard base64).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayExportedKey {
    /// The key.
    pub key_id: String,
    /// Node 1's share, sealed.
    pub node1_ciphertext: String,
    /// Node 2's share, sealed.
    pub node2_ciphertext: String,
}

/// The answer to `POST /gateway/api/operation`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOperated {
    /// The completed challenge (its `result`).
    pub challenge: crate::customers::Challenge,
    /// Export: the sealed shares (only here, never in the challenge's result).
    pub exported: Option<Vec<GatewayExportedKey>>,
}
