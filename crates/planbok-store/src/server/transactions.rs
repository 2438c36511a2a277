//! Transactions, the nonce allocator and the tracker's claims (`docs/transactions.md`).
//!
//! A nonce is taken under a lease on its (chain, address) row and becomes used only in
//! the transaction that stores the signed transaction carrying it ([`ServerStore::
//! insert_transaction`]): a transfer that fails or dies before that leaves `next_nonce`
//! where it was, so nothing is skipped, and the unique (chain, address, nonce) key means
//! nothing is given twice.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use super::{Commit, Paging, ServerStore, Tx, decode_all, missing_parent};
use crate::StoreError;
use crate::db::Backend;

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// UUID chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The sending wallet.
    pub wallet_id: String,
    /// Chain id.
    pub blockchain: String,
    /// `TRANSFER`, `CONTRACT_EXECUTION`, `CANCEL`.
    pub operation: String,
    /// `signed`, `broadcast`, `confirmed`, `failed`, `cancelled`.
    pub status: String,
    /// The sending address.
    pub source_address: String,
    /// The recipient as the client gave it.
    pub destination_address: String,
    /// The token.
    pub token_id: String,
    /// Decimal amounts.
    pub amounts: Vec<String>,
    /// `low`, `medium`, `high`.
    pub fee_level: String,
    /// The sender's nonce.
    pub nonce: i64,
    /// Decimal.
    pub gas_limit: String,
    /// Wei, decimal.
    pub max_fee_per_gas: String,
    /// Wei, decimal.
    pub max_priority_fee_per_gas: String,
    /// `0x`-hex of the signed transaction (EIP-2718): what every broadcast sends.
    pub raw_tx: String,
    /// `0x`-hex Keccak-256 of `raw_tx`.
    pub tx_hash: String,
    /// Native coin, decimal.
    pub network_fee: Option<String>,
    /// The block holding it.
    pub block_number: Option<i64>,
    /// That block's hash (a reorg changes it).
    pub block_hash: Option<String>,
    /// Blocks on top of and including its block.
    pub confirmations: Option<i64>,
    /// Why it failed.
    pub error_reason: Option<String>,
    /// The client's reference.
    pub ref_id: Option<String>,
    /// How many times it was sent to the RPC.
    pub broadcasts: i64,
    /// The last time it was sent.
    pub last_broadcast_at_ms: Option<i64>,
    /// When the tracker looks at it next.
    pub next_check_at_ms: i64,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
    /// The transaction this one replaces (cancel, accelerate): the same nonce.
    pub replaces: Option<String>,
    /// The transaction that replaced this one.
    pub replaced_by: Option<String>,
    /// Contract execution: the function, as the client gave it.
    pub abi_function_signature: Option<String>,
    /// Contract execution: the parameters, JSON as the client gave them.
    pub abi_parameters: Option<String>,
    /// NFT transfers: the token ids, decimal.
    pub nft_token_ids: Option<Vec<String>>,
}

/// A claimed transaction: the record and the lease that owns it.
#[derive(Debug, Clone)]
pub struct ClaimedTx {
    /// The record.
    pub tx: TxRecord,
    /// The claim's token.
    pub lease_token: String,
}

/// The filters of a transaction list.
#[derive(Debug, Clone, Default)]
pub struct TxQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only these wallets (none: every wallet).
    pub wallet_ids: Vec<String>,
    /// Only this chain.
    pub blockchain: Option<String>,
    /// Only this operation.
    pub operation: Option<String>,
    /// Only this reference.
    pub ref_id: Option<String>,
    /// Only this hash (lowercase).
    pub tx_hash: Option<String>,
    /// Only to this address (case-insensitive).
    pub destination_address: Option<String>,
    /// 1-based.
    pub page: u32,
    /// 1 to `MAX_PAGE_LIMIT`.
    pub limit: u32,
    /// Newest first.
    pub desc: bool,
}

const COLUMNS: &str = "id, org_id, wallet_id, blockchain, operation, status, source_address, \
     destination_address, token_id, amounts, fee_level, nonce, gas_limit, max_fee_per_gas, \
     max_priority_fee_per_gas, raw_tx, tx_hash, network_fee, block_number, block_hash, \
     confirmations, error_reason, ref_id, broadcasts, last_broadcast_at_ms, next_check_at_ms, \
     created_at_ms, updated_at_ms, replaces, replaced_by, abi_function_signature, \
     abi_parameters, nft_token_ids";

