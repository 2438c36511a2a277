//! The server's configuration file (TOML). The same structs write it: `planbok dev` and the
//! test cluster build a [`ServerConfig`] and serialize it (no TOML assembled by hand).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything `planbok server --config FILE` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen (the binary binds it; `run` takes a bound listener).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `sqlite:///path/server.db` or `postgres://…`.
    pub database_url: String,
    /// A file holding the operator token (`POST /v2/organizations`). Its SHA-256 is kept.
    pub operator_token_file: PathBuf,
    /// A file holding the grant signing key: 64 hex characters (an Ed25519 seed).
    pub grant_key_file: PathBuf,
    /// Node 1.
    pub node1: Node1Config,
    /// mTLS material (a certificate naming `planbok://server`).
    pub tls: TlsFiles,
    /// HTTP behaviour.
    #[serde(default)]
    pub http: HttpConfig,
    /// Rate limits per category.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// Node 1's address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node1Config {
    /// e.g. `https://127.0.0.1:7001`.
    pub url: String,
    /// The name Node 1's certificate must carry.
    #[serde(default = "default_node1_name")]
    pub tls_name: String,
    /// How long one node call may take (DKG of a CGGMP key, a queue wait, …).
    #[serde(default = "default_node_timeout")]
    pub timeout_ms: u64,
}

fn default_node1_name() -> String {
    "node1.planbok".into()
}

fn default_node_timeout() -> u64 {
    60_000
}

impl Node1Config {
    /// Node 1 at `url`, with the default name and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Node1Config {
            url: url.into(),
            tls_name: default_node1_name(),
            timeout_ms: default_node_timeout(),
        }
    }

    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA.
    pub ca: PathBuf,
    /// Our certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDRs). Empty: the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a `running` idempotency record blocks a duplicate before it may be taken
    /// over (its server died).
    pub idempotency_lease_ms: i64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            trusted_proxies: Vec::new(),
            idempotency_lease_ms: 120_000,
        }
    }
}

impl HttpConfig {
    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// `count` requests per `period_ms`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests allowed per period (0 turns the limit off).
    pub count: u32,
    /// The period.
    pub period_ms: u64,
}

impl Rate {
    const fn per_sec(count: u32) -> Rate {
        Rate {
            count,
            period_ms: 1000,
        }
    }
}

/// A category's limits: one bucket per organization and one per client IP.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CategoryLimits {
    /// Per organization (absent for unauthenticated routes).
    pub per_org: Rate,
    /// Per client IP.
    pub per_ip: Rate,
}

/// Limits by category. The defaults follow the platform's published limits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Organization creation and failed authentication (5 per 5 minutes per IP).
    pub authentication: CategoryLimits,
    /// Creating and changing members, keys, wallet sets, wallets (10/s per org).
    pub management: CategoryLimits,
    /// Signing and export (10/s per org).
    pub signing: CategoryLimits,
    /// GETs (20/s per org).
    pub reads: CategoryLimits,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            authentication: CategoryLimits {
                per_org: Rate {
                    count: 5,
                    period_ms: 300_000,
                },
                per_ip: Rate {
                    count: 5,
                    period_ms: 300_000,
                },
            },
            management: CategoryLimits {
                per_org: Rate::per_sec(10),
                per_ip: Rate::per_sec(50),
            },
            signing: CategoryLimits {
                per_org: Rate::per_sec(10),
                per_ip: Rate::per_sec(50),
            },
            reads: CategoryLimits {
                per_org: Rate::per_sec(20),
                per_ip: Rate::per_sec(100),
            },
        }
    }
}

impl RateLimitConfig {
    /// No limits at all (tests that are not about rate limiting).
    pub fn unlimited() -> Self {
        let off = CategoryLimits {
            per_org: Rate {
                count: 0,
                period_ms: 1000,
            },
            per_ip: Rate {
                count: 0,
                period_ms: 1000,
            },
        };
        RateLimitConfig {
            authentication: off,
            management: off,
            signing: off,
            reads: off,
        }
    }
}

impl ServerConfig {
    /// A configuration with the required fields and every optional section at its default
    /// (what a file naming only them means): the one constructor `planbok dev` and the test
    /// cluster use, so a new optional section needs no change there.
    pub fn new(
        listen: impl Into<String>,
        database_url: impl Into<String>,
        operator_token_file: impl Into<PathBuf>,
        grant_key_file: impl Into<PathBuf>,
        node1: Node1Config,
        tls: TlsFiles,
    ) -> Self {
        ServerConfig {
            listen: listen.into(),
            database_url: database_url.into(),
            operator_token_file: operator_token_file.into(),
            grant_key_file: grant_key_file.into(),
            node1,
            tls,
            http: HttpConfig::default(),
            rate_limits: RateLimitConfig::default(),
        }
    }

    /// The TOML text that [`ServerConfig::load`] reads back.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Parses a TOML document.
    pub fn from_toml(s: &str) -> Result<ServerConfig, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    /// Reads a configuration file; relative file paths in it are relative to its directory.
    pub fn load(path: &std::path::Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c =
            ServerConfig::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        for p in [
            &mut c.operator_token_file,
            &mut c.grant_key_file,
            &mut c.tls.ca,
            &mut c.tls.cert,
            &mut c.tls.key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `planbok dev` and the test cluster do: build a [`ServerConfig`], serialize it,
    /// and have the server read it back.
    #[test]
    fn a_serialized_config_reads_back_as_built() {
        let mut built = ServerConfig::new(
            "127.0.0.1:9000",
            "sqlite:///tmp/s.db",
            "operator.token",
            "grant.key",
            Node1Config::new("https://127.0.0.1:7001"),
            TlsFiles {
                ca: "pki/ca.pem".into(),
                cert: "pki/server.pem".into(),
                key: "pki/server.key".into(),
            },
        );
        built.rate_limits = RateLimitConfig::unlimited();
        built.http.trusted_proxies = vec!["10.9.0.0/16".parse().unwrap_or_else(|_| unreachable!())];
        let text = built.to_toml().unwrap_or_default();
        let read = ServerConfig::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(read.listen, built.listen);
        assert_eq!(read.database_url, built.database_url);
        assert_eq!(read.grant_key_file, built.grant_key_file);
        assert_eq!(
            (read.node1.url, read.node1.tls_name, read.node1.timeout_ms),
            (
                "https://127.0.0.1:7001".to_owned(),
                "node1.planbok".to_owned(),
                60_000
            )
        );
        assert_eq!(read.tls.key, built.tls.key);
        assert_eq!(read.http.trusted_proxies, built.http.trusted_proxies);
        assert_eq!(read.http.idempotency_lease_ms, 120_000);
        let (r, b) = (read.rate_limits, built.rate_limits);
        assert_eq!(
            [r.authentication, r.management, r.signing, r.reads],
            [b.authentication, b.management, b.signing, b.reads]
        );
    }
}
