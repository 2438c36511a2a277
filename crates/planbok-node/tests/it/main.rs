//! In-process tests of the node library's pieces; the daemons themselves are tested as
//! real processes in `planbok-cli`'s `tests/it`.
#![expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]

use planbok_node::pki::{self, Ca};
use planbok_node::tls::role_of;
use planbok_node::{NodeConfig, config};
use planbok_proto::roles::Role;

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

#[test]
fn every_issued_certificate_names_exactly_its_role() {
    let ca = Ca::generate("t").unwrap();
    for role in [Role::Server, Role::Node1, Role::Node2, Role::Operator] {
        let leaf = ca.issue(role, &["localhost".into()]).unwrap();
        assert_eq!(role_of(&der(&leaf.cert_pem)).unwrap(), role);
        assert!(!format!("{leaf:?}").contains("PRIVATE"));
    }
    for (uris, why) in [
        (vec![], "no planbok role"),
        (vec!["planbok://root"], "unknown"),
        (vec!["planbok://node1", "planbok://node2"], "more than one"),
    ] {
        let leaf = ca.issue_with_uris("x", &uris, &[]).unwrap();
        let e = role_of(&der(&leaf.cert_pem)).unwrap_err();
        assert!(e.contains(why), "{e}");
    }
}

#[test]
fn pki_init_writes_private_keys_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    pki::init(dir.path(), &[]).unwrap();
    for role in ["server", "node1", "node2", "operator"] {
        let key = dir.path().join(format!("{role}.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{role}.key");
        }
        assert!(dir.path().join(format!("{role}.pem")).exists());
    }
    assert!(matches!(
        pki::init(dir.path(), &[]),
        Err(pki::PkiError::Exists(_))
    ));
}

#[test]
fn a_kept_ca_key_renews_leaves_that_chain_to_the_same_ca_and_keep_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let phrase = b"correct horse battery staple";
    let ca = pki::init(dir.path(), &["node1.internal".into(), "10.0.0.7".into()]).unwrap();
    assert!(matches!(
        pki::keep_ca_key(dir.path(), &ca, b"short"),
        Err(pki::PkiError::WeakPassphrase)
    ));
    pki::keep_ca_key(dir.path(), &ca, phrase).unwrap();
    let kept = std::fs::read_to_string(dir.path().join(pki::CA_KEY_FILE)).unwrap();
    assert!(
        kept.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{kept}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join(pki::CA_KEY_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    // Never overwritten.
    assert!(pki::keep_ca_key(dir.path(), &ca, phrase).is_err());

    // A wrong passphrase opens nothing and changes nothing.
    let before = std::fs::read(dir.path().join("node1.pem")).unwrap();
    assert!(matches!(
        pki::renew(dir.path(), Role::Node1, None, b"not the passphrase", 30),
        Err(pki::PkiError::WrongPassphrase(_))
    ));
    assert_eq!(std::fs::read(dir.path().join("node1.pem")).unwrap(), before);

    let renewed = pki::renew(dir.path(), Role::Node1, None, phrase, 30).unwrap();
    assert_ne!(std::fs::read(dir.path().join("node1.pem")).unwrap(), before);
    assert_eq!(
        renewed.names,
        ["node1.planbok", "node1.internal", "10.0.0.7"]
    );
    assert!(
        (29..=30).contains(&renewed.days_left()),
        "{}",
        renewed.days_left()
    );
    // The new leaf names its role and chains to the kept CA: rustls accepts it
    // for the role's name against the unchanged `ca.pem`.
    let cert = std::fs::read_to_string(dir.path().join("node1.pem")).unwrap();
    assert_eq!(role_of(&der(&cert)).unwrap(), Role::Node1);
    let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let roots = {
        let mut r = rustls::RootCertStore::empty();
        r.add(rustls::pki_types::CertificateDer::from(der(&ca_pem)))
            .unwrap();
        std::sync::Arc::new(r)
    };
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots,
        std::sync::Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    use rustls::client::danger::ServerCertVerifier as _;
    verifier
        .verify_server_cert(
            &rustls::pki_types::CertificateDer::from(der(&cert)),
            &[],
            &rustls::pki_types::ServerName::try_from("node1.planbok").unwrap(),
            &[],
            rustls::pki_types::UnixTime::now(),
        )
        .unwrap();
    // New names replace the old ones when given.
    let renamed = pki::renew(
        dir.path(),
        Role::Node1,
        Some(&["n1.example".into()]),
        phrase,
        30,
    )
    .unwrap();
    assert_eq!(renamed.names, ["node1.planbok", "n1.example"]);
    let shown = pki::show(dir.path()).unwrap();
    let names: Vec<&str> = shown.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ca", "server", "node1", "node2", "operator"]);
    assert!(shown[0].days_left() > 3000);

    // Another PKI's key is not this CA's key, whatever its passphrase.
    let other = tempfile::tempdir().unwrap();
    let ca2 = pki::init(other.path(), &[]).unwrap();
    pki::keep_ca_key(other.path(), &ca2, phrase).unwrap();
    std::fs::copy(
        other.path().join(pki::CA_KEY_FILE),
        dir.path().join(pki::CA_KEY_FILE),
    )
    .unwrap();
    assert!(matches!(
        pki::Ca::load(dir.path(), phrase),
        Err(pki::PkiError::WrongPassphrase(_))
    ));
    // A PKI made without a kept key says so.
    std::fs::remove_file(dir.path().join(pki::CA_KEY_FILE)).unwrap();
    assert!(matches!(
        pki::Ca::load(dir.path(), phrase),
        Err(pki::PkiError::NoCaKey(_))
    ));
}

const GOOD: &str = r#"
role = 1
listen = "127.0.0.1:7101"
database_url = "sqlite://node1.db"
grant_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[tls]
ca = "pki/ca.pem"
cert = "pki/node1.pem"
key = "pki/node1.key"
[peer]
address = "https://127.0.0.1:7102"
[keystore]
backend = "dev"
key_file = "node1.key"
allow_dev = true
"#;

/// What `planbok dev` and the test cluster do: build a [`NodeConfig`], serialize it, and
/// have the node read it back (every field, the transit keystore's address included).
#[test]
fn a_serialized_config_loads_back_as_built() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node1.toml");
    std::fs::write(&path, GOOD).unwrap();
    let mut built = NodeConfig::load(&path).unwrap();
    built.limits.round_timeout_ms = 1234;
    built.cggmp.insecure_pregenerated_primes = Some("primes.json".into());
    built.keystore = config::KeystoreConfig::Transit {
        address: "https://bao.internal:8200".parse().unwrap(),
        token_env: "T".into(),
        mount: "transit".into(),
        key_name: "k".into(),
        ca_file: Some("tls/ca.pem".into()),
        client_cert: None,
        client_key: None,
    };
    std::fs::write(&path, built.to_toml().unwrap()).unwrap();
    let read = NodeConfig::load(&path).unwrap();
    assert_eq!(read.role, built.role);
    assert_eq!(read.listen, built.listen);
    assert_eq!(read.database_url, built.database_url);
    assert_eq!(read.grant_public_key, built.grant_public_key);
    assert_eq!(read.tls.cert, built.tls.cert);
    let (peer, built_peer) = (read.peer.unwrap(), built.peer.unwrap());
    assert_eq!(
        (peer.address, peer.tls_name),
        (built_peer.address, built_peer.tls_name)
    );
    assert_eq!(read.limits.round_timeout_ms, 1234);
    assert_eq!(
        read.limits.max_concurrent_runs,
        built.limits.max_concurrent_runs
    );
    assert_eq!(
        read.cggmp.insecure_pregenerated_primes,
        Some(dir.path().join("primes.json"))
    );
    assert_eq!(
        read.keystore,
        config::KeystoreConfig::Transit {
            address: "https://bao.internal:8200".parse().unwrap(),
            token_env: "T".into(),
            mount: "transit".into(),
            key_name: "k".into(),
            ca_file: Some(dir.path().join("tls/ca.pem")),
            client_cert: None,
            client_key: None,
        }
    );
}

