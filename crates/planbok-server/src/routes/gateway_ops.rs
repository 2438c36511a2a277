//! The Gateway's completion of an operation challenge (wallet creation, signing, export):
//! `POST /gateway/api/operation`, opened only by the challenge's token.
//!
//! The Gateway has made one counted PIN attempt (`/gateway/api/pin/evaluate`), opened
//! `W_pin` on the device, computed the digests of exactly the operations it showed
//! (`planbok_envelope::customer_op`), and sends: the unlock key's signature over them and
//! the attempt nonce, and the customer secret `S_c` encrypted to the organization key
//! (verified against Node 1's identity key on the device) and bound to the same
//! operations. The server relays the unlock to Node 2, which checks it and records one
//! permit per operation; then runs the plan fixed when the challenge was made, exactly as
//! for a Trustless organization (Node 1 opens `S_c`, wraps or unwraps its share under it),
//! with the challenge named so that Node 2 consumes its permit. The server holds neither
//! the PIN's keys nor `S_c`: it cannot make a permit, and a permit names one operation.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ErrorCode;
use planbok_api::customer_ops::{
    GatewayCreate, GatewayDkg, GatewayExport, GatewayExportedKey, GatewayOperate, GatewayOperated,
    GatewayOperation, GatewayOrgKey, GatewaySign, GatewayTransaction,
};
use planbok_api::model::TransactionSignature;
use planbok_chains::{Chain, Curve, SignInput};
use planbok_proto::pb::{CustomerPinStep, KeygenResponse, Protocol};
use planbok_store::server::{
    ChallengeRecord, ChallengeTx, Commit, MailKind, TxRecord, WalletRecord, WalletSetRecord,
};
use serde::{Deserialize, Serialize};

use super::customers::{Kind, challenge_view};
use super::gateway::{Gate, bytes, draft, pin_step, request};
use super::ok;
use crate::App;
use crate::audit;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::nodes::DkgSpec;
use crate::nodes::Signing;
use crate::now_ms;
use crate::webhooks::event;

/// What an operation challenge authorizes, fixed when it is created (stored as its
/// `params`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Plan {
    /// Wallet creation.
    Create(GatewayCreate),
    /// A signature.
    Sign(Box<GatewaySign>),
    /// An export.
    Export(GatewayExport),
    /// A transaction to sign and broadcast (`routes/customer_tx.rs`).
    Transaction(Box<GatewayTransaction>),
}

impl Plan {
    /// How many node operations it runs (one permit each).
    fn operations(&self) -> usize {
        match self {
            Plan::Create(c) => c.dkgs.len(),
            Plan::Sign(_) => 1,
            Plan::Export(e) => e.keys.len(),
            Plan::Transaction(_) => 1,
        }
    }
}

/// The exact input a signing plan signs, per the chain's standard (the Gateway computes
/// the same on its own from what it shows).
pub(crate) fn sign_input(s: &GatewaySign, public_key: &[u8]) -> ApiResult<SignInput> {
    let chain = Chain::parse(&s.blockchain)?;
    Ok(match s.what.as_str() {
        "message" => planbok_chains::message_input(
            chain,
            s.message.as_deref().unwrap_or_default(),
            s.encoded_by_hex,
        )?,
        "typed_data" => {
            planbok_chains::typed_data_input(chain, s.typed_data.as_deref().unwrap_or_default())?
        }
        "transaction" => planbok_chains::transaction_input(
            chain,
            s.raw_transaction.as_deref(),
            s.transaction.as_deref(),
            public_key,
        )?,
        "delegate_action" => planbok_chains::delegate_action_input(
            chain,
            s.unsigned_delegate_action.as_deref().unwrap_or_default(),
            public_key,
        )?,
        other => return Err(ApiError::internal(format!("signing plan {other:?}"))),
    })
}

fn protocol(name: &str) -> ApiResult<Protocol> {
    match name {
        "cggmp" => Ok(Protocol::Cggmp),
        "dkls23" => Ok(Protocol::Dkls23),
        "frost" => Ok(Protocol::Frost),
        other => Err(ApiError::internal(format!("plan protocol {other:?}"))),
    }
}

