//! `planbok customer …`: customers and their challenges (the organization's side, API
//! key), and `complete`, which completes a challenge from its Gateway URL the way the
//! Gateway page will: the PIN is hashed and blinded here (`planbok_sdk::gateway`) and
//! never sent; only the challenge's one-time token authorizes the calls.

use anyhow::{Context as _, Result, bail};
use planbok_sdk::Client;
use planbok_sdk::api::customers::{
    Challenge, CreateChallenge, CreateCustomer, RECOVERY_EMAIL, RecoveryQuestion, ResetPin,
};
use planbok_sdk::gateway::{
    EmailAttempt, GatewayError, GatewayLink, PinError, PreparedAnswers, PreparedPin,
    new_customer_secret,
};

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
    /// Create a challenge: `initialize` (first PIN and security questions), `update-pin`,
    /// `recovery` (change the questions) or `reset-pin`. Prints the challenge's Gateway
    /// URL to hand the user (it carries a one-time token).
    Challenge {
        id: String,
        /// `initialize`, `update-pin`, `recovery` or `reset-pin`.
        operation: String,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// Make an operation challenge: wallet creation, signing, export (prints the Gateway URL).
    #[command(flatten)]
    Op(crate::customer_ops::OpCommand),
    /// A challenge to set or change the customer's security questions (the user proves
    /// the PIN); prints its Gateway URL.
    Recovery {
        id: String,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
    },
    /// A challenge to reset the PIN (also ends a lockout) with the security questions, or
    /// (`--method email`) with the recovery code the server emails to the customer;
    /// prints its Gateway URL.
    ResetPin {
        id: String,
        /// Where the Gateway sends the user when done.
        #[arg(long)]
        redirect_url: Option<String>,
        /// `securityQuestions` (default) or `email`.
        #[arg(long)]
        method: Option<String>,
    },
    /// Let the organization's customers recover a forgotten PIN by an emailed code (`on`),
    /// or stop it (`off`). Owner key; the server needs an SMTP relay (`[smtp]`).
    EmailRecovery {
        /// `on` or `off`.
        state: String,
    },
    /// Mail the organization's customers a notice when their PIN is changed or reset,
    /// when they are locked out and when their keys are exported (`on`), or stop it
    /// (`off`). Owner key; the server needs an SMTP relay (`[smtp]`).
    EmailNotices {
        /// `on` or `off`.
        state: String,
    },
    /// Complete a challenge as the end user, from its Gateway URL (no API key). Operation
    /// challenges need Node 1's identity key (`--node-key` / `PLANBOK_NODE_KEY`).
    Complete {
        /// The Gateway URL (`…/gateway/?challenge=…#<token>`).
        gateway_url: String,
        /// The PIN (initialize: the new PIN; update-pin, recovery: the current one).
        #[arg(long, env = "PLANBOK_CUSTOMER_PIN", hide_env_values = true)]
        pin: Option<String>,
        /// update-pin, reset-pin: the new PIN.
        #[arg(long, env = "PLANBOK_CUSTOMER_NEW_PIN", hide_env_values = true)]
        new_pin: Option<String>,
        /// export: where to write the CSV of private keys (created 0600; stdout if absent).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// initialize, recovery, reset-pin: the answers to the security questions, in
        /// order, comma-separated.
        #[arg(long, env = "PLANBOK_CUSTOMER_ANSWERS", hide_env_values = true)]
        answers: Option<String>,
        /// initialize, recovery: the questions, comma-separated catalog ids or
        /// `custom:<text>` (default: first_pet,birth_city,first_school).
        #[arg(long)]
        questions: Option<String>,
        /// initialize, recovery: a hint per question, comma-separated (empty: none). A
        /// hint may not contain an answer.
        #[arg(long)]
        hints: Option<String>,
        /// reset-pin by email: the recovery code from the email.
        #[arg(long, env = "PLANBOK_CUSTOMER_EMAIL_CODE", hide_env_values = true)]
        email_code: Option<String>,
    },
}

