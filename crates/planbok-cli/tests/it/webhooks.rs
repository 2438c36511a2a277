//! Webhooks end to end: the server as a process, a real HTTP receiver in this test, every
//! delivery checked by the SDK and by independent Python verifiers (`hmac` for the
//! platform signature, the `standardwebhooks` reference package for the standard one).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use planbok_sdk::webhook::{Scheme, Verifier};
use planbok_testkit::cluster::{Options, SERVER};
use serde_json::{Value, json};

use crate::rest::{Custody, Stack, assert_err, assert_ok, cli, idem};

/// Fast retries for tests: attempts 300 ms, 600 ms and 900 ms apart.
const FAST: &str = "[webhooks]\nallow_loopback = true\nretry_schedule_ms = [0, 300, 600, 900]\npoll_interval_ms = 100\n";

/// What the receiver answers to the next request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Holds the request without answering.
    Stall,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: String,
    at: Instant,
    answered: Option<u16>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<Reply>,
    /// Answered when the script is empty.
    default: Option<u16>,
    got: Vec<Got>,
}

/// An HTTP receiver on 127.0.0.1: records every request, answers per its script.
#[derive(Clone, Debug)]
struct Receiver {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let reply = {
        let mut i = r.inner.lock().unwrap();
        i.script
            .pop_front()
            .unwrap_or(Reply::Status(i.default.unwrap_or(200)))
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let got = Got {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        answered: match reply {
            Reply::Status(s) => Some(s),
            Reply::Stall => None,
        },
    };
    r.inner.lock().unwrap().got.push(got);
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s).unwrap(),
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::OK
        }
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            inner: Arc::default(),
            addr: listener.local_addr().unwrap(),
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/hook", self.addr.port())
    }

    fn script(&self, replies: &[Reply]) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    fn set_default(&self, status: u16) {
        self.inner.lock().unwrap().default = Some(status);
    }

    fn got(&self) -> Vec<Got> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Waits up to `secs` until `done` holds for what was received.
    async fn wait(&self, secs: u64, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} requests: {:?}",
                got.len(),
                got.iter()
                    .map(|g| (g.header("webhook-id").to_owned(), g.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Creates an endpoint as the owner; returns its id and secret.
fn create(s: &Stack, url: &str, events: Value) -> (String, String) {
    let d = assert_ok(s.post(
        "/v2/webhooks",
        json!({"idempotencyKey": idem(), "url": url, "events": events}),
    ));
    (
        d["id"].as_str().unwrap().to_owned(),
        d["secret"].as_str().unwrap().to_owned(),
    )
}

fn get(s: &Stack, path: &str) -> Value {
    assert_ok(s.owner.raw("GET", path, None).unwrap())
}

/// The Python verifiers over `cases`; `python_rejects` proves they can refuse.
fn python_check(cases: &[Value]) -> (bool, String) {
    crate::rest::run_checker("webhook_verify.py", cases)
}

fn python_ready() -> bool {
    crate::rest::python_has("standardwebhooks", "python webhook checks")
}

fn case(g: &Got, standard: &[&str], platform: Option<(&str, &str)>) -> Value {
    let headers: serde_json::Map<String, Value> = g
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "headers": headers,
        "body": g.body,
        "standard": standard,
        "platform": platform.map(|(h, s)| json!({"header": h, "secret": s})),
    })
}

