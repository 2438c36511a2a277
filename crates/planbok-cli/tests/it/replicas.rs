//! Three server replicas on one PostgreSQL and one Redis behave as one server: one rate
//! limit between them, one result per idempotency key, audit chains that verify, and a
//! replica killed under load loses nothing it answered.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use planbok_sdk::Client;
use serde_json::{Value, json};

use planbok_testkit::cluster::SERVER;

use crate::rest::{Custody, Stack, idem};

const REDIS: &str = "redis://127.0.0.1:6379/0";

/// Whether Redis answers; in CI (PLANBOK_REQUIRE_REDIS=1) it must.
pub(crate) fn redis_or_skip() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().unwrap(),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        assert!(
            std::env::var("PLANBOK_REQUIRE_REDIS").is_err(),
            "Redis is required (PLANBOK_REQUIRE_REDIS) but not reachable"
        );
        eprintln!("SKIPPED: Redis not reachable");
    }
    up
}

/// Extra replicas of the stack's server: the same config, other ports.
pub(crate) struct Replicas {
    children: Vec<Child>,
    pub(crate) urls: Vec<String>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn start_replicas(s: &Stack, n: usize) -> Replicas {
    let first = s.cluster.node(SERVER);
    let text = std::fs::read_to_string(&first.config).unwrap();
    let listen = format!("listen = \"127.0.0.1:{}\"", first.port);
    assert!(text.contains(&listen), "{text}");
    let mut r = Replicas {
        children: Vec::new(),
        urls: Vec::new(),
    };
    for i in 0..n {
        let port = crate::common::free_port();
        let config = first.config.with_file_name(format!("server-{i}.toml"));
        std::fs::write(
            &config,
            text.replace(&listen, &format!("listen = \"127.0.0.1:{port}\"")),
        )
        .unwrap();
        let log =
            std::fs::File::create(first.config.with_file_name(format!("server-{i}.log"))).unwrap();
        r.children.push(
            Command::new(crate::common::bin())
                .args(["server", "--config"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        r.urls.push(format!("http://127.0.0.1:{port}"));
    }
    for url in &r.urls {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{url}/health")).call().is_err() {
            assert!(Instant::now() < deadline, "replica {url} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    r
}

fn sign(client: &Client, wallet: &str, key: &str) -> (u16, Value) {
    client
        .raw(
            "POST",
            "/v2/organization/sign/message",
            Some(&json!({"idempotencyKey": key, "walletId": wallet, "message": "replicas"})),
        )
        .unwrap_or((0, Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_share_one_rate_limit_one_idempotency_and_one_audit_trail() {
    let Some(base) = crate::common::postgres_or_skip() else {
        return;
    };
    if !redis_or_skip() {
        return;
    }
    // Signing: 20 per second per organization, a burst of 20; everything else unlimited
    // (per IP too: every request here comes from 127.0.0.1).
    let off = "{ count = 0, period_ms = 1000 }";
    let extra = format!(
        "[rate_limits]\nredis_url = \"{REDIS}\"\n\
         signing = {{ per_org = {{ count = 20, period_ms = 1000 }}, per_ip = {off} }}\n\
         management = {{ per_org = {off}, per_ip = {off} }}\n\
         reads = {{ per_org = {off}, per_ip = {off} }}\n"
    );
    let s = Stack::start(base, Custody::Standard, &extra).await;
    let replicas = start_replicas(&s, 2);
    let urls: Vec<String> = std::iter::once(s.cluster.server_url())
        .chain(replicas.urls.iter().cloned())
        .collect();
    let clients: Vec<Client> = urls.iter().map(|u| Client::new(u, &s.owner_key)).collect();
    let set = s.wallet_set("dkls23", false);
    let wallet = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0).id;

    // 60 requests per second for five seconds, spread over the three replicas by six
    // paced workers: the organization gets its 20 per second in total (plus its burst).
    let (workers, per_worker, gap) = (6usize, 30usize, Duration::from_millis(100));
    let start = Instant::now();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (client, wallet, outcomes) = (&clients[w % 3], &wallet, outcomes.clone());
            scope.spawn(move || {
                for k in 0..per_worker {
                    let at = start + gap * k as u32 + gap * w as u32 / workers as u32;
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let (status, body) = sign(client, wallet, &idem());
                    outcomes
                        .lock()
                        .unwrap()
                        .push((status, body["code"].clone()));
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let outcomes = outcomes.lock().unwrap().clone();
    let signed = outcomes
        .iter()
        .filter(|(st, _)| *st == 200 || *st == 201)
        .count();
    let limited = outcomes.iter().filter(|(st, _)| *st == 429).count();
    assert_eq!(
        signed + limited,
        outcomes.len(),
        "only successes and 429s: {outcomes:?}\n{}",
        s.cluster.log_tail(SERVER)
    );
    // GCRA: the burst, then one every 50 ms; within 10 % of the steady rate.
    let expected = 20.0 + 20.0 * elapsed;
    let tolerance = 0.1 * 20.0 * elapsed + 1.0;
    assert!(
        (signed as f64 - expected).abs() <= tolerance,
        "{signed} signatures in {elapsed:.2} s over three replicas; expected {expected:.0} ± {tolerance:.0}"
    );

    // One idempotency key sent to all three at once: one signature (FROST signatures are
    // randomized, so two runs would differ), whatever each replica answered first.
    std::thread::sleep(Duration::from_secs(2));
    let key = idem();
    let barrier = Barrier::new(3);
    let first: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .map(|c| {
                let (barrier, wallet, key) = (&barrier, &wallet, &key);
                scope.spawn(move || {
                    barrier.wait();
                    sign(c, wallet, key)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut signatures = BTreeSet::new();
    for (status, body) in &first {
        match status {
            200 | 201 => {
                signatures.insert(body["data"]["signature"].to_string());
            }
            409 => assert_eq!(body["code"], "idempotency_in_progress", "{body}"),
            _ => panic!("{status}: {body}"),
        }
    }
    for c in &clients {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = sign(c, &wallet, &key);
            if status == 200 || status == 201 {
                signatures.insert(body["data"]["signature"].to_string());
                break;
            }
            assert!(Instant::now() < deadline, "{status}: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(signatures.len(), 1, "{signatures:?}");

    // Every chain of the audit trail, written concurrently by three processes, verifies.
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_under_load_loses_nothing_it_answered() {
    let Some(base) = crate::common::postgres_or_skip() else {
        return;
    };
    if !redis_or_skip() {
        return;
    }
    let extra = format!("[rate_limits]\nredis_url = \"{REDIS}\"\n");
    let off =
        "{ per_org = { count = 0, period_ms = 1000 }, per_ip = { count = 0, period_ms = 1000 } }";
    // A request left running by the killed replica is taken over after its lease (3 s
    // here; 2 minutes by default).
    let extra = format!(
        "{extra}management = {off}\nreads = {off}\nsigning = {off}\n\n[http]\nidempotency_lease_ms = 3000\n"
    );
    let s = Stack::start(base, Custody::Standard, &extra).await;
    let mut replicas = start_replicas(&s, 2);
    let urls: Vec<String> = std::iter::once(s.cluster.server_url())
        .chain(replicas.urls.iter().cloned())
        .collect();
    let set = s.wallet_set("dkls23", false).id;

    // Three clients, one per replica, each making wallets one by one; the third replica
    // is killed (-9) midway. A client whose replica fails retries the same request (same
    // idempotency key) on the next replica, as a client behind a proxy would.
    let answered: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let killed = AtomicBool::new(false);
    // The victim's client: how many answers it had, and how often it had to fail over.
    let (victim_answers, failovers) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for r in 0..3 {
            let (urls, set, answered, killed, key) =
                (&urls, &set, &answered, &killed, &s.owner_key);
            let (victim_answers, failovers) = (&victim_answers, &failovers);
            scope.spawn(move || {
                for _ in 0..20 {
                    let k = idem();
                    let body = json!({"idempotencyKey": k, "walletSetId": set, "blockchains": ["ETH-SEPOLIA"], "count": 1});
                    let mut target = r;
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        let c = Client::new(&urls[target], key);
                        match c.raw("POST", "/v2/organization/wallets", Some(&body)) {
                            Ok((st, v)) if st == 200 || st == 201 => {
                                let id = v["data"]["wallets"][0]["id"].as_str().unwrap().to_owned();
                                answered.lock().unwrap().insert(k.clone(), id);
                                if r == 2 {
                                    victim_answers.fetch_add(1, SeqCst);
                                }
                                break;
                            }
                            Ok((409, v)) if v["code"] == "idempotency_in_progress" => {
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            Ok((st, v)) => panic!("{st}: {v}"),
                            Err(_) => {
                                // The replica is gone: the next one.
                                assert!(killed.load(SeqCst));
                                failovers.fetch_add(1, SeqCst);
                                target = (target + 1) % 2;
                            }
                        }
                        assert!(Instant::now() < deadline, "no replica answered");
                    }
                }
            });
        }
        // Midway through the victim's client's work.
        while victim_answers.load(SeqCst) < 5 {
            std::thread::sleep(Duration::from_millis(10));
        }
        killed.store(true, SeqCst);
        let victim = &mut replicas.children[1];
        victim.kill().unwrap();
        victim.wait().unwrap();
    });

    assert!(failovers.load(SeqCst) >= 1, "the kill interrupted nothing");
    // Every answered wallet exists, once: as many wallets as answered keys, no more.
    let answered = answered.into_inner().unwrap();
    assert_eq!(answered.len(), 60);
    let survivor = Client::new(&urls[0], &s.owner_key);
    let (st, v) = survivor
        .raw(
            "GET",
            &format!("/v2/wallets?walletSetId={set}&limit=100"),
            None,
        )
        .unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["total"], 60, "{v}");
    let listed: BTreeSet<String> = v["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = answered.values().cloned().collect();
    assert_eq!(listed, expected);
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
}
