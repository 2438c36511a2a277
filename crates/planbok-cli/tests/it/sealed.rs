//! Sealed keystores (Shamir unseal keys, through the `planbok operator` CLI), and a scan
//! of everything the nodes wrote for plain-text secrets.

use planbok_testkit::cluster::NodeRole;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use planbok_proto::pb::{CustodyMode, Protocol, UnsealRequest};
use planbok_testkit::cluster::{Cluster, Keystore, Options};

use crate::common::*;

/// `planbok operator --node … --pki … <args>` as a command line (program first).
fn operator_argv(c: &Cluster, node: NodeRole, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        bin().display().to_string(),
        "operator".into(),
        "--node".into(),
        format!("https://127.0.0.1:{}", c.node(node).port),
        "--node-role".into(),
        node.name().into(),
        "--pki".into(),
        c.dir.path().join("pki").display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// Runs the operator CLI with `stdin` piped in (nothing, for most verbs).
fn operator_with_stdin(c: &Cluster, node: NodeRole, args: &[&str], stdin: &str) -> (bool, String) {
    let argv = operator_argv(c, node, args);
    run_with_stdin(Command::new(&argv[0]).args(&argv[1..]), stdin)
}

pub fn operator(c: &Cluster, node: NodeRole, args: &[&str]) -> (bool, String) {
    operator_with_stdin(c, node, args, "")
}

/// `planbok operator unseal` with the key piped on stdin, as a script does.
fn unseal(c: &Cluster, node: NodeRole, key: &str) -> (bool, String) {
    operator_with_stdin(c, node, &["unseal"], &format!("{key}\n"))
}

/// `planbok operator unseal` at a terminal: a pseudo-terminal, the key typed once the
/// prompt is up and echo is off. Returns the exit status and everything the terminal
/// showed.
fn unseal_at_terminal(c: &Cluster, node: NodeRole, key: &str) -> (bool, String) {
    pty_type(
        &["--wait-no-echo", "unseal key"],
        &operator_argv(c, node, &["unseal"]),
        key,
    )
}

fn pty_type(opts: &[&str], argv: &[String], line: &str) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/pty_type.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(opts)
        .args(argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the pseudo-terminal helper");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The pseudo-terminal helper does see typed text when a program leaves echo on: without
/// this, "the key is not on the terminal" could pass because the harness shows nothing.
#[test]
fn pty_helper_sees_echo_when_it_is_on() {
    let argv = ["/bin/sh", "-c", "printf 'say: '; read x; echo done"].map(String::from);
    let (ok, out) = pty_type(&["say:"], &argv, "visible-control-text");
    assert!(ok && out.contains("done"), "{out}");
    assert!(out.contains("visible-control-text"), "{out}");
}

fn init(c: &Cluster, node: NodeRole) -> Vec<String> {
    let (ok, out) = operator(c, node, &["init", "--shares", "5", "--threshold", "3"]);
    assert!(ok, "{out}");
    let keys: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("pbuk1-"))
        .map(String::from)
        .collect();
    assert_eq!(keys.len(), 5, "{out}");
    keys
}

async fn sealed_nodes_refuse_work_until_k_keys_then_sign(base: Options) {
    let mut c = cluster(Options {
        keystore: Keystore::Sealed,
        ..base
    })
    .await;
    let (_, status) = operator(&c, Node1, &["status"]);
    assert!(status.contains("uninitialized"), "{status}");
    let k1 = init(&c, Node1);
    let k2 = init(&c, Node2);
    // Init is once.
    let (ok, out) = operator(&c, Node1, &["init"]);
    assert!(!ok && out.contains("invalid_argument"), "{out}");

    // Sealed: all work refused with `sealed`.
    let mut s = c.server().unwrap();
    let r = s
        .org_public_key(planbok_proto::pb::OrgPublicKeyRequest { org_id: "o".into() })
        .await;
    assert_code(r, "sealed");

    // The key is never taken from the command line (`ps`, shell history), and the refusal
    // does not print it back; nothing reaches the node.
    let (ok, out) = operator(&c, Node1, &["unseal", &k1[0]]);
    assert!(!ok && out.contains("not accepted as an argument"), "{out}");
    assert!(!out.contains(&k1[0]), "the refusal printed the key: {out}");
    let (ok, out) = unseal(&c, Node1, "");
    assert!(!ok && out.contains("no unseal key"), "{out}");
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("0/3"), "{out}");

    // K-1 keys leave Node 1 sealed; wrong and duplicate keys are refused. One typed at a
    // terminal (not echoed), one piped as a script does.
    let (ok, out) = unseal_at_terminal(&c, Node1, &k1[0]);
    assert!(ok && out.contains("1/3"), "{out}");
    assert!(
        !out.contains(&k1[0]),
        "the key was echoed to the terminal: {out}"
    );
    assert!(
        !out.contains(&k1[0][..16]),
        "part of the key was echoed: {out}"
    );
    let (ok, out) = unseal(&c, Node1, &k1[1]);
    assert!(ok, "{out}");
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("sealed") && out.contains("2/3"), "{out}");
    let (ok, out) = unseal(&c, Node1, &k2[2]);
    assert!(
        !ok && out.contains("invalid_argument"),
        "a key of the other node: {out}"
    );
    let (ok, out) = unseal(&c, Node1, &k1[1]);
    assert!(
        !ok && out.contains("invalid_argument"),
        "a duplicate: {out}"
    );
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("2/3"), "{out}");
    // A key file that is not there fails before anything is sent.
    let missing = c.dir.path().join("no-such-key");
    let (ok, out) = operator(
        &c,
        Node1,
        &["unseal", "--key-file", missing.to_str().unwrap()],
    );
    assert!(!ok && out.contains("no-such-key"), "{out}");
    // The K-th key, from a file, unseals it.
    let key_file = c.dir.path().join("unseal-key-5");
    std::fs::write(&key_file, format!("{}\n", k1[4])).unwrap();
    let (ok, out) = operator(
        &c,
        Node1,
        &["unseal", "--key-file", key_file.to_str().unwrap()],
    );
    assert!(ok && out.contains("unsealed"), "{out}");
    assert!(!out.contains(&k1[4]), "{out}");
    assert!(
        out.contains("readable by other users"),
        "a 0644 key file: {out}"
    );
    std::fs::remove_file(&key_file).unwrap();

    // Node 2 is still sealed: Node 1 reports it.
    let org = org(&c, CustodyMode::Standard).await;
    assert_code(
        keygen_with(&c, &org, Protocol::Frost, String::new()).await,
        "sealed",
    );
    // Unseal Node 2 over the RPC directly.
    let mut op2 = c.operator(Node2).unwrap();
    for k in &k2[1..4] {
        op2.unseal(UnsealRequest { key: k.clone() }).await.unwrap();
    }
    let ed = keygen(&c, &org, Protocol::Frost).await;
    let ec = keygen(&c, &org, Protocol::Dkls23).await;
    sign_and_verify(&c, &org, &ed, "m", b"unsealed").await;
    sign_and_verify(&c, &org, &ec, "m/44/60/0/0", &digest("unsealed")).await;

    // Sealing again stops work; a restart comes back sealed; any 3 keys reopen it.
    let (ok, out) = operator(&c, Node1, &["seal"]);
    assert!(ok, "{out}");
    assert_code(
        sign_with(&c, sign_request(&c, &org, &ed, "m", b"x", String::new())).await,
        "sealed",
    );
    c.restart(Node1).await.unwrap();
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("sealed") && out.contains("0/3"), "{out}");
    for k in [&k1[0], &k1[2], &k1[3]] {
        let (ok, out) = unseal(&c, Node1, k);
        assert!(ok, "{out}");
    }
    sign_and_verify(&c, &org, &ec, "m/44/60/0/1", &digest("after restart")).await;

    scan_everything(&c, &org.secret);
}