/// Both signatures of `g` verify with `secret`, by the SDK (each scheme alone) and by
/// Python; a tampered body is refused by both.
fn verify_both(g: &Got, secret: &str) {
    let v = Verifier::new(secret).unwrap();
    let (event, scheme) = v.verify(&g.headers, g.body.as_bytes()).unwrap();
    assert_eq!(scheme, Scheme::Standard);
    assert_eq!(event.id, g.header("webhook-id"));
    assert_eq!(event.id, g.header("x-webhook-id"));
    assert_eq!(event.event, g.header("x-webhook-event"));
    let platform_only: Vec<_> = g
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("webhook-"))
        .cloned()
        .collect();
    let (_, scheme) = v.verify(&platform_only, g.body.as_bytes()).unwrap();
    assert_eq!(scheme, Scheme::Platform);
    let tampered = g.body.replace("\"data\"", "\"data\" ");
    assert!(v.verify(&g.headers, tampered.as_bytes()).is_err());
    assert!(v.verify(&platform_only, tampered.as_bytes()).is_err());
    if python_ready() {
        let c = case(g, &[secret], Some(("X-Webhook-Signature", secret)));
        let (ok, why) = python_check(std::slice::from_ref(&c));
        assert!(ok, "python: {why}");
        let mut bad = c.clone();
        bad["body"] = Value::String(tampered);
        assert!(!python_check(&[bad]).0, "python accepted a tampered body");
    }
}

on_sqlite_and_postgres!(
    webhooks_every_event_arrives_signed_both_ways,
    webhooks_retry_replay_rotate_and_disable,
    webhooks_survive_kill_9,
);

async fn webhooks_every_event_arrives_signed_both_ways(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, FAST).await;
    let r = Receiver::start().await;

    // Creation: validated, idempotent, owner/admin only, the secret shown (and replayed)
    // but never audited.
    let key = idem();
    let body = json!({"idempotencyKey": key, "url": r.url("127.0.0.1"), "events": ["*"], "description": "all"});
    let first = s.post("/v2/webhooks", body.clone());
    assert_eq!(first.0, 201, "{}", first.1);
    let secret = first.1["data"]["secret"].as_str().unwrap().to_owned();
    let id = first.1["data"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let again = s.post("/v2/webhooks", body.clone());
    assert_eq!(
        again, first,
        "a repeat gets the first answer, secret included"
    );
    let mut other = body.clone();
    other["url"] = json!(r.url("localhost"));
    assert_err(s.post("/v2/webhooks", other), "idempotency_conflict");
    let mut no_key = body.clone();
    no_key.as_object_mut().unwrap().remove("idempotencyKey");
    assert_err(s.post("/v2/webhooks", no_key), "invalid_request");
    for (events, code) in [
        (json!(["wallet.created", "nope"]), "invalid_request"),
        (json!([]), "invalid_request"),
        (json!(["*", "wallet.created"]), "invalid_request"),
    ] {
        assert_err(
            s.post(
                "/v2/webhooks",
                json!({"idempotencyKey": idem(), "url": r.url("127.0.0.1"), "events": events}),
            ),
            code,
        );
    }
    let member = crate::api_access::member_key(&s, "member", "full", json!({}));
    let (status, b) = member
        .raw(
            "POST",
            "/v2/webhooks",
            Some(&json!({"idempotencyKey": idem(), "url": r.url("127.0.0.1"), "events": ["*"]})),
        )
        .unwrap();
    assert_err((status, b), "forbidden");
    assert_err(
        member.raw("GET", "/v2/webhooks", None).unwrap(),
        "forbidden",
    );
    let admin = crate::api_access::member_key(&s, "admin", "full", json!({}));
    let (status, _) = admin
        .raw("GET", &format!("/v2/webhooks/{id}"), None)
        .unwrap();
    assert_eq!(status, 200);

    // Events: a test event and two wallets (two wallet.created), all delivered.
    let test = assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    assert_eq!(test["event"], "webhook.test");
    let set = s.wallet_set("dkls23", false);
    let wallets = s.wallets(&set.id, &["ETH", "SOL"], 1, false);
    assert_eq!(wallets.len(), 2);
    let got = r.wait(30, "three deliveries", |g| g.len() >= 3).await;
    assert_eq!(got.len(), 3, "one attempt each");
    let mut wallet_ids = HashSet::new();
    for g in &got {
        verify_both(g, &secret);
        let e = g.json();
        assert_eq!(e["organizationId"], s.org_id.as_str());
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
        match e["event"].as_str().unwrap() {
            "webhook.test" => assert_eq!(e["id"], test["eventId"]),
            "wallet.created" => {
                wallet_ids.insert(e["data"]["id"].as_str().unwrap().to_owned());
                assert!(e["data"]["address"].is_string());
            }
            other => panic!("unexpected event {other}"),
        }
    }
    let want: HashSet<String> = wallets.iter().map(|w| w.id.clone()).collect();
    assert_eq!(wallet_ids, want);
    let log = get(&s, &format!("/v2/webhooks/{id}/deliveries?order=asc"));
    assert_eq!(log["total"], 3);
    for d in log["items"].as_array().unwrap() {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["lastStatusCode"], 200);
    }

    // The secret is nowhere but in the answers: not in the audit trail, not in the log.
    let audit = s
        .owner
        .raw("GET", "/v2/audit-logs?limit=100", None)
        .unwrap()
        .1;
    assert!(audit.to_string().contains("webhook.create"));
    assert!(
        !audit.to_string().contains(&secret[6..]),
        "the audit trail holds the secret"
    );
    let log = std::fs::read_to_string(&s.cluster.node(SERVER).log).unwrap();
    assert!(
        !log.contains(&secret[6..]),
        "the server log holds the secret"
    );

    // The CLI: create, then `webhook listen` prints the verified test event.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let (ok, out) = cli(
        &s,
        &[
            "webhook",
            "create",
            "--endpoint",
            &url,
            "--events",
            "wallet.created,key.disabled",
            "--json",
        ],
        None,
    );
    assert!(ok, "{out}");
    let created: Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    let cli_id = created["id"].as_str().unwrap().to_owned();
    let listener = Command::new(crate::common::bin())
        .args([
            "webhook",
            "listen",
            "--port",
            &port.to_string(),
            "--count",
            "1",
        ])
        .env(
            "PLANBOK_WEBHOOK_SECRET",
            created["secret"].as_str().unwrap(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "listen did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, out) = cli(&s, &["webhook", "test", &cli_id], None);
    assert!(ok && out.contains("webhook.test"), "{out}");
    let out = tokio::task::spawn_blocking(move || listener.wait_with_output().unwrap())
        .await
        .unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["verified"], "standard-webhooks", "{line}");
    assert_eq!(line["event"]["event"], "webhook.test");
    let (ok, out) = cli(&s, &["webhook", "deliveries", &cli_id], None);
    assert!(ok && out.contains("succeeded"), "{out}");
    let (ok, out) = cli(&s, &["webhook", "list"], None);
    assert!(ok && out.contains(&cli_id) && out.contains(&id), "{out}");
    let (ok, out) = cli(&s, &["webhook", "update", &cli_id, "--disable"], None);
    assert!(ok && out.contains("disabled"), "{out}");
    assert_err(
        s.post(&format!("/v2/webhooks/{cli_id}/test"), json!({})),
        "webhook_disabled",
    );
    let (ok, out) = cli(&s, &["webhook", "delete", &cli_id], None);
    assert!(ok, "{out}");
    assert_err(
        s.owner
            .raw("GET", &format!("/v2/webhooks/{cli_id}"), None)
            .unwrap(),
        "not_found",
    );
}

