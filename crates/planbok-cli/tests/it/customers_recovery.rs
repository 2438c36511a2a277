//! Recovery by security questions through the REST API, the Gateway routes and the CLI,
//! with real nodes: set up with the PIN at initialize, reset a forgotten PIN (the same
//! customer secret under the new PIN), change the questions (needs the PIN), the
//! questions' own counter and lockout at Node 2 (across `kill -9`), and a reset that ends
//! a PIN lockout. The custody drills are in `customers_recovery_drills.rs`.

use planbok_envelope::pin::PinError;
use planbok_sdk::Client;
use planbok_sdk::api::customers::{Challenge, GatewayEvaluated};
use planbok_sdk::gateway::{
    GatewayError, GatewayLink, OpenedRecovery, PreparedAnswers, PreparedPin,
};
use planbok_store::FactorTable;
use planbok_testkit::cluster::NodeRole::Node2;
use planbok_testkit::cluster::Options;
use serde_json::{Value, json};

use crate::customers::{
    ANSWERS, ANSWERS_CLI, NEW_PIN, PIN, attempt, audit_actions, challenge, customer, gateway,
    initialize, outbox_events, server_db, status,
};
use crate::rest::{Custody, Stack, assert_err, cli, idem};

/// One recovery attempt on a reset-pin challenge: the recovered secret, or the error,
/// and the evaluation's answer.
pub(crate) fn recover(
    gw: &Client,
    answers: &[&str],
) -> (Result<OpenedRecovery, GatewayError>, GatewayEvaluated) {
    let ch = gw.gateway_challenge().unwrap();
    let (prepared, req) =
        PreparedAnswers::existing(ch.recovery.as_ref().unwrap(), answers).unwrap();
    let eval = gw.gateway_recovery_evaluate(&req).unwrap();
    (prepared.open(&ch, &eval), eval)
}

/// Completes a reset-pin challenge the way the Gateway does.
pub(crate) fn reset(url: &str, answers: &[&str], new_pin: &str) -> Challenge {
    let gw = gateway(url);
    let ch = gw.gateway_challenge().unwrap();
    let (recovered, _) = recover(&gw, answers);
    let recovered = recovered.unwrap();
    let unlocked = gw
        .gateway_recovery_unlock(&recovered.unlock().unwrap())
        .unwrap();
    let (next, req) = PreparedPin::new_pin(new_pin, Some(unlocked.rekey_nonce)).unwrap();
    let eval = gw.gateway_enroll(&req).unwrap();
    let commit = next.enroll_reset(&ch, &eval, &recovered).unwrap();
    gw.gateway_commit(&commit).unwrap()
}

fn complete(s: &Stack, url: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["customer", "complete", url];
    all.extend_from_slice(args);
    cli(s, &all, None)
}

