//! `planbok bench`: a load generator against a live server, in the spirit of pgbench.
//!
//! Setup makes one wallet set per ECDSA protocol asked and a few wallets per chain in each;
//! then `--clients` threads, each with its own keep-alive `Client`, send a weighted mix of
//! operations for `--duration` or `--requests`. Every request carries a fresh idempotency
//! key and, for a trustless organization, a freshly encrypted secret, as a real client must.
//! The transfer operations (`bench/transfer.rs`) are not in the default mix: they need a
//! chain (`--fund-rpc`).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use planbok_sdk::api::ErrorCode;
use planbok_sdk::api::model::{
    CreateOrganization, CreateWalletSet, CreateWallets, SignMessage, SignTransaction, Wallet,
};
use planbok_sdk::secret::{Context, OrgSecret};
use planbok_sdk::{Client, Error};

mod report;
mod transfer;

use report::{Report, Sample};

/// The default mix: every operation, CGGMP rare because one signature costs about as
/// much CPU as a hundred of the others.
const DEFAULT_MIX: &str = "sign-message-evm-cggmp=1,sign-message-evm-dkls23=4,sign-message-btc=2,sign-message-sol=4,sign-transaction-evm=2,create-wallet=1,read=2";

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The server's base URL.
    #[arg(long, env = "PLANBOK_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Create a fresh organization with this operator token (takes precedence over
    /// --api-key).
    #[arg(long, env = "PLANBOK_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Use an existing organization whose secret is registered.
    #[arg(long, env = "PLANBOK_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Node 1's identity key (`ed25519:<hex>`): the organization key must carry its
    /// signature. Without it the key is only pinned for the run.
    #[arg(long, env = "PLANBOK_NODE_KEY")]
    node_key: Option<String>,
    /// Custody of the organization created with --operator-token.
    #[arg(long, default_value = "standard", value_parser = ["standard", "trustless"])]
    custody: String,
    /// The organization secret (64 hex) of a trustless organization given by --api-key.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// ECDSA protocols to set up wallet sets for.
    #[arg(long, value_delimiter = ',', default_value = "cggmp,dkls23")]
    protocols: Vec<String>,
    /// Concurrent clients (threads, each with its own connection).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// How long to run, e.g. 30s, 2m, 500ms (ignored with --requests).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many requests in all.
    #[arg(long)]
    requests: Option<u64>,
    /// Weighted operations, `op=weight,...` (weight 1 when omitted). Operations:
    /// sign-message-evm-cggmp, sign-message-evm-dkls23, sign-message-btc, sign-message-sol,
    /// sign-transaction-evm, create-wallet, read; and, with --fund-rpc, transfer and
    /// transfer-confirmed (native ETH-SEPOLIA transfers, timed to the answer or to
    /// confirmation).
    #[arg(long, default_value = DEFAULT_MIX)]
    mix: String,
    /// An EVM JSON-RPC endpoint with an unlocked, funded account (e.g. anvil), the one the
    /// server's `[chains.ETH-SEPOLIA] rpc_url` names: the transfer operations' wallets get
    /// 10 ETH each from it before the load.
    #[arg(long)]
    fund_rpc: Option<String>,
    /// Wallet indexes per chain in each wallet set.
    #[arg(long, default_value_t = 2)]
    wallets: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unit of {s}: ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    SignEvmCggmp,
    SignEvmDkls,
    SignBtc,
    SignSol,
    SignTxEvm,
    CreateWallet,
    Read,
    Transfer,
    TransferConfirmed,
}

const OPS: [Op; 9] = [
    Op::SignEvmCggmp,
    Op::SignEvmDkls,
    Op::SignBtc,
    Op::SignSol,
    Op::SignTxEvm,
    Op::CreateWallet,
    Op::Read,
    Op::Transfer,
    Op::TransferConfirmed,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::SignEvmCggmp => "sign-message-evm-cggmp",
            Op::SignEvmDkls => "sign-message-evm-dkls23",
            Op::SignBtc => "sign-message-btc",
            Op::SignSol => "sign-message-sol",
            Op::SignTxEvm => "sign-transaction-evm",
            Op::CreateWallet => "create-wallet",
            Op::Read => "read",
            Op::Transfer => "transfer",
            Op::TransferConfirmed => "transfer-confirmed",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        OPS.into_iter().find(|o| o.name() == s)
    }
}