async fn webhooks_retry_replay_rotate_and_disable(opts: Options) {
    let extra = format!("{FAST}timeout_ms = 3000\ndisable_after_ms = 1500\n");
    let s = Stack::start(opts, Custody::Standard, &extra).await;
    let r = Receiver::start().await;
    let (id, secret) = create(&s, &r.url("127.0.0.1"), json!(["wallet.created"]));

    // 302 (never followed), 500, then 200: three attempts, the schedule's spacing at
    // least, one event id.
    r.script(&[Reply::Status(302), Reply::Status(500)]);
    let d = assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    let got = r.wait(20, "three attempts", |g| g.len() >= 3).await;
    let ids: HashSet<&str> = got.iter().map(|g| g.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same event id");
    assert_eq!(
        got.iter().map(|g| g.answered).collect::<Vec<_>>(),
        [Some(302), Some(500), Some(200)]
    );
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(300),
        "{:?}",
        got[1].at - got[0].at
    );
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(600),
        "{:?}",
        got[2].at - got[1].at
    );
    for g in &got {
        verify_both(g, &secret);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let log = get(&s, &format!("/v2/webhooks/{id}/deliveries"));
        let d0 = log["items"][0].clone();
        if d0["status"] == "succeeded" {
            break d0;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivery["id"], d["id"]);
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["lastStatusCode"], 200);

    // Replay: a new delivery of the same event.
    let replay = assert_ok(s.post(
        &format!(
            "/v2/webhooks/deliveries/{}/replay",
            d["id"].as_str().unwrap()
        ),
        json!({}),
    ));
    assert_eq!(replay["replayOf"], d["id"]);
    assert_eq!(replay["eventId"], d["eventId"]);
    let got = r.wait(10, "the replay", |g| g.len() >= 4).await;
    assert_eq!(got[3].header("webhook-id"), d["eventId"].as_str().unwrap());
    assert_eq!(got[3].body, got[0].body, "the same bytes");
    assert_err(
        s.post("/v2/webhooks/deliveries/whd_nope/replay", json!({})),
        "not_found",
    );

    // Rotation: both secrets sign for the overlap.
    let rotated = assert_ok(s.post(&format!("/v2/webhooks/{id}/rotate-secret"), json!({})));
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, secret);
    assert!(rotated["previousSecretExpiresAt"].is_string());
    assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    let got = r
        .wait(10, "a delivery after rotation", |g| g.len() >= 5)
        .await;
    let g = &got[4];
    assert_eq!(g.header("webhook-signature").split(' ').count(), 2);
    for sec in [&secret, &new] {
        Verifier::new(sec)
            .unwrap()
            .verify(&g.headers, g.body.as_bytes())
            .unwrap();
    }
    if python_ready() {
        let cases = [
            case(g, &[&secret, &new], Some(("X-Webhook-Signature", &secret))),
            case(g, &[], Some(("X-Webhook-Signature-Next", &new))),
        ];
        let (ok, why) = python_check(&cases);
        assert!(ok, "python: {why}");
        assert!(!python_check(&[case(g, &[], Some(("X-Webhook-Signature", &new)))]).0);
    }

    // An endpoint that always fails is disabled after `disable_after_ms`, with an audit entry.
    let dead = Receiver::start().await;
    dead.set_default(503);
    let (dead_id, _) = create(&s, &dead.url("127.0.0.1"), json!(["*"]));
    assert_ok(s.post(&format!("/v2/webhooks/{dead_id}/test"), json!({})));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let w = get(&s, &format!("/v2/webhooks/{dead_id}"));
        if w["enabled"] == false {
            assert!(
                w["disabledReason"].as_str().unwrap().contains("failing"),
                "{w}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {w}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dead.got().len() >= 2);
    let audit = get(&s, "/v2/audit-logs?action=webhook.disable");
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["target"], dead_id.as_str());
    // The healthy endpoint is untouched.
    assert_eq!(get(&s, &format!("/v2/webhooks/{id}"))["enabled"], true);
}

