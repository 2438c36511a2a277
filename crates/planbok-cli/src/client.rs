//! Client verbs over `planbok-sdk`: secrets, wallet sets, wallets, signing. Human output by
//! default, the API's `data` as JSON with `--json`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::model::{
    CreateWalletSet, CreateWallets, SignMessage, SignTransaction, SignTypedData, WalletMetadata,
};
use planbok_sdk::secret::{Context, OrgSecret};

/// Where the server is and who we are.
#[derive(clap::Args)]
pub struct Conn {
    /// The server's base URL.
    #[arg(
        long,
        env = "PLANBOK_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An API key.
    #[arg(long, env = "PLANBOK_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// A file holding the organization secret (64 hex): trustless requests then carry a
    /// fresh encrypted secret. `PLANBOK_ORG_SECRET` works too.
    #[arg(long, global = true)]
    secret_file: Option<PathBuf>,
    /// Print the API's `data` as JSON.
    #[arg(long, global = true)]
    json: bool,
}

impl Conn {
    pub fn client(&self) -> Result<Client> {
        let key = self
            .api_key
            .as_deref()
            .context("an API key is needed: --api-key or PLANBOK_API_KEY")?;
        Ok(Client::new(&self.url, key))
    }

    fn secret(&self) -> Result<Option<OrgSecret>> {
        if let Some(f) = &self.secret_file {
            let s =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            return Ok(Some(OrgSecret::from_hex(&s)?));
        }
        match std::env::var("PLANBOK_ORG_SECRET") {
            Ok(s) => Ok(Some(OrgSecret::from_hex(&s)?)),
            Err(_) => Ok(None),
        }
    }

    /// A fresh ciphertext for `context`, if a secret was given.
    pub fn encrypted(&self, client: &Client, context: Context) -> Result<Option<String>> {
        match self.secret()? {
            Some(s) => Ok(Some(s.encrypt(
                &client.organization_public_key()?,
                context,
                None,
            )?)),
            None => Ok(None),
        }
    }

    fn print<T: serde::Serialize>(&self, data: &T, human: impl FnOnce(&T)) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(data)?);
        } else {
            human(data);
        }
        Ok(())
    }
}

