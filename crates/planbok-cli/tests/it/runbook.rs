//! `docs/operations.md`, executed: its `sh` blocks run in order in one bash session, as an
//! operator would type them, so the runbook cannot drift from the product.
//!
//! The test changes only what must differ on a shared machine — the ports and database
//! names (to free ones) — and gives the node configs the checked-in test Paillier primes
//! so that `provision-aux` takes seconds. The page says so too.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
/// The longest any one block may take (provisioning, a restore).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// The fenced blocks of a Markdown page whose info string is exactly `lang`, in order.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for line in markdown.lines() {
        match &mut current {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    current = Some((info.trim() == lang, String::new()));
                }
            }
            Some((keep, text)) => {
                if line.trim_end() == "```" {
                    if *keep {
                        out.push(std::mem::take(text));
                    }
                    current = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "an unterminated code block in {DOC}");
    out
}

/// Kills what the session started and drops its databases, however the test ends.
struct Cleanup {
    dirs: Vec<PathBuf>,
    databases: Vec<String>,
    bash: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut b) = self.bash.take() {
            let _ = b.kill();
            let _ = b.wait();
        }
        for dir in &self.dirs {
            for name in ["server", "node1", "node2"] {
                if let Ok(pid) = std::fs::read_to_string(dir.join(format!("{name}.pid"))) {
                    let _ = Command::new("kill").args(["-9", pid.trim()]).status();
                }
            }
        }
        for db in &self.databases {
            let _ = Command::new("dropdb")
                .args(["-h", "127.0.0.1", "-U", "postgres", "--if-exists", db])
                .status();
        }
    }
}

/// Gives node configs the test primes (a `[cggmp]` table at the end) once they exist.
fn add_test_primes(dir: &Path) {
    for name in ["node1.toml", "node2.toml"] {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if !text.contains("[cggmp]") {
            let primes = planbok_testkit::cluster::test_primes_path();
            let line = format!(
                "\n[cggmp]\ninsecure_pregenerated_primes = \"{}\"\n",
                primes.display()
            );
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
        }
    }
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for d in [dir.to_path_buf(), dir.join("restored")] {
        for name in ["node1", "node2", "server"] {
            if let Ok(text) = std::fs::read_to_string(d.join(format!("{name}.log"))) {
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("--- {}/{name}.log (tail)\n", d.display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn the_operations_runbook_runs_as_written() {
    if crate::common::postgres_or_skip().is_none() {
        return;
    }
    let doc = std::fs::read_to_string(DOC).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("rb{}_{}", std::process::id(), crate::common::free_port());
    let ports = [
        ("7101", crate::common::free_port()),
        ("7102", crate::common::free_port()),
        ("8080", crate::common::free_port()),
    ];
    // Every database name in the page starts with `planbok_`, and nothing else there does.
    let localize = |block: &str| {
        let mut b = block.replace("planbok_", &format!("{tag}_"));
        for (from, to) in &ports {
            b = b.replace(from, &to.to_string());
        }
        b
    };
    let sh = blocks(&doc, "sh");
    assert!(
        sh.len() >= 10,
        "{DOC} lost its walkthrough ({} blocks)",
        sh.len()
    );

    let mut cleanup = Cleanup {
        dirs: vec![dir.path().into(), dir.path().join("restored")],
        databases: ["node1", "node2", "server"]
            .iter()
            .map(|d| format!("{tag}_{d}"))
            .collect(),
        bash: None,
    };
    let bin_dir = crate::common::bin().parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let stderr = std::fs::File::create(dir.path().join("session.stderr")).unwrap();
    let mut bash = Command::new("bash")
        .args(["--noprofile", "--norc", "-euo", "pipefail"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env_remove("PLANBOK_URL")
        .env_remove("PLANBOK_API_KEY")
        .env_remove("PLANBOK_NODE_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdin = bash.stdin.take().unwrap();
    let stdout = bash.stdout.take().unwrap();
    cleanup.bash = Some(bash);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });

    let mut transcript = String::new();
    for (i, block) in sh.iter().enumerate() {
        let marker = format!("__runbook_block_{i}_done__");
        // On a line of its own even after output without a final newline (curl's).
        let script = format!("{}\nprintf '\\n%s\\n' {marker}\n", localize(block));
        stdin.write_all(script.as_bytes()).unwrap();
        stdin.flush().unwrap();
        loop {
            match rx.recv_timeout(BLOCK_TIMEOUT) {
                Ok(line) if line == marker => break,
                Ok(line) => {
                    transcript.push_str(&line);
                    transcript.push('\n');
                }
                Err(e) => {
                    let err = std::fs::read_to_string(dir.path().join("session.stderr"))
                        .unwrap_or_default();
                    panic!(
                        "block {i} of {DOC} did not finish ({e}):\n{block}\n--- stdout\n\
                         {transcript}\n--- stderr\n{err}\n{}",
                        logs(dir.path())
                    );
                }
            }
        }
        add_test_primes(dir.path());
    }
    drop(stdin);

    // The signatures made after the restore and after the rotation, by an independent
    // implementation, for the wallet made before the backup.
    let wallets: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("wallets.json")).unwrap())
            .unwrap();
    let address = &wallets[0]["address"];
    for (file, message) in [
        ("after-restore.json", "after the restore"),
        ("after-rotation.json", "after the rotation"),
    ] {
        let signed: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("restored").join(file)).unwrap(),
        )
        .unwrap();
        crate::rest::python_verify(&[json!({
            "kind": "evm_message",
            "message_hex": hex::encode(message),
            "signature": signed["signature"],
            "address": address,
        })]);
    }
    // The renewed leaves are new; the CA is the one kept.
    let restored = dir.path().join("restored/pki");
    for (file, renewed) in [
        ("server.pem", true),
        ("node1.pem", true),
        ("node2.pem", false),
        ("ca.pem", false),
    ] {
        let before = std::fs::read(dir.path().join("pki").join(file)).unwrap();
        let after = std::fs::read(restored.join(file)).unwrap();
        assert_eq!(before != after, renewed, "{file}");
    }
    // The last block counts Node 1's unseals logged in the restored directory: the restore
    // and the rotation.
    let last = transcript.lines().rev().find(|l| !l.trim().is_empty());
    assert_eq!(last, Some("2"), "{transcript}");
    drop(cleanup);
}

#[test]
fn blocks_are_found_by_their_info_string() {
    let md = "a\n```sh\necho 1\n```\n```toml\nx = 1\n```\n```sh\necho 2\necho 3\n```\n";
    assert_eq!(blocks(md, "sh"), ["echo 1\n", "echo 2\necho 3\n"]);
    assert_eq!(blocks(md, "toml"), ["x = 1\n"]);
}
