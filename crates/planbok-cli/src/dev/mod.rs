//! `planbok dev`: the whole system on one machine for a first run.
//!
//! Starts Node 2, Node 1 and the REST server as three separate `planbok` processes with
//! SQLite databases, a generated PKI and dev keystores (auto-unsealing key files, loudly
//! labelled) under one data directory. On first start it generates the CGGMP auxiliary
//! info (safe primes; a minute or two) and creates an organization with a Standard-custody
//! secret and an owner API key; later starts reuse all of it. Ctrl-C stops all three.
//! With `--replicas N --database postgres://…` it runs N servers behind haproxy instead of
//! one ([`replicas`]).
//!
//! The data directory holds the dev keystores' key files, the PKI's private keys, the grant
//! key, the operator token, the owner API key and the org secret: with them anyone can sign.
//! So it is private to the user: the directory 0700 and everything in it 0600/0700, set by a
//! umask of 077 for this process and the three it starts (their databases, WAL files and
//! logs included), and re-applied at every start to a directory an older version or another
//! tool left readable.

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use planbok_node::config::{
    CggmpConfig, KeystoreConfig, Limits, NodeConfig, PeerConfig, TlsConfig as NodeTls,
};
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::{ProvisionAuxRequest, StatusRequest};
use planbok_proto::tls::TlsMaterial;
use planbok_sdk::Client;
use planbok_sdk::api::model::CreateOrganization;
use planbok_sdk::secret::OrgSecret;
use planbok_server::config::{
    CategoryLimits, Node1Config, Rate, RateLimitConfig, ServerConfig, TlsFiles,
};
use planbok_types::NodeRole;
use tonic::transport::Endpoint;

use crate::daemon::write_private;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Where everything is kept (PKI, databases, keystore files, logs, the owner key).
    #[arg(long, env = "PLANBOK_DATA", default_value = "planbok-data")]
    data: PathBuf,
    /// The REST port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Node 1's port (Node 2 gets the next one).
    #[arg(long, default_value_t = 7701)]
    node_port: u16,
    /// The Gateway page's port on 127.0.0.1 (its own origin; default: --port + 1).
    #[arg(long)]
    gateway_port: Option<u16>,
    /// Run this many server replicas behind a front proxy (haproxy) on --port; they
    /// listen on --port + 101, + 102, …. Needs --database postgres://… (at first start).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// The server's database, fixed at first start: a PostgreSQL URL (default: SQLite
    /// in the data directory).
    #[arg(long)]
    database: Option<String>,
    /// Share the rate limits through this Redis (`redis://host:port/db`).
    #[arg(long)]
    redis: Option<String>,
    /// A chain's RPC, `CHAIN=URL` (e.g. `ETH-SEPOLIA=http://127.0.0.1:8545`); repeatable.
    /// The server refuses to start if the RPC serves another chain id.
    #[arg(long = "rpc", value_name = "CHAIN=URL")]
    rpcs: Vec<String>,
    /// An SMTP relay on this machine, `HOST:PORT` (e.g. `127.0.0.1:1025`, plain SMTP: a
    /// loopback relay only), for customers' email recovery codes. Remembered in
    /// server.toml; edit its `[smtp]` for a real relay (TLS, login).
    #[arg(long, value_name = "HOST:PORT")]
    smtp: Option<String>,
    /// Tests only: known Paillier primes instead of generating safe primes (insecure).
    #[arg(long, hide = true)]
    insecure_pregenerated_primes: Option<PathBuf>,
}

mod replicas;

/// The children, by name; dropping it stops them (last started first).
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in self.0.iter_mut().rev() {
            // SIGTERM first, so each finishes what it is doing.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
            eprintln!("stopped {name}");
        }
    }
}

/// Generous rate limits so that `planbok bench` measures the nodes, not the limiter. A
/// production server keeps the defaults (10 signatures/s per organization) or sets its own.
fn dev_rate_limits() -> RateLimitConfig {
    let both = |count, period_ms| CategoryLimits {
        per_org: Rate { count, period_ms },
        per_ip: Rate { count, period_ms },
    };
    RateLimitConfig {
        redis_url: None,
        authentication: both(100, 60_000),
        management: both(10_000, 1000),
        signing: both(10_000, 1000),
        reads: both(10_000, 1000),
    }
}

fn random_hex() -> String {
    OrgSecret::generate().to_hex().to_string()
}

