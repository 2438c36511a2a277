//! Fault drills on the whole stack (server, Node 1, Node 2 as processes) driven through the
//! REST API: `kill -9` under load and mid-DKG, and a soak with memory figures. Each test is
//! named for what must hold.

use planbok_testkit::cluster::NodeRole;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use planbok_proto::pb::{CustodyMode, KeygenResponse, Protocol};
use planbok_sdk::api::model::{CreateWalletSet, MessageSignature, SignMessage, Wallet};
use planbok_sdk::{Client, Error};
use planbok_server::config::ServerConfig;
use planbok_store::NodeStore;
use planbok_store::server::{AuditQuery, ServerStore};
use planbok_testkit::cluster::{Db, Options, SERVER};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1};
use sha3::{Digest as _, Keccak256};

use crate::common::{Org, assert_code, sign_request, sign_with, verify};
use crate::rest::{Custody, Stack};

/// The server's `[node1] timeout_ms` in these drills.
const NODE_TIMEOUT_MS: u64 = 15_000;

fn node_limits() -> planbok_node::config::Limits {
    planbok_node::config::Limits {
        run_timeout_ms: 10_000,
        round_timeout_ms: 3000,
        ..Default::default()
    }
}

/// A Standard-custody stack whose server gives node calls `NODE_TIMEOUT_MS`, plus `extra`.
async fn stack(extra: &str) -> Stack {
    stack_with(
        Options {
            limits: node_limits(),
            ..Options::default()
        },
        extra,
    )
    .await
}

/// [`stack`] on other cluster options.
async fn stack_with(opts: Options, extra: &str) -> Stack {
    let mut s = Stack::start(opts, Custody::Standard, extra).await;
    let path = s.cluster.node(SERVER).config.clone();
    let mut config = ServerConfig::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.node1.as_mut().unwrap().timeout_ms = NODE_TIMEOUT_MS;
    std::fs::write(&path, config.to_toml().unwrap()).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    s
}

fn create_set(owner: &Client, key: &str, name: &str) -> Result<String, Error> {
    owner
        .create_wallet_set(&CreateWalletSet {
            idempotency_key: Some(key.into()),
            name: name.into(),
            encrypted_organization_secret: None,
            ecdsa_protocol: Some("dkls23".into()),
        })
        .map(|s| s.id)
}

fn sign(client: &Client, wallet: &Wallet, message: &str) -> Result<MessageSignature, Error> {
    sign_keyed(client, wallet, message, &planbok_sdk::idempotency_key())
}

/// Signs with idempotency key `key`, which is also the memo (so the audit entry of the
/// request can be found).
fn sign_keyed(
    client: &Client,
    wallet: &Wallet,
    message: &str,
    key: &str,
) -> Result<MessageSignature, Error> {
    client.sign_message(&SignMessage {
        idempotency_key: Some(key.into()),
        wallet_id: wallet.id.clone(),
        encrypted_organization_secret: None,
        memo: Some(key.into()),
        message: message.into(),
        encoded_by_hex: false,
    })
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

/// Checks a message signature against the wallet's public key with libraries the server
/// does not use for it: EIP-191 by libsecp256k1 recovery, ed25519 by ed25519-dalek.
#[track_caller]
fn assert_verifies(wallet: &Wallet, message: &str, sig: &MessageSignature) {
    let pk = unhex(&wallet.public_key);
    let (r, s) = (unhex(&sig.r), unhex(&sig.s));
    match wallet.blockchain.as_str() {
        "SOL-DEVNET" => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk[..].try_into().unwrap()).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&[r, s].concat()).unwrap();
            vk.verify_strict(message.as_bytes(), &sig)
                .expect("ed25519 signature verifies");
        }
        _ => {
            let mut h = Keccak256::new();
            h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
            h.update(message);
            let digest: [u8; 32] = h.finalize().into();
            assert_eq!(unhex(&sig.digest), digest, "EIP-191 digest");
            let v = sig.v.expect("EVM signatures carry v");
            let rec = RecoverableSignature::from_compact(
                &[r, s].concat(),
                RecoveryId::try_from(i32::from(v) - 27).unwrap(),
            )
            .unwrap();
            let key = SECP256K1
                .recover_ecdsa(Message::from_digest(digest), &rec)
                .unwrap();
            assert_eq!(
                key,
                PublicKey::from_slice(&pk).unwrap(),
                "signer is the wallet"
            );
        }
    }
}

/// One request of a load run.
struct Outcome {
    started: Instant,
    latency: Duration,
    wallet: Wallet,
    message: String,
    /// The idempotency key, also the memo.
    key: String,
    result: Result<MessageSignature, Error>,
}