async fn webhooks_survive_kill_9(opts: Options) {
    // One attempt in flight per endpoint: while the receiver stalls the first one, the
    // others are committed and wait, so the kill finds both kinds.
    let extra = format!("{FAST}timeout_ms = 6000\nmax_in_flight_per_endpoint = 1\n");
    let mut s = Stack::start(opts, Custody::Standard, &extra).await;
    let r = Receiver::start().await;
    let set = s.wallet_set("dkls23", false);
    let (id, secret) = create(&s, &r.url("127.0.0.1"), json!(["wallet.created"]));
    r.script(&[Reply::Stall]);
    let test = assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    r.wait(10, "the stalled attempt", |g| !g.is_empty()).await;
    let wallets = s.wallets(&set.id, &["ETH", "BTC"], 2, false);
    assert_eq!(wallets.len(), 4);
    s.cluster.kill(SERVER).unwrap();
    assert_eq!(
        r.got().len(),
        1,
        "nothing else was sent while the first attempt stalled"
    );

    s.cluster.restart(SERVER).await.unwrap();
    // The interrupted attempt's lease lapses (timeout + margin) and it is sent again.
    let want_wallets: HashSet<String> = wallets.iter().map(|w| w.id.clone()).collect();
    let test_id = test["eventId"].as_str().unwrap().to_owned();
    let got = r
        .wait(60, "every event after the restart", |g| {
            let ok: Vec<&Got> = g.iter().filter(|g| g.answered == Some(200)).collect();
            let wallets: HashSet<String> = ok
                .iter()
                .filter(|g| g.header("x-webhook-event") == "wallet.created")
                .map(|g| g.json()["data"]["id"].as_str().unwrap().to_owned())
                .collect();
            wallets == want_wallets && ok.iter().any(|g| g.header("webhook-id") == test_id)
        })
        .await;
    let stalled = &got[0];
    let again: Vec<&Got> = got
        .iter()
        .filter(|g| g.header("webhook-id") == test_id)
        .collect();
    assert!(again.len() >= 2, "the interrupted delivery is sent again");
    assert!(
        again.iter().all(|g| g.body == stalled.body),
        "the same event, byte for byte"
    );
    for g in &got {
        verify_both(g, &secret);
    }
    let log = get(&s, &format!("/v2/webhooks/{id}/deliveries?limit=100"));
    assert_eq!(log["total"], 5);
    let t = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["eventId"] == test_id.as_str())
        .unwrap();
    assert!(t["attempts"].as_u64().unwrap() >= 2, "{t}");
}

