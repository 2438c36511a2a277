//! Customer recovery by security questions on Node 2 (schema 7): the same shape as the
//! PIN (`node_pins`), a counter of its own. Every counter change is one statement; the
//! unlock that permits a new PIN changes both tables in one transaction.

use sqlx::Row;

use crate::StoreError;
use crate::node::NodeStore;
use crate::node_pins::PinAttempt;

/// The record format this build writes.
const RECOVERY_FORMAT: i64 = 1;

/// A customer's recovery factor as Node 2 holds it. The OPRF keys arrive and leave sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRecord {
    /// The enrolled OPRF key, sealed; `None` before the first commit.
    pub sealed_key: Option<Vec<u8>>,
    /// The enrolled unlock public key.
    pub verify_key: Option<Vec<u8>>,
    /// The nonce of the committed enrollment.
    pub enroll_nonce: Option<Vec<u8>>,
    /// Attempts counted since the last unlock.
    pub failures: i64,
}

impl NodeStore {
    /// The customer's recovery record.
    pub async fn recovery_record(
        &self,
        org_id: &str,
        customer_id: &str,
    ) -> Result<Option<RecoveryRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT sealed_key, verify_key, enroll_nonce, failures, format_version \
             FROM customer_recovery WHERE org_id = $1 AND customer_id = $2",
        )
        .bind(org_id)
        .bind(customer_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let format: i64 = row.try_get("format_version")?;
        if format != RECOVERY_FORMAT {
            return Err(StoreError::UnsupportedRecord {
                table: "customer_recovery",
                detail: format!("format version {format}"),
            });
        }
        Ok(Some(RecoveryRecord {
            sealed_key: row.try_get("sealed_key")?,
            verify_key: row.try_get("verify_key")?,
            enroll_nonce: row.try_get("enroll_nonce")?,
            failures: row.try_get("failures")?,
        }))
    }

    /// Counts one recovery attempt, durably, before anything is evaluated (one statement
    /// that matches only while fewer than `max` are counted). [`PinAttempt::Locked`]: the
    /// limit was reached; [`PinAttempt::NotSet`]: nothing enrolled.
    pub async fn count_recovery_attempt(
        &self,
        org_id: &str,
        customer_id: &str,
        max: i64,
        nonce: &[u8],
        now_ms: i64,
    ) -> Result<PinAttempt, StoreError> {
        let row = sqlx::query(
            "UPDATE customer_recovery SET failures = failures + 1, attempt_nonce = $1, \
             updated_at_ms = $2 WHERE org_id = $3 AND customer_id = $4 \
             AND verify_key IS NOT NULL AND failures < $5 RETURNING failures, sealed_key",
        )
        .bind(nonce)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .bind(max)
        .fetch_optional(&self.db.pool)
        .await?;
        if let Some(row) = row {
            let sealed: Option<Vec<u8>> = row.try_get("sealed_key")?;
            return Ok(PinAttempt::Counted {
                failures: row.try_get("failures")?,
                sealed_key: sealed.ok_or_else(|| {
                    StoreError::InvalidInput("enrolled recovery without key".into())
                })?,
            });
        }
        Ok(match self.recovery_record(org_id, customer_id).await? {
            Some(r) if r.verify_key.is_some() => PinAttempt::Locked,
            _ => PinAttempt::NotSet,
        })
    }

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

    /// A successful recovery: for the current attempt nonce of the enrolled
    /// `verify_key`, resets the recovery counter, retires the nonce and gives the
    /// customer's enrolled PIN the rekey nonce `rekey` (a one-time permission to enroll a
    /// new PIN), in one transaction. `false` if the nonce is not current (retired,
    /// replayed), the enrollment changed, or no PIN is enrolled.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of a single atomic change"
    )]
    pub async fn unlock_recovery(
        &self,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        rekey: &[u8],
        rekey_expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE customer_recovery SET failures = 0, attempt_nonce = NULL, updated_at_ms = $1 \
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
            return Ok(false);
        }
        let n = sqlx::query(
            "UPDATE customer_pins SET rekey_nonce = $1, rekey_expires_ms = $2, updated_at_ms = $3 \
             WHERE org_id = $4 AND customer_id = $5 AND verify_key IS NOT NULL",
        )
        .bind(rekey)
        .bind(rekey_expires_ms)
        .bind(now_ms)
        .bind(org_id)
        .bind(customer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
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
