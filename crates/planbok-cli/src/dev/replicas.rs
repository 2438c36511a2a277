//! `planbok dev --replicas N --database postgres://… --redis redis://…`: the production
//! shape on one machine. N server processes share one PostgreSQL (and, with `--redis`, one
//! rate limiter) behind haproxy on the printed URL. The replicas' configs and the proxy's
//! are derived from `server.toml` at every start, so a restart may change N; `--rpc` and
//! `--redis` are written into `server.toml` first.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use planbok_server::config::ServerConfig;

use super::DevArgs;

/// Where replicas listen: `--port` + this + i (the proxy has `--port` itself).
const REPLICA_PORT_OFFSET: u16 = 100;

/// One server process to start.
#[derive(Debug, Clone)]
pub(super) struct Server {
    /// `server`, or `server-<i>` for replica i (also its log's name).
    pub(super) name: String,
    /// Its config file, relative to the data directory.
    pub(super) config: String,
    /// Its port on 127.0.0.1.
    pub(super) port: u16,
}

/// The first start's choices about the server, written into `server.toml`: the database
/// and the shared rate limiter.
pub(super) fn apply_first(server: &mut ServerConfig, args: &DevArgs, dir: &Path) {
    server.database_url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("server.db").display()));
    server.rate_limits.redis_url = args.redis.clone();
}

fn header(replicas: bool) -> &'static str {
    if replicas {
        "# planbok dev: server replica (written from server.toml at every start).\n"
    } else {
        "# planbok dev: the REST server. Rate limits far above the production defaults, so\n# that `planbok bench` is not throttled.\n"
    }
}

/// Writes `config` to `path` with the dev header.
pub(super) fn write(path: &Path, config: &ServerConfig, replica: bool) -> Result<()> {
    let text = config.to_toml().map_err(anyhow::Error::msg)?;
    std::fs::write(path, format!("{}{text}", header(replica)))?;
    Ok(())
}

