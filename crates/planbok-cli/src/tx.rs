//! `planbok transfer`, `planbok tx list|get`, `planbok balance`: transactions over
//! `planbok-sdk` (`docs/transactions.md`).

use anyhow::{Result, bail};
use planbok_sdk::api::model::{Balances, CreateTransfer, ReplaceTransaction, Transaction};
use planbok_sdk::secret::Context;

use crate::client::Conn;

/// `planbok transfer`.
#[derive(clap::Args)]
pub struct TransferArgs {
    /// The sending wallet's id.
    #[arg(long)]
    wallet: String,
    /// The recipient address.
    #[arg(long)]
    to: String,
    /// The token id (`planbok tx tokens` lists them; a native coin's id is fixed).
    #[arg(long)]
    token: String,
    /// The amount, a decimal in the token's units (e.g. 0.25); ERC-1155: one whole amount
    /// per `--nft-token-id`, in the same order (repeat the flag).
    #[arg(long, required_unless_present = "nft_token_id")]
    amount: Vec<String>,
    /// An NFT's token id (ERC-721: one; ERC-1155: repeat for a batch).
    #[arg(long)]
    nft_token_id: Vec<String>,
    /// `low`, `medium` or `high`.
    #[arg(long, default_value = "medium")]
    fee_level: String,
    /// Your reference.
    #[arg(long)]
    ref_id: Option<String>,
    /// The idempotency key (a UUID v4; a new one by default). Retry with the same key.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// `planbok tx …`.
#[derive(clap::Subcommand)]
pub enum TxCommand {
    /// The organization's transactions, newest first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only these wallets (comma-separated).
        #[arg(long)]
        wallet_ids: Option<String>,
        /// Only this chain.
        #[arg(long)]
        blockchain: Option<String>,
        /// Only this hash.
        #[arg(long)]
        tx_hash: Option<String>,
    },
    /// One transaction.
    Get {
        /// Its id.
        id: String,
    },
    /// The tokens: native coins and the organization's registered ones.
    Tokens,
    /// Cancel a pending transaction: a 0-value self-transfer with its nonce and higher
    /// fees replaces it (the chain decides which one is mined).
    Cancel(ReplaceArgs),
    /// Accelerate a pending transaction: the same call with its nonce and fees raised by
    /// at least 12.5 %.
    Accelerate(ReplaceArgs),
}

/// `planbok tx cancel|accelerate`.
#[derive(clap::Args)]
pub struct ReplaceArgs {
    /// The transaction's id (or any of its replacements').
    id: String,
    /// The idempotency key (a UUID v4; a new one by default). Retry with the same key.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// `planbok balance`.
#[derive(clap::Args)]
pub struct BalanceArgs {
    /// A wallet's balances.
    #[arg(
        long,
        conflicts_with = "wallet_set",
        required_unless_present = "wallet_set"
    )]
    wallet: Option<String>,
    /// A wallet set's balances, summed over its wallets.
    #[arg(long)]
    wallet_set: Option<String>,
}

pub(crate) fn print_tx(t: &Transaction) {
    println!(
        "{} {:<9} {} nonce {}  {}",
        t.id,
        t.status,
        t.blockchain,
        t.nonce.map(|n| n.to_string()).unwrap_or_default(),
        t.transaction_hash.as_deref().unwrap_or("-")
    );
    println!(
        "  {} → {}  {} of token {}",
        t.source_address,
        t.destination_address,
        t.amounts.join(", "),
        t.token_id
    );
    if let Some(b) = t.block_number {
        println!(
            "  block {b}, {} confirmation(s), fee {}",
            t.confirmations.unwrap_or_default(),
            t.network_fee.as_deref().unwrap_or("-")
        );
    }
    if let Some(f) = &t.abi_function_signature {
        println!("  calls {f}");
    }
    if let Some(ids) = &t.nft_token_ids {
        println!("  token ids {}", ids.join(", "));
    }
    if let Some(r) = &t.replaces {
        println!("  replaces {r}");
    }
    if let Some(r) = &t.replaced_by {
        println!("  replaced by {r}");
    }
    if let Some(e) = &t.error_reason {
        println!("  error: {e}");
    }
}

