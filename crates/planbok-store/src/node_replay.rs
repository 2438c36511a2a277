//! The node's replay sets: used authorization grants and accepted secret ciphertexts, each
//! recorded once (one atomic insert decides) and pruned a grace period after expiry.

use crate::StoreError;
use crate::node::NodeStore;

/// A grant or ciphertext stays in its replay set this long after it expires, so a
/// peer whose clock runs a little behind ours cannot replay it in that window.
const REPLAY_GRACE_MS: i64 = 60_000;

/// One replay set: the same shape for grants and ciphertexts, only the table differs.
/// Whole statements rather than a table name spliced in, because sqlx takes only
/// `&'static str` SQL.
struct ReplaySet {
    /// Inserts `($1 = id, $2 = expires_at_ms)` unless the id is already there.
    record: &'static str,
    /// Deletes the entries that expired before `$1`.
    prune: &'static str,
}

const USED_GRANTS: ReplaySet = ReplaySet {
    record: "INSERT INTO used_grants (grant_id, expires_at_ms) VALUES ($1, $2) \
             ON CONFLICT (grant_id) DO NOTHING",
    prune: "DELETE FROM used_grants WHERE expires_at_ms < $1",
};

const SEEN_CIPHERTEXTS: ReplaySet = ReplaySet {
    record: "INSERT INTO seen_ciphertexts (digest, expires_at_ms) VALUES ($1, $2) \
             ON CONFLICT (digest) DO NOTHING",
    prune: "DELETE FROM seen_ciphertexts WHERE expires_at_ms < $1",
};

impl NodeStore {
    // ---- Replay sets ---------------------------------------------------------------

    /// Records a used authorization grant. `true` the first time, `false` if it was
    /// already recorded: one atomic insert, so of many concurrent calls exactly one wins.
    pub async fn record_grant(
        &self,
        grant_id: &[u8; 16],
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.record_once(&USED_GRANTS, grant_id, expires_at_ms)
            .await
    }

    /// Forgets grants that expired more than a minute before `now_ms`. Returns how many.
    pub async fn prune_grants(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.prune(&USED_GRANTS, now_ms).await
    }

    /// Records the SHA-256 digest of an accepted encrypted-secret ciphertext. Same
    /// semantics as `record_grant`.
    pub async fn record_ciphertext(
        &self,
        digest: &[u8; 32],
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.record_once(&SEEN_CIPHERTEXTS, digest, expires_at_ms)
            .await
    }

    /// Forgets ciphertexts that expired more than a minute before `now_ms`.
    pub async fn prune_ciphertexts(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.prune(&SEEN_CIPHERTEXTS, now_ms).await
    }

    /// `true` if `id` was not in `set` and now is. The database makes the check and the
    /// insert one step, so no two callers both see `true`.
    async fn record_once(
        &self,
        set: &ReplaySet,
        id: &[u8],
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(set.record).bind(id).bind(expires_at_ms);
        Ok(self.execute(query).await? > 0)
    }

    /// Deletes the entries of `set` that expired more than the grace period before `now_ms`.
    async fn prune(&self, set: &ReplaySet, now_ms: i64) -> Result<u64, StoreError> {
        let query = sqlx::query(set.prune).bind(now_ms.saturating_sub(REPLAY_GRACE_MS));
        self.execute(query).await
    }
}
