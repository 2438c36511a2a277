//! `planbok`: the command-line entry point.
//!
//! Today it has one verb, `demo`, which runs every MPC protocol with both parties in this
//! process, each on its own thread, and prints the signatures. The node, server and client
//! verbs arrive with their crates.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod demo;

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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(),
    }
}