/// A fresh, unbound `sign` secret for a trustless organization (none otherwise). It
/// cannot be bound to a payload: the server chooses the nonce and fees.
pub(crate) fn sign_secret(conn: &Conn, client: &planbok_sdk::Client) -> Result<Option<String>> {
    Ok(match conn.secret()? {
        Some(s) => {
            let key = conn.trusted_key(client)?;
            Some(s.encrypt(&key.key.pem, Context::Sign, None)?)
        }
        None => None,
    })
}

/// Runs `planbok transfer`.
pub fn transfer(conn: &Conn, a: TransferArgs) -> Result<()> {
    let client = conn.client()?;
    let secret = sign_secret(conn, &client)?;
    let t = client.transfer(&CreateTransfer {
        idempotency_key: Some(
            a.idempotency_key
                .unwrap_or_else(planbok_sdk::idempotency_key),
        ),
        wallet_id: a.wallet,
        destination_address: a.to,
        token_id: a.token,
        amounts: a.amount,
        nft_token_ids: (!a.nft_token_id.is_empty()).then_some(a.nft_token_id),
        fee_level: Some(a.fee_level),
        ref_id: a.ref_id,
        encrypted_organization_secret: secret,
    })?;
    conn.print(&t, print_tx)
}

/// Runs `planbok tx …`.
pub fn tx(conn: &Conn, cmd: TxCommand) -> Result<()> {
    let client = conn.client()?;
    match cmd {
        TxCommand::List {
            status,
            wallet_ids,
            blockchain,
            tx_hash,
        } => {
            let mut q = vec!["order=desc".to_owned(), "limit=100".to_owned()];
            for (k, v) in [
                ("status", status),
                ("walletIds", wallet_ids),
                ("blockchain", blockchain),
                ("txHash", tx_hash),
            ] {
                if let Some(v) = v {
                    if !v
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-,_".contains(&b))
                    {
                        bail!("{k}: unexpected characters in {v:?}");
                    }
                    q.push(format!("{k}={v}"));
                }
            }
            let list = client.transactions(&q.join("&"))?;
            conn.print(&list, |l| {
                println!("{} transaction(s)", l.total);
                for t in &l.items {
                    print_tx(t);
                }
            })
        }
        TxCommand::Get { id } => {
            let t = client.transaction(&id)?;
            conn.print(&t, print_tx)
        }
        TxCommand::Cancel(a) => {
            let body = replace_body(conn, &client, a.idempotency_key)?;
            let t = client.cancel_transaction(&a.id, &body)?;
            conn.print(&t, print_tx)
        }
        TxCommand::Accelerate(a) => {
            let body = replace_body(conn, &client, a.idempotency_key)?;
            let t = client.accelerate_transaction(&a.id, &body)?;
            conn.print(&t, print_tx)
        }
        TxCommand::Tokens => {
            let list = client.tokens(1)?;
            conn.print(&list, |l| {
                for t in &l.items {
                    println!(
                        "{} {:<13} {:<6} {:<7} {}",
                        t.id,
                        t.blockchain,
                        t.symbol,
                        t.standard,
                        t.address.as_deref().unwrap_or("")
                    );
                }
            })
        }
    }
}

fn replace_body(
    conn: &Conn,
    client: &planbok_sdk::Client,
    key: Option<String>,
) -> Result<ReplaceTransaction> {
    Ok(ReplaceTransaction {
        idempotency_key: Some(key.unwrap_or_else(planbok_sdk::idempotency_key)),
        encrypted_organization_secret: sign_secret(conn, client)?,
    })
}

/// Runs `planbok balance`.
pub fn balance(conn: &Conn, a: BalanceArgs) -> Result<()> {
    let client = conn.client()?;
    let b: Balances = match (a.wallet, a.wallet_set) {
        (Some(w), None) => client.wallet_balances(&w)?,
        (None, Some(s)) => client.wallet_set_balances(&s)?,
        _ => bail!("give exactly one of --wallet and --wallet-set"),
    };
    conn.print(&b, |b| {
        for i in &b.items {
            let id = i
                .nft_token_id
                .as_deref()
                .map(|id| format!(" #{id}"))
                .unwrap_or_default();
            println!(
                "{:>30} {:<6}{id} {} ({})",
                i.amount, i.token.symbol, i.token.blockchain, i.token.id
            );
        }
    })
}
