//! Transactions through failures, against anvil: a `kill -9` between the answer and the
//! broadcast, two server replicas on one PostgreSQL, and a reorg.

use std::process::Command;
use std::time::{Duration, Instant};

use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready};
use crate::rest::{Custody, Stack, assert_ok, idem};
use crate::transactions::{chains_toml, native_id, settle, stack_with_wallet, transfer};

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_answered_before_a_kill_9_is_broadcast_once_after_restart() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    // This server signs and commits but never broadcasts: the answer comes before any
    // side effect on the chain.
    let (mut s, wallet, address, native) = crate::transactions::stack_without_tracker(&anvil).await;
    let receiver = "0x0000000000000000000000000000000000005AFE";
    let body = json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
                      "tokenId": native, "amounts": ["0.25"]});
    let created = assert_ok(transfer(&s, body.clone()));
    let hash = created["transactionHash"].as_str().unwrap().to_owned();
    assert!(
        anvil
            .rpc("eth_getTransactionByHash", json!([hash]))
            .is_null()
    );
    s.cluster.kill(SERVER).unwrap();
    restart_with_tracker(&mut s).await;
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(t["transactionHash"], hash.as_str());
    let mined = anvil.rpc("eth_getTransactionByHash", json!([hash]));
    assert!(!mined["blockNumber"].is_null(), "{mined}");
    assert_eq!(anvil.nonce(&address), 1, "exactly one transaction on chain");
    assert_eq!(anvil.balance(receiver), ETH / 4);
    // A retry of the answered request gets the same transaction.
    assert_eq!(assert_ok(transfer(&s, body))["id"], created["id"]);
    assert_eq!(anvil.nonce(&address), 1);
}

/// Starts the (stopped) server again with its tracker on.
async fn restart_with_tracker(s: &mut Stack) {
    let path = s.cluster.node(SERVER).config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: toml::Table = toml::from_str(&text).unwrap();
    config["transactions"]
        .as_table_mut()
        .unwrap()
        .insert("tracker".into(), toml::Value::Boolean(true));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
}

/// A send that reached the node, but whose answer never came back (the RPC connection
/// dropped, or the server died): the transaction is mined while the record still says
/// `signed`, and the next send is refused with "nonce too low". The tracker must see its
/// own receipt there and follow it to `confirmed` (the chaos drill found it stuck in
/// `signed` for good).
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_mined_before_its_first_broadcast_was_recorded_confirms() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (mut s, wallet, address, native) = crate::transactions::stack_without_tracker(&anvil).await;
    let receiver = "0x0000000000000000000000000000000000001057";
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["0.5"]}),
    ));
    let id = created["id"].as_str().unwrap();
    s.cluster.kill(SERVER).unwrap();
    // The committed bytes reach the chain behind the server's back.
    let db = s.cluster.node(SERVER).database_url.clone();
    let file = db
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT raw_tx FROM transactions WHERE id = ?', (sys.argv[2],)).fetchone()[0])",
            &file,
            id,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let hash = anvil.rpc("eth_sendRawTransaction", json!([raw]));
    assert_eq!(hash, created["transactionHash"]);
    anvil.receipt(&hash);
    restart_with_tracker(&mut s).await;
    let t = settle(&s, id);
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(t["transactionHash"], hash);
    assert_eq!(anvil.nonce(&address), 1, "one transaction on chain");
    assert_eq!(anvil.balance(receiver), ETH / 2);
}

