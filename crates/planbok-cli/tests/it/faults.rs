//! Crashes and stalls mid-protocol: clean errors within the timeout, nothing half-made
//! usable, retries with fresh grants succeed, and every earlier key survives restarts.

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::time::{Duration, Instant};

use planbok_proto::pb::{CustodyMode, Protocol};
use planbok_testkit::cluster::Options;

use crate::common::*;

const RUN_TIMEOUT_MS: u64 = 20_000;

fn limits() -> planbok_node::config::Limits {
    planbok_node::config::Limits {
        run_timeout_ms: RUN_TIMEOUT_MS,
        round_timeout_ms: 3000,
        ..Default::default()
    }
}

async fn node2_killed_mid_dkg_and_mid_sign_leaves_nothing_half_made_and_keys_survive(
    base: Options,
) {
    let mut c = cluster(Options {
        limits: limits(),
        ..base
    })
    .await;
    provision_aux(&c).await;
    let org = org(&c, CustodyMode::Standard).await;
    let ed = keygen(&c, &org, Protocol::Frost).await;
    let ec = keygen(&c, &org, Protocol::Cggmp).await;
    sign_and_verify(&c, &org, &ec, "m/44/60/0/0", &digest("before")).await;

    // --- kill -9 Node 2 in the middle of a DKLs23 DKG (about half a second of work).
    let key_id_before;
    {
        let started = Instant::now();
        let dkg = {
            let key_id = new_id("key");
            key_id_before = key_id.clone();
            let g = c.grant(
                &org.id,
                &key_id,
                planbok_proto::pb::Operation::Dkg,
                planbok_proto::grant::dkg_params(Protocol::Dkls23, org.mode),
            );
            let mut s = c.server().unwrap();
            tokio::spawn(async move {
                s.keygen(planbok_proto::pb::KeygenRequest {
                    grant: Some(g),
                    protocol: Protocol::Dkls23 as i32,
                    ..Default::default()
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.kill(Node2).unwrap();
        let r = dkg.await.unwrap();
        assert_code(r, "peer_unavailable");
        assert!(started.elapsed() < Duration::from_millis(RUN_TIMEOUT_MS));
    }
    // Nothing half-made is usable: the key id is unknown to Node 1.
    let ghost = planbok_proto::pb::KeygenResponse {
        key_id: key_id_before,
        protocol: Protocol::Dkls23 as i32,
        ..Default::default()
    };
    c.restart(Node2).await.unwrap();
    assert_code(
        sign_with(
            &c,
            sign_request(&c, &org, &ghost, "m/1", &digest("ghost"), String::new()),
        )
        .await,
        "key_not_found",
    );
    // A retry with a fresh grant succeeds.
    let dk = keygen(&c, &org, Protocol::Dkls23).await;
    sign_and_verify(&c, &org, &dk, "m/44/60/0/3", &digest("after dkg crash")).await;

    // --- kill -9 Node 2 in the middle of a CGGMP signature (about a second of work).
    {
        let req = sign_request(
            &c,
            &org,
            &ec,
            "m/44/60/0/0",
            &digest("interrupted"),
            String::new(),
        );
        let mut s = c.server().unwrap();
        let started = Instant::now();
        let task = tokio::spawn(async move { s.sign(req).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.kill(Node2).unwrap();
        assert_code(task.await.unwrap(), "peer_unavailable");
        assert!(started.elapsed() < Duration::from_millis(RUN_TIMEOUT_MS));
    }
    // While Node 2 is down: a clean, immediate error.
    assert_code(
        sign_with(&c, sign_request(&c, &org, &ed, "m", b"down", String::new())).await,
        "peer_unavailable",
    );
    c.restart(Node2).await.unwrap();
    sign_and_verify(&c, &org, &ec, "m/44/60/0/0", &digest("retried")).await;

    // --- After restarting both nodes, every earlier key still signs.
    c.restart(Node1).await.unwrap();
    c.restart(Node2).await.unwrap();
    sign_and_verify(&c, &org, &ed, "m", b"after restart").await;
    sign_and_verify(&c, &org, &ec, "m/44/60/0/9", &digest("after restart")).await;
    sign_and_verify(&c, &org, &dk, "m/44/60/0/9", &digest("after restart")).await;
}

async fn frozen_node2_times_out_cleanly_and_recovers(base: Options) {
    let c = cluster(Options {
        limits: planbok_node::config::Limits {
            run_timeout_ms: RUN_TIMEOUT_MS,
            round_timeout_ms: 1500,
            ..Default::default()
        },
        ..base
    })
    .await;
    let org = org(&c, CustodyMode::Standard).await;
    let ed = keygen(&c, &org, Protocol::Frost).await;
    c.signal(Node2, "STOP").unwrap();
    let started = Instant::now();
    let r = sign_with(
        &c,
        sign_request(&c, &org, &ed, "m", b"frozen", String::new()),
    )
    .await;
    c.signal(Node2, "CONT").unwrap();
    assert_code(r, "timeout");
    assert!(started.elapsed() < Duration::from_millis(RUN_TIMEOUT_MS));
    sign_and_verify(&c, &org, &ed, "m", b"thawed").await;
}

on_sqlite_and_postgres!(
    node2_killed_mid_dkg_and_mid_sign_leaves_nothing_half_made_and_keys_survive,
    frozen_node2_times_out_cleanly_and_recovers
);
