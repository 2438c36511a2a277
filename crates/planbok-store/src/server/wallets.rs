//! Wallet sets (one master key per curve) and their wallets.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::commit::Commit;
use super::{Paging, ServerStore, decode_all, missing_parent};
use crate::StoreError;

/// A wallet set: the master keys its wallets derive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSetRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// The custody type, as the API names it.
    pub custody_type: String,
    /// `"cggmp"` or `"dkls23"`.
    pub ecdsa_protocol: String,
    /// The secp256k1 master key's id at the nodes.
    pub secp_key_id: String,
    /// 33 bytes, compressed.
    pub secp_public_key: Vec<u8>,
    /// 32 bytes, BIP-32.
    pub secp_chain_code: Vec<u8>,
    /// The ed25519 master key's id at the nodes.
    pub ed_key_id: String,
    /// 32 bytes.
    pub ed_public_key: Vec<u8>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

/// A wallet: one address on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletRecord {
    /// Chosen by the server.
    pub id: String,
    /// The organization (the same as its wallet set's).
    pub org_id: String,
    /// The wallet set.
    pub wallet_set_id: String,
    /// `ETH`, `SOL`, …
    pub blockchain: String,
    /// The chain's address format.
    pub address: String,
    /// The (derived) public key.
    pub public_key: Vec<u8>,
    /// The MPC key that signs for it.
    pub key_id: String,
    /// E.g. `m/44/60/0/7`.
    pub derivation_path: String,
    /// The index reserved with `reserve_indices`.
    pub hd_index: i64,
    /// The client's reference.
    pub ref_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// `"LIVE"`.
    pub state: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
}

/// A filtered page of an organization's wallets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletQuery {
    /// Only wallets of this set.
    pub wallet_set_id: Option<String>,
    /// Only this chain.
    pub blockchain: Option<String>,
    /// Only this address (exact match).
    pub address: Option<String>,
    /// Only this reference.
    pub ref_id: Option<String>,
    /// 1-based.
    pub page: u32,
    /// 1 to `MAX_PAGE_LIMIT`.
    pub limit: u32,
    /// Newest first.
    pub desc: bool,
}

pub(super) const SET_COLUMNS: &str = "id, org_id, name, custody_type, ecdsa_protocol, secp_key_id, \
     secp_public_key, secp_chain_code, ed_key_id, ed_public_key, created_at_ms, updated_at_ms";

const WALLET_COLUMNS: &str = "id, org_id, wallet_set_id, blockchain, address, public_key, \
     key_id, derivation_path, hd_index, ref_id, name, state, created_at_ms, updated_at_ms";

const WALLET_FILTER: &str = "FROM wallets WHERE org_id = $1 \
     AND ($2 IS NULL OR wallet_set_id = $2) AND ($3 IS NULL OR blockchain = $3) \
     AND ($4 IS NULL OR address = $4) AND ($5 IS NULL OR ref_id = $5)";

fn check_set(s: &WalletSetRecord) -> Result<(), StoreError> {
    let lengths = [
        ("secp_public_key", s.secp_public_key.len(), 33),
        ("secp_chain_code", s.secp_chain_code.len(), 32),
        ("ed_public_key", s.ed_public_key.len(), 32),
    ];
    for (field, len, want) in lengths {
        if len != want {
            return Err(StoreError::InvalidInput(format!(
                "{field} is {len} bytes, not {want}"
            )));
        }
    }
    if !matches!(s.ecdsa_protocol.as_str(), "cggmp" | "dkls23") {
        return Err(StoreError::InvalidInput(format!(
            "ecdsa protocol {:?}: expected cggmp or dkls23",
            s.ecdsa_protocol
        )));
    }
    Ok(())
}

impl ServerStore {
    // ---- Wallet sets ----------------------------------------------------------------

