//! `POST /v2/organization/wallets/export`: the organization's key export (Trustless
//! organizations' owners, a `verify` secret). Each node seals its own share to the
//! client's X25519 key; the server relays ciphertexts it cannot open, and the client
//! rebuilds the keys (`docs/api.md`, "Export").

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::{ExportWallets, ExportedWallet, WalletsExported};
use planbok_proto::pb::Protocol;
use planbok_store::server::Commit;

use super::orgs::finish;
use super::wallets::load_wallet;
use super::{envelope_json, json_response};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idem;
use crate::nodes;

/// Most wallets one export may name.
const MAX_EXPORT_WALLETS: usize = 200;

/// Most MPC keys one export may carry: Node 1 opens them all under one `verify` secret in
/// one request and refuses more. The secret ciphertext is single-use, so the server cannot
/// split an export into several node calls; it refuses up front instead (`docs/api.md`).
const MAX_EXPORT_KEYS: usize = 64;

/// `POST /v2/organization/wallets/export`: owner of a trustless organization, `verify`
/// secret. Each node seals its own share to the client's X25519 key; the server only
/// relays ciphertexts it cannot open.
pub(crate) async fn export(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<ExportWallets>,
) -> ApiResult<Response> {
    use base64::Engine as _;
    let b = &body.value;
    let b64 = base64::engine::general_purpose::STANDARD;
    let recipient = b64
        .decode(&b.recipient_public_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| ApiError::invalid("recipientPublicKey must be 32 bytes, base64"))?;
    if b.wallet_ids
        .as_ref()
        .is_some_and(|w| w.is_empty() || w.len() > MAX_EXPORT_WALLETS)
    {
        return Err(ApiError::invalid(format!(
            "walletIds must name 1 to {MAX_EXPORT_WALLETS} wallets"
        )));
    }
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "wallet.export",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "wallet.export",
        None,
        serde_json::json!({ "walletIds": b.wallet_ids, "recipientPublicKey": b.recipient_public_key }),
    );
    let secret = b
        .encrypted_organization_secret
        .as_deref()
        .unwrap_or_default();
    let result = async {
        let wallets = match &b.wallet_ids {
            Some(ids) => {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let w = load_wallet(&app, &caller, id).await?;
                    super::customer_wallets::refuse_customer_wallet(&w.key_id)?;
                    out.push(w);
                }
                out
            }
            None => {
                let (all, total) = app
                    .store
                    .list_wallets(
                        &caller.org_id,
                        &planbok_store::server::WalletQuery {
                            limit: MAX_EXPORT_WALLETS as u32,
                            page: 1,
                            desc: false,
                            ..Default::default()
                        },
                    )
                    .await?;
                if total as usize > MAX_EXPORT_WALLETS {
                    return Err(ApiError::invalid(format!(
                        "the organization has more than {MAX_EXPORT_WALLETS} wallets: name them in walletIds"
                    )));
                }
                // The organization's own wallets: its customers' never leave but through
                // the customer's own export challenge.
                all.into_iter()
                    .filter(|w| super::customer_wallets::refuse_customer_wallet(&w.key_id).is_ok())
                    .collect()
            }
        };
        if wallets.is_empty() {
            return Err(ApiError::not_found("wallet"));
        }
        // After the wallets: a customer's wallet is refused as such (409 customer_wallet)
        // whatever the organization's mode.
        if app.custody_mode(&caller.org_id).await? != "trustless" {
            return Err(ApiError::new(
                ErrorCode::ExportNotAllowed,
                "only trustless organizations can export keys",
            ));
        }
        // One export per MPC key, whatever the number of wallets on it.
        let mut key_ids: Vec<&str> = Vec::new();
        for w in &wallets {
            if !key_ids.contains(&w.key_id.as_str()) {
                key_ids.push(&w.key_id);
            }
        }
        // Before the secret is looked at: a request too large is refused as such, whatever
        // its secret.
        if key_ids.len() > MAX_EXPORT_KEYS {
            return Err(ApiError::invalid(format!(
                "an export carries at most {MAX_EXPORT_KEYS} MPC keys and these wallets have {}: \
                 export them in several requests (walletIds), each with its own verify secret",
                key_ids.len()
            )));
        }
        app.require_secret_mode(&caller.org_id, secret).await?;
        let mut keys: Vec<(String, Protocol)> = Vec::with_capacity(key_ids.len());
        for key_id in key_ids {
            let w = wallets
                .iter()
                .find(|w| w.key_id == key_id)
                .ok_or_else(|| ApiError::internal("export lost a key"))?;
            let protocol = app
                .wallet_protocol(&caller.org_id, &w.blockchain, &w.wallet_set_id)
                .await?;
            keys.push((key_id.to_owned(), protocol));
        }
        op.requested().await?;
        let r = app
            .nodes
            .export(&caller.org_id, &keys, &recipient, secret, "")
            .await;
        if let Err(e) = &r {
            let ids: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            nodes::audit_if_disabled(&app, &caller, &ctx, &ids, e).await;
        }
        let exported = r?;
        let mut out = Vec::with_capacity(wallets.len());
        for w in &wallets {
            let (i, _) = keys
                .iter()
                .enumerate()
                .find(|(_, (k, _))| *k == w.key_id)
                .ok_or_else(|| ApiError::internal("export lost a key"))?;
            let e = &exported[i];
            out.push(ExportedWallet {
                wallet: super::convert::wallet(w),
                protocol: match keys[i].1 {
                    Protocol::Frost => "frost",
                    Protocol::Dkls23 => "dkls23",
                    _ => "cggmp",
                }
                .into(),
                key_id: w.key_id.clone(),
                node1_ciphertext: b64.encode(&e.node1_ciphertext),
                node2_ciphertext: b64.encode(&e.node2_ciphertext),
            });
        }
        let data = WalletsExported { wallets: out };
        let text = envelope_json(StatusCode::OK, "Wallets exported", &data)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft(
                "success",
                Some(serde_json::json!({ "keys": keys.iter().map(|(k, _)| k).collect::<Vec<_>>() })),
            )],
            idempotency: Some(idem.done(200, text.clone())),
            events: Vec::new(),
        };
        app.store.commit(&commit).await?;
        Ok(json_response(StatusCode::OK, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}
