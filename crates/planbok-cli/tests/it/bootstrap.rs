//! Bootstrap verbs: `planbok server init` / `grant-public-key` and `planbok org create`.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use planbok_proto::grant::GrantSigner;

use crate::rest::{Custody, Stack};

fn planbok(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(crate::common::bin())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn server_init_writes_private_secrets_once_and_prints_the_grant_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "database_url = \"sqlite:///tmp/unused.db\"\noperator_token_file = \"secrets/operator.token\"\n\
         grant_key_file = \"secrets/grant.key\"\n\n[node1]\nurl = \"https://127.0.0.1:7001\"\n\n\
         [tls]\nca = \"ca.pem\"\ncert = \"server.pem\"\nkey = \"server.key\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let cfg = config.to_str().unwrap();
    let (ok, out, err) = planbok(&["server", "init", "--config", cfg]);
    assert!(ok, "{err}");
    let printed = out.trim().strip_prefix("grant_public_key = \"").unwrap();
    let printed = printed.strip_suffix('"').unwrap();
    let (token, key) = (
        dir.path().join("secrets/operator.token"),
        dir.path().join("secrets/grant.key"),
    );
    for f in [&token, &key] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(&key).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(GrantSigner::from_seed(&seed).public_key().to_hex(), printed);
    assert_eq!(std::fs::read_to_string(&token).unwrap().trim().len(), 64);
    // `grant-public-key` derives the same line from the key file.
    let (ok, again, err) = planbok(&["server", "grant-public-key", "--config", cfg]);
    assert!(ok, "{err}");
    assert_eq!(again, out);
    // Never overwritten, not even half: with the token gone, the grant key still blocks.
    let before = std::fs::read(&key).unwrap();
    let (ok, _, err) = planbok(&["server", "init", "--config", cfg]);
    assert!(!ok && err.contains("refusing to overwrite"), "{err}");
    std::fs::remove_file(&token).unwrap();
    let (ok, _, err) = planbok(&["server", "init", "--config", cfg]);
    assert!(!ok && err.contains("refusing to overwrite"), "{err}");
    assert!(!token.exists());
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn org_create_prints_the_owner_key_once_and_needs_the_operator_token() {
    let s = Stack::sqlite(Custody::Unset).await;
    let url = s.cluster.server_url();
    let run = |token: &str| {
        Command::new(crate::common::bin())
            .args([
                "org",
                "create",
                "--name",
                "Acme Treasury",
                "--owner-name",
                "Ada",
                "--owner-email",
                "ada@acme.example",
            ])
            .env("PLANBOK_URL", &url)
            .env("PLANBOK_OPERATOR_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = run(&s.cluster.operator_token);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("owner API key (shown once): "))
        .unwrap()
        .trim();
    let org = planbok_sdk::Client::new(&url, key).organization().unwrap();
    assert_eq!(
        (org.name.as_str(), org.custody_mode.as_str()),
        ("Acme Treasury", "unset")
    );
    let bad = run("not-the-token");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// `--log-format json`: one JSON object per line, e.g. the server's start line.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_logs_json_lines_on_request() {
    let s = Stack::sqlite(Custody::Unset).await;
    let dir = s.cluster.dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::fs::read_to_string(dir.join("server.toml")).unwrap();
    let listen = config.lines().find(|l| l.starts_with("listen")).unwrap();
    let second = dir.join("server2.toml");
    std::fs::write(
        &second,
        config.replace(listen, &format!("listen = \"127.0.0.1:{port}\"")),
    )
    .unwrap();
    let mut child = Command::new(crate::common::bin())
        .args(["server", "--log-format", "json", "--config"])
        .arg(&second)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(
        v["fields"]["message"], "planbok server listening",
        "{first}"
    );
    assert!(!first.contains('\u{1b}'), "{first}");
}

#[test]
fn pki_keeps_the_ca_key_only_under_a_passphrase_and_renews_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let pki_s = pki.to_str().unwrap();
    // No passphrase and no terminal: refused before anything is written.
    let (ok, _, err) = planbok(&["pki", "init", pki_s]);
    assert!(!ok && err.contains("--ca-passphrase-file"), "{err}");
    assert!(!pki.exists());
    let weak = dir.path().join("weak");
    std::fs::write(&weak, "short\n").unwrap();
    let (ok, _, err) = planbok(&[
        "pki",
        "init",
        pki_s,
        "--ca-passphrase-file",
        weak.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("at least 12"), "{err}");
    assert!(!pki.exists());

    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, "a passphrase of some length\n").unwrap();
    let phrase_s = phrase.to_str().unwrap();
    let (ok, out, err) = planbok(&[
        "pki",
        "init",
        pki_s,
        "--san",
        "localhost",
        "--ca-passphrase-file",
        phrase_s,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("ca.key.enc"), "{out}");
    let key = std::fs::read_to_string(pki.join("ca.key.enc")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!key.contains("a passphrase of some length"));

    // A wrong passphrase renews nothing.
    let node1 = std::fs::read(pki.join("node1.pem")).unwrap();
    let (ok, _, err) = planbok(&[
        "pki",
        "renew",
        pki_s,
        "--role",
        "node1",
        "--ca-passphrase-file",
        weak.to_str().unwrap(),
    ]);
    assert!(!ok, "{err}");
    std::fs::write(&weak, "not the right passphrase\n").unwrap();
    let (ok, _, err) = planbok(&[
        "pki",
        "renew",
        pki_s,
        "--role",
        "all",
        "--ca-passphrase-file",
        weak.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("does not open"), "{err}");
    assert_eq!(std::fs::read(pki.join("node1.pem")).unwrap(), node1);

    let (ok, out, err) = planbok(&[
        "pki",
        "renew",
        pki_s,
        "--role",
        "node1",
        "--days",
        "90",
        "--ca-passphrase-file",
        phrase_s,
    ]);
    assert!(ok, "{err}");
    assert_ne!(std::fs::read(pki.join("node1.pem")).unwrap(), node1);
    let row = out.lines().find(|l| l.starts_with("node1")).unwrap();
    assert!(row.contains("node1.planbok, localhost"), "{out}");
    assert!(
        row.split_whitespace()
            .nth(2)
            .is_some_and(|d| d == "89" || d == "90"),
        "{out}"
    );
    let (ok, out, err) = planbok(&["pki", "show", pki_s]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 6, "{out}");

    // Made without a kept key on purpose: renewing says why not.
    let bare = dir.path().join("bare");
    let (ok, out, err) = planbok(&["pki", "init", bare.to_str().unwrap(), "--no-ca-key"]);
    assert!(ok && out.contains("not kept"), "{err}");
    let (ok, _, err) = planbok(&[
        "pki",
        "renew",
        bare.to_str().unwrap(),
        "--role",
        "server",
        "--ca-passphrase-file",
        phrase_s,
    ]);
    assert!(!ok && err.contains("holds no CA key"), "{err}");
}

#[test]
fn secrets_shown_once_are_never_written_over_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("unseal-key-2"), "an earlier key\n").unwrap();
    // Refused before connecting (nothing listens on port 9 of a fresh node).
    let (ok, _, err) = planbok(&[
        "operator",
        "--node",
        "https://127.0.0.1:9",
        "--pki",
        "pki",
        "init",
        "--key-dir",
        keys.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(keys.join("unseal-key-2")).unwrap(),
        "an earlier key\n"
    );
    let owner = dir.path().join("owner.key");
    std::fs::write(&owner, "kept\n").unwrap();
    let (ok, _, err) = planbok(&[
        "org",
        "create",
        "--url",
        "http://127.0.0.1:9",
        "--operator-token",
        "x".repeat(32).as_str(),
        "--name",
        "A",
        "--owner-name",
        "B",
        "--owner-email",
        "b@a.example",
        "--api-key-file",
        owner.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(&owner).unwrap(), "kept\n");
}
