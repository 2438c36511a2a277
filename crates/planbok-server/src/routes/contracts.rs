//! Contract execution, its fee estimate, and read-only view calls (`docs/transactions.md`).
//! The function and its parameters are parsed and ABI-encoded by alloy
//! (`planbok_chains::AbiFunction`); a malformed signature or a parameter that does not fit
//! its type is 400 `invalid_abi`, before anything is written.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::{
    ContractViewCall, ContractViewResult, CreateContractExecution, EstimateContractFee,
};
use planbok_chains::{AbiFunction, Address, Chain, U256};
use serde_json::{Value, json};

use super::transfers::estimate_of;
use super::tx_submit::{Described, NATIVE_DECIMALS, Plan, Submit, sender, submit, would_fail};
use crate::App;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::rpc::CallRequest;

/// The most `abiParameters` values a request may carry.
const MAX_PARAMS: usize = 64;

/// A function and its call data.
pub(super) fn encode(signature: &str, params: &[Value]) -> ApiResult<(AbiFunction, Vec<u8>)> {
    if params.len() > MAX_PARAMS {
        return Err(ApiError::new(
            ErrorCode::InvalidAbi,
            format!("abiParameters holds at most {MAX_PARAMS} values"),
        ));
    }
    let f = AbiFunction::parse(signature).map_err(|e| ApiError::new(ErrorCode::InvalidAbi, e))?;
    let data = f
        .encode(params)
        .map_err(|e| ApiError::new(ErrorCode::InvalidAbi, e))?;
    Ok((f, data))
}

pub(super) fn contract_address(s: &str) -> ApiResult<Address> {
    planbok_chains::parse_evm_address(s)
        .map_err(|e| ApiError::invalid(format!("contractAddress: {e}")))
}

/// The native value of a payable call: a decimal amount of the chain's coin, default 0.
pub(super) fn native_value(amount: Option<&str>) -> ApiResult<U256> {
    match amount {
        None => Ok(U256::ZERO),
        Some(a) => planbok_chains::parse_amount(a, NATIVE_DECIMALS)
            .map_err(|e| ApiError::invalid(format!("amount: {e}"))),
    }
}

struct Exec<'a> {
    wallet_id: &'a str,
    contract: &'a str,
    signature: &'a str,
    params: &'a [Value],
    amount: Option<&'a str>,
}

async fn plan(app: &App, org_id: &str, e: &Exec<'_>) -> ApiResult<(Plan, AbiFunction, U256)> {
    let to = contract_address(e.contract)?;
    let (f, data) = encode(e.signature, e.params)?;
    let value = native_value(e.amount)?;
    let s = sender(app, org_id, e.wallet_id).await?;
    let p = s.plan(app, to, value, data, "contract call").await?;
    Ok((p, f, value))
}

/// `POST /v2/transactions/contract-execution/estimate-fee`.
pub(crate) async fn estimate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    body: Body<EstimateContractFee>,
) -> ApiResult<Response> {
    let b = &body.value;
    let (p, _, _) = plan(
        &app,
        &caller.org_id,
        &Exec {
            wallet_id: &b.wallet_id,
            contract: &b.contract_address,
            signature: &b.abi_function_signature,
            params: &b.abi_parameters,
            amount: b.amount.as_deref(),
        },
    )
    .await?;
    Ok(super::ok(StatusCode::OK, "Fee estimated", estimate_of(&p)))
}

/// `POST /v2/organization/transactions/contract-execution`.
pub(crate) async fn execute(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateContractExecution>,
) -> ApiResult<Response> {
    let b = &body.value;
    let s = Submit {
        action: "transaction.contract_execution",
        key: b.idempotency_key.as_deref(),
        json: &body.json,
        wallet_id: &b.wallet_id,
        fee_level: b.fee_level.as_deref(),
        ref_id: b.ref_id.as_deref(),
        secret: b
            .encrypted_organization_secret
            .as_deref()
            .unwrap_or_default(),
        detail: json!({
            "walletId": b.wallet_id, "contractAddress": b.contract_address,
            "abiFunctionSignature": b.abi_function_signature, "abiParameters": b.abi_parameters,
            "amount": b.amount, "feeLevel": b.fee_level, "refId": b.ref_id,
        }),
    };
    let planned = async {
        let (p, f, value) = plan(
            &app,
            &caller.org_id,
            &Exec {
                wallet_id: &b.wallet_id,
                contract: &b.contract_address,
                signature: &b.abi_function_signature,
                params: &b.abi_parameters,
                amount: b.amount.as_deref(),
            },
        )
        .await?;
        let d = Described {
            operation: "CONTRACT_EXECUTION",
            destination_address: b.contract_address.clone(),
            token_id: planbok_chains::native_token_id(p.sender.chain),
            amounts: vec![planbok_chains::format_amount(value, NATIVE_DECIMALS)],
            ref_id: b.ref_id.clone(),
            abi_function_signature: Some(f.signature().to_owned()),
            abi_parameters: Some(
                serde_json::to_string(&b.abi_parameters).map_err(ApiError::internal)?,
            ),
            nft_token_ids: None,
            replaces: None,
        };
        Ok((p, d))
    };
    submit(&app, &caller, &ctx, s, planned).await
}

/// `POST /v2/transactions/contract-view/call`: `eth_call` on the latest block, nothing
/// signed, nothing stored. The caller is a wallet of the organization (`walletId`, which
/// also names the chain) or `fromAddress` with `blockchain`.
pub(crate) async fn view(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    body: Body<ContractViewCall>,
) -> ApiResult<Response> {
    let b = &body.value;
    let to = contract_address(&b.contract_address)?;
    let (f, data) = encode(&b.abi_function_signature, &b.abi_parameters)?;
    let (chain, from) = match (&b.wallet_id, &b.from_address) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give walletId or fromAddress, not both"));
        }
        (Some(w), None) => {
            let s = sender(&app, &caller.org_id, w).await?;
            if b.blockchain.as_deref().is_some_and(|c| c != s.chain.id()) {
                return Err(ApiError::invalid(format!(
                    "blockchain: the wallet is on {}",
                    s.chain.id()
                )));
            }
            (s.chain, Some(s.from))
        }
        (None, from) => {
            let chain = b.blockchain.as_deref().ok_or_else(|| {
                ApiError::invalid("give walletId, or blockchain (and optionally fromAddress)")
            })?;
            let from = from
                .as_deref()
                .map(planbok_chains::parse_evm_address)
                .transpose()
                .map_err(|e| ApiError::invalid(format!("fromAddress: {e}")))?;
            (Chain::parse(chain)?, from)
        }
    };
    let rpc = app.chains.get(chain)?;
    let call = CallRequest {
        from,
        to,
        value: U256::ZERO,
        data,
        gas: None,
    };
    let answer = rpc
        .rpc
        .eth_call(&call, "latest")
        .await
        .map_err(|e| would_fail(chain, "call", e))?;
    let result = if f.has_outputs() {
        Some(
            f.decode_output(&answer)
                .map_err(|e| ApiError::new(ErrorCode::InvalidAbi, e))?,
        )
    } else {
        None
    };
    Ok(super::ok(
        StatusCode::OK,
        "Contract called",
        ContractViewResult {
            result,
            data: format!("0x{}", hex::encode(&answer)),
        },
    ))
}
