//! Customer wallets, signing and export, end to end with real nodes: the organization makes
//! challenges through the CLI, the end user completes them with `planbok customer complete`
//! (the Gateway client), every signature is checked by independent Python libraries, and
//! the exported CSV's keys must give the wallets' addresses. The drills are in
//! `customer_wallet_drills.rs`, with the helpers here.

use planbok_store::FactorTable;
use std::time::{Duration, Instant};

use planbok_sdk::Client;
use planbok_sdk::api::customer_ops::{GatewayOperated, GatewayOperation};
use planbok_sdk::api::customers::GatewayChallenge;
use planbok_sdk::gateway::{OpenedPin, PreparedPin, ops};
use planbok_sdk::trust::{OrgKeyTrust, TrustedOrgKey};
use planbok_testkit::cluster::Options;
use serde_json::{Value, json};

use crate::customers::{PIN, challenge, customer, gateway, initialize, server_db};
use crate::rest::{
    Custody, Stack, assert_err, assert_ok, cli, idem, python_ready, python_verify, run_checker,
};

/// The first JSON value of a CLI run's output (its stderr follows).
pub(crate) fn first_json(out: &str) -> Value {
    serde_json::Deserializer::from_str(out)
        .into_iter::<Value>()
        .next()
        .unwrap_or_else(|| panic!("no JSON in {out}"))
        .unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Makes an operation challenge with the CLI; its Gateway URL.
pub(crate) fn cli_challenge(s: &Stack, args: &[&str]) -> String {
    let mut a = vec!["customer"];
    a.extend_from_slice(args);
    a.push("--json");
    let (ok, out) = cli(s, &a, None);
    assert!(ok, "{args:?}: {out}");
    let ch = first_json(&out);
    assert_eq!(ch["status"], "pending", "{ch}");
    ch["redirectUrl"].as_str().unwrap().to_owned()
}

/// Completes a challenge with the CLI as the end user; the completed challenge and how
/// long the call took.
pub(crate) fn cli_complete(s: &Stack, url: &str, pin: &str, extra: &[&str]) -> (Value, Duration) {
    let mut a = vec!["customer", "complete", url, "--pin", pin, "--json"];
    a.extend_from_slice(extra);
    let started = Instant::now();
    let (ok, out) = cli(s, &a, None);
    let took = started.elapsed();
    assert!(ok, "{out}");
    let ch = first_json(&out);
    assert_eq!(ch["status"], "complete", "{ch}");
    (ch, took)
}

/// The Gateway's view, the trusted org key, and the opened PIN after one counted attempt.
pub(crate) fn open_op(
    s: &Stack,
    url: &str,
    pin: &str,
) -> (Client, GatewayChallenge, TrustedOrgKey, OpenedPin) {
    let gw = gateway(url);
    let ch = gw.gateway_challenge().unwrap();
    let node = OrgKeyTrust::parse_node_key(&s.node_key).unwrap();
    let key = ops::trusted_key(&ch, &node).unwrap();
    let (prepared, req) = PreparedPin::existing_pin(pin, ch.pin.as_ref().unwrap()).unwrap();
    let eval = gw.gateway_evaluate(&req).unwrap();
    let opened = prepared.open(&ch, &eval).unwrap();
    (gw, ch, key, opened)
}

/// Completes an operation challenge through the SDK (no export).
pub(crate) fn complete_op(s: &Stack, url: &str) -> GatewayOperated {
    let (gw, ch, key, opened) = open_op(s, url, PIN);
    let body = opened
        .authorize(&ch, &key, None, planbok_sdk::unix_now_ms())
        .unwrap();
    gw.gateway_operate(&body).unwrap()
}

/// The customer's wallets as `GET /v2/wallets?customerId=` lists them.
pub(crate) fn wallets_of(s: &Stack, id: &str) -> Vec<Value> {
    let data = assert_ok(
        s.owner
            .raw(
                "GET",
                &format!("/v2/wallets?customerId={id}&limit=100"),
                None,
            )
            .unwrap(),
    );
    data["items"].as_array().unwrap().clone()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn operation(v: &Value) -> GatewayOperation {
    serde_json::from_value(v.clone()).unwrap()
}

async fn a_customer_creates_wallets_signs_and_exports_through_the_gateway(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    s.provision().await;
    let id = customer(&s);
    initialize(&challenge(&s, &id, "initialize"), PIN);

    // Wallets on three chains: the wallet set's two masters and one ed25519 key, all made
    // by DKGs that Node 2 joins only under the unlock's permits.
    let url = cli_challenge(
        &s,
        &[
            "wallet-create",
            &id,
            "--blockchain",
            "ETH-SEPOLIA",
            "--blockchain",
            "BTC-TESTNET",
            "--blockchain",
            "SOL-DEVNET",
            "--name",
            "main",
        ],
    );
    let view = gateway(&url).gateway_challenge().unwrap();
    let create = view.operation.as_ref().unwrap().create.as_ref().unwrap();
    assert_eq!(create.dkgs.len(), 3, "{create:?}");
    let (done, took) = cli_complete(&s, &url, PIN, &[]);
    eprintln!("FIGURE customer wallet creation (3 DKGs, CLI): {took:?}");
    let made = done["result"]["wallets"].as_array().unwrap().clone();
    assert_eq!(made.len(), 3, "{done}");
    let listed = wallets_of(&s, &id);
    assert_eq!(listed.len(), 3);
    let by = |chain: &str| -> Value {
        listed
            .iter()
            .find(|w| w["blockchain"] == chain)
            .unwrap()
            .clone()
    };
    let (eth, btc, sol) = (by("ETH-SEPOLIA"), by("BTC-TESTNET"), by("SOL-DEVNET"));
    assert_eq!(eth["derivationPath"], "m/44/60/0/0");
    assert_eq!(eth["name"], "main");
    // The challenge's result is the organization's to read, and the webhook events are in
    // the outbox, one per wallet.
    let link = planbok_sdk::gateway::GatewayLink::parse(&url).unwrap();
    let ch = s.owner.challenge(&id, &link.challenge_id).unwrap();
    assert_eq!(
        (ch.status.as_str(), ch.kind.as_str()),
        ("complete", "wallet_create")
    );
    let mut db = server_db(&s).await;
    let created: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE event = 'wallet.created'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(created, 3);
    // Another organization's customer filter finds nothing; the org's list has them.
    assert!(wallets_of(&s, "no-such-customer").is_empty());

    // Messages on each chain, typed data and a transaction on Ethereum.
    let mut cases = Vec::new();
    let msg = "I approve this, says the customer";
    let mut sign_times = Vec::new();
    for w in [&eth, &btc, &sol] {
        let url = cli_challenge(
            &s,
            &[
                "sign-message",
                &id,
                "--wallet",
                w["id"].as_str().unwrap(),
                "--message",
                msg,
                "--memo",
                "login",
            ],
        );
        let (done, took) = cli_complete(&s, &url, PIN, &[]);
        sign_times.push(took);
        let r = &done["result"];
        for f in ["signature", "r", "s"] {
            assert!(r[f].is_string(), "{r}");
        }
        match w["blockchain"].as_str().unwrap() {
            "ETH-SEPOLIA" => {
                assert!(r["v"] == 27 || r["v"] == 28, "{r}");
                cases.push(json!({"kind": "evm_message", "message_hex": hex::encode(msg), "signature": r["signature"], "address": w["address"]}));
            }
            "BTC-TESTNET" => cases.push(json!({"kind": "btc_message", "message_hex": hex::encode(msg), "signature": r["signature"], "address": w["address"], "hrp": "tb"})),
            _ => {
                let sig = bs58::decode(r["signature"].as_str().unwrap()).into_vec().unwrap();
                cases.push(json!({"kind": "ed25519", "public_key": w["publicKey"], "message_hex": hex::encode(msg), "signature_hex": hex::encode(sig)}));
            }
        }
    }
    eprintln!(
        "FIGURE customer message signature (CLI, median of {}): {:?}",
        sign_times.len(),
        median(sign_times)
    );
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "planbok", "chainId": 11155111},
        "message": {"to": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "contents": "hello"}
    })
    .to_string();
    let url = cli_challenge(
        &s,
        &[
            "sign-typed-data",
            &id,
            "--wallet",
            eth["id"].as_str().unwrap(),
            "--typed-data",
            &typed,
        ],
    );
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    assert_eq!(done["result"]["standard"], "eip712");
    cases.push(json!({"kind": "evm_typed", "typed_data": typed, "signature": done["result"]["signature"], "address": eth["address"]}));
    let tx = json!({"type": 2, "nonce": 0, "to": "0x3535353535353535353535353535353535353535", "value": "1000", "gas": 21000, "maxFeePerGas": "30000000000", "maxPriorityFeePerGas": "1000000000", "data": "0xa9059cbb"}).to_string();
    let url = cli_challenge(
        &s,
        &[
            "sign-transaction",
            &id,
            "--wallet",
            eth["id"].as_str().unwrap(),
            "--transaction",
            &tx,
        ],
    );
    // The Gateway shows the decoded transaction: recipient, value, selector.
    let shown = ops::describe(&gateway(&url).gateway_challenge().unwrap()).unwrap();
    assert!(
        shown
            .iter()
            .any(|l| l.contains("0x3535") && l.contains("1000") && l.contains("0xa9059cbb")),
        "{shown:?}"
    );
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    cases.push(json!({"kind": "evm_tx", "signed": done["result"]["signedTransaction"], "address": eth["address"], "chain_id": 11155111, "tx_hash": done["result"]["txHash"]}));
    python_verify(&cases);

    // A second creation derives from the same master: no DKG, no secret, the next index.
    let url = cli_challenge(&s, &["wallet-create", &id, "--blockchain", "ETH-SEPOLIA"]);
    assert!(
        operation(
            &serde_json::to_value(gateway(&url).gateway_challenge().unwrap().operation).unwrap()
        )
        .create
        .unwrap()
        .dkgs
        .is_empty()
    );
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    assert_eq!(
        done["result"]["wallets"][0]["derivationPath"],
        "m/44/60/0/1"
    );

    // The organization's own routes refuse the customer's wallets.
    assert_err(
        s.owner
            .raw(
                "POST",
                "/v2/organization/sign/message",
                Some(&json!({"idempotencyKey": idem(), "walletId": eth["id"], "message": "x"})),
            )
            .unwrap(),
        "customer_wallet",
    );
    assert_err(
        s.owner
            .raw(
                "POST",
                "/v2/organization/wallets/export",
                Some(&json!({"idempotencyKey": idem(), "walletIds": [eth["id"]], "recipientPublicKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})),
            )
            .unwrap(),
        "customer_wallet",
    );

    // Export: every key, sealed per node to a key made by the Gateway, rebuilt in the CLI,
    // the platform's CSV; Python checks that each key gives its wallet's address.
    let url = cli_challenge(&s, &["export", &id]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys.csv");
    let (done, _) = cli_complete(&s, &url, PIN, &["--out", out.to_str().unwrap()]);
    assert_eq!(done["result"]["wallets"], 4, "{done}");
    assert!(
        done["result"].get("node1Ciphertext").is_none(),
        "the challenge's result carries no sealed share"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("Customer: Alice ("), "{csv}");
    if python_ready() {
        let (ok, why) = run_checker(
            "customer_export_verify.py",
            &[json!({"csv": csv, "customer_id": id, "wallets": wallets_of(&s, &id)})],
        );
        assert!(ok, "{why}");
        // Not vacuous: another key in a row fails.
        let bad = csv.replacen(",0x", ",0x00", 1);
        let (ok, _) = run_checker(
            "customer_export_verify.py",
            &[json!({"csv": bad, "customer_id": id, "wallets": wallets_of(&s, &id)})],
        );
        assert!(!ok);
    }

    // Audited: each challenge's creation and its completion.
    let audit = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?limit=100", None)
            .unwrap(),
    );
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    for a in [
        "customer.wallet_create",
        "customer.wallets_created",
        "customer.sign_message",
        "customer.signed",
        "customer.export_private_keys",
        "customer.keys_exported",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}

async fn bad_requests_make_no_challenge_and_a_wrong_pin_no_signature(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    s.provision().await;
    let id = customer(&s);
    // No PIN yet: no operation challenge.
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/wallet/create"),
                Some(&json!({"idempotencyKey": idem(), "blockchains": ["ETH-SEPOLIA"]})),
            )
            .unwrap(),
        "pin_not_set",
    );
    initialize(&challenge(&s, &id, "initialize"), PIN);
    for (body, code) in [
        (
            json!({"idempotencyKey": idem(), "blockchains": []}),
            "invalid_request",
        ),
        (
            json!({"idempotencyKey": idem(), "blockchains": ["NOPE"]}),
            "unsupported_chain",
        ),
        (
            json!({"idempotencyKey": idem(), "blockchains": ["ETH-SEPOLIA"], "accountType": "sca"}),
            "invalid_request",
        ),
    ] {
        assert_err(
            s.owner
                .raw(
                    "POST",
                    &format!("/v2/customers/{id}/wallet/create"),
                    Some(&body),
                )
                .unwrap(),
            code,
        );
    }
    let url = cli_challenge(&s, &["wallet-create", &id, "--blockchain", "ETH-SEPOLIA"]);
    cli_complete(&s, &url, PIN, &[]);
    let eth = wallets_of(&s, &id)[0].clone();
    // Another customer's wallet is not found; typed data that is not EIP-712 is refused
    // when the challenge is made, not in the Gateway.
    let other = customer(&s);
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{other}/sign/message"),
                Some(&json!({"idempotencyKey": idem(), "walletId": eth["id"], "message": "x"})),
            )
            .unwrap(),
        "pin_not_set",
    );
    initialize(&challenge(&s, &other, "initialize"), PIN);
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{other}/sign/message"),
                Some(&json!({"idempotencyKey": idem(), "walletId": eth["id"], "message": "x"})),
            )
            .unwrap(),
        "not_found",
    );
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/sign/typed-data"),
                Some(&json!({"idempotencyKey": idem(), "walletId": eth["id"], "typedData": "{}"})),
            )
            .unwrap(),
        "invalid_typed_data",
    );
    // A wrong PIN: the attempt is counted, nothing is signed, the challenge stays pending
    // and the right PIN then completes it.
    let url = cli_challenge(
        &s,
        &[
            "sign-message",
            &id,
            "--wallet",
            eth["id"].as_str().unwrap(),
            "--message",
            "m",
        ],
    );
    let (ok, out) = cli(&s, &["customer", "complete", &url, "--pin", "502977"], None);
    assert!(!ok && out.contains("wrong PIN (4 attempt(s) left"), "{out}");
    let link = planbok_sdk::gateway::GatewayLink::parse(&url).unwrap();
    assert_eq!(
        s.owner.challenge(&id, &link.challenge_id).unwrap().status,
        "pending"
    );
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    assert!(done["result"]["signature"].is_string());
    // A completed challenge opens nothing more.
    assert_err(
        gateway(&url)
            .raw("GET", "/gateway/api/challenge", None)
            .unwrap(),
        "unauthorized",
    );
    // Without Node 1's identity key the Gateway client refuses to encrypt the secret.
    let url = cli_challenge(
        &s,
        &[
            "sign-message",
            &id,
            "--wallet",
            eth["id"].as_str().unwrap(),
            "--message",
            "m",
        ],
    );
    let mut c = std::process::Command::new(crate::common::bin());
    c.args(["customer", "complete", &url, "--pin", PIN])
        .env_remove("PLANBOK_NODE_KEY");
    let (ok, out) = crate::common::run_with_stdin(&mut c, "");
    assert!(!ok && out.contains("identity key"), "{out}");
    // With another node's identity key (a server serving an org key of its own would be
    // caught so): refused before any PIN attempt, nothing encrypted.
    let other_node = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
    let mut c = std::process::Command::new(crate::common::bin());
    c.args(["customer", "complete", &url, "--pin", PIN]).env(
        "PLANBOK_NODE_KEY",
        format!("ed25519:{}", hex::encode(other_node.as_bytes())),
    );
    let (ok, out) = crate::common::run_with_stdin(&mut c, "");
    assert!(!ok && out.contains("organization key refused"), "{out}");
    let pins = planbok_store::NodeStore::connect(
        &s.cluster
            .node(planbok_testkit::cluster::NodeRole::Node2)
            .database_url,
    )
    .await
    .unwrap()
    .factor_record(FactorTable::Pin, &s.org_id, &id)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pins.failures, 0, "no attempt was spent");
}

on_sqlite_and_postgres!(
    a_customer_creates_wallets_signs_and_exports_through_the_gateway,
    bad_requests_make_no_challenge_and_a_wrong_pin_no_signature,
);