fn parse_mix(s: &str) -> Result<Vec<(Op, u32)>> {
    let mut mix = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = match part.split_once('=') {
            Some((n, w)) => (n, w.parse().with_context(|| format!("weight in {part}"))?),
            None => (part, 1),
        };
        let op = Op::parse(name).with_context(|| format!("unknown operation {name}"))?;
        if weight > 0 {
            mix.push((op, weight));
        }
    }
    if mix.is_empty() {
        bail!("--mix names no operation");
    }
    Ok(mix)
}

/// What the load phase uses: the wallets each operation draws from.
#[derive(Default)]
struct Targets {
    evm_cggmp: Vec<String>,
    evm_dkls: Vec<String>,
    /// BTC and transaction signing use the DKLs23 set when there is one (a CGGMP
    /// signature would dominate their latency), else the CGGMP set.
    btc: Vec<String>,
    evm_tx: Vec<String>,
    /// The addresses of `evm_tx` (funded for the transfer operations).
    evm_tx_addresses: Vec<String>,
    sol: Vec<String>,
    all: Vec<String>,
    /// Where create-wallet adds wallets.
    set: Option<String>,
}

impl Targets {
    fn for_op(&self, op: Op) -> &[String] {
        match op {
            Op::SignEvmCggmp => &self.evm_cggmp,
            Op::SignEvmDkls => &self.evm_dkls,
            Op::SignBtc => &self.btc,
            Op::SignSol => &self.sol,
            Op::SignTxEvm | Op::Transfer | Op::TransferConfirmed => &self.evm_tx,
            Op::CreateWallet => self.set.as_slice(),
            Op::Read => &self.all,
        }
    }
}

/// Everything the clients share.
struct Ctx {
    url: String,
    key: String,
    /// The secret and the organization's public key, for trustless organizations.
    trustless: Option<(OrgSecret, String)>,
    targets: Targets,
    mix: Vec<(Op, u32)>,
    /// ETH-SEPOLIA's native token id, when the mix transfers.
    native: Option<String>,
}

impl Ctx {
    fn secret(&self, context: Context) -> Result<Option<String>, Error> {
        match &self.trustless {
            Some((s, pem)) => s
                .encrypt(pem, context, None)
                .map(Some)
                .map_err(|e| Error::Transport(format!("encrypting the secret: {e}"))),
            None => Ok(None),
        }
    }
}

/// The organization to use: its owner key, custody, and secret when trustless.
fn organization(args: &BenchArgs) -> Result<(String, String, Option<OrgSecret>)> {
    if let Some(token) = &args.operator_token {
        let suffix = &planbok_sdk::idempotency_key()[..8];
        let created = Client::operator(&args.url, token)
            .create_organization(&CreateOrganization {
                name: format!("bench-{suffix}"),
                owner_name: "planbok bench".into(),
                owner_email: "bench@planbok.invalid".into(),
                node_pair: None,
            })
            .context("creating the benchmark organization")?;
        let key = created.api_key.secret;
        let client = Client::new(&args.url, &key);
        let secret = OrgSecret::generate();
        client
            .register_org_secret(&secret, &args.custody, &trust(args)?)
            .context("registering the secret")?;
        eprintln!(
            "created organization {} ({} custody)",
            created.organization.id, args.custody
        );
        let trustless = args.custody == "trustless";
        return Ok((key, args.custody.clone(), trustless.then_some(secret)));
    }
    let key = args
        .api_key
        .clone()
        .context("give --operator-token (a fresh organization) or --api-key")?;
    let org = Client::new(&args.url, &key).organization()?;
    match org.custody_mode.as_str() {
        "standard" => Ok((key, org.custody_mode, None)),
        "trustless" => {
            let f = args
                .secret_file
                .as_ref()
                .context("a trustless organization needs --secret-file")?;
            let hex =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Ok((key, org.custody_mode, Some(OrgSecret::from_hex(&hex)?)))
        }
        other => bail!("the organization's secret is not registered (custody {other})"),
    }
}

