//! Signing: the server computes what is signed per the chain's standard (`planbok-chains`),
//! binds it in the grant, has the nodes sign, verifies the signature against the wallet's
//! key (a signature that does not verify is never returned), then formats it.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::MAX_MEMO_CHARS;
use planbok_api::model::{
    DelegateActionSignature, MessageSignature, SignDelegateAction, SignMessage, SignTransaction,
    SignTypedData, TransactionSignature,
};
use planbok_chains::{Chain, Curve, SignInput};
use planbok_proto::pb::Protocol;
use planbok_store::server::Commit;
use serde::Serialize;

use super::orgs::finish;
use super::{Req, envelope_json, json_response};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::facts::SigningWallet;
use crate::idem;
use crate::nodes;
use crate::nodes::Signing;

/// The fields every signing request has.
struct Common<'a> {
    idempotency_key: Option<&'a str>,
    wallet_id: &'a str,
    secret: &'a str,
    memo: Option<&'a str>,
}

/// The signing request bodies' shared fields.
trait SignBody {
    fn common(&self) -> Common<'_>;
}

macro_rules! sign_body {
    ($($t:ty),*) => {$(
        impl SignBody for $t {
            fn common(&self) -> Common<'_> {
                Common {
                    idempotency_key: self.idempotency_key.as_deref(),
                    wallet_id: &self.wallet_id,
                    secret: self.encrypted_organization_secret.as_deref().unwrap_or_default(),
                    memo: self.memo.as_deref(),
                }
            }
        }
    )*};
}

sign_body!(
    SignMessage,
    SignTypedData,
    SignTransaction,
    SignDelegateAction
);

/// A message or typed-data signature in the API's form.
fn format_message(
    chain: Chain,
    input: &SignInput,
    v: &Verified,
    public_key: &[u8],
) -> ApiResult<MessageSignature> {
    Ok(planbok_chains::finish_message(
        chain,
        input,
        &v.signature,
        v.recovery_id,
        public_key,
    )?)
}

/// 400 for a `memo` (shown to whoever approves) over [`MAX_MEMO_CHARS`] characters.
pub(crate) fn check_memo(memo: Option<&str>) -> ApiResult<()> {
    if memo.is_some_and(|m| m.chars().count() > MAX_MEMO_CHARS) {
        return Err(ApiError::invalid(format!(
            "memo must be at most {MAX_MEMO_CHARS} characters"
        )));
    }
    Ok(())
}

/// A verified signature: 64 bytes and, for ECDSA, the recovery id.
pub(crate) struct Verified {
    pub(crate) signature: [u8; 64],
    pub(crate) recovery_id: Option<u8>,
}

/// Has the nodes sign `payload` with `wallet`'s key (the grant, the custody checks and the
/// organization secret as every signing route), and verifies the signature before it is
/// used: the one signing path of the signing routes and of transfers.
pub(crate) async fn sign_payload(
    r: Req<'_>,
    wallet: &SigningWallet,
    chain: Chain,
    protocol: Protocol,
    payload: &[u8],
    secret: &str,
) -> ApiResult<Verified> {
    let Req { app, caller, ctx } = r;
    let r = nodes_sign(app, &caller.org_id, wallet, protocol, payload, secret).await;
    if let Err(e) = &r {
        nodes::audit_if_disabled(app, caller, ctx, &[wallet.key_id.as_str()], e).await;
    }
    verify(wallet, chain.curve(), payload, &r?)
}

/// The nodes' signature of `payload` with `org_id`'s wallet `wallet` (not a customer's),
/// not checked yet: [`verify`] it.
pub(crate) async fn nodes_sign(
    app: &App,
    org_id: &str,
    wallet: &SigningWallet,
    protocol: Protocol,
    payload: &[u8],
    secret: &str,
) -> ApiResult<planbok_proto::pb::SignResponse> {
    super::customer_wallets::refuse_customer_wallet(&wallet.key_id)?;
    app.nodes
        .sign(
            org_id,
            Signing {
                key_id: &wallet.key_id,
                protocol,
                path: &wallet.derivation_path,
                payload,
                encrypted_secret: secret,
                customer_challenge: "",
            },
        )
        .await
}

