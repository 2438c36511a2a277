//! Customer recovery by security questions on Node 2 (schema 7): the same shape as the
//! PIN (`node_pins`), a counter of its own; records, counting and the unlock that permits
//! a new PIN are shared with the other factors (`node_factors`).

use crate::StoreError;
use crate::node::NodeStore;

/// The record format this build writes.
const RECOVERY_FORMAT: i64 = crate::node_factors::FACTOR_FORMAT;

impl NodeStore {
    /// Stores a fresh pending enrollment (replacing any earlier pending one; the enrolled
    /// one, if any, stays until a commit signed by the PIN replaces it).
    pub async fn put_pending_recovery(
        &self,
        org_id: &str,
        customer_id: &str,
        sealed_key: &[u8],
        nonce: &[u8],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customer_recovery (org_id, customer_id, pending_key, pending_nonce, \
             failures, format_version, updated_at_ms) VALUES ($1, $2, $3, $4, 0, $5, $6) \
             ON CONFLICT (org_id, customer_id) DO UPDATE SET pending_key = $3, \
             pending_nonce = $4, updated_at_ms = $6",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(sealed_key)
        .bind(nonce)
        .bind(RECOVERY_FORMAT)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Makes the pending enrollment with `nonce` the enrolled one, with `verify_key`,
    /// replacing `old_verify_key` (`None`: nothing was enrolled); the counter starts at
    /// zero. `false` if no such pending enrollment (or the enrolled key changed).
    pub async fn commit_recovery(
        &self,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        old_verify_key: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE customer_recovery SET sealed_key = pending_key, verify_key = $1, \
             enroll_nonce = pending_nonce, pending_key = NULL, pending_nonce = NULL, \
             attempt_nonce = NULL, failures = 0, updated_at_ms = $2 \
             WHERE org_id = $3 AND customer_id = $4 AND pending_nonce = $5 \
             AND pending_key IS NOT NULL \
             AND (($6 IS NULL AND verify_key IS NULL) OR verify_key = $6)",
        )
        .bind(verify_key)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(nonce)
        .bind(old_verify_key);
        Ok(q.execute(&self.db.pool).await?.rows_affected() > 0)
    }

    /// Initialize's commit: the pending PIN with `pin_nonce` becomes the enrolled one (over
    /// nothing enrolled) and the pending questions with `rec_nonce` become theirs, in one
    /// transaction; both counters start at zero. `false` (nothing written) unless both
    /// pending enrollments are there.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of a single atomic change"
    )]
    pub async fn commit_pin_with_recovery(
        &self,
        org_id: &str,
        customer_id: &str,
        pin_nonce: &[u8],
        pin_verify_key: &[u8],
        rec_nonce: &[u8],
        rec_verify_key: &[u8],
        old_rec_verify_key: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE customer_pins SET sealed_key = pending_key, verify_key = $1, \
             enroll_nonce = pending_nonce, pending_key = NULL, pending_nonce = NULL, \
             attempt_nonce = NULL, rekey_nonce = NULL, rekey_expires_ms = NULL, failures = 0, \
             updated_at_ms = $2 WHERE org_id = $3 AND customer_id = $4 AND pending_nonce = $5 \
             AND pending_key IS NOT NULL AND verify_key IS NULL",
        )
        .bind(pin_verify_key)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(pin_nonce)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        let n = sqlx::query(
            "UPDATE customer_recovery SET sealed_key = pending_key, verify_key = $1, \
             enroll_nonce = pending_nonce, pending_key = NULL, pending_nonce = NULL, \
             attempt_nonce = NULL, failures = 0, updated_at_ms = $2 \
             WHERE org_id = $3 AND customer_id = $4 AND pending_nonce = $5 \
             AND pending_key IS NOT NULL \
             AND (($6 IS NULL AND verify_key IS NULL) OR verify_key = $6)",
        )
        .bind(rec_verify_key)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(rec_nonce)
        .bind(old_rec_verify_key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}
