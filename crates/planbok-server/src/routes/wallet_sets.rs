//! Wallet sets: one DKG per curve (secp256k1 with CGGMP or DKLs23, ed25519 with FROST),
//! both run by Node 1 with Node 2 under one `dkg` secret.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ListQuery;
use planbok_api::model::{CreateWalletSet, UpdateWalletSet, WalletSetCreated};
use planbok_proto::pb::{Protocol, SecretContext};
use planbok_store::server::{Commit, WalletSetRecord};

use super::orgs::finish;
use super::{Page, convert, envelope_json, json_response, name, ok, query};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::facts::ecdsa_protocol;
use crate::idem;
use crate::nodes::{self, DkgSpec};
use crate::now_ms;

fn new_key_id() -> String {
    format!("k_{}", uuid::Uuid::new_v4().simple())
}

/// `POST /v2/organization/wallet-sets`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateWalletSet>,
) -> ApiResult<Response> {
    let b = &body.value;
    let set_name = name("name", &b.name, 100)?;
    let proto_name = b.ecdsa_protocol.as_deref().unwrap_or("cggmp");
    let protocol = ecdsa_protocol(proto_name)?;
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "wallet_set.create",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let set_id = uuid::Uuid::new_v4().to_string();
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "wallet_set.create",
        Some(set_id.clone()),
        serde_json::json!({ "name": set_name, "ecdsaProtocol": proto_name }),
    );
    let secret = b
        .encrypted_organization_secret
        .as_deref()
        .unwrap_or_default();
    let result = async {
        let custody = nodes::custody_mode(&app.require_secret_mode(&caller.org_id, secret).await?)?;
        op.requested().await?;
        let specs = [
            DkgSpec {
                key_id: new_key_id(),
                protocol,
            },
            DkgSpec {
                key_id: new_key_id(),
                protocol: Protocol::Frost,
            },
        ];
        let r = app
            .nodes
            .keygen(&caller.org_id, custody, &specs, secret, SecretContext::Dkg, idem.key())
            .await;
        let keys = r?;
        let (secp, ed) = match keys.as_slice() {
            [s, e] if s.public_key.len() == 33 && s.chain_code.len() == 32 && e.public_key.len() == 32 => {
                (s, e)
            }
            _ => return Err(ApiError::internal("node 1 returned keys of the wrong shape")),
        };
        let now = now_ms();
        let rec = WalletSetRecord {
            id: set_id.clone(),
            org_id: caller.org_id.clone(),
            name: set_name.clone(),
            custody_type: "ORGANIZATION".into(),
            ecdsa_protocol: proto_name.into(),
            secp_key_id: secp.key_id.clone(),
            secp_public_key: secp.public_key.clone(),
            secp_chain_code: secp.chain_code.clone(),
            ed_key_id: ed.key_id.clone(),
            ed_public_key: ed.public_key.clone(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let data = WalletSetCreated {
            wallet_set: convert::wallet_set(&rec),
        };
        let text = envelope_json(StatusCode::CREATED, "Wallet set created", &data)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft(
                "success",
                Some(serde_json::json!({ "secp256k1Key": rec.secp_key_id, "ed25519Key": rec.ed_key_id })),
            )],
            idempotency: Some(idem.done(201, text.clone())),
            events: Vec::new(),
        };
        app.store.create_wallet_set(&rec, &commit).await?;
        Ok(json_response(StatusCode::CREATED, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// `PUT /v2/organization/wallet-sets/{id}`.
pub(crate) async fn rename(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<UpdateWalletSet>,
) -> ApiResult<Response> {
    let new_name = name("name", &body.value.name, 100)?;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "wallet_set.update",
        Some(id.clone()),
        serde_json::json!({ "name": new_name }),
    );
    let commit = Commit::audit(op.draft("success", None));
    let rec = app
        .store
        .rename_wallet_set(&caller.org_id, &id, &new_name, now_ms(), &commit)
        .await
        .map_err(|e| match e {
            planbok_store::StoreError::NotFound(_) => ApiError::not_found("wallet set"),
            e => e.into(),
        })?;
    Ok(ok(
        StatusCode::OK,
        "Wallet set updated",
        convert::wallet_set(&rec),
    ))
}

/// `GET /v2/wallet-sets`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let p = Page::from_query(&query(q)?)?;
    let (items, total) = app
        .store
        .list_wallet_sets(&caller.org_id, p.page, p.limit, p.desc)
        .await?;
    let items = items.iter().map(convert::wallet_set).collect();
    Ok(ok(StatusCode::OK, "Wallet sets", p.list(items, total)))
}

/// `GET /v2/wallet-sets/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rec = app
        .store
        .wallet_set(&caller.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet set"))?;
    Ok(ok(StatusCode::OK, "Wallet set", convert::wallet_set(&rec)))
}
