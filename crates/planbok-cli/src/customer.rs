//! `planbok customer …`: customers and their challenges (the organization's side, API
//! key), and `complete`, which completes a challenge from its Gateway URL the way the
//! Gateway page will: the PIN is hashed and blinded here (`planbok_sdk::gateway`) and
//! never sent; only the challenge's one-time token authorizes the calls.

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::customers::{Challenge, CreateChallenge, CreateCustomer};
use planbok_sdk::gateway::{GatewayError, GatewayLink, PinError, PreparedPin, new_customer_secret};

use crate::client::Conn;

#[derive(clap::Subcommand)]
pub enum CustomerCommand {
    /// Create a customer.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Your reference for the customer.
        #[arg(long)]
        ref_id: Option<String>,
        /// Contact address.
        #[arg(long)]
        email: Option<String>,
        /// Makes a retry safe (a UUID v4; a fresh one by default).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show a customer (`pinStatus`, `hasRecovery`).
    Get { id: String },
    /// List the customers.
    List,
    /// Create a challenge: `initialize` (first PIN) or `update-pin`. Prints the challenge;
    /// its `redirectUrl` is the Gateway URL to hand the user (it carries a one-time token).
    Challenge {
        id: String,
        /// `initialize` or `update-pin`.
        operation: String,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// Make an operation challenge: wallet creation, signing, export (prints the Gateway URL).
    #[command(flatten)]
    Op(crate::customer_ops::OpCommand),
    /// Complete a challenge as the end user, from its Gateway URL (no API key). Operation
    /// challenges need Node 1's identity key (`--node-key` / `PLANBOK_NODE_KEY`).
    Complete {
        /// The Gateway URL (`…/gateway/?challenge=…#<token>`).
        gateway_url: String,
        /// The PIN (initialize: the new PIN; update-pin: the current one).
        #[arg(long, env = "PLANBOK_CUSTOMER_PIN", hide_env_values = true)]
        pin: String,
        /// update-pin: the new PIN.
        #[arg(long, env = "PLANBOK_CUSTOMER_NEW_PIN", hide_env_values = true)]
        new_pin: Option<String>,
        /// export: where to write the CSV of private keys (created 0600; stdout if absent).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(conn: &Conn, command: CustomerCommand) -> Result<()> {
    match command {
        CustomerCommand::Op(cmd) => crate::customer_ops::run(conn, cmd),
        CustomerCommand::Complete {
            gateway_url,
            pin,
            new_pin,
            out,
        } => {
            let done = complete(
                &gateway_url,
                &pin,
                new_pin.as_deref(),
                conn.node_key(),
                out.as_deref(),
            )?;
            conn.print(&done, |c| {
                println!("challenge {} {} ({})", c.challenge_id, c.status, c.kind);
            })
        }
        CustomerCommand::Create {
            name,
            ref_id,
            email,
            idempotency_key,
        } => {
            let c = conn.client()?.create_customer(&CreateCustomer {
                idempotency_key: Some(idempotency_key.unwrap_or_else(planbok_sdk::idempotency_key)),
                name,
                ref_id,
                email,
            })?;
            conn.print(&c, |c| {
                println!("{}  {}  pin {}", c.id, c.name, c.pin_status)
            })
        }
        CustomerCommand::Get { id } => {
            let c = conn.client()?.customer(&id)?;
            conn.print(&c, |c| {
                println!(
                    "{}  {}  pin {}  recovery {}",
                    c.id, c.name, c.pin_status, c.has_recovery
                );
            })
        }
        CustomerCommand::List => {
            let l = conn.client()?.customers(1)?;
            conn.print(&l, |l| {
                for c in &l.items {
                    println!("{}  {}  pin {}", c.id, c.name, c.pin_status);
                }
            })
        }
        CustomerCommand::Challenge {
            id,
            operation,
            redirect_url,
        } => {
            if !matches!(operation.as_str(), "initialize" | "update-pin") {
                bail!("operation must be initialize or update-pin");
            }
            let c = conn.client()?.create_challenge(
                &id,
                &operation,
                &CreateChallenge {
                    idempotency_key: Some(planbok_sdk::idempotency_key()),
                    redirect_url,
                },
            )?;
            conn.print(&c, |c| {
                println!("{}", c.redirect_url.as_deref().unwrap_or_default());
            })
        }
    }
}

/// Completes the challenge behind `gateway_url`: initialize (`pin` is the new PIN) or
/// update-pin (`pin` the current one, `new_pin` the next).
pub fn complete(
    gateway_url: &str,
    pin: &str,
    new_pin: Option<&str>,
    node_key: Option<&str>,
    out: Option<&std::path::Path>,
) -> Result<Challenge> {
    let link = GatewayLink::parse(gateway_url)?;
    let gw = Client::gateway(&link.origin, &link.token);
    let ch = gw.gateway_challenge()?;
    if ch.challenge_id != link.challenge_id {
        bail!("the token opens another challenge than the URL names");
    }
    match ch.kind.as_str() {
        "initialize" => {
            if new_pin.is_some() {
                bail!("initialize takes --pin only (the new PIN)");
            }
            let (prepared, req) = PreparedPin::new_pin(pin, None)?;
            let eval = gw.gateway_enroll(&req)?;
            let secret = new_customer_secret();
            let commit = prepared.enroll(&ch, &eval, &secret, None)?;
            Ok(gw.gateway_commit(&commit)?)
        }
        "update_pin" => {
            let new_pin = new_pin.context("update-pin needs --new-pin")?;
            // Checked before the old PIN spends an attempt.
            planbok_sdk::gateway::check_new_pin(new_pin)?;
            let enrolled = ch.pin.as_ref().context("the customer has no PIN")?;
            let (prepared, req) = PreparedPin::existing_pin(pin, enrolled)?;
            let eval = gw.gateway_evaluate(&req)?;
            let opened = match prepared.open(&ch, &eval) {
                Ok(o) => o,
                Err(GatewayError::Pin(PinError::WrongPin)) => bail!(
                    "wrong PIN ({} attempt(s) left before the customer is locked)",
                    eval.attempts_left
                ),
                Err(e) => return Err(e.into()),
            };
            let unlocked = gw.gateway_unlock(&opened.unlock()?)?;
            let (next, req) = PreparedPin::new_pin(new_pin, Some(unlocked.rekey_nonce))?;
            let eval = gw.gateway_enroll(&req)?;
            let commit = next.enroll(&ch, &eval, opened.secret(), Some(&opened))?;
            Ok(gw.gateway_commit(&commit)?)
        }
        _ if ch.operation.is_some() => {
            if new_pin.is_some() {
                bail!("an operation challenge takes --pin only");
            }
            crate::customer_ops::complete(&gw, &ch, pin, node_key, out)
        }
        other => bail!("challenge type {other} is not supported by this client yet"),
    }
}