/// Checks the nodes' signature against the wallet's key: ECDSA by recovering the key from
/// (digest, signature, recovery id), low-S required; ed25519 with strict verification.
pub(crate) fn verify(
    wallet: &SigningWallet,
    curve: Curve,
    payload: &[u8],
    r: &planbok_proto::pb::SignResponse,
) -> ApiResult<Verified> {
    if r.public_key != wallet.public_key {
        return Err(ApiError::internal("node 1 signed under another public key"));
    }
    let signature: [u8; 64] = r
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("node 1 returned a signature of the wrong length"))?;
    match curve {
        Curve::Secp256k1 => {
            use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
            let bad = |why: &str| ApiError::internal(format!("signature check failed: {why}"));
            let sig = Signature::from_slice(&signature).map_err(|_| bad("not a signature"))?;
            if sig.normalize_s() != sig {
                return Err(bad("high S"));
            }
            let rid = u8::try_from(r.recovery_id)
                .ok()
                .and_then(RecoveryId::from_byte)
                .ok_or_else(|| bad("recovery id"))?;
            let vk =
                VerifyingKey::from_sec1_bytes(&wallet.public_key).map_err(|_| bad("wallet key"))?;
            let recovered = VerifyingKey::recover_from_prehash(payload, &sig, rid)
                .map_err(|_| bad("does not verify"))?;
            if recovered != vk {
                return Err(bad("does not verify under the wallet's key"));
            }
            Ok(Verified {
                signature,
                recovery_id: Some(rid.to_byte()),
            })
        }
        Curve::Ed25519 => {
            let pk: [u8; 32] = wallet
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("wallet key is not 32 bytes"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk)
                .map_err(|_| ApiError::internal("wallet key is not an ed25519 point"))?;
            vk.verify_strict(payload, &ed25519_dalek::Signature::from_bytes(&signature))
                .map_err(|_| ApiError::internal("signature check failed: ed25519"))?;
            Ok(Verified {
                signature,
                recovery_id: None,
            })
        }
    }
}

/// The signing flow shared by the routes.
async fn sign<T: Serialize>(
    r: Req<'_>,
    json: &serde_json::Value,
    c: Common<'_>,
    action: &'static str,
    prepare: impl FnOnce(Chain, &SigningWallet) -> ApiResult<SignInput>,
    format: impl FnOnce(Chain, &SignInput, &Verified, &[u8]) -> ApiResult<T>,
) -> ApiResult<Response> {
    let Req { app, caller, ctx } = r;
    check_memo(c.memo)?;
    let claim = idem::Claim::new(caller, action, c.idempotency_key, json)?;
    let op = Op::new(
        app,
        caller,
        ctx,
        action,
        Some(c.wallet_id.to_owned()),
        serde_json::json!({ "walletId": c.wallet_id, "memo": c.memo }),
    );
    // The checks read only what a request cannot change (the wallet, the custody mode), so
    // they run before the key is taken: a request that fails them writes nothing.
    let checked = async {
        let wallet = app.signing_wallet(&caller.org_id, c.wallet_id).await?;
        super::customer_wallets::refuse_customer_wallet(&wallet.key_id)?;
        let chain = Chain::parse(&wallet.blockchain)?;
        let input = prepare(chain, &wallet)?;
        app.require_secret_mode(&caller.org_id, c.secret).await?;
        let protocol = app
            .wallet_protocol(&caller.org_id, &wallet.blockchain, &wallet.wallet_set_id)
            .await?;
        ApiResult::Ok((wallet, chain, input, protocol))
    }
    .await;
    let (wallet, chain, input, protocol) = match checked {
        Ok(checked) => checked,
        Err(e) => return claim.replay_or(app, e).await,
    };
    let idem = match claim.take_requested(app, &op).await? {
        idem::Began::Replay(r) => return Ok(r),
        idem::Began::Fresh(i) => i,
    };
    let result = async {
        let verified = sign_payload(r, &wallet, chain, protocol, &input.payload, c.secret).await?;
        let data = format(chain, &input, &verified, &wallet.public_key)?;
        let text = envelope_json(StatusCode::OK, "Signed", &data)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft(
                "success",
                Some(serde_json::json!({ "digest": input.digest_hex, "standard": input.standard, "blockchain": wallet.blockchain })),
            )],
            idempotency: Some(idem.done(200, text.clone())),
            events: Vec::new(),
        };
        app.store.commit(&commit).await?;
        Ok(json_response(StatusCode::OK, text))
    }
    .await;
    finish(app, &op, &idem, result).await
}