/// The server processes of this start (and the proxy's config when there are several),
/// from `server.toml` and the flags. A data directory keeps its database: a different
/// `--database` is refused (its organizations and wallets are in the first one).
pub(super) fn servers(dir: &Path, args: &DevArgs) -> Result<Vec<Server>> {
    let path = dir.join("server.toml");
    let mut base = ServerConfig::from_toml(&std::fs::read_to_string(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(db) = &args.database
        && *db != base.database_url
    {
        // Neither URL is printed: either may carry a password.
        bail!(
            "{} was set up with another server database (see database_url in server.toml); \
             use a new --data directory for another database",
            dir.display()
        );
    }
    // What may change between starts (`--rpc`, `--redis`) is written back once.
    let mut changed = apply_rpcs(&mut base, &args.rpcs)?;
    changed |= apply_smtp(&mut base, args.smtp.as_deref())?;
    if args.redis.is_some() && args.redis != base.rate_limits.redis_url {
        base.rate_limits.redis_url = args.redis.clone();
        changed = true;
    }
    if changed {
        write(&path, &base, false)?;
    }
    if args.replicas <= 1 {
        return Ok(vec![Server {
            name: "server".into(),
            config: "server.toml".into(),
            port: args.port,
        }]);
    }
    if !base.database_url.starts_with("postgres") {
        bail!(
            "--replicas {} needs a database the replicas share: start a new --data directory \
             with --database postgres://… (SQLite belongs to one process)",
            args.replicas
        );
    }
    // The proxy adds X-Forwarded-For: the replicas believe it from loopback only.
    let loopback = "127.0.0.1/32".parse().context("loopback network")?;
    if !base.http.trusted_proxies.contains(&loopback) {
        base.http.trusted_proxies.push(loopback);
    }
    let mut out = Vec::new();
    for i in 1..=args.replicas {
        let port = args
            .port
            .checked_add(REPLICA_PORT_OFFSET + i)
            .context("--port too high for the replicas' ports")?;
        let mut c = base.clone();
        c.listen = format!("127.0.0.1:{port}");
        // One Gateway listener per address: the replicas serve the API only.
        c.gateway = None;
        let config = format!("server-{i}.toml");
        write(&dir.join(&config), &c, true)?;
        out.push(Server {
            name: format!("server-{i}"),
            config,
            port,
        });
    }
    std::fs::write(
        dir.join("haproxy.cfg"),
        proxy_config(args.port, &out.iter().map(|s| s.port).collect::<Vec<_>>()),
    )?;
    Ok(out)
}

/// Puts the Gateway page on its own port (`--gateway-port`, else `--port` + 1) with Node
/// 1's key pinned, in `server.toml` (every start: the key is known once the nodes run).
/// Its origin, or `None` with replicas (they serve the API only).
pub(super) fn apply_gateway(dir: &Path, args: &DevArgs, node_key: &str) -> Result<Option<String>> {
    if args.replicas > 1 {
        return Ok(None);
    }
    let port = match args.gateway_port {
        Some(p) => p,
        None => args
            .port
            .checked_add(1)
            .context("--port too high for the Gateway's port (give --gateway-port)")?,
    };
    let path = dir.join("server.toml");
    let mut config = ServerConfig::from_toml(&std::fs::read_to_string(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let listen = format!("127.0.0.1:{port}");
    let name = config
        .gateway
        .as_ref()
        .map_or_else(|| "planbok dev".to_owned(), |g| g.name.clone());
    let wanted = planbok_server::config::GatewayConfig {
        listen: listen.clone(),
        node_key: node_key.to_owned(),
        name,
    };
    let same = config
        .gateway
        .as_ref()
        .is_some_and(|g| g.listen == wanted.listen && g.node_key == wanted.node_key);
    if !same {
        config.gateway = Some(wanted);
        write(&path, &config, false)?;
    }
    Ok(Some(format!("http://{listen}")))
}

/// Points the server at the chains' RPCs of `--rpc CHAIN=URL` (every start: the RPCs may
/// change): each named chain's `rpc_url` is set, other chains are left as they are.
/// Whether anything was given.
fn apply_rpcs(server: &mut ServerConfig, rpcs: &[String]) -> Result<bool> {
    for r in rpcs {
        let Some((chain, url)) = r.split_once('=') else {
            bail!("--rpc {r:?}: expected CHAIN=URL, e.g. ETH-SEPOLIA=http://127.0.0.1:8545");
        };
        server
            .chains
            .entry(chain.trim().to_owned())
            .and_modify(|c| c.rpc_url = url.trim().to_owned())
            .or_insert_with(|| planbok_server::config::ChainConfig::new(url.trim()));
    }
    Ok(!rpcs.is_empty())
}

/// Points the server at a loopback SMTP relay (`--smtp HOST:PORT`, plain SMTP); the rest
/// of an existing `[smtp]` (sender, timeout) is kept. Whether anything was given.
fn apply_smtp(server: &mut ServerConfig, smtp: Option<&str>) -> Result<bool> {
    use planbok_server::mail::{SmtpConfig, SmtpTls};
    let Some(addr) = smtp else {
        return Ok(false);
    };
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(|c| c == '[' || c == ']'), p.parse().ok()?)))
        .with_context(|| format!("--smtp {addr:?}: expected HOST:PORT, e.g. 127.0.0.1:1025"))?;
    let mut c = server.smtp.clone().unwrap_or(SmtpConfig {
        host: String::new(),
        port,
        from: "planbok dev <planbok@localhost>".into(),
        tls: SmtpTls::Plain,
        username: None,
        password_file: None,
        ca_file: None,
        timeout_ms: 15_000,
    });
    c.host = host.to_owned();
    c.port = port;
    c.tls = SmtpTls::Plain;
    c.username = None;
    c.password_file = None;
    // Checked now (plain SMTP is for a loopback relay only), not at the server's start.
    planbok_server::mail::Mailer::new(&c).map_err(|e| anyhow::anyhow!("--smtp: {e}"))?;
    server.smtp = Some(c);
    Ok(true)
}

/// haproxy in front of the replicas: round robin, each checked on `/health` every second
/// and taken out after two failures. Only connection failures are retried (on another
/// replica), so a request is never sent twice once a replica has it; the idempotency keys
/// cover the client's own retries.
pub(super) fn proxy_config(port: u16, replicas: &[u16]) -> String {
    let mut s = format!(
        "# planbok dev: the front proxy of the server replicas (written at every start).\n\
         global\n    maxconn 4096\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5m\n    timeout server 5m\n\
         \x20   option forwardfor\n    retries 2\n    option redispatch\n\n\
         frontend planbok\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /health\n\
         \x20   http-check expect status 200\n    default-server check inter 1s fall 2 rise 1\n"
    );
    for (i, p) in replicas.iter().enumerate() {
        s.push_str(&format!("    server replica-{} 127.0.0.1:{p}\n", i + 1));
    }
    s
}

/// The haproxy binary: on `PATH`, or Debian's `/usr/sbin/haproxy`.
pub(super) fn haproxy() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file());
    on_path.context(
        "--replicas runs haproxy in front of the replicas: install it (Debian: apt install haproxy)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_lists_every_replica_and_checks_health() {
        let c = proxy_config(8080, &[8181, 8182, 8183]);
        assert!(c.contains("bind 127.0.0.1:8080"), "{c}");
        for (i, p) in [8181, 8182, 8183].iter().enumerate() {
            assert!(
                c.contains(&format!("server replica-{} 127.0.0.1:{p}\n", i + 1)),
                "{c}"
            );
        }
        assert!(c.contains("option httpchk GET /health"), "{c}");
        assert!(c.contains("option forwardfor"), "{c}");
    }

    #[test]
    fn smtp_points_at_a_loopback_relay_only() {
        let mut c = ServerConfig::new(
            "127.0.0.1:8080",
            "sqlite::memory:",
            "t",
            "g",
            planbok_server::config::Node1Config::new("https://127.0.0.1:7701"),
            planbok_server::config::TlsFiles {
                ca: "ca".into(),
                cert: "c".into(),
                key: "k".into(),
            },
        );
        assert!(matches!(apply_smtp(&mut c, None), Ok(false)));
        assert!(matches!(
            apply_smtp(&mut c, Some("127.0.0.1:1025")),
            Ok(true)
        ));
        let smtp = c.smtp.clone();
        assert_eq!(
            smtp.map(|s| (s.host, s.port)),
            Some(("127.0.0.1".to_owned(), 1025))
        );
        assert!(apply_smtp(&mut c, Some("smtp.example.com:25")).is_err());
        assert!(apply_smtp(&mut c, Some("127.0.0.1")).is_err());
    }
}
