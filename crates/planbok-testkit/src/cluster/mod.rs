//! Node 1 and Node 2 (and more node pairs) as real processes (the `planbok` binary), with a
//! throwaway PKI, a grant key and per-node databases, for integration tests and benchmarks;
//! `channels.rs` opens gRPC channels into them as any role. The test holds
//! what the REST server would: the server certificate and the grant signing key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use planbok_node::config::{KeystoreConfig, Limits};
use planbok_node::pki::Ca;
use planbok_proto::grant::GrantSigner;
use planbok_proto::pb::{Operation, SignedGrant, StatusRequest};
pub use planbok_types::NodeRole;

use crate::configs;

/// Which database the nodes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file per node in the cluster's directory.
    Sqlite,
    /// A fresh database per node on the PostgreSQL of [`Options::pg_url`], dropped
    /// afterwards.
    Postgres,
}

/// Which keystore backend the nodes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keystore {
    /// Auto-unsealing key file (`allow_dev`).
    Dev,
    /// Shamir-sealed; starts uninitialized.
    Sealed,
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// Database backend.
    pub db: Db,
    /// Keystore backend.
    pub keystore: Keystore,
    /// The nodes' timeouts and concurrency bound.
    pub limits: Limits,
    /// Use the checked-in test Paillier primes so CGGMP provisioning takes seconds.
    pub test_primes: bool,
    /// The PostgreSQL server (`postgres://user@host:port`, no database) that [`Db::Postgres`]
    /// creates its databases on. `None`: `PLANBOK_TEST_PG_URL`, by default
    /// `postgres://postgres@127.0.0.1:5432`.
    pub pg_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            db: Db::Sqlite,
            keystore: Keystore::Dev,
            limits: Limits::default(),
            test_primes: true,
            pg_url: None,
        }
    }
}

/// Which process of a cluster: a node, or the REST server. A [`NodeRole`] converts into
/// it, so `cluster.kill(NodeRole::Node2)` and `cluster.kill(SERVER)` both read as meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// Node 1 or Node 2 of the first node pair.
    Node(NodeRole),
    /// Node 1 or Node 2 of pair `n` ≥ 1 ([`Cluster::add_pair`]).
    PairNode(usize, NodeRole),
    /// The REST server.
    Server,
}

impl Proc {
    /// Node `role` of pair `pair` (0 is the first pair).
    pub fn pair(pair: usize, role: NodeRole) -> Proc {
        if pair == 0 {
            Proc::Node(role)
        } else {
            Proc::PairNode(pair, role)
        }
    }

    /// The node's role, for a node.
    pub fn role(self) -> Option<NodeRole> {
        match self {
            Proc::Node(r) | Proc::PairNode(_, r) => Some(r),
            Proc::Server => None,
        }
    }
}

impl From<NodeRole> for Proc {
    fn from(r: NodeRole) -> Proc {
        Proc::Node(r)
    }
}

impl std::fmt::Display for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proc::Node(r) => write!(f, "node {r}"),
            Proc::PairNode(p, r) => write!(f, "node {r} of pair {p}"),
            Proc::Server => f.write_str("the server"),
        }
    }
}

/// One process of the cluster: a node, or the REST server.
#[derive(Debug)]
pub struct NodeProc {
    /// Which one.
    pub role: Proc,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its config file.
    pub config: PathBuf,
    /// Its log file (stderr, appended across restarts).
    pub log: PathBuf,
    /// Its database (an absolute `sqlite://` path or a `postgres://` URL), for tests that
    /// look at what a node stored.
    pub database_url: String,
    child: Option<Child>,
}

