//! Customer PINs on Node 2: the sealed OPRF keys, the unlock keys and the guess counters
//! (schema 5). Every counter change is one statement, so concurrent attempts (several
//! server replicas, several Node 1 connections) can never buy an extra guess.

use sqlx::Row;

use crate::StoreError;
use crate::node::NodeStore;

/// The record format this build writes.
const PIN_FORMAT: i64 = 1;

/// A customer's PIN state as Node 2 holds it. The OPRF keys arrive and leave sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRecord {
    /// The enrolled OPRF key, sealed; `None` before the first commit.
    pub sealed_key: Option<Vec<u8>>,
    /// The enrolled unlock public key.
    pub verify_key: Option<Vec<u8>>,
    /// The nonce of the committed enrollment.
    pub enroll_nonce: Option<Vec<u8>>,
    /// Attempts counted since the last unlock.
    pub failures: i64,
}

/// What counting one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinAttempt {
    /// Counted; `failures` includes this attempt. The enrolled key, sealed.
    Counted {
        /// Attempts counted since the last unlock, this one included.
        failures: i64,
        /// The enrolled OPRF key, sealed.
        sealed_key: Vec<u8>,
    },
    /// The limit was reached before this attempt: nothing counted, nothing to evaluate.
    Locked,
    /// No enrolled PIN.
    NotSet,
}

impl NodeStore {
    /// The customer's PIN record.
    pub async fn pin_record(
        &self,
        org_id: &str,
        customer_id: &str,
    ) -> Result<Option<PinRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT sealed_key, verify_key, enroll_nonce, failures, format_version \
             FROM customer_pins WHERE org_id = $1 AND customer_id = $2",
        )
        .bind(org_id)
        .bind(customer_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let format: i64 = row.try_get("format_version")?;
        if format != PIN_FORMAT {
            return Err(StoreError::UnsupportedRecord {
                table: "customer_pins",
                detail: format!("format version {format}"),
            });
        }
        Ok(Some(PinRecord {
            sealed_key: row.try_get("sealed_key")?,
            verify_key: row.try_get("verify_key")?,
            enroll_nonce: row.try_get("enroll_nonce")?,
            failures: row.try_get("failures")?,
        }))
    }

    /// Counts one attempt, durably, before the caller evaluates anything: raises the
    /// counter and sets the attempt nonce in one statement that matches only while fewer
    /// than `max` attempts are counted.
    pub async fn count_pin_attempt(
        &self,
        org_id: &str,
        customer_id: &str,
        max: i64,
        nonce: &[u8],
        now_ms: i64,
    ) -> Result<PinAttempt, StoreError> {
        let row = sqlx::query(
            "UPDATE customer_pins SET failures = failures + 1, attempt_nonce = $1, \
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
                sealed_key: sealed
                    .ok_or_else(|| StoreError::InvalidInput("enrolled PIN without key".into()))?,
            });
        }
        Ok(match self.pin_record(org_id, customer_id).await? {
            Some(r) if r.verify_key.is_some() => PinAttempt::Locked,
            _ => PinAttempt::NotSet,
        })
    }

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
