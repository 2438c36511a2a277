//! Transfers and their fee estimates (`docs/transactions.md`).
//!
//! A transfer is planned (wallet, token, amount, gas, fees) before anything is written;
//! then it takes its wallet's nonce lease, signs through the signing routes' own path, and
//! commits the signed transaction, its nonce, the idempotent answer, the audit entry and
//! the `transaction.*` events in one database transaction. Nothing is broadcast here: the
//! tracker sends what was committed, so a crash can neither lose a signed transaction nor
//! send one twice.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::{CreateTransfer, EstimateTransferFee, FeeEstimate, FeeLevel};
use planbok_chains::{Address, Chain, Eip1559Fields, U256};
use planbok_store::server::{Commit, TxRecord, WalletRecord};
use serde_json::json;

use super::orgs::finish;
use super::sign::sign_payload;
use super::tokens::{ResolvedToken, resolve_token};
use super::tx_list::transaction;
use super::{envelope_json, json_response};
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::rpc::{CallRequest, RpcError};
use crate::evm::{ChainRpc, fees, unavailable};
use crate::facts::SigningWallet;
use crate::{App, idem, now_ms};

/// The natives' decimals: every EVM chain of the registry counts its coin in 10^-18.
pub(crate) const NATIVE_DECIMALS: u8 = 18;

/// What a transfer sends, decided before anything is written.
struct Plan {
    wallet: WalletRecord,
    from: Address,
    chain: Chain,
    rpc: Arc<ChainRpc>,
    /// The account called: the recipient, or the token contract.
    to: Address,
    value: U256,
    data: Vec<u8>,
    gas_limit: u64,
    levels: [fees::Fees; 3],
}

/// The fields a transfer and an estimate share.
struct Spec<'a> {
    wallet_id: &'a str,
    destination: &'a str,
    token_id: &'a str,
    amounts: &'a [String],
}

async fn plan(app: &App, org_id: &str, s: &Spec<'_>) -> ApiResult<Plan> {
    let wallet = app
        .store
        .wallet(org_id, s.wallet_id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    let chain = Chain::parse(&wallet.blockchain)?;
    let rpc = app.chains.get(chain)?;
    let [amount] = s.amounts else {
        return Err(ApiError::invalid("amounts must hold exactly one amount"));
    };
    let destination = planbok_chains::parse_evm_address(s.destination)
        .map_err(|e| ApiError::invalid(format!("destinationAddress: {e}")))?;
    let from = planbok_chains::parse_evm_address(&wallet.address)
        .map_err(|e| ApiError::internal(format!("stored wallet address: {e}")))?;
    let token = resolve_token(app, org_id, s.token_id).await?;
    if token.blockchain() != chain.id() {
        return Err(ApiError::invalid(format!(
            "tokenId is a {} token and the wallet is on {}",
            token.blockchain(),
            chain.id()
        )));
    }
    let units = planbok_chains::parse_amount(amount, token.decimals())
        .map_err(|e| ApiError::invalid(format!("amounts: {e}")))?;
    if units.is_zero() {
        return Err(ApiError::invalid("amounts: the amount must be positive"));
    }
    let (to, value, data) = match &token {
        ResolvedToken::Native(_) => (destination, units, Vec::new()),
        ResolvedToken::Registered(t) => {
            let contract = planbok_chains::parse_evm_address(&t.address)
                .map_err(|e| ApiError::internal(format!("stored token address: {e}")))?;
            (
                contract,
                U256::ZERO,
                planbok_chains::erc20_transfer_data(destination, units),
            )
        }
    };
    let call = CallRequest {
        from: Some(from),
        to,
        value,
        data: data.clone(),
        gas: None,
    };
    let estimate = rpc.rpc.estimate_gas(&call).await.map_err(|e| match e {
        RpcError::Node { message, .. } => ApiError::new(
            ErrorCode::TransactionWouldFail,
            format!("the {} node refuses this transfer: {message}", chain.id()),
        ),
        e @ RpcError::Transport(_) => unavailable(chain, e),
    })?;
    let margin = app.config.transactions.gas_margin_percent;
    let gas_limit = estimate.saturating_add(estimate.saturating_mul(margin) / 100);
    let levels = fees::levels(&rpc.rpc)
        .await
        .map_err(|e| unavailable(chain, e))?;
    Ok(Plan {
        wallet,
        from,
        chain,
        rpc,
        to,
        value,
        data,
        gas_limit,
        levels,
    })
}

fn fee_level(gas_limit: u64, f: &fees::Fees) -> FeeLevel {
    let max = U256::from(gas_limit) * U256::from(f.max_fee_per_gas);
    FeeLevel {
        gas_limit: gas_limit.to_string(),
        max_fee_per_gas: f.max_fee_per_gas.to_string(),
        max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
        network_fee: planbok_chains::format_amount(max, NATIVE_DECIMALS),
    }
}

/// Refuses a transfer the wallet cannot pay at `level`: the amount (native) plus the most
/// the fee can be. Nodes' `eth_estimateGas` does not always check the balance, and a
/// transaction the node refuses would hold its nonce and every later one.
async fn check_funds(p: &Plan, level: usize) -> ApiResult<()> {
    let balance = p
        .rpc
        .rpc
        .balance(p.from)
        .await
        .map_err(|e| unavailable(p.chain, e))?;
    let fee = U256::from(p.gas_limit) * U256::from(p.levels[level].max_fee_per_gas);
    let need = p.value.saturating_add(fee);
    if balance < need {
        let sym = p.chain.native_symbol();
        return Err(ApiError::new(
            ErrorCode::TransactionWouldFail,
            format!(
                "insufficient funds: the wallet holds {} {sym} and this transfer needs up to {} {sym} (the amount and the most the fee can be)",
                planbok_chains::format_amount(balance, NATIVE_DECIMALS),
                planbok_chains::format_amount(need, NATIVE_DECIMALS),
            ),
        ));
    }
    Ok(())
}

/// `POST /v2/transactions/transfer/estimate-fee`.
pub(crate) async fn estimate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    body: Body<EstimateTransferFee>,
) -> ApiResult<Response> {
    let b = &body.value;
    let p = plan(
        &app,
        &caller.org_id,
        &Spec {
            wallet_id: &b.wallet_id,
            destination: &b.destination_address,
            token_id: &b.token_id,
            amounts: &b.amounts,
        },
    )
    .await?;
    let data = FeeEstimate {
        low: fee_level(p.gas_limit, &p.levels[0]),
        medium: fee_level(p.gas_limit, &p.levels[1]),
        high: fee_level(p.gas_limit, &p.levels[2]),
    };
    Ok(super::ok(StatusCode::OK, "Fee estimated", data))
}

