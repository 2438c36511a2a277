//! `planbok dev --replicas 3 --database postgres://… --redis redis://…`: three server
//! replicas behind haproxy on the printed URL. Every replica serves, a replica killed with
//! `kill -9` costs no request (the proxy retries the connection on another one and then
//! takes it out), Ctrl-C stops everything, and the shapes that cannot work are refused.

use std::process::Command;

use planbok_sdk::Client;
use planbok_sdk::api::model::{CreateWalletSet, CreateWallets};
use serde_json::{Value, json};

use crate::api_dev::{interrupt_and_wait, listening, start_with};
use crate::rest::idem;

/// A throwaway database on the test PostgreSQL, dropped afterwards.
struct TempDb {
    name: String,
}

impl TempDb {
    fn new() -> TempDb {
        let name = format!(
            "planbok_devrep_{}",
            hex::encode(planbok_testkit::random_bytes::<6>())
        );
        psql(&format!("CREATE DATABASE {name}"));
        TempDb { name }
    }

    fn url(&self) -> String {
        format!("{}/{}", planbok_testkit::cluster::pg_base(), self.name)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn psql(sql: &str) {
    planbok_testkit::cluster::psql(&planbok_testkit::cluster::pg_base(), sql).unwrap();
}

/// A port p with p+101..=p+103 (the replicas) free too, and a free pair for the nodes.
fn ports() -> (u16, u16) {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let port = loop {
        let p = crate::common::free_port();
        if p < 60_000 && (101..=103).all(|i| free(p + i)) {
            break p;
        }
    };
    (port, crate::common::free_port_pair())
}

/// The pid of the process started in `dir` whose command line names `arg`.
fn pid_in(dir: &std::path::Path, arg: &str) -> u32 {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cwd.as_deref() == Some(dir) && cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
            return pid;
        }
    }
    panic!("no process in {} runs with {arg}", dir.display());
}

/// Signed messages the replica on `port` has answered 200 to (its own `/metrics`).
fn signed_by(port: u16) -> u64 {
    let (_, text) = Client::anonymous(&format!("http://127.0.0.1:{port}"))
        .raw("GET", "/metrics", None)
        .unwrap();
    let needle = "planbok_http_requests_total{method=\"POST\",route=\"/v2/organization/sign/message\",status=\"200\"} ";
    text.as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(needle))
        .map_or(0, |n| n.parse().unwrap())
}

/// `planbok dev` under test: interrupted (Ctrl-C) when dropped, so a failing assertion does
/// not leave its nodes, replicas and proxy running.
struct Dev(Option<std::process::Child>);

impl Dev {
    fn stop(&mut self) {
        if let Some(child) = self.0.take() {
            interrupt_and_wait(child);
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let mut child = child;
            let _ = child.wait();
        }
    }
}

fn sign(c: &Client, wallet: &str, message: &str) -> (u16, Value) {
    c.raw(
        "POST",
        "/v2/organization/sign/message",
        Some(&json!({"idempotencyKey": idem(), "walletId": wallet, "message": message})),
    )
    .unwrap()
}

#[test]
fn dev_replicas_behind_haproxy_serve_as_one_and_lose_nothing_to_a_killed_replica() {
    if crate::common::postgres_or_skip().is_none() || !crate::replicas::redis_or_skip() {
        return;
    }
    let db = TempDb::new();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (port, node_port) = ports();
    let flags = [
        "--replicas",
        "3",
        "--database",
        &db.url(),
        "--redis",
        "redis://127.0.0.1:6379/0",
    ];
    let (child, key) = start_with(&data, port, node_port, &flags);
    let mut dev = Dev(Some(child));
    let base = format!("http://127.0.0.1:{port}");
    let c = Client::new(&base, &key);
    let set = c
        .create_wallet_set(&CreateWalletSet {
            idempotency_key: Some(idem()),
            name: "t".into(),
            encrypted_organization_secret: None,
            ecdsa_protocol: Some("dkls23".into()),
        })
        .unwrap();
    let wallet = c
        .create_wallets(&CreateWallets {
            idempotency_key: Some(idem()),
            wallet_set_id: set.id,
            blockchains: vec!["ETH-SEPOLIA".into()],
            count: Some(1),
            metadata: Vec::new(),
            encrypted_organization_secret: None,
        })
        .unwrap()[0]
        .id
        .clone();

    // Round robin: every replica signs some of them.
    for i in 0..30 {
        let r = sign(&c, &wallet, &format!("m{i}"));
        assert_eq!(r.0, 200, "{r:?}");
    }
    let replica_ports: Vec<u16> = (101..=103).map(|i| port + i).collect();
    let counts: Vec<u64> = replica_ports.iter().map(|p| signed_by(*p)).collect();
    assert_eq!(counts.iter().sum::<u64>(), 30, "{counts:?}");
    assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    let ready =
        crate::rest::assert_ok(Client::anonymous(&base).raw("GET", "/ready", None).unwrap());
    assert_eq!(ready["detail"]["rateLimiter"], "ok", "{ready}");

    // kill -9 of replica 2: not one request fails.
    let pid = pid_in(&data, "server-2.toml");
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    for i in 0..30 {
        let r = sign(&c, &wallet, &format!("after {i}"));
        assert_eq!(r.0, 200, "request {i} after the kill: {r:?}");
    }
    assert!(!listening(port + 102));
    let after: u64 = [port + 101, port + 103].iter().map(|p| signed_by(*p)).sum();
    assert_eq!(after, counts[0] + counts[2] + 30);
    // `planbok dev` carries on and says what happened.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let said = std::fs::read_to_string(data.join("dev.stderr")).unwrap();
    assert!(said.contains("server-2 exited"), "{said}");

    dev.stop();
    for p in [port, port + 101, port + 103, node_port, node_port + 1] {
        assert!(!listening(p), "port {p} still open after Ctrl-C");
    }

    // The data directory keeps its database: another one is refused.
    let out = Command::new(crate::common::bin())
        .args(["dev", "--data"])
        .arg(&data)
        .args([
            "--port",
            &port.to_string(),
            "--database",
            "postgres://postgres@127.0.0.1:5432/other",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another server database"), "{err}");
    assert!(!err.contains("/other"), "the URL is not printed: {err}");
    // Replicas need a shared database: SQLite is refused before anything starts.
    let sqlite = root.path().join("sqlite");
    let out = Command::new(crate::common::bin())
        .args(["dev", "--replicas", "2", "--data"])
        .arg(&sqlite)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a database the replicas share"), "{err}");
}
