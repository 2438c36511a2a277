use std::path::PathBuf;

use planbok_keystore::{KeystoreConfig, KeystoreError, TransitAddress};

#[derive(serde::Deserialize)]
struct NodeConfig {
    keystore: KeystoreConfig,
}

fn parse(toml_text: &str) -> Result<KeystoreConfig, toml::de::Error> {
    toml::from_str::<NodeConfig>(toml_text).map(|c| c.keystore)
}

#[test]
fn every_backend_reads_from_toml() {
    let pkcs11 = parse(
        r#"[keystore]
backend = "pkcs11"
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "node2"
pin_env = "PLANBOK_HSM_PIN"
key_label = "planbok-kek"
"#,
    )
    .unwrap();
    assert_eq!(
        pkcs11,
        KeystoreConfig::Pkcs11 {
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            token_label: "node2".into(),
            pin_env: "PLANBOK_HSM_PIN".into(),
            key_label: "planbok-kek".into(),
        }
    );
    let transit = parse(
        r#"[keystore]
backend = "transit"
address = "http://127.0.0.1:8200"
token_env = "BAO_TOKEN"
mount = "transit"
key_name = "node1"
"#,
    )
    .unwrap();
    assert!(matches!(transit, KeystoreConfig::Transit { ref mount, .. } if mount == "transit"));
    let sealed = parse(
        "[keystore]\nbackend = \"sealed\"\nstate_file = \"/var/lib/planbok/keystore.json\"\n",
    )
    .unwrap();
    assert!(matches!(sealed, KeystoreConfig::Sealed { .. }));
    let dev =
        parse("[keystore]\nbackend = \"dev\"\nkey_file = \"dev.key\"\nallow_dev = true\n").unwrap();
    assert!(matches!(
        dev,
        KeystoreConfig::Dev {
            allow_dev: true,
            ..
        }
    ));
    // allow_dev defaults to false: the dev backend is never on by accident.
    let dev = parse("[keystore]\nbackend = \"dev\"\nkey_file = \"dev.key\"\n").unwrap();
    assert!(matches!(
        dev,
        KeystoreConfig::Dev {
            allow_dev: false,
            ..
        }
    ));
}

#[test]
fn bad_configs_are_refused() {
    assert!(parse("[keystore]\nbackend = \"plaintext\"\n").is_err());
    assert!(parse("[keystore]\nbackend = \"sealed\"\n").is_err());
    assert!(
        parse("[keystore]\nbackend = \"sealed\"\nstate_file = \"s\"\npin = \"1234\"\n").is_err()
    );
}

/// Plain HTTP carries the token and every data key in the clear: allowed to loopback only,
/// and refused while the configuration is parsed. No refused address can reach `open`,
/// so nothing is ever sent to it (this test does no IO at all).
#[test]
fn transit_http_is_loopback_only() {
    for ok in [
        "http://127.0.0.1:8200",
        "http://127.0.0.1:8200/",
        "http://127.9.8.7:8200",
        "http://[::1]:8200",
        "http://[::ffff:127.0.0.1]:8200",
        "http://localhost:8200",
        "http://LOCALHOST:8200",
        "https://10.1.2.3:8200",
        "https://bao.internal:8200/prefix",
    ] {
        let a = TransitAddress::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(a.is_tls(), ok.starts_with("https://"), "{ok}");
        assert!(!a.as_str().ends_with('/'), "{a}");
    }
    for (bad, why) in [
        ("http://10.1.2.3:8200", "loopback"),
        ("http://192.168.1.10:8200", "loopback"),
        ("http://0.0.0.0:8200", "loopback"),
        ("http://[fe80::1]:8200", "loopback"),
        ("http://[::]:8200", "loopback"),
        ("http://bao.internal:8200", "loopback"),
        // Names that merely start like loopback are names, not loopback.
        ("http://127.0.0.1.nip.io:8200", "loopback"),
        ("http://localhost.attacker.example:8200", "loopback"),
        ("http://2130706433:8200", "loopback"),
        ("ftp://127.0.0.1:8200", "scheme"),
        ("127.0.0.1:8200", "scheme"),
        ("https://user:pw@bao.internal:8200", "credentials"),
        ("https://bao.internal:8200/?x=1", "query"),
        ("not a url", "URL"),
    ] {
        let e = TransitAddress::parse(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(
            matches!(&e, KeystoreError::Config(m) if m.contains(why)),
            "{bad}: {e}"
        );
    }
    // The same refusal when the node's configuration file is read.
    let e = parse(
        r#"[keystore]
backend = "transit"
address = "http://10.1.2.3:8200"
token_env = "BAO_TOKEN"
mount = "transit"
key_name = "node1"
"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("only to a loopback address"), "{e}");
    // TLS settings read from the file.
    let tls = parse(
        r#"[keystore]
backend = "transit"
address = "https://bao.internal:8200"
token_env = "BAO_TOKEN"
mount = "transit"
key_name = "node1"
ca_file = "/etc/planbok/bao-ca.pem"
client_cert = "/etc/planbok/node1-bao.pem"
client_key = "/etc/planbok/node1-bao.key"
"#,
    )
    .unwrap();
    assert!(matches!(
        tls,
        KeystoreConfig::Transit { ca_file: Some(ref ca), client_key: Some(_), .. }
            if ca == &PathBuf::from("/etc/planbok/bao-ca.pem")
    ));
}