/// Scans the cluster's files and, on PostgreSQL, both databases' dumps.
pub fn scan_everything(c: &Cluster, org_secret: &[u8; 32]) {
    let hex_secret = hex::encode(org_secret);
    let secrets: [&[u8]; 2] = [&org_secret[..], hex_secret.as_bytes()];
    scan_for_plaintext(c.dir.path(), &secrets);
    for (name, bytes) in c.pg_dumps().unwrap() {
        assert!(bytes.len() > 1000, "{name} dump is empty");
        scan_bytes(&name, &bytes, &secrets);
    }
}

/// Every file the nodes wrote (databases with their WAL files, keystore state, logs; not
/// the TLS keys `planbok pki` writes by design) is free of: the plaintext share envelope's
/// magic, the organization secret (raw and hex), PKCS#8/RSA key material.
pub fn scan_for_plaintext(dir: &Path, secrets: &[&[u8]]) {
    let mut scanned = 0;
    for entry in walk(dir) {
        if entry.starts_with(dir.join("pki")) {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        scan_bytes(&entry.display().to_string(), &bytes, secrets);
        scanned += 1;
    }
    assert!(scanned >= 4, "scanned {scanned} files");
}

pub fn scan_bytes(name: &str, bytes: &[u8], secrets: &[&[u8]]) {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(b"PBKS"),
        "{name} holds a plaintext share envelope"
    );
    // rsaEncryption OID as DER: present in any plaintext PKCS#8 RSA private key.
    assert!(
        !contains(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01
        ]),
        "{name} holds DER RSA key material"
    );
    assert!(!contains(b"PRIVATE KEY"), "{name} holds a PEM private key");
    for s in secrets {
        assert!(!contains(s), "{name} holds the organization secret");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

on_sqlite_and_postgres!(sealed_nodes_refuse_work_until_k_keys_then_sign);

/// The operator issue's mismatch drill: a node whose seal state was lost or replaced never
/// serves its database's data, and never takes a new keystore over it; the original state
/// restores it.
async fn a_lost_or_replaced_seal_state_never_serves_and_is_never_initialized_over(base: Options) {
    let mut c = cluster(Options {
        keystore: Keystore::Sealed,
        ..base
    })
    .await;
    let (k1, k2) = (init(&c, Node1), init(&c, Node2));
    for (node, keys) in [(Node1, &k1), (Node2, &k2)] {
        for k in &keys[..3] {
            let (ok, out) = unseal(&c, node, k);
            assert!(ok, "{out}");
        }
    }
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Frost).await;
    sign_and_verify(&c, &org, &key, "m", b"before").await;
    let state = c.dir.path().join("node1.seal.json");
    let kept = c.dir.path().join("node1.seal.json.kept");

    // Lost: the node comes up uninitialized, and `init` over its data is refused.
    c.kill(Node1).unwrap();
    std::fs::rename(&state, &kept).unwrap();
    c.restart(Node1).await.unwrap();
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("uninitialized"), "{out}");
    let (ok, out) = operator(&c, Node1, &["init", "--shares", "5", "--threshold", "3"]);
    assert!(!ok && out.contains("keystore_mismatch"), "{out}");
    assert!(!state.exists(), "no new seal state was written");
    assert_code(
        sign_with(
            &c,
            sign_request(&c, &org, &key, "m", b"lost", String::new()),
        )
        .await,
        "sealed",
    );

    // Replaced: another keystore's state and its own keys unseal it, but open nothing of
    // this database: the node seals itself again.
    c.kill(Node1).unwrap();
    let fresh = planbok_keystore::Keystore::open(
        &planbok_keystore::KeystoreConfig::Sealed {
            state_file: state.clone(),
        },
        1,
    )
    .unwrap()
    .init(5, 3)
    .unwrap();
    c.restart(Node1).await.unwrap();
    let fresh: Vec<String> = fresh.iter().map(|k| k.to_text().to_string()).collect();
    for k in &fresh[..2] {
        assert!(unseal(&c, Node1, k).0);
    }
    let (ok, out) = unseal(&c, Node1, &fresh[2]);
    assert!(!ok && out.contains("keystore_mismatch"), "{out}");
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("sealed") && !out.contains("unsealed"), "{out}");
    assert!(
        c.log_tail(Node1)
            .contains("the keystore does not open this node's data")
    );
    assert_code(
        sign_with(
            &c,
            sign_request(&c, &org, &key, "m", b"replaced", String::new()),
        )
        .await,
        "sealed",
    );

    // Restored: the original state and keys, and every key signs again.
    c.kill(Node1).unwrap();
    std::fs::rename(&kept, &state).unwrap();
    c.restart(Node1).await.unwrap();
    for k in &k1[2..5] {
        assert!(unseal(&c, Node1, k).0);
    }
    sign_and_verify(&c, &org, &key, "m", b"after").await;
}

