//! `@planbok/sdk` (sdk-js/): its unit tests and its end-to-end test run by `npm test` against
//! a real `planbok dev`, so that `cargo test --workspace` covers the TypeScript SDK too. The
//! e2e test signs with the SDK's viem account and verifies with viem, receives real webhook
//! deliveries and verifies them, creates a customer and a challenge, runs a trustless
//! organization whose secret the SDK's WebAssembly module seals (every ciphertext bound,
//! the organization key checked against Node 1's identity key), and checks the committed
//! OpenAPI snapshot against `GET /v2/openapi.json`.
//!
//! Skipped (with a note) without node, npm or sdk-js/node_modules (`scripts/install-deps.sh`
//! installs them), unless PLANBOK_REQUIRE_NODE is set, as CI does: then that is a failure.

use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk-js")
        .canonicalize()
        .unwrap()
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why the SDK's tests cannot run here, if they cannot.
fn missing(sdk: &Path) -> Option<String> {
    if !runs("node") || !runs("npm") {
        return Some("node or npm is not installed".into());
    }
    if !sdk.join("node_modules/.package-lock.json").is_file() {
        return Some(format!(
            "{}/node_modules is missing: run scripts/install-deps.sh (npm ci)",
            sdk.display()
        ));
    }
    None
}

#[test]
fn the_typescript_sdk_passes_its_unit_and_end_to_end_tests_against_planbok_dev() {
    let sdk = sdk_dir();
    if let Some(why) = missing(&sdk) {
        assert!(
            std::env::var_os("PLANBOK_REQUIRE_NODE").is_none(),
            "PLANBOK_REQUIRE_NODE is set but the SDK's tests cannot run: {why}"
        );
        eprintln!("SKIPPED: sdk-js tests: {why}");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data)
        .unwrap();
    let port = crate::common::free_port();
    let node_port = crate::common::free_port_pair();
    let (child, key) = crate::api_dev::start_with(&data, port, node_port, &[]);

    // Node 1's identity key (what `planbok dev` prints) and the operator token, for the
    // trustless organization the e2e test creates.
    let node_key = std::fs::read_to_string(data.join("node1-identity.pub")).unwrap();
    let operator_token = std::fs::read_to_string(data.join("operator.token")).unwrap();

    // npm's output goes to files (no pipe to fill up); shown whole on failure. The keys are
    // passed in the environment only: nothing here prints them.
    let log = root.path().join("npm-test.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut npm = Command::new("npm")
        .arg("test")
        .current_dir(sdk)
        .env("PLANBOK_URL", format!("http://127.0.0.1:{port}"))
        .env("PLANBOK_API_KEY", &key)
        .env("PLANBOK_NODE_KEY", node_key.trim())
        .env("PLANBOK_OPERATOR_TOKEN", operator_token.trim())
        .env("PLANBOK_REQUIRE_E2E", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        // Its own process group: a timeout ends npm and everything it started.
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut timed_out = false;
    while npm.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            timed_out = true;
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", npm.id())])
                .status();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = npm.wait().unwrap();
    crate::api_dev::interrupt_and_wait(child);

    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let server = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = server.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert!(
        !timed_out,
        "npm test did not finish within 10 minutes\n{out}\n--- server.log (tail)\n{tail}"
    );
    assert!(
        status.success(),
        "npm test failed ({status})\n{out}\n--- server.log (tail)\n{tail}"
    );
    // The e2e suite ran, and nothing was skipped.
    assert!(out.contains("e2e against planbok"), "{out}");
    assert!(
        out.contains("viem's verifyMessage") && out.contains("viem's verifyTypedData"),
        "{out}"
    );
    assert!(
        out.contains("sealed by the WebAssembly module") && out.contains("customers: one created"),
        "{out}"
    );
    assert!(!out.contains("# SKIP"), "a test was skipped:\n{out}");
    assert!(!out.contains(&key), "the API key was printed");
    assert!(
        !out.contains(operator_token.trim()),
        "the operator token was printed"
    );
}
