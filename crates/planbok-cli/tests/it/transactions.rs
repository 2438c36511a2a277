//! Transactions against a real EVM node: anvil (npm `@foundry-rs/anvil`, the real binary)
//! impersonating ETH-SEPOLIA (`--chain-id 11155111`), OpenZeppelin's compiled ERC-20
//! (npm `@openzeppelin/contracts` 4.9, no compiler). Every amount is checked against what
//! anvil itself says, to the wei; every signer against anvil's receipt and eth-account's
//! recovery of the raw transaction anvil holds.

use std::time::Duration;

use planbok_sdk::api::model::CreateTransfer;
use planbok_sdk::secret::Context;
use planbok_testkit::cluster::{Options, SERVER};
use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready, decimal18, quantity};
use crate::rest::{Custody, Stack, assert_err, assert_ok, idem, python_verify};

pub(crate) fn chains_toml(anvil: &Anvil, extra: &str) -> String {
    format!(
        "[chains.ETH-SEPOLIA]\nrpc_url = \"{}\"\npoll_interval_ms = 100\n{extra}",
        anvil.url
    )
}

/// A stack on `anvil` with one funded ETH-SEPOLIA wallet: (stack, wallet id, address).
pub(crate) async fn stack_with_wallet(
    anvil: &Anvil,
    custody: Custody,
    extra: &str,
    fund_wei: u128,
) -> (Stack, String, String) {
    let s = Stack::start(Options::default(), custody, &chains_toml(anvil, extra)).await;
    let trustless = custody == Custody::Trustless;
    let set = s.wallet_set("dkls23", trustless);
    let w = s.wallets(&set.id, &["ETH-SEPOLIA"], 1, trustless).remove(0);
    anvil.fund(&w.address, fund_wei);
    (s, w.id, w.address)
}

/// A stack on `anvil` whose server signs and commits but never broadcasts (its tracker is
/// off), with one wallet holding 1 ETH: (stack, wallet id, address, the native token id).
pub(crate) async fn stack_without_tracker(anvil: &Anvil) -> (Stack, String, String, String) {
    let (s, wallet, address) = stack_with_wallet(
        anvil,
        Custody::Standard,
        "[transactions]\ntracker = false\n",
        crate::anvil::ETH,
    )
    .await;
    let native = native_id(&s);
    (s, wallet, address, native)
}

