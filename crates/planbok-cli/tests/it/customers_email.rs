//! Recovery by email end to end, with real nodes and a real SMTP relay (`aiosmtpd`): the
//! organization opts in, every PIN commit enrolls a fresh code (made by the Gateway client,
//! sealed by the server, its wrap held by Node 2), a reset by email mails the code through
//! the relay, a wrong code is counted by Node 2, the right one (typed from the mail, with
//! typing slips) recovers the same customer secret under a new PIN and replaces the code,
//! and too many wrong codes lock the factor. The code never reaches a log, the audit trail
//! or the database in the clear.

use planbok_envelope::email_code::{self, EmailCode};
use planbok_envelope::pin::{Factor, PinError, PinKeys};
use planbok_proto::pb::{CustomerEmailCommit, CustomerPinStep};
use planbok_sdk::api::customers::ResetPin;
use planbok_sdk::gateway::PreparedPin;
use planbok_store::server::MailKind;
use planbok_store::{FactorTable, NodeStore};
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::{Options, SERVER};
use serde_json::{Value, json};

use crate::customers::{
    NEW_PIN, PIN, attempt, audit_actions, challenge, customer, direct, gateway, initialize,
    outbox_events, server_db,
};
use crate::rest::{Custody, Stack, assert_err, assert_ok, cli, idem};
use crate::smtp::SmtpRelay;

const THIRD_PIN: &str = "502977";

fn smtp(relay: &SmtpRelay) -> String {
    smtp_on(relay.port)
}

fn smtp_on(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"Wallet <wallet@example.com>\"\n\
         tls = \"plain\"\ntimeout_ms = 5000\n"
    )
}

/// A reset-pin challenge by email through the CLI: its id and Gateway URL.
fn reset_by_email(s: &Stack, id: &str) -> (String, String) {
    let (ok, out) = cli(
        s,
        &["customer", "reset-pin", id, "--method", "email", "--json"],
        None,
    );
    assert!(ok, "{out}");
    let ch: Value = serde_json::from_str(&out).unwrap();
    (
        ch["challengeId"].as_str().unwrap().to_owned(),
        ch["redirectUrl"].as_str().unwrap().to_owned(),
    )
}

/// The code in a received message, as the mail shows it.
fn code_in(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| EmailCode::parse(l).is_ok())
        .unwrap_or_else(|| panic!("no code in {message}"))
        .to_owned()
}

/// The customer secret the PIN opens (one counted attempt on an update-pin challenge).
fn secret_under(s: &Stack, id: &str, pin: &str) -> zeroize::Zeroizing<[u8; 32]> {
    let (opened, _) = attempt(&gateway(&challenge(s, id, "update-pin")), pin);
    zeroize::Zeroizing::new(*opened.unwrap().secret())
}

fn complete(s: &Stack, url: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["customer", "complete", url];
    all.extend_from_slice(args);
    cli(s, &all, None)
}

