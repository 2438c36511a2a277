//! Transfers and their fee estimates (`docs/transactions.md`): native coins, ERC-20s,
//! ERC-721s and ERC-1155s. The transfer is planned here (the call it makes); signing,
//! the nonce and the commit are `tx_submit`'s.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{CreateTransfer, EstimateTransferFee, FeeEstimate};
use planbok_chains::{AbiFunction, Address, U256};
use planbok_store::server::TokenRecord;
use serde_json::json;

use super::tokens::{ResolvedToken, resolve_token};
use super::tx_submit::{Described, Plan, Submit, fee_level, sender, submit};
use crate::App;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};

pub(crate) use super::tx_submit::NATIVE_DECIMALS;

/// The most token ids one ERC-1155 batch transfer moves.
const MAX_NFT_IDS: usize = 100;

/// The fields a transfer and an estimate share.
struct Spec<'a> {
    wallet_id: &'a str,
    destination: &'a str,
    token_id: &'a str,
    amounts: &'a [String],
    nft_token_ids: Option<&'a [String]>,
}

/// What a transfer moves, once checked: the call and the amounts as recorded.
struct Moved {
    to: Address,
    value: U256,
    data: Vec<u8>,
    amounts: Vec<String>,
    nft_token_ids: Option<Vec<String>>,
}

async fn plan(app: &App, org_id: &str, s: &Spec<'_>) -> ApiResult<(Plan, Moved)> {
    let sender = sender(app, org_id, s.wallet_id).await?;
    let destination = planbok_chains::parse_evm_address(s.destination)
        .map_err(|e| ApiError::invalid(format!("destinationAddress: {e}")))?;
    let token = resolve_token(app, org_id, s.token_id).await?;
    if token.blockchain() != sender.chain.id() {
        return Err(ApiError::invalid(format!(
            "tokenId is a {} token and the wallet is on {}",
            token.blockchain(),
            sender.chain.id()
        )));
    }
    let moved = match &token {
        ResolvedToken::Registered(t) if t.standard == "erc721" || t.standard == "erc1155" => {
            nft(t, sender.from, destination, s)?
        }
        _ => {
            if s.nft_token_ids.is_some_and(|ids| !ids.is_empty()) {
                return Err(ApiError::invalid(
                    "nftTokenIds is for erc721 and erc1155 tokens",
                ));
            }
            let [amount] = s.amounts else {
                return Err(ApiError::invalid("amounts must hold exactly one amount"));
            };
            let units = planbok_chains::parse_amount(amount, token.decimals())
                .map_err(|e| ApiError::invalid(format!("amounts: {e}")))?;
            if units.is_zero() {
                return Err(ApiError::invalid("amounts: the amount must be positive"));
            }
            let (to, value, data) = match &token {
                ResolvedToken::Native(_) => (destination, units, Vec::new()),
                ResolvedToken::Registered(t) => (
                    contract(t)?,
                    U256::ZERO,
                    planbok_chains::erc20_transfer_data(destination, units),
                ),
            };
            Moved {
                to,
                value,
                data,
                amounts: s.amounts.to_vec(),
                nft_token_ids: None,
            }
        }
    };
    let p = sender
        .plan(app, moved.to, moved.value, moved.data.clone(), "transfer")
        .await?;
    Ok((p, moved))
}

fn contract(t: &TokenRecord) -> ApiResult<Address> {
    planbok_chains::parse_evm_address(&t.address)
        .map_err(|e| ApiError::internal(format!("stored token address: {e}")))
}

/// A whole, non-negative decimal (a token id or an NFT amount).
fn whole(field: &str, s: &str) -> ApiResult<U256> {
    planbok_chains::parse_amount(s, 0)
        .map_err(|e| ApiError::invalid(format!("{field}: {s:?} is not a whole number: {e}")))
}

