//! The keystore section of a node's configuration file.

use std::path::PathBuf;

use serde::Deserialize;

/// Which backend holds the key-encryption key, read from the node's TOML configuration:
///
/// ```toml
/// [keystore]
/// backend = "pkcs11"
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "planbok-node2"
/// pin_env = "PLANBOK_HSM_PIN"
/// key_label = "planbok-kek"
/// ```
///
/// Secrets (the PIN, the OpenBao token) are never in the file: it names the environment
/// variable that holds them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeystoreConfig {
    /// A PKCS#11 token (HSM, SoftHSM2): the KEK is a non-extractable AES-256 token object.
    Pkcs11 {
        /// Path of the PKCS#11 module (`.so`).
        module: PathBuf,
        /// Label of the token to use.
        token_label: String,
        /// Name of the environment variable holding the user PIN.
        pin_env: String,
        /// Label of the KEK object; created if missing.
        key_label: String,
    },
    /// An OpenBao or Vault transit key.
    Transit {
        /// Server address, e.g. `http://127.0.0.1:8200`.
        address: String,
        /// Name of the environment variable holding the token.
        token_env: String,
        /// Mount path of the transit engine, usually `transit`.
        mount: String,
        /// Name of the transit key; created if missing.
        key_name: String,
    },
    /// A master key split among operators with Shamir's scheme; the node starts sealed.
    Sealed {
        /// Where the split parameters and check values are stored.
        state_file: PathBuf,
    },
    /// A key in a plain file. Development only; refused unless `allow_dev = true`.
    Dev {
        /// The key file (created with mode 0600 if missing).
        key_file: PathBuf,
        /// Must be `true`: using the dev backend is a deliberate choice.
        #[serde(default)]
        allow_dev: bool,
    },
}
