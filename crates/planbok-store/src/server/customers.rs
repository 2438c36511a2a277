//! Customers and their challenges (schemas 7 and 9).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::commit::Commit;
use super::{Paging, ServerStore, decode_all, missing_parent};
use crate::StoreError;

/// A customer: an end user of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// The organization's reference.
    pub ref_id: Option<String>,
    /// Contact address (where an email recovery code is sent).
    pub email: Option<String>,
    /// `unset`, `set` or `locked`.
    pub pin_status: String,
    /// The enrolled PIN's public parts, once set.
    pub pin: Option<PinEnrollment>,
    /// The enrolled security questions' public parts, once set.
    pub recovery: Option<RecoveryEnrollment>,
    /// The email recovery code, sealed by the server (its grant-key-derived box), once
    /// enrolled at Node 2.
    pub email_code: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

/// A PIN enrollment's public parts: nothing here tests a guess without Node 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEnrollment {
    /// The Argon2id salt.
    pub salt: Vec<u8>,
    /// The Argon2id parameters, JSON.
    pub params: String,
    /// `W_pin`: the customer secret wrapped under the PIN's key.
    pub wrap: Vec<u8>,
}

/// The security questions' public parts: nothing here tests an answer without Node 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryEnrollment {
    /// The Argon2id salt.
    pub salt: Vec<u8>,
    /// The Argon2id parameters, JSON.
    pub params: String,
    /// `W_rec`: the customer secret wrapped under the answers' key.
    pub wrap: Vec<u8>,
    /// The questions and hints, JSON (never an answer).
    pub questions: String,
}

/// A challenge: one operation the customer completes in the Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The customer.
    pub customer_id: String,
    /// `initialize`, `update_pin`, …
    pub kind: String,
    /// `pending`, `complete`, `failed` or `expired` (as stored; a pending one past its
    /// expiry is expired whatever the row says).
    pub status: String,
    /// SHA-256 of the one-time token.
    pub token_hash: Vec<u8>,
    /// Where the Gateway sends the user afterwards.
    pub return_url: Option<String>,
    /// The result, JSON, once complete.
    pub result: Option<String>,
    /// Why it failed.
    pub error_code: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub expires_at_ms: i64,
    /// Unix ms.
    pub completed_at_ms: Option<i64>,
    /// What an operation challenge authorizes (JSON, fixed at creation); `None` for PIN
    /// challenges.
    pub params: Option<String>,
    /// A transaction challenge's nonce and fees once prepared (JSON, the server's own
    /// format: it holds the nonce lease's token).
    pub prepared: Option<String>,
}

const CUSTOMER_COLUMNS: &str = "id, org_id, name, ref_id, email, pin_status, pin_salt, \
     pin_params, pin_wrap, rec_salt, rec_params, rec_wrap, rec_questions, email_code, \
     created_at_ms, updated_at_ms";

const CHALLENGE_COLUMNS: &str = "id, org_id, customer_id, kind, status, token_hash, return_url, \
     result, error_code, created_at_ms, expires_at_ms, completed_at_ms, params, prepared";