/// What `complete` is given.
pub struct CompleteInput<'a> {
    /// The current PIN (initialize: the new one).
    pub pin: Option<&'a str>,
    /// The new PIN.
    pub new_pin: Option<&'a str>,
    /// The answers, in order.
    pub answers: Option<Vec<String>>,
    /// The questions chosen (setup).
    pub questions: Vec<RecoveryQuestion>,
    /// Node 1's identity key (operation challenges).
    pub node_key: Option<&'a str>,
    /// Export: where to write the CSV (stdout if absent).
    pub out: Option<&'a std::path::Path>,
    /// Reset by email: the code as typed from the email.
    pub email_code: Option<&'a str>,
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(|s| s.trim().to_owned()).collect()
}

/// `--questions` and `--hints` as the API's questions.
fn chosen_questions(questions: Option<&str>, hints: Option<&str>) -> Result<Vec<RecoveryQuestion>> {
    let qs = split(questions.unwrap_or("first_pet,birth_city,first_school"));
    let hints = hints.map(split).unwrap_or_default();
    if !hints.is_empty() && hints.len() != qs.len() {
        bail!("--hints needs one entry per question (empty for none)");
    }
    Ok(qs
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            let hint = hints.get(i).filter(|h| !h.is_empty()).cloned();
            match q.strip_prefix("custom:") {
                Some(text) => RecoveryQuestion {
                    id: None,
                    text: Some(text.to_owned()),
                    hint,
                },
                None => RecoveryQuestion {
                    id: Some(q),
                    text: None,
                    hint,
                },
            }
        })
        .collect())
}

pub fn run(conn: &Conn, command: CustomerCommand) -> Result<()> {
    match command {
        CustomerCommand::Op(cmd) => crate::customer_ops::run(conn, cmd),
        CustomerCommand::Complete {
            gateway_url,
            pin,
            new_pin,
            out,
            answers,
            questions,
            hints,
            email_code,
        } => {
            let input = CompleteInput {
                pin: pin.as_deref(),
                new_pin: new_pin.as_deref(),
                answers: answers.as_deref().map(split),
                questions: chosen_questions(questions.as_deref(), hints.as_deref())?,
                node_key: conn.node_key(),
                out: out.as_deref(),
                email_code: email_code.as_deref(),
            };
            let done = complete(&gateway_url, &input)?;
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
            if !matches!(
                operation.as_str(),
                "initialize" | "update-pin" | "recovery" | "reset-pin"
            ) {
                bail!("operation must be initialize, update-pin, recovery or reset-pin");
            }
            new_challenge(conn, &id, &operation, redirect_url)
        }
        CustomerCommand::Recovery { id, redirect_url } => {
            new_challenge(conn, &id, "recovery", redirect_url)
        }
        CustomerCommand::ResetPin {
            id,
            redirect_url,
            method,
        } => {
            let c = conn.client()?.reset_pin(
                &id,
                &ResetPin {
                    idempotency_key: Some(planbok_sdk::idempotency_key()),
                    redirect_url,
                    method,
                },
            )?;
            print_challenge(conn, &c)
        }
        CustomerCommand::EmailRecovery { state } => {
            let enabled = match state.as_str() {
                "on" => true,
                "off" => false,
                _ => bail!("email-recovery takes on or off"),
            };
            let o = conn.client()?.set_email_recovery(enabled)?;
            conn.print(&o, |o| {
                println!(
                    "{}  email recovery {}",
                    o.id,
                    if o.email_recovery { "on" } else { "off" }
                );
            })
        }
        CustomerCommand::EmailNotices { state } => {
            let enabled = match state.as_str() {
                "on" => true,
                "off" => false,
                _ => bail!("email-notices takes on or off"),
            };
            let o = conn.client()?.set_email_notices(enabled)?;
            conn.print(&o, |o| {
                println!(
                    "{}  email notices {}",
                    o.id,
                    if o.email_notices { "on" } else { "off" }
                );
            })
        }
    }
}

