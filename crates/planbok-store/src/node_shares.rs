//! Refreshed key shares: the two-phase commit of a refresh (a pending share next to the
//! active one until both nodes commit), and the reads over all keys.

use sqlx::Row as _;

use crate::StoreError;
use crate::clock::now_ms;
use crate::node::{NodeStore, RECORD_FORMAT};

impl NodeStore {
    // ---- Shares: two-phase commit of refreshes -------------------------------------

    /// Phase one of a refresh: stores `sealed_share` as version `share_version` of the
    /// active key `key_id`, next to the active share (version `share_version - 1`), which
    /// stays the one in use. `Conflict` if the active version is another, or a refresh of
    /// this key is pending already; `NotFound` if there is no active key.
    pub async fn insert_pending_share(
        &self,
        key_id: &str,
        share_version: i64,
        sealed_share: Vec<u8>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO pending_shares (key_id, share_version, sealed_share, format_version, \
             created_at_ms) \
             SELECT key_id, $2, $3, $4, $5 FROM node_keys \
             WHERE key_id = $1 AND status = 'active' AND share_version = $6 \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(share_version)
        .bind(sealed_share)
        .bind(RECORD_FORMAT)
        .bind(now_ms())
        .bind(share_version - 1);
        if self.execute(query).await? > 0 {
            return Ok(());
        }
        match self.active_share_version(key_id).await? {
            None => Err(StoreError::NotFound(format!("no active key {key_id}"))),
            Some(v) if v != share_version - 1 => Err(StoreError::Conflict(format!(
                "key {key_id}: share version is {v}, a refresh to {share_version} needs {}",
                share_version - 1
            ))),
            Some(_) => Err(StoreError::Conflict(format!(
                "key {key_id}: a refresh is pending already"
            ))),
        }
    }

    /// Phase two: makes pending version `share_version` the key's active share, in one
    /// transaction (the old share is overwritten, the pending row removed). Activating the
    /// version that is active already succeeds (the commit may be retried); a pending row
    /// for another version, or none, is `NotFound`.
    pub async fn activate_share(&self, key_id: &str, share_version: i64) -> Result<(), StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE node_keys SET \
             sealed_share = (SELECT sealed_share FROM pending_shares \
                             WHERE key_id = $1 AND share_version = $2), \
             format_version = (SELECT format_version FROM pending_shares \
                               WHERE key_id = $1 AND share_version = $2), \
             share_version = $2 \
             WHERE key_id = $1 AND status = 'active' AND share_version = $3 \
             AND EXISTS (SELECT 1 FROM pending_shares WHERE key_id = $1 AND share_version = $2)",
        )
        .bind(key_id)
        .bind(share_version)
        .bind(share_version - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT share_version FROM node_keys WHERE key_id = $1 AND status = 'active'",
        )
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        if moved == 0 && active != Some(share_version) {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!(
                "key {key_id}: no pending share version {share_version} to activate"
            )));
        }
        sqlx::query("DELETE FROM pending_shares WHERE key_id = $1 AND share_version <= $2")
            .bind(key_id)
            .bind(share_version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Aborts phase one of a refresh. Returns whether a pending share was deleted; the
    /// active share is never touched.
    pub async fn delete_pending_share(&self, key_id: &str) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM pending_shares WHERE key_id = $1").bind(key_id);
        Ok(self.execute(query).await? > 0)
    }

    /// Deletes every pending share. Only for the node whose activation is the commit point
    /// (Node 2, at start): a refresh it did not activate before a restart never will be.
    /// Returns how many.
    pub async fn cleanup_pending_shares(&self) -> Result<u64, StoreError> {
        self.execute(sqlx::query("DELETE FROM pending_shares"))
            .await
    }

    /// One sealed value this database holds, with the keystore key id it was sealed under
    /// (a blob's name, `org-rsa:<org>`, a key id): what a node opens at start to check that
    /// its keystore is the one that sealed this data. `None` for a database holding nothing
    /// sealed.
    pub async fn sealed_sample(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let queries = [
            "SELECT name AS id, sealed AS sealed FROM blobs ORDER BY name LIMIT 1",
            "SELECT 'org-rsa:' || org_id AS id, sealed_private_key AS sealed FROM org_keys \
             ORDER BY org_id LIMIT 1",
            "SELECT key_id AS id, sealed_share AS sealed FROM node_keys ORDER BY key_id LIMIT 1",
        ];
        for q in queries {
            if let Some(row) = sqlx::query(q).fetch_optional(&self.db.pool).await? {
                return Ok(Some((row.try_get("id")?, row.try_get("sealed")?)));
            }
        }
        Ok(None)
    }

    /// The ids of all active keys, sorted.
    pub async fn list_key_ids(&self) -> Result<Vec<String>, StoreError> {
        let ids = sqlx::query_scalar(
            "SELECT key_id FROM node_keys WHERE status = 'active' ORDER BY key_id",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(ids)
    }

    /// The share version of an active key; `None` if there is no active key `key_id`.
    pub(crate) async fn active_share_version(
        &self,
        key_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let version = sqlx::query_scalar(
            "SELECT share_version FROM node_keys WHERE key_id = $1 AND status = 'active'",
        )
        .bind(key_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(version)
    }
}
