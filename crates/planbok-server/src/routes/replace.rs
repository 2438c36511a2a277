//! Cancel and accelerate (replace-by-fee, `docs/transactions.md`): a new transaction with
//! the same nonce and both EIP-1559 fee fields raised by at least 12.5 % (and at least
//! the chain's current level): the same call (accelerate) or a 0-value self-transfer
//! (cancel). It is signed and committed like any transaction (before any broadcast, with
//! the original marked `replaced_by` in the same database transaction); the chain decides
//! which of the nonce's transactions is mined, and the tracker settles the others.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::ReplaceTransaction;
use planbok_chains::{Eip1559Fields, U256};
use planbok_store::StoreError;
use planbok_store::server::TxRecord;
use serde_json::json;

use super::json_response;
use super::orgs::finish;
use super::tx_submit::{
    Described, Sender, SignedFor, check_funds, created_commit, created_events, new_record, sender,
    sign_eip1559,
};
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::rpc::CallRequest;
use crate::evm::{fees, unavailable};
use crate::{App, idem};

/// How far a replacement raises each fee field at least: 12.5 % (`× 9 / 8`, rounded up),
/// more than the 10 % most nodes' pools require.
fn bumped(old: u128) -> u128 {
    old.saturating_mul(9).div_ceil(8)
}

/// A replacement's fees: each field at least 12.5 % over `old`'s and at least the chain's
/// current level; the tip never above the cap.
pub(crate) fn replacement_fees(old: fees::Fees, current: fees::Fees) -> fees::Fees {
    let tip = bumped(old.max_priority_fee_per_gas).max(current.max_priority_fee_per_gas);
    let max = bumped(old.max_fee_per_gas)
        .max(current.max_fee_per_gas)
        .max(tip);
    fees::Fees {
        max_fee_per_gas: max,
        max_priority_fee_per_gas: tip,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Cancel,
    Accelerate,
}

impl Kind {
    /// What the replacement of `head` from `s` records: an accelerate, the same as
    /// `head`; a cancel, a 0-value self-transfer of the native coin.
    pub(super) fn described(self, head: &TxRecord, s: &Sender) -> Described {
        match self {
            Kind::Accelerate => Described {
                operation: static_operation(&head.operation),
                destination_address: head.destination_address.clone(),
                token_id: head.token_id.clone(),
                amounts: head.amounts.clone(),
                ref_id: head.ref_id.clone(),
                abi_function_signature: head.abi_function_signature.clone(),
                abi_parameters: head.abi_parameters.clone(),
                nft_token_ids: head.nft_token_ids.clone(),
                replaces: Some(head.id.clone()),
            },
            Kind::Cancel => Described {
                operation: "CANCEL",
                destination_address: s.wallet.address.clone(),
                token_id: planbok_chains::native_token_id(s.chain),
                amounts: vec!["0".into()],
                ref_id: head.ref_id.clone(),
                abi_function_signature: None,
                abi_parameters: None,
                nft_token_ids: None,
                replaces: Some(head.id.clone()),
            },
        }
    }

    /// The events beyond `transaction.created` and `transaction.signed`.
    pub(super) fn extra_events(self) -> Vec<&'static str> {
        match self {
            Kind::Accelerate => vec!["transaction.accelerated"],
            Kind::Cancel => Vec::new(),
        }
    }
}

/// `POST /v2/organization/transactions/{id}/cancel`.
pub(crate) async fn cancel(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<ReplaceTransaction>,
) -> ApiResult<Response> {
    replace(&app, &caller, &ctx, &id, &body, Kind::Cancel).await
}

/// `POST /v2/organization/transactions/{id}/accelerate`.
pub(crate) async fn accelerate(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<ReplaceTransaction>,
) -> ApiResult<Response> {
    replace(&app, &caller, &ctx, &id, &body, Kind::Accelerate).await
}