/// `SELECT COUNT(*)` of `event` rows in the server's PostgreSQL database.
pub(crate) fn events(s: &Stack, event: &str) -> usize {
    let out = Command::new("psql")
        .arg(&s.cluster.node(SERVER).database_url)
        .args([
            "-Atc",
            &format!("SELECT COUNT(*) FROM webhook_events WHERE event = '{event}'"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgres_share_the_nonces_and_track_each_transaction_once() {
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
    let native = native_id(&s);
    // A second server process on the same database, with its own tracker.
    let replicas = crate::replicas::start_replicas(&s, 1);
    let clients = [
        s.owner.clone(),
        planbok_sdk::Client::new(&replicas.urls[0], &s.owner_key),
    ];
    const N: usize = 12;
    let started = Instant::now();
    let answered: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let client = &clients[i % 2];
                let (wallet, native) = (&w.id, &native);
                scope.spawn(move || {
                    let body = json!({"idempotencyKey": idem(), "walletId": wallet,
                        "destinationAddress": "0x0000000000000000000000000000000000000abc",
                        "tokenId": native, "amounts": ["0.01"]});
                    assert_ok(
                        client
                            .raw(
                                "POST",
                                "/v2/organization/transactions/transfer",
                                Some(&body),
                            )
                            .unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let signed_in = started.elapsed();
    let mut nonces: Vec<u64> = answered
        .iter()
        .map(|t| t["nonce"].as_u64().unwrap())
        .collect();
    nonces.sort_unstable();
    assert_eq!(nonces, (0..N as u64).collect::<Vec<_>>());
    for t in &answered {
        assert_eq!(settle(&s, t["id"].as_str().unwrap())["status"], "confirmed");
    }
    let confirmed_in = started.elapsed();
    eprintln!(
        "{N} transfers over two replicas: all signed and committed in {signed_in:?}, all confirmed in {confirmed_in:?} (anvil automine)"
    );
    assert_eq!(anvil.nonce(&w.address), N as u64);
    assert_eq!(
        anvil.balance("0x0000000000000000000000000000000000000abc"),
        N as u128 * ETH / 100
    );
    // Each transition was recorded once, by one of the two trackers.
    for e in [
        "transaction.created",
        "transaction.signed",
        "transaction.broadcast",
        "transaction.confirmed",
    ] {
        assert_eq!(events(&s, e), N, "{e}");
    }
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_a_reorg_removes_is_sent_again_and_confirms() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    // Three blocks to confirm: a mined transaction waits as `broadcast` meanwhile.
    let (s, wallet, address) =
        stack_with_wallet(&anvil, Custody::Standard, "confirmations = 3\n", ETH).await;
    let native = native_id(&s);
    let receiver = "0x0000000000000000000000000000000000000def";
    let snapshot = anvil.rpc("evm_snapshot", json!([]));
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": native, "amounts": ["0.125"]}),
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    let hash = created["transactionHash"].clone();
    let mut mined = Value::Null;
    for _ in 0..1200 {
        mined = assert_ok(
            s.owner
                .raw("GET", &format!("/v2/transactions/{id}"), None)
                .unwrap(),
        );
        if !mined["blockNumber"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (mined["status"].as_str(), mined["confirmations"].as_u64()),
        (Some("broadcast"), Some(1)),
        "{mined}"
    );
    // The chain goes back to before the transfer: its block and its funds are gone.
    assert_eq!(anvil.rpc("evm_revert", json!([snapshot])), true);
    assert_eq!(anvil.balance(receiver), 0);
    assert!(
        anvil
            .rpc("eth_getTransactionReceipt", json!([hash]))
            .is_null()
    );
    // New blocks come; the tracker notices, sends the same bytes again, and counts anew.
    let mut t = Value::Null;
    for _ in 0..600 {
        anvil.rpc("anvil_mine", json!(["0x1"]));
        t = assert_ok(
            s.owner
                .raw("GET", &format!("/v2/transactions/{id}"), None)
                .unwrap(),
        );
        if t["status"] == "confirmed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        t["status"],
        "confirmed",
        "{t}\n{}",
        s.cluster.log_tail(SERVER)
    );
    assert_eq!(t["transactionHash"], hash);
    assert!(
        std::fs::read_to_string(&s.cluster.node(SERVER).log)
            .unwrap()
            .contains("a mined transaction left the chain"),
        "the tracker did not see the reorg"
    );
    assert!(
        !anvil
            .rpc("eth_getTransactionReceipt", json!([hash]))
            .is_null()
    );
    assert_eq!(anvil.nonce(&address), 1);
    assert_eq!(anvil.balance(receiver), ETH / 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_points_the_server_at_an_rpc_and_refuses_another_chain() {
    if !anvil_ready() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let port = crate::common::free_port();
    let node_port = crate::common::free_port_pair();
    // An RPC of another chain: the server refuses to start, and `planbok dev` with it.
    let wrong = Anvil::start(31_337);
    let out = Command::new(crate::common::bin())
        .args([
            "dev",
            "--port",
            &port.to_string(),
            "--node-port",
            &node_port.to_string(),
            "--gateway-port",
            &crate::common::free_port().to_string(),
        ])
        .arg("--data")
        .arg(&data)
        .arg("--insecure-pregenerated-primes")
        .arg(planbok_testkit::cluster::test_primes_path())
        .args(["--rpc", &format!("ETH-SEPOLIA={}", wrong.url)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
    assert!(log.contains("serves chain id 31337"), "{log}");
    drop(wrong);
    // The next start names the right one: the configuration follows `--rpc`.
    let right = Anvil::start(SEPOLIA);
    let (child, key) = crate::api_dev::start_with(
        &data,
        port,
        node_port,
        &["--rpc", &format!("ETH-SEPOLIA={}", right.url)],
    );
    let c = planbok_sdk::Client::new(&format!("http://127.0.0.1:{port}"), &key);
    let meta = c.token_metadata();
    crate::api_dev::interrupt_and_wait(child);
    let meta = meta.unwrap();
    let sepolia = meta
        .chains
        .iter()
        .find(|c| c.blockchain == "ETH-SEPOLIA")
        .unwrap();
    assert!(sepolia.configured);
    assert!(meta.chains.iter().filter(|c| c.configured).count() == 1);
}
