//! The mail outbox (schemas 11 and 13): mail the server owes a customer: the recovery
//! code of a reset by email, and security notices ([`MailKind`]).
//!
//! A row is queued in the transaction of the change that asks for it (a [`Commit`] with
//! [`Commit::with_mail`]: the reset-by-email challenge's creation, a PIN commit, a
//! lockout, an export), so a crash after the commit leaves mail to send and a rollback
//! leaves none. Nothing secret is stored in it: the sender opens the
//! customer's sealed code when it sends. Senders in any number of processes claim one due
//! row at a time with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
//! writer at a time); the attempt is counted and the lease written before the message is
//! sent, and a lease that lapses (the process died mid-send) makes the row due again. A
//! message sent twice that way carries the same `Message-ID`.

use sqlx::{AssertSqlSafe, Row};

use super::commit::Commit;
use super::{ServerStore, Tx};
use crate::StoreError;
use crate::db::Backend;

/// A claimed message: what the sender needs to make and send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    /// The outbox row.
    pub id: String,
    /// The lease this claim holds.
    pub lease_token: String,
    /// Attempts so far, this one included.
    pub attempt: i64,
    /// The organization.
    pub org_id: String,
    /// The customer.
    pub customer_id: String,
    /// The challenge the message belongs to.
    pub challenge_id: String,
    /// What it says.
    pub kind: MailKind,
    /// When it was queued (Unix ms): when what a notice tells happened.
    pub created_at_ms: i64,
}

/// What a message says. Only [`MailKind::RecoveryCode`] carries a secret (opened from its
/// sealed copy when it is sent); a notice says what happened and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// The emailed recovery code of a reset by email.
    RecoveryCode,
    /// Notice: the PIN was changed (an update-pin challenge completed).
    PinChanged,
    /// Notice: the PIN was reset through recovery.
    PinReset,
    /// Notice: too many wrong PINs or recovery answers locked the wallet.
    LockedOut,
    /// Notice: the private keys were exported.
    KeysExported,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 5] = [
        MailKind::RecoveryCode,
        MailKind::PinChanged,
        MailKind::PinReset,
        MailKind::LockedOut,
        MailKind::KeysExported,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::RecoveryCode => "recovery_code",
            MailKind::PinChanged => "pin_changed",
            MailKind::PinReset => "pin_reset",
            MailKind::LockedOut => "locked_out",
            MailKind::KeysExported => "keys_exported",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A notice to queue with a mutation ([`Commit::with_mail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDraft {
    /// The outbox row's id.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The customer it goes to.
    pub customer_id: String,
    /// The challenge it is about.
    pub challenge_id: String,
    /// What it says.
    pub kind: MailKind,
    /// When it was queued (Unix ms).
    pub at_ms: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The relay accepted the message.
    Sent,
    /// Not sent; try again at `retry_at_ms` (`error` names the relay's answer, never the
    /// message).
    Retry {
        /// Unix ms.
        retry_at_ms: i64,
        /// Why.
        error: String,
    },
    /// Not sent, for good (`error` says why).
    Failed {
        /// Why.
        error: String,
    },
    /// Not sent because it is no longer wanted (the challenge ended first).
    Cancelled {
        /// Why.
        error: String,
    },
}

/// Queues `m` inside the caller's transaction.
pub(super) async fn queue_draft_in_tx(tx: &mut Tx, m: &MailDraft) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, org_id, customer_id, challenge_id, kind, status, attempts, \
         next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(m.id.as_str())
    .bind(m.org_id.as_str())
    .bind(m.customer_id.as_str())
    .bind(m.challenge_id.as_str())
    .bind(m.kind.as_str())
    .bind(m.at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl ServerStore {
    /// Claims the oldest due message (pending and due, or being sent under a lapsed
    /// lease), counting the attempt and leasing it until `lease_until_ms`.
    pub async fn claim_mail(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        lease_token: &str,
    ) -> Result<Option<ClaimedMail>, StoreError> {
        let mut tx = self.begin().await?;
        let lock = match self.db.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let id: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM mail_outbox WHERE (status = 'pending' AND next_attempt_at_ms <= $1) \
             OR (status = 'sending' AND lease_until_ms <= $1) \
             ORDER BY next_attempt_at_ms, id LIMIT 1{lock}"
        )))
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let row = sqlx::query(
            "UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, \
             lease_token = $2, lease_until_ms = $3 WHERE id = $1 \
             RETURNING id, attempts, org_id, customer_id, challenge_id, kind, created_at_ms",
        )
        .bind(id.as_str())
        .bind(lease_token)
        .bind(lease_until_ms)
        .fetch_one(&mut *tx)
        .await?;
        let kind: String = row.try_get("kind")?;
        let kind = MailKind::parse(&kind).ok_or_else(|| StoreError::UnsupportedRecord {
            table: "mail_outbox",
            detail: format!("mail kind {kind:?}"),
        })?;
        let claimed = ClaimedMail {
            id: row.try_get("id")?,
            lease_token: lease_token.to_owned(),
            attempt: row.try_get("attempts")?,
            org_id: row.try_get("org_id")?,
            customer_id: row.try_get("customer_id")?,
            challenge_id: row.try_get("challenge_id")?,
            kind,
            created_at_ms: row.try_get("created_at_ms")?,
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Records an attempt's outcome with `commit` (its audit entry), if the claim's lease
    /// still holds the row (`false` and nothing written otherwise: another sender took it
    /// over after the lease lapsed).
    pub async fn record_mail(
        &self,
        m: &ClaimedMail,
        outcome: &MailOutcome,
        now_ms: i64,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let (status, next, error, sent) = match outcome {
            MailOutcome::Sent => ("sent", now_ms, None, Some(now_ms)),
            MailOutcome::Retry { retry_at_ms, error } => {
                ("pending", *retry_at_ms, Some(error.as_str()), None)
            }
            MailOutcome::Failed { error } => ("failed", now_ms, Some(error.as_str()), None),
            MailOutcome::Cancelled { error } => ("cancelled", now_ms, Some(error.as_str()), None),
        };
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE mail_outbox SET status = $3, next_attempt_at_ms = $4, last_error = $5, \
             sent_at_ms = COALESCE($6, sent_at_ms), lease_token = NULL, lease_until_ms = NULL \
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(m.id.as_str())
        .bind(m.lease_token.as_str())
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(sent)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        self.finish(tx, commit).await?;
        Ok(true)
    }

    /// The status and attempts of the mail of `kind` a challenge asked for, if any
    /// (operators and tests: `pending`, `sending`, `sent`, `failed`, `cancelled`).
    pub async fn mail_status(
        &self,
        challenge_id: &str,
        kind: MailKind,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT status, attempts FROM mail_outbox WHERE challenge_id = $1 AND kind = $2 \
             ORDER BY created_at_ms DESC, id DESC LIMIT 1",
        )
        .bind(challenge_id)
        .bind(kind.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|r| Ok((r.try_get("status")?, r.try_get("attempts")?)))
            .transpose()
    }
}
