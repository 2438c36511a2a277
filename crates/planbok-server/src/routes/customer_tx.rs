//! Customer transactions (`docs/customer-custody.md`, "Customer transactions"): transfers,
//! contract calls, cancel and accelerate from a customer's wallet, each a challenge the
//! customer approves in the Gateway with the PIN.
//!
//! 1. **The challenge** (API key) fixes what is sent: the wallet, the call as its parts
//!    (token, recipient, amounts; or contract, function, parameters; or the transaction
//!    replaced), the fee level, the gas limit, and a cap on the network fee. Everything is
//!    checked now (the call is estimated, the funds counted): a bad request is a 4xx here.
//! 2. **Prepare** (`POST /gateway/api/transaction/prepare`, the challenge's token), once
//!    the customer has typed the PIN: the server takes the wallet's nonce lease for the
//!    challenge (a replacement reuses its original's nonce) and fixes the fees of now,
//!    refused above the cap. The lease keeps the nonce from every other transaction until
//!    the challenge completes or the hold lapses; nothing is used until then, so an
//!    abandoned challenge leaves no gap.
//! 3. **The operation** (`POST /gateway/api/operation`): the Gateway rebuilds the call from
//!    the parts it showed (never call data the server supplies), adds the prepared nonce
//!    and fees, and authorizes exactly that transaction's signing digest. The server signs
//!    the same transaction, verifies the signature, and stores it (with the nonce, the
//!    challenge's completion, the audit entry and the `transaction.*` events) in one
//!    database transaction; the tracker broadcasts it like any other.

//!
//! This file is the organization's side (the challenges); `routes/gateway_tx.rs` the
//! Gateway's (prepare, and the signature run by `POST /gateway/api/operation`).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use planbok_api::customer_ops::{
    CustomerContractExecution, CustomerTransfer, GatewayReplaced, GatewayToken, GatewayTransaction,
};
use planbok_api::customers::CreateChallenge;
use planbok_chains::U256;
use planbok_store::server::WalletRecord;
use serde_json::json;

use super::Req;
use super::contracts;
use super::customer_wallets::{Asked, customer_wallet, open, operation_customer};
use super::customers::Kind;
use super::gateway_ops::Plan;
use super::replace::{self, pending_head, replacement};
use super::transfers::{Spec, moved};
use super::tx_submit::{NATIVE_DECIMALS, Sender, check_funds, level_and_ref};
use crate::App;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::fees::Fees;

/// The most the network fee may be when the transaction is prepared: half again the fee
/// at the challenge's creation (`gasLimit × maxFeePerGas`), shown to the customer.
fn fee_cap(gas_limit: u64, f: &Fees) -> U256 {
    U256::from(gas_limit) * U256::from(f.max_fee_per_gas) * U256::from(3u8) / U256::from(2u8)
}

/// The checks every customer transaction request makes of its own fields: the fee level
/// (its index and name) and `refId` as the organization's routes, and the `memo`.
fn check_fields<'a>(
    fee_level: Option<&'a str>,
    ref_id: Option<&str>,
    memo: Option<&str>,
) -> ApiResult<(usize, &'a str)> {
    super::sign::check_memo(memo)?;
    level_and_ref(fee_level, ref_id)
}

/// A plan from `w` with everything but the call's parts.
fn plan_base(
    what: &str,
    w: &WalletRecord,
    fee_level: &str,
    gas_limit: u64,
    f: &Fees,
) -> GatewayTransaction {
    GatewayTransaction {
        what: what.into(),
        wallet_id: w.id.clone(),
        blockchain: w.blockchain.clone(),
        address: w.address.clone(),
        public_key: format!("0x{}", hex::encode(&w.public_key)),
        key_id: w.key_id.clone(),
        derivation_path: w.derivation_path.clone(),
        destination_address: None,
        token: None,
        amounts: Vec::new(),
        nft_token_ids: None,
        contract_address: None,
        abi_function_signature: None,
        abi_parameters: None,
        amount: None,
        replaces: None,
        fee_level: fee_level.into(),
        gas_limit: gas_limit.to_string(),
        max_network_fee: planbok_chains::format_amount(fee_cap(gas_limit, f), NATIVE_DECIMALS),
        ref_id: None,
        memo: None,
        prepared: None,
    }
}

