//! Transfers and their fee estimates (`docs/transactions.md`): native coins, ERC-20s,
//! ERC-721s and ERC-1155s. The transfer is planned here (the call it makes); signing,
//! the nonce and the commit are `tx_submit`'s.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{CreateTransfer, EstimateTransferFee, FeeEstimate};
use planbok_chains::EvmCall;
use serde_json::json;

use super::tokens::{ResolvedToken, resolve_token};
use super::tx_submit::{Described, Plan, Sender, Submit, fee_level, sender, submit};
use crate::App;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};

pub(crate) use super::tx_submit::NATIVE_DECIMALS;

/// The fields a transfer and an estimate share.
pub(super) struct Spec<'a> {
    pub(super) wallet_id: &'a str,
    pub(super) destination: &'a str,
    pub(super) token_id: &'a str,
    pub(super) amounts: &'a [String],
    pub(super) nft_token_ids: Option<&'a [String]>,
}

/// What a transfer moves, once checked: the call and the amounts as recorded.
pub(super) struct Moved {
    pub(super) call: EvmCall,
    pub(super) amounts: Vec<String>,
    pub(super) nft_token_ids: Option<Vec<String>>,
}

/// Checks a transfer from `sender` and computes its call (`planbok_chains::transfer_call`,
/// the one the customer's Gateway recomputes too).
pub(super) async fn moved(
    app: &App,
    org_id: &str,
    sender: &Sender,
    s: &Spec<'_>,
) -> ApiResult<(ResolvedToken, Moved)> {
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
    let (call, amounts) = planbok_chains::transfer_call(
        &token.transfer_token()?,
        sender.from,
        destination,
        s.amounts,
        s.nft_token_ids,
    )
    .map_err(ApiError::invalid)?;
    let nft_token_ids = matches!(token.standard(), "erc721" | "erc1155")
        .then(|| s.nft_token_ids.unwrap_or_default().to_vec());
    Ok((
        token,
        Moved {
            call,
            amounts,
            nft_token_ids,
        },
    ))
}

async fn plan(app: &App, org_id: &str, s: &Spec<'_>) -> ApiResult<(Plan, Moved)> {
    let sender = sender(app, org_id, s.wallet_id).await?;
    let (_, moved) = moved(app, org_id, &sender, s).await?;
    let c = &moved.call;
    let p = sender
        .plan(app, c.to, c.value, c.data.clone(), "transfer")
        .await?;
    Ok((p, moved))
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