/// One wallet set per protocol, wallets on three chains; the protocols that worked.
fn set_up(
    client: &Client,
    args: &BenchArgs,
    secret: Option<&(OrgSecret, String)>,
) -> Result<(Targets, Vec<String>)> {
    let enc = |context| -> Result<Option<String>> {
        Ok(match secret {
            Some((s, pem)) => Some(s.encrypt(pem, context, None)?),
            None => None,
        })
    };
    let mut t = Targets::default();
    let mut done = Vec::new();
    for proto in &args.protocols {
        let started = Instant::now();
        let set = client
            .create_wallet_set(&CreateWalletSet {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                name: format!("bench {proto}"),
                encrypted_organization_secret: enc(Context::Dkg)?,
                ecdsa_protocol: Some(proto.clone()),
            })
            .with_context(|| format!("creating a {proto} wallet set"))?;
        let wallets: Vec<Wallet> = client
            .create_wallets(&CreateWallets {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_set_id: set.id.clone(),
                blockchains: vec![
                    "ETH-SEPOLIA".into(),
                    "BTC-TESTNET".into(),
                    "SOL-DEVNET".into(),
                ],
                count: Some(args.wallets.max(1)),
                metadata: Vec::new(),
                encrypted_organization_secret: enc(Context::Sign)?,
            })
            .with_context(|| format!("creating wallets in the {proto} set"))?;
        eprintln!(
            "{proto}: wallet set {} and {} wallets in {:.1} s",
            set.id,
            wallets.len(),
            started.elapsed().as_secs_f64()
        );
        let of = |chain: &str, field: fn(&Wallet) -> &String| -> Vec<String> {
            wallets
                .iter()
                .filter(|w| w.blockchain == chain)
                .map(|w| field(w).clone())
                .collect()
        };
        let ids: fn(&Wallet) -> &String = |w| &w.id;
        // A CGGMP key needs no auxiliary info, its signatures do: one probe (and warm-up)
        // signature tells whether the nodes are provisioned.
        let probe = client.sign_message(&SignMessage {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            wallet_id: of("ETH-SEPOLIA", ids).first().cloned().unwrap_or_default(),
            encrypted_organization_secret: enc(Context::Sign)?,
            memo: None,
            message: "planbok bench warm-up".into(),
            encoded_by_hex: false,
        });
        match probe {
            Ok(_) => {}
            Err(e) if e.code() == Some(ErrorCode::AuxNotProvisioned) => {
                eprintln!(
                    "skipping {proto}: the nodes are not provisioned for CGGMP \
                     (planbok operator provision-aux)"
                );
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("a first {proto} signature")),
        }
        let preferred = proto == "dkls23" || t.set.is_none();
        match proto.as_str() {
            "cggmp" => t.evm_cggmp = of("ETH-SEPOLIA", ids),
            "dkls23" => t.evm_dkls = of("ETH-SEPOLIA", ids),
            _ => {}
        }
        if preferred {
            t.btc = of("BTC-TESTNET", ids);
            t.evm_tx = of("ETH-SEPOLIA", ids);
            t.evm_tx_addresses = of("ETH-SEPOLIA", |w| &w.address);
            t.set = Some(set.id.clone());
        }
        t.sol.extend(of("SOL-DEVNET", ids));
        t.all.extend(wallets.into_iter().map(|w| w.id));
        done.push(proto.clone());
    }
    if done.is_empty() {
        bail!("no wallet set could be created");
    }
    Ok((t, done))
}

/// A small PRNG per client (xorshift64*): which operation and wallet come next.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Rng(u64::from_le_bytes(seed) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// What the report counts for a failed request: the API's stable code, or `transport`.
fn label(e: &Error) -> String {
    match e.code() {
        Some(c) => c.as_str().to_owned(),
        None => "transport".to_owned(),
    }
}

