//! Blobs written by format version 1 must keep opening. The fixtures were made by this test
//! with `PLANBOK_WRITE_KEYSTORE_FIXTURES=1`; never regenerate them to make a change pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use planbok_keystore::{Keystore, KeystoreConfig, SealStatus, UnsealKey};

const PLAINTEXT: &[u8] = b"planbok keystore fixture v1";
const KEY_ID: &str = "fixture/key-1";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Git does not keep mode 0600, so the dev key is copied to a private temp file first.
fn private_copy(from: &Path, dir: &Path) -> PathBuf {
    let to = dir.join("dev.key");
    std::fs::write(&to, std::fs::read(from).unwrap()).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    to
}

#[test]
fn version_1_blobs_still_open() {
    let dir = fixtures();
    if std::env::var_os("PLANBOK_WRITE_KEYSTORE_FIXTURES").is_some() {
        write(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();

    let dev = Keystore::open(
        &KeystoreConfig::Dev {
            key_file: private_copy(&dir.join("dev-v1.key"), tmp.path()),
            allow_dev: true,
        },
        1,
    )
    .unwrap();
    let blob = std::fs::read(dir.join("dev-v1.blob")).unwrap();
    assert_eq!(&dev.open_blob(KEY_ID, &blob).unwrap()[..], PLAINTEXT);

    let state = tmp.path().join("sealed.json");
    std::fs::copy(dir.join("sealed-v1.json"), &state).unwrap();
    let sealed = Keystore::open(&KeystoreConfig::Sealed { state_file: state }, 2).unwrap();
    let keys = std::fs::read_to_string(dir.join("sealed-v1.keys")).unwrap();
    for line in keys.lines() {
        sealed.unseal(&UnsealKey::parse(line).unwrap()).unwrap();
    }
    assert_eq!(sealed.status(), SealStatus::Unsealed);
    let blob = std::fs::read(dir.join("sealed-v1.blob")).unwrap();
    assert_eq!(&sealed.open_blob(KEY_ID, &blob).unwrap()[..], PLAINTEXT);
}

fn write(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["dev-v1.key", "sealed-v1.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("dev.key");
    let dev = Keystore::open(
        &KeystoreConfig::Dev {
            key_file: key_file.clone(),
            allow_dev: true,
        },
        1,
    )
    .unwrap();
    std::fs::copy(&key_file, dir.join("dev-v1.key")).unwrap();
    std::fs::write(
        dir.join("dev-v1.blob"),
        dev.seal_blob(KEY_ID, PLAINTEXT).unwrap(),
    )
    .unwrap();

    let state = dir.join("sealed-v1.json");
    let sealed = Keystore::open(&KeystoreConfig::Sealed { state_file: state }, 2).unwrap();
    let keys = sealed.init(3, 2).unwrap();
    let text: Vec<String> = [&keys[2], &keys[0]]
        .iter()
        .map(|k| k.to_text().to_string())
        .collect();
    std::fs::write(dir.join("sealed-v1.keys"), text.join("\n") + "\n").unwrap();
    for key in &keys[..2] {
        sealed.unseal(key).unwrap();
    }
    std::fs::write(
        dir.join("sealed-v1.blob"),
        sealed.seal_blob(KEY_ID, PLAINTEXT).unwrap(),
    )
    .unwrap();
}
