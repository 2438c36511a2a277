//! Client verbs over `planbok-sdk`: secrets, wallet sets, wallets, signing. Human output by
//! default, the API's `data` as JSON with `--json`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::model::{
    CreateWalletSet, CreateWallets, SignMessage, SignTransaction, SignTypedData, WalletMetadata,
};
use planbok_sdk::secret::{Binding, Context, OrgSecret};
use planbok_sdk::trust::{FilePins, OrgKeyTrust, Sealer, TrustedOrgKey};

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
    /// Node 1's identity public key (`ed25519:<hex>`, printed by `planbok dev` and
    /// `planbok operator status`): the organization key must carry its signature.
    #[arg(long, env = "PLANBOK_NODE_KEY", global = true)]
    node_key: Option<String>,
    /// Where organization-key fingerprints are pinned on first use (default: beside the
    /// secret file, `<secret file>.pins.json`; else `~/.config/planbok/org-key-pins.json`).
    #[arg(long, env = "PLANBOK_PIN_FILE", global = true)]
    pin_file: Option<PathBuf>,
    /// Print the API's `data` as JSON.
    #[arg(long, global = true)]
    json: bool,
}

impl Conn {
    /// Node 1's identity key, if configured.
    pub fn node_key(&self) -> Option<&str> {
        self.node_key.as_deref()
    }

    pub fn client(&self) -> Result<Client> {
        let key = self
            .api_key
            .as_deref()
            .context("an API key is needed: --api-key or PLANBOK_API_KEY")?;
        Ok(Client::new(&self.url, key))
    }

    pub(crate) fn secret(&self) -> Result<Option<OrgSecret>> {
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

    fn pin_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.pin_file {
            return Ok(p.clone());
        }
        if let Some(f) = &self.secret_file {
            let mut name = f.as_os_str().to_owned();
            name.push(".pins.json");
            return Ok(PathBuf::from(name));
        }
        let home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .context("no --pin-file, secret file or home directory to keep pins in")?;
        let dir = home.join("planbok");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join("org-key-pins.json"))
    }

    /// The organization key, checked (Node 1's signature when `--node-key` is given, the
    /// pin always) before anything is encrypted to it.
    pub fn trusted_key(&self, client: &Client) -> Result<TrustedOrgKey> {
        let node = self
            .node_key
            .as_deref()
            .map(OrgKeyTrust::parse_node_key)
            .transpose()?;
        let pins = FilePins::new(self.pin_path()?);
        let pin_file = pins.path().display().to_string();
        let key = client.trusted_org_key(&OrgKeyTrust::new(node, pins))?;
        if key.pinned_now && !key.verified_by_node {
            eprintln!(
                "warning: no Node 1 identity key configured (--node-key or PLANBOK_NODE_KEY): \
                 pinned the organization key {} on first use in {pin_file}",
                key.key.fingerprint_hex()
            );
        }
        Ok(key)
    }

    /// A `verify` ciphertext bound to exporting `wallets` to `recipient`, if a secret was
    /// given.
    pub fn seal_export(
        &self,
        client: &Client,
        recipient: &[u8],
        wallets: &[String],
    ) -> Result<Option<String>> {
        self.with_sealer(client, |s| {
            s.map(|s| s.export(recipient, wallets))
                .transpose()
                .map_err(Into::into)
        })
    }

    /// The secret and a sealer for it, if a secret was given.
    fn with_sealer<T>(
        &self,
        client: &Client,
        f: impl FnOnce(Option<&Sealer<'_>>) -> Result<T>,
    ) -> Result<T> {
        match self.secret()? {
            Some(secret) => {
                let key = self.trusted_key(client)?;
                f(Some(&Sealer::new(client, &secret, key)))
            }
            None => f(None),
        }
    }

    pub fn print<T: serde::Serialize>(&self, data: &T, human: impl FnOnce(&T)) -> Result<()> {
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
                None => conn.trusted_key(&conn.client()?)?.key.pem,
            };
            let binding = binding
                .map(|b| {
                    Binding::from_hex(b.trim_start_matches("0x"))
                        .context("--binding is 64 hex characters")
                })
                .transpose()?;
            println!("{}", secret.encrypt(&pem, ctx, binding)?);
            Ok(())
        }
        SecretCommand::Register { mode } => {
            let Some(secret) = conn.secret()? else {
                bail!("give the secret: --secret-file or PLANBOK_ORG_SECRET");
            };
            let client = conn.client()?;
            let key = conn.trusted_key(&client)?;
            let org = client.register_secret(&planbok_sdk::api::model::RegisterSecret {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                encrypted_organization_secret: Sealer::new(&client, &secret, key).registration()?,
                custody_mode: mode,
            })?;
            conn.print(&org, |o| {
                println!("organization {}: custody mode {}", o.id, o.custody_mode)
            })
        }
    }
}

pub fn wallet_set(conn: &Conn, cmd: WalletSetCommand) -> Result<()> {
    let WalletSetCommand::Create { name, protocol } = cmd;
    let client = conn.client()?;
    let idem = planbok_sdk::idempotency_key();
    let secret = conn.with_sealer(&client, |s| {
        s.map(|s| s.creation(Context::Dkg, &idem))
            .transpose()
            .map_err(Into::into)
    })?;
    let set = client.create_wallet_set(&CreateWalletSet {
        idempotency_key: Some(idem),
        name,
        encrypted_organization_secret: secret,
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
    let idem = planbok_sdk::idempotency_key();
    let secret = conn.with_sealer(&client, |s| {
        s.map(|s| s.creation(Context::Sign, &idem))
            .transpose()
            .map_err(Into::into)
    })?;
    let wallets = client.create_wallets(&CreateWallets {
        idempotency_key: Some(idem),
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
        encrypted_organization_secret: secret,
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

/// What the nodes will sign for `cmd`, computed here as the server computes it, so the
/// secret's binding names exactly that (the server cannot swap the payload).
fn sign_payload(sealer: &Sealer<'_>, cmd: &SignCommand) -> Result<(String, Vec<u8>)> {
    let wallet_id = match cmd {
        SignCommand::Message { wallet, .. }
        | SignCommand::TypedData { wallet, .. }
        | SignCommand::Transaction { wallet, .. } => wallet.clone(),
    };
    let w = sealer.wallet_key(&wallet_id)?.wallet;
    let chain = planbok_chains::Chain::parse(&w.blockchain)?;
    let input = match cmd {
        SignCommand::Message { message, hex, .. } => {
            planbok_chains::message_input(chain, message, *hex)?
        }
        SignCommand::TypedData { data, .. } => {
            planbok_chains::typed_data_input(chain, &arg_or_file(data)?)?
        }
        SignCommand::Transaction { raw, tx, .. } => {
            let pk = hex::decode(w.public_key.trim_start_matches("0x"))
                .context("the wallet's public key is not hex")?;
            let tx = tx.as_deref().map(arg_or_file).transpose()?;
            planbok_chains::transaction_input(chain, raw.as_deref(), tx.as_deref(), &pk)?
        }
    };
    Ok((wallet_id, input.payload))
}

pub fn sign(conn: &Conn, cmd: SignCommand) -> Result<()> {
    let client = conn.client()?;
    if let SignCommand::Transaction { raw, tx, .. } = &cmd
        && raw.is_none() == tx.is_none()
    {
        bail!("give exactly one of --raw and --tx");
    }
    let secret = conn.with_sealer(&client, |s| match s {
        Some(s) => {
            let (wallet, payload) = sign_payload(s, &cmd)?;
            Ok(Some(s.sign(&wallet, &payload)?))
        }
        None => Ok(None),
    })?;
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