#[derive(clap::Subcommand)]
pub enum SecretCommand {
    /// Print a new random organization secret (64 hex). Keep it like a password.
    Generate {
        /// Write it to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Encrypt the secret for one request (RSA-OAEP-SHA256, base64), as the platform's
    /// Node.js recipe does. Prints the `encryptedOrganizationSecret` value.
    Encrypt {
        /// `dkg`, `sign` or `verify`.
        #[arg(long)]
        context: String,
        /// The organization's public key (PEM); fetched from the server when absent.
        #[arg(long)]
        public_key_file: Option<PathBuf>,
        /// Optional `binding`: 64 hex (SHA-256 of the operation).
        #[arg(long)]
        binding: Option<String>,
    },
    /// Register the secret once and fix the custody mode for good.
    Register {
        /// `standard` or `trustless`.
        #[arg(long)]
        mode: String,
    },
}

#[derive(clap::Subcommand)]
pub enum WalletSetCommand {
    /// Create a wallet set (one DKG per curve).
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// `cggmp` (default) or `dkls23`.
        #[arg(long)]
        protocol: Option<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum WalletCommand {
    /// Create wallets: every --chain at each of --count new indexes.
    Create {
        /// The wallet set.
        #[arg(long)]
        wallet_set: String,
        /// A chain id (repeat for several), e.g. ETH-SEPOLIA, SOL-DEVNET.
        #[arg(long = "chain", required = true)]
        chains: Vec<String>,
        /// How many indexes.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// A reference for each index (repeat --ref-id count times).
        #[arg(long = "ref-id")]
        ref_ids: Vec<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum SignCommand {
    /// Sign a message (EIP-191, BIP-137 or ed25519 by the wallet's chain).
    Message {
        /// The wallet.
        #[arg(long)]
        wallet: String,
        /// The message (UTF-8, or 0x-hex with --hex).
        #[arg(long)]
        message: String,
        /// The message is 0x-hex bytes.
        #[arg(long)]
        hex: bool,
        /// A memo for the audit trail.
        #[arg(long)]
        memo: Option<String>,
    },
    /// Sign EIP-712 typed data (EVM wallets).
    TypedData {
        /// The wallet.
        #[arg(long)]
        wallet: String,
        /// The typed data as JSON, or @FILE.
        #[arg(long)]
        data: String,
    },
    /// Sign a transaction.
    Transaction {
        /// The wallet.
        #[arg(long)]
        wallet: String,
        /// The unsigned transaction (EVM 0x-hex RLP; SOL/NEAR base64).
        #[arg(long, conflicts_with = "tx")]
        raw: Option<String>,
        /// EVM: the transaction's fields as JSON, or @FILE.
        #[arg(long)]
        tx: Option<String>,
    },
}

fn arg_or_file(s: &str) -> Result<String> {
    match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(s.to_owned()),
    }
}

pub fn secret(conn: &Conn, cmd: SecretCommand) -> Result<()> {
    match cmd {
        SecretCommand::Generate { out } => {
            let s = OrgSecret::generate();
            match out {
                Some(path) => {
                    crate::daemon::write_private(&path, &format!("{}\n", &*s.to_hex()))?;
                    eprintln!("wrote a new organization secret to {}", path.display());
                }
                None => println!("{}", &*s.to_hex()),
            }
            Ok(())
        }
        SecretCommand::Encrypt {
            context,
            public_key_file,
            binding,
        } => {
            let ctx = Context::parse(&context).context("--context is dkg, sign or verify")?;
            let secret = conn
                .secret()?
                .context("give the secret: --secret-file or PLANBOK_ORG_SECRET")?;
            let pem = match public_key_file {
                Some(f) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                None => conn.client()?.organization_public_key()?,
            };
            let binding = binding
                .map(|b| {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(b.trim_start_matches("0x"), &mut out)
                        .map(|_| out)
                        .map_err(|_| anyhow::anyhow!("--binding is 64 hex characters"))
                })
                .transpose()?;
            println!("{}", secret.encrypt(&pem, ctx, binding)?);
            Ok(())
        }
        SecretCommand::Register { mode } => {
            let Some(secret) = conn.secret()? else {
                bail!("give the secret: --secret-file or PLANBOK_ORG_SECRET");
            };
            let org = conn.client()?.register_org_secret(&secret, &mode)?;
            conn.print(&org, |o| {
                println!("organization {}: custody mode {}", o.id, o.custody_mode)
            })
        }
    }
}

pub fn wallet_set(conn: &Conn, cmd: WalletSetCommand) -> Result<()> {
    let WalletSetCommand::Create { name, protocol } = cmd;
    let client = conn.client()?;
    let set = client.create_wallet_set(&CreateWalletSet {
        idempotency_key: Some(planbok_sdk::idempotency_key()),
        name,
        encrypted_organization_secret: conn.encrypted(&client, Context::Dkg)?,
        ecdsa_protocol: protocol,
    })?;
    conn.print(&set, |s| {
        println!("wallet set {} ({}, {})", s.id, s.name, s.ecdsa_protocol);
        println!("  secp256k1 master {}", s.secp256k1_public_key);
        println!("  ed25519 master   {}", s.ed25519_public_key);
    })
}

pub fn wallet(conn: &Conn, cmd: WalletCommand) -> Result<()> {
    let WalletCommand::Create {
        wallet_set,
        chains,
        count,
        ref_ids,
    } = cmd;
    if !ref_ids.is_empty() && ref_ids.len() != count as usize {
        bail!("give --ref-id exactly --count times");
    }
    let client = conn.client()?;
    let wallets = client.create_wallets(&CreateWallets {
        idempotency_key: Some(planbok_sdk::idempotency_key()),
        wallet_set_id: wallet_set,
        blockchains: chains,
        count: Some(count),
        metadata: ref_ids
            .into_iter()
            .map(|r| WalletMetadata {
                name: None,
                ref_id: Some(r),
            })
            .collect(),
        encrypted_organization_secret: conn.encrypted(&client, Context::Sign)?,
    })?;
    conn.print(&wallets, |ws| {
        for w in ws {
            println!(
                "{:<13} {}  {}  ({})",
                w.blockchain, w.address, w.id, w.derivation_path
            );
        }
    })
}

pub fn sign(conn: &Conn, cmd: SignCommand) -> Result<()> {
    let client = conn.client()?;
    let secret = conn.encrypted(&client, Context::Sign)?;
    match cmd {
        SignCommand::Message {
            wallet,
            message,
            hex,
            memo,
        } => {
            let s = client.sign_message(&SignMessage {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_id: wallet,
                encrypted_organization_secret: secret,
                memo,
                message,
                encoded_by_hex: hex,
            })?;
            conn.print(&s, |s| {
                println!("signature {}", s.signature);
                println!("  standard {}  digest {}", s.standard, s.digest);
            })
        }
        SignCommand::TypedData { wallet, data } => {
            let s = client.sign_typed_data(&SignTypedData {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_id: wallet,
                encrypted_organization_secret: secret,
                memo: None,
                typed_data: arg_or_file(&data)?,
            })?;
            conn.print(&s, |s| {
                println!("signature {}", s.signature);
                println!("  digest {}", s.digest);
            })
        }
        SignCommand::Transaction { wallet, raw, tx } => {
            if raw.is_none() == tx.is_none() {
                bail!("give exactly one of --raw and --tx");
            }
            let s = client.sign_transaction(&SignTransaction {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_id: wallet,
                encrypted_organization_secret: secret,
                memo: None,
                raw_transaction: raw,
                transaction: tx.map(|t| arg_or_file(&t)).transpose()?,
            })?;
            conn.print(&s, |s| {
                println!("signed transaction {}", s.signed_transaction);
                println!("  tx hash {}", s.tx_hash);
            })
        }
    }
}
