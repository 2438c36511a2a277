//! The Gateway's side of a customer transaction (`routes/customer_tx.rs` has the whole
//! flow): `POST /gateway/api/transaction/prepare` (the nonce held for the challenge, the
//! fees of now under the cap the customer was shown), and the signature of exactly the
//! prepared transaction when `POST /gateway/api/operation` runs the plan, with the record
//! the challenge's completion stores.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::customer_ops::{GatewayPrepared, GatewayTransaction};
use planbok_chains::{Eip1559Fields, EvmCall, U256};
use planbok_store::StoreError;
use planbok_store::server::{ChallengeRecord, EventDraft, TxRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::convert::rfc3339;
use super::gateway::Gate;
use super::gateway_ops::Plan;
use super::ok;
use super::replace::{self, pending_head, replacement};
use super::tx_submit::{
    NATIVE_DECIMALS, NonceLease, Sender, Signed, check_funds, created_events, new_record,
};
use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::evm::fees::{self, Fees};
use crate::evm::unavailable;
use crate::facts::SigningWallet;
use crate::nodes::Signing;
use crate::now_ms;

/// How long a prepared transaction holds its wallet's nonce: the Gateway prepares once
/// the PIN is typed, then makes one PIN attempt and the operation (a signing call at
/// most the nodes' timeout), with a margin for a slow device.
fn hold_ms(app: &App) -> i64 {
    i64::try_from(app.nodes.timeout_ms()).unwrap_or(i64::MAX / 4) + 90_000
}

/// The server's record of a prepared transaction (the challenge's `prepared` column).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Prepared {
    nonce: u64,
    gas_limit: u64,
    max_fee_per_gas: String,
    max_priority_fee_per_gas: String,
    /// A new transaction's nonce lease (none for a replacement: its nonce is its
    /// original's).
    lease_token: Option<String>,
    /// Until when the nonce is held (unix ms).
    until_ms: i64,
}

impl Prepared {
    fn of(ch: &ChallengeRecord) -> ApiResult<Option<Prepared>> {
        ch.prepared
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(ApiError::internal)
    }

    fn fees(&self) -> ApiResult<Fees> {
        let parse = |v: &str| {
            v.parse::<u128>()
                .map_err(|_| ApiError::internal("a prepared fee is not a number"))
        };
        Ok(Fees {
            max_fee_per_gas: parse(&self.max_fee_per_gas)?,
            max_priority_fee_per_gas: parse(&self.max_priority_fee_per_gas)?,
        })
    }

    fn view(&self) -> ApiResult<GatewayPrepared> {
        let level = super::tx_submit::fee_level(self.gas_limit, &self.fees()?);
        Ok(GatewayPrepared {
            nonce: self.nonce,
            gas_limit: level.gas_limit,
            max_fee_per_gas: level.max_fee_per_gas,
            max_priority_fee_per_gas: level.max_priority_fee_per_gas,
            network_fee: level.network_fee,
            expires_at: rfc3339(self.until_ms),
        })
    }
}

/// The Gateway's view of a transaction challenge's prepared part.
pub(crate) fn prepared_view(ch: &ChallengeRecord) -> ApiResult<Option<GatewayPrepared>> {
    Prepared::of(ch)?.map(|p| p.view()).transpose()
}

/// What the plan calls, computed from its parts exactly as the Gateway computes it.
fn call_of(t: &GatewayTransaction) -> ApiResult<EvmCall> {
    planbok_chains::customer_call(t).map_err(ApiError::internal)
}

fn replace_kind(t: &GatewayTransaction) -> Option<replace::Kind> {
    match t.what.as_str() {
        "cancel" => Some(replace::Kind::Cancel),
        "accelerate" => Some(replace::Kind::Accelerate),
        _ => None,
    }
}

/// The plan of a transaction challenge (409 for any other challenge).
fn transaction_plan(ch: &ChallengeRecord) -> ApiResult<GatewayTransaction> {
    match super::gateway_ops::plan_of(ch)? {
        Plan::Transaction(t) => Ok(*t),
        _ => Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "this challenge does not send a transaction",
        )),
    }
}

/// The plan's wallet, unchanged since the challenge was made.
async fn plan_sender(app: &App, ch: &ChallengeRecord, t: &GatewayTransaction) -> ApiResult<Sender> {
    let s = super::tx_submit::sender(app, &ch.org_id, &t.wallet_id).await?;
    if s.wallet.key_id != t.key_id || s.wallet.derivation_path != t.derivation_path {
        return Err(ApiError::internal("the wallet changed under its challenge"));
    }
    Ok(s)
}

