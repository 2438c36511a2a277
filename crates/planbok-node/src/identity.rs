//! The node's long-term identity key (Ed25519): Node 1 signs organization keys with it, so
//! clients can tell Node 1's key from one a compromised server made up
//! (`planbok_envelope::org_key`). Created on first use once the keystore is unsealed,
//! sealed like every other secret, kept in memory while unsealed, forgotten on seal.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use planbok_envelope::NodeIdentity;
use zeroize::Zeroizing;

use crate::error::{NodeError, NodeResult};
use crate::state::NodeState;

/// Store name (and keystore key id) of the sealed identity key.
const IDENTITY_BLOB: &str = "node-identity";

/// The identity key once loaded. The mutex also serializes first creation, so two
/// concurrent first requests cannot make (and sign with) two different keys.
#[derive(Default)]
pub(crate) struct IdentityCell(tokio::sync::Mutex<Option<Arc<SigningKey>>>);

impl std::fmt::Debug for IdentityCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityCell(<redacted>)")
    }
}

impl NodeState {
    /// The identity key: cached, or opened from the store, or (first start) created,
    /// sealed and stored. Needs an unsealed keystore.
    pub(crate) async fn identity(&self) -> NodeResult<Arc<SigningKey>> {
        self.require_unsealed()?;
        let mut cell = self.identity.0.lock().await;
        if let Some(k) = cell.as_ref() {
            return Ok(k.clone());
        }
        let key = match self.store.blob(IDENTITY_BLOB).await? {
            Some(sealed) => {
                let bytes = self
                    .ks(move |k| k.open_blob(IDENTITY_BLOB, &sealed))
                    .await?;
                let seed: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| NodeError::internal("sealed identity key has the wrong length"))?;
                let seed = Zeroizing::new(seed);
                SigningKey::from_bytes(&seed)
            }
            None => {
                let key = SigningKey::generate(&mut rand_core::OsRng);
                let seed = Zeroizing::new(key.to_bytes());
                let sealed = self
                    .ks(move |k| k.seal_blob(IDENTITY_BLOB, seed.as_slice()))
                    .await?;
                self.store.put_blob(IDENTITY_BLOB, sealed).await?;
                tracing::info!(
                    identity = %NodeIdentity::of(&key).to_text(),
                    "created the node identity key"
                );
                key
            }
        };
        let key = Arc::new(key);
        *cell = Some(key.clone());
        Ok(key)
    }

    /// The identity public key's text form, if the node can open it now.
    pub(crate) async fn identity_text(&self) -> Option<String> {
        match self.identity().await {
            Ok(k) => Some(NodeIdentity::of(&k).to_text()),
            Err(_) => None,
        }
    }

    /// Forgets the identity key and the parsed organization keys (part of
    /// [`NodeState::seal`]).
    pub(crate) async fn forget_identity(&self) {
        *self.identity.0.lock().await = None;
        self.org_keys.clear();
    }
}
