//! Key refresh through both node processes: new shares on both nodes, same public key,
//! committed in two phases. A crash never leaves the nodes on shares of different
//! refreshes, and a refresh Node 1 did not see complete is settled against Node 2.

use planbok_testkit::cluster::NodeRole;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::time::Duration;

use planbok_proto::grant;
use planbok_proto::pb::{
    CustodyMode, KeygenResponse, Open, Operation, Protocol, RefreshRequest, RefreshResponse,
    RunKind,
};
use planbok_store::NodeStore;
use planbok_testkit::cluster::{Cluster, Options};
use sqlx::Connection as _;
use tonic::Status;

use crate::common::*;

fn refresh_request(c: &Cluster, org: &Org, key: &KeygenResponse, secret: String) -> RefreshRequest {
    let proto = Protocol::try_from(key.protocol).unwrap();
    RefreshRequest {
        grant: Some(c.grant(
            &org.id,
            &key.key_id,
            Operation::Refresh,
            grant::refresh_params(proto),
        )),
        key_id: key.key_id.clone(),
        encrypted_secret: secret,
    }
}

async fn refresh_with(c: &Cluster, req: RefreshRequest) -> Result<RefreshResponse, Status> {
    c.server()
        .unwrap()
        .refresh(req)
        .await
        .map(|r| r.into_inner())
}

/// (share version, sealed share, pending version) as `role` stored them.
async fn stored(c: &Cluster, role: NodeRole, key_id: &str) -> (i64, Vec<u8>, Option<i64>) {
    let s = NodeStore::connect(&c.node(role).database_url)
        .await
        .unwrap();
    let r = s.active_key(key_id).await.unwrap().unwrap();
    (r.share_version, r.sealed_share, r.pending_share_version)
}

fn message(proto: Protocol, label: &str) -> Vec<u8> {
    if proto == Protocol::Frost {
        label.as_bytes().to_vec()
    } else {
        digest(label)
    }
}

async fn every_protocol_refreshes_and_signs_with_new_shares(base: Options) {
    let c = cluster(base).await;
    provision_aux(&c).await;
    let org = org(&c, CustodyMode::Trustless).await;
    for (proto, path) in [
        (Protocol::Frost, "m"),
        (Protocol::Dkls23, "m/44/60/0/1"),
        (Protocol::Cggmp, "m/44/60/0/2"),
    ] {
        let key = keygen_with(&c, &org, proto, org.ct("dkg")).await.unwrap();
        let before = [
            stored(&c, Node1, &key.key_id).await,
            stored(&c, Node2, &key.key_id).await,
        ];
        for version in [2, 3] {
            let r = refresh_with(&c, refresh_request(&c, &org, &key, org.ct("sign")))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "refresh {proto:?}: {e:?}\n{}\n{}",
                        c.log_tail(Node1),
                        c.log_tail(Node2)
                    )
                });
            assert_eq!(r.public_key, key.public_key, "same public key");
            assert_eq!(r.share_version, version);
            let msg = message(proto, &format!("after refresh {version}"));
            let s = sign_with(&c, sign_request(&c, &org, &key, path, &msg, org.ct("sign")))
                .await
                .unwrap();
            verify(&key, path, &msg, &s);
        }
        for (role, old) in [(Node1, &before[0]), (Node2, &before[1])] {
            let (v, sealed, pending) = stored(&c, role, &key.key_id).await;
            assert_eq!((old.0, v, pending), (1, 3, None), "node {role}");
            assert_ne!(sealed, old.1, "node {role}'s sealed share changed");
        }
    }
    crate::sealed::scan_everything(&c, &org.secret);
}

on_sqlite_and_postgres!(every_protocol_refreshes_and_signs_with_new_shares);

