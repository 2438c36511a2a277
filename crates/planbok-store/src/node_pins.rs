//! Customer PINs on Node 2 (schema 5): enrollment, unlock and commit. Reading a record and
//! counting an attempt are shared with the other factors (`node_factors`).

use crate::StoreError;
use crate::node::NodeStore;

/// The record format this build writes.
const PIN_FORMAT: i64 = crate::node_factors::FACTOR_FORMAT;

impl NodeStore {
    /// Stores a fresh pending enrollment. Without `rekey`: only while no PIN is enrolled
    /// (`Conflict` otherwise). With `rekey`: only over an enrolled PIN whose unlock issued
    /// this rekey nonce, not expired at `now_ms`; the nonce is spent (`NotFound` otherwise).
    pub async fn put_pending_pin(
        &self,
        org_id: &str,
        customer_id: &str,
        sealed_key: &[u8],
        nonce: &[u8],
        rekey: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let n = match rekey {
            None => {
                let q = sqlx::query(
                    "INSERT INTO customer_pins (org_id, customer_id, pending_key, pending_nonce, \
                     failures, format_version, updated_at_ms) VALUES ($1, $2, $3, $4, 0, $5, $6) \
                     ON CONFLICT (org_id, customer_id) DO UPDATE SET pending_key = $3, \
                     pending_nonce = $4, updated_at_ms = $6 WHERE customer_pins.verify_key IS NULL",
                )
                .bind(org_id)
                .bind(customer_id)
                .bind(sealed_key)
                .bind(nonce)
                .bind(PIN_FORMAT)
                .bind(now_ms);
                q.execute(&self.db.pool).await?.rows_affected()
            }
            Some(rekey) => {
                let q = sqlx::query(
                    "UPDATE customer_pins SET pending_key = $1, pending_nonce = $2, \
                     rekey_nonce = NULL, rekey_expires_ms = NULL, updated_at_ms = $3 \
                     WHERE org_id = $4 AND customer_id = $5 AND verify_key IS NOT NULL \
                     AND rekey_nonce = $6 AND rekey_expires_ms >= $3",
                )
                .bind(sealed_key)
                .bind(nonce)
                .bind(now_ms)
                .bind(org_id)
                .bind(customer_id)
                .bind(rekey);
                let n = q.execute(&self.db.pool).await?.rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound("a valid rekey nonce".into()));
                }
                n
            }
        };
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "customer {customer_id} has an enrolled PIN"
            )));
        }
        Ok(())
    }

    /// Resets the counter for the current attempt nonce of the enrolled `verify_key` and
    /// issues a rekey nonce; `false` if the nonce is not the current one (retired,
    /// replayed) or the enrollment changed.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of a single atomic statement"
    )]
    pub async fn unlock_pin(
        &self,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        rekey: &[u8],
        rekey_expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE customer_pins SET failures = 0, attempt_nonce = NULL, rekey_nonce = $1, \
             rekey_expires_ms = $2, updated_at_ms = $3 WHERE org_id = $4 AND customer_id = $5 \
             AND attempt_nonce = $6 AND verify_key = $7",
        )
        .bind(rekey)
        .bind(rekey_expires_ms)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(nonce)
        .bind(verify_key);
        Ok(q.execute(&self.db.pool).await?.rows_affected() > 0)
    }

    /// Makes the pending enrollment with `nonce` the enrolled one, with `verify_key`,
    /// replacing `old_verify_key` (`None`: nothing was enrolled). The counter starts at
    /// zero. `false` if no such pending enrollment (or the enrolled key changed).
    pub async fn commit_pin(
        &self,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        old_verify_key: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE customer_pins SET sealed_key = pending_key, verify_key = $1, \
             enroll_nonce = pending_nonce, pending_key = NULL, pending_nonce = NULL, \
             attempt_nonce = NULL, rekey_nonce = NULL, rekey_expires_ms = NULL, failures = 0, \
             updated_at_ms = $2 WHERE org_id = $3 AND customer_id = $4 AND pending_nonce = $5 \
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
}
