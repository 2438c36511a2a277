//! Tokens, balances and transactions (`docs/transactions.md`).

use planbok_api::List;
use planbok_api::model::{
    Balances, ContractViewCall, ContractViewResult, CreateContractExecution, CreateToken,
    CreateTransfer, EstimateContractFee, EstimateTransferFee, FeeEstimate, ReplaceTransaction,
    Token, TokenMetadata, Transaction,
};

use crate::client::{Client, Error, path_method};

impl Client {
    /// `GET /v2/tokens/metadata`.
    pub fn token_metadata(&self) -> Result<TokenMetadata, Error> {
        self.get("/v2/tokens/metadata")
    }

    /// `POST /v2/tokens` (an idempotency key is added when absent).
    pub fn create_token(&self, body: &CreateToken) -> Result<Token, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post("/v2/tokens", &body)
    }

    /// `GET /v2/tokens` (one page, up to 100).
    pub fn tokens(&self, page: u32) -> Result<List<Token>, Error> {
        self.get(&format!("/v2/tokens?limit=100&page={page}"))
    }

    /// `GET /v2/tokens/{id}`.
    pub fn token(&self, id: &str) -> Result<Token, Error> {
        self.get(&format!("/v2/tokens/{id}"))
    }

    /// `DELETE /v2/tokens/{id}`.
    pub fn delete_token(&self, id: &str) -> Result<Token, Error> {
        self.call(
            path_method::DELETE,
            &format!("/v2/tokens/{id}"),
            None::<&()>,
        )
    }

    /// `GET /v2/wallets/{id}/balances`.
    pub fn wallet_balances(&self, wallet_id: &str) -> Result<Balances, Error> {
        self.get(&format!("/v2/wallets/{wallet_id}/balances"))
    }

    /// `GET /v2/wallet-sets/{id}/balances`.
    pub fn wallet_set_balances(&self, wallet_set_id: &str) -> Result<Balances, Error> {
        self.get(&format!("/v2/wallet-sets/{wallet_set_id}/balances"))
    }

    /// `POST /v2/organization/transactions/transfer`: the signed, committed transaction
    /// (an idempotency key is added when absent; set one to retry safely).
    pub fn transfer(&self, body: &CreateTransfer) -> Result<Transaction, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post("/v2/organization/transactions/transfer", &body)
    }

    /// `POST /v2/transactions/transfer/estimate-fee`.
    pub fn estimate_transfer_fee(&self, body: &EstimateTransferFee) -> Result<FeeEstimate, Error> {
        self.post("/v2/transactions/transfer/estimate-fee", body)
    }

    /// `POST /v2/organization/transactions/contract-execution`: the signed, committed
    /// transaction (an idempotency key is added when absent).
    pub fn execute_contract(&self, body: &CreateContractExecution) -> Result<Transaction, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post("/v2/organization/transactions/contract-execution", &body)
    }

    /// `POST /v2/transactions/contract-execution/estimate-fee`.
    pub fn estimate_contract_fee(&self, body: &EstimateContractFee) -> Result<FeeEstimate, Error> {
        self.post("/v2/transactions/contract-execution/estimate-fee", body)
    }

    /// `POST /v2/transactions/contract-view/call`: a read-only call, decoded by the
    /// signature's `returns (…)`.
    pub fn call_contract(&self, body: &ContractViewCall) -> Result<ContractViewResult, Error> {
        self.post("/v2/transactions/contract-view/call", body)
    }

    /// `POST /v2/organization/transactions/{id}/cancel`: the replacement (a 0-value
    /// self-transfer with the same nonce and higher fees).
    pub fn cancel_transaction(
        &self,
        id: &str,
        body: &ReplaceTransaction,
    ) -> Result<Transaction, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post(&format!("/v2/organization/transactions/{id}/cancel"), &body)
    }

    /// `POST /v2/organization/transactions/{id}/accelerate`: the replacement (the same
    /// call and nonce, higher fees).
    pub fn accelerate_transaction(
        &self,
        id: &str,
        body: &ReplaceTransaction,
    ) -> Result<Transaction, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post(
            &format!("/v2/organization/transactions/{id}/accelerate"),
            &body,
        )
    }

    /// `GET /v2/transactions` with a query string of API.md's filters (e.g.
    /// `status=confirmed&walletIds=a,b`), without the leading `?`.
    pub fn transactions(&self, query: &str) -> Result<List<Transaction>, Error> {
        if query.is_empty() {
            self.get("/v2/transactions")
        } else {
            self.get(&format!("/v2/transactions?{query}"))
        }
    }

    /// `GET /v2/transactions/{id}`.
    pub fn transaction(&self, id: &str) -> Result<Transaction, Error> {
        self.get(&format!("/v2/transactions/{id}"))
    }
}
