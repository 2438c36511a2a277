//! What the customer factors on Node 2 share (schemas 5, 7, 8): one row per customer and
//! factor with the enrolled unlock key, the attempt nonce and a guess counter. The PIN
//! (`customer_pins`), the security questions (`customer_recovery`) and the email code
//! (`customer_email`) differ only in what else they hold; reading a record, counting an
//! attempt and a recovery factor's unlock are written once here, for every factor.
//!
//! Every counter change is one statement that matches only below the limit, so
//! concurrent attempts (several server replicas, several Node 1 connections) can never
//! buy an extra guess.

use sqlx::{AssertSqlSafe, Row};

use crate::StoreError;
use crate::node::NodeStore;

/// The record format this build writes (all three tables).
pub(crate) const FACTOR_FORMAT: i64 = 1;

/// A customer factor's table on Node 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorTable {
    /// The PIN (OPRF key sealed by the keystore).
    Pin,
    /// The security questions (their own OPRF key, sealed).
    Questions,
    /// The emailed code (`W_email`; no OPRF key).
    Email,
}

impl FactorTable {
    fn table(self) -> &'static str {
        match self {
            FactorTable::Pin => "customer_pins",
            FactorTable::Questions => "customer_recovery",
            FactorTable::Email => "customer_email",
        }
    }

    /// The column of what the factor holds besides its unlock key.
    fn held(self) -> &'static str {
        match self {
            FactorTable::Pin | FactorTable::Questions => "sealed_key",
            FactorTable::Email => "wrapped",
        }
    }
}

/// A customer's factor as Node 2 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorRecord {
    /// What the factor holds: its enrolled OPRF key, sealed by the keystore (PIN,
    /// questions), or `W_email` (email; ciphertext under a key only the code yields).
    /// `None` before the first commit.
    pub sealed_key: Option<Vec<u8>>,
    /// The enrolled unlock public key.
    pub verify_key: Option<Vec<u8>>,
    /// The nonce of the committed enrollment.
    pub enroll_nonce: Option<Vec<u8>>,
    /// Attempts counted since the last unlock.
    pub failures: i64,
}

/// A customer's PIN record.
pub type PinRecord = FactorRecord;
/// A customer's security-questions record.
pub type RecoveryRecord = FactorRecord;

/// What counting one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinAttempt {
    /// Counted; `failures` includes this attempt. What the factor holds (the enrolled key,
    /// sealed; for email `W_email`).
    Counted {
        /// Attempts counted since the last unlock, this one included.
        failures: i64,
        /// The enrolled OPRF key, sealed (email: `W_email`).
        sealed_key: Vec<u8>,
    },
    /// The limit was reached before this attempt: nothing counted, nothing to evaluate.
    Locked,
    /// Nothing enrolled.
    NotSet,
}

