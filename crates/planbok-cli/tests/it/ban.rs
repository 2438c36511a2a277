//! Ban means ban: a DKLs23 run in which the counterparty cheats ends with the library's
//! *ban the counterparty* abort, and the node that detected it disables the key for good.
//! The test cheats as Node 1 against the real Node 2, and as Node 2 against the real Node 1
//! (`fake_peers`); through the REST server the refusal is a 409 and an audit entry.

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::SERVER;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use planbok_mpc::dkls::DklsKeyShare;
use planbok_proto::pb::{CustodyMode, KeyCustodyRequest, OrgKeyCustody, Protocol, RefreshRequest};
use planbok_store::NodeStore;
use planbok_testkit::cluster::Options;
use serde_json::json;

use crate::common::*;
use crate::fake_peers::*;
use crate::rest::{Custody as RestCustody, Stack, assert_err, assert_ok, idem};

async fn a_tampered_dkls23_message_disables_the_key_on_the_honest_node_even_after_restart(
    base: Options,
) {
    let mut c = cluster(base).await;
    let org = new_id("org");
    let key_id = new_id("key");
    let share = Arc::new(fake_dkg(&c, &org, &key_id, CustodyMode::Trustless).await);
    let path = "m/44/60/0/5";

    // Honest first: the test's Node 1 and the real Node 2 sign, and Node 2 exports.
    let d = digest32("honest");
    let sig = fake_sign(&c, &org, &key_id, &share, path, d, false)
        .await
        .unwrap();
    check_signature(&share, path, d, &sig);
    peer_export(&c, &org, &key_id, Protocol::Dkls23)
        .await
        .unwrap();

    // The cheat: Node 2's DKLs23 detects it and demands banning Node 1.
    let r = fake_sign(&c, &org, &key_id, &share, path, digest32("cheat"), true).await;
    assert_code(r, "key_disabled");
    let rec = node2_key(&c, &key_id).await;
    let disabled = rec.disabled.expect("disabled durably on node 2");
    assert!(disabled.reason.contains("ban"), "{}", disabled.reason);
    assert!(
        c.log_tail(Node2)
            .contains("DKLs23 detected a cheating counterparty: key disabled for good"),
        "node 2 raises an alert:\n{}",
        c.log_tail(Node2)
    );

    // Everything later with this key is refused, however honest it looks, also after a
    // restart of Node 2.
    for round in ["before restart", "after restart"] {
        let r = fake_sign(&c, &org, &key_id, &share, path, digest32(round), false).await;
        assert_code(r, "key_disabled");
        assert_code(
            peer_export(&c, &org, &key_id, Protocol::Dkls23).await,
            "key_disabled",
        );
        assert_code(peer_refresh(&c, &org, &key_id).await, "key_disabled");
        c.restart(Node2).await.unwrap();
    }
    // Its operator sees it.
    let summary = c
        .operator(Node2)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: org.clone(),
            set: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs;
    assert_eq!(
        summary,
        vec![OrgKeyCustody {
            org_id: org.clone(),
            mode: CustodyMode::Trustless as i32,
            keys: 1,
            disabled: 1,
        }]
    );
    // Another key of the same organization is not affected.
    let other_id = new_id("key");
    let other = Arc::new(fake_dkg(&c, &org, &other_id, CustodyMode::Trustless).await);
    let d = digest32("other key");
    let sig = fake_sign(&c, &org, &other_id, &other, path, d, false)
        .await
        .unwrap();
    check_signature(&other, path, d, &sig);
}

/// Node 1's share of a key, opened the way a compromised Node 1 could: its database row,
/// its (dev) keystore, and the organization secret.
async fn node1_share(s: &Stack, key_id: &str) -> DklsKeyShare {
    let rec = NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap()
        .active_key(key_id)
        .await
        .unwrap()
        .unwrap();
    let ks = planbok_keystore::Keystore::open(
        &planbok_keystore::KeystoreConfig::Dev {
            key_file: s.cluster.dir.path().join("node1.devkey"),
            allow_dev: true,
        },
        1,
    )
    .unwrap();
    let wrapped = ks.open_blob(key_id, &rec.sealed_share).unwrap();
    let secret: [u8; 32] = hex::decode(s.secret.to_hex().as_str())
        .unwrap()
        .try_into()
        .unwrap();
    let share = planbok_keystore::wrap::unwrap_share(&secret, &s.org_id, key_id, &wrapped).unwrap();
    DklsKeyShare::from_sealable_bytes(&share).unwrap()
}

