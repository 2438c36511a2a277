//! The server's side of the internal contract: node pairs, each reached through its
//! Node 1's `Coordinator` over mTLS ([`pair`]); the routing of each organization to the
//! pair it was assigned at creation; and the mapping of node errors to REST codes.
//!
//! An organization's pair never changes (its keys live there), so the assignment is a fact
//! each process reads once. A pair that is down fails only its own organizations.

mod pair;

use std::sync::Arc;

use planbok_api::ErrorCode as Api;
use planbok_proto::codes::{ErrorCode as Node, code_of};
use planbok_proto::grant::GrantSigner;
use planbok_proto::pb::{
    CustodyMode, CustomerPinRequest, CustomerPinResponse, ExportResponse, KeygenResponse,
    OrgPublicKeyResponse, Protocol, ReadyResponse, SecretContext, SignResponse,
};
use planbok_proto::tls::TlsMaterial;
use planbok_store::ServerStore;

pub use pair::{DkgSpec, Pair, Signing};

use crate::config::ServerConfig;
use crate::context;
use crate::error::{ApiError, ApiResult};
use crate::facts::Memo;
use crate::metrics::Metrics;

/// Every node pair, and which organization is on which.
#[derive(Debug)]
pub struct Nodes {
    /// In the configuration's order (by name).
    pairs: Vec<(String, Pair)>,
    /// Organization id → index in `pairs`.
    assigned: Memo<usize>,
    store: ServerStore,
    metrics: Arc<Metrics>,
}

/// One pair's readiness, for `/ready` and `/metrics`.
#[derive(Debug, Clone)]
pub struct PairReady {
    /// The pair's name.
    pub name: String,
    /// Both nodes' answer, or why Node 1 did not answer.
    pub ready: Result<ReadyResponse, String>,
}

impl Nodes {
    /// Lazily connecting clients for every pair of `config` (the server starts even if a
    /// pair is down).
    pub fn new(
        config: &ServerConfig,
        tls: &TlsMaterial,
        grants: GrantSigner,
        store: ServerStore,
        metrics: Arc<Metrics>,
    ) -> Result<Nodes, String> {
        let grants = Arc::new(grants);
        let pairs = config
            .pairs()?
            .into_iter()
            .map(|(name, n)| {
                Pair::new(&n.url, &n.tls_name, tls, grants.clone(), n.timeout())
                    .map(|p| (name.to_owned(), p))
                    .map_err(|e| format!("node pair {name}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Nodes {
            pairs,
            assigned: Memo::default(),
            store,
            metrics,
        })
    }

    /// The pair for a new organization: `explicit` if given (it must be configured), else
    /// the configured pair with the fewest organizations (the first by name on a tie).
    pub async fn assign(&self, explicit: Option<&str>) -> ApiResult<String> {
        if let Some(name) = explicit {
            return match self.pairs.iter().find(|(n, _)| n == name) {
                Some((n, _)) => Ok(n.clone()),
                None => Err(ApiError::invalid(format!(
                    "nodePair {name:?} is not a node pair of this server (it has: {})",
                    self.names().join(", ")
                ))),
            };
        }
        let counts = self.store.orgs_per_node_pair().await?;
        let load = |name: &str| {
            counts
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, c)| *c)
        };
        self.pairs
            .iter()
            .map(|(n, _)| n)
            .min_by_key(|n| load(n))
            .cloned()
            .ok_or_else(|| ApiError::internal("no node pair is configured"))
    }

    /// The longest call timeout of any pair (what a lease held across a node call must
    /// outlive).
    pub fn timeout_ms(&self) -> u64 {
        self.pairs
            .iter()
            .map(|(_, p)| u64::try_from(p.timeout().as_millis()).unwrap_or(u64::MAX))
            .max()
            .unwrap_or_default()
    }

