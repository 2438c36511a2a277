//! `planbok operator`: talks to a node's Operator service with the operator certificate.

use std::io::{BufRead as _, IsTerminal as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use planbok_node::tls::TlsMaterial;
use planbok_proto::codes;
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::{
    CustodyMode, InitRequest, KeyCustodyRequest, NodeStatus, ProvisionAuxRequest, SealRequest,
    SealState, StatusRequest, UnsealRequest,
};
use tonic::transport::Endpoint;
use zeroize::Zeroizing;

#[derive(clap::Args)]
pub struct OperatorArgs {
    /// The node, e.g. https://127.0.0.1:7101.
    #[arg(long)]
    node: String,
    /// The node's role name in its certificate: node1 or node2.
    #[arg(long, default_value = "node1")]
    node_role: String,
    /// Directory holding ca.pem, operator.pem and operator.key (as `planbok pki init` writes).
    #[arg(long)]
    pki: PathBuf,
    /// Keep trying to connect for up to this many seconds (a node that is starting).
    #[arg(long, default_value_t = 0)]
    wait: u64,
    #[command(subcommand)]
    command: OperatorCommand,
}

#[derive(clap::Subcommand)]
enum OperatorCommand {
    /// Seal state, backend, CGGMP readiness, identity key. Exit code 0 when unsealed, 2
    /// when sealed or uninitialized, 1 on error (as `vault status`).
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Initialize a `sealed` keystore: prints N unseal keys, once.
    Init {
        #[arg(long, default_value_t = 5)]
        shares: u32,
        #[arg(long, default_value_t = 3)]
        threshold: u32,
        /// Write the keys to DIR/unseal-key-1 … -N (mode 0600, one file per operator)
        /// instead of printing them.
        #[arg(long)]
        key_dir: Option<PathBuf>,
    },
    /// Submit one unseal key: typed at a prompt without echo when stdin is a terminal, read
    /// from stdin when it is a pipe, or read from --key-file. Never on the command line,
    /// where `ps` and shell history would show it.
    Unseal {
        /// A file holding the unseal key (first line).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Refused: kept only to say so without printing the key back.
        #[arg(hide = true)]
        key_on_command_line: Option<zeroize::Zeroizing<String>>,
    },
    /// Seal the node again: it refuses all work until unsealed.
    Seal,
    /// CGGMP auxiliary info, once per node pair. Against Node 2 first: allows one run
    /// (valid 10 minutes). Then against Node 1: generates it with Node 2 (minutes).
    ProvisionAux {
        /// Generate it again even if present (on Node 2: allow replacing it).
        #[arg(long)]
        replace: bool,
    },
    /// This node's record of its keys' custody modes, per organization. With `--org` and
    /// `--set`: record the mode for that organization's keys whose mode was never recorded
    /// (keys made before modes were recorded; until then they are not exportable).
    KeyCustody {
        /// Only this organization.
        #[arg(long)]
        org: Option<String>,
        /// Record this mode (`standard` or `trustless`) for the organization's unrecorded keys.
        #[arg(long, requires = "org", value_parser = ["standard", "trustless"])]
        set: Option<String>,
    },
}

fn mode_name(mode: i32) -> &'static str {
    match CustodyMode::try_from(mode) {
        Ok(CustodyMode::Standard) => "standard",
        Ok(CustodyMode::Trustless) => "trustless",
        _ => "unrecorded",
    }
}

