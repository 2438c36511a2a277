//! The organization's side of customer wallets (API key): challenges to create wallets,
//! sign and export, each fixing at creation exactly what it authorizes (its plan, stored
//! with the challenge). The customer completes it in the Gateway (`routes/gateway_ops.rs`)
//! with the PIN; nothing here touches a key.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::customer_ops::{
    CreateCustomerWallets, CustomerSignDelegateAction, CustomerSignMessage,
    CustomerSignTransaction, CustomerSignTypedData, GatewayCreate, GatewayDkg, GatewayExport,
    GatewayExportKey, GatewayExportWallet, GatewaySign,
};
use planbok_api::customers::CreateChallenge;
use planbok_api::model::WalletMetadata;
use planbok_chains::{Chain, Curve};
use planbok_store::server::{CustomerRecord, WalletQuery, WalletRecord};

use super::customers::{
    Kind, NewChallenge, check_pin_state, find_customer, open_challenge, return_url,
};
use super::gateway_ops::{Plan, sign_input};
use super::{Req, convert};
use crate::App;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};

/// The prefix of every customer key's id, so that a wallet's key tells whose it is
/// without a read (the nodes record the customer themselves and refuse on their own).
pub(crate) const CUSTOMER_KEY_PREFIX: &str = "kc_";
/// Most indexes one wallet creation may make.
const MAX_COUNT: usize = 20;
/// Most wallets one export covers.
const MAX_EXPORT_WALLETS: u32 = 200;

/// A new customer key id.
fn new_key_id() -> String {
    format!("{CUSTOMER_KEY_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// The organization's own routes refuse a customer's wallet (409 `customer_wallet`).
pub(crate) fn refuse_customer_wallet(key_id: &str) -> ApiResult<()> {
    if key_id.starts_with(CUSTOMER_KEY_PREFIX) {
        return Err(ApiError::new(
            ErrorCode::CustomerWallet,
            "the wallet belongs to a customer: only the customer can use it, through a challenge",
        ));
    }
    Ok(())
}

fn label(field: &str, v: Option<&String>) -> ApiResult<Option<String>> {
    match v {
        Some(s) if s.chars().count() > 100 => Err(ApiError::invalid(format!(
            "{field} must be at most 100 characters"
        ))),
        other => Ok(other.cloned()),
    }
}

/// The checks every operation challenge makes of its customer.
pub(super) async fn operation_customer(
    app: &App,
    caller: &Caller,
    id: &str,
    kind: Kind,
) -> ApiResult<CustomerRecord> {
    let customer = find_customer(app, caller, id).await?;
    check_pin_state(kind, &customer)?;
    Ok(customer)
}

/// What a request for an operation challenge asks: for which customer, which kind, its
/// idempotency key, where the Gateway returns the user, and the request's JSON (which the
/// idempotency key is checked against).
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked<'a> {
    pub(super) customer_id: &'a str,
    pub(super) kind: Kind,
    pub(super) idempotency_key: Option<&'a str>,
    pub(super) redirect_url: Option<&'a str>,
    pub(super) json: &'a serde_json::Value,
}

/// Opens the challenge with its plan.
pub(super) async fn open(
    r: Req<'_>,
    headers: &HeaderMap,
    a: Asked<'_>,
    plan: &Plan,
    detail: serde_json::Value,
) -> ApiResult<Response> {
    let Req { app, caller, ctx } = r;
    let Asked {
        customer_id,
        kind,
        idempotency_key,
        redirect_url,
        json,
    } = a;
    let redirect = return_url(redirect_url)?;
    let params = serde_json::to_string(plan).map_err(ApiError::internal)?;
    open_challenge(
        app,
        caller,
        ctx,
        headers,
        customer_id,
        NewChallenge {
            kind,
            idempotency_key,
            redirect_url: redirect.as_deref(),
            json,
            params: Some(params),
            detail,
        },
    )
    .await
}

/// `POST /v2/customers/{id}/wallet/create`: a challenge whose completion runs the DKGs
/// (the customer's first call: the wallet set's two masters; every call: one ed25519 key
/// per index if an ed25519 chain is asked for) and derives the wallets.
pub(crate) async fn wallet_create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CreateCustomerWallets>,
) -> ApiResult<Response> {
    let b = &body.value;
    let chains = super::wallets::chains(&b.blockchains)?;
    if b.account_type.as_deref().is_some_and(|t| t != "eoa") {
        return Err(ApiError::invalid("accountType must be eoa"));
    }
    let count = b.metadata.len().max(1);
    if count > MAX_COUNT {
        return Err(ApiError::invalid(format!(
            "metadata has at most {MAX_COUNT} entries"
        )));
    }
    let mut metadata = Vec::with_capacity(count);
    for i in 0..count {
        let m = b.metadata.get(i);
        metadata.push(WalletMetadata {
            name: label("metadata.name", m.and_then(|m| m.name.as_ref()))?,
            ref_id: label("metadata.refId", m.and_then(|m| m.ref_id.as_ref()))?,
        });
    }
    operation_customer(&app, &caller, &id, Kind::WalletCreate).await?;
    let mut dkgs = Vec::new();
    if app
        .store
        .customer_wallet_set(&caller.org_id, &id)
        .await?
        .is_none()
    {
        dkgs.push(GatewayDkg {
            key_id: new_key_id(),
            protocol: "cggmp".into(),
            role: "secp256k1Master".into(),
            index: None,
        });
        dkgs.push(GatewayDkg {
            key_id: new_key_id(),
            protocol: "frost".into(),
            role: "ed25519Master".into(),
            index: None,
        });
    }
    if chains.iter().any(|c| c.curve() == Curve::Ed25519) {
        for i in 0..count {
            dkgs.push(GatewayDkg {
                key_id: new_key_id(),
                protocol: "frost".into(),
                role: "ed25519Wallet".into(),
                index: u32::try_from(i).ok(),
            });
        }
    }
    let plan = Plan::Create(GatewayCreate {
        blockchains: chains.iter().map(|c| c.id().to_owned()).collect(),
        count: u32::try_from(count).unwrap_or(1),
        metadata,
        dkgs,
    });
    open(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::WalletCreate,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        &plan,
        serde_json::json!({ "blockchains": b.blockchains, "count": count }),
    )
    .await
}

