//! Nodes' Prometheus metrics on their own plain-HTTP listener (`metrics_listen`).

use planbok_proto::pb::SignRequest;
use planbok_testkit::cluster::NodeRole;

use crate::rest::{Custody, Stack};

fn scrape(port: u16) -> String {
    ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap()
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_count_runs_refusals_and_seal_state_on_a_separate_listener() {
    let mut s = Stack::sqlite(Custody::Standard).await;
    let ports = [crate::common::free_port(), crate::common::free_port()];
    for (role, port) in [(NodeRole::Node1, ports[0]), (NodeRole::Node2, ports[1])] {
        let path = s.cluster.node(role).config.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        // A top-level key: before the first table.
        std::fs::write(
            &path,
            format!("metrics_listen = \"127.0.0.1:{port}\"\n{text}"),
        )
        .unwrap();
    }
    s.cluster.restart(NodeRole::Node2).await.unwrap();
    s.cluster.restart(NodeRole::Node1).await.unwrap();

    let set = s.wallet_set("dkls23", false);
    let wallet = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0);
    let (status, body) = s.post(
        "/v2/organization/sign/message",
        serde_json::json!({"idempotencyKey": crate::rest::idem(), "walletId": wallet.id, "message": "metrics"}),
    );
    assert_eq!(status, 200, "{body}");
    // A request Node 1 refuses (no grant at all).
    let refused = s
        .cluster
        .server()
        .unwrap()
        .sign(SignRequest::default())
        .await
        .unwrap_err();
    let code = crate::common::code(&refused);

    let (n1, n2) = (scrape(ports[0]), scrape(ports[1]));
    assert!(
        n1.contains("# TYPE planbok_node_runs_total counter"),
        "{n1}"
    );
    for text in [&n1, &n2] {
        assert_eq!(sample(text, "planbok_node_sealed "), Some(0.0), "{text}");
        assert_eq!(
            sample(text, "planbok_node_seal_state{state=\"unsealed\"} "),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                text,
                "planbok_node_runs_total{kind=\"sign\",outcome=\"ok\"} "
            ),
            Some(1.0),
            "{text}"
        );
    }
    // Node 1 counts the server's batch calls (the wallet set's, the Solana wallet's),
    // Node 2 the runs: the set's secp256k1 and ed25519 keys, and the wallet's own ed25519
    // key (ed25519 derives no children).
    assert_eq!(
        sample(
            &n1,
            "planbok_node_runs_total{kind=\"keygen_batch\",outcome=\"ok\"} "
        ),
        Some(2.0),
        "{n1}"
    );
    assert_eq!(
        sample(
            &n2,
            "planbok_node_runs_total{kind=\"keygen\",outcome=\"ok\"} "
        ),
        Some(3.0),
        "{n2}"
    );
    // Node 1 timed the refused request too; Node 2 never saw it.
    assert_eq!(
        sample(
            &n1,
            &format!("planbok_node_runs_total{{kind=\"sign\",outcome=\"{code}\"}} ")
        ),
        Some(1.0),
        "{n1}"
    );
    assert_eq!(
        sample(&n1, "planbok_node_run_seconds_count{kind=\"sign\"} "),
        Some(2.0)
    );
    assert_eq!(
        sample(&n2, "planbok_node_run_seconds_count{kind=\"sign\"} "),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &n1,
            &format!("planbok_node_refusals_total{{code=\"{code}\"}} ")
        ),
        Some(1.0),
        "{n1}"
    );
    assert!(!n2.contains("planbok_node_refusals_total{"), "{n2}");
    // The metrics listener serves nothing else, and the gRPC port no metrics.
    let other = ureq::get(&format!("http://127.0.0.1:{}/", ports[0])).call();
    assert!(other.is_err());
    let grpc = ureq::get(&format!(
        "http://127.0.0.1:{}/metrics",
        s.cluster.node(NodeRole::Node1).port
    ))
    .call();
    assert!(grpc.is_err());
}