on_sqlite_and_postgres!(a_lost_or_replaced_seal_state_never_serves_and_is_never_initialized_over);

/// The same for the dev keystore: a node whose key file was replaced refuses to start.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_dev_key_stops_the_node_at_start() {
    let mut c = sqlite().await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Frost).await;
    c.kill(Node2).unwrap();
    // Gone: the dev backend makes a new key file at start, which opens nothing stored.
    std::fs::remove_file(c.dir.path().join("node2.devkey")).unwrap();
    let e = c.restart(Node2).await.unwrap_err().to_string();
    assert!(e.contains("node 2 exited"), "{e}");
    let log = std::fs::read_to_string(&c.node(Node2).log).unwrap();
    assert!(log.contains("keystore mismatch"), "{log}");
    assert!(log.contains("restore the keystore that sealed it"), "{log}");
    assert_code(
        sign_with(&c, sign_request(&c, &org, &key, "m", b"x", String::new())).await,
        "peer_unavailable",
    );
}

/// `planbok operator status`: Vault's exit codes (0 unsealed, 2 sealed or uninitialized,
/// 1 error), `--json`, and the node's log of who unsealed it.
#[tokio::test(flavor = "multi_thread")]
async fn operator_status_json_and_exit_codes_in_each_state() {
    let mut c = cluster(Options {
        keystore: Keystore::Sealed,
        ..Options::default()
    })
    .await;
    let status = |c: &Cluster| {
        let argv = operator_argv(c, Node1, &["status", "--json"]);
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, j, _) = status(&c);
    assert_eq!(code, Some(2), "{j}");
    assert_eq!(
        (j["state"].as_str(), j["initialized"].as_bool()),
        (Some("uninitialized"), Some(false))
    );
    let keys = init(&c, Node1);
    let (code, j, _) = status(&c);
    assert_eq!(code, Some(2));
    assert_eq!(
        (j["sealed"].as_bool(), j["unsealThreshold"].as_u64()),
        (Some(true), Some(3))
    );
    assert!(unseal(&c, Node1, &keys[0]).0);
    let (_, j, _) = status(&c);
    assert_eq!(j["unsealProgress"], 1, "{j}");
    for k in &keys[1..3] {
        assert!(unseal(&c, Node1, k).0);
    }
    let (code, j, _) = status(&c);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        (j["state"].as_str(), j["sealed"].as_bool()),
        (Some("unsealed"), Some(false))
    );
    assert!(
        j["identityKey"].as_str().unwrap().starts_with("ed25519:"),
        "{j}"
    );
    // The text form carries the same fields.
    let (ok, text) = operator(&c, Node1, &["status"]);
    assert!(
        ok && text.contains("Initialized") && text.contains("Identity Key"),
        "{text}"
    );
    // The node logged each accepted key with the operator's certificate, and the unseal.
    let log = std::fs::read_to_string(&c.node(Node1).log).unwrap();
    assert_eq!(log.matches("unseal key accepted").count(), 3, "{log}");
    assert!(
        log.contains("CN=operator") && log.contains("node unsealed"),
        "{log}"
    );
    // A node that is down: exit 1, naming the node.
    c.kill(Node1).unwrap();
    let (code, _, err) = status(&c);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
}

