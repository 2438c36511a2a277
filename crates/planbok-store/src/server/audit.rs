//! The audit trail in the database: appending under concurrency, listing, export ranges,
//! verification of the stored chains.
//!
//! An append first bumps the chain's row in `audit_heads` (`UPDATE ... RETURNING`), which
//! takes the database's write lock on SQLite and the row's lock on PostgreSQL, so appends
//! to one chain serialize there: no duplicate seq, no fork. The entry is computed from
//! the returned (seq, previous hash), inserted, and the head's hash set, all before the
//! transaction commits. The tables' triggers refuse UPDATE and DELETE of entries.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit_format::{AUDIT_HASH_VERSION, AuditDraft, AuditEntry, GENESIS_HASH, check_draft};
use super::audit_verify::{ChainReport, ChainVerifier};
use super::{Paging, ServerStore, Tx, decode_all};
use crate::StoreError;

/// The most entries one `audit_range` call returns; page on from the last seq + 1.
pub const AUDIT_RANGE_MAX: i64 = 1000;

/// A page of one chain's entries, filtered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The organization id, or `"system"`.
    pub chain: String,
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only entries at or after this time (unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Only entries at or before this time (unix ms, inclusive).
    pub to_ms: Option<i64>,
    /// 1-based.
    pub page: u32,
    /// Entries per page, 1 to `MAX_PAGE_LIMIT`.
    pub limit: u32,
    /// Newest first (by seq).
    pub desc: bool,
}

impl AuditQuery {
    /// The first page of `chain`, oldest first, `limit` entries, unfiltered.
    pub fn first_page(chain: &str, limit: u32) -> AuditQuery {
        AuditQuery {
            chain: chain.to_owned(),
            action: None,
            actor: None,
            from_ms: None,
            to_ms: None,
            page: 1,
            limit,
            desc: false,
        }
    }
}

const ENTRY_COLUMNS: &str = "chain, seq, version, prev_hash, hash, at_ms, actor, api_key_id, ip, \
     user_agent, action, target, outcome, request_id, detail";

const FILTER: &str = "FROM audit_entries WHERE chain = $1 \
     AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR actor = $3) \
     AND ($4 IS NULL OR at_ms >= $4) AND ($5 IS NULL OR at_ms <= $5)";