async fn a_forgotten_pin_is_reset_with_the_emailed_code(opts: Options) {
    let Some(relay) = SmtpRelay::start() else {
        return;
    };
    let s = Stack::start(opts, Custody::Unset, &smtp(&relay)).await;
    let id = customer(&s);

    // Off by default: the PIN commit carries no code, and a reset by email is refused.
    let url = challenge(&s, &id, "initialize");
    assert!(!gateway(&url).gateway_challenge().unwrap().email_recovery);
    let secret = initialize(&url, PIN);
    assert_eq!(
        s.owner.customer(&id).unwrap().recovery_methods,
        vec!["securityQuestions".to_owned()]
    );
    let reset = |method: &str| {
        s.owner.raw(
            "POST",
            &format!("/v2/customers/{id}/reset-pin"),
            Some(&json!({ "idempotencyKey": idem(), "method": method })),
        )
    };
    assert_err(reset("email").unwrap(), "email_recovery_disabled");
    assert_err(reset("sms").unwrap(), "invalid_request");

    // The owner opts in (CLI); a customer without a code yet cannot reset by email.
    let (ok, out) = cli(&s, &["customer", "email-recovery", "on", "--json"], None);
    assert!(ok, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["emailRecovery"],
        true
    );
    assert!(s.owner.organization().unwrap().email_recovery);
    assert_err(reset("email").unwrap(), "recovery_not_set");

    // From now on every PIN commit carries a fresh code: the next PIN update enrolls one.
    let gw = gateway(&challenge(&s, &id, "update-pin"));
    let ch = gw.gateway_challenge().unwrap();
    assert!(ch.email_recovery);
    let (opened, _) = attempt(&gw, PIN);
    let opened = opened.unwrap();
    let unlocked = gw.gateway_unlock(&opened.unlock().unwrap()).unwrap();
    let (next, req) = PreparedPin::new_pin(NEW_PIN, Some(unlocked.rekey_nonce)).unwrap();
    let eval = gw.gateway_enroll(&req).unwrap();
    let mut commit = next
        .enroll(&ch, &eval, opened.secret(), Some(&opened))
        .unwrap();
    let email = commit.email.take().expect("the client adds the code");
    let commit_raw = |c: &planbok_sdk::api::customers::GatewayCommit| {
        gw.raw(
            "POST",
            "/gateway/api/pin/commit",
            Some(&serde_json::to_value(c).unwrap()),
        )
        .unwrap()
    };
    // A commit without it is refused (a modified Gateway cannot skip it silently)…
    assert_err(commit_raw(&commit), "invalid_request");
    // …and so is a code that is not the one the wrap and verify key were made from (it
    // would be mailed and never recover).
    let mut wrong = email.clone();
    wrong.code = EmailCode::generate().display().to_string();
    commit.email = Some(wrong);
    assert_err(commit_raw(&commit), "invalid_request");
    let enrolled = EmailCode::parse(&email.code).unwrap();
    commit.email = Some(email);
    assert_eq!(gw.gateway_commit(&commit).unwrap().status, "complete");
    let c = s.owner.customer(&id).unwrap();
    assert_eq!(
        c.recovery_methods,
        vec!["securityQuestions".to_owned(), "email".to_owned()]
    );
    // Sealed at rest: the database holds a 49-byte box, not the 20-byte code.
    let mut db = server_db(&s).await;
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT email_code FROM customers WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1 + 12 + 20 + 16);
    drills_without_node2(&s, &id, &sealed, &enrolled, &secret).await;

    // The user forgot the PIN: a reset by email mails the code through the relay.
    let (challenge_id, url) = reset_by_email(&s, &id);
    let shown = gateway(&url).gateway_challenge().unwrap();
    assert_eq!(shown.recovery_method.as_deref(), Some("email"));
    assert!(shown.email_recovery, "the emailed code is replaced");
    let mail = relay.wait_for(1).await;
    assert!(mail[0].contains("To: alice@example.com"), "{}", mail[0]);
    assert!(
        mail[0].contains(&format!(
            "Message-ID: <{challenge_id}.recovery@example.com>"
        )),
        "{}",
        mail[0]
    );
    let code = code_in(&mail[0]);
    // Text and HTML alternatives, the code in both.
    for part in [
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain",
        "Content-Type: text/html",
    ] {
        assert!(mail[0].contains(part), "{part}: {}", mail[0]);
    }
    assert!(
        mail[0].contains(&format!("<strong>{code}</strong>")),
        "{}",
        mail[0]
    );

    // The questions' routes do not take this challenge, nor a questions' answer.
    let (ok, out) = complete(
        &s,
        &url,
        &[
            "--new-pin",
            THIRD_PIN,
            "--answers",
            "Rex the Dog,Zürich,St. Mary's",
        ],
    );
    assert!(!ok && out.contains("--email-code"), "{out}");
    // A mistyped code is refused before an attempt is spent.
    let (ok, out) = complete(&s, &url, &["--new-pin", THIRD_PIN, "--email-code", "1234"]);
    assert!(!ok && out.contains("32 characters"), "{out}");
    // A wrong code is counted by Node 2.
    let other = EmailCode::generate().display().to_string();
    let (ok, out) = complete(&s, &url, &["--new-pin", THIRD_PIN, "--email-code", &other]);
    assert!(
        !ok && out.contains("wrong recovery code (4 attempt(s) left"),
        "{out}"
    );
    // The right one, typed sloppily (lower case, spaces for dashes), resets the PIN.
    let typed = code.to_lowercase().replace('-', " ");
    let (ok, out) = complete(
        &s,
        &url,
        &["--new-pin", THIRD_PIN, "--email-code", &typed, "--json"],
    );
    assert!(ok, "{out}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "complete");
    // The same customer secret, now under the new PIN.
    assert_eq!(*secret_under(&s, &id, THIRD_PIN), *secret);

    // The code was replaced: the old one no longer recovers; the next reset mails a new one.
    let (_, url) = reset_by_email(&s, &id);
    let mail = relay.wait_for(2).await;
    let fresh = code_in(&mail[1]);
    assert_ne!(fresh, code);
    let (ok, out) = complete(&s, &url, &["--new-pin", NEW_PIN, "--email-code", &code]);
    assert!(!ok && out.contains("wrong recovery code"), "{out}");
    let (ok, out) = complete(&s, &url, &["--new-pin", NEW_PIN, "--email-code", &fresh]);
    assert!(ok, "{out}");

    // Audited and reported, and the code is nowhere but in the mails.
    let actions = audit_actions(&s);
    for a in [
        "organization.email_recovery",
        "customer.recovery_email_sent",
        "customer.recovery_attempt",
        "customer.recovery_verified",
        "customer.pin_reset",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let events = outbox_events(&s).await;
    assert!(
        events.iter().any(|e| e == "customer.recovery_completed"),
        "{events:?}"
    );
    let trail = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?limit=100", None)
            .unwrap(),
    )
    .to_string();
    let log = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
    let logs = [
        ("audit trail", trail),
        ("server log", log(&s.cluster.node(SERVER).log)),
        ("node 1 log", log(&s.cluster.node(Node1).log)),
        ("node 2 log", log(&s.cluster.node(Node2).log)),
    ];
    for c in [&code, &fresh] {
        let bare = c.replace('-', "");
        for (what, text) in &logs {
            assert!(
                !text.contains(c.as_str()) && !text.contains(&bare),
                "the code is in the {what}"
            );
        }
    }
    drop(relay);
}