pub(super) fn plan_of(ch: &ChallengeRecord) -> ApiResult<Plan> {
    let params = ch
        .params
        .as_deref()
        .ok_or_else(|| ApiError::internal("an operation challenge without its plan"))?;
    serde_json::from_str(params).map_err(ApiError::internal)
}

/// The Gateway's view of an operation challenge: its plan and the attested org key.
pub(crate) async fn operation_view(
    app: &App,
    ch: &ChallengeRecord,
) -> ApiResult<Option<GatewayOperation>> {
    if !Kind::parse(&ch.kind).is_some_and(Kind::is_operation) {
        return Ok(None);
    }
    let plan = plan_of(ch)?;
    let k = app.org_public_key(&ch.org_id).await?;
    let org_key = GatewayOrgKey {
        public_key: k.public_key_pem.clone(),
        signature: base64::engine::general_purpose::STANDARD.encode(&k.signature),
        node_key_id: k.node_key_id.clone(),
        created_at: k.created_at_ms,
    };
    let (mut create, mut sign, mut export, mut transaction) = (None, None, None, None);
    match plan {
        Plan::Create(c) => create = Some(c),
        Plan::Sign(s) => sign = Some(*s),
        Plan::Export(e) => export = Some(e),
        Plan::Transaction(mut t) => {
            t.prepared = super::gateway_tx::prepared_view(ch)?;
            transaction = Some(*t);
        }
    }
    Ok(Some(GatewayOperation {
        org_key,
        create,
        sign,
        export,
        transaction,
    }))
}

/// What running a plan produced.
struct Outcome {
    action: &'static str,
    result: serde_json::Value,
    wallets: Vec<WalletRecord>,
    events: Vec<planbok_store::server::EventDraft>,
    exported: Option<Vec<GatewayExportedKey>>,
    /// A transaction signed, and the nonce lease it was prepared under (`None`: a
    /// replacement).
    signed: Option<(TxRecord, Option<String>)>,
}

