//! The server's configuration file (TOML). The same structs write it: `planbok dev` and the
//! test cluster build a [`ServerConfig`] and serialize it (no TOML assembled by hand).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod chains;
mod gateway;

pub use chains::{ChainConfig, TransactionsConfig};
pub use gateway::GatewayConfig;

/// Everything `planbok server --config FILE` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen (the binary binds it; `run` takes a bound listener).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `sqlite:///path/server.db` or `postgres://…`.
    pub database_url: String,
    /// `static` (the URL's user) or `openbao` (short-lived users, `[database_openbao]`).
    #[serde(
        default,
        skip_serializing_if = "planbok_store::DatabaseCredentials::is_static"
    )]
    pub database_credentials: planbok_store::DatabaseCredentials,
    /// Where `openbao` credentials come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_openbao: Option<planbok_store::OpenBaoDatabase>,
    /// A file holding the operator token (`POST /v2/organizations`). Its SHA-256 is kept.
    pub operator_token_file: PathBuf,
    /// A file holding the grant signing key: 64 hex characters (an Ed25519 seed).
    pub grant_key_file: PathBuf,
    /// Node 1 of the one node pair (named [`DEFAULT_PAIR`]). Exactly one of `node1` and
    /// `node_pairs` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node1: Option<Node1Config>,
    /// Several node pairs, each named by its key (`[node_pairs.<name>]`) and given by its
    /// Node 1: every organization is assigned to one at creation and its keys live there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_pairs: BTreeMap<String, Node1Config>,
    /// mTLS material (a certificate naming `planbok://server`).
    pub tls: TlsFiles,
    /// HTTP behaviour.
    #[serde(default)]
    pub http: HttpConfig,
    /// Rate limits per category.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhookConfig,
    /// `[smtp]`: the relay that carries customers' email recovery codes. Without it no
    /// organization can use recovery by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<crate::mail::SmtpConfig>,
    /// `[chains.<CHAIN-ID>]`: the RPC of each chain this server sends transactions on and
    /// reads balances from (EVM chains; checked against the registry's chain id at start).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chains: BTreeMap<String, ChainConfig>,
    /// `[transactions]`: the tracker and fee settings.
    #[serde(default)]
    pub transactions: TransactionsConfig,
    /// The public origin the Gateway is reached at (e.g. `https://wallet.example.com`),
    /// used in challenges' Gateway URLs; the request's own host when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// `[gateway]`: the Gateway page on its own listener, so its own origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayConfig>,
}

/// `[webhooks]`: delivery, retries and the SSRF guard (`docs/webhooks.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Run the delivery worker in this process (every replica may; each delivery is sent
    /// by one of them at a time).
    pub worker: bool,
    /// Allow `http://` URLs and targets on loopback addresses (`planbok dev` sets it).
    pub allow_loopback: bool,
    /// Networks allowed although private, link-local, CGNAT, unique-local or metadata
    /// (e.g. an internal receiver's `10.1.2.0/24`).
    pub allowed_networks: Vec<IpNet>,
    /// One attempt's timeout: connect, TLS, request and answer headers.
    pub timeout_ms: u64,
    /// The delay before each attempt, the first one included (8 attempts over ~27.6 h
    /// by default); a random 0-10 % is added to each.
    pub retry_schedule_ms: Vec<u64>,
    /// An endpoint whose deliveries have failed for this long without a success is
    /// disabled (5 days).
    pub disable_after_ms: u64,
    /// Attempts in flight per endpoint, across every replica.
    pub max_in_flight_per_endpoint: u32,
    /// Attempts in flight in this process.
    pub max_in_flight: u32,
    /// How often the worker looks for due deliveries (it is also woken by this process's
    /// own events).
    pub poll_interval_ms: u64,
    /// How long the previous secret stays valid after a rotation (24 h).
    pub rotation_overlap_ms: u64,
    /// Finished deliveries and their events are kept this long (30 days).
    pub retention_ms: u64,
    /// PEM bundle of the CAs trusted for `https://` endpoints; the system bundle when
    /// absent.
    pub ca_file: Option<PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            worker: true,
            allow_loopback: false,
            allowed_networks: Vec::new(),
            timeout_ms: 15_000,
            retry_schedule_ms: vec![
                0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
            ],
            disable_after_ms: 5 * 86_400_000,
            max_in_flight_per_endpoint: 4,
            max_in_flight: 32,
            poll_interval_ms: 500,
            rotation_overlap_ms: 86_400_000,
            retention_ms: 30 * 86_400_000,
            ca_file: None,
        }
    }
}

