//! The REST server's edge, played by an attacker: forged `X-Forwarded-For` headers, floods
//! of failed authentications with a known key id, arbitrary HTTP methods for the metrics;
//! and the smaller access rules (validate-address for read-only keys, the export's size).
//!
//! Requests whose headers the SDK cannot shape (two `X-Forwarded-For` lines, a method that
//! is no method) are written on the socket by hand.

use planbok_testkit::cluster::NodeRole::Node1;
use planbok_testkit::cluster::SERVER;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use planbok_sdk::Client;
use serde_json::{Value, json};

use planbok_testkit::cluster::Options;

use crate::rest::{Custody, Stack, assert_err, assert_ok, cli};

/// One HTTP/1.1 request on a fresh connection: `headers` in order (a name may repeat).
/// Returns the status and the body (JSON when it parses, else a JSON string).
fn http(
    s: &Stack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let addr = s.cluster.server_url().replace("http://", "");
    let mut sock = TcpStream::connect(&addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    sock.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, value)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// `GET /v2/organization` with `key`, as the proxy on 127.0.0.1 forwards it.
fn get_org(s: &Stack, key: &str, xff: &[&str]) -> (u16, Value) {
    let mut h = vec![("PLANBOK-X-API-KEY", key)];
    h.extend(xff.iter().map(|x| ("X-Forwarded-For", *x)));
    http(s, "GET", "/v2/organization", &h, None)
}

/// A new API key of the owner: (the key, its id).
fn new_key(s: &Stack, extra: Value) -> (String, String) {
    let mut body = json!({"name": "k", "access": "full"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let k = assert_ok(s.post("/v2/organization/api-keys", body));
    (
        k["secret"].as_str().unwrap().to_owned(),
        k["id"].as_str().unwrap().to_owned(),
    )
}

/// The organization's audit entries with `action` (all of them, oldest first), and the
/// chain's total.
fn audit(s: &Stack, action: &str) -> (Vec<Value>, u64) {
    let page = assert_ok(
        s.owner
            .raw(
                "GET",
                &format!("/v2/audit-logs?action={action}&limit=100&order=asc"),
                None,
            )
            .unwrap(),
    );
    let total = assert_ok(s.owner.raw("GET", "/v2/audit-logs?limit=1", None).unwrap())["total"]
        .as_u64()
        .unwrap();
    (page["items"].as_array().unwrap().clone(), total)
}

/// The header an attacker sends so that, cut at 256 characters, it ends in the allowlisted
/// `10.1.2.3`; the proxy appends the real client after it.
fn padded_to_end_at_256_with(ip: &str) -> String {
    let mut pad = String::new();
    while pad.len() + ip.len() < 256 {
        pad.push_str("1.1.1.1,");
    }
    // Fill the remainder with spaces (legal around list items).
    while pad.len() + ip.len() < 256 {
        pad.push(' ');
    }
    let mut h = format!("{pad}{ip}");
    assert_eq!(h.len(), 256);
    // More of the attacker's own entries after it, past 300 characters in all.
    for _ in 0..6 {
        h.push_str(", 1.1.1.1");
    }
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_for_with_a_300_character_header_and_with_two_header_lines_picks_the_real_client()
 {
    // The server sees every request from 127.0.0.1, its trusted proxy; 10.9.0.0/16 is a
    // second tier of trusted proxies.
    let s = Stack::start(
        Default::default(),
        Custody::Standard,
        "[http]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.9.0.0/16\"]\n",
    )
    .await;
    let (office, office_id) = new_key(&s, json!({"allowedIps": ["10.1.2.0/24"]}));

    // A padded header: the allowlisted address where a 256-character cut would end, the
    // real client (appended by the proxy) after it. The real client counts.
    let attacker = padded_to_end_at_256_with("10.1.2.3");
    let forwarded = format!("{attacker}, 203.0.113.9");
    assert!(forwarded.len() > 300, "{}", forwarded.len());
    assert_err(get_org(&s, &office, &[&forwarded]), "ip_not_allowed");
    // The real office client behind 300 characters of whatever (not even addresses): the
    // left part is the client's own and is never parsed.
    let junk = format!("{}, 10.1.2.3", "not-an-ip ".repeat(30));
    assert!(junk.len() > 300);
    assert_ok(get_org(&s, &office, &[&junk]));

    // Two header lines: one comma list, in order. The attacker's line first, the proxy's
    // after it.
    assert_err(
        get_org(&s, &office, &["10.1.2.3", "203.0.113.9"]),
        "ip_not_allowed",
    );
    assert_ok(get_org(&s, &office, &["203.0.113.9", "10.1.2.3"]));
    assert_err(
        get_org(&s, &office, &[&attacker, "198.51.100.1, 10.9.0.7"]),
        "ip_not_allowed",
    );
    assert_ok(get_org(
        &s,
        &office,
        &["1.1.1.1, 10.1.2.3", "10.9.0.7, 10.9.3.3"],
    ));

    // Trusted hops are skipped, up to 32; more, or garbage among them, the header is
    // unusable and the socket peer (the proxy, 127.0.0.1) counts, which is not allowlisted.
    let hops = |n: usize| vec!["10.9.0.1"; n].join(", ");
    assert_ok(get_org(&s, &office, &[&format!("10.1.2.3, {}", hops(32))]));
    assert_err(
        get_org(&s, &office, &[&format!("10.1.2.3, {}", hops(33))]),
        "ip_not_allowed",
    );
    assert_err(
        get_org(&s, &office, &["10.1.2.3, not-an-ip"]),
        "ip_not_allowed",
    );
    assert_err(
        get_org(&s, &office, &["10.1.2.3", "unknown"]),
        "ip_not_allowed",
    );

    // The audit trail records the real client: of the refusals above (padded header, two
    // lines) and of an operation behind a padded, two-line header.
    let created = http(
        &s,
        "POST",
        "/v2/organization/members",
        &[
            ("PLANBOK-X-API-KEY", &s.owner_key),
            ("X-Forwarded-For", &padded_to_end_at_256_with("10.1.2.3")),
            ("X-Forwarded-For", "198.51.100.7, 10.9.0.1"),
        ],
        Some(&json!({"name": "Bea", "email": "bea@example.com", "role": "member"})),
    );
    assert_ok(created);
    let (entries, _) = audit(&s, "member.create");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["ip"], "198.51.100.7", "{}", entries[0]);
    let (denied, _) = audit(&s, "auth.denied");
    let ips: Vec<&str> = denied
        .iter()
        .filter(|e| e["apiKeyId"] == office_id.as_str())
        .map(|e| e["ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        ips,
        [
            "203.0.113.9",
            "203.0.113.9",
            "198.51.100.1",
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.1"
        ],
        "{denied:?}"
    );

    // Without a trusted proxy the header is ignored altogether.
    let direct = Stack::sqlite(Custody::Standard).await;
    let (office, _) = new_key(&direct, json!({"allowedIps": ["10.1.2.0/24"]}));
    assert_err(get_org(&direct, &office, &["10.1.2.3"]), "ip_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auth_failure_flood_of_1000_requests_with_a_known_key_id_gets_429s_and_grows_the_audit_chain_by_a_bounded_number()
 {
    // The production budget for failed authentications (5 per 5 minutes per IP); the
    // others out of the way. Clients are told apart by X-Forwarded-For from the proxy.
    let relaxed = "{ per_org = { count = 10000, period_ms = 1000 }, per_ip = { count = 10000, period_ms = 1000 } }";
    let config = format!(
        "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n[rate_limits]\nauthentication = {{ per_org = {{ count = 5, period_ms = 300000 }}, per_ip = {{ count = 5, period_ms = 300000 }} }}\nmanagement = {relaxed}\nsigning = {relaxed}\nreads = {relaxed}\n"
    );
    let mut s = Stack::start(Default::default(), Custody::Standard, &config).await;
    let (victim, victim_id) = new_key(&s, json!({}));
    // The attacker knows the key id, not its secret.
    let forged = format!("{}{}", &victim[..25], "0".repeat(64));
    assert_ne!(forged, victim);
    let (denied_before, before) = audit(&s, "auth.denied");

    // 1000 requests from one address: its 5 failures are answered 401, then 429 without a
    // lookup.
    let started = std::time::Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..1000 {
        let (status, body) = get_org(&s, &forged, &["198.51.100.1"]);
        *statuses
            .entry((status, body["code"].as_str().unwrap().to_owned()))
            .or_insert(0) += 1;
    }
    let one_ip = started.elapsed();
    assert_eq!(
        statuses,
        [
            ((401, "unauthorized".to_owned()), 5),
            ((429, "rate_limited".to_owned()), 995)
        ]
        .into(),
    );
    // Only those 5 reached the audit trail.
    let (_, after_one_ip) = audit(&s, "auth.denied");
    assert_eq!(after_one_ip - before, 5);
    // A key that has proven itself in this process still works from that address; one
    // that has not waits for the address's budget (it cannot be told from a guess without
    // a lookup), and works from elsewhere.
    assert_ok(get_org(&s, &s.owner_key, &["198.51.100.1"]));
    let (fresh, _) = new_key(&s, json!({}));
    assert_err(get_org(&s, &fresh, &["198.51.100.1"]), "rate_limited");
    assert_ok(get_org(&s, &fresh, &["198.51.100.2"]));
    assert_ok(get_org(&s, &fresh, &["198.51.100.1"]));

    // 1000 more, each from its own address: each is a real failure with a lookup, but the
    // key's audit window takes 10 entries a minute; the rest are counted.
    let started = std::time::Instant::now();
    for i in 0..1000u32 {
        let ip = format!("10.77.{}.{}", i / 250, i % 250 + 1);
        assert_err(get_org(&s, &forged, &[&ip]), "unauthorized");
    }
    let many_ips = started.elapsed();
    let (denied, after) = audit(&s, "auth.denied");
    // 10 individual denials (11 if the minute's window rolled over during the test); the
    // chain has one more entry: the creation of the fresh key.
    let grown = denied.len() - denied_before.len();
    assert!(
        (10..=11).contains(&grown),
        "{grown} denials appended for 2000 failures: {denied:?}"
    );
    assert_eq!(after - before, grown as u64 + 1);
    assert!(
        denied.iter().all(|e| e["apiKeyId"] == victim_id.as_str()),
        "{denied:?}"
    );
    eprintln!(
        "flood: 1000 from one IP in {one_ip:?}, 1000 from 1000 IPs in {many_ips:?}; {grown} denials appended"
    );

    // A graceful stop writes the count of the open window: one entry for the 995 others.
    s.cluster.signal(SERVER, "TERM").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !s
        .cluster
        .log_tail(SERVER)
        .contains("planbok server stopped")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            s.cluster.log_tail(SERVER)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.cluster.restart(SERVER).await.unwrap();
    let (denied, total) = audit(&s, "auth.denied");
    assert_eq!(total, after + 1, "{denied:?}");
    let summary = denied.last().unwrap();
    assert_eq!(summary["apiKeyId"], victim_id.as_str());
    assert_eq!(summary["detail"]["count"], 995, "{summary}");
    assert_eq!(summary["detail"]["codes"]["unauthorized"], 995, "{summary}");
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_label_unknown_methods_and_paths_once() {
    let s = Stack::sqlite(Custody::Standard).await;
    let label_lines = |s: &Stack| -> Vec<String> {
        let (_, m) = http(s, "GET", "/metrics", &[], None);
        m.as_str()
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("planbok_http_requests_total{"))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    };
    // The first scrape adds its own label.
    label_lines(&s);
    for i in 0..50 {
        let (status, _) = http(&s, &format!("FOOBAR{i}"), "/x", &[], None);
        assert!(status == 404 || status == 405, "{status}");
        http(&s, &format!("FOOBAZ{i}"), "/v2/organization", &[], None);
        http(&s, "GET", &format!("/nothing/{i}"), &[], None);
    }
    let before = label_lines(&s);
    for i in 50..100 {
        http(&s, &format!("FOOBAR{i}"), "/x", &[], None);
        http(&s, &format!("FOOBAZ{i}"), "/v2/organization", &[], None);
        http(&s, "GET", &format!("/nothing/{i}"), &[], None);
    }
    let after = label_lines(&s);
    assert_eq!(before, after, "no label per method or path");
    let text = after.join("\n");
    assert!(
        !text.contains("FOO") && !text.contains("/nothing"),
        "{text}"
    );
    assert!(
        text.contains("method=\"OTHER\",route=\"unmatched\""),
        "{text}"
    );
    assert!(
        text.contains("method=\"GET\",route=\"unmatched\",status=\"404\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_keys_validate_addresses_and_still_cannot_write() {
    let s = Stack::sqlite(Custody::Standard).await;
    let (ro, _) = new_key(&s, json!({"access": "read_only"}));
    let ro = s.owner.with_key(&ro);
    let v = assert_ok(
        ro.raw(
            "POST",
            "/v2/wallets/validate-address",
            Some(&json!({"address": "0x52908400098527886E0F7030069857D2E4169EE7", "blockchain": "ETH"})),
        )
        .unwrap(),
    );
    assert_eq!(v["isValid"], true);
    assert_err(
        ro.raw(
            "POST",
            "/v2/organization/members",
            Some(&json!({"name": "x", "email": "x@example.com", "role": "member"})),
        )
        .unwrap(),
        "forbidden",
    );
    // Still a key route: no key, no answer.
    assert_err(
        Client::anonymous(&s.cluster.server_url())
            .raw(
                "POST",
                "/v2/wallets/validate-address",
                Some(&json!({"address": "x", "blockchain": "ETH"})),
            )
            .unwrap(),
        "unauthorized",
    );
}

/// Node 1 opens at most 64 keys under one `verify` secret. Wallets on one key count once:
/// 65 EVM wallets of one set export; 65 keys are refused with 400 before anything runs,
/// and 64 export.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_of_more_than_64_wallets_works_and_of_more_than_64_keys_is_a_400() {
    let s = Stack::sqlite(Custody::Trustless).await;
    let set = s.wallet_set("dkls23", true);
    let mut eth = Vec::new();
    for n in [20, 20, 20, 5] {
        eth.extend(s.wallets(&set.id, &["ETH"], n, true));
    }
    assert_eq!(eth.len(), 65);
    let dir = s.cluster.dir.path();
    let secret_file = dir.join("org.secret");
    std::fs::write(&secret_file, &*s.secret.to_hex()).unwrap();
    let recipient = dir.join("recipient.secret");
    let (ok, public) = cli(
        &s,
        &["export", "keypair", "--out", recipient.to_str().unwrap()],
        None,
    );
    assert!(ok, "{public}");
    let export = |wallets: &[String], out: &str| {
        let out = dir.join(out);
        let mut args = vec![
            "export".to_owned(),
            "request".into(),
            "--recipient-public-key".into(),
            public.trim().to_owned(),
            "--out".into(),
            out.to_str().unwrap().to_owned(),
        ];
        for w in wallets {
            args.extend(["--wallet".to_owned(), w.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text) = cli(&s, &args, Some(&secret_file));
        (ok, text, out)
    };
    let decrypted_rows = |answer: &std::path::Path| {
        crate::api_export::decrypt(&s, &recipient, answer)
            .lines()
            .count()
            - 1
    };
    // 65 wallets, one key.
    let (ok, text, answer) = export(&[], "all-eth.json");
    assert!(ok, "{text}\n{}", s.cluster.log_tail(Node1));
    assert_eq!(decrypted_rows(&answer), 65);

    // 64 Solana wallets: 64 more keys, 65 in all.
    let mut sol = Vec::new();
    for n in [20, 20, 20, 4] {
        sol.extend(s.wallets(&set.id, &["SOL"], n, true));
    }
    let (exports_before, _) = audit(&s, "wallet.export");
    let (ok, text, _) = export(&[], "too-many.json");
    assert!(!ok, "{text}");
    assert!(
        text.contains("at most 64 MPC keys") && text.contains("65"),
        "{text}"
    );
    // The same through the API: a precise 400, and nothing started: the trail has the two
    // refusals as failures, no `requested` entry.
    let pk = public.trim();
    let r = s.post(
        "/v2/organization/wallets/export",
        json!({"idempotencyKey": crate::rest::idem(), "recipientPublicKey": pk,
               "encryptedOrganizationSecret": s.ct(planbok_sdk::secret::Context::Verify)}),
    );
    assert_err(r.clone(), "invalid_request");
    assert!(
        r.1["message"].as_str().unwrap().contains("at most 64"),
        "{r:?}"
    );
    let (exports_after, _) = audit(&s, "wallet.export");
    let new: Vec<_> = exports_after[exports_before.len()..]
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap(),
                e["detail"]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        new,
        [("failure", "invalid_request"); 2],
        "{exports_after:?}"
    );
    // 64 keys (63 Solana wallets and the EVM key, through one of its wallets) export.
    let mut named: Vec<String> = sol[..63].iter().map(|w| w.id.clone()).collect();
    named.push(eth[0].id.clone());
    let (ok, text, answer) = export(&named, "sixty-four.json");
    assert!(ok, "{text}\n{}", s.cluster.log_tail(Node1));
    assert_eq!(decrypted_rows(&answer), 64);
}

/// Two owners demoting each other at once through the API, from two threads, in fresh
/// organizations round after round: exactly one wins and one owner remains (the store's
/// own race test runs many more rounds on both databases).
async fn two_owners_demoting_each_other_through_the_api_leave_one(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    for round in 0..15 {
        let (first, _) = crate::rest::new_org(&s.cluster, &format!("race {round}"));
        let members = assert_ok(first.raw("GET", "/v2/organization/members", None).unwrap());
        let first_id = members["items"][0]["id"].as_str().unwrap().to_owned();
        let m = assert_ok(
            first
                .raw(
                    "POST",
                    "/v2/organization/members",
                    Some(
                        &json!({"name": "Second", "email": "second@example.com", "role": "owner"}),
                    ),
                )
                .unwrap(),
        );
        let second_id = m["id"].as_str().unwrap().to_owned();
        let k = assert_ok(
            first
                .raw(
                    "POST",
                    "/v2/organization/api-keys",
                    Some(&json!({"name": "second", "memberId": second_id, "access": "full"})),
                )
                .unwrap(),
        );
        let second = first.with_key(k["secret"].as_str().unwrap());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let demote = |by: Client, target: String| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                by.raw(
                    "PATCH",
                    &format!("/v2/organization/members/{target}"),
                    Some(&json!({"role": "admin"})),
                )
                .unwrap()
            })
        };
        let ta = demote(first.clone(), second_id.clone());
        let tb = demote(second.clone(), first_id.clone());
        let results = [ta.join().unwrap(), tb.join().unwrap()];
        // Whoever lost is an admin now, which may still list members.
        let members =
            assert_ok(first.raw("GET", "/v2/organization/members", None).unwrap())["items"].clone();
        let owners = members
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}: {results:?}");
        let won = results.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        // The loser is refused: 409 `conflict` (the last owner), or 403 if its own
        // demotion committed before its request was authorized.
        let lost = results.iter().find(|(st, _)| *st != 200).unwrap();
        assert!(
            matches!(lost.1["code"].as_str(), Some("conflict" | "forbidden")),
            "round {round}: {results:?}"
        );
    }
}

on_sqlite_and_postgres!(two_owners_demoting_each_other_through_the_api_leave_one);

/// A refusal answered before the request body arrived says `connection: close`, so a client
/// that pools connections opens a new one instead of losing its next request on a
/// connection the server is closing; answers that read the body keep the connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_before_the_body_is_read_closes_the_connection_and_says_so() {
    let s = Stack::sqlite(Custody::Standard).await;
    let addr = s.cluster.server_url().replace("http://", "");
    let head_of = |sock: &mut TcpStream| {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(sock.read(&mut byte).unwrap(), 1, "closed mid-head");
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    };
    // Headers only: the body is held back until the answer is in.
    let mut sock = TcpStream::connect(&addr).unwrap();
    sock.write_all(
        format!(
            "POST /v2/organization/wallet-sets HTTP/1.1\r\nhost: {addr}\r\n{}: pbk_bogus_bogus\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n",
            planbok_sdk::api::API_KEY_HEADER
        )
        .as_bytes(),
    )
    .unwrap();
    let head = head_of(&mut sock);
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // A request that completes keeps its connection: two on one socket.
    let mut sock = TcpStream::connect(&addr).unwrap();
    for _ in 0..2 {
        sock.write_all(format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        let head = head_of(&mut sock);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        sock.read_exact(&mut body).unwrap();
    }
}