    /// Stores a wallet set (its next HD index starts at 0). `Conflict` if the id exists,
    /// `NotFound` if the organization does not.
    pub async fn create_wallet_set(
        &self,
        s: &WalletSetRecord,
        c: &Commit,
    ) -> Result<(), StoreError> {
        check_set(s)?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO wallet_sets (id, org_id, name, custody_type, ecdsa_protocol, \
             secp_key_id, secp_public_key, secp_chain_code, ed_key_id, ed_public_key, \
             next_index, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12)",
        )
        .bind(s.id.as_str())
        .bind(s.org_id.as_str())
        .bind(s.name.as_str())
        .bind(s.custody_type.as_str())
        .bind(s.ecdsa_protocol.as_str())
        .bind(s.secp_key_id.as_str())
        .bind(s.secp_public_key.as_slice())
        .bind(s.secp_chain_code.as_slice())
        .bind(s.ed_key_id.as_str())
        .bind(s.ed_public_key.as_slice())
        .bind(s.created_at_ms)
        .bind(s.updated_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| missing_parent(e, || format!("organization {}", s.org_id)))?;
        self.finish(tx, c).await
    }

    /// A wallet set of `org_id`.
    pub async fn wallet_set(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<WalletSetRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM wallet_sets WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(set_from_row).transpose()
    }

    /// One page of an organization's wallet sets (by creation time), and how many it has.
    pub async fn list_wallet_sets(
        &self,
        org_id: &str,
        page: u32,
        limit: u32,
        desc: bool,
    ) -> Result<(Vec<WalletSetRecord>, i64), StoreError> {
        self.page_of_org(
            "wallet_sets",
            SET_COLUMNS,
            org_id,
            (page, limit, desc),
            set_from_row,
        )
        .await
    }

    /// Renames a wallet set; `NotFound` if it is not one of `org_id`.
    pub async fn rename_wallet_set(
        &self,
        org_id: &str,
        id: &str,
        name: &str,
        at_ms: i64,
        c: &Commit,
    ) -> Result<WalletSetRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE wallet_sets SET name = $1, updated_at_ms = $2 \
             WHERE org_id = $3 AND id = $4 RETURNING {SET_COLUMNS}"
        )))
        .bind(name)
        .bind(at_ms)
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("wallet set {id} of {org_id}")));
        };
        let set = set_from_row(&row)?;
        self.finish(tx, c).await?;
        Ok(set)
    }

    /// Reserves `count` consecutive HD indices of a wallet set and returns the first.
    /// One atomic update: concurrent callers never get the same index. An index whose
    /// wallets were never created stays unused (a gap), which is harmless.
    pub async fn reserve_indices(
        &self,
        org_id: &str,
        wallet_set_id: &str,
        count: i64,
    ) -> Result<i64, StoreError> {
        if count < 1 {
            return Err(StoreError::InvalidInput(format!(
                "reserve at least one index, not {count}"
            )));
        }
        let next: Option<i64> = sqlx::query_scalar(
            "UPDATE wallet_sets SET next_index = next_index + $1 \
             WHERE org_id = $2 AND id = $3 RETURNING next_index",
        )
        .bind(count)
        .bind(org_id)
        .bind(wallet_set_id)
        .fetch_optional(&self.db.pool)
        .await?;
        match next {
            Some(next) => Ok(next - count),
            None => Err(StoreError::NotFound(format!(
                "wallet set {wallet_set_id} of {org_id}"
            ))),
        }
    }

    // ---- Wallets --------------------------------------------------------------------

    /// Stores wallets, all or none. A wallet whose (set, chain, index) or id exists is a
    /// `Conflict`; a set that is not one of the wallet's organization is `NotFound`.
    pub async fn create_wallets(
        &self,
        wallets: &[WalletRecord],
        c: &Commit,
    ) -> Result<(), StoreError> {
        if wallets.is_empty() {
            return Err(StoreError::InvalidInput("no wallets to create".into()));
        }
        let mut tx = self.begin().await?;
        insert_wallets(&mut tx, wallets).await?;
        self.finish(tx, c).await
    }

    /// A wallet of `org_id`.
    pub async fn wallet(&self, org_id: &str, id: &str) -> Result<Option<WalletRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WALLET_COLUMNS} FROM wallets WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(wallet_from_row).transpose()
    }

    /// One filtered page of an organization's wallets (by creation time), and how many
    /// match.
    pub async fn list_wallets(
        &self,
        org_id: &str,
        q: &WalletQuery,
    ) -> Result<(Vec<WalletRecord>, i64), StoreError> {
        let paging = Paging::new(q.page, q.limit, q.desc)?;
        let base = format!("SELECT {WALLET_COLUMNS} {WALLET_FILTER}");
        let rows = sqlx::query(paging.sql(&base, &["created_at_ms", "id"], 6))
            .bind(org_id)
            .bind(q.wallet_set_id.as_deref())
            .bind(q.blockchain.as_deref())
            .bind(q.address.as_deref())
            .bind(q.ref_id.as_deref())
            .bind(paging.limit)
            .bind(paging.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) {WALLET_FILTER}"
        )))
        .bind(org_id)
        .bind(q.wallet_set_id.as_deref())
        .bind(q.blockchain.as_deref())
        .bind(q.address.as_deref())
        .bind(q.ref_id.as_deref())
        .fetch_one(&self.db.pool)
        .await?;
        Ok((decode_all(rows, wallet_from_row)?, total))
    }

    /// Changes a wallet's name and/or reference: `None` leaves a field as it is,
    /// `Some(None)` clears it. `NotFound` if it is not a wallet of `org_id`.
    pub async fn update_wallet(
        &self,
        org_id: &str,
        id: &str,
        name: Option<Option<String>>,
        ref_id: Option<Option<String>>,
        at_ms: i64,
        c: &Commit,
    ) -> Result<WalletRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE wallets SET name = CASE WHEN $1 THEN $2 ELSE name END, \
             ref_id = CASE WHEN $3 THEN $4 ELSE ref_id END, updated_at_ms = $5 \
             WHERE org_id = $6 AND id = $7 RETURNING {WALLET_COLUMNS}"
        )))
        .bind(name.is_some())
        .bind(name.flatten())
        .bind(ref_id.is_some())
        .bind(ref_id.flatten())
        .bind(at_ms)
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("wallet {id} of {org_id}")));
        };
        let wallet = wallet_from_row(&row)?;
        self.finish(tx, c).await?;
        Ok(wallet)
    }
}

