//! The path every new EVM transaction takes (transfers, contract execution; cancel and
//! accelerate share its signing and commit), `docs/transactions.md`.
//!
//! A transaction is planned (wallet, call, gas, fees) before anything is written; then it
//! takes its wallet's nonce lease, signs through the signing routes' own path, and commits
//! the signed transaction, its nonce, the idempotent answer, the audit entry and the
//! `transaction.*` events in one database transaction. Nothing is broadcast here: the
//! tracker sends what was committed, so a crash can neither lose a signed transaction nor
//! send one twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::FeeLevel;
use planbok_chains::{Address, Chain, Eip1559Fields, U256};
use planbok_store::server::{Commit, TxRecord, WalletRecord};
use serde_json::{Value, json};

use super::orgs::finish;
use super::sign::{nodes_sign, sign_payload, verify};
use super::tx_list::transaction;
use super::{envelope_json, json_response};
use crate::audit::Op;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::rpc::{CallRequest, RpcError};
use crate::evm::{ChainRpc, fees, unavailable};
use crate::facts::SigningWallet;
use crate::{App, idem, now_ms};

/// The natives' decimals: every EVM chain of the registry counts its coin in 10^-18.
pub(crate) const NATIVE_DECIMALS: u8 = 18;

/// The wallet a transaction is sent from, on its chain.
pub(super) struct Sender {
    pub(super) wallet: WalletRecord,
    pub(super) from: Address,
    pub(super) chain: Chain,
    pub(super) rpc: Arc<ChainRpc>,
}

/// What a transaction sends, decided before anything is written.
pub(super) struct Plan {
    pub(super) sender: Sender,
    /// The account called: the recipient, or a contract.
    pub(super) to: Address,
    pub(super) value: U256,
    pub(super) data: Vec<u8>,
    pub(super) gas_limit: u64,
    pub(super) levels: [fees::Fees; 3],
}