/// The pending head of `id`'s replacements: `id` itself, or the last transaction that
/// replaced it. 409 `transaction_not_pending` once the nonce is settled.
pub(super) async fn pending_head(app: &App, org_id: &str, id: &str) -> ApiResult<TxRecord> {
    let mut t = app
        .store
        .transaction(org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transaction"))?;
    // A nonce's transactions form one chain of replacements; bounded all the same.
    for _ in 0..1000 {
        let Some(next) = t.replaced_by.clone() else {
            break;
        };
        if t.status != "signed" && t.status != "broadcast" {
            break;
        }
        t = app
            .store
            .transaction(org_id, &next)
            .await?
            .ok_or_else(|| ApiError::internal("a replacement is missing"))?;
    }
    if t.status != "signed" && t.status != "broadcast" {
        return Err(not_pending(&t));
    }
    Ok(t)
}

/// A replacement of `head`, ready to sign.
pub(super) struct Replacement {
    /// The call (the same as `head`'s, or a 0-value self-transfer), `head`'s nonce, and
    /// fees at least 12.5 % over `head`'s and at least the chain's current level.
    pub(super) fields: Eip1559Fields,
}

impl Replacement {
    pub(super) fn fees(&self) -> fees::Fees {
        fees::Fees {
            max_fee_per_gas: self.fields.max_fee_per_gas,
            max_priority_fee_per_gas: self.fields.max_priority_fee_per_gas,
        }
    }
}

/// The replacement of `head` (sent from `s`) by `kind`.
pub(super) async fn replacement(kind: Kind, head: &TxRecord, s: &Sender) -> ApiResult<Replacement> {
    let old = planbok_chains::signed_call(
        &hex::decode(head.raw_tx.trim_start_matches("0x")).unwrap_or_default(),
    )
    .ok_or_else(|| ApiError::internal("a stored transaction does not decode"))?;
    let (to, value, data, gas_limit) = match kind {
        Kind::Accelerate => (old.to, old.value, old.data, old.gas_limit),
        Kind::Cancel => {
            let call = CallRequest {
                from: Some(s.from),
                to: s.from,
                value: U256::ZERO,
                data: Vec::new(),
                gas: None,
            };
            let gas = s
                .rpc
                .rpc
                .estimate_gas(&call)
                .await
                .map_err(|e| unavailable(s.chain, e))?;
            (s.from, U256::ZERO, Vec::new(), gas)
        }
    };
    let level = fees::level_index(&head.fee_level).unwrap_or(1);
    let current = fees::levels(&s.rpc.rpc)
        .await
        .map_err(|e| unavailable(s.chain, e))?[level];
    let parse = |v: &str| {
        v.parse::<u128>()
            .map_err(|_| ApiError::internal("a stored fee is not a number"))
    };
    let f = replacement_fees(
        fees::Fees {
            max_fee_per_gas: parse(&head.max_fee_per_gas)?,
            max_priority_fee_per_gas: parse(&head.max_priority_fee_per_gas)?,
        },
        current,
    );
    Ok(Replacement {
        fields: Eip1559Fields {
            nonce: u64::try_from(head.nonce).map_err(|_| ApiError::internal("nonce below 0"))?,
            to,
            value,
            data,
            gas_limit,
            max_fee_per_gas: f.max_fee_per_gas,
            max_priority_fee_per_gas: f.max_priority_fee_per_gas,
        },
    })
}

fn not_pending(t: &TxRecord) -> ApiError {
    ApiError::new(
        ErrorCode::TransactionNotPending,
        format!(
            "transaction {} is {}: only a signed or broadcast transaction can be cancelled or accelerated",
            t.id, t.status
        ),
    )
}

async fn replace(
    app: &App,
    caller: &Caller,
    ctx: &Ctx,
    id: &str,
    body: &Body<ReplaceTransaction>,
    kind: Kind,
) -> ApiResult<Response> {
    let b = &body.value;
    let (action, route) = match kind {
        Kind::Cancel => ("transaction.cancel", format!("transaction.cancel {id}")),
        Kind::Accelerate => (
            "transaction.accelerate",
            format!("transaction.accelerate {id}"),
        ),
    };
    let claim = idem::Claim::new(caller, &route, b.idempotency_key.as_deref(), &body.json)?;
    let secret = b
        .encrypted_organization_secret
        .as_deref()
        .unwrap_or_default();
    let op = Op::new(
        app,
        caller,
        ctx,
        action,
        Some(id.to_owned()),
        json!({ "transactionId": id }),
    );
    let checked = async {
        let head = pending_head(app, &caller.org_id, id).await?;
        let s = sender(app, &caller.org_id, &head.wallet_id).await?;
        let r = replacement(kind, &head, &s).await?;
        check_funds(&s, r.fields.value, r.fields.gas_limit, &r.fees()).await?;
        app.require_secret_mode(&caller.org_id, secret).await?;
        let protocol = app
            .wallet_protocol(
                &caller.org_id,
                &s.wallet.blockchain,
                &s.wallet.wallet_set_id,
            )
            .await?;
        let fields = r.fields;
        ApiResult::Ok((head, s, protocol, fields))
    }
    .await;
    let (head, s, protocol, fields) = match checked {
        Ok(c) => c,
        Err(e) => return claim.replay_or(app, e).await,
    };
    let idem = match claim.take_requested(app, &op).await? {
        idem::Began::Replay(r) => return Ok(r),
        idem::Began::Fresh(i) => i,
    };
    let result = async {
        let signed = sign_eip1559(
            app,
            SignedFor::Member(caller, ctx),
            &s,
            protocol,
            &fields,
            secret,
        )
        .await?;
        let d = kind.described(&head, &s);
        let record = new_record(&caller.org_id, &s, d, &fields, &head.fee_level, &signed)?;
        let (commit, text) = created_commit(&op, &idem, &record, &signed, kind.extra_events())?;
        app.store
            .insert_replacement(&record, &commit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => ApiError::new(ErrorCode::TransactionNotPending, m),
                e => e.into(),
            })?;
        app.webhooks.wake();
        app.tracker_wake.notify_one();
        Ok(json_response(axum::http::StatusCode::CREATED, text))
    }
    .await;
    finish(app, &op, &idem, result).await
}

