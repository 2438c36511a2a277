//! One node pair, as the server calls it: its Node 1's `Coordinator` over mTLS, with a
//! grant for every DKG and signature.

use std::time::Duration;

use planbok_proto::codes::{ErrorCode as Node, code_of};
use planbok_proto::grant::{self, GrantSigner};
use planbok_proto::pb::coordinator_client::CoordinatorClient;
use planbok_proto::pb::{
    CheckSecretRequest, CustodyMode, CustomerPinRequest, CustomerPinResponse, ExportItem,
    ExportRequest, ExportResponse, KeygenBatchRequest, KeygenItem, KeygenResponse, Operation,
    OrgPublicKeyRequest, OrgPublicKeyResponse, Protocol, ReadyRequest, ReadyResponse,
    RegisterSecretRequest, RequireBindingRequest, SecretContext, SignRequest, SignResponse,
};
use planbok_proto::tls::TlsMaterial;
use tonic::transport::{Channel, Endpoint};

use super::node_error;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;

/// How long a grant lives: long enough for a queued CGGMP run to start.
const GRANT_TTL_MS: i64 = 60_000;

/// One pair's Node 1, as the server calls it.
#[derive(Debug, Clone)]
pub struct Pair {
    client: CoordinatorClient<Channel>,
    grants: std::sync::Arc<GrantSigner>,
    timeout: Duration,
}

/// One DKG of a batch.
#[derive(Debug, Clone)]
pub struct DkgSpec {
    /// The new key's id.
    pub key_id: String,
    /// Its protocol.
    pub protocol: Protocol,
}

