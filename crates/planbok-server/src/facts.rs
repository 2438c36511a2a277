//! Facts that never change once they exist, read once per process instead of on every
//! request: an organization's RSA public key, its custody mode once registered (the mode is
//! permanent), the ECDSA protocol of a wallet set, and what signing needs of a wallet (its
//! key, path and chain, fixed at creation; wallets are never deleted). Only settled values
//! are kept, so replicas sharing a database can never disagree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use planbok_api::ErrorCode;
use planbok_proto::pb::{OrgPublicKeyResponse, Protocol};
use planbok_store::server::WalletRecord;

use crate::App;
use crate::error::{ApiError, ApiResult};

/// How many entries one memo keeps; when full it starts over (the values are facts, so
/// forgetting one only costs a read).
const MEMO_CAPACITY: usize = 50_000;

/// A process-wide memo keyed by id.
#[derive(Debug)]
pub(crate) struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    pub(crate) fn get(&self, id: &str) -> Option<V> {
        self.0.lock().ok().and_then(|m| m.get(id).cloned())
    }

    pub(crate) fn put(&self, id: &str, v: V) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MEMO_CAPACITY {
                m.clear();
            }
            m.insert(id.to_owned(), v);
        }
    }
}

/// The memos.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    public_keys: Memo<Arc<OrgPublicKeyResponse>>,
    custody: Memo<String>,
    set_protocols: Memo<Protocol>,
    /// By `org_id/wallet_id`.
    signing_wallets: Memo<Arc<SigningWallet>>,
}

/// What signing needs of a wallet: the fields fixed when it was created. Its name, refId
/// and state can change and are deliberately not here.
#[derive(Debug)]
pub(crate) struct SigningWallet {
    pub(crate) wallet_set_id: String,
    pub(crate) blockchain: String,
    pub(crate) public_key: Vec<u8>,
    pub(crate) key_id: String,
    pub(crate) derivation_path: String,
}

impl From<WalletRecord> for SigningWallet {
    fn from(w: WalletRecord) -> Self {
        SigningWallet {
            wallet_set_id: w.wallet_set_id,
            blockchain: w.blockchain,
            public_key: w.public_key,
            key_id: w.key_id,
            derivation_path: w.derivation_path,
        }
    }
}

/// The secp256k1 protocol named by a wallet set's `ecdsaProtocol`.
pub(crate) fn ecdsa_protocol(name: &str) -> ApiResult<Protocol> {
    planbok_types::EcdsaProtocol::parse(name)
        .map(Protocol::from)
        .map_err(|_| ApiError::invalid("ecdsaProtocol must be \"cggmp\" or \"dkls23\""))
}

impl App {
    /// The organization's RSA public key as Node 1 created and signed it.
    pub(crate) async fn org_public_key(
        &self,
        org_id: &str,
    ) -> ApiResult<Arc<OrgPublicKeyResponse>> {
        if let Some(k) = self.facts.public_keys.get(org_id) {
            return Ok(k);
        }
        let k = Arc::new(self.nodes.org_public_key(org_id).await?);
        self.facts.public_keys.put(org_id, k.clone());
        Ok(k)
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

    /// What signing needs of the organization's wallet `id` (404 if there is none).
    pub(crate) async fn signing_wallet(
        &self,
        org_id: &str,
        id: &str,
    ) -> ApiResult<Arc<SigningWallet>> {
        let memo_key = format!("{org_id}/{id}");
        if let Some(w) = self.facts.signing_wallets.get(&memo_key) {
            return Ok(w);
        }
        let w = self
            .store
            .wallet(org_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("wallet"))?;
        let w = Arc::new(SigningWallet::from(w));
        self.facts.signing_wallets.put(&memo_key, w.clone());
        Ok(w)
    }

    /// The protocol whose key signs for a wallet on `blockchain` in wallet set
    /// `wallet_set_id`: FROST for ed25519 chains, the set's ECDSA protocol otherwise.
    pub(crate) async fn wallet_protocol(
        &self,
        org_id: &str,
        blockchain: &str,
        wallet_set_id: &str,
    ) -> ApiResult<Protocol> {
        if planbok_chains::Chain::parse(blockchain)?.curve() == planbok_chains::Curve::Ed25519 {
            return Ok(Protocol::Frost);
        }
        if let Some(p) = self.facts.set_protocols.get(wallet_set_id) {
            return Ok(p);
        }
        let set = self
            .store
            .wallet_set(org_id, wallet_set_id)
            .await?
            .ok_or_else(|| ApiError::internal("wallet without its wallet set"))?;
        let p = ecdsa_protocol(&set.ecdsa_protocol)?;
        self.facts.set_protocols.put(&set.id, p);
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_stays_bounded() {
        let m = Memo::<usize>::default();
        for i in 0..MEMO_CAPACITY + 10 {
            m.put(&i.to_string(), i);
        }
        let len = m.0.lock().map(|m| m.len()).unwrap_or_default();
        assert!(len <= MEMO_CAPACITY, "{len}");
        assert_eq!(
            m.get(&(MEMO_CAPACITY + 9).to_string()),
            Some(MEMO_CAPACITY + 9)
        );
    }
}
