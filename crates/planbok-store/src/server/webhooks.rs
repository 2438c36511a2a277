//! Webhooks: endpoints, the outbox of events, and the deliveries a worker claims.
//!
//! An event is written by [`emit_in_tx`] inside the transaction of the change it reports
//! (through [`Commit::events`]), and fanned out there to one delivery per matching enabled
//! endpoint: a crash after the commit leaves deliveries to send, a rollback leaves nothing.
//!
//! Workers in any number of processes claim due deliveries with a lease. A claim locks the
//! endpoints it serves (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a
//! time), counts their deliveries in flight and takes at most the room left, so the
//! concurrency per endpoint is bounded across replicas. The attempt is counted and the
//! lease written before the request is sent; a lease that lapses (the process died, or
//! hung past its timeout) makes the delivery due again, with the same event id.

use sha2::{Digest as _, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::append_in_tx;
use super::audit_format::AuditDraft;
use super::commit::Commit;
use super::{Paging, ServerStore, Tx, decode_all, missing_parent};
use crate::StoreError;
use crate::db::Backend;

/// A webhook endpoint. `secret` and `previous_secret` are the server's ciphertexts.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// `whe_…`, chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Where events are posted.
    pub url: String,
    /// A label.
    pub description: Option<String>,
    /// Event names, or `["*"]`.
    pub events: Vec<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why the server disabled it (absent when a member did, or when enabled).
    pub disabled_reason: Option<String>,
    /// The current secret, encrypted.
    pub secret: Vec<u8>,
    /// The secret before the last rotation, encrypted, still valid until
    /// `previous_expires_at_ms`.
    pub previous_secret: Option<Vec<u8>>,
    /// Unix ms.
    pub previous_expires_at_ms: Option<i64>,
    /// The first failure of the current run of failures.
    pub failing_since_ms: Option<i64>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for EndpointRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("secret", &"<encrypted>")
            .finish_non_exhaustive()
    }
}

impl EndpointRecord {
    /// Whether the endpoint subscribes to `event`.
    pub fn wants(&self, event: &str) -> bool {
        subscribed(&self.events, event)
    }
}

fn subscribed(events: &[String], event: &str) -> bool {
    events.iter().any(|e| e == "*" || e == event)
}

/// A change to an endpoint; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    /// A new URL (checked by the server).
    pub url: Option<String>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New event names.
    pub events: Option<Vec<String>>,
    /// Enable or disable. Enabling clears the failure run and the reason.
    pub enabled: Option<bool>,
}

/// An event for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    /// `evt_…`, chosen by the server; the `webhook-id` of every attempt.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The event name, e.g. `wallet.created`.
    pub event: String,
    /// The exact JSON body every attempt sends.
    pub body: String,
    /// At most one event per organization with this value (e.g. `key.disabled:<key>`).
    pub dedupe: Option<String>,
    /// Only to this endpoint, whatever it subscribes to (`webhook.test`).
    pub only_endpoint: Option<String>,
    /// Unix ms.
    pub at_ms: i64,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// `whd_…`.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The event (its id is the `webhook-id`).
    pub event_id: String,
    /// The event's name.
    pub event: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `pending`, `delivering`, `succeeded` or `failed`.
    pub status: String,
    /// Attempts started.
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at_ms: i64,
    /// When the last attempt started.
    pub last_attempt_at_ms: Option<i64>,
    /// The last answer's HTTP status.
    pub last_status_code: Option<i64>,
    /// The last failure, in words (never a secret).
    pub last_error: Option<String>,
    /// The delivery this one replays.
    pub replay_of: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