/// The custody drills of the email code, played by everything but Node 2 (the server's
/// database and grant key, and Node 1): the sealed copy is not the code; Node 2's wrap
/// does not open under another code; and a code of the attacker's own is not planted,
/// even riding on a replayed PIN commit (Node 2 wants the new PIN's signature over it).
async fn drills_without_node2(
    s: &Stack,
    id: &str,
    sealed: &[u8],
    enrolled: &EmailCode,
    secret: &[u8; 32],
) {
    let node2 = NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap();
    let email = node2
        .factor_record(FactorTable::Email, &s.org_id, id)
        .await
        .unwrap()
        .unwrap();
    let w_email = email.sealed_key.clone().unwrap();
    // The server's copy is sealed: the enrolled code's bytes are not in it.
    assert!(
        !sealed
            .windows(enrolled.as_bytes().len())
            .any(|w| w == enrolled.as_bytes())
    );
    // Node 2's wrap opens under the enrolled code (to the customer secret) and no other.
    assert_eq!(
        *enrolled.keys(&s.org_id, id).unwrap(&w_email).unwrap(),
        *secret
    );
    for _ in 0..3 {
        assert_eq!(
            EmailCode::generate().keys(&s.org_id, id).unwrap(&w_email),
            Err(PinError::WrongPin)
        );
    }
    // Node 1 never holds a row of it.
    let node1 = NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap();
    assert_eq!(
        node1
            .factor_record(FactorTable::Email, &s.org_id, id)
            .await
            .unwrap(),
        None
    );
    // The attacker's own code, signed by a key of its own, on a replay of the PIN's
    // completed commit (which Node 2 repeats as a success): refused, nothing replaced.
    let pin_rec = node2
        .factor_record(FactorTable::Pin, &s.org_id, id)
        .await
        .unwrap()
        .unwrap();
    let mine = EmailCode::generate().keys(&s.org_id, id);
    let wrapped = mine.wrap(&[7; 32]).unwrap();
    let vk = mine.verify_key();
    let attacker = PinKeys::derive(b"attacker", &s.org_id, id);
    let r = direct(s, id, CustomerPinStep::Commit, |r| {
        r.nonce = pin_rec.enroll_nonce.clone().unwrap();
        r.verify_key = pin_rec.verify_key.clone().unwrap();
        r.email = Some(CustomerEmailCommit {
            verify_key: vk.to_vec(),
            wrapped: wrapped.clone(),
            signature: attacker
                .sign_commit_of(Factor::Email, &email_code::enroll_nonce(&wrapped), &vk)
                .to_vec(),
        });
    })
    .await;
    assert_eq!(crate::common::code(&r.unwrap_err()), "pin_proof_invalid");
    let after = node2
        .factor_record(FactorTable::Email, &s.org_id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.verify_key, email.verify_key);
    assert_eq!(after.sealed_key, email.sealed_key);
}

