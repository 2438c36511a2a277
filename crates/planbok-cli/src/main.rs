//! `planbok`: the command-line entry point.
//!
//! - `planbok demo`: every MPC protocol with both parties in this process.
//! - `planbok node --role 1|2 --config FILE`: an MPC node daemon.
//! - `planbok pki init|renew|show DIR`: a CA (its key kept encrypted) and one certificate
//!   per role.
//! - `planbok operator …`: status, init, unseal, seal and CGGMP provisioning of a node.
//! - `planbok server --config FILE`: the REST server; `planbok server init|grant-public-key`
//!   its secrets; `planbok org create` the first organization.
//! - `planbok dev`: Node 1, Node 2 and the server on this machine, ready to use.
//! - `planbok secret|wallet-set|wallet|sign …`: client verbs over the REST API.
//! - `planbok webhook …`: webhook endpoints and their deliveries; `webhook listen` a local
//!   receiver that verifies and prints events.
//! - `planbok transfer`, `planbok tx list|get|tokens`, `planbok balance`: transactions.
//! - `planbok audit verify`: checks the audit trail's hash chains.
//! - `planbok bench`: a load generator against a live server.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod audit;
mod bench;
mod bootstrap;
mod client;
mod contract;
mod customer;
mod customer_ops;
mod daemon;
mod demo;
mod dev;
mod export;
mod node;
mod operator;
mod pki;
mod server;
mod tx;
mod webhook;

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
        command: pki::PkiCommand,
    },
    /// Operate a node: status, init, unseal, seal, provision-aux, key-custody.
    Operator(operator::OperatorArgs),
    /// Run the REST server (`--config FILE`), or bootstrap it (`init`, `grant-public-key`).
    Server(server::ServerArgs),
    /// Organizations (operator token).
    Org {
        #[command(subcommand)]
        command: bootstrap::OrgCommand,
    },
    /// Run Node 1, Node 2 and the server on this machine (SQLite, dev keystores).
    Dev(dev::DevArgs),
    /// The organization secret: generate, encrypt, register.
    Secret {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: client::SecretCommand,
    },
    /// Wallet sets.
    WalletSet {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: client::WalletSetCommand,
    },
    /// Wallets.
    Wallet {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: client::WalletCommand,
    },
    /// Sign a message, typed data or a transaction.
    Sign {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: client::SignCommand,
    },
    /// Key export, client side: key pair, request, decrypt to CSV.
    Export {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// Load-test a live server: a weighted mix of signing, wallet creation and reads from
    /// concurrent clients; latency percentiles and throughput per operation.
    Bench(bench::BenchArgs),
    /// Webhook endpoints, their delivery log, and `listen`, a local verifying receiver.
    Webhook {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: webhook::WebhookCommand,
    },
    /// Contract calls: `exec` (signed, sent), `call` (read-only), `estimate` (fees).
    Contract {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: contract::ContractCommand,
    },
    /// Send a native coin, an ERC-20, an ERC-721 or ERC-1155 tokens from a wallet.
    Transfer {
        #[command(flatten)]
        conn: client::Conn,
        #[command(flatten)]
        args: tx::TransferArgs,
    },
    /// Transactions: list, get, cancel, accelerate; the tokens.
    Tx {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: tx::TxCommand,
    },
    /// A wallet's or a wallet set's balances.
    Balance {
        #[command(flatten)]
        conn: client::Conn,
        #[command(flatten)]
        args: tx::BalanceArgs,
    },
    /// Customers (end users with a PIN) and their challenges; `complete` finishes a
    /// challenge from its Gateway URL as the end user.
    Customer {
        #[command(flatten)]
        conn: client::Conn,
        #[command(subcommand)]
        command: customer::CustomerCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(),
        Command::Node(args) => node::run(args),
        Command::Pki { command } => pki::run(command),
        Command::Operator(args) => operator::run(args),
        Command::Server(args) => server::run(args),
        Command::Org { command } => bootstrap::org(command),
        Command::Dev(args) => dev::run(args),
        Command::Secret { conn, command } => client::secret(&conn, command),
        Command::WalletSet { conn, command } => client::wallet_set(&conn, command),
        Command::Wallet { conn, command } => client::wallet(&conn, command),
        Command::Sign { conn, command } => client::sign(&conn, command),
        Command::Export { conn, command } => export::run(&conn, command),
        Command::Webhook { conn, command } => webhook::run(&conn, command),
        Command::Contract { conn, command } => contract::contract(&conn, command),
        Command::Transfer { conn, args } => tx::transfer(&conn, args),
        Command::Tx { conn, command } => tx::tx(&conn, command),
        Command::Balance { conn, args } => tx::balance(&conn, args),
        Command::Audit { command } => audit::run(command),
        Command::Customer { conn, command } => customer::run(&conn, command),
        Command::Bench(args) => bench::run(args),
    }
}