async fn a_forgotten_pin_is_reset_with_the_security_questions(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;

    // Onboarding through the CLI, with a custom question and a hint.
    let id = customer(&s);
    let url = challenge(&s, &id, "initialize");
    let qs = "first_pet,birth_city,custom:What was the name of my first bicycle?";
    let (ok, out) = complete(
        &s,
        &url,
        &[
            "--pin",
            PIN,
            "--answers",
            "Rex,Zürich,Speedy",
            "--questions",
            qs,
            "--hints",
            ",,speedy gonzales",
        ],
    );
    assert!(!ok && out.contains("contains an answer"), "{out}");
    let (ok, out) = complete(
        &s,
        &url,
        &["--pin", PIN, "--answers", "Rex,Zürich", "--questions", qs],
    );
    assert!(!ok && out.contains("exactly 3"), "{out}");
    let (ok, out) = complete(
        &s,
        &url,
        &[
            "--pin",
            PIN,
            "--answers",
            "Rex,Zürich,Speedy",
            "--questions",
            qs,
            "--hints",
            ",,it was red",
            "--json",
        ],
    );
    assert!(ok, "{out}");
    let c = s.owner.customer(&id).unwrap();
    assert_eq!(
        (
            c.pin_status.as_str(),
            c.has_recovery,
            c.recovery_methods.clone()
        ),
        ("set", true, vec!["securityQuestions".to_owned()])
    );
    let (ok, out) = cli(&s, &["customer", "get", &id], None);
    assert!(ok && out.contains("recovery true"), "{out}");

    // The API key opens no recovery route of the Gateway.
    for path in ["evaluate", "unlock", "enroll", "commit"] {
        assert_err(
            s.owner
                .raw(
                    "POST",
                    &format!("/gateway/api/recovery/{path}"),
                    Some(&json!({})),
                )
                .unwrap(),
            "unauthorized",
        );
    }

    // The user forgot the PIN: the organization starts a reset.
    let (ok, out) = cli(&s, &["customer", "reset-pin", &id, "--json"], None);
    assert!(ok, "{out}");
    let ch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ch["type"], "reset_pin");
    let url = ch["redirectUrl"].as_str().unwrap().to_owned();
    // The Gateway shows the questions and hints, never an answer.
    let shown = gateway(&url).gateway_challenge().unwrap();
    let shown = shown.recovery.unwrap();
    assert_eq!(
        shown.questions[0].text.as_deref(),
        Some("What was the name of your first pet?")
    );
    assert_eq!(shown.questions[2].hint.as_deref(), Some("it was red"));
    // A PIN step is not this challenge's business.
    assert_err(
        gateway(&url)
            .raw(
                "POST",
                "/gateway/api/pin/evaluate",
                Some(&json!({"blinded": "AA"})),
            )
            .unwrap(),
        "challenge_not_pending",
    );
    // Wrong answers are counted by Node 2.
    let (ok, out) = complete(
        &s,
        &url,
        &["--answers", "Rex,Zurich,Speedy", "--new-pin", NEW_PIN],
    );
    assert!(
        !ok && out.contains("wrong answers (4 attempt(s) left"),
        "{out}"
    );
    // The same answers typed differently (case, spacing, composed characters) are the same.
    let (ok, out) = complete(
        &s,
        &url,
        &[
            "--answers",
            " REX ,Zu\u{0308}RICH,  speedy",
            "--new-pin",
            NEW_PIN,
            "--json",
        ],
    );
    assert!(ok, "{out}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&done["status"], &done["result"]["pinStatus"]),
        (&json!("complete"), &json!("set"))
    );
    // The old PIN is gone, the new one works.
    let gw = gateway(&challenge(&s, &id, "update-pin"));
    let (old, _) = attempt(&gw, PIN);
    assert_eq!(old.unwrap_err(), GatewayError::Pin(PinError::WrongPin));
    let (new, _) = attempt(&gw, NEW_PIN);
    assert!(new.is_ok());

    // Through the API: the recovered secret is the one initialize made, and the new PIN
    // wraps the same secret (wallets keep working).
    let id2 = customer(&s);
    let secret = initialize(&challenge(&s, &id2, "initialize"), PIN);
    let url = challenge(&s, &id2, "reset-pin");
    let (recovered, _) = recover(&gateway(&url), &ANSWERS);
    assert_eq!(*recovered.unwrap().secret(), *secret);
    // That attempt was not unlocked; a fresh one completes the reset (recover counts
    // again: nothing is skipped).
    let done = reset(&url, &ANSWERS, NEW_PIN);
    assert_eq!(done.status, "complete");
    let (opened, _) = attempt(&gateway(&challenge(&s, &id2, "update-pin")), NEW_PIN);
    assert_eq!(*opened.unwrap().secret(), *secret);
    // The used token is spent.
    assert_err(
        gateway(&url)
            .raw("GET", "/gateway/api/challenge", None)
            .unwrap(),
        "unauthorized",
    );

    // Changing the questions needs the PIN: a wrong one is refused and counted.
    let url = challenge(&s, &id2, "recovery");
    let (ok, out) = complete(
        &s,
        &url,
        &["--pin", PIN, "--answers", "Bella,Oslo,Lycée Molière"],
    );
    assert!(!ok && out.contains("wrong PIN"), "{out}");
    let (ok, out) = complete(
        &s,
        &url,
        &[
            "--pin",
            NEW_PIN,
            "--answers",
            "Bella,Oslo,Lycée Molière",
            "--questions",
            "first_pet,birth_city,first_car",
        ],
    );
    assert!(ok && out.contains("complete"), "{out}");
    // The old answers no longer open anything; the new ones do, to the same secret.
    let url = challenge(&s, &id2, "reset-pin");
    let gw = gateway(&url);
    let (old, eval) = recover(&gw, &ANSWERS);
    assert_eq!(old.unwrap_err(), GatewayError::Pin(PinError::WrongPin));
    assert_eq!(eval.attempts_left, 4);
    let (new, _) = recover(&gw, &["bella", "OSLO", "lycée molière"]);
    assert_eq!(*new.unwrap().secret(), *secret);

    // A customer enrolled before recovery existed (no questions on record): no reset, no
    // recovery_required for what exists today, and the recovery route sets them up.
    let id3 = customer(&s);
    initialize(&challenge(&s, &id3, "initialize"), PIN);
    let mut db = server_db(&s).await;
    sqlx::query("UPDATE customers SET rec_wrap = NULL WHERE id = $1")
        .bind(&id3)
        .execute(&mut db)
        .await
        .unwrap();
    assert!(!s.owner.customer(&id3).unwrap().has_recovery);
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id3}/reset-pin"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "recovery_not_set",
    );
    let (ok, out) = complete(
        &s,
        &challenge(&s, &id3, "recovery"),
        &["--pin", PIN, "--answers", ANSWERS_CLI],
    );
    assert!(ok, "{out}");
    assert!(s.owner.customer(&id3).unwrap().has_recovery);
    // A customer without a PIN has nothing to recover or protect.
    let id4 = customer(&s);
    for op in ["reset-pin", "recovery"] {
        assert_err(
            s.owner
                .raw(
                    "POST",
                    &format!("/v2/customers/{id4}/{op}"),
                    Some(&json!({"idempotencyKey": idem()})),
                )
                .unwrap(),
            "pin_not_set",
        );
    }

    let actions = audit_actions(&s);
    for a in [
        "customer.reset_pin",
        "customer.recovery_attempt",
        "customer.recovery_verified",
        "customer.pin_reset",
        "customer.recovery",
        "customer.recovery_set",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    let events = outbox_events(&s).await;
    for e in ["customer.recovery_initiated", "customer.recovery_completed"] {
        assert!(events.iter().any(|x| x == e), "{e} not in {events:?}");
    }
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
}