/// Writes the PKI, keys and configs on first start.
fn lay_out(dir: &Path, args: &DevArgs) -> Result<()> {
    if dir.join("server.toml").exists() {
        return Ok(());
    }
    planbok_node::pki::init(&dir.join("pki"), &["localhost".into()])?;
    let grant = planbok_proto::grant::GrantSigner::generate();
    write_private(&dir.join("grant.key"), &hex::encode(*grant.to_seed()))?;
    write_private(&dir.join("operator.token"), &random_hex())?;
    let (p1, p2) = (args.node_port, args.node_port + 1);
    let primes = match &args.insecure_pregenerated_primes {
        Some(p) => Some(std::path::absolute(p)?),
        None => None,
    };
    for role in NodeRole::ALL {
        let name = role.name();
        let config = NodeConfig {
            role,
            listen: ([127, 0, 0, 1], [p1, p2][role.index()]).into(),
            database_url: format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            grant_public_key: grant.public_key().to_hex(),
            tls: NodeTls {
                ca: "pki/ca.pem".into(),
                cert: format!("pki/{name}.pem").into(),
                key: format!("pki/{name}.key").into(),
            },
            peer: (role == NodeRole::Node1)
                .then(|| PeerConfig::new(format!("https://127.0.0.1:{p2}"))),
            keystore: KeystoreConfig::Dev {
                key_file: format!("{name}.devkey").into(),
                allow_dev: true,
            },
            limits: Limits::default(),
            cggmp: CggmpConfig {
                insecure_pregenerated_primes: primes.clone(),
            },
            database_credentials: Default::default(),
            database_openbao: None,
            metrics_listen: None,
        };
        let text = format!(
            "# planbok dev: Node {role}. Dev keystore: NOT for production.\n{}",
            config.to_toml()?
        );
        std::fs::write(dir.join(format!("{name}.toml")), text)?;
    }
    let mut server = ServerConfig::new(
        format!("127.0.0.1:{}", args.port),
        String::new(),
        "operator.token",
        "grant.key",
        Node1Config::new(format!("https://127.0.0.1:{p1}")),
        TlsFiles {
            ca: "pki/ca.pem".into(),
            cert: "pki/server.pem".into(),
            key: "pki/server.key".into(),
        },
    );
    server.rate_limits = dev_rate_limits();
    replicas::apply_first(&mut server, args, dir);
    // Dev: webhooks may target http:// receivers on loopback (`planbok webhook listen`).
    server.webhooks.allow_loopback = true;
    replicas::write(&dir.join("server.toml"), &server, false)
}

/// Group and other permission bits: none may be set on anything in the data directory.
const SHARED_BITS: u32 = 0o077;

/// Creates the data directory private (0700), or makes an existing one private: removes
/// group and other permissions from it and from everything under it (symlinks are left
/// alone, and not followed). Returns what it had to change, to tell the user.
fn make_private(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut fixed = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        // The top directory may be a symlink the user chose; below it, links are skipped.
        let meta = if path == dir {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        }
        .with_context(|| format!("reading {}", path.display()))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            for entry in
                std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
            {
                pending.push(entry?.path());
            }
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & SHARED_BITS != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !SHARED_BITS))
                .with_context(|| {
                format!(
                    "{} is readable by other users (mode {mode:o}) and its mode cannot be changed; \
                         planbok dev keeps keys there: use a data directory you own",
                    path.display()
                )
            })?;
            fixed.push(path);
        }
    }
    Ok(fixed)
}

fn spawn(dir: &Path, name: &str, args: &[&str]) -> Result<Child> {
    spawn_program(dir, name, &std::env::current_exe()?, args)
}

/// Starts `program` in `dir`, its stderr appended to `<name>.log`.
fn spawn_program(dir: &Path, name: &str, program: &Path, args: &[&str]) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(format!("{name}.log")))?;
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {name}"))
}

/// Fails when a child has exited, except a server replica once the proxy runs, while
/// another replica does: the proxy sends its requests to the others, as a balancer in
/// production would.
fn check_alive(children: &mut Children, dir: &Path) -> Result<()> {
    let proxied = children.0.iter().any(|(n, _)| n == "proxy");
    let mut gone = Vec::new();
    for (i, (name, c)) in children.0.iter_mut().enumerate() {
        if let Some(status) = c.try_wait()? {
            let log = dir.join(format!("{name}.log"));
            if !(proxied && name.starts_with("server-")) {
                bail!("{name} exited ({status}); see {}", log.display());
            }
            eprintln!(
                "{name} exited ({status}; see {}); the proxy sends its requests to the other replicas",
                log.display()
            );
            gone.push(i);
        }
    }
    for i in gone.into_iter().rev() {
        children.0.remove(i);
    }
    if proxied && !children.0.iter().any(|(n, _)| n.starts_with("server-")) {
        bail!("every server replica exited");
    }
    Ok(())
}