/// `POST /v2/organization/sign/message`.
pub(crate) async fn message(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SignMessage>,
) -> ApiResult<Response> {
    let b = &body.value;
    sign(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &body.json,
        b.common(),
        "sign.message",
        |chain, _| {
            Ok(planbok_chains::message_input(
                chain,
                &b.message,
                b.encoded_by_hex,
            )?)
        },
        format_message,
    )
    .await
}

/// `POST /v2/organization/sign/typed-data`.
pub(crate) async fn typed_data(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SignTypedData>,
) -> ApiResult<Response> {
    let b = &body.value;
    sign(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &body.json,
        b.common(),
        "sign.typed_data",
        |chain, _| Ok(planbok_chains::typed_data_input(chain, &b.typed_data)?),
        format_message,
    )
    .await
}

/// `POST /v2/organization/sign/transaction`.
pub(crate) async fn transaction(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SignTransaction>,
) -> ApiResult<Response> {
    let b = &body.value;
    if b.raw_transaction.is_some() == b.transaction.is_some() {
        return Err(ApiError::invalid(
            "send exactly one of rawTransaction and transaction",
        ));
    }
    sign(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &body.json,
        b.common(),
        "sign.transaction",
        |chain, wallet| {
            Ok(planbok_chains::transaction_input(
                chain,
                b.raw_transaction.as_deref(),
                b.transaction.as_deref(),
                &wallet.public_key,
            )?)
        },
        |chain, input, v, pk| {
            let t =
                planbok_chains::finish_transaction(chain, input, &v.signature, v.recovery_id, pk)?;
            Ok(TransactionSignature {
                signature: t.signature,
                signed_transaction: t.signed_transaction,
                tx_hash: t.tx_hash,
            })
        },
    )
    .await
}

/// `POST /v2/organization/sign/delegate-action`: a NEP-366 delegate action (NEAR), signed
/// for a relayer to submit.
pub(crate) async fn delegate_action(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SignDelegateAction>,
) -> ApiResult<Response> {
    let b = &body.value;
    sign(
        Req {
            app: &app,
            caller: &caller,
            ctx: &ctx,
        },
        &body.json,
        b.common(),
        "sign.delegate_action",
        |chain, wallet| {
            Ok(planbok_chains::delegate_action_input(
                chain,
                &b.unsigned_delegate_action,
                &wallet.public_key,
            )?)
        },
        |chain, input, v, pk| delegate_signature(chain, input, &v.signature, pk),
    )
    .await
}

/// A signed delegate action in the API's form.
pub(crate) fn delegate_signature(
    chain: Chain,
    input: &SignInput,
    signature: &[u8; 64],
    public_key: &[u8],
) -> ApiResult<DelegateActionSignature> {
    let t = planbok_chains::finish_transaction(chain, input, signature, None, public_key)?;
    Ok(DelegateActionSignature {
        signature: t.signature,
        signed_delegate_action: t.signed_transaction,
    })
}
