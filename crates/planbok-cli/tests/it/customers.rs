//! Customers and their PINs through the REST API, the Gateway routes and the CLI, with
//! real nodes: set and change a PIN, the guess counter in Node 2 (lockout, `kill -9`). The
//! custody drills are in `customers_drills.rs`, with the helpers here.

use planbok_envelope::pin::{self, PinError};
use planbok_proto::grant;
use planbok_proto::pb::{CustomerPinRequest, CustomerPinStep, Operation};
use planbok_sdk::Client;
use planbok_sdk::api::customers::RecoveryQuestion;
use planbok_sdk::api::customers::{CreateChallenge, CreateCustomer, GatewayEvaluated};
use planbok_sdk::gateway::{
    GatewayError, GatewayLink, OpenedPin, PreparedAnswers, PreparedPin, new_customer_secret,
};
use planbok_store::FactorTable;
use planbok_store::server::ServerStore;
use planbok_testkit::cluster::NodeRole::Node2;
use planbok_testkit::cluster::{Options, SERVER};
use serde_json::{Value, json};
use sqlx::Connection as _;
use zeroize::Zeroizing;

use crate::rest::{Custody, Stack, assert_err, assert_ok, cli, idem, new_org};

pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub(crate) const PIN: &str = "284913";
pub(crate) const NEW_PIN: &str = "730518";
/// The security questions every test customer sets up (initialize makes them mandatory).
pub(crate) const ANSWERS: [&str; 3] = ["Rex the Dog", "Zürich", "St. Mary's"];
pub(crate) const ANSWERS_CLI: &str = "Rex the Dog,Zürich,St. Mary's";

pub(crate) fn questions() -> Vec<RecoveryQuestion> {
    ["first_pet", "birth_city", "first_school"]
        .iter()
        .map(|id| RecoveryQuestion {
            id: Some((*id).into()),
            text: None,
            hint: None,
        })
        .collect()
}

pub(crate) fn customer(s: &Stack) -> String {
    s.owner
        .create_customer(&CreateCustomer {
            idempotency_key: Some(idem()),
            name: "Alice".into(),
            ref_id: Some("user-1".into()),
            email: Some("alice@example.com".into()),
        })
        .unwrap()
        .id
}

/// A challenge's Gateway URL.
pub(crate) fn challenge(s: &Stack, customer: &str, op: &str) -> String {
    s.owner
        .create_challenge(
            customer,
            op,
            &CreateChallenge {
                idempotency_key: Some(idem()),
                redirect_url: Some("https://app.example.com/done".into()),
            },
        )
        .unwrap()
        .redirect_url
        .unwrap()
}

pub(crate) fn gateway(url: &str) -> Client {
    let link = GatewayLink::parse(url).unwrap();
    Client::gateway(&link.origin, &link.token)
}

/// Sets the first PIN and the security questions ([`ANSWERS`]) the way the Gateway
/// does; returns the customer secret it made.
pub(crate) fn initialize(url: &str, pin: &str) -> Zeroizing<[u8; 32]> {
    initialize_with(url, pin, &questions(), &ANSWERS)
}

/// [`initialize`] with other questions and answers.
pub(crate) fn initialize_with(
    url: &str,
    pin: &str,
    qs: &[RecoveryQuestion],
    answers: &[&str],
) -> Zeroizing<[u8; 32]> {
    let gw = gateway(url);
    let ch = gw.gateway_challenge().unwrap();
    let (prepared, req) = PreparedPin::new_pin(pin, None).unwrap();
    let (prepared_answers, rec_req) = PreparedAnswers::new_answers(qs, answers).unwrap();
    let eval = gw.gateway_enroll(&req).unwrap();
    let rec_eval = gw.gateway_recovery_enroll(&rec_req).unwrap();
    let secret = new_customer_secret();
    let (mut commit, keys) = prepared.enroll_first(&ch, &eval, &secret).unwrap();
    commit.recovery = Some(
        prepared_answers
            .enroll(&ch, &rec_eval, &secret, &keys)
            .unwrap(),
    );
    assert_eq!(gw.gateway_commit(&commit).unwrap().status, "complete");
    secret
}

/// One PIN attempt on an update-pin challenge: the opened PIN, or the error, and the
/// evaluation's answer.
pub(crate) fn attempt(
    gw: &Client,
    pin: &str,
) -> (Result<OpenedPin, GatewayError>, GatewayEvaluated) {
    let ch = gw.gateway_challenge().unwrap();
    let (prepared, req) = PreparedPin::existing_pin(pin, ch.pin.as_ref().unwrap()).unwrap();
    let eval = gw.gateway_evaluate(&req).unwrap();
    (prepared.open(&ch, &eval), eval)
}

pub(crate) fn status(s: &Stack, id: &str) -> String {
    s.owner.customer(id).unwrap().pin_status
}

pub(crate) async fn server_db(s: &Stack) -> sqlx::AnyConnection {
    let url = &s.cluster.node(SERVER).database_url;
    let _ = ServerStore::connect(url).await.unwrap(); // installs the Any drivers
    sqlx::AnyConnection::connect(url).await.unwrap()
}

