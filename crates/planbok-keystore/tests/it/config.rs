use std::path::PathBuf;

use planbok_keystore::KeystoreConfig;

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
