//! Customer transactions against anvil (ETH-SEPOLIA's chain id): a native and an ERC-20
//! transfer, a contract call, an accelerate and a cancel, each a challenge the customer
//! completes with the PIN through the Gateway client (`planbok customer complete`), every
//! amount checked against anvil to the wei and every signer recovered by eth-account. The
//! drill: a server (or its database) that changes a prepared transaction after the
//! customer authorized it gets no signature, and nothing is stored or sent.

use planbok_sdk::Client;
use planbok_sdk::api::customers::GatewayChallenge;
use planbok_sdk::gateway::{PreparedPin, ops};
use planbok_sdk::trust::OrgKeyTrust;
use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready};
use crate::customer_wallets::{cli_challenge, cli_complete};
use crate::customers::{PIN, challenge, customer, gateway, initialize, server_db};
use crate::rest::{Custody, Stack, assert_err, assert_ok, idem};
use crate::transactions::{chains_toml, check_signer, native_id, settle};
use crate::tx_replace::wait_status;

const RECEIVER: &str = "0x000000000000000000000000000000000000bEEF";

/// A stack on `anvil` with one customer (PIN set) and their ETH-SEPOLIA wallet holding
/// 10 ETH: (stack, customer id, wallet id, address).
async fn customer_with_wallet(anvil: &Anvil) -> (Stack, String, String, String) {
    let (s, id, w) = customer_and_wallet(&chains_toml(anvil, ""), "ETH-SEPOLIA").await;
    let (wallet, address) = (
        w["id"].as_str().unwrap().to_owned(),
        w["address"].as_str().unwrap().to_owned(),
    );
    anvil.fund(&address, 10 * ETH);
    (s, id, wallet, address)
}

/// A stack (with `config` for the server) and one customer with a PIN and a wallet on
/// `chain`: (stack, customer id, the wallet as the challenge's result gives it).
async fn customer_and_wallet(config: &str, chain: &str) -> (Stack, String, Value) {
    let pg = crate::common::postgres_or_skip().expect("checked by the caller");
    let s = Stack::start(pg, Custody::Unset, config).await;
    s.provision().await;
    let id = customer(&s);
    initialize(&challenge(&s, &id, "initialize"), PIN);
    let url = cli_challenge(&s, &["wallet-create", &id, "--blockchain", chain]);
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    let w = done["result"]["wallets"][0].clone();
    (s, id, w)
}

fn ready() -> bool {
    crate::common::postgres_or_skip().is_some() && anvil_ready()
}

/// Makes a transaction challenge with the CLI and completes it as the customer: the
/// transaction's id.
fn send(s: &Stack, args: &[&str]) -> String {
    let url = cli_challenge(s, args);
    let (done, took) = cli_complete(s, &url, PIN, &[]);
    eprintln!(
        "FIGURE customer {} (challenge completed, CLI): {took:?}",
        args[0]
    );
    let r = &done["result"];
    assert!(r["transactionHash"].is_string(), "{done}");
    r["transactionId"].as_str().unwrap().to_owned()
}

