//! The kinds of customer challenge and what each requires of the customer's state: the
//! PIN's status (a locked customer can only reset the PIN) and recovery (every operation on
//! the customer's keys needs it, 409 `recovery_required`).

use planbok_store::server::CustomerRecord;

use crate::error::{ApiError, ApiResult};

/// Which challenges exist and what each requires of the customer's PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Set the first PIN.
    Initialize,
    /// Change the PIN (needs the old one).
    UpdatePin,
    /// Create wallets (DKGs under a PIN unlock; `routes/customer_wallets.rs`).
    WalletCreate,
    /// Sign a message.
    SignMessage,
    /// Sign EIP-712 typed data.
    SignTypedData,
    /// Sign a transaction.
    SignTransaction,
    /// Sign a NEP-366 delegate action (NEAR).
    SignDelegateAction,
    /// Export every key of the customer.
    Export,
    /// Sign and broadcast a transfer (`routes/customer_tx.rs`).
    Transfer,
    /// Sign and broadcast a contract call.
    ContractExecution,
    /// Replace a pending transaction with a 0-value self-transfer.
    CancelTransaction,
    /// Replace a pending transaction with higher fees.
    AccelerateTransaction,
    /// Set or change the security questions (needs the PIN).
    Recovery,
    /// Recover the customer secret with the security questions and set a new PIN (also
    /// ends a PIN lockout).
    ResetPin,
}

impl Kind {
    /// Every kind, for the tests driven by this table.
    #[cfg(test)]
    pub(crate) const ALL: &[Kind] = &[
        Kind::Initialize,
        Kind::UpdatePin,
        Kind::WalletCreate,
        Kind::SignMessage,
        Kind::SignTypedData,
        Kind::SignTransaction,
        Kind::SignDelegateAction,
        Kind::Export,
        Kind::Transfer,
        Kind::ContractExecution,
        Kind::CancelTransaction,
        Kind::AccelerateTransaction,
        Kind::Recovery,
        Kind::ResetPin,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Initialize => "initialize",
            Kind::UpdatePin => "update_pin",
            Kind::WalletCreate => "wallet_create",
            Kind::SignMessage => "sign_message",
            Kind::SignTypedData => "sign_typed_data",
            Kind::SignTransaction => "sign_transaction",
            Kind::SignDelegateAction => "sign_delegate_action",
            Kind::Export => "export_private_keys",
            Kind::Transfer => "transfer",
            Kind::ContractExecution => "contract_execution",
            Kind::CancelTransaction => "cancel_transaction",
            Kind::AccelerateTransaction => "accelerate_transaction",
            Kind::Recovery => "recovery",
            Kind::ResetPin => "reset_pin",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s {
            "initialize" => Some(Kind::Initialize),
            "update_pin" => Some(Kind::UpdatePin),
            "wallet_create" => Some(Kind::WalletCreate),
            "sign_message" => Some(Kind::SignMessage),
            "sign_typed_data" => Some(Kind::SignTypedData),
            "sign_transaction" => Some(Kind::SignTransaction),
            "sign_delegate_action" => Some(Kind::SignDelegateAction),
            "export_private_keys" => Some(Kind::Export),
            "transfer" => Some(Kind::Transfer),
            "contract_execution" => Some(Kind::ContractExecution),
            "cancel_transaction" => Some(Kind::CancelTransaction),
            "accelerate_transaction" => Some(Kind::AccelerateTransaction),
            "recovery" => Some(Kind::Recovery),
            "reset_pin" => Some(Kind::ResetPin),
            _ => None,
        }
    }
    /// An operation on the customer's keys (completed by `POST /gateway/api/operation`),
    /// as opposed to a PIN or recovery change.
    pub(crate) fn is_operation(self) -> bool {
        !matches!(
            self,
            Kind::Initialize | Kind::UpdatePin | Kind::Recovery | Kind::ResetPin
        )
    }
    /// The audit action of its creation.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Kind::Initialize => "customer.initialize",
            Kind::UpdatePin => "customer.update_pin",
            Kind::WalletCreate => "customer.wallet_create",
            Kind::SignMessage => "customer.sign_message",
            Kind::SignTypedData => "customer.sign_typed_data",
            Kind::SignTransaction => "customer.sign_transaction",
            Kind::SignDelegateAction => "customer.sign_delegate_action",
            Kind::Export => "customer.export_private_keys",
            Kind::Transfer => "customer.transfer",
            Kind::ContractExecution => "customer.contract_execution",
            Kind::CancelTransaction => "customer.cancel_transaction",
            Kind::AccelerateTransaction => "customer.accelerate_transaction",
            Kind::Recovery => "customer.recovery",
            Kind::ResetPin => "customer.reset_pin",
        }
    }
}

