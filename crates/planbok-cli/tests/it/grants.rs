//! Authorization grants: each refusal by its code, at Node 1 and at Node 2 on its own.

use planbok_proto::grant::{self, GrantSigner};
use planbok_proto::pb::peer_message::Msg;
use planbok_proto::pb::{
    CustodyMode, GrantBody, Open, Operation, PeerMessage, Protocol, RunKind, SignRequest,
    SignedGrant,
};
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::{Cluster, Options, now_ms};
use prost::Message as _;

use crate::common::*;

fn body(g: &SignedGrant) -> GrantBody {
    GrantBody::decode(g.body.as_slice()).unwrap()
}

/// The refusals that both nodes must make by themselves.
fn bad_sign_grants(
    c: &Cluster,
    req: &SignRequest,
    org: &str,
) -> Vec<(&'static str, Option<SignedGrant>)> {
    let params = grant::sign_params(Protocol::Dkls23, &req.derivation_path, &req.payload);
    let good = c.grant(org, &req.key_id, Operation::Sign, params);
    let mut expired = body(&good);
    expired.issued_at_ms = now_ms() - 120_000;
    expired.expires_at_ms = now_ms() - 90_000;
    let mut too_long = body(&good);
    too_long.expires_at_ms = too_long.issued_at_ms + 10 * 60_000;
    vec![
        ("grant_missing", None),
        (
            "grant_bad_signature",
            Some(GrantSigner::generate().issue(
                org,
                &req.key_id,
                Operation::Sign,
                params,
                now_ms(),
                30_000,
            )),
        ),
        ("grant_expired", Some(c.grant.sign_body(&expired))),
        ("grant_expired", Some(c.grant.sign_body(&too_long))),
        (
            "grant_digest_mismatch",
            Some(c.grant(
                org,
                &req.key_id,
                Operation::Sign,
                grant::sign_params(
                    Protocol::Dkls23,
                    &req.derivation_path,
                    &digest("something else"),
                ),
            )),
        ),
        (
            "grant_digest_mismatch",
            Some(c.grant(
                org,
                &req.key_id,
                Operation::Sign,
                grant::sign_params(Protocol::Dkls23, "m/44/60/0/1", &req.payload),
            )),
        ),
        (
            "grant_scope_mismatch",
            Some(c.grant(org, &req.key_id, Operation::Dkg, params)),
        ),
        (
            "grant_scope_mismatch",
            Some(c.grant(org, "another-key", Operation::Sign, params)),
        ),
        (
            "key_not_found",
            Some(c.grant("another-org", &req.key_id, Operation::Sign, params)),
        ),
    ]
}

async fn node1_refuses_every_bad_grant_with_its_code(base: Options) {
    let c = cluster(base).await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Dkls23).await;
    let req = sign_request(&c, &org, &key, "m/44/60/0/0", &digest("pay"), String::new());
    for (expected, g) in bad_sign_grants(&c, &req, &org.id) {
        let mut r = req.clone();
        r.grant = g;
        assert_code(sign_with(&c, r).await, expected);
    }
    // The good grant works once, then is a replay.
    sign_with(&c, req.clone()).await.unwrap();
    assert_code(sign_with(&c, req.clone()).await, "grant_replayed");
    // ... also after both nodes restart.
    let mut c = c;
    c.restart(Node2).await.unwrap();
    c.restart(Node1).await.unwrap();
    assert_code(sign_with(&c, req.clone()).await, "grant_replayed");
    // A fresh grant still signs.
    sign_and_verify(&c, &org, &key, "m/44/60/0/0", &digest("pay")).await;
}

/// Opens a run on Node 2 directly, as Node 1 would, and returns its answer to the opening.
async fn open_on_node2(c: &Cluster, open: Open) -> Result<(), tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(PeerMessage {
        msg: Some(Msg::Open(open)),
    })
    .await
    .unwrap();
    let mut p = c.as_node1().unwrap();
    let resp = p
        .run(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?;
    drop(tx);
    drop(resp);
    Ok(())
}

fn sign_open(req: &SignRequest, g: Option<SignedGrant>) -> Open {
    Open {
        kind: RunKind::Sign as i32,
        grant: g,
        protocol: Protocol::Dkls23 as i32,
        key_id: req.key_id.clone(),
        derivation_path: req.derivation_path.clone(),
        payload: req.payload.clone(),
        share_version: 0,
        custody_mode: 0,
        ..Default::default()
    }
}

async fn node2_checks_every_grant_on_its_own(base: Options) {
    let mut c = cluster(base).await;
    let org = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &org, Protocol::Dkls23).await;
    let req = sign_request(&c, &org, &key, "m/44/60/0/0", &digest("pay"), String::new());
    for (expected, g) in bad_sign_grants(&c, &req, &org.id) {
        assert_code(open_on_node2(&c, sign_open(&req, g)).await, expected);
    }
    // A grant Node 1 used is spent at Node 2 too, also after a restart of Node 2.
    sign_with(&c, req.clone()).await.unwrap();
    assert_code(
        open_on_node2(&c, sign_open(&req, req.grant.clone())).await,
        "grant_replayed",
    );
    c.restart(Node2).await.unwrap();
    assert_code(
        open_on_node2(&c, sign_open(&req, req.grant.clone())).await,
        "grant_replayed",
    );
    // A payload other than the granted one.
    let fresh = sign_request(&c, &org, &key, "m/44/60/0/0", &digest("pay"), String::new());
    let mut open = sign_open(&fresh, fresh.grant.clone());
    open.payload = digest("pay someone else");
    assert_code(open_on_node2(&c, open).await, "grant_digest_mismatch");
    // DKG grants are checked the same way: a grant for another protocol's parameters.
    let g = c.grant(
        &org.id,
        "new-key",
        Operation::Dkg,
        grant::dkg_params(Protocol::Frost, CustodyMode::Standard),
    );
    let open = Open {
        kind: RunKind::Keygen as i32,
        grant: Some(g),
        protocol: Protocol::Cggmp as i32,
        key_id: "new-key".into(),
        custody_mode: CustodyMode::Standard as i32,
        ..Default::default()
    };
    assert_code(open_on_node2(&c, open).await, "grant_digest_mismatch");
}

on_sqlite_and_postgres!(
    node1_refuses_every_bad_grant_with_its_code,
    node2_checks_every_grant_on_its_own
);