fn state_name(s: &NodeStatus) -> String {
    SealState::try_from(s.seal_state)
        .map(|x| {
            x.as_str_name()
                .trim_start_matches("SEAL_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn print_status(s: &NodeStatus) {
    let state = state_name(s);
    let initialized = state != "uninitialized";
    println!("node {}: {state}", s.role);
    let row = |k: &str, v: &dyn std::fmt::Display| println!("  {k:<18}{v}");
    row("Initialized", &initialized);
    row("Sealed", &(state != "unsealed"));
    row("Seal Type", &s.backend);
    if state == "sealed" {
        row(
            "Unseal Progress",
            &format!("{}/{} (of {} keys)", s.progress, s.threshold, s.shares),
        );
    }
    row(
        "Aux Info",
        &if s.cggmp_ready {
            "provisioned"
        } else {
            "missing"
        },
    );
    if !s.identity_public_key.is_empty() {
        // Clients verify organization keys with Node 1's (PLANBOK_NODE_KEY).
        row("Identity Key", &s.identity_public_key);
    }
    row("Version", &s.version);
}

/// `status --json`: the same fields, machine-readable.
fn status_json(node: &str, s: &NodeStatus) -> serde_json::Value {
    let state = state_name(s);
    serde_json::json!({
        "node": node,
        "role": s.role,
        "state": state,
        "initialized": state != "uninitialized",
        "sealed": state != "unsealed",
        "sealType": s.backend,
        "unsealProgress": s.progress,
        "unsealThreshold": s.threshold,
        "unsealShares": s.shares,
        "auxInfo": s.cggmp_ready,
        "identityKey": (!s.identity_public_key.is_empty()).then_some(&s.identity_public_key),
        "version": s.version,
    })
}

/// The unseal key from `--key-file`, the terminal (no echo) or a pipe, in that order.
/// Read before connecting, so a typo in the file name fails without touching the node.
fn read_unseal_key(key_file: Option<&Path>, on_command_line: bool) -> Result<Zeroizing<String>> {
    if on_command_line {
        anyhow::bail!(
            "the unseal key is not accepted as an argument: `ps` and shell history would show it. \
             Type it at the prompt, pipe it on stdin, or use --key-file"
        );
    }
    let text = match key_file {
        Some(path) => {
            let meta =
                std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "warning: {} is readable by other users; an unseal key file should be mode 0600",
                    path.display()
                );
            }
            Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
        }
        None if std::io::stdin().is_terminal() => {
            Zeroizing::new(rpassword::prompt_password("unseal key (not echoed): ")?)
        }
        None => {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line)?;
            line
        }
    };
    let key = Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned());
    if key.is_empty() {
        anyhow::bail!("no unseal key given");
    }
    Ok(key)
}

fn key_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("unseal-key-{i}"))
}

fn check_key_dir(dir: &Path, shares: u32) -> Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    for i in 1..=shares as usize {
        let f = key_file(dir, i);
        if f.exists() {
            anyhow::bail!(
                "{} exists; refusing to overwrite an unseal key",
                f.display()
            );
        }
    }
    Ok(())
}

/// One 0600 file per key, never overwriting.
fn write_unseal_keys(dir: &Path, keys: &[String]) -> Result<()> {
    for (i, k) in keys.iter().enumerate() {
        crate::daemon::write_private(&key_file(dir, i + 1), &format!("{k}\n"))?;
    }
    Ok(())
}