/// SSRF: refused at creation (private, loopback when not allowed, link-local, CGNAT,
/// metadata, names resolving to them) and at delivery (an endpoint made while loopback was
/// allowed, after the server was restarted without it).
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_refuse_ssrf_targets_at_creation_and_delivery() {
    let mut s = Stack::start(Options::default(), Custody::Unset, FAST).await;
    let r = Receiver::start().await;
    let (id, _) = create(&s, &r.url("localhost"), json!(["*"]));
    // https to a name that resolves to loopback: accepted while loopback is allowed.
    let https_local = format!("https://localhost:{}/hook", r.addr.port());
    let (local_id, _) = create(&s, &https_local, json!(["*"]));
    for url in [
        "https://10.0.0.1/hook",
        "https://192.168.1.10/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data",
        "https://169.254.10.10/",
        "https://100.64.1.1/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://0.0.0.0/",
    ] {
        let r = s.post(
            "/v2/webhooks",
            json!({"idempotencyKey": idem(), "url": url, "events": ["*"]}),
        );
        assert_err(r.clone(), "webhook_url_refused");
        assert!(
            r.1["message"].as_str().unwrap().contains("resolves to"),
            "{url}: {}",
            r.1
        );
    }
    for url in [
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "not a url",
    ] {
        assert_err(
            s.post(
                "/v2/webhooks",
                json!({"idempotencyKey": idem(), "url": url, "events": ["*"]}),
            ),
            "invalid_request",
        );
    }

    // Without allow_loopback: http and loopback refused at creation, and the endpoint made
    // before is refused at delivery (its name resolved again, to loopback).
    let config = s.cluster.node(SERVER).config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("allow_loopback = true", "allow_loopback = false"),
    )
    .unwrap();
    s.cluster.restart(SERVER).await.unwrap();
    assert_err(
        s.post(
            "/v2/webhooks",
            json!({"idempotencyKey": idem(), "url": r.url("127.0.0.1"), "events": ["*"]}),
        ),
        "invalid_request",
    );
    for url in [
        "https://127.0.0.1/",
        "https://localhost:8443/",
        "https://[::1]/",
    ] {
        assert_err(
            s.post(
                "/v2/webhooks",
                json!({"idempotencyKey": idem(), "url": url, "events": ["*"]}),
            ),
            "webhook_url_refused",
        );
    }
    let d = assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = get(&s, &format!("/v2/webhooks/{id}/deliveries"));
        let d0 = &log["items"][0];
        assert_eq!(d0["id"], d["id"]);
        if d0["status"] == "failed" {
            assert_eq!(d0["attempts"], 4, "{d0}");
            assert!(
                d0["lastError"].as_str().unwrap().contains("http://"),
                "{d0}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Resolved again at delivery: localhost is loopback, which is no longer allowed.
    let d = assert_ok(s.post(&format!("/v2/webhooks/{local_id}/test"), json!({})));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = get(&s, &format!("/v2/webhooks/{local_id}/deliveries"));
        let d0 = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == d["id"])
            .cloned()
            .unwrap();
        if d0["status"] == "failed" {
            let e = d0["lastError"].as_str().unwrap();
            assert!(e.contains("loopback") && e.contains("localhost"), "{d0}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(r.got().is_empty(), "nothing reached the receiver");
}

/// A TLS receiver with `cert`/`key` (PEM files): answers 200 to every request and records
/// them; a handshake the client aborts is counted as a refusal.
struct TlsReceiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    refused: Arc<Mutex<u32>>,
}

impl TlsReceiver {
    async fn start(cert: &std::path::Path, key: &std::path::Path) -> TlsReceiver {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let refused: Arc<Mutex<u32>> = Arc::default();
        let (g, r) = (got.clone(), refused.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, g, r) = (acceptor.clone(), g.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        *r.lock().unwrap() += 1;
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head, body) = loop {
                        let n = tls.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let head = text[..end].to_owned();
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len])
                                    .into_owned();
                                break (head, body);
                            }
                        }
                    };
                    let headers = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    g.lock().unwrap().push(Got {
                        headers,
                        body,
                        at: Instant::now(),
                        answered: Some(200),
                    });
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsReceiver { port, got, refused }
    }
}