#[tokio::test(flavor = "multi_thread")]
async fn refresh_refusals_each_with_its_code() {
    let c = sqlite().await;
    let org = org(&c, CustodyMode::Trustless).await;
    let key = keygen_with(&c, &org, Protocol::Dkls23, org.ct("dkg"))
        .await
        .unwrap();
    let req = |ct: String| refresh_request(&c, &org, &key, ct);
    assert_code(
        refresh_with(&c, req(String::new())).await,
        "secret_required",
    );
    assert_code(
        refresh_with(&c, req(org.ct("verify"))).await,
        "secret_wrong_context",
    );
    let mut r = req(org.ct("sign"));
    r.grant = None;
    assert_code(refresh_with(&c, r).await, "grant_missing");
    let mut r = req(org.ct("sign"));
    r.grant = Some(c.grant(
        &org.id,
        &key.key_id,
        Operation::Refresh,
        grant::refresh_params(Protocol::Cggmp),
    ));
    assert_code(refresh_with(&c, r).await, "grant_digest_mismatch");
    let good = req(org.ct("sign"));
    refresh_with(&c, good.clone()).await.unwrap();
    let mut again = good;
    again.encrypted_secret = org.ct("sign");
    assert_code(refresh_with(&c, again).await, "grant_replayed");

    // Node 2 refuses a run from a Node 1 on another share version, before any protocol
    // message (mismatched DKLs23 shares would otherwise look like an attack).
    let req = sign_request(&c, &org, &key, "m/1", &digest("x"), String::new());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(planbok_proto::pb::PeerMessage {
        msg: Some(planbok_proto::pb::peer_message::Msg::Open(Open {
            kind: RunKind::Sign as i32,
            grant: req.grant.clone(),
            protocol: Protocol::Dkls23 as i32,
            key_id: key.key_id.clone(),
            derivation_path: "m/1".into(),
            payload: digest("x"),
            share_version: 1,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let r = c
        .as_node1()
        .unwrap()
        .run(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    assert_code(r.map(|_| ()), "share_version_mismatch");
}

async fn node2_killed_mid_refresh_keeps_the_old_shares_signing(base: Options) {
    let mut c = cluster(Options {
        limits: planbok_node::config::Limits {
            round_timeout_ms: 3000,
            ..Default::default()
        },
        ..base
    })
    .await;
    provision_aux(&c).await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Cggmp).await;
    let before = [
        stored(&c, Node1, &key.key_id).await,
        stored(&c, Node2, &key.key_id).await,
    ];
    // A CGGMP refresh is seconds of proofs: kill -9 Node 2 in the middle of it.
    let req = refresh_request(&c, &org, &key, String::new());
    let mut s = c.server().unwrap();
    let task = tokio::spawn(async move { s.refresh(req).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.kill(Node2).unwrap();
    assert_code(task.await.unwrap(), "peer_unavailable");
    c.restart(Node2).await.unwrap();
    // Both nodes are on the old shares, nothing pending, and the key signs.
    assert_eq!(stored(&c, Node1, &key.key_id).await, before[0]);
    assert_eq!(stored(&c, Node2, &key.key_id).await, before[1]);
    sign_and_verify(&c, &org, &key, "m/44/60/0/0", &digest("old shares")).await;
    // A retry with a fresh grant refreshes.
    let r = refresh_with(&c, refresh_request(&c, &org, &key, String::new()))
        .await
        .unwrap();
    assert_eq!(r.share_version, 2);
    sign_and_verify(&c, &org, &key, "m/44/60/0/0", &digest("new shares")).await;
}

on_sqlite_and_postgres!(node2_killed_mid_refresh_keeps_the_old_shares_signing);

/// Puts Node 1 in the states a crash around the commit leaves it in, by writing its
/// database directly, and checks that the key's next use settles them against Node 2.
#[tokio::test(flavor = "multi_thread")]
async fn node1_settles_a_refresh_left_in_doubt() {
    let mut c = sqlite().await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Dkls23).await;
    let url = c.node(Node1).database_url.clone();
    let (v1, old, _) = stored(&c, Node1, &key.key_id).await;

    // 1. Node 1 stored a pending share but Node 2 never activated: dropped.
    NodeStore::connect(&url)
        .await
        .unwrap()
        .insert_pending_share(&key.key_id, v1 + 1, vec![0xEE; 64])
        .await
        .unwrap();
    c.restart(Node1).await.unwrap(); // Node 1 keeps pending shares across restarts
    assert_eq!(stored(&c, Node1, &key.key_id).await.2, Some(v1 + 1));
    sign_and_verify(&c, &org, &key, "m/1", &digest("dropped")).await;
    assert_eq!(
        stored(&c, Node1, &key.key_id).await,
        (v1, old.clone(), None)
    );

    // 2. Node 2 activated, Node 1 never heard: Node 1 is rolled back to (old active, new
    // pending) by hand, and its next signature activates the new share.
    refresh_with(&c, refresh_request(&c, &org, &key, String::new()))
        .await
        .unwrap();
    let (v2, new, _) = stored(&c, Node1, &key.key_id).await;
    assert_eq!(v2, v1 + 1);
    {
        let _ = NodeStore::connect(&url).await.unwrap(); // installs the Any drivers
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE node_keys SET sealed_share = $1, share_version = $2 WHERE key_id = $3")
            .bind(old.clone())
            .bind(v1)
            .bind(key.key_id.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    NodeStore::connect(&url)
        .await
        .unwrap()
        .insert_pending_share(&key.key_id, v2, new.clone())
        .await
        .unwrap();
    c.restart(Node1).await.unwrap();
    sign_and_verify(&c, &org, &key, "m/2", &digest("completed")).await;
    assert_eq!(stored(&c, Node1, &key.key_id).await, (v2, new, None));
}
