//! `planbok dev`: three processes from one command, a working quick start, Ctrl-C stops
//! them all, and a restart keeps every wallet.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use planbok_sdk::Client;
use planbok_sdk::api::model::{CreateWalletSet, CreateWallets, SignMessage};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `planbok dev` and reads its output until the owner key is printed.
#[allow(clippy::zombie_processes)] // the caller waits for it (interrupt_and_wait)
fn start(data: &std::path::Path, port: u16, node_port: u16) -> (Child, String) {
    let mut child = Command::new(crate::common::bin())
        .args([
            "dev",
            "--port",
            &port.to_string(),
            "--node-port",
            &node_port.to_string(),
            "--data",
        ])
        .arg(data)
        .arg("--insecure-pregenerated-primes")
        .arg(planbok_testkit::cluster::test_primes_path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(data.join("dev.stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(180);
    while let Some(line) = lines.next() {
        let line = line.unwrap();
        if let Some(key) = line.trim().strip_prefix("owner key") {
            // Node 1's identity key follows: what clients verify the organization key with.
            let next = lines.next().unwrap().unwrap();
            let node_key = next.trim().strip_prefix("node 1 key").unwrap_or_default();
            assert!(node_key.trim().starts_with("ed25519:"), "{next}");
            let written = std::fs::read_to_string(data.join("node1-identity.pub")).unwrap();
            assert!(node_key.contains(written.trim()), "{next} vs {written}");
            // Keep draining stdout: a closed pipe would fail the rest of its output.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, key.trim().to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "planbok dev did not print its key"
        );
    }
    // Everything `planbok dev` and its three processes wrote, for the failure message.
    let logs: String = ["dev.stderr", "node1.log", "node2.log", "server.log"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(data.join(f)).unwrap_or_default();
            format!("--- {f}\n{text}")
        })
        .collect();
    panic!("planbok dev exited before printing its key\n{logs}");
}

fn interrupt_and_wait(mut child: Child) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("planbok dev did not stop on SIGINT");
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn dev_runs_the_quick_start_stops_on_ctrl_c_and_keeps_wallets() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // Node 2 takes the port after Node 1's: find a free pair.
    let node_port = loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let (child, key) = start(data.path(), port, node_port);
    assert!(key.starts_with("pbk_"), "{key}");
    let base = format!("http://127.0.0.1:{port}");
    let c = Client::new(&base, &key);
    let set = c
        .create_wallet_set(&CreateWalletSet {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            name: "treasury".into(),
            encrypted_organization_secret: None,
            ecdsa_protocol: None,
        })
        .unwrap();
    assert_eq!(set.ecdsa_protocol, "cggmp");
    let wallets = c
        .create_wallets(&CreateWallets {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            wallet_set_id: set.id.clone(),
            blockchains: vec!["ETH-SEPOLIA".into(), "SOL-DEVNET".into()],
            count: Some(1),
            metadata: Vec::new(),
            encrypted_organization_secret: None,
        })
        .unwrap();
    for w in &wallets {
        c.sign_message(&SignMessage {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            wallet_id: w.id.clone(),
            encrypted_organization_secret: None,
            memo: None,
            message: "hello planbok".into(),
            encoded_by_hex: false,
        })
        .unwrap();
    }
    let (status, page) = Client::anonymous(&base)
        .raw("GET", "/v2/docs", None)
        .unwrap();
    assert_eq!(status, 200, "{page}");
    interrupt_and_wait(child);
    for p in [port, node_port, node_port + 1] {
        assert!(!listening(p), "port {p} still open after Ctrl-C");
    }
    // Again: same key, same wallets, and they still sign.
    let (child, key2) = start(data.path(), port, node_port);
    assert_eq!(key2, key);
    for w in &wallets {
        assert_eq!(&c.wallet(&w.id).unwrap(), w);
        c.sign_message(&SignMessage {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            wallet_id: w.id.clone(),
            encrypted_organization_secret: None,
            memo: None,
            message: "still here".into(),
            encoded_by_hex: false,
        })
        .unwrap();
    }
    interrupt_and_wait(child);
}
