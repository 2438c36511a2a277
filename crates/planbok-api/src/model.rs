//! Request and response bodies, camelCase on the wire.
//!
//! Requests reject unknown fields only where a typo would silently change the meaning;
//! otherwise they accept and ignore extra fields, as the platform's clients send some
//! (e.g. `accountType`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Order;

pub use crate::tx::{
    Balance, Balances, ContractViewCall, ContractViewResult, CreateContractExecution, CreateToken,
    CreateTransfer, EstimateContractFee, EstimateTransferFee, FeeEstimate, FeeLevel,
    ReplaceTransaction, Token, TokenChain, TokenMetadata, Transaction, TransactionFilter,
};

// ---------------------------------------------------------------------------------------
// Organizations, members, API keys

/// `POST /v2/organizations` (operator token).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrganization {
    /// The organization's display name.
    pub name: String,
    /// The first owner's name.
    pub owner_name: String,
    /// The first owner's email.
    pub owner_email: String,
    /// The node pair to put its keys on (a name from the server's `[node_pairs]`); by
    /// default the pair with the fewest organizations. Fixed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pair: Option<String>,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// `org_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `unset`, `standard` or `trustless`.
    pub custody_mode: String,
    /// Every encrypted secret must carry a binding (Node 1 refuses one without). Only ever
    /// switched on (`POST /v2/organization/require-binding`).
    #[serde(default)]
    pub require_binding: bool,
    /// Customers may recover a forgotten PIN by an emailed code (opt-in,
    /// `POST /v2/organization/email-recovery`).
    #[serde(default)]
    pub email_recovery: bool,
    /// Customers with an address are mailed security notices: PIN changed or reset, locked
    /// out, keys exported (opt-in, `POST /v2/organization/email-notices`).
    #[serde(default)]
    pub email_notices: bool,
    /// The node pair its keys live on (`default` on a server with one pair), fixed at
    /// creation.
    #[serde(default)]
    pub node_pair: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// The answer to `POST /v2/organizations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationCreated {
    /// The organization.
    pub organization: Organization,
    /// Its first owner.
    pub owner: Member,
    /// The owner's first API key; the secret is shown only here.
    pub api_key: ApiKeyCreated,
}

/// A member's role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and signs.
    Member,
    /// Manages members, keys, wallet sets and wallets.
    Admin,
    /// Everything, including the organization secret and export.
    Owner,
}

impl Role {
    /// `"owner"`, `"admin"` or `"member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role named by `s`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// `POST /v2/organization/members`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMember {
    /// Display name.
    pub name: String,
    /// Email, unique in the organization.
    pub email: String,
    /// The role.
    pub role: Role,
}

/// `PATCH /v2/organization/members/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMember {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
}

/// A member of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// `mem_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// The role.
    pub role: Role,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyAccess {
    /// Every method its member's role allows.
    Full,
    /// `GET` only.
    ReadOnly,
}

impl KeyAccess {
    /// `"full"` or `"read_only"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAccess::Full => "full",
            KeyAccess::ReadOnly => "read_only",
        }
    }

    /// The access named by `s`.
    pub fn parse(s: &str) -> Option<KeyAccess> {
        match s {
            "full" => Some(KeyAccess::Full),
            "read_only" => Some(KeyAccess::ReadOnly),
            _ => None,
        }
    }
}

/// `POST /v2/organization/api-keys`. Not idempotent: the secret is shown once and never
/// stored, so a replay could not return it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKey {
    /// A label.
    pub name: String,
    /// The member the key acts as; the caller's own member when absent.
    pub member_id: Option<String>,
    /// `full` or `read_only`.
    pub access: KeyAccess,
    /// IPs or CIDRs the key may be used from; empty = any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Origins (`https://app.example.com`) the key may be used from; empty = any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// An API key, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// `key_…`, also the key's public prefix.
    pub id: String,
    /// The label.
    pub name: String,
    /// The member it acts as.
    pub member_id: String,
    /// `full` or `read_only`.
    pub access: KeyAccess,
    /// IP allowlist.
    pub allowed_ips: Vec<String>,
    /// Origin allowlist.
    pub allowed_origins: Vec<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC, when last used (coarse).
    pub last_used_at: Option<String>,
}