/// Runs one request of `op` on `wallet`; the error is the report's label for it.
fn request(ctx: &Ctx, client: &Client, op: Op, wallet: &str, n: u64) -> Result<(), String> {
    let native = ctx.native.as_deref().unwrap_or_default();
    let sign = || -> Result<(), Error> {
        client
            .sign_message(&SignMessage {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_id: wallet.into(),
                encrypted_organization_secret: ctx.secret(Context::Sign)?,
                memo: None,
                message: format!("planbok bench {n} {}", planbok_sdk::idempotency_key()),
                encoded_by_hex: false,
            })
            .map(drop)
    };
    let secret = || ctx.secret(Context::Sign).map_err(|e| label(&e));
    let r = match op {
        Op::Transfer => return transfer::transfer(client, wallet, native, secret()?, false),
        Op::TransferConfirmed => {
            return transfer::transfer(client, wallet, native, secret()?, true);
        }
        Op::SignEvmCggmp | Op::SignEvmDkls | Op::SignBtc | Op::SignSol => sign(),
        Op::SignTxEvm => {
            let tx = serde_json::json!({
                "type": 2, "nonce": n, "to": "0x3535353535353535353535353535353535353535",
                "value": "1", "gas": 21000, "maxFeePerGas": "30000000000",
                "maxPriorityFeePerGas": "1000000000",
            });
            client
                .sign_transaction(&SignTransaction {
                    idempotency_key: Some(planbok_sdk::idempotency_key()),
                    wallet_id: wallet.into(),
                    encrypted_organization_secret: secret()?,
                    memo: None,
                    raw_transaction: None,
                    transaction: Some(tx.to_string()),
                })
                .map(drop)
        }
        Op::CreateWallet => client
            .create_wallets(&CreateWallets {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_set_id: wallet.into(),
                blockchains: vec!["ETH-SEPOLIA".into()],
                count: Some(1),
                metadata: Vec::new(),
                encrypted_organization_secret: secret()?,
            })
            .map(drop),
        Op::Read if n.is_multiple_of(2) => client.wallet(wallet).map(drop),
        Op::Read => match client.raw("GET", "/v2/wallets?limit=10", None) {
            Ok((200, _)) => Ok(()),
            Err(e) => Err(e),
            Ok((status, body)) => Err(Error::Api {
                status,
                code: body["code"]
                    .as_str()
                    .and_then(ErrorCode::parse)
                    .unwrap_or(ErrorCode::Internal),
                message: body.to_string(),
            }),
        },
    };
    r.map_err(|e| label(&e))
}

/// When the load phase ends.
enum Limit {
    Requests { total: u64, issued: AtomicU64 },
    Until(Instant),
}

impl Limit {
    /// Claims the next request; `None` when the run is over.
    fn next(&self) -> Option<u64> {
        match self {
            Limit::Requests { total, issued } => {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                (n < *total).then_some(n)
            }
            Limit::Until(t) => (Instant::now() < *t).then_some(0),
        }
    }
}

#[derive(Default)]
struct Progress {
    done: AtomicU64,
    errors: AtomicU64,
    finished: AtomicBool,
}

fn client_loop(ctx: &Ctx, limit: &Limit, progress: &Progress) -> Vec<Sample> {
    let client = Client::new(&ctx.url, &ctx.key);
    let total: u64 = ctx.mix.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut rng = Rng::new();
    let mut samples = Vec::new();
    let mut local = 0u64;
    while let Some(n) = limit.next() {
        let mut pick = rng.below(total);
        let op = ctx
            .mix
            .iter()
            .find(|(_, w)| {
                let hit = pick < u64::from(*w);
                pick = pick.saturating_sub(u64::from(*w));
                hit
            })
            .map(|(op, _)| *op)
            .unwrap_or(ctx.mix[0].0);
        let wallets = ctx.targets.for_op(op);
        let wallet = &wallets[rng.below(wallets.len() as u64) as usize];
        local += 1;
        let started = Instant::now();
        let r = request(ctx, &client, op, wallet, n.max(local));
        let latency = started.elapsed();
        let error = r.err();
        if error.is_some() {
            progress.errors.fetch_add(1, Ordering::Relaxed);
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
        samples.push(Sample {
            op: op.name(),
            latency,
            error,
        });
    }
    samples
}

/// The live line on stderr, once a second.
fn progress_loop(progress: &Progress, started: Instant) {
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u64, started);
    while !progress.finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.1.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let done = progress.done.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (done - last.0) as f64 / (now - last.1).as_secs_f64();
        let line = format!(
            "{:>6.1} s  {done} requests  {rate:.1} req/s  {} errors",
            started.elapsed().as_secs_f64(),
            progress.errors.load(Ordering::Relaxed)
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
        last = (done, now);
    }
    if tty {
        eprintln!();
    }
}

