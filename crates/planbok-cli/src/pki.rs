//! `planbok pki init|renew|show`: a CA with its key kept encrypted, and the certificates
//! every process needs (`docs/operations.md`, "Certificates").

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use planbok_node::pki::{self, CA_KEY_FILE, DEFAULT_LEAF_DAYS};
use planbok_proto::roles::Role;
use zeroize::Zeroizing;

#[derive(clap::Subcommand)]
pub enum PkiCommand {
    /// Issue a CA and certificates for server, node1, node2 and operator into DIR. The CA
    /// key is kept encrypted under a passphrase (ca.key.enc) for `pki renew`.
    Init {
        /// Output directory (must not already hold a CA).
        dir: PathBuf,
        /// Extra DNS names or IP addresses for every certificate.
        #[arg(long = "san")]
        extra: Vec<String>,
        /// A file whose first line is the CA key's passphrase (at least 12 characters).
        /// Without it the passphrase is asked for, twice, at a terminal.
        #[arg(long)]
        ca_passphrase_file: Option<PathBuf>,
        /// Do not keep the CA key: no certificate can be added or renewed later.
        #[arg(long, conflicts_with = "ca_passphrase_file")]
        no_ca_key: bool,
        /// Days each leaf certificate is valid (the CA: ten years).
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Issue fresh certificates and keys from the kept CA key, replacing the old ones
    /// (restart the process that uses them; its peers trust the CA, not the leaf).
    Renew {
        /// The PKI directory (`pki init`'s).
        dir: PathBuf,
        /// Which: server, node1, node2, operator, or all (repeatable).
        #[arg(long = "role", required = true, value_parser = ["server", "node1", "node2", "operator", "all"])]
        roles: Vec<String>,
        /// Replace the certificate's extra DNS names / IP addresses (default: keep them).
        #[arg(long = "san")]
        extra: Vec<String>,
        /// A file whose first line is the CA key's passphrase (default: asked at a terminal).
        #[arg(long)]
        ca_passphrase_file: Option<PathBuf>,
        /// Days the new certificates are valid.
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Each certificate in DIR: its names and the days left until it expires.
    Show {
        /// The PKI directory.
        dir: PathBuf,
    },
}

/// The passphrase from a file's first line or, at a terminal, typed without echo
/// (`confirm`: twice). Never from the command line or the environment.
fn passphrase(file: Option<&Path>, confirm: bool) -> Result<Zeroizing<String>> {
    let phrase = match file {
        Some(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
            Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
        }
        None if std::io::stdin().is_terminal() => {
            let first = Zeroizing::new(rpassword::prompt_password(
                "CA key passphrase (not echoed): ",
            )?);
            if confirm {
                let again = Zeroizing::new(rpassword::prompt_password("again: ")?);
                if *again != *first {
                    bail!("the two passphrases differ");
                }
            }
            first
        }
        None => bail!(
            "no CA key passphrase: give --ca-passphrase-file FILE (or run at a terminal){}",
            if confirm {
                ", or --no-ca-key to discard the CA key"
            } else {
                ""
            }
        ),
    };
    if phrase.chars().count() < pki::MIN_PASSPHRASE_LEN {
        bail!(pki::PkiError::WeakPassphrase);
    }
    Ok(phrase)
}

fn print_show(certs: &[pki::CertInfo]) {
    println!("{:<10} {:<12} {:>9}  names", "cert", "expires", "days left");
    for c in certs {
        println!(
            "{:<10} {:<12} {:>9}  {}",
            c.name,
            c.not_after.date(),
            c.days_left(),
            c.names.join(", ")
        );
    }
}

pub fn run(command: PkiCommand) -> Result<()> {
    match command {
        PkiCommand::Init {
            dir,
            extra,
            ca_passphrase_file,
            no_ca_key,
            days,
        } => {
            // Everything that can fail is checked before the first file is written.
            let phrase = if no_ca_key {
                None
            } else {
                Some(passphrase(ca_passphrase_file.as_deref(), true)?)
            };
            if dir.join(CA_KEY_FILE).exists() {
                bail!(pki::PkiError::Exists(dir));
            }
            let ca = pki::init_for(&dir, &extra, days)?;
            println!(
                "wrote ca.pem and server, node1, node2, operator certificates to {}",
                dir.display()
            );
            match phrase {
                Some(phrase) => {
                    pki::keep_ca_key(&dir, &ca, phrase.as_bytes())?;
                    println!(
                        "kept the CA key encrypted in {}: back it up with its passphrase; \
                         `planbok pki renew` issues new certificates from it",
                        dir.join(CA_KEY_FILE).display()
                    );
                }
                None => println!("the CA key was not kept: issue a new PKI to add certificates"),
            }
            Ok(())
        }
        PkiCommand::Renew {
            dir,
            roles,
            extra,
            ca_passphrase_file,
            days,
        } => {
            let all = [Role::Server, Role::Node1, Role::Node2, Role::Operator];
            let roles: Vec<Role> = if roles.iter().any(|r| r == "all") {
                all.to_vec()
            } else {
                all.into_iter()
                    .filter(|r| roles.iter().any(|n| n == r.name()))
                    .collect()
            };
            // Open the CA once, before touching any file: a wrong passphrase changes nothing,
            // and scrypt runs once whatever the number of roles.
            let phrase = passphrase(ca_passphrase_file.as_deref(), false)?;
            let ca = pki::Ca::load(&dir, phrase.as_bytes())?;
            let extra = (!extra.is_empty()).then_some(extra.as_slice());
            let mut renewed = Vec::new();
            for role in roles {
                renewed.push(ca.renew(&dir, role, extra, days)?);
            }
            print_show(&renewed);
            println!("restart each process whose certificate was renewed");
            Ok(())
        }
        PkiCommand::Show { dir } => {
            print_show(&pki::show(&dir)?);
            Ok(())
        }
    }
}