#[test]
fn config_resolves_relative_paths_and_checks_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node1.toml");
    std::fs::write(&path, GOOD).unwrap();
    let c = NodeConfig::load(&path).unwrap();
    assert_eq!(c.tls.ca, dir.path().join("pki/ca.pem"));
    assert_eq!(
        c.database_url,
        format!("sqlite://{}", dir.path().join("node1.db").display())
    );
    assert_eq!(c.peer.as_ref().unwrap().tls_name, "node2.planbok");
    assert_eq!(c.limits.max_concurrent_runs, 32);
    // The transit keystore's TLS files are relative to the config too.
    let transit = GOOD.replace(
        "backend = \"dev\"\nkey_file = \"node1.key\"\nallow_dev = true\n",
        "backend = \"transit\"\naddress = \"https://bao.internal:8200\"\ntoken_env = \"T\"\n\
         mount = \"transit\"\nkey_name = \"k\"\nca_file = \"tls/ca.pem\"\n\
         client_cert = \"tls/c.pem\"\nclient_key = \"/abs/c.key\"\n",
    );
    std::fs::write(&path, &transit).unwrap();
    match NodeConfig::load(&path).unwrap().keystore {
        planbok_keystore::KeystoreConfig::Transit {
            ca_file,
            client_cert,
            client_key,
            ..
        } => {
            assert_eq!(ca_file.unwrap(), dir.path().join("tls/ca.pem"));
            assert_eq!(client_cert.unwrap(), dir.path().join("tls/c.pem"));
            assert_eq!(client_key.unwrap(), std::path::PathBuf::from("/abs/c.key"));
        }
        other => panic!("{other:?}"),
    }

    for (edit, why) in [
        (GOOD.replace("role = 1", "role = 3"), "role must be 1 or 2"),
        (
            GOOD.replace("[peer]\naddress = \"https://127.0.0.1:7102\"\n", ""),
            "needs a [peer]",
        ),
        (GOOD.replace("d75a98", "zz5a98"), "64 hex"),
        (
            GOOD.replace("role = 1", "role = 1\nbogus = 2"),
            "unknown field",
        ),
    ] {
        std::fs::write(&path, edit).unwrap();
        let e = NodeConfig::load(&path).unwrap_err();
        assert!(matches!(e, config::ConfigError::Invalid { .. }));
        assert!(e.to_string().contains(why), "{e}");
    }
}