async fn wrong_codes_lock_email_recovery_and_a_disabled_org_refuses(opts: Options) {
    let Some(relay) = SmtpRelay::start() else {
        return;
    };
    let s = Stack::start(opts, Custody::Unset, &smtp(&relay)).await;
    s.owner.set_email_recovery(true).unwrap();
    let id = customer(&s);
    // Initialize enrolls the first code.
    let url = challenge(&s, &id, "initialize");
    assert!(gateway(&url).gateway_challenge().unwrap().email_recovery);
    let secret = initialize(&url, PIN);
    assert!(
        s.owner
            .customer(&id)
            .unwrap()
            .recovery_methods
            .contains(&"email".to_owned())
    );

    // Five wrong codes (the default limit), then Node 2 refuses even the right one.
    let (challenge_id, url) = reset_by_email(&s, &id);
    let code = code_in(&relay.wait_for(1).await[0]);
    for left in (0..5).rev() {
        let other = EmailCode::generate().display().to_string();
        let (ok, out) = complete(&s, &url, &["--new-pin", NEW_PIN, "--email-code", &other]);
        assert!(
            !ok && out.contains(&format!("wrong recovery code ({left} attempt(s) left")),
            "{out}"
        );
    }
    let (ok, out) = complete(&s, &url, &["--new-pin", NEW_PIN, "--email-code", &code]);
    assert!(!ok && out.contains("recovery_locked"), "{out}");
    let ch = s.owner.challenge(&id, &challenge_id).unwrap();
    assert_eq!(
        (ch.status.as_str(), ch.error_code.as_deref()),
        ("failed", Some("recovery_locked"))
    );
    assert!(
        audit_actions(&s)
            .iter()
            .any(|a| a == "customer.recovery_locked_out")
    );

    // The security questions are a separate factor: they still recover, and that PIN
    // commit enrolls a fresh code with a fresh counter at Node 2.
    let done = crate::customers_recovery::reset(
        &challenge(&s, &id, "reset-pin"),
        &crate::customers::ANSWERS,
        NEW_PIN,
    );
    assert_eq!(done.status, "complete");
    let (_, url) = reset_by_email(&s, &id);
    let fresh = code_in(&relay.wait_for(2).await[1]);
    let (ok, out) = complete(&s, &url, &["--new-pin", THIRD_PIN, "--email-code", &fresh]);
    assert!(ok, "{out}");
    assert_eq!(*secret_under(&s, &id, THIRD_PIN), *secret);

    // Switched off: no new reset by email (codes already enrolled stay at Node 2).
    s.owner.set_email_recovery(false).unwrap();
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/reset-pin"),
                Some(&json!({ "method": "email" })),
            )
            .unwrap(),
        "email_recovery_disabled",
    );
    // …and a PIN commit no longer asks for a code.
    assert!(
        !gateway(&challenge(&s, &id, "update-pin"))
            .gateway_challenge()
            .unwrap()
            .email_recovery
    );
    // The questions still reset the PIN (the default method).
    let ch = s
        .owner
        .reset_pin(
            &id,
            &ResetPin {
                idempotency_key: Some(idem()),
                redirect_url: None,
                method: None,
            },
        )
        .unwrap();
    assert_eq!(
        (ch.kind.as_str(), ch.status.as_str()),
        ("reset_pin", "pending")
    );
    // No mail was sent for it, nor for the refused ones.
    assert_eq!(relay.messages().len(), 2);
    drop(relay);
}

/// The mail is committed with its challenge, before any send: a relay that is down is
/// retried, and a server killed (`kill -9`) before the send sends it after its restart,
/// once the relay is back — the same message (`Message-ID`), and the reset completes.
async fn the_code_is_mailed_after_a_relay_outage_and_a_kill_9(opts: Options) {
    if !crate::rest::python_has("aiosmtpd", "the SMTP relay") {
        return;
    }
    let port = crate::common::free_port();
    let mut s = Stack::start(opts, Custody::Unset, &smtp_on(port)).await;
    s.owner.set_email_recovery(true).unwrap();
    let id = customer(&s);
    let secret = initialize(&challenge(&s, &id, "initialize"), PIN);
    // The relay is down when the reset is asked for: the challenge is answered (201) and
    // the mail waits in the outbox, retried.
    let (challenge_id, url) = reset_by_email(&s, &id);
    let store = planbok_store::ServerStore::connect(&s.cluster.node(SERVER).database_url)
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let (status, attempts) = store
            .mail_status(&challenge_id, MailKind::RecoveryCode)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(status, "sent");
        if attempts >= 1 && status == "pending" {
            break;
        }
        assert!(start.elapsed().as_secs() < 30, "{status} {attempts}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.cluster.kill(SERVER).unwrap();
    let relay = SmtpRelay::start_on(port).unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    let mail = relay.wait_for(1).await;
    assert!(
        mail[0].contains(&format!(
            "Message-ID: <{challenge_id}.recovery@example.com>"
        )),
        "{}",
        mail[0]
    );
    let code = code_in(&mail[0]);
    let (ok, out) = complete(&s, &url, &["--new-pin", NEW_PIN, "--email-code", &code]);
    assert!(ok, "{out}");
    assert_eq!(*secret_under(&s, &id, NEW_PIN), *secret);
    let (status, _) = store
        .mail_status(&challenge_id, MailKind::RecoveryCode)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, "sent");
    // Sent once.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(relay.messages().len(), 1);
}

on_sqlite_and_postgres!(
    the_code_is_mailed_after_a_relay_outage_and_a_kill_9,
    a_forgotten_pin_is_reset_with_the_emailed_code,
    wrong_codes_lock_email_recovery_and_a_disabled_org_refuses,
);