fn from_row(row: &AnyRow) -> Result<TxRecord, StoreError> {
    let amounts: String = row.try_get("amounts")?;
    let nft: Option<String> = row.try_get("nft_token_ids")?;
    Ok(TxRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        wallet_id: row.try_get("wallet_id")?,
        blockchain: row.try_get("blockchain")?,
        operation: row.try_get("operation")?,
        status: row.try_get("status")?,
        source_address: row.try_get("source_address")?,
        destination_address: row.try_get("destination_address")?,
        token_id: row.try_get("token_id")?,
        amounts: serde_json::from_str(&amounts)
            .map_err(|e| StoreError::InvalidInput(format!("stored amounts: {e}")))?,
        fee_level: row.try_get("fee_level")?,
        nonce: row.try_get("nonce")?,
        gas_limit: row.try_get("gas_limit")?,
        max_fee_per_gas: row.try_get("max_fee_per_gas")?,
        max_priority_fee_per_gas: row.try_get("max_priority_fee_per_gas")?,
        raw_tx: row.try_get("raw_tx")?,
        tx_hash: row.try_get("tx_hash")?,
        network_fee: row.try_get("network_fee")?,
        block_number: row.try_get("block_number")?,
        block_hash: row.try_get("block_hash")?,
        confirmations: row.try_get("confirmations")?,
        error_reason: row.try_get("error_reason")?,
        ref_id: row.try_get("ref_id")?,
        broadcasts: row.try_get("broadcasts")?,
        last_broadcast_at_ms: row.try_get("last_broadcast_at_ms")?,
        next_check_at_ms: row.try_get("next_check_at_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        replaces: row.try_get("replaces")?,
        replaced_by: row.try_get("replaced_by")?,
        abi_function_signature: row.try_get("abi_function_signature")?,
        abi_parameters: row.try_get("abi_parameters")?,
        nft_token_ids: nft
            .map(|n| serde_json::from_str(&n))
            .transpose()
            .map_err(|e| StoreError::InvalidInput(format!("stored nft_token_ids: {e}")))?,
    })
}

/// A new transaction, stored, and its nonce used under the lease `token` (a lapsed and
/// retaken lease is a `Conflict`).
pub(super) async fn insert_leased(
    tx: &mut Tx,
    t: &TxRecord,
    token: &str,
) -> Result<(), StoreError> {
    let moved = sqlx::query(
        "UPDATE tx_nonces SET next_nonce = $3, lease_token = NULL, lease_until_ms = NULL \
         WHERE blockchain = $1 AND address = $2 AND lease_token = $4 AND next_nonce <= $5",
    )
    .bind(t.blockchain.as_str())
    .bind(t.source_address.as_str())
    .bind(t.nonce + 1)
    .bind(token)
    .bind(t.nonce)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved != 1 {
        return Err(StoreError::Conflict(
            "the nonce lease lapsed before the transaction was stored".into(),
        ));
    }
    insert_row(tx, t).await
}

/// A replacement of `original`, stored, only while `original` is pending and not replaced
/// yet (else a `Conflict`).
pub(super) async fn insert_replacing(
    tx: &mut Tx,
    t: &TxRecord,
    original: &str,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE transactions SET replaced_by = $2, updated_at_ms = $3 \
         WHERE id = $1 AND org_id = $4 AND replaced_by IS NULL \
         AND status IN ('signed', 'broadcast') AND nonce = $5",
    )
    .bind(original)
    .bind(t.id.as_str())
    .bind(t.created_at_ms)
    .bind(t.org_id.as_str())
    .bind(t.nonce)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(StoreError::Conflict(format!(
            "transaction {original} is no longer pending, or was replaced meanwhile"
        )));
    }
    insert_row(tx, t).await
}