/// A new API key with its secret, shown once. `Debug` prints no secret.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The whole key to send in `PLANBOK-X-API-KEY`. Stored only as a hash.
    pub secret: String,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `GET /v2/config/organization/public-key`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// RSA public key, SPKI PEM: encrypt the organization secret to it (RSA-OAEP-SHA256).
    pub public_key: String,
    /// Node 1's Ed25519 signature (base64) over the organization id, the key and
    /// `createdAt` (`planbok_envelope::org_key`). Verify it with Node 1's identity key
    /// before encrypting anything: the server relays it and cannot forge it.
    #[serde(default)]
    pub signature: String,
    /// Which Node 1 identity key signed (first 8 bytes of SHA-256 of it, hex).
    #[serde(default)]
    pub node_key_id: String,
    /// When Node 1 created the key, unix milliseconds (part of the signed statement).
    #[serde(default)]
    pub created_at: i64,
}

/// `POST /v2/organization/require-binding`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequireBinding {
    /// UUID v4.
    pub idempotency_key: Option<String>,
}

/// `POST /v2/organization/email-recovery`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEmailRecovery {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// On or off.
    pub enabled: bool,
}

/// `POST /v2/organization/email-notices`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEmailNotices {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// On or off.
    pub enabled: bool,
}

/// The largest logo an organization can set, in bytes (before base64).
pub const MAX_LOGO_BYTES: usize = 64 * 1024;

/// How the Gateway shows the organization to its customers: its name (the
/// organization's), colours and logo (`GET`/`PUT /v2/organization/branding`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// `#rrggbb`: the Gateway's buttons and links, under white text (so it must contrast
    /// with white at least 4.5:1, WCAG AA). The Gateway's own blue when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// `#rrggbb`: the page behind the Gateway's panel. Light grey when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// The logo shown above the Gateway's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
}

/// An organization's logo: a PNG or JPEG of at most 64 KiB (never SVG, which can carry
/// script).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logo {
    /// `image/png` or `image/jpeg` (checked against the image's first bytes).
    pub media_type: String,
    /// The image, standard base64.
    pub data: String,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("media_type", &self.media_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// `PUT /v2/organization/branding`: replaces the branding whole (a field left out is
/// cleared).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetBranding {
    /// `#rrggbb`, contrasting with white at least 4.5:1.
    #[serde(default)]
    pub primary_color: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    pub background_color: Option<String>,
    /// A PNG or JPEG of at most 64 KiB.
    #[serde(default)]
    pub logo: Option<Logo>,
}

/// `POST /v2/organization/secret`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSecret {
    /// UUID v4.
    pub idempotency_key: Option<String>,
    /// Base64 RSA-OAEP-SHA256 ciphertext of `{"secret","timestamp","context":"dkg"}`.
    pub encrypted_organization_secret: String,
    /// `standard` or `trustless`; permanent.
    pub custody_mode: String,
}

/// A supported blockchain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// API id, e.g. `ETH-SEPOLIA`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `evm`, `bitcoin`, `solana` or `near`.
    pub family: String,
    /// `secp256k1` or `ed25519`.
    pub curve: String,
    /// Whether it is a test network.
    pub testnet: bool,
    /// EIP-155 chain id (EVM only).
    pub chain_id: Option<u64>,
    /// The native asset's symbol.
    pub native_symbol: String,
    /// The derivation path template, e.g. `m/44/60/0/{index}`.
    pub derivation_path: String,
}

// ---------------------------------------------------------------------------------------
// Wallet sets and wallets

