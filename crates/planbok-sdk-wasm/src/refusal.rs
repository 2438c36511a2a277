//! Why the module refused: a stable `code` (the JavaScript `Error`'s `name`, the
//! TypeScript `SecretError`'s `code`) and a message that names no secret.

use planbok_envelope::OrgKeyError;

/// A refusal. Every exported function returns one instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `org_key_malformed`, `org_key_too_small`, `org_key_unsigned`,
    /// `org_key_wrong_signer`, `org_key_bad_signature`, `org_key_wrong_org`,
    /// `org_key_pin_mismatch`, `node_key_malformed`, `secret_malformed`, `encrypt_failed`,
    /// `invalid_input`, `invalid_operation`.
    pub code: &'static str,
    /// What was wrong (never the secret).
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn input(message: impl Into<String>) -> Refusal {
        Refusal::new("invalid_input", message)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<OrgKeyError> for Refusal {
    fn from(e: OrgKeyError) -> Refusal {
        let code = match &e {
            OrgKeyError::Malformed(_) => "org_key_malformed",
            OrgKeyError::TooSmall { .. } => "org_key_too_small",
            OrgKeyError::BadIdentity => "node_key_malformed",
            OrgKeyError::Unsigned => "org_key_unsigned",
            OrgKeyError::WrongSigner { .. } => "org_key_wrong_signer",
            OrgKeyError::BadSignature => "org_key_bad_signature",
            OrgKeyError::WrongOrg { .. } => "org_key_wrong_org",
            OrgKeyError::PinMismatch { .. } => "org_key_pin_mismatch",
        };
        Refusal::new(code, e.to_string())
    }
}

impl From<planbok_sdk::secret::SecretError> for Refusal {
    fn from(e: planbok_sdk::secret::SecretError) -> Refusal {
        use planbok_sdk::secret::SecretError;
        match e {
            SecretError::PublicKey(k) => k.into(),
            SecretError::Format => Refusal::new("secret_malformed", e.to_string()),
            SecretError::Encrypt(_) => Refusal::new("encrypt_failed", e.to_string()),
        }
    }
}

impl From<planbok_sdk::Error> for Refusal {
    fn from(e: planbok_sdk::Error) -> Refusal {
        match e {
            planbok_sdk::Error::OrgKey(k) => k.into(),
            planbok_sdk::Error::Secret(s) => s.into(),
            other => Refusal::input(other.to_string()),
        }
    }
}