impl ServerStore {
    /// Takes the nonce lease of (`blockchain`, `address`) for `token` until
    /// `lease_until_ms`: the next unused nonce, or `None` while another holder's lease is
    /// live. The row starts at 0.
    pub async fn lease_nonce(
        &self,
        blockchain: &str,
        address: &str,
        token: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tx_nonces (blockchain, address, next_nonce) VALUES ($1, $2, 0) \
             ON CONFLICT (blockchain, address) DO NOTHING",
        )
        .bind(blockchain)
        .bind(address)
        .execute(&mut *tx)
        .await?;
        let taken = sqlx::query(
            "UPDATE tx_nonces SET lease_token = $3, lease_until_ms = $4 \
             WHERE blockchain = $1 AND address = $2 \
             AND (lease_token IS NULL OR lease_until_ms < $5)",
        )
        .bind(blockchain)
        .bind(address)
        .bind(token)
        .bind(lease_until_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken != 1 {
            return Ok(None);
        }
        let next: i64 = sqlx::query_scalar(
            "SELECT next_nonce FROM tx_nonces WHERE blockchain = $1 AND address = $2",
        )
        .bind(blockchain)
        .bind(address)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    /// Gives the lease back without using a nonce (the transfer failed before its commit).
    pub async fn release_nonce(
        &self,
        blockchain: &str,
        address: &str,
        token: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tx_nonces SET lease_token = NULL, lease_until_ms = NULL \
             WHERE blockchain = $1 AND address = $2 AND lease_token = $3",
        )
        .bind(blockchain)
        .bind(address)
        .bind(token)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Stores a signed transaction and uses its nonce, under the lease `token` (a lapsed
    /// and retaken lease is a `Conflict`, and nothing is written), with `c`.
    pub async fn insert_transaction(
        &self,
        t: &TxRecord,
        token: &str,
        c: &Commit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_leased(&mut tx, t, token).await?;
        self.finish(tx, c).await
    }

    /// Stores `t`, a replacement of `t.replaces` (cancel, accelerate: the same nonce),
    /// with `c`, only if that transaction is still pending (`signed` or `broadcast`) and not
    /// replaced yet: otherwise a `Conflict`, and nothing is written. The nonce allocator is
    /// not touched (the nonce is already used).
    pub async fn insert_replacement(&self, t: &TxRecord, c: &Commit) -> Result<(), StoreError> {
        let original = t
            .replaces
            .as_deref()
            .ok_or_else(|| StoreError::InvalidInput("a replacement names its original".into()))?;
        let mut tx = self.begin().await?;
        insert_replacing(&mut tx, t, original).await?;
        self.finish(tx, c).await
    }

    /// Every transaction of (`blockchain`, `address`) with `nonce`: a first transaction and
    /// its replacements, oldest first.
    pub async fn nonce_family(
        &self,
        blockchain: &str,
        address: &str,
        nonce: i64,
    ) -> Result<Vec<TxRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transactions WHERE blockchain = $1 AND source_address = $2 \
             AND nonce = $3 ORDER BY created_at_ms, id"
        )))
        .bind(blockchain)
        .bind(address)
        .bind(nonce)
        .fetch_all(&self.db.pool)
        .await?;
        decode_all(rows, from_row)
    }

    /// A transaction of `org_id`.
    pub async fn transaction(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<TxRecord>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transactions WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One page of `org_id`'s transactions matching `q`, and how many match.
    pub async fn list_transactions(
        &self,
        org_id: &str,
        q: &TxQuery,
    ) -> Result<(Vec<TxRecord>, i64), StoreError> {
        let paging = Paging::new(q.page, q.limit, q.desc)?;
        // Only placeholders are spliced in; every value is bound.
        let mut filter = String::from("org_id = $1");
        let mut binds: Vec<String> = vec![org_id.to_owned()];
        let mut add = |sql: &str, v: &str, binds: &mut Vec<String>| {
            binds.push(v.to_owned());
            filter.push_str(&format!(" AND {sql}${}", binds.len()));
        };
        if let Some(v) = &q.status {
            add("status = ", v, &mut binds);
        }
        if let Some(v) = &q.blockchain {
            add("blockchain = ", v, &mut binds);
        }
        if let Some(v) = &q.operation {
            add("operation = ", v, &mut binds);
        }
        if let Some(v) = &q.ref_id {
            add("ref_id = ", v, &mut binds);
        }
        if let Some(v) = &q.tx_hash {
            add("tx_hash = ", &v.to_ascii_lowercase(), &mut binds);
        }
        if let Some(v) = &q.destination_address {
            add(
                "LOWER(destination_address) = ",
                &v.to_ascii_lowercase(),
                &mut binds,
            );
        }
        if !q.wallet_ids.is_empty() {
            let mut marks = Vec::new();
            for w in &q.wallet_ids {
                binds.push(w.clone());
                marks.push(format!("${}", binds.len()));
            }
            filter.push_str(&format!(" AND wallet_id IN ({})", marks.join(", ")));
        }
        let n = u8::try_from(binds.len() + 1)
            .map_err(|_| StoreError::InvalidInput("too many filters".into()))?;
        let base = format!("SELECT {COLUMNS} FROM transactions WHERE {filter}");
        let sql = paging.sql(&base, &["created_at_ms", "id"], n);
        let mut query = sqlx::query(sql);
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let rows = query
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let count_sql = AssertSqlSafe(format!("SELECT COUNT(*) FROM transactions WHERE {filter}"));
        let mut count = sqlx::query_scalar::<_, i64>(count_sql);
        for b in &binds {
            count = count.bind(b.as_str());
        }
        let total: i64 = count.fetch_one(&self.db.pool).await?;
        Ok((decode_all(rows, from_row)?, total))
    }

    /// Claims up to `max` transactions the tracker must look at (`signed` or `broadcast`,
    /// due, not leased), leasing them to `token` until `lease_until_ms`. On PostgreSQL,
    /// rows another replica is claiming are skipped (`FOR UPDATE SKIP LOCKED`); SQLite has
    /// one writer.
    pub async fn claim_transactions(
        &self,
        now_ms: i64,
        max: i64,
        lease_until_ms: i64,
        token: &str,
    ) -> Result<Vec<ClaimedTx>, StoreError> {
        let mut tx = self.begin().await?;
        let lock = match self.db.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM transactions WHERE status IN ('signed', 'broadcast') \
             AND next_check_at_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms < $1) \
             ORDER BY next_check_at_ms, nonce LIMIT $2{lock}"
        )))
        .bind(now_ms)
        .bind(max)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query(
                "UPDATE transactions SET lease_token = $2, lease_until_ms = $3 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(token)
            .bind(lease_until_ms)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM transactions WHERE id = $1"
            )))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            out.push(ClaimedTx {
                tx: from_row(&row)?,
                lease_token: token.to_owned(),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records what the tracker learned of a claimed transaction (`t`'s progress fields),
    /// releases the lease, and writes `c` (its events), all only if `lease_token` still
    /// owns the row: `false` (nothing written) when another claim took it over.
    pub async fn record_progress(
        &self,
        t: &TxRecord,
        lease_token: &str,
        c: &Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE transactions SET status = $3, network_fee = $4, block_number = $5, \
             block_hash = $6, confirmations = $7, error_reason = $8, broadcasts = $9, \
             last_broadcast_at_ms = $10, next_check_at_ms = $11, updated_at_ms = $12, \
             lease_token = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_token = $2",
        )
        .bind(t.id.as_str())
        .bind(lease_token)
        .bind(t.status.as_str())
        .bind(t.network_fee.as_deref())
        .bind(t.block_number)
        .bind(t.block_hash.as_deref())
        .bind(t.confirmations)
        .bind(t.error_reason.as_deref())
        .bind(t.broadcasts)
        .bind(t.last_broadcast_at_ms)
        .bind(t.next_check_at_ms)
        .bind(t.updated_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        self.finish(tx, c).await?;
        Ok(true)
    }
}

/// Inserts `t` in `tx`.
async fn insert_row(tx: &mut Tx, t: &TxRecord) -> Result<(), StoreError> {
    let amounts =
        serde_json::to_string(&t.amounts).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let nft = t
        .nft_token_ids
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO transactions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
         $26, $27, $28, $29, $30, $31, $32, $33)"
    )))
    .bind(t.id.as_str())
    .bind(t.org_id.as_str())
    .bind(t.wallet_id.as_str())
    .bind(t.blockchain.as_str())
    .bind(t.operation.as_str())
    .bind(t.status.as_str())
    .bind(t.source_address.as_str())
    .bind(t.destination_address.as_str())
    .bind(t.token_id.as_str())
    .bind(amounts)
    .bind(t.fee_level.as_str())
    .bind(t.nonce)
    .bind(t.gas_limit.as_str())
    .bind(t.max_fee_per_gas.as_str())
    .bind(t.max_priority_fee_per_gas.as_str())
    .bind(t.raw_tx.as_str())
    .bind(t.tx_hash.as_str())
    .bind(t.network_fee.as_deref())
    .bind(t.block_number)
    .bind(t.block_hash.as_deref())
    .bind(t.confirmations)
    .bind(t.error_reason.as_deref())
    .bind(t.ref_id.as_deref())
    .bind(t.broadcasts)
    .bind(t.last_broadcast_at_ms)
    .bind(t.next_check_at_ms)
    .bind(t.created_at_ms)
    .bind(t.updated_at_ms)
    .bind(t.replaces.as_deref())
    .bind(t.replaced_by.as_deref())
    .bind(t.abi_function_signature.as_deref())
    .bind(t.abi_parameters.as_deref())
    .bind(nft)
    .execute(&mut **tx)
    .await
    .map_err(|e| missing_parent(e, || format!("wallet {}", t.wallet_id)))?;
    Ok(())
}