/// Node 1's key if given (`PLANBOK_NODE_KEY`), pins for this run only.
fn trust(args: &BenchArgs) -> Result<planbok_sdk::trust::OrgKeyTrust> {
    let node = args
        .node_key
        .as_deref()
        .map(planbok_sdk::trust::OrgKeyTrust::parse_node_key)
        .transpose()?;
    Ok(planbok_sdk::trust::OrgKeyTrust::new(
        node,
        planbok_sdk::trust::MemoryPins::default(),
    ))
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let mut mix = parse_mix(&args.mix)?;
    let (key, custody, secret) = organization(&args)?;
    let client = Client::new(&args.url, &key);
    let trustless = match secret {
        Some(s) => Some((s, client.trusted_org_key(&trust(&args)?)?.key.pem)),
        None => None,
    };
    let (targets, protocols) = set_up(&client, &args, trustless.as_ref())?;
    mix.retain(|(op, _)| {
        let ok = !targets.for_op(*op).is_empty();
        if !ok {
            eprintln!(
                "leaving {} out of the mix: its wallet set was not created",
                op.name()
            );
        }
        ok
    });
    if mix.is_empty() {
        bail!("nothing left to run in the mix");
    }
    let transfers = mix
        .iter()
        .any(|(op, _)| matches!(op, Op::Transfer | Op::TransferConfirmed));
    let native = if transfers {
        let rpc = args.fund_rpc.as_deref().context(
            "the transfer operations need --fund-rpc: an EVM node with an unlocked funded \
             account, the one the server's [chains.ETH-SEPOLIA] rpc_url names",
        )?;
        let native = transfer::native_token(&client)?;
        transfer::fund(rpc, &targets.evm_tx_addresses)?;
        Some(native)
    } else {
        None
    };
    let ctx = Ctx {
        url: args.url.clone(),
        key,
        trustless,
        targets,
        mix,
        native,
    };
    let limit = match args.requests {
        Some(total) => Limit::Requests {
            total,
            issued: AtomicU64::new(0),
        },
        None => Limit::Until(Instant::now() + args.duration),
    };
    let progress = Progress::default();
    let started = Instant::now();
    let samples: Vec<Sample> = std::thread::scope(|s| {
        let reporter = s.spawn(|| progress_loop(&progress, started));
        let workers: Vec<_> = (0..args.clients)
            .map(|_| s.spawn(|| client_loop(&ctx, &limit, &progress)))
            .collect();
        let mut all = Vec::new();
        for w in workers {
            // A client thread only panics on a bug; its samples are lost, the run goes on.
            all.extend(w.join().unwrap_or_default());
        }
        progress.finished.store(true, Ordering::Relaxed);
        let _ = reporter.join();
        all
    });
    let elapsed = started.elapsed();
    let names: Vec<&'static str> = OPS.iter().map(|o| o.name()).collect();
    let (operations, overall) = report::summarize(&names, &samples, elapsed);
    let report = Report {
        url: args.url,
        clients: args.clients,
        custody,
        protocols,
        mix: ctx
            .mix
            .iter()
            .map(|(o, w)| (o.name().to_owned(), *w))
            .collect(),
        elapsed_s: elapsed.as_secs_f64(),
        operations,
        overall,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_table();
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn durations_and_mixes_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs").is_err());
        let mix = parse_mix("read, sign-message-sol=3,create-wallet=0").unwrap();
        assert_eq!(mix, vec![(Op::Read, 1), (Op::SignSol, 3)]);
        assert!(parse_mix("sign-everything").is_err());
        // Every operation but the transfers, which need a chain.
        assert_eq!(parse_mix(DEFAULT_MIX).unwrap().len(), OPS.len() - 2);
        assert_eq!(
            parse_mix("transfer=2,transfer-confirmed").unwrap(),
            vec![(Op::Transfer, 2), (Op::TransferConfirmed, 1)]
        );
    }
}