async fn operator(
    dir: &Path,
    port: u16,
    role: u8,
) -> Result<OperatorClient<tonic::transport::Channel>> {
    let pki = dir.join("pki");
    let tls = TlsMaterial::from_files(
        &pki.join("ca.pem"),
        &pki.join("operator.pem"),
        &pki.join("operator.key"),
    )?;
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))?
        .tls_config(tls.client(&format!("node{role}.planbok")))?
        .connect()
        .await?;
    Ok(OperatorClient::new(channel))
}

async fn wait_node(
    dir: &Path,
    children: &mut Children,
    port: u16,
    role: u8,
) -> Result<OperatorClient<tonic::transport::Channel>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        check_alive(children, dir)?;
        if let Ok(mut c) = operator(dir, port, role).await
            && c.status(StatusRequest {}).await.is_ok()
        {
            return Ok(c);
        }
        if Instant::now() > deadline {
            bail!(
                "node {role} did not start; see {}",
                dir.join(format!("node{role}.log")).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn provision(
    node1: &mut OperatorClient<tonic::transport::Channel>,
    node2: &mut OperatorClient<tonic::transport::Channel>,
) -> Result<()> {
    let status = node1.status(StatusRequest {}).await?.into_inner();
    if status.cggmp_ready {
        return Ok(());
    }
    // Node 2 takes part in an aux-info run only when its own operator allowed it.
    node2
        .provision_aux(ProvisionAuxRequest { replace: true })
        .await
        .map_err(|s| anyhow::anyhow!("node 2 did not allow provisioning: {}", s.message()))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} generating CGGMP auxiliary info (safe primes, once per node pair) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut req = tonic::Request::new(ProvisionAuxRequest { replace: false });
    req.set_timeout(Duration::from_secs(3600));
    let r = node1.provision_aux(req).await;
    bar.finish_and_clear();
    let s = r.map_err(|s| anyhow::anyhow!("provisioning failed: {}", s.message()))?;
    if !s.into_inner().cggmp_ready {
        bail!("provisioning finished but CGGMP is not ready");
    }
    eprintln!("CGGMP auxiliary info generated (kept for every later start)");
    Ok(())
}

fn wait_http(children: &mut Children, dir: &Path, base: &str) -> Result<()> {
    let c = Client::anonymous(base);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        check_alive(children, dir)?;
        if matches!(c.raw("GET", "/health", None), Ok((200, _))) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not start; see {}",
                dir.join("server.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates the dev organization (Standard custody) on first start; returns the owner key.
/// The organization key is checked against Node 1's identity key like any client would.
fn bootstrap(dir: &Path, base: &str, node_key: &str) -> Result<String> {
    let key_file = dir.join("owner-api-key");
    if let Ok(k) = std::fs::read_to_string(&key_file) {
        return Ok(k.trim().to_owned());
    }
    let token = std::fs::read_to_string(dir.join("operator.token"))?;
    let created = Client::operator(base, token.trim())
        .create_organization(&CreateOrganization {
            name: "dev".into(),
            owner_name: "Dev Owner".into(),
            owner_email: "owner@dev.local".into(),
            node_pair: None,
        })
        .context("creating the dev organization")?;
    let key = created.api_key.secret;
    let client = Client::new(base, &key);
    let secret = OrgSecret::generate();
    let trust = planbok_sdk::trust::OrgKeyTrust::new(
        Some(planbok_sdk::trust::OrgKeyTrust::parse_node_key(node_key)?),
        planbok_sdk::trust::FilePins::new(dir.join("org-secret.hex.pins.json")),
    );
    client.register_org_secret(&secret, "standard", &trust)?;
    write_private(&dir.join("org-secret.hex"), &secret.to_hex())?;
    write_private(&key_file, &key)?;
    Ok(key)
}

fn quick_start(base: &str, key: &str, node_key: &str, dir: &Path, gateway: Option<&str>) {
    println!();
    println!("planbok is running (dev mode: SQLite, dev keystores — not for production)");
    println!("  REST API     {base}/v2   (interactive page: {base}/v2/docs)");
    if let Some(g) = gateway {
        println!("  Gateway      {g}/gateway/   (its own origin: customers' PINs and approvals)");
    }
    println!("  owner key    {key}");
    println!("  node 1 key   {node_key}   (clients verify the organization key with it)");
    println!("  data         {}", dir.display());
    println!(
        "  rate limits  10 000/s per category (dev only; see server.toml), for `planbok bench`"
    );
    println!();
    println!("Quick start, in another terminal:");
    println!("  export PLANBOK_URL={base} PLANBOK_API_KEY={key} PLANBOK_NODE_KEY={node_key}");
    println!(
        "  planbok wallet-set create --name treasury                     # prints the wallet set id"
    );
    println!("  planbok wallet create --wallet-set <id> --chain ETH-SEPOLIA --chain SOL-DEVNET");
    println!("  planbok sign message --wallet <wallet id> --message 'hello planbok'");
    println!();
    println!("or with curl:");
    println!(
        "  curl -s -H \"PLANBOK-X-API-KEY: $PLANBOK_API_KEY\" -H 'content-type: application/json' \\"
    );
    println!(
        "    -d \"{{\\\"idempotencyKey\\\": \\\"$(cat /proc/sys/kernel/random/uuid)\\\", \\\"name\\\": \\\"treasury\\\"}}\" \\"
    );
    println!("    {base}/v2/organization/wallet-sets");
    println!();
    println!("Ctrl-C stops every process; a restart keeps every wallet.");
}

pub fn run(args: DevArgs) -> Result<()> {
    // Before anything is created: every file this process and its children create (keys,
    // configs, SQLite databases and their WAL files, logs) is private to the user.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(SHARED_BITS));
    let dir = std::path::absolute(&args.data)?;
    let fixed = make_private(&dir)?;
    if !fixed.is_empty() {
        eprintln!(
            "planbok dev: {} was readable by other users; removed group/other permissions from {} entries (it holds keys)",
            dir.display(),
            fixed.len()
        );
    }
    lay_out(&dir, &args)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    let (p1, p2) = (args.node_port, args.node_port + 1);
    let mut children = Children(Vec::new());
    let servers = replicas::servers(&dir, &args)?;
    let proxy = if servers.len() > 1 {
        Some(replicas::haproxy()?)
    } else {
        None
    };
    children.0.push((
        "node2".into(),
        spawn(
            &dir,
            "node2",
            &["node", "--role", "2", "--config", "node2.toml"],
        )?,
    ));
    children.0.push((
        "node1".into(),
        spawn(
            &dir,
            "node1",
            &["node", "--role", "1", "--config", "node1.toml"],
        )?,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let node_key = rt.block_on(async {
        let mut n2 = wait_node(&dir, &mut children, p2, 2).await?;
        let mut n1 = wait_node(&dir, &mut children, p1, 1).await?;
        provision(&mut n1, &mut n2).await?;
        let status = n1.status(StatusRequest {}).await?.into_inner();
        if status.identity_public_key.is_empty() {
            bail!("node 1 reported no identity key");
        }
        Ok::<_, anyhow::Error>(status.identity_public_key)
    })?;
    // Public; rewritten at every start (it changes only if Node 1's data is replaced).
    std::fs::write(dir.join("node1-identity.pub"), format!("{node_key}\n"))?;
    let gateway = replicas::apply_gateway(&dir, &args, &node_key)?;
    for s in &servers {
        let child = spawn(&dir, &s.name, &["server", "--config", &s.config])?;
        children.0.push((s.name.clone(), child));
    }
    if let Some(haproxy) = &proxy {
        // Every replica first, then the proxy in front of them.
        for s in &servers {
            wait_http(&mut children, &dir, &format!("http://127.0.0.1:{}", s.port))?;
        }
        let child = spawn_program(&dir, "proxy", haproxy, &["-db", "-f", "haproxy.cfg"])?;
        children.0.push(("proxy".into(), child));
    }
    wait_http(&mut children, &dir, &base)?;
    let key = bootstrap(&dir, &base, &node_key)?;
    quick_start(&base, &key, &node_key, &dir, gateway.as_deref());
    if servers.len() > 1 {
        let ports: Vec<String> = servers.iter().map(|s| s.port.to_string()).collect();
        println!(
            "{} server replicas (127.0.0.1:{}) share one PostgreSQL{} behind haproxy on {base}; logs server-<i>.log, proxy.log",
            servers.len(),
            ports.join(", "),
            if args.redis.is_some() {
                " and one Redis rate limiter"
            } else {
                ""
            },
        );
    }
    rt.block_on(async {
        let shutdown = crate::daemon::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Err(e) = check_alive(&mut children, &dir) {
                        eprintln!("{e}");
                        break;
                    }
                }
            }
        }
    });
    drop(children);
    Ok(())
}