/// `POST /v2/organization/wallet-sets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWalletSet {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// Display name.
    pub name: String,
    /// Context `dkg`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
    /// `cggmp` (default; audited) or `dkls23` (faster; unaudited).
    pub ecdsa_protocol: Option<String>,
}

/// `PUT /v2/organization/wallet-sets/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWalletSet {
    /// New display name.
    pub name: String,
}

/// A wallet set: one master key per curve.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WalletSet {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ORGANIZATION`.
    pub custody_type: String,
    /// `cggmp` or `dkls23`.
    pub ecdsa_protocol: String,
    /// The secp256k1 master public key, 0x-hex SEC1 compressed.
    pub secp256k1_public_key: String,
    /// The ed25519 master public key, 0x-hex.
    pub ed25519_public_key: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// The answer to `POST /v2/organization/wallet-sets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletSetCreated {
    /// The new set.
    pub wallet_set: WalletSet,
}

/// Name and reference for one wallet of a create call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WalletMetadata {
    /// Display name.
    pub name: Option<String>,
    /// Your reference (e.g. a user id).
    pub ref_id: Option<String>,
}

/// `POST /v2/organization/wallets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWallets {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// The wallet set.
    pub wallet_set_id: String,
    /// Chain ids; every chain of one call shares one derivation index.
    pub blockchains: Vec<String>,
    /// How many indexes (default 1, at most 20).
    pub count: Option<u32>,
    /// One entry per index; its length must equal `count`.
    #[serde(default)]
    pub metadata: Vec<WalletMetadata>,
    /// Context `sign`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
}

/// A wallet: an address on one chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    /// UUID.
    pub id: String,
    /// Its wallet set.
    pub wallet_set_id: String,
    /// Chain id.
    pub blockchain: String,
    /// The address.
    pub address: String,
    /// 0x-hex public key (SEC1 compressed or ed25519).
    pub public_key: String,
    /// e.g. `m/44/60/0/3`, or `m` for ed25519.
    pub derivation_path: String,
    /// Your reference.
    pub ref_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `LIVE`.
    pub state: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// The answer to `POST /v2/organization/wallets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletsCreated {
    /// One wallet per (index, chain).
    pub wallets: Vec<Wallet>,
}

/// `PUT /v2/wallets/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWallet {
    /// New display name.
    pub name: Option<String>,
    /// New reference.
    pub ref_id: Option<String>,
}

/// `GET /v2/wallets` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WalletFilter {
    /// Only this wallet set (`walletSet` is accepted too).
    #[serde(alias = "walletSet")]
    pub wallet_set_id: Option<String>,
    /// Only this chain.
    pub blockchain: Option<String>,
    /// Only this address.
    pub address: Option<String>,
    /// Only this reference.
    pub ref_id: Option<String>,
    /// Only this customer's wallets.
    pub customer_id: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}

/// `POST /v2/wallets/validate-address`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateAddress {
    /// The address.
    pub address: String,
    /// Chain id.
    pub blockchain: String,
}

/// Whether an address is valid.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressValidity {
    /// `true` if valid for that chain.
    pub is_valid: bool,
}

// ---------------------------------------------------------------------------------------
// Signing

/// `POST /v2/organization/sign/message`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignMessage {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// The wallet.
    pub wallet_id: String,
    /// Context `sign`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
    /// At most 256 characters; recorded in the audit trail.
    pub memo: Option<String>,
    /// The message (UTF-8), or 0x-hex bytes when `encodedByHex`.
    pub message: String,
    /// Whether `message` is 0x-hex.
    #[serde(default)]
    pub encoded_by_hex: bool,
}

/// `POST /v2/organization/sign/typed-data`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignTypedData {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// The wallet (EVM).
    pub wallet_id: String,
    /// Context `sign`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
    /// At most 256 characters.
    pub memo: Option<String>,
    /// EIP-712 typed data, as a JSON string.
    pub typed_data: String,
}