/// The organization's wallet `wallet_id`, with its chain's RPC.
pub(super) async fn sender(app: &App, org_id: &str, wallet_id: &str) -> ApiResult<Sender> {
    let wallet = app
        .store
        .wallet(org_id, wallet_id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    Sender::of(app, wallet)
}

impl Sender {
    /// `wallet`, with its chain's RPC.
    pub(super) fn of(app: &App, wallet: WalletRecord) -> ApiResult<Sender> {
        let chain = Chain::parse(&wallet.blockchain)?;
        let rpc = app.chains.get(chain)?;
        let from = planbok_chains::parse_evm_address(&wallet.address)
            .map_err(|e| ApiError::internal(format!("stored wallet address: {e}")))?;
        Ok(Sender {
            wallet,
            from,
            chain,
            rpc,
        })
    }

    /// Plans the call (`to`, `value`, `data`): `eth_estimateGas` from the wallet plus the
    /// margin (a refusal is 422 `transaction_would_fail` with the node's reason), and the
    /// fee levels.
    pub(super) async fn plan(
        self,
        app: &App,
        to: Address,
        value: U256,
        data: Vec<u8>,
        what: &str,
    ) -> ApiResult<Plan> {
        let call = CallRequest {
            from: Some(self.from),
            to,
            value,
            data: data.clone(),
            gas: None,
        };
        let estimate = self
            .rpc
            .rpc
            .estimate_gas(&call)
            .await
            .map_err(|e| would_fail(self.chain, what, e))?;
        let margin = app.config.transactions.gas_margin_percent;
        let gas_limit = estimate.saturating_add(estimate.saturating_mul(margin) / 100);
        let levels = fees::levels(&self.rpc.rpc)
            .await
            .map_err(|e| unavailable(self.chain, e))?;
        Ok(Plan {
            sender: self,
            to,
            value,
            data,
            gas_limit,
            levels,
        })
    }
}

/// A node's refusal of a call as the client sees it: 422 `transaction_would_fail` with
/// the reason (a revert's `Error(string)` decoded); a transport failure is 503.
pub(super) fn would_fail(chain: Chain, what: &str, e: RpcError) -> ApiError {
    match e {
        RpcError::Node { message, data, .. } => {
            let decoded = data
                .and_then(|d| hex::decode(d.trim_start_matches("0x")).ok())
                .filter(|d| !d.is_empty())
                .map(|d| planbok_chains::revert_reason(&d));
            let reason = match decoded {
                // anvil's message already carries the decoded reason.
                Some(r) if !message.contains(&r) => format!("{message}: {r}"),
                _ => message,
            };
            ApiError::new(
                ErrorCode::TransactionWouldFail,
                format!("the {} node refuses this {what}: {reason}", chain.id()),
            )
        }
        e @ RpcError::Transport(_) => unavailable(chain, e),
    }
}

/// One fee level in the API's form.
pub(super) fn fee_level(gas_limit: u64, f: &fees::Fees) -> FeeLevel {
    let max = U256::from(gas_limit) * U256::from(f.max_fee_per_gas);
    FeeLevel {
        gas_limit: gas_limit.to_string(),
        max_fee_per_gas: f.max_fee_per_gas.to_string(),
        max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
        network_fee: planbok_chains::format_amount(max, NATIVE_DECIMALS),
    }
}

/// Refuses a transaction the wallet cannot pay at `fees`: the value plus the most the fee
/// can be. Nodes' `eth_estimateGas` does not always check the balance, and a transaction
/// the node refuses would hold its nonce and every later one.
pub(super) async fn check_funds(
    s: &Sender,
    value: U256,
    gas_limit: u64,
    f: &fees::Fees,
) -> ApiResult<()> {
    let balance = s
        .rpc
        .rpc
        .balance(s.from)
        .await
        .map_err(|e| unavailable(s.chain, e))?;
    let fee = U256::from(gas_limit) * U256::from(f.max_fee_per_gas);
    let need = value.saturating_add(fee);
    if balance < need {
        let sym = s.chain.native_symbol();
        return Err(ApiError::new(
            ErrorCode::TransactionWouldFail,
            format!(
                "insufficient funds: the wallet holds {} {sym} and this transaction needs up to {} {sym} (the value and the most the fee can be)",
                planbok_chains::format_amount(balance, NATIVE_DECIMALS),
                planbok_chains::format_amount(need, NATIVE_DECIMALS),
            ),
        ));
    }
    Ok(())
}

/// What a transaction record says beyond its call.
pub(super) struct Described {
    pub(super) operation: &'static str,
    pub(super) destination_address: String,
    pub(super) token_id: String,
    pub(super) amounts: Vec<String>,
    pub(super) ref_id: Option<String>,
    pub(super) abi_function_signature: Option<String>,
    pub(super) abi_parameters: Option<String>,
    pub(super) nft_token_ids: Option<Vec<String>>,
    pub(super) replaces: Option<String>,
}

/// A request that signs a new transaction.
pub(super) struct Submit<'a> {
    /// The idempotency route and the audit action.
    pub(super) action: &'static str,
    pub(super) key: Option<&'a str>,
    pub(super) json: &'a Value,
    pub(super) wallet_id: &'a str,
    pub(super) fee_level: Option<&'a str>,
    pub(super) ref_id: Option<&'a str>,
    pub(super) secret: &'a str,
    /// The audit entry's parameters (nothing secret).
    pub(super) detail: Value,
}

/// A transaction request's `feeLevel` (default `medium`) as its index and name, with its
/// `refId` checked: 400 for an unknown level or a `refId` over 256 characters.
pub(super) fn level_and_ref<'a>(
    fee_level: Option<&'a str>,
    ref_id: Option<&str>,
) -> ApiResult<(usize, &'a str)> {
    let name = fee_level.unwrap_or("medium");
    let level = fees::level_index(name)
        .ok_or_else(|| ApiError::invalid("feeLevel must be low, medium or high"))?;
    if ref_id.is_some_and(|r| r.chars().count() > 256) {
        return Err(ApiError::invalid("refId must be at most 256 characters"));
    }
    Ok((level, name))
}