pub(crate) async fn outbox_events(s: &Stack) -> Vec<String> {
    let mut db = server_db(s).await;
    sqlx::query_scalar("SELECT event FROM webhook_events ORDER BY created_at_ms")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

pub(crate) fn audit_actions(s: &Stack) -> Vec<String> {
    let data = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?limit=100", None)
            .unwrap(),
    );
    data["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_customer_sets_and_changes_a_pin_through_the_gateway(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;

    // The organization's side, through the CLI: create, get, list.
    let (ok, out) = cli(
        &s,
        &[
            "customer", "create", "--name", "Bob", "--ref-id", "u-9", "--json",
        ],
        None,
    );
    assert!(ok, "{out}");
    let bob: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &bob["pinStatus"],
            &bob["hasRecovery"],
            &bob["recoveryMethods"]
        ),
        (&json!("unset"), &json!(false), &json!([]))
    );
    let id = bob["id"].as_str().unwrap().to_owned();
    let (ok, out) = cli(&s, &["customer", "list", "--json"], None);
    assert!(ok && out.contains(&id), "{out}");
    // Idempotent creation: the same key answers the same customer.
    let body = json!({"idempotencyKey": idem(), "name": "Carol"});
    let first = assert_ok(s.owner.raw("POST", "/v2/customers", Some(&body)).unwrap());
    let again = assert_ok(s.owner.raw("POST", "/v2/customers", Some(&body)).unwrap());
    assert_eq!(first["id"], again["id"]);
    assert_err(
        s.owner
            .raw("POST", "/v2/customers", Some(&json!({"name": "x"})))
            .unwrap(),
        "invalid_request",
    );
    // Another organization sees none of it.
    let (other, _) = new_org(&s.cluster, "other");
    assert_err(
        other
            .raw("GET", &format!("/v2/customers/{id}"), None)
            .unwrap(),
        "not_found",
    );
    assert_err(
        other
            .raw(
                "POST",
                &format!("/v2/customers/{id}/initialize"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "not_found",
    );
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/update-pin"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "pin_not_set",
    );

    // A challenge: the Gateway URL carries the token in its fragment.
    let (ok, out) = cli(
        &s,
        &["customer", "challenge", &id, "initialize", "--json"],
        None,
    );
    assert!(ok, "{out}");
    let ch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&ch["status"], &ch["type"]),
        (&json!("pending"), &json!("initialize"))
    );
    let url = ch["redirectUrl"].as_str().unwrap().to_owned();
    let link = GatewayLink::parse(&url).unwrap();
    assert_eq!(link.challenge_id, ch["challengeId"].as_str().unwrap());

    // The API key opens no Gateway route; neither does a made-up token.
    for (method, path) in [
        ("GET", "/gateway/api/challenge"),
        ("POST", "/gateway/api/pin/enroll"),
        ("POST", "/gateway/api/pin/commit"),
        ("POST", "/gateway/api/pin/evaluate"),
        ("POST", "/gateway/api/pin/unlock"),
    ] {
        let body = (method == "POST").then(|| json!({}));
        assert_err(
            s.owner.raw(method, path, body.as_ref()).unwrap(),
            "unauthorized",
        );
        let forged = Client::gateway(&s.cluster.server_url(), "x".repeat(43).as_str());
        assert_err(
            forged.raw(method, path, body.as_ref()).unwrap(),
            "unauthorized",
        );
    }

    // The end user: a weak PIN is refused by the client, a good one is set.
    let (ok, out) = cli(&s, &["customer", "complete", &url, "--pin", "123456"], None);
    assert!(!ok && out.contains("weak PIN"), "{out}");
    // Recovery is part of onboarding: no answers, no PIN.
    let (ok, out) = cli(&s, &["customer", "complete", &url, "--pin", PIN], None);
    assert!(!ok && out.contains("needs --answers"), "{out}");
    let started = std::time::Instant::now();
    let (ok, out) = cli(
        &s,
        &[
            "customer",
            "complete",
            &url,
            "--pin",
            PIN,
            "--answers",
            ANSWERS_CLI,
            "--json",
        ],
        None,
    );
    // A figure for docs/benchmarks.md, not an assertion.
    eprintln!("FIGURE pin setup through the CLI: {:?}", started.elapsed());
    assert!(ok, "{out}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&done["status"], &done["result"]["pinStatus"]),
        (&json!("complete"), &json!("set"))
    );
    assert_eq!(status(&s, &id), "set");
    let seen = s.owner.challenge(&id, &link.challenge_id).unwrap();
    assert_eq!(seen.status, "complete");
    assert_eq!(seen.result.unwrap()["pinStatus"], "set");
    // The token was for one completion.
    let (ok, out) = cli(
        &s,
        &[
            "customer",
            "complete",
            &url,
            "--pin",
            PIN,
            "--answers",
            ANSWERS_CLI,
        ],
        None,
    );
    assert!(!ok && out.contains("unauthorized"), "{out}");
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/initialize"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "pin_already_set",
    );

    // Change it: the wrong old PIN is refused (and counted), the right one works.
    let url = challenge(&s, &id, "update-pin");
    let (ok, out) = cli(
        &s,
        &[
            "customer",
            "complete",
            &url,
            "--pin",
            "502977",
            "--new-pin",
            NEW_PIN,
        ],
        None,
    );
    assert!(!ok && out.contains("wrong PIN (4 attempt(s) left"), "{out}");
    let (ok, out) = cli(
        &s,
        &[
            "customer",
            "complete",
            &url,
            "--pin",
            PIN,
            "--new-pin",
            NEW_PIN,
        ],
        None,
    );
    assert!(ok && out.contains("complete"), "{out}");
    let url = challenge(&s, &id, "update-pin");
    let gw = gateway(&url);
    let (old, eval) = attempt(&gw, PIN);
    assert_eq!(old.unwrap_err(), GatewayError::Pin(PinError::WrongPin));
    // The counter was reset by the successful change: this is the first failure since.
    assert_eq!(eval.attempts_left, 4);
    let (new, _) = attempt(&gw, NEW_PIN);
    gw.gateway_unlock(&new.unwrap().unlock().unwrap()).unwrap();

    let actions = audit_actions(&s);
    for a in [
        "customer.create",
        "customer.initialize",
        "customer.pin_set",
        "customer.update_pin",
        "customer.pin_attempt",
        "customer.pin_verified",
        "customer.pin_updated",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    let events = outbox_events(&s).await;
    assert!(events.iter().any(|e| e == "customer.created"), "{events:?}");
    assert!(
        events.iter().any(|e| e == "customer.pin_setup"),
        "{events:?}"
    );
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
}