/// The customer's wallet `wallet_id` (404 for anyone else's).
pub(super) async fn customer_wallet(
    app: &App,
    caller: &Caller,
    customer_id: &str,
    wallet_id: &str,
) -> ApiResult<WalletRecord> {
    let w = app
        .store
        .wallet(&caller.org_id, wallet_id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    let owner = app
        .store
        .wallet_set_customer(&caller.org_id, &w.wallet_set_id)
        .await?;
    if owner.as_deref() != Some(customer_id) {
        return Err(ApiError::not_found("wallet"));
    }
    Ok(w)
}

/// The common part of the three signing challenges: the wallet is the customer's, the
/// request is checked now (a bad one is a 4xx here, not a failure in the Gateway).
async fn sign_challenge(
    r: Req<'_>,
    headers: &HeaderMap,
    a: Asked<'_>,
    mut sign: GatewaySign,
) -> ApiResult<Response> {
    let (app, caller, customer_id, kind) = (r.app, r.caller, a.customer_id, a.kind);
    super::sign::check_memo(sign.memo.as_deref())?;
    operation_customer(app, caller, customer_id, kind).await?;
    let w = customer_wallet(app, caller, customer_id, &sign.wallet_id).await?;
    sign.blockchain = w.blockchain.clone();
    sign.address = w.address.clone();
    sign.public_key = format!("0x{}", hex::encode(&w.public_key));
    sign.key_id = w.key_id.clone();
    sign.derivation_path = w.derivation_path.clone();
    let input = sign_input(&sign, &w.public_key)?;
    let detail = serde_json::json!({
        "walletId": w.id, "digest": input.digest_hex, "standard": input.standard, "memo": sign.memo,
    });
    open(r, headers, a, &Plan::Sign(Box::new(sign)), detail).await
}

fn sign_plan(what: &str, wallet_id: &str, memo: Option<&String>) -> GatewaySign {
    GatewaySign {
        what: what.into(),
        wallet_id: wallet_id.into(),
        blockchain: String::new(),
        address: String::new(),
        public_key: String::new(),
        key_id: String::new(),
        derivation_path: String::new(),
        message: None,
        encoded_by_hex: false,
        typed_data: None,
        raw_transaction: None,
        transaction: None,
        unsigned_delegate_action: None,
        memo: memo.cloned(),
    }
}

/// `POST /v2/customers/{id}/sign/message`.
pub(crate) async fn sign_message(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerSignMessage>,
) -> ApiResult<Response> {
    let b = &body.value;
    let mut s = sign_plan("message", &b.wallet_id, b.memo.as_ref());
    s.message = Some(b.message.clone());
    s.encoded_by_hex = b.encoded_by_hex;
    sign_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::SignMessage,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        s,
    )
    .await
}

