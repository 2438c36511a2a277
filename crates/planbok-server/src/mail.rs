//! Mail to customers through the organization's SMTP relay (`[smtp]`): the email recovery
//! code (`docs/customer-custody.md`, "Recovery by email") and security notices
//! ([`Notice`], "Security notices by email").
//!
//! The code is a secret: it is put into the message here and nowhere else; it is never
//! logged (an error names the relay's answer, never the message), never audited, and
//! `Debug` of what carries it is redacted. The message's `Message-ID` is derived from the
//! challenge, so a resend after a crash (the outbox is committed before sending, see
//! `docs/customer-custody.md`) is recognizably the same message.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// `STARTTLS`, required (port 587). The default.
    Starttls,
    /// No TLS at all: only for a relay on the same host or a test (the code crosses the
    /// network in clear otherwise). Refused unless the host is a loopback address.
    Plain,
}

/// `[smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port (587 for `starttls`, 465 for `tls`).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The sender, `Name <addr@example.com>` or `addr@example.com`.
    pub from: String,
    /// `tls`, `starttls` (default) or `plain` (loopback only).
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    /// The relay login, if it wants one; its password is read from `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A file holding the relay password (like every other secret of the server's config:
    /// a file, never the config itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for the relay; the system's store when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// One send's timeout (connect, TLS, dialogue).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_port() -> u16 {
    587
}
fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_timeout_ms() -> u64 {
    15_000
}

/// Why mail could not be prepared or sent. Never carries the message.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The configuration is unusable (a bad address, an unreadable file, plain TLS to a
    /// remote host).
    #[error("[smtp]: {0}")]
    Config(String),
    /// A recipient address that does not parse.
    #[error("the customer's email address is not usable")]
    Recipient,
    /// The relay refused or could not be reached (its answer, without the message).
    #[error("SMTP relay: {0}")]
    Relay(String),
}

/// A ready SMTP client (built once at start).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    /// Checks `[smtp]` and builds the client (reads the password and CA files).
    pub fn new(c: &SmtpConfig) -> Result<Mailer, MailError> {
        let from: Mailbox = c
            .from
            .parse()
            .map_err(|_| MailError::Config(format!("from {:?} is not an address", c.from)))?;
        let tls = match c.tls {
            SmtpTls::Plain if !is_loopback(&c.host) => {
                return Err(MailError::Config(
                    "tls = \"plain\" is allowed only to a loopback relay".into(),
                ));
            }
            SmtpTls::Plain => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(c.host.clone());
                if let Some(file) = &c.ca_file {
                    // Only the given CAs, not the system's.
                    let pem = std::fs::read(file)
                        .map_err(|e| MailError::Config(format!("ca_file: {e}")))?;
                    // Every certificate of the bundle (rustls reads them all).
                    let certs = Certificate::from_pem(&pem)
                        .map_err(|e| MailError::Config(format!("ca_file: {e}")))?;
                    params = params
                        .certificate_store(CertificateStore::None)
                        .add_root_certificate(certs);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| MailError::Config(format!("TLS: {e}")))?;
                if mode == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
            .port(c.port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(c.timeout_ms)));
        match (&c.username, &c.password_file) {
            (Some(user), Some(file)) => {
                let pw = Zeroizing::new(
                    std::fs::read_to_string(file)
                        .map_err(|e| MailError::Config(format!("password_file: {e}")))?,
                );
                b = b.credentials(Credentials::new(user.clone(), pw.trim().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(MailError::Config(
                    "username and password_file go together".into(),
                ));
            }
        }
        Ok(Mailer {
            transport: b.build(),
            from,
        })
    }

    /// Sends the recovery code `code` to `to` for the reset-pin challenge `challenge_id`.
    pub async fn send_recovery_code(
        &self,
        to: &str,
        customer_name: &str,
        challenge_id: &str,
        code: &str,
    ) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Recipient)?;
        let domain = self.from.email.domain().to_owned();
        let body = Zeroizing::new(format!(
            "Hello {customer_name},\r\n\r\n\
             a reset of your wallet PIN was started. Your recovery code is:\r\n\r\n    \
             {code}\r\n\r\n\
             Type it where you were asked for it. It works for this reset only, and only a \
             few wrong tries are allowed. If you did not ask for this, tell your provider \
             and do not give the code to anyone.\r\n"
        ));
        let html = Zeroizing::new(recovery_html(customer_name, code));
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Your wallet recovery code")
            .message_id(Some(format!("<{challenge_id}.recovery@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(
                body.to_string(),
                html.to_string(),
            ))
            .map_err(|e| MailError::Config(e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Relay(relay_error(&e)))
    }
}

/// A security notice: something the customer should know happened to their wallet. It
/// carries no secret and no link (a notice that asks for a click is what phishing looks
/// like): what happened, when, and whom to tell if it was not them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The PIN was changed.
    PinChanged,
    /// The PIN was reset through recovery.
    PinReset,
    /// Too many wrong PINs locked the wallet.
    LockedOut,
    /// The wallet's private keys were exported.
    KeysExported,
}

