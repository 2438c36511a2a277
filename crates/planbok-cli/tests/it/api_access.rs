//! Access control and bad input through the REST API: the RBAC matrix on every route,
//! organization isolation, key allowlists, revocation, the operator token, malformed
//! requests and rate limits. Every refusal is checked by its code.

use planbok_sdk::Client;
use planbok_sdk::api::model::Role;
use planbok_server::policy::{Access, POLICY};
use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use planbok_testkit::cluster::Options;

use crate::rest::{Custody, Stack, assert_err, assert_ok, idem, new_org};

/// A member with `role` and a key with `access`; returns its client.
pub(crate) fn member_key(s: &Stack, role: &str, access: &str, extra: Value) -> Client {
    let m = assert_ok(s.post(
        "/v2/organization/members",
        json!({"name": format!("{role} person"), "email": format!("{role}-{}@example.com", idem()), "role": role}),
    ));
    let mut body = json!({"name": "k", "memberId": m["id"], "access": access});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let k = assert_ok(s.post("/v2/organization/api-keys", body));
    s.owner.with_key(k["secret"].as_str().unwrap())
}

fn path_of(template: &str) -> String {
    template
        .replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{challengeId}", "00000000-0000-4000-8000-000000000001")
        .replace("{file}", "nothing")
}

