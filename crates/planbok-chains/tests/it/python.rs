//! Cross-checks every output with independent Python implementations (`tests/py/verify.py`):
//! eth-account / eth-keys (EIP-191, EIP-712, signed transactions, EIP-55), coincurve + bech32
//! (BIP-137, P2WPKH), solders + PyNaCl + base58 (Solana), PyNaCl (NEAR). CI sets
//! PLANBOK_REQUIRE_PYTHON=1 (scripts/install-deps.sh installs them); elsewhere the test says it
//! skipped when they are missing.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/verify.py");
const MODULES: &str =
    "import eth_account, eth_keys, eth_utils, rlp, nacl, coincurve, bech32, base58, solders";

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", MODULES])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok && std::env::var("PLANBOK_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
        panic!("PLANBOK_REQUIRE_PYTHON=1 but python3 lacks one of: {MODULES}");
    }
    if !ok {
        eprintln!("SKIPPED python cross-check: run scripts/install-deps.sh");
    }
    ok
}

/// Runs the checker; returns (success, its report).
fn run(cases: &[Value]) -> (bool, String) {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn all_cases() -> Vec<Value> {
    let mut cases = crate::messages::python_cases();
    cases.extend(crate::evm::python_cases());
    cases.extend(crate::solana::python_cases());
    cases.extend(crate::near::python_cases());
    cases
}

#[test]
fn independent_python_implementations_accept_every_output() {
    if !python_ready() {
        return;
    }
    let cases = all_cases();
    let kinds: std::collections::BTreeSet<_> = cases
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "bip137",
            "btc_address",
            "eip191",
            "eip55",
            "eip712",
            "evm_tx",
            "near_message",
            "near_tx",
            "sol_address",
            "sol_message",
            "sol_tx"
        ]
    );
    let (ok, report) = run(&cases);
    assert!(ok, "python rejected some outputs:\n{report}");
    eprintln!("python: {}", report.trim());
}

/// The checker is not vacuous: one wrong byte in any case fails it.
#[test]
fn the_python_checker_rejects_tampered_outputs() {
    if !python_ready() {
        return;
    }
    let mut cases = all_cases();
    let n = cases.len();
    for c in &mut cases {
        let key = ["signature", "signed", "address"]
            .into_iter()
            .find(|k| c.get(*k).is_some())
            .unwrap();
        let s = c[key].as_str().unwrap().to_owned();
        // Change one character in the middle, keeping the alphabet (hex, base58, base64).
        let mut chars: Vec<char> = s.chars().collect();
        let i = chars.len() / 2;
        chars[i] = match chars[i] {
            '2' => '3',
            _ => '2',
        };
        c[key] = Value::String(chars.into_iter().collect());
    }
    let (ok, report) = run(&cases);
    assert!(!ok);
    assert!(
        report.contains(&format!("0 passed, {n} failed")),
        "every tampered case must fail:\n{report}"
    );
}
