//! Stable error codes. A node error travels as a gRPC status whose `x-planbok-code`
//! metadata entry is one of these; clients (the REST server, tests, the CLI) match on the
//! code, never on the message.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// Metadata key carrying the stable code.
pub const METADATA_KEY: &str = "x-planbok-code";

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $s:literal => $grpc:ident,)*) => {
        /// A stable node error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode { $($(#[$doc])* $name,)* }

        impl ErrorCode {
            /// The snake_case wire form.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $s,)* }
            }
            /// The gRPC status code it travels with.
            pub fn grpc(self) -> Code {
                match self { $(ErrorCode::$name => Code::$grpc,)* }
            }
            /// Parses the wire form.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// The caller's certificate names a role this service does not serve.
    WrongRole = "wrong_role" => PermissionDenied,
    /// The request is malformed (a field is missing or out of range).
    InvalidArgument = "invalid_argument" => InvalidArgument,
    /// No grant was attached.
    GrantMissing = "grant_missing" => Unauthenticated,
    /// The grant does not decode or has an unsupported version.
    GrantMalformed = "grant_malformed" => Unauthenticated,
    /// The grant's signature is not the server's.
    GrantBadSignature = "grant_bad_signature" => Unauthenticated,
    /// The grant expired, is not valid yet, or claims a lifetime over 60 s.
    GrantExpired = "grant_expired" => Unauthenticated,
    /// The grant id was used before.
    GrantReplayed = "grant_replayed" => Unauthenticated,
    /// The grant names another operation, key or organization.
    GrantScopeMismatch = "grant_scope_mismatch" => PermissionDenied,
    /// The grant's parameter hash differs from what the node is asked to do.
    GrantDigestMismatch = "grant_digest_mismatch" => PermissionDenied,
    /// The keystore is sealed (or not initialized): the node does no work.
    Sealed = "sealed" => Unavailable,
    /// Node 1 cannot reach Node 2, or the peer went away mid-run.
    PeerUnavailable = "peer_unavailable" => Unavailable,
    /// Too many protocol runs are in progress.
    Busy = "busy" => ResourceExhausted,
    /// A run or one of its rounds exceeded its timeout.
    Timeout = "timeout" => DeadlineExceeded,
    /// The protocol failed; `may_be_attack` failures are logged as alerts.
    ProtocolAborted = "protocol_aborted" => Aborted,
    /// No active key with this id.
    KeyNotFound = "key_not_found" => NotFound,
    /// A key with this id exists already.
    KeyExists = "key_exists" => AlreadyExists,
    /// The CGGMP auxiliary info has not been provisioned.
    AuxNotProvisioned = "aux_not_provisioned" => FailedPrecondition,
    /// Node 2 was asked to run aux-info generation that no operator of Node 2 allowed.
    AuxNotAllowed = "aux_not_allowed" => PermissionDenied,
    /// The node's database holds data sealed by another keystore than the configured one
    /// (a lost or replaced seal state, HSM object, transit key or dev key file): restore
    /// that keystore; a new one is never initialized over sealed data.
    KeystoreMismatch = "keystore_mismatch" => FailedPrecondition,
    /// The organization has no RSA key yet.
    OrgKeyMissing = "org_key_missing" => FailedPrecondition,
    /// The organization secret has not been registered.
    SecretNotRegistered = "secret_not_registered" => FailedPrecondition,
    /// The organization secret was registered before (the custody mode is permanent).
    SecretAlreadyRegistered = "secret_already_registered" => AlreadyExists,
    /// A trustless organization sent no encrypted secret.
    SecretRequired = "secret_required" => Unauthenticated,
    /// The encrypted secret does not decrypt or its plaintext is malformed.
    SecretMalformed = "secret_malformed" => Unauthenticated,
    /// The secret's timestamp is older than 5 minutes or in the future.
    SecretExpired = "secret_expired" => Unauthenticated,
    /// The secret's context is not the operation's.
    SecretWrongContext = "secret_wrong_context" => Unauthenticated,
    /// The ciphertext was seen before.
    SecretReused = "secret_reused" => Unauthenticated,
    /// The secret is not the registered one.
    SecretInvalid = "secret_invalid" => Unauthenticated,
    /// The secret's `binding` names another operation.
    SecretBindingMismatch = "secret_binding_mismatch" => Unauthenticated,
    /// The ciphertext carries no binding where one is required (every export; every
    /// operation of an organization that requires bindings).
    SecretBindingRequired = "secret_binding_required" => Unauthenticated,
    /// Too many requests of this kind for this organization; retry later.
    RateLimited = "rate_limited" => ResourceExhausted,
    /// The organization's custody mode does not allow key export (only Trustless does).
    ExportNotAllowed = "export_not_allowed" => PermissionDenied,
    /// The key is disabled for good on a node: its DKLs23 run detected a cheating
    /// counterparty (`BanCounterparty`). Never retry; move funds with a new wallet set.
    KeyDisabled = "key_disabled" => FailedPrecondition,
    /// The nodes hold different share versions of a key (a refresh is unsettled); retry.
    ShareVersionMismatch = "share_version_mismatch" => FailedPrecondition,
    /// Node 2 counted the customer's allowed PIN attempts without an unlock: locked until
    /// recovery.
    CustomerLocked = "customer_locked" => FailedPrecondition,
    /// The customer has no enrolled PIN (or no pending enrollment for this nonce).
    PinNotSet = "pin_not_set" => FailedPrecondition,
    /// The customer has an enrolled PIN; a new one needs the old one's rekey nonce.
    PinAlreadySet = "pin_already_set" => AlreadyExists,
    /// An unlock or re-enrollment signature, or a nonce, that Node 2 does not accept (a
    /// wrong, replayed or retired one).
    PinProofInvalid = "pin_proof_invalid" => PermissionDenied,
    /// Node 2 holds no unused, unexpired permit for this operation on a customer's key:
    /// only the customer's fresh PIN unlock for this very operation creates one.
    PermitRequired = "permit_required" => PermissionDenied,
    /// The key is a customer's: only that customer's challenge (the Gateway, the PIN) can
    /// use it, never the organization's own routes; or a customer request names a key of
    /// someone else.
    CustomerKey = "customer_key" => PermissionDenied,
    /// Node 2 counted the customer's allowed recovery (security question) attempts without
    /// a successful one: that factor is locked.
    RecoveryLocked = "recovery_locked" => FailedPrecondition,
    /// The customer has no enrolled recovery factor.
    RecoveryNotSet = "recovery_not_set" => FailedPrecondition,
    /// Storage failed.
    Storage = "storage" => Unavailable,
    /// A bug or an invariant violation; details are in the node's log only.
    Internal = "internal" => Internal,
}

/// Builds a status carrying `code`.
pub fn status(code: ErrorCode, message: impl Into<String>) -> Status {
    let mut s = Status::new(code.grpc(), message.into());
    s.metadata_mut()
        .insert(METADATA_KEY, MetadataValue::from_static(code.as_str()));
    s
}

/// The stable code a status carries, if any.
pub fn code_of(status: &Status) -> Option<ErrorCode> {
    status
        .metadata()
        .get(METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorCode::parse)
}
