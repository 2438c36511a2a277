//! Customers, challenges and the Gateway's routes, as [`Client`] methods.

use planbok_api::List;
use planbok_api::customers::{
    Challenge, CreateChallenge, CreateCustomer, Customer, GatewayChallenge, GatewayCommit,
    GatewayEmailAttempt, GatewayEmailUnlocked, GatewayEvaluate, GatewayEvaluated,
    GatewayRecoveryCommit, GatewayUnlock, GatewayUnlocked, ResetPin,
};

use crate::client::{Client, Error};

impl Client {
    /// `POST /v2/customers`.
    pub fn create_customer(&self, body: &CreateCustomer) -> Result<Customer, Error> {
        self.post("/v2/customers", body)
    }

    /// `GET /v2/customers/{id}`.
    pub fn customer(&self, id: &str) -> Result<Customer, Error> {
        self.get(&format!("/v2/customers/{id}"))
    }

    /// `GET /v2/customers` (one page).
    pub fn customers(&self, page: u32) -> Result<List<Customer>, Error> {
        self.get(&format!("/v2/customers?page={page}&limit=100"))
    }

    /// `POST /v2/customers/{id}/{operation}` (`initialize`, `update-pin`, `recovery`,
    /// `reset-pin`): a challenge
    /// whose `redirectUrl` is the Gateway URL carrying the one-time token.
    pub fn create_challenge(
        &self,
        customer_id: &str,
        operation: &str,
        body: &CreateChallenge,
    ) -> Result<Challenge, Error> {
        self.post(&format!("/v2/customers/{customer_id}/{operation}"), body)
    }

    /// `POST /v2/customers/{id}/reset-pin` with a recovery `method` (`securityQuestions` or
    /// `email`: the server emails the customer's recovery code).
    pub fn reset_pin(&self, customer_id: &str, body: &ResetPin) -> Result<Challenge, Error> {
        self.post(&format!("/v2/customers/{customer_id}/reset-pin"), body)
    }

    /// `GET /v2/customers/{id}/challenges/{challengeId}`.
    pub fn challenge(&self, customer_id: &str, challenge_id: &str) -> Result<Challenge, Error> {
        self.get(&format!(
            "/v2/customers/{customer_id}/challenges/{challenge_id}"
        ))
    }

    /// `GET /gateway/api/challenge` (challenge token).
    pub fn gateway_challenge(&self) -> Result<GatewayChallenge, Error> {
        self.get("/gateway/api/challenge")
    }

    /// `POST /gateway/api/pin/evaluate`: one counted PIN attempt.
    pub fn gateway_evaluate(&self, body: &GatewayEvaluate) -> Result<GatewayEvaluated, Error> {
        self.post("/gateway/api/pin/evaluate", body)
    }

    /// `POST /gateway/api/pin/enroll`.
    pub fn gateway_enroll(&self, body: &GatewayEvaluate) -> Result<GatewayEvaluated, Error> {
        self.post("/gateway/api/pin/enroll", body)
    }

    /// `POST /gateway/api/pin/unlock`.
    pub fn gateway_unlock(&self, body: &GatewayUnlock) -> Result<GatewayUnlocked, Error> {
        self.post("/gateway/api/pin/unlock", body)
    }

    /// `POST /gateway/api/pin/commit`.
    pub fn gateway_commit(&self, body: &GatewayCommit) -> Result<Challenge, Error> {
        self.post("/gateway/api/pin/commit", body)
    }

    /// `POST /gateway/api/recovery/evaluate`: one counted recovery attempt (reset-pin).
    pub fn gateway_recovery_evaluate(
        &self,
        body: &GatewayEvaluate,
    ) -> Result<GatewayEvaluated, Error> {
        self.post("/gateway/api/recovery/evaluate", body)
    }

    /// `POST /gateway/api/recovery/unlock`: the rekey nonce for the new PIN.
    pub fn gateway_recovery_unlock(&self, body: &GatewayUnlock) -> Result<GatewayUnlocked, Error> {
        self.post("/gateway/api/recovery/unlock", body)
    }

    /// `POST /gateway/api/recovery/enroll`.
    pub fn gateway_recovery_enroll(
        &self,
        body: &GatewayEvaluate,
    ) -> Result<GatewayEvaluated, Error> {
        self.post("/gateway/api/recovery/enroll", body)
    }

    /// `POST /gateway/api/recovery/commit` (`recovery` challenges).
    pub fn gateway_recovery_commit(
        &self,
        body: &GatewayRecoveryCommit,
    ) -> Result<Challenge, Error> {
        self.post("/gateway/api/recovery/commit", body)
    }

    /// `POST /gateway/api/email/evaluate`: one counted attempt at the emailed code.
    pub fn gateway_email_evaluate(&self) -> Result<GatewayEmailAttempt, Error> {
        self.post("/gateway/api/email/evaluate", &serde_json::json!({}))
    }

    /// `POST /gateway/api/email/unlock`: `W_email` and the rekey nonce for the new PIN.
    pub fn gateway_email_unlock(
        &self,
        body: &GatewayUnlock,
    ) -> Result<GatewayEmailUnlocked, Error> {
        self.post("/gateway/api/email/unlock", body)
    }
}