/// `POST /v2/organization/sign/transaction`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignTransaction {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// The wallet.
    pub wallet_id: String,
    /// Context `sign`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
    /// At most 256 characters.
    pub memo: Option<String>,
    /// EVM: 0x-hex unsigned RLP; SOL: base64 message or transaction; NEAR: base64 borsh.
    pub raw_transaction: Option<String>,
    /// EVM only: the transaction's fields as a JSON string.
    pub transaction: Option<String>,
}

/// `POST /v2/organization/sign/delegate-action` (NEAR, NEP-366).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignDelegateAction {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// A NEAR wallet.
    pub wallet_id: String,
    /// Context `sign`; required for trustless organizations.
    pub encrypted_organization_secret: Option<String>,
    /// At most 256 characters.
    pub memo: Option<String>,
    /// The borsh `DelegateAction`, base64; its `public_key` is the wallet's.
    pub unsigned_delegate_action: String,
}

/// A signed NEP-366 delegate action, for a relayer to submit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DelegateActionSignature {
    /// The ed25519 signature, base64.
    pub signature: String,
    /// The borsh `SignedDelegateAction`, base64.
    pub signed_delegate_action: String,
}

/// A message or typed-data signature.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// EVM: `0x` + r ‖ s ‖ v (65 bytes); BTC: base64 of the BIP-137 compact signature
    /// (header ‖ r ‖ s); SOL: base58; NEAR: base64.
    pub signature: String,
    /// `0x`-hex r (ECDSA) or R (ed25519).
    pub r: String,
    /// `0x`-hex s (ECDSA, low-S) or S (ed25519).
    pub s: String,
    /// The recovery byte as the chain encodes it: EVM 27 + recovery id (27 or 28); BTC the
    /// BIP-137 header of a P2WPKH key, 39 + recovery id (39 or 40); absent on ed25519 chains
    /// (SOL, NEAR).
    #[schema(minimum = 27, maximum = 40)]
    pub v: Option<u8>,
    /// `0x`-hex of what was signed.
    pub digest: String,
    /// `eip191`, `eip712`, `bip137` or `ed25519`.
    pub standard: String,
}

/// A signed transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransactionSignature {
    /// The signature.
    pub signature: String,
    /// Ready to broadcast (EVM 0x-hex; SOL/NEAR base64).
    pub signed_transaction: String,
    /// The transaction hash or id.
    pub tx_hash: String,
}

/// `POST /v2/organization/wallets/export`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportWallets {
    /// UUID v4, mandatory.
    pub idempotency_key: Option<String>,
    /// The wallets to export (all of the organization's when absent): at most 200 wallets
    /// on at most 64 MPC keys, else 400 `invalid_request`.
    pub wallet_ids: Option<Vec<String>>,
    /// Base64 X25519 public key (32 bytes): the HPKE recipient.
    pub recipient_public_key: String,
    /// Context `verify`.
    pub encrypted_organization_secret: Option<String>,
}

/// One exported wallet: each node's share, encrypted to the recipient.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedWallet {
    /// The wallet.
    pub wallet: Wallet,
    /// `cggmp`, `dkls23` or `frost`.
    pub protocol: String,
    /// The MPC key id.
    pub key_id: String,
    /// Base64 HPKE ciphertext of Node 1's share.
    pub node1_ciphertext: String,
    /// Base64 HPKE ciphertext of Node 2's share.
    pub node2_ciphertext: String,
}

/// The answer to an export.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletsExported {
    /// One per wallet.
    pub wallets: Vec<ExportedWallet>,
}

// ---------------------------------------------------------------------------------------
// Audit

/// `GET /v2/audit-logs` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only this action, e.g. `wallet_set.create`.
    pub action: Option<String>,
    /// Only this actor, e.g. `member:mem_…`.
    pub actor: Option<String>,
    /// From (RFC 3339 or unix ms), inclusive.
    pub from: Option<String>,
    /// To (RFC 3339 or unix ms), inclusive.
    pub to: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}

