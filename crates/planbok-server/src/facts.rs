//! Facts that never change once they exist, read once per process instead of on every
//! request: an organization's RSA public key, its custody mode once registered (the mode is
//! permanent), and the ECDSA protocol of a wallet set. Only settled values are kept, so
//! replicas sharing a database can never disagree.

use std::collections::HashMap;
use std::sync::Mutex;

use planbok_api::ErrorCode;
use planbok_proto::pb::Protocol;
use planbok_store::server::WalletRecord;

use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::nodes;

/// A process-wide memo keyed by id.
#[derive(Debug)]
struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    fn get(&self, id: &str) -> Option<V> {
        self.0.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn put(&self, id: &str, v: V) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id.to_owned(), v);
        }
    }
}

/// The memos.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    public_keys: Memo<String>,
    custody: Memo<String>,
    set_protocols: Memo<Protocol>,
}

/// The secp256k1 protocol named by a wallet set's `ecdsaProtocol`.
pub(crate) fn ecdsa_protocol(name: &str) -> ApiResult<Protocol> {
    match name {
        "cggmp" => Ok(Protocol::Cggmp),
        "dkls23" => Ok(Protocol::Dkls23),
        _ => Err(ApiError::invalid(
            "ecdsaProtocol must be \"cggmp\" or \"dkls23\"",
        )),
    }
}

impl App {
    /// The organization's RSA public key (PEM), as Node 1 created it.
    pub(crate) async fn org_public_key(&self, org_id: &str) -> ApiResult<String> {
        if let Some(pem) = self.facts.public_keys.get(org_id) {
            return Ok(pem);
        }
        let r = self.nodes.org_public_key(org_id).await;
        nodes::count(&self.metrics, "org_public_key", &r);
        let pem = r?;
        self.facts.public_keys.put(org_id, pem.clone());
        Ok(pem)
    }

    /// `"unset"`, `"standard"` or `"trustless"`.
    pub(crate) async fn custody_mode(&self, org_id: &str) -> ApiResult<String> {
        if let Some(mode) = self.facts.custody.get(org_id) {
            return Ok(mode);
        }
        let org = self
            .store
            .org(org_id)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        if org.custody_mode != "unset" {
            self.remember_custody(org_id, &org.custody_mode);
        }
        Ok(org.custody_mode)
    }

    /// Records a registered (hence permanent) custody mode.
    pub(crate) fn remember_custody(&self, org_id: &str, mode: &str) {
        self.facts.custody.put(org_id, mode.to_owned());
    }

    /// Checks that the organization has registered its secret, and that a trustless one
    /// sent `secret`; returns the custody mode.
    pub(crate) async fn require_secret_mode(
        &self,
        org_id: &str,
        secret: &str,
    ) -> ApiResult<String> {
        let mode = self.custody_mode(org_id).await?;
        match mode.as_str() {
            "unset" => Err(ApiError::new(
                ErrorCode::SecretNotRegistered,
                "register the organization secret first (POST /v2/organization/secret)",
            )),
            "trustless" if secret.is_empty() => Err(ApiError::new(
                ErrorCode::SecretRequired,
                "encryptedOrganizationSecret is required for trustless organizations",
            )),
            _ => Ok(mode),
        }
    }

    /// The protocol whose key signs for `wallet`: FROST for ed25519 chains, its wallet
    /// set's ECDSA protocol otherwise.
    pub(crate) async fn wallet_protocol(
        &self,
        org_id: &str,
        wallet: &WalletRecord,
    ) -> ApiResult<Protocol> {
        if planbok_chains::Chain::parse(&wallet.blockchain)?.curve()
            == planbok_chains::Curve::Ed25519
        {
            return Ok(Protocol::Frost);
        }
        if let Some(p) = self.facts.set_protocols.get(&wallet.wallet_set_id) {
            return Ok(p);
        }
        let set = self
            .store
            .wallet_set(org_id, &wallet.wallet_set_id)
            .await?
            .ok_or_else(|| ApiError::internal("wallet without its wallet set"))?;
        let p = ecdsa_protocol(&set.ecdsa_protocol)?;
        self.facts.set_protocols.put(&set.id, p);
        Ok(p)
    }
}