/// A delivery a worker claimed: everything it needs to send one attempt.
#[derive(Clone)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub id: String,
    /// Proves the claim when the outcome is recorded.
    pub lease_token: String,
    /// This attempt's number, from 1.
    pub attempt: i64,
    /// The organization.
    pub org_id: String,
    /// The event id.
    pub event_id: String,
    /// The event name.
    pub event: String,
    /// The body to send.
    pub body: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Its URL.
    pub url: String,
    /// Its secret, encrypted.
    pub secret: Vec<u8>,
    /// The previous secret while still valid, encrypted.
    pub previous_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .field("event_id", &self.event_id)
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended, as the worker decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Succeeded {
        /// The status.
        status: i64,
    },
    /// Anything else; `retry_at_ms` is `None` when the schedule is exhausted.
    Failed {
        /// The answer's status, if one came.
        status: Option<i64>,
        /// What went wrong.
        error: String,
        /// When to try again.
        retry_at_ms: Option<i64>,
        /// Disable the endpoint now (it answered 410 Gone), with this reason.
        disable: Option<String>,
    },
}

/// The id of the delivery of `event_id` to `endpoint_id` made by the fan-out: derived, so
/// the store invents no random id and the pair has one.
pub fn delivery_id(event_id: &str, endpoint_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"planbok/webhook-delivery/v1\0");
    h.update(event_id.as_bytes());
    h.update([0]);
    h.update(endpoint_id.as_bytes());
    format!("whd_{}", &hex::encode(h.finalize())[..32])
}

const ENDPOINT_COLUMNS: &str = "id, org_id, url, description, events, enabled, disabled_reason, \
     secret, previous_secret, previous_expires_at_ms, failing_since_ms, created_at_ms, updated_at_ms";

const DELIVERY_COLUMNS: &str = "d.id, d.org_id, d.event_id, ev.event, d.endpoint_id, d.status, \
     d.attempts, d.next_attempt_at_ms, d.last_attempt_at_ms, d.last_status_code, d.last_error, \
     d.replay_of, d.created_at_ms, d.updated_at_ms";

/// Due: pending and its time has come, or claimed and its lease lapsed.
const DUE: &str = "((d.status = 'pending' AND d.next_attempt_at_ms <= $1) \
     OR (d.status = 'delivering' AND d.lease_until_ms <= $1))";

/// Writes `e` to the outbox inside `tx` and fans it out to every enabled endpoint of its
/// organization that subscribes to it (or to `only_endpoint`). An event whose `dedupe`
/// value the organization already has is dropped, with its fan-out.
pub(crate) async fn emit_in_tx(tx: &mut Tx, e: &EventDraft) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_events (id, org_id, event, body, dedupe, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(e.id.as_str())
    .bind(e.org_id.as_str())
    .bind(e.event.as_str())
    .bind(e.body.as_str())
    .bind(e.dedupe.as_deref())
    .bind(e.at_ms)
    .execute(&mut **tx)
    .await
    .map_err(|err| missing_parent(err, || format!("organization {}", e.org_id)))?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT id, events FROM webhook_endpoints WHERE org_id = $1 AND enabled = 1 \
         AND ($2 IS NULL OR id = $2)",
    )
    .bind(e.org_id.as_str())
    .bind(e.only_endpoint.as_deref())
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let endpoint: String = row.try_get("id")?;
        let events = parse_events(&row.try_get::<String, _>("events")?)?;
        if e.only_endpoint.is_none() && !subscribed(&events, &e.event) {
            continue;
        }
        insert_delivery(tx, &delivery_id(&e.id, &endpoint), e, &endpoint, None).await?;
    }
    Ok(())
}

async fn insert_delivery(
    tx: &mut Tx,
    id: &str,
    e: &EventDraft,
    endpoint: &str,
    replay_of: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, org_id, event_id, endpoint_id, status, attempts, \
         next_attempt_at_ms, replay_of, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $5, $5)",
    )
    .bind(id)
    .bind(e.org_id.as_str())
    .bind(e.id.as_str())
    .bind(endpoint)
    .bind(e.at_ms)
    .bind(replay_of)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse_events(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::UnsupportedRecord {
        table: "webhook_endpoints",
        detail: format!("events: {e}"),
    })
}