pub(super) fn set_from_row(row: &AnyRow) -> Result<WalletSetRecord, StoreError> {
    Ok(WalletSetRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        custody_type: row.try_get("custody_type")?,
        ecdsa_protocol: row.try_get("ecdsa_protocol")?,
        secp_key_id: row.try_get("secp_key_id")?,
        secp_public_key: row.try_get("secp_public_key")?,
        secp_chain_code: row.try_get("secp_chain_code")?,
        ed_key_id: row.try_get("ed_key_id")?,
        ed_public_key: row.try_get("ed_public_key")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn wallet_from_row(row: &AnyRow) -> Result<WalletRecord, StoreError> {
    Ok(WalletRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        wallet_set_id: row.try_get("wallet_set_id")?,
        blockchain: row.try_get("blockchain")?,
        address: row.try_get("address")?,
        public_key: row.try_get("public_key")?,
        key_id: row.try_get("key_id")?,
        derivation_path: row.try_get("derivation_path")?,
        hd_index: row.try_get("hd_index")?,
        ref_id: row.try_get("ref_id")?,
        name: row.try_get("name")?,
        state: row.try_get("state")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// Inserts wallets inside `tx` (the checks and statements of [`ServerStore::create_wallets`]).
pub(super) async fn insert_wallets(
    tx: &mut super::Tx,
    wallets: &[WalletRecord],
) -> Result<(), StoreError> {
    // Checked before any insert: another organization's set must answer NotFound,
    // not the Conflict its taken indices would give (that would reveal the set).
    let mut checked: Vec<(&str, &str)> = Vec::new();
    for w in wallets {
        let pair = (w.org_id.as_str(), w.wallet_set_id.as_str());
        if checked.contains(&pair) {
            continue;
        }
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM wallet_sets WHERE org_id = $1 AND id = $2")
                .bind(pair.0)
                .bind(pair.1)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!(
                "wallet set {} of {}",
                pair.1, pair.0
            )));
        }
        checked.push(pair);
    }
    for w in wallets {
        sqlx::query(
            "INSERT INTO wallets (id, org_id, wallet_set_id, blockchain, address, \
             public_key, key_id, derivation_path, hd_index, ref_id, name, state, \
             created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(w.id.as_str())
        .bind(w.org_id.as_str())
        .bind(w.wallet_set_id.as_str())
        .bind(w.blockchain.as_str())
        .bind(w.address.as_str())
        .bind(w.public_key.as_slice())
        .bind(w.key_id.as_str())
        .bind(w.derivation_path.as_str())
        .bind(w.hd_index)
        .bind(w.ref_id.as_deref())
        .bind(w.name.as_deref())
        .bind(w.state.as_str())
        .bind(w.created_at_ms)
        .bind(w.updated_at_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