    /// The configured pairs' names.
    pub fn names(&self) -> Vec<&str> {
        self.pairs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The pair `org_id` is assigned to.
    async fn pair(&self, org_id: &str) -> ApiResult<(&str, &Pair)> {
        let index = match self.assigned.get(org_id) {
            Some(i) => i,
            None => {
                let org = self
                    .store
                    .org(org_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("organization"))?;
                let Some(i) = self.pairs.iter().position(|(n, _)| *n == org.node_pair) else {
                    tracing::error!(alert = true, org = %org_id, pair = %org.node_pair,
                        "an organization is assigned to a node pair this server does not know");
                    return Err(ApiError::new(
                        Api::NodeUnavailable,
                        "this organization's node pair is not configured on this server; nothing was done",
                    ));
                };
                self.assigned.put(org_id, i);
                i
            }
        };
        let (name, pair) = &self.pairs[index];
        Ok((name, pair))
    }

    /// Runs `call` on `org_id`'s pair and counts its outcome as `op`. (A plain closure
    /// returning a future, not an async closure: the handlers' futures must be `Send`.)
    async fn on<T, F, Fut>(&self, org_id: &str, op: &'static str, call: F) -> ApiResult<T>
    where
        F: FnOnce(Pair) -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        let (name, pair) = self.pair(org_id).await?;
        let r = call(pair.clone()).await;
        self.metrics
            .node_call(name, op, if r.is_ok() { "ok" } else { "error" });
        r
    }

    /// The organization's RSA public key, created on first use, with Node 1's signature
    /// (relayed as is: the server cannot forge it and does not check it).
    pub async fn org_public_key(&self, org_id: &str) -> ApiResult<OrgPublicKeyResponse> {
        self.on(org_id, "org_public_key", |p| async move {
            p.org_public_key(org_id).await
        })
        .await
    }

    /// Makes the organization require bindings on Node 1, for good.
    pub async fn require_binding(&self, org_id: &str) -> ApiResult<()> {
        self.on(org_id, "require_binding", |p| async move {
            p.require_binding(org_id).await
        })
        .await
    }

    /// Registers the organization secret and fixes the custody mode.
    pub async fn register_secret(
        &self,
        org_id: &str,
        mode: CustodyMode,
        encrypted_secret: &str,
    ) -> ApiResult<()> {
        self.on(org_id, "register_secret", |p| async move {
            p.register_secret(org_id, mode, encrypted_secret).await
        })
        .await
    }

    /// Runs DKGs authorized by one secret ([`Pair::keygen`]).
    pub async fn keygen(
        &self,
        org_id: &str,
        custody: CustodyMode,
        specs: &[DkgSpec],
        encrypted_secret: &str,
        context: SecretContext,
        binding_ref: &str,
    ) -> ApiResult<Vec<KeygenResponse>> {
        self.on(org_id, "keygen", |p| async move {
            p.keygen(
                org_id,
                custody,
                specs,
                encrypted_secret,
                context,
                binding_ref,
            )
            .await
        })
        .await
    }

    /// Checks (and consumes) an encrypted secret.
    pub async fn check_secret(
        &self,
        org_id: &str,
        encrypted_secret: &str,
        context: SecretContext,
        binding_ref: &str,
    ) -> ApiResult<()> {
        self.on(org_id, "check_secret", |p| async move {
            p.check_secret(org_id, encrypted_secret, context, binding_ref)
                .await
        })
        .await
    }

    /// Signs on `org_id`'s pair ([`Pair::sign`]).
    pub async fn sign(&self, org_id: &str, s: Signing<'_>) -> ApiResult<SignResponse> {
        self.on(org_id, "sign", |p| async move { p.sign(org_id, s).await })
            .await
    }

    /// A customer's DKGs ([`Pair::customer_keygen`]).
    pub async fn customer_keygen(
        &self,
        org_id: &str,
        customer_id: &str,
        challenge: &str,
        specs: &[DkgSpec],
        encrypted_secret: &str,
    ) -> ApiResult<Vec<KeygenResponse>> {
        self.on(org_id, "customer_keygen", |p| async move {
            p.customer_keygen(org_id, customer_id, challenge, specs, encrypted_secret)
                .await
        })
        .await
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
        self.on(org_id, "export", |p| async move {
            p.export(
                org_id,
                keys,
                recipient,
                encrypted_secret,
                customer_challenge,
            )
            .await
        })
        .await
    }

    /// One customer PIN step at Node 2 of the organization's pair ([`Pair::customer_pin`]).
    pub async fn customer_pin(
        &self,
        org_id: &str,
        req: CustomerPinRequest,
    ) -> ApiResult<CustomerPinResponse> {
        self.on(org_id, "customer_pin", |p| async move {
            p.customer_pin(org_id, req).await
        })
        .await
    }

    /// Every pair's readiness, asked concurrently (each answers within its own 3 s).
    pub async fn ready(&self) -> Vec<PairReady> {
        let asks: Vec<_> = self
            .pairs
            .iter()
            .map(|(name, p)| {
                let (name, p) = (name.clone(), p.clone());
                tokio::spawn(async move {
                    PairReady {
                        ready: p.ready().await,
                        name,
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(asks.len());
        for (ask, (name, _)) in asks.into_iter().zip(&self.pairs) {
            out.push(ask.await.unwrap_or_else(|e| PairReady {
                name: name.clone(),
                ready: Err(format!("readiness check failed: {e}")),
            }));
        }
        out
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
        Node::PermitRequired => Api::PermitRequired,
        Node::CustomerKey => Api::CustomerWallet,
        Node::RecoveryLocked => Api::RecoveryLocked,
        Node::RecoveryNotSet => Api::RecoveryNotSet,
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
            (Node::PermitRequired, Api::PermitRequired),
            (Node::CustomerKey, Api::CustomerWallet),
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
