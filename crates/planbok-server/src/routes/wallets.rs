//! Wallets. Every chain of one call shares one index: secp256k1 wallets are non-hardened
//! BIP-32 children `m/44/{coin}/0/{index}` of the set's master (derived here from its
//! public key and chain code; no node is involved), ed25519 wallets get one FROST DKG per
//! index, shared by the call's ed25519 chains.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{
    AddressValidity, CreateWallets, UpdateWallet, ValidateAddress, WalletFilter, WalletsCreated,
};
use planbok_chains::{Chain, Curve};
use planbok_proto::pb::{Protocol, SecretContext};
use planbok_store::server::{Commit, WalletQuery, WalletRecord};

use super::orgs::finish;
use super::{Page, convert, envelope_json, json_response, ok, query};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idem;
use crate::nodes::{self, DkgSpec};
use crate::now_ms;

/// Most indexes one call may create.
const MAX_COUNT: u32 = 20;
/// Longest `name` / `refId`.
const MAX_LABEL: usize = 100;

fn label(field: &str, v: &Option<String>) -> ApiResult<Option<String>> {
    match v {
        Some(s) if s.chars().count() > MAX_LABEL => Err(ApiError::invalid(format!(
            "{field} must be at most {MAX_LABEL} characters"
        ))),
        other => Ok(other.clone()),
    }
}

/// Parses and de-duplicates `blockchains`.
pub(crate) fn chains(ids: &[String]) -> ApiResult<Vec<Chain>> {
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "blockchains must name at least one chain",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for id in ids {
        let c = Chain::parse(id)?;
        if !seen.insert(c) {
            return Err(ApiError::invalid(format!(
                "blockchains: {id} appears twice"
            )));
        }
        out.push(c);
    }
    Ok(out)
}

