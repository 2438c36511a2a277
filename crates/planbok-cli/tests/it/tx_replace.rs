//! Cancel and accelerate (replace-by-fee) against anvil with automine off: the chain
//! decides which transaction of a nonce is mined, and the others settle accordingly. Fees
//! are read back from anvil's copy of each transaction.

use std::time::Duration;

use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready, quantity};
use crate::rest::{Custody, Stack, assert_err, assert_ok, idem};
use crate::transactions::{chains_toml, check_signer, native_id, settle, transfer};
use crate::tx_drills::events;

pub(crate) fn get(s: &Stack, id: &str) -> Value {
    assert_ok(
        s.owner
            .raw("GET", &format!("/v2/transactions/{id}"), None)
            .unwrap(),
    )
}

/// Polls until the transaction has `status`.
pub(crate) fn wait_status(s: &Stack, id: &str, status: &str) -> Value {
    for _ in 0..1200 {
        let t = get(s, id);
        if t["status"] == status {
            return t;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "transaction {id} never became {status}: {}\n{}",
        get(s, id),
        s.cluster.log_tail(SERVER)
    );
}

fn replace(s: &Stack, id: &str, what: &str) -> (u16, Value) {
    s.post(
        &format!("/v2/organization/transactions/{id}/{what}"),
        json!({"idempotencyKey": idem()}),
    )
}

/// (maxFeePerGas, maxPriorityFeePerGas) of a transaction as anvil holds it.
fn fees_on_chain(anvil: &Anvil, hash: &Value) -> (u128, u128) {
    let t = anvil.rpc("eth_getTransactionByHash", json!([hash]));
    assert!(!t.is_null(), "anvil does not know {hash}");
    (
        quantity(&t["maxFeePerGas"]),
        quantity(&t["maxPriorityFeePerGas"]),
    )
}

/// `new` ≥ `old` × 1.125 for both fields.
fn bumped(old: (u128, u128), new: (u128, u128)) {
    assert!(new.0 * 8 >= old.0 * 9, "maxFeePerGas {} → {}", old.0, new.0);
    assert!(new.1 * 8 >= old.1 * 9, "tip {} → {}", old.1, new.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn accelerate_twice_and_cancel_with_the_chain_deciding() {
    let Some(pg) = crate::common::postgres_or_skip() else {
        return;
    };
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let s = Stack::start(pg, Custody::Standard, &chains_toml(&anvil, "")).await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH-SEPOLIA"], 1, false).remove(0);
    anvil.fund(&w.address, 10 * ETH);
    let (wallet, address) = (w.id.clone(), w.address.clone());
    let native = native_id(&s);
    let receiver = "0x000000000000000000000000000000000000bEEF";
    anvil.rpc("evm_setAutomine", json!([false]));

    // A: one ETH, broadcast, not mined.
    let a = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["1"]}),
    ));
    let a_id = a["id"].as_str().unwrap().to_owned();
    wait_status(&s, &a_id, "broadcast");
    let a_fees = fees_on_chain(&anvil, &a["transactionHash"]);

    // Another organization cannot see A, so cannot replace it (nor read it).
    let (other, _) = crate::rest::new_org(&s.cluster, "other");
    for what in ["cancel", "accelerate"] {
        assert_err(
            other
                .raw(
                    "POST",
                    &format!("/v2/organization/transactions/{a_id}/{what}"),
                    Some(&json!({"idempotencyKey": idem()})),
                )
                .unwrap(),
            "not_found",
        );
    }
    assert!(get(&s, &a_id)["replacedBy"].is_null());

    // B accelerates A: the same call and nonce, both fees up at least 12.5 %.
    let b = assert_ok(replace(&s, &a_id, "accelerate"));
    let b_id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(b["replaces"], a_id.as_str(), "{b}");
    assert_eq!(b["nonce"], a["nonce"]);
    assert_eq!(b["operation"], "TRANSFER");
    assert_ne!(b["transactionHash"], a["transactionHash"]);
    assert_eq!(get(&s, &a_id)["replacedBy"], b_id.as_str());
    wait_status(&s, &b_id, "broadcast");
    let b_fees = fees_on_chain(&anvil, &b["transactionHash"]);
    bumped(a_fees, b_fees);
    let on_chain = anvil.rpc("eth_getTransactionByHash", json!([b["transactionHash"]]));
    assert_eq!(
        on_chain["to"].as_str().unwrap().to_lowercase(),
        receiver.to_lowercase()
    );
    assert_eq!(quantity(&on_chain["value"]), ETH);
    // anvil dropped A from its pool for B.
    assert!(
        anvil
            .rpc("eth_getTransactionByHash", json!([a["transactionHash"]]))
            .is_null()
    );

    // C: a second accelerate, asked on A's id, replaces the head (B) and bumps again.
    let c = assert_ok(replace(&s, &a_id, "accelerate"));
    let c_id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["replaces"], b_id.as_str(), "{c}");
    wait_status(&s, &c_id, "broadcast");
    let c_fees = fees_on_chain(&anvil, &c["transactionHash"]);
    bumped(b_fees, c_fees);

    // The chain mines C; A and B end cancelled, replaced by C.
    anvil.rpc("evm_mine", json!([]));
    let t = settle(&s, &c_id);
    assert_eq!(t["status"], "confirmed", "{t}");
    check_signer(&anvil, &t, &address);
    for id in [&a_id, &b_id] {
        let t = wait_status(&s, id, "cancelled");
        let reason = t["errorReason"].as_str().unwrap_or_default();
        assert!(reason.contains(&c_id), "{t}");
    }
    for h in [&a["transactionHash"], &b["transactionHash"]] {
        assert!(anvil.rpc("eth_getTransactionReceipt", json!([h])).is_null());
    }
    assert_eq!(anvil.nonce(&address), 1);
    assert_eq!(anvil.balance(receiver), ETH);
    // Settled: neither can be replaced again (by its own id or the original's).
    assert_err(replace(&s, &a_id, "accelerate"), "transaction_not_pending");
    assert_err(replace(&s, &c_id, "cancel"), "transaction_not_pending");
    assert_err(
        replace(&s, "00000000-0000-4000-8000-000000000000", "cancel"),
        "not_found",
    );

    // D, then a cancel: a 0-value self-transfer with D's nonce; the chain mines it.
    let d = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["2"]}),
    ));
    let d_id = d["id"].as_str().unwrap().to_owned();
    wait_status(&s, &d_id, "broadcast");
    let d_fees = fees_on_chain(&anvil, &d["transactionHash"]);
    let key = idem();
    let body = json!({"idempotencyKey": key});
    let e = assert_ok(s.post(
        &format!("/v2/organization/transactions/{d_id}/cancel"),
        body.clone(),
    ));
    let e_id = e["id"].as_str().unwrap().to_owned();
    assert_eq!(e["operation"], "CANCEL", "{e}");
    assert_eq!(e["nonce"], d["nonce"]);
    assert_eq!(e["amounts"], json!(["0"]));
    // A retry with the same key: the same replacement, not a second one.
    let again = assert_ok(s.post(
        &format!("/v2/organization/transactions/{d_id}/cancel"),
        body,
    ));
    assert_eq!(again["id"], e_id.as_str());
    wait_status(&s, &e_id, "broadcast");
    bumped(d_fees, fees_on_chain(&anvil, &e["transactionHash"]));
    let on_chain = anvil.rpc("eth_getTransactionByHash", json!([e["transactionHash"]]));
    assert_eq!(
        on_chain["to"].as_str().unwrap().to_lowercase(),
        address.to_lowercase()
    );
    assert_eq!(quantity(&on_chain["value"]), 0);
    assert_eq!(on_chain["input"], "0x");
    anvil.rpc("evm_mine", json!([]));
    assert_eq!(settle(&s, &e_id)["status"], "confirmed");
    let t = wait_status(&s, &d_id, "cancelled");
    assert_eq!(t["replacedBy"], e_id.as_str());
    assert_eq!(anvil.nonce(&address), 2);
    assert_eq!(
        anvil.balance(receiver),
        ETH,
        "the cancelled two ETH never left"
    );
    assert_err(replace(&s, &d_id, "cancel"), "transaction_not_pending");

    // F, accelerated to G, but the chain mines F after all: F confirms, G fails.
    let f = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["0.5"]}),
    ));
    let f_id = f["id"].as_str().unwrap().to_owned();
    wait_status(&s, &f_id, "broadcast");
    let f_raw = anvil.rpc("eth_getRawTransactionByHash", json!([f["transactionHash"]]));
    let g = assert_ok(replace(&s, &f_id, "accelerate"));
    let g_id = g["id"].as_str().unwrap().to_owned();
    wait_status(&s, &g_id, "broadcast");
    // Another node had F: it is mined before G reaches a block.
    let mut mined = false;
    for _ in 0..50 {
        anvil.rpc("anvil_dropAllTransactions", json!([]));
        anvil.rpc("evm_setAutomine", json!([true]));
        if anvil
            .try_rpc("eth_sendRawTransaction", json!([f_raw]))
            .is_ok()
        {
            mined = true;
            break;
        }
        anvil.rpc("evm_setAutomine", json!([false]));
    }
    assert!(mined, "F could not be sent");
    assert_eq!(settle(&s, &f_id)["status"], "confirmed");
    let t = settle(&s, &g_id);
    assert_eq!(t["status"], "failed", "{t}");
    assert!(
        t["errorReason"]
            .as_str()
            .unwrap_or_default()
            .contains(&f_id),
        "{t}"
    );
    assert_eq!(anvil.nonce(&address), 3);
    assert_eq!(anvil.balance(receiver), ETH + ETH / 2);

    // The outbox: each replacement's events, once each.
    assert_eq!(events(&s, "transaction.accelerated"), 3);
    assert_eq!(events(&s, "transaction.cancelled"), 3, "A, B and D");
    assert_eq!(events(&s, "transaction.failed"), 1, "G");
    assert_eq!(events(&s, "transaction.confirmed"), 3, "C, E and F");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_committed_before_a_kill_9_is_broadcast_once_after_restart() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    // This server signs and commits but never broadcasts.
    let (mut s, wallet, address, native) = crate::transactions::stack_without_tracker(&anvil).await;
    let receiver = "0x0000000000000000000000000000000000005AFE";
    let a = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["0.25"]}),
    ));
    let b = assert_ok(replace(&s, a["id"].as_str().unwrap(), "accelerate"));
    assert_eq!(b["status"], "signed");
    for h in [&a["transactionHash"], &b["transactionHash"]] {
        assert!(anvil.rpc("eth_getTransactionByHash", json!([h])).is_null());
    }
    s.cluster.kill(SERVER).unwrap();
    let path = s.cluster.node(SERVER).config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: toml::Table = toml::from_str(&text).unwrap();
    config["transactions"]
        .as_table_mut()
        .unwrap()
        .insert("tracker".into(), toml::Value::Boolean(true));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    // The replacement is sent and mined; the replaced one never is.
    let t = settle(&s, b["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(t["transactionHash"], b["transactionHash"]);
    let a_now = wait_status(&s, a["id"].as_str().unwrap(), "cancelled");
    assert_eq!(a_now["replacedBy"], b["id"]);
    assert!(
        anvil
            .rpc("eth_getTransactionByHash", json!([a["transactionHash"]]))
            .is_null()
    );
    assert_eq!(anvil.nonce(&address), 1, "exactly one transaction on chain");
    assert_eq!(anvil.balance(receiver), ETH / 4);
}