/// `POST /gateway/api/operation`.
pub(crate) async fn operate(
    State(app): State<App>,
    Extension(Gate(ch)): Extension<Gate>,
    Extension(ctx): Extension<Ctx>,
    body: Body<GatewayOperate>,
) -> ApiResult<Response> {
    if !Kind::parse(&ch.kind).is_some_and(Kind::is_operation) {
        return Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "this challenge does not take an operation",
        ));
    }
    let plan = plan_of(&ch)?;
    let b = &body.value;
    let b64 = base64::engine::general_purpose::STANDARD;
    let recipient = match (&plan, b.recipient_public_key.as_deref()) {
        (Plan::Export(_), Some(r)) => Some(
            b64.decode(r)
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| ApiError::invalid("recipientPublicKey must be 32 bytes, base64"))?,
        ),
        (Plan::Export(_), None) => {
            return Err(ApiError::invalid("an export needs recipientPublicKey"));
        }
        (_, Some(_)) => return Err(ApiError::invalid("only an export takes a recipient")),
        (_, None) => None,
    };
    if b.permits.len() != plan.operations() {
        return Err(ApiError::invalid(format!(
            "permits must name the challenge's {} operation(s)",
            plan.operations()
        )));
    }
    if plan.operations() > 0 && b.encrypted_secret.is_empty() {
        return Err(ApiError::invalid("encryptedSecret is required"));
    }
    let mut req = request(&ch, CustomerPinStep::Unlock);
    req.nonce = bytes("nonce", &b.nonce, 32)?;
    req.signature = bytes("signature", &b.signature, 64)?;
    req.challenge_id = ch.id.clone();
    req.permits = b
        .permits
        .iter()
        .map(|p| bytes("permits", p, 32))
        .collect::<ApiResult<_>>()?;
    // The unlock (Node 2 checks the PIN's proof for exactly these operations and records
    // their permits) and its audit entry come first: the operation must not start unless
    // both happened.
    pin_step(&app, &ctx, &ch, req).await?;
    let action = match &plan {
        Plan::Create(_) => "customer.wallets_created",
        Plan::Sign(_) => "customer.signed",
        Plan::Export(_) => "customer.keys_exported",
        Plan::Transaction(_) => "customer.transaction_signed",
    };
    app.store
        .append_audit(draft(
            &ch,
            &ctx,
            action,
            "requested",
            serde_json::json!({ "challengeId": ch.id, "operations": plan.operations() }),
        ))
        .await
        .map_err(|e| {
            tracing::error!(request_id = %ctx.request_id, error = %e, "audit write failed; refusing the operation");
            ApiError::new(
                ErrorCode::StorageUnavailable,
                "the audit trail cannot be written; nothing was done",
            )
        })?;
    // The notice an export owes is decided before it runs (nothing can fail after it but
    // its commit).
    let mail = match &plan {
        Plan::Export(_) => {
            super::org_settings::notice(&app, &ch, MailKind::KeysExported, now_ms()).await?
        }
        _ => None,
    };
    let secret = b.encrypted_secret.as_str();
    let run = match &plan {
        Plan::Create(c) => create(&app, &ch, c, secret).await,
        Plan::Sign(s) => sign(&app, &ch, s, secret).await,
        Plan::Export(e) => {
            export(
                &app,
                &ch,
                e,
                recipient.as_deref().unwrap_or_default(),
                secret,
            )
            .await
        }
        Plan::Transaction(t) => super::gateway_tx::sign(&app, &ch, t, secret)
            .await
            .map(|s| Outcome {
                action: "customer.transaction_signed",
                result: s.result,
                wallets: Vec::new(),
                events: s.events,
                exported: None,
                signed: Some((s.record, s.lease_token)),
            }),
    };
    let out = match run {
        Ok(out) => out,
        Err(e) => {
            audit::append_all(
                &app,
                vec![draft(
                    &ch,
                    &ctx,
                    action,
                    "failure",
                    serde_json::json!({ "challengeId": ch.id, "code": e.code.as_str() }),
                )],
            )
            .await;
            return Err(e);
        }
    };
    let now = now_ms();
    let result = out.result.to_string();
    let commit = Commit::audit(draft(
        &ch,
        &ctx,
        out.action,
        "success",
        serde_json::json!({ "challengeId": ch.id }),
    ))
    .with_events(out.events)
    .with_mail(mail);
    let signed = out.signed.as_ref().map(|(record, lease)| ChallengeTx {
        record,
        lease_token: lease.as_deref(),
    });
    if !app
        .store
        .complete_op_challenge(&ch, &result, &out.wallets, signed, now, &commit)
        .await
        .map_err(|e| {
            super::gateway_tx::commit_error(e, signed.is_some_and(|s| s.lease_token.is_none()))
        })?
    {
        return Err(ApiError::new(
            ErrorCode::ChallengeNotPending,
            "the challenge is no longer pending",
        ));
    }
    app.webhooks.wake();
    app.wake_mail_for(&commit);
    if signed.is_some() {
        app.tracker_wake.notify_one();
    }
    let done = ChallengeRecord {
        status: "complete".into(),
        result: Some(result),
        completed_at_ms: Some(now),
        ..ch
    };
    Ok(ok(
        StatusCode::OK,
        "Challenge complete",
        GatewayOperated {
            challenge: challenge_view(&done, None),
            exported: out.exported,
        },
    ))
}

