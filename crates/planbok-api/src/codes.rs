//! Stable error codes. Clients and tests match on these, never on the human message.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $s:literal => $status:literal,)*) => {
        /// Every error code the REST API returns, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode { $($(#[$doc])* $name,)* }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as sent, e.g. `"invalid_request"`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $s,)* }
            }

            /// The HTTP status that goes with the code.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// The code named by `s`, if any.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// A field is missing, mistyped or out of range; the message names it.
    InvalidRequest = "invalid_request" => 400,
    /// The body is not JSON, or not `application/json`.
    MalformedJson = "malformed_json" => 400,
    /// `encryptedOrganizationSecret` is not a ciphertext of the documented shape.
    SecretMalformed = "secret_malformed" => 400,
    /// No API key, or a key that does not exist, is revoked, or does not match.
    Unauthorized = "unauthorized" => 401,
    /// The key was used from an IP outside its allowlist.
    IpNotAllowed = "ip_not_allowed" => 401,
    /// The key was used from an Origin outside its allowlist.
    OriginNotAllowed = "origin_not_allowed" => 401,
    /// The operation needs `encryptedOrganizationSecret` (trustless organizations).
    SecretRequired = "secret_required" => 401,
    /// The secret's timestamp is more than 5 minutes old, or in the future.
    SecretExpired = "secret_expired" => 401,
    /// This ciphertext was already used once.
    SecretReused = "secret_reused" => 401,
    /// The secret was encrypted for another context (`dkg`, `sign`, `verify`).
    SecretWrongContext = "secret_wrong_context" => 401,
    /// The secret is not the organization's registered secret.
    SecretInvalid = "secret_invalid" => 401,
    /// The secret's `binding` names another operation.
    SecretBindingMismatch = "secret_binding_mismatch" => 401,
    /// The encrypted secret carries no binding where one is required: every export, and
    /// every operation of an organization with `requireBinding`.
    SecretBindingRequired = "secret_binding_required" => 401,
    /// The caller's role or a read-only key may not do this.
    Forbidden = "forbidden" => 403,
    /// Key export is for the owner of a trustless organization only.
    ExportNotAllowed = "export_not_allowed" => 403,
    /// No such route, or no such object in the caller's organization.
    NotFound = "not_found" => 404,
    /// The route exists but not for this method.
    MethodNotAllowed = "method_not_allowed" => 405,
    /// The object already exists (e.g. a member with this email).
    Conflict = "conflict" => 409,
    /// This `idempotencyKey` was used with other parameters.
    IdempotencyConflict = "idempotency_conflict" => 409,
    /// A request with this `idempotencyKey` is still running.
    IdempotencyInProgress = "idempotency_in_progress" => 409,
    /// The organization secret is already registered; the custody mode is permanent.
    SecretAlreadyRegistered = "secret_already_registered" => 409,
    /// The organization has not registered its secret yet.
    SecretNotRegistered = "secret_not_registered" => 409,
    /// The wallet's key is disabled for good: a node detected a cheating counterparty in a
    /// DKLs23 run. Do not retry; create a new wallet set.
    KeyDisabled = "key_disabled" => 409,
    /// The customer has no PIN yet (initialize first).
    PinNotSet = "pin_not_set" => 409,
    /// The customer has a PIN (update it with the old one).
    PinAlreadySet = "pin_already_set" => 409,
    /// The challenge is not pending (complete, failed or expired) or is of another type.
    ChallengeNotPending = "challenge_not_pending" => 409,
    /// Node 2 refused an unlock or PIN-change proof (a wrong, replayed or retired one).
    PinProofInvalid = "pin_proof_invalid" => 403,
    /// Too many PIN attempts: locked until recovery.
    CustomerLocked = "customer_locked" => 423,
    /// Node 2 refused a customer's key operation without a permit from the customer's fresh
    /// PIN unlock for exactly this operation.
    PermitRequired = "permit_required" => 403,
    /// The wallet belongs to a customer: only the customer, through a challenge and the
    /// Gateway, can sign with or export it; the organization's own routes refuse it.
    CustomerWallet = "customer_wallet" => 409,
    /// Too many wrong recovery answers: recovery by security questions is locked.
    RecoveryLocked = "recovery_locked" => 423,
    /// The customer has no recovery method set up (for this operation).
    RecoveryNotSet = "recovery_not_set" => 409,
    /// The operation needs a recovery method first (`POST /v2/customers/{id}/recovery`).
    RecoveryRequired = "recovery_required" => 409,
    /// Recovery by email is off: the organization has not opted in
    /// (`POST /v2/organization/email-recovery`), or this server has no SMTP relay.
    EmailRecoveryDisabled = "email_recovery_disabled" => 409,
    /// Mail is not possible: this server has no SMTP relay (`[smtp]`).
    MailNotConfigured = "mail_not_configured" => 409,
    /// The body is over 1 MiB.
    PayloadTooLarge = "payload_too_large" => 413,
    /// The body is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type" => 415,
    /// The endpoint is disabled; enable it first (`PATCH /v2/webhooks/{id}`).
    WebhookDisabled = "webhook_disabled" => 409,
    /// The webhook URL targets an address the server refuses (private, loopback,
    /// link-local, metadata…), or does not resolve.
    WebhookUrlRefused = "webhook_url_refused" => 422,
    /// The chain id is not one this server supports.
    UnsupportedChain = "unsupported_chain" => 422,
    /// The chain does not support this operation (e.g. typed data on Solana).
    UnsupportedOperation = "unsupported_operation" => 422,
    /// `typedData` is not valid EIP-712.
    InvalidTypedData = "invalid_typed_data" => 422,
    /// The transaction does not parse.
    InvalidTransaction = "invalid_transaction" => 422,
    /// The branding is well formed but cannot be used: a primary colour white text does
    /// not read on (under 4.5:1), or a logo that is not the image its type says.
    InvalidBranding = "invalid_branding" => 422,
    /// The transaction or typed data names another chain id.
    ChainIdMismatch = "chain_id_mismatch" => 422,
    /// The wallet is not a signer of this transaction.
    NotSigner = "not_signer" => 422,
    /// This server has no RPC for the chain (`[chains.<id>] rpc_url`).
    ChainNotConfigured = "chain_not_configured" => 422,
    /// The chain's node rejects the transaction as it stands (e.g. insufficient funds, a
    /// call that reverts); the message has its reason. Nothing was signed.
    TransactionWouldFail = "transaction_would_fail" => 422,
    /// `abiFunctionSignature` does not parse, or a value of `abiParameters` does not fit
    /// its type (the message names it), or a view call's answer does not decode.
    InvalidAbi = "invalid_abi" => 400,
    /// The transaction is no longer pending (confirmed, failed or cancelled): it cannot
    /// be cancelled or accelerated.
    TransactionNotPending = "transaction_not_pending" => 409,
    /// A customer's transaction challenge holds no nonce (never prepared, or the hold
    /// lapsed): the Gateway prepares it again (`POST /gateway/api/transaction/prepare`).
    TransactionNotPrepared = "transaction_not_prepared" => 409,
    /// Too many requests in this category; retry later.
    RateLimited = "rate_limited" => 429,
    /// A bug; the message says nothing more, the server log has the request id.
    Internal = "internal" => 500,
    /// A node is down, sealed or timed out; nothing was done.
    NodeUnavailable = "node_unavailable" => 503,
    /// The nodes are at their concurrency limit; retry later.
    NodeBusy = "node_busy" => 503,
    /// CGGMP is not provisioned yet on this node pair (`planbok operator provision-aux`).
    AuxNotProvisioned = "aux_not_provisioned" => 503,
    /// The chain's RPC did not answer, or answered an error; nothing was signed.
    ChainUnavailable = "chain_unavailable" => 503,
    /// Another transfer from this wallet holds its nonce for too long; retry.
    WalletBusy = "wallet_busy" => 503,
    /// The server's database is unreachable.
    StorageUnavailable = "storage_unavailable" => 503,
    /// The shared rate limiter (Redis) did not answer: refused rather than unlimited.
    RateLimiterUnavailable = "rate_limiter_unavailable" => 503,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialize_as_sent() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert!((400..600).contains(&c.http_status()));
        }
    }
}