/// The CLI arguments of a transfer challenge of `amount` of `token` from the customer's
/// `wallet` to [`RECEIVER`].
fn transfer<'a>(id: &'a str, wallet: &'a str, token: &'a str, amount: &'a str) -> Vec<&'a str> {
    vec![
        "transfer",
        id,
        "--wallet",
        wallet,
        "--destination",
        RECEIVER,
        "--token-id",
        token,
        "--amount",
        amount,
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_transfers_calls_accelerates_and_cancels() {
    if !ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, id, wallet, address) = customer_with_wallet(&anvil).await;
    let native = native_id(&s);

    // 1.25 ETH. The Gateway's view names the transfer's parts, not call data; the nonce
    // and fees come only when the Gateway prepares it.
    let url = cli_challenge(
        &s,
        &[
            transfer(&id, &wallet, &native, "1.25"),
            vec!["--memo", "rent"],
        ]
        .concat(),
    );
    let view = gateway(&url).gateway_challenge().unwrap();
    let t = view
        .operation
        .as_ref()
        .unwrap()
        .transaction
        .clone()
        .unwrap();
    assert_eq!(
        (t.what.as_str(), t.token.as_ref().unwrap().symbol.as_str()),
        ("transfer", "ETH")
    );
    assert_eq!(t.amounts, ["1.25"]);
    assert!(t.prepared.is_none(), "{t:?}");
    let lines = ops::describe(&view).unwrap().join("\n");
    assert!(
        lines.contains("Send 1.25 ETH to 0x000000000000000000000000000000000000bEEF"),
        "{lines}"
    );
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    assert_eq!(done["type"], "transfer", "{done}");
    let first = settle(&s, done["result"]["transactionId"].as_str().unwrap());
    assert_eq!(first["status"], "confirmed", "{first}");
    assert_eq!(first["nonce"], 0);
    assert_eq!(first["walletId"], wallet.as_str());
    check_signer(&anvil, &first, &address);
    assert_eq!(anvil.balance(RECEIVER), 5 * ETH / 4);

    // An ERC-20 from the organization's registry.
    let token = anvil.deploy_erc20();
    anvil.mint(&token, &address, 1000 * ETH);
    let registered = assert_ok(s.post(
        "/v2/tokens",
        json!({"idempotencyKey": idem(), "blockchain": "ETH-SEPOLIA", "standard": "erc20",
               "name": "Test Token", "symbol": "TT", "decimals": 18, "address": token}),
    ));
    let tt = registered["id"].as_str().unwrap().to_owned();
    let erc20 = send(&s, &transfer(&id, &wallet, &tt, "2.5"));
    let t = settle(&s, &erc20);
    assert_eq!(
        (t["status"].as_str(), t["nonce"].as_i64()),
        (Some("confirmed"), Some(1))
    );
    check_signer(&anvil, &t, &address);
    assert_eq!(anvil.token_balance(&token, RECEIVER), 5 * ETH / 2);

    // A contract call: the same token's transfer(address,uint256), one base unit.
    let call = send(
        &s,
        &[
            "contract-execution",
            &id,
            "--wallet",
            &wallet,
            "--contract",
            &token,
            "--function",
            "transfer(address,uint256)",
            "--params",
            &json!([RECEIVER, "1"]).to_string(),
        ],
    );
    let t = settle(&s, &call);
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(t["operation"], "CONTRACT_EXECUTION");
    assert_eq!(anvil.token_balance(&token, RECEIVER), 5 * ETH / 2 + 1);

    // With automine off: 0.5 ETH stays pending, is accelerated, and the accelerated one
    // is cancelled; the chain mines the cancel and the receiver gets nothing more.
    anvil.rpc("evm_setAutomine", json!([false]));
    let pending = send(&s, &transfer(&id, &wallet, &native, "0.5"));
    let a = wait_status(&s, &pending, "broadcast");
    assert_eq!(a["nonce"], 3);
    let faster = send(&s, &["replace", &id, &pending, "--accelerate"]);
    let b = wait_status(&s, &faster, "broadcast");
    assert_eq!(
        (b["nonce"].as_i64(), b["replaces"].as_str()),
        (Some(3), Some(pending.as_str()))
    );
    let cancel = send(&s, &["replace", &id, &faster]);
    let c = wait_status(&s, &cancel, "broadcast");
    assert_eq!(
        (c["nonce"].as_i64(), c["operation"].as_str()),
        (Some(3), Some("CANCEL"))
    );
    anvil.rpc("evm_mine", json!([]));
    let c = settle(&s, &cancel);
    assert_eq!(c["status"], "confirmed", "{c}");
    check_signer(&anvil, &c, &address);
    assert_eq!(anvil.balance(RECEIVER), 5 * ETH / 4);
    assert_eq!(anvil.nonce(&address), 4);
    // A settled transaction cannot be replaced.
    let (status, body) = s.post(
        &format!("/v2/customers/{id}/transactions/{cancel}/accelerate"),
        json!({"idempotencyKey": idem()}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("transaction_not_pending")),
        "{body}"
    );
    // Another customer's transaction is not this customer's to replace.
    // (That customer has a PIN and recovery, so only ownership can refuse it.)
    let other = customer(&s);
    initialize(&challenge(&s, &other, "initialize"), PIN);
    assert_err(
        s.post(
            &format!("/v2/customers/{other}/transactions/{pending}/cancel"),
            json!({"idempotencyKey": idem()}),
        ),
        "not_found",
    );
}

/// The Gateway's view with the transaction prepared, the trusted org key and the PIN
/// opened after one counted attempt.
fn prepare_and_open(
    s: &Stack,
    url: &str,
) -> (
    Client,
    GatewayChallenge,
    planbok_sdk::trust::TrustedOrgKey,
    planbok_sdk::gateway::OpenedPin,
) {
    let gw = gateway(url);
    let mut ch = gw.gateway_challenge().unwrap();
    let key = ops::trusted_key(&ch, &OrgKeyTrust::parse_node_key(&s.node_key).unwrap()).unwrap();
    let prepared = gw.gateway_prepare_transaction().unwrap();
    // Prepared twice, the nonce held for the challenge is the same.
    assert_eq!(gw.gateway_prepare_transaction().unwrap(), prepared);
    ch.operation
        .as_mut()
        .unwrap()
        .transaction
        .as_mut()
        .unwrap()
        .prepared = Some(prepared);
    let (pin, req) = PreparedPin::existing_pin(PIN, ch.pin.as_ref().unwrap()).unwrap();
    let eval = gw.gateway_evaluate(&req).unwrap();
    let opened = pin.open(&ch, &eval).unwrap();
    (gw, ch, key, opened)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_changed_after_the_customer_authorized_it_is_never_signed() {
    if !ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, id, wallet, address) = customer_with_wallet(&anvil).await;
    let native = native_id(&s);
    let url = cli_challenge(&s, &transfer(&id, &wallet, &native, "1"));
    let (gw, ch, key, opened) = prepare_and_open(&s, &url);

    // The Gateway refuses, on its own, a prepared fee above the most it showed.
    let mut dear = ch.clone();
    let t = dear
        .operation
        .as_mut()
        .unwrap()
        .transaction
        .as_mut()
        .unwrap();
    let p = t.prepared.as_mut().unwrap();
    p.max_fee_per_gas = (p.max_fee_per_gas.parse::<u128>().unwrap() * 2).to_string();
    assert!(ops::transaction_input(t).is_err());
    assert!(
        opened
            .authorize(&dear, &key, None, planbok_sdk::unix_now_ms())
            .is_err()
    );

    // The customer authorizes the transaction shown. Then the server's database (the
    // attacker's) raises the prepared fees and sends the payment elsewhere.
    let body = opened
        .authorize(&ch, &key, None, planbok_sdk::unix_now_ms())
        .unwrap();
    let mut db = server_db(&s).await;
    let challenge_id = &ch.challenge_id;
    let prepared: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT prepared FROM customer_challenges WHERE id = '{challenge_id}'"
    )))
    .fetch_one(&mut db)
    .await
    .unwrap();
    let mut p: Value = serde_json::from_str(&prepared).unwrap();
    let fee: u128 = p["maxFeePerGas"].as_str().unwrap().parse().unwrap();
    p["maxFeePerGas"] = json!((fee + 1).to_string());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customer_challenges SET prepared = '{p}' WHERE id = '{challenge_id}'"
    )))
    .execute(&mut db)
    .await
    .unwrap();
    // The customer secret is bound to the signing digest the customer authorized, and
    // so is Node 2's permit: Node 1 refuses to open the secret for another digest (and
    // Node 2 would refuse to join), so nothing is signed, stored or sent.
    let err = gw.gateway_operate(&body).unwrap_err();
    assert_eq!(
        err.code().map(|c| c.as_str()),
        Some("secret_binding_mismatch"),
        "{err}"
    );
    let listed = assert_ok(s.owner.raw("GET", "/v2/transactions", None).unwrap());
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(anvil.nonce(&address), 0);
    let link = planbok_sdk::gateway::GatewayLink::parse(&url).unwrap();
    assert_eq!(
        s.owner.challenge(&id, &link.challenge_id).unwrap().status,
        "pending"
    );

    // Restored, the customer's own PIN (a new attempt: the permit was spent) completes it:
    // the nonce is still the one held, the first the wallet uses.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customer_challenges SET prepared = '{prepared}' WHERE id = '{challenge_id}'"
    )))
    .execute(&mut db)
    .await
    .unwrap();
    let (pin, req) = PreparedPin::existing_pin(PIN, ch.pin.as_ref().unwrap()).unwrap();
    let eval = gw.gateway_evaluate(&req).unwrap();
    let opened = pin.open(&ch, &eval).unwrap();
    let body = opened
        .authorize(&ch, &key, None, planbok_sdk::unix_now_ms())
        .unwrap();
    let done = gw.gateway_operate(&body).unwrap();
    let t = settle(
        &s,
        done.challenge.result.as_ref().unwrap()["transactionId"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        (t["status"].as_str(), t["nonce"].as_i64()),
        (Some("confirmed"), Some(0))
    );
    check_signer(&anvil, &t, &address);
    assert_eq!(anvil.balance(RECEIVER), ETH);
}

