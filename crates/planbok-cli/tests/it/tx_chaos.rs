//! The transactions chaos drill: 200 transfers from 4 wallets at 16 concurrent clients,
//! while the chain RPC goes away and comes back twice and the server is `kill -9`-ed once
//! in the middle of it all. Every request is retried with its own idempotency key until it
//! answers. Afterwards, what anvil holds must be exactly what was asked: per wallet the
//! mined nonces are 0..n−1, each key is one transaction mined once, nothing was sent twice,
//! and every balance adds up to the wei (value and gas, from anvil's receipts).
//!
//! "The RPC goes away" is a TCP proxy in front of anvil that the test closes (listener and
//! every open connection) and opens again on the same port: to the server it is an RPC
//! process that died and restarted, while the chain itself keeps its state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planbok_testkit::cluster::{Options, SERVER};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::anvil::{Anvil, ETH, SEPOLIA, anvil_ready, decimal18, quantity};
use crate::rest::{Custody, Stack, assert_ok, idem};
use crate::transactions::{native_id, settle};

/// A TCP proxy to anvil that can be killed and started again on the same port.
struct RpcProxy {
    port: u16,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RpcProxy {
    async fn start(upstream: &str) -> RpcProxy {
        let mut p = RpcProxy {
            port: crate::common::free_port(),
            upstream: upstream.trim_start_matches("http://").to_owned(),
            task: None,
        };
        p.up().await;
        p
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Listens again (the port was just released: retry for a moment).
    async fn up(&mut self) {
        let mut listener = None;
        for _ in 0..100 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = listener.expect("the proxy's port is free again");
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Closes the listener and every connection through it.
    async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

/// One transfer the drill asks for.
#[derive(Clone)]
struct Job {
    key: String,
    wallet: usize,
    wei: u128,
}

/// What the first 2xx answer to a job said.
#[derive(Clone, Debug)]
struct Answer {
    id: String,
    attempts: u32,
}

const WALLETS: usize = 4;
const TRANSFERS: usize = 200;
const CLIENTS: usize = 16;

fn receiver(w: usize) -> String {
    format!("0x00000000000000000000000000000000000c{w:04x}")
}

/// Whether a failed attempt is one a client retries with the same key: the server was
/// unreachable, the chain was (503 `chain_unavailable`), the key's first request is still
/// running (or died with its server and waits for its lease), or a limit said slow down.
fn retryable(status: u16, body: &Value) -> bool {
    status >= 500 || status == 429 || body["code"] == "idempotency_in_progress"
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_transfers_through_rpc_outages_and_a_kill_9_land_exactly_once() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let mut proxy = RpcProxy::start(&anvil.url).await;
    let off =
        "{ per_org = { count = 0, period_ms = 1000 }, per_ip = { count = 0, period_ms = 1000 } }";
    let extra = format!(
        "[chains.ETH-SEPOLIA]\nrpc_url = \"{}\"\npoll_interval_ms = 100\ntimeout_ms = 2000\n\n\
         [transactions]\nrebroadcast_after_ms = 2000\n\n\
         [rate_limits]\nmanagement = {off}\nreads = {off}\nsigning = {off}\n\n\
         [http]\nidempotency_lease_ms = 3000\n",
        proxy.url()
    );
    let mut s = Stack::start(Options::default(), Custody::Standard, &extra).await;
    let set = s.wallet_set("dkls23", false);
    let wallets = s.wallets(&set.id, &["ETH-SEPOLIA"], WALLETS as u32, false);
    let funded = 10 * ETH;
    for w in &wallets {
        anvil.fund(&w.address, funded);
    }
    let native = native_id(&s);
    // Distinct amounts (i + 1 microether): a transfer sent twice shows in the sums.
    let jobs: Vec<Job> = (0..TRANSFERS)
        .map(|i| Job {
            key: idem(),
            wallet: i % WALLETS,
            wei: (i as u128 + 1) * ETH / 1_000_000,
        })
        .collect();
    let body = |j: &Job| {
        json!({"idempotencyKey": j.key, "walletId": wallets[j.wallet].id,
               "destinationAddress": receiver(j.wallet), "tokenId": native,
               "amounts": [decimal18(j.wei)]})
    };

    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let answers: Arc<Mutex<HashMap<usize, Answer>>> = Arc::default();
    // Why attempts failed: the server unreachable, 503 (chain or storage), the key's
    // request still running.
    let refused: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, next, done) = (s.owner.clone(), next.clone(), done.clone());
            let (answers, refused) = (answers.clone(), refused.clone());
            let bodies: Vec<Value> = jobs.iter().map(body).collect();
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= TRANSFERS {
                        return;
                    }
                    let started = Instant::now();
                    let mut attempts = 0;
                    let answer = loop {
                        attempts += 1;
                        assert!(
                            started.elapsed() < Duration::from_secs(300),
                            "transfer {i} did not answer in 5 minutes"
                        );
                        let why = match client.raw(
                            "POST",
                            "/v2/organization/transactions/transfer",
                            Some(&bodies[i]),
                        ) {
                            Ok((status, b)) if (200..300).contains(&status) => break b,
                            Ok((status, b)) if retryable(status, &b) => {
                                format!("{status} {}", b["code"].as_str().unwrap_or("?"))
                            }
                            Ok((status, b)) => panic!("transfer {i}: {status} {b}"),
                            Err(_) => "unreachable".to_owned(),
                        };
                        *refused.lock().unwrap().entry(why).or_default() += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    };
                    let id = answer["data"]["id"].as_str().unwrap().to_owned();
                    answers.lock().unwrap().insert(i, Answer { id, attempts });
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // The chaos, at points of progress (not times): the RPC away for 2 s at 30 answers,
    // the server killed at 90, the RPC away again at 150.
    let wait_for = |n: usize| {
        let done = done.clone();
        async move {
            let t = Instant::now();
            while done.load(Ordering::SeqCst) < n {
                assert!(t.elapsed() < Duration::from_secs(600), "stuck before {n}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(30).await;
    proxy.down().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.up().await;
    wait_for(90).await;
    s.cluster.kill(SERVER).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    wait_for(150).await;
    proxy.down().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.up().await;
    for c in clients {
        tokio::task::spawn_blocking(move || c.join().unwrap())
            .await
            .unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), TRANSFERS);
    let retried = answers.values().filter(|a| a.attempts > 1).count();
    let refused = refused.lock().unwrap().clone();
    eprintln!("{TRANSFERS} transfers answered, {retried} of them after retries: {refused:?}");
    // The chaos reached the clients: the dead server, and the chain away.
    assert!(refused.contains_key("unreachable"), "{refused:?}");
    assert!(refused.contains_key("503 chain_unavailable"), "{refused:?}");

    // Each key is one transaction: asking again replays the first answer.
    for (i, j) in jobs.iter().enumerate() {
        let again = assert_ok(s.post("/v2/organization/transactions/transfer", body(j)));
        assert_eq!(again["id"], answers[&i].id.as_str(), "transfer {i}");
    }
    // And the server holds no other transaction.
    let listed = assert_ok(
        s.owner
            .raw("GET", "/v2/transactions?limit=1", None)
            .unwrap(),
    );
    assert_eq!(listed["total"], TRANSFERS, "{listed}");

    // What anvil holds, per wallet.
    let mut per_wallet: BTreeMap<usize, Vec<(u64, u128, u128)>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        let t = settle(&s, &answers[&i].id);
        assert_eq!(t["status"], "confirmed", "{t}");
        let hash = t["transactionHash"].as_str().unwrap();
        let tx = anvil.rpc("eth_getTransactionByHash", json!([hash]));
        assert!(!tx["blockNumber"].is_null(), "{tx}");
        let w = &wallets[j.wallet].address;
        assert_eq!(
            tx["from"].as_str().unwrap().to_lowercase(),
            w.to_lowercase()
        );
        assert_eq!(
            tx["to"].as_str().unwrap().to_lowercase(),
            receiver(j.wallet).to_lowercase()
        );
        assert_eq!(quantity(&tx["value"]), j.wei, "transfer {i}");
        let r = anvil.rpc("eth_getTransactionReceipt", json!([hash]));
        assert_eq!(r["status"], "0x1", "{r}");
        let gas = quantity(&r["gasUsed"]) * quantity(&r["effectiveGasPrice"]);
        per_wallet
            .entry(j.wallet)
            .or_default()
            .push((quantity(&tx["nonce"]) as u64, j.wei, gas));
    }
    for (w, txs) in &per_wallet {
        let address = &wallets[*w].address;
        let mut nonces: Vec<u64> = txs.iter().map(|t| t.0).collect();
        nonces.sort_unstable();
        let n = txs.len() as u64;
        assert_eq!(
            nonces,
            (0..n).collect::<Vec<_>>(),
            "wallet {w}: no gap, no repeat"
        );
        // Nothing else was mined from this wallet (a duplicate would be a further nonce).
        assert_eq!(anvil.nonce(address), n, "wallet {w}");
        let sent: u128 = txs.iter().map(|t| t.1).sum();
        let gas: u128 = txs.iter().map(|t| t.2).sum();
        assert_eq!(anvil.balance(&receiver(*w)), sent, "wallet {w}'s receiver");
        assert_eq!(anvil.balance(address), funded - sent - gas, "wallet {w}");
    }
}