/// Fills the nonce of `t`, a Standard organization's pending transaction the node keeps
/// refusing (`refusal`, its last answer): a cancel signed for the tracker (a 0-value
/// self-transfer of the same nonce, fees raised as any replacement's), committed with a
/// `system` audit entry and its events before anything is broadcast. The id of the
/// replacement, or why there is none (a Trustless organization's or a customer's wallet
/// signs only with its owner's secret; the wallet cannot pay the fee; a node is down).
pub(crate) async fn fill(app: &App, t: &TxRecord, refusal: &str) -> Result<String, String> {
    let msg = |e: ApiError| e.message;
    let mode = app.custody_mode(&t.org_id).await.map_err(msg)?;
    if mode != "standard" {
        return Err(format!(
            "a {mode} organization's transaction is replaced only with its secret: cancel or \
             accelerate it"
        ));
    }
    let s = sender(app, &t.org_id, &t.wallet_id).await.map_err(msg)?;
    let r = replacement(Kind::Cancel, t, &s).await.map_err(msg)?;
    check_funds(&s, r.fields.value, r.fields.gas_limit, &r.fees())
        .await
        .map_err(msg)?;
    let protocol = app
        .wallet_protocol(&t.org_id, &s.wallet.blockchain, &s.wallet.wallet_set_id)
        .await
        .map_err(msg)?;
    let signed = sign_eip1559(
        app,
        SignedFor::Tracker(&t.org_id),
        &s,
        protocol,
        &r.fields,
        "",
    )
    .await
    .map_err(msg)?;
    let record = new_record(
        &t.org_id,
        &s,
        Kind::Cancel.described(t, &s),
        &r.fields,
        &t.fee_level,
        &signed,
    )
    .map_err(msg)?;
    let audit = crate::audit::system_draft(
        &t.org_id,
        format!("tracker:{}", t.id),
        "transaction.fill",
        Some(t.id.clone()),
        "success",
        json!({
            "transactionId": record.id, "txHash": record.tx_hash, "nonce": record.nonce,
            "blockchain": record.blockchain, "digest": signed.digest_hex,
            "replaces": t.id, "refusal": refusal,
        }),
    );
    let commit = planbok_store::server::Commit {
        mails: Vec::new(),
        audit: vec![audit],
        idempotency: None,
        events: created_events(&record, Vec::new()).map_err(msg)?,
    };
    app.store
        .insert_replacement(&record, &commit)
        .await
        .map_err(|e| e.to_string())?;
    app.webhooks.wake();
    app.tracker_wake.notify_one();
    Ok(record.id)
}

/// The stored operation as the static name the record takes.
pub(super) fn static_operation(op: &str) -> &'static str {
    match op {
        "CONTRACT_EXECUTION" => "CONTRACT_EXECUTION",
        "CANCEL" => "CANCEL",
        _ => "TRANSFER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_fees_rise_by_an_eighth_or_to_the_current_level() {
        let f = |max, tip| fees::Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        };
        // 12.5 % up, rounded up.
        assert_eq!(replacement_fees(f(1_000, 100), f(10, 1)), f(1_125, 113));
        assert_eq!(replacement_fees(f(7, 1), f(0, 0)), f(8, 2));
        // The chain moved on: its level.
        assert_eq!(
            replacement_fees(f(1_000, 100), f(5_000, 300)),
            f(5_000, 300)
        );
        // The tip never exceeds the cap.
        let r = replacement_fees(f(1_000, 100), f(10, 900));
        assert!(r.max_priority_fee_per_gas <= r.max_fee_per_gas);
        assert!(r.max_fee_per_gas >= 1_125);
    }
}