async fn wrong_answers_lock_recovery_at_node2_and_a_reset_ends_a_pin_lockout(mut opts: Options) {
    opts.limits.customer_pin_attempts = 2;
    opts.limits.customer_recovery_attempts = 2;
    let mut s = Stack::start(opts, Custody::Unset, "").await;
    let id = customer(&s);
    let secret = initialize(&challenge(&s, &id, "initialize"), PIN);

    // Two wrong PINs lock the customer.
    let gw = gateway(&challenge(&s, &id, "update-pin"));
    for p in ["502977", "119283"] {
        assert!(attempt(&gw, p).0.is_err());
    }
    let ch = gw.gateway_challenge().unwrap();
    let (_, req) = PreparedPin::existing_pin(PIN, ch.pin.as_ref().unwrap()).unwrap();
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/pin/evaluate",
            Some(&serde_json::to_value(&req).unwrap()),
        )
        .unwrap(),
        "customer_locked",
    );
    assert_eq!(status(&s, &id), "locked");
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/recovery"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "customer_locked",
    );
    // Recovery is what a locked customer can still do, and it ends the lockout.
    let done = reset(&challenge(&s, &id, "reset-pin"), &ANSWERS, NEW_PIN);
    assert_eq!(done.status, "complete");
    assert_eq!(status(&s, &id), "set");
    let gw = gateway(&challenge(&s, &id, "update-pin"));
    let (opened, eval) = attempt(&gw, NEW_PIN);
    let opened = opened.unwrap();
    assert_eq!(*opened.secret(), *secret);
    assert_eq!(eval.attempts_left, 1, "the PIN's counter starts afresh");
    gw.gateway_unlock(&opened.unlock().unwrap()).unwrap();

    // The questions have their own counter: wrong answers never spend PIN attempts.
    let url = challenge(&s, &id, "reset-pin");
    let gw = gateway(&url);
    let (r, eval) = recover(&gw, &["Rex", "Paris", "St. Mary's"]);
    assert_eq!(r.unwrap_err(), GatewayError::Pin(PinError::WrongPin));
    assert_eq!(eval.attempts_left, 1);
    // Node 2 dies hard and comes back: the attempt is still counted.
    s.cluster.kill(Node2).unwrap();
    s.cluster.restart(Node2).await.unwrap();
    let (r, eval) = recover(&gw, &["Rex", "Lyon", "St. Mary's"]);
    assert!(r.is_err());
    assert_eq!(eval.attempts_left, 0);
    // Spent: even the right answers are refused, before any evaluation.
    let ch = gw.gateway_challenge().unwrap();
    let (_, req) = PreparedAnswers::existing(ch.recovery.as_ref().unwrap(), &ANSWERS).unwrap();
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/recovery/evaluate",
            Some(&serde_json::to_value(&req).unwrap()),
        )
        .unwrap(),
        "recovery_locked",
    );
    let link = GatewayLink::parse(&url).unwrap();
    let failed = s.owner.challenge(&id, &link.challenge_id).unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.error_code.as_deref()),
        ("failed", Some("recovery_locked"))
    );
    s.cluster.kill(Node2).unwrap();
    s.cluster.restart(Node2).await.unwrap();
    let rec = planbok_store::NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap()
        .factor_record(FactorTable::Questions, &s.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.failures, 2);
    let gw = gateway(&challenge(&s, &id, "reset-pin"));
    let ch = gw.gateway_challenge().unwrap();
    let (_, req) = PreparedAnswers::existing(ch.recovery.as_ref().unwrap(), &ANSWERS).unwrap();
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/recovery/evaluate",
            Some(&serde_json::to_value(&req).unwrap()),
        )
        .unwrap(),
        "recovery_locked",
    );
    // The PIN is untouched by all this; proving it does not reopen the questions (only
    // new questions, signed by the PIN, would).
    let gw_pin = gateway(&challenge(&s, &id, "update-pin"));
    let (opened, eval) = attempt(&gw_pin, NEW_PIN);
    gw_pin
        .gateway_unlock(&opened.unwrap().unlock().unwrap())
        .unwrap();
    assert_eq!(eval.attempts_left, 1);
    // New questions, set with the PIN, start a fresh counter.
    let (ok, out) = complete(
        &s,
        &challenge(&s, &id, "recovery"),
        &[
            "--pin",
            NEW_PIN,
            "--answers",
            "Bella,Oslo,Fiat Uno",
            "--questions",
            "first_pet,birth_city,first_car",
        ],
    );
    assert!(ok, "{out}");
    let (r, eval) = recover(
        &gateway(&challenge(&s, &id, "reset-pin")),
        &["Bella", "Oslo", "Fiat Uno"],
    );
    assert_eq!(*r.unwrap().secret(), *secret);
    assert_eq!(eval.attempts_left, 1);

    let actions = audit_actions(&s);
    assert!(
        actions.iter().any(|a| a == "customer.recovery_locked_out"),
        "{actions:?}"
    );
}

on_sqlite_and_postgres!(
    a_forgotten_pin_is_reset_with_the_security_questions,
    wrong_answers_lock_recovery_at_node2_and_a_reset_ends_a_pin_lockout,
);