/// `POST /v2/organization/transactions/transfer`.
pub(crate) async fn transfer(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateTransfer>,
) -> ApiResult<Response> {
    let b = &body.value;
    let claim = idem::Claim::new(
        &caller,
        "transaction.transfer",
        b.idempotency_key.as_deref(),
        &body.json,
    )?;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "transaction.transfer",
        Some(b.wallet_id.clone()),
        json!({
            "walletId": b.wallet_id, "destinationAddress": b.destination_address,
            "tokenId": b.token_id, "amounts": b.amounts, "feeLevel": b.fee_level, "refId": b.ref_id,
        }),
    );
    let secret = b
        .encrypted_organization_secret
        .as_deref()
        .unwrap_or_default();
    let checked = async {
        if b.nft_token_ids.is_some() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "NFT transfers (nftTokenIds) are not supported yet",
            ));
        }
        let level_name = b.fee_level.as_deref().unwrap_or("medium");
        let level = fees::level_index(level_name)
            .ok_or_else(|| ApiError::invalid("feeLevel must be low, medium or high"))?;
        if b.ref_id.as_ref().is_some_and(|r| r.chars().count() > 256) {
            return Err(ApiError::invalid("refId must be at most 256 characters"));
        }
        let p = plan(
            &app,
            &caller.org_id,
            &Spec {
                wallet_id: &b.wallet_id,
                destination: &b.destination_address,
                token_id: &b.token_id,
                amounts: &b.amounts,
            },
        )
        .await?;
        check_funds(&p, level).await?;
        app.require_secret_mode(&caller.org_id, secret).await?;
        let protocol = app
            .wallet_protocol(
                &caller.org_id,
                &p.wallet.blockchain,
                &p.wallet.wallet_set_id,
            )
            .await?;
        ApiResult::Ok((p, protocol, level, level_name))
    }
    .await;
    let (p, protocol, level, level_name) = match checked {
        Ok(c) => c,
        Err(e) => return claim.replay_or(&app, e).await,
    };
    let idem = match claim.take_requested(&app, &op).await? {
        idem::Began::Replay(r) => return Ok(r),
        idem::Began::Fresh(i) => i,
    };
    let result = async {
        let lease = NonceLease::take(&app, &p).await?;
        let sent = sign_and_commit(
            &app, &caller, &ctx, &op, &idem, &p, protocol, level, level_name, b, secret, &lease,
        )
        .await;
        if sent.is_err() {
            lease.release(&app).await;
        }
        sent
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// A held nonce lease of (chain, address): the next unused nonce as the database has it.
struct NonceLease {
    chain: &'static str,
    address: String,
    token: String,
    next: i64,
}

impl NonceLease {
    /// Waits for the lease of `p`'s (chain, address) while other transfers from the wallet
    /// sign (`[transactions] nonce_wait_ms`, then 503 `wallet_busy`). The lease outlives a
    /// signing call (the longest node-pair timeout and a margin), so only a dead holder's
    /// lapses.
    async fn take(app: &App, p: &Plan) -> ApiResult<NonceLease> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let address = p.wallet.address.clone();
        let hold_ms = (app.nodes.timeout_ms() + 30_000) as i64;
        let deadline = now_ms() + app.config.transactions.nonce_wait_ms as i64;
        loop {
            let now = now_ms();
            if let Some(next) = app
                .store
                .lease_nonce(p.chain.id(), &address, &token, now, now + hold_ms)
                .await?
            {
                return Ok(NonceLease {
                    chain: p.chain.id(),
                    address,
                    token,
                    next,
                });
            }
            if now > deadline {
                return Err(ApiError::new(
                    ErrorCode::WalletBusy,
                    "other transfers from this wallet hold its nonce; retry",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives the lease back unused (the transfer failed before its commit).
    async fn release(&self, app: &App) {
        if let Err(e) = app
            .store
            .release_nonce(self.chain, &self.address, &self.token)
            .await
        {
            tracing::warn!(error = %e, "could not release a nonce lease; it lapses on its own");
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one transfer, planned and checked by the handler"
)]
async fn sign_and_commit(
    app: &App,
    caller: &Caller,
    ctx: &Ctx,
    op: &Op<'_>,
    idem: &idem::Idem,
    p: &Plan,
    protocol: planbok_proto::pb::Protocol,
    level: usize,
    level_name: &str,
    b: &CreateTransfer,
    secret: &str,
    lease: &NonceLease,
) -> ApiResult<Response> {
    // The node's pending count covers transactions this database does not know (the
    // wallet's key used through sign/transaction): never below it, never below ours.
    let on_chain = p
        .rpc
        .rpc
        .pending_nonce(p.from)
        .await
        .map_err(|e| unavailable(p.chain, e))?;
    let nonce = u64::try_from(lease.next).unwrap_or_default().max(on_chain);
    let f = &p.levels[level];
    let fields = Eip1559Fields {
        nonce,
        to: p.to,
        value: p.value,
        data: p.data.clone(),
        gas_limit: p.gas_limit,
        max_fee_per_gas: f.max_fee_per_gas,
        max_priority_fee_per_gas: f.max_priority_fee_per_gas,
    };
    let input = planbok_chains::eip1559_input(p.chain, &fields, &p.wallet.public_key)?;
    let signer = SigningWallet::from(p.wallet.clone());
    let v = sign_payload(
        app,
        caller,
        ctx,
        &signer,
        p.chain,
        protocol,
        &input.payload,
        secret,
    )
    .await?;
    let signed = planbok_chains::finish_transaction(
        p.chain,
        &input,
        &v.signature,
        v.recovery_id,
        &p.wallet.public_key,
    )?;
    let now = now_ms();
    let record = TxRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: caller.org_id.clone(),
        wallet_id: p.wallet.id.clone(),
        blockchain: p.chain.id().to_owned(),
        operation: "TRANSFER".into(),
        status: "signed".into(),
        source_address: p.wallet.address.clone(),
        destination_address: b.destination_address.clone(),
        token_id: b.token_id.clone(),
        amounts: b.amounts.clone(),
        fee_level: level_name.to_owned(),
        nonce: i64::try_from(nonce).map_err(|_| ApiError::internal("nonce over i64"))?,
        gas_limit: p.gas_limit.to_string(),
        max_fee_per_gas: f.max_fee_per_gas.to_string(),
        max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
        raw_tx: signed.signed_transaction,
        tx_hash: signed.tx_hash,
        network_fee: Some(fee_level(p.gas_limit, f).network_fee),
        block_number: None,
        block_hash: None,
        confirmations: None,
        error_reason: None,
        ref_id: b.ref_id.clone(),
        broadcasts: 0,
        last_broadcast_at_ms: None,
        next_check_at_ms: now,
        created_at_ms: now,
        updated_at_ms: now,
    };
    let data = transaction(&record);
    let text = envelope_json(StatusCode::CREATED, "Transaction created", &data)?;
    let event_data = serde_json::to_value(&data).map_err(ApiError::internal)?;
    let commit = Commit {
        audit: vec![op.draft(
            "success",
            Some(json!({
                "transactionId": record.id, "txHash": record.tx_hash, "nonce": nonce,
                "blockchain": record.blockchain, "digest": input.digest_hex,
            })),
        )],
        idempotency: Some(idem.done(201, text.clone())),
        events: vec![
            crate::webhooks::event(
                &caller.org_id,
                "transaction.created",
                event_data.clone(),
                now,
            ),
            crate::webhooks::event(&caller.org_id, "transaction.signed", event_data, now),
        ],
    };
    app.store
        .insert_transaction(&record, &lease.token, &commit)
        .await?;
    app.webhooks.wake();
    app.tracker_wake.notify_one();
    Ok(json_response(StatusCode::CREATED, text))
}