/// `clients` threads signing round-robin over `wallets` until `stop`.
fn load(
    url: &str,
    key: &str,
    wallets: &[Wallet],
    clients: usize,
    stop: &AtomicBool,
) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                s.spawn(move || {
                    let client = Client::new(url, key);
                    let mut out = Vec::new();
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let wallet = wallets[n % wallets.len()].clone();
                        let message = format!("drill {i} {n}");
                        let key = planbok_sdk::idempotency_key();
                        let started = Instant::now();
                        let result = sign_keyed(&client, &wallet, &message, &key);
                        out.push(Outcome {
                            started,
                            latency: started.elapsed(),
                            wallet,
                            message,
                            key,
                            result,
                        });
                        n += clients;
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Runs `load` with 4 clients in the background.
fn start_load(
    s: &Stack,
    wallets: &[Wallet],
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<Outcome>>) {
    let (url, key) = (s.cluster.server_url(), s.owner_key.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (stop, wallets) = (stop.clone(), wallets.to_vec());
        std::thread::spawn(move || load(&url, &key, &wallets, 4, &stop))
    };
    (stop, runner)
}

/// Stops a `start_load` run and collects its outcomes.
async fn finish_load(
    (stop, runner): (Arc<AtomicBool>, std::thread::JoinHandle<Vec<Outcome>>),
) -> Vec<Outcome> {
    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || runner.join().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn node2_killed_under_signing_load_fails_fast_with_node_unavailable_and_recovers() {
    let mut s = stack("").await;
    let set = s.wallet_set("dkls23", false);
    let wallets = s.wallets(&set.id, &["ETH-SEPOLIA", "SOL-DEVNET"], 2, false);
    let run = start_load(&s, &wallets);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = Instant::now();
    s.cluster.kill(Node2).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.cluster.restart(Node2).await.unwrap();
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let outcomes = finish_load(run).await;

    let (mut before, mut failed, mut in_flight, mut after) = (0, 0, 0, 0);
    for o in &outcomes {
        assert!(
            o.latency <= Duration::from_millis(NODE_TIMEOUT_MS + 2000),
            "a request took {:?}",
            o.latency
        );
        match &o.result {
            Ok(sig) => {
                assert_verifies(&o.wallet, &o.message, sig);
                if o.started + o.latency < killed {
                    before += 1;
                }
                if o.started > restarted {
                    after += 1;
                }
            }
            Err(Error::Api { status, code, .. }) => {
                assert_eq!(
                    (*status, code.as_str()),
                    (503, "node_unavailable"),
                    "every failure is node_unavailable"
                );
                failed += 1;
                if o.started < killed {
                    in_flight += 1;
                }
            }
            Err(e) => panic!("transport failure: {e}\n{}", s.cluster.log_tail(SERVER)),
        }
    }
    let before_rate = f64::from(before) / 3.0;
    let after_rate = f64::from(after) / 4.0;
    eprintln!(
        "node 2 drill: {} requests; {before} ok before the kill ({before_rate:.1}/s), \
         {failed} node_unavailable ({in_flight} in flight at the kill), \
         {after} ok after the restart ({after_rate:.1}/s)",
        outcomes.len()
    );
    assert!(failed > 0, "the kill was noticed");
    assert!(
        after_rate >= before_rate * 0.25 && after > 0,
        "throughput returns after the restart"
    );
    // Every wallet still signs.
    for w in &wallets {
        let sig = sign(&s.owner, w, "after the drill").unwrap();
        assert_verifies(w, "after the drill", &sig);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_wallet_set_creation_retry_with_same_key_makes_exactly_one_set_that_signs()
 {
    let lease_ms = 1500;
    let mut s = stack(&format!("[http]\nidempotency_lease_ms = {lease_ms}\n")).await;
    let key = planbok_sdk::idempotency_key();
    let name = "drill: server killed";
    let first = {
        let (owner, key) = (s.owner.clone(), key.clone());
        std::thread::spawn(move || create_set(&owner, &key, name))
    };
    // A DKLs23 DKG takes about half a second on this machine: kill the server inside it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.cluster.kill(SERVER).unwrap();
    let first = first.join().unwrap();
    assert!(
        matches!(first, Err(Error::Transport(_))),
        "the first attempt died with the server: {first:?}"
    );
    s.cluster.restart(SERVER).await.unwrap();

    // The same idempotency key: `idempotency_in_progress` until the dead attempt's lease
    // runs out, then the retry takes the record over.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        match create_set(&s.owner, &key, name) {
            Ok(id) => break id,
            Err(e) if e.code().map(|c| c.as_str()) == Some("idempotency_in_progress") => {
                assert!(Instant::now() < deadline, "the lease never ran out");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("retry: {e}\n{}", s.cluster.log_tail(SERVER)),
        }
    };
    // A second retry replays the stored answer.
    assert_eq!(create_set(&s.owner, &key, name).unwrap(), id);
    let sets: Vec<String> = s
        .owner
        .wallet_sets()
        .unwrap()
        .items
        .into_iter()
        .filter(|w| w.name == name)
        .map(|w| w.id)
        .collect();
    assert_eq!(sets, vec![id.clone()], "exactly one wallet set");
    let wallets = s.wallets(&id, &["ETH-SEPOLIA", "SOL-DEVNET"], 1, false);
    for w in &wallets {
        let sig = sign(&s.owner, w, "one set").unwrap();
        assert_verifies(w, "one set", &sig);
    }
}

/// Key ids the server recorded for its wallet sets.
async fn server_key_ids(s: &Stack) -> BTreeSet<String> {
    use sqlx::Connection as _;
    let url = &s.cluster.node(SERVER).database_url;
    let _ = NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap(); // installs the Any drivers
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT secp_key_id, ed_key_id FROM wallet_sets")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter().flat_map(|(a, b)| [a, b]).collect()
}

async fn active_keys(s: &Stack, role: NodeRole) -> BTreeSet<String> {
    NodeStore::connect(&s.cluster.node(role).database_url)
        .await
        .unwrap()
        .list_key_ids()
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn node1_killed_mid_dkg_leaves_no_key_only_one_node_can_use_and_new_sets_work() {
    let mut s = stack("").await;
    // One undisturbed creation tells how long one takes on this machine; the kill points
    // spread over it, the last ones close to the two-phase commit at its end.
    let started = Instant::now();
    create_set(&s.owner, &planbok_sdk::idempotency_key(), "undisturbed").unwrap();
    let full = started.elapsed().as_millis() as u64;
    for percent in [5, 30, 60, 85, 95, 100, 105] {
        let delay_ms = full * percent / 100;
        let attempt = {
            let owner = s.owner.clone();
            std::thread::spawn(move || {
                create_set(
                    &owner,
                    &planbok_sdk::idempotency_key(),
                    &format!("drill {delay_ms}"),
                )
            })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        s.cluster.kill(Node1).unwrap();
        let r = attempt.join().unwrap();
        match &r {
            Ok(_) => {}
            Err(e) => assert_eq!(
                e.code().map(|c| c.as_str()),
                Some("node_unavailable"),
                "{e}"
            ),
        }
        eprintln!(
            "node 1 killed after {delay_ms} ms ({percent}% of {full} ms): {}",
            match &r {
                Ok(_) => "created".to_owned(),
                Err(e) => e.to_string(),
            }
        );
        s.cluster.restart(Node1).await.unwrap();
    }

    let recorded = server_key_ids(&s).await;
    let (n1, n2) = (active_keys(&s, Node1).await, active_keys(&s, Node2).await);
    eprintln!(
        "server recorded {} keys; node 1 holds {} active, node 2 {} active",
        recorded.len(),
        n1.len(),
        n2.len()
    );
    assert!(
        n1.is_subset(&n2),
        "a key active on Node 1 is active on Node 2: {:?}",
        n1.difference(&n2).collect::<Vec<_>>()
    );
    assert!(
        recorded.is_subset(&n1),
        "every key the server recorded is active on both nodes"
    );
    // Try every key either node holds that the server never recorded: it signs on both
    // nodes (a complete orphan, harmless) or Node 1 does not know it. Nothing else.
    let store1 = NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap();
    let store2 = NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap();
    let org = Org {
        id: s.org_id.clone(),
        secret: [0; 32],
        pem: String::new(),
        mode: CustodyMode::Standard,
    };
    for key_id in n1.union(&n2) {
        let rec = match store1.active_key(key_id).await.unwrap() {
            Some(r) => r,
            None => store2.active_key(key_id).await.unwrap().unwrap(),
        };
        let protocol = match rec.protocol.as_str() {
            "frost" => Protocol::Frost,
            "dkls23" => Protocol::Dkls23,
            _ => Protocol::Cggmp,
        };
        let key = KeygenResponse {
            key_id: key_id.clone(),
            protocol: protocol as i32,
            public_key: rec.public_key,
            chain_code: rec.chain_code.unwrap_or_default(),
        };
        let (path, payload) = if protocol == Protocol::Frost {
            ("m", b"orphan?".to_vec())
        } else {
            ("m/0", crate::common::digest("orphan?"))
        };
        let req = sign_request(&s.cluster, &org, &key, path, &payload, String::new());
        if n1.contains(key_id) {
            let r = sign_with(&s.cluster, req).await.unwrap();
            verify(&key, path, &payload, &r);
        } else {
            assert_code(sign_with(&s.cluster, req).await, "key_not_found");
        }
    }
    eprintln!(
        "orphans on both nodes (never recorded, usable only with a grant for them): {}; \
         on Node 2 only (unusable): {}",
        n1.difference(&recorded).count(),
        n2.difference(&n1).count()
    );
    // New wallet sets work.
    let set = s.wallet_set("dkls23", false);
    for w in s.wallets(&set.id, &["ETH-SEPOLIA", "SOL-DEVNET"], 1, false) {
        let sig = sign(&s.owner, &w, "after").unwrap();
        assert_verifies(&w, "after", &sig);
    }
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_mixed_load_has_no_errors_and_memory_stays_flat_after_warm_up() {
    let secs: u64 = std::env::var("PLANBOK_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // Default node limits: CGGMP signatures in the mix may queue for seconds.
    let s = Stack::start(Options::default(), Custody::Standard, "").await;
    s.provision().await;
    let roles = [
        (SERVER, "server"),
        (Node1.into(), "node 1"),
        (Node2.into(), "node 2"),
    ];
    let pids: Vec<u32> = roles
        .iter()
        .map(|(r, _)| s.cluster.node(*r).pid().unwrap())
        .collect();
    let rss = || -> Vec<u64> { pids.iter().map(|p| rss_kib(*p)).collect() };
    let start = rss();
    // Output to files: the progress line would fill a pipe in a long soak.
    let (out_path, err_path) = (
        s.cluster.dir.path().join("soak.json"),
        s.cluster.dir.path().join("soak.err"),
    );
    let mut bench = std::process::Command::new(crate::common::bin())
        .args(["bench", "--clients", "4", "--json", "--duration"])
        .arg(format!("{secs}s"))
        .env("PLANBOK_URL", s.cluster.server_url())
        .env("PLANBOK_API_KEY", &s.owner_key)
        .env_remove("PLANBOK_OPERATOR_TOKEN")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // Warm-up: the first quarter (at least 15 s) fills allocator arenas, connection pools,
    // caches. From then on memory must stay flat.
    tokio::time::sleep(Duration::from_secs((secs / 4).max(15).min(secs))).await;
    let warm = rss();
    let status = tokio::task::spawn_blocking(move || bench.wait())
        .await
        .unwrap()
        .unwrap();
    let end = rss();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let overall = &report["overall"];
    eprintln!(
        "soak {secs} s: {} requests, {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms",
        overall["count"],
        overall["throughput"].as_f64().unwrap(),
        overall["latency_ms"]["p50"].as_f64().unwrap(),
        overall["latency_ms"]["p99"].as_f64().unwrap()
    );
    for (i, (_, name)) in roles.iter().enumerate() {
        eprintln!(
            "RSS {name}: {} KiB at start, {} KiB after warm-up, {} KiB at end ({:+} KiB since warm-up)",
            start[i],
            warm[i],
            end[i],
            end[i] as i64 - warm[i] as i64
        );
    }
    assert_eq!(overall["errors"], serde_json::json!({}), "{report:#}");
    assert!(overall["count"].as_u64().unwrap() > 0);
    for (i, (_, name)) in roles.iter().enumerate() {
        // Flat: at most 16 MiB plus a tenth over the warm figure, for allocator noise. A
        // leak of a few KiB per request fails a ten-minute soak (about 9000 requests).
        assert!(
            end[i] <= warm[i] + warm[i] / 10 + 16 * 1024,
            "{name} grew from {} KiB after warm-up to {} KiB",
            warm[i],
            end[i]
        );
    }
}

/// Every `success` entry of `sign.message` in the organization's chain, by memo.
async fn signed_memos(s: &Stack) -> std::collections::BTreeMap<String, usize> {
    let store = ServerStore::connect(&s.cluster.node(SERVER).database_url)
        .await
        .unwrap();
    let mut memos = std::collections::BTreeMap::new();
    for page in 1.. {
        let (entries, _) = store
            .list_audit(&AuditQuery {
                action: Some("sign.message".into()),
                page,
                ..AuditQuery::first_page(&s.org_id, 1000)
            })
            .await
            .unwrap();
        if entries.is_empty() {
            break;
        }
        for e in entries.iter().filter(|e| e.outcome == "success") {
            let memo = e.detail["memo"].as_str().unwrap_or_default().to_owned();
            *memos.entry(memo).or_default() += 1;
        }
    }
    memos
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_crashed_under_load_the_server_reconnects_and_every_success_has_one_audit_entry_and_a_stored_result()
 {
    let Some(_) = crate::common::postgres_or_skip() else {
        return;
    };
    let pg = planbok_testkit::postgres::TempPostgres::start()
        .unwrap()
        .expect("PostgreSQL server binaries under /usr/lib/postgresql");
    // Server and both nodes keep their data on this PostgreSQL. A request cut off by the
    // crash may leave its idempotency record running (its release failed too): a short
    // lease lets the retry below take it over.
    let lease_ms = 2000;
    let s = stack_with(
        Options {
            db: Db::Postgres,
            pg_url: Some(pg.url()),
            limits: node_limits(),
            ..Options::default()
        },
        &format!("[http]\nidempotency_lease_ms = {lease_ms}\n"),
    )
    .await;
    let set = s.wallet_set("dkls23", false);
    let wallets = s.wallets(&set.id, &["ETH-SEPOLIA", "SOL-DEVNET"], 2, false);

    let run = start_load(&s, &wallets);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let crashed = Instant::now();
    pg.crash().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again().unwrap();
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let outcomes = finish_load(run).await;

    let (mut ok, mut before, mut after, mut waited) = (0, 0, 0, 0);
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for o in &outcomes {
        // Nothing hangs: a request waits at most for a database connection (10 s) and
        // then for the nodes.
        assert!(
            o.latency <= Duration::from_millis(10_000 + NODE_TIMEOUT_MS),
            "a request took {:?}",
            o.latency
        );
        // Began during the outage and finished after it: rode it out.
        if o.started > crashed && o.started < restarted && o.started + o.latency > restarted {
            waited += 1;
        }
        match &o.result {
            Ok(sig) => {
                assert_verifies(&o.wallet, &o.message, sig);
                ok += 1;
                if o.started + o.latency < crashed {
                    before += 1;
                }
                if o.started > restarted {
                    after += 1;
                }
            }
            // The server's database or a node's is down: 503, retryable.
            Err(Error::Api { status, code, .. })
                if *status == 503
                    && matches!(code.as_str(), "storage_unavailable" | "node_unavailable") =>
            {
                *failures.entry(code.as_str().to_owned()).or_default() += 1;
            }
            Err(e) => panic!(
                "unexplained failure: {e}\n{}\n{}",
                s.cluster.log_tail(SERVER),
                pg.log()
            ),
        }
    }
    let slowest = outcomes.iter().map(|o| o.latency).max().unwrap_or_default();
    eprintln!(
        "postgres drill: {} requests; {before} ok before the crash ({:.1}/s), failures {failures:?}, \
         {waited} began during the outage and waited it out, slowest {slowest:?}, \
         {after} ok after the restart ({:.1}/s)",
        outcomes.len(),
        f64::from(before) / 3.0,
        f64::from(after) / 6.0
    );
    assert!(!failures.is_empty() || waited > 0, "the crash was noticed");
    assert!(before > 0 && after > 0, "the server reconnected");

    // Every success has exactly one `success` audit entry and its stored result: a repeat
    // with the same key replays the very signature (a new run would sign anew).
    let memos = signed_memos(&s).await;
    for o in outcomes.iter().filter(|o| o.result.is_ok()) {
        assert_eq!(memos.get(&o.key), Some(&1), "audit entries of {}", o.key);
        let again = sign_keyed(&s.owner, &o.wallet, &o.message, &o.key).unwrap();
        let first = o.result.as_ref().unwrap();
        assert_eq!((&again.r, &again.s), (&first.r, &first.s), "{}", o.key);
    }
    // Nothing is lost or stuck: each failed request, retried with its key once the lease
    // is over, succeeds (or replays a result committed before its answer was lost), and
    // then has exactly one `success` entry too.
    tokio::time::sleep(Duration::from_millis(lease_ms)).await;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for o in &failed {
        let sig = sign_keyed(&s.owner, &o.wallet, &o.message, &o.key)
            .unwrap_or_else(|e| panic!("retry of {}: {e}", o.key));
        assert_verifies(&o.wallet, &o.message, &sig);
    }
    let memos = signed_memos(&s).await;
    for o in &failed {
        assert_eq!(memos.get(&o.key), Some(&1), "audit entries of {}", o.key);
    }
    assert_eq!(
        memos.values().sum::<usize>(),
        ok + failed.len(),
        "no success entry without a request"
    );
    // The chains still verify.
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
}
