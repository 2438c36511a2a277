//! Node 1 and Node 2 as real processes (the `planbok` binary), with a throwaway PKI, a
//! grant key and per-node databases, for integration tests and benchmarks. The test holds
//! what the REST server would: the server certificate and the grant signing key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use planbok_node::config::Limits;
use planbok_node::pki::{Ca, Leaf};
use planbok_proto::grant::GrantSigner;
use planbok_proto::pb::coordinator_client::CoordinatorClient;
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::peer_client::PeerClient;
use planbok_proto::pb::{Operation, SignedGrant, StatusRequest};
use planbok_proto::roles::Role;
pub use planbok_types::NodeRole;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

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
    /// Node 1 or Node 2.
    Node(NodeRole),
    /// The REST server.
    Server,
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
    /// The REST server, once [`Cluster::start_server`] ran.
    pub server: Option<NodeProc>,
    /// The operator token the server accepts.
    pub operator_token: String,
    db: Db,
    pg_url: String,
    bin: PathBuf,
    pg_databases: Vec<String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The shared test PostgreSQL: `PLANBOK_TEST_PG_URL`, by default the machine's own.
pub fn pg_base() -> String {
    std::env::var("PLANBOK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(base: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A fresh database for process `name`: a SQLite file in `dir`, or a new PostgreSQL
/// database (recorded in `created`, dropped with the cluster).
fn database(
    (db, pg_url): (Db, &str),
    dir: &Path,
    name: &str,
    created: &mut Vec<String>,
) -> Result<String> {
    Ok(match db {
        Db::Sqlite => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        Db::Postgres => {
            let db_name = format!("planbok_{name}_{}", hex::encode(crate::random_bytes::<6>()));
            psql(pg_url, &format!("CREATE DATABASE {db_name}"))?;
            created.push(db_name.clone());
            format!("{pg_url}/{db_name}")
        }
    })
}

/// The checked-in test-only Paillier primes of `planbok-mpc`.
pub fn test_primes_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../planbok-mpc/tests/fixtures/paillier-primes.json")
}

pub use crate::clock::now_ms;

impl Cluster {
    /// Issues a PKI, writes both configs, starts Node 2 then Node 1 with the `planbok`
    /// binary at `bin`, and waits until both answer.
    pub async fn start(bin: &Path, opts: Options) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("planbok-cluster-")
            .tempdir()?;
        let pki = dir.path().join("pki");
        let ca = planbok_node::pki::init(&pki, &["localhost".into()])?;
        let grant = GrantSigner::generate();
        let ports = [free_port()?, free_port()?];
        let pg_url = opts.pg_url.clone().unwrap_or_else(pg_base);
        let mut pg_databases = Vec::new();
        let mut nodes = Vec::new();
        for role in NodeRole::ALL {
            let db = database(
                (opts.db, &pg_url),
                dir.path(),
                role.name(),
                &mut pg_databases,
            )?;
            let config = configs::node(role, ports, db.clone(), grant.public_key().to_hex(), &opts);
            let path = dir.path().join(format!("{}.toml", role.name()));
            std::fs::write(&path, config.to_toml()?)?;
            nodes.push(NodeProc {
                role: role.into(),
                port: ports[role.index()],
                config: path,
                log: dir.path().join(format!("{}.log", role.name())),
                database_url: db.clone(),
                child: None,
            });
        }
        let [n1, n2]: [NodeProc; 2] = nodes.try_into().map_err(|_| anyhow::anyhow!("two nodes"))?;
        let mut c = Cluster {
            dir,
            ca,
            grant,
            nodes: [n1, n2],
            server: None,
            operator_token: hex::encode(crate::random_bytes::<16>()),
            db: opts.db,
            pg_url,
            bin: bin.into(),
            pg_databases,
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
        let port = free_port()?;
        let config = configs::server(port, db.clone(), self.node(NodeRole::Node1).port, extra)?;
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
        self.wait_up(SERVER).await
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
            Proc::Node(role) => vec![
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
            if let Proc::Node(role) = who {
                if let Ok(mut op) = self.operator(role)
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

    fn leaf_path(&self, role: Role) -> (PathBuf, PathBuf) {
        let pki = self.dir.path().join("pki");
        (
            pki.join(format!("{}.pem", role.name())),
            pki.join(format!("{}.key", role.name())),
        )
    }

    /// A channel to node `role` presenting `leaf` (any certificate), trusting `ca_pem`.
    pub fn channel_with(
        &self,
        role: NodeRole,
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &str,
    ) -> Result<Channel> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .identity(Identity::from_pem(cert_pem, key_pem))
            .domain_name(format!("{}.planbok", role.name()));
        Ok(self.endpoint(role)?.tls_config(tls)?.connect_lazy())
    }

    /// A channel to node `role` with no client certificate.
    pub fn channel_without_cert(&self, role: NodeRole) -> Result<Channel> {
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.pem"))?;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name(format!("{}.planbok", role.name()));
        Ok(self.endpoint(role)?.tls_config(tls)?.connect_lazy())
    }

    fn endpoint(&self, role: NodeRole) -> Result<Endpoint> {
        Ok(
            Endpoint::from_shared(format!("https://127.0.0.1:{}", self.node(role).port))?
                .connect_timeout(Duration::from_secs(2)),
        )
    }

    /// A channel to node `role` as `as_role`, with the PKI's certificate for that role.
    pub fn channel_as(&self, role: NodeRole, as_role: Role) -> Result<Channel> {
        let (cert, key) = self.leaf_path(as_role);
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.pem"))?;
        self.channel_with(
            role,
            &std::fs::read_to_string(cert)?,
            &std::fs::read_to_string(key)?,
            &ca,
        )
    }

    /// A channel presenting a freshly issued certificate.
    pub fn channel_with_leaf(&self, role: NodeRole, leaf: &Leaf, ca_pem: &str) -> Result<Channel> {
        self.channel_with(role, &leaf.cert_pem, &leaf.key_pem, ca_pem)
    }

    /// Node 1's coordinator, as the REST server.
    pub fn server(&self) -> Result<CoordinatorClient<Channel>> {
        Ok(
            CoordinatorClient::new(self.channel_as(NodeRole::Node1, Role::Server)?)
                .max_decoding_message_size(8 << 20),
        )
    }

    /// A node's operator service, as an operator.
    pub fn operator(&self, role: NodeRole) -> Result<OperatorClient<Channel>> {
        Ok(OperatorClient::new(self.channel_as(role, Role::Operator)?))
    }

    /// Node 2's peer service, as Node 1 (to test Node 2's own checks).
    pub fn as_node1(&self) -> Result<PeerClient<Channel>> {
        Ok(PeerClient::new(
            self.channel_as(NodeRole::Node2, Role::Node1)?,
        ))
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
        for role in NodeRole::ALL {
            let _ = self.kill(role);
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
