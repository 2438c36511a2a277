//! Bootstrap from the command line: the server's own secrets (`planbok server init`), the
//! grant public key every node config needs (`planbok server grant-public-key`), and the
//! first organization (`planbok org create`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use planbok_proto::grant::GrantSigner;
use planbok_sdk::Client;
use planbok_sdk::api::model::CreateOrganization;
use zeroize::Zeroizing;

use crate::daemon::write_private;

/// `planbok server init|grant-public-key`.
#[derive(clap::Subcommand)]
pub enum ServerCommand {
    /// Write the operator token and the grant signing key named by the config (mode 0600,
    /// never overwriting), and print the grant public key for the node configs.
    Init {
        /// The server's TOML configuration (see docs/server.md).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the grant public key of the config's grant key, as node configs take it.
    GrantPublicKey {
        /// The server's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

fn load(config: &Path) -> Result<planbok_server::ServerConfig> {
    planbok_server::ServerConfig::load(config).map_err(anyhow::Error::msg)
}

fn grant_line(signer: &GrantSigner) -> String {
    format!("grant_public_key = \"{}\"", signer.public_key().to_hex())
}

pub fn server(cmd: ServerCommand) -> Result<()> {
    match cmd {
        ServerCommand::Init { config } => {
            let c = load(&config)?;
            // Check both before writing either: a half-initialized server is worse than none.
            for f in [&c.operator_token_file, &c.grant_key_file] {
                if f.exists() {
                    bail!(
                        "{} exists: refusing to overwrite it (a new grant key would invalidate every node config; a new token every operator's)",
                        f.display()
                    );
                }
            }
            let mut token = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut token[..]).map_err(|e| anyhow::anyhow!("random: {e}"))?;
            let signer = GrantSigner::generate();
            write_private(&c.grant_key_file, &hex::encode(*signer.to_seed()))?;
            write_private(
                &c.operator_token_file,
                &Zeroizing::new(hex::encode(&token[..])),
            )?;
            eprintln!(
                "wrote the grant signing key to {} and the operator token to {} (mode 0600)",
                c.grant_key_file.display(),
                c.operator_token_file.display()
            );
            eprintln!(
                "the operator token creates organizations (PLANBOK_OPERATOR_TOKEN for `planbok org create`); back both files up with the server's database"
            );
            eprintln!("put this line in each node's config:");
            println!("{}", grant_line(&signer));
            Ok(())
        }
        ServerCommand::GrantPublicKey { config } => {
            let c = load(&config)?;
            let text = Zeroizing::new(
                std::fs::read_to_string(&c.grant_key_file)
                    .with_context(|| format!("reading {}", c.grant_key_file.display()))?,
            );
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text.trim(), &mut seed[..]).with_context(|| {
                format!("{} is not 64 hex characters", c.grant_key_file.display())
            })?;
            println!("{}", grant_line(&GrantSigner::from_seed(&seed)));
            Ok(())
        }
    }
}

/// `planbok org create`.
#[derive(clap::Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its first owner; prints the owner's API key once.
    Create {
        /// The server's base URL.
        #[arg(long, env = "PLANBOK_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The operator token (`planbok server init` wrote it).
        #[arg(long, env = "PLANBOK_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: String,
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// The first owner's name.
        #[arg(long)]
        owner_name: String,
        /// The first owner's email.
        #[arg(long)]
        owner_email: String,
        /// The node pair to put its keys on (a name from the server's `[node_pairs]`);
        /// by default the pair with the fewest organizations.
        #[arg(long)]
        node_pair: Option<String>,
        /// Print the API's `data` as JSON (it holds the key's secret).
        #[arg(long, conflicts_with = "api_key_file")]
        json: bool,
        /// Write the owner's API key to this file (mode 0600, never overwritten) instead
        /// of printing it.
        #[arg(long)]
        api_key_file: Option<PathBuf>,
    },
}

pub fn org(cmd: OrgCommand) -> Result<()> {
    let OrgCommand::Create {
        url,
        operator_token,
        name,
        owner_name,
        owner_email,
        node_pair,
        json,
        api_key_file,
    } = cmd;
    if let Some(path) = &api_key_file
        && path.exists()
    {
        bail!("{} exists; refusing to overwrite it", path.display());
    }
    let created =
        Client::operator(&url, &operator_token).create_organization(&CreateOrganization {
            name,
            owner_name,
            owner_email,
            node_pair,
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&created)?);
        return Ok(());
    }
    println!(
        "organization {} ({}) on node pair {}",
        created.organization.id, created.organization.name, created.organization.node_pair
    );
    println!("owner {} <{}>", created.owner.id, created.owner.email);
    match &api_key_file {
        // Checked above; a write that fails now still shows the key, which exists nowhere else.
        Some(path) => match write_private(path, &format!("{}\n", created.api_key.secret)) {
            Ok(()) => println!("owner API key written to {}", path.display()),
            Err(e) => {
                eprintln!(
                    "could not write {} ({e:#}); printing the key instead",
                    path.display()
                );
                println!("owner API key (shown once): {}", created.api_key.secret);
            }
        },
        None => println!("owner API key (shown once): {}", created.api_key.secret),
    }
    eprintln!(
        "next: register the organization secret (`planbok secret generate --out org.secret`, then `planbok secret register --mode standard|trustless --secret-file org.secret`)"
    );
    Ok(())
}
