//! Customer custody on the nodes (schema 6): Node 2's operation permits, created by a PIN
//! unlock and consumed, one statement each, by the DKG, sign or export they name; Node 1's
//! verifier of each customer's secret.

use crate::StoreError;
use crate::node::NodeStore;

impl NodeStore {
    /// Resets the PIN counter for the current attempt nonce of the enrolled `verify_key`
    /// (as [`NodeStore::unlock_pin`], without a rekey nonce) and records one permit per
    /// operation digest for `challenge_id`, valid until `expires_at_ms`, in one
    /// transaction; `false` (nothing written) if the nonce is not the current one. A permit
    /// already recorded for the same operation of the same challenge is renewed, not
    /// doubled.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of one atomic unlock"
    )]
    pub async fn unlock_with_permits(
        &self,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        challenge_id: &str,
        ops: &[[u8; 32]],
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let n = sqlx::query(
            "UPDATE customer_pins SET failures = 0, attempt_nonce = NULL, updated_at_ms = $1 \
             WHERE org_id = $2 AND customer_id = $3 AND attempt_nonce = $4 AND verify_key = $5",
        )
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(nonce)
        .bind(verify_key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for op in ops {
            sqlx::query(
                "INSERT INTO customer_permits (org_id, customer_id, challenge_id, op_digest, \
                 expires_at_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id, customer_id, challenge_id, op_digest) \
                 DO UPDATE SET expires_at_ms = $5",
            )
            .bind(org_id)
            .bind(customer_id)
            .bind(challenge_id)
            .bind(op.as_slice())
            .bind(expires_at_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Consumes the permit for one operation: deletes it in the statement that checks it
    /// exists and has not expired at `now_ms`. `false`: no such permit (never made, used,
    /// or expired). Expired permits of the customer are pruned on the way.
    pub async fn take_permit(
        &self,
        org_id: &str,
        customer_id: &str,
        challenge_id: &str,
        op: &[u8; 32],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "DELETE FROM customer_permits WHERE org_id = $1 AND customer_id = $2 \
             AND challenge_id = $3 AND op_digest = $4 AND expires_at_ms >= $5",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(challenge_id)
        .bind(op.as_slice())
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM customer_permits WHERE org_id = $1 AND customer_id = $2 \
             AND expires_at_ms < $3",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(n > 0)
    }

    /// How many unused permits the customer has (drills and tests).
    pub async fn permit_count(&self, org_id: &str, customer_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM customer_permits WHERE org_id = $1 AND customer_id = $2",
        )
        .bind(org_id)
        .bind(customer_id)
        .fetch_one(&self.db.pool)
        .await?)
    }

    /// The customer secret's verifier (Node 1), if one was recorded.
    pub async fn customer_secret_verifier(
        &self,
        org_id: &str,
        customer_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT verifier FROM customer_secrets WHERE org_id = $1 AND customer_id = $2",
        )
        .bind(org_id)
        .bind(customer_id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Records the customer secret's verifier unless one is recorded; returns the one that
    /// stands (the first writer's, when two first DKGs race).
    pub async fn put_customer_secret_verifier(
        &self,
        org_id: &str,
        customer_id: &str,
        verifier: &[u8],
        now_ms: i64,
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO customer_secrets (org_id, customer_id, verifier, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, customer_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(verifier)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?;
        self.customer_secret_verifier(org_id, customer_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("customer {customer_id}'s verifier")))
    }
}
