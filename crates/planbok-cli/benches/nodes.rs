//! Node 1 ↔ Node 2 over real mutual TLS on loopback: DKG and signing latency per protocol,
//! one client and 32 concurrent clients, measured from the caller's side of Node 1's
//! `Coordinator` API (what the REST server sees).
//!
//! `cargo bench -p planbok-cli --bench nodes` (optimized `planbok` binary; SQLite; dev
//! keystore). `PLANBOK_BENCH_SCALE=0.2` runs a fifth of the requests;
//! `PLANBOK_BENCH_ONLY=frost` (or `dkls23`, `cggmp`, comma-separated) only those protocols.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: a panic is the failure report"
)]

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::path::Path;
use std::time::{Duration, Instant};

use planbok_proto::grant;
use planbok_proto::pb::coordinator_client::CoordinatorClient;
use planbok_proto::pb::{
    CustodyMode, KeygenRequest, KeygenResponse, Operation, OrgPublicKeyRequest, Protocol,
    ProvisionAuxRequest, RegisterSecretRequest, SignRequest,
};
use planbok_testkit::cluster::{Cluster, Options, encrypt_secret, now_ms};
use tonic::transport::Channel;

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("PLANBOK_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * s).ceil() as usize).max(1)
}

/// Whether `PLANBOK_BENCH_ONLY` (unset: everything) selects `proto`.
fn selected(proto: Protocol) -> bool {
    let name = match proto {
        Protocol::Frost => "frost",
        Protocol::Dkls23 => "dkls23",
        Protocol::Cggmp => "cggmp",
        Protocol::Unspecified => return false,
    };
    std::env::var("PLANBOK_BENCH_ONLY")
        .map(|v| v.split(',').any(|p| p.trim() == name))
        .unwrap_or(true)
}

struct Stats {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    per_sec: f64,
}

fn stats(mut v: Vec<Duration>, wall: Duration) -> Stats {
    v.sort();
    let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    Stats {
        n: v.len(),
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        max: *v.last().unwrap(),
        per_sec: v.len() as f64 / wall.as_secs_f64(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(what: &str, clients: usize, s: &Stats) {
    println!(
        "| {what} | {clients} | {} | {} | {} | {} | {} | {:.1} |",
        s.n,
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        s.per_sec
    );
}

struct Ctx {
    c: Cluster,
    client: CoordinatorClient<Channel>,
    org: String,
}

impl Ctx {
    fn keygen_req(&self, proto: Protocol) -> KeygenRequest {
        let key_id = format!("bench-{}-{}", now_ms(), next_id());
        KeygenRequest {
            grant: Some(self.c.grant(
                &self.org,
                &key_id,
                Operation::Dkg,
                grant::dkg_params(proto, CustodyMode::Standard),
            )),
            protocol: proto as i32,
            ..Default::default()
        }
    }

    fn sign_req(&self, key: &KeygenResponse, i: usize) -> SignRequest {
        let proto = Protocol::try_from(key.protocol).unwrap();
        let (path, payload) = match proto {
            Protocol::Frost => ("m".to_string(), format!("bench message {i}").into_bytes()),
            _ => (
                format!("m/44/60/0/{}", i % 1000),
                sha2_digest(format!("bench {i}").as_bytes()),
            ),
        };
        SignRequest {
            grant: Some(self.c.grant(
                &self.org,
                &key.key_id,
                Operation::Sign,
                grant::sign_params(proto, &path, &payload),
            )),
            key_id: key.key_id.clone(),
            derivation_path: path,
            payload,
            ..Default::default()
        }
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn sha2_digest(b: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).to_vec()
}

async fn sign_load(ctx: &Ctx, key: &KeygenResponse, clients: usize, total: usize) -> Stats {
    let reqs: Vec<SignRequest> = (0..total).map(|i| ctx.sign_req(key, i)).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(reqs));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let q = queue.clone();
        let mut client = ctx.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some(r) = q.lock().unwrap().pop() else {
                    break;
                };
                let t = Instant::now();
                client.sign(r).await.expect("sign");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    stats(all, start.elapsed())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_planbok"));
    let c = Cluster::start(
        bin,
        Options {
            limits: planbok_node::config::Limits {
                run_timeout_ms: 600_000,
                round_timeout_ms: 300_000,
                queue_timeout_ms: 600_000,
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await
    .expect("cluster");
    if selected(Protocol::Cggmp) {
        let t = Instant::now();
        c.operator(Node2)
            .unwrap()
            .provision_aux(ProvisionAuxRequest { replace: false })
            .await
            .unwrap();
        c.operator(Node1)
            .unwrap()
            .provision_aux(ProvisionAuxRequest { replace: false })
            .await
            .unwrap();
        eprintln!("aux info (test primes): {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut client = c.server().unwrap();
    let org = "bench-org".to_string();
    let pem = client
        .org_public_key(OrgPublicKeyRequest {
            org_id: org.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_key_pem;
    client
        .register_secret(RegisterSecretRequest {
            org_id: org.clone(),
            mode: CustodyMode::Standard as i32,
            encrypted_secret: encrypt_secret(&pem, &[9; 32], "dkg", now_ms(), None).unwrap(),
        })
        .await
        .unwrap();
    let ctx = Ctx { c, client, org };

    println!("| operation | clients | n | p50 ms | p90 ms | p99 ms | max ms | per s |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut keys = Vec::new();
    for (proto, n) in [
        (Protocol::Frost, scale(50)),
        (Protocol::Dkls23, scale(20)),
        (Protocol::Cggmp, scale(20)),
    ]
    .into_iter()
    .filter(|(p, _)| selected(*p))
    {
        let mut lat = Vec::new();
        let start = Instant::now();
        let mut last = None;
        for _ in 0..n {
            let r = ctx.keygen_req(proto);
            let t = Instant::now();
            last = Some(ctx.client.clone().keygen(r).await.unwrap().into_inner());
            lat.push(t.elapsed());
        }
        row(
            &format!("{} DKG", proto.as_str_name()),
            1,
            &stats(lat, start.elapsed()),
        );
        keys.push(last.unwrap());
    }
    for key in &keys {
        let proto = Protocol::try_from(key.protocol).unwrap();
        let (one, many) = match proto {
            Protocol::Frost => (scale(500), scale(4000)),
            Protocol::Dkls23 => (scale(200), scale(1000)),
            _ => (scale(20), scale(64)),
        };
        let name = proto.as_str_name();
        // Warm-up (connections, caches).
        sign_load(&ctx, key, 1, 3).await;
        row(
            &format!("{name} sign"),
            1,
            &sign_load(&ctx, key, 1, one).await,
        );
        row(
            &format!("{name} sign"),
            32,
            &sign_load(&ctx, key, 32, many).await,
        );
    }
}