fn customer_from_row(r: &AnyRow) -> Result<CustomerRecord, StoreError> {
    let salt: Option<Vec<u8>> = r.try_get("pin_salt")?;
    let params: Option<String> = r.try_get("pin_params")?;
    let wrap: Option<Vec<u8>> = r.try_get("pin_wrap")?;
    let pin = match (salt, params, wrap) {
        (Some(salt), Some(params), Some(wrap)) => Some(PinEnrollment { salt, params, wrap }),
        _ => None,
    };
    let recovery = match (
        r.try_get::<Option<Vec<u8>>, _>("rec_salt")?,
        r.try_get::<Option<String>, _>("rec_params")?,
        r.try_get::<Option<Vec<u8>>, _>("rec_wrap")?,
        r.try_get::<Option<String>, _>("rec_questions")?,
    ) {
        (Some(salt), Some(params), Some(wrap), Some(questions)) => Some(RecoveryEnrollment {
            salt,
            params,
            wrap,
            questions,
        }),
        _ => None,
    };
    Ok(CustomerRecord {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        name: r.try_get("name")?,
        ref_id: r.try_get("ref_id")?,
        email: r.try_get("email")?,
        pin_status: r.try_get("pin_status")?,
        pin,
        recovery,
        email_code: r.try_get("email_code")?,
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

fn challenge_from_row(r: &AnyRow) -> Result<ChallengeRecord, StoreError> {
    Ok(ChallengeRecord {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        customer_id: r.try_get("customer_id")?,
        kind: r.try_get("kind")?,
        status: r.try_get("status")?,
        token_hash: r.try_get("token_hash")?,
        return_url: r.try_get("return_url")?,
        result: r.try_get("result")?,
        error_code: r.try_get("error_code")?,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        completed_at_ms: r.try_get("completed_at_ms")?,
        params: r.try_get("params")?,
        prepared: r.try_get("prepared")?,
    })
}

impl ServerStore {
    /// Stores a new customer (PIN unset). `NotFound` if the organization does not exist.
    pub async fn create_customer(
        &self,
        c: &CustomerRecord,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO customers (id, org_id, name, ref_id, email, pin_status, created_at_ms, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, 'unset', $6, $7)",
        )
        .bind(c.id.as_str())
        .bind(c.org_id.as_str())
        .bind(c.name.as_str())
        .bind(c.ref_id.as_deref())
        .bind(c.email.as_deref())
        .bind(c.created_at_ms)
        .bind(c.updated_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| missing_parent(e, || format!("organization {}", c.org_id)))?;
        self.finish(tx, commit).await
    }

    /// A customer of `org_id`.
    pub async fn customer(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// One page of an organization's customers, and how many it has.
    pub async fn list_customers(
        &self,
        org_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<CustomerRecord>, i64), StoreError> {
        self.page_of_org(
            "customers",
            CUSTOMER_COLUMNS,
            org_id,
            (page, limit, desc),
            customer_from_row,
        )
        .await
    }

    /// Stores a new pending challenge for a customer of its organization (`NotFound`
    /// otherwise), with `commit` (whose mail, the recovery code of a reset by email, is
    /// queued in the same transaction, after the challenge it names).
    pub async fn create_challenge(
        &self,
        ch: &ChallengeRecord,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "INSERT INTO customer_challenges (id, org_id, customer_id, kind, status, token_hash, \
             return_url, created_at_ms, expires_at_ms, params) \
             SELECT $1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9 \
             WHERE EXISTS (SELECT 1 FROM customers WHERE id = $3 AND org_id = $2)",
        )
        .bind(ch.id.as_str())
        .bind(ch.org_id.as_str())
        .bind(ch.customer_id.as_str())
        .bind(ch.kind.as_str())
        .bind(ch.token_hash.as_slice())
        .bind(ch.return_url.as_deref())
        .bind(ch.created_at_ms)
        .bind(ch.expires_at_ms)
        .bind(ch.params.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("customer {}", ch.customer_id)));
        }
        self.finish(tx, commit).await
    }

    /// A challenge of a customer of `org_id`.
    pub async fn challenge(
        &self,
        org_id: &str,
        customer_id: &str,
        id: &str,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHALLENGE_COLUMNS} FROM customer_challenges \
             WHERE org_id = $1 AND customer_id = $2 AND id = $3"
        )))
        .bind(org_id)
        .bind(customer_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(challenge_from_row).transpose()
    }

    /// The challenge whose token hashes to `token_hash`.
    pub async fn challenge_by_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHALLENGE_COLUMNS} FROM customer_challenges WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(challenge_from_row).transpose()
    }

    /// One page of a customer's challenges (newest or oldest first), and how many.
    pub async fn list_challenges(
        &self,
        org_id: &str,
        customer_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<ChallengeRecord>, i64), StoreError> {
        let paging = Paging::new(page, limit, desc)?;
        let base = format!(
            "SELECT {CHALLENGE_COLUMNS} FROM customer_challenges WHERE org_id = $1 AND customer_id = $2"
        );
        let rows = sqlx::query(paging.sql(&base, &["created_at_ms", "id"], 3))
            .bind(org_id)
            .bind(customer_id)
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM customer_challenges WHERE org_id = $1 AND customer_id = $2",
        )
        .bind(org_id)
        .bind(customer_id)
        .fetch_one(&self.db.pool)
        .await?;
        Ok((decode_all(rows, challenge_from_row)?, total))
    }

    /// Writes a PIN enrollment's public parts on a pending challenge, before Node 2 commits
    /// it (so a retry after a crash finds them). `false` if the challenge is not pending.
    pub async fn stage_pin(
        &self,
        challenge_id: &str,
        pin: &PinEnrollment,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE customer_challenges SET pending_salt = $1, pending_params = $2, pending_wrap = $3 \
             WHERE id = $4 AND status = 'pending' AND expires_at_ms >= $5",
        )
        .bind(pin.salt.as_slice())
        .bind(pin.params.as_str())
        .bind(pin.wrap.as_slice())
        .bind(challenge_id)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Writes a sealed email recovery code on a pending challenge, before Node 2 commits
    /// its enrollment with the PIN (as [`ServerStore::stage_pin`]). `false` if the
    /// challenge is not pending.
    pub async fn stage_email_code(
        &self,
        challenge_id: &str,
        sealed: &[u8],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE customer_challenges SET pending_email_code = $1 \
             WHERE id = $2 AND status = 'pending' AND expires_at_ms >= $3",
        )
        .bind(sealed)
        .bind(challenge_id)
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Completes a pending challenge whose staged enrollments Node 2 has committed: the
    /// customer's PIN becomes the staged one, if any (status `set`, which also ends a
    /// lockout), and so do the security questions; the challenge `complete` with
    /// `result`. `false` (and nothing written) if the challenge is no longer pending.
    pub async fn complete_pin_challenge(
        &self,
        ch: &ChallengeRecord,
        result: &str,
        now_ms: i64,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE customer_challenges SET status = 'complete', result = $1, completed_at_ms = $2 \
             WHERE id = $3 AND status = 'pending' \
             AND (pending_wrap IS NOT NULL OR pending_rec_wrap IS NOT NULL)",
        )
        .bind(result)
        .bind(now_ms)
        .bind(ch.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        // Each staged group is written whole or not at all (staging writes all its
        // columns at once), so per-column COALESCE keeps the other group as it was.
        sqlx::query(
            "UPDATE customers SET \
             pin_status = CASE WHEN (SELECT pending_wrap FROM customer_challenges WHERE id = $1) \
               IS NULL THEN pin_status ELSE 'set' END, \
             pin_salt = COALESCE((SELECT pending_salt FROM customer_challenges WHERE id = $1), pin_salt), \
             pin_params = COALESCE((SELECT pending_params FROM customer_challenges WHERE id = $1), pin_params), \
             pin_wrap = COALESCE((SELECT pending_wrap FROM customer_challenges WHERE id = $1), pin_wrap), \
             rec_salt = COALESCE((SELECT pending_rec_salt FROM customer_challenges WHERE id = $1), rec_salt), \
             rec_params = COALESCE((SELECT pending_rec_params FROM customer_challenges WHERE id = $1), rec_params), \
             rec_wrap = COALESCE((SELECT pending_rec_wrap FROM customer_challenges WHERE id = $1), rec_wrap), \
             rec_questions = COALESCE((SELECT pending_rec_questions FROM customer_challenges WHERE id = $1), rec_questions), \
             email_code = COALESCE((SELECT pending_email_code FROM customer_challenges WHERE id = $1), email_code), \
             updated_at_ms = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(ch.id.as_str())
        .bind(now_ms)
        .bind(ch.org_id.as_str())
        .bind(ch.customer_id.as_str())
        .execute(&mut *tx)
        .await?;
        self.finish(tx, commit).await?;
        Ok(true)
    }

    /// Node 2 refused a PIN attempt as locked: the challenge fails with `customer_locked`
    /// and the customer is marked locked. `commit` (its audit entry and event) is written
    /// only when this changed the customer's status, so a lockout is reported once.
    pub async fn lock_customer(
        &self,
        ch: &ChallengeRecord,
        now_ms: i64,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE customer_challenges SET status = 'failed', error_code = 'customer_locked', \
             completed_at_ms = $1 WHERE id = $2 AND status = 'pending'",
        )
        .bind(now_ms)
        .bind(ch.id.as_str())
        .execute(&mut *tx)
        .await?;
        let changed = sqlx::query(
            "UPDATE customers SET pin_status = 'locked', updated_at_ms = $1 \
             WHERE org_id = $2 AND id = $3 AND pin_status <> 'locked'",
        )
        .bind(now_ms)
        .bind(ch.org_id.as_str())
        .bind(ch.customer_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if changed {
            self.finish(tx, commit).await?;
        } else {
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Housekeeping: pending challenges past their expiry become `expired`; challenges that
    /// expired before `delete_before_ms` are deleted. Returns (expired, deleted).
    pub async fn prune_challenges(
        &self,
        now_ms: i64,
        delete_before_ms: i64,
    ) -> Result<(u64, u64), StoreError> {
        let expired = sqlx::query(
            "UPDATE customer_challenges SET status = 'expired' WHERE status = 'pending' AND expires_at_ms < $1",
        )
        .bind(now_ms)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        let deleted = sqlx::query("DELETE FROM customer_challenges WHERE expires_at_ms < $1")
            .bind(delete_before_ms)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok((expired, deleted))
    }
}