pub(crate) fn native_id(s: &Stack) -> String {
    let meta = assert_ok(s.owner.raw("GET", "/v2/tokens/metadata", None).unwrap());
    let c = meta["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["blockchain"] == "ETH-SEPOLIA")
        .unwrap()
        .clone();
    assert_eq!(c["configured"], true, "{meta}");
    c["nativeTokenId"].as_str().unwrap().to_owned()
}

pub(crate) fn transfer(s: &Stack, body: Value) -> (u16, Value) {
    s.post("/v2/organization/transactions/transfer", body)
}

/// Polls the transaction until it is `confirmed` or `failed`.
pub(crate) fn settle(s: &Stack, id: &str) -> Value {
    for _ in 0..1200 {
        let t = assert_ok(
            s.owner
                .raw("GET", &format!("/v2/transactions/{id}"), None)
                .unwrap(),
        );
        if t["status"] == "confirmed" || t["status"] == "failed" {
            return t;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "transaction {id} did not settle\n{}",
        s.cluster.log_tail(SERVER)
    );
}

/// The independent signer checks of a mined transaction: anvil's receipt names the
/// wallet as its sender, and eth-account recovers the wallet from the raw bytes anvil
/// holds, with ETH-SEPOLIA's chain id and the hash the API reported.
pub(crate) fn check_signer(anvil: &Anvil, t: &Value, address: &str) {
    let hash = t["transactionHash"].as_str().unwrap();
    let r = anvil.rpc("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(
        r["from"].as_str().unwrap().to_lowercase(),
        address.to_lowercase(),
        "{r}"
    );
    let raw = anvil.rpc("eth_getRawTransactionByHash", json!([hash]));
    python_verify(&[json!({
        "kind": "evm_tx", "signed": raw, "address": address, "chain_id": SEPOLIA, "tx_hash": hash,
    })]);
}

#[tokio::test(flavor = "multi_thread")]
async fn native_and_erc20_transfers_confirm_and_balances_move_exactly() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Standard, "", 10 * ETH).await;
    let native = native_id(&s);
    let receiver = "0x000000000000000000000000000000000000bEEF";

    let b = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallets/{wallet}/balances"), None)
            .unwrap(),
    );
    assert_eq!(b["items"][0]["amount"], "10", "{b}");
    assert_eq!(b["items"][0]["token"]["id"], native.as_str());

    // Fee levels: ordered; gas is the estimate (21000) plus the 20 % margin.
    let fee = assert_ok(s.post(
        "/v2/transactions/transfer/estimate-fee",
        json!({"walletId": wallet, "destinationAddress": receiver, "tokenId": native, "amounts": ["1"]}),
    ));
    assert_eq!(fee["medium"]["gasLimit"], "25200", "{fee}");
    let max = |l: &str| {
        fee[l]["maxFeePerGas"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
    };
    assert!(
        max("low") <= max("medium") && max("medium") <= max("high"),
        "{fee}"
    );

    // Native: one ETH and one wei.
    let value = ETH + 1;
    let key = idem();
    let body = json!({
        "idempotencyKey": key, "walletId": wallet, "destinationAddress": receiver,
        "tokenId": native, "amounts": [decimal18(value)], "refId": "invoice-1",
    });
    let created = assert_ok(transfer(&s, body.clone()));
    assert_eq!(created["status"], "signed", "{created}");
    assert_eq!(created["nonce"], 0);
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(t["transactionHash"], created["transactionHash"]);
    check_signer(&anvil, &t, &address);
    assert_eq!(anvil.balance(receiver), value);
    let receipt = anvil.rpc("eth_getTransactionReceipt", json!([t["transactionHash"]]));
    let paid = quantity(&receipt["gasUsed"]) * quantity(&receipt["effectiveGasPrice"]);
    assert_eq!(anvil.balance(&address), 10 * ETH - value - paid);
    assert_eq!(t["networkFee"], decimal18(paid).as_str(), "{t}");
    let b = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallets/{wallet}/balances"), None)
            .unwrap(),
    );
    assert_eq!(
        b["items"][0]["amount"],
        decimal18(10 * ETH - value - paid).as_str()
    );
    // The same key again: the same transaction, not a second one.
    let again = assert_ok(transfer(&s, body));
    assert_eq!(again["id"], created["id"]);
    assert_eq!(anvil.nonce(&address), 1);

    // ERC-20: OpenZeppelin's preset, registered, minted to the wallet, sent on.
    let token = anvil.deploy_erc20();
    let registered = assert_ok(s.post(
        "/v2/tokens",
        json!({"idempotencyKey": idem(), "blockchain": "ETH-SEPOLIA", "standard": "erc20",
               "name": "Test Token", "symbol": "TT", "decimals": 18, "address": token}),
    ));
    let token_id = registered["id"].as_str().unwrap().to_owned();
    anvil.mint(&token, &address, 100 * ETH);
    let b = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallets/{wallet}/balances"), None)
            .unwrap(),
    );
    assert_eq!(b["items"][1]["amount"], "100", "{b}");
    assert_eq!(b["items"][1]["token"]["symbol"], "TT");
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": token_id, "amounts": ["12.5"], "feeLevel": "high"}),
    ));
    assert_eq!(created["nonce"], 1);
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    check_signer(&anvil, &t, &address);
    assert_eq!(anvil.token_balance(&token, receiver), 12 * ETH + ETH / 2);
    assert_eq!(anvil.token_balance(&token, &address), 87 * ETH + ETH / 2);
    let b = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallets/{wallet}/balances"), None)
            .unwrap(),
    );
    assert_eq!(b["items"][1]["amount"], "87.5", "{b}");

    // Lists and their filters.
    let all = assert_ok(
        s.owner
            .raw("GET", "/v2/organization/transactions", None)
            .unwrap(),
    );
    assert_eq!(all["total"], 2, "{all}");
    let q = format!("/v2/transactions?status=confirmed&walletIds={wallet}&refId=invoice-1");
    let one = assert_ok(s.owner.raw("GET", &q, None).unwrap());
    assert_eq!(one["total"], 1, "{one}");
    let q = format!(
        "/v2/transactions?txHash={}",
        t["transactionHash"].as_str().unwrap()
    );
    assert_eq!(
        assert_ok(s.owner.raw("GET", &q, None).unwrap())["items"][0]["id"],
        t["id"]
    );
    let none = assert_ok(
        s.owner
            .raw("GET", "/v2/transactions?status=failed", None)
            .unwrap(),
    );
    assert_eq!(none["total"], 0);
    assert_err(
        s.owner
            .raw("GET", "/v2/transactions?status=lost", None)
            .unwrap(),
        "invalid_request",
    );

    // Refusals: nothing signed, no nonce used.
    let refuse = |body: Value, code: &str| assert_err(transfer(&s, body), code);
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["100000"]}),
        "transaction_would_fail",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": "0x1234",
               "tokenId": native, "amounts": ["1"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["0.0000000000000000001"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["1"], "nftTokenIds": ["1"]}),
        "invalid_request",
    );
    assert_eq!(anvil.nonce(&address), 2);

    // The CLI: a transfer, its record, the balances.
    let (ok, out) = crate::rest::cli(
        &s,
        &[
            "transfer", "--wallet", &wallet, "--to", receiver, "--token", &native, "--amount",
            "0.5", "--json",
        ],
        None,
    );
    assert!(ok, "{out}");
    let sent: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(sent["nonce"], 2, "{sent}");
    let t = settle(&s, sent["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed");
    let (ok, out) = crate::rest::cli(&s, &["tx", "get", sent["id"].as_str().unwrap()], None);
    assert!(ok && out.contains("confirmed"), "{out}");
    let (ok, out) = crate::rest::cli(&s, &["balance", "--wallet", &wallet], None);
    assert!(ok && out.contains("87.5") && out.contains("TT"), "{out}");
    assert_eq!(anvil.balance(receiver), value + ETH / 2);

    // Tokens: natives cannot be deleted; registered ones can.
    assert_err(
        s.owner
            .raw("DELETE", &format!("/v2/tokens/{native}"), None)
            .unwrap(),
        "conflict",
    );
    assert_ok(
        s.owner
            .raw("DELETE", &format!("/v2/tokens/{token_id}"), None)
            .unwrap(),
    );
    assert_err(
        s.owner
            .raw("GET", &format!("/v2/tokens/{token_id}"), None)
            .unwrap(),
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_transfers_from_one_wallet_get_consecutive_nonces() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Trustless, "", 10 * ETH).await;
    let native = native_id(&s);
    let receiver = "0x00000000000000000000000000000000000c0ffe";
    // Trustless: no secret, no transfer.
    assert_err(
        transfer(
            &s,
            json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
                   "tokenId": native, "amounts": ["1"]}),
        ),
        "secret_required",
    );
    let bodies: Vec<CreateTransfer> = (0..10)
        .map(|i| CreateTransfer {
            idempotency_key: Some(idem()),
            wallet_id: wallet.clone(),
            destination_address: receiver.into(),
            token_id: native.clone(),
            amounts: vec![format!("0.{:03}", i + 1)],
            nft_token_ids: None,
            fee_level: None,
            ref_id: None,
            encrypted_organization_secret: Some(s.ct(Context::Sign)),
        })
        .collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| scope.spawn(|| s.owner.transfer(b)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut nonces = Vec::new();
    let mut total = 0u128;
    for (i, r) in results.iter().enumerate() {
        let t = r
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}\n{}", s.cluster.log_tail(SERVER)));
        nonces.push(t.nonce.unwrap());
        total += (i as u128 + 1) * ETH / 1000;
    }
    nonces.sort_unstable();
    assert_eq!(nonces, (0..10).collect::<Vec<u64>>());
    for r in &results {
        let t = settle(&s, &r.as_ref().unwrap().id);
        assert_eq!(t["status"], "confirmed", "{t}");
        let on_chain = anvil.rpc("eth_getTransactionByHash", json!([t["transactionHash"]]));
        assert_eq!(
            quantity(&on_chain["nonce"]) as u64,
            t["nonce"].as_u64().unwrap()
        );
    }
    check_signer(
        &anvil,
        &settle(&s, &results[0].as_ref().unwrap().id),
        &address,
    );
    assert_eq!(anvil.nonce(&address), 10);
    assert_eq!(anvil.balance(receiver), total);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reverted_transfer_is_failed_with_its_reason() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Standard, "", ETH).await;
    let token = anvil.deploy_erc20();
    let token_id = assert_ok(s.post(
        "/v2/tokens",
        json!({"idempotencyKey": idem(), "blockchain": "ETH-SEPOLIA", "standard": "erc20",
               "name": "Test Token", "symbol": "TT", "decimals": 18, "address": token}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    anvil.mint(&token, &address, 10 * ETH);
    // Mining stops; the transfer is estimated on an unpaused token, signed and broadcast.
    anvil.rpc("evm_setAutomine", json!([false]));
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet,
               "destinationAddress": "0x000000000000000000000000000000000000dEaD",
               "tokenId": token_id, "amounts": ["1"]}),
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..1200 {
        let t = assert_ok(
            s.owner
                .raw("GET", &format!("/v2/transactions/{id}"), None)
                .unwrap(),
        );
        if t["status"] == "broadcast" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The deployer pauses the token with a higher tip, so the pause comes first in the
    // block that also mines the transfer.
    let dev = anvil.dev_account();
    let pause = anvil.rpc(
        "eth_sendTransaction",
        json!([{"from": dev, "to": token, "data": "0x8456cb59",
                "maxPriorityFeePerGas": "0x174876e800", "maxFeePerGas": "0x2540be4000"}]),
    );
    anvil.rpc("evm_mine", json!([]));
    anvil.rpc("evm_setAutomine", json!([true]));
    let paused = anvil.receipt(&pause);
    assert_eq!(paused["status"], "0x1", "{paused}");
    let t = settle(&s, &id);
    assert_eq!(t["status"], "failed", "{t}");
    let reason = t["errorReason"].as_str().unwrap_or_default();
    assert!(reason.contains("paused"), "{t}");
    let receipt = anvil.rpc("eth_getTransactionReceipt", json!([t["transactionHash"]]));
    assert_eq!(receipt["status"], "0x0", "{receipt}");
    assert_eq!(receipt["blockNumber"], paused["blockNumber"]);
    assert_eq!(anvil.token_balance(&token, &address), 10 * ETH);
    // The nonce was used on chain: the next transfer takes the next one.
    assert_eq!(anvil.nonce(&address), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_refuses_to_start_on_an_rpc_of_another_chain() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(31_337);
    let mut cluster = crate::common::cluster(Options::default()).await;
    // The whole log, not the error's tail: with RUST_BACKTRACE set, a backtrace follows
    // the message.
    let log = |c: &planbok_testkit::cluster::Cluster| {
        std::fs::read_to_string(&c.node(SERVER).log).unwrap_or_default()
    };
    cluster
        .start_server(&chains_toml(&anvil, ""))
        .await
        .expect_err("the server must not start");
    let text = log(&cluster);
    assert!(
        text.contains("[chains.ETH-SEPOLIA]") && text.contains("serves chain id 31337"),
        "{text}"
    );
    // And a chain that is not EVM is refused by name.
    cluster
        .start_server(&format!("[chains.SOL]\nrpc_url = \"{}\"\n", anvil.url))
        .await
        .expect_err("SOL has no EVM RPC");
    let text = log(&cluster);
    assert!(text.contains("only EVM chains"), "{text}");
}
