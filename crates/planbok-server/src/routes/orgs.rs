//! Organizations: bootstrap (operator token), the organization itself, its RSA public key,
//! the one-time secret registration, and the chain list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use planbok_api::ErrorCode;
use planbok_api::model::{
    ChainInfo, CreateOrganization, KeyAccess, OrganizationCreated, PublicKey, RegisterSecret,
    RequireBinding, Role,
};
use planbok_proto::pb::CustodyMode;
use planbok_store::server::{ApiKeyRecord, Commit, MemberRecord, OrgRecord, OrgSettings};

use super::{convert, envelope_json, json_response, name, ok};
use crate::App;
use crate::audit::{self, Actor, Op};
use crate::auth::{self, Caller};
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idem;
use crate::now_ms;

/// A plausible email: one `@`, something on each side, no spaces, at most 254 characters.
pub(crate) fn email(s: &str) -> ApiResult<String> {
    let s = s.trim();
    let ok = s.len() <= 254
        && !s.contains(char::is_whitespace)
        && s.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.contains('@'));
    if ok {
        Ok(s.to_lowercase())
    } else {
        Err(ApiError::invalid("email is not a valid address"))
    }
}

/// `POST /v2/organizations`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateOrganization>,
) -> ApiResult<Response> {
    let b = body.value;
    let org_name = name("name", &b.name, 100)?;
    let owner_name = name("ownerName", &b.owner_name, 100)?;
    let owner_email = email(&b.owner_email)?;
    // Concurrent creations may both pick the least loaded pair: the balance is approximate,
    // never wrong (every pair is valid).
    let node_pair = app.nodes.assign(b.node_pair.as_deref()).await?;
    let now = now_ms();
    let org = OrgRecord {
        id: format!("org_{}", uuid::Uuid::new_v4().simple()),
        name: org_name,
        custody_mode: "unset".into(),
        created_at_ms: now,
        updated_at_ms: now,
        node_pair,
    };
    let owner = MemberRecord {
        id: format!("mem_{}", uuid::Uuid::new_v4().simple()),
        org_id: org.id.clone(),
        name: owner_name,
        email: owner_email,
        role: Role::Owner.as_str().into(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let minted = auth::mint();
    let key = ApiKeyRecord {
        id: minted.id.clone(),
        org_id: org.id.clone(),
        member_id: owner.id.clone(),
        name: "owner bootstrap key".into(),
        secret_hash: minted.secret_hash.clone(),
        access: KeyAccess::Full.as_str().into(),
        allowed_ips: Vec::new(),
        allowed_origins: Vec::new(),
        created_at_ms: now,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    let detail = serde_json::json!({
        "name": org.name, "owner": owner.id, "apiKey": key.id, "nodePair": org.node_pair,
    });
    let entry = |chain: &str| {
        audit::draft(
            chain,
            Actor::Operator,
            &ctx,
            "organization.create",
            Some(org.id.clone()),
            "success",
            detail.clone(),
        )
    };
    let commit = Commit {
        mails: Vec::new(),
        audit: vec![entry(&org.id), entry(audit::SYSTEM_CHAIN)],
        idempotency: None,
        events: Vec::new(),
    };
    app.store.create_org(&org, &owner, &key, &commit).await?;
    tracing::info!(org = %org.id, pair = %org.node_pair, "organization created");
    let data = OrganizationCreated {
        organization: convert::org(&org, OrgSettings::default()),
        owner: convert::member(&owner)?,
        api_key: planbok_api::model::ApiKeyCreated {
            key: convert::api_key(&key)?,
            secret: minted.full.to_string(),
        },
    };
    Ok(ok(StatusCode::CREATED, "Organization created", data))
}

pub(crate) async fn load_org(
    app: &App,
    org_id: &str,
) -> ApiResult<planbok_store::server::OrgRecord> {
    app.store
        .org(org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))
}

/// `GET /v2/organization`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let org = load_org(&app, &caller.org_id).await?;
    let settings = app.store.org_settings(&caller.org_id).await?;
    Ok(ok(
        StatusCode::OK,
        "Organization",
        convert::org(&org, settings),
    ))
}

/// `GET /v2/config/organization/public-key`.
pub(crate) async fn public_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    use base64::Engine as _;
    let k = app.org_public_key(&caller.org_id).await?;
    Ok(ok(
        StatusCode::OK,
        "Organization public key",
        PublicKey {
            public_key: k.public_key_pem.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(&k.signature),
            node_key_id: k.node_key_id.clone(),
            created_at: k.created_at_ms,
        },
    ))
}

