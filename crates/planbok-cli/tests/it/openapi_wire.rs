//! The OpenAPI document is the wire: schemathesis (PyPI), a property-based API tester,
//! generates requests from `GET /v2/openapi.json` and runs every check it has against a
//! real `planbok dev` with an owner key: no server error, every status and response body as
//! documented, every schema-valid request accepted (400 means "not what the schema says"),
//! every schema-violating one refused, authentication enforced. A fixed seed and bounded
//! examples (`tests/st/schemathesis.toml`); any finding fails the test.
//!
//! Two runs: every operation with the stateful phase (which follows ids from answers), then
//! the three that could revoke the run's own key or member, without it.
//!
//! Skipped (with a note) without schemathesis, unless PLANBOK_REQUIRE_PYTHON is set, as CI
//! does: then that is a failure. `scripts/install-deps.sh` installs the pinned version.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pinned schemathesis (`scripts/install-deps.sh`).
const VERSION: &str = "4.32.5";

fn st_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/st")
}

/// Why schemathesis cannot run here, if it cannot.
fn missing() -> Option<String> {
    let out = Command::new("st")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).to_string();
            (!v.contains(VERSION)).then(|| format!("schemathesis {VERSION} is wanted, found {v}"))
        }
        _ => Some("schemathesis (`st`) is not installed".into()),
    }
}

/// One `st run` against `url` with `args`; its output, and whether it passed.
fn st_run(url: &str, key: &str, work: &Path, args: &[&str]) -> (bool, String) {
    let st = st_dir();
    let out = Command::new("st")
        .arg("--no-color")
        .arg("--config-file")
        .arg(st.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{url}/v2/openapi.json"))
        .args(["--checks", "all"])
        .args(args)
        .current_dir(work)
        .env("PLANBOK_API_KEY", key)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &st)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn schemathesis_finds_nothing_the_openapi_document_does_not_say() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("PLANBOK_REQUIRE_PYTHON").is_none(),
            "PLANBOK_REQUIRE_PYTHON is set but schemathesis cannot run: {why}"
        );
        eprintln!("SKIPPED: schemathesis: {why}");
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
    // Authentication checks send hundreds of requests without a valid key from one
    // address: the dev server's budget for those (100 a minute) would answer 429 to the
    // rest. Raised in its server.toml, then started again.
    let (child, _) = crate::api_dev::start_with(&data, port, node_port, &[]);
    crate::api_dev::interrupt_and_wait(child);
    let config = data.join("server.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let auth = "[rate_limits.authentication.per_ip]\ncount = 100\n";
    assert!(text.contains(auth), "{text}");
    std::fs::write(
        &config,
        text.replace(
            auth,
            "[rate_limits.authentication.per_ip]\ncount = 1000000\n",
        ),
    )
    .unwrap();
    let (child, key) = crate::api_dev::start_with(&data, port, node_port, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let credentials = r"^/v2/organization/(api-keys|members)/\{id\}$";
    let runs = [
        st_run(
            &url,
            &key,
            root.path(),
            &["--exclude-path-regex", credentials],
        ),
        st_run(
            &url,
            &key,
            root.path(),
            &[
                "--include-path-regex",
                credentials,
                "--phases",
                "examples,coverage,fuzzing",
            ],
        ),
    ];
    crate::api_dev::interrupt_and_wait(child);
    for (passed, out) in &runs {
        assert!(!out.contains(&key), "the API key was printed");
        assert!(*passed, "schemathesis found something:\n{out}");
        // It ran: operations were selected and cases generated.
        assert!(out.contains("generated"), "{out}");
    }
    // Every operation of the document, in one run or the other.
    let total = planbok_sdk::api::openapi::routes().len();
    let selected = |n: usize| format!("Selected: {n}/{total}");
    assert!(runs[0].1.contains(&selected(total - 3)), "{}", runs[0].1);
    assert!(runs[1].1.contains(&selected(3)), "{}", runs[1].1);
}
