//! Reading transactions: `GET /v2/organization/transactions`, `GET /v2/transactions`
//! (the same organization-wide view for now) and `…/{id}`.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{Transaction, TransactionFilter};
use planbok_store::server::{TxQuery, TxRecord};

use super::convert::rfc3339;
use super::{Page, ok, query};
use crate::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Every status a transaction may have.
const STATUSES: &[&str] = planbok_api::TRANSACTION_STATUSES;
/// The most wallets `walletIds` may name.
const MAX_WALLET_IDS: usize = 100;

/// A stored transaction in the API's form.
pub(crate) fn transaction(t: &TxRecord) -> Transaction {
    Transaction {
        id: t.id.clone(),
        wallet_id: t.wallet_id.clone(),
        blockchain: t.blockchain.clone(),
        operation: t.operation.clone(),
        status: t.status.clone(),
        transaction_hash: Some(t.tx_hash.clone()),
        nonce: u64::try_from(t.nonce).ok(),
        source_address: t.source_address.clone(),
        destination_address: t.destination_address.clone(),
        token_id: t.token_id.clone(),
        amounts: t.amounts.clone(),
        fee_level: t.fee_level.clone(),
        gas_limit: Some(t.gas_limit.clone()),
        max_fee_per_gas: Some(t.max_fee_per_gas.clone()),
        max_priority_fee_per_gas: Some(t.max_priority_fee_per_gas.clone()),
        network_fee: t.network_fee.clone(),
        block_number: t.block_number.and_then(|b| u64::try_from(b).ok()),
        confirmations: t.confirmations.and_then(|b| u64::try_from(b).ok()),
        error_reason: t.error_reason.clone(),
        replaces: t.replaces.clone(),
        replaced_by: t.replaced_by.clone(),
        abi_function_signature: t.abi_function_signature.clone(),
        abi_parameters: t
            .abi_parameters
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        nft_token_ids: t.nft_token_ids.clone(),
        ref_id: t.ref_id.clone(),
        created_at: rfc3339(t.created_at_ms),
        updated_at: rfc3339(t.updated_at_ms),
    }
}

/// `GET /v2/organization/transactions` and `GET /v2/transactions`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<TransactionFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let f = query(q)?;
    let page = Page::from_parts(f.page, f.limit, f.order)?;
    if let Some(s) = &f.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    if let Some(b) = &f.blockchain {
        planbok_chains::Chain::parse(b)?;
    }
    let wallet_ids: Vec<String> = f
        .wallet_ids
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if wallet_ids.len() > MAX_WALLET_IDS {
        return Err(ApiError::invalid(format!(
            "walletIds names at most {MAX_WALLET_IDS} wallets"
        )));
    }
    let (items, total) = app
        .store
        .list_transactions(
            &caller.org_id,
            &TxQuery {
                status: f.status,
                wallet_ids,
                blockchain: f.blockchain,
                operation: f.operation,
                ref_id: f.ref_id,
                tx_hash: f.tx_hash,
                destination_address: f.destination_address,
                page: page.page,
                limit: page.limit,
                desc: page.desc,
            },
        )
        .await?;
    let items = items.iter().map(transaction).collect();
    Ok(ok(StatusCode::OK, "Transactions", page.list(items, total)))
}

/// `GET /v2/organization/transactions/{id}` and `GET /v2/transactions/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let t = app
        .store
        .transaction(&caller.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("transaction"))?;
    Ok(ok(StatusCode::OK, "Transaction", transaction(&t)))
}