impl NodeStore {
    /// The customer's record of `factor`.
    pub async fn factor_record(
        &self,
        factor: FactorTable,
        org_id: &str,
        customer_id: &str,
    ) -> Result<Option<FactorRecord>, StoreError> {
        let sql = format!(
            "SELECT {} AS held, verify_key, enroll_nonce, failures, format_version \
             FROM {} WHERE org_id = $1 AND customer_id = $2",
            factor.held(),
            factor.table()
        );
        let row = // The table and column names are this enum's constants, never input.
        sqlx::query(AssertSqlSafe(sql))
            .bind(org_id)
            .bind(customer_id)
            .fetch_optional(&self.db.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let format: i64 = row.try_get("format_version")?;
        if format != FACTOR_FORMAT {
            return Err(StoreError::UnsupportedRecord {
                table: factor.table(),
                detail: format!("format version {format}"),
            });
        }
        Ok(Some(FactorRecord {
            sealed_key: row.try_get("held")?,
            verify_key: row.try_get("verify_key")?,
            enroll_nonce: row.try_get("enroll_nonce")?,
            failures: row.try_get("failures")?,
        }))
    }

    /// Counts one attempt on `factor`, durably, before the caller evaluates or checks
    /// anything: raises the counter and sets the attempt nonce in one statement that
    /// matches only while fewer than `max` attempts are counted.
    pub async fn count_attempt(
        &self,
        factor: FactorTable,
        org_id: &str,
        customer_id: &str,
        max: i64,
        nonce: &[u8],
        now_ms: i64,
    ) -> Result<PinAttempt, StoreError> {
        let sql = format!(
            "UPDATE {} SET failures = failures + 1, attempt_nonce = $1, \
             updated_at_ms = $2 WHERE org_id = $3 AND customer_id = $4 \
             AND verify_key IS NOT NULL AND failures < $5 RETURNING failures, {} AS held",
            factor.table(),
            factor.held()
        );
        let row = // The table and column names are this enum's constants, never input.
        sqlx::query(AssertSqlSafe(sql))
            .bind(nonce)
            .bind(now_ms)
            .bind(org_id)
            .bind(customer_id)
            .bind(max)
            .fetch_optional(&self.db.pool)
            .await?;
        if let Some(row) = row {
            let held: Option<Vec<u8>> = row.try_get("held")?;
            return Ok(PinAttempt::Counted {
                failures: row.try_get("failures")?,
                sealed_key: held.ok_or_else(|| {
                    StoreError::InvalidInput(format!("an enrolled {factor:?} factor holds nothing"))
                })?,
            });
        }
        Ok(
            match self.factor_record(factor, org_id, customer_id).await? {
                Some(r) if r.verify_key.is_some() => PinAttempt::Locked,
                _ => PinAttempt::NotSet,
            },
        )
    }

    /// A successful recovery by `factor` (questions or email): for the current attempt
    /// nonce of the enrolled `verify_key`, resets that factor's counter, retires the nonce
    /// and gives the customer's enrolled PIN the rekey nonce `rekey` (a one-time
    /// permission to enroll a new PIN), in one transaction. `false` if the nonce is not
    /// current (retired, replayed), the enrollment changed, or no PIN is enrolled.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of a single atomic change"
    )]
    pub async fn unlock_recovery_factor(
        &self,
        factor: FactorTable,
        org_id: &str,
        customer_id: &str,
        nonce: &[u8],
        verify_key: &[u8],
        rekey: &[u8],
        rekey_expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if factor == FactorTable::Pin {
            return Err(StoreError::InvalidInput(
                "the PIN is not a recovery factor".into(),
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        let sql = format!(
            "UPDATE {} SET failures = 0, attempt_nonce = NULL, updated_at_ms = $1 \
             WHERE org_id = $2 AND customer_id = $3 AND attempt_nonce = $4 AND verify_key = $5",
            factor.table()
        );
        let n = // The table and column names are this enum's constants, never input.
        sqlx::query(AssertSqlSafe(sql))
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

    /// Enrolls (or replaces) the customer's email code: its unlock key and `W_email`, with
    /// the counter at zero. Only an enrolled PIN may have one (the caller checked the new
    /// PIN's signature); `false` if no PIN is enrolled with `pin_verify_key`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one value per condition and column of a single atomic change"
    )]
    pub async fn put_email(
        &self,
        org_id: &str,
        customer_id: &str,
        pin_verify_key: &[u8],
        verify_key: &[u8],
        wrapped: &[u8],
        enroll_nonce: &[u8],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let pin = sqlx::query(
            "SELECT 1 AS one FROM customer_pins WHERE org_id = $1 AND customer_id = $2 \
             AND verify_key = $3",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(pin_verify_key)
        .fetch_optional(&mut *tx)
        .await?;
        if pin.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO customer_email (org_id, customer_id, wrapped, verify_key, enroll_nonce, \
             attempt_nonce, failures, format_version, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, NULL, 0, $6, $7) \
             ON CONFLICT (org_id, customer_id) DO UPDATE SET wrapped = $3, verify_key = $4, \
             enroll_nonce = $5, attempt_nonce = NULL, failures = 0, format_version = $6, \
             updated_at_ms = $7",
        )
        .bind(org_id)
        .bind(customer_id)
        .bind(wrapped)
        .bind(verify_key)
        .bind(enroll_nonce)
        .bind(FACTOR_FORMAT)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