impl Notice {
    /// Its `Message-ID` suffix, subject and sentence (after "your … wallet").
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Notice::PinChanged => (
                "pin-changed",
                "Your wallet PIN was changed",
                "the PIN of your wallet was changed",
            ),
            Notice::PinReset => (
                "pin-reset",
                "Your wallet PIN was reset",
                "the PIN of your wallet was reset through account recovery",
            ),
            Notice::LockedOut => (
                "locked-out",
                "Your wallet is locked",
                "too many wrong PINs were entered for your wallet, and it is now locked: \
                 it can be used again after a PIN reset through account recovery",
            ),
            Notice::KeysExported => (
                "keys-exported",
                "Your wallet's private keys were exported",
                "the private keys of your wallet were exported: whoever holds the exported \
                 file controls the wallet's funds",
            ),
        }
    }
}

impl Mailer {
    /// Sends `notice` to `to` (the customer `customer_name` of `org_name`) about the
    /// challenge `challenge_id`, which happened at `at` (RFC 3339).
    pub async fn send_notice(
        &self,
        to: &str,
        customer_name: &str,
        org_name: &str,
        challenge_id: &str,
        notice: Notice,
        at: &str,
    ) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Recipient)?;
        let domain = self.from.email.domain().to_owned();
        let (tag, subject, what) = notice.words();
        let text = notice_text(customer_name, org_name, what, at);
        let html = notice_html(customer_name, org_name, what, at);
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("{org_name}: {subject}"))
            .message_id(Some(format!("<{challenge_id}.{tag}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Config(e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Relay(relay_error(&e)))
    }
}

/// A notice's text part.
fn notice_text(customer_name: &str, org_name: &str, what: &str, at: &str) -> String {
    format!(
        "Hello {customer_name},\r\n\r\n\
         {what} ({org_name}, {at}).\r\n\r\n\
         If this was you, there is nothing to do. If it was not, tell {org_name} at once.\r\n\
         This message asks for nothing: never give your PIN, your recovery answers or a \
         recovery code to anyone.\r\n"
    )
}

/// A notice's HTML part: the same words, the names escaped, no remote content.
fn notice_html(customer_name: &str, org_name: &str, what: &str, at: &str) -> String {
    let (name, org) = (escape_html(customer_name), escape_html(org_name));
    format!(
        "<!doctype html>\r\n\
         <html><body style=\"font-family:sans-serif;line-height:1.5\">\r\n\
         <p>Hello {name},</p>\r\n\
         <p><strong>{what}</strong>\r\n({org}, {at}).</p>\r\n\
         <p>If this was you, there is nothing to do. If it was not, tell\r\n\
         {org} at once.</p>\r\n\
         <p>This message asks for nothing: never give your PIN, your\r\n\
         recovery answers or a recovery code to anyone.</p>\r\n\
         </body></html>\r\n",
        what = escape_html(what),
        at = escape_html(at),
    )
}

/// The recovery mail's HTML part: the same words as the text part, the customer's name
/// (the organization's input) escaped, no remote content (no image, font or link a mail
/// client would fetch).
fn recovery_html(customer_name: &str, code: &str) -> String {
    // Every line under 76 characters, so that an ASCII message goes as 7bit.
    format!(
        "<!doctype html>\r\n\
         <html><body style=\"font-family:sans-serif;line-height:1.5\">\r\n\
         <p>Hello {name},</p>\r\n\
         <p>a reset of your wallet PIN was started.\r\n\
         Your recovery code is:</p>\r\n\
         <p style=\"font-size:1.5em;font-family:monospace\">\r\n\
         <strong>{code}</strong></p>\r\n\
         <p>Type it where you were asked for it. It works for this reset\r\n\
         only, and only a few wrong tries are allowed. If you did not ask\r\n\
         for this, tell your provider and do not give the code to\r\n\
         anyone.</p>\r\n\
         </body></html>\r\n",
        name = escape_html(customer_name),
        code = escape_html(code),
    )
}

/// Text as HTML character data or a quoted attribute value.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The relay's answer as text, without the message (lettre's errors do not carry it;
/// this keeps it so if that ever changes: only the kind and the status code).
fn relay_error(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("the relay answered {code}"),
        None if e.is_timeout() => "timed out".into(),
        None if e.is_tls() => "TLS failed".into(),
        None => "could not talk to the relay".into(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn config(host: &str, tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 2525,
            from: "Wallet <wallet@example.com>".into(),
            tls,
            username: None,
            password_file: None,
            ca_file: None,
            timeout_ms: 1_000,
        }
    }

    #[test]
    fn the_html_part_escapes_the_name_and_fetches_nothing() {
        let h = recovery_html("<script>alert('x')</script> & Co", "ABCD-EFGH");
        assert!(h.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"));
        assert!(!h.contains("<script>"));
        assert!(h.contains("<strong>ABCD-EFGH</strong>"));
        for remote in ["http", "src=", "href=", "url("] {
            assert!(!h.contains(remote), "{remote}");
        }
    }

    #[test]
    fn a_notice_escapes_its_names_fetches_nothing_and_asks_for_nothing() {
        for n in [
            Notice::PinChanged,
            Notice::PinReset,
            Notice::LockedOut,
            Notice::KeysExported,
        ] {
            let (_, _, what) = n.words();
            let h = notice_html("<b>Ann</b>", "Acme & Co", what, "2026-12-01T10:00:00Z");
            assert!(h.contains("&lt;b&gt;Ann&lt;/b&gt;") && h.contains("Acme &amp; Co"));
            for remote in ["http", "src=", "href=", "url(", "<b>"] {
                assert!(!h.contains(remote), "{remote}");
            }
            let t = notice_text("Ann", "Acme", what, "2026-12-01T10:00:00Z");
            assert!(t.contains(what) && t.contains("never give your PIN"));
        }
    }

    #[test]
    fn plain_is_only_for_a_loopback_relay() {
        assert!(Mailer::new(&config("127.0.0.1", SmtpTls::Plain)).is_ok());
        assert!(Mailer::new(&config("localhost", SmtpTls::Plain)).is_ok());
        assert!(matches!(
            Mailer::new(&config("smtp.example.com", SmtpTls::Plain)),
            Err(MailError::Config(_))
        ));
        let mut c = config("127.0.0.1", SmtpTls::Plain);
        c.username = Some("u".into());
        assert!(matches!(Mailer::new(&c), Err(MailError::Config(_))));
        c.from = "not an address".into();
        assert!(Mailer::new(&c).is_err());
    }

    #[test]
    fn the_config_section_parses_with_its_defaults() {
        let c: SmtpConfig =
            toml::from_str("host = \"smtp.example.com\"\nfrom = \"w@example.com\"\n").unwrap();
        assert_eq!(
            (c.port, c.tls, c.timeout_ms),
            (587, SmtpTls::Starttls, 15_000)
        );
        assert!(toml::from_str::<SmtpConfig>("host = \"h\"\nfrom = \"f\"\nbogus = 1\n").is_err());
    }
}
