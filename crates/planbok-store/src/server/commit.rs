//! What a mutation writes besides itself: its audit entries and its idempotent response,
//! in the mutation's own transaction.

use super::audit::append_in_tx;
use super::audit_format::AuditDraft;
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
        }
    }
}

/// Writes `c` inside `tx`. The idempotency record first, then the audit entries: the
/// audit heads are the most contended rows (one per organization), so their locks are
/// taken last and held for the shortest time.
pub(super) async fn apply(tx: &mut Tx, c: &Commit) -> Result<(), StoreError> {
    if let Some(done) = &c.idempotency {
        idempotency::complete_in_tx(tx, done).await?;
    }
    for draft in &c.audit {
        append_in_tx(tx, draft).await?;
    }
    Ok(())
}
