//! Re-running one test in a child process whose environment is set from the start.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` at `C_Initialize`, and the keystore reads PINs and tokens
//! from the environment, but `std::env::set_var` is unsafe (forbidden here). So the parent
//! prepares the service, then re-executes this test binary for exactly one test with the
//! variables set; the child sees the marker and runs the real body.

use std::ffi::OsStr;
use std::process::Command;

const MARKER: &str = "PLANBOK_KEYSTORE_TEST_CHILD";

/// True in the re-executed child.
pub fn in_child() -> bool {
    std::env::var_os(MARKER).is_some()
}

/// Runs test `name` (its full path, e.g. `pkcs11::pkcs11_backend`) in a child with `envs`,
/// and fails unless exactly that one test ran and passed.
pub fn run_in_child(name: &str, envs: &[(&str, &OsStr)]) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(MARKER, "1")
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- child {name} stdout ---\n{stdout}\n--- child stderr ---\n{stderr}");
    assert!(out.status.success(), "child test {name} failed");
    // A filter that matches nothing also exits 0: make sure the test really ran.
    assert!(stdout.contains("1 passed"), "child did not run {name}");
}
