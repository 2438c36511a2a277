//! `planbok webhook …`: the endpoints API (create, list, get, update, delete,
//! rotate-secret, test, deliveries, replay) and `listen`, a local receiver that verifies
//! each delivery with `planbok_sdk::webhook` and prints the events that verify.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use planbok_sdk::api::model::{CreateWebhook, UpdateWebhook, Webhook, WebhookDelivery};
use planbok_sdk::webhook::{Scheme, Verifier};

use crate::client::Conn;

#[derive(clap::Subcommand)]
pub enum WebhookCommand {
    /// Create an endpoint; prints its secret (shown once).
    Create {
        /// Where to post events: `https://…` (plain http only to loopback, where the
        /// server allows it). (`--url` is the planbok server's.)
        #[arg(long)]
        endpoint: String,
        /// Event names, comma-separated, or `*` for all.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// A label.
        #[arg(long)]
        description: Option<String>,
        /// Makes a retry safe (a UUID v4; a fresh one by default).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List the endpoints.
    List,
    /// Show an endpoint.
    Get { id: String },
    /// Change an endpoint.
    Update {
        id: String,
        /// A new endpoint URL.
        #[arg(long)]
        endpoint: Option<String>,
        /// Event names, comma-separated, or `*`.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        #[arg(long)]
        description: Option<String>,
        /// Enable the endpoint (pending deliveries resume).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable the endpoint (deliveries wait).
        #[arg(long)]
        disable: bool,
    },
    /// Delete an endpoint and its deliveries.
    Delete { id: String },
    /// A new secret (shown once); the old one is still signed with for 24 hours.
    RotateSecret { id: String },
    /// Queue a `webhook.test` event to the endpoint.
    Test { id: String },
    /// The delivery log of an endpoint, oldest first.
    Deliveries {
        id: String,
        /// Only `pending`, `delivering`, `succeeded` or `failed`.
        #[arg(long)]
        status: Option<String>,
    },
    /// Send a delivery's event again (same event id).
    Replay { delivery_id: String },
    /// Receive webhooks locally: verify each delivery's signature and print the event as a
    /// JSON line (deliveries that do not verify get 401 and a line on stderr).
    Listen {
        /// The port to listen on.
        #[arg(long)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// The endpoint's secret (`whsec_…`); `PLANBOK_WEBHOOK_SECRET` works too.
        #[arg(long, env = "PLANBOK_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// A file holding the secret.
        #[arg(long, conflicts_with = "secret")]
        secret_file: Option<PathBuf>,
        /// Also accept this secret (the previous one, during a rotation).
        #[arg(long)]
        previous_secret: Option<String>,
        /// Exit after this many verified events.
        #[arg(long)]
        count: Option<u64>,
    },
}

pub fn run(conn: &Conn, cmd: WebhookCommand) -> Result<()> {
    if let WebhookCommand::Listen {
        port,
        bind,
        secret,
        secret_file,
        previous_secret,
        count,
    } = cmd
    {
        let secret = match (secret, secret_file) {
            (Some(s), _) => s,
            (None, Some(f)) => std::fs::read_to_string(&f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim()
                .to_owned(),
            (None, None) => bail!("give --secret, --secret-file or PLANBOK_WEBHOOK_SECRET"),
        };
        let mut v = Verifier::new(&secret).context("--secret")?;
        if let Some(p) = previous_secret {
            v = v.and_secret(&p).context("--previous-secret")?;
        }
        return listen(&bind, port, &v, count);
    }
    let client = conn.client()?;
    match cmd {
        WebhookCommand::Create {
            endpoint: url,
            events,
            description,
            idempotency_key,
        } => {
            let w = client.create_webhook(&CreateWebhook {
                idempotency_key,
                url,
                events,
                description,
            })?;
            conn.print(&w, |w| {
                endpoint(&w.webhook);
                println!("  secret {}  (shown once: keep it now)", w.secret);
            })
        }
        WebhookCommand::List => {
            let mut all = Vec::new();
            for page in 1.. {
                let l = client.webhooks(page)?;
                let n = l.items.len();
                all.extend(l.items);
                if n < 100 || all.len() as u64 >= l.total {
                    break;
                }
            }
            conn.print(&all, |l| l.iter().for_each(endpoint))
        }
        WebhookCommand::Get { id } => conn.print(&client.webhook(&id)?, endpoint),
        WebhookCommand::Update {
            id,
            endpoint: url,
            events,
            description,
            enable,
            disable,
        } => {
            let enabled = match (enable, disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let w = client.update_webhook(
                &id,
                &UpdateWebhook {
                    url,
                    events,
                    description,
                    enabled,
                },
            )?;
            conn.print(&w, endpoint)
        }
        WebhookCommand::Delete { id } => {
            let w = client.delete_webhook(&id)?;
            conn.print(&w, |w| println!("deleted webhook {}", w.id))
        }
        WebhookCommand::RotateSecret { id } => {
            let w = client.rotate_webhook_secret(&id)?;
            conn.print(&w, |w| {
                endpoint(&w.webhook);
                println!("  secret {}  (shown once: keep it now)", w.secret);
                if let Some(until) = &w.webhook.previous_secret_expires_at {
                    println!("  the previous secret is still signed with until {until}");
                }
            })
        }
        WebhookCommand::Test { id } => conn.print(&client.test_webhook(&id)?, delivery),
        WebhookCommand::Deliveries { id, status } => {
            let mut all = Vec::new();
            for page in 1.. {
                let l = client.webhook_deliveries(&id, status.as_deref(), page)?;
                let n = l.items.len();
                all.extend(l.items);
                if n < 100 || all.len() as u64 >= l.total {
                    break;
                }
            }
            conn.print(&all, |l| l.iter().for_each(delivery))
        }
        WebhookCommand::Replay { delivery_id } => {
            conn.print(&client.replay_delivery(&delivery_id)?, delivery)
        }
        WebhookCommand::Listen { .. } => unreachable!("handled above"),
    }
}

fn endpoint(w: &Webhook) {
    let state = if w.enabled {
        "enabled".to_owned()
    } else {
        match &w.disabled_reason {
            Some(r) => format!("disabled: {r}"),
            None => "disabled".to_owned(),
        }
    };
    println!(
        "webhook {} {} [{}] {}",
        w.id,
        w.url,
        w.events.join(","),
        state
    );
}

fn delivery(d: &WebhookDelivery) {
    println!(
        "delivery {} {} {} {} attempts={} last={}",
        d.id,
        d.event,
        d.event_id,
        d.status,
        d.attempts,
        d.last_status_code
            .map(|c| c.to_string())
            .or_else(|| d.last_error.clone())
            .unwrap_or_else(|| "-".into())
    );
}

/// The largest body accepted.
const MAX_BODY: usize = 1 << 20;

fn listen(bind: &str, port: u16, v: &Verifier, count: Option<u64>) -> Result<()> {
    let listener =
        TcpListener::bind((bind, port)).with_context(|| format!("listening on {bind}:{port}"))?;
    eprintln!(
        "listening on http://{}; verified events print as JSON lines",
        listener.local_addr()?
    );
    let mut seen = 0;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match handle(stream, v) {
            Ok(Some(line)) => {
                println!("{line}");
                std::io::stdout().flush()?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    return Ok(());
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("connection: {e:#}"),
        }
    }
    Ok(())
}

/// Reads one request, answers it, and returns the line to print for a verified event.
fn handle(mut stream: TcpStream, v: &Verifier) -> Result<Option<String>> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, val)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), val.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        respond(&mut stream, 413, "too large")?;
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    if !request_line.starts_with("POST ") {
        respond(&mut stream, 405, "POST only")?;
        return Ok(None);
    }
    match v.verify(&headers, &body) {
        Ok((event, scheme)) => {
            respond(&mut stream, 200, "ok")?;
            let scheme = match scheme {
                Scheme::Standard => "standard-webhooks",
                Scheme::Platform => "platform",
            };
            let line = serde_json::json!({ "verified": scheme, "event": event });
            Ok(Some(line.to_string()))
        }
        Err(e) => {
            respond(&mut stream, 401, "signature refused")?;
            eprintln!("refused a delivery: {e}");
            Ok(None)
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, text: &str) -> Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} {text}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()?;
    Ok(())
}
