//! Durable idempotency records, per organization and key.
//!
//! States: no row → `running` (the first request works; its lease counts from
//! `started_at_ms`) → `done` (status and body stored, replayed to every repeat). A
//! `running` row is deleted by `idem_abandon` after a transient failure, so the client
//! may retry; one whose lease ran out (its server died) is taken over by the next
//! request. Every transition is one conditional statement, so of concurrent callers
//! exactly one wins.

use sqlx::Row;

use super::audit::append_in_tx;
use super::audit_format::AuditDraft;
use super::commit::{Commit, IdemDone};
use super::{ServerStore, Tx};
use crate::StoreError;

/// What `idem_begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// The caller owns the key now: run the request, then complete it (in a `Commit`,
    /// or with `idem_finish`) or `idem_abandon` it.
    Started,
    /// Another request with this key is running and its lease has not expired (409
    /// `idempotency_in_progress`).
    InProgress,
    /// The key was used with another route or other parameters (409
    /// `idempotency_conflict`).
    Conflict,
    /// The request was done: answer with this, unchanged.
    Done {
        /// The stored HTTP status.
        status: u16,
        /// The stored body, JSON.
        body: String,
    },
}

/// A row that vanishes and reappears between our statements (abandoned, pruned,
/// re-begun) sends us round again; after this many rounds we answer `InProgress`, which
/// the client retries.
const MAX_ROUNDS: usize = 4;

/// What `idem_begin` is asked about: the organization's key, the route and the
/// fingerprint of the request's parameters.
#[derive(Debug, Clone, Copy)]
pub struct IdemClaim<'a> {
    /// The organization the key belongs to.
    pub org_id: &'a str,
    /// The client's `idempotencyKey`.
    pub key: &'a str,
    /// The route (or action) the key is used for.
    pub route: &'a str,
    /// SHA-256 of the request's parameters.
    pub fingerprint: &'a [u8; 32],
}

impl ServerStore {
    /// Claims `(org_id, key)` for a request to `route` whose parameters hash to
    /// `fingerprint`; see [`IdemBegin`]. A `running` record whose lease
    /// (`started_at + lease_ms`) has expired at `now_ms` is taken over: `Started` again,
    /// for exactly one caller.
    pub async fn idem_begin(
        &self,
        org_id: &str,
        key: &str,
        route: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<IdemBegin, StoreError> {
        let claim = IdemClaim {
            org_id,
            key,
            route,
            fingerprint,
        };
        self.idem_begin_audited(claim, now_ms, lease_ms, None).await
    }

    /// [`idem_begin`](Self::idem_begin) that, when it answers `Started`, also appends
    /// `requested` (the operation's `requested` audit entry) in the same transaction: one
    /// commit instead of two on the hot path, and no `requested` entry for a request that
    /// only replays, conflicts or finds its key in progress.
    pub async fn idem_begin_audited(
        &self,
        claim: IdemClaim<'_>,
        now_ms: i64,
        lease_ms: i64,
        requested: Option<&AuditDraft>,
    ) -> Result<IdemBegin, StoreError> {
        let mut tx = self.begin().await?;
        let began = begin_in_tx(&mut tx, claim, now_ms, lease_ms).await?;
        if began == IdemBegin::Started {
            if let Some(draft) = requested {
                append_in_tx(&mut tx, draft).await?;
            }
            tx.commit().await?;
        }
        // Anything else wrote nothing; dropping `tx` rolls it back.
        Ok(began)
    }

    /// The completed response stored for `claim`, if its key is `done` with the same
    /// route and fingerprint. For a request that fails before it claims its key: a
    /// repeat of a request that succeeded gets the stored answer, not the error.
    pub async fn idem_stored(
        &self,
        claim: IdemClaim<'_>,
    ) -> Result<Option<(u16, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT route, fingerprint, state, status, body \
             FROM idempotency WHERE org_id = $1 AND idem_key = $2",
        )
        .bind(claim.org_id)
        .bind(claim.key)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let route: String = row.try_get("route")?;
        let fingerprint: Vec<u8> = row.try_get("fingerprint")?;
        let state: String = row.try_get("state")?;
        if route != claim.route || fingerprint != claim.fingerprint.as_slice() || state != "done" {
            return Ok(None);
        }
        match done(row.try_get("status")?, row.try_get("body")?)? {
            IdemBegin::Done { status, body } => Ok(Some((status, body))),
            _ => Ok(None),
        }
    }

