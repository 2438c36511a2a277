//! Node configuration, read from a TOML file. The same structs write it: `planbok dev` and
//! the test cluster build a [`NodeConfig`] and serialize it (no TOML assembled by hand).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use planbok_keystore::KeystoreConfig;
use planbok_types::NodeRole;
use serde::{Deserialize, Serialize};

/// Everything a node needs to start. Relative paths are resolved against the config file's
/// directory by [`NodeConfig::load`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// 1 (coordinator) or 2 (signer); anything else is refused when the file is read.
    pub role: NodeRole,
    /// Where to listen (the CLI binds it; tests pass their own listener).
    pub listen: SocketAddr,
    /// `sqlite:///path/node.db` or `postgres://…`; this node's own database.
    pub database_url: String,
    /// The server's Ed25519 grant public key, 64 hex digits.
    pub grant_public_key: String,
    /// This node's certificate and the CA it trusts.
    pub tls: TlsConfig,
    /// Node 1 only: how to reach Node 2.
    pub peer: Option<PeerConfig>,
    /// The keystore backend.
    pub keystore: KeystoreConfig,
    /// Timeouts and concurrency.
    #[serde(default)]
    pub limits: Limits,
    /// CGGMP provisioning.
    #[serde(default)]
    pub cggmp: CggmpConfig,
    /// `static` (the URL's user) or `openbao` (short-lived users, `[database_openbao]`).
    #[serde(
        default,
        skip_serializing_if = "planbok_store::DatabaseCredentials::is_static"
    )]
    pub database_credentials: planbok_store::DatabaseCredentials,
    /// Where `openbao` credentials come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_openbao: Option<planbok_store::OpenBaoDatabase>,
    /// Where to serve Prometheus metrics over plain HTTP (`GET /metrics`), e.g.
    /// `0.0.0.0:9102`; absent: not served. Keep it reachable by the scraper only.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

/// PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA certificate every peer must chain to.
    pub ca: PathBuf,
    /// This node's certificate (URI SAN `planbok://node1` or `planbok://node2`).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Node 2's address as Node 1 sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// `https://127.0.0.1:7002`.
    pub address: String,
    /// The DNS name Node 2's certificate must carry; `planbok pki` issues
    /// `node2.planbok`, so only Node 2's certificate can answer.
    #[serde(default = "default_peer_name")]
    pub tls_name: String,
}

impl PeerConfig {
    /// Node 2 at `address`, with the default name.
    pub fn new(address: impl Into<String>) -> Self {
        PeerConfig {
            address: address.into(),
            tls_name: default_peer_name(),
        }
    }
}

fn default_peer_name() -> String {
    "node2.planbok".into()
}

/// Timeouts and the concurrency bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A whole DKG or signing run, milliseconds.
    pub run_timeout_ms: u64,
    /// Silence from the peer within a run, milliseconds.
    pub round_timeout_ms: u64,
    /// Protocol runs in progress at once; more wait for a slot.
    pub max_concurrent_runs: usize,
    /// How long a request waits for a slot before `busy`, milliseconds.
    pub queue_timeout_ms: u64,
    /// CGGMP auxiliary-info generation (includes safe-prime generation), milliseconds.
    pub aux_timeout_ms: u64,
    /// Node 2: PIN attempts a customer may make without an unlock in between; the next
    /// one is refused (`customer_locked`) until recovery.
    pub customer_pin_attempts: u32,
    /// Node 2: recovery (security question) attempts a customer may make without a
    /// successful one; the next is refused (`recovery_locked`). Its own budget: wrong
    /// answers never spend PIN attempts.
    pub customer_recovery_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            run_timeout_ms: 30_000,
            round_timeout_ms: 10_000,
            max_concurrent_runs: 32,
            queue_timeout_ms: 10_000,
            aux_timeout_ms: 30 * 60_000,
            customer_pin_attempts: 5,
            customer_recovery_attempts: 5,
        }
    }
}

impl Limits {
    pub(crate) fn run_timeout(&self) -> Duration {
        Duration::from_millis(self.run_timeout_ms)
    }
    pub(crate) fn round_timeout(&self) -> Duration {
        Duration::from_millis(self.round_timeout_ms)
    }
    pub(crate) fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }
    pub(crate) fn aux_timeout(&self) -> Duration {
        Duration::from_millis(self.aux_timeout_ms)
    }
}

/// CGGMP settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CggmpConfig {
    /// TESTS ONLY: a JSON list of hex-encoded Paillier prime sets to use instead of
    /// generating fresh ones (saves minutes per test run). Primes that anyone else has
    /// seen make the node's auxiliary info worthless; production leaves this unset.
    pub insecure_pregenerated_primes: Option<PathBuf>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML or field errors.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// The TOML text that [`NodeConfig::load`] reads back.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Invalid {
            path: PathBuf::new(),
            message: e.to_string(),
        })
    }

    /// Reads and checks `path`; relative paths inside are taken relative to its directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.into(),
            message,
        };
        let mut c: NodeConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.resolve(base);
        c.check().map_err(invalid)?;
        Ok(c)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.tls.ca);
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        if let Some(p) = self.cggmp.insecure_pregenerated_primes.as_mut() {
            fix(p);
        }
        if let Some(b) = self.database_openbao.as_mut() {
            fix(&mut b.token_file);
            if let Some(ca) = b.ca_file.as_mut() {
                fix(ca);
            }
        }
        match &mut self.keystore {
            KeystoreConfig::Sealed { state_file } => fix(state_file),
            KeystoreConfig::Dev { key_file, .. } => fix(key_file),
            KeystoreConfig::Transit {
                ca_file,
                client_cert,
                client_key,
                ..
            } => {
                for p in [ca_file, client_cert, client_key].into_iter().flatten() {
                    fix(p);
                }
            }
            KeystoreConfig::Pkcs11 { .. } => {}
        }
        if let Some(rest) = self.database_url.strip_prefix("sqlite://")
            && !rest.starts_with('/')
            && !rest.starts_with(':')
        {
            self.database_url = format!("sqlite://{}", base.join(rest).display());
        }
    }

    /// Checks the fields that do not depend on files.
    pub fn check(&self) -> Result<(), String> {
        match (self.role, &self.peer) {
            (NodeRole::Node1, None) => {
                return Err("Node 1 needs a [peer] section (Node 2's address)".into());
            }
            (NodeRole::Node2, Some(_)) => {
                return Err("Node 2 has no [peer] section: only Node 1 opens runs".into());
            }
            _ => {}
        }
        planbok_proto::grant::GrantVerifier::from_hex(&self.grant_public_key)?;
        self.database_credentials
            .select(self.database_openbao.as_ref())?;
        let l = &self.limits;
        if l.max_concurrent_runs == 0 || l.run_timeout_ms == 0 || l.round_timeout_ms == 0 {
            return Err("limits must be positive".into());
        }
        Ok(())
    }
}
