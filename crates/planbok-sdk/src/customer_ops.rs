//! Customer wallets, signing and export as [`Client`] methods: the organization's
//! challenge-creating routes and the Gateway's completion route.

use planbok_api::customer_ops::{
    CreateCustomerWallets, CustomerContractExecution, CustomerSignDelegateAction,
    CustomerSignMessage, CustomerSignTransaction, CustomerSignTypedData, CustomerTransfer,
    GatewayOperate, GatewayOperated, GatewayPrepared,
};
use planbok_api::customers::{Challenge, CreateChallenge};

use crate::client::{Client, Error};

impl Client {
    /// `POST /v2/customers/{id}/wallet/create`.
    pub fn create_customer_wallets(
        &self,
        customer_id: &str,
        body: &CreateCustomerWallets,
    ) -> Result<Challenge, Error> {
        self.post(&format!("/v2/customers/{customer_id}/wallet/create"), body)
    }

    /// `POST /v2/customers/{id}/sign/message`.
    pub fn customer_sign_message(
        &self,
        customer_id: &str,
        body: &CustomerSignMessage,
    ) -> Result<Challenge, Error> {
        self.post(&format!("/v2/customers/{customer_id}/sign/message"), body)
    }

    /// `POST /v2/customers/{id}/sign/typed-data`.
    pub fn customer_sign_typed_data(
        &self,
        customer_id: &str,
        body: &CustomerSignTypedData,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/sign/typed-data"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/sign/transaction`.
    pub fn customer_sign_transaction(
        &self,
        customer_id: &str,
        body: &CustomerSignTransaction,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/sign/transaction"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/sign/delegate-action` (NEAR, NEP-366).
    pub fn customer_sign_delegate_action(
        &self,
        customer_id: &str,
        body: &CustomerSignDelegateAction,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/sign/delegate-action"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/export-private-keys`.
    pub fn customer_export(
        &self,
        customer_id: &str,
        body: &CreateChallenge,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/export-private-keys"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/transactions/transfer`.
    pub fn customer_transfer(
        &self,
        customer_id: &str,
        body: &CustomerTransfer,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/transactions/transfer"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/transactions/contract-execution`.
    pub fn customer_contract_execution(
        &self,
        customer_id: &str,
        body: &CustomerContractExecution,
    ) -> Result<Challenge, Error> {
        self.post(
            &format!("/v2/customers/{customer_id}/transactions/contract-execution"),
            body,
        )
    }

    /// `POST /v2/customers/{id}/transactions/{txId}/cancel` or `…/accelerate`
    /// (`accelerate`).
    pub fn customer_replace_transaction(
        &self,
        customer_id: &str,
        transaction_id: &str,
        accelerate: bool,
        body: &CreateChallenge,
    ) -> Result<Challenge, Error> {
        let verb = if accelerate { "accelerate" } else { "cancel" };
        self.post(
            &format!("/v2/customers/{customer_id}/transactions/{transaction_id}/{verb}"),
            body,
        )
    }

    /// `POST /gateway/api/transaction/prepare` (challenge token): the transaction's nonce
    /// and fees, held for the challenge.
    pub fn gateway_prepare_transaction(&self) -> Result<GatewayPrepared, Error> {
        self.post("/gateway/api/transaction/prepare", &serde_json::json!({}))
    }

    /// `POST /gateway/api/operation` (challenge token).
    pub fn gateway_operate(&self, body: &GatewayOperate) -> Result<GatewayOperated, Error> {
        self.post("/gateway/api/operation", body)
    }
}
