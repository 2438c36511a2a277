//! The server's side of the internal contract: Node 1's `Coordinator` over mTLS, a grant
//! for every DKG and signature, and the mapping of node errors to REST codes.

use std::time::Duration;

use planbok_api::ErrorCode as Api;
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

use crate::context;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::now_ms;

/// How long a grant lives: long enough for a queued CGGMP run to start.
const GRANT_TTL_MS: i64 = 60_000;

/// Node 1, as the server calls it.
#[derive(Debug, Clone)]
pub struct Nodes {
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

impl Nodes {
    /// A lazily connecting client (the server starts even if Node 1 is down).
    pub fn new(
        url: &str,
        tls_name: &str,
        tls: &TlsMaterial,
        grants: GrantSigner,
        timeout: Duration,
    ) -> Result<Nodes, String> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("node1 url: {e}"))?
            .tls_config(tls.client(tls_name))
            .map_err(|e| format!("node1 tls: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(20))
            .connect_lazy();
        Ok(Nodes {
            client: CoordinatorClient::new(channel).max_decoding_message_size(16 << 20),
            grants: std::sync::Arc::new(grants),
            timeout,
        })
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
        let now = now_ms();
        let items = specs
            .iter()
            .map(|s| KeygenItem {
                grant: Some(self.grants.issue(
                    org_id,
                    &s.key_id,
                    Operation::Dkg,
                    grant::dkg_params(s.protocol, custody),
                    now,
                    GRANT_TTL_MS,
                )),
                protocol: s.protocol as i32,
            })
            .collect();
        let keys = self
            .client
            .clone()
            .keygen_batch(self.request(KeygenBatchRequest {
                items,
                encrypted_secret: encrypted_secret.to_owned(),
                binding_ref: binding_ref.to_owned(),
                context: context as i32,
            }))
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

    /// Signs `payload` with `key_id` at `path`.
    pub async fn sign(
        &self,
        org_id: &str,
        key_id: &str,
        protocol: Protocol,
        path: &str,
        payload: &[u8],
        encrypted_secret: &str,
    ) -> ApiResult<SignResponse> {
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

/// The custody mode a DKG is granted under, from the organization's registered mode
/// (`App::require_secret_mode`).
pub fn custody_mode(mode: &str) -> ApiResult<CustodyMode> {
    planbok_types::CustodyMode::parse(mode)
        .map(Into::into)
        .map_err(|_| {
            ApiError::internal(format!(
                "a DKG for an organization in custody mode {mode:?}"
            ))
        })
}

/// After a node call on `keys` failed with `key_disabled`: appends a `key.disabled` entry
/// to the organization's audit chain and, in the same transaction, a `key.disabled`
/// webhook event per key the first time (best effort: the operation's own `failure` entry
/// is written anyway). A disabled key never works again; the entry and the alert are how the
/// organization and the operators learn of it.
pub(crate) async fn audit_if_disabled(
    app: &crate::App,
    caller: &crate::auth::Caller,
    ctx: &crate::context::Ctx,
    keys: &[&str],
    e: &ApiError,
) {
    if e.code != Api::KeyDisabled {
        return;
    }
    let entry = crate::audit::draft(
        &caller.org_id,
        crate::audit::Actor::Caller(caller),
        ctx,
        "key.disabled",
        (keys.len() == 1).then(|| keys[0].to_owned()),
        "failure",
        serde_json::json!({ "keys": keys, "code": e.code.as_str(), "message": e.message }),
    );
    // One `key.disabled` event per key, ever: the first failure reports it.
    let events = keys
        .iter()
        .map(|k| {
            let mut e = crate::webhooks::event(
                &caller.org_id,
                "key.disabled",
                serde_json::json!({ "keyId": k, "code": e.code.as_str() }),
                entry.at_ms,
            );
            e.dedupe = Some(format!("key.disabled:{k}"));
            e
        })
        .collect();
    let commit = planbok_store::server::Commit::audit(entry).with_events(events);
    match app.store.record(&commit).await {
        Ok(()) => app.webhooks.wake(),
        Err(err) => {
            tracing::error!(request_id = %ctx.request_id, error = %err, "could not audit a disabled key")
        }
    }
}

/// Records the outcome of a node call.
pub fn count<T>(metrics: &Metrics, op: &'static str, r: &ApiResult<T>) {
    metrics.node_call(op, if r.is_ok() { "ok" } else { "error" });
}

/// A node's refusal as a REST error. Secret refusals keep their own codes; everything
/// that means "the nodes cannot do it now" is 503; a grant refusal is our own bug.
pub fn node_error(s: tonic::Status) -> ApiError {
    let Some(code) = code_of(&s) else {
        // No planbok code: the transport failed (connection refused, TLS, deadline).
        tracing::warn!(request_id = %context::request_id(), status = ?s.code(), error = %s.message(), "node 1 unreachable");
        return ApiError::new(
            Api::NodeUnavailable,
            "node 1 is unreachable; nothing was done",
        );
    };
    let msg = s.message().to_owned();
    let api = match code {
        Node::Sealed => {
            return ApiError::new(Api::NodeUnavailable, "a node is sealed; nothing was done");
        }
        Node::PeerUnavailable | Node::Timeout | Node::Storage => {
            return ApiError::new(
                Api::NodeUnavailable,
                format!(
                    "the nodes could not complete the operation ({}); nothing was done",
                    code.as_str()
                ),
            );
        }
        Node::Busy => Api::NodeBusy,
        Node::AuxNotProvisioned => Api::AuxNotProvisioned,
        Node::SecretRequired => Api::SecretRequired,
        Node::SecretMalformed => Api::SecretMalformed,
        Node::SecretExpired => Api::SecretExpired,
        Node::SecretWrongContext => Api::SecretWrongContext,
        Node::SecretReused => Api::SecretReused,
        Node::SecretInvalid => Api::SecretInvalid,
        Node::SecretBindingMismatch => Api::SecretBindingMismatch,
        Node::SecretBindingRequired => Api::SecretBindingRequired,
        Node::RateLimited => Api::RateLimited,
        Node::SecretNotRegistered => Api::SecretNotRegistered,
        Node::SecretAlreadyRegistered => Api::SecretAlreadyRegistered,
        Node::ExportNotAllowed => Api::ExportNotAllowed,
        Node::CustomerLocked => Api::CustomerLocked,
        Node::PinNotSet => Api::PinNotSet,
        Node::PinAlreadySet => Api::PinAlreadySet,
        Node::PinProofInvalid => Api::PinProofInvalid,
        Node::KeyDisabled => {
            tracing::error!(alert = true, request_id = %context::request_id(), error = %msg,
                "a node refused a disabled key (DKLs23 ban)");
            Api::KeyDisabled
        }
        Node::ProtocolAborted => {
            tracing::error!(alert = true, request_id = %context::request_id(), error = %msg, "a protocol run aborted");
            return ApiError::new(
                Api::Internal,
                "the signing protocol aborted; nothing was returned",
            );
        }
        other => {
            return ApiError::internal(format!("node 1 refused: {} ({msg})", other.as_str()));
        }
    };
    ApiError::new(api, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_refusals_map_to_rest_codes() {
        let cases = [
            (Node::Sealed, Api::NodeUnavailable),
            (Node::PeerUnavailable, Api::NodeUnavailable),
            (Node::Timeout, Api::NodeUnavailable),
            (Node::Storage, Api::NodeUnavailable),
            (Node::Busy, Api::NodeBusy),
            (Node::AuxNotProvisioned, Api::AuxNotProvisioned),
            (Node::SecretRequired, Api::SecretRequired),
            (Node::SecretMalformed, Api::SecretMalformed),
            (Node::SecretExpired, Api::SecretExpired),
            (Node::SecretWrongContext, Api::SecretWrongContext),
            (Node::SecretReused, Api::SecretReused),
            (Node::SecretInvalid, Api::SecretInvalid),
            (Node::SecretBindingMismatch, Api::SecretBindingMismatch),
            (Node::SecretBindingRequired, Api::SecretBindingRequired),
            (Node::RateLimited, Api::RateLimited),
            (Node::SecretNotRegistered, Api::SecretNotRegistered),
            (Node::SecretAlreadyRegistered, Api::SecretAlreadyRegistered),
            (Node::ExportNotAllowed, Api::ExportNotAllowed),
            (Node::KeyDisabled, Api::KeyDisabled),
            (Node::ProtocolAborted, Api::Internal),
            (Node::GrantReplayed, Api::Internal),
            (Node::KeyNotFound, Api::Internal),
        ];
        for (node, api) in cases {
            let e = node_error(planbok_proto::codes::status(node, "detail"));
            assert_eq!(e.code, api, "{node:?}");
            if api == Api::Internal {
                assert!(
                    !e.message.contains("detail"),
                    "internal errors say nothing more"
                );
            }
        }
        // No planbok code at all: the transport failed.
        let e = node_error(tonic::Status::unavailable("connection refused"));
        assert_eq!(e.code, Api::NodeUnavailable);
    }
}
