//! Customer wallets (schema 8): the one wallet set of each customer, and the completion
//! of an operation challenge with what it made, in one transaction.

use sqlx::Row as _;

use super::transactions::{insert_leased, insert_replacing};
use super::wallets::{SET_COLUMNS, insert_wallets, set_from_row};
use super::{ServerStore, TxRecord, WalletRecord, WalletSetRecord};
use crate::StoreError;
use crate::server::{ChallengeRecord, Commit};

/// The transaction a customer's transaction challenge signed, stored with its completion.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeTx<'a> {
    /// The signed transaction.
    pub record: &'a TxRecord,
    /// A new transaction: the nonce lease it was prepared under (its nonce is used now).
    /// `None`: a replacement of `record.replaces` (cancel, accelerate), stored only while
    /// that one is still pending and not replaced.
    pub lease_token: Option<&'a str>,
}

impl ServerStore {
    /// The customer's wallet set, if the customer has one.
    pub async fn customer_wallet_set(
        &self,
        org_id: &str,
        customer_id: &str,
    ) -> Result<Option<WalletSetRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM wallet_sets WHERE org_id = $1 AND customer_id = $2"
        )))
        .bind(org_id)
        .bind(customer_id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(set_from_row).transpose()
    }

    /// Stores `set` as the customer's wallet set unless the customer has one, and returns
    /// the one that stands (the first, when two first wallet creations race).
    pub async fn ensure_customer_wallet_set(
        &self,
        set: &WalletSetRecord,
        customer_id: &str,
    ) -> Result<WalletSetRecord, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO wallet_sets (id, org_id, name, custody_type, ecdsa_protocol, \
             secp_key_id, secp_public_key, secp_chain_code, ed_key_id, ed_public_key, \
             next_index, created_at_ms, updated_at_ms, customer_id) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13 \
             WHERE EXISTS (SELECT 1 FROM customers WHERE org_id = $2 AND id = $13) \
             ON CONFLICT DO NOTHING",
        )
        .bind(set.id.as_str())
        .bind(set.org_id.as_str())
        .bind(set.name.as_str())
        .bind(set.custody_type.as_str())
        .bind(set.ecdsa_protocol.as_str())
        .bind(set.secp_key_id.as_str())
        .bind(set.secp_public_key.as_slice())
        .bind(set.secp_chain_code.as_slice())
        .bind(set.ed_key_id.as_str())
        .bind(set.ed_public_key.as_slice())
        .bind(set.created_at_ms)
        .bind(set.updated_at_ms)
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.customer_wallet_set(&set.org_id, customer_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("customer {customer_id}")))
    }

    /// Completes a pending operation challenge with `result` (JSON), storing `wallets`
    /// (possibly none) or the transaction it signed, and applying `commit` (audit, events)
    /// in the same transaction. `false` (nothing written) if the challenge is no longer
    /// pending; a transaction whose lease lapsed or whose original is settled is a
    /// `Conflict` (nothing written either).
    pub async fn complete_op_challenge(
        &self,
        ch: &ChallengeRecord,
        result: &str,
        wallets: &[WalletRecord],
        signed: Option<ChallengeTx<'_>>,
        now_ms: i64,
        commit: &Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE customer_challenges SET status = 'complete', result = $1, completed_at_ms = $2 \
             WHERE id = $3 AND org_id = $4 AND status = 'pending'",
        )
        .bind(result)
        .bind(now_ms)
        .bind(ch.id.as_str())
        .bind(ch.org_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if !wallets.is_empty() {
            insert_wallets(&mut tx, wallets).await?;
        }
        match signed {
            Some(ChallengeTx {
                record,
                lease_token: Some(token),
            }) => insert_leased(&mut tx, record, token).await?,
            Some(ChallengeTx {
                record,
                lease_token: None,
            }) => {
                let original = record.replaces.as_deref().ok_or_else(|| {
                    StoreError::InvalidInput("a replacement names its original".into())
                })?;
                insert_replacing(&mut tx, record, original).await?;
            }
            None => {}
        }
        self.finish(tx, commit).await?;
        Ok(true)
    }

    /// Records a pending transaction challenge's prepared nonce and fees (`prepared`,
    /// the server's JSON); `false` if it is no longer pending.
    pub async fn set_challenge_prepared(
        &self,
        ch: &ChallengeRecord,
        prepared: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE customer_challenges SET prepared = $1 \
             WHERE id = $2 AND org_id = $3 AND status = 'pending'",
        )
        .bind(prepared)
        .bind(ch.id.as_str())
        .bind(ch.org_id.as_str())
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The customer a wallet set belongs to (`None`: the organization's own).
    pub async fn wallet_set_customer(
        &self,
        org_id: &str,
        wallet_set_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT customer_id FROM wallet_sets WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(wallet_set_id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("customer_id")?,
            None => None,
        })
    }
}