/// `POST /v2/organization/require-binding`: from now on Node 1 refuses every encrypted
/// secret of the organization that carries no binding. Permanent (Node 1 has no way to
/// switch it off, so a compromised server cannot either).
pub(crate) async fn require_binding(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<RequireBinding>,
) -> ApiResult<Response> {
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "organization.require_binding",
        body.value.idempotency_key.as_deref(),
        &body.json
    );
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "organization.require_binding",
        Some(caller.org_id.clone()),
        serde_json::json!({}),
    );
    let result = async {
        let org = load_org(&app, &caller.org_id).await?;
        if org.custody_mode == "unset" {
            return Err(ApiError::new(
                ErrorCode::SecretNotRegistered,
                "register the organization secret first",
            ));
        }
        op.requested().await?;
        let r = app.nodes.require_binding(&caller.org_id).await;
        r?;
        let settings = OrgSettings {
            require_binding: true,
            ..app.store.org_settings(&caller.org_id).await?
        };
        let data = convert::org(&org, settings);
        let text = envelope_json(StatusCode::OK, "Bindings required", &data)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(200, text.clone())),
            events: Vec::new(),
        };
        app.store
            .set_require_binding(&caller.org_id, now_ms(), &commit)
            .await?;
        Ok(json_response(StatusCode::OK, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// `POST /v2/organization/secret`.
pub(crate) async fn register_secret(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<RegisterSecret>,
) -> ApiResult<Response> {
    let b = &body.value;
    let mode = match b.custody_mode.as_str() {
        "standard" => CustodyMode::Standard,
        "trustless" => CustodyMode::Trustless,
        _ => {
            return Err(ApiError::invalid(
                "custodyMode must be \"standard\" or \"trustless\"",
            ));
        }
    };
    if b.encrypted_organization_secret.is_empty() {
        return Err(ApiError::invalid("encryptedOrganizationSecret is required"));
    }
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "organization.secret",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "organization.secret.register",
        Some(caller.org_id.clone()),
        serde_json::json!({ "custodyMode": b.custody_mode }),
    );
    let result = async {
        let org = load_org(&app, &caller.org_id).await?;
        if org.custody_mode != "unset" {
            return Err(ApiError::new(
                ErrorCode::SecretAlreadyRegistered,
                "the organization secret is already registered; the custody mode is permanent",
            ));
        }
        op.requested().await?;
        let r = app
            .nodes
            .register_secret(&caller.org_id, mode, &b.encrypted_organization_secret)
            .await;
        r?;
        let now = now_ms();
        let mut org = org;
        org.custody_mode = b.custody_mode.clone();
        org.updated_at_ms = now;
        // Bindings can be required only once a secret is registered: not yet.
        let data = convert::org(&org, app.store.org_settings(&caller.org_id).await?);
        let text = envelope_json(StatusCode::CREATED, "Organization secret registered", &data)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(201, text.clone())),
            events: Vec::new(),
        };
        app.store
            .set_custody_mode(&caller.org_id, &b.custody_mode, now, &commit)
            .await?;
        app.remember_custody(&caller.org_id, &b.custody_mode);
        Ok(json_response(StatusCode::CREATED, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// After a failed idempotent operation: audit the failure and release the key.
pub(crate) async fn finish(
    app: &App,
    op: &Op<'_>,
    idem: &idem::Idem,
    result: ApiResult<Response>,
) -> ApiResult<Response> {
    if let Err(e) = &result {
        op.failed(e).await;
        idem.abandon(app).await;
    }
    result
}

/// `GET /v2/config/chains`.
pub(crate) async fn chains() -> Response {
    let list: Vec<ChainInfo> = planbok_chains::Chain::all()
        .iter()
        .map(|&c| {
            let path = c.derivation_path(0);
            let template = match path.rsplit_once('/') {
                Some((prefix, _)) => format!("{prefix}/{{index}}"),
                None => path,
            };
            ChainInfo {
                id: c.id().into(),
                name: c.display_name().into(),
                family: match c.family() {
                    planbok_chains::Family::Evm => "evm",
                    planbok_chains::Family::Bitcoin => "bitcoin",
                    planbok_chains::Family::Solana => "solana",
                    planbok_chains::Family::Near => "near",
                }
                .into(),
                curve: match c.curve() {
                    planbok_chains::Curve::Secp256k1 => "secp256k1",
                    planbok_chains::Curve::Ed25519 => "ed25519",
                }
                .into(),
                testnet: c.is_testnet(),
                chain_id: c.evm_chain_id(),
                native_symbol: c.native_symbol().into(),
                derivation_path: template,
            }
        })
        .collect();
    ok(StatusCode::OK, "Supported blockchains", Json(list).0)
}