impl Pair {
    /// A lazily connecting client (the server starts even if Node 1 is down).
    pub fn new(
        url: &str,
        tls_name: &str,
        tls: &TlsMaterial,
        grants: std::sync::Arc<GrantSigner>,
        timeout: Duration,
    ) -> Result<Pair, String> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("node1 url: {e}"))?
            .tls_config(tls.client(tls_name))
            .map_err(|e| format!("node1 tls: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(20))
            .connect_lazy();
        Ok(Pair {
            client: CoordinatorClient::new(channel).max_decoding_message_size(16 << 20),
            grants,
            timeout,
        })
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.set_timeout(self.timeout);
        r
    }

    /// The organization's RSA public key, created on first use, with Node 1's signature
    /// (relayed as is: the server cannot forge it and does not check it).
    pub async fn org_public_key(&self, org_id: &str) -> ApiResult<OrgPublicKeyResponse> {
        let r = self
            .client
            .clone()
            .org_public_key(self.request(OrgPublicKeyRequest {
                org_id: org_id.to_owned(),
            }))
            .await
            .map_err(node_error)?;
        Ok(r.into_inner())
    }

    /// Makes the organization require bindings on Node 1, for good.
    pub async fn require_binding(&self, org_id: &str) -> ApiResult<()> {
        self.client
            .clone()
            .require_binding(self.request(RequireBindingRequest {
                org_id: org_id.to_owned(),
            }))
            .await
            .map_err(node_error)?;
        Ok(())
    }

    /// Registers the organization secret and fixes the custody mode.
    pub async fn register_secret(
        &self,
        org_id: &str,
        mode: CustodyMode,
        encrypted_secret: &str,
    ) -> ApiResult<()> {
        self.client
            .clone()
            .register_secret(self.request(RegisterSecretRequest {
                org_id: org_id.to_owned(),
                mode: mode as i32,
                encrypted_secret: encrypted_secret.to_owned(),
            }))
            .await
            .map_err(node_error)?;
        Ok(())
    }

    /// Runs DKGs (each with its own grant) authorized by one secret. `custody` is the
    /// organization's registered mode: each grant covers it, and both nodes record it with
    /// the key (it decides, on each node, whether the key may ever be exported).
    pub async fn keygen(
        &self,
        org_id: &str,
        custody: CustodyMode,
        specs: &[DkgSpec],
        encrypted_secret: &str,
        context: SecretContext,
        binding_ref: &str,
    ) -> ApiResult<Vec<KeygenResponse>> {
        self.keygen_batch(
            org_id,
            specs,
            |p| grant::dkg_params(p, custody),
            KeygenBatchRequest {
                encrypted_secret: encrypted_secret.to_owned(),
                binding_ref: binding_ref.to_owned(),
                context: context as i32,
                ..Default::default()
            },
        )
        .await
    }

    /// One DKG batch at Node 1: a grant for each of `specs` (its parameters from `params`)
    /// put into `req`; the keys made, checked to be the ones asked for.
    async fn keygen_batch(
        &self,
        org_id: &str,
        specs: &[DkgSpec],
        params: impl Fn(Protocol) -> [u8; 32],
        mut req: KeygenBatchRequest,
    ) -> ApiResult<Vec<KeygenResponse>> {
        let now = now_ms();
        req.items = specs
            .iter()
            .map(|s| KeygenItem {
                grant: Some(self.grants.issue(
                    org_id,
                    &s.key_id,
                    Operation::Dkg,
                    params(s.protocol),
                    now,
                    GRANT_TTL_MS,
                )),
                protocol: s.protocol as i32,
            })
            .collect();
        let keys = self
            .client
            .clone()
            .keygen_batch(self.request(req))
            .await
            .map_err(node_error)?
            .into_inner()
            .keys;
        if keys.len() != specs.len() || keys.iter().zip(specs).any(|(k, s)| k.key_id != s.key_id) {
            return Err(ApiError::internal(
                "node 1 answered a DKG batch with other keys",
            ));
        }
        Ok(keys)
    }

    /// Checks (and consumes) an encrypted secret.
    pub async fn check_secret(
        &self,
        org_id: &str,
        encrypted_secret: &str,
        context: SecretContext,
        binding_ref: &str,
    ) -> ApiResult<()> {
        let grant = self.grants.issue(
            org_id,
            "",
            Operation::CheckSecret,
            grant::check_secret_params(context as i32, binding_ref),
            now_ms(),
            GRANT_TTL_MS,
        );
        self.client
            .clone()
            .check_secret(self.request(CheckSecretRequest {
                org_id: org_id.to_owned(),
                encrypted_secret: encrypted_secret.to_owned(),
                context: context as i32,
                binding_ref: binding_ref.to_owned(),
                grant: Some(grant),
            }))
            .await
            .map_err(node_error)?;
        Ok(())
    }

    /// Runs the DKGs of a customer's wallet creation: each grant names the customer
    /// (`grant::customer_dkg_params`); the secret is the customer's, bound to these DKGs of
    /// `challenge`; Node 2 needs a permit for each from the customer's unlock.
    pub async fn customer_keygen(
        &self,
        org_id: &str,
        customer_id: &str,
        challenge: &str,
        specs: &[DkgSpec],
        encrypted_secret: &str,
    ) -> ApiResult<Vec<KeygenResponse>> {
        self.keygen_batch(
            org_id,
            specs,
            |p| grant::customer_dkg_params(p, customer_id),
            KeygenBatchRequest {
                encrypted_secret: encrypted_secret.to_owned(),
                context: SecretContext::Dkg as i32,
                customer_id: customer_id.to_owned(),
                customer_challenge: challenge.to_owned(),
                ..Default::default()
            },
        )
        .await
    }

    /// Signs `s.payload` with `s.key_id` at `s.path` for `org_id`.
    pub async fn sign(&self, org_id: &str, s: Signing<'_>) -> ApiResult<SignResponse> {
        let Signing {
            key_id,
            protocol,
            path,
            payload,
            encrypted_secret,
            customer_challenge,
        } = s;
        let grant = self.grants.issue(
            org_id,
            key_id,
            Operation::Sign,
            grant::sign_params(protocol, path, payload),
            now_ms(),
            GRANT_TTL_MS,
        );
        let r = self
            .client
            .clone()
            .sign(self.request(SignRequest {
                grant: Some(grant),
                key_id: key_id.to_owned(),
                derivation_path: path.to_owned(),
                payload: payload.to_vec(),
                encrypted_secret: encrypted_secret.to_owned(),
                customer_challenge: customer_challenge.to_owned(),
            }))
            .await
            .map_err(node_error)?;
        Ok(r.into_inner())
    }

    /// Exports `keys` (id, protocol): each node's share sealed to `recipient`.
    pub async fn export(
        &self,
        org_id: &str,
        keys: &[(String, Protocol)],
        recipient: &[u8],
        encrypted_secret: &str,
        customer_challenge: &str,
    ) -> ApiResult<Vec<ExportResponse>> {
        let now = now_ms();
        let grant = |(key_id, protocol): &(String, Protocol)| {
            self.grants.issue(
                org_id,
                key_id,
                Operation::Export,
                grant::export_params(*protocol, recipient),
                now,
                GRANT_TTL_MS,
            )
        };
        let Some((first, rest)) = keys.split_first() else {
            return Ok(Vec::new());
        };
        let mut r = self
            .client
            .clone()
            .export(
                self.request(ExportRequest {
                    grant: Some(grant(first)),
                    key_id: first.0.clone(),
                    recipient_public_key: recipient.to_vec(),
                    encrypted_secret: encrypted_secret.to_owned(),
                    customer_challenge: customer_challenge.to_owned(),
                    more: rest
                        .iter()
                        .map(|k| ExportItem {
                            grant: Some(grant(k)),
                            key_id: k.0.clone(),
                        })
                        .collect(),
                }),
            )
            .await
            .map_err(node_error)?
            .into_inner();
        let more = std::mem::take(&mut r.more);
        let out: Vec<ExportResponse> = std::iter::once(r).chain(more).collect();
        if out.len() != keys.len() {
            return Err(ApiError::internal(
                "node 1 answered an export with other keys",
            ));
        }
        Ok(out)
    }

    /// One customer PIN step at Node 2, relayed by Node 1, under a grant for exactly this
    /// request (`key_id` = the customer). Node 2's refusals keep their codes; a malformed
    /// element the Gateway sent is the Gateway's 400.
    pub async fn customer_pin(
        &self,
        org_id: &str,
        mut req: CustomerPinRequest,
    ) -> ApiResult<CustomerPinResponse> {
        req.grant = None;
        let params = grant::customer_pin_params(&req);
        req.grant = Some(self.grants.issue(
            org_id,
            &req.customer_id,
            Operation::CustomerPin,
            params,
            now_ms(),
            GRANT_TTL_MS,
        ));
        let r = self
            .client
            .clone()
            .customer_pin(self.request(req))
            .await
            .map_err(|s| match code_of(&s) {
                Some(Node::InvalidArgument) => ApiError::invalid(s.message().to_owned()),
                _ => node_error(s),
            })?;
        Ok(r.into_inner())
    }

    /// Both nodes' readiness.
    pub async fn ready(&self) -> Result<ReadyResponse, String> {
        let mut r = tonic::Request::new(ReadyRequest {});
        r.set_timeout(Duration::from_secs(3));
        self.client
            .clone()
            .ready(r)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| s.message().to_owned())
    }
}

/// One signing call's parts.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The key.
    pub key_id: &'a str,
    /// Its protocol.
    pub protocol: Protocol,
    /// The derivation path (`m/…`).
    pub path: &'a str,
    /// Exactly what is signed (a digest on ECDSA chains, the message on ed25519 ones).
    pub payload: &'a [u8],
    /// The organization's encrypted secret (empty where the organization needs none).
    pub encrypted_secret: &'a str,
    /// For a customer's key, the challenge whose unlock permits it; empty otherwise.
    pub customer_challenge: &'a str,
}