async fn wrong_pins_lock_the_customer_at_node2_across_kill_9(mut opts: Options) {
    opts.limits.customer_pin_attempts = 3;
    let mut s = Stack::start(opts, Custody::Unset, "").await;
    let id = customer(&s);
    initialize(&challenge(&s, &id, "initialize"), PIN);
    let url = challenge(&s, &id, "update-pin");
    let gw = gateway(&url);

    let (r, eval) = attempt(&gw, "502977");
    assert!(r.is_err());
    assert_eq!(eval.attempts_left, 2);
    let (r, eval) = attempt(&gw, "119283");
    assert!(r.is_err());
    assert_eq!(eval.attempts_left, 1);
    // Node 2 dies hard and comes back: the two attempts are still counted.
    s.cluster.kill(Node2).unwrap();
    s.cluster.restart(Node2).await.unwrap();
    let (r, eval) = attempt(&gw, "640271");
    assert!(r.is_err());
    assert_eq!(eval.attempts_left, 0);
    // The budget is spent: even the right PIN is refused, before any evaluation.
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
    assert_eq!(
        s.owner
            .challenge(&id, &GatewayLink::parse(&url).unwrap().challenge_id)
            .unwrap()
            .status,
        "failed"
    );
    // Node 2 still refuses after a restart, whatever the server says.
    s.cluster.kill(Node2).unwrap();
    s.cluster.restart(Node2).await.unwrap();
    let rec = planbok_store::NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap()
        .factor_record(FactorTable::Pin, &s.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.failures, 3);
    assert_err(
        s.owner
            .raw(
                "POST",
                &format!("/v2/customers/{id}/update-pin"),
                Some(&json!({"idempotencyKey": idem()})),
            )
            .unwrap(),
        "customer_locked",
    );
    let r = direct(&s, &id, CustomerPinStep::Evaluate, |r| {
        r.blinded = pin::Blinded::new(Zeroizing::new([1; 32]))
            .unwrap()
            .message
            .to_vec();
    })
    .await;
    assert_eq!(crate::common::code(&r.unwrap_err()), "customer_locked");
    // Reported once: one audit entry, one event.
    let actions = audit_actions(&s);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "customer.locked_out")
            .count(),
        1,
        "{actions:?}"
    );
    let events = outbox_events(&s).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "customer.locked_out")
            .count(),
        1,
        "{events:?}"
    );
}

/// A PIN step sent straight to Node 1 with the server's grant key and certificate: what
/// an attacker holding the server (and its database and grant key) can do.
pub(crate) async fn direct(
    s: &Stack,
    customer: &str,
    step: CustomerPinStep,
    fill: impl FnOnce(&mut CustomerPinRequest),
) -> Result<planbok_proto::pb::CustomerPinResponse, tonic::Status> {
    let mut req = CustomerPinRequest {
        step: step as i32,
        customer_id: customer.to_owned(),
        ..Default::default()
    };
    fill(&mut req);
    req.grant = Some(s.cluster.grant(
        &s.org_id,
        customer,
        Operation::CustomerPin,
        grant::customer_pin_params(&req),
    ));
    s.cluster
        .server()
        .unwrap()
        .customer_pin(req)
        .await
        .map(|r| r.into_inner())
}

on_sqlite_and_postgres!(
    a_customer_sets_and_changes_a_pin_through_the_gateway,
    wrong_pins_lock_the_customer_at_node2_across_kill_9,
);
