//! Cross-checks with Python's `eth-account` (recovers the address from an EIP-191
//! signature) and `PyNaCl` (libsodium ed25519). CI sets PLANBOK_REQUIRE_PYTHON=1 and
//! installs both; elsewhere the test says it skipped when they are missing.

use std::process::Command;
use std::sync::Arc;

use planbok_mpc::{DerivationPath, cggmp, dkls, frost};

use crate::harness::{run, sid};
use crate::verify;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/verify.py");

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import eth_account, nacl"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok && std::env::var("PLANBOK_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
        panic!("PLANBOK_REQUIRE_PYTHON=1 but python3 with eth-account and PyNaCl is missing");
    }
    if !ok {
        eprintln!("SKIPPED python cross-check: pip install eth-account pynacl");
    }
    ok
}

#[test]
fn python_eth_account_and_pynacl_accept_our_signatures() {
    if !python_ready() {
        return;
    }
    let msg = "planbok says hi";
    let digest = verify::eip191(msg.as_bytes());
    let path: DerivationPath = "m/44/60/0/0".parse().unwrap();
    let mut cases = Vec::new();

    let (da, db) = crate::dkls::keypair();
    let (da, db) = (Arc::new(da), Arc::new(db));
    let s = sid();
    let (sig, _) = run(
        dkls::sign(s, da.clone(), &path, digest).unwrap(),
        dkls::sign(s, db, &path, digest).unwrap(),
    )
    .unwrap();
    cases.push((
        "eth",
        verify::eth_address(&da.derive_public_key(&path).unwrap()),
        sig,
    ));

    let (x0, x1) = crate::cggmp::aux();
    let (ca, cb) = crate::cggmp::keypair();
    let s = sid();
    let (sig, _) = run(
        cggmp::sign(s, &ca, x0, &path, digest).unwrap(),
        cggmp::sign(s, &cb, x1, &path, digest).unwrap(),
    )
    .unwrap();
    cases.push((
        "eth",
        verify::eth_address(&ca.derive_public_key(&path).unwrap()),
        sig,
    ));

    for (kind, address, sig) in cases {
        let mut rsv = sig.to_rsv();
        rsv[64] += 27;
        let out = Command::new("python3")
            .args([SCRIPT, kind, msg, &hex::encode(rsv), &address])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "eth-account rejected: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let (fa, fb) = crate::frost::keypair();
    let (fa, fb) = (Arc::new(fa), Arc::new(fb));
    let s = sid();
    let (sig, _) = run(
        frost::sign(s, fa.clone(), msg.as_bytes()).unwrap(),
        frost::sign(s, fb, msg.as_bytes()).unwrap(),
    )
    .unwrap();
    let out = Command::new("python3")
        .args([
            SCRIPT,
            "ed25519",
            msg,
            &hex::encode(sig.0),
            &hex::encode(fa.public_key().to_bytes()),
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "PyNaCl rejected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
