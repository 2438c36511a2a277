//! `planbok export …`: the client side of key export. The server and the nodes only ever
//! see ciphertexts: each node seals its own share to an X25519 key made here, and only
//! `planbok export decrypt`, on the owner's machine, rebuilds the private keys.
//!
//! Output CSV: `Address,Private Key,Blockchain,Derivation Path,Key Type`. EVM keys are
//! `0x`-hex, Bitcoin keys WIF (compressed). FROST ed25519 keys have no RFC 8032 seed, only
//! a secret scalar, so Solana and NEAR rows carry `scalar:0x…` with key type
//! `ed25519-scalar`: wallets that import seeds (Phantom, MyNearWallet) cannot take them.

use planbok_types::EcdsaProtocol;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use planbok_mpc::DerivationPath;
use planbok_mpc::export::{
    ExportProtocol, ExportRecipientSecret, ExportedKey, open_export_dangerous,
};
use planbok_sdk::api::model::{ExportWallets, WalletsExported};
use sha2::{Digest as _, Sha256};
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

/// WIF of a compressed-key Bitcoin private key.
fn wif(secret: &[u8; 32], testnet: bool) -> String {
    let mut payload = Zeroizing::new(Vec::with_capacity(38));
    payload.push(if testnet { 0xef } else { 0x80 });
    payload.extend_from_slice(secret);
    payload.push(0x01);
    let check = Sha256::digest(Sha256::digest(&payload[..]));
    payload.extend_from_slice(&check[..4]);
    bs58::encode(&payload[..]).into_string()
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

/// The CSV's column line.
pub(crate) const CSV_HEADER: &str = "Address,Private Key,Blockchain,Derivation Path,Key Type";

/// Opens one wallet's two sealed shares with `sk`, rebuilds its private key at the
/// wallet's path, checks that it gives the wallet's address, and formats its CSV row.
pub(crate) fn csv_row(
    sk: &ExportRecipientSecret,
    key_id: &str,
    node1_ciphertext: &[u8],
    node2_ciphertext: &[u8],
    protocol: &str,
    w: &planbok_sdk::api::model::Wallet,
) -> Result<Zeroizing<String>> {
    let protocol = match (protocol, EcdsaProtocol::parse(protocol)) {
        (_, Ok(EcdsaProtocol::Cggmp)) => ExportProtocol::Cggmp,
        (_, Ok(EcdsaProtocol::Dkls23)) => ExportProtocol::Dkls23,
        ("frost", _) => ExportProtocol::Frost,
        (other, Err(_)) => bail!("unknown protocol {other}"),
    };
    let path: DerivationPath = w.derivation_path.parse()?;
    let key = open_export_dangerous(
        sk,
        key_id,
        node1_ciphertext,
        node2_ciphertext,
        protocol,
        &path,
    )?;
    let chain = planbok_chains::Chain::parse(&w.blockchain)?;
    let (public_key, private, kind) = match &key {
        ExportedKey::Ecdsa(k) => {
            let private = match chain.family() {
                planbok_chains::Family::Bitcoin => {
                    Zeroizing::new(wif(&k.secret, chain.is_testnet()))
                }
                _ => Zeroizing::new(format!("0x{}", hex::encode(&k.secret[..]))),
            };
            (k.public_key.to_compressed().to_vec(), private, "secp256k1")
        }
        ExportedKey::Ed25519(k) => (
            k.public_key.to_bytes().to_vec(),
            Zeroizing::new(format!("scalar:0x{}", hex::encode(&k.secret_scalar[..]))),
            "ed25519-scalar",
        ),
    };
    // The rebuilt key must be this wallet's: same address.
    let address = planbok_chains::address(chain, &public_key)?;
    if address != w.address {
        bail!(
            "wallet {}: the rebuilt key gives {address}, not {}",
            w.id,
            w.address
        );
    }
    Ok(Zeroizing::new(format!(
        "{},{},{},{},{kind}",
        w.address, &*private, w.blockchain, w.derivation_path
    )))
}
