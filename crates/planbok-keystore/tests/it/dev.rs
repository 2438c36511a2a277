use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use planbok_keystore::{Keystore, KeystoreConfig, KeystoreError, SealStatus};

use crate::suite;

pub fn dev_config(key_file: &Path) -> KeystoreConfig {
    KeystoreConfig::Dev {
        key_file: key_file.to_owned(),
        allow_dev: true,
    }
}

/// An unsealed dev keystore in `dir`, used as "another backend" by the other suites.
pub fn dev_keystore(dir: &Path) -> Keystore {
    Keystore::open(&dev_config(&dir.join("dev.key")), 1).unwrap()
}

#[test]
fn dev_refuses_without_allow_dev() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dev.key");
    let config = KeystoreConfig::Dev {
        key_file: key_file.clone(),
        allow_dev: false,
    };
    assert!(matches!(
        Keystore::open(&config, 1),
        Err(KeystoreError::DevNotAllowed)
    ));
    assert!(
        !key_file.exists(),
        "a refused dev keystore must not create its key file"
    );
}

#[test]
fn dev_backend() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dev.key");
    let ks = Keystore::open(&dev_config(&key_file), 1).unwrap();
    let meta = std::fs::metadata(&key_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let key = std::fs::read(&key_file).unwrap();

    let ks2 = Keystore::open(&dev_config(&key_file), 2).unwrap();
    let other = crate::sealed::unsealed_keystore(dir.path());
    // The file's bytes, and the KEK derived from them that the keystore actually holds.
    let kek = suite::derived_kek(&key, b"planbok keystore dev kek v1");
    suite::run(&ks, &ks2, &other, &[&key, &kek]);

    assert_eq!(ks.backend_name(), "dev");
    assert_eq!(ks.status(), SealStatus::Unsealed);
    assert!(matches!(ks.seal(), Err(KeystoreError::Unsupported { .. })));
    assert!(matches!(
        ks.init(3, 2),
        Err(KeystoreError::Unsupported { .. })
    ));

    // Reopening reads the same key, so earlier blobs still open.
    let blob = ks.seal_blob("k", b"kept").unwrap();
    drop(ks);
    let again = Keystore::open(&dev_config(&key_file), 1).unwrap();
    assert_eq!(&again.open_blob("k", &blob).unwrap()[..], b"kept");
    assert_eq!(std::fs::read(&key_file).unwrap(), key);

    // A key file others can read is refused.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Keystore::open(&dev_config(&key_file), 1),
        Err(KeystoreError::Config(_))
    ));
}

#[test]
fn bad_role_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for role in [0, 3, 255] {
        let r = Keystore::open(&dev_config(&dir.path().join("dev.key")), role);
        assert!(matches!(r, Err(KeystoreError::Config(_))), "role {role}");
    }
}
