//! The server's SMTP client (`planbok_server::mail`) against a real relay.

use planbok_envelope::email_code::EmailCode;
use planbok_server::mail::{MailError, Mailer, SmtpConfig, SmtpTls};

use crate::smtp::SmtpRelay;

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        from: "Wallet <wallet@example.com>".into(),
        tls: SmtpTls::Plain,
        username: None,
        password_file: None,
        ca_file: None,
        timeout_ms: 5_000,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recovery_code_reaches_the_relay_and_reads_back() {
    let Some(relay) = SmtpRelay::start() else {
        return;
    };
    let mailer = Mailer::new(&config(relay.port)).unwrap();
    let code = EmailCode::generate();
    mailer
        .send_recovery_code("ann@example.org", "Ann", "ch_1", &code.display())
        .await
        .unwrap();
    let m = relay.wait_for(1).await;
    assert!(m[0].contains("To: ann@example.org"), "{}", m[0]);
    assert!(
        m[0].contains("Message-ID: <ch_1.recovery@example.com>"),
        "{}",
        m[0]
    );
    // The user types what the mail shows.
    let shown = m[0]
        .lines()
        .map(str::trim)
        .find(|l| EmailCode::parse(l).is_ok())
        .expect("a code line");
    let typed = EmailCode::parse(shown).unwrap();
    assert_eq!(*typed.display(), *code.display());
    // A bad recipient is refused before the relay sees anything.
    assert!(matches!(
        mailer
            .send_recovery_code("not an address", "Ann", "ch_2", "x")
            .await,
        Err(MailError::Recipient)
    ));
    drop(relay);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_is_down_is_an_error_without_the_code() {
    let port = crate::common::free_port();
    let mailer = Mailer::new(&config(port)).unwrap();
    let code = EmailCode::generate();
    let e = mailer
        .send_recovery_code("ann@example.org", "Ann", "ch_1", &code.display())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Relay(_)));
    assert!(!e.to_string().contains(code.display().as_str()));
    assert!(!format!("{e:?}").contains(code.display().as_str()));
}