async fn a_disabled_key_answers_409_key_disabled_and_is_audited(opts: Options) {
    let s = Stack::start(opts, RestCustody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    let sign = |message: &str| {
        s.post(
            "/v2/organization/sign/message",
            json!({"idempotencyKey": idem(), "walletId": w.id, "message": message}),
        )
    };
    assert_ok(sign("before"));
    let wallet = planbok_store::server::ServerStore::connect(&s.cluster.node(SERVER).database_url)
        .await
        .unwrap()
        .wallet(&s.org_id, &w.id)
        .await
        .unwrap()
        .unwrap();

    // Server + Node 1 compromised: with Node 1's share they cheat in a signature with the
    // real Node 2, which bans them.
    let share = Arc::new(node1_share(&s, &wallet.key_id).await);
    let r = fake_sign(
        &s.cluster,
        &s.org_id,
        &wallet.key_id,
        &share,
        &wallet.derivation_path,
        digest32("cheat"),
        true,
    )
    .await;
    assert_code(r, "key_disabled");

    // The honest stack now gets Node 2's refusal: 409 key_disabled, every time.
    for message in ["after", "and again"] {
        assert_err(sign(message), "key_disabled");
    }
    // Node 1 did not detect anything and did not disable its own row; Node 2 decides.
    let n1 = NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap();
    assert_eq!(
        n1.active_key(&wallet.key_id)
            .await
            .unwrap()
            .unwrap()
            .disabled,
        None
    );
    // The organization's audit trail says which key, once per refused request.
    let data = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=key.disabled", None)
            .unwrap(),
    );
    assert_eq!(data["total"], 2, "{data}");
    let entries = data["items"].as_array().unwrap().clone();
    for e in &entries {
        assert_eq!(e["action"], "key.disabled", "{e}");
        assert_eq!(e["target"], wallet.key_id.as_str(), "{e}");
        assert_eq!(e["outcome"], "failure", "{e}");
    }
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
    // The organization's other key (ed25519) is untouched.
    let sol = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0);
    assert_ok(s.post(
        "/v2/organization/sign/message",
        json!({"idempotencyKey": idem(), "walletId": sol.id, "message": "still fine"}),
    ));
}

async fn a_tampered_dkls23_message_from_node2_disables_the_key_on_node1(base: Options) {
    let mut c = cluster(base).await;
    let o = org(&c, CustodyMode::Standard).await;
    c.kill(Node2).unwrap();
    let node2 = FakeNode2::serve(&c).await;
    let key = keygen(&c, &o, Protocol::Dkls23).await;
    let path = "m/44/60/0/9";
    // Honest first: the real Node 1 and the fake Node 2 sign.
    sign_and_verify(&c, &o, &key, path, &digest("honest")).await;

    // The fake Node 2 cheats; Node 1's DKLs23 detects it.
    node2.cheat.store(true, Ordering::SeqCst);
    let r = sign_with(
        &c,
        sign_request(&c, &o, &key, path, &digest("cheat"), String::new()),
    )
    .await;
    assert_code(r, "key_disabled");
    let n1 = NodeStore::connect(&c.node(Node1).database_url)
        .await
        .unwrap();
    let rec = n1.active_key(&key.key_id).await.unwrap().unwrap();
    assert!(rec.disabled.is_some(), "disabled durably on node 1");
    assert!(
        c.log_tail(Node1)
            .contains("DKLs23 detected a cheating counterparty: key disabled for good"),
        "node 1 raises an alert:\n{}",
        c.log_tail(Node1)
    );

    // Node 1 now refuses on its own flag, without even asking Node 2, also after a restart.
    node2.cheat.store(false, Ordering::SeqCst);
    let runs = node2.runs.load(Ordering::SeqCst);
    for round in ["before restart", "after restart"] {
        assert_code(
            sign_with(
                &c,
                sign_request(&c, &o, &key, path, &digest(round), String::new()),
            )
            .await,
            "key_disabled",
        );
        let refresh = c
            .server()
            .unwrap()
            .refresh(RefreshRequest {
                grant: Some(c.grant(
                    &o.id,
                    &key.key_id,
                    planbok_proto::pb::Operation::Refresh,
                    planbok_proto::grant::refresh_params(Protocol::Dkls23),
                )),
                key_id: key.key_id.clone(),
                ..Default::default()
            })
            .await;
        assert_code(refresh, "key_disabled");
        c.restart(Node1).await.unwrap();
    }
    assert_eq!(
        node2.runs.load(Ordering::SeqCst),
        runs,
        "node 2 was never asked"
    );
    // Another key still works with the same (now honest) Node 2.
    let other = keygen(&c, &o, Protocol::Dkls23).await;
    sign_and_verify(&c, &o, &other, path, &digest("other key")).await;
}

on_sqlite_and_postgres!(
    a_tampered_dkls23_message_disables_the_key_on_the_honest_node_even_after_restart,
    a_tampered_dkls23_message_from_node2_disables_the_key_on_node1,
    a_disabled_key_answers_409_key_disabled_and_is_audited,
);