fn events_json(events: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(events).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

impl ServerStore {
    /// Writes `c` (audit entries, idempotent response, events) in a transaction of its own:
    /// for facts the server learns without changing anything else (a key a node disabled).
    pub async fn record(&self, c: &Commit) -> Result<(), StoreError> {
        let tx = self.begin().await?;
        self.finish(tx, c).await
    }

    /// Stores a new endpoint. `NotFound` if the organization does not exist.
    pub async fn create_webhook(&self, w: &EndpointRecord, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )))
        .bind(w.id.as_str())
        .bind(w.org_id.as_str())
        .bind(w.url.as_str())
        .bind(w.description.as_deref())
        .bind(events_json(&w.events)?)
        .bind(i64::from(w.enabled))
        .bind(w.disabled_reason.as_deref())
        .bind(w.secret.as_slice())
        .bind(w.previous_secret.as_deref())
        .bind(w.previous_expires_at_ms)
        .bind(w.failing_since_ms)
        .bind(w.created_at_ms)
        .bind(w.updated_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| missing_parent(e, || format!("organization {}", w.org_id)))?;
        self.finish(tx, c).await
    }

    /// An endpoint of `org_id`.
    pub async fn webhook(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// One page of an organization's endpoints, and how many it has.
    pub async fn list_webhooks(
        &self,
        org_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<EndpointRecord>, i64), StoreError> {
        self.page_of_org(
            "webhook_endpoints",
            ENDPOINT_COLUMNS,
            org_id,
            (page, limit, desc),
            endpoint_from_row,
        )
        .await
    }

    /// Applies `p` to an endpoint of `org_id` and returns it; `NotFound` if there is none.
    pub async fn update_webhook(
        &self,
        org_id: &str,
        id: &str,
        p: &EndpointPatch,
        at_ms: i64,
        c: &Commit,
    ) -> Result<EndpointRecord, StoreError> {
        let mut tx = self.begin().await?;
        let events = p.events.as_deref().map(events_json).transpose()?;
        let (set_description, description) = match &p.description {
            Some(d) => (1_i64, d.as_deref()),
            None => (0, None),
        };
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET \
             url = COALESCE($3, url), \
             description = CASE WHEN $4 = 1 THEN $5 ELSE description END, \
             events = COALESCE($6, events), \
             enabled = COALESCE($7, enabled), \
             disabled_reason = CASE WHEN $7 IS NULL THEN disabled_reason ELSE NULL END, \
             failing_since_ms = CASE WHEN $7 = 1 THEN NULL ELSE failing_since_ms END, \
             updated_at_ms = $8 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(p.url.as_deref())
        .bind(set_description)
        .bind(description)
        .bind(events)
        .bind(p.enabled.map(i64::from))
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        let w = endpoint_in_tx(&mut tx, org_id, id).await?;
        self.finish(tx, c).await?;
        Ok(w)
    }

    /// Replaces an endpoint's secret; the current one becomes the previous one, valid until
    /// `previous_expires_at_ms`.
    pub async fn rotate_webhook_secret(
        &self,
        org_id: &str,
        id: &str,
        secret: &[u8],
        previous_expires_at_ms: i64,
        at_ms: i64,
        c: &Commit,
    ) -> Result<EndpointRecord, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = $3, \
             previous_expires_at_ms = $4, updated_at_ms = $5 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(secret)
        .bind(previous_expires_at_ms)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        let w = endpoint_in_tx(&mut tx, org_id, id).await?;
        self.finish(tx, c).await?;
        Ok(w)
    }

    /// Deletes an endpoint and its deliveries (the events stay); returns it.
    pub async fn delete_webhook(
        &self,
        org_id: &str,
        id: &str,
        c: &Commit,
    ) -> Result<EndpointRecord, StoreError> {
        let mut tx = self.begin().await?;
        let w = endpoint_in_tx(&mut tx, org_id, id).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.finish(tx, c).await?;
        Ok(w)
    }

    /// One page of an endpoint's deliveries (newest or oldest first), optionally only those
    /// in `status`, and how many match.
    pub async fn list_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        status: Option<&str>,
        (page, limit, desc): (u32, u32, bool),
    ) -> Result<(Vec<DeliveryRecord>, i64), StoreError> {
        let paging = Paging::new(page, limit, desc)?;
        let filter = "FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
             WHERE d.org_id = $1 AND d.endpoint_id = $2 AND ($3 IS NULL OR d.status = $3)";
        let base = format!("SELECT {DELIVERY_COLUMNS} {filter}");
        let rows = sqlx::query(paging.sql(&base, &["d.created_at_ms", "d.id"], 4))
            .bind(org_id)
            .bind(endpoint_id)
            .bind(status)
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
            .bind(org_id)
            .bind(endpoint_id)
            .bind(status)
            .fetch_one(&self.db.pool)
            .await?;
        Ok((decode_all(rows, delivery_from_row)?, total))
    }

    /// A delivery of `org_id`.
    pub async fn delivery(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events ev ON ev.id = d.event_id WHERE d.org_id = $1 AND d.id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// Queues a new delivery `new_id` of the event of delivery `of` to the same endpoint
    /// (same event id, same body), due at `at_ms`; returns it.
    pub async fn replay_delivery(
        &self,
        org_id: &str,
        of: &str,
        new_id: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<DeliveryRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT event_id, endpoint_id FROM webhook_deliveries WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(of)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("delivery {of}")))?;
        let event_id: String = row.try_get("event_id")?;
        let endpoint: String = row.try_get("endpoint_id")?;
        let draft = EventDraft {
            id: event_id,
            org_id: org_id.to_owned(),
            event: String::new(),
            body: String::new(),
            dedupe: None,
            only_endpoint: None,
            at_ms,
        };
        insert_delivery(&mut tx, new_id, &draft, &endpoint, Some(of)).await?;
        self.finish(tx, c).await?;
        self.delivery(org_id, new_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("delivery {new_id}")))
    }

    /// Claims up to `max` due deliveries, at most `per_endpoint` in flight per endpoint
    /// (counting live claims of every worker), each with a lease until `lease_until_ms`
    /// and its attempt counted. Only enabled endpoints are served.
    pub async fn claim_deliveries(
        &self,
        now_ms: i64,
        max: i64,
        per_endpoint: i64,
        lease_until_ms: i64,
        lease_token: &str,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if max <= 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let lock = match self.db.backend {
            Backend::Postgres => " FOR UPDATE OF e SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let endpoints: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT e.id FROM webhook_endpoints e WHERE e.enabled = 1 AND EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND {DUE}) \
             LIMIT $2{lock}"
        )))
        .bind(now_ms)
        .bind(max)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for endpoint in endpoints {
            let room = max - claimed.len() as i64;
            if room <= 0 {
                break;
            }
            let in_flight: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 \
                 AND status = 'delivering' AND lease_until_ms > $2",
            )
            .bind(endpoint.as_str())
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
            let take = room.min(per_endpoint - in_flight);
            if take <= 0 {
                continue;
            }
            let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT d.id FROM webhook_deliveries d WHERE d.endpoint_id = $2 AND {DUE} \
                 ORDER BY d.next_attempt_at_ms, d.created_at_ms, d.id LIMIT $3"
            )))
            .bind(now_ms)
            .bind(endpoint.as_str())
            .bind(take)
            .fetch_all(&mut *tx)
            .await?;
            for id in ids {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'delivering', attempts = attempts + 1, \
                     lease_token = $2, lease_until_ms = $3, last_attempt_at_ms = $4, \
                     updated_at_ms = $4 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(lease_token)
                .bind(lease_until_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(
                    "SELECT d.id, d.attempts, d.org_id, d.event_id, ev.event, ev.body, \
                     d.endpoint_id, e.url, e.secret, \
                     CASE WHEN e.previous_expires_at_ms > $2 THEN e.previous_secret END \
                       AS previous_secret \
                     FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
                     JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
                )
                .bind(id.as_str())
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                claimed.push(ClaimedDelivery {
                    id: row.try_get("id")?,
                    lease_token: lease_token.to_owned(),
                    attempt: row.try_get("attempts")?,
                    org_id: row.try_get("org_id")?,
                    event_id: row.try_get("event_id")?,
                    event: row.try_get("event")?,
                    body: row.try_get("body")?,
                    endpoint_id: row.try_get("endpoint_id")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    previous_secret: row.try_get("previous_secret")?,
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records an attempt's outcome, if `lease_token` still holds the delivery (a worker
    /// whose lease lapsed and was re-claimed records nothing; returns `false`). A success
    /// ends the endpoint's failure run; a failure starts or extends it, and an endpoint
    /// failing since `disable_before_ms` or earlier (or told to by the outcome) is disabled
    /// with the audit entry `disabled(endpoint, reason)`, in the same transaction.
    pub async fn record_attempt(
        &self,
        d: &ClaimedDelivery,
        outcome: &AttemptOutcome,
        now_ms: i64,
        disable_before_ms: i64,
        disabled: impl FnOnce(&str) -> AuditDraft + Send,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let (status, next, code, error) = match outcome {
            AttemptOutcome::Succeeded { status } => ("succeeded", now_ms, Some(*status), None),
            AttemptOutcome::Failed {
                status,
                error,
                retry_at_ms,
                ..
            } => match retry_at_ms {
                Some(at) => ("pending", *at, *status, Some(error.as_str())),
                None => ("failed", now_ms, *status, Some(error.as_str())),
            },
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, next_attempt_at_ms = $4, \
             last_status_code = $5, last_error = $6, lease_token = NULL, lease_until_ms = NULL, \
             updated_at_ms = $7 WHERE id = $1 AND lease_token = $2",
        )
        .bind(d.id.as_str())
        .bind(d.lease_token.as_str())
        .bind(status)
        .bind(next)
        .bind(code)
        .bind(error)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        match outcome {
            AttemptOutcome::Succeeded { .. } => {
                sqlx::query("UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = $1")
                    .bind(d.endpoint_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            AttemptOutcome::Failed { disable, .. } => {
                let since: Option<i64> = sqlx::query_scalar(
                    "UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, $2) \
                     WHERE id = $1 AND enabled = 1 RETURNING failing_since_ms",
                )
                .bind(d.endpoint_id.as_str())
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let reason = match (disable, since) {
                    (_, None) => None,
                    (Some(r), Some(_)) => Some(r.clone()),
                    (None, Some(s)) if s <= disable_before_ms => {
                        Some("failing continuously since the disable threshold".to_owned())
                    }
                    (None, Some(_)) => None,
                };
                if let Some(reason) = reason {
                    sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, \
                         updated_at_ms = $3 WHERE id = $1",
                    )
                    .bind(d.endpoint_id.as_str())
                    .bind(reason.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    append_in_tx(&mut tx, &disabled(&reason)).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes finished deliveries last updated before `before_ms`, then the events older
    /// than that with no delivery left. Returns how many deliveries went.
    pub async fn prune_webhooks(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let gone = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status IN ('succeeded', 'failed') \
             AND updated_at_ms < $1",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM webhook_events WHERE created_at_ms < $1 AND dedupe IS NULL \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }

    /// How many events the organization's outbox holds with this name (tests, operators).
    pub async fn count_webhook_events(&self, org_id: &str, event: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE org_id = $1 AND event = $2",
        )
        .bind(org_id)
        .bind(event)
        .fetch_one(&self.db.pool)
        .await?)
    }
}

async fn endpoint_in_tx(tx: &mut Tx, org_id: &str, id: &str) -> Result<EndpointRecord, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2"
    )))
    .bind(org_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("webhook {id}")))?;
    endpoint_from_row(&row)
}

fn endpoint_from_row(row: &AnyRow) -> Result<EndpointRecord, StoreError> {
    Ok(EndpointRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: parse_events(&row.try_get::<String, _>("events")?)?,
        enabled: row.try_get::<i64, _>("enabled")? == 1,
        disabled_reason: row.try_get("disabled_reason")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_expires_at_ms: row.try_get("previous_expires_at_ms")?,
        failing_since_ms: row.try_get("failing_since_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        event_id: row.try_get("event_id")?,
        event: row.try_get("event")?,
        endpoint_id: row.try_get("endpoint_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
        last_attempt_at_ms: row.try_get("last_attempt_at_ms")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        replay_of: row.try_get("replay_of")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}
