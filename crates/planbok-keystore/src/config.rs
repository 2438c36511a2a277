//! The keystore section of a node's configuration file.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::KeystoreError;

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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
        /// Server address: `https://…`, or `http://` to a loopback address only
        /// (checked when the file is read, before anything is sent).
        address: TransitAddress,
        /// Name of the environment variable holding the token.
        token_env: String,
        /// Mount path of the transit engine, usually `transit`.
        mount: String,
        /// Name of the transit key; created if missing.
        key_name: String,
        /// PEM file with the CA certificate(s) that sign the server's certificate. Required
        /// with `https://` (only these roots are trusted); refused with `http://`.
        #[serde(default)]
        ca_file: Option<PathBuf>,
        /// PEM client certificate chain, for servers that require client certificates
        /// (`tls_require_and_verify_client_cert`). Needs `client_key`.
        #[serde(default)]
        client_cert: Option<PathBuf>,
        /// PEM private key of `client_cert` (should be mode 0600).
        #[serde(default)]
        client_key: Option<PathBuf>,
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

/// The address of an OpenBao/Vault server, parsed: `https://host[:port][/prefix]`, or
/// `http://` when the host is a loopback address (127.0.0.0/8, `::1`) or `localhost`.
///
/// Plain HTTP carries the token and every data key in the clear, so it is refused for any
/// other host when the configuration is read: a refused address can never reach a socket.
/// Hostnames other than `localhost` are refused over HTTP without a DNS lookup, since a
/// name that resolves to loopback today may not tomorrow.
#[derive(Clone, PartialEq, Eq)]
pub struct TransitAddress {
    /// Without a trailing `/`.
    url: String,
    tls: bool,
}

impl TransitAddress {
    /// Parses and checks an address (see the type's docs).
    pub fn parse(text: &str) -> Result<Self, KeystoreError> {
        let bad = |why: &str| KeystoreError::Config(format!("transit address {text:?}: {why}"));
        let uri: ureq::http::Uri = text
            .parse()
            .map_err(|_| bad("not a URL (expected https://host:port)"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be https:// (or http:// to loopback)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are refused; use token_env"));
        }
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if !tls && !is_loopback(host) {
            return Err(bad(
                "plain http:// is allowed only to a loopback address (127.0.0.0/8, [::1], localhost): \
                 the token and every data key would cross the network in the clear; use https:// \
                 with ca_file",
            ));
        }
        Ok(Self {
            url: text.trim_end_matches('/').to_owned(),
            tls,
        })
    }

    /// The address without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// True for `https://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// `localhost`, or an IP literal in 127.0.0.0/8 or `::1` (also written IPv4-mapped).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

impl FromStr for TransitAddress {
    type Err = KeystoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TransitAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for TransitAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransitAddress({:?})", self.url)
    }
}

impl Serialize for TransitAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.url)
    }
}

impl<'de> Deserialize<'de> for TransitAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}
