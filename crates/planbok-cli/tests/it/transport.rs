//! Mutual TLS and role checks: refused on the first call.

use planbok_node::pki::Ca;
use planbok_proto::pb::coordinator_client::CoordinatorClient;
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::peer_client::PeerClient;
use planbok_proto::pb::{OrgPublicKeyRequest, ReadyRequest, StatusRequest};
use planbok_proto::roles::Role;
use planbok_testkit::cluster::NodeRole;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn wrong_role_foreign_ca_and_missing_certificate_are_refused() {
    let c = sqlite().await;
    let req = || OrgPublicKeyRequest { org_id: "o".into() };
    // Valid certificates, wrong roles, at Node 1's coordinator.
    for role in [Role::Node1, Role::Node2, Role::Operator] {
        let mut client = CoordinatorClient::new(c.channel_as(Node1, role).unwrap());
        assert_code(client.org_public_key(req()).await, "wrong_role");
    }
    // At Node 2's peer service: only Node 1.
    for role in [Role::Server, Role::Node2, Role::Operator] {
        let mut client = PeerClient::new(c.channel_as(Node2, role).unwrap());
        assert_code(client.ready(ReadyRequest {}).await, "wrong_role");
    }
    // Operator services: only operators.
    for node in NodeRole::ALL {
        for role in [Role::Server, Role::Node1, Role::Node2] {
            let mut client = OperatorClient::new(c.channel_as(node, role).unwrap());
            assert_code(client.status(StatusRequest {}).await, "wrong_role");
        }
    }
    // A certificate with a role URI that is not one of ours, and one with two roles.
    let ca_pem = std::fs::read_to_string(c.dir.path().join("pki/ca.pem")).unwrap();
    for uris in [
        vec!["planbok://admin"],
        vec!["planbok://server", "planbok://node1"],
        vec![],
    ] {
        let leaf = c.ca.issue_with_uris("odd", &uris, &[]).unwrap();
        let mut client =
            CoordinatorClient::new(c.channel_with_leaf(Node1, &leaf, &ca_pem).unwrap());
        assert_code(client.org_public_key(req()).await, "wrong_role");
    }
    // A server certificate from another CA: the handshake fails on the first call.
    let rogue = Ca::generate("rogue").unwrap();
    let leaf = rogue.issue(Role::Server, &[]).unwrap();
    let mut client = CoordinatorClient::new(c.channel_with_leaf(Node1, &leaf, &ca_pem).unwrap());
    let e = client.org_public_key(req()).await.unwrap_err();
    assert_eq!(
        code(&e),
        "<none>",
        "refused by TLS, not by a handler: {e:?}"
    );
    // No certificate at all.
    let mut client = CoordinatorClient::new(c.channel_without_cert(Node1).unwrap());
    let e = client.org_public_key(req()).await.unwrap_err();
    assert_eq!(code(&e), "<none>", "refused by TLS: {e:?}");
    let mut client = PeerClient::new(c.channel_without_cert(Node2).unwrap());
    assert!(client.ready(ReadyRequest {}).await.is_err());
    // And the right role works.
    let mut s = c.server().unwrap();
    s.org_public_key(req()).await.unwrap();
    let ready = s.ready(ReadyRequest {}).await.unwrap().into_inner();
    assert_eq!(ready.node2, planbok_proto::pb::SealState::Unsealed as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn node1_only_talks_to_a_certificate_naming_node2() {
    // Point Node 1 at Node 1 itself: same CA, valid certificate, wrong name.
    let c = sqlite().await;
    let ca_pem = std::fs::read_to_string(c.dir.path().join("pki/ca.pem")).unwrap();
    let cert = std::fs::read_to_string(c.dir.path().join("pki/node1.pem")).unwrap();
    let key = std::fs::read_to_string(c.dir.path().join("pki/node1.key")).unwrap();
    // Ask Node 1's port for "node2.planbok": its certificate does not carry that name.
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca_pem))
        .identity(tonic::transport::Identity::from_pem(&cert, &key))
        .domain_name("node2.planbok");
    let ch = tonic::transport::Endpoint::from_shared(format!(
        "https://127.0.0.1:{}",
        c.node(Node1).port
    ))
    .unwrap()
    .tls_config(tls)
    .unwrap()
    .connect_lazy();
    let mut client = PeerClient::new(ch);
    let e = client.ready(ReadyRequest {}).await.unwrap_err();
    assert_eq!(code(&e), "<none>", "refused by certificate name: {e:?}");
}