    /// Completes a `running` record with a response and nothing else to write. Mutations
    /// complete theirs through `Commit::idempotency` instead.
    pub async fn idem_finish(&self, done: IdemDone) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        complete_in_tx(&mut tx, &done).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a commit with no mutation of its own: a signature's audit entry and its
    /// idempotent response, in one transaction.
    pub async fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        let tx = self.begin().await?;
        self.finish(tx, c).await
    }

    /// Deletes a `running` record so that the client may retry (after a transient
    /// failure). Returns whether there was one; a `done` record is never deleted.
    pub async fn idem_abandon(&self, org_id: &str, key: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM idempotency WHERE org_id = $1 AND idem_key = $2 AND state = 'running'",
        )
        .bind(org_id)
        .bind(key)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(deleted > 0)
    }

    /// Deletes the records begun before `before_ms` (`done` ones, and `running` ones
    /// that old, whose server is long gone). Returns how many.
    pub async fn prune_idempotency(&self, before_ms: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM idempotency WHERE started_at_ms < $1")
            .bind(before_ms)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }
}

/// `idem_begin` inside `tx`. On PostgreSQL each statement sees what committed before it
/// (READ COMMITTED) and the insert waits for a concurrent one with the same key; on
/// SQLite the transaction holds the write lock.
async fn begin_in_tx(
    tx: &mut Tx,
    c: IdemClaim<'_>,
    now_ms: i64,
    lease_ms: i64,
) -> Result<IdemBegin, StoreError> {
    for _ in 0..MAX_ROUNDS {
        let inserted = sqlx::query(
            "INSERT INTO idempotency (org_id, idem_key, route, fingerprint, state, \
             started_at_ms) VALUES ($1, $2, $3, $4, 'running', $5) \
             ON CONFLICT (org_id, idem_key) DO NOTHING",
        )
        .bind(c.org_id)
        .bind(c.key)
        .bind(c.route)
        .bind(c.fingerprint.as_slice())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(IdemBegin::Started);
        }
        let row = sqlx::query(
            "SELECT route, fingerprint, state, started_at_ms, status, body \
             FROM idempotency WHERE org_id = $1 AND idem_key = $2",
        )
        .bind(c.org_id)
        .bind(c.key)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { continue }; // abandoned meanwhile: insert again
        let stored_route: String = row.try_get("route")?;
        let stored_fingerprint: Vec<u8> = row.try_get("fingerprint")?;
        if stored_route != c.route || stored_fingerprint != c.fingerprint.as_slice() {
            return Ok(IdemBegin::Conflict);
        }
        let state: String = row.try_get("state")?;
        if state == "done" {
            let status: Option<i64> = row.try_get("status")?;
            let body: Option<String> = row.try_get("body")?;
            return done(status, body);
        }
        let started_at_ms: i64 = row.try_get("started_at_ms")?;
        if started_at_ms.saturating_add(lease_ms) > now_ms {
            return Ok(IdemBegin::InProgress);
        }
        // Expired: take it over, unless someone else did since we read it.
        let taken = sqlx::query(
            "UPDATE idempotency SET started_at_ms = $1 WHERE org_id = $2 AND idem_key = $3 \
             AND state = 'running' AND started_at_ms = $4",
        )
        .bind(now_ms)
        .bind(c.org_id)
        .bind(c.key)
        .bind(started_at_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(IdemBegin::Started);
        }
    }
    Ok(IdemBegin::InProgress)
}

/// Sets a `running` record to `done` inside `tx`. A record that is missing is
/// `NotFound`; one that is `done` already is a `Conflict` (another request holding the
/// same key after a lease takeover completed first), and the caller's whole transaction
/// rolls back.
pub(super) async fn complete_in_tx(tx: &mut Tx, done: &IdemDone) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE idempotency SET state = 'done', status = $1, body = $2 \
         WHERE org_id = $3 AND idem_key = $4 AND state = 'running'",
    )
    .bind(i64::from(done.status))
    .bind(done.body.as_str())
    .bind(done.org_id.as_str())
    .bind(done.key.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 1 {
        return Ok(());
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT state FROM idempotency WHERE org_id = $1 AND idem_key = $2")
            .bind(done.org_id.as_str())
            .bind(done.key.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Err(match exists {
        Some(_) => StoreError::Conflict(format!("idempotency key {} is done already", done.key)),
        None => StoreError::NotFound(format!("idempotency key {} of {}", done.key, done.org_id)),
    })
}

fn done(status: Option<i64>, body: Option<String>) -> Result<IdemBegin, StoreError> {
    let unsupported = |detail: &str| StoreError::UnsupportedRecord {
        table: "idempotency",
        detail: detail.to_owned(),
    };
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| unsupported("done without a valid status"))?;
    let body = body.ok_or_else(|| unsupported("done without a body"))?;
    Ok(IdemBegin::Done { status, body })
}