pub fn run(args: OperatorArgs) -> Result<()> {
    if let OperatorCommand::Init {
        key_dir: Some(dir),
        shares,
        ..
    } = &args.command
    {
        // Before connecting: the node makes keys it shows only once.
        check_key_dir(dir, *shares)?;
    }
    let unseal_key = match &args.command {
        OperatorCommand::Unseal {
            key_file,
            key_on_command_line,
        } => Some(read_unseal_key(
            key_file.as_deref(),
            key_on_command_line.is_some(),
        )?),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let unsealed = rt.block_on(async move {
        let mut unsealed = true;
        let tls = TlsMaterial::from_files(
            &args.pki.join("ca.pem"),
            &args.pki.join("operator.pem"),
            &args.pki.join("operator.key"),
        )?;
        let endpoint = Endpoint::from_shared(args.node.clone())?
            .tls_config(tls.client(&format!("{}.planbok", args.node_role)))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
        let channel = loop {
            match endpoint.connect().await {
                Ok(channel) => break channel,
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e))
                        .with_context(|| format!("connecting to {}", args.node));
                }
            }
        };
        let mut c = OperatorClient::new(channel);
        let (node, role) = (args.node.clone(), args.node_role.clone());
        let fail = |s: tonic::Status| {
            let code = codes::code_of(&s).map(|c| c.as_str()).unwrap_or("transport");
            anyhow::anyhow!("{role} at {node}: {code}: {}", s.message())
        };
        match args.command {
            OperatorCommand::Status { json } => {
                let s = c.status(StatusRequest {}).await.map_err(fail)?.into_inner();
                if json {
                    println!("{}", serde_json::to_string_pretty(&status_json(&args.node, &s))?);
                } else {
                    print_status(&s);
                }
                if state_name(&s) != "unsealed" {
                    unsealed = false;
                }
            }
            OperatorCommand::Init {
                shares,
                threshold,
                key_dir,
            } => {
                let r = c
                    .init(InitRequest { shares, threshold })
                    .await
                    .map_err(fail)?
                    .into_inner();
                let written = key_dir
                    .as_deref()
                    .map(|dir| write_unseal_keys(dir, &r.unseal_keys));
                if let Some(Ok(())) = written {
                    println!(
                        "Wrote {} unseal keys to {}/unseal-key-1 … -{0}: give one file to each \
                         operator and delete it here; any {threshold} unseal the node",
                        r.unseal_keys.len(),
                        key_dir.as_deref().unwrap_or(Path::new(".")).display()
                    );
                } else {
                    if let Some(Err(e)) = &written {
                        // The keys exist nowhere else: never lose them to a write error.
                        eprintln!("could not write the unseal keys ({e:#}); printing them instead");
                    }
                    println!("Unseal keys (shown once; give one to each operator, any {threshold} unseal the node):");
                    for k in &r.unseal_keys {
                        println!("  {k}");
                    }
                }
                if let Some(s) = &r.status {
                    print_status(s);
                }
            }
            OperatorCommand::Unseal { .. } => {
                // The request owns a plain String (a prost message): moved out, not copied.
                let mut key = unseal_key.unwrap_or_default();
                print_status(
                    &c.unseal(UnsealRequest {
                        key: std::mem::take(&mut *key),
                    })
                    .await
                    .map_err(fail)?
                    .into_inner(),
                )
            }
            OperatorCommand::Seal => {
                print_status(&c.seal(SealRequest {}).await.map_err(fail)?.into_inner())
            }
            OperatorCommand::ProvisionAux { replace } if args.node_role == "node2" => {
                print_status(
                    &c.provision_aux(ProvisionAuxRequest { replace })
                        .await
                        .map_err(fail)?
                        .into_inner(),
                );
                println!("node 2 accepts one aux-info run from node 1 in the next 10 minutes: run provision-aux against node 1 now");
            }
            OperatorCommand::KeyCustody { org, set } => {
                let set = match set.as_deref() {
                    Some("standard") => CustodyMode::Standard,
                    Some("trustless") => CustodyMode::Trustless,
                    _ => CustodyMode::Unspecified,
                };
                let r = c
                    .key_custody(KeyCustodyRequest {
                        org_id: org.unwrap_or_default(),
                        set: set as i32,
                    })
                    .await
                    .map_err(fail)?
                    .into_inner();
                println!("{:<40} {:<11} {:>6} {:>9}", "organization", "custody", "keys", "disabled");
                for o in &r.orgs {
                    println!(
                        "{:<40} {:<11} {:>6} {:>9}",
                        o.org_id,
                        mode_name(o.mode),
                        o.keys,
                        o.disabled
                    );
                }
            }
            OperatorCommand::ProvisionAux { replace } => {
                eprintln!("generating CGGMP auxiliary info on both nodes (safe primes: a few minutes)…");
                print_status(
                    &c.provision_aux(ProvisionAuxRequest { replace })
                        .await
                        .map_err(fail)?
                        .into_inner(),
                )
            }
        }
        Ok::<_, anyhow::Error>(unsealed)
    })?;
    if !unsealed {
        // As `vault status`: scripts tell "sealed or uninitialized" from "failed" (1).
        std::process::exit(2);
    }
    Ok(())
}
