//! Node pairs as shards: one server in front of two pairs. Organizations are spread over
//! both (or put where the operator says), each one's keys live only on its pair, and a pair
//! that is down fails only its own organizations while `/ready` and `/metrics` say which.

use planbok_proto::pb::{KeyCustodyRequest, StatusRequest};
use planbok_sdk::Client;
use planbok_sdk::api::model::{CreateOrganization, CreateWalletSet, CreateWallets};
use planbok_sdk::secret::OrgSecret;
use planbok_sdk::trust::{MemoryPins, OrgKeyTrust};
use planbok_testkit::cluster::{Cluster, NodeRole::Node1, Proc, SERVER};
use serde_json::{Value, json};

use crate::rest::{assert_err, assert_ok, idem, python_verify};

/// An organization of the test, with one EVM wallet.
struct PairOrg {
    client: Client,
    id: String,
    pair: String,
    eth: Value,
}

fn pair_index(name: &str) -> usize {
    (0..3)
        .find(|&i| Cluster::pair_name(i) == name)
        .unwrap_or_else(|| panic!("unknown pair {name}"))
}

/// Creates an organization (on `explicit`, or wherever the server puts it), registers a
/// Standard secret against its own pair's Node 1 identity, and makes one DKLs23 wallet.
async fn org_on(c: &Cluster, name: &str, explicit: Option<&str>) -> PairOrg {
    let created = Client::operator(&c.server_url(), &c.operator_token)
        .create_organization(&CreateOrganization {
            name: name.into(),
            owner_name: "Owner".into(),
            owner_email: "owner@example.com".into(),
            node_pair: explicit.map(Into::into),
        })
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", c.log_tail(SERVER)));
    let pair = created.organization.node_pair.clone();
    let client = Client::new(&c.server_url(), &created.api_key.secret);
    // Each pair's Node 1 signs its organizations' keys with its own identity: a client
    // checks against the identity of its organization's pair.
    let node_key = c
        .operator_of(Proc::pair(pair_index(&pair), Node1))
        .unwrap()
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .identity_public_key;
    let trust = OrgKeyTrust::new(
        Some(OrgKeyTrust::parse_node_key(&node_key).unwrap()),
        MemoryPins::default(),
    );
    client
        .register_org_secret(&OrgSecret::generate(), "standard", &trust)
        .unwrap_or_else(|e| panic!("{name} on {pair}: {e}\n{}", c.log_tail(SERVER)));
    let set = client
        .create_wallet_set(&CreateWalletSet {
            idempotency_key: Some(idem()),
            name: "set".into(),
            encrypted_organization_secret: None,
            ecdsa_protocol: Some("dkls23".into()),
        })
        .unwrap();
    let wallets = client
        .create_wallets(&CreateWallets {
            idempotency_key: Some(idem()),
            wallet_set_id: set.id,
            blockchains: vec!["ETH-SEPOLIA".into()],
            count: Some(1),
            metadata: Vec::new(),
            encrypted_organization_secret: None,
        })
        .unwrap();
    PairOrg {
        client,
        id: created.organization.id,
        pair,
        eth: serde_json::to_value(&wallets[0]).unwrap(),
    }
}

fn sign(o: &PairOrg, message: &str) -> (u16, Value) {
    o.client
        .raw(
            "POST",
            "/v2/organization/sign/message",
            Some(&json!({"idempotencyKey": idem(), "walletId": o.eth["id"], "message": message})),
        )
        .unwrap()
}

/// The organization's active keys on pair `pair`'s Node 1, as its operator sees them.
async fn keys_on(c: &Cluster, pair: usize, org: &str) -> u32 {
    c.operator_of(Proc::pair(pair, Node1))
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: org.into(),
            set: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs
        .iter()
        .map(|o| o.keys)
        .sum()
}

fn ready(c: &Cluster) -> (u16, Value) {
    Client::anonymous(&c.server_url())
        .raw("GET", "/ready", None)
        .unwrap()
}