/// `GET /v2/audit-logs/export` range.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditExportQuery {
    /// First sequence number (default 1).
    #[param(minimum = 1)]
    pub from_seq: Option<i64>,
    /// Last sequence number (default: the head), at least `fromSeq`.
    #[param(minimum = 1)]
    pub to_seq: Option<i64>,
}

/// One audit entry. `hash` chains it to the previous entry of its organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    /// The chain: the organization id.
    pub chain: String,
    /// The hash format version.
    pub version: u8,
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
    /// Unix ms (what the hash covers).
    pub at_ms: i64,
    /// e.g. `member:mem_…`.
    pub actor: String,
    /// The API key used.
    pub api_key_id: Option<String>,
    /// Source IP.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// e.g. `sign.message`.
    pub action: String,
    /// The object acted on.
    pub target: Option<String>,
    /// `requested`, `success` or `failure`.
    pub outcome: String,
    /// The request id.
    pub request_id: String,
    /// Parameters, never secrets.
    pub detail: serde_json::Value,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Liveness and readiness.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Whether the answer is good.
    pub healthy: bool,
    /// Details (readiness: each node's state, the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_key_prints_no_secret() {
        let k = super::ApiKeyCreated {
            key: super::ApiKey {
                id: "key_1".into(),
                name: "n".into(),
                member_id: "mem_1".into(),
                access: super::KeyAccess::Full,
                allowed_ips: Vec::new(),
                allowed_origins: Vec::new(),
                created_at: "t".into(),
                last_used_at: None,
            },
            secret: "pbk_0123_topsecretvalue".into(),
        };
        assert!(!format!("{k:?}").contains("topsecretvalue"));
    }
}

// ---------------------------------------------------------------------------------------
// Webhooks

/// `POST /v2/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// UUID v4; mandatory.
    pub idempotency_key: Option<String>,
    /// `https://…` (plain `http://` only to loopback where the server allows it).
    pub url: String,
    /// Event names (`wallet.created`, `transaction.confirmed`, …) or `["*"]` for all.
    pub events: Vec<String>,
    /// A label, at most 200 characters.
    pub description: Option<String>,
}

/// `PATCH /v2/webhooks/{id}`: every field optional; absent fields are left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL (checked like at creation).
    pub url: Option<String>,
    /// New event names.
    pub events: Option<Vec<String>>,
    /// A new label (`""` clears it).
    pub description: Option<String>,
    /// Enable or disable; enabling resumes the pending deliveries.
    pub enabled: Option<bool>,
}

/// A webhook endpoint, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The label.
    pub description: Option<String>,
    /// Subscribed event names, or `["*"]`.
    pub events: Vec<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why the server disabled it (failing for days, or 410 Gone).
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation is still signed with (RFC 3339).
    pub previous_secret_expires_at: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// An endpoint with its secret, shown on creation and rotation only. `Debug` prints no
/// secret.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: the platform signature's HMAC key as is, the Standard Webhooks key
    /// base64-decoded after the prefix.
    pub secret: String,
}

impl std::fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWithSecret")
            .field("webhook", &self.webhook)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// `whd_…`.
    pub id: String,
    /// The endpoint.
    pub webhook_id: String,
    /// The event id: `webhook-id` / `X-Webhook-Id` of every attempt.
    pub event_id: String,
    /// The event name.
    pub event: String,
    /// `pending`, `delivering`, `succeeded` or `failed` (retries exhausted).
    pub status: String,
    /// Attempts started.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    /// When the last attempt started.
    pub last_attempt_at: Option<String>,
    /// The last answer's HTTP status.
    pub last_status_code: Option<u16>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The delivery this one replays.
    pub replay_of: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// `GET /v2/webhooks/{id}/deliveries` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only deliveries in this status.
    pub status: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}