fn new_challenge(
    conn: &Conn,
    id: &str,
    operation: &str,
    redirect_url: Option<String>,
) -> Result<()> {
    let c = conn.client()?.create_challenge(
        id,
        operation,
        &CreateChallenge {
            idempotency_key: Some(planbok_sdk::idempotency_key()),
            redirect_url,
        },
    )?;
    print_challenge(conn, &c)
}

/// A new challenge: its Gateway URL (or the JSON).
fn print_challenge(conn: &Conn, c: &Challenge) -> Result<()> {
    conn.print(c, |c| {
        println!("{}", c.redirect_url.as_deref().unwrap_or_default());
    })
}

/// Completes the challenge behind `gateway_url`: initialize (`pin` is the new PIN, with
/// the answers), update-pin (`pin` the current one, `new_pin` the next), recovery (`pin`
/// the current one, new answers), reset-pin (the answers, `new_pin`).
pub fn complete(gateway_url: &str, input: &CompleteInput<'_>) -> Result<Challenge> {
    let link = GatewayLink::parse(gateway_url)?;
    let gw = Client::gateway(&link.origin, &link.token);
    let ch = gw.gateway_challenge()?;
    if ch.challenge_id != link.challenge_id {
        bail!("the token opens another challenge than the URL names");
    }
    let answers: Option<Vec<&str>> = input
        .answers
        .as_ref()
        .map(|a| a.iter().map(String::as_str).collect());
    match ch.kind.as_str() {
        "initialize" => {
            if input.new_pin.is_some() {
                bail!("initialize takes --pin only (the new PIN)");
            }
            let pin = input.pin.context("initialize needs --pin (the new PIN)")?;
            planbok_sdk::gateway::check_new_pin(pin)?;
            let answers = answers.context(
                "initialize needs --answers: recovery by security questions is set up with the PIN",
            )?;
            // Both checked before anything is sent.
            let (prepared, req) = PreparedPin::new_pin(pin, None)?;
            let (answers, rec_req) = PreparedAnswers::new_answers(&input.questions, &answers)?;
            let eval = gw.gateway_enroll(&req)?;
            let rec_eval = gw.gateway_recovery_enroll(&rec_req)?;
            let secret = new_customer_secret();
            let (mut commit, keys) = prepared.enroll_first(&ch, &eval, &secret)?;
            commit.recovery = Some(answers.enroll(&ch, &rec_eval, &secret, &keys)?);
            Ok(gw.gateway_commit(&commit)?)
        }
        "update_pin" => {
            let pin = input
                .pin
                .context("update-pin needs --pin (the current PIN)")?;
            let new_pin = input.new_pin.context("update-pin needs --new-pin")?;
            // Checked before the old PIN spends an attempt.
            planbok_sdk::gateway::check_new_pin(new_pin)?;
            let opened = open_pin(&gw, &ch, pin)?;
            let unlocked = gw.gateway_unlock(&opened.unlock()?)?;
            let (next, req) = PreparedPin::new_pin(new_pin, Some(unlocked.rekey_nonce))?;
            let eval = gw.gateway_enroll(&req)?;
            let commit = next.enroll(&ch, &eval, opened.secret(), Some(&opened))?;
            Ok(gw.gateway_commit(&commit)?)
        }
        "recovery" => {
            let pin = input
                .pin
                .context("recovery needs --pin (the current PIN)")?;
            let answers = answers.context("recovery needs --answers (the new ones)")?;
            let (prepared, rec_req) = PreparedAnswers::new_answers(&input.questions, &answers)?;
            let opened = open_pin(&gw, &ch, pin)?;
            gw.gateway_unlock(&opened.unlock()?)?;
            let rec_eval = gw.gateway_recovery_enroll(&rec_req)?;
            let commit = prepared.enroll(&ch, &rec_eval, opened.secret(), opened.keys())?;
            Ok(gw.gateway_recovery_commit(&commit)?)
        }
        "reset_pin" if ch.recovery_method.as_deref() == Some(RECOVERY_EMAIL) => {
            let new_pin = input.new_pin.context("reset-pin needs --new-pin")?;
            let typed = input.email_code.context(
                "this reset is by email: it needs --email-code (the code from the email)",
            )?;
            if input.answers.is_some() {
                bail!("this reset is by email: it takes --email-code, not --answers");
            }
            // Both checked before an attempt is spent.
            planbok_sdk::gateway::check_new_pin(new_pin)?;
            let code = EmailAttempt::new(&ch, typed)?;
            let attempt = gw.gateway_email_evaluate()?;
            let unlocked = match gw.gateway_email_unlock(&code.unlock(&attempt)?) {
                Ok(u) => u,
                Err(planbok_sdk::Error::Api {
                    code: planbok_sdk::api::ErrorCode::PinProofInvalid,
                    ..
                }) => {
                    bail!(
                        "wrong recovery code ({} attempt(s) left before recovery is locked)",
                        attempt.attempts_left
                    )
                }
                Err(e) => return Err(e.into()),
            };
            let recovered = code.open(&unlocked)?;
            let (next, req) = PreparedPin::new_pin(new_pin, Some(unlocked.rekey_nonce))?;
            let eval = gw.gateway_enroll(&req)?;
            let commit = next.enroll_reset_email(&ch, &eval, &recovered)?;
            Ok(gw.gateway_commit(&commit)?)
        }
        "reset_pin" => {
            let new_pin = input.new_pin.context("reset-pin needs --new-pin")?;
            let answers = answers.context("reset-pin needs --answers")?;
            planbok_sdk::gateway::check_new_pin(new_pin)?;
            let enrolled = ch
                .recovery
                .as_ref()
                .context("the customer has no security questions")?;
            let (prepared, req) = PreparedAnswers::existing(enrolled, &answers)?;
            let eval = gw.gateway_recovery_evaluate(&req)?;
            let recovered = match prepared.open(&ch, &eval) {
                Ok(o) => o,
                Err(GatewayError::Pin(PinError::WrongPin)) => bail!(
                    "wrong answers ({} attempt(s) left before recovery is locked)",
                    eval.attempts_left
                ),
                Err(e) => return Err(e.into()),
            };
            let unlocked = gw.gateway_recovery_unlock(&recovered.unlock()?)?;
            let (next, req) = PreparedPin::new_pin(new_pin, Some(unlocked.rekey_nonce))?;
            let eval = gw.gateway_enroll(&req)?;
            let commit = next.enroll_reset(&ch, &eval, &recovered)?;
            Ok(gw.gateway_commit(&commit)?)
        }
        _ if ch.operation.is_some() => {
            if input.new_pin.is_some() {
                bail!("an operation challenge takes --pin only");
            }
            let pin = input.pin.context("an operation challenge needs --pin")?;
            crate::customer_ops::complete(&gw, &ch, pin, input.node_key, input.out)
        }
        other => bail!("challenge type {other} is not supported by this client yet"),
    }
}

/// One counted PIN attempt that opens `W_pin`, or a clear error.
fn open_pin(
    gw: &Client,
    ch: &planbok_sdk::api::customers::GatewayChallenge,
    pin: &str,
) -> Result<planbok_sdk::gateway::OpenedPin> {
    let enrolled = ch.pin.as_ref().context("the customer has no PIN")?;
    let (prepared, req) = PreparedPin::existing_pin(pin, enrolled)?;
    let eval = gw.gateway_evaluate(&req)?;
    match prepared.open(ch, &eval) {
        Ok(o) => Ok(o),
        Err(GatewayError::Pin(PinError::WrongPin)) => bail!(
            "wrong PIN ({} attempt(s) left before the customer is locked)",
            eval.attempts_left
        ),
        Err(e) => Err(e.into()),
    }
}