async fn every_route_enforces_the_rbac_matrix(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let mut callers = Vec::new();
    for (role, r) in [
        ("owner", Role::Owner),
        ("admin", Role::Admin),
        ("member", Role::Member),
    ] {
        for access in ["full", "read_only"] {
            callers.push((r, access, member_key(&s, role, access, json!({}))));
        }
    }
    let mut checked = 0;
    for rule in POLICY {
        let Access::Key(min) = rule.access else {
            continue;
        };
        for (role, access, client) in &callers {
            let write = rule.writes;
            let denied = *role < min || (write && *access == "read_only");
            let body = (rule.method != "GET").then(|| json!({}));
            let (status, body) = client
                .raw(rule.method, &path_of(rule.path), body.as_ref())
                .unwrap_or_else(|e| {
                    panic!(
                        "{} {} as {role:?}/{access}: {e}\n{}",
                        rule.method,
                        rule.path,
                        s.cluster.log_tail(SERVER)
                    )
                });
            if denied {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (403, Some("forbidden")),
                    "{} {} as {role:?}/{access}: {body}",
                    rule.method,
                    rule.path
                );
            } else {
                assert!(
                    status != 403 && status != 401,
                    "{} {} as {role:?}/{access}: {status} {body}",
                    rule.method,
                    rule.path
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 25 * 6, "{checked}");
    // Unauthenticated: every key route says 401.
    let anon = Client::anonymous(&s.cluster.server_url());
    for rule in POLICY.iter().filter(|r| matches!(r.access, Access::Key(_))) {
        let body = (rule.method != "GET").then(|| json!({}));
        let (status, b) = anon
            .raw(rule.method, &path_of(rule.path), body.as_ref())
            .unwrap();
        assert_eq!(
            (status, b["code"].as_str()),
            (401, Some("unauthorized")),
            "{} {}",
            rule.method,
            rule.path
        );
    }
}

async fn organizations_cannot_see_each_other(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    let (other, _) = new_org(&s.cluster, "other");
    for path in [
        format!("/v2/wallet-sets/{}", set.id),
        format!("/v2/wallets/{}", w.id),
    ] {
        let (status, b) = other.raw("GET", &path, None).unwrap();
        assert_eq!(
            (status, b["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, b) = other
        .raw(
            "PUT",
            &format!("/v2/wallets/{}", w.id),
            Some(&json!({"name": "x"})),
        )
        .unwrap();
    assert_eq!((status, b["code"].as_str()), (404, Some("not_found")));
    let list = other.raw("GET", "/v2/wallets", None).unwrap().1;
    assert_eq!(list["data"]["total"], 0);
    let (status, b) = other
        .raw(
            "POST",
            "/v2/organization/sign/message",
            Some(&json!({"idempotencyKey": idem(), "walletId": w.id, "message": "x"})),
        )
        .unwrap();
    assert_eq!((status, b["code"].as_str()), (404, Some("not_found")));
    let (status, b) = other
        .raw(
            "POST",
            "/v2/organization/wallets",
            Some(&json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": ["ETH"]})),
        )
        .unwrap();
    assert_eq!(
        (status, b["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    // The owner still sees its own.
    assert_eq!(s.owner.wallet(&w.id).unwrap(), w);
}

async fn keys_are_checked_against_their_allowlists_and_revocation(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let local = member_key(&s, "member", "full", json!({"allowedIps": ["127.0.0.0/8"]}));
    assert_ok(local.raw("GET", "/v2/organization", None).unwrap());
    let far = member_key(
        &s,
        "member",
        "full",
        json!({"allowedIps": ["10.0.0.0/8", "192.168.1.1"]}),
    );
    assert_err(
        far.raw("GET", "/v2/organization", None).unwrap(),
        "ip_not_allowed",
    );
    let browser = member_key(
        &s,
        "member",
        "full",
        json!({"allowedOrigins": ["https://app.example.com"]}),
    );
    assert_err(
        browser.raw("GET", "/v2/organization", None).unwrap(),
        "origin_not_allowed",
    );
    assert_err(
        s.post(
            "/v2/organization/api-keys",
            json!({"name": "k", "access": "full", "allowedIps": ["nonsense"]}),
        ),
        "invalid_request",
    );
    assert_err(
        s.post(
            "/v2/organization/api-keys",
            json!({"name": "k", "access": "full", "allowedOrigins": ["https://x.com/path"]}),
        ),
        "invalid_request",
    );
    // Revocation.
    let k = assert_ok(s.post(
        "/v2/organization/api-keys",
        json!({"name": "temp", "access": "full"}),
    ));
    let temp = s.owner.with_key(k["secret"].as_str().unwrap());
    assert_ok(temp.raw("GET", "/v2/organization", None).unwrap());
    let id = k["id"].as_str().unwrap();
    assert_ok(
        s.owner
            .raw("DELETE", &format!("/v2/organization/api-keys/{id}"), None)
            .unwrap(),
    );
    assert_err(
        temp.raw("GET", "/v2/organization", None).unwrap(),
        "unauthorized",
    );
    // A tampered secret for a real key id.
    let mut forged = k["secret"].as_str().unwrap().to_owned();
    forged.replace_range(forged.len() - 4.., "0000");
    assert_err(
        s.owner
            .with_key(&forged)
            .raw("GET", "/v2/organization", None)
            .unwrap(),
        "unauthorized",
    );
    // Keys never come back.
    let list = assert_ok(
        s.owner
            .raw("GET", "/v2/organization/api-keys?limit=100", None)
            .unwrap(),
    );
    assert!(!list.to_string().contains("pbk_"), "{list}");
    // Removing a member revokes its keys.
    let m = assert_ok(s.post(
        "/v2/organization/members",
        json!({"name": "Mo", "email": "mo@example.com", "role": "admin"}),
    ));
    let k = assert_ok(s.post(
        "/v2/organization/api-keys",
        json!({"name": "mo", "memberId": m["id"], "access": "full"}),
    ));
    let mo = s.owner.with_key(k["secret"].as_str().unwrap());
    assert_ok(mo.raw("GET", "/v2/organization", None).unwrap());
    // Admins cannot touch owners.
    let owner_id = assert_ok(
        s.owner
            .raw("GET", "/v2/organization/members", None)
            .unwrap(),
    )["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["id"]
        .clone();
    assert_err(
        mo.raw(
            "PATCH",
            &format!("/v2/organization/members/{}", owner_id.as_str().unwrap()),
            Some(&json!({"role": "member"})),
        )
        .unwrap(),
        "forbidden",
    );
    assert_err(
        mo.raw(
            "POST",
            "/v2/organization/members",
            Some(&json!({"name": "x", "email": "x@example.com", "role": "owner"})),
        )
        .unwrap(),
        "forbidden",
    );
    assert_err(
        s.owner
            .raw(
                "DELETE",
                &format!("/v2/organization/members/{}", owner_id.as_str().unwrap()),
                None,
            )
            .unwrap(),
        "conflict",
    );
    assert_ok(
        s.owner
            .raw(
                "DELETE",
                &format!("/v2/organization/members/{}", m["id"].as_str().unwrap()),
                None,
            )
            .unwrap(),
    );
    assert_err(
        mo.raw("GET", "/v2/organization", None).unwrap(),
        "unauthorized",
    );
}

async fn bootstrap_needs_the_operator_token(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    let url = s.cluster.server_url();
    let body = json!({"name": "x", "ownerName": "o", "ownerEmail": "o@example.com"});
    assert_err(
        Client::anonymous(&url)
            .raw("POST", "/v2/organizations", Some(&body))
            .unwrap(),
        "unauthorized",
    );
    assert_err(
        Client::operator(&url, "wrong-token-wrong-token")
            .raw("POST", "/v2/organizations", Some(&body))
            .unwrap(),
        "unauthorized",
    );
    assert_err(
        s.owner
            .raw("POST", "/v2/organizations", Some(&body))
            .unwrap(),
        "unauthorized",
    );
    let op = Client::operator(&url, &s.cluster.operator_token);
    assert_err(
        op.raw("POST", "/v2/organizations", Some(&json!({"name": "x"})))
            .unwrap(),
        "invalid_request",
    );
    assert_err(
        op.raw(
            "POST",
            "/v2/organizations",
            Some(&json!({"name": "x", "ownerName": "o", "ownerEmail": "nope"})),
        )
        .unwrap(),
        "invalid_request",
    );
    let org = assert_ok(op.raw("POST", "/v2/organizations", Some(&body)).unwrap());
    assert_eq!(org["organization"]["custodyMode"], "unset");
    assert!(
        org["apiKey"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("pbk_")
    );
    // Nothing signs before the secret is registered.
    assert_err(
        s.post(
            "/v2/organization/wallet-sets",
            json!({"idempotencyKey": idem(), "name": "a"}),
        ),
        "secret_not_registered",
    );
    // Registration: once, owner only, valid mode.
    assert_err(s.post("/v2/organization/secret", json!({"idempotencyKey": idem(), "custodyMode": "other", "encryptedOrganizationSecret": "x"})), "invalid_request");
    let ct = s.ct(planbok_sdk::secret::Context::Sign);
    assert_err(s.post("/v2/organization/secret", json!({"idempotencyKey": idem(), "custodyMode": "trustless", "encryptedOrganizationSecret": ct})), "secret_wrong_context");
    let ct = s.ct(planbok_sdk::secret::Context::Dkg);
    let org = assert_ok(s.post("/v2/organization/secret", json!({"idempotencyKey": idem(), "custodyMode": "trustless", "encryptedOrganizationSecret": ct})));
    assert_eq!(org["custodyMode"], "trustless");
    let ct = s.ct(planbok_sdk::secret::Context::Dkg);
    assert_err(s.post("/v2/organization/secret", json!({"idempotencyKey": idem(), "custodyMode": "standard", "encryptedOrganizationSecret": ct})), "secret_already_registered");
    assert_eq!(
        assert_ok(s.owner.raw("GET", "/v2/organization", None).unwrap())["custodyMode"],
        "trustless"
    );
}

async fn bad_input_gets_a_precise_code_and_changes_nothing(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let url = s.cluster.server_url();
    let key = {
        let k = assert_ok(s.post(
            "/v2/organization/api-keys",
            json!({"name": "raw", "access": "full"}),
        ));
        k["secret"].as_str().unwrap().to_owned()
    };
    let send = |ct: &str, body: Vec<u8>| -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(&format!("{url}/v2/organization/wallet-sets"))
            .header("PLANBOK-X-API-KEY", &key)
            .header("content-type", ct)
            .send(&body[..])
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
        )
    };
    assert_err(
        send("application/json", b"{\"name\": ".to_vec()),
        "malformed_json",
    );
    assert_err(
        send("application/json", b"[1, 2]".to_vec()),
        "invalid_request",
    );
    assert_err(send("text/plain", b"{}".to_vec()), "unsupported_media_type");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    assert_err(
        send("application/json", big.into_bytes()),
        "payload_too_large",
    );
    let wrong_type = s.post(
        "/v2/organization/wallet-sets",
        json!({"idempotencyKey": idem(), "name": 5}),
    );
    assert_err(wrong_type.clone(), "invalid_request");
    assert!(
        wrong_type.1["message"].as_str().unwrap().contains("name"),
        "{:?}",
        wrong_type
    );
    assert_err(
        s.post("/v2/organization/wallet-sets", json!({"name": "a"})),
        "invalid_request",
    );
    assert_err(
        s.post(
            "/v2/organization/wallet-sets",
            json!({"idempotencyKey": "not-a-uuid", "name": "a"}),
        ),
        "invalid_request",
    );
    assert_err(
        s.post(
            "/v2/organization/wallet-sets",
            json!({"idempotencyKey": idem(), "name": "a", "ecdsaProtocol": "rsa"}),
        ),
        "invalid_request",
    );
    let set = s.wallet_set("dkls23", false);
    assert_err(
        s.post(
            "/v2/organization/wallets",
            json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": ["DOGE"]}),
        ),
        "unsupported_chain",
    );
    assert_err(
        s.post(
            "/v2/organization/wallets",
            json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": []}),
        ),
        "invalid_request",
    );
    assert_err(s.post("/v2/organization/wallets", json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": ["ETH"], "count": 2, "metadata": [{"refId": "a"}]})), "invalid_request");
    assert_err(s.post("/v2/organization/wallets", json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": ["ETH"], "count": 0})), "invalid_request");
    assert_err(
        s.owner.raw("GET", "/v2/wallets?limit=1000", None).unwrap(),
        "invalid_request",
    );
    assert_err(
        s.owner.raw("GET", "/v2/wallets?page=zero", None).unwrap(),
        "invalid_request",
    );
    assert_err(
        s.owner.raw("GET", "/v2/nothing-here", None).unwrap(),
        "not_found",
    );
    assert_err(
        s.owner.raw("DELETE", "/v2/wallets", None).unwrap(),
        "method_not_allowed",
    );
    // None of it created anything: one wallet set, no wallets.
    let sets = assert_ok(s.owner.raw("GET", "/v2/wallet-sets", None).unwrap());
    assert_eq!(sets["total"], 1, "{sets}");
    let wallets = assert_ok(s.owner.raw("GET", "/v2/wallets", None).unwrap());
    assert_eq!(wallets["total"], 0, "{wallets}");
    // validate-address
    let v = assert_ok(s.post(
        "/v2/wallets/validate-address",
        json!({"address": "0x52908400098527886E0F7030069857D2E4169EE7", "blockchain": "ETH"}),
    ));
    assert_eq!(v["isValid"], true);
    let v = assert_ok(s.post(
        "/v2/wallets/validate-address",
        json!({"address": "0x52908400098527886e0F7030069857D2E4169EE7", "blockchain": "ETH"}),
    ));
    assert_eq!(v["isValid"], false);
    assert_err(
        s.post(
            "/v2/wallets/validate-address",
            json!({"address": "x", "blockchain": "DOGE"}),
        ),
        "unsupported_chain",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_per_category() {
    let limits = "[rate_limits]\nauthentication = { per_org = { count = 100, period_ms = 60000 }, per_ip = { count = 3, period_ms = 60000 } }\nmanagement = { per_org = { count = 100, period_ms = 60000 }, per_ip = { count = 100, period_ms = 60000 } }\nsigning = { per_org = { count = 100, period_ms = 60000 }, per_ip = { count = 100, period_ms = 60000 } }\nreads = { per_org = { count = 5, period_ms = 60000 }, per_ip = { count = 100, period_ms = 60000 } }\n";
    let s = Stack::start(Default::default(), Custody::Unset, limits).await;
    // The stack's setup used one read (the public key).
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(s.owner.raw("GET", "/v2/organization", None).unwrap());
    }
    let limited: Vec<_> = statuses.iter().filter(|(st, _)| *st == 429).collect();
    assert!(!limited.is_empty(), "{statuses:?}");
    assert_err(limited[0].clone(), "rate_limited");
    // Writes have their own budget.
    assert_ok(s.post(
        "/v2/organization/members",
        json!({"name": "a", "email": "a@example.com", "role": "member"}),
    ));
    // Failed authentications count per IP.
    let bad = Client::new(
        &s.cluster.server_url(),
        "pbk_00000000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
    );
    let codes: Vec<String> = (0..5)
        .map(|_| {
            bad.raw("GET", "/v2/organization", None).unwrap().1["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        codes.contains(&"unauthorized".to_owned()) && codes.contains(&"rate_limited".to_owned()),
        "{codes:?}"
    );
}

on_sqlite_and_postgres!(
    every_route_enforces_the_rbac_matrix,
    organizations_cannot_see_each_other,
    keys_are_checked_against_their_allowlists_and_revocation,
    bootstrap_needs_the_operator_token,
    bad_input_gets_a_precise_code_and_changes_nothing,
);

/// `X-Forwarded-For` counts only from a configured trusted proxy.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let header_get = |s: &Stack, key: &str, xff: Option<&str>| -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent
            .get(&format!("{}/v2/organization", s.cluster.server_url()))
            .header("PLANBOK-X-API-KEY", key);
        if let Some(x) = xff {
            req = req.header("X-Forwarded-For", x);
        }
        let mut r = req.call().unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
        )
    };
    let key_for = |s: &Stack| {
        let k = assert_ok(s.post(
            "/v2/organization/api-keys",
            json!({"name": "office", "access": "full", "allowedIps": ["10.1.2.0/24"]}),
        ));
        k["secret"].as_str().unwrap().to_owned()
    };
    // No trusted proxy: the header is ignored, the socket peer (127.0.0.1) counts.
    let s = Stack::sqlite(Custody::Standard).await;
    let key = key_for(&s);
    assert_err(header_get(&s, &key, Some("10.1.2.3")), "ip_not_allowed");
    // Behind a trusted proxy on 127.0.0.1: the right-most untrusted hop counts.
    let s = Stack::start(
        Default::default(),
        Custody::Standard,
        "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .await;
    let key = key_for(&s);
    assert_ok(header_get(&s, &key, Some("10.1.2.3")));
    assert_ok(header_get(&s, &key, Some("203.0.113.9, 10.1.2.3")));
    assert_err(
        header_get(&s, &key, Some("10.1.2.3, 203.0.113.9")),
        "ip_not_allowed",
    );
    assert_err(header_get(&s, &key, None), "ip_not_allowed");
}

/// The OpenAPI document, the API page and the metrics are served without a key.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_page_and_metrics_are_public() {
    let s = Stack::sqlite(Custody::Standard).await;
    let anon = Client::anonymous(&s.cluster.server_url());
    let (status, doc) = anon.raw("GET", "/v2/openapi.json", None).unwrap();
    assert_eq!(status, 200);
    assert_eq!(doc["info"]["title"], "planbok");
    assert!(
        doc["paths"]["/v2/organization/sign/message"]["post"].is_object(),
        "{doc}"
    );
    let (status, page) = anon.raw("GET", "/v2/docs", None).unwrap();
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("swagger-ui-bundle.js"));
    let (status, js) = anon
        .raw("GET", "/v2/docs/swagger-ui-bundle.js", None)
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        js.as_str().unwrap().len() > 100_000,
        "the bundle is vendored, not fetched"
    );
    assert_ok(anon.raw("GET", "/health", None).unwrap());
    let ready = assert_ok(anon.raw("GET", "/ready", None).unwrap());
    assert_eq!(ready["detail"]["nodePairs"]["default"]["node2"], "unsealed");
    assert_eq!(ready["detail"]["degraded"], false);
    let (status, metrics) = anon.raw("GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("planbok_http_requests_total{method=\"POST\",route=\"/v2/organization/secret\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "planbok_node_calls_total{pair=\"default\",op=\"register_secret\",outcome=\"ok\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("planbok_node_pair_up{pair=\"default\"} 1"),
        "{text}"
    );
}