/// A NEAR meta-transaction (NEP-366): the customer signs a delegate action for a relayer;
/// PyNaCl checks the signature over its `SignableMessage`, and the signed form carries
/// exactly the action the organization sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_signs_a_near_delegate_action() {
    if crate::common::postgres_or_skip().is_none() || !crate::rest::python_ready() {
        return;
    }
    let (s, id, w) = customer_and_wallet("", "NEAR-TESTNET").await;
    let pk = hex::decode(&w["publicKey"].as_str().unwrap()[2..]).unwrap();
    let action = crate::api_sign::b64(&crate::api_sign::near_delegate_action(&pk));
    let url = cli_challenge(
        &s,
        &[
            "sign-delegate-action",
            &id,
            "--wallet",
            w["id"].as_str().unwrap(),
            "--action",
            &action,
        ],
    );
    let lines = ops::describe(&gateway(&url).gateway_challenge().unwrap())
        .unwrap()
        .join("\n");
    assert!(lines.contains("acts on bob.testnet"), "{lines}");
    let (done, _) = cli_complete(&s, &url, PIN, &[]);
    assert_eq!(done["type"], "sign_delegate_action", "{done}");
    crate::rest::python_verify(&[json!({
        "kind": "near_delegate", "signed_b64": done["result"]["signedDelegateAction"],
        "unsigned_b64": action, "public_key": w["publicKey"],
    })]);
    // Another key's delegate action is refused when the challenge is asked for.
    let other = crate::api_sign::b64(&crate::api_sign::near_delegate_action(&[9u8; 32]));
    let (status, body) = s.post(
        &format!("/v2/customers/{id}/sign/delegate-action"),
        json!({"idempotencyKey": idem(), "walletId": w["id"], "unsignedDelegateAction": other}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("not_signer")),
        "{body}"
    );
}