/// https: the endpoint's certificate is verified against `ca_file` for the URL's host
/// (SNI), and an endpoint whose certificate another CA issued gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_deliver_over_https_to_the_configured_ca() {
    let extra = format!("{FAST}ca_file = \"pki/ca.pem\"\n");
    let s = Stack::start(Options::default(), Custody::Unset, &extra).await;
    let pki = s.cluster.dir.path().join("pki");
    // The cluster's server certificate names `localhost` and chains to the configured CA.
    let good = TlsReceiver::start(&pki.join("server.pem"), &pki.join("server.key")).await;
    let other = tempfile::tempdir().unwrap();
    planbok_node::pki::init(other.path(), &["localhost".into()]).unwrap();
    let rogue = TlsReceiver::start(
        &other.path().join("server.pem"),
        &other.path().join("server.key"),
    )
    .await;

    let (id, secret) = create(
        &s,
        &format!("https://localhost:{}/in", good.port),
        json!(["*"]),
    );
    let (rogue_id, _) = create(
        &s,
        &format!("https://localhost:{}/in", rogue.port),
        json!(["*"]),
    );
    let d = assert_ok(s.post(&format!("/v2/webhooks/{id}/test"), json!({})));
    let r = assert_ok(s.post(&format!("/v2/webhooks/{rogue_id}/test"), json!({})));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = good.got.lock().unwrap().len();
        let log = get(&s, &format!("/v2/webhooks/{rogue_id}/deliveries"));
        let rogue_done = log["items"][0]["status"] == "failed";
        if ok >= 1 && rogue_done {
            let e = log["items"][0]["lastError"].as_str().unwrap();
            assert!(e.starts_with("tls:"), "{e}");
            assert_eq!(log["items"][0]["attempts"], 4);
            break;
        }
        assert!(Instant::now() < deadline, "good {ok}, rogue {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rogue.got.lock().unwrap().is_empty());
    assert!(*rogue.refused.lock().unwrap() >= 1);
    let g = good.got.lock().unwrap()[0].clone();
    verify_both(&g, &secret);
    assert_eq!(g.header("webhook-id"), d["eventId"].as_str().unwrap());
    assert_eq!(g.header("host"), format!("localhost:{}", good.port));
    assert_ne!(r["eventId"], d["eventId"]);
    let log = get(&s, &format!("/v2/webhooks/{id}/deliveries"));
    assert_eq!(log["items"][0]["status"], "succeeded", "{log}");
}
