//! The REST server's database: organizations, members, API keys, wallet sets, wallets,
//! idempotency records, the hash-chained audit trail, the webhook outbox, tokens,
//! transactions and the nonce allocator.
//!
//! The server chooses every id and every timestamp and passes them in; this store
//! invents neither. Every mutation takes a [`Commit`]: the audit entries that describe
//! it and the idempotent response that completes it are written in the same
//! transaction as the mutation, so either all of them happen or none does.
//!
//! Every lookup of an object an organization owns takes the organization's id and never
//! returns another organization's row.

mod access;
mod api_keys;
mod audit;
mod audit_format;
mod audit_verify;
mod commit;
mod customer_recovery;
mod customer_wallets;
mod customers;
mod idempotency;
mod mail_outbox;
mod settings;
mod tokens;
mod transactions;
mod wallets;
mod webhooks;

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::StoreError;
use crate::db::{Backend, Db, Schema, step};

pub use access::{ApiKeyRecord, MemberRecord, OrgRecord};
pub use audit::{AUDIT_RANGE_MAX, AuditQuery};
pub use audit_format::{
    AUDIT_HASH_VERSION, AuditDraft, AuditEntry, GENESIS_HASH, MAX_DETAIL_BYTES, audit_hash,
    audit_hash_input, canonical_json,
};
pub use audit_verify::{ChainFault, ChainReport, ChainVerifier, FaultKind, verify_chain};
pub use commit::{Commit, IdemDone};
pub use customer_wallets::ChallengeTx;
pub use customers::{ChallengeRecord, CustomerRecord, PinEnrollment, RecoveryEnrollment};
pub use idempotency::{IdemBegin, IdemClaim};
pub use mail_outbox::{ClaimedMail, MailDraft, MailKind, MailOutcome};
pub use settings::{Logo, OrgBranding, OrgFlag, OrgSettings};
pub use tokens::TokenRecord;
pub use transactions::{ClaimedTx, TxQuery, TxRecord};
pub use wallets::{WalletQuery, WalletRecord, WalletSetRecord};
pub use webhooks::{
    AttemptOutcome, ClaimedDelivery, DeliveryRecord, EndpointPatch, EndpointRecord, EventDraft,
    delivery_id,
};

/// The server schema, one step per migration, for each backend.
static SERVER_SCHEMA: Schema = Schema {
    history_table: "_planbok_server_migrations",
    steps: &[
        step!("server", 1, "server schema", "0001_server_schema.sql"),
        step!(
            "server",
            3,
            "organization settings",
            "0003_org_settings.sql"
        ),
        step!("server", 4, "webhooks", "0004_webhooks.sql"),
        step!("server", 5, "node pairs", "0005_node_pairs.sql"),
        step!("server", 6, "transactions", "0006_transactions.sql"),
        step!("server", 7, "customers", "0007_customers.sql"),
        step!("server", 8, "customer wallets", "0008_customer_wallets.sql"),
        step!(
            "server",
            9,
            "customer recovery",
            "0009_customer_recovery.sql"
        ),
        step!(
            "server",
            10,
            "transactions: contracts, NFTs, replacements",
            "0010_transactions_2.sql"
        ),
        step!("server", 11, "email recovery", "0011_email_recovery.sql"),
        step!(
            "server",
            12,
            "customer transactions",
            "0012_customer_transactions.sql"
        ),
        step!(
            "server",
            13,
            "branding and security notices",
            "0013_branding_notices.sql"
        ),
    ],
};

/// The largest page a list returns.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// The REST server's database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct ServerStore {
    db: Db,
}

/// A write transaction.
type Tx = Transaction<'static, Any>;

impl ServerStore {
    /// Connects to `url` (`sqlite:///path/server.db`, `sqlite::memory:`, `postgres://...`)
    /// and applies any migrations not yet applied. See `NodeStore::connect` about the
    /// `Any` drivers.
    pub async fn connect(url: &str) -> Result<ServerStore, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`ServerStore::connect`], logging in as short-lived users from OpenBao when given.
    pub async fn connect_with(
        url: &str,
        openbao: Option<&crate::OpenBaoDatabase>,
    ) -> Result<ServerStore, StoreError> {
        Ok(ServerStore {
            db: Db::connect(url, &SERVER_SCHEMA, openbao).await?,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.db.backend.as_str()
    }

    /// The backend as a value.
    pub fn backend_kind(&self) -> Backend {
        self.db.backend
    }

    /// Begins a write transaction.
    async fn begin(&self) -> Result<Tx, StoreError> {
        self.db.begin_write().await
    }

    /// Applies `c` inside `tx` and commits. Dropping `tx` on an error rolls everything
    /// back, the mutation included.
    async fn finish(&self, mut tx: Tx, c: &Commit) -> Result<(), StoreError> {
        commit::apply(&mut tx, c).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One page of a list: which rows, in which order.
#[derive(Debug, Clone, Copy)]
struct Paging {
    limit: i64,
    offset: i64,
    desc: bool,
}

impl Paging {
    /// `page` counts from 1; `limit` is 1 to `MAX_PAGE_LIMIT`.
    fn new(page: u32, limit: u32, desc: bool) -> Result<Paging, StoreError> {
        if page == 0 {
            return Err(StoreError::InvalidInput("page counts from 1".into()));
        }
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(StoreError::InvalidInput(format!(
                "limit {limit}: expected 1 to {MAX_PAGE_LIMIT}"
            )));
        }
        Ok(Paging {
            limit: i64::from(limit),
            offset: (i64::from(page) - 1) * i64::from(limit),
            desc,
        })
    }

    /// `base ORDER BY <cols, each ASC or DESC> LIMIT $<n> OFFSET $<n+1>`. Only the
    /// direction keyword and the parameter numbers are spliced in, never caller text;
    /// the limit and offset are bound as `$n` and `$n+1`.
    fn sql(&self, base: &str, order: &[&str], n: u8) -> AssertSqlSafe<String> {
        let dir = if self.desc { "DESC" } else { "ASC" };
        let order: Vec<String> = order.iter().map(|c| format!("{c} {dir}")).collect();
        AssertSqlSafe(format!(
            "{base} ORDER BY {} LIMIT ${n} OFFSET ${}",
            order.join(", "),
            n + 1
        ))
    }
}

impl ServerStore {
    /// One page of the rows of `table` that belong to `org_id`, oldest or newest first by
    /// creation time, and how many there are. `table` and `columns` are the callers'
    /// constants, never request text.
    async fn page_of_org<T>(
        &self,
        table: &'static str,
        columns: &'static str,
        org_id: &str,
        (page, limit, desc): (u32, u32, bool),
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, i64), StoreError> {
        let paging = Paging::new(page, limit, desc)?;
        let base = format!("SELECT {columns} FROM {table} WHERE org_id = $1");
        let rows = sqlx::query(paging.sql(&base, &["created_at_ms", "id"], 2))
            .bind(org_id)
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE org_id = $1"
        )))
        .bind(org_id)
        .fetch_one(&self.db.pool)
        .await?;
        Ok((decode_all(rows, decode)?, total))
    }
}

/// Decodes every row, stopping at the first error.
fn decode_all<T>(
    rows: Vec<AnyRow>,
    decode: fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

/// Turns a foreign-key violation into `NotFound(what)`: the row it points to (an
/// organization, a wallet set) does not exist, or belongs to another organization.
fn missing_parent(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what()),
        _ => StoreError::from(e),
    }
}