async fn open_tx(
    r: Req<'_>,
    headers: &HeaderMap,
    n: Asked<'_>,
    t: GatewayTransaction,
) -> ApiResult<Response> {
    let detail = json!({
        "walletId": t.wallet_id, "what": t.what, "destinationAddress": t.destination_address,
        "tokenId": t.token.as_ref().map(|k| &k.id), "amounts": t.amounts,
        "nftTokenIds": t.nft_token_ids, "contractAddress": t.contract_address,
        "abiFunctionSignature": t.abi_function_signature, "amount": t.amount,
        "replaces": t.replaces.as_ref().map(|r| &r.transaction_id),
        "feeLevel": t.fee_level, "refId": t.ref_id, "memo": t.memo,
    });
    open(r, headers, n, &Plan::Transaction(Box::new(t)), detail).await
}

/// `POST /v2/customers/{id}/transactions/transfer`.
pub(crate) async fn transfer(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerTransfer>,
) -> ApiResult<Response> {
    let b = &body.value;
    let (level, level_name) = check_fields(
        b.fee_level.as_deref(),
        b.ref_id.as_deref(),
        b.memo.as_deref(),
    )?;
    operation_customer(&app, &caller, &id, Kind::Transfer).await?;
    let w = customer_wallet(&app, &caller, &id, &b.wallet_id).await?;
    let s = Sender::of(&app, w)?;
    let (token, m) = moved(
        &app,
        &caller.org_id,
        &s,
        &Spec {
            wallet_id: &b.wallet_id,
            destination: &b.destination_address,
            token_id: &b.token_id,
            amounts: &b.amounts,
            nft_token_ids: b.nft_token_ids.as_deref(),
        },
    )
    .await?;
    let p = s
        .plan(
            &app,
            m.call.to,
            m.call.value,
            m.call.data.clone(),
            "transfer",
        )
        .await?;
    check_funds(&p.sender, p.value, p.gas_limit, &p.levels[level]).await?;
    let mut t = plan_base(
        "transfer",
        &p.sender.wallet,
        level_name,
        p.gas_limit,
        &p.levels[level],
    );
    t.destination_address = Some(b.destination_address.clone());
    t.token = Some(GatewayToken {
        id: b.token_id.clone(),
        standard: token.standard().to_owned(),
        symbol: token.symbol().to_owned(),
        decimals: token.decimals(),
        address: token.address().map(str::to_owned),
    });
    t.amounts = m.amounts;
    t.nft_token_ids = m.nft_token_ids;
    t.ref_id = b.ref_id.clone();
    t.memo = b.memo.clone();
    let n = Asked {
        customer_id: &id,
        kind: Kind::Transfer,
        idempotency_key: b.idempotency_key.as_deref(),
        redirect_url: b.redirect_url.as_deref(),
        json: &body.json,
    };
    let r = Req {
        app: &app,
        caller: &caller,
        ctx: &ctx,
    };
    open_tx(r, &headers, n, t).await
}

