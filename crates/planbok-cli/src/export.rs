//! `planbok export …`: the client side of key export. The server and the nodes only ever
//! see ciphertexts: each node seals its own share to an X25519 key made here, and only
//! `planbok export decrypt`, on the owner's machine, rebuilds the private keys.
//!
//! Output: `planbok_sdk::export`'s CSV (the one the Gateway page writes too).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use planbok_sdk::api::model::{ExportWallets, WalletsExported};
use planbok_sdk::export::{CSV_HEADER, ExportRecipientSecret, csv_row};
use zeroize::Zeroizing;

use crate::client::Conn;
use crate::daemon::write_private;

#[derive(clap::Subcommand)]
pub enum ExportCommand {
    /// Make the one-time X25519 key pair: the secret goes to FILE (0600), the public key
    /// (base64) is printed for `export request`.
    Keypair {
        /// Where to write the secret.
        #[arg(long)]
        out: PathBuf,
    },
    /// Ask the nodes to seal the wallets' shares to the public key (owner key, trustless
    /// organization, the organization secret for a `verify` ciphertext).
    Request {
        /// A wallet (repeat; all of the organization's when absent).
        #[arg(long = "wallet")]
        wallets: Vec<String>,
        /// The base64 public key from `export keypair`.
        #[arg(long)]
        recipient_public_key: String,
        /// Where to write the answer (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Open the ciphertexts with the key pair's secret and print the CSV.
    Decrypt {
        /// The secret file from `export keypair`.
        #[arg(long)]
        recipient_secret: PathBuf,
        /// The answer file from `export request`.
        #[arg(long)]
        response: PathBuf,
    },
}

pub fn run(conn: &Conn, cmd: ExportCommand) -> Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match cmd {
        ExportCommand::Keypair { out } => {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut seed[..]).map_err(|e| anyhow::anyhow!("random: {e}"))?;
            let sk = ExportRecipientSecret::from_bytes(&seed)?;
            write_private(&out, &hex::encode(&seed[..]))?;
            println!("{}", b64.encode(sk.public_key()));
            Ok(())
        }
        ExportCommand::Request {
            wallets,
            recipient_public_key,
            out,
        } => {
            let client = conn.client()?;
            let recipient: [u8; 32] = b64
                .decode(recipient_public_key.trim())
                .ok()
                .and_then(|k| k.try_into().ok())
                .context("--recipient-public-key is 32 bytes, base64 (from `export keypair`)")?;
            // The secret is bound to the recipient and to every key exported, so name the
            // wallets: all of the organization's when none is given.
            let wallets = if wallets.is_empty() {
                client.all_wallet_ids()?
            } else {
                wallets
            };
            let Some(secret) = conn.seal_export(&client, &recipient, &wallets)? else {
                bail!("export needs the organization secret: --secret-file or PLANBOK_ORG_SECRET");
            };
            let r = client.export_wallets(&ExportWallets {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_ids: Some(wallets),
                recipient_public_key,
                encrypted_organization_secret: Some(secret),
            })?;
            std::fs::write(&out, serde_json::to_string_pretty(&r)?)?;
            eprintln!(
                "{} wallets sealed to the recipient key; decrypt with `planbok export decrypt`",
                r.wallets.len()
            );
            Ok(())
        }
        ExportCommand::Decrypt {
            recipient_secret,
            response,
        } => {
            let hexed = Zeroizing::new(std::fs::read_to_string(&recipient_secret)?);
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hexed.trim(), &mut seed[..])
                .context("the recipient secret is 64 hex")?;
            let sk = ExportRecipientSecret::from_bytes(&seed)?;
            let r: WalletsExported = serde_json::from_str(&std::fs::read_to_string(&response)?)
                .context("the response file is not an export answer")?;
            println!("{CSV_HEADER}");
            for e in &r.wallets {
                let row = csv_row(
                    &sk,
                    &e.key_id,
                    &b64.decode(&e.node1_ciphertext)?,
                    &b64.decode(&e.node2_ciphertext)?,
                    &e.protocol,
                    &e.wallet,
                )?;
                println!("{}", &*row);
            }
            Ok(())
        }
    }
}