/// Whether a challenge of `kind` needs a recovery method set up first: every operation on
/// the customer's keys (wallet creation, signing, export), so a customer who forgets the
/// PIN never strands funds. Setting up the PIN and recovery themselves never does.
pub(crate) fn requires_recovery(kind: Kind) -> bool {
    kind.is_operation()
}

/// 409 `recovery_required` when `kind` needs recovery and the customer has none.
pub(crate) fn check_recovery(kind: Kind, customer: &CustomerRecord) -> ApiResult<()> {
    if requires_recovery(kind) && customer.recovery.is_none() {
        return Err(ApiError::new(
            planbok_api::ErrorCode::RecoveryRequired,
            "the customer has no recovery method; set one up first (POST /v2/customers/{id}/recovery)",
        ));
    }
    Ok(())
}

/// Refuses a challenge of `kind` for the customer in its present state: the PIN's status
/// (a locked customer can only reset the PIN) and recovery.
pub(crate) fn check_pin_state(kind: Kind, customer: &CustomerRecord) -> ApiResult<()> {
    use planbok_api::ErrorCode as E;
    match (kind, customer.pin_status.as_str()) {
        (k, "unset") if k != Kind::Initialize => {
            return Err(ApiError::new(
                E::PinNotSet,
                "the customer has no PIN; initialize first",
            ));
        }
        (Kind::ResetPin, _) => {}
        (_, "locked") => {
            return Err(ApiError::new(
                E::CustomerLocked,
                "the customer is locked out (too many PIN attempts); reset the PIN",
            ));
        }
        (Kind::Initialize, "set") => {
            return Err(ApiError::new(
                E::PinAlreadySet,
                "the customer has a PIN; use update-pin",
            ));
        }
        _ => {}
    }
    if kind == Kind::ResetPin && customer.recovery.is_none() {
        return Err(ApiError::new(
            E::RecoveryNotSet,
            "the customer has no recovery method to reset the PIN with",
        ));
    }
    check_recovery(kind, customer)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn customer(recovery: bool) -> CustomerRecord {
        CustomerRecord {
            id: "c".into(),
            org_id: "o".into(),
            name: "n".into(),
            ref_id: None,
            email: None,
            pin_status: "set".into(),
            pin: None,
            recovery: recovery.then(|| planbok_store::server::RecoveryEnrollment {
                salt: vec![0; 16],
                params: "{}".into(),
                wrap: vec![0; 61],
                questions: "[]".into(),
            }),
            email_code: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    /// Driven by the table of kinds: every kind that needs recovery is refused with
    /// `recovery_required` without it and passes with it; the kinds that set up the PIN
    /// and recovery themselves never need it (else no customer could ever get there).
    #[test]
    fn recovery_is_required_exactly_where_the_table_says() {
        for &kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            let without = check_recovery(kind, &customer(false));
            if requires_recovery(kind) {
                let e = without.unwrap_err();
                assert_eq!(e.code, planbok_api::ErrorCode::RecoveryRequired, "{kind:?}");
                assert_eq!(e.code.http_status(), 409);
            } else {
                assert!(without.is_ok(), "{kind:?}");
            }
            assert!(check_recovery(kind, &customer(true)).is_ok(), "{kind:?}");
        }
        for kind in [
            Kind::Initialize,
            Kind::UpdatePin,
            Kind::Recovery,
            Kind::ResetPin,
        ] {
            assert!(!requires_recovery(kind), "{kind:?}");
        }
        // Every operation on the customer's keys does.
        for kind in [
            Kind::WalletCreate,
            Kind::SignMessage,
            Kind::SignTypedData,
            Kind::SignTransaction,
            Kind::SignDelegateAction,
            Kind::Export,
            Kind::Transfer,
            Kind::ContractExecution,
            Kind::CancelTransaction,
            Kind::AccelerateTransaction,
        ] {
            assert!(requires_recovery(kind), "{kind:?}");
        }
    }
}