/// Wallet creation: the planned DKGs (the customer's secret wraps Node 1's shares), the
/// customer's wallet set on the first call, then the wallets derived as for an
/// organization (one index per metadata entry, shared by the call's chains).
async fn create(
    app: &App,
    ch: &ChallengeRecord,
    c: &GatewayCreate,
    secret: &str,
) -> ApiResult<Outcome> {
    let org = &ch.org_id;
    let specs = c
        .dkgs
        .iter()
        .map(|d| {
            Ok(DkgSpec {
                key_id: d.key_id.clone(),
                protocol: protocol(&d.protocol)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let keys = if specs.is_empty() {
        Vec::new()
    } else {
        app.nodes
            .customer_keygen(org, &ch.customer_id, &ch.id, &specs, secret)
            .await?
    };
    let role = |r: &'static str| by_role(c, &keys, r);
    let now = now_ms();
    let set = match (role("secp256k1Master").next(), role("ed25519Master").next()) {
        (Some((_, s)), Some((_, e))) => {
            if s.public_key.len() != 33 || s.chain_code.len() != 32 || e.public_key.len() != 32 {
                return Err(ApiError::internal(
                    "node 1 returned keys of the wrong shape",
                ));
            }
            let rec = WalletSetRecord {
                id: uuid::Uuid::new_v4().to_string(),
                org_id: org.clone(),
                name: format!("customer {}", ch.customer_id),
                custody_type: "CUSTOMER".into(),
                ecdsa_protocol: "cggmp".into(),
                secp_key_id: s.key_id.clone(),
                secp_public_key: s.public_key.clone(),
                secp_chain_code: s.chain_code.clone(),
                ed_key_id: e.key_id.clone(),
                ed_public_key: e.public_key.clone(),
                created_at_ms: now,
                updated_at_ms: now,
            };
            app.store
                .ensure_customer_wallet_set(&rec, &ch.customer_id)
                .await?
        }
        _ => app
            .store
            .customer_wallet_set(org, &ch.customer_id)
            .await?
            .ok_or_else(|| ApiError::internal("the customer's wallet set is missing"))?,
    };
    let count = i64::from(c.count.max(1));
    let first = app.store.reserve_indices(org, &set.id, count).await?;
    let mut records = Vec::new();
    for i in 0..c.count.max(1) {
        let index = first + i64::from(i);
        let index32 = u32::try_from(index)
            .ok()
            .filter(|i| *i < 0x8000_0000)
            .ok_or_else(|| ApiError::invalid("the wallet set has no derivation indexes left"))?;
        let meta = c.metadata.get(i as usize);
        for id in &c.blockchains {
            let chain = Chain::parse(id)?;
            let path = chain.derivation_path(index32);
            let (key_id, public_key) = match chain.curve() {
                Curve::Secp256k1 => (
                    set.secp_key_id.clone(),
                    planbok_chains::derive_public_key(
                        &set.secp_public_key,
                        &set.secp_chain_code,
                        &path,
                    )?,
                ),
                Curve::Ed25519 => {
                    let (_, k) = role("ed25519Wallet")
                        .find(|(d, _)| d.index == Some(i))
                        .ok_or_else(|| ApiError::internal("missing ed25519 key"))?;
                    if k.public_key.len() != 32 {
                        return Err(ApiError::internal(
                            "node 1 returned keys of the wrong shape",
                        ));
                    }
                    (k.key_id.clone(), k.public_key.clone())
                }
            };
            records.push(WalletRecord {
                id: uuid::Uuid::new_v4().to_string(),
                org_id: org.clone(),
                wallet_set_id: set.id.clone(),
                blockchain: chain.id().into(),
                address: planbok_chains::address(chain, &public_key)?,
                public_key,
                key_id,
                derivation_path: path,
                hd_index: index,
                ref_id: meta.and_then(|m| m.ref_id.clone()),
                name: meta.and_then(|m| m.name.clone()),
                state: "LIVE".into(),
                created_at_ms: now,
                updated_at_ms: now,
            });
        }
    }
    let wallets: Vec<_> = records.iter().map(super::convert::wallet).collect();
    let mut events = Vec::with_capacity(wallets.len());
    for w in &wallets {
        let mut v = serde_json::to_value(w).map_err(ApiError::internal)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("customerId".into(), serde_json::json!(ch.customer_id));
        }
        events.push(event(org, "wallet.created", v, now));
    }
    Ok(Outcome {
        action: "customer.wallets_created",
        result: serde_json::json!({ "wallets": wallets }),
        wallets: records,
        events,
        exported: None,
        signed: None,
    })
}

/// The planned DKGs of one role, with what each made.
fn by_role<'a>(
    c: &'a GatewayCreate,
    keys: &'a [KeygenResponse],
    role: &'static str,
) -> impl Iterator<Item = (&'a GatewayDkg, &'a KeygenResponse)> + 'a {
    c.dkgs.iter().zip(keys).filter(move |(d, _)| d.role == role)
}

/// A signature: the plan's exact input, by the plan's wallet, verified against the
/// wallet's key before it is returned.
async fn sign(
    app: &App,
    ch: &ChallengeRecord,
    s: &GatewaySign,
    secret: &str,
) -> ApiResult<Outcome> {
    let w = app.signing_wallet(&ch.org_id, &s.wallet_id).await?;
    if w.key_id != s.key_id || w.derivation_path != s.derivation_path {
        return Err(ApiError::internal("the wallet changed under its challenge"));
    }
    let chain = Chain::parse(&w.blockchain)?;
    let input = sign_input(s, &w.public_key)?;
    let protocol = app
        .wallet_protocol(&ch.org_id, &w.blockchain, &w.wallet_set_id)
        .await?;
    let r = app
        .nodes
        .sign(
            &ch.org_id,
            Signing {
                key_id: &w.key_id,
                protocol,
                path: &w.derivation_path,
                payload: &input.payload,
                encrypted_secret: secret,
                customer_challenge: &ch.id,
            },
        )
        .await?;
    let v = super::sign::verify(&w, chain.curve(), &input.payload, &r)?;
    let result = match s.what.as_str() {
        "transaction" => {
            let t = planbok_chains::finish_transaction(
                chain,
                &input,
                &v.signature,
                v.recovery_id,
                &w.public_key,
            )?;
            serde_json::to_value(TransactionSignature {
                signature: t.signature,
                signed_transaction: t.signed_transaction,
                tx_hash: t.tx_hash,
            })
        }
        "delegate_action" => serde_json::to_value(super::sign::delegate_signature(
            chain,
            &input,
            &v.signature,
            &w.public_key,
        )?),
        _ => serde_json::to_value(planbok_chains::finish_message(
            chain,
            &input,
            &v.signature,
            v.recovery_id,
            &w.public_key,
        )?),
    }
    .map_err(ApiError::internal)?;
    Ok(Outcome {
        action: "customer.signed",
        result,
        wallets: Vec::new(),
        events: Vec::new(),
        exported: None,
        signed: None,
    })
}

/// An export: both shares of every planned key, each sealed by its node to the Gateway's
/// key; only the Gateway can open them. The challenge's result says what was exported,
/// never the ciphertexts.
async fn export(
    app: &App,
    ch: &ChallengeRecord,
    e: &GatewayExport,
    recipient: &[u8],
    secret: &str,
) -> ApiResult<Outcome> {
    let keys = e
        .keys
        .iter()
        .map(|k| Ok((k.key_id.clone(), protocol(&k.protocol)?)))
        .collect::<ApiResult<Vec<_>>>()?;
    let r = app
        .nodes
        .export(&ch.org_id, &keys, recipient, secret, &ch.id)
        .await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let exported = e
        .keys
        .iter()
        .zip(&r)
        .map(|(k, x)| GatewayExportedKey {
            key_id: k.key_id.clone(),
            node1_ciphertext: b64.encode(&x.node1_ciphertext),
            node2_ciphertext: b64.encode(&x.node2_ciphertext),
        })
        .collect();
    Ok(Outcome {
        action: "customer.keys_exported",
        result: serde_json::json!({
            "exportedKeys": e.keys.iter().map(|k| &k.key_id).collect::<Vec<_>>(),
            "wallets": e.wallets.len(),
        }),
        wallets: Vec::new(),
        events: Vec::new(),
        exported: Some(exported),
        signed: None,
    })
}
