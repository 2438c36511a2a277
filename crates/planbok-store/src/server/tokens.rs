//! Tokens an organization registered (ERC-20). Native coins are not stored: their ids are
//! derived from the chain id (`planbok_chains::native_token_id`).

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Commit, ServerStore, decode_all, missing_parent};
use crate::StoreError;

/// A registered token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// UUID chosen by the server.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Chain id.
    pub blockchain: String,
    /// `erc20`, `erc721`, `erc1155`.
    pub standard: String,
    /// Display name.
    pub name: String,
    /// Ticker.
    pub symbol: String,
    /// Decimal places.
    pub decimals: u8,
    /// The contract address, lowercase `0x`-hex.
    pub address: String,
    /// Unix ms.
    pub created_at_ms: i64,
}

const COLUMNS: &str =
    "id, org_id, blockchain, standard, name, symbol, decimals, address, created_at_ms";

fn from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    let decimals: i64 = row.try_get("decimals")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        blockchain: row.try_get("blockchain")?,
        standard: row.try_get("standard")?,
        name: row.try_get("name")?,
        symbol: row.try_get("symbol")?,
        decimals: u8::try_from(decimals)
            .map_err(|_| StoreError::InvalidInput(format!("stored token decimals {decimals}")))?,
        address: row.try_get("address")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl ServerStore {
    /// Registers a token; `Conflict` when the organization has one at this address on
    /// this chain.
    pub async fn create_token(&self, t: &TokenRecord, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tokens (id, org_id, blockchain, standard, name, symbol, decimals, \
             address, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id.as_str())
        .bind(t.org_id.as_str())
        .bind(t.blockchain.as_str())
        .bind(t.standard.as_str())
        .bind(t.name.as_str())
        .bind(t.symbol.as_str())
        .bind(i64::from(t.decimals))
        .bind(t.address.as_str())
        .bind(t.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| missing_parent(e, || format!("organization {}", t.org_id)))?;
        self.finish(tx, c).await
    }

    /// A token of `org_id`.
    pub async fn token(&self, org_id: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tokens WHERE org_id = $1 AND id = $2"
        )))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every token of `org_id` on `blockchain` (balances), oldest first.
    pub async fn tokens_on(
        &self,
        org_id: &str,
        blockchain: &str,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tokens WHERE org_id = $1 AND blockchain = $2 \
             ORDER BY created_at_ms, id"
        )))
        .bind(org_id)
        .bind(blockchain)
        .fetch_all(&self.db.pool)
        .await?;
        decode_all(rows, from_row)
    }

    /// One page of `org_id`'s tokens and how many there are.
    pub async fn list_tokens(
        &self,
        org_id: &str,
        page: (u32, u32, bool),
    ) -> Result<(Vec<TokenRecord>, i64), StoreError> {
        self.page_of_org("tokens", COLUMNS, org_id, page, from_row)
            .await
    }

    /// Deletes a token; `NotFound` if `org_id` has none with this id.
    pub async fn delete_token(&self, org_id: &str, id: &str, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM tokens WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("token".into()));
        }
        self.finish(tx, c).await
    }
}