/// `POST /gateway/api/transaction/prepare`: fixes the challenge's nonce (the wallet's
/// nonce lease, held for the challenge; a replacement's is its original's) and the fees
/// of now, refused above the plan's cap (422 `transaction_would_fail`: the customer was
/// shown less). A prepare whose hold is still live answers the same again.
pub(crate) async fn prepare(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
) -> ApiResult<Response> {
    let t = transaction_plan(&ch)?;
    let now = now_ms();
    if let Some(p) = Prepared::of(&ch)?
        && p.until_ms > now + 10_000
    {
        return Ok(ok(StatusCode::OK, "Transaction prepared", p.view()?));
    }
    let s = plan_sender(&app, &ch, &t).await?;
    let call = call_of(&t)?;
    let gas_limit: u64 = t
        .gas_limit
        .parse()
        .map_err(|_| ApiError::internal("a plan's gas limit is not a number"))?;
    let (nonce, f, lease) = match replace_kind(&t) {
        None => {
            let level = fees::level_index(&t.fee_level).unwrap_or(1);
            let f = fees::levels(&s.rpc.rpc)
                .await
                .map_err(|e| unavailable(s.chain, e))?[level];
            let lease = NonceLease::take_for(&app, &s, hold_ms(&app)).await?;
            let on_chain = match s.rpc.rpc.pending_nonce(s.from).await {
                Ok(n) => n,
                Err(e) => {
                    lease.release(&app).await;
                    return Err(unavailable(s.chain, e));
                }
            };
            let nonce = u64::try_from(lease.next).unwrap_or_default().max(on_chain);
            (nonce, f, Some(lease))
        }
        Some(kind) => {
            let r = t
                .replaces
                .as_ref()
                .ok_or_else(|| ApiError::internal("a replacement plan without its original"))?;
            let head = pending_head(&app, &ch.org_id, &r.transaction_id).await?;
            if head.id != r.transaction_id {
                return Err(ApiError::new(
                    ErrorCode::TransactionNotPending,
                    format!(
                        "transaction {} was replaced meanwhile; make a new challenge",
                        r.transaction_id
                    ),
                ));
            }
            let rep = replacement(kind, &head, &s).await?;
            (rep.fields.nonce, rep.fees(), None)
        }
    };
    let fixed = async {
        let cap = planbok_chains::parse_amount(&t.max_network_fee, NATIVE_DECIMALS)
            .map_err(ApiError::internal)?;
        let fee = U256::from(gas_limit) * U256::from(f.max_fee_per_gas);
        if fee > cap {
            return Err(ApiError::new(
                ErrorCode::TransactionWouldFail,
                format!(
                    "the network fee rose to {} {sym}, above the {} {sym} the customer was shown; make a new challenge",
                    planbok_chains::format_amount(fee, NATIVE_DECIMALS),
                    t.max_network_fee,
                    sym = s.chain.native_symbol(),
                ),
            ));
        }
        check_funds(&s, call.value, gas_limit, &f).await?;
        let p = Prepared {
            nonce,
            gas_limit,
            max_fee_per_gas: f.max_fee_per_gas.to_string(),
            max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
            lease_token: lease.as_ref().map(|l| l.token.clone()),
            until_ms: lease.as_ref().map_or(ch.expires_at_ms, |l| l.until_ms),
        };
        let text = serde_json::to_string(&p).map_err(ApiError::internal)?;
        if !app.store.set_challenge_prepared(&ch, Some(&text)).await? {
            return Err(ApiError::new(
                ErrorCode::ChallengeNotPending,
                "the challenge is no longer pending",
            ));
        }
        p.view()
    }
    .await;
    match fixed {
        Ok(view) => Ok(ok(StatusCode::OK, "Transaction prepared", view)),
        Err(e) => {
            if let Some(l) = lease {
                l.release(&app).await;
            }
            Err(e)
        }
    }
}

/// A customer's transaction, signed and verified, ready to store with its challenge.
pub(super) struct SignedTx {
    pub(super) record: TxRecord,
    /// The nonce lease it was prepared under (`None`: a replacement).
    pub(super) lease_token: Option<String>,
    pub(super) events: Vec<EventDraft>,
    pub(super) result: serde_json::Value,
}