/// Runs a request that signs a new transaction: the idempotency key, the checks and the
/// plan (`planned`: nothing written, a failure takes no key and no nonce), the nonce
/// lease, the signature and the commit.
pub(super) async fn submit(
    app: &App,
    caller: &Caller,
    ctx: &Ctx,
    s: Submit<'_>,
    planned: impl Future<Output = ApiResult<(Plan, Described)>>,
) -> ApiResult<Response> {
    let Submit {
        action,
        key,
        json,
        wallet_id,
        fee_level: level_given,
        ref_id,
        secret,
        detail,
    } = s;
    let claim = idem::Claim::new(caller, action, key, json)?;
    let op = Op::new(app, caller, ctx, action, Some(wallet_id.to_owned()), detail);
    let checked = async {
        let (level, level_name) = level_and_ref(level_given, ref_id)?;
        let (p, d) = planned.await?;
        check_funds(&p.sender, p.value, p.gas_limit, &p.levels[level]).await?;
        app.require_secret_mode(&caller.org_id, secret).await?;
        let protocol = app
            .wallet_protocol(
                &caller.org_id,
                &p.sender.wallet.blockchain,
                &p.sender.wallet.wallet_set_id,
            )
            .await?;
        ApiResult::Ok((p, d, protocol, level, level_name))
    }
    .await;
    let (p, d, protocol, level, level_name) = match checked {
        Ok(c) => c,
        Err(e) => return claim.replay_or(app, e).await,
    };
    let idem = match claim.take_requested(app, &op).await? {
        idem::Began::Replay(r) => return Ok(r),
        idem::Began::Fresh(i) => i,
    };
    let result = async {
        let lease = NonceLease::take(app, &p.sender).await?;
        let sent = async {
            // The node's pending count covers transactions this database does not know
            // (the wallet's key used through sign/transaction): never below it, never
            // below ours.
            let on_chain = p
                .sender
                .rpc
                .rpc
                .pending_nonce(p.sender.from)
                .await
                .map_err(|e| unavailable(p.sender.chain, e))?;
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
            let signed = sign_eip1559(
                app,
                SignedFor::Member(caller, ctx),
                &p.sender,
                protocol,
                &fields,
                secret,
            )
            .await?;
            let record = new_record(&caller.org_id, &p.sender, d, &fields, level_name, &signed)?;
            let (commit, text) = created_commit(&op, &idem, &record, &signed, Vec::new())?;
            app.store
                .insert_transaction(&record, &lease.token, &commit)
                .await?;
            app.webhooks.wake();
            app.tracker_wake.notify_one();
            Ok(json_response(StatusCode::CREATED, text))
        }
        .await;
        if sent.is_err() {
            lease.release(app).await;
        }
        sent
    }
    .await;
    finish(app, &op, &idem, result).await
}

/// A signed transaction, verified against the wallet's key.
pub(super) struct Signed {
    pub(super) raw_tx: String,
    pub(super) tx_hash: String,
    pub(super) digest_hex: String,
}

/// Whom a transaction is signed for.
#[derive(Clone, Copy)]
pub(super) enum SignedFor<'a> {
    /// A member's request (a disabled key is audited against it).
    Member(&'a Caller, &'a Ctx),
    /// The tracker, filling a nonce of organization `.0`'s (`evm::fill`).
    Tracker(&'a str),
}

/// Signs `fields` on `s`'s chain through the signing routes' own path (the grant, the
/// custody checks, the organization secret, the signature verified before use).
pub(super) async fn sign_eip1559(
    app: &App,
    by: SignedFor<'_>,
    s: &Sender,
    protocol: planbok_proto::pb::Protocol,
    fields: &Eip1559Fields,
    secret: &str,
) -> ApiResult<Signed> {
    let input = planbok_chains::eip1559_input(s.chain, fields, &s.wallet.public_key)?;
    let signer = SigningWallet::from(s.wallet.clone());
    let v = match by {
        SignedFor::Member(caller, ctx) => {
            let r = super::Req { app, caller, ctx };
            sign_payload(r, &signer, s.chain, protocol, &input.payload, secret).await?
        }
        SignedFor::Tracker(org_id) => {
            let r = nodes_sign(app, org_id, &signer, protocol, &input.payload, secret).await?;
            verify(&signer, s.chain.curve(), &input.payload, &r)?
        }
    };
    let signed = planbok_chains::finish_transaction(
        s.chain,
        &input,
        &v.signature,
        v.recovery_id,
        &s.wallet.public_key,
    )?;
    Ok(Signed {
        raw_tx: signed.signed_transaction,
        tx_hash: signed.tx_hash,
        digest_hex: input.digest_hex,
    })
}

