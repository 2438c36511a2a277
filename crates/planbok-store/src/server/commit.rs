//! What a mutation writes besides itself: its audit entries, its idempotent response, its
//! webhook events and the mail it owes, in the mutation's own transaction.

use super::audit::append_in_tx;
use super::audit_format::AuditDraft;
use super::mail_outbox::{MailDraft, queue_draft_in_tx};
use super::webhooks::{EventDraft, emit_in_tx};
use super::{Tx, idempotency};
use crate::StoreError;

/// The audit entries and idempotent response that go with one mutation. Exactly-once
/// semantics need all three in one transaction: a retry after a crash then finds either
/// everything (and replays the stored response) or nothing (and runs again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Appended to their chains, in order.
    pub audit: Vec<AuditDraft>,
    /// Completes a `running` idempotency record.
    pub idempotency: Option<IdemDone>,
    /// Webhook events the mutation reports: written to the outbox (and fanned out to the
    /// organization's matching endpoints) in the mutation's own transaction, so an event
    /// is neither lost by a crash after the change nor invented by a rollback.
    pub events: Vec<EventDraft>,
    /// Mail the mutation owes a customer (security notices): queued in the outbox in the
    /// mutation's own transaction, and sent after it commits.
    pub mails: Vec<MailDraft>,
}

/// The response that completes an idempotency record; a repeat of the request gets it
/// back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemDone {
    /// The organization the key belongs to.
    pub org_id: String,
    /// The client's `idempotencyKey`.
    pub key: String,
    /// The HTTP status.
    pub status: u16,
    /// The response body, JSON.
    pub body: String,
}

impl Commit {
    /// A commit that writes nothing besides the mutation.
    pub fn none() -> Commit {
        Commit::default()
    }

    /// One audit entry, no idempotent response.
    pub fn audit(draft: AuditDraft) -> Commit {
        Commit {
            audit: vec![draft],
            idempotency: None,
            events: Vec::new(),
            mails: Vec::new(),
        }
    }

    /// Adds webhook events to the commit.
    pub fn with_events(mut self, events: Vec<EventDraft>) -> Commit {
        self.events.extend(events);
        self
    }

    /// Adds mail to the commit (none when `mail` is `None`).
    pub fn with_mail(mut self, mail: Option<MailDraft>) -> Commit {
        self.mails.extend(mail);
        self
    }
}

/// Writes `c` inside `tx`. The idempotency record first, then the audit entries: the
/// audit heads are the most contended rows (one per organization), so their locks are
/// taken last and held for the shortest time.
pub(super) async fn apply(tx: &mut Tx, c: &Commit) -> Result<(), StoreError> {
    if let Some(done) = &c.idempotency {
        idempotency::complete_in_tx(tx, done).await?;
    }
    for event in &c.events {
        emit_in_tx(tx, event).await?;
    }
    for mail in &c.mails {
        queue_draft_in_tx(tx, mail).await?;
    }
    for draft in &c.audit {
        append_in_tx(tx, draft).await?;
    }
    Ok(())
}
