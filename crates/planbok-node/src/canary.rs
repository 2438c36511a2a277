//! Fail closed on a keystore that is not the one that sealed this node's data.
//!
//! A node whose seal state (or HSM object, transit key, dev key file) was lost or replaced
//! would otherwise start as if new: accept `operator init`, report ready, and fail every
//! signature. So each node opens one sealed value of its database whenever its keystore is
//! usable — at start, and after the unseal that completes — and refuses to run (at start)
//! or seals itself again (after an unseal) if it does not open. A database that holds
//! nothing sealed yet gets a canary blob, so the first data has a witness too; `operator
//! init` is refused over a database that holds sealed data.

use planbok_keystore::SealStatus;
use planbok_proto::codes::ErrorCode;

use crate::error::{NodeError, NodeResult};
use crate::state::NodeState;

/// Store name (and keystore key id) of the canary.
const CANARY: &str = "keystore-canary";
const CANARY_PLAINTEXT: &[u8] = b"planbok keystore canary v1";

fn mismatch(backend: &str, detail: impl std::fmt::Display) -> NodeError {
    tracing::error!(alert = true, backend, %detail, "the keystore does not open this node's data");
    NodeError::new(
        ErrorCode::KeystoreMismatch,
        format!(
            "this node's database holds data sealed by another keystore than the configured \
             {backend} one: restore the keystore that sealed it (the sealed backend's state \
             file, the HSM key object, the transit key, the dev key file) together with this \
             database; never initialize a new keystore over it"
        ),
    )
}

/// Checks that the unsealed keystore opens this database's sealed data (a no-op while
/// sealed: checked again after the unseal); plants the canary in a database that holds
/// nothing sealed.
pub(crate) async fn verify_keystore(state: &NodeState) -> NodeResult<()> {
    if state.keystore.status() != SealStatus::Unsealed {
        return Ok(());
    }
    let backend = state.keystore.backend_name();
    if let Some((id, sealed)) = state.store.sealed_sample().await? {
        let opened = state.ks(move |k| k.open_blob(&id, &sealed)).await;
        return match opened {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::Sealed => Ok(()),
            Err(e) => Err(mismatch(backend, e.message)),
        };
    }
    let sealed = state.ks(|k| k.seal_blob(CANARY, CANARY_PLAINTEXT)).await?;
    state.store.put_blob(CANARY, sealed).await?;
    tracing::info!(backend, "planted the keystore canary in an empty database");
    Ok(())
}

/// Refuses `operator init` over a database that holds sealed data.
pub(crate) async fn refuse_init_over_data(state: &NodeState) -> NodeResult<()> {
    if state.store.sealed_sample().await?.is_some() {
        tracing::error!(
            alert = true,
            "operator init refused: the database holds sealed data"
        );
        return Err(NodeError::new(
            ErrorCode::KeystoreMismatch,
            "this node's database holds data sealed by an earlier keystore: initializing a new \
             one would make it unreadable. Restore the seal state that sealed it (and unseal \
             with its keys), or start from an empty database",
        ));
    }
    Ok(())
}
