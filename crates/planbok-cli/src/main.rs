//! `planbok`: the command-line entry point.
//!
//! - `planbok demo`: every MPC protocol with both parties in this process.
//! - `planbok node --role 1|2 --config FILE`: an MPC node daemon.
//! - `planbok pki init DIR`: a development CA and one certificate per role.
//! - `planbok operator …`: status, init, unseal, seal and CGGMP provisioning of a node.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod demo;
mod node;
mod operator;

#[derive(Parser)]
#[command(
    name = "planbok",
    version,
    about = "Self-hostable 2-of-2 MPC wallet platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run key generation and signing for every protocol, both parties in this process.
    Demo,
    /// Run an MPC node daemon.
    Node(node::NodeArgs),
    /// Development PKI.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Operate a node: status, init, unseal, seal, provision-aux.
    Operator(operator::OperatorArgs),
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Issue a CA and certificates for server, node1, node2 and operator into DIR.
    Init {
        /// Output directory (must not already hold a CA).
        dir: PathBuf,
        /// Extra DNS names or IP addresses for every certificate.
        #[arg(long = "san")]
        extra: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(),
        Command::Node(args) => node::run(args),
        Command::Pki {
            command: PkiCommand::Init { dir, extra },
        } => {
            planbok_node::pki::init(&dir, &extra)?;
            println!(
                "wrote ca.pem and server, node1, node2, operator certificates to {}",
                dir.display()
            );
            println!("the CA key was not kept: issue a new PKI to add certificates");
            Ok(())
        }
        Command::Operator(args) => operator::run(args),
    }
}
