//! The custody drills of customer wallets. The attacker is the server with its database
//! and grant key, and Node 1 too (it holds the customer secret `S_c` here, as a server and
//! Node 1 that saw one ciphertext would): Node 2 still takes part in no DKG, signature or
//! export of the customer's keys without a permit from the customer's own PIN unlock for
//! exactly that operation, and a permit is used once. `S_c` is in no file, dump or audit
//! entry.

use base64::Engine as _;
use planbok_envelope::Context;
use planbok_envelope::customer_op::{self, CustomerOp};
use planbok_proto::grant;
use planbok_proto::pb::{
    CustomerPinStep, ExportRequest, KeygenBatchRequest, KeygenItem, Operation, PeerExportRequest,
    Protocol, SecretContext, SignRequest,
};
use planbok_sdk::gateway::ops;
use planbok_sdk::trust::TrustedOrgKey;
use planbok_testkit::cluster::NodeRole::Node2;
use planbok_testkit::cluster::Options;

use crate::common::code;
use crate::customer_wallets::{complete_op, open_op, wallets_of};
use crate::customers::{B64, PIN, challenge, customer, direct, initialize, server_db};
use crate::rest::{Custody, Stack, assert_err, idem};

/// `S_c` encrypted to the organization key and bound to `ops` of `challenge`: what a
/// Gateway sends, made here by an attacker who knows `S_c`.
fn sealed(
    s: &Stack,
    key: &TrustedOrgKey,
    secret: &[u8; 32],
    ctx: Context,
    customer: &str,
    challenge: &str,
    ops: &[[u8; 32]],
) -> String {
    let binding = customer_op::binding(ctx, &s.org_id, customer, challenge, ops);
    planbok_envelope::envelope::seal(
        secret,
        &key.key.key,
        ctx,
        planbok_sdk::unix_now_ms(),
        Some(binding),
    )
    .unwrap()
}

/// A signing request for a customer key as the server would send it, under a fresh grant.
fn sign_request(
    s: &Stack,
    key_id: &str,
    path: &str,
    payload: &[u8],
    secret: String,
    challenge: &str,
) -> SignRequest {
    SignRequest {
        grant: Some(s.cluster.grant(
            &s.org_id,
            key_id,
            Operation::Sign,
            grant::sign_params(Protocol::Cggmp, path, payload),
        )),
        key_id: key_id.into(),
        derivation_path: path.into(),
        payload: payload.to_vec(),
        encrypted_secret: secret,
        customer_challenge: challenge.into(),
    }
}