/// The operator issue's backup drill: a sealed node pair's databases (`pg_dump`) and seal
/// states (file copies) are backed up, everything is destroyed, both are restored into
/// fresh databases, the nodes are unsealed with the original keys, and every earlier key
/// signs again. (A seal state restored without its database, or the other way round, is
/// the mismatch drill above: the node refuses it.)
#[tokio::test(flavor = "multi_thread")]
async fn backed_up_databases_and_seal_states_restore_and_every_key_signs() {
    let Some(base) = crate::common::postgres_or_skip() else {
        return;
    };
    let mut c = cluster(Options {
        keystore: Keystore::Sealed,
        db: planbok_testkit::cluster::Db::Postgres,
        ..base
    })
    .await;
    let keys = [init(&c, Node1), init(&c, Node2)];
    let unseal_all = |c: &Cluster| {
        for (node, k) in [(Node1, &keys[0]), (Node2, &keys[1])] {
            for key in &k[..3] {
                let (ok, out) = unseal(c, node, key);
                assert!(ok, "{out}");
            }
        }
    };
    unseal_all(&c);
    let org = org(&c, CustodyMode::Standard).await;
    let made = [
        (keygen(&c, &org, Protocol::Frost).await, "m"),
        (keygen(&c, &org, Protocol::Dkls23).await, "m/44/60/0/3"),
    ];
    for (key, path) in &made {
        sign_and_verify(&c, &org, key, path, &digest("before the backup")).await;
    }

    // Back up: each node's database and seal state.
    let mut backups = Vec::new();
    for role in NodeRole::ALL {
        let url = c.node(role).database_url.clone();
        let dump = Command::new("pg_dump").arg(&url).output().unwrap();
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let state = c.dir.path().join(format!("node{role}.seal.json"));
        backups.push((
            role,
            url,
            dump.stdout,
            state.clone(),
            std::fs::read(&state).unwrap(),
        ));
    }

    // Destroy: the processes, the databases, the seal states.
    c.kill(Node1).unwrap();
    c.kill(Node2).unwrap();
    let admin = |url: &str, sql: &str| {
        let (base, _) = url.rsplit_once('/').unwrap();
        let out = Command::new("psql")
            .arg(format!("{base}/postgres"))
            .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (_, url, _, state, _) in &backups {
        let db = url.rsplit_once('/').unwrap().1;
        admin(url, &format!("DROP DATABASE {db}"));
        std::fs::remove_file(state).unwrap();
    }

    // Restore into fresh databases of the same names, and the seal states beside them.
    for (_, url, dump, state, sealed) in &backups {
        let db = url.rsplit_once('/').unwrap().1;
        admin(url, &format!("CREATE DATABASE {db}"));
        let mut psql = Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        psql.stdin.take().unwrap().write_all(dump).unwrap();
        let out = psql.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(state, sealed).unwrap();
    }
    c.restart(Node2).await.unwrap();
    c.restart(Node1).await.unwrap();
    let (_, out) = operator(&c, Node1, &["status"]);
    assert!(out.contains("sealed") && out.contains("0/3"), "{out}");
    unseal_all(&c);
    for (key, path) in &made {
        sign_and_verify(&c, &org, key, path, &digest("after the restore")).await;
    }
}