/// `POST /v2/customers/{id}/sign/typed-data`.
pub(crate) async fn sign_typed_data(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerSignTypedData>,
) -> ApiResult<Response> {
    let b = &body.value;
    let mut s = sign_plan("typed_data", &b.wallet_id, b.memo.as_ref());
    s.typed_data = Some(b.typed_data.clone());
    sign_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::SignTypedData,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        s,
    )
    .await
}

/// `POST /v2/customers/{id}/sign/transaction`.
pub(crate) async fn sign_transaction(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerSignTransaction>,
) -> ApiResult<Response> {
    let b = &body.value;
    if b.raw_transaction.is_some() == b.transaction.is_some() {
        return Err(ApiError::invalid(
            "send exactly one of rawTransaction and transaction",
        ));
    }
    let mut s = sign_plan("transaction", &b.wallet_id, b.memo.as_ref());
    s.raw_transaction = b.raw_transaction.clone();
    s.transaction = b.transaction.clone();
    sign_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::SignTransaction,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        s,
    )
    .await
}

/// `POST /v2/customers/{id}/sign/delegate-action` (NEAR, NEP-366).
pub(crate) async fn sign_delegate_action(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CustomerSignDelegateAction>,
) -> ApiResult<Response> {
    let b = &body.value;
    let mut s = sign_plan("delegate_action", &b.wallet_id, b.memo.as_ref());
    s.unsigned_delegate_action = Some(b.unsigned_delegate_action.clone());
    sign_challenge(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::SignDelegateAction,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        s,
    )
    .await
}

/// `POST /v2/customers/{id}/export-private-keys`: a challenge to export every key of the
/// customer (its wallets' keys, fixed now), each node's share sealed to a key the Gateway
/// makes; the CSV is built in the Gateway.
pub(crate) async fn export(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    let b = &body.value;
    let customer = operation_customer(&app, &caller, &id, Kind::Export).await?;
    let set = app
        .store
        .customer_wallet_set(&caller.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    let (wallets, total) = app
        .store
        .list_wallets(
            &caller.org_id,
            &WalletQuery {
                wallet_set_id: Some(set.id.clone()),
                page: 1,
                limit: MAX_EXPORT_WALLETS,
                desc: false,
                ..Default::default()
            },
        )
        .await?;
    if total > i64::from(MAX_EXPORT_WALLETS) {
        return Err(ApiError::invalid(format!(
            "the customer has more than {MAX_EXPORT_WALLETS} wallets"
        )));
    }
    if wallets.is_empty() {
        return Err(ApiError::not_found("wallet"));
    }
    let mut keys: Vec<GatewayExportKey> = Vec::new();
    let mut covered = Vec::with_capacity(wallets.len());
    for w in &wallets {
        if !keys.iter().any(|k| k.key_id == w.key_id) {
            let chain = Chain::parse(&w.blockchain)?;
            let key = match chain.curve() {
                Curve::Secp256k1 => GatewayExportKey {
                    key_id: w.key_id.clone(),
                    protocol: set.ecdsa_protocol.clone(),
                    public_key: format!("0x{}", hex::encode(&set.secp_public_key)),
                    chain_code: Some(format!("0x{}", hex::encode(&set.secp_chain_code))),
                },
                Curve::Ed25519 => GatewayExportKey {
                    key_id: w.key_id.clone(),
                    protocol: "frost".into(),
                    public_key: format!("0x{}", hex::encode(&w.public_key)),
                    chain_code: None,
                },
            };
            keys.push(key);
        }
        covered.push(GatewayExportWallet {
            wallet: convert::wallet(w),
            key_id: w.key_id.clone(),
        });
    }
    let detail = serde_json::json!({ "keys": keys.len(), "wallets": covered.len() });
    let plan = Plan::Export(GatewayExport {
        customer_name: customer.name.clone(),
        customer_ref_id: customer.ref_id.clone(),
        keys,
        wallets: covered,
    });
    open(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &headers,
        Asked {
            customer_id: &id,
            kind: Kind::Export,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: b.redirect_url.as_deref(),
            json: &body.json,
        },
        &plan,
        detail,
    )
    .await
}