async fn a_server_that_skips_the_gateway_gets_nothing_from_node2(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    s.provision().await;
    let id = customer(&s);
    let secret = initialize(&challenge(&s, &id, "initialize"), PIN);
    let url = s
        .owner
        .create_customer_wallets(
            &id,
            &planbok_sdk::api::customer_ops::CreateCustomerWallets {
                idempotency_key: Some(idem()),
                blockchains: vec!["ETH-SEPOLIA".into()],
                ..Default::default()
            },
        )
        .unwrap()
        .redirect_url
        .unwrap();
    complete_op(&s, &url);
    let eth = wallets_of(&s, &id)[0].clone();
    let mut db = server_db(&s).await;
    let (key_id, path): (String, String) =
        sqlx::query_as("SELECT key_id, derivation_path FROM wallets WHERE id = $1")
            .bind(eth["id"].as_str().unwrap())
            .fetch_one(&mut db)
            .await
            .unwrap();
    // The org key, as any Gateway checks it.
    let probe = s
        .owner
        .customer_sign_message(
            &id,
            &planbok_sdk::api::customer_ops::CustomerSignMessage {
                idempotency_key: Some(idem()),
                wallet_id: eth["id"].as_str().unwrap().into(),
                message: "what the customer approves".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .redirect_url
        .unwrap();
    let (gw, view, key, opened) = open_op(&s, &probe, PIN);
    let mut node1 = s.cluster.server().unwrap();
    let payload = [7u8; 32];

    // 1. The organization's path (no challenge) is refused for a customer's key by Node 1.
    let r = node1
        .sign(sign_request(
            &s,
            &key_id,
            &path,
            &payload,
            String::new(),
            "",
        ))
        .await;
    assert_eq!(code(&r.unwrap_err()), "customer_key");

    // 2. A made-up challenge with S_c itself, correctly bound: Node 1 is satisfied, Node 2
    //    refuses (no permit).
    let fake = "no-such-challenge";
    let op = customer_op::op_digest(
        &s.org_id,
        &id,
        fake,
        CustomerOp::Sign {
            key_id: &key_id,
            path: &path,
            payload: &payload,
        },
    );
    let ct = sealed(&s, &key, &secret, Context::Sign, &id, fake, &[op]);
    let r = node1
        .sign(sign_request(&s, &key_id, &path, &payload, ct, fake))
        .await;
    assert_eq!(code(&r.unwrap_err()), "permit_required");

    // 3. A DKG of a new key for the customer: refused by Node 2.
    let new_key = "kc_attacker";
    let op = customer_op::op_digest(
        &s.org_id,
        &id,
        fake,
        CustomerOp::Dkg {
            key_id: new_key,
            protocol: Protocol::Frost as i32,
        },
    );
    let r = node1
        .keygen_batch(KeygenBatchRequest {
            items: vec![KeygenItem {
                grant: Some(s.cluster.grant(
                    &s.org_id,
                    new_key,
                    Operation::Dkg,
                    grant::customer_dkg_params(Protocol::Frost, &id),
                )),
                protocol: Protocol::Frost as i32,
            }],
            encrypted_secret: sealed(&s, &key, &secret, Context::Dkg, &id, fake, &[op]),
            binding_ref: String::new(),
            context: SecretContext::Dkg as i32,
            customer_id: id.clone(),
            customer_challenge: fake.into(),
        })
        .await;
    assert_eq!(code(&r.unwrap_err()), "permit_required");

    // 4. An export to the attacker's key: through Node 1 (with S_c), and straight to Node 2
    //    as Node 1: both refused by Node 2.
    let recipient = [9u8; 32];
    let export_grant = || {
        s.cluster.grant(
            &s.org_id,
            &key_id,
            Operation::Export,
            grant::export_params(Protocol::Cggmp, &recipient),
        )
    };
    let op = customer_op::op_digest(
        &s.org_id,
        &id,
        fake,
        CustomerOp::Export {
            key_id: &key_id,
            recipient: &recipient,
        },
    );
    let r = node1
        .export(ExportRequest {
            grant: Some(export_grant()),
            key_id: key_id.clone(),
            recipient_public_key: recipient.to_vec(),
            encrypted_secret: sealed(&s, &key, &secret, Context::Verify, &id, fake, &[op]),
            customer_challenge: fake.into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(&r.unwrap_err()), "permit_required");
    let mut peer = s.cluster.as_node1().unwrap();
    for challenge_id in ["", fake] {
        let r = peer
            .export(PeerExportRequest {
                grant: Some(export_grant()),
                key_id: key_id.clone(),
                recipient_public_key: recipient.to_vec(),
                share_version: 0,
                customer_challenge: challenge_id.into(),
            })
            .await;
        assert_eq!(code(&r.unwrap_err()), "permit_required");
    }

    // 5. The customer's real authorization, intercepted by the server: it is good for the
    //    operation shown, once, and for nothing else.
    let ops_shown = ops::operations(&view, None).unwrap();
    let shown = ops::sign_input(view.operation.as_ref().unwrap().sign.as_ref().unwrap()).unwrap();
    let body = opened
        .authorize(&view, &key, None, planbok_sdk::unix_now_ms())
        .unwrap();
    let ch_id = view.challenge_id.clone();
    direct(&s, &id, CustomerPinStep::Unlock, |r| {
        r.nonce = B64.decode(&body.nonce).unwrap();
        r.signature = B64.decode(&body.signature).unwrap();
        r.challenge_id = ch_id.clone();
        r.permits = ops_shown.iter().map(|o| o.to_vec()).collect();
    })
    .await
    .unwrap();
    // The unlock cannot be replayed (its attempt nonce is retired) ...
    let r = direct(&s, &id, CustomerPinStep::Unlock, |r| {
        r.nonce = B64.decode(&body.nonce).unwrap();
        r.signature = B64.decode(&body.signature).unwrap();
        r.challenge_id = ch_id.clone();
        r.permits = ops_shown.iter().map(|o| o.to_vec()).collect();
    })
    .await;
    assert_eq!(code(&r.unwrap_err()), "pin_proof_invalid");
    // ... nor stretched to another operation (the signature covers the list).
    let other_payload = [8u8; 32];
    let op_other = customer_op::op_digest(
        &s.org_id,
        &id,
        &ch_id,
        CustomerOp::Sign {
            key_id: &key_id,
            path: &path,
            payload: &other_payload,
        },
    );
    let ct = sealed(&s, &key, &secret, Context::Sign, &id, &ch_id, &[op_other]);
    let r = node1
        .sign(sign_request(&s, &key_id, &path, &other_payload, ct, &ch_id))
        .await;
    assert_eq!(code(&r.unwrap_err()), "permit_required");
    // The permitted operation runs once ...
    let ct = sealed(&s, &key, &secret, Context::Sign, &id, &ch_id, &ops_shown);
    node1
        .sign(sign_request(&s, &key_id, &path, &shown.payload, ct, &ch_id))
        .await
        .unwrap();
    // ... and a replay of it (fresh grant, fresh ciphertext) is refused: the permit is gone.
    let ct = sealed(&s, &key, &secret, Context::Sign, &id, &ch_id, &ops_shown);
    let r = node1
        .sign(sign_request(&s, &key_id, &path, &shown.payload, ct, &ch_id))
        .await;
    assert_eq!(code(&r.unwrap_err()), "permit_required");
    let node2 = planbok_store::NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap();
    assert_eq!(node2.permit_count(&s.org_id, &id).await.unwrap(), 0);
    // The Gateway's own completion now fails (the unlock was spent) and signs nothing.
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/operation",
            Some(&serde_json::to_value(&body).unwrap()),
        )
        .unwrap(),
        "pin_proof_invalid",
    );

    // S_c is in no file of any process, no database dump, no audit entry.
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("S_c", secret.to_vec()),
        ("S_c hex", hex::encode(secret.as_slice()).into_bytes()),
        ("S_c b64", B64.encode(secret.as_slice()).into_bytes()),
        (
            "S_c b64 std",
            base64::engine::general_purpose::STANDARD
                .encode(secret.as_slice())
                .into_bytes(),
        ),
    ];
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in crate::customers_drills::walk(s.cluster.dir.path()) {
        haystacks.push((
            entry.display().to_string(),
            std::fs::read(&entry).unwrap_or_default(),
        ));
    }
    for (name, dump) in s.cluster.pg_dumps().unwrap() {
        haystacks.push((format!("pg_dump {name}"), dump));
    }
    let audit = s
        .owner
        .raw("GET", "/v2/audit-logs?limit=100", None)
        .unwrap()
        .1
        .to_string();
    haystacks.push(("audit".into(), audit.into_bytes()));
    for (what, needle) in &needles {
        for (name, hay) in &haystacks {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} found in {name}"
            );
        }
    }
}

on_sqlite_and_postgres!(a_server_that_skips_the_gateway_gets_nothing_from_node2);
