//! `planbok operator`: talks to a node's Operator service with the operator certificate.

use std::io::BufRead as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use planbok_node::tls::TlsMaterial;
use planbok_proto::codes;
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::{
    InitRequest, NodeStatus, ProvisionAuxRequest, SealRequest, SealState, StatusRequest,
    UnsealRequest,
};
use tonic::transport::Endpoint;

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
    #[command(subcommand)]
    command: OperatorCommand,
}

#[derive(clap::Subcommand)]
enum OperatorCommand {
    /// Seal state, backend, CGGMP readiness.
    Status,
    /// Initialize a `sealed` keystore: prints N unseal keys, once.
    Init {
        #[arg(long, default_value_t = 5)]
        shares: u32,
        #[arg(long, default_value_t = 3)]
        threshold: u32,
    },
    /// Submit one unseal key (read from stdin when not given, so it stays out of shell history).
    Unseal { key: Option<String> },
    /// Seal the node again: it refuses all work until unsealed.
    Seal,
    /// Node 1: generate the CGGMP auxiliary info with Node 2 (minutes, once per node pair).
    ProvisionAux {
        /// Generate it again even if present.
        #[arg(long)]
        replace: bool,
    },
}

fn print_status(s: &NodeStatus) {
    let state = SealState::try_from(s.seal_state)
        .map(|x| {
            x.as_str_name()
                .trim_start_matches("SEAL_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into());
    println!("node {}: {state}", s.role);
    if state == "sealed" {
        println!(
            "  unseal progress: {}/{} (of {} keys)",
            s.progress, s.threshold, s.shares
        );
    }
    println!("  keystore: {}", s.backend);
    if !s.identity_public_key.is_empty() {
        // Clients verify organization keys with Node 1's (PLANBOK_NODE_KEY).
        println!("  identity key: {}", s.identity_public_key);
    }
    println!(
        "  cggmp aux info: {}",
        if s.cggmp_ready {
            "provisioned"
        } else {
            "missing"
        }
    );
}

pub fn run(args: OperatorArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tls = TlsMaterial::from_files(
            &args.pki.join("ca.pem"),
            &args.pki.join("operator.pem"),
            &args.pki.join("operator.key"),
        )?;
        let channel = Endpoint::from_shared(args.node.clone())?
            .tls_config(tls.client(&format!("{}.planbok", args.node_role)))?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.node))?;
        let mut c = OperatorClient::new(channel);
        let fail = |s: tonic::Status| {
            let code = codes::code_of(&s).map(|c| c.as_str()).unwrap_or("transport");
            anyhow::anyhow!("{code}: {}", s.message())
        };
        match args.command {
            OperatorCommand::Status => {
                print_status(&c.status(StatusRequest {}).await.map_err(fail)?.into_inner())
            }
            OperatorCommand::Init { shares, threshold } => {
                let r = c
                    .init(InitRequest { shares, threshold })
                    .await
                    .map_err(fail)?
                    .into_inner();
                println!("Unseal keys (shown once; give one to each operator, any {threshold} unseal the node):");
                for k in &r.unseal_keys {
                    println!("  {k}");
                }
                if let Some(s) = &r.status {
                    print_status(s);
                }
            }
            OperatorCommand::Unseal { key } => {
                let key = match key {
                    Some(k) => k,
                    None => {
                        eprint!("unseal key: ");
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line)?;
                        line.trim().to_string()
                    }
                };
                print_status(&c.unseal(UnsealRequest { key }).await.map_err(fail)?.into_inner())
            }
            OperatorCommand::Seal => {
                print_status(&c.seal(SealRequest {}).await.map_err(fail)?.into_inner())
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
        Ok(())
    })
}