fn metrics(c: &Cluster) -> String {
    let (status, text) = Client::anonymous(&c.server_url())
        .raw("GET", "/metrics", None)
        .unwrap();
    assert_eq!(status, 200);
    text.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organizations_spread_over_two_pairs_and_a_pair_down_fails_only_its_own() {
    let mut c = crate::common::sqlite().await;
    assert_eq!(c.add_pair().await.unwrap(), 1);
    c.start_server("").await.unwrap();
    let (default, other) = (Cluster::pair_name(0), Cluster::pair_name(1));

    // Fewest organizations first (the first by name on a tie): they alternate.
    let mut orgs = Vec::new();
    for i in 0..4 {
        orgs.push(org_on(&c, &format!("org{i}"), None).await);
    }
    let placed: Vec<&str> = orgs.iter().map(|o| o.pair.as_str()).collect();
    assert_eq!(placed, [&default, &other, &default, &other]);
    // The operator may choose; an unknown pair is refused and creates nothing.
    let chosen = org_on(&c, "chosen", Some(&other)).await;
    assert_eq!(chosen.pair, other);
    let op = Client::operator(&c.server_url(), &c.operator_token);
    let r = op
        .raw(
            "POST",
            "/v2/organizations",
            Some(&json!({"name": "x", "ownerName": "O", "ownerEmail": "o@example.com", "nodePair": "mars"})),
        )
        .unwrap();
    assert_err(r.clone(), "invalid_request");
    assert!(
        r.1["message"].as_str().unwrap().contains("default, pair1"),
        "{r:?}"
    );
    // The organization's record says where it is.
    let org = assert_ok(orgs[1].client.raw("GET", "/v2/organization", None).unwrap());
    assert_eq!(org["nodePair"], other.as_str());

    // Each organization's keys live on its pair only, and each signs.
    let mut cases = Vec::new();
    for o in orgs.iter().chain([&chosen]) {
        let mine = pair_index(&o.pair);
        assert!(keys_on(&c, mine, &o.id).await > 0, "{} on {}", o.id, o.pair);
        assert_eq!(
            keys_on(&c, 1 - mine, &o.id).await,
            0,
            "{} off {}",
            o.id,
            o.pair
        );
        let s = assert_ok(sign(o, "hello pairs"));
        cases.push(
            json!({"kind": "evm_message", "message_hex": hex::encode("hello pairs"),
            "signature": s["signature"], "address": o.eth["address"]}),
        );
    }
    python_verify(&cases);
    let r = ready(&c);
    assert_eq!(r.0, 200, "{r:?}");
    let d = &r.1["data"]["detail"];
    assert_eq!(d["degraded"], false, "{d}");
    for p in [&default, &other] {
        assert_eq!(d["nodePairs"][p]["node1"], "unsealed", "{d}");
        assert_eq!(d["nodePairs"][p]["node2"], "unsealed", "{d}");
    }
    let text = metrics(&c);
    for p in [&default, &other] {
        assert!(
            text.contains(&format!("planbok_node_pair_up{{pair=\"{p}\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "planbok_node_calls_total{{pair=\"{p}\",op=\"sign\",outcome=\"ok\"}}"
            )),
            "{text}"
        );
    }

    // Pair 1's Node 1 dies: its organizations get 503 node_unavailable, the others sign on.
    c.kill(Proc::pair(1, Node1)).unwrap();
    for o in orgs.iter().chain([&chosen]) {
        if o.pair == other {
            assert_err(sign(o, "while down"), "node_unavailable");
        } else {
            assert_ok(sign(o, "while down"));
        }
    }
    let r = ready(&c);
    assert_eq!(r.0, 200, "one pair up: still ready, degraded: {r:?}");
    let d = &r.1["data"]["detail"];
    assert_eq!(d["degraded"], true, "{d}");
    assert_eq!(d["nodePairs"][&other]["node1"], "unreachable", "{d}");
    assert_eq!(d["nodePairs"][&default]["node1"], "unsealed", "{d}");
    assert!(
        metrics(&c).contains(&format!("planbok_node_pair_up{{pair=\"{other}\"}} 0")),
        "{}",
        metrics(&c)
    );
    // A new organization may still be put on the pair that is down (its keys are made
    // later); creating it does not need the pair.
    assert_eq!(org_pair_only(&c, &other), other);

    // Both pairs down: not ready.
    c.kill(Proc::pair(0, Node1)).unwrap();
    assert_eq!(ready(&c).0, 503);
    c.restart(Proc::pair(0, Node1)).await.unwrap();
    c.restart(Proc::pair(1, Node1)).await.unwrap();
    for o in orgs.iter().chain([&chosen]) {
        assert_ok(sign(o, "back"));
    }
    assert_eq!(ready(&c).1["data"]["detail"]["degraded"], false);
}

/// Creates an organization on `pair` and returns the pair it was given.
fn org_pair_only(c: &Cluster, pair: &str) -> String {
    Client::operator(&c.server_url(), &c.operator_token)
        .create_organization(&CreateOrganization {
            name: "later".into(),
            owner_name: "Owner".into(),
            owner_email: "owner@example.com".into(),
            node_pair: Some(pair.into()),
        })
        .unwrap()
        .organization
        .node_pair
}
