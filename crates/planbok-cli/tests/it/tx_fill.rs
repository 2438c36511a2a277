//! A nonce the node keeps refusing is filled, so it cannot hold a wallet's later
//! transactions forever (`docs/transactions.md`, "The nonce allocator"). Against anvil:
//! two transfers are signed and committed by a server whose tracker is off, then the
//! wallet's balance drops below the first one's value (`anvil_setBalance`), and the
//! tracker is started. anvil refuses the first transfer ("insufficient funds") and takes
//! the second into its pool, where it waits for the nonce before it.

use planbok_sdk::secret::Context;
use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready};
use crate::rest::{Custody, Stack, assert_ok, idem};
use crate::transactions::{check_signer, native_id, settle, stack_with_wallet, transfer};
use crate::tx_replace::{get, wait_status};

const RECEIVER: &str = "0x000000000000000000000000000000000000F111";

/// A stack without a tracker and two transfers from its wallet, A (0.5 ETH, nonce 0) and
/// B (0.01 ETH, nonce 1), signed and committed; then the wallet holds 0.05 ETH and the
/// tracker starts, refilling after 1 s of refusals: (stack, wallet address, A, B).
async fn refused_first(anvil: &Anvil, custody: Custody) -> (Stack, String, Value, Value) {
    let (mut s, wallet, address) =
        stack_with_wallet(anvil, custody, "[transactions]\ntracker = false\n", ETH).await;
    let native = native_id(&s);
    let trustless = custody == Custody::Trustless;
    let send = |amount: &str| {
        // A fresh ciphertext per request (each is accepted once).
        let secret = trustless.then(|| s.ct(Context::Sign));
        assert_ok(transfer(
            &s,
            json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": RECEIVER,
                   "tokenId": native, "amounts": [amount],
                   "encryptedOrganizationSecret": secret}),
        ))
    };
    let a = send("0.5");
    let b = send("0.01");
    assert_eq!(
        (a["nonce"].as_i64(), b["nonce"].as_i64()),
        (Some(0), Some(1))
    );
    anvil.rpc(
        "anvil_setBalance",
        json!([address, format!("0x{:x}", ETH / 20)]),
    );
    s.cluster.kill(SERVER).unwrap();
    let path = s.cluster.node(SERVER).config.clone();
    let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let t = config["transactions"].as_table_mut().unwrap();
    t.insert("tracker".into(), toml::Value::Boolean(true));
    t.insert("rebroadcast_after_ms".into(), toml::Value::Integer(300));
    t.insert("fill_after_ms".into(), toml::Value::Integer(1_000));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    (s, address, a, b)
}

fn id(t: &Value) -> &str {
    t["id"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standard_wallets_refused_nonce_is_filled_and_the_next_transfer_confirms() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, address, a, b) = refused_first(&anvil, Custody::Standard).await;

    // A is replaced by a 0-value transfer to the wallet itself, with A's nonce; it is
    // mined, A ends cancelled, and B (nonce 1) follows.
    let a_now = wait_status(&s, id(&a), "cancelled");
    let filler = a_now["replacedBy"]
        .as_str()
        .expect("A names its filler")
        .to_owned();
    let f = settle(&s, &filler);
    assert_eq!(f["status"], "confirmed", "{f}");
    assert_eq!(f["operation"], "CANCEL");
    assert_eq!(f["replaces"], a["id"]);
    assert_eq!(f["nonce"], 0);
    assert_eq!(f["amounts"], json!(["0"]));
    assert_eq!(
        f["destinationAddress"].as_str().unwrap().to_lowercase(),
        address.to_lowercase()
    );
    check_signer(&anvil, &f, &address);
    let b_now = settle(&s, id(&b));
    assert_eq!(b_now["status"], "confirmed", "{b_now}");
    check_signer(&anvil, &b_now, &address);
    assert_eq!(anvil.nonce(&address), 2, "nonces 0 and 1 mined, no gap");
    assert!(
        anvil
            .rpc("eth_getTransactionByHash", json!([a["transactionHash"]]))
            .is_null(),
        "A never reached the chain"
    );
    assert_eq!(anvil.balance(RECEIVER), ETH / 100, "only B's value arrived");

    // The fill is on the organization's audit trail, by the system, naming A.
    let logs = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=transaction.fill", None)
            .unwrap(),
    );
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{logs}");
    assert_eq!(items[0]["actor"], "system");
    assert_eq!(items[0]["outcome"], "success");
    assert_eq!(items[0]["target"], a["id"]);
    assert_eq!(items[0]["detail"]["transactionId"], filler.as_str());
    assert!(
        items[0]["detail"]["refusal"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("insufficient funds"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trustless_wallets_refused_nonce_waits_for_the_organizations_cancel() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, address, a, b) = refused_first(&anvil, Custody::Trustless).await;

    // The server cannot sign without the organization's secret: A stays signed, saying
    // why, and nothing is mined.
    let mut a_now = get(&s, id(&a));
    for _ in 0..200 {
        if a_now["errorReason"]
            .as_str()
            .is_some_and(|r| r.contains("not filled"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        a_now = get(&s, id(&a));
    }
    let reason = a_now["errorReason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("not filled"), "{a_now}");
    assert!(reason.contains("trustless"), "{a_now}");
    assert!(
        reason.to_lowercase().contains("insufficient funds"),
        "{a_now}"
    );
    assert_eq!(a_now["status"], "signed");
    assert!(a_now["replacedBy"].is_null());
    assert_eq!(anvil.nonce(&address), 0);

    // The organization cancels it with its secret; then B confirms.
    let c = assert_ok(s.post(
        &format!("/v2/organization/transactions/{}/cancel", id(&a)),
        json!({"idempotencyKey": idem(), "encryptedOrganizationSecret": s.ct(Context::Sign)}),
    ));
    assert_eq!(settle(&s, id(&c))["status"], "confirmed");
    assert_eq!(wait_status(&s, id(&a), "cancelled")["replacedBy"], c["id"]);
    assert_eq!(settle(&s, id(&b))["status"], "confirmed");
    assert_eq!(anvil.nonce(&address), 2);
    let logs = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=transaction.fill", None)
            .unwrap(),
    );
    assert_eq!(
        logs["items"],
        json!([]),
        "no fill in a Trustless organization"
    );
}