impl NodeProc {
    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

mod channels;
mod resources;

use resources::{database, free_port, port_taken};
pub use resources::{pg_base, psql};

/// The REST server process in [`Cluster`] methods.
pub const SERVER: Proc = Proc::Server;

/// A running pair of nodes, and optionally the REST server in front of them.
pub struct Cluster {
    /// Everything on disk: PKI, configs, databases, keystore files, logs.
    pub dir: tempfile::TempDir,
    /// The CA, to issue extra certificates in tests.
    pub ca: Ca,
    /// The grant signing key (what the server holds).
    pub grant: GrantSigner,
    /// Node 1 and Node 2.
    pub nodes: [NodeProc; 2],
    /// Node pairs beyond the first ([`Cluster::add_pair`]): `pairs[n - 1]` is pair `n`.
    pub pairs: Vec<[NodeProc; 2]>,
    /// The REST server, once [`Cluster::start_server`] ran.
    pub server: Option<NodeProc>,
    /// The operator token the server accepts.
    pub operator_token: String,
    db: Db,
    pg_url: String,
    bin: PathBuf,
    pg_databases: Vec<String>,
    opts: Options,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// The two node processes of pair `pair` (0 is the first), configured but not started:
/// their own ports and databases, the cluster's PKI and grant key. Pair 0's files are
/// `node1.toml`, …; pair n's `pair<n>-node1.toml`, ….
fn pair_procs(
    pair: usize,
    dir: &Path,
    (db, pg_url): (Db, &str),
    grant: &GrantSigner,
    opts: &Options,
    pg_databases: &mut Vec<String>,
) -> Result<[NodeProc; 2]> {
    let ports = [free_port()?, free_port()?];
    let prefix = if pair == 0 {
        String::new()
    } else {
        format!("pair{pair}-")
    };
    let mut nodes = Vec::new();
    for role in NodeRole::ALL {
        let name = format!("{prefix}{}", role.name());
        let url = database((db, pg_url), dir, &name.replace('-', "_"), pg_databases)?;
        let mut config = configs::node(role, ports, url.clone(), grant.public_key().to_hex(), opts);
        if let KeystoreConfig::Dev { key_file, .. } = &mut config.keystore {
            *key_file = format!("{name}.devkey").into();
        }
        if let KeystoreConfig::Sealed { state_file } = &mut config.keystore {
            *state_file = format!("{name}.seal.json").into();
        }
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config.to_toml()?)?;
        nodes.push(NodeProc {
            role: Proc::pair(pair, role),
            port: ports[role.index()],
            config: path,
            log: dir.join(format!("{name}.log")),
            database_url: url,
            child: None,
        });
    }
    nodes.try_into().map_err(|_| anyhow::anyhow!("two nodes"))
}

/// The checked-in test-only Paillier primes of `planbok-mpc`.
pub fn test_primes_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../planbok-mpc/tests/fixtures/paillier-primes.json")
}

pub use crate::clock::now_ms;

impl Cluster {
    /// Issues a PKI, writes both configs, starts Node 2 then Node 1 with the `planbok`
    /// binary at `bin`, and waits until both answer. A node that could not bind its port
    /// (another test's process took it between [`free_port`] and the bind) is a race of
    /// the harness, not a failure: the cluster starts again on new ports, at most twice.
    pub async fn start(bin: &Path, opts: Options) -> Result<Cluster> {
        let mut tries = 0;
        loop {
            match Self::start_once(bin, opts.clone()).await {
                Err(e) if tries < 2 && port_taken(&e) => {
                    tries += 1;
                    eprintln!("cluster start lost a port race, starting again: {e:#}");
                }
                r => return r,
            }
        }
    }

