//! `planbok dev`: three processes from one command, a working quick start, Ctrl-C stops
//! them all, a restart keeps every wallet, and the data directory (keys, tokens, databases)
//! is private to the user.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use planbok_sdk::Client;
use planbok_sdk::api::model::{CreateWalletSet, CreateWallets, SignMessage};

/// Starts `planbok dev` and reads its output until the owner key is printed.
fn start(data: &std::path::Path, port: u16, node_port: u16) -> (Child, String) {
    start_with(data, port, node_port, &[])
}

/// [`start`] with more flags.
#[expect(
    clippy::zombie_processes,
    reason = "the caller waits for it (interrupt_and_wait)"
)]
pub(crate) fn start_with(
    data: &std::path::Path,
    port: u16,
    node_port: u16,
    flags: &[&str],
) -> (Child, String) {
    // The Gateway's port too is the kernel's pick: dev's default (--port + 1) may be
    // another test's port.
    let gateway = crate::common::free_port().to_string();
    let gateway: &[&str] = if flags.contains(&"--gateway-port") {
        &[]
    } else {
        &["--gateway-port", &gateway]
    };
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
        .args(flags)
        .args(gateway)
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
    // Everything `planbok dev` and its processes wrote, for the failure message.
    let logs: String = [
        "dev.stderr",
        "node1.log",
        "node2.log",
        "server.log",
        "server-1.log",
        "proxy.log",
    ]
    .iter()
    .map(|f| {
        let text = std::fs::read_to_string(data.join(f)).unwrap_or_default();
        format!("--- {f}\n{text}")
    })
    .collect();
    panic!("planbok dev exited before printing its key\n{logs}");
}

pub(crate) fn interrupt_and_wait(mut child: Child) {
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

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            walk(&p, out);
        }
    }
}

/// No entry under `data` grants anything to group or others, and the entries that hold
/// secrets (or would, in a database) are among those checked.
fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "{}", data.display());
    let mut entries = Vec::new();
    walk(data, &mut entries);
    for p in &entries {
        assert_eq!(mode(p) & 0o077, 0, "{} is mode {:o}", p.display(), mode(p));
    }
    for name in [
        "pki",
        "pki/ca.pem",
        "pki/node1.key",
        "grant.key",
        "operator.token",
        "owner-api-key",
        "org-secret.hex",
        "node1.devkey",
        "node2.devkey",
        "node1.toml",
        "server.toml",
        "node1.db",
        "node2.db",
        "server.db",
        "node1.log",
        "server.log",
        "dev.stderr",
    ] {
        assert!(
            entries.contains(&data.join(name)),
            "{name} not in {entries:?}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".db-wal")),
        "no SQLite WAL file checked: {entries:?}"
    );
}

pub(crate) fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn dev_runs_the_quick_start_stops_on_ctrl_c_and_keeps_wallets() {
    let root = tempfile::tempdir().unwrap();
    // An empty directory made world-readable by someone else's umask: `planbok dev` makes it
    // private before writing anything into it.
    let data = root.path().join("data");
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&data)
        .unwrap();
    chmod(&data, 0o755);
    let port = crate::common::free_port();
    let node_port = crate::common::free_port_pair();
    let (child, key) = start(&data, port, node_port);
    assert_private(&data);
    let said = std::fs::read_to_string(data.join("dev.stderr")).unwrap();
    assert!(said.contains("was readable by other users"), "{said}");
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
    // Loosened between runs (a copy, a backup restore, a chmod -R): fixed at the next start.
    for (name, m) in [
        ("", 0o755),
        ("pki", 0o755),
        ("owner-api-key", 0o644),
        ("node1.devkey", 0o640),
        ("server.db", 0o664),
    ] {
        chmod(&data.join(name), m);
    }
    // Again: same key, same wallets, and they still sign.
    let (child, key2) = start(&data, port, node_port);
    assert_private(&data);
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