/// Signs the challenge's prepared transaction (the permit Node 2 holds names exactly its
/// signing digest) and builds its record.
pub(super) async fn sign(
    app: &App,
    ch: &ChallengeRecord,
    t: &GatewayTransaction,
    secret: &str,
) -> ApiResult<SignedTx> {
    let p = Prepared::of(ch)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::TransactionNotPrepared,
            "the transaction is not prepared: POST /gateway/api/transaction/prepare first",
        )
    })?;
    if p.lease_token.is_some() && p.until_ms <= now_ms() {
        return Err(ApiError::new(
            ErrorCode::TransactionNotPrepared,
            "the nonce held for this transaction lapsed: prepare it again",
        ));
    }
    let s = plan_sender(app, ch, t).await?;
    let call = call_of(t)?;
    let f = p.fees()?;
    let fields = Eip1559Fields {
        nonce: p.nonce,
        to: call.to,
        value: call.value,
        data: call.data,
        gas_limit: p.gas_limit,
        max_fee_per_gas: f.max_fee_per_gas,
        max_priority_fee_per_gas: f.max_priority_fee_per_gas,
    };
    let input = planbok_chains::eip1559_input(s.chain, &fields, &s.wallet.public_key)?;
    let protocol = app
        .wallet_protocol(&ch.org_id, &s.wallet.blockchain, &s.wallet.wallet_set_id)
        .await?;
    let r = app
        .nodes
        .sign(
            &ch.org_id,
            Signing {
                key_id: &s.wallet.key_id,
                protocol,
                path: &s.wallet.derivation_path,
                payload: &input.payload,
                encrypted_secret: secret,
                customer_challenge: &ch.id,
            },
        )
        .await?;
    let signer = SigningWallet::from(s.wallet.clone());
    let v = super::sign::verify(&signer, s.chain.curve(), &input.payload, &r)?;
    let done = planbok_chains::finish_transaction(
        s.chain,
        &input,
        &v.signature,
        v.recovery_id,
        &s.wallet.public_key,
    )?;
    let signed = Signed {
        raw_tx: done.signed_transaction,
        tx_hash: done.tx_hash,
        digest_hex: input.digest_hex,
    };
    let (described, extra) = match replace_kind(t) {
        Some(kind) => {
            let original = t
                .replaces
                .as_ref()
                .ok_or_else(|| ApiError::internal("a replacement plan without its original"))?;
            let head = app
                .store
                .transaction(&ch.org_id, &original.transaction_id)
                .await?
                .ok_or_else(|| ApiError::internal("a replaced transaction is missing"))?;
            (kind.described(&head, &s), kind.extra_events())
        }
        None => (described(t, &s)?, Vec::new()),
    };
    let record = new_record(&ch.org_id, &s, described, &fields, &t.fee_level, &signed)?;
    let events = created_events(&record, extra)?;
    let result = json!({
        "transactionId": record.id,
        "transactionHash": record.tx_hash,
        "nonce": record.nonce,
        "digest": signed.digest_hex,
    });
    Ok(SignedTx {
        record,
        lease_token: p.lease_token,
        events,
        result,
    })
}

/// What a new customer transaction records.
fn described(t: &GatewayTransaction, s: &Sender) -> ApiResult<super::tx_submit::Described> {
    use super::tx_submit::Described;
    Ok(match t.what.as_str() {
        "transfer" => Described {
            operation: "TRANSFER",
            destination_address: t.destination_address.clone().unwrap_or_default(),
            token_id: t.token.as_ref().map(|k| k.id.clone()).unwrap_or_default(),
            amounts: t.amounts.clone(),
            ref_id: t.ref_id.clone(),
            abi_function_signature: None,
            abi_parameters: None,
            nft_token_ids: t.nft_token_ids.clone(),
            replaces: None,
        },
        _ => Described {
            operation: "CONTRACT_EXECUTION",
            destination_address: t.contract_address.clone().unwrap_or_default(),
            token_id: planbok_chains::native_token_id(s.chain),
            amounts: vec![t.amount.clone().unwrap_or_else(|| "0".into())],
            ref_id: t.ref_id.clone(),
            abi_function_signature: t.abi_function_signature.clone(),
            abi_parameters: Some(
                serde_json::to_string(&t.abi_parameters.clone().unwrap_or_default())
                    .map_err(ApiError::internal)?,
            ),
            nft_token_ids: None,
            replaces: None,
        },
    })
}

/// A store refusal of a customer's transaction at its commit, in the API's words: a new
/// transaction's lease lapsed (prepare again), or a replacement's original is settled.
pub(super) fn commit_error(e: StoreError, replacement: bool) -> ApiError {
    match e {
        StoreError::Conflict(m) if replacement => {
            ApiError::new(ErrorCode::TransactionNotPending, m)
        }
        StoreError::Conflict(m) => ApiError::new(
            ErrorCode::TransactionNotPrepared,
            format!("{m}: prepare the transaction again"),
        ),
        e => e.into(),
    }
}