    async fn start_once(bin: &Path, opts: Options) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("planbok-cluster-")
            .tempdir()?;
        let pki = dir.path().join("pki");
        let ca = planbok_node::pki::init(&pki, &["localhost".into()])?;
        let grant = GrantSigner::generate();
        let pg_url = opts.pg_url.clone().unwrap_or_else(pg_base);
        let mut pg_databases = Vec::new();
        let [n1, n2] = pair_procs(
            0,
            dir.path(),
            (opts.db, &pg_url),
            &grant,
            &opts,
            &mut pg_databases,
        )?;
        let mut c = Cluster {
            dir,
            ca,
            grant,
            nodes: [n1, n2],
            pairs: Vec::new(),
            server: None,
            operator_token: hex::encode(crate::random_bytes::<16>()),
            db: opts.db,
            pg_url,
            bin: bin.into(),
            pg_databases,
            opts,
        };
        c.spawn(NodeRole::Node2)?;
        c.spawn(NodeRole::Node1)?;
        c.wait_up(NodeRole::Node2).await?;
        c.wait_up(NodeRole::Node1).await?;
        Ok(c)
    }

    /// Writes the server's configuration (its own database, the cluster's grant key, a
    /// `planbok://server` certificate, rate limits off; `extra` is TOML merged over it,
    /// table by table, e.g. a `[rate_limits]` table), starts it and waits until `/health`
    /// answers. The merged configuration must be a valid [`ServerConfig`].
    pub async fn start_server(&mut self, extra: &str) -> Result<()> {
        let dir = self.dir.path().to_owned();
        let db = database(
            (self.db, &self.pg_url),
            &dir,
            "server",
            &mut self.pg_databases,
        )?;
        std::fs::write(dir.join("operator.token"), &self.operator_token)?;
        std::fs::write(dir.join("grant.key"), hex::encode(*self.grant.to_seed()))?;
        let node1_ports: Vec<(String, u16)> = std::iter::once(&self.nodes)
            .chain(&self.pairs)
            .enumerate()
            .map(|(i, p)| (Cluster::pair_name(i), p[NodeRole::Node1.index()].port))
            .collect();
        // A port taken between free_port and the server's bind: again on another one.
        let mut tries = 0;
        loop {
            let port = free_port()?;
            let config = configs::server(port, db.clone(), &node1_ports, extra)?;
            let path = dir.join("server.toml");
            std::fs::write(&path, config.to_toml().map_err(anyhow::Error::msg)?)?;
            self.server = Some(NodeProc {
                role: SERVER,
                port,
                database_url: db.clone(),
                config: path,
                log: dir.join("server.log"),
                child: None,
            });
            self.spawn(SERVER)?;
            match self.wait_up(SERVER).await {
                Err(e) if tries < 2 && port_taken(&e) => {
                    tries += 1;
                    eprintln!("the server lost a port race, starting it again: {e:#}");
                }
                r => return r,
            }
        }
    }

    /// The REST server's base URL.
    pub fn server_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.server.as_ref().map(|s| s.port).unwrap_or_default()
        )
    }

    #[expect(
        clippy::expect_used,
        reason = "asking for a process the test never started is a bug in the test"
    )]
    fn node_mut(&mut self, who: impl Into<Proc>) -> &mut NodeProc {
        match who.into() {
            Proc::Server => self
                .server
                .as_mut()
                .expect("the server was not started (Cluster::start_server)"),
            Proc::Node(role) => &mut self.nodes[role.index()],
            Proc::PairNode(p, role) => &mut self.pairs[p - 1][role.index()],
        }
    }

    /// The process `who` (a [`NodeRole`] or [`SERVER`]). Panics for the server before
    /// [`Cluster::start_server`].
    #[expect(
        clippy::expect_used,
        reason = "asking for a process the test never started is a bug in the test"
    )]
    pub fn node(&self, who: impl Into<Proc>) -> &NodeProc {
        match who.into() {
            Proc::Server => self
                .server
                .as_ref()
                .expect("the server was not started (Cluster::start_server)"),
            Proc::Node(role) => &self.nodes[role.index()],
            Proc::PairNode(p, role) => &self.pairs[p - 1][role.index()],
        }
    }

    fn spawn(&mut self, who: impl Into<Proc>) -> Result<()> {
        let who = who.into();
        let bin = self.bin.clone();
        let n = self.node_mut(who);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)?;
        let args: Vec<String> = match who {
            Proc::Server => vec!["server".into(), "--config".into()],
            Proc::Node(role) | Proc::PairNode(_, role) => vec![
                "node".into(),
                "--role".into(),
                role.to_string(),
                "--config".into(),
            ],
        };
        let child = Command::new(bin)
            .args(args)
            .arg(&n.config)
            .env(
                "RUST_LOG",
                std::env::var("PLANBOK_NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning planbok node")?;
        n.child = Some(child);
        Ok(())
    }

    /// Waits until a node answers its operator service, or the server its `/health`
    /// (up to 60 s).
    pub async fn wait_up(&mut self, who: impl Into<Proc>) -> Result<()> {
        let who = who.into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.node_mut(who).child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("{who} exited with {status}:\n{}", self.log_tail(who));
            }
            if who.role().is_some() {
                if let Ok(mut op) = self.operator_of(who)
                    && op.status(StatusRequest {}).await.is_ok()
                {
                    return Ok(());
                }
            } else {
                let url = self.server_url();
                let up = tokio::task::spawn_blocking(move || {
                    matches!(
                        planbok_sdk::Client::anonymous(&url).raw("GET", "/health", None),
                        Ok((200, _))
                    )
                })
                .await
                .unwrap_or(false);
                if up {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{who} did not come up:\n{}", self.log_tail(who));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of a node's log, for failure messages.
    pub fn log_tail(&self, who: impl Into<Proc>) -> String {
        let text = std::fs::read_to_string(&self.node(who).log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `kill -9`.
    pub fn kill(&mut self, who: impl Into<Proc>) -> Result<()> {
        if let Some(mut c) = self.node_mut(who).child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Sends `SIGSTOP` (freeze) or `SIGCONT` (thaw).
    pub fn signal(&self, who: impl Into<Proc>, sig: &str) -> Result<()> {
        let pid = self.node(who).pid().context("node not running")?;
        let ok = Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()?
            .success();
        if !ok {
            bail!("kill -{sig} {pid} failed");
        }
        Ok(())
    }

    /// Kills (if running) and starts `who` again, waiting until it answers.
    pub async fn restart(&mut self, who: impl Into<Proc>) -> Result<()> {
        let who = who.into();
        self.kill(who)?;
        self.spawn(who)?;
        self.wait_up(who).await
    }

    /// Starts another node pair (Node 2, then Node 1) with the cluster's PKI and grant key,
    /// and waits until both answer; returns its number (1 for the first added). Call it
    /// before [`Cluster::start_server`]: the server is configured with every pair, pair 0
    /// named `default` and pair n `pair<n>`.
    pub async fn add_pair(&mut self) -> Result<usize> {
        let n = self.pairs.len() + 1;
        let procs = pair_procs(
            n,
            self.dir.path(),
            (self.db, &self.pg_url),
            &self.grant,
            &self.opts,
            &mut self.pg_databases,
        )?;
        self.pairs.push(procs);
        for role in [NodeRole::Node2, NodeRole::Node1] {
            self.spawn(Proc::pair(n, role))?;
        }
        for role in [NodeRole::Node2, NodeRole::Node1] {
            self.wait_up(Proc::pair(n, role)).await?;
        }
        Ok(n)
    }

    /// The name the server gives pair `n` (see [`Cluster::add_pair`]).
    pub fn pair_name(n: usize) -> String {
        if n == 0 {
            "default".into()
        } else {
            format!("pair{n}")
        }
    }

    /// A grant valid for 30 s.
    pub fn grant(&self, org: &str, key: &str, op: Operation, params: [u8; 32]) -> SignedGrant {
        self.grant.issue(org, key, op, params, now_ms(), 30_000)
    }

    /// `pg_dump` of each node's PostgreSQL database (empty for SQLite clusters).
    pub fn pg_dumps(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for db in &self.pg_databases {
            let o = Command::new("pg_dump")
                .arg(format!("{}/{db}", self.pg_url))
                .output()
                .context("running pg_dump")?;
            if !o.status.success() {
                bail!("pg_dump {db}: {}", String::from_utf8_lossy(&o.stderr));
            }
            out.push((db.clone(), o.stdout));
        }
        Ok(out)
    }

    /// The `planbok` binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = self.kill(SERVER);
        }
        for n in 0..=self.pairs.len() {
            for role in NodeRole::ALL {
                let _ = self.kill(Proc::pair(n, role));
            }
        }
        for db in &self.pg_databases {
            let _ = psql(
                &self.pg_url,
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
        }
    }
}

/// The client side of the organization-secret envelope (what the platform's published
/// Node.js recipe does): RSA-OAEP-SHA256 over `{"secret","timestamp","context"[,"binding"]}`,
/// base64.
pub fn encrypt_secret(
    public_key_pem: &str,
    secret: &[u8; 32],
    context: &str,
    timestamp_ms: i64,
    binding: Option<planbok_envelope::Binding>,
) -> Result<String> {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePublicKey as _;
    let key = rsa::RsaPublicKey::from_public_key_pem(public_key_pem)?;
    let mut body = serde_json::json!({
        "secret": hex::encode(secret),
        "timestamp": timestamp_ms,
        "context": context,
    });
    if let Some(b) = binding {
        body["binding"] = serde_json::Value::String(b.to_hex());
    }
    let plain = serde_json::to_vec(&body)?;
    let ct = key.encrypt(
        &mut rsa::rand_core::OsRng,
        rsa::Oaep::new::<rsa::sha2::Sha256>(),
        &plain,
    )?;
    Ok(base64::engine::general_purpose::STANDARD.encode(ct))
}