impl WebhookConfig {
    /// Checks the values that would make the worker misbehave.
    pub fn check(&self) -> Result<(), String> {
        if self.retry_schedule_ms.is_empty() {
            return Err("webhooks.retry_schedule_ms must name at least one attempt".into());
        }
        if self.timeout_ms == 0 || self.max_in_flight == 0 || self.max_in_flight_per_endpoint == 0 {
            return Err(
                "webhooks: timeout_ms, max_in_flight and max_in_flight_per_endpoint must be positive"
                    .into(),
            );
        }
        Ok(())
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// The name of the pair `[node1]` configures, and of the pair every organization created
/// before pairs existed is assigned to.
pub const DEFAULT_PAIR: &str = "default";

/// Whether `name` may name a node pair: what is stored with each organization and shown in
/// metrics labels.
pub fn valid_pair_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Node 1's address (of one node pair).
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
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Keep the buckets in this Redis (`redis://[:password@]host:6379/0`), shared by every
    /// server replica; absent: in this process's memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
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
            redis_url: None,
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

impl std::fmt::Debug for RateLimitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The Redis URL may carry a password.
        f.debug_struct("RateLimitConfig")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("authentication", &self.authentication)
            .field("management", &self.management)
            .field("signing", &self.signing)
            .field("reads", &self.reads)
            .finish()
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
            redis_url: None,
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
            node1: Some(node1),
            node_pairs: BTreeMap::new(),
            tls,
            http: HttpConfig::default(),
            rate_limits: RateLimitConfig::default(),
            database_credentials: planbok_store::DatabaseCredentials::default(),
            database_openbao: None,
            webhooks: WebhookConfig::default(),
            smtp: None,
            chains: BTreeMap::new(),
            transactions: TransactionsConfig::default(),
            public_url: None,
            gateway: None,
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
        let bao = c.database_openbao.as_mut();
        let (token, ca) = match bao {
            Some(b) => (Some(&mut b.token_file), b.ca_file.as_mut()),
            None => (None, None),
        };
        for p in [
            &mut c.operator_token_file,
            &mut c.grant_key_file,
            &mut c.tls.ca,
            &mut c.tls.cert,
            &mut c.tls.key,
        ]
        .into_iter()
        .chain(token)
        .chain(ca)
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = c.webhooks.ca_file.as_mut()
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
        c.webhooks
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        c.openbao()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        c.pairs().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// The node pairs, by name, in a fixed order (the names' order; `[node1]` alone is the
    /// pair [`DEFAULT_PAIR`]): an error when both or neither of `node1` and `node_pairs` are
    /// given, or a name is not `[a-z0-9-]{1,32}`.
    pub fn pairs(&self) -> Result<Vec<(&str, &Node1Config)>, String> {
        match (&self.node1, self.node_pairs.is_empty()) {
            (Some(n), true) => Ok(vec![(DEFAULT_PAIR, n)]),
            (None, false) => {
                for name in self.node_pairs.keys() {
                    if !valid_pair_name(name) {
                        return Err(format!(
                            "node_pairs.{name}: a pair's name is 1 to 32 of a-z, 0-9 and '-'"
                        ));
                    }
                }
                Ok(self
                    .node_pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v))
                    .collect())
            }
            (Some(_), false) => Err(
                "give either [node1] (one node pair) or [node_pairs.<name>] tables, not both; \
                 keep the existing organizations' pair as [node_pairs.default]"
                    .into(),
            ),
            (None, true) => Err("no node pair: add [node1] or [node_pairs.<name>] tables".into()),
        }
    }

    /// The OpenBao settings when `database_credentials = "openbao"` (an error when they
    /// are missing, or present for nothing).
    pub fn openbao(&self) -> Result<Option<&planbok_store::OpenBaoDatabase>, String> {
        self.database_credentials
            .select(self.database_openbao.as_ref())
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
        let node1 = read.node1.clone().unwrap_or_else(|| unreachable!());
        assert_eq!(
            (node1.url, node1.tls_name, node1.timeout_ms),
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

    const BASE: &str = "database_url = \"sqlite:///tmp/s.db\"\n\
        operator_token_file = \"t\"\ngrant_key_file = \"g\"\n\
        [tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n";

    #[test]
    fn node1_alone_is_the_default_pair() {
        let c = ServerConfig::from_toml(&format!("{BASE}[node1]\nurl = \"https://n:1\"\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let pairs = c.pairs().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pairs.len(), 1);
        assert_eq!(
            (pairs[0].0, pairs[0].1.url.as_str()),
            (DEFAULT_PAIR, "https://n:1")
        );
    }

    #[test]
    fn node_pairs_are_listed_by_name_and_checked() {
        let two = format!(
            "{BASE}[node_pairs.b]\nurl = \"https://b:1\"\n[node_pairs.a]\nurl = \"https://a:1\"\ntls_name = \"node1-a.planbok\"\n"
        );
        let c = ServerConfig::from_toml(&two).unwrap_or_else(|e| panic!("{e}"));
        let pairs = c.pairs().unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(pairs[0].1.tls_name, "node1-a.planbok");
        // Serialized and read back: the same pairs.
        let again = ServerConfig::from_toml(&c.to_toml().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.node_pairs.len(), 2);
        assert!(again.node1.is_none());

        let both = format!("{two}[node1]\nurl = \"https://n:1\"\n");
        let both = ServerConfig::from_toml(&both).unwrap_or_else(|e| panic!("{e}"));
        assert!(both.pairs().err().unwrap_or_default().contains("not both"));
        let none = ServerConfig::from_toml(BASE).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            none.pairs()
                .err()
                .unwrap_or_default()
                .contains("no node pair")
        );
        let bad = format!("{BASE}[node_pairs.EU_1]\nurl = \"https://b:1\"\n");
        let bad = ServerConfig::from_toml(&bad).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            bad.pairs()
                .err()
                .unwrap_or_default()
                .contains("node_pairs.EU_1")
        );
        for (name, ok) in [
            ("default", true),
            ("eu-1", true),
            ("", false),
            ("a b", false),
        ] {
            assert_eq!(valid_pair_name(name), ok, "{name:?}");
        }
        assert!(!valid_pair_name(&"a".repeat(33)));
    }
}
