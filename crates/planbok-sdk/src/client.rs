//! The REST client.

use std::time::Duration;

use planbok_api::model::*;
use planbok_api::{API_KEY_HEADER, ErrorBody, List, OPERATOR_TOKEN_HEADER, Success};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;

pub use crate::error::Error;

/// A client for one server and one credential. `Debug` never prints the credential.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: Agent,
    api_key: Option<String>,
    operator_token: Option<String>,
    challenge_token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |c: &Option<String>| c.as_ref().map(|_| "<redacted>");
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("api_key", &redacted(&self.api_key))
            .field("operator_token", &redacted(&self.operator_token))
            .field("challenge_token", &redacted(&self.challenge_token))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`) using `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Client {
        let mut c = Client::anonymous(base_url);
        c.api_key = Some(api_key.to_owned());
        c
    }

    /// A client with the operator token (organization bootstrap only).
    pub fn operator(base_url: &str, token: &str) -> Client {
        let mut c = Client::anonymous(base_url);
        c.operator_token = Some(token.to_owned());
        c
    }

    /// A client with no credential.
    pub fn anonymous(base_url: &str) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Client {
            base: base_url.trim_end_matches('/').to_owned(),
            agent,
            api_key: None,
            operator_token: None,
            challenge_token: None,
        }
    }

    /// A client for the Gateway's routes with a challenge's one-time token (from the
    /// Gateway URL's fragment, see [`crate::gateway::GatewayLink`]).
    pub fn gateway(base_url: &str, token: &str) -> Client {
        let mut c = Client::anonymous(base_url);
        c.challenge_token = Some(token.to_owned());
        c
    }

    /// The same server with another API key.
    pub fn with_key(&self, api_key: &str) -> Client {
        let mut c = self.clone();
        c.api_key = Some(api_key.to_owned());
        c.operator_token = None;
        c
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns the status and the raw JSON body (for tests and tools
    /// that need the envelope itself).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), Error> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(k) = &self.api_key {
            req = req.header(API_KEY_HEADER, k);
        }
        if let Some(t) = &self.operator_token {
            req = req.header(OPERATOR_TOKEN_HEADER, t);
        }
        if let Some(t) = &self.challenge_token {
            req = req.header(planbok_api::customers::CHALLENGE_TOKEN_HEADER, t);
        }
        let result = match body {
            Some(b) => {
                let bytes = serde_json::to_vec(b).map_err(|e| Error::Transport(e.to_string()))?;
                let req = req
                    .header("content-type", "application/json")
                    .body(bytes)
                    .map_err(|e| Error::Transport(e.to_string()))?;
                self.agent.run(req)
            }
            None => {
                let req = req.body(()).map_err(|e| Error::Transport(e.to_string()))?;
                self.agent.run(req)
            }
        };
        let mut resp = result.map_err(|e| Error::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| Error::Transport(e.to_string()))?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, json))
    }

    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Error> {
        let body = body
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::Transport(e.to_string()))?;
        let (status, json) = self.raw(method, path, body.as_ref())?;
        if (200..300).contains(&status) {
            let s: Success<T> = serde_json::from_value(json)
                .map_err(|e| Error::Transport(format!("unexpected answer: {e}")))?;
            Ok(s.data)
        } else {
            match serde_json::from_value::<ErrorBody>(json.clone()) {
                Ok(e) => Err(Error::Api {
                    status,
                    code: e.code,
                    message: e.message,
                }),
                Err(_) => Err(Error::Transport(format!("HTTP {status}: {json}"))),
            }
        }
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(path_method::GET, path, None::<&()>)
    }

    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Error> {
        self.call(path_method::POST, path, Some(body))
    }

    // -- organization -----------------------------------------------------------------

    /// `POST /v2/organizations` (operator token).
    pub fn create_organization(
        &self,
        body: &CreateOrganization,
    ) -> Result<OrganizationCreated, Error> {
        self.post("/v2/organizations", body)
    }

    /// `GET /v2/organization`.
    pub fn organization(&self) -> Result<Organization, Error> {
        self.get("/v2/organization")
    }

    /// `POST /v2/organization/members`.
    pub fn create_member(&self, body: &CreateMember) -> Result<Member, Error> {
        self.post("/v2/organization/members", body)
    }

    /// `POST /v2/organization/api-keys`.
    pub fn create_api_key(&self, body: &CreateApiKey) -> Result<ApiKeyCreated, Error> {
        self.post("/v2/organization/api-keys", body)
    }

    /// `GET /v2/config/organization/public-key`: the PEM.
    pub fn organization_public_key(&self) -> Result<String, Error> {
        self.get::<PublicKey>("/v2/config/organization/public-key")
            .map(|k| k.public_key)
    }

    /// `POST /v2/organization/secret`.
    pub fn register_secret(&self, body: &RegisterSecret) -> Result<Organization, Error> {
        self.post("/v2/organization/secret", body)
    }

    /// Registers `secret` once, fixing the custody mode (`standard` or `trustless`): fetches
    /// the organization's public key, checks it against `trust` (Node 1's signature, the
    /// pins) and sends a fresh, bound `dkg` ciphertext.
    pub fn register_org_secret(
        &self,
        secret: &crate::secret::OrgSecret,
        custody_mode: &str,
        trust: &crate::trust::OrgKeyTrust,
    ) -> Result<Organization, Error> {
        let key = self.trusted_org_key(trust)?;
        self.register_secret(&RegisterSecret {
            idempotency_key: Some(crate::idempotency_key()),
            encrypted_organization_secret: crate::trust::Sealer::new(self, secret, key)
                .registration()?,
            custody_mode: custody_mode.to_owned(),
        })
    }

    /// `POST /v2/organization/require-binding` (owner): for good.
    pub fn require_binding(&self) -> Result<Organization, Error> {
        self.post(
            "/v2/organization/require-binding",
            &RequireBinding {
                idempotency_key: Some(crate::idempotency_key()),
            },
        )
    }

    /// `POST /v2/organization/email-recovery` (owner): lets customers recover by an
    /// emailed code, or stops it.
    pub fn set_email_recovery(&self, enabled: bool) -> Result<Organization, Error> {
        self.post(
            "/v2/organization/email-recovery",
            &planbok_api::model::SetEmailRecovery {
                idempotency_key: Some(crate::idempotency_key()),
                enabled,
            },
        )
    }

    /// `POST /v2/organization/email-notices` (owner): mails customers security notices
    /// (PIN changed or reset, locked out, keys exported), or stops it.
    pub fn set_email_notices(&self, enabled: bool) -> Result<Organization, Error> {
        self.post(
            "/v2/organization/email-notices",
            &planbok_api::model::SetEmailNotices {
                idempotency_key: Some(crate::idempotency_key()),
                enabled,
            },
        )
    }

    /// `GET /v2/organization/branding`: how the Gateway shows the organization.
    pub fn branding(&self) -> Result<planbok_api::model::Branding, Error> {
        self.get("/v2/organization/branding")
    }

    /// `PUT /v2/organization/branding` (admin): replaces the branding whole.
    pub fn set_branding(
        &self,
        body: &planbok_api::model::SetBranding,
    ) -> Result<planbok_api::model::Branding, Error> {
        self.call(path_method::PUT, "/v2/organization/branding", Some(body))
    }

    /// `GET /v2/config/chains`.
    pub fn chains(&self) -> Result<Vec<ChainInfo>, Error> {
        self.get("/v2/config/chains")
    }

    // -- wallets ----------------------------------------------------------------------

    /// `POST /v2/organization/wallet-sets`.
    pub fn create_wallet_set(&self, body: &CreateWalletSet) -> Result<WalletSet, Error> {
        self.post::<WalletSetCreated>("/v2/organization/wallet-sets", body)
            .map(|c| c.wallet_set)
    }

    /// `GET /v2/wallet-sets/{id}`.
    pub fn wallet_set(&self, id: &str) -> Result<WalletSet, Error> {
        self.get(&format!("/v2/wallet-sets/{id}"))
    }

    /// `GET /v2/wallet-sets` (first page of up to 100).
    pub fn wallet_sets(&self) -> Result<List<WalletSet>, Error> {
        self.get("/v2/wallet-sets?limit=100")
    }

    /// `POST /v2/organization/wallets`.
    pub fn create_wallets(&self, body: &CreateWallets) -> Result<Vec<Wallet>, Error> {
        self.post::<WalletsCreated>("/v2/organization/wallets", body)
            .map(|c| c.wallets)
    }

    /// Every wallet id of the organization (`GET /v2/wallets`, page by page).
    pub fn all_wallet_ids(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let l: List<Wallet> = self.get(&format!("/v2/wallets?limit=100&page={page}"))?;
            let n = l.items.len();
            out.extend(l.items.into_iter().map(|w| w.id));
            if n < 100 || out.len() as u64 >= l.total {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /v2/wallets/{id}`.
    pub fn wallet(&self, id: &str) -> Result<Wallet, Error> {
        self.get(&format!("/v2/wallets/{id}"))
    }

    // -- signing ----------------------------------------------------------------------

    /// `POST /v2/organization/sign/message`.
    pub fn sign_message(&self, body: &SignMessage) -> Result<MessageSignature, Error> {
        self.post("/v2/organization/sign/message", body)
    }

    /// `POST /v2/organization/sign/typed-data`.
    pub fn sign_typed_data(&self, body: &SignTypedData) -> Result<MessageSignature, Error> {
        self.post("/v2/organization/sign/typed-data", body)
    }

    /// `POST /v2/organization/wallets/export`.
    pub fn export_wallets(&self, body: &ExportWallets) -> Result<WalletsExported, Error> {
        self.post("/v2/organization/wallets/export", body)
    }

    /// `POST /v2/organization/sign/transaction`.
    pub fn sign_transaction(&self, body: &SignTransaction) -> Result<TransactionSignature, Error> {
        self.post("/v2/organization/sign/transaction", body)
    }

    /// `POST /v2/organization/sign/delegate-action` (NEAR, NEP-366).
    pub fn sign_delegate_action(
        &self,
        body: &SignDelegateAction,
    ) -> Result<DelegateActionSignature, Error> {
        self.post("/v2/organization/sign/delegate-action", body)
    }

    // -- webhooks ---------------------------------------------------------------------

    /// `POST /v2/webhooks` (owner/admin): the endpoint and its secret, shown once. Give
    /// `body.idempotency_key` to make a retry safe (`None` gets a fresh key).
    pub fn create_webhook(&self, body: &CreateWebhook) -> Result<WebhookWithSecret, Error> {
        let mut body = body.clone();
        body.idempotency_key
            .get_or_insert_with(crate::idempotency_key);
        self.post("/v2/webhooks", &body)
    }

    /// `GET /v2/webhooks` (one page, up to 100).
    pub fn webhooks(&self, page: u32) -> Result<List<Webhook>, Error> {
        self.get(&format!("/v2/webhooks?limit=100&page={page}"))
    }

    /// `GET /v2/webhooks/{id}`.
    pub fn webhook(&self, id: &str) -> Result<Webhook, Error> {
        self.get(&format!("/v2/webhooks/{id}"))
    }

    /// `PATCH /v2/webhooks/{id}`.
    pub fn update_webhook(&self, id: &str, body: &UpdateWebhook) -> Result<Webhook, Error> {
        self.call(
            path_method::PATCH,
            &format!("/v2/webhooks/{id}"),
            Some(body),
        )
    }

    /// `DELETE /v2/webhooks/{id}`.
    pub fn delete_webhook(&self, id: &str) -> Result<Webhook, Error> {
        self.call(
            path_method::DELETE,
            &format!("/v2/webhooks/{id}"),
            None::<&()>,
        )
    }

    /// `POST /v2/webhooks/{id}/rotate-secret`: the new secret, shown once.
    pub fn rotate_webhook_secret(&self, id: &str) -> Result<WebhookWithSecret, Error> {
        self.call(
            path_method::POST,
            &format!("/v2/webhooks/{id}/rotate-secret"),
            None::<&()>,
        )
    }

    /// `POST /v2/webhooks/{id}/test`: the queued `webhook.test` delivery.
    pub fn test_webhook(&self, id: &str) -> Result<WebhookDelivery, Error> {
        self.call(
            path_method::POST,
            &format!("/v2/webhooks/{id}/test"),
            None::<&()>,
        )
    }

    /// `GET /v2/webhooks/{id}/deliveries` (oldest first, one page of up to 100),
    /// optionally only those in `status`.
    pub fn webhook_deliveries(
        &self,
        id: &str,
        status: Option<&str>,
        page: u32,
    ) -> Result<List<WebhookDelivery>, Error> {
        let status = status.map(|s| format!("&status={s}")).unwrap_or_default();
        self.get(&format!(
            "/v2/webhooks/{id}/deliveries?order=asc&limit=100&page={page}{status}"
        ))
    }

    /// `POST /v2/webhooks/deliveries/{deliveryId}/replay`: a new delivery of the same event.
    pub fn replay_delivery(&self, delivery_id: &str) -> Result<WebhookDelivery, Error> {
        self.call(
            path_method::POST,
            &format!("/v2/webhooks/deliveries/{delivery_id}/replay"),
            None::<&()>,
        )
    }
}

pub(crate) mod path_method {
    pub(crate) const GET: &str = "GET";
    pub(crate) const POST: &str = "POST";
    pub(crate) const PATCH: &str = "PATCH";
    pub(crate) const PUT: &str = "PUT";
    pub(crate) const DELETE: &str = "DELETE";
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_prints_no_credential() {
        let key = "pbk_0123456789abcdef0123_secretsecretsecret";
        let c = super::Client::new("http://127.0.0.1:1", key).with_key(key);
        let op = super::Client::operator("http://127.0.0.1:1", "operator-token-value");
        let text = format!("{c:?} {op:?}");
        assert!(
            !text.contains("secretsecret") && !text.contains("operator-token-value"),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
    }
}