/// An ERC-721 `safeTransferFrom(from, to, id)` or an ERC-1155 `safeTransferFrom(from, to,
/// id, amount, "")` / `safeBatchTransferFrom(from, to, ids, amounts, "")`, encoded by
/// alloy.
fn nft(t: &TokenRecord, from: Address, to: Address, s: &Spec<'_>) -> ApiResult<Moved> {
    let ids = s.nft_token_ids.unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::invalid(format!(
            "a transfer of an {} token names its token ids in nftTokenIds",
            t.standard
        )));
    }
    for id in ids {
        whole("nftTokenIds", id)?;
    }
    let addr = |a: Address| json!(format!("{a:#x}"));
    let (signature, params, amounts) = if t.standard == "erc721" {
        let [id] = ids else {
            return Err(ApiError::invalid(
                "an erc721 transfer moves exactly one token id (one transaction per NFT)",
            ));
        };
        if !(s.amounts.is_empty() || s.amounts == ["1"]) {
            return Err(ApiError::invalid(
                "amounts of an erc721 transfer is empty or [\"1\"]",
            ));
        }
        (
            "safeTransferFrom(address,address,uint256)",
            vec![addr(from), addr(to), json!(id)],
            vec!["1".to_owned()],
        )
    } else {
        if ids.len() > MAX_NFT_IDS {
            return Err(ApiError::invalid(format!(
                "an erc1155 transfer moves at most {MAX_NFT_IDS} token ids"
            )));
        }
        if s.amounts.len() != ids.len() {
            return Err(ApiError::invalid(
                "an erc1155 transfer gives one amount per token id (amounts[i] of nftTokenIds[i])",
            ));
        }
        for a in s.amounts {
            if whole("amounts", a)?.is_zero() {
                return Err(ApiError::invalid("amounts: each amount must be positive"));
            }
        }
        if let ([id], [amount]) = (ids, s.amounts) {
            (
                "safeTransferFrom(address,address,uint256,uint256,bytes)",
                vec![addr(from), addr(to), json!(id), json!(amount), json!("0x")],
                s.amounts.to_vec(),
            )
        } else {
            (
                "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
                vec![
                    addr(from),
                    addr(to),
                    json!(ids),
                    json!(s.amounts),
                    json!("0x"),
                ],
                s.amounts.to_vec(),
            )
        }
    };
    let data = AbiFunction::parse(signature)
        .and_then(|f| f.encode(&params))
        .map_err(ApiError::internal)?;
    Ok(Moved {
        to: contract(t)?,
        value: U256::ZERO,
        data,
        amounts,
        nft_token_ids: Some(ids.to_vec()),
    })
}

/// `POST /v2/transactions/transfer/estimate-fee`.
pub(crate) async fn estimate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    body: Body<EstimateTransferFee>,
) -> ApiResult<Response> {
    let b = &body.value;
    let (p, _) = plan(
        &app,
        &caller.org_id,
        &Spec {
            wallet_id: &b.wallet_id,
            destination: &b.destination_address,
            token_id: &b.token_id,
            amounts: &b.amounts,
            nft_token_ids: b.nft_token_ids.as_deref(),
        },
    )
    .await?;
    Ok(super::ok(StatusCode::OK, "Fee estimated", estimate_of(&p)))
}

/// The three levels of a plan.
pub(super) fn estimate_of(p: &Plan) -> FeeEstimate {
    FeeEstimate {
        low: fee_level(p.gas_limit, &p.levels[0]),
        medium: fee_level(p.gas_limit, &p.levels[1]),
        high: fee_level(p.gas_limit, &p.levels[2]),
    }
}

/// `POST /v2/organization/transactions/transfer`.
pub(crate) async fn transfer(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateTransfer>,
) -> ApiResult<Response> {
    let b = &body.value;
    let s = Submit {
        action: "transaction.transfer",
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
            "walletId": b.wallet_id, "destinationAddress": b.destination_address,
            "tokenId": b.token_id, "amounts": b.amounts, "nftTokenIds": b.nft_token_ids,
            "feeLevel": b.fee_level, "refId": b.ref_id,
        }),
    };
    let planned = async {
        let (p, moved) = plan(
            &app,
            &caller.org_id,
            &Spec {
                wallet_id: &b.wallet_id,
                destination: &b.destination_address,
                token_id: &b.token_id,
                amounts: &b.amounts,
                nft_token_ids: b.nft_token_ids.as_deref(),
            },
        )
        .await?;
        let d = Described {
            operation: "TRANSFER",
            destination_address: b.destination_address.clone(),
            token_id: b.token_id.clone(),
            amounts: moved.amounts,
            ref_id: b.ref_id.clone(),
            abi_function_signature: None,
            abi_parameters: None,
            nft_token_ids: moved.nft_token_ids,
            replaces: None,
        };
        Ok((p, d))
    };
    submit(&app, &caller, &ctx, s, planned).await
}