/// `POST /v2/customers/{id}/transactions/contract-execution`.
pub(crate) async fn contract_execution(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerContractExecution>,
) -> ApiResult<Response> {
    let b = &body.value;
    let (level, level_name) = check_fields(
        b.fee_level.as_deref(),
        b.ref_id.as_deref(),
        b.memo.as_deref(),
    )?;
    let to = contracts::contract_address(&b.contract_address)?;
    let (f, data) = contracts::encode(&b.abi_function_signature, &b.abi_parameters)?;
    let value = contracts::native_value(b.amount.as_deref())?;
    operation_customer(&app, &caller, &id, Kind::ContractExecution).await?;
    let w = customer_wallet(&app, &caller, &id, &b.wallet_id).await?;
    let p = Sender::of(&app, w)?
        .plan(&app, to, value, data, "contract call")
        .await?;
    check_funds(&p.sender, p.value, p.gas_limit, &p.levels[level]).await?;
    let mut t = plan_base(
        "contract_execution",
        &p.sender.wallet,
        level_name,
        p.gas_limit,
        &p.levels[level],
    );
    t.contract_address = Some(b.contract_address.clone());
    t.abi_function_signature = Some(f.signature().to_owned());
    t.abi_parameters = Some(b.abi_parameters.clone());
    t.amount = b
        .amount
        .as_ref()
        .map(|_| planbok_chains::format_amount(value, NATIVE_DECIMALS));
    t.ref_id = b.ref_id.clone();
    t.memo = b.memo.clone();
    let n = Asked {
        customer_id: &id,
        kind: Kind::ContractExecution,
        idempotency_key: b.idempotency_key.as_deref(),
        redirect_url: b.redirect_url.as_deref(),
        json: &body.json,
    };
    let r = Req {
        app: &app,
        caller: &caller,
        ctx: &ctx,
    };
    open_tx(r, &headers, n, t).await
}

/// `POST /v2/customers/{id}/transactions/{txId}/cancel`.
pub(crate) async fn cancel(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((id, tx_id)): Path<(String, String)>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    replace_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        &id,
        &tx_id,
        &body,
        replace::Kind::Cancel,
    )
    .await
}

/// `POST /v2/customers/{id}/transactions/{txId}/accelerate`.
pub(crate) async fn accelerate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((id, tx_id)): Path<(String, String)>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    replace_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        &id,
        &tx_id,
        &body,
        replace::Kind::Accelerate,
    )
    .await
}

async fn replace_challenge(
    req: Req<'_>,
    headers: &HeaderMap,
    customer_id: &str,
    tx_id: &str,
    body: &Body<CreateChallenge>,
    kind: replace::Kind,
) -> ApiResult<Response> {
    let (app, caller) = (req.app, req.caller);
    let b = &body.value;
    let (what, challenge_kind) = match kind {
        replace::Kind::Cancel => ("cancel", Kind::CancelTransaction),
        replace::Kind::Accelerate => ("accelerate", Kind::AccelerateTransaction),
    };
    operation_customer(app, caller, customer_id, challenge_kind).await?;
    let original = app
        .store
        .transaction(&caller.org_id, tx_id)
        .await?
        .ok_or_else(|| ApiError::not_found("transaction"))?;
    // The customer's own transaction only (404 for anyone else's).
    let w = customer_wallet(app, caller, customer_id, &original.wallet_id)
        .await
        .map_err(|_| ApiError::not_found("transaction"))?;
    let head = pending_head(app, &caller.org_id, tx_id).await?;
    let s = Sender::of(app, w)?;
    let r = replacement(kind, &head, &s).await?;
    check_funds(&s, r.fields.value, r.fields.gas_limit, &r.fees()).await?;
    let mut t = plan_base(
        what,
        &s.wallet,
        &head.fee_level,
        r.fields.gas_limit,
        &r.fees(),
    );
    let old = planbok_chains::signed_call(
        &hex::decode(head.raw_tx.trim_start_matches("0x")).unwrap_or_default(),
    )
    .ok_or_else(|| ApiError::internal("a stored transaction does not decode"))?;
    t.replaces = Some(GatewayReplaced {
        transaction_id: head.id.clone(),
        transaction_hash: head.tx_hash.clone(),
        nonce: old.nonce,
        to: format!("{:#x}", old.to),
        value: old.value.to_string(),
        data: format!("0x{}", hex::encode(&old.data)),
        operation: head.operation.clone(),
    });
    t.ref_id = head.ref_id.clone();
    let n = Asked {
        customer_id,
        kind: challenge_kind,
        idempotency_key: b.idempotency_key.as_deref(),
        redirect_url: b.redirect_url.as_deref(),
        json: &body.json,
    };
    open_tx(req, headers, n, t).await
}
