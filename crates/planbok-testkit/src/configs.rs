//! The configurations the cluster writes, built as the daemons' own config structs and
//! serialized (the same types `planbok dev` uses; no TOML assembled by hand).

use anyhow::{Context as _, Result};
use planbok_node::config::{
    CggmpConfig, KeystoreConfig, NodeConfig, PeerConfig, TlsConfig as NodeTls,
};
use planbok_server::config::{Node1Config, RateLimitConfig, ServerConfig, TlsFiles};

use planbok_types::NodeRole;

use crate::cluster::{Keystore, Options, test_primes_path};

/// Node `role` of a cluster listening on `ports` (Node 1's, Node 2's), with the PKI and
/// keystore files under the cluster's directory (paths relative to the config file).
pub(crate) fn node(
    role: NodeRole,
    ports: [u16; 2],
    database_url: String,
    grant_public_key: String,
    opts: &Options,
) -> NodeConfig {
    NodeConfig {
        role,
        listen: ([127, 0, 0, 1], ports[role.index()]).into(),
        database_url,
        grant_public_key,
        tls: NodeTls {
            ca: "pki/ca.pem".into(),
            cert: format!("pki/{}.pem", role.name()).into(),
            key: format!("pki/{}.key", role.name()).into(),
        },
        peer: (role == NodeRole::Node1)
            .then(|| PeerConfig::new(format!("https://127.0.0.1:{}", ports[1]))),
        keystore: match opts.keystore {
            Keystore::Dev => KeystoreConfig::Dev {
                key_file: format!("{}.devkey", role.name()).into(),
                allow_dev: true,
            },
            Keystore::Sealed => KeystoreConfig::Sealed {
                state_file: format!("{}.seal.json", role.name()).into(),
            },
        },
        limits: opts.limits.clone(),
        cggmp: CggmpConfig {
            insecure_pregenerated_primes: opts.test_primes.then(test_primes_path),
        },
        database_credentials: Default::default(),
        database_openbao: None,
        metrics_listen: None,
    }
}

/// The REST server on `port`, rate limits off, with the test's `extra` TOML laid over it.
/// One node pair is configured as `[node1]`, several as `[node_pairs.<name>]` (`pairs`:
/// each pair's name and Node 1 port).
pub(crate) fn server(
    port: u16,
    database_url: String,
    pairs: &[(String, u16)],
    extra: &str,
) -> Result<ServerConfig> {
    let node1 = |port: u16| Node1Config::new(format!("https://127.0.0.1:{port}"));
    let mut config = ServerConfig::new(
        format!("127.0.0.1:{port}"),
        database_url,
        "operator.token",
        "grant.key",
        node1(pairs.first().map(|p| p.1).unwrap_or_default()),
        TlsFiles {
            ca: "pki/ca.pem".into(),
            cert: "pki/server.pem".into(),
            key: "pki/server.key".into(),
        },
    );
    if pairs.len() > 1 {
        config.node1 = None;
        config.node_pairs = pairs
            .iter()
            .map(|(name, port)| (name.clone(), node1(*port)))
            .collect();
    }
    config.rate_limits = RateLimitConfig::unlimited();
    merge_toml(&config, extra)
}

/// `config` with the tables and values of the TOML document `extra` laid over it (tables
/// merged key by key, anything else replaced), checked by deserializing the result.
fn merge_toml(config: &ServerConfig, extra: &str) -> Result<ServerConfig> {
    fn lay(base: &mut toml::Table, over: toml::Table) {
        for (key, value) in over {
            match (base.get_mut(&key), value) {
                (Some(toml::Value::Table(b)), toml::Value::Table(o)) => lay(b, o),
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
    }
    let mut base = toml::Table::try_from(config)?;
    let over: toml::Table = toml::from_str(extra).context("the extra server configuration")?;
    lay(&mut base, over);
    toml::Value::Table(base)
        .try_into()
        .context("the merged server configuration")
}
