//! ARCHITECTURE.md's invariants that a test can check by reading the tree: each test names
//! the invariant it keeps. A failure lists every offender with the rule and the fix.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Files over this many lines need an entry in [`LONG_FILES`] (STYLE.md 12: "when a file
/// passes ~600 lines, it is usually two files").
const MAX_LINES: usize = 600;

/// Files allowed past [`MAX_LINES`], each with its reason, and the grab-bag files issue 18
/// names, whatever their length, until they are split. An entry whose file is gone, or has
/// shrunk under the limit without being a grab-bag, fails the test: the list only shrinks.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/planbok-server/src/policy.rs",
        "the RBAC table is one rule per route, read as one table; the middleware is ~150 lines (split the table into policy/table.rs when it grows again)",
    ),
    (
        "crates/planbok-store/src/server/webhooks.rs",
        "to be split: the outbox and fan-out, endpoints, and the leased delivery claims are three seams",
    ),
    (
        "crates/planbok-cli/tests/it/webhooks.rs",
        "the webhook drills share one receiver and stack; to be split by concern (signatures, retries, kill -9, SSRF)",
    ),
    (
        "crates/planbok-cli/tests/it/deploy.rs",
        "the expected flow matrices of both overlays are data, written out in full on purpose",
    ),
    (
        "crates/planbok-mpc/src/dkls.rs",
        "one engine per DKLs23 step with its routing-field checks; the steps share the share types",
    ),
    (
        "crates/planbok-api/src/model.rs",
        "every request and response body of the REST contract; to be split by resource with the OpenAPI work (issue 18, item 5)",
    ),
    (
        "crates/planbok-cli/src/bench.rs",
        "the load generator's setup, mix and client threads; its report is already its own file",
    ),
    (
        "crates/planbok-cli/tests/it/api_access.rs",
        "test module: independent cases of one area (access control)",
    ),
    (
        "crates/planbok-cli/tests/it/api_edge.rs",
        "test module: independent cases of one area (the server's edge)",
    ),
    (
        "crates/planbok-cli/tests/it/custody.rs",
        "test module: independent cases of one area (custody drills)",
    ),
    (
        "crates/planbok-cli/tests/it/drills.rs",
        "test module: independent cases of one area (fault drills)",
    ),
    (
        "crates/planbok-store/tests/it/server_access.rs",
        "test module: one backend-generic suite (members, keys, allowlists)",
    ),
    (
        "crates/planbok-store/tests/it/node_cases.rs",
        "test module: one backend-generic suite (the node store)",
    ),
];

/// Layering rules: no crate named on the right may be in the normal (linked, non-dev)
/// dependency closure of the crate on the left.
const IO: &[&str] = &["tokio", "sqlx", "tonic", "hyper", "axum", "ureq", "mio"];
const SHARES: &[&str] = &["planbok-mpc", "planbok-keystore"];
/// Any planbok crate other than the one checked (`planbok-types` is a leaf).
const ANY_OTHER_PLANBOK: &str = "planbok-*";

fn layering() -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    vec![
        (
            "planbok-server",
            SHARES.to_vec(),
            "invariant 19: the server holds no share",
        ),
        (
            "planbok-server",
            vec!["planbok-export"],
            "invariant 17: no full key on any server, the reconstruction is the client's",
        ),
        (
            "planbok-mpc",
            IO.to_vec(),
            "invariant 1: planbok-mpc does no IO",
        ),
        (
            "planbok-export",
            [&[ANY_OTHER_PLANBOK, "cggmp21", "paillier-zk", "rug"], IO].concat(),
            "codemap: the export's client side builds for WebAssembly: no engine, no GMP, no IO",
        ),
        // Only what no feature of planbok-sdk brings: `cargo metadata` resolves features for
        // the whole workspace, so the CLI's `client` (ureq) and the Gateway's `export` show
        // up here although this crate turns both off; its wasm32 build (`.ci/run`) is what
        // keeps its IO out.
        (
            "planbok-sdk-wasm",
            [SHARES, &["cggmp21", "rug"]].concat(),
            "codemap: the TypeScript SDK's module builds for WebAssembly: no shares, no engine, no GMP",
        ),
        (
            "planbok-chains",
            [SHARES, IO].concat(),
            "codemap: pure chain logic, no IO, no shares",
        ),
        (
            "planbok-api",
            IO.to_vec(),
            "codemap: the REST contract, no IO",
        ),
        (
            "planbok-types",
            [&[ANY_OTHER_PLANBOK], IO].concat(),
            "codemap: the domain vocabulary, a leaf with no IO",
        ),
        (
            "planbok-envelope",
            IO.to_vec(),
            "codemap: the secret envelope, no IO",
        ),
        (
            "planbok-cli",
            vec!["planbok-testkit"],
            "codemap: the production binary links no test harness",
        ),
        (
            "planbok-drivers",
            vec![
                "planbok-node",
                "planbok-server",
                "planbok-store",
                "planbok-keystore",
            ],
            "codemap: the in-process drivers need the engine only",
        ),
    ]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Every `.rs` file under `crates/`, as (path relative to the root with `/`, text).
fn rust_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut paths = Vec::new();
    walk(&root.join("crates"), &mut paths);
    paths.sort();
    let files: Vec<_> = paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    assert!(files.len() > 100, "found only {} .rs files", files.len());
    files
}

fn fail_if_any(offenders: &[String], rule: &str) {
    assert!(
        offenders.is_empty(),
        "{rule}\n{} offender(s):\n  {}",
        offenders.len(),
        offenders.join("\n  ")
    );
}

