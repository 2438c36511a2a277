//! The Gateway page in a real browser: `planbok dev` runs the stack, and
//! `tests/py/gateway_browser.py` drives Debian's Chromium through Playwright as an end
//! user would (labelled fields, named buttons): PIN setup with the security questions,
//! wallet creation, message and EIP-712 signatures (verified by eth-account), wrong PINs
//! and the lockout, reset through the questions and through an emailed code (a real SMTP
//! relay), update PIN, declining, PINs set by the native client opened in the browser and
//! the other way round, and an export (the CSV downloaded, its EVM and ed25519 keys
//! checked with eth-account and PyNaCl). It also checks the
//! security headers of every Gateway response, that the page requests nothing off its
//! origin and logs no error. The screenshots in `docs/gateway/` are its output
//! (`PLANBOK_SCREENSHOTS=docs/gateway`).

use std::process::Command;

use crate::api_dev::{interrupt_and_wait, start_with};
use crate::common::{bin, free_port, free_port_pair};
use crate::rest::python_has;

/// Whether Chromium is installed; in CI (PLANBOK_REQUIRE_BROWSER=1) it must be.
fn chromium_ready() -> bool {
    let ok = std::path::Path::new("/usr/bin/chromium").exists();
    if !ok {
        assert!(
            std::env::var("PLANBOK_REQUIRE_BROWSER").is_err(),
            "PLANBOK_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (scripts/install-deps.sh)"
        );
        eprintln!("SKIPPED the Gateway browser test: no /usr/bin/chromium");
    }
    ok
}

#[test]
fn the_gateway_page_works_end_to_end_in_chromium() {
    if !chromium_ready() || !python_has("playwright, eth_account, nacl", "the Gateway browser test")
    {
        return;
    }
    let Some(relay) = crate::smtp::SmtpRelay::start() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (port, node_port, gateway_port) = (free_port(), free_port_pair(), free_port());
    let (child, key) = start_with(
        data.path(),
        port,
        node_port,
        &[
            "--gateway-port",
            &gateway_port.to_string(),
            "--smtp",
            &format!("127.0.0.1:{}", relay.port),
        ],
    );
    let node_key = std::fs::read_to_string(data.path().join("node1-identity.pub")).unwrap();
    let shots = std::env::var("PLANBOK_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| data.path().join("screenshots"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/gateway_browser.py");
    let out = Command::new("python3")
        .arg(script)
        .env("PLANBOK_URL", format!("http://127.0.0.1:{port}"))
        .env("PLANBOK_API_KEY", &key)
        .env(
            "PLANBOK_GATEWAY",
            format!("http://127.0.0.1:{gateway_port}"),
        )
        .env("PLANBOK_BIN", bin())
        .env("PLANBOK_NODE_KEY", node_key.trim())
        .env("PLANBOK_SCREENSHOTS", &shots)
        .env("PLANBOK_MAILDIR", relay.dir())
        .output()
        .unwrap();
    interrupt_and_wait(child);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("gateway browser test: ok"), "{text}");
    // One screenshot per state the test visits.
    let pngs = std::fs::read_dir(&shots).unwrap().count();
    assert!(pngs >= 16, "{pngs} screenshots in {}", shots.display());
}
