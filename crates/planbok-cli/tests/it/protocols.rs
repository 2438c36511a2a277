//! DKG and signing for every protocol through both node processes.

use planbok_proto::pb::{CustodyMode, Protocol};

use planbok_testkit::cluster::Options;

use crate::common::*;

async fn every_protocol_keygen_and_sign_verified_independently(base: Options) {
    let c = cluster(base).await;
    let org = every_protocol(&c).await;
    crate::sealed::scan_everything(&c, &org.secret);
}

on_sqlite_and_postgres!(every_protocol_keygen_and_sign_verified_independently);

async fn every_protocol(c: &planbok_testkit::cluster::Cluster) -> Org {
    provision_aux(c).await;
    let org = org(c, CustodyMode::Standard).await;
    let frost = keygen(c, &org, Protocol::Frost).await;
    assert_eq!(frost.public_key.len(), 32);
    assert!(frost.chain_code.is_empty());
    sign_and_verify(c, &org, &frost, "m", b"hello from planbok").await;
    // A Solana-sized message.
    sign_and_verify(c, &org, &frost, "m", &[7u8; 1232]).await;

    for proto in [Protocol::Dkls23, Protocol::Cggmp] {
        let k = keygen(c, &org, proto).await;
        assert_eq!(k.public_key.len(), 33);
        assert_eq!(k.chain_code.len(), 32);
        sign_and_verify(c, &org, &k, "m/44/60/0/0", &digest("one")).await;
        sign_and_verify(c, &org, &k, "m/44/0/0/7", &digest("two")).await;
        sign_and_verify(c, &org, &k, "m", &digest("master")).await;
    }
    org
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_signing_is_bounded_and_every_signature_verifies() {
    let c = cluster(Options {
        limits: planbok_node::config::Limits {
            max_concurrent_runs: 2,
            queue_timeout_ms: 20_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let org = org(&c, CustodyMode::Standard).await;
    let ed = keygen(&c, &org, Protocol::Frost).await;
    let ec = keygen(&c, &org, Protocol::Dkls23).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let req = if i % 2 == 0 {
            sign_request(
                &c,
                &org,
                &ed,
                "m",
                format!("msg {i}").as_bytes(),
                String::new(),
            )
        } else {
            sign_request(
                &c,
                &org,
                &ec,
                &format!("m/44/60/0/{i}"),
                &digest(&i.to_string()),
                String::new(),
            )
        };
        let mut s = c.server().unwrap();
        tasks.push(tokio::spawn(
            async move { (s.sign(req.clone()).await, req) },
        ));
    }
    for t in tasks {
        let (r, req) = t.await.unwrap();
        let r = r.expect("waits for a slot and signs").into_inner();
        let key = if req.key_id == ed.key_id { &ed } else { &ec };
        verify(key, &req.derivation_path, &req.payload, &r);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn excess_runs_get_busy_when_the_queue_timeout_passes() {
    let c = cluster(Options {
        limits: planbok_node::config::Limits {
            max_concurrent_runs: 1,
            queue_timeout_ms: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let org = org(&c, CustodyMode::Standard).await;
    let ec = keygen(&c, &org, Protocol::Dkls23).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let req = sign_request(&c, &org, &ec, "m/1", &digest(&i.to_string()), String::new());
        let mut s = c.server().unwrap();
        tasks.push(tokio::spawn(async move { s.sign(req).await }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(code(&s), "busy", "{s:?}");
                busy += 1;
            }
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok={ok} busy={busy}");
}