/// Invariant 19 and the codemap's "no IO" crates, from `cargo metadata`'s resolved graph.
#[test]
fn layering_of_linked_dependencies() {
    // Resolved for this host only: other platforms' crates (Windows, Android) need not be
    // downloaded, and the layering rules do not depend on the platform.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", host])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // id → ids of its normal dependencies (a `null` kind; dev and build ones are not linked).
    let normal: BTreeMap<&str, Vec<&str>> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), deps)
        })
        .collect();
    let closure = |krate: &str| -> BTreeSet<&str> {
        let start = names
            .iter()
            .find(|(_, n)| **n == krate)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            if seen.insert(id) {
                todo.extend(normal[id].iter().copied());
            }
        }
        seen.into_iter().map(|id| names[id]).collect()
    };

    let mut offenders = Vec::new();
    for (krate, banned, why) in layering() {
        let linked = closure(krate);
        assert!(linked.len() > 1, "{krate} has no dependencies?");
        for b in banned {
            let hits: Vec<&str> = if b == ANY_OTHER_PLANBOK {
                let other = |n: &&str| n.starts_with("planbok-") && *n != krate;
                linked.iter().copied().filter(other).collect()
            } else {
                linked.iter().copied().filter(|n| *n == b).collect()
            };
            for hit in hits {
                offenders.push(format!("{krate} links {hit} ({why})"));
            }
        }
    }
    fail_if_any(
        &offenders,
        "a crate links what ARCHITECTURE.md says it must not (`cargo tree -e normal -i <crate>` shows the path)",
    );
}

/// Invariant 16: errors become gRPC statuses only in `planbok-node/src/error.rs`.
#[test]
fn grpc_statuses_are_built_only_in_the_node_error_module() {
    let mut offenders = Vec::new();
    for (path, text) in rust_files() {
        if !path.starts_with("crates/planbok-node/src/")
            || path == "crates/planbok-node/src/error.rs"
        {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if builds_status(line) {
                offenders.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    fail_if_any(
        &offenders,
        "a gRPC status is built outside planbok-node/src/error.rs: return a NodeError and let `From<NodeError> for Status` build it",
    );
}

/// `Status::<constructor>(` (not `SealStatus::…` or `NodeStatus`), or the proto crate's
/// `codes::status(` builder.
fn builds_status(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    if code.contains("codes::status(") {
        return true;
    }
    code.match_indices("Status::").any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + "Status::".len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && after.is_some_and(|c| c.is_ascii_lowercase())
    })
}

/// The wall clock is read in one `clock.rs` per crate (clippy's `disallowed-methods` in
/// `clippy.toml` refuses it elsewhere; this catches an `#[allow]` around it).
#[test]
fn the_wall_clock_is_read_only_in_clock_modules() {
    let mut offenders = Vec::new();
    for (path, text) in rust_files() {
        if path.ends_with("/clock.rs") || path.ends_with("planbok-tidy/tests/tidy.rs") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if line.contains(concat!("SystemTime", "::now")) {
                offenders.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    fail_if_any(
        &offenders,
        "the wall clock is read outside a clock module: call the crate's clock::now_ms()",
    );
}

/// STYLE.md 12: small files with one job.
#[test]
fn no_file_is_long_without_a_reason() {
    let files: BTreeMap<String, usize> = rust_files()
        .into_iter()
        .map(|(p, t)| (p, t.lines().count()))
        .collect();
    let listed: BTreeMap<&str, &str> = LONG_FILES.iter().copied().collect();
    let mut offenders = Vec::new();
    for (path, lines) in &files {
        if *lines > MAX_LINES && !listed.contains_key(path.as_str()) {
            offenders.push(format!(
                "{path}: {lines} lines; split it, or add it to LONG_FILES with the reason"
            ));
        }
    }
    for (path, reason) in &listed {
        match files.get(*path) {
            None => offenders.push(format!("{path}: listed in LONG_FILES but gone; remove it")),
            Some(lines) if *lines <= MAX_LINES && !reason.starts_with("grab-bag") => {
                offenders.push(format!(
                    "{path}: {lines} lines, under the limit; remove it from LONG_FILES"
                ));
            }
            Some(_) => {}
        }
        assert!(!reason.is_empty(), "{path}: an entry needs a reason");
    }
    fail_if_any(&offenders, "file length (tests/tidy.rs, LONG_FILES)");
}

/// Every lint suppression says why: `#[allow(…, reason = "…")]` or, better, `#[expect(…)]`
/// with one, which also fails once the lint no longer fires.
#[test]
fn every_lint_suppression_carries_a_reason() {
    let mut offenders = Vec::new();
    for (path, text) in rust_files() {
        if path.ends_with("planbok-tidy/tests/tidy.rs") {
            continue;
        }
        for opener in [
            concat!("#[", "allow("),
            concat!("#![", "allow("),
            concat!("#[", "expect("),
            concat!("#![", "expect("),
        ] {
            for (start, _) in text.match_indices(opener) {
                let attr = attribute_at(&text[start..]);
                if !attr.contains("reason") {
                    let line = text[..start].matches('\n').count() + 1;
                    offenders.push(format!("{path}:{line}: {}", attr.replace('\n', " ")));
                }
            }
        }
    }
    fail_if_any(
        &offenders,
        "a lint is suppressed without a reason: add `reason = \"…\"` (prefer #[expect])",
    );
}

/// The attribute starting at `text`, up to its balanced closing `]`.
fn attribute_at(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}