/// Appends `draft` to its chain inside `tx`; see the module docs.
pub(super) async fn append_in_tx(
    tx: &mut Tx,
    draft: &AuditDraft,
) -> Result<AuditEntry, StoreError> {
    let detail = check_draft(draft)?;
    let head = match bump_head(tx, &draft.chain).await? {
        Some(head) => head,
        None => {
            // The chain's first entry. Of concurrent first appends, one inserts the head
            // and the others wait for it (PostgreSQL) or for the write lock (SQLite).
            sqlx::query(
                "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (chain) DO NOTHING",
            )
            .bind(draft.chain.as_str())
            .bind(GENESIS_HASH)
            .execute(&mut **tx)
            .await?;
            bump_head(tx, &draft.chain)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("audit head of {}", draft.chain)))?
        }
    };
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let entry = AuditEntry::from_draft(draft.clone(), seq, prev_hash);
    sqlx::query(
        "INSERT INTO audit_entries (chain, seq, version, prev_hash, hash, at_ms, actor, \
         api_key_id, ip, user_agent, action, target, outcome, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(entry.chain.as_str())
    .bind(entry.seq)
    .bind(i64::from(entry.version))
    .bind(entry.prev_hash.as_str())
    .bind(entry.hash.as_str())
    .bind(entry.at_ms)
    .bind(entry.actor.as_str())
    .bind(entry.api_key_id.as_deref())
    .bind(entry.ip.as_deref())
    .bind(entry.user_agent.as_deref())
    .bind(entry.action.as_str())
    .bind(entry.target.as_deref())
    .bind(entry.outcome.as_str())
    .bind(entry.request_id.as_str())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $1 WHERE chain = $2")
        .bind(entry.hash.as_str())
        .bind(entry.chain.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(entry)
}

/// Takes the next seq of `chain` (locking its head row until the transaction ends) and
/// returns the head's row; `None` if the chain has no head yet.
async fn bump_head(tx: &mut Tx, chain: &str) -> Result<Option<AnyRow>, StoreError> {
    Ok(
        sqlx::query("UPDATE audit_heads SET seq = seq + 1 WHERE chain = $1 RETURNING seq, hash")
            .bind(chain)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

impl ServerStore {
    /// Appends one entry in its own transaction (for events with no other mutation:
    /// a denied request, a signature). Returns it with its seq and hashes.
    pub async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry, StoreError> {
        let mut tx = self.begin().await?;
        let entry = append_in_tx(&mut tx, &draft).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// One page of a chain, filtered, with the total number of matching entries.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        let paging = Paging::new(q.page, q.limit, q.desc)?;
        let base = format!("SELECT {ENTRY_COLUMNS} {FILTER}");
        let rows = sqlx::query(paging.sql(&base, &["seq"], 6))
            .bind(q.chain.as_str())
            .bind(q.action.as_deref())
            .bind(q.actor.as_deref())
            .bind(q.from_ms)
            .bind(q.to_ms)
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {FILTER}")))
                .bind(q.chain.as_str())
                .bind(q.action.as_deref())
                .bind(q.actor.as_deref())
                .bind(q.from_ms)
                .bind(q.to_ms)
                .fetch_one(&self.db.pool)
                .await?;
        Ok((decode_all(rows, entry_from_row)?, total))
    }

    /// Entries `from_seq..=to_seq` of a chain (to the end if `None`), in seq order, at most
    /// `AUDIT_RANGE_MAX` of them: an export pages on from the last seq returned + 1.
    pub async fn audit_range(
        &self,
        chain: &str,
        from_seq: i64,
        to_seq: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT chain, seq, version, prev_hash, hash, at_ms, actor, api_key_id, ip, \
             user_agent, action, target, outcome, request_id, detail \
             FROM audit_entries WHERE chain = $1 AND seq >= $2 AND ($3 IS NULL OR seq <= $3) \
             ORDER BY seq ASC LIMIT $4",
        )
        .bind(chain)
        .bind(from_seq)
        .bind(to_seq)
        .bind(AUDIT_RANGE_MAX)
        .fetch_all(&self.db.pool)
        .await?;
        decode_all(rows, entry_from_row)
    }

    /// The chain's last `(seq, hash)`; `None` if nothing was ever appended to it.
    pub async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_heads WHERE chain = $1 AND seq > 0")
            .bind(chain)
            .fetch_optional(&self.db.pool)
            .await?;
        row.map(|row| Ok((row.try_get("seq")?, row.try_get("hash")?)))
            .transpose()
    }

    /// Every chain that has a head or an entry, sorted. (Both tables, so that a deleted
    /// head row cannot hide a chain from `verify_audit`.)
    pub async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        let chains = sqlx::query_scalar(
            "SELECT chain FROM audit_heads UNION SELECT chain FROM audit_entries ORDER BY chain",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(chains)
    }

    /// Verifies one chain, or every chain, against its head. The head is read first and
    /// entries up to it are checked, so appends running meanwhile are not faults.
    pub async fn verify_audit(
        &self,
        chain: Option<&str>,
    ) -> Result<Vec<(String, ChainReport)>, StoreError> {
        let chains = match chain {
            Some(chain) => vec![chain.to_owned()],
            None => self.audit_chains().await?,
        };
        let mut reports = Vec::with_capacity(chains.len());
        for chain in chains {
            let report = self.verify_one(&chain).await?;
            reports.push((chain, report));
        }
        Ok(reports)
    }

    async fn verify_one(&self, chain: &str) -> Result<ChainReport, StoreError> {
        let head = self.audit_head(chain).await?;
        let to_seq = head.as_ref().map(|(seq, _)| *seq);
        let mut verifier = ChainVerifier::new();
        let mut from_seq = 1;
        loop {
            let page = self.audit_range(chain, from_seq, to_seq).await?;
            let Some(last) = page.last() else { break };
            from_seq = last.seq.saturating_add(1);
            let full = page.len() as i64 == AUDIT_RANGE_MAX;
            for entry in &page {
                verifier.push(entry);
            }
            if !full {
                break;
            }
        }
        Ok(verifier.finish(head))
    }
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let unsupported = |detail: String| StoreError::UnsupportedRecord {
        table: "audit_entries",
        detail,
    };
    let version: i64 = row.try_get("version")?;
    let version = u8::try_from(version)
        .ok()
        .filter(|v| *v == AUDIT_HASH_VERSION)
        .ok_or_else(|| unsupported(format!("hash format version {version}")))?;
    let detail: String = row.try_get("detail")?;
    let detail = serde_json::from_str(&detail)
        .map_err(|e| unsupported(format!("detail is not JSON: {e}")))?;
    Ok(AuditEntry {
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        version,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        at_ms: row.try_get("at_ms")?,
        actor: row.try_get("actor")?,
        api_key_id: row.try_get("api_key_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        request_id: row.try_get("request_id")?,
        detail,
    })
}