/// `POST /v2/organization/wallets`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateWallets>,
) -> ApiResult<Response> {
    let b = &body.value;
    let chains = chains(&b.blockchains)?;
    let count = b.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ApiError::invalid(format!("count must be 1 to {MAX_COUNT}")));
    }
    if !b.metadata.is_empty() && b.metadata.len() != count as usize {
        return Err(ApiError::invalid(
            "metadata must have exactly count entries",
        ));
    }
    let mut labels = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let m = b.metadata.get(i);
        labels.push((
            label("metadata.name", &m.and_then(|m| m.name.clone()))?,
            label("metadata.refId", &m.and_then(|m| m.ref_id.clone()))?,
        ));
    }
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "wallet.create",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "wallet.create",
        Some(b.wallet_set_id.clone()),
        serde_json::json!({ "walletSetId": b.wallet_set_id, "blockchains": b.blockchains, "count": count }),
    );
    let secret = b
        .encrypted_organization_secret
        .as_deref()
        .unwrap_or_default();
    let result = async {
        let set = app
            .store
            .wallet_set(&caller.org_id, &b.wallet_set_id)
            .await?
            .ok_or_else(|| ApiError::not_found("wallet set"))?;
        let custody = app.require_secret_mode(&caller.org_id, secret).await?;
        op.requested().await?;
        let first = app
            .store
            .reserve_indices(&caller.org_id, &set.id, i64::from(count))
            .await?;
        let needs_ed = chains.iter().any(|c| c.curve() == Curve::Ed25519);
        let ed_keys = if needs_ed {
            let specs: Vec<DkgSpec> = (0..count)
                .map(|_| DkgSpec {
                    key_id: format!("k_{}", uuid::Uuid::new_v4().simple()),
                    protocol: Protocol::Frost,
                })
                .collect();
            let r = app
                .nodes
                .keygen(
                    &caller.org_id,
                    nodes::custody_mode(&custody)?,
                    &specs,
                    secret,
                    SecretContext::Sign,
                    idem.key(),
                )
                .await;
            r?
        } else {
            if custody == "trustless" || !secret.is_empty() {
                let r = app
                    .nodes
                    .check_secret(&caller.org_id, secret, SecretContext::Sign, idem.key())
                    .await;
                r?;
            }
            Vec::new()
        };
        let now = now_ms();
        let mut records = Vec::new();
        for (i, (name, ref_id)) in labels.into_iter().enumerate() {
            let index = first + i as i64;
            let index32 = u32::try_from(index)
                .ok()
                .filter(|i| *i < 0x8000_0000)
                .ok_or_else(|| {
                    ApiError::invalid("the wallet set has no derivation indexes left")
                })?;
            for &chain in &chains {
                let (key_id, public_key, path) = match chain.curve() {
                    Curve::Secp256k1 => {
                        let path = chain.derivation_path(index32);
                        let pk = planbok_chains::derive_public_key(
                            &set.secp_public_key,
                            &set.secp_chain_code,
                            &path,
                        )?;
                        (set.secp_key_id.clone(), pk, path)
                    }
                    Curve::Ed25519 => {
                        let k = ed_keys
                            .get(i)
                            .ok_or_else(|| ApiError::internal("missing ed25519 key"))?;
                        (
                            k.key_id.clone(),
                            k.public_key.clone(),
                            chain.derivation_path(index32),
                        )
                    }
                };
                records.push(WalletRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    org_id: caller.org_id.clone(),
                    wallet_set_id: set.id.clone(),
                    blockchain: chain.id().into(),
                    address: planbok_chains::address(chain, &public_key)?,
                    public_key,
                    key_id,
                    derivation_path: path,
                    hd_index: index,
                    ref_id: ref_id.clone(),
                    name: name.clone(),
                    state: "LIVE".into(),
                    created_at_ms: now,
                    updated_at_ms: now,
                });
            }
        }
        let data = WalletsCreated {
            wallets: records.iter().map(convert::wallet).collect(),
        };
        let text = envelope_json(StatusCode::CREATED, "Wallets created", &data)?;
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut events = Vec::with_capacity(records.len());
        for (r, w) in records.iter().zip(&data.wallets) {
            let w = serde_json::to_value(w).map_err(ApiError::internal)?;
            events.push(crate::webhooks::event(&r.org_id, "wallet.created", w, now));
        }
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft(
                "success",
                Some(serde_json::json!({ "wallets": ids, "firstIndex": first })),
            )],
            idempotency: Some(idem.done(201, text.clone())),
            events,
        };
        app.store.create_wallets(&records, &commit).await?;
        app.webhooks.wake();
        Ok(json_response(StatusCode::CREATED, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// `GET /v2/wallets`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<WalletFilter>, QueryRejection>,
) -> ApiResult<Response> {
    let f = query(q)?;
    let p = Page::from_parts(f.page, f.limit, f.order)?;
    // A customer's wallets are those of the customer's wallet set.
    let wallet_set_id = match &f.customer_id {
        None => f.wallet_set_id,
        Some(customer) => match app
            .store
            .customer_wallet_set(&caller.org_id, customer)
            .await?
        {
            Some(set) if f.wallet_set_id.as_ref().is_none_or(|w| *w == set.id) => Some(set.id),
            _ => {
                let none: Vec<planbok_api::model::Wallet> = Vec::new();
                return Ok(ok(StatusCode::OK, "Wallets", p.list(none, 0)));
            }
        },
    };
    let (items, total) = app
        .store
        .list_wallets(
            &caller.org_id,
            &WalletQuery {
                wallet_set_id,
                blockchain: f.blockchain,
                address: f.address,
                ref_id: f.ref_id,
                page: p.page,
                limit: p.limit,
                desc: p.desc,
            },
        )
        .await?;
    let items = items.iter().map(convert::wallet).collect();
    Ok(ok(StatusCode::OK, "Wallets", p.list(items, total)))
}

pub(crate) async fn load_wallet(app: &App, caller: &Caller, id: &str) -> ApiResult<WalletRecord> {
    app.store
        .wallet(&caller.org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))
}

/// `GET /v2/wallets/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let w = load_wallet(&app, &caller, &id).await?;
    Ok(ok(StatusCode::OK, "Wallet", convert::wallet(&w)))
}

/// `PUT /v2/wallets/{id}`.
pub(crate) async fn update(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<UpdateWallet>,
) -> ApiResult<Response> {
    let b = body.value;
    let name = label("name", &b.name)?;
    let ref_id = label("refId", &b.ref_id)?;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "wallet.update",
        Some(id.clone()),
        serde_json::json!({ "name": name, "refId": ref_id }),
    );
    let commit = Commit::audit(op.draft("success", None));
    let w = app
        .store
        .update_wallet(
            &caller.org_id,
            &id,
            name.map(Some),
            ref_id.map(Some),
            now_ms(),
            &commit,
        )
        .await
        .map_err(|e| match e {
            planbok_store::StoreError::NotFound(_) => ApiError::not_found("wallet"),
            e => e.into(),
        })?;
    Ok(ok(StatusCode::OK, "Wallet updated", convert::wallet(&w)))
}

/// `POST /v2/wallets/validate-address`.
pub(crate) async fn validate_address(body: Body<ValidateAddress>) -> ApiResult<Response> {
    let chain = Chain::parse(&body.value.blockchain)?;
    let is_valid = planbok_chains::validate_address(chain, &body.value.address);
    Ok(ok(
        StatusCode::OK,
        "Address checked",
        AddressValidity { is_valid },
    ))
}