/// The `signed` record of a new transaction.
pub(super) fn new_record(
    org_id: &str,
    s: &Sender,
    d: Described,
    f: &Eip1559Fields,
    level_name: &str,
    signed: &Signed,
) -> ApiResult<TxRecord> {
    let now = now_ms();
    Ok(TxRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_owned(),
        wallet_id: s.wallet.id.clone(),
        blockchain: s.chain.id().to_owned(),
        operation: d.operation.to_owned(),
        status: "signed".into(),
        source_address: s.wallet.address.clone(),
        destination_address: d.destination_address,
        token_id: d.token_id,
        amounts: d.amounts,
        fee_level: level_name.to_owned(),
        nonce: i64::try_from(f.nonce).map_err(|_| ApiError::internal("nonce over i64"))?,
        gas_limit: f.gas_limit.to_string(),
        max_fee_per_gas: f.max_fee_per_gas.to_string(),
        max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
        raw_tx: signed.raw_tx.clone(),
        tx_hash: signed.tx_hash.clone(),
        network_fee: Some(
            fee_level(
                f.gas_limit,
                &fees::Fees {
                    max_fee_per_gas: f.max_fee_per_gas,
                    max_priority_fee_per_gas: f.max_priority_fee_per_gas,
                },
            )
            .network_fee,
        ),
        block_number: None,
        block_hash: None,
        confirmations: None,
        error_reason: None,
        ref_id: d.ref_id,
        broadcasts: 0,
        last_broadcast_at_ms: None,
        next_check_at_ms: now,
        created_at_ms: now,
        updated_at_ms: now,
        replaces: d.replaces,
        replaced_by: None,
        abi_function_signature: d.abi_function_signature,
        abi_parameters: d.abi_parameters,
        nft_token_ids: d.nft_token_ids,
    })
}

/// The commit of a new signed transaction: the `success` audit entry (hash, nonce,
/// digest), the idempotent 201 answer, `transaction.created` and `transaction.signed`,
/// then `extra` events; and the answer's text.
pub(super) fn created_commit(
    op: &Op<'_>,
    idem: &idem::Idem,
    record: &TxRecord,
    signed: &Signed,
    extra: Vec<&'static str>,
) -> ApiResult<(Commit, String)> {
    let text = envelope_json(
        StatusCode::CREATED,
        "Transaction created",
        transaction(record),
    )?;
    let events = created_events(record, extra)?;
    let commit = Commit {
        mails: Vec::new(),
        audit: vec![op.draft(
            "success",
            Some(json!({
                "transactionId": record.id, "txHash": record.tx_hash, "nonce": record.nonce,
                "blockchain": record.blockchain, "digest": signed.digest_hex,
                "replaces": record.replaces,
            })),
        )],
        idempotency: Some(idem.done(201, text.clone())),
        events,
    };
    Ok((commit, text))
}

/// The events of a new signed transaction: `transaction.created`, `transaction.signed`,
/// then `extra`.
pub(super) fn created_events(
    record: &TxRecord,
    extra: Vec<&'static str>,
) -> ApiResult<Vec<planbok_store::server::EventDraft>> {
    let event_data = serde_json::to_value(transaction(record)).map_err(ApiError::internal)?;
    let now = record.created_at_ms;
    Ok(["transaction.created", "transaction.signed"]
        .into_iter()
        .chain(extra)
        .map(|e| crate::webhooks::event(&record.org_id, e, event_data.clone(), now))
        .collect())
}

/// A held nonce lease of (chain, address): the next unused nonce as the database has it.
pub(super) struct NonceLease {
    chain: &'static str,
    address: String,
    pub(super) token: String,
    pub(super) next: i64,
    /// Until when it is held (unix ms).
    pub(super) until_ms: i64,
}

impl NonceLease {
    /// Waits for the lease of `s`'s (chain, address) while other transactions from the
    /// wallet sign (`[transactions] nonce_wait_ms`, then 503 `wallet_busy`). The lease
    /// outlives a signing call (the longest node-pair timeout and a margin), so only a
    /// dead holder's lapses.
    async fn take(app: &App, s: &Sender) -> ApiResult<NonceLease> {
        Self::take_for(app, s, (app.nodes.timeout_ms() + 30_000) as i64).await
    }

    /// As [`NonceLease::take`], held `hold_ms`.
    pub(super) async fn take_for(app: &App, s: &Sender, hold_ms: i64) -> ApiResult<NonceLease> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let address = s.wallet.address.clone();
        let deadline = now_ms() + app.config.transactions.nonce_wait_ms as i64;
        loop {
            let now = now_ms();
            if let Some(next) = app
                .store
                .lease_nonce(s.chain.id(), &address, &token, now, now + hold_ms)
                .await?
            {
                return Ok(NonceLease {
                    chain: s.chain.id(),
                    address,
                    token,
                    next,
                    until_ms: now + hold_ms,
                });
            }
            if now > deadline {
                return Err(ApiError::new(
                    ErrorCode::WalletBusy,
                    "other transactions from this wallet hold its nonce; retry",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives the lease back unused (the transaction failed before its commit).
    pub(super) async fn release(&self, app: &App) {
        if let Err(e) = app
            .store
            .release_nonce(self.chain, &self.address, &self.token)
            .await
        {
            tracing::warn!(error = %e, "could not release a nonce lease; it lapses on its own");
        }
    }
}
